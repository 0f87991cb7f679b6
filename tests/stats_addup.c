/* stats_addup.c — the statistics tell the truth: after randomized workloads (threads,
 * every size up to large blocks, reallocs, cross-thread frees, trims), the bytes ebb
 * accounts to blocks (live + free) plus its metadata equal what its system-call layer
 * mapped, and live bytes equal what the test itself holds (in usable sizes). */
#include <pthread.h>
#include <stdint.h>
#include <stdatomic.h>
#include <string.h>

#include "api_names.h"
#include "check.h"

#define SLOTS 2000
static _Atomic(void *) slot[SLOTS];

static void *worker(void *arg)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
    for (int i = 0; i < 60000; i++) {
        check_random(&x);
        size_t n = x % 100 < 90 ? 1 + (x >> 8) % 2000 : x % 1000 < 995 ? (x >> 8) % 300000
                                                                       : (x >> 8) % (6 << 20);
        void *p = T_MALLOC(n);
        void *old = atomic_exchange(&slot[(x >> 32) % SLOTS], p);
        if (old && (x >> 40) % 5 == 0) {
            void *q = T_REALLOC(old, (x >> 20) % 100000 + 1);
            old = atomic_exchange(&slot[(x >> 28) % SLOTS], q);
        }
        T_FREE(old);
    }
    return NULL;
}

static void check_totals(const char *when)
{
    ebb_stats_t st;
    CHECK(t_stats(&st));
    size_t held = 0;
    for (int i = 0; i < SLOTS; i++) {
        void *p = atomic_load(&slot[i]);
        if (p)
            held += T_USABLE(p);
    }
    CHECKF(st.live_bytes + st.free_bytes == st.mapped_bytes, "%s: %zu + %zu != %zu", when,
           st.live_bytes, st.free_bytes, st.mapped_bytes);
    CHECKF(st.mapped_bytes + st.metadata_bytes == st.os_mapped_bytes,
           "%s: mapped %zu + metadata %zu != os %zu", when, st.mapped_bytes,
           st.metadata_bytes, st.os_mapped_bytes);
    /* The test's blocks, plus what libc itself holds (stdio buffers, thread data). */
    CHECKF(st.live_bytes >= held && st.live_bytes - held < (1u << 20),
           "%s: live %zu, the test holds %zu", when, st.live_bytes, held);
    CHECKF(st.resident_bytes <= st.mapped_bytes, "%s: resident %zu > mapped %zu", when,
           st.resident_bytes, st.mapped_bytes);
}

int main(void)
{
    ebb_stats_t st;
    int have_stats = t_stats(&st); /* the allocator under test is ebb */
    CHECK(have_stats);
    if (!have_stats)
        return check_report("stats-addup-" T_VARIANT);
    /* Blocks freed by this thread wait in its cache: free, not live. */
    {
        enum { N = 40 };
        void *b[N];
        ebb_stats_t before, held, after;
        CHECK(t_stats(&before));
        for (int i = 0; i < N; i++)
            b[i] = T_MALLOC(100);
        CHECK(t_stats(&held));
        size_t usable = T_USABLE(b[0]);
        for (int i = 0; i < N; i++)
            T_FREE(b[i]);
        CHECK(t_stats(&after));
        CHECKF(held.live_bytes - before.live_bytes == N * usable,
               "live grew by %zu for %d blocks of %zu", held.live_bytes - before.live_bytes, N,
               usable);
        CHECKF(after.live_bytes == before.live_bytes, "live %zu after freeing, %zu before",
               after.live_bytes, before.live_bytes);
        CHECKF(after.live_bytes + after.free_bytes == after.mapped_bytes,
               "cached: %zu + %zu != %zu", after.live_bytes, after.free_bytes,
               after.mapped_bytes);
    }
    for (int round = 0; round < 3; round++) {
        pthread_t t[4];
        for (long i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, worker, (void *)(i + 10 * round));
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
        check_totals(round == 0 ? "after round 1" : round == 1 ? "after round 2" : "after round 3");
        if (round == 1) {
            T_TRIM(0);
            check_totals("after trim");
        }
    }
    for (int i = 0; i < SLOTS; i++)
        T_FREE(atomic_exchange(&slot[i], NULL));
    check_totals("after freeing everything");
    return check_report("stats-addup-" T_VARIANT);
}
