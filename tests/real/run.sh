#!/bin/bash
# run.sh CASE LIBEBB — run a real program's workload twice, under glibc's malloc and
# under LD_PRELOAD=LIBEBB, and require identical output (stdout and produced files).
# The dynamic loader's own log (LD_DEBUG=libs) must show libebb initialised in the
# processes of the ebb run, which proves the library was really loaded into them.
set -u
case_name=$1
libebb=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

need() {
    command -v "$1" >/dev/null || { echo "FAIL: $1 is not installed"; exit 1; }
}

# workload DIR: runs the case inside DIR, writing everything to compare into DIR/out.
workload() {
    local dir=$1
    cd "$dir" || exit 1
    case $case_name in
    python)
        python3 "$here/workload.py" >out/stdout
        ;;
    gcc)
        for i in 1 2 3 4 5 6; do
            python3 "$here/gen_c.py" "$i" >"unit$i.c"
        done
        python3 "$here/gen_c.py" main >main.c
        for f in unit1 unit2 unit3 unit4 unit5 unit6 main; do
            gcc -O2 -g0 -c "$f.c" -o "out/$f.o" || return 1
        done
        gcc -O2 out/*.o -o prog -lm && ./prog >out/stdout
        ;;
    git)
        export GIT_AUTHOR_NAME=ebb GIT_AUTHOR_EMAIL=ebb@example.invalid
        export GIT_COMMITTER_NAME=ebb GIT_COMMITTER_EMAIL=ebb@example.invalid
        export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"
        export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
        git init -q -b main repo && cd repo || return 1
        for c in $(seq 1 80); do
            python3 "$here/gen_c.py" $((c % 7 + 1)) "$c" >"file$((c % 12)).c"
            git add -A && git commit -q -m "commit $c" || return 1
        done
        git log --stat >../out/log
        git blame file3.c >../out/blame
        git gc -q && git fsck --full 2>&1 | sort >../out/fsck
        git rev-list --all --objects | sort >../out/objects
        git diff HEAD~50 HEAD --stat >../out/diff
        cd ..
        ;;
    sqlite3)
        sqlite3 db.sqlite <<'SQL' >out/stdout
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
INSERT INTO t SELECT i, printf('name-%08d-%s', (i * 7919) % 300007, hex(i)), i % 97,
  (i * 31) % 1000 / 7.0 FROM n;
CREATE INDEX t_name ON t(name);
SELECT grp, count(*), round(sum(val), 3), min(name), max(name) FROM t GROUP BY grp ORDER BY grp;
SELECT count(DISTINCT substr(name, 1, 9)) FROM t;
SELECT name FROM t WHERE name LIKE 'name-0001%' ORDER BY name LIMIT 20;
UPDATE t SET name = name || '-x' WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
VACUUM;
SELECT count(*), sum(length(name)) FROM t;
PRAGMA integrity_check;
SQL
        ;;
    sort)
        sort -S 64M --parallel=2 "$work/input.txt" >out/sorted &&
            sort -n -k2 -t, "$work/input.txt" | md5sum >out/numeric
        ;;
    xz)
        xz -T2 -6 --block-size=4MiB -c "$work/input.txt" >out/data.xz &&
            xz -d -T2 -c out/data.xz | md5sum >out/roundtrip
        ;;
    *)
        echo "unknown case $case_name"
        return 1
        ;;
    esac
}

case $case_name in
python | gcc) need python3; need gcc ;;
git) need git; need python3 ;;
sqlite3) need sqlite3 ;;
sort) need sort ;;
xz) need xz ;;
esac
if [ "$case_name" = sort ] || [ "$case_name" = xz ]; then
    # 17 MB of varied lines, made once (under glibc) for both runs
    python3 -c '
import random
r = random.Random(7)
words = ["alpha", "beta", "gamma", "delta", "ebb", "flow", "tide", "wave"]
for i in range(300000):
    print(r.choice(words) * r.randint(1, 5), r.randint(0, 10**9), sep=",", end=",")
    print("".join(r.choice("abcdefghij") for _ in range(r.randint(0, 40))))
' >"$work/input.txt"
fi

mkdir -p "$work/glibc/out" "$work/ebb/out"
(workload "$work/glibc") >"$work/glibc.err" 2>&1 || {
    echo "FAIL: the workload fails under glibc"; cat "$work/glibc.err"; exit 1; }
start=$(date +%s.%N)
mkdir "$work/ld"
(export LD_PRELOAD="$libebb" LD_DEBUG=libs LD_DEBUG_OUTPUT="$work/ld/log"
 workload "$work/ebb") >"$work/ebb.err" 2>&1 || {
    echo "FAIL: the workload fails under ebb"; tail -20 "$work/ebb.err"; exit 1; }
end=$(date +%s.%N)
processes=$(grep -l "calling init: $libebb" "$work"/ld/log.* 2>/dev/null | wc -l)
if [ "$processes" -eq 0 ]; then
    echo "FAIL: ebb was not loaded (the loader never initialised $libebb)"; exit 1
fi
if ! diff -r "$work/glibc/out" "$work/ebb/out" >"$work/diff"; then
    echo "FAIL: outputs differ"; head -20 "$work/diff"; exit 1
fi
files=$(find "$work/ebb/out" -type f | wc -l)
bytes=$(du -sb "$work/ebb/out" | cut -f1)
printf 'ok: %s under ebb: %d output files (%d bytes) identical to glibc; %d processes ran ebb; %.1f s\n' \
    "$case_name" "$files" "$bytes" "$processes" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')"
