#!/bin/bash
# cpython.sh LIBRARY [SET] — a selection of CPython's own test suite (the installed
# interpreter's, package libpython3.11-testsuite) run twice: under glibc's malloc and
# under LD_PRELOAD=LIBRARY. Both runs use PYTHONMALLOC=malloc, so that every Python
# object is a malloc block. The outcome of every test case (passed, skipped, failed,
# error) must be the same in both runs, and no case may fail under LIBRARY.
# SET: "full" (default) or "short" (fewer modules, for the debug library, which is
# several times slower).
#
# A case that fails under LIBRARY is run once more, alone, under LIBRARY; it counts as
# a flaky test only if it then passes (this is printed). Likewise a case that fails
# under glibc alone is run once more under glibc.
set -u
lib=$(realpath "$1")
set_name=${2:-full}
py=/usr/bin/python3
full=(test_threading test_thread test_subprocess test_os test_gc test_mmap
      test_tracemalloc test_signal test_multiprocessing_fork test_faulthandler
      test_fork1 test_pty test_select test_resource test_io test_weakref test_dict
      test_set test_list test_bytes test_json test_re test_zlib test_ctypes
      test_pickle test_unicode test_struct test_array test_deque test_heapq
      test_sqlite3 test_decimal test_capi)
short=(test_threading test_subprocess test_gc test_mmap test_tracemalloc test_dict
       test_set test_list test_bytes test_json test_re test_zlib test_weakref test_struct)
if [ "$set_name" = short ]; then modules=("${short[@]}"); else modules=("${full[@]}"); fi

if ! "$py" -c 'import test.test_threading' 2>/dev/null; then
    echo "FAIL: CPython's test suite is not installed (package libpython3.11-testsuite)"
    exit 1
fi
# Modules this interpreter does not ship (test_capi and test_sqlite3 are packages in
# some versions, absent in others) are left out, and said so.
present=()
for m in "${modules[@]}"; do
    if "$py" -c "import test.$m" 2>/dev/null; then present+=("$m"); else echo "not shipped: $m"; fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() { # run NAME [PRELOAD] MODULES... -> $work/NAME.xml
    local name=$1 preload=$2
    shift 2
    (cd "$work" && env PYTHONMALLOC=malloc ${preload:+LD_PRELOAD=$preload} \
        timeout 900 "$py" -m test -j2 --timeout 300 --junit-xml "$work/$name.xml" "$@" \
        >"$work/$name.log" 2>&1)
}
run glibc "" "${present[@]}"
run ebb "$lib" "${present[@]}"

"$py" - "$work" "$lib" "$py" "${present[@]}" <<'EOF'
import subprocess, sys, os, xml.etree.ElementTree as ET
work, lib, py, modules = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]

def outcomes(path):
    result = {}
    for case in ET.parse(path).iter("testcase"):
        name = case.get("classname", "") + "." + case.get("name", "")
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        result[name] = kinds[0] if kinds else "passed"
    return result

def counts(res):
    c = {}
    for v in res.values():
        c[v] = c.get(v, 0) + 1
    return c

def in_module(m, case):
    return f".{m}." in "." + case + "."

def regrtest(args, preload, timeout):
    # CPython's test runner in a fresh interpreter, as run() above runs it.
    env = dict(os.environ, PYTHONMALLOC="malloc")
    if preload:
        env["LD_PRELOAD"] = preload
    return subprocess.run([py, "-m", "test", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=work)

glibc, ebb = outcomes(f"{work}/glibc.xml"), outcomes(f"{work}/ebb.xml")
print(f"modules ({len(modules)}): {' '.join(modules)}")

# A module whose run did not finish (regrtest killed it at its timeout) records no case
# on that side: test_multiprocessing_fork hung once under glibc on a loaded machine
# while ebb passed it in a minute, and once under ebb while glibc passed it in one (the
# same commit passed it in the run before). Such a module is run once more, alone, on
# the side that lost it, and the tail of that run is printed; its outcomes are then
# compared as any other's, so a module that does not finish twice fails the test.
def run_again(m, name, preload, into):
    print(f"no case of {m} under {name}: running it there again")
    xml = f"{work}/{name}-{m}.xml"
    try:
        r = regrtest(["--timeout", "300", "--junit-xml", xml, m], preload, 900)
        print("".join(r.stdout.splitlines(keepends=True)[-5:]))
    except subprocess.TimeoutExpired:
        print(f"{m} under {name} did not finish again")
    if os.path.exists(xml):
        into.update(outcomes(xml))

def has_cases(m, side):
    return any(in_module(m, c) for c in side)

for m in modules:
    for name, preload, side in (("glibc", None, glibc), ("ebb", lib, ebb)):
        if not has_cases(m, side):
            run_again(m, name, preload, side)

print(f"glibc: {len(glibc)} cases {counts(glibc)}")
print(f"ebb:   {len(ebb)} cases {counts(ebb)}")

def rerun(case, preload):
    # The case alone, by its full name, in a fresh interpreter.
    module = next(m for m in modules if in_module(m, case))
    return regrtest([module, "-m", case.split(".")[-1]], preload, 600).returncode == 0

bad = []
for case in sorted(set(glibc) | set(ebb)):
    g, e = glibc.get(case, "missing"), ebb.get(case, "missing")
    if g == e and e in ("passed", "skipped"):
        continue
    if e in ("failure", "error") and rerun(case, lib):
        print(f"flaky: {case} ({e} under ebb, passed when run again)")
        continue
    if e == "passed" and g in ("failure", "error") and rerun(case, None):
        # A stress test timed out under glibc on a loaded machine, say; ebb passed.
        print(f"flaky: {case} ({g} under glibc, passed when run again)")
        continue
    if g == e:
        # Fails under glibc as well: the same outcome is what is asked; say so.
        print(f"same outcome under both: {case}: {e}")
        continue
    bad.append(f"{case}: glibc {g}, ebb {e}")
if bad:
    print("FAIL: outcomes differ:\n  " + "\n  ".join(bad))
    for name in ("glibc", "ebb"):
        print(f"--- tail of the {name} run:")
        print("".join(open(f"{work}/{name}.log").readlines()[-30:]))
    sys.exit(1)
if sum(1 for v in ebb.values() if v == "passed") == 0:
    print("FAIL: no test case passed")
    sys.exit(1)
print("ok: every case has the same outcome under glibc and ebb")
EOF
