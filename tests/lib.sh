# lib.sh — sourced by the test scripts: unset variables are errors, `root` is the source
# tree, `work` a scratch directory removed at exit, and `fail` ends the test with its
# reason.
set -u
root=$(realpath "$(dirname "${BASH_SOURCE[0]}")/..")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
