#!/usr/bin/env python3
"""Runs bench/memory.c's cases (append, threads, forkexec, prodcons) under every
installed allocator, interleaved run by run, and reports medians: peak RSS / peak live,
settled RSS and slack, and each case's own figure (fork+exec time, messages per
second). ebb also runs with purging off (EBB_DECAY_MS=-1), to show what purging costs,
and with EBB_BACKGROUND=1. Writes DIR/memory.md and DIR/memory.json.

usage: bench/memory.py [--runs N] [--build DIR] [-o DIR] [CASE...]"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allocators  # noqa: E402
from run import ROOT, build  # noqa: E402

CASES = ["append", "threads", "forkexec", "prodcons"]
MiB = 1048576


def run_case(exe, case, path, extra_env):
    env = allocators.env_for(path)
    env.update(extra_env)
    out = subprocess.run([exe, case], env=env, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"{case} failed: {out.stderr}")
    line = out.stdout.strip().splitlines()[-1]
    return {k: float(v) for k, v in (f.split("=") for f in line.split()[1:])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("-o", "--out", default=os.path.join(ROOT, "out", "bench"))
    ap.add_argument("cases", nargs="*", default=CASES)
    args = ap.parse_args()
    build(args.build, ["ebb", "bench_memory"])
    exe = os.path.join(args.build, "bench", "bench_memory")
    avail, missing = allocators.find(os.path.join(args.build, "libebb.so"))
    for m in missing:
        print(f"memory: {m} is not installed; skipped", file=sys.stderr)
    variants = [(n, p, {}) for n, p in avail]
    ebb = dict(avail).get("ebb")
    if ebb:
        variants.append(("ebb, no purging", ebb, {"EBB_DECAY_MS": "-1"}))
        variants.append(("ebb, background", ebb, {"EBB_BACKGROUND": "1"}))
    res = {c: {v[0]: [] for v in variants} for c in args.cases}
    for r in range(args.runs):
        for c in args.cases:
            for name, path, env in variants:
                print(f"memory: run {r + 1}/{args.runs} {c} {name}", file=sys.stderr, flush=True)
                res[c][name].append(run_case(exe, c, path, env))
    med = {c: {n: {k: statistics.median(x[k] for x in runs) for k in runs[0]}
               for n, runs in v.items()} for c, v in res.items()}
    lines = [f"Medians of {args.runs} interleaved runs. RSS above the program's baseline; "
             "settled = after the frees, 1 s and one more malloc/free. Bound checked: "
             "settled slack (RSS - live bytes) <= 2 MiB + 25% of live bytes.", ""]
    for c in args.cases:
        m = med[c]
        extra = [k for k in next(iter(m.values())) if k in ("forkexec_ms", "msgs_per_s")]
        lines.append(f"### {c}\n")
        head = "| allocator | peak RSS (MiB) | peak RSS / peak live | settled RSS (MiB) | live (MiB) | settled slack (MiB) | within bound |"
        head += "".join(f" {k} |" for k in extra)
        lines.append(head)
        lines.append("|---|" + "---:|" * (6 + len(extra)))
        for n, v in m.items():
            ratio = v["peak_rss"] / v["peak_live"] if v["peak_live"] > 0 else 0
            bound = 2 * MiB + 0.25 * v["live"]
            row = (f"| {n} | {v['peak_rss'] / MiB:.1f} | {ratio:.2f} | {v['settled_rss'] / MiB:.1f}"
                   f" | {v['live'] / MiB:.1f} | {v['slack'] / MiB:.1f} |"
                   f" {'yes' if v['slack'] <= bound else 'no'} |")
            row += "".join(f" {v[k]:.3f} |" if k == "forkexec_ms" else f" {v[k]:.0f} |" for k in extra)
            lines.append(row)
        lines.append("")
    os.makedirs(args.out, exist_ok=True)
    text = "\n".join(lines)
    open(os.path.join(args.out, "memory.md"), "w").write("# ebb memory benchmarks\n\n" + text + "\n")
    json.dump({"runs": args.runs, "samples": res, "median": med},
              open(os.path.join(args.out, "memory.json"), "w"), indent=2)
    print(text)


if __name__ == "__main__":
    main()
