#!/bin/bash
# generate.sh [BUILD_DIR] — regenerate every shipped trace in this directory.
# Synthetic traces come from `ebb gen` and are the same on every machine; the others
# are recordings of real programs (python3, gcc, git, sqlite3) made with `ebb record`
# and differ slightly from machine to machine. traces/README.md describes each one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-$here/../build}")
ebb=$build/ebb
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for p in append prodcons threads server fragment large; do
    "$ebb" gen "$p" --seed 1 -o "$here/$p.trace"
done

# Keep the biggest trace of a recording (the process that did the work) as NAME.trace.
record() {
    local name=$1
    shift
    rm -rf "$work/rec" && mkdir "$work/rec"
    (cd "$work" && "$ebb" record -o "$work/rec/t" -- "$@" >/dev/null 2>"$work/rec.log")
    local biggest
    biggest=$(ls -S "$work"/rec/t* | head -1)
    cp "$biggest" "$here/$name.trace"
}

# CPython with PYTHONMALLOC=malloc, so that every object goes through malloc.
record python-dicts env PYTHONMALLOC=malloc /usr/bin/python3 "$here/workloads/python_dicts.py"
record python-threads env PYTHONMALLOC=malloc /usr/bin/python3 "$here/workloads/python_threads.py"

# gcc compiling a generated C file of 300 functions at -O2 (cc1's trace is kept).
python3 - >"$work/big.c" <<'PY'
print("#include <math.h>\n#include <stdlib.h>\n#include <string.h>")
for f in range(300):
    print(f"struct s{f} {{ int a[{f % 7 + 1}]; double d; }};")
    print(f"double f{f}(double x, int n) {{ struct s{f} v; memset(&v, 0, sizeof v);")
    print(f"  for (int i = 0; i < n; i++) {{ v.d += sin(x * i + {f}) / (1 + i); "
          f"v.a[i % {f % 7 + 1}] += i; }}")
    print(f"  return v.d + v.a[0] * {f % 13}; }}")
PY
record gcc-cc1 gcc -O2 -c "$work/big.c" -o "$work/big.o"

# git: a repository of 120 commits, then log -p, blame and gc (the biggest process kept).
(
    cd "$work"
    export GIT_AUTHOR_NAME=ebb GIT_AUTHOR_EMAIL=ebb@example.invalid
    export GIT_COMMITTER_NAME=ebb GIT_COMMITTER_EMAIL=ebb@example.invalid
    export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
    git init -q -b main repo
    cd repo
    for c in $(seq 1 120); do
        python3 "$here/../tests/real/gen_c.py" $((c % 6 + 1)) "$c" >"f$((c % 10)).c"
        git add -A && git commit -q -m "commit $c"
    done
)
record git-log env GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 \
    git -C "$work/repo" log -p --stat

# sqlite3 loading 200,000 rows, indexing and querying them.
cat >"$work/load.sql" <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO t SELECT i, printf('name-%08d-%s', (i * 7919) % 200003, hex(i)), i % 97,
  (i * 31) % 1000 / 7.0 FROM n;
CREATE INDEX t_name ON t(name);
SELECT grp, count(*), sum(val) FROM t GROUP BY grp ORDER BY grp;
SELECT count(DISTINCT substr(name, 1, 9)) FROM t;
UPDATE t SET name = name || '-x' WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
VACUUM;
SQL
record sqlite3 sqlite3 "$work/db.sqlite" ".read $work/load.sql"

ls -la "$here"/*.trace
