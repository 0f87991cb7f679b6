/* cache.c — each heap's cache of freed blocks (ebb_bin_t in types.h): the bins' sizes,
 * flushing, and the armed heap's fill. The pushes and pops are in alloc.h.
 *
 * Why a cache in front of the spans: free() then writes nothing the span's owner reads
 * (no list head, no counter in the span's lines), and malloc() pops a pointer from an
 * array instead of following a link through the block's memory. A block freed by
 * another thread than its span's owner is reused by the thread that freed it, instead
 * of going back with a compare-and-swap on a line the owner keeps writing. A free into
 * a full bin of a block of this thread's span goes to the span: a thread freeing more
 * than it allocates again soon gives those blocks back where their spans can empty.
 * One of another thread's span moves the older half of the bin to the depot (depot.c),
 * for any thread that would otherwise carve new blocks of the class. */
#include <string.h>

#include "internal.h"
#include "sizeclass.h"

/* Each bin holds up to BIN_BYTES of blocks (twice that up to 256 bytes, where programs
 * allocate most), and between BIN_MIN and BIN_MAX of them: 64 blocks of every class up
 * to 256 bytes, 8 of 1 KiB, 2 of 4 KiB (8 with EBB_SHARED=1); 1329 slots in all (1400). A
 * thread's cache then holds at most 374 KiB (560 KiB), all of it
 * blocks the program freed and whose class it allocated
 * recently; it goes back at the thread's exit and at malloc_trim (a thread that sleeps
 * keeps it meanwhile). */
#define BIN_BYTES 8192
#define BIN_MIN 2
#define BIN_MAX EBB_BIN_MAX
/* With EBB_SHARED=1, at least this many: a refill from the shared heap brings half a
 * bin, and an overflow gives back half, each under its lock. */
#define SHARED_BIN_MIN 8
_Static_assert(EBB_CACHE_SLOTS >= EBB_CACHED_CLASSES * BIN_MAX, "every bin fits the stacks");

static uint32_t bin_size[EBB_CACHED_CLASSES];

void ebb_cache_init(void)
{
    for (unsigned c = 0; c < EBB_CACHED_CLASSES; c++) {
        size_t n = (ebb_class_size(c) <= 256 ? 2 * BIN_BYTES : BIN_BYTES) / ebb_class_size(c);
        size_t min = ebb_opt.shared ? SHARED_BIN_MIN : BIN_MIN;
        bin_size[c] = (uint32_t)(n < min ? min : n > BIN_MAX ? BIN_MAX : n);
    }
}

