/* gen.c — `ebb gen PATTERN [--seed N] [--scale F] -o FILE`: synthetic traces, each a
 * pattern that tells allocators apart, deterministic for a given seed.
 *   append    buffers rebuilt by appends (realloc growth from 256 KiB to a few MiB),
 *             small long-lived records allocated between the rebuilds, then most
 *             records die: the case where a heap keeps RSS far above live bytes
 *   prodcons  a producer thread allocates messages, a consumer frees them
 *   threads   many short-lived threads leave objects behind for another to free
 *   server    larson-style steady state: random sizes and lifetimes, four threads
 *             freeing each other's objects
 *   fragment  fill memory with mixed sizes, free every other object, then allocate
 *             only a size none of the holes fits
 *   large     buffers of 1-32 MiB, a few live at a time */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "trace.h"

typedef struct gen {
    trace_writer_t *w;
    uint64_t time_us;
    uint64_t rng;
    double scale;
    bool ok;
} gen_t;

static uint64_t rnd(gen_t *g)
{
    /* xorshift64* */
    g->rng ^= g->rng >> 12;
    g->rng ^= g->rng << 25;
    g->rng ^= g->rng >> 27;
    return g->rng * 0x2545f4914f6cdd1dull;
}

static uint64_t uniform(gen_t *g, uint64_t lo, uint64_t hi)
{
    return lo + rnd(g) % (hi - lo + 1);
}

/* Sizes as programs make them: mostly small, a long tail (log-uniform). */
static uint64_t small_size(gen_t *g, uint64_t lo, uint64_t hi)
{
    double l = log((double)lo), h = log((double)hi);
    double u = (double)(rnd(g) >> 11) / 9007199254740992.0;
    uint64_t s = (uint64_t)exp(l + (h - l) * u);
    return s < lo ? lo : s > hi ? hi : s;
}

static long scaled(const gen_t *g, long n)
{
    long v = (long)((double)n * g->scale);
    return v < 1 ? 1 : v;
}

static void emit(gen_t *g, trace_event_t *ev)
{
    ev->time_us = g->time_us++;
    g->ok &= trace_writer_add(g->w, ev);
}

static uint64_t g_alloc(gen_t *g, uint32_t thread, uint64_t size)
{
    trace_event_t ev = {.op = OP_MALLOC, .thread = thread, .size = size};
    emit(g, &ev);
    return ev.id;
}

static uint64_t g_realloc(gen_t *g, uint32_t thread, uint64_t old, uint64_t size)
{
    trace_event_t ev = {.op = OP_REALLOC, .thread = thread, .old = old, .size = size};
    emit(g, &ev);
    return ev.id;
}

static void g_free(gen_t *g, uint32_t thread, uint64_t id)
{
    trace_event_t ev = {.op = OP_FREE, .thread = thread, .id = id};
    emit(g, &ev);
}

static void g_simple(gen_t *g, uint32_t thread, unsigned op, const char *label)
{
    trace_event_t ev = {.op = (uint8_t)op, .thread = thread, .label = label};
    emit(g, &ev);
}

