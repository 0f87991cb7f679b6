/* depot.c — blocks that threads freed for other threads' spans, kept for any thread: a
 * stack of block pointers per cached class, under one lock, between the heaps' caches
 * (cache.c) and the spans.
 *
 * Why: a block freed by another thread than its span's owner goes to the freeing
 * thread's cache, and once that bin is full, back to its span, where only the owner can
 * take it again. With threads that free each other's blocks at random (a server's
 * workers), what comes back to a heap's spans and what that heap allocates differ from
 * moment to moment: one heap's spans fill with free blocks while another, finding none
 * of its own, carves new pages. The resident memory then keeps growing while live
 * bytes stay level (the `server` trace: 2.51 MiB at a tenth of the replay, 3.34 at its
 * end, for 1.55 MiB live). Here, the older half of a full bin waits for whichever thread
 * next needs a block of its class and would carve one otherwise.
 *
 * Blocks keep the cached tag (ebb_cached_tag) they had in the bin, so that a free of a
 * block in the depot is a double free, caught as in a cache; moving them writes only
 * pointers, never the blocks. As cached blocks, they count as used in their spans and
 * as free in the statistics. The depot holds at most a bin's worth of each class; a
 * full one leaves the overflow to the spans as before. The decay and malloc_trim give
 * everything back to the spans (ebb_depot_flush).
 *
 * Invariants (under ebb_depot_lock): ebb_depot_count[c] <= EBB_BIN_MAX, and
 * slots[c][0, ebb_depot_count[c]) are distinct blocks of class c, tagged as cached, in
 * no heap's cache. The lock is a leaf: nothing else is taken while it is held (fork.c
 * takes it last). */
#include <string.h>

#include "internal.h"

/* The smallest full bin that overflows into the depot: 8 blocks, classes up to 1 KiB. */
#define DEPOT_MIN_BIN 8

ebb_lock_t ebb_depot_lock = EBB_LOCK_INIT;
_Atomic uint32_t ebb_depot_count[EBB_CACHED_CLASSES];
static ebb_block_t *slots[EBB_CACHED_CLASSES][EBB_BIN_MAX]; /* oldest first */

/* The k oldest of a full bin's blocks onto the depot of class cls; false if it has no
 * room for them (checked first without the lock, which a full depot then never takes). */
static bool push_oldest(unsigned cls, const ebb_bin_t *bin, uint32_t k)
{
    if (atomic_load_explicit(&ebb_depot_count[cls], memory_order_relaxed) + k > bin->max)
        return false;
    ebb_lock(&ebb_depot_lock);
    uint32_t at = atomic_load_explicit(&ebb_depot_count[cls], memory_order_relaxed);
    bool room = at + k <= bin->max;
    if (room) {
        memcpy(&slots[cls][at], bin->slots, k * sizeof(void *));
        atomic_store_explicit(&ebb_depot_count[cls], at + k, memory_order_relaxed);
    }
    ebb_unlock(&ebb_depot_lock);
    return room;
}

void ebb_depot_put(ebb_heap_t *heap, ebb_span_t *s, ebb_block_t *b)
{
    unsigned cls = s->cls;
    ebb_bin_t *bin = &heap->bin[cls];
    uint32_t n = atomic_load_explicit(&bin->count, memory_order_relaxed);
    uint32_t k = (n + 1) / 2;
    /* Not cached (a class above 4 KiB, a heap that never caches, the debug library), or
     * bins too small for the lock to pay: with 2 to 4 blocks a bin (2-4 KiB), a block or
     * two moved per lock cost more than the remote frees they replace (`prodcons`
     * trace: allocator time 7.3 -> 7.6 ms). */
    if (cls >= EBB_CACHED_CLASSES || n < DEPOT_MIN_BIN || !push_oldest(cls, bin, k)) {
        ebb_span_remote_free(s, b);
        return;
    }
    ebb_cache_keep_newer(bin, n, k, s, b);
}

ebb_block_t *ebb_depot_take(ebb_heap_t *heap, unsigned cls)
{
    ebb_bin_t *bin = &heap->bin[cls];
    uint32_t have = atomic_load_explicit(&bin->count, memory_order_relaxed);
    uint32_t want = bin->max / 2 + 1; /* one for this malloc, half a bin for the next */
    if (want > bin->max - have + 1)
        want = bin->max - have + 1;
    ebb_lock(&ebb_depot_lock);
    uint32_t at = atomic_load_explicit(&ebb_depot_count[cls], memory_order_relaxed);
    uint32_t k = at < want ? at : want;
    at -= k;
    if (k > 1)
        memcpy(&bin->slots[have], &slots[cls][at + 1], (k - 1) * sizeof(void *));
    ebb_block_t *b = k ? slots[cls][at] : NULL;
    atomic_store_explicit(&ebb_depot_count[cls], at, memory_order_relaxed);
    ebb_unlock(&ebb_depot_lock);
    if (!b)
        return NULL;
    atomic_store_explicit(&bin->count, have + k - 1, memory_order_relaxed);
    ebb_untag(b); /* as in the fast path */
    return b;
}

void ebb_depot_flush(void)
{
    ebb_block_t *out[EBB_BIN_MAX];
    for (unsigned c = 0; c < EBB_CACHED_CLASSES; c++) {
        if (atomic_load_explicit(&ebb_depot_count[c], memory_order_relaxed) == 0)
            continue;
        ebb_lock(&ebb_depot_lock);
        uint32_t n = atomic_load_explicit(&ebb_depot_count[c], memory_order_relaxed);
        memcpy(out, slots[c], n * sizeof(void *));
        atomic_store_explicit(&ebb_depot_count[c], 0, memory_order_relaxed);
        ebb_unlock(&ebb_depot_lock);
        ebb_cache_release(ebb_tls_heap, out, n);
    }
}
