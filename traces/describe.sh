#!/bin/bash
# describe.sh [BUILD_DIR] — the statistics table of traces/README.md, from `ebb info`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ebb=$(realpath "${1:-$here/../build}")/ebb
echo "| trace | events | threads | peak live bytes | file bytes |"
echo "|---|---:|---:|---:|---:|"
for t in "$here"/*.trace; do
    "$ebb" info "$t" | awk -v name="$(basename "$t" .trace)" -v size="$(stat -c %s "$t")" '
        /^events:/ { ev = $2 } /^threads:/ { th = $2 } /^peak live:/ { pk = $3 }
        END { printf "| %s | %s | %s | %s | %s |\n", name, ev, th, pk, size }'
done
