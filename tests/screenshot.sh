#!/bin/bash
# screenshot.sh BUILD_DIR — the compare report renders in a real browser: headless
# Chromium takes a screenshot of index.html, which must not be blank. Skipped (exit 77,
# counted as skipped by ctest) only where Chromium is not installed.
set -u
build=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "chromium is not installed"; exit 77; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$build/ebb" compare "$here/../traces/git-log.trace" "$here/../traces/server.trace" \
    --alloc glibc,ebb --runs 1 --settle-ms 0 -o "$out/r" 2>/dev/null || { echo "FAIL: compare"; exit 1; }
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$out/profile" --hide-scrollbars --window-size=1200,1600 \
    --screenshot="$out/shot.png" "file://$out/r/index.html" >/dev/null 2>&1
[ -s "$out/shot.png" ] || { echo "FAIL: no screenshot"; exit 1; }
mkdir -p "$build/screenshots" && cp "$out/shot.png" "$build/screenshots/compare-index.png"
python3 "$here/png_nonblank.py" "$out/shot.png" || { echo "FAIL: the screenshot is blank"; exit 1; }
echo "ok: index.html rendered (kept as $build/screenshots/compare-index.png)"
