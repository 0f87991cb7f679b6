/* rss_return.c — freed memory leaves the resident set: for small classes, for spans
 * with a few survivors (blocks of 16 KiB, every eighth kept), for large blocks, for
 * memory of exited threads, after malloc_trim(0); large buffers regrown by realloc
 * reuse a freed one's pages, and the rest of a reused one goes back when fresh memory
 * is needed; a buffer grown by realloc is resident once, and once freed
 * gives its pages back as the program grows elsewhere; mixed sizes freed in runs stay
 * within the slack bound, and ebb's resident figure is the process's, also when its
 * address map grows into a new region of addresses; calloc of purged
 * memory is zero.
 * With "background" as argument (run with EBB_BACKGROUND=1), the RSS must drop with no
 * further call at all; with "quiet", after a single call once the delay has passed;
 * with "consumer", the same after a thread that never allocates freed what exited
 * threads left; with "aging", big blocks left free are purged within a few looks while
 * one reused between looks keeps its pages; with "pages", free pages of small spans are
 * purged by the looks, again after more frees; with "pages_aged", by the looks between
 * two of the decay's.
 * Figures are printed. */
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_names.h"
#include "check.h"

#define MiB ((size_t)1 << 20)
#define N_SMALL 400000

static void *small[N_SMALL];

/* Without stdio: fopen would call malloc, and the tests of what happens with no call
 * (or a single one) after the delay must make none besides their own. */
static size_t rss(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *sp = strchr(buf, ' ');
    return sp ? (size_t)atol(sp + 1) * (size_t)sysconf(_SC_PAGESIZE) : 0;
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

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* Buffers rebuilt by realloc growth past the largest class reuse a freed large block's
 * mapping (kept for the decay delay) instead of faulting fresh pages every round. */
static void large_regrowth(void)
{
    enum { ROUNDS = 20 };
    const size_t steps[] = {1300000, 2000000, 3000000, 4500000, 6700000};
    char *p = T_MALLOC(steps[4]);
    memset(p, 1, steps[4]);
    T_FREE(p);
    long before = minor_faults();
    size_t pages = 0;
    for (int r = 0; r < ROUNDS; r++) {
        p = T_MALLOC(steps[0]);
        size_t had = 0;
        for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
            p = k ? T_REALLOC(p, steps[k]) : p;
            memset(p + had, 2, steps[k] - had);
            pages += (steps[k] - had) / 4096;
            had = steps[k];
        }
        T_FREE(p);
    }
    long faults = minor_faults() - before;
    printf("%-26s %ld page faults for %zu pages written\n", "large regrowth", faults, pages);
    CHECKF((size_t)faults < pages / 10, "large regrowth: %ld page faults for %zu pages", faults,
           pages);
}
static uint32_t mixed_size[N_SMALL];

static uint64_t rng = 88172645463325252ull;

/* A buffer grown by doubling realloc from 8 KiB to 16 MiB: the blocks it leaves behind
 * must not stay resident beside it (a freed block waits for the decay, so a moved copy
 * would keep the peak at twice the buffer); then, freed, the buffer's pages must not
 * stay beside 4 MiB of small blocks allocated next. */
static void realloc_growth(void)
{
    T_TRIM(0);
    size_t base = rss(), size = 8192;
    char *p = T_MALLOC(size);
    memset(p, 1, size);
    while (size < 16 * MiB) {
        p = T_REALLOC(p, size * 2);
        memset(p + size, 1, size);
        size *= 2;
    }
    size_t grown = above(base, rss());
    printf("%-26s RSS above start: %6zu KiB for a %zu KiB buffer\n", "realloc growth",
           grown >> 10, size >> 10);
    CHECKF(grown <= size + MiB, "realloc growth: %zu KiB resident for %zu KiB", grown >> 10,
           size >> 10);
    T_FREE(p);
    base = rss();
    for (int i = 0; i < 1024; i++) {
        small[i] = T_MALLOC(4000);
        memset(small[i], 2, 4000);
    }
    size_t after = above(base, rss());
    printf("%-26s RSS grew %zu KiB for 4000 KiB of small blocks\n", "after a freed buffer",
           after >> 10);
    /* as the small blocks take fresh spans, the cached buffer gives as much back */
    CHECKF(after <= MiB, "small blocks after a freed buffer: RSS grew %zu KiB", after >> 10);
    for (int i = 0; i < 1024; i++)
        T_FREE(small[i]);
    T_TRIM(0); /* the next case measures from a clean start */
}

