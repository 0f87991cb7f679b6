/* micro.c — allocator micro-benchmarks, run against whatever malloc the process has
 * (bench/run.py preloads each allocator in turn). Prints one line per case:
 *   <case> <nanoseconds per operation>
 * Cases:
 *   pair        malloc then free of one block, sizes 16..4096 in a fixed random order
 *   batch100    malloc 100 blocks, then free them (ns per malloc+free pair)
 *   batch1000   the same with 1000 blocks
 *   prodcons    one thread allocates, another frees (ns per block, wall time)
 * Usage: micro [CASE...] (default: all). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NSIZES 4096
static size_t sizes[NSIZES];
static volatile unsigned char sink;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void init_sizes(void)
{
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < NSIZES; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* Mostly small, as programs are: 3/4 in 16..256, the rest up to 4096. */
        sizes[i] = (x % 4 != 0) ? 16 + (x >> 8) % 241 : 16 + (x >> 8) % 4081;
    }
}

static double bench_pair(void)
{
    const long n = 20000000;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        unsigned char *p = malloc(sizes[i & (NSIZES - 1)]);
        p[0] = (unsigned char)i;
        sink = p[0];
        free(p);
    }
    return (now_ns() - t0) / (double)n;
}

static double bench_batch(int batch)
{
    const long rounds = 20000000 / batch;
    void **blocks = malloc(sizeof(void *) * (size_t)batch);
    double t0 = now_ns();
    long k = 0;
    for (long r = 0; r < rounds; r++) {
        for (int i = 0; i < batch; i++) {
            unsigned char *p = malloc(sizes[k++ & (NSIZES - 1)]);
            p[0] = (unsigned char)i;
            blocks[i] = p;
        }
        for (int i = 0; i < batch; i++)
            free(blocks[i]);
    }
    double t = (now_ns() - t0) / (double)(rounds * batch);
    free(blocks);
    return t;
}

/* Single-producer single-consumer ring of pointers. */
#define RING 4096
static _Atomic(void *) ring[RING];
static const long transfers = 5000000;

static void *consumer(void *arg)
{
    (void)arg;
    for (long i = 0; i < transfers; i++) {
        _Atomic(void *) *slot = &ring[i & (RING - 1)];
        void *p;
        while ((p = atomic_exchange_explicit(slot, NULL, memory_order_acquire)) == NULL)
            ;
        free(p);
    }
    return NULL;
}

static double bench_prodcons(void)
{
    pthread_t t;
    double t0 = now_ns();
    pthread_create(&t, NULL, consumer, NULL);
    for (long i = 0; i < transfers; i++) {
        unsigned char *p = malloc(sizes[i & (NSIZES - 1)]);
        p[0] = 1;
        _Atomic(void *) *slot = &ring[i & (RING - 1)];
        while (atomic_load_explicit(slot, memory_order_relaxed) != NULL)
            ;
        atomic_store_explicit(slot, p, memory_order_release);
    }
    pthread_join(t, NULL);
    return (now_ns() - t0) / (double)transfers;
}

int main(int argc, char **argv)
{
    init_sizes();
    const char *all[] = {"pair", "batch100", "batch1000", "prodcons"};
    int ncases = argc > 1 ? argc - 1 : 4;
    for (int i = 0; i < ncases; i++) {
        const char *c = argc > 1 ? argv[i + 1] : all[i];
        double ns;
        if (strcmp(c, "pair") == 0)
            ns = bench_pair();
        else if (strcmp(c, "batch100") == 0)
            ns = bench_batch(100);
        else if (strcmp(c, "batch1000") == 0)
            ns = bench_batch(1000);
        else if (strcmp(c, "prodcons") == 0)
            ns = bench_prodcons();
        else {
            fprintf(stderr, "micro: unknown case %s\n", c);
            return 2;
        }
        printf("%s %.2f\n", c, ns);
        fflush(stdout);
    }
    return 0;
}
