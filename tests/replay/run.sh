#!/bin/bash
# run.sh CASE BUILD_DIR — end-to-end tests of ebb record, info and replay.
source "$(dirname "$0")/../lib.sh"
case_name=$1
build=$(realpath "$2")
ebb=$build/ebb
workload=$build/tests/test_workload

field() { # field NAME FILE: a number from ebb info's or replay's output
    grep -E "\"?$1\"?:" "$2" | head -1 | sed -E 's/[^0-9]*([0-9]+).*/\1/'
}

case $case_name in
calls)
    # Exact counts of a program whose calls are known.
    "$ebb" record -o "$work/t" -- "$workload" calls 2>/dev/null || fail "record failed"
    "$ebb" info "$work/t" >"$work/info" || fail "info failed"
    for want in "malloc 1000" "calloc 10" "realloc 100" "posix_memalign 5" \
                "aligned_alloc 5" "memalign 5" "free 1025" "marker 2" "thread_start 1"; do
        set -- $want
        got=$(awk -v op="$1" '$1 == op { print $2 }' "$work/info")
        [ "$got" = "$2" ] || fail "$1: $got calls recorded, expected $2"
    done
    grep -q "live at end:  0 bytes" "$work/info" || fail "objects left live"
    # Fidelity: replaying under glibc gives the trace's live-bytes peak exactly.
    peak=$(field "peak live" "$work/info")
    "$ebb" replay "$work/t" --alloc glibc --settle-ms 0 --csv "$work/csv" >"$work/json" ||
        fail "replay failed"
    [ "$(field peak_live "$work/json")" = "$peak" ] ||
        fail "replay peak live $(field peak_live "$work/json") != trace peak $peak"
    grep -q ",free$" "$work/csv" || fail "the marker 'free' is not in the timeline"
    # The allocator time by kind of call: each kind's count, and times that add up.
    python3 - "$work/json" <<'PY' || fail "allocator time by kind of call"
import json, sys
r = json.load(open(sys.argv[1]))
want = {"malloc": 1000, "calloc": 10, "realloc": 100, "aligned": 15, "free": 1025}
bad = [f"{k}_calls {r[k + '_calls']} != {n}" for k, n in want.items() if r[k + "_calls"] != n]
bad += [f"{k}_ns {r[k + '_ns']} < 0" for k in want if r[k + "_ns"] < 0]
if sum(want.values()) != r["calls"]:
    bad.append(f"calls {r['calls']} != {sum(want.values())}")
if r["thread_exits"] != r["threads"] or r["thread_exit_s"] < 0:
    bad.append(f"{r['thread_exits']} thread exits ({r['thread_exit_s']} s), "
               f"{r['threads']} threads")
total = sum(r[k + "_ns"] * r[k + "_calls"] for k in want) / 1e9
if abs(total - r["alloc_time_s"]) > 1e-6 + 1e-3 * r["alloc_time_s"]:
    bad.append(f"kinds add up to {total} s, alloc_time_s {r['alloc_time_s']}")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
    echo "ok: exact calls recorded; replay reproduces the peak of $peak live bytes and counts each kind of call"
    ;;
threads)
    "$ebb" record -o "$work/t" -- "$workload" threads 2>/dev/null || fail "record failed"
    "$ebb" info "$work/t" >"$work/info" || fail "info rejects a multi-threaded trace"
    [ "$(field threads "$work/info")" = 5 ] || fail "expected 5 threads"
    [ "$(awk '$1 == "malloc" { print $2 }' "$work/info")" = 80000 ] || fail "malloc count"
    for a in glibc ebb; do
        "$ebb" replay "$work/t" --alloc $a --settle-ms 0 >"$work/json" || fail "replay under $a"
        [ "$(field failed_calls "$work/json")" = 0 ] || fail "failed calls under $a"
    done
    # The allocator's work at thread exit is timed: libebb's destructor collects each
    # exiting heap, glibc malloc has none before the timing ends (400 short threads).
    traces=$(realpath "$(dirname "$0")/../../traces")
    for a in glibc ebb; do
        "$ebb" replay "$traces/threads.trace" --alloc $a --settle-ms 0 >"$work/$a.json" ||
            fail "threads.trace under $a"
    done
    python3 - "$work/glibc.json" "$work/ebb.json" <<'PY' || fail "thread exits not timed"
import json, sys
g, e = (json.load(open(f)) for f in sys.argv[1:])
assert g["thread_exits"] == e["thread_exits"] == 401, (g["thread_exits"], e["thread_exits"])
assert e["thread_exit_s"] > 5 * g["thread_exit_s"], (e["thread_exit_s"], g["thread_exit_s"])
PY
    echo "ok: 4 threads with cross-thread frees recorded in order and replayed; exits timed"
    ;;
