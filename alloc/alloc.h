/* alloc.h — the entry points, as inline functions, so that the prefixed API (alloc.c)
 * and the standard symbols (override.c) each get the fast path inlined, not a call.
 *
 * Fast path of malloc: thread's heap -> class -> the cache bin, else the current span's
 * free list; no lock, no atomic read-modify-write. Fast path of free: address map ->
 * span and class -> check the pointer -> push on the cache bin; a full bin sends the
 * block to its span's local free list if this thread owns the span, else its older
 * half to the depot (depot.c), or the block to the span's remote list with one
 * compare-and-swap when the depot is full. */
#ifndef EBB_ALLOC_H
#define EBB_ALLOC_H

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "sizeclass.h"

/* A block of class cls or, when not `exact`, possibly of a slightly larger one. */
static inline void *ebb_alloc_class(size_t cls, bool exact)
{
    ebb_heap_t *heap = ebb_tls_heap;
    ebb_bin_t *bin = &heap->bin[cls];
    uint32_t n = atomic_load_explicit(&bin->count, memory_order_relaxed);
    if (ebb_likely(n != 0)) {
        atomic_store_explicit(&bin->count, --n, memory_order_relaxed);
        ebb_block_t *b = bin->slots[n];
        ebb_untag(b); /* a block in use must not look cached */
        return b;
    }
    void *p = ebb_span_pop(heap->current[cls]);
    if (ebb_likely(p))
        return p;
    return ebb_heap_malloc_slow(heap, cls, exact);
}

static inline void *ebb_core_alloc(size_t size)
{
    if (ebb_likely(size <= EBB_SMALL_LOOKUP_MAX))
        return ebb_alloc_class(ebb_class_of_small[(size + 15) >> 4], false);
    if (size <= EBB_MAX_CLASS_SIZE)
        return ebb_alloc_class(ebb_class_of(size), false);
    ebb_ensure_init();
    return ebb_large_alloc(size, 0, false);
}

/* Abort unless p is the start of one of span s's blocks. */
static inline void ebb_check_block_start(const ebb_span_t *s, const void *p, const char *func)
{
    /* p lies in the span (the map found it there) */
    if (ebb_unlikely(!ebb_block_starts_at(s, (uintptr_t)p - s->start)))
        ebb_fatal_ptr(func, "invalid pointer (not the start of a block)", p);
}

/* The block p points to, checked: abort unless p is the start of a block ebb handed
 * out and not freed (a freed large block kept for reuse, a block in a cache). Returns
 * the span, or NULL with *large set for a large block. */
static inline ebb_span_t *ebb_block_lookup(const void *p, const char *func, ebb_large_t **large)
{
    uintptr_t entry = ebb_map_entry((uintptr_t)p);
    if (ebb_unlikely(!entry))
        ebb_fatal_ptr(func, "invalid pointer", p);
    if (ebb_unlikely(!(entry & EBB_MAP_TAG_MASK))) {
        *large = (ebb_large_t *)entry;
        if (ebb_unlikely((uintptr_t)p != (*large)->base))
            ebb_fatal_ptr(func, "invalid pointer (inside a large block)", p);
        if (ebb_unlikely((*large)->cached))
            ebb_fatal_freed(func, p);
        return NULL;
    }
    ebb_span_t *s = ebb_span_of_entry(entry);
    if (ebb_unlikely(atomic_load_explicit(&s->heap, memory_order_relaxed) == NULL))
        ebb_fatal_ptr(func, "invalid pointer (double free or never allocated)", p);
    ebb_check_block_start(s, p, func);
    if (ebb_unlikely(EBB_CHECKS_FREE &&
                     ((const ebb_block_t *)p)->next_enc == ebb_cached_tag(s, p)))
        ebb_fatal_freed(func, p);
    return s;
}

/* The end of free() once the pointer is checked: into the heap's cache, or when the
 * bin is full to the block's span (the blocks a thread frees beyond what it allocates
 * again soon are better there, where their span can empty). */
static inline void ebb_free_block(ebb_heap_t *heap, ebb_bin_t *bin, ebb_span_t *s,
                                  ebb_block_t *b)
{
    uintptr_t tag = ebb_cached_tag(s, b); /* before the stores: the key is loaded once */
    uint32_t n = atomic_load_explicit(&bin->count, memory_order_relaxed);
    if (ebb_likely(n < bin->max)) {
        bin->slots[n] = b;
        atomic_store_explicit(&bin->count, n + 1, memory_order_relaxed);
        if (EBB_CHECKS_FREE) /* as ebb_tag_cached, with the tag computed above */
            b->next_enc = tag;
        return;
    }
    ebb_heap_t *owner = atomic_load_explicit(&s->heap, memory_order_relaxed);
    if (ebb_unlikely(heap->armed)) {
        ebb_heap_free_armed(heap, s, b);
        return;
    }
    if (owner != heap) {
        if (owner == &ebb_shared_heap)
            ebb_cache_overflow(heap, s, b);
        else
            ebb_depot_put(heap, s, b);
        return;
    }
    ebb_free_local(heap, s, b);
}

