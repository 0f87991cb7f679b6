/* depot.c — blocks one thread frees for another thread's spans, past its full cache,
 * serve a third thread before it carves new ones (alloc/depot.c): the third thread's
 * first blocks of the class are blocks the first thread allocated. While they wait,
 * the statistics count them free; malloc_trim gives them back to their span, which
 * then empties. The exit that leaves one thread gives them back too. */
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <string.h>

#include "api_names.h"
#include "check.h"

#define N 300
#define SIZE 100
#define TAKEN 16

static char *blocks[N];
static void *taken[TAKEN];

static void *free_all(void *arg)
{
    /* A heap of its own first (a thread that only frees caches nothing), with a span of
     * another class, so that the next thread to adopt this heap has none of SIZE's. */
    T_FREE(T_MALLOC(5000));
    for (int i = 0; i < N; i++)
        T_FREE(blocks[i]);
    return arg;
}

static bool is_one_of_blocks(const void *p)
{
    for (int i = 0; i < N; i++)
        if (blocks[i] == p)
            return true;
    return false;
}

/* Spans of the class of `size` blocks in ebb's JSON statistics; -1 without them. */
static long class_spans(size_t size)
{
    char *text = t_stats_json();
    if (!text)
        return -1;
    char want[64];
    snprintf(want, sizeof want, "\"block_size\": %zu, \"spans\": ", (size + 15) & ~(size_t)15);
    const char *at = strstr(text, want);
    long spans = at ? atol(at + strlen(want)) : 0;
    free(text);
    return spans;
}

static void *take(void *unused)
{
    (void)unused;
    long reused = 0;
    for (int i = 0; i < TAKEN; i++) {
        taken[i] = T_MALLOC(SIZE);
        memset(taken[i], 7, SIZE);
        reused += is_one_of_blocks(taken[i]);
    }
    return (void *)reused;
}

/* A thread that owns a heap until released: while it runs, an exiting thread leaves
 * others running, and the depot keeps its blocks for them. */
static sem_t holder_ready, holder_release;

static void *hold(void *unused)
{
    (void)unused;
    T_FREE(T_MALLOC(64));
    sem_post(&holder_ready);
    sem_wait(&holder_release);
    return NULL;
}

static long run_taker(void)
{
    pthread_t t;
    void *reused;
    pthread_create(&t, NULL, take, NULL);
    pthread_join(t, &reused);
    for (int i = 0; i < TAKEN; i++)
        T_FREE(taken[i]);
    return (long)reused;
}

/* Blocks of a heap whose thread is gone, freed by another thread into the depot: when
 * that thread's exit leaves one thread running (this one), the depot gives them back,
 * their span empties and goes back to the pool with no malloc_trim. */
#define SIZE2 200
static char *blocks2[N];
static sem_t allocated, freer_has_heap, owner_gone;

static void *allocate_all2(void *unused)
{
    (void)unused;
    for (int i = 0; i < N; i++) {
        blocks2[i] = T_MALLOC(SIZE2);
        memset(blocks2[i], 2, SIZE2);
    }
    sem_post(&allocated);
    sem_wait(&freer_has_heap); /* alive until then: the freer must not adopt this heap */
    return NULL;
}

static void *free_all2(void *unused)
{
    (void)unused;
    T_FREE(T_MALLOC(5000));
    sem_post(&freer_has_heap);
    sem_wait(&owner_gone);
    for (int i = 0; i < N; i++)
        T_FREE(blocks2[i]);
    return NULL;
}

static void lone_exit_case(void)
{
    sem_init(&allocated, 0, 0);
    sem_init(&freer_has_heap, 0, 0);
    sem_init(&owner_gone, 0, 0);
    pthread_t owner, freer;
    pthread_create(&owner, NULL, allocate_all2, NULL);
    sem_wait(&allocated);
    pthread_create(&freer, NULL, free_all2, NULL);
    pthread_join(owner, NULL);
    sem_post(&owner_gone);
    pthread_join(freer, NULL);
    long spans = class_spans(SIZE2);
    CHECKF(spans == 0 || spans == -1, "%ld spans of the class after the last exit", spans);
}

int main(void)
{
    ebb_stats_t before, during;
    sem_init(&holder_ready, 0, 0);
    sem_init(&holder_release, 0, 0);
    pthread_t holder;
    pthread_create(&holder, NULL, hold, NULL);
    sem_wait(&holder_ready);
    bool stats = t_stats(&before);
    for (int i = 0; i < N; i++) {
        blocks[i] = T_MALLOC(SIZE);
        memset(blocks[i], 1, SIZE);
    }
    /* A second thread frees them all: its bin of the class (64 blocks) overflows into
     * the depot, which keeps a bin's worth; the rest go back to the main thread's span.
     * The thread's exit gives its own bin back to the span too. */
    pthread_t t;
    pthread_create(&t, NULL, free_all, NULL);
    pthread_join(t, NULL);
    if (stats) {
        t_stats(&during);
        CHECKF(during.live_bytes <= before.live_bytes + 4096,
               "%zu live bytes after the frees, %zu before", during.live_bytes,
               before.live_bytes);
    }
    /* A third thread, with a heap of its own: its blocks come from the depot. */
    long reused = run_taker();
    CHECKF(reused == TAKEN, "%ld of %d blocks from the depot", reused, TAKEN);
    /* The depot still holds what the third thread did not take, used in their span as
     * far as the span knows; once malloc_trim has given them back, every block of the
     * class is free and no span of the class is left. */
    T_TRIM(0);
    long spans = class_spans(SIZE);
    CHECKF(spans == 0 || spans == -1, "%ld spans of the class after malloc_trim", spans);
    sem_post(&holder_release);
    pthread_join(holder, NULL);
    lone_exit_case();
    return check_report("depot");
}
