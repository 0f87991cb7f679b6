#!/bin/bash
# valgrind.sh BUILD_DIR — the ebb tool under valgrind memcheck: ebb info on a shipped
# trace, ebb gen, ebb convert of a raw recording and a rejected corrupt trace make no
# memory error and leak nothing. Exit 77 (skipped) where valgrind is missing.
set -u
build=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
command -v valgrind >/dev/null || { echo "valgrind is not installed"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
vg() { valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all "$@"; }
fail=0
vg "$build/ebb" info "$here/../traces/sqlite3.trace" >/dev/null || { echo "FAIL: info"; fail=1; }
vg "$build/ebb" gen threads --scale 0.05 -o "$work/g.trace" || { echo "FAIL: gen"; fail=1; }
mkdir "$work/rec"
EBB_RECORD_DIR=$work/rec LD_PRELOAD=$build/libebb-record.so "$build/tests/test_workload" calls
vg "$build/ebb" convert "$work"/rec/*.raw -o "$work/c.trace" 2>/dev/null || { echo "FAIL: convert"; fail=1; }
head -c 5000 "$here/../traces/server.trace" >"$work/bad.trace"
vg "$build/ebb" info "$work/bad.trace" >/dev/null 2>"$work/err"
[ $? = 2 ] || { echo "FAIL: a truncated trace under valgrind: $(cat "$work/err")"; fail=1; }
[ $fail = 0 ] && echo "ok: info, gen, convert and a rejected trace are clean under memcheck"
exit $fail
