#!/usr/bin/env python3
"""What ebb's guarantees cost on the shipped traces: every trace replayed under each
installed allocator and under ebb as built and without one guarantee or another,
interleaved round by round. Reports medians of the allocator time, of the time per
free(), of the allocator's time at thread exits (not in the allocator time) and of the
peak RSS, and each ebb variant's ratio to the best other allocator in allocator time and
peak RSS (the median of the per-round ratios, as bench/run.py does). The ebb variants:

  ebb                 as built
  ebb, no free check  built with EBB_FREE_CHECK=OFF (in --nocheck-build, DIR-nocheck by
                      default, the build directory's name with -nocheck): free() does not
                      read the block it is given, so a second free of a free block goes
                      unnoticed, as with the other allocators
  ebb, no purging     EBB_DECAY_MS=-1: nothing is given back to the kernel
  ebb, neither        both of the above

Writes DIR/tradeoffs.md and DIR/tradeoffs.json.

usage: bench/tradeoffs.py [--runs N] [--build DIR] [--nocheck-build DIR] [-o DIR]
                         [TRACE...]"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allocators  # noqa: E402
from run import ROOT, build, fmt, paired_ratio  # noqa: E402

MiB = 1048576
# metric -> (title, unit, from a replay's JSON result)
METRICS = {
    "alloc_ms": ("allocator time", "ms", lambda r: r["alloc_time_s"] * 1e3),
    "free_ns": ("time per free()", "ns", lambda r: r["free_ns"]),
    "exit_ms": ("allocator time at thread exits, apart from the above", "ms",
                lambda r: r["thread_exit_s"] * 1e3),
    "peak_mib": ("peak RSS", "MiB", lambda r: r["peak_rss"] / MiB),
}


def variants(build_dir, nocheck_dir):
    """(name, --alloc argument, extra environment) for every allocator and ebb variant."""
    avail, missing = allocators.find(os.path.join(build_dir, "libebb.so"))
    for m in missing:
        print(f"tradeoffs: {m} is not installed; skipped", file=sys.stderr)
    out = [(name, path or "glibc", {}) for name, path in avail]
    ebb = dict(avail).get("ebb")
    if not ebb:
        sys.exit("tradeoffs: no libebb.so in " + build_dir)
    nocheck = os.path.abspath(os.path.join(nocheck_dir, "libebb.so"))
    out += [("ebb, no free check", nocheck, {}),
            ("ebb, no purging", ebb, {"EBB_DECAY_MS": "-1"}),
            ("ebb, neither", nocheck, {"EBB_DECAY_MS": "-1"})]
    return out


def replay(ebb_tool, trace, alloc, extra_env):
    env = allocators.env_for(None)
    env.update(extra_env)
    out = subprocess.run([ebb_tool, "replay", trace, "--alloc", alloc, "--settle-ms", "0"],
                         env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"replay of {trace} under {alloc} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def tables(samples, names, traces):
    others = [n for n in names if not n.startswith("ebb")]
    mine = [n for n in names if n.startswith("ebb")]
    lines = []
    for metric, (title, unit, _) in METRICS.items():
        s = samples[metric]
        lines += [f"### {title} ({unit}, medians, lower is better)", "",
                  "| trace | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for t in traces:
            med = {n: statistics.median(s[n][t]) for n in names}
            lines.append(f"| {t} | " + " | ".join(fmt(med[n]) for n in names) + " |")
        lines.append("")
        if metric in ("free_ns", "exit_ms"):
            continue
        lines += [f"{title}, each ebb variant over the best other allocator "
                  "(median of the per-round ratios):", "",
                  "| trace | " + " | ".join(mine) + " |", "|---|" + "---:|" * len(mine)]
        for t in traces:
            lines.append(f"| {t} | " + " | ".join(
                f"{paired_ratio(s, t, others, who=n):.2f}" for n in mine) + " |")
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--nocheck-build")
    ap.add_argument("-o", "--out", default=os.path.join(ROOT, "out", "bench"))
    ap.add_argument("traces", nargs="*")
    args = ap.parse_args()
    nocheck_dir = args.nocheck_build or args.build.rstrip("/") + "-nocheck"
    build(args.build, ["ebb", "ebb_tool"])
    build(nocheck_dir, ["ebb"], ["-DEBB_FREE_CHECK=OFF", "-DEBB_TESTS=OFF", "-DEBB_BENCH=OFF"])
    ebb_tool = os.path.join(args.build, "ebb")
    paths = args.traces or sorted(glob.glob(os.path.join(ROOT, "traces", "*.trace")))
    traces = {os.path.basename(p).removesuffix(".trace"): p for p in paths}
    runs = variants(args.build, nocheck_dir)
    names = [n for n, _, _ in runs]
    samples = {m: {n: {t: [] for t in traces} for n in names} for m in METRICS}
    for r in range(args.runs):
        for t, path in traces.items():
            for name, alloc, env in runs:
                print(f"tradeoffs: run {r + 1}/{args.runs} {t} {name}", file=sys.stderr,
                      flush=True)
                result = replay(ebb_tool, path, alloc, env)
                for m, (_, _, get) in METRICS.items():
                    samples[m][name][t].append(get(result))
    text = (f"Medians of {args.runs} interleaved rounds of `ebb replay --settle-ms 0`.\n\n" +
            tables(samples, names, list(traces)))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "tradeoffs.md"), "w") as f:
        f.write("# What ebb's guarantees cost\n\n" + text)
    with open(os.path.join(args.out, "tradeoffs.json"), "w") as f:
        json.dump({"runs": args.runs, "samples": samples}, f, indent=1)
    print(text)


if __name__ == "__main__":
    main()
