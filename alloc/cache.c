/* cache.c — each heap's cache of freed blocks (ebb_bin_t in types.h): the bins' sizes,
 * flushing, and the armed heap's fill. The pushes and pops are in alloc.h.
 *
 * Why a cache in front of the spans: free() then writes nothing the span's owner reads
 * (no list head, no counter in the span's lines), and malloc() pops a pointer from an
 * array instead of following a link through the block's memory. A block freed by
 * another thread than its span's owner is reused by the thread that freed it, instead
 * of going back with a compare-and-swap on a line the owner keeps writing. A free into
 * a full bin goes to the block's span as before: a thread freeing more than it
 * allocates again soon gives those blocks back where their spans can empty. */
#include <string.h>

#include "internal.h"
#include "sizeclass.h"

/* Each bin holds up to BIN_BYTES of blocks (twice that up to 256 bytes, where programs
 * allocate most), and between BIN_MIN and BIN_MAX of them: 64 blocks of every class up
 * to 256 bytes, 8 of 1 KiB, 2 of 4 KiB; 1329 slots in all. A thread's cache then holds
 * at most 374 KiB, all of it blocks the program freed and whose class it allocated
 * recently; it goes back at the thread's exit and at malloc_trim (a thread that sleeps
 * keeps it meanwhile). */
#define BIN_BYTES 8192
#define BIN_MIN 2
#define BIN_MAX 64
_Static_assert(EBB_CACHE_SLOTS >= EBB_CACHED_CLASSES * BIN_MAX, "every bin fits the stacks");

static uint32_t bin_size[EBB_CACHED_CLASSES];

void ebb_cache_init(void)
{
    for (unsigned c = 0; c < EBB_CACHED_CLASSES; c++) {
        size_t n = (ebb_class_size(c) <= 256 ? 2 * BIN_BYTES : BIN_BYTES) / ebb_class_size(c);
        bin_size[c] = (uint32_t)(n < BIN_MIN ? BIN_MIN : n > BIN_MAX ? BIN_MAX : n);
    }
}

/* Caching on, and an armed heap's held blocks back in sight of the fast paths. */
void ebb_cache_on(ebb_heap_t *heap)
{
#ifndef EBB_DEBUG_BUILD /* the debug library checks every free and malloc */
    if (!heap->bin[0].slots) /* the orphan heap has no stacks */
        return;
    for (unsigned c = 0; c < EBB_CACHED_CLASSES; c++) {
        ebb_bin_t *bin = &heap->bin[c];
        uint32_t held = atomic_load_explicit(&bin->held, memory_order_relaxed);
        atomic_store_explicit(&bin->count, held, memory_order_relaxed);
        atomic_store_explicit(&bin->held, 0, memory_order_relaxed);
        bin->max = bin_size[c];
    }
#else
    (void)heap;
#endif
}

void ebb_cache_setup(ebb_heap_t *heap)
{
    void **next = heap->cache_slots;
    for (unsigned c = 0; c < EBB_CACHED_CLASSES; c++) {
        heap->bin[c].slots = next;
        next += bin_size[c];
    }
    ebb_cache_on(heap);
}

/* A cached block back to its span: a local free if this heap owns the span, else a
 * remote free. */
static void release(ebb_heap_t *heap, ebb_block_t *b)
{
    ebb_span_t *s = ebb_span_of_entry(ebb_map_entry((uintptr_t)b));
    if (atomic_load_explicit(&s->heap, memory_order_relaxed) == heap)
        ebb_free_local(heap, s, b);
    else
        ebb_span_remote_free(s, b);
}

/* Give back every block of a bin (held or not). They leave the bin before any is
 * released, since releasing may arm the heap, which flushes the whole cache again. */
static void flush_bin(ebb_heap_t *heap, unsigned cls)
{
    ebb_bin_t *bin = &heap->bin[cls];
    uint32_t n = atomic_load_explicit(&bin->count, memory_order_relaxed) +
                 atomic_load_explicit(&bin->held, memory_order_relaxed);
    if (n == 0)
        return;
    void *out[BIN_MAX];
    memcpy(out, bin->slots, n * sizeof(void *));
    atomic_store_explicit(&bin->count, 0, memory_order_relaxed);
    atomic_store_explicit(&bin->held, 0, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++)
        release(heap, out[i]);
}

void ebb_cache_flush(ebb_heap_t *heap)
{
    for (unsigned c = 0; c < EBB_CACHED_CLASSES; c++)
        flush_bin(heap, c);
}

/* Arming: what is cached goes back to the spans (it was freed before the memory that
 * waits now, and its spans may empty), and the bins are hidden: the fast paths see
 * them empty and full, so every call that the cache would serve reaches the slow path,
 * which reads the clock (a program that frees much and then makes a single call after
 * the delay gets its memory back) and then uses the held blocks below. */
void ebb_cache_off(ebb_heap_t *heap)
{
    for (unsigned c = 0; c < EBB_CACHED_CLASSES; c++)
        heap->bin[c].max = 0;
    ebb_cache_flush(heap);
}

ebb_block_t *ebb_cache_held_pop(ebb_heap_t *heap, unsigned cls)
{
    ebb_bin_t *bin = &heap->bin[cls];
    uint32_t n = atomic_load_explicit(&bin->held, memory_order_relaxed);
    if (n == 0)
        return NULL;
    atomic_store_explicit(&bin->held, --n, memory_order_relaxed);
    ebb_block_t *b = bin->slots[n];
    b->next_enc = 0; /* the tag off, as in the fast path */
    return b;
}

bool ebb_cache_held_push(ebb_heap_t *heap, ebb_span_t *s, ebb_block_t *b)
{
#ifdef EBB_DEBUG_BUILD
    (void)heap, (void)s, (void)b;
    return false;
#else
    ebb_bin_t *bin = &heap->bin[s->cls];
    uint32_t n = atomic_load_explicit(&bin->held, memory_order_relaxed);
    if (s->cls >= EBB_CACHED_CLASSES || !bin->slots || n >= bin_size[s->cls])
        return false;
    bin->slots[n] = b;
    atomic_store_explicit(&bin->held, n + 1, memory_order_relaxed);
    b->next_enc = ebb_cached_tag(s, b);
    return true;
#endif
}

/* An armed heap's slow path: up to n blocks of s into the held part of its bin. */
void ebb_cache_fill(ebb_heap_t *heap, ebb_span_t *s, uint32_t n)
{
#ifdef EBB_DEBUG_BUILD /* never cached: every block passes the debug checks */
    (void)heap, (void)s, (void)n;
#else
    ebb_bin_t *bin = &heap->bin[s->cls];
    uint32_t held = atomic_load_explicit(&bin->held, memory_order_relaxed);
    if (s->cls >= EBB_CACHED_CLASSES || !bin->slots || n > bin_size[s->cls] - held)
        return;
    for (; n; n--) {
        ebb_block_t *b = ebb_span_pop(s);
        if (!b)
            break;
        b->next_enc = ebb_cached_tag(s, b);
        bin->slots[held++] = b;
    }
    atomic_store_explicit(&bin->held, held, memory_order_relaxed);
#endif
}

size_t ebb_cache_blocks(const ebb_heap_t *heap, unsigned cls)
{
    return atomic_load_explicit(&heap->bin[cls].count, memory_order_relaxed) +
           atomic_load_explicit(&heap->bin[cls].held, memory_order_relaxed);
}
