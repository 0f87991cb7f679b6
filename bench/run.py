#!/usr/bin/env python3
"""Runs the micro-benchmarks under every installed allocator, side by side in one run:
runs are interleaved allocator by allocator (so machine noise hits all of them alike),
each figure is the median of N runs with its min-max, and ratios are taken within the
run. Writes DIR/summary.md and DIR/results.json and prints the table.

usage: bench/run.py [--runs N] [--build DIR] [-o DIR] [CASE...]"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allocators  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = {
    "pair": "malloc+free of one block, 16..4096 B",
    "batch100": "100 mallocs then 100 frees, per pair",
    "batch1000": "1000 mallocs then 1000 frees, per pair",
    "prodcons": "one thread allocates, another frees, per block",
}


def build(build_dir):
    if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
        subprocess.run(["cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release"],
                       check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build_dir, "-j2", "--target", "ebb", "bench_micro"],
                   check=True, stdout=subprocess.DEVNULL)


def run_once(exe, path, cases):
    out = subprocess.run([exe] + cases, env=allocators.env_for(path), capture_output=True,
                         text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{exe} failed: {out.stderr.strip()}")
    result = {}
    for line in out.stdout.splitlines():
        name, ns = line.split()
        result[name] = float(ns)
    return result


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version()}


def markdown(cases, names, med, lo, hi, runs):
    lines = [f"Nanoseconds per operation, median of {runs} interleaved runs (min-max); "
             "lower is better. The ratio is ebb's time over each other allocator's "
             "(below 1.00 = ebb faster).", ""]
    header = "| case | " + " | ".join(names) + " |"
    if "ebb" in names:
        others = [n for n in names if n != "ebb"]
        header += " " + " | ".join(f"ebb/{n}" for n in others) + " |"
    lines.append(header)
    lines.append("|" + "---|" * (header.count("|") - 1))
    for c in cases:
        best = min(med[n][c] for n in names)
        cells = []
        for n in names:
            cell = f"{med[n][c]:.2f} ({lo[n][c]:.1f}-{hi[n][c]:.1f})"
            cells.append(f"**{cell}**" if med[n][c] == best else cell)
        row = f"| {c} | " + " | ".join(cells) + " |"
        if "ebb" in names:
            row += " " + " | ".join(f"{med['ebb'][c] / med[n][c]:.2f}"
                                    for n in names if n != "ebb") + " |"
        lines.append(row)
    lines.append("")
    lines.append("Cases: " + "; ".join(f"`{c}`: {CASES[c]}" for c in cases) + ".")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("-o", "--out", default=os.path.join(ROOT, "out", "bench"))
    ap.add_argument("cases", nargs="*", default=list(CASES))
    args = ap.parse_args()
    for c in args.cases:
        if c not in CASES:
            ap.error(f"unknown case {c}; known: {', '.join(CASES)}")

    build(args.build)
    exe = os.path.join(args.build, "bench", "bench_micro")
    avail, missing = allocators.find(os.path.join(args.build, "libebb.so"))
    for m in missing:
        print(f"bench: {m} is not installed; skipped", file=sys.stderr)
    names = [n for n, _ in avail]
    samples = {n: {c: [] for c in args.cases} for n in names}
    start = time.time()
    for r in range(args.runs):
        for name, path in avail:
            print(f"bench: run {r + 1}/{args.runs} {name}", file=sys.stderr, flush=True)
            for c, v in run_once(exe, path, args.cases).items():
                samples[name][c].append(v)
    med = {n: {c: statistics.median(v) for c, v in s.items()} for n, s in samples.items()}
    lo = {n: {c: min(v) for c, v in s.items()} for n, s in samples.items()}
    hi = {n: {c: max(v) for c, v in s.items()} for n, s in samples.items()}

    os.makedirs(args.out, exist_ok=True)
    table = markdown(args.cases, names, med, lo, hi, args.runs)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write("# ebb micro-benchmarks\n\n" + table + "\n")
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"machine": machine(), "runs": args.runs, "unit": "ns/op",
                   "allocators": {n: p for n, p in avail}, "missing": missing,
                   "samples": samples, "median": med,
                   "seconds": round(time.time() - start, 1)}, f, indent=2)
    print(table)
    print(f"\nwritten: {args.out}/summary.md, {args.out}/results.json", file=sys.stderr)


if __name__ == "__main__":
    main()
