#!/bin/bash
# tradeoffs.sh BUILD_DIR — bench/tradeoffs.py on one shipped trace: it builds libebb
# with EBB_FREE_CHECK=OFF beside the tested one, replays under every allocator and ebb
# variant, and writes a row per trace for each. The variant is what it says: its
# statistics say free_check false, and a double free goes through it unnoticed, where
# the tested library aborts with its message.
source "$(dirname "$0")/lib.sh"
build=$(realpath "$1")

python3 "$root/bench/tradeoffs.py" --build "$build" --nocheck-build "$work/nocheck" \
    --runs 1 -o "$work" "$root/traces/git-log.trace" >/dev/null 2>"$work/err" ||
    fail "tradeoffs.py failed: $(tail -5 "$work/err")"
rows=$(grep -c "^| git-log | " "$work/tradeoffs.md")
[ "$rows" = 6 ] || fail "$rows rows for git-log, expected 6 (4 tables, 2 of ratios)"
python3 - "$work/tradeoffs.json" <<'PY' || fail "figures missing"
import json, sys
s = json.load(open(sys.argv[1]))["samples"]
want = {"ebb", "ebb, no free check", "ebb, no purging", "ebb, neither", "glibc"}
for metric, by_variant in s.items():
    assert want <= set(by_variant), (metric, by_variant.keys())
    for name, traces in by_variant.items():
        low = 0 if metric == "exit_ms" else 1e-9  # glibc's exit may time as 0
        assert len(traces["git-log"]) == 1 and traces["git-log"][0] >= low, (metric, name)
PY
nocheck="$work/nocheck/libebb.so"
for lib in "$build/libebb.so" "$nocheck"; do
    "$build/ebb" replay "$root/traces/git-log.trace" --alloc "$lib" --settle-ms 0 \
        --alloc-stats "$work/stats" >/dev/null || fail "replay under $lib"
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["stats"]["free_check"])' \
        "$work/stats" >>"$work/checks"
done
[ "$(tr '\n' ' ' <"$work/checks")" = "True False " ] ||
    fail "free_check: $(tr '\n' ' ' <"$work/checks"), expected True False"
LD_PRELOAD="$nocheck" "$build/tests/test_misuse" double_free >/dev/null 2>"$work/err" ||
    fail "the double free aborted without the check: $(cat "$work/err")"
bash "$root/tests/death/expect_abort.sh" "ebb: free(): double free of @" \
    env LD_PRELOAD="$build/libebb.so" "$build/tests/test_misuse" double_free \
    >"$work/death" 2>/dev/null || fail "the tested library: $(cat "$work/death")"
echo "ok: a row per variant; the variant without the check reports it and lets a double free through"
