/* stress.c — threads allocate, hand blocks to each other through a shared slot table,
 * and free or realloc what they take: most frees are cross-thread. Every block carries
 * a fill pattern derived from its size that is verified before it is freed or
 * reallocated, so a block handed out twice or overwritten shows up. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "api_names.h"
#include "check.h"

#define SLOTS 4096
#define THREADS 4

static _Atomic(unsigned char *) slots[SLOTS];
static _Atomic long corrupt;
static long iterations = 400000;

static size_t random_size(uint64_t *rng)
{
    uint64_t r = check_random(rng) % 1000;
    if (r < 700)
        return 8 + check_random(rng) % 256;
    if (r < 950)
        return 256 + check_random(rng) % 8192;
    if (r < 998)
        return 8192 + check_random(rng) % (512 * 1024);
    return (1 << 20) + check_random(rng) % (4 << 20);
}

/* Layout: size_t size, then bytes (uint8)(size * 31 + i) at every position of small
 * blocks and, for big ones, in their first and last 8 KiB and once per page between. */
static size_t next_pos(size_t i, size_t n)
{
    if (i + 1 < 8192 || i + 1 >= n - 8192 || (i + 1) % 4096 == 0)
        return i + 1;
    size_t page = (i + 4096) & ~(size_t)4095;
    return page < n - 8192 ? page : n - 8192;
}

static void stamp(unsigned char *p, size_t n)
{
    memcpy(p, &n, sizeof n);
    for (size_t i = sizeof n; i < n; i = next_pos(i, n))
        p[i] = (unsigned char)(n * 31 + i);
}

static size_t verify(const unsigned char *p)
{
    size_t n;
    memcpy(&n, p, sizeof n);
    for (size_t i = sizeof n; i < n; i = next_pos(i, n)) {
        if (p[i] != (unsigned char)(n * 31 + i)) {
            atomic_fetch_add(&corrupt, 1);
            return n;
        }
    }
    return n;
}

static void *worker(void *arg)
{
    uint64_t rng = 0x9e3779b97f4a7c15ull * ((uintptr_t)arg + 1);
    for (long it = 0; it < iterations; it++) {
        size_t n = random_size(&rng);
        unsigned char *p = T_MALLOC(n);
        if (!p) {
            atomic_fetch_add(&corrupt, 1);
            continue;
        }
        stamp(p, n);
        unsigned char *old = atomic_exchange(&slots[check_random(&rng) % SLOTS], p);
        if (!old)
            continue;
        verify(old);
        if (check_random(&rng) % 8 == 0) {
            /* realloc someone else's block, check the kept prefix, then free it */
            size_t m = random_size(&rng);
            size_t had;
            memcpy(&had, old, sizeof had);
            unsigned char *q = T_REALLOC(old, m);
            if (!q) {
                atomic_fetch_add(&corrupt, 1);
                continue;
            }
            size_t keep = had < m ? had : m;
            for (size_t i = sizeof had; i < keep; i = next_pos(i, had))
                if (q[i] != (unsigned char)(had * 31 + i)) {
                    atomic_fetch_add(&corrupt, 1);
                    break;
                }
            T_FREE(q);
        } else {
            T_FREE(old);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        iterations = atol(argv[1]);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < SLOTS; i++) {
        unsigned char *p = atomic_exchange(&slots[i], NULL);
        if (p) {
            CHECK(t_owns(p));
            verify(p);
            T_FREE(p);
        }
    }
    CHECKF(atomic_load(&corrupt) == 0, "%ld corrupted or failed blocks", atomic_load(&corrupt));
    return check_report("stress-" T_VARIANT);
}
