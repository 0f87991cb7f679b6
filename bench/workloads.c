/* workloads.c — workload-shaped allocator benchmarks, run against whatever malloc the
 * process has (bench/run.py preloads each allocator in turn, one process per case so
 * that each case's peak RSS is its own). Prints "<case> <milliseconds>".
 * Cases:
 *   larson     a server loop: 4 threads each replace random blocks (16..1024 B) in a
 *              table of 2000; every 50,000 replacements a thread exits and a new one
 *              takes over its table, so it frees blocks another thread allocated
 *   mstress    power-of-two sizes (16 B..64 KiB, small ones most often) with mixed
 *              lifetimes: each of 10 phases starts 4 new threads that free part of what
 *              earlier phases left in a shared table and allocate anew
 *   bignum     small-object churn of arbitrary-precision arithmetic: numbers of 1..32
 *              limbs allocated for each result and freed when replaced, with the
 *              multiplications done for real
 *   large      buffers of 5..25 MiB, half from calloc and half malloc+memset, at most
 *              4 alive, each written through
 *   holes      a long-lived heap of 2 M blocks of 64..256 B with every other one freed
 *              (no page all free), while the program goes on with 30 M malloc/free
 *              rounds of a 3 KiB and a 20 KiB block: what an allocator's periodic
 *              work over its partly free memory costs; its phases' times go to
 *              stderr
 * Usage: workloads CASE. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The end of a phase of a case: its time since the last phase ended (or the case
 * started) to stderr, where the suite does not look, so that where a case's time goes
 * can be told apart without a profiler (`bench_workloads holes`). */
static double phase_start;

