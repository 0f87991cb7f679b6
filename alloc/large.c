/* large.c — blocks above the largest size class: each maps its own pages at a chunk
 * boundary (so no two regions share a chunk number in the chunk map), and grows by
 * mremap, in place when the address space after it is free, otherwise by moving the
 * pages to a new aligned place; the bytes are never copied. */
#include <errno.h>
#include <stdint.h>

#include "internal.h"

static ebb_large_t *all_large;   /* doubly linked, under the pool lock */
static ebb_large_t *spare_large; /* recycled descriptors */

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

void *ebb_large_alloc(size_t size, size_t align, bool zero)
{
    (void)zero; /* fresh mappings are zero-filled by the kernel */
    if (size > PTRDIFF_MAX - EBB_CHUNK_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    size_t mapped = ebb_align_up(size, ebb_page_size);
    if (align < EBB_CHUNK_SIZE)
        align = EBB_CHUNK_SIZE;
    void *p = ebb_os_map_aligned(mapped, align);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    ebb_lock(&ebb_pool_lock);
    ebb_large_t *l = desc_new();
    if (!l || !ebb_map_set((uintptr_t)p, mapped, &l->region)) {
        if (l) {
            l->next = spare_large;
            spare_large = l;
        }
        ebb_unlock(&ebb_pool_lock);
        ebb_os_unmap(p, mapped);
        errno = ENOMEM;
        return NULL;
    }
    l->region.kind = EBB_KIND_LARGE;
    l->base = (uintptr_t)p;
    l->mapped = mapped;
    link_large(l);
    ebb_unlock(&ebb_pool_lock);
    return p;
}

/* p has been checked to be l's block (ebb_block_lookup). */
void ebb_large_free(ebb_large_t *l, void *p)
{
    ebb_lock(&ebb_pool_lock);
    size_t mapped = l->mapped;
    ebb_map_clear(l->base, mapped);
    unlink_large(l);
    l->base = 0;
    l->next = spare_large;
    spare_large = l;
    ebb_unlock(&ebb_pool_lock);
    ebb_os_unmap(p, mapped);
}

/* size > EBB_MAX_CLASS_SIZE. Returns NULL (block untouched, errno ENOMEM) on failure. */
void *ebb_large_realloc(ebb_large_t *l, void *p, size_t size)
{
    if (size > PTRDIFF_MAX - EBB_CHUNK_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    size_t old = l->mapped;
    size_t want = ebb_align_up(size, ebb_page_size);
    if (want == old)
        return p;
    if (want < old) {
        /* Shrink in place; chunks past the new end are no longer ours. */
        uintptr_t keep_end = ebb_align_up(l->base + want, EBB_CHUNK_SIZE);
        uintptr_t old_end = l->base + old;
        ebb_lock(&ebb_pool_lock);
        l->mapped = want;
        if (old_end > keep_end)
            ebb_map_clear(keep_end, old_end - keep_end);
        ebb_unlock(&ebb_pool_lock);
        ebb_os_shrink(p, old, want);
        return p;
    }
    if (ebb_os_grow_in_place(p, old, want)) {
        ebb_lock(&ebb_pool_lock);
        bool ok = ebb_map_set(l->base, want, &l->region);
        if (ok)
            l->mapped = want;
        ebb_unlock(&ebb_pool_lock);
        if (ok)
            return p;
        ebb_os_shrink(p, want, old);
        errno = ENOMEM;
        return NULL;
    }
    void *q = ebb_os_move_aligned(p, old, want, EBB_CHUNK_SIZE);
    if (!q) {
        errno = ENOMEM;
        return NULL;
    }
    ebb_lock(&ebb_pool_lock);
    bool ok = ebb_map_set((uintptr_t)q, want, &l->region);
    /* mremap already released the old range; a block mapped there since keeps its
     * entries. */
    ebb_map_clear_if(l->base, old, &l->region);
    l->base = (uintptr_t)q;
    l->mapped = want;
    ebb_unlock(&ebb_pool_lock);
    if (!ok)
        ebb_fatal_ptr("realloc", "out of memory for the chunk map while moving", q);
    return q;
}
