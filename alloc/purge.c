/* purge.c — when free memory goes back to the kernel. Free spans and cached large
 * blocks wait EBB_DECAY_MS after their release (so a program that frees and
 * allocates in a loop keeps reusing resident memory), then the decay purges them in
 * batches. The decay runs from the allocator's slow paths, at most every quarter of
 * the delay; ebb_purge_all() (malloc_trim, thread exit) purges everything at once. */
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "internal.h"

static _Atomic uint64_t next_decay; /* ms; when the decay should look again */

/* EBB_BACKGROUND=1: a thread that runs the decay on time, so that memory goes back
 * even if the program makes no more calls. Started by the first slow path that finds
 * it missing (never from inside the dynamic loader), with every signal blocked;
 * detached, so it neither keeps the process alive nor needs joining. A fork child has
 * none until its own first slow path starts one. */
static _Atomic int background_state; /* 0 none, 1 running */

static void *background_main(void *arg)
{
    (void)arg;
    long step = ebb_opt.decay_ms / 4 > 10 ? ebb_opt.decay_ms / 4 : 10;
    struct timespec ts = {step / 1000, (step % 1000) * 1000000L};
    for (;;) {
        nanosleep(&ts, NULL);
        ebb_pool_decay(false);
        ebb_large_decay(false);
        ebb_heaps_collect_abandoned();
    }
    return NULL;
}

static void background_start(void)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&background_state, &expected, 1))
        return;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the new thread inherits the mask */
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    if (pthread_create(&t, &attr, background_main, NULL) == 0)
        pthread_setname_np(t, "ebb-purge");
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void ebb_purge_after_fork_child(void)
{
    atomic_store(&background_state, 0);
}

bool ebb_purge_due(uint64_t now)
{
    return ebb_opt.decay_ms > 0 && now >= atomic_load_explicit(&next_decay, memory_order_relaxed);
}

bool ebb_purge_tick(void)
{
    return ebb_purge_tick_at(ebb_now_ms());
}

bool ebb_purge_tick_at(uint64_t now)
{
    if (ebb_opt.decay_ms <= 0)
        return false;
    if (ebb_unlikely(ebb_opt.background) && !atomic_load_explicit(&background_state,
                                                                  memory_order_relaxed))
        background_start();
    uint64_t due = atomic_load_explicit(&next_decay, memory_order_relaxed);
    if (now < due)
        return false;
    uint64_t step = (uint64_t)ebb_opt.decay_ms / 4 + 1;
    if (!atomic_compare_exchange_strong_explicit(&next_decay, &due, now + step,
                                                 memory_order_relaxed, memory_order_relaxed))
        return false; /* another thread runs it */
    ebb_pool_decay(false);
    ebb_large_decay(false);
    return true;
}

void ebb_purge_all(void)
{
    ebb_pool_decay(true);
    ebb_large_decay(true);
}
