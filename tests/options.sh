#!/bin/bash
# options.sh LIBEBB PROGRAM — EBB_* options: an unknown one and a malformed one each
# print exactly one warning and change nothing; EBB_STATS=1 prints the statistics at
# exit; valid values are accepted silently. PROGRAM must allocate.
set -u
lib=$1
prog=$2
fail=0
expect() { # expect NAME EXPECTED-STDERR-GREP COUNT ENV...
    local name=$1 pattern=$2 count=$3
    shift 3
    local err
    err=$(env "$@" LD_PRELOAD="$lib" "$prog" 2>&1 >/dev/null)
    local n
    n=$(printf '%s\n' "$err" | grep -c -- "$pattern")
    if [ "$n" -ne "$count" ]; then
        echo "FAIL: $name: expected $count line(s) matching '$pattern', got $n:"
        printf '%s\n' "$err" | head -5
        fail=1
    else
        echo "ok: $name"
    fi
}
expect unknown "^ebb: warning: ignoring unknown option EBB_NO_SUCH=1$" 1 EBB_NO_SUCH=1
expect malformed-int "^ebb: warning: ignoring malformed value of EBB_DECAY_MS$" 1 EBB_DECAY_MS=12x
expect out-of-range "^ebb: warning: ignoring malformed value of EBB_DECAY_MS$" 1 EBB_DECAY_MS=-5
expect malformed-choice "^ebb: warning: ignoring malformed value of EBB_PURGE$" 1 EBB_PURGE=sometimes
expect valid "warning" 0 EBB_DECAY_MS=0 EBB_PURGE=free EBB_STATS=0
expect tool-variables "warning" 0 EBB_RECORD_OUTPUT=x EBB_REPLAY_X=y
expect stats "^in use bytes" 2 EBB_STATS=1
expect debug-needs-library "^ebb: warning: EBB_DEBUG=1 has no effect in libebb.so: preload libebb-debug.so" 1 EBB_DEBUG=1
exit $fail
