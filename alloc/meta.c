/* meta.c — bump allocation of the allocator's own descriptors (chunk and large-block
 * descriptors, heaps, chunk-map leaves) from kernel memory. Nothing here is freed:
 * descriptors are recycled by their owners, which is what lets lock-free readers keep
 * pointers to them. Callers hold the pool lock. */
#include <string.h>

#include "internal.h"

#define META_BLOCK ((size_t)1 << 20)

_Atomic size_t ebb_meta_bytes;
static char *meta_cur, *meta_end;

void *ebb_meta_alloc(size_t size)
{
    return ebb_meta_alloc_aligned(size, 128); /* span descriptors are 128-byte aligned */
}

void *ebb_meta_alloc_aligned(size_t size, size_t align)
{
    size = ebb_align_up(size, 128);
    /* META_BLOCK-sized blocks from the kernel are page-aligned: skip to the alignment
     * (at most align - 128 bytes lost), or start a new block. */
    meta_cur = (char *)ebb_align_up((uintptr_t)meta_cur, align);
    if (meta_cur > meta_end)
        meta_cur = meta_end;
    if ((size_t)(meta_end - meta_cur) < size) {
        size_t get = size > META_BLOCK ? ebb_align_up(size, META_BLOCK) : META_BLOCK;
        char *p = ebb_os_map(get);
        if (!p)
            return NULL;
        atomic_fetch_add_explicit(&ebb_meta_bytes, get, memory_order_relaxed);
        meta_cur = p;
        meta_end = p + get;
    }
    void *r = meta_cur;
    meta_cur += size;
    return r; /* fresh anonymous memory is zero */
}