/* Every exit from the fast path below is a tail call, so that it needs no stack frame. */
static inline void ebb_core_free(void *p, const char *func)
{
    uintptr_t entry = ebb_map_entry((uintptr_t)p);
    uintptr_t tag = entry & EBB_MAP_TAG_MASK;
    if (ebb_unlikely(!tag)) { /* a large block, NULL (the map has nothing at 0), or not
                                 ebb's */
        ebb_free_other(p, func);
        return;
    }
    ebb_span_t *s = (ebb_span_t *)(entry - tag);
    ebb_block_t *b = (ebb_block_t *)p;
    /* Not a block's start, or a span in the pool (its start_limit is 0, so that its
     * owner need not be read here): reported there. */
    if (ebb_unlikely(!ebb_block_starts_at(s, (uintptr_t)p - s->start))) {
        ebb_free_other(p, func);
        return;
    }
    ebb_heap_t *heap = ebb_tls_heap;
    /* The link word XOR-ed with the span's key and the block's address: below 4 MiB
     * (the largest span) for every block on a free list (a link inside this span, which
     * is aligned to its size, or the end of the list, which links to itself) and for a
     * block in some thread's cache (EBB_CACHED_MARK); a live block's data almost never
     * is, and ebb_free_suspect tells the cases apart. The read is most of what free()
     * costs when the block is not in this core's cache (bench/tradeoffs.py measures a
     * build without it, EBB_FREE_CHECK=OFF in CMake). */
    uintptr_t x = b->next_enc ^ ((uintptr_t)b ^ s->key); /* as the tag's, for one XOR */
    if (ebb_unlikely(EBB_CHECKS_FREE && (x >> EBB_CHUNK_SHIFT) == 0)) {
        ebb_free_suspect(heap, s, b, func);
        return;
    }
    /* An owned span's tag is its class + 1 (ebb_span_init sets it before the owner):
     * its bin, addressed from the tag with one shift and one add. */
    ebb_bin_t *bin = (ebb_bin_t *)((char *)heap + offsetof(ebb_heap_t, bin) +
                                   (tag - 1) * sizeof(ebb_bin_t));
    ebb_free_block(heap, bin, s, b);
}

static inline size_t ebb_core_usable(const void *p, const char *func)
{
    if (!p)
        return 0;
    ebb_large_t *large;
    ebb_span_t *s = ebb_block_lookup(p, func, &large);
    return s ? s->block_size : large->usable;
}

void *ebb_core_aligned(size_t align, size_t size); /* alloc.c; align a power of two */

/* The entry points the API files call: the allocator itself, or in libebb-debug.so the
 * checking layer around it (debug.h). */
#ifdef EBB_DEBUG_BUILD
#include "debug.h"
static inline void *ebb_alloc_impl(size_t size)
{
    return ebb_debug_alloc(size, 0, "malloc");
}
static inline void ebb_free_impl(void *p, const char *func)
{
    ebb_debug_free(p, func);
}
static inline size_t ebb_usable_impl(const void *p, const char *func)
{
    return ebb_debug_usable(p, func);
}
#else
static inline void *ebb_alloc_impl(size_t size)
{
    return ebb_core_alloc(size);
}
static inline void ebb_free_impl(void *p, const char *func)
{
    ebb_core_free(p, func);
}
static inline size_t ebb_usable_impl(const void *p, const char *func)
{
    return ebb_core_usable(p, func);
}
#endif

/* alloc.c — the entry points beyond the fast paths; `func` names the caller's function
 * in misuse messages ("free", "ebb_free", ...). */
void *ebb_calloc_impl(size_t count, size_t size);
void *ebb_realloc_impl(void *p, size_t size, const char *func);
void *ebb_reallocarray_impl(void *p, size_t count, size_t size, const char *func);
void *ebb_aligned_impl(size_t align, size_t size);
void *ebb_memalign_impl(size_t align, size_t size, bool zero_ok);
int ebb_posix_memalign_impl(void **out, size_t align, size_t size);
void *ebb_valloc_impl(size_t size);
void *ebb_pvalloc_impl(size_t size);
void ebb_free_sized_impl(void *p, size_t size, const char *func);

#endif /* EBB_ALLOC_H */
