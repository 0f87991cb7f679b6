#!/bin/bash
# traces.sh BUILD_DIR — every shipped trace decodes, matches the statistics listed in
# traces/README.md, and replays under every installed allocator without a failed call.
set -u
build=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
traces=$here/../traces
ebb=$build/ebb
fail=0
rows=0
while IFS='|' read -r _ name events threads peak size _; do
    name=$(echo "$name" | xargs)
    [ -f "$traces/$name.trace" ] || continue
    rows=$((rows + 1))
    info=$("$ebb" info "$traces/$name.trace") || { echo "FAIL: $name does not decode"; fail=1; continue; }
    got=$(echo "$info" | awk '/^events:/ { e = $2 } /^threads:/ { t = $2 } /^peak live:/ { p = $3 }
                              END { print e, t, p }')
    want="$(echo "$events" | xargs) $(echo "$threads" | xargs) $(echo "$peak" | xargs)"
    if [ "$got" != "$want" ]; then
        echo "FAIL: $name: events/threads/peak live are $got, README says $want"
        fail=1
    fi
    bytes=$(stat -c %s "$traces/$name.trace")
    [ "$bytes" -le $((2 * 1024 * 1024)) ] || { echo "FAIL: $name is over 2 MB"; fail=1; }
    for a in glibc jemalloc mimalloc tcmalloc ebb; do
        out=$("$ebb" replay "$traces/$name.trace" --alloc $a --settle-ms 0 2>&1)
        rc=$?
        if echo "$out" | grep -q "is not installed"; then
            continue
        fi
        if [ $rc != 0 ] || ! echo "$out" | grep -q '"failed_calls": 0'; then
            echo "FAIL: $name under $a: $(echo "$out" | tail -2)"
            fail=1
        fi
    done
    echo "ok: $name ($want)"
done < <(grep '^| ' "$traces/README.md")
total=$(ls "$traces"/*.trace | wc -l)
[ "$rows" = "$total" ] || { echo "FAIL: README lists $rows traces, $total are shipped"; fail=1; }
size=$(du -cb "$traces"/*.trace | tail -1 | cut -f1)
[ "$size" -le $((20 * 1024 * 1024)) ] || { echo "FAIL: the traces take $size bytes (> 20 MB)"; fail=1; }
exit $fail
