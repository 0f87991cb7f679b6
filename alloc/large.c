/* large.c — blocks above the largest size class, and blocks grown by realloc past
 * 128 KiB (alloc.c) so that their growth needs no copy: each maps its own pages at a
 * chunk boundary (so no two regions share a granule of the address map), and grows by
 * mremap, in place when the address space after it is free, otherwise by moving the
 * pages to a new aligned place; the bytes are never copied.
 * A freed large block stays mapped in a small cache (newest first) for the decay delay,
 * so that a program allocating and freeing big buffers in a loop does not pay a
 * mapping and a page fault per page each time; a reuse resizes the cached mapping
 * with mremap. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

#define CACHE_MAX_BYTES ((size_t)256 << 20)
#define CACHE_MAX_ENTRIES 16

static ebb_large_t *all_large;   /* live blocks, doubly linked, under the pool lock */
static ebb_large_t *spare_large; /* recycled descriptors */
static ebb_large_t *cache_first, *cache_last; /* freed blocks kept mapped, newest first */
static size_t cache_bytes;   /* mapped */
/* Of which may be resident: written under the pool lock, read without it. */
static _Atomic size_t cache_touched;
static _Atomic size_t cache_count; /* written under the pool lock, read without it */

ebb_large_t *ebb_large_first(void)
{
    return all_large;
}

static ebb_large_t *desc_new(void)
{
    ebb_large_t *l = spare_large;
    if (l)
        spare_large = l->next;
    else
        l = ebb_meta_alloc(sizeof(ebb_large_t));
    return l;
}

static void link_large(ebb_large_t *l)
{
    l->prev = NULL;
    l->next = all_large;
    if (all_large)
        all_large->prev = l;
    all_large = l;
}

static void unlink_large(ebb_large_t *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        all_large = l->next;
    if (l->next)
        l->next->prev = l->prev;
}

static void cache_push(ebb_large_t *l, uint64_t now)
{
    l->cached = true;
    l->freed_at = now;
    l->prev = NULL;
    l->next = cache_first;
    if (cache_first)
        cache_first->prev = l;
    else
        cache_last = l;
    cache_first = l;
    cache_bytes += l->mapped;
    atomic_fetch_add_explicit(&cache_touched, l->touched, memory_order_relaxed);
    atomic_store_explicit(&cache_count, cache_count + 1, memory_order_relaxed);
}

static void cache_remove(ebb_large_t *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        cache_first = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        cache_last = l->prev;
    l->cached = false;
    cache_bytes -= l->mapped;
    atomic_fetch_sub_explicit(&cache_touched, l->touched, memory_order_relaxed);
    atomic_store_explicit(&cache_count, cache_count - 1, memory_order_relaxed);
}

/* Pool lock held: unregister a block and recycle its descriptor; the caller unmaps. */
static void retire(ebb_large_t *l)
{
    ebb_map_clear(l->base, l->mapped);
    l->base = 0;
    l->next = spare_large;
    spare_large = l;
}

typedef struct unmap_list {
    uintptr_t base[CACHE_MAX_ENTRIES + 1];
    size_t size[CACHE_MAX_ENTRIES + 1];
    unsigned n;
} unmap_list_t;

static void evict_oldest(unmap_list_t *u)
{
    ebb_large_t *l = cache_last;
    cache_remove(l);
    u->base[u->n] = l->base;
    u->size[u->n++] = l->mapped;
    retire(l);
}

static void unmap_all(const unmap_list_t *u)
{
    for (unsigned i = 0; i < u->n; i++)
        ebb_os_unmap((void *)u->base[i], u->size[i]);
}

/* Pool lock held. */
size_t ebb_large_cached_bytes(void)
{
    return cache_bytes;
}

size_t ebb_large_cached_touched(void)
{
    return atomic_load_explicit(&cache_touched, memory_order_relaxed);
}

bool ebb_large_cache_pending(void)
{
    return atomic_load_explicit(&cache_count, memory_order_relaxed) != 0;
}

/* Unmap cached blocks unused for the decay delay (all of them if `all`). */
static void decay_tails(bool all, uint64_t now);

void ebb_large_decay(bool all)
{
    unmap_list_t u = {.n = 0};
    uint64_t now = ebb_now_ms();
    decay_tails(all, now);
    ebb_lock(&ebb_pool_lock);
    while (cache_last && u.n < CACHE_MAX_ENTRIES &&
           (all || now - cache_last->freed_at >= (uint64_t)ebb_opt.decay_ms))
        evict_oldest(&u);
    ebb_unlock(&ebb_pool_lock);
    unmap_all(&u);
}

/* A cached block to serve `want` bytes: the smallest at least that big, else the
 * biggest (grown by mremap). Pool lock held. */
