#!/usr/bin/env python3
"""Where ebb's resident memory sits at each trace's peak: replays every shipped trace
(or the ones named) under libebb with `ebb replay --alloc-stats`, --runs times, and
reports the run with the median peak RSS: its peak, the live bytes at that sample, and
libebb's resident bytes split into spans of small classes (blocks under 8 KiB) and of
big classes, each with the live bytes in them, free spans in the pool not purged yet,
large blocks, and metadata. Writes DIR/peak_breakdown.md and DIR/peak_breakdown.json.

usage: bench/peak_breakdown.py [--runs N] [--build DIR] [--no-build] [-o DIR] [--shared]
                               [TRACE...]"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import ROOT, build  # noqa: E402

BIG = 8192  # blocks of this size and more are purged inside spans (alloc/sizeclass.c)
MiB = 1048576


def replay(ebb, trace, env):
    with tempfile.TemporaryDirectory() as d:
        stats, result = os.path.join(d, "stats.json"), os.path.join(d, "result.json")
        subprocess.run([ebb, "replay", trace, "--alloc", "ebb", "--settle-ms", "0",
                        "--alloc-stats", stats, "--json", result], env=env, check=True)
        with open(stats) as f:
            at = json.load(f)
        with open(result) as f:
            run = json.load(f)
    s = at["stats"]

    def part(big, key):
        return sum(c[key] for c in s["classes"] if (c["block_size"] >= BIG) == big)
    return {
        "peak_rss": run["peak_rss"], "sampled_rss": at["rss"], "replay_live": at["live_bytes"],
        "small_resident": part(False, "resident_bytes"), "small_live": part(False, "live_bytes"),
        "big_resident": part(True, "resident_bytes"), "big_live": part(True, "live_bytes"),
        "pool_resident": s["pool_resident_bytes"], "large_resident": s["large_resident_bytes"],
        "metadata_resident": s["metadata_resident_bytes"], "heaps": s["heaps"],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("-o", "--out", default=os.path.join(ROOT, "out", "bench"))
    ap.add_argument("--shared", action="store_true", help="with EBB_SHARED=1")
    ap.add_argument("--no-build", action="store_true", help="use DIR as it is")
    ap.add_argument("traces", nargs="*")
    args = ap.parse_args()
    if not args.no_build:
        build(args.build, ["ebb", "ebb_tool"])
    ebb = os.path.join(args.build, "ebb")
    traces = args.traces or sorted(glob.glob(os.path.join(ROOT, "traces", "*.trace")))
    env = dict(os.environ, EBB_SHARED="1" if args.shared else "0")
    rows = {}
    for t in traces:
        name = os.path.basename(t).removesuffix(".trace")
        runs = []
        for r in range(args.runs):
            print(f"peak_breakdown: {name} run {r + 1}/{args.runs}", file=sys.stderr, flush=True)
            runs.append(replay(ebb, t, env))
        runs.sort(key=lambda x: x["peak_rss"])
        rows[name] = runs[len(runs) // 2]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "peak_breakdown.json"), "w") as f:
        json.dump({"shared": args.shared, "runs": args.runs, "traces": rows}, f, indent=1)

    def mib(x):
        return f"{x / MiB:.2f}"
    lines = [
        f"Where ebb's memory sits at the highest sampled RSS (MiB; the run with the median "
        f"peak of {args.runs}{', EBB_SHARED=1' if args.shared else ''}). Live: the replay's "
        "live bytes at that sample; in the class columns, the live bytes of the blocks "
        "handed out from those spans (block sizes).",
        "",
        "| trace | peak RSS | sampled RSS | live | small classes (live) | big classes (live) "
        "| free spans | large | metadata | heaps |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, x in rows.items():
        lines.append(
            f"| {name} | {mib(x['peak_rss'])} | {mib(x['sampled_rss'])} | "
            f"{mib(x['replay_live'])} | {mib(x['small_resident'])} ({mib(x['small_live'])}) | "
            f"{mib(x['big_resident'])} ({mib(x['big_live'])}) | {mib(x['pool_resident'])} | "
            f"{mib(x['large_resident'])} | {mib(x['metadata_resident'])} | {x['heaps']} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "peak_breakdown.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