order)
    # Replay threads keep to the trace's order: the live bytes a multi-threaded replay
    # reaches stay near the trace's own peak (left free, the producer of prodcons runs
    # megabytes ahead of its consumer and the 400 threads of threads all live at once).
    traces=$(realpath "$(dirname "$0")/../../traces")
    for t in prodcons threads server; do
        peak=$(field "peak live" <("$ebb" info "$traces/$t.trace"))
        for a in glibc ebb; do
            for spec in "64 5" "default 8"; do
                set -- $spec
                opt=(); [ "$1" = default ] || opt=(--window "$1")
                "$ebb" replay "$traces/$t.trace" --alloc $a --settle-ms 0 "${opt[@]}" \
                    >"$work/json" || fail "$t under $a, window $1: replay failed"
                got=$(field peak_live "$work/json")
                # window 64: within 5/4 of the trace's peak; the default: within 8/4
                [ $((got * 4)) -le $((peak * $2)) ] ||
                    fail "$t under $a, window $1: peak live $got, the trace's $peak"
                [ "$(field failed_calls "$work/json")" = 0 ] || fail "$t: failed calls"
            done
        done
        "$ebb" replay "$traces/$t.trace" --alloc ebb --settle-ms 0 --window 0 >"$work/json" ||
            fail "$t: free-running replay failed"
        echo "ok: $t (trace peak $peak live bytes) replayed in order"
    done
    ;;
fork)
    "$ebb" record -o "$work/t" -- "$workload" fork 2>"$work/err" || fail "record failed"
    n=$(ls "$work"/t* | wc -l)
    [ "$n" = 2 ] || fail "expected a trace for the parent and one for the child, got $n"
    for f in "$work"/t*; do
        "$ebb" info "$f" >"$work/info" || fail "$f does not decode"
        [ "$(awk '$1 == "malloc" { print $2 }' "$work/info")" = 1000 ] ||
            fail "$f: wrong malloc count"
    done
    grep -q "^  fork " "$work/info" "$work"/t 2>/dev/null
    "$ebb" info "$work/t" | grep -q "^  fork  *1$" || fail "no fork event in the parent"
    echo "ok: parent and child traces"
    ;;
kill)
    "$ebb" record -o "$work/t" -- "$workload" kill 2>"$work/err"
    rc=$?
    [ $rc = 137 ] || fail "expected the program's SIGKILL status 137, got $rc"
    "$ebb" info "$work/t" >"$work/info" || fail "the trace of a killed program does not decode"
    [ "$(awk '$1 == "malloc" { print $2 }' "$work/info")" = 5000 ] ||
        fail "expected all 5000 mallocs before the kill"
    echo "ok: a SIGKILLed program leaves a complete trace"
    ;;
ends)
    # However the program ends, the trace holds every call made before.
    for how in _exit abort exec; do
        rm -f "$work"/t*
        "$ebb" record -o "$work/t" -- "$workload" $how >/dev/null 2>&1
        "$ebb" info "$work/t" >"$work/info" || fail "$how: the trace does not decode"
        [ "$(awk '$1 == "malloc" { print $2 }' "$work/info")" = 3000 ] ||
            fail "$how: expected the 3000 mallocs made before the end"
    done
    grep -q "^  exec  *1$" "$work/info" || fail "exec: no exec event"
    n=$(ls "$work"/t* | wc -l)
    [ "$n" = 2 ] || fail "exec: expected a trace for each program image, got $n"
    "$ebb" info "$work"/t.* | grep -q "^  malloc  *1000$" || fail "exec: the new image's calls"
    echo "ok: _exit, abort and exec leave complete traces"
    ;;
corrupt)
    "$ebb" record -o "$work/t" -- "$workload" threads 2>/dev/null || fail "record failed"
    size=$(stat -c %s "$work/t")
    bad=0
    for cut in 0 7 20 51 60 100 $((size / 2)) $((size - 1)); do
        head -c "$cut" "$work/t" >"$work/c"
        "$ebb" info "$work/c" >/dev/null 2>"$work/err"
        rc=$?
        if [ $rc != 2 ] || ! grep -q "offset [0-9]*: " "$work/err"; then
            echo "truncated at $cut: exit $rc: $(cat "$work/err")"
            bad=1
        fi
    done
    for i in $(seq 1 40); do
        cp "$work/t" "$work/c"
        off=$(( (i * 7919) % size ))
        printf '\xff' | dd of="$work/c" bs=1 seek="$off" conv=notrunc 2>/dev/null
        "$ebb" info "$work/c" >/dev/null 2>"$work/err"
        rc=$?
        if [ $rc != 0 ] && { [ $rc != 2 ] || ! grep -q "offset" "$work/err"; }; then
            echo "byte $off corrupted: exit $rc: $(cat "$work/err")"
            bad=1
        fi
    done
    printf 'not a trace at all' >"$work/c"
    "$ebb" info "$work/c" 2>"$work/err"
    [ $? = 2 ] && grep -q "offset 0: not an ebb trace" "$work/err" || bad=1
    [ $bad = 0 ] || fail "bad input was not rejected with exit code 2 and an offset"
    echo "ok: truncated and corrupted traces rejected with offset and reason"
    ;;
