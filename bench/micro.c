/* micro.c — allocator micro-benchmarks, run against whatever malloc the process has
 * (bench/run.py preloads each allocator in turn). Prints one line per case:
 *   <case> <nanoseconds per operation>
 * Cases:
 *   pair        malloc then free of one block, sizes 16..4096 in a fixed random order
 *   batch100    malloc 100 blocks, then free them (ns per malloc+free pair)
 *   batch1000   the same with 1000 blocks
 *   prodcons    one thread allocates, another frees (ns per block, wall time)
 *   calloc      calloc of 100 blocks of 16..4096 B, then free (ns per pair)
 *   realloc     a buffer grown by realloc in steps of 16..64 B from 16 B to 64 KiB
 *               (ns per realloc)
 *   aligned     aligned_alloc of 100 blocks, alignments 32..4096, then free (ns per pair)
 *   threadsN    20 M pairs of batch100 shared among N = 1, 2, 4, 8 threads, each on
 *               its own blocks (wall ns per pair)
 *   falseshare  blocks allocated by one thread, freed by 4 others, which then allocate
 *               small blocks of their own and write them hard: an allocator that puts
 *               different threads' blocks on one cache line makes the writes slow
 *               (wall ns per write)
 * Usage: micro [--scale F] [CASE...] (default: all); F multiplies every iteration
 * count. Prints "<case> <ns per op> <ops>". bench/run.py runs each case alone, so that
 * its peak RSS is its own, and under callgrind at two scales for instructions per op. */
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
static double scale = 1.0; /* --scale: iteration counts multiplied by it */

static long ops; /* operations of the last case run */

static long scaled(long n)
{
    long v = (long)((double)n * scale);
    return v < 1 ? 1 : v;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double per_op(double t0, long n)
{
    ops = n;
    return (now_ns() - t0) / (double)n;
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

static double bench_pair(int unused)
{
    (void)unused;
    const long n = scaled(20000000);
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        unsigned char *p = malloc(sizes[i & (NSIZES - 1)]);
        p[0] = (unsigned char)i;
        sink = p[0];
        free(p);
    }
    return per_op(t0, n);
}

/* How batches allocate: the loop below is inlined with `how` a constant, so each case
 * measures its own call only. */
enum how { BY_MALLOC, BY_CALLOC, BY_ALIGNED };

static inline __attribute__((always_inline)) unsigned char *allocate(enum how how, long k)
{
    size_t size = sizes[k & (NSIZES - 1)];
    if (how == BY_CALLOC)
        return calloc(1, size);
    if (how == BY_ALIGNED) {
        size_t align = (size_t)32 << (k % 8); /* 32 .. 4096 */
        return aligned_alloc(align, (size + align - 1) & ~(align - 1));
    }
    return malloc(size);
}

/* `pairs` allocations in rounds of `batch`, each round freed in allocation order. */
static inline __attribute__((always_inline)) double batch_loop(enum how how, int batch,
                                                               long pairs)
{
    const long rounds = scaled(pairs / batch);
    void **blocks = malloc(sizeof(void *) * (size_t)batch);
    double t0 = now_ns();
    long k = 0;
    for (long r = 0; r < rounds; r++) {
        for (int i = 0; i < batch; i++) {
            unsigned char *p = allocate(how, k++);
            p[0] = (unsigned char)i;
            blocks[i] = p;
        }
        for (int i = 0; i < batch; i++)
            free(blocks[i]);
    }
    double t = per_op(t0, rounds * batch);
    free(blocks);
    return t;
}

static double bench_batch(int batch)
{
    return batch_loop(BY_MALLOC, batch, 20000000);
}

static double bench_calloc(int unused)
{
    (void)unused;
    return batch_loop(BY_CALLOC, 100, 10000000);
}

static double bench_realloc(int unused)
{
    (void)unused;
    long n = 0, k = 0;
    double t0 = now_ns();
    for (long r = 0; r < scaled(40000); r++) {
        size_t size = 16;
        unsigned char *p = malloc(size);
        while (size < 65536) {
            size += 16 + sizes[k++ & (NSIZES - 1)] % 49;
            p = realloc(p, size);
            p[size - 1] = (unsigned char)size;
            n++;
        }
        sink = p[size - 1];
        free(p);
    }
    return per_op(t0, n);
}

static double bench_aligned(int unused)
{
    (void)unused;
    return batch_loop(BY_ALIGNED, 100, 4000000);
}

/* threadsN: the batch100 loop in each of N threads. */
#define TOTAL_PAIRS scaled(20000000) /* shared among the threads */

static void *churn_thread(void *arg)
{
    long k = 0;
    void *blocks[100];
    for (long r = 0; r < (long)(intptr_t)arg / 100; r++) {
        for (int i = 0; i < 100; i++) {
            unsigned char *p = malloc(sizes[k++ & (NSIZES - 1)]);
            p[0] = (unsigned char)i;
            blocks[i] = p;
        }
        for (int i = 0; i < 100; i++)
            free(blocks[i]);
    }
    return NULL;
}

static double bench_threads(int n)
{
    pthread_t t[8];
    double t0 = now_ns();
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, churn_thread, (void *)(intptr_t)(TOTAL_PAIRS / n));
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    return per_op(t0, TOTAL_PAIRS);
}

