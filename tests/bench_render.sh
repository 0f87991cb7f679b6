#!/bin/bash
# bench_render.sh — bench/run.py --render: the summary's tables from a results.json, and
# the ratio column as the median of per-run ratios, not a ratio of medians.
source "$(dirname "$0")/lib.sh"

# results EBB JEMALLOC MIMALLOC: one micro case, three rounds of each (ns/op), and peak
# RSS of 1.5, 2 and 1 MiB.
results() {
    cat >"$work/results.json" <<JSON
{"machine": {"cpu": "test", "cores": 2, "memory_mib": 1, "kernel": "0"}, "runs": 3,
 "allocators": {}, "missing": [], "groups": {"micro": {"unit": "ns/op",
 "samples": {"jemalloc": {"pair": [$2]}, "mimalloc": {"pair": [$3]}, "ebb": {"pair": [$1]}},
 "peak_rss_bytes": {"jemalloc": {"pair": [2097152, 2097152, 2097152]},
                    "mimalloc": {"pair": [1048576, 1048576, 1048576]},
                    "ebb": {"pair": [1572864, 1572864, 1572864]}}}}}
JSON
    python3 "$root/bench/run.py" --render "$work" >/dev/null 2>&1 || fail "--render failed"
}
last_cell() { # last_cell N: the ratio column of the Nth "pair" row
    grep "^| pair |" "$work/summary.md" | sed -n "$1p" | sed -E 's/.*\| ([0-9.]+) \|$/\1/'
}

# The machine slows down in the second and third rounds: per round ebb takes 0.5, 0.9
# and 3.33 times jemalloc's time (median 0.90), where the medians (9 against 3) would
# say 3.00.
results "1, 9, 10" "2, 10, 3" "100, 100, 100"
[ "$(last_cell 1)" = 0.90 ] || fail "time ratio $(last_cell 1), expected 0.90"
[ "$(last_cell 2)" = 1.50 ] || fail "RSS ratio $(last_cell 2), expected 1.50 (1.5 against 1 MiB)"
grep -q "^| pair | \*\*3.00 (2.00–10.0)\*\* | 100 (100–100) | 9.00 (1.00–10.0) |" \
    "$work/summary.md" || fail "medians and ranges: $(grep '^| pair' "$work/summary.md")"
# The best other can change from round to round: 1/2 (jemalloc), 4/2 (mimalloc), 3/3.
results "1, 4, 3" "2, 8, 3" "5, 2, 9"
[ "$(last_cell 1)" = 1.00 ] || fail "time ratio $(last_cell 1), expected 1.00"
echo "ok: bench/run.py --render writes the tables; ratios are medians of per-run ratios"
