/* init.c — process-wide initialisation: lazy, once, on the first call that needs it,
 * from any thread. Nothing before the fork handlers' registration allocates; that
 * registration may, and the nested call finds everything it needs ready. */
#include <sys/auxv.h>
#include <unistd.h>

#include "internal.h"
#include "sizeclass.h"

_Atomic int ebb_init_state;
static _Atomic pid_t init_pid; /* the process whose thread is initialising */
static _Atomic uintptr_t init_owner; /* ebb_self() of the initialising thread */
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
        /* A call nested in our own initialisation (registering the fork handlers may
         * allocate): everything it needs is ready. */
        if (atomic_load_explicit(&init_owner, memory_order_relaxed) == ebb_self())
            return;
        /* Another thread is initialising. If that thread was in the parent of a fork
         * (the fork handlers are not installed yet), this process is the child and
         * nobody will finish: start over. */
        for (unsigned spins = 1; atomic_load_explicit(&ebb_init_state, memory_order_acquire) != 2;
             spins++) {
            ebb_cpu_relax();
            if (spins % 4096 == 0 && getpid() != atomic_load(&init_pid)) {
                atomic_store(&ebb_init_state, 0);
                ebb_init_slow();
                return;
            }
        }
        return;
    }
    atomic_store(&init_pid, getpid());
    atomic_store_explicit(&init_owner, ebb_self(), memory_order_relaxed);
    const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
    uintptr_t seed = (uintptr_t)&expected;
    if (r)
        for (int i = 0; i < 8; i++)
            seed = (seed << 8 | seed >> 56) ^ r[i];
    random_base = mix(seed);
    ebb_os_init();
    ebb_sizeclass_init();
    ebb_options_init(); /* before the bins' sizes, which EBB_SHARED changes */
    ebb_cache_init();
    ebb_heap_key_init();
    /* The fork handlers before any other thread may take a lock: a fork between the
     * two would leave the child with a lock nobody releases. */
    ebb_fork_install();
    atomic_store_explicit(&ebb_init_state, 2, memory_order_release);
}
