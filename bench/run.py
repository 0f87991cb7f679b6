#!/usr/bin/env python3
"""The benchmark suite: every installed allocator side by side in one run.

Groups (all by default):
  micro      bench/micro.c cases, ns per operation
  workloads  bench/workloads.c programs (larson, mstress, bignum, large, holes), ms
  real       real programs under each allocator, through `ebb bench` (hyperfine), s
  callgrind  instructions per operation of the single-threaded micro cases, counted
             by valgrind's callgrind at two scales (start-up cost cancels out)
  memory     memory returned to the kernel: bench/memory.py (append, threads,
             forkexec, prodcons; settled RSS against live bytes)
  replay     every shipped trace replayed under each allocator (`ebb compare`)

Every measured case runs as its own process, so its peak RSS (wait4) is its own. Runs
are interleaved: round r runs every case under every allocator before round r + 1,
so machine noise hits them alike; figures are medians of the rounds with min-max.
Ratios are ebb's figure over the best other allocator's, round by round (the allocators
of a case run back to back, so each round compares them under the same machine load),
and the median of those per-round ratios: on a shared machine whose speed changes
between rounds, a ratio of medians would compare rounds of different speeds.
Writes DIR/summary.md and DIR/results.json and prints the summary.

usage: bench/run.py [--runs N] [--build DIR] [-o DIR] [--groups LIST] [CASE...]
       bench/run.py --render DIR   (rewrite DIR/summary.md from DIR/results.json)"""
import argparse
import glob
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import allocators  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROUPS = ["micro", "workloads", "real", "callgrind", "memory", "replay"]

MICRO = {
    "pair": "malloc+free of one block, 16..4096 B",
    "batch100": "100 mallocs then 100 frees, per pair",
    "batch1000": "1000 mallocs then 1000 frees, per pair",
    "calloc": "calloc of 100 blocks then free, per pair",
    "realloc": "a buffer grown by 16..64 B steps to 64 KiB, per realloc",
    "aligned": "aligned_alloc (32..4096) of 100 blocks then free, per pair",
    "prodcons": "one thread allocates, another frees, per block",
    "threads1": "batch100 in 1 thread, per pair",
    "threads2": "the same 20 M pairs shared by 2 threads, wall time per pair",
    "threads4": "shared by 4 threads",
    "threads8": "shared by 8 threads",
    "falseshare": "4 threads write their own 8-byte blocks after freeing one another "
                  "thread allocated, per write",
}
SINGLE_THREADED = ["pair", "batch100", "batch1000", "calloc", "realloc", "aligned"]
WORKLOADS = {
    "larson": "server loop, 4 threads, tables handed to new threads",
    "mstress": "power-of-two sizes, mixed lifetimes, threads recreated each phase",
    "bignum": "arbitrary-precision arithmetic, small-object churn",
    "large": "5..25 MiB buffers zero-filled, 4 alive",
    "holes": "2 M small blocks, every other freed, kept while 30 M rounds churn",
}
REAL = {
    "python": "python3 tests/real/workload.py (dicts, json, threads, subprocesses)",
    "gcc": "gcc -O2 -c of 7 generated C files",
    "sqlite3": "sqlite3: 300,000 rows inserted, indexed, grouped, updated, vacuumed",
    "git": "git clone --no-local of this repository, then log -p --stat",
}
UNITS = {"micro": "ns/op", "workloads": "ms", "real": "s", "callgrind": "instructions/op"}


SUITE_TARGETS = ["ebb", "ebb_tool", "ebb_record", "bench_micro", "bench_workloads",
                 "bench_peak", "bench_memory"]


def build(build_dir, targets=SUITE_TARGETS, options=()):
    """Configures build_dir (a Release build, with the CMake -D options given) unless it
    is configured already, then builds the targets."""
    if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
        subprocess.run(["cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
                        *options], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build_dir, "-j2", "--target", *targets],
                   check=True, stdout=subprocess.DEVNULL)


