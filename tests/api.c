/* api.c — the contract of every entry point: sizes, alignments, zero sizes, contents
 * kept by realloc, zeroed calloc, and the error cases. Built twice (see api_names.h). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "api_names.h"
#include "check.h"

#define MiB ((size_t)1 << 20)

static int aligned_to(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 7);
}

static int filled(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 7))
            return 0;
    return 1;
}

static void test_every_small_size(void)
{
    for (size_t n = 1; n <= 5000; n++) {
        unsigned char *p = T_MALLOC(n);
        CHECKF(p != NULL, "malloc(%zu)", n);
        if (!p)
            continue;
        CHECKF(aligned_to(p, 16), "malloc(%zu) = %p", n, (void *)p);
        CHECKF(T_USABLE(p) >= n, "usable(%zu) = %zu", n, T_USABLE(p));
        CHECK(t_owns(p));
        memset(p, 0xab, T_USABLE(p));
        T_FREE(p);
    }
}

/* Waste bound: for requests >= 128 bytes the usable size is within 12.5%, rounded up to
 * a whole byte (7281 bytes get 8192); between 64 and 128 the 16-byte granularity allows
 * at most 15 bytes. Every size up to 1 MiB. Run in a thread of its own, whose new heap
 * has no freed block of a larger class that a malloc could borrow (test_borrowed_blocks):
 * the bound is the size classes'. */
static void *test_size_class_waste(void *unused)
{
    (void)unused;
    for (size_t n = 1; n <= MiB; n++) {
        void *p = T_MALLOC(n);
        if (!p) {
            CHECKF(0, "malloc(%zu) failed", n);
            continue;
        }
        size_t u = T_USABLE(p);
        if (n >= 128)
            CHECKF(u - n <= (n + 7) / 8, "size %zu usable %zu", n, u);
        else if (n >= 64)
            CHECKF(u - n <= 15, "size %zu usable %zu", n, u);
        else
            CHECKF(u >= n && u - n < 16, "size %zu usable %zu", n, u);
        T_FREE(p);
    }
    return NULL;
}

static void test_zero_sizes(void)
{
    void *a = T_MALLOC(0), *b = T_MALLOC(0);
    CHECK(a && b && a != b);
    CHECK(t_owns(a));
    T_FREE(a);
    T_FREE(b);
    void *c = T_CALLOC(0, 8), *d = T_CALLOC(8, 0);
    CHECK(c && d);
    T_FREE(c);
    T_FREE(d);
    void *e = T_REALLOC(NULL, 0);
    CHECK(e != NULL);
    void *f = T_REALLOC(e, 0); /* frees, as glibc does */
    CHECK(f == NULL);
    T_FREE(NULL);
    CHECK(T_USABLE(NULL) == 0);
}

static void test_alignments(void)
{
    for (size_t a = 8; a <= 4 * MiB; a *= 2) {
        size_t sizes[] = {1, a - 1, a, a + 1, 3 * a, 100};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i] ? sizes[i] : 1;
            void *p = T_ALIGNED_ALLOC(a, n);
            CHECKF(p && aligned_to(p, a), "aligned_alloc(%zu, %zu) = %p", a, n, p);
            if (p) {
                CHECK(T_USABLE(p) >= n);
                CHECK(t_owns(p));
                memset(p, 0x5a, n);
                T_FREE(p);
            }
            void *q = T_MEMALIGN(a, n);
            CHECKF(q && aligned_to(q, a), "memalign(%zu, %zu) = %p", a, n, q);
            if (q) {
                memset(q, 0x5b, n);
                /* realloc of memory from memalign keeps the contents */
                unsigned char *r = T_REALLOC(q, n + 5000);
                CHECK(r && r[0] == 0x5b && r[n - 1] == 0x5b);
                T_FREE(r ? (void *)r : q);
            }
            void *s = NULL;
            int rc = T_POSIX_MEMALIGN(&s, a, n);
            CHECKF(rc == 0 && s && aligned_to(s, a), "posix_memalign(%zu, %zu)", a, n);
            if (s) {
                memset(s, 0x5c, n);
                T_FREE_ALIGNED_SIZED(s, a, n);
            }
        }
    }
    long page = sysconf(_SC_PAGESIZE);
    void *v = T_VALLOC(10);
    CHECK(v && aligned_to(v, (size_t)page) && T_USABLE(v) >= 10);
    T_FREE(v);
    void *pv = T_PVALLOC(10);
    CHECK(pv && aligned_to(pv, (size_t)page) && T_USABLE(pv) >= (size_t)page);
    T_FREE(pv);
    void *pv0 = T_PVALLOC(0);
    CHECK(pv0 && T_USABLE(pv0) >= (size_t)page);
    T_FREE(pv0);
}