/* What ebb says is resident (blocks' pages and metadata): it must match the process's
 * own count, so that malloc_stats and friends tell an operator the truth. */
static size_t ebb_resident(void)
{
    ebb_stats_t st;
    if (!t_stats(&st))
        return 0;
    return st.resident_bytes + st.metadata_resident_bytes;
}

/* A freed 64 MiB buffer reused for an 8 MiB one keeps the rest of its pages as a tail
 * (growing the new buffer then costs nothing); when the program next needs fresh memory
 * (a 48 MiB buffer), the tail goes back first: the RSS grows by the two live buffers,
 * not by the tail too, and ebb's resident figure says so. */
static void large_tail_given(void)
{
    T_TRIM(0);
    size_t base = rss(), claimed_base = ebb_resident();
    char *a = T_MALLOC(64 * MiB);
    memset(a, 1, 64 * MiB);
    T_FREE(a);
    char *b = T_MALLOC(8 * MiB);
    memset(b, 2, 8 * MiB);
    char *c = T_MALLOC(48 * MiB);
    memset(c, 3, 48 * MiB);
    size_t grew = above(base, rss()), claim_grew = above(claimed_base, ebb_resident());
    printf("%-26s RSS grew %zu KiB for 56 MiB live, ebb counts %zu KiB\n",
           "large tail, then fresh", grew >> 10, claim_grew >> 10);
    CHECKF(grew <= 58 * MiB, "large tail: RSS grew %zu KiB for 56 MiB live", grew >> 10);
    CHECKF(claim_grew + MiB >= grew && grew + MiB >= claim_grew,
           "large tail: ebb counts %zu KiB resident, the process %zu KiB", claim_grew >> 10,
           grew >> 10);
    CHECK(b[8 * MiB - 1] == 2 && c[0] == 3);
    T_FREE(b);
    T_FREE(c);
    T_TRIM(0);
}

/* When chunks are placed in a 32 GiB stretch of addresses ebb has not used before, its
 * address map takes a 4 MiB leaf for it, of which only a page or two is touched: the
 * resident figure must count those pages, not the whole leaf. A 40 GiB reservation
 * (no memory behind it) puts the next mappings in such a stretch. */
