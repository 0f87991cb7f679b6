"""The allocators the benchmarks compare, found the way the dynamic loader finds them.
glibc is the system malloc (nothing preloaded); the others are preloaded by path."""
import os
import subprocess

# name -> shared object the loader knows (ldconfig -p), or None for the system malloc
KNOWN = [
    ("glibc", None),
    ("jemalloc", "libjemalloc.so.2"),
    ("mimalloc", "libmimalloc.so.2"),
    ("tcmalloc", "libtcmalloc_minimal.so.4"),
]


def _ldconfig():
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        out = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True).stdout
    paths = {}
    for line in out.splitlines():
        if "=>" in line:
            name = line.strip().split()[0]
            paths.setdefault(name, line.split("=>")[1].strip())
    return paths


def find(ebb_path):
    """Returns (available, missing): available is a list of (name, path-or-None)."""
    paths = _ldconfig()
    available, missing = [], []
    for name, soname in KNOWN:
        if soname is None:
            available.append((name, None))
        elif soname in paths and os.path.exists(paths[soname]):
            available.append((name, paths[soname]))
        else:
            missing.append(name)
    if os.path.exists(ebb_path):
        available.append(("ebb", os.path.abspath(ebb_path)))
    else:
        missing.append("ebb")
    return available, missing


def env_for(path):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if path:
        env["LD_PRELOAD"] = path
    return env