def run_with_rss(argv, path, peak_exe):
    """Runs argv under the allocator; returns (stdout text, peak RSS in bytes)."""
    with tempfile.NamedTemporaryFile(mode="r") as peak:
        # The allocator is preloaded into the measured program only, not the helper.
        env = allocators.env_for(None)
        if path:
            argv = ["env", f"LD_PRELOAD={path}"] + argv
        out = subprocess.run([peak_exe, peak.name] + argv, env=env, capture_output=True,
                             text=True, timeout=900)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {out.stderr.strip()}")
        return out.stdout, int(peak.read())


def measure_group(group, cases, exe, avail, runs, samples, rss, peak_exe):
    for r in range(runs):
        for c in cases:
            for name, path in avail:
                print(f"bench: {group} run {r + 1}/{runs} {c} {name}", file=sys.stderr,
                      flush=True)
                text, peak = run_with_rss([exe, c], path, peak_exe)
                value = float(text.split()[1])
                samples[name][c].append(value)
                rss[name][c].append(peak)


def real_inputs(work):
    """Input files of the real-program cases; returns case -> shell command."""
    gen = os.path.join(ROOT, "tests", "real", "gen_c.py")
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
    units = []
    for i in list(range(1, 7)) + ["main"]:
        with open(os.path.join(work, f"unit{i}.c"), "w") as f:
            subprocess.run([py, gen, str(i)], stdout=f, check=True)
        units.append(f"unit{i}.c")
    sql = os.path.join(work, "workload.sql")
    with open(sql, "w") as f:
        f.write("""CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
INSERT INTO t SELECT i, printf('name-%08d-%s', (i * 7919) % 300007, hex(i)), i % 97,
  (i * 31) % 1000 / 7.0 FROM n;
CREATE INDEX t_name ON t(name);
SELECT grp, count(*), round(sum(val), 3), min(name), max(name) FROM t GROUP BY grp;
SELECT count(DISTINCT substr(name, 1, 9)) FROM t;
UPDATE t SET name = name || '-x' WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
VACUUM;
""")
    clone = os.path.join(work, "clone")
    return {
        "python": f"{py} {os.path.join(ROOT, 'tests', 'real', 'workload.py')} >/dev/null",
        "gcc": f"cd {work} && gcc -O2 -c {' '.join(units)}",
        "sqlite3": f"sqlite3 :memory: < {sql} >/dev/null",
        "git": f"rm -rf {clone} && git clone -q --no-local {ROOT} {clone} && "
               f"git -C {clone} log -p --stat >/dev/null",
    }


def measure_real(cases, build_dir, avail, runs, samples, rss, out_dir):
    ebb = os.path.join(build_dir, "ebb")
    names = ",".join(n for n, _ in avail)
    with tempfile.TemporaryDirectory() as work:
        commands = real_inputs(work)
        for c in cases:
            print(f"bench: real {c}", file=sys.stderr, flush=True)
            dest = os.path.join(out_dir, "real", c)
            subprocess.run([ebb, "bench", "--alloc", names, "--runs", str(runs), "-o", dest,
                            "--", "sh", "-c", commands[c]], check=True,
                           stdout=subprocess.DEVNULL)
            with open(os.path.join(dest, "results.json")) as f:
                res = json.load(f)["results"]
            for name in res:
                # ebb bench keeps the median and range, not every run.
                samples[name][c] = [res[name]["min_s"], res[name]["median_s"],
                                    res[name]["max_s"]]
                rss[name][c] = [res[name]["peak_rss"]]


def callgrind_ir(exe, case, scale, path):
    with tempfile.TemporaryDirectory() as d:
        outfile = os.path.join(d, "cg.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={outfile}",
                        exe, "--scale", str(scale), case], env=allocators.env_for(path),
                       check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        with open(outfile) as f:
            for line in f:
                if line.startswith("summary:"):
                    return int(line.split()[1])
        raise RuntimeError(f"no summary line in callgrind's output for {case}")


