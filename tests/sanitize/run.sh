#!/bin/bash
# run.sh KIND — build the allocator and the prefixed-API tests with a sanitizer and
# run them: KIND is "asan" (AddressSanitizer + UndefinedBehaviorSanitizer, on the API
# contract and stress tests) or "tsan" (ThreadSanitizer, on the multi-threaded tests:
# the allocator's own races).
set -u
kind=$1
here=$(cd "$(dirname "$0")" && pwd)
src=$here/../..
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
case $kind in
asan) flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
      tests="api stress stats_addup"
      export ASAN_OPTIONS=detect_leaks=0 ;;
tsan) flags="-fsanitize=thread"
      tests="stress thread_churn tls_dtor stats_addup"
      export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ;;
*) echo "usage: run.sh asan|tsan"; exit 2 ;;
esac
alloc=$(ls "$src"/alloc/*.c | grep -v override.c)
fail=0
for t in $tests; do
    if ! gcc -O1 -g $flags -D_GNU_SOURCE -DEBB_TEST_PREFIXED -ftls-model=initial-exec \
            -Wno-alloc-size-larger-than -Wno-use-after-free \
            -I"$src/include" -I"$src/alloc" -I"$src/tests" $alloc "$src/tests/$t.c" \
            -o "$work/$t" -lpthread 2>"$work/$t.build"; then
        cat "$work/$t.build"
        exit 1
    fi
    args=""
    [ "$t" = stress ] && args=50000
    # Each test also with the shared heap (EBB_SHARED=1), whose lock and remote frees
    # the default paths do not reach.
    for shared in 0 1; do
        if EBB_SHARED=$shared "$work/$t" $args >"$work/$t.out" 2>&1; then
            echo "ok: $t under $kind, EBB_SHARED=$shared: $(tail -1 "$work/$t.out")"
        else
            echo "FAIL: $t under $kind, EBB_SHARED=$shared"
            grep -E "WARNING|ERROR|SUMMARY|#[0-4] |check failed" "$work/$t.out" | head -30
            fail=1
        fi
    done
done
exit $fail