static void new_map_region(void)
{
    enum { BLOCKS = 2048 }; /* more than the free chunks earlier cases left */
    static char *blocks[BLOCKS];
    T_TRIM(0);
    ebb_stats_t before, live_st;
    CHECK(t_stats(&before));
    size_t base = rss(), claimed_base = ebb_resident();
    void *hole = mmap(NULL, (size_t)40 << 30, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(hole != MAP_FAILED);
    int n = 0;
    do { /* until the free chunks and the addresses reserved ahead run out and a leaf is
          * taken (ebb counts carved blocks as resident, so each is written whole) */
        blocks[n] = T_MALLOC(MiB);
        memset(blocks[n], 7, MiB);
        CHECK(t_stats(&live_st));
    } while (++n < BLOCKS && live_st.metadata_bytes < before.metadata_bytes + 4 * MiB);
    size_t rss_grew = above(base, rss()), claim_grew = above(claimed_base, ebb_resident());
    size_t meta_grew = live_st.metadata_bytes - before.metadata_bytes;
    printf("%-26s %d blocks: metadata mapped +%zu KiB, ebb counts %zu KiB resident of "
           "%zu KiB\n", "a new map region", n, meta_grew >> 10, claim_grew >> 10,
           rss_grew >> 10);
    /* otherwise the case did not test what it is for */
    CHECKF(meta_grew >= 4 * MiB, "no new address-map leaf after %d MiB", n);
    CHECKF(claim_grew + MiB / 2 >= rss_grew && rss_grew + MiB / 2 >= claim_grew,
           "new map region: ebb counts %zu KiB resident, the process %zu KiB",
           claim_grew >> 10, rss_grew >> 10);
    for (int i = 0; i < n; i++)
        T_FREE(blocks[i]);
    munmap(hole, (size_t)40 << 30);
    T_TRIM(0);
}

/* Mixed small and medium blocks (16 B to 14 KiB, as bench/memory.c's forkexec), 90%
 * freed in runs of 1000: the survivors straddle pages of many spans of every class.
 * After malloc_trim(0) the slack must be within the documented bound, and ebb's own
 * resident figure must be the process's. */
static void mixed_runs(void)
{
    enum { N = 100000 };
    T_TRIM(0); /* free pages of earlier cases would be reused, below the baseline */
    size_t base = rss(), claimed_base = ebb_resident();
    for (int i = 0; i < N; i++) {
        uint64_t r = check_random(&rng);
        mixed_size[i] = (uint32_t)(r % 4 ? 16 + (r >> 8) % 1024 : 1024 + (r >> 8) % 13000);
        small[i] = T_MALLOC(mixed_size[i]);
        memset(small[i], 6, mixed_size[i]);
    }
    size_t full = rss(), live = 0;
    for (int i = 0; i < N; i++) {
        if ((i / 1000) % 10)
            T_FREE(small[i]);
        else
            live += mixed_size[i];
    }
    T_TRIM(0);
    size_t after = rss(), claimed = ebb_resident();
    report("mixed, 90% freed in runs", base, full, after);
    size_t slack = above(base, after) > live ? above(base, after) - live : 0;
    CHECKF(slack <= 2 * MiB + live / 4, "mixed: slack %zu KiB for %zu KiB live", slack >> 10,
           live >> 10);
    size_t rss_grew = above(base, after), claim_grew = above(claimed_base, claimed);
    printf("%-26s live %zu KiB, slack %zu KiB, ebb counts %zu KiB resident of %zu KiB\n",
           "", live >> 10, slack >> 10, claim_grew >> 10, rss_grew >> 10);
    CHECKF(claim_grew + MiB / 2 >= rss_grew && rss_grew + MiB / 2 >= claim_grew,
           "ebb counts %zu KiB resident, the process %zu KiB", claim_grew >> 10, rss_grew >> 10);
    for (int i = 0; i < N; i++)
        if (!((i / 1000) % 10))
            T_FREE(small[i]);
}

/* Longer than the decay delay without a call, then a single malloc/free pair if
 * `one_call` (of a size the thread's cache may serve without a look at the clock): the
 * RSS must be back within the slack bound, 2 MiB + 25% of live bytes (none live here;
 * without the decay the pool alone would keep up to 4 MiB of dirty spans). */
static void check_settled(const char *what, size_t base, size_t full, bool one_call)
{
    struct timespec ts = {1, 500000000};
    nanosleep(&ts, NULL); /* no allocator call from here on */
    if (one_call) {
        void *p = T_MALLOC(100);
        memset(p, 2, 100);
        T_FREE(p);
    }
    size_t after = rss();
    report(what, base, full, after);
    CHECK(above(base, full) > 30 * MiB);
    CHECKF(above(base, after) < 2 * MiB, "RSS stayed at %zu KiB", above(base, after) >> 10);
}

/* Small blocks of 100 bytes freed, then the RSS settles with no further call at all
 * (`one_call` false, run with EBB_BACKGROUND=1) or with one (the background thread
 * off). */
static void quiet_then(bool one_call)
{
    size_t base = rss();
    for (int i = 0; i < N_SMALL; i++) {
        small[i] = T_MALLOC(100);
        memset(small[i], 1, 100);
    }
    size_t full = rss();
    CHECK(t_owns(small[0]));
    for (int i = 0; i < N_SMALL; i++)
        T_FREE(small[i]);
    check_settled(one_call ? "quiet, then one call" : "background, no calls", base, full,
                  one_call);
}

/* "never" (run with EBB_DECAY_MS=-1): threads allocate and free 40 MiB of 100-byte
 * blocks and 16 MiB of 64 KiB ones and exit, far more than the pool keeps dirty and
 * what exiting threads keep; neither their exits nor the default decay delay and one
 * more call purge anything; malloc_trim(0) still gives it all back. */
static void *churn_and_exit(void *arg)
{
    (void)arg;
    for (int i = 0; i < N_SMALL; i++) {
        small[i] = T_MALLOC(100);
        memset(small[i], 1, 100);
    }
    for (int i = 0; i < N_SMALL; i++)
        T_FREE(small[i]);
    for (int i = 0; i < 256; i++) {
        mid[i] = T_MALLOC(64 * 1024);
        memset(mid[i], 1, 64 * 1024);
    }
    for (int i = 0; i < 256; i++)
        T_FREE(mid[i]);
    return NULL;
}

static void never_case(void)
{
    size_t base = rss();
    for (int t = 0; t < 2; t++) {
        pthread_t th;
        CHECK(pthread_create(&th, NULL, churn_and_exit, NULL) == 0);
        pthread_join(th, NULL);
    }
    size_t full = rss();
    struct timespec ts = {0, 600000000}; /* past the default delay, 250 ms */
    nanosleep(&ts, NULL);
    T_FREE(T_MALLOC(100));
    size_t kept = rss();
    report("never purged", base, full, kept);
    CHECKF(above(base, full) > 30 * MiB, "%zu KiB resident once the threads exited: purged",
           above(base, full) >> 10);
    CHECKF(above(base, kept) + MiB >= above(base, full), "RSS fell from %zu to %zu KiB",
           above(base, full) >> 10, above(base, kept) >> 10);
    T_TRIM(0);
    size_t trimmed = rss();
    report("then trimmed", base, full, trimmed);
    CHECKF(above(base, trimmed) < 2 * MiB, "trim left %zu KiB", above(base, trimmed) >> 10);
}

/* "consumer" (run with EBB_DECAY_MS=100): threads make blocks and exit, leaving them; a
 * thread that never allocates frees them all and exits; then one malloc/free pair
 * after the delay. The consumer's frees go into heaps of exited threads, which nothing
 * collects unless the consumer has a heap of its own (and so an exit that collects). */
enum { MAKERS = 32, PER_MAKER = 4000 };
static void *made[MAKERS][PER_MAKER];

static void *maker(void *arg)
{
    void **mine = arg;
    for (int i = 0; i < PER_MAKER; i++) {
        mine[i] = T_MALLOC(64 + (size_t)(i * 37) % 900);
        memset(mine[i], 3, 64);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (int t = 0; t < MAKERS; t++)
        for (int i = 0; i < PER_MAKER; i++)
            T_FREE(made[t][i]);
    return NULL;
}

static void consumer_case(void)
{
    /* the single call below must be one the thread's cache serves, as in a program
     * that has been running: a first call of its size would take the slow path */
    T_FREE(T_MALLOC(100));
    size_t base = rss();
    for (int t = 0; t < MAKERS; t++) {
        pthread_t th;
        CHECK(pthread_create(&th, NULL, maker, made[t]) == 0);
        pthread_join(th, NULL);
    }
    size_t full = rss();
    CHECK(t_owns(made[0][0]));
    pthread_t th;
    CHECK(pthread_create(&th, NULL, consumer, NULL) == 0);
    pthread_join(th, NULL);
    check_settled("freed by a consumer", base, full, true);
}

/* "aging" (run with EBB_DECAY_MS=640, so that a heap looks at its free big blocks every
 * 20 ms): 40 KiB blocks left free through many looks are purged, while a 48 KiB block
 * freed and reused every millisecond keeps its pages (purging it at each look, as every
 * free block used to be once the delay passed, would fault its 12 pages in again each
 * time). A live 40 KiB block keeps their span from emptying into the pool. */
static size_t resident_bytes(void *p, size_t size)
{
    unsigned char vec[64];
    size_t pages = size / 4096, n = 0;
    CHECK((uintptr_t)p % 4096 == 0 && pages <= sizeof vec);
    CHECK(mincore(p, size, vec) == 0);
    for (size_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    return n * 4096;
}

static void aging_case(void)
{
    enum { OLD = 5, OLD_SIZE = 40 * 1024, SIZE = 48 * 1024, ROUNDS = 400 };
    char *old[OLD], *keep = T_MALLOC(OLD_SIZE);
    memset(keep, 1, OLD_SIZE);
    for (int i = 0; i < OLD; i++) {
        old[i] = T_MALLOC(OLD_SIZE);
        memset(old[i], 2, OLD_SIZE);
    }
    char *reused = T_MALLOC(SIZE);
    memset(reused, 3, SIZE);
    T_FREE(reused);
    for (int i = 0; i < OLD; i++)
        T_FREE(old[i]);
    long faults = minor_faults();
    struct timespec ms = {0, 1000000};
    for (int r = 0; r < ROUNDS; r++) {
        char *p = T_MALLOC(SIZE);
        CHECK(p == reused); /* its span's only free block */
        memset(p, 4, SIZE);
        T_FREE(p);
        nanosleep(&ms, NULL);
    }
    faults = minor_faults() - faults;
    size_t old_resident = 0;
    for (int i = 0; i < OLD; i++)
        old_resident += resident_bytes(old[i], OLD_SIZE);
    size_t reused_resident = resident_bytes(reused, SIZE);
    printf("aging: %zu KiB of the old blocks resident, %zu KiB of the reused one, "
           "%ld faults in %d rounds\n", old_resident >> 10, reused_resident >> 10, faults,
           ROUNDS);
    CHECKF(old_resident == 0, "%zu KiB of blocks free for 400 ms resident", old_resident >> 10);
    CHECKF(reused_resident == SIZE, "the reused block purged: %zu KiB resident",
           reused_resident >> 10);
    CHECKF(faults < 24, "%ld faults reusing one block", faults);
    T_FREE(keep);
}

/* "pages" (run with EBB_DECAY_MS=100): 64-byte blocks fill 24 spans; those on three
 * pages in four are freed, and once a delay has passed a look purges those pages. Then
 * the blocks on half the pages left are freed too, and the next look must purge those
 * as well: a look skips a small span only while nothing in it changed. A 20 KiB
 * malloc/free pair is the call that reaches the slow path, where looks happen. */
enum { PAGES_BLOCKS = 24 * 1024 };
static char *page_blocks_kept[PAGES_BLOCKS];

static size_t resident_block_pages(void)
{
    size_t n = 0;
    uintptr_t last = 0;
    for (int i = 0; i < PAGES_BLOCKS; i++) { /* ascending addresses: one look per page */
        uintptr_t page = (uintptr_t)page_blocks_kept[i] & ~(uintptr_t)4095;
        if (page == last)
            continue;
        last = page;
        unsigned char v;
        CHECK(mincore((void *)page, 4096, &v) == 0);
        n += v & 1;
    }
    return n;
}

static void look_after_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000};
    nanosleep(&ts, NULL);
    char *volatile big = T_MALLOC(20 * 1024);
    big[0] = 1;
    T_FREE(big);
}

static size_t carve_page_blocks(void)
{
    char **b = page_blocks_kept;
    for (int i = 0; i < PAGES_BLOCKS; i++) {
        b[i] = T_MALLOC(64);
        memset(b[i], 5, 64);
        CHECK(i == 0 || b[i] > b[i - 1]); /* carved in order, span after span */
    }
    return resident_block_pages();
}

static void pages_case(void)
{
    char **b = page_blocks_kept;
    size_t all = carve_page_blocks();
    for (int i = 0; i < PAGES_BLOCKS; i++)
        if (((uintptr_t)b[i] >> 12) % 4 != 0)
            T_FREE(b[i]);
    look_after_ms(150);
    size_t quarter = resident_block_pages();
    for (int i = 0; i < PAGES_BLOCKS; i++)
        if (((uintptr_t)b[i] >> 12) % 8 == 4)
            T_FREE(b[i]);
    look_after_ms(150);
    size_t eighth = resident_block_pages();
    printf("pages: %zu resident, %zu after freeing 3 in 4, %zu after 7 in 8\n", all, quarter,
           eighth);
    CHECK(all >= 384);
    CHECKF(quarter <= all / 4 + 8, "%zu of %zu pages resident, 1 in 4 kept", quarter, all);
    CHECKF(eighth <= all / 8 + 8, "%zu of %zu pages resident, 1 in 8 kept", eighth, all);
}

/* With EBB_DECAY_MS=1600 the heap looks at small spans' free pages every 200 ms and
 * purges every free one at every eighth look: a page free at two looks of its span in
 * a row goes at the second, long before the delay. The 18 000 free blocks here are
 * more than one look walks to note free pages (8192, heap.c): the first look notes the
 * first 10 spans' pages, the second purges those and notes the next 10, and so on, so
 * that all of them go within four looks. */
static void pages_aged_case(void)
{
    char **b = page_blocks_kept;
    look_after_ms(10); /* the heap's first look, which purges every free page */
    size_t all = carve_page_blocks();
    for (int i = 0; i < PAGES_BLOCKS; i++)
        if (((uintptr_t)b[i] >> 12) % 4 != 0)
            T_FREE(b[i]);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    look_after_ms(250);
    look_after_ms(250);
    size_t two = resident_block_pages();
    look_after_ms(250);
    look_after_ms(250);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    size_t quarter = resident_block_pages();
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    printf("pages, aged: %zu resident, %zu after freeing 3 in 4 and two looks, %zu after "
           "four looks and %ld ms\n",
           all, two, quarter, ms);
    CHECK(all >= 384);
    CHECKF(two < all, "%zu of %zu pages resident after two looks: none purged", two, all);
    CHECKF(quarter <= all / 4 + 8, "%zu of %zu pages resident after %ld ms, 1 in 4 kept",
           quarter, all, ms);
}

/* calloc of a block carved from memory nobody wrote leaves its pages untouched (they are
 * zero already), as a large block's are; one carved where another class wrote before,
 * or reused, is cleared. Alone in a process: its first blocks of 512 KiB and more come
 * from a fresh chunk; after the frees, the 700 KiB class takes the emptied span (its
 * blocks carved where the 900 KiB ones were written) and the 900 KiB class a new one. */
static size_t interior_resident_pages(const unsigned char *p, size_t size)
{
    static unsigned char vec[512];
    uintptr_t from = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
    uintptr_t to = ((uintptr_t)p + size) & ~(uintptr_t)4095;
    size_t pages = (to - from) / 4096, n = 0;
    CHECK(pages <= sizeof vec && mincore((void *)from, to - from, vec) == 0);
    for (size_t i = 0; i < pages && i < sizeof vec; i++)
        n += vec[i] & 1;
    return n;
}

static size_t nonzero_bytes(const unsigned char *p, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < size; i++)
        n += p[i] != 0;
    return n;
}