/* falseshare: each worker frees a block the main thread allocated, then repeatedly
 * allocates an 8-byte block and writes it. */
#define SHARE_THREADS 4
#define SHARE_ROUNDS scaled(50000)
static const long share_writes = 5000;

static void *share_thread(void *arg)
{
    free(arg);
    for (long r = 0; r < SHARE_ROUNDS; r++) {
        unsigned char *p = malloc(8);
        volatile unsigned char *v = p; /* every write goes to memory */
        for (long w = 0; w < share_writes; w++)
            v[w & 7] = (unsigned char)(v[w & 7] + 1);
        free(p);
    }
    return NULL;
}

static double bench_falseshare(int unused)
{
    (void)unused;
    pthread_t t[SHARE_THREADS];
    void *given[SHARE_THREADS];
    for (int i = 0; i < SHARE_THREADS; i++)
        given[i] = malloc(8);
    double t0 = now_ns();
    for (int i = 0; i < SHARE_THREADS; i++)
        pthread_create(&t[i], NULL, share_thread, given[i]);
    for (int i = 0; i < SHARE_THREADS; i++)
        pthread_join(t[i], NULL);
    return per_op(t0, SHARE_ROUNDS * share_writes * SHARE_THREADS);
}

/* Single-producer single-consumer ring of pointers. */
#define RING 4096
static _Atomic(void *) ring[RING];
#define TRANSFERS scaled(5000000)

static void *consumer(void *arg)
{
    (void)arg;
    for (long i = 0; i < TRANSFERS; i++) {
        _Atomic(void *) *slot = &ring[i & (RING - 1)];
        void *p;
        while ((p = atomic_exchange_explicit(slot, NULL, memory_order_acquire)) == NULL)
            ;
        free(p);
    }
    return NULL;
}

static double bench_prodcons(int unused)
{
    (void)unused;
    pthread_t t;
    double t0 = now_ns();
    pthread_create(&t, NULL, consumer, NULL);
    for (long i = 0; i < TRANSFERS; i++) {
        unsigned char *p = malloc(sizes[i & (NSIZES - 1)]);
        p[0] = 1;
        _Atomic(void *) *slot = &ring[i & (RING - 1)];
        while (atomic_load_explicit(slot, memory_order_relaxed) != NULL)
            ;
        atomic_store_explicit(slot, p, memory_order_release);
    }
    pthread_join(t, NULL);
    return per_op(t0, TRANSFERS);
}

/* A case: its function and the argument it gets (batch size, thread count). */
typedef struct bench_case {
    const char *name;
    double (*run)(int arg);
    int arg;
} bench_case_t;

static const bench_case_t cases[] = {
    {"pair", bench_pair, 0},         {"batch100", bench_batch, 100},
    {"batch1000", bench_batch, 1000}, {"calloc", bench_calloc, 0},
    {"realloc", bench_realloc, 0},   {"aligned", bench_aligned, 0},
    {"prodcons", bench_prodcons, 0}, {"threads1", bench_threads, 1},
    {"threads2", bench_threads, 2},  {"threads4", bench_threads, 4},
    {"threads8", bench_threads, 8},  {"falseshare", bench_falseshare, 0},
};
#define NCASES (sizeof cases / sizeof cases[0])

int main(int argc, char **argv)
{
    init_sizes();
    if (argc > 2 && strcmp(argv[1], "--scale") == 0) {
        scale = atof(argv[2]);
        argc -= 2;
        argv += 2;
    }
    int ncases = argc > 1 ? argc - 1 : (int)NCASES;
    for (int i = 0; i < ncases; i++) {
        const char *c = argc > 1 ? argv[i + 1] : cases[i].name;
        const bench_case_t *bc = NULL;
        for (size_t j = 0; j < NCASES; j++)
            if (strcmp(c, cases[j].name) == 0)
                bc = &cases[j];
        if (!bc) {
            fprintf(stderr, "micro: unknown case %s\n", c);
            return 2;
        }
        double ns = bc->run(bc->arg);
        printf("%s %.2f %ld\n", c, ns, ops);
        fflush(stdout);
    }
    return 0;
}