def measure_callgrind(cases, exe, avail, samples):
    # Instructions per operation: the difference between two scales cancels start-up.
    lo, hi = 0.005, 0.01
    for c in cases:
        for name, path in avail:
            print(f"bench: callgrind {c} {name}", file=sys.stderr, flush=True)
            ops_lo = int(subprocess.run([exe, "--scale", str(lo), c], capture_output=True,
                                        text=True, check=True).stdout.split()[2])
            ops_hi = int(subprocess.run([exe, "--scale", str(hi), c], capture_output=True,
                                        text=True, check=True).stdout.split()[2])
            ir = callgrind_ir(exe, c, hi, path) - callgrind_ir(exe, c, lo, path)
            samples[name][c] = [ir / (ops_hi - ops_lo)]


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
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mib": mem,
            "kernel": platform.release(), "python": platform.python_version()}


def fmt(v):
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def paired_ratio(samples, c, others, who="ebb"):
    """Median over rounds of who's value over the lowest other value of that round; the
    ratio of medians when the rounds do not line up (a failed run)."""
    rounds = len(samples[who][c])
    if all(len(samples[n][c]) == rounds and min(samples[n][c]) > 0 for n in others):
        return statistics.median(samples[who][c][r] / min(samples[n][c][r] for n in others)
                                 for r in range(rounds))
    return (statistics.median(samples[who][c]) /
            min(statistics.median(samples[n][c]) for n in others))


def table(title, unit, cases, names, samples, describe, with_range=True):
    """Markdown table of medians; the last column is ebb over the best other."""
    lines = [f"### {title} ({unit}, lower is better)", ""]
    others = [n for n in names if n != "ebb"]
    header = "| case | " + " | ".join(names) + (" | ebb / best other |" if
                                                 "ebb" in names and others else " |")
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    ratios = {}
    for c in cases:
        med = {n: statistics.median(samples[n][c]) for n in names if samples[n][c]}
        if not med:
            continue
        best = min(med.values())
        cells = []
        for n in names:
            if n not in med:
                cells.append("–")
                continue
            cell = fmt(med[n])
            if with_range and len(samples[n][c]) > 1:
                cell += f" ({fmt(min(samples[n][c]))}–{fmt(max(samples[n][c]))})"
            cells.append(f"**{cell}**" if med[n] == best else cell)
        row = f"| {c} | " + " | ".join(cells) + " |"
        if "ebb" in med and others:
            ratios[c] = paired_ratio(samples, c, [n for n in others if n in med])
            row += f" {ratios[c]:.2f} |"
        lines.append(row)
    lines += ["", "Cases: " + "; ".join(f"`{c}`: {describe[c]}" for c in cases) + ".", ""]
    return "\n".join(lines), ratios


def render(results, out):
    """The Markdown summary of a run from its results (and the memory and replay
    reports it embeds from out/)."""
    m = results["machine"]
    summary = ["# ebb benchmark suite", "",
               f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_mib']} MiB, Linux "
               f"{m['kernel']}. Medians of {results['runs']} interleaved runs (min–max). "
               f"**Bold**: the best. ebb / best other: the median of the per-run ratios.",
               ""]
    describe = {**MICRO, **WORKLOADS, **REAL}
    for g, group in results["groups"].items():
        if g == "memory":
            with open(os.path.join(out, "memory.md")) as f:
                body = f.read().split("\n", 1)[1].replace("\n### ", "\n#### ")
            summary += ["### memory (bench/memory.py)", body]
            continue
        if g == "replay":
            with open(os.path.join(out, "replay", "summary.md")) as f:
                body = f.read().split("\n", 1)[1]
            summary += ["### replay (ebb compare; full report in replay/index.html)",
                        body.replace("\n## ", "\n#### ")]
            continue
        samples = group["samples"]
        names = list(samples)
        cases = list(samples[names[0]])
        text, group["ratio_to_best_other"] = table(
            f"{g}: time" if g != "callgrind" else "callgrind: instructions", UNITS[g],
            cases, names, samples, describe, with_range=g not in ("callgrind", "real"))
        summary.append(text)
        if "peak_rss_bytes" in group:
            rss = group["peak_rss_bytes"]
            rss_mib = {n: {c: [v / 2**20 for v in rss[n][c]] for c in cases} for n in names}
            rtext, group["rss_ratio_to_lowest_other"] = table(
                f"{g}: peak RSS", "MiB", cases, names, rss_mib, describe, with_range=False)
            summary.append(rtext)
    return "\n".join(summary)