static void shuffle(gen_t *g, uint64_t *v, long n)
{
    for (long i = n - 1; i > 0; i--) {
        long j = (long)(rnd(g) % (uint64_t)(i + 1));
        uint64_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

static void gen_append(gen_t *g)
{
    long rounds = scaled(g, 1500), per = 40;
    uint64_t *records = malloc(sizeof *records * (size_t)(rounds * per));
    long n = 0;
    g_simple(g, 0, OP_THREAD_START, NULL);
    g_simple(g, 0, OP_MARKER, "build");
    for (long r = 0; r < rounds; r++) {
        uint64_t size = 256 * 1024, target = uniform(g, 1, 6) << 20;
        uint64_t buf = g_alloc(g, 0, size);
        while (size < target) {
            size += size / 2;
            buf = g_realloc(g, 0, buf, size);
            for (int k = 0; k < per / 8; k++)
                records[n++] = g_alloc(g, 0, small_size(g, 24, 400));
        }
        g_free(g, 0, buf);
    }
    g_simple(g, 0, OP_MARKER, "die");
    shuffle(g, records, n);
    long survivors = n / 10;
    for (long i = survivors; i < n; i++)
        g_free(g, 0, records[i]);
    g_simple(g, 0, OP_MARKER, "end");
    for (long i = 0; i < survivors; i++)
        g_free(g, 0, records[i]);
    free(records);
}

static void gen_prodcons(gen_t *g)
{
    long n = scaled(g, 250000), depth = 2000;
    uint64_t *q = malloc(sizeof *q * (size_t)n);
    static const uint64_t sizes[] = {48, 64, 96, 128, 200, 256, 512, 1024, 1500, 4096};
    g_simple(g, 0, OP_THREAD_START, NULL);
    g_simple(g, 1, OP_THREAD_START, NULL);
    for (long i = 0; i < n + depth; i++) {
        if (i < n)
            q[i] = g_alloc(g, 0, sizes[rnd(g) % 10] + (rnd(g) % 4) * 8);
        if (i >= depth)
            g_free(g, 1, q[i - depth]);
    }
    free(q);
}

static void gen_threads(gen_t *g)
{
    long nthreads = scaled(g, 400), per = 200;
    uint32_t next = 1;
    uint64_t *left = malloc(sizeof *left * (size_t)per * 8);
    g_simple(g, 0, OP_THREAD_START, NULL);
    for (long b = 0; b < nthreads / 8; b++) {
        long nl = 0;
        for (int t = 0; t < 8; t++) {
            uint32_t th = next++;
            uint64_t mine[200];
            g_simple(g, th, OP_THREAD_START, NULL);
            for (long i = 0; i < per; i++)
                mine[i] = g_alloc(g, th, i % 40 == 0 ? uniform(g, 20000, 200000)
                                                     : small_size(g, 16, 2000));
            for (long i = 0; i < per; i += 2)
                g_free(g, th, mine[i]);
            for (long i = 1; i < per; i += 2)
                left[nl++] = mine[i];
            g_simple(g, th, OP_THREAD_EXIT, NULL);
        }
        for (long i = 0; i < nl; i++)
            g_free(g, 0, left[i]);
    }
    free(left);
}

static void gen_server(gen_t *g)
{
    long steps = scaled(g, 400000), slots = 8000;
    uint64_t *slot = calloc((size_t)slots, sizeof *slot);
    for (uint32_t t = 0; t < 4; t++)
        g_simple(g, t, OP_THREAD_START, NULL);
    for (long i = 0; i < steps; i++) {
        uint32_t t = (uint32_t)(rnd(g) % 4);
        long s = (long)(rnd(g) % (uint64_t)slots);
        if (slot[s])
            g_free(g, t, slot[s]);
        slot[s] = g_alloc(g, t, small_size(g, 8, 1000));
    }
    for (long s = 0; s < slots; s++)
        if (slot[s])
            g_free(g, (uint32_t)(s % 4), slot[s]);
    free(slot);
}

static void gen_fragment(gen_t *g)
{
    long n = scaled(g, 120000);
    uint64_t *o = malloc(sizeof *o * (size_t)n);
    static const uint64_t sizes[] = {40, 72, 136, 264, 520};
    g_simple(g, 0, OP_THREAD_START, NULL);
    g_simple(g, 0, OP_MARKER, "fill");
    for (long i = 0; i < n; i++)
        o[i] = g_alloc(g, 0, sizes[rnd(g) % 5]);
    g_simple(g, 0, OP_MARKER, "holes");
    for (long i = 0; i < n; i += 2)
        g_free(g, 0, o[i]);
    g_simple(g, 0, OP_MARKER, "other size");
    long m = n / 8;
    uint64_t *p = malloc(sizeof *p * (size_t)m);
    for (long i = 0; i < m; i++)
        p[i] = g_alloc(g, 0, 1800);
    g_simple(g, 0, OP_MARKER, "end");
    for (long i = 1; i < n; i += 2)
        g_free(g, 0, o[i]);
    for (long i = 0; i < m; i++)
        g_free(g, 0, p[i]);
    free(o);
    free(p);
}

static void gen_large(gen_t *g)
{
    long n = scaled(g, 160);
    uint64_t live[4] = {0};
    g_simple(g, 0, OP_THREAD_START, NULL);
    for (long i = 0; i < n; i++) {
        int k = (int)(i % 4);
        if (live[k])
            g_free(g, 0, live[k]);
        uint64_t size = uniform(g, 1, 32) << 20;
        live[k] = g_alloc(g, 0, size);
        if (rnd(g) % 4 == 0)
            live[k] = g_realloc(g, 0, live[k], size + (size >> 1));
        for (int s = 0; s < 50; s++) /* a little small traffic between */
            g_free(g, 0, g_alloc(g, 0, small_size(g, 16, 300)));
    }
    for (int k = 0; k < 4; k++)
        if (live[k])
            g_free(g, 0, live[k]);
}

static const struct {
    const char *name;
    void (*fn)(gen_t *);
} patterns[] = {
    {"append", gen_append},     {"prodcons", gen_prodcons}, {"threads", gen_threads},
    {"server", gen_server},     {"fragment", gen_fragment}, {"large", gen_large},
};

int cmd_gen(int argc, char **argv)
{
    const char *pattern = NULL, *out = NULL;
    uint64_t seed = 1;
    double scale = 1.0;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "-o") == 0 && v)
            out = argv[++i];
        else if (strcmp(argv[i], "--seed") == 0 && v)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--scale") == 0 && v && atof(v) > 0 && atof(v) <= 100)
            scale = atof(argv[++i]);
        else if (argv[i][0] != '-' && !pattern)
            pattern = argv[i];
        else
            pattern = NULL, i = argc;
    }
    int which = -1;
    for (int k = 0; pattern && k < (int)(sizeof patterns / sizeof patterns[0]); k++)
        if (strcmp(pattern, patterns[k].name) == 0)
            which = k;
    if (which < 0 || !out) {
        fprintf(stderr, "usage: ebb gen PATTERN [--seed N] [--scale F] -o FILE\npatterns:");
        for (size_t k = 0; k < sizeof patterns / sizeof patterns[0]; k++)
            fprintf(stderr, " %s", patterns[k].name);
        fprintf(stderr, "\n");
        return 2;
    }
    trace_header_t h;
    memset(&h, 0, sizeof h);
    h.page_size = 4096;
    h.cmdline_len = (uint32_t)snprintf(h.cmdline, sizeof h.cmdline, "ebb gen %s --seed %llu",
                                       pattern, (unsigned long long)seed) + 1;
    gen_t g = {.w = trace_writer_open(out, &h, EBB_TRACE_LEVEL), .rng = seed * 0x9e3779b97f4a7c15ull + 1,
               .scale = scale, .ok = true};
    if (!g.w)
        return 1;
    patterns[which].fn(&g);
    bool ok = trace_writer_close(g.w) && g.ok;
    return ok ? 0 : 1;
}
