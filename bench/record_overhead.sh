#!/bin/bash
# record_overhead.sh [BUILD_DIR] — what recording costs: bench_churn (2 million rounds,
# about 4 million allocation calls) run plain, under the ebb recorder shim (the
# program's own slowdown; the conversion to a trace afterwards is timed apart), and
# under heaptrack when it is installed. Times are hyperfine medians.
set -euo pipefail
build=$(realpath "${1:-$(dirname "$0")/../build}")
prog="$build/bench/bench_churn"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mkdir "$out/rec"
cmds=(-n plain "$prog"
      -n ebb-record "rm -f $out/rec/*; EBB_RECORD_DIR=$out/rec LD_PRELOAD=$build/libebb-record.so $prog")
if command -v heaptrack >/dev/null; then
    cmds+=(-n heaptrack "heaptrack -o $out/ht $prog >/dev/null")
fi
hyperfine --warmup 1 --runs 5 --export-json "$out/h.json" "${cmds[@]}" >/dev/null
rm -f "$out"/rec/*
EBB_RECORD_DIR=$out/rec LD_PRELOAD=$build/libebb-record.so "$prog" >/dev/null
raw=$(ls "$out"/rec/*.raw | head -1)
start=$(date +%s.%N)
"$build/ebb" convert "$raw" -o "$out/t" 2>/dev/null
conv=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
events=$("$build/ebb" info "$out/t" | awk '/^events:/ { print $2 }')
size=$(stat -c %s "$out/t")
start=$(date +%s.%N)
"$build/ebb" info "$out/t" >/dev/null
dec=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
python3 - "$out/h.json" "$events" "$conv" "$size" "$dec" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))["results"]
events, conv, size, dec = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
t = {r["command"]: r["median"] for r in h}
plain = t["plain"]
print(f"{events} events recorded; trace {size} bytes ({size / events:.2f} bytes per event)\n")
print("| run | median time (s) | ratio to plain | overhead per event (ns) |")
print("|---|---|---|---|")
for name, v in t.items():
    print(f"| {name} | {v:.3f} | {v / plain:.2f} | {(v - plain) / events * 1e9:.0f} |")
print(f"\nconversion to a trace: {conv:.2f} s ({conv / events * 1e9:.0f} ns per event); "
      f"decoding it (ebb info): {dec:.2f} s ({events / dec / 1e6:.1f} million events/s)")
PY
