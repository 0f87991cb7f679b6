/* thread_churn.c — thousands of short-lived threads, each allocating and leaving half
 * of its blocks behind for another thread to free later. Heaps of exited threads must
 * be reused and their memory returned, so RSS after everything is freed stays bounded
 * however many threads came and went. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api_names.h"
#include "check.h"

#define BATCH 16
#define BATCHES 250 /* 4000 threads */
#define PER_THREAD 200

static void *left[BATCH][PER_THREAD / 2];

static size_t rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static void *thread_main(void *arg)
{
    long id = (long)arg;
    void *mine[PER_THREAD];
    for (int i = 0; i < PER_THREAD; i++) {
        size_t size = (size_t)((i * 37 + id) % 2000) + 1;
        if (i % 50 == 0)
            size = 100000 + (size_t)i * 100;
        mine[i] = T_MALLOC(size);
        if (mine[i])
            memset(mine[i], 0x11, size);
    }
    for (int i = 0; i < PER_THREAD; i += 2)
        T_FREE(mine[i]);
    for (int i = 1; i < PER_THREAD; i += 2)
        left[id][i / 2] = mine[i]; /* freed by the main thread after this one exits */
    return NULL;
}

int main(void)
{
    /* Warm up, then take the baseline. */
    T_FREE(T_MALLOC(100));
    size_t base = rss_bytes();
    size_t peak = 0;
    for (int b = 0; b < BATCHES; b++) {
        pthread_t t[BATCH];
        for (long i = 0; i < BATCH; i++)
            CHECK(pthread_create(&t[i], NULL, thread_main, (void *)i) == 0);
        for (int i = 0; i < BATCH; i++)
            pthread_join(t[i], NULL);
        for (int i = 0; i < BATCH; i++)
            for (int j = 0; j < PER_THREAD / 2; j++) {
                CHECK(left[i][j] != NULL && t_owns(left[i][j]));
                T_FREE(left[i][j]);
            }
        size_t r = rss_bytes();
        if (r > peak)
            peak = r;
    }
    size_t end = rss_bytes();
    /* Settled: the decay delay (250 ms by default) passes, then one more call. What the
     * main thread freed into the heaps of its exited workers must be back by then: it
     * is the only thread left, and nothing else would give it back. */
    usleep(400 * 1000);
    T_FREE(T_MALLOC(100));
    size_t settled = rss_bytes();
    size_t grown = end > base ? end - base : 0;
    size_t peak_grown = peak > base ? peak - base : 0;
    size_t settled_grown = settled > base ? settled - base : 0;
    printf("%d threads: RSS grew by %zu KiB after all was freed (peak +%zu KiB), "
           "settled +%zu KiB\n",
           BATCH * BATCHES, grown >> 10, peak_grown >> 10, settled_grown >> 10);
#ifndef __SANITIZE_THREAD__ /* ThreadSanitizer's shadow memory makes RSS meaningless */
    /* Generous: each batch holds about 16 threads * 100 blocks live (~2.5 MiB). */
    CHECKF(grown < 32u << 20, "RSS grew by %zu KiB", grown >> 10);
    CHECKF(peak_grown < 64u << 20, "peak RSS grew by %zu KiB", peak_grown >> 10);
    /* The slack bound with nothing live: 2 MiB (the workers' heaps' own pages, 16
     * threads' worth, included). */
    CHECKF(settled_grown < 2u << 20, "settled RSS grew by %zu KiB", settled_grown >> 10);
#endif
    return check_report("thread-churn-" T_VARIANT);
}
