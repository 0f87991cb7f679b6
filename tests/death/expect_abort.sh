#!/bin/bash
# expect_abort.sh EXPECTED PROGRAM ARGS... — run PROGRAM, which prints the pointer it
# misuses on stdout; require that it dies of SIGABRT and that its stderr is exactly
# EXPECTED with "@" replaced by that pointer.
expected=$1
shift
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
"$@" >"$out" 2>"$err"
status=$?
ptr=$(head -n 1 "$out")
want=$(printf '%s\n' "$expected" | sed "s/@/$ptr/")
got=$(cat "$err")
if [ "$status" -ne 134 ]; then
    echo "FAIL: exit status $status, expected 134 (SIGABRT); stderr: $got"
    exit 1
fi
if [ "$got" != "$want" ]; then
    echo "FAIL: stderr was: $got"
    echo "      expected:   $want"
    exit 1
fi
echo "ok: $want"
