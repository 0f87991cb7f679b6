/* rss_return.c — freed memory leaves the resident set: for small classes, for spans
 * with a few survivors (blocks of 16 KiB, every eighth kept), for large blocks, for
 * memory of exited threads, after malloc_trim(0); calloc of purged memory is zero.
 * With "background" as argument (run with EBB_BACKGROUND=1), the RSS must drop with no
 * further call at all. Figures are printed. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_names.h"
#include "check.h"

#define MiB ((size_t)1 << 20)
#define N_SMALL 400000

static void *small[N_SMALL];

static size_t rss(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static size_t above(size_t base, size_t v)
{
    return v > base ? v - base : 0;
}

static void report(const char *what, size_t base, size_t full, size_t after)
{
    printf("%-26s RSS above start: %6zu KiB full, %6zu KiB after\n", what,
           above(base, full) >> 10, above(base, after) >> 10);
}

static void *thread_work(void *arg)
{
    (void)arg;
    for (int i = 0; i < N_SMALL / 2; i++) {
        small[i] = T_MALLOC(150);
        memset(small[i], 7, 150);
    }
    for (int i = 0; i < N_SMALL / 2; i++)
        T_FREE(small[i]);
    return NULL; /* the thread's exit returns its memory */
}

static void *mid[8192];

int main(int argc, char **argv)
{
    T_FREE(T_MALLOC(1));
    /* the test's own arrays are resident before any baseline is taken */
    memset(small, 0, sizeof small);
    memset(mid, 0, sizeof mid);
    if (argc > 1 && strcmp(argv[1], "background") == 0) {
        size_t base = rss();
        for (int i = 0; i < N_SMALL; i++) {
            small[i] = T_MALLOC(100);
            memset(small[i], 1, 100);
        }
        size_t full = rss();
        CHECK(t_owns(small[0]));
        for (int i = 0; i < N_SMALL; i++)
            T_FREE(small[i]);
        struct timespec ts = {1, 500000000};
        nanosleep(&ts, NULL); /* no allocator call from here on */
        size_t after = rss();
        report("background, no calls", base, full, after);
        CHECKF(above(base, after) < above(base, full) / 10, "RSS stayed at %zu KiB", above(base, after) >> 10);
        return check_report("rss-background-" T_VARIANT);
    }

    /* small classes */
    size_t base = rss();
    for (int i = 0; i < N_SMALL; i++) {
        small[i] = T_MALLOC(100);
        memset(small[i], 1, 100);
    }
    size_t full = rss();
    CHECK(t_owns(small[0])); /* the allocator under test is ebb */
    for (int i = 0; i < N_SMALL; i++)
        T_FREE(small[i]);
    T_TRIM(0);
    size_t after = rss();
    report("small blocks", base, full, after);
    CHECK(above(base, full) > 40 * MiB);
    CHECKF(above(base, after) < above(base, full) / 10, "small: %zu KiB left", above(base, after) >> 10);

    /* small spans with a few survivors: 64-byte blocks, one in 1024 kept */
    base = rss();
    for (int i = 0; i < N_SMALL; i++) {
        small[i] = T_MALLOC(64);
        memset(small[i], 4, 64);
    }
    full = rss();
    for (int i = 0; i < N_SMALL; i++)
        if (i % 1024)
            T_FREE(small[i]);
    T_TRIM(0);
    after = rss();
    report("64 B blocks, 1/1024 kept", base, full, after);
    /* about 400 survivors, each pinning one page */
    CHECKF(above(base, after) < 4 * MiB, "small partial spans: %zu KiB left",
           above(base, after) >> 10);
    for (int i = 0; i < N_SMALL; i += 1024) {
        CHECK(((unsigned char *)small[i])[63] == 4);
        T_FREE(small[i]);
    }
    /* the purged blocks are carved again, zero or not, and usable */
    for (int i = 0; i < N_SMALL; i++) {
        small[i] = T_MALLOC(64);
        memset(small[i], 5, 64);
    }
    for (int i = 0; i < N_SMALL; i++)
        T_FREE(small[i]);
    T_TRIM(0);

    /* spans with a few survivors: 16 KiB blocks, every eighth kept */
    base = rss();
    for (int i = 0; i < 8192; i++) {
        mid[i] = T_MALLOC(16384);
        memset(mid[i], 2, 16384);
    }
    full = rss();
    for (int i = 0; i < 8192; i++)
        if (i % 8)
            T_FREE(mid[i]);
    T_TRIM(0);
    after = rss();
    report("16 KiB blocks, 1/8 kept", base, full, after);
    /* kept: 1024 blocks of 16 KiB = 16 MiB; the freed blocks are purged whole */
    CHECKF(above(base, after) < 16 * MiB + 4 * MiB,
           "partial spans: %zu KiB left", above(base, after) >> 10);
    /* the purged blocks come back, usable, when the kept ones are freed and more are
     * allocated */
    for (int i = 0; i < 8192; i++)
        if (i % 8) {
            mid[i] = T_MALLOC(16384);
            CHECK(mid[i] != NULL);
            memset(mid[i], 3, 16384);
        }
    for (int i = 0; i < 8192; i++)
        T_FREE(mid[i]);

    /* large blocks */
    void *big[10];
    base = rss();
    for (int i = 0; i < 10; i++) {
        big[i] = T_MALLOC(8 * MiB);
        memset(big[i], 3, 8 * MiB);
    }
    full = rss();
    for (int i = 0; i < 10; i++)
        T_FREE(big[i]);
    T_TRIM(0);
    after = rss();
    report("large blocks", base, full, after);
    CHECKF(above(base, after) < 2 * MiB, "large: %zu KiB left", above(base, after) >> 10);

    /* calloc of purged memory is zero */
    unsigned char *z = T_CALLOC(1, 16384);
    size_t nonzero = 0;
    for (size_t i = 0; i < 16384; i++)
        nonzero += z[i] != 0;
    CHECK(nonzero == 0);
    T_FREE(z);

    /* an exited thread's memory */
    base = rss();
    pthread_t t;
    pthread_create(&t, NULL, thread_work, NULL);
    pthread_join(t, NULL);
    after = rss();
    report("exited thread (no trim)", base, base, after);
    CHECKF(above(base, after) < 4 * MiB, "thread: %zu KiB left", above(base, after) >> 10);
    return check_report("rss-return-" T_VARIANT);
}
