/* init.c — process-wide initialisation: lazy, once, on the first call that needs it,
 * from any thread, without allocating. Nothing before step "done" may call malloc;
 * the steps after it (fork handler registration) may, and then find ebb ready. */
#include <sys/auxv.h>

#include "internal.h"
#include "sizeclass.h"

_Atomic int ebb_init_state;
static uintptr_t random_base;
static _Atomic uintptr_t random_counter;

static uintptr_t mix(uintptr_t x)
{
    /* splitmix64 finaliser */
    uint64_t z = (uint64_t)x + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uintptr_t)(z ^ (z >> 31));
}

uintptr_t ebb_random_word(void)
{
    uintptr_t n = atomic_fetch_add_explicit(&random_counter, 1, memory_order_relaxed);
    return mix(random_base ^ mix(n));
}

void ebb_init_slow(void)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong_explicit(&ebb_init_state, &expected, 1,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        /* Another thread is initialising (a nested call on this thread cannot happen:
         * nothing below allocates before the state becomes 2). */
        while (atomic_load_explicit(&ebb_init_state, memory_order_acquire) != 2)
            ebb_cpu_relax();
        return;
    }
    const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
    uintptr_t seed = (uintptr_t)&expected;
    if (r)
        for (int i = 0; i < 8; i++)
            seed = (seed << 8 | seed >> 56) ^ r[i];
    random_base = mix(seed);
    ebb_os_init();
    ebb_sizeclass_init();
    ebb_options_init();
    ebb_heap_key_init();
    atomic_store_explicit(&ebb_init_state, 2, memory_order_release);
    ebb_fork_install();
}
