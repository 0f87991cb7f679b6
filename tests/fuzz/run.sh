#!/bin/bash
# run.sh TARGET SECONDS BUILD_DIR — build a libFuzzer target with clang (ASan, UBSan)
# and fuzz it for SECONDS from a seed corpus (small traces made by ebb gen, a shipped
# recorded trace, example budgets, option lines). Exit 77 (skipped) when clang's
# libFuzzer is missing.
set -u
target=$1
seconds=$2
build=$(realpath "$3")
here=$(cd "$(dirname "$0")" && pwd)
src=$here/../..
command -v clang >/dev/null || { echo "clang is not installed"; exit 77; }
work=$build/fuzz-$target
mkdir -p "$work/corpus"
case $target in
trace)
    files=("$here/fuzz_trace.c" "$src/replay/trace.c")
    for p in append prodcons threads server fragment large; do
        "$build/ebb" gen $p --scale 0.002 -o "$work/corpus/seed-$p.trace" 2>/dev/null
    done
    cp "$src/traces/git-log.trace" "$work/corpus/seed-git-log.trace"
    ;;
budget)
    files=("$here/fuzz_budget.c" "$src/replay/budget.c" "$src/replay/metrics.c")
    cp "$src/bench/budget.txt" "$work/corpus/seed-budget.txt"
    printf 'baseline x.json\nlimit peak_rss ebb 1.1 best-other server\n' >"$work/corpus/seed-2.txt"
    ;;
options)
    files=("$here/fuzz_options.c" "$src/alloc/options.c" "$src/alloc/error.c")
    printf 'DECAY_MS=100\nPURGE=free\nSTATS=1\n' >"$work/corpus/seed-1.txt"
    printf 'EBB_DECAY_MS=-1\nBACKGROUND=1\nDEBUG=0\nNO_SUCH=x\n' >"$work/corpus/seed-2.txt"
    ;;
*)
    echo "unknown target $target"
    exit 2
    ;;
esac
zstd_inc=$(pkg-config --cflags libzstd 2>/dev/null)
if ! clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -D_GNU_SOURCE -DEBB_VERSION_TEXT='"fuzz"' -I"$src/replay" -I"$src/alloc" $zstd_inc \
        "${files[@]}" -o "$work/fuzz" -lzstd -lm 2>"$work/build.log"; then
    if grep -q "fuzzer" "$work/build.log"; then
        echo "libFuzzer is not available (libclang-rt-14-dev)"; exit 77
    fi
    cat "$work/build.log"
    exit 1
fi
cd "$work"
./fuzz -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=1024 -malloc_limit_mb=512 \
    -print_final_stats=1 corpus >"$work/fuzz.log" 2>&1
rc=$?
grep -E "stat::number_of_executed_runs|stat::peak_rss_mb" "$work/fuzz.log"
if [ $rc != 0 ]; then
    grep -E "ERROR|SUMMARY|==[0-9]+==" "$work/fuzz.log" | head -20
    echo "FAIL: the fuzzer found a problem (crash input in $work)"
    exit 1
fi
echo "ok: $target fuzzed for $seconds s without a crash, leak or unbounded allocation"