static void calloc_case(void)
{
    const size_t big = 900 << 10, other = 700 << 10;
    unsigned char *fresh[4];
    for (int i = 0; i < 4; i++) {
        fresh[i] = T_CALLOC(1, big);
        CHECK(fresh[i] != NULL && t_owns(fresh[i]));
        if (!fresh[i])
            return;
        size_t r = interior_resident_pages(fresh[i], big);
        CHECKF(r <= 1, "calloc(900 KiB) #%d: %zu of its pages resident before any write", i, r);
    }
    for (int i = 0; i < 4; i++) {
        CHECK(nonzero_bytes(fresh[i], big) == 0);
        memset(fresh[i], 0xa5, big);
    }
    /* Their span, written all over, empties; a block of another class of its kind may
     * be carved there, and one of this class is reused: both must come back cleared. */
    for (int i = 0; i < 4; i++)
        T_FREE(fresh[i]);
    for (int round = 0; round < 2; round++) {
        unsigned char *p[4];
        for (int i = 0; i < 4; i++) {
            size_t n = i % 2 ? big : other;
            p[i] = T_CALLOC(1, n);
            CHECK(p[i] != NULL);
            if (p[i])
                CHECKF(nonzero_bytes(p[i], n) == 0, "calloc(%zu) round %d not cleared", n,
                       round);
        }
        for (int i = 0; i < 4; i++) {
            if (p[i])
                memset(p[i], 0x5a, i % 2 ? big : other);
            T_FREE(p[i]);
        }
    }
}

