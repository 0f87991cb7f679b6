/* meta.c — bump allocation of the allocator's own descriptors (chunk and large-block
 * descriptors, heaps, chunk-map leaves) from kernel memory. Nothing here is freed:
 * descriptors are recycled by their owners, which is what lets lock-free readers keep
 * pointers to them. Callers hold the pool lock. */
#include <string.h>

#include "internal.h"

#define META_BLOCK ((size_t)1 << 20)

/* Every region mapped for metadata, so that the statistics can ask the kernel which
 * of its pages are resident: a region is mapped in full but touched sparsely (a
 * chunk-map leaf is 4 MiB, of which a process touches a page or two). Records live in
 * the metadata itself; a small block's record is its own first bytes. */
typedef struct meta_region {
    struct meta_region *next;
    char *start;
    size_t size;
} meta_region_t;

_Atomic size_t ebb_meta_bytes;
static char *meta_cur, *meta_end;
static meta_region_t *meta_regions;

static bool note_region(meta_region_t *r, char *start, size_t size)
{
    if (!r)
        return false;
    r->start = start;
    r->size = size;
    r->next = meta_regions;
    meta_regions = r;
    atomic_fetch_add_explicit(&ebb_meta_bytes, size, memory_order_relaxed);
    return true;
}

/* A request of more than half a block gets a region of its own, so that the current
 * block's rest stays in use; a smaller one starts a new block. */
static void *bump(size_t size, size_t align)
{
    size = ebb_align_up(size, 128);
    if (size > META_BLOCK / 2) {
        size_t get = ebb_align_up(size, ebb_page_size);
        char *p = ebb_os_map(get);
        if (p && !note_region(bump(sizeof(meta_region_t), 128), p, get)) {
            ebb_os_unmap(p, get);
            p = NULL;
        }
        return p; /* page-aligned, so any alignment up to a page holds */
    }
    /* META_BLOCK-sized blocks from the kernel are page-aligned: skip to the alignment
     * (at most align - 128 bytes lost), or start a new block. */
    meta_cur = (char *)ebb_align_up((uintptr_t)meta_cur, align);
    if (meta_cur > meta_end)
        meta_cur = meta_end;
    if ((size_t)(meta_end - meta_cur) < size) {
        char *p = ebb_os_map(META_BLOCK);
        if (!p)
            return NULL;
        note_region((meta_region_t *)p, p, META_BLOCK);
        meta_end = p + META_BLOCK;
        meta_cur = (char *)ebb_align_up((uintptr_t)p + sizeof(meta_region_t), align);
    }
    void *r = meta_cur;
    meta_cur += size;
    return r; /* fresh anonymous memory is zero */
}

void *ebb_meta_alloc(size_t size)
{
    return bump(size, 128); /* span descriptors are 128-byte aligned */
}

void *ebb_meta_alloc_aligned(size_t size, size_t align)
{
    return bump(size, align);
}

size_t ebb_meta_resident(void)
{
    size_t resident = 0;
    for (meta_region_t *r = meta_regions; r; r = r->next)
        resident += ebb_os_resident(r->start, r->size);
    return resident;
}
