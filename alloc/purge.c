/* purge.c — when free memory goes back to the kernel. Free spans and cached large
 * blocks wait EBB_DECAY_MS after their release (so a program that frees and
 * allocates in a loop keeps reusing resident memory), then the decay purges them in
 * batches. The decay runs from the allocator's slow paths, at most every quarter of
 * the delay; ebb_purge_all() (malloc_trim, thread exit) purges everything at once. */
#include "internal.h"

static _Atomic uint64_t next_decay; /* ms; when the decay should look again */

bool ebb_purge_tick(void)
{
    if (ebb_opt.decay_ms <= 0)
        return false;
    uint64_t now = ebb_now_ms();
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