static ebb_large_t *cache_take(size_t want)
{
    ebb_large_t *best = NULL, *biggest = NULL;
    for (ebb_large_t *l = cache_first; l; l = l->next) {
        if (l->mapped >= want && (!best || l->mapped < best->mapped))
            best = l;
        if (!biggest || l->mapped > biggest->mapped)
            biggest = l;
    }
    if (!best)
        best = biggest;
    if (best) {
        cache_remove(best);
        link_large(best);
    }
    return best;
}

void *ebb_large_alloc(size_t size, size_t align, bool zero)
{
    if (size > PTRDIFF_MAX - EBB_CHUNK_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    size_t mapped = ebb_align_up(size, ebb_page_size);
    if (align <= EBB_CHUNK_SIZE && cache_count) {
        ebb_lock(&ebb_pool_lock);
        ebb_large_t *l = cache_take(mapped);
        bool fits = l && l->mapped >= mapped;
        if (fits) {
            /* Keep the rest of the mapping as a tail: a realloc that grows the block
             * (the repeated-append pattern) then needs no system call and no page
             * fault. Its pages go back when fresh memory is needed
             * (ebb_large_cache_give) or after the decay. */
            l->usable = mapped;
            l->tail_since = l->mapped > mapped ? ebb_now_ms() : 0;
            if (l->touched < mapped)
                l->touched = mapped;
        }
        ebb_unlock(&ebb_pool_lock);
        if (fits) {
            if (zero)
                memset((void *)l->base, 0, mapped);
            return (void *)l->base;
        }
        if (l) {
            size_t had = l->mapped;
            void *p = ebb_large_realloc(l, (void *)l->base, size);
            if (p) {
                /* fresh pages past the old mapping are zero already */
                if (zero)
                    memset(p, 0, had < mapped ? had : mapped);
                return p;
            }
            ebb_large_free(l, (void *)l->base);
        }
    }
    if (align < EBB_CHUNK_SIZE)
        align = EBB_CHUNK_SIZE;
    ebb_large_cache_give(mapped);
    void *p = ebb_os_map_aligned(mapped, align);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    ebb_lock(&ebb_pool_lock);
    ebb_large_t *l = desc_new();
    if (!l || !ebb_map_set((uintptr_t)p, mapped, (uintptr_t)l)) {
        if (l) {
            l->next = spare_large;
            spare_large = l;
        }
        ebb_unlock(&ebb_pool_lock);
        ebb_os_unmap(p, mapped);
        errno = ENOMEM;
        return NULL;
    }
    l->base = (uintptr_t)p;
    l->mapped = l->usable = l->touched = mapped;
    l->tail_since = 0;
    l->resizing = false;
    link_large(l);
    ebb_unlock(&ebb_pool_lock);
    return p;
}

/* p has been checked to be l's block (ebb_block_lookup). */
void ebb_large_free(ebb_large_t *l, void *p)
{
    unmap_list_t u = {.n = 0};
    uint64_t now = ebb_now_ms();
    ebb_lock(&ebb_pool_lock);
    if (ebb_unlikely(l->cached)) { /* two threads freeing it at once */
        ebb_unlock(&ebb_pool_lock);
        ebb_fatal_freed("free", p);
    }
    unlink_large(l);
    if (ebb_opt.decay_ms != 0 && l->mapped <= CACHE_MAX_BYTES / 4) {
        while (cache_count >= CACHE_MAX_ENTRIES || cache_bytes + l->mapped > CACHE_MAX_BYTES)
            evict_oldest(&u);
        cache_push(l, now);
    } else {
        u.base[u.n] = l->base;
        u.size[u.n++] = l->mapped;
        retire(l);
    }
    ebb_unlock(&ebb_pool_lock);
    unmap_all(&u);
}

/* Pool lock held: unmap l's pages past `keep` bytes (a page multiple, not 0). */
static void shrink_mapping(ebb_large_t *l, size_t keep)
{
    uintptr_t keep_end = ebb_align_up(l->base + keep, EBB_CHUNK_SIZE);
    uintptr_t old_end = l->base + l->mapped;
    if (old_end > keep_end)
        ebb_map_clear(keep_end, old_end - keep_end);
    ebb_os_shrink((void *)l->base, l->mapped, keep);
    l->mapped = keep;
    if (l->touched > keep)
        l->touched = keep;
}

/* Pool lock held: unmap the tail of l past its usable size now. */
static void cut_tail(ebb_large_t *l)
{
    shrink_mapping(l, l->usable);
    l->tail_since = 0;
}

/* Pool lock held: purge the resident tails of live blocks (the pages past their
 * usable size) until `bytes` are given back. Under the lock, so that no owner grows
 * into a tail meanwhile (a block's growth within its mapping takes the lock); the
 * owner of a block never writes past its usable size. */
static void give_tails(size_t bytes)
{
    for (ebb_large_t *l = all_large; l && bytes; l = l->next) {
        if (l->resizing || l->touched <= l->usable)
            continue;
        size_t n = l->touched - l->usable;
        ebb_os_purge((void *)(l->base + l->usable), n, EBB_CLASSES);
        l->touched = l->usable;
        bytes = n < bytes ? bytes - n : 0;
    }
}

/* The caller is about to use `bytes` of fresh memory: give back as much of the cache,
 * oldest first, and then of the resident tails of live blocks, rather than hold them
 * beside the new memory until the decay (the peak would be both). */
void ebb_large_cache_give(size_t bytes)
{
    unmap_list_t u = {.n = 0};
    bytes = ebb_align_up(bytes, ebb_page_size);
    ebb_lock(&ebb_pool_lock);
    while (bytes && cache_last && u.n < CACHE_MAX_ENTRIES) {
        ebb_large_t *l = cache_last;
        if (l->mapped <= bytes) {
            bytes -= l->mapped;
            evict_oldest(&u);
            continue;
        }
        cache_bytes -= bytes;
        atomic_fetch_sub_explicit(&cache_touched, l->touched, memory_order_relaxed);
        shrink_mapping(l, l->mapped - bytes);
        atomic_fetch_add_explicit(&cache_touched, l->touched, memory_order_relaxed);
        if (l->usable > l->mapped)
            l->usable = l->mapped;
        bytes = 0;
    }
    if (bytes)
        give_tails(bytes);
    ebb_unlock(&ebb_pool_lock);
    unmap_all(&u);
}

/* Unmap the tails of live blocks that have waited the decay delay (all if `all`). */
static void decay_tails(bool all, uint64_t now)
{
    ebb_lock(&ebb_pool_lock);
    for (ebb_large_t *l = all_large; l; l = l->next)
        if (l->tail_since && !l->resizing &&
            (all || now - l->tail_since >= (uint64_t)ebb_opt.decay_ms))
            cut_tail(l);
    ebb_unlock(&ebb_pool_lock);
}

/* size > EBB_MAX_CLASS_SIZE, or a realloc growth (alloc.c). Returns NULL (block
 * untouched, errno ENOMEM) on failure. */
void *ebb_large_realloc(ebb_large_t *l, void *p, size_t size)
{
    if (size > PTRDIFF_MAX - EBB_CHUNK_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    size_t want = ebb_align_up(size, ebb_page_size);
    ebb_lock(&ebb_pool_lock);
    if (want <= l->mapped) {
        /* Within the mapping: grow into the tail, or shrink leaving one; a shrink to
         * less than half gives the rest back at once. A growth never cuts: a block
         * taken from the cache with a big tail grows into it (the append pattern). */
        bool shrink = want < l->usable;
        if (want > l->touched) { /* into pages purged or never touched: fresh memory */
            l->resizing = true; /* keeps give_tails off this block's own tail */
            give_tails(want - l->touched);
            l->resizing = false;
            l->touched = want;
        }
        l->usable = want;
        if (want == l->mapped)
            l->tail_since = 0;
        else if (shrink && (want < l->mapped / 2 || ebb_opt.decay_ms == 0))
            cut_tail(l);
        else if (!l->tail_since)
            l->tail_since = ebb_now_ms();
        ebb_unlock(&ebb_pool_lock);
        return p;
    }
    size_t old = l->mapped;
    l->resizing = true; /* until the new size is recorded */
    ebb_unlock(&ebb_pool_lock);
    ebb_large_cache_give(want - old);
    if (ebb_os_grow_in_place(p, old, want)) {
        ebb_lock(&ebb_pool_lock);
        bool ok = ebb_map_set(l->base, want, (uintptr_t)l);
        if (ok) {
            l->mapped = l->usable = l->touched = want;
            l->tail_since = 0;
        }
        l->resizing = false;
        ebb_unlock(&ebb_pool_lock);
        if (ok)
            return p;
        ebb_os_shrink(p, want, old);
        errno = ENOMEM;
        return NULL;
    }
    void *q = ebb_os_move_aligned(p, old, want, EBB_CHUNK_SIZE);
    if (!q) {
        ebb_lock(&ebb_pool_lock);
        l->resizing = false;
        ebb_unlock(&ebb_pool_lock);
        errno = ENOMEM;
        return NULL;
    }
    ebb_lock(&ebb_pool_lock);
    l->resizing = false;
    bool ok = ebb_map_set((uintptr_t)q, want, (uintptr_t)l);
    /* mremap already released the old range; a block mapped there since keeps its
     * entries. */
    ebb_map_clear_if(l->base, old, l);
    l->base = (uintptr_t)q;
    l->mapped = l->usable = l->touched = want;
    l->tail_since = 0;
    ebb_unlock(&ebb_pool_lock);
    if (!ok)
        ebb_fatal_ptr("realloc", "out of memory for the address map while moving", q);
    return q;
}
