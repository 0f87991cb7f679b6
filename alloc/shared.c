/* shared.c — the shared heap: with EBB_SHARED=1, the spans from which every thread but
 * the first takes its blocks of the cached classes (up to 4 KiB), in batches, under one
 * lock. Off by default: it trades speed for memory, below.
 *
 * Why: a heap that owns a span of every class it uses keeps, in each thread, a partly
 * carved page or more per class, and the blocks freed into its spans serve its own
 * mallocs only. With a few threads allocating and freeing each other's small blocks,
 * that is most of the difference to glibc's peak. The blocks a thread frees still go
 * to its own cache first, whoever allocated them, and its mallocs are served from
 * there; only the refill of an empty bin and the overflow of a full one reach the
 * shared heap, a few blocks at first and up to half a bin at a time.
 * Measured (alternating, medians of 5; README, "The shared heap"): peak RSS on the
 * `server` trace 3.52 -> 3.08 MiB (glibc 2.75), `python-threads` 4.27 -> 3.96 (glibc
 * 3.70), 400 short threads 5.30 -> 4.74, the larson workload 16.0 -> 11.5 MiB and 378
 * -> 345 ms. The cost, which keeps it off by default: the replays' allocator time is
 * 1.1-1.5x, and blocks freed by other threads than their allocator's (falseshare) 1.6x.
 * Not the lock's (no measurable wait; a lock per group of classes did not help): each
 * refilled block's line, last written by another core, is read and written here (popped
 * off a span's list, then tagged as cached).
 *
 * The first heap (the first thread to allocate: the main thread of most programs, and
 * the only one of a single-threaded program) keeps spans of its own for every class,
 * and takes no lock. Classes above 4 KiB are not cached, and every heap keeps spans of
 * its own for them: a page holds two blocks or fewer there.
 *
 * The shared heap also serves the threads whose heap their exit gave up (TLS
 * destructors that run after ebb's), with or without the option. Whoever holds the lock
 * is its owner: it frees into it locally, and it is never armed (it has no cache to
 * hide, and every refill would read the clock). Its empty spans go back to the pool as
 * any heap's; the decay, and the exit of the last thread but one, tidy it (heap.c,
 * tidy_shared). Lock order: the collect lock, then this one, then the pool lock (fork.c
 * takes them in that order). */
#include <errno.h>

#include "internal.h"
#include "sizeclass.h"

/* Blocks a refill takes from the shared heap besides the one malloc returns, at most
 * (the bins hold up to 64). */
#define SHARED_BATCH 64

/* internal.h says what each of these is; all of them are written under the lock. */
bool ebb_shared_purging;
_Atomic size_t ebb_shared_freed;
_Atomic ptrdiff_t ebb_shared_net;
uint64_t ebb_shared_used_ms;

void *ebb_shared_alloc(ebb_heap_t *heap, unsigned cls, bool exact)
{
    ebb_block_t *got[SHARED_BATCH];
    uint32_t want = ebb_cache_refill_size(heap, cls), n = 0;
    if (want > SHARED_BATCH)
        want = SHARED_BATCH;
    ebb_lock(&ebb_shared_lock);
    ebb_shared_used_ms = ebb_now_ms();
    void *p = ebb_heap_alloc(&ebb_shared_heap, cls, exact);
    if (p) {
        int saved = errno; /* a failure past the first block is no failure of this call */
        while (n < want && (got[n] = ebb_heap_alloc(&ebb_shared_heap, cls, exact)) != NULL)
            n++;
        errno = saved;
        ptrdiff_t bytes = (ptrdiff_t)((n + 1) * ebb_class_size(cls));
        atomic_store_explicit(&ebb_shared_net,
                              atomic_load_explicit(&ebb_shared_net, memory_order_relaxed) - bytes,
                              memory_order_relaxed);
    }
    ebb_unlock(&ebb_shared_lock);
    ebb_cache_put(heap, cls, got, n);
    return p;
}

void ebb_shared_release(ebb_block_t *const *blocks, uint32_t n, bool purge)
{
    size_t bytes = 0;
    ebb_lock(&ebb_shared_lock);
    ebb_shared_purging = purge;
    if (!purge) /* a quiet heap's purge is no use */
        ebb_shared_used_ms = ebb_now_ms();
    for (uint32_t i = 0; i < n; i++) {
        ebb_block_t *b = blocks[i];
        ebb_span_t *s = ebb_span_of_entry(ebb_map_entry((uintptr_t)b));
        bytes += s->block_size;
        ebb_free_local(&ebb_shared_heap, s, b);
    }
    ebb_shared_purging = false;
    atomic_store_explicit(&ebb_shared_freed,
                          atomic_load_explicit(&ebb_shared_freed, memory_order_relaxed) + bytes,
                          memory_order_relaxed);
    atomic_store_explicit(&ebb_shared_net,
                          atomic_load_explicit(&ebb_shared_net, memory_order_relaxed) +
                              (ptrdiff_t)bytes,
                          memory_order_relaxed);
    ebb_unlock(&ebb_shared_lock);
}

void ebb_shared_check_double_free(ebb_span_t *s, ebb_block_t *b, const char *func)
{
    ebb_lock(&ebb_shared_lock);
    /* still the shared heap's: the span may have emptied and gone to another heap */
    if (atomic_load_explicit(&s->heap, memory_order_relaxed) == &ebb_shared_heap)
        ebb_span_check_double_free(s, b, func);
    ebb_unlock(&ebb_shared_lock);
}