static void background_case(void)
{
    quiet_then(false);
}

static void quiet_case(void)
{
    quiet_then(true);
}

int main(int argc, char **argv)
{
    T_FREE(T_MALLOC(1));
    /* the test's own arrays are resident before any baseline is taken */
    memset(small, 0, sizeof small);
    memset(mid, 0, sizeof mid);
    memset(mixed_size, 0, sizeof mixed_size);
    /* The cases run alone, each in a process of its own with its own EBB_* settings
     * (tests/CMakeLists.txt). */
    static const struct {
        const char *name;
        void (*run)(void);
    } alone[] = {
        {"background", background_case}, {"consumer", consumer_case}, {"never", never_case},
        {"pages", pages_case},           {"aging", aging_case},       {"quiet", quiet_case},
        {"pages_aged", pages_aged_case}, {"calloc", calloc_case},
    };
    for (size_t i = 0; argc > 1 && i < sizeof alone / sizeof alone[0]; i++) {
        if (strcmp(argv[1], alone[i].name) == 0) {
            alone[i].run();
            char report[64];
            snprintf(report, sizeof report, "rss-%s-%s", alone[i].name, T_VARIANT);
            return check_report(report);
        }
    }

    realloc_growth(); /* first: the decay delay has not passed since the start */

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

    mixed_runs();
    large_regrowth();
    large_tail_given();
    new_map_region();

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