python)
    py=$(command -v python3)
    "$ebb" record -o "$work/t" -- /usr/bin/python3 -c '
import json, threading
d = {str(i): [i] * 20 for i in range(20000)}
s = json.dumps(d)
def w():
    x = [bytearray(600) for _ in range(3000)]
ts = [threading.Thread(target=w) for _ in range(3)]
[t.start() for t in ts]; [t.join() for t in ts]
print(len(json.loads(s)))' >"$work/out" 2>/dev/null || fail "record python3 failed"
    [ "$(cat "$work/out")" = 20000 ] || fail "python3 output changed under the recorder"
    "$ebb" info "$work/t" >/dev/null || fail "python3 trace does not decode"
    ran=0
    for a in glibc jemalloc mimalloc tcmalloc ebb; do
        "$ebb" replay "$work/t" --alloc $a --settle-ms 0 >"$work/json" 2>"$work/err"
        rc=$?
        if grep -q "is not installed" "$work/err"; then
            echo "skip: $a is not installed"
            continue
        fi
        [ $rc = 0 ] || fail "replay under $a: $(cat "$work/err")"
        ran=$((ran + 1))
    done
    [ $ran -ge 2 ] || fail "fewer than two allocators replayed"
    echo "ok: python3 recorded and replayed under $ran allocators"
    ;;
alloc_stats)
    # --alloc-stats: libebb's statistics at the highest RSS the timeline sampled, the
    # resident figure split three ways that add up; an allocator without them is refused.
    traces=$(realpath "$(dirname "$0")/../../traces")
    for t in threads fragment; do
        "$ebb" replay "$traces/$t.trace" --alloc ebb --settle-ms 0 --csv "$work/csv" \
            --alloc-stats "$work/stats" >"$work/json" || fail "$t: replay failed"
        python3 - "$work/stats" "$work/csv" "$work/json" <<'PY' || fail "$t: statistics"
import csv, json, sys
at = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
run = json.load(open(sys.argv[3]))
s = at["stats"]
top = max(int(r["rss_bytes"]) for r in rows)
assert at["rss"] == top, f"taken at rss {at['rss']}, the highest sample is {top}"
assert any(int(r["event"]) == at["event"] and int(r["rss_bytes"]) == top for r in rows)
parts = s["spans_resident_bytes"] + s["pool_resident_bytes"] + s["large_resident_bytes"]
assert parts == s["resident_bytes"], f"parts {parts} != resident {s['resident_bytes']}"
assert sum(c["resident_bytes"] for c in s["classes"]) == s["spans_resident_bytes"]
# ebb's own memory is part of the process's: below the sampled RSS plus the baseline
own = s["resident_bytes"] + s["metadata_resident_bytes"]
assert 0 < own <= at["rss"] + run["baseline_rss"], f"ebb's {own}, process {at['rss']}"
assert 0 < s["live_bytes"] <= s["resident_bytes"] + s["large_bytes"]
assert s["free_check"] is True, "the tested library must catch double frees"
print(f"rss {at['rss']}: spans {s['spans_resident_bytes']}, pool "
      f"{s['pool_resident_bytes']}, large {s['large_resident_bytes']}, live {s['live_bytes']}")
PY
    done
    "$ebb" replay "$traces/threads.trace" --alloc glibc --settle-ms 0 \
        --alloc-stats "$work/none" >/dev/null 2>"$work/err"
    rc=$?
    [ $rc = 2 ] || fail "glibc with --alloc-stats: exit $rc, expected 2"
    grep -q "has no ebb_stats_json" "$work/err" || fail "no reason given: $(cat "$work/err")"
    [ ! -e "$work/none" ] || fail "a statistics file written for glibc"
    echo "ok: libebb's statistics taken at the highest sampled RSS; glibc refused"
    ;;
*)
    fail "unknown case $case_name"
    ;;
esac