/* A malloc of 8 KiB or more that would take pages never touched may get a freed block
 * of a class up to half as large again instead (heap.c, borrow_larger); an aligned
 * allocation never does, since its class was chosen for where its blocks lie. Run
 * first, while the process has no blocks of these classes and the pool only untouched
 * spans: blocks of 72 KiB lie 72 KiB apart, so the second is not 64 KiB-aligned. */
static void test_borrowed_blocks(void)
{
    void *keep = T_MALLOC(72 * 1024), *lent = T_MALLOC(72 * 1024);
    CHECK(keep && lent && !aligned_to(lent, 64 * 1024));
    memset(lent, 0x11, 72 * 1024);
    T_FREE(lent);
    unsigned char *p = T_MALLOC(64 * 1024);
    CHECKF(p == lent, "malloc(64 KiB) = %p, not the freed 72 KiB block %p", (void *)p, lent);
    CHECK(p && T_USABLE(p) >= 64 * 1024);
    if (p)
        memset(p, 0x22, 64 * 1024);
    T_FREE(p);
    for (size_t a = 32; a <= 64 * 1024; a *= 2) {
        void *q = T_ALIGNED_ALLOC(a, 64 * 1024);
        CHECKF(q && aligned_to(q, a), "aligned_alloc(%zu, 64 KiB) = %p", a, q);
        T_FREE(q);
    }
    T_FREE(keep);
}

static void test_calloc_zeroes(void)
{
    size_t sizes[] = {1, 16, 100, 1000, 4096, 70000, 900 * 1024, 3 * MiB, 40 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        /* Dirty a block of this size first, so calloc must clear reused memory. */
        unsigned char *d = T_MALLOC(n);
        CHECK(d != NULL);
        if (d) {
            memset(d, 0xff, n);
            T_FREE(d);
        }
        unsigned char *p = T_CALLOC(1, n);
        CHECK(p != NULL);
        if (!p)
            continue;
        size_t nonzero = 0;
        for (size_t j = 0; j < n; j++)
            nonzero += p[j] != 0;
        CHECKF(nonzero == 0, "calloc(%zu) has %zu non-zero bytes", n, nonzero);
        T_FREE(p);
    }
}

static void test_realloc_contents(void)
{
    /* Grow through small classes, medium, large, then large by mremap, then shrink. */
    size_t steps[] = {1,  24,  100, 1000,    5000,     70000,     900 * 1024, 2 * MiB,
                      3 * MiB, 64 * MiB, 200 * MiB, 5 * MiB, 500 * 1024, 3000, 40, 1};
    unsigned char *p = NULL;
    size_t have = 0;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        size_t n = steps[i];
        unsigned char *q = T_REALLOC(p, n);
        CHECKF(q != NULL, "realloc to %zu", n);
        if (!q)
            break;
        size_t keep = have < n ? have : n;
        CHECKF(filled(q, keep, 3), "contents lost growing %zu -> %zu", have, n);
        CHECK(T_USABLE(q) >= n);
        fill(q, n, 3);
        p = q;
        have = n;
    }
    T_FREE(p);

    /* The repeated-append pattern: a large buffer grown a page at a time. */
    size_t cap = 2 * MiB;
    unsigned char *buf = T_MALLOC(cap);
    fill(buf, cap, 9);
    for (int i = 0; i < 200; i++) {
        size_t n = cap + 64 * 1024;
        unsigned char *nb = T_REALLOC(buf, n);
        CHECK(nb != NULL);
        if (!nb)
            break;
        fill(nb + cap, n - cap, (unsigned)(9 + cap * 7));
        buf = nb;
        cap = n;
    }
    CHECK(filled(buf, cap, 9));
    T_FREE(buf);

    /* A block grown by realloc gets room to grow again: a quarter more, so a buffer
     * grown in small steps is not copied at every size class. */
    unsigned char *g = T_MALLOC(100);
    fill(g, 100, 5);
    g = T_REALLOC(g, 200);
    CHECK(g != NULL && filled(g, 100, 5));
    CHECKF(T_USABLE(g) >= 250, "usable %zu after growing to 200", T_USABLE(g));
    unsigned char *g2 = T_REALLOC(g, 240);
    CHECK(g2 == g); /* in place */
    T_FREE(g2);
}