/* Caching on, and an armed heap's held blocks back in sight of the fast paths. */
void ebb_cache_on(ebb_heap_t *heap)
{
#ifndef EBB_DEBUG_BUILD /* the debug library checks every free and malloc */
    if (!heap->bin[0].slots) /* the shared heap has no stacks */
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

/* Blocks of the shared heap on their way back to it, given back under one lock for up
 * to RELEASE_BATCH of them: a thread's exit flushes a few blocks of many classes (400
 * short threads took the lock 48 times each when every bin went back alone). */
#define RELEASE_BATCH 128
typedef struct shared_batch {
    ebb_block_t *blocks[RELEASE_BATCH];
    uint32_t n;
    bool purge;
} shared_batch_t;

/* Only the count and the flag: an initialiser would zero the whole array, 1 KiB of
 * stores on every call (an armed heap's free of one block spent 130 of its 150
 * instructions on them; the fragment trace's replay ran 14% more instructions). */
#define SHARED_BATCH(name, purge_flag)                                                       \
    shared_batch_t name;                                                                     \
    name.n = 0;                                                                              \
    name.purge = (purge_flag)

static void shared_batch_flush(shared_batch_t *sb)
{
    if (sb->n == 0)
        return;
    ebb_shared_release(sb->blocks, sb->n, sb->purge);
    sb->n = 0;
    /* this thread, not the shared heap, watches the clock for their decay */
    ebb_heap_freed_unowned();
}

/* Cached blocks back to their spans, once out of the bin (releasing may arm the heap,
 * which flushes the whole cache again): each of them by a local free if this heap owns
 * its span, else into `sb` if the shared heap does, else by a remote free. A block's
 * owner is read once: a span that the shared heap's frees empty may go to another
 * heap. */
static void release(ebb_heap_t *heap, ebb_block_t **out, uint32_t n, shared_batch_t *sb)
{
    for (uint32_t i = 0; i < n; i++) {
        ebb_span_t *s = ebb_span_of_entry(ebb_map_entry((uintptr_t)out[i]));
        ebb_heap_t *owner = atomic_load_explicit(&s->heap, memory_order_relaxed);
        if (owner == heap) {
            ebb_free_local(heap, s, out[i]);
        } else if (owner == &ebb_shared_heap) {
            if (sb->n == RELEASE_BATCH)
                shared_batch_flush(sb);
            sb->blocks[sb->n++] = out[i];
        } else {
            ebb_span_remote_free(s, out[i]);
        }
    }
}

/* Give back every block of a bin (held or not). */
static void flush_bin(ebb_heap_t *heap, unsigned cls, shared_batch_t *sb)
{
    ebb_bin_t *bin = &heap->bin[cls];
    bin->fill = 0; /* the next refills start small again: the next owner may be new */
    uint32_t n = atomic_load_explicit(&bin->count, memory_order_relaxed) +
                 atomic_load_explicit(&bin->held, memory_order_relaxed);
    if (n == 0)
        return;
    ebb_block_t *out[BIN_MAX];
    memcpy(out, bin->slots, n * sizeof(void *));
    atomic_store_explicit(&bin->count, 0, memory_order_relaxed);
    atomic_store_explicit(&bin->held, 0, memory_order_relaxed);
    release(heap, out, n, sb);
}

void ebb_cache_release(ebb_heap_t *heap, ebb_block_t **blocks, uint32_t n)
{
    SHARED_BATCH(sb, false);
    release(heap, blocks, n, &sb);
    shared_batch_flush(&sb);
}

void ebb_cache_release_one(ebb_heap_t *heap, ebb_block_t *b)
{
    ebb_cache_release(heap, &b, 1);
}

/* free() of a block of the shared heap into a full bin: the block stays, the next to be
 * reused, and the older half of the bin goes back, so that a thread freeing more than it
 * allocates takes the shared lock once per half bin. A heap that does not cache (the
 * empty heap; every heap in the debug library) gives back the block alone. */
void ebb_cache_overflow(ebb_heap_t *heap, ebb_span_t *s, ebb_block_t *b)
{
    ebb_bin_t *bin = &heap->bin[s->cls];
    uint32_t n = atomic_load_explicit(&bin->count, memory_order_relaxed);
    if (n == 0) {
        ebb_cache_release_one(heap, b);
        return;
    }
    SHARED_BATCH(sb, false);
    uint32_t k = (n + 1) / 2;
    ebb_block_t *out[BIN_MAX];
    memcpy(out, bin->slots, k * sizeof(void *));
    ebb_cache_keep_newer(bin, n, k, s, b);
    release(heap, out, k, &sb);
    shared_batch_flush(&sb);
}

void ebb_cache_keep_newer(ebb_bin_t *bin, uint32_t n, uint32_t k, ebb_span_t *s, ebb_block_t *b)
{
    memmove(bin->slots, bin->slots + k, (n - k) * sizeof(void *));
    bin->slots[n - k] = b;
    atomic_store_explicit(&bin->count, n - k + 1, memory_order_relaxed);
    ebb_tag_cached(s, b);
}

/* How many blocks a refill from the shared heap brings besides the one malloc returns:
 * what an armed heap holds, or 2 at first and twice the last refill's after, up to half
 * the bin. A thread that starts takes a few blocks of many classes: half a bin at once
 * made the 400-thread trace write and fault blocks it never used (allocator time 22.6
 * -> 17.9 ms, peak 5.15 -> 4.84 MiB; starting at 4, 18.3 ms). */
uint32_t ebb_cache_refill_size(const ebb_heap_t *heap, unsigned cls)
{
#ifdef EBB_DEBUG_BUILD /* never cached: every block passes the debug checks */
    (void)heap, (void)cls;
    return 0;
#else
    const ebb_bin_t *bin = &heap->bin[cls];
    if (heap->armed) {
        uint32_t room = bin_size[cls] - atomic_load_explicit(&bin->held, memory_order_relaxed);
        return room < EBB_ARMED_FILL ? room : EBB_ARMED_FILL;
    }
    uint32_t n = atomic_load_explicit(&bin->count, memory_order_relaxed);
    uint32_t want = bin->fill ? 2 * bin->fill : 2;
    if (want > bin->max / 2)
        want = bin->max / 2;
    return n < want ? want - n : 0;
#endif
}

/* A refill's blocks into the bin (empty: the refill came because it was), or into its
 * held part if the heap is armed. */
void ebb_cache_put(ebb_heap_t *heap, unsigned cls, ebb_block_t *const *blocks, uint32_t n)
{
    ebb_bin_t *bin = &heap->bin[cls];
    _Atomic uint32_t *part = heap->armed ? &bin->held : &bin->count;
    uint32_t at = atomic_load_explicit(part, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++) {
        ebb_block_t *b = blocks[i];
        ebb_tag_cached(ebb_span_of_entry(ebb_map_entry((uintptr_t)b)), b);
        bin->slots[at++] = b;
    }
    atomic_store_explicit(part, at, memory_order_relaxed);
    if (!heap->armed && n)
        bin->fill = n;
}

void ebb_cache_flush(ebb_heap_t *heap, bool purge)
{
    SHARED_BATCH(sb, purge);
    for (unsigned c = 0; c < EBB_CACHED_CLASSES; c++)
        flush_bin(heap, c, &sb);
    shared_batch_flush(&sb);
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
    ebb_cache_flush(heap, false);
}

ebb_block_t *ebb_cache_held_pop(ebb_heap_t *heap, unsigned cls)
{
    ebb_bin_t *bin = &heap->bin[cls];
    uint32_t n = atomic_load_explicit(&bin->held, memory_order_relaxed);
    if (n == 0)
        return NULL;
    atomic_store_explicit(&bin->held, --n, memory_order_relaxed);
    ebb_block_t *b = bin->slots[n];
    ebb_untag(b); /* as in the fast path */
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
    ebb_tag_cached(s, b);
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
        ebb_tag_cached(s, b);
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
