#!/bin/bash
# peak_breakdown.sh BUILD_DIR — bench/peak_breakdown.py on two shipped traces: a row per
# trace, whose parts are consistent with the replay (libebb's resident memory covers the
# live blocks of each class group; the sample is the run's peak or below it).
source "$(dirname "$0")/lib.sh"
build=$(realpath "$1")

python3 "$root/bench/peak_breakdown.py" --build "$build" --no-build --runs 1 -o "$work" \
    "$root/traces/git-log.trace" "$root/traces/threads.trace" >/dev/null 2>"$work/err" ||
    fail "peak_breakdown.py failed: $(cat "$work/err")"
for t in git-log threads; do
    grep -q "^| $t | " "$work/peak_breakdown.md" || fail "no row for $t"
done
python3 - "$work/peak_breakdown.json" <<'PY' || fail "inconsistent figures"
import json, sys
rows = json.load(open(sys.argv[1]))["traces"]
assert set(rows) == {"git-log", "threads"}, rows.keys()
for name, x in rows.items():
    assert 0 < x["sampled_rss"] <= x["peak_rss"], (name, x)
    assert x["small_live"] <= x["small_resident"] and x["big_live"] <= x["big_resident"], (name, x)
    assert x["small_resident"] + x["big_resident"] > 0 and x["metadata_resident"] > 0, (name, x)
assert rows["threads"]["heaps"] > rows["git-log"]["heaps"], "threads made no more heaps"
print("ok: " + ", ".join(f"{n} {x['sampled_rss'] >> 10} KiB" for n, x in rows.items()))
PY