static void test_errors(void)
{
    errno = 0;
    CHECK(T_MALLOC(SIZE_MAX) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(T_MALLOC((size_t)PTRDIFF_MAX + 1) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(T_CALLOC(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(T_CALLOC(1, SIZE_MAX - 100) == NULL && errno == ENOMEM);

    unsigned char *p = T_MALLOC(100);
    fill(p, 100, 1);
    errno = 0;
    CHECK(T_REALLOCARRAY(p, SIZE_MAX / 4, 8) == NULL && errno == ENOMEM);
    CHECK(filled(p, 100, 1));
    errno = 0;
    CHECK(T_REALLOC(p, SIZE_MAX - 10) == NULL && errno == ENOMEM);
    CHECK(filled(p, 100, 1));
    unsigned char *ra = T_REALLOCARRAY(p, 10, 30);
    CHECK(ra && filled(ra, 100, 1));
    p = ra;

    /* A failing large realloc leaves the large block intact too. */
    unsigned char *big = T_MALLOC(3 * MiB);
    fill(big, 3 * MiB, 4);
    errno = 0;
    CHECK(T_REALLOC(big, (size_t)PTRDIFF_MAX) == NULL && errno == ENOMEM);
    CHECK(filled(big, 3 * MiB, 4));
    T_FREE(big);

    void *out = (void *)0x1234;
    CHECK(T_POSIX_MEMALIGN(&out, 3, 10) == EINVAL && out == (void *)0x1234);
    CHECK(T_POSIX_MEMALIGN(&out, 4, 10) == EINVAL && out == (void *)0x1234);
    CHECK(T_POSIX_MEMALIGN(&out, 0, 10) == EINVAL && out == (void *)0x1234);
    CHECK(T_POSIX_MEMALIGN(&out, 64, SIZE_MAX - 100) == ENOMEM && out == (void *)0x1234);
    errno = 0;
    CHECK(T_ALIGNED_ALLOC(3, 10) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(T_ALIGNED_ALLOC(0, 10) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(T_MEMALIGN(24, 10) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(T_ALIGNED_ALLOC(64, SIZE_MAX - 100) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(T_ALIGNED_ALLOC((size_t)1 << 62, 10) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(T_PVALLOC(SIZE_MAX - 10) == NULL && errno == ENOMEM);

    /* free keeps errno, for small and large blocks */
    void *l = T_MALLOC(5 * MiB);
    errno = 4321;
    T_FREE(p);
    T_FREE(l);
    CHECK(errno == 4321);

    void *fs = T_MALLOC(200);
    T_FREE_SIZED(fs, 200);
    void *fs2 = T_MALLOC(3 * MiB);
    T_FREE_SIZED(fs2, 3 * MiB);
}

static void test_introspection(void)
{
    ebb_stats_t before, after;
    ebb_stats_t *pb = &before, *pa = &after;
#ifdef EBB_TEST_PREFIXED
    void (*get)(ebb_stats_t *) = ebb_stats_get;
#else
    void (*get)(ebb_stats_t *) = (void (*)(ebb_stats_t *))dlsym(RTLD_DEFAULT, "ebb_stats_get");
    CHECK(get != NULL);
    if (!get)
        return;
#endif
    get(pb);
    void *blocks[100];
    for (int i = 0; i < 100; i++)
        blocks[i] = T_MALLOC(1000);
    void *large = T_MALLOC(8 * MiB);
    get(pa);
    CHECKF(after.live_bytes >= before.live_bytes + 100 * 1000 + 8 * MiB,
           "live %zu -> %zu", before.live_bytes, after.live_bytes);
    CHECK(after.large_count == before.large_count + 1);
    CHECK(after.mapped_bytes >= after.live_bytes);
#ifndef EBB_TEST_PREFIXED
    struct mallinfo2 mi = mallinfo2();
    CHECK(mi.hblkhd >= 8 * MiB && mi.uordblks >= 100 * 1000 && mi.arena >= mi.uordblks);
    CHECK(mallopt(M_ARENA_MAX, 2) == 1);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    CHECK(malloc_info(0, mem) == 0);
    fclose(mem);
    CHECK(text && strncmp(text, "<malloc version=\"1\">", 20) == 0 &&
          strstr(text, "</malloc>") != NULL);
    free(text);
    errno = 0;
    CHECK(malloc_info(1, stdout) == -1 && errno == EINVAL);
#else
    char *text = t_stats_json();
    CHECK(text && text[0] == '{' && strstr(text, "\"live_bytes\"") != NULL);
    free(text);
#endif
    for (int i = 0; i < 100; i++)
        T_FREE(blocks[i]);
    T_FREE(large);
}

int main(void)
{
    test_borrowed_blocks();
    test_every_small_size();
    pthread_t waste;
    CHECK(pthread_create(&waste, NULL, test_size_class_waste, NULL) == 0 &&
          pthread_join(waste, NULL) == 0);
    test_zero_sizes();
    test_alignments();
    test_calloc_zeroes();
    test_realloc_contents();
    test_errors();
    test_introspection();
    return check_report("api-" T_VARIANT);
}