def save(results, out):
    """summary.md and results.json as they stand: after every group, so that a group
    that fails leaves the ones measured before it written."""
    text = render(results, out)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    return text


def write(results, out):
    print(save(results, out))
    print(f"\nwritten: {out}/summary.md, {out}/results.json", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("-o", "--out", default=os.path.join(ROOT, "out", "bench"))
    ap.add_argument("--groups", default=",".join(GROUPS),
                    help="comma-separated subset of " + ",".join(GROUPS))
    ap.add_argument("--render", metavar="DIR",
                    help="measure nothing: rewrite DIR/summary.md from DIR/results.json")
    ap.add_argument("cases", nargs="*", help="only these cases (of any group)")
    args = ap.parse_args()
    if args.render:
        with open(os.path.join(args.render, "results.json")) as f:
            write(json.load(f), args.render)
        return
    groups = [g for g in args.groups.split(",") if g]
    for g in groups:
        if g not in GROUPS:
            ap.error(f"unknown group {g}; known: {', '.join(GROUPS)}")
    known = {**MICRO, **WORKLOADS, **REAL}
    for c in args.cases:
        if c not in known:
            ap.error(f"unknown case {c}; known: {', '.join(known)}")
    if "callgrind" in groups and not shutil.which("valgrind"):
        ap.error("the callgrind group needs valgrind (.ci/setup installs it)")

    def pick(group_cases):
        return [c for c in group_cases if not args.cases or c in args.cases]

    build_dir = os.path.abspath(args.build)
    build(build_dir)
    avail, missing = allocators.find(os.path.join(build_dir, "libebb.so"))
    for m in missing:
        print(f"bench: {m} is not installed; skipped", file=sys.stderr)
    names = [n for n, _ in avail]
    os.makedirs(args.out, exist_ok=True)
    start = time.time()
    results = {"machine": machine(), "runs": args.runs, "allocators": dict(avail),
               "missing": missing, "groups": {}}
    micro_exe = os.path.join(build_dir, "bench", "bench_micro")
    work_exe = os.path.join(build_dir, "bench", "bench_workloads")
    peak_exe = os.path.join(build_dir, "bench", "bench_peak")
    for g in groups:
        if g in ("memory", "replay"):  # separate reports, embedded below
            continue
        cases = pick({"micro": MICRO, "workloads": WORKLOADS, "real": REAL,
                      "callgrind": SINGLE_THREADED}[g])
        if not cases:
            continue
        samples = {n: {c: [] for c in cases} for n in names}
        rss = {n: {c: [] for c in cases} for n in names}
        if g == "micro":
            measure_group(g, cases, micro_exe, avail, args.runs, samples, rss, peak_exe)
        elif g == "workloads":
            measure_group(g, cases, work_exe, avail, args.runs, samples, rss, peak_exe)
        elif g == "real":
            measure_real(cases, build_dir, avail, args.runs, samples, rss, args.out)
        else:
            measure_callgrind(cases, micro_exe, avail, samples)
        group = {"unit": UNITS[g], "samples": samples}
        if g != "callgrind":
            group["peak_rss_bytes"] = rss
        results["groups"][g] = group
        save(results, args.out)
    if "memory" in groups:
        print("bench: memory (bench/memory.py)", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "memory.py"), "--runs",
                        str(args.runs), "--build", build_dir, "-o", args.out],
                       check=True, stdout=subprocess.DEVNULL)
        results["groups"]["memory"] = {"report": "memory.json"}
        save(results, args.out)
    if "replay" in groups:
        print("bench: replay (ebb compare)", file=sys.stderr, flush=True)
        # The traces named: an ebb built outside the source tree has none next to it.
        traces = sorted(glob.glob(os.path.join(ROOT, "traces", "*.trace")))
        subprocess.run([os.path.join(build_dir, "ebb"), "compare", "--runs",
                        str(args.runs), "-o", os.path.join(args.out, "replay")]
                       + traces, check=True, stdout=subprocess.DEVNULL)
        results["groups"]["replay"] = {"report": "replay/results.json"}
    results["seconds"] = round(time.time() - start, 1)
    write(results, args.out)


if __name__ == "__main__":
    main()