static void phase_done(const char *what)
{
    double now = now_ms();
    fprintf(stderr, "%s %.1f ms\n", what, now - phase_start);
    phase_start = now;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ---- larson ---- */
#define LARSON_THREADS 4
#define LARSON_SLOTS 2000
#define LARSON_TURN 50000
#define LARSON_GENERATIONS 100

typedef struct larson_table {
    void *slot[LARSON_SLOTS];
    uint64_t seed;
} larson_table_t;

static void *larson_thread(void *arg)
{
    larson_table_t *t = arg;
    for (int i = 0; i < LARSON_TURN; i++) {
        unsigned k = (unsigned)(rnd(&t->seed) % LARSON_SLOTS);
        free(t->slot[k]);
        size_t n = 16 + rnd(&t->seed) % 1009;
        unsigned char *p = malloc(n);
        p[0] = p[n - 1] = (unsigned char)i;
        t->slot[k] = p;
    }
    return NULL;
}

static void larson(void)
{
    static larson_table_t tables[LARSON_THREADS];
    for (int t = 0; t < LARSON_THREADS; t++) {
        tables[t].seed = 0x9E3779B97F4A7C15u * (uint64_t)(t + 1);
        for (int k = 0; k < LARSON_SLOTS; k++)
            tables[t].slot[k] = malloc(16 + rnd(&tables[t].seed) % 1009);
    }
    /* Each generation: new threads take over the tables of the last one. */
    for (int g = 0; g < LARSON_GENERATIONS; g++) {
        pthread_t th[LARSON_THREADS];
        for (int t = 0; t < LARSON_THREADS; t++)
            pthread_create(&th[t], NULL, larson_thread, &tables[t]);
        for (int t = 0; t < LARSON_THREADS; t++)
            pthread_join(th[t], NULL);
    }
    for (int t = 0; t < LARSON_THREADS; t++)
        for (int k = 0; k < LARSON_SLOTS; k++)
            free(tables[t].slot[k]);
}

/* ---- mstress ---- */
#define MSTRESS_THREADS 4
#define MSTRESS_PHASES 10
#define MSTRESS_SHARED 20000
#define MSTRESS_STEPS 200000

static _Atomic(void *) mstress_shared[MSTRESS_SHARED];

static size_t pow2_size(uint64_t *s)
{
    /* 16 B << k, k in 0..12, small k far more likely. */
    unsigned k = 0;
    while (k < 12 && (rnd(s) & 3) != 0)
        k++;
    k = (unsigned)(rnd(s) % (k + 1));
    return (size_t)16 << k;
}

static void *mstress_thread(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 0x2545F4914F6CDD1Du + 1;
    void *local[64] = {0};
    for (int i = 0; i < MSTRESS_STEPS; i++) {
        size_t n = pow2_size(&seed);
        unsigned char *p = malloc(n);
        memset(p, (int)i, n < 64 ? n : 64);
        uint64_t r = rnd(&seed) % 100;
        if (r < 70) { /* short-lived: replaces a thread-local block */
            unsigned k = (unsigned)(rnd(&seed) % 64);
            free(local[k]);
            local[k] = p;
        } else { /* long-lived: into the shared table, freeing what was there */
            unsigned k = (unsigned)(rnd(&seed) % MSTRESS_SHARED);
            free(atomic_exchange(&mstress_shared[k], p));
        }
    }
    for (int k = 0; k < 64; k++)
        free(local[k]);
    return NULL;
}

static void mstress(void)
{
    for (int phase = 0; phase < MSTRESS_PHASES; phase++) {
        pthread_t th[MSTRESS_THREADS];
        for (int t = 0; t < MSTRESS_THREADS; t++)
            pthread_create(&th[t], NULL, mstress_thread,
                           (void *)(uintptr_t)(phase * MSTRESS_THREADS + t + 1));
        for (int t = 0; t < MSTRESS_THREADS; t++)
            pthread_join(th[t], NULL);
    }
    for (int k = 0; k < MSTRESS_SHARED; k++)
        free(atomic_load(&mstress_shared[k]));
}

/* ---- bignum ---- */
typedef struct num {
    uint32_t limbs;
    uint32_t limb[]; /* little-endian base 2^32 */
} num_t;

static num_t *num_new(uint32_t limbs)
{
    num_t *n = malloc(sizeof(num_t) + limbs * sizeof(uint32_t));
    n->limbs = limbs;
    return n;
}

/* a * b, truncated to at most 32 limbs so that numbers stay small objects. */
static num_t *num_mul(const num_t *a, const num_t *b)
{
    uint32_t n = a->limbs + b->limbs;
    if (n > 32)
        n = 32;
    num_t *r = num_new(n);
    memset(r->limb, 0, n * sizeof(uint32_t));
    for (uint32_t i = 0; i < a->limbs && i < n; i++) {
        uint64_t carry = 0;
        for (uint32_t j = 0; j < b->limbs && i + j < n; j++) {
            uint64_t t = (uint64_t)a->limb[i] * b->limb[j] + r->limb[i + j] + carry;
            r->limb[i + j] = (uint32_t)t;
            carry = t >> 32;
        }
        if (i + b->limbs < n)
            r->limb[i + b->limbs] = (uint32_t)carry;
    }
    while (r->limbs > 1 && r->limb[r->limbs - 1] == 0)
        r->limbs--;
    return r;
}

static num_t *num_add_small(const num_t *a, uint32_t v)
{
    num_t *r = num_new(a->limbs + (a->limbs < 32));
    uint64_t carry = v;
    for (uint32_t i = 0; i < r->limbs; i++) {
        uint64_t t = (i < a->limbs ? a->limb[i] : 0) + carry;
        r->limb[i] = (uint32_t)t;
        carry = t >> 32;
    }
    return r;
}

static uint32_t bignum_checksum;

static void bignum(void)
{
    enum { LIVE = 64 };
    num_t *live[LIVE];
    uint64_t seed = 12345;
    for (int i = 0; i < LIVE; i++) {
        live[i] = num_new(1);
        live[i]->limb[0] = (uint32_t)rnd(&seed) | 1;
    }
    for (long step = 0; step < 3000000; step++) {
        unsigned a = (unsigned)(rnd(&seed) % LIVE), b = (unsigned)(rnd(&seed) % LIVE);
        num_t *r;
        if (rnd(&seed) % 4 == 0 || live[a]->limbs + live[b]->limbs > 40)
            r = num_add_small(live[a]->limbs > 16 ? live[b] : live[a], (uint32_t)step);
        else
            r = num_mul(live[a], live[b]);
        /* Temporaries, as an expression evaluator makes them. */
        num_t *tmp = num_add_small(r, 1);
        bignum_checksum += tmp->limb[0];
        free(tmp);
        unsigned victim = (unsigned)(rnd(&seed) % LIVE);
        free(live[victim]);
        live[victim] = r;
        if (r->limbs >= 32) { /* keep numbers small: restart from one limb */
            free(live[victim]);
            live[victim] = num_new(1);
            live[victim]->limb[0] = (uint32_t)step | 1;
        }
    }
    for (int i = 0; i < LIVE; i++)
        free(live[i]);
}

/* ---- large ---- */
static volatile unsigned char large_sink;

static void large(void)
{
    enum { LIVE = 4 };
    unsigned char *live[LIVE] = {0};
    uint64_t seed = 777;
    for (int i = 0; i < 300; i++) {
        unsigned k = (unsigned)(rnd(&seed) % LIVE);
        free(live[k]);
        size_t n = ((size_t)5 << 20) + rnd(&seed) % ((size_t)20 << 20);
        if (i % 2) {
            live[k] = calloc(1, n);
        } else {
            live[k] = malloc(n);
            memset(live[k], 0, n);
        }
        for (size_t off = 0; off < n; off += 4096) /* written through */
            live[k][off] = (unsigned char)i;
        large_sink = live[k][n - 1];
    }
    for (int k = 0; k < LIVE; k++)
        free(live[k]);
}

/* ---- holes ---- */
static void holes(void)
{
    enum { BLOCKS = 2000000, ROUNDS = 30000000 };
    void **kept = malloc(sizeof(void *) * BLOCKS);
    if (!kept)
        abort();
    uint64_t seed = 4242;
    for (long i = 0; i < BLOCKS; i++) {
        size_t n = 64 + rnd(&seed) % 193;
        kept[i] = malloc(n);
        memset(kept[i], 1, n);
    }
    phase_done("fill");
    for (long i = 0; i < BLOCKS; i += 2)
        free(kept[i]);
    phase_done("free every other block");
    for (long r = 0; r < ROUNDS; r++) {
        unsigned char *volatile a = malloc(3000 + (size_t)(r & 7) * 100);
        unsigned char *volatile b = malloc(20000);
        a[0] = 1;
        b[0] = 2;
        free(a);
        free(b);
    }
    phase_done("churn");
    for (long i = 1; i < BLOCKS; i += 2)
        free(kept[i]);
    free(kept);
    phase_done("free the rest");
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*run)(void);
    } cases[] = {{"larson", larson}, {"mstress", mstress}, {"bignum", bignum},
                 {"large", large},   {"holes", holes}};
    if (argc != 2) {
        fprintf(stderr, "usage: workloads larson|mstress|bignum|large|holes\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(argv[1], cases[i].name) == 0) {
            double t0 = now_ms();
            phase_start = t0;
            cases[i].run();
            printf("%s %.1f\n", argv[1], now_ms() - t0);
            return 0;
        }
    }
    fprintf(stderr, "workloads: unknown case %s\n", argv[1]);
    return 2;
}
