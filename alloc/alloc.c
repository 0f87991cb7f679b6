/* alloc.c — the prefixed API (ebb_*) and the entry points beyond the fast paths,
 * shared with the standard symbols in override.c. Error conventions follow glibc:
 * impossible sizes give NULL and ENOMEM, bad alignments EINVAL, realloc(p, 0) frees
 * and returns NULL, a failed realloc leaves the block as it was. */
#include <malloc.h>
#include <stdint.h>

#include "alloc.h"
#include "ebb.h"
#include "stats.h"

static inline bool is_pow2(size_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

void *ebb_calloc_impl(size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
#ifndef EBB_DEBUG_BUILD
    /* Large blocks come zeroed from the kernel or are zeroed by the large allocator. */
    if (total > EBB_MAX_CLASS_SIZE) {
        ebb_ensure_init();
        return ebb_large_alloc(total, 0, true);
    }
#endif
    /* A block carved from memory nobody wrote is zero already: its pages fault in only
     * where the program writes, as a large block's do (a calloc of 900 KiB, 225 pages
     * resident before anything was stored in it). */
    ebb_tls_zeroed = NULL;
    void *p = ebb_alloc_impl(total);
    if (p && p != ebb_tls_zeroed)
        memset(p, 0, total);
    return p;
}

/* A block grown by realloc to this size or more becomes (or stays) a large block:
 * later growth extends its mapping with mremap instead of copying, and the block's
 * old pages are never resident twice (a freed class block would stay resident until
 * the decay purges it, at the time the buffer's peak is made). */
#define REALLOC_LARGE_MIN ((size_t)128 << 10)

/* Moves a class block (old usable bytes) to a new large block. NULL if that fails. */
static void *realloc_to_large(void *p, size_t old, size_t size, const char *func)
{
    int saved = errno;
    void *q = ebb_large_alloc(size, 0, false);
    if (q) {
        memcpy(q, p, old);
        ebb_free_impl(p, func);
    }
    errno = saved;
    return q;
}

void *ebb_realloc_impl(void *p, size_t size, const char *func)
{
#ifdef EBB_DEBUG_BUILD
    return ebb_debug_realloc(p, size, func);
#endif
    if (!p)
        return ebb_alloc_impl(size);
    if (size == 0) {
        ebb_free_impl(p, func);
        return NULL;
    }
    ebb_large_t *large;
    ebb_span_t *s = ebb_block_lookup(p, func, &large);
    size_t old;
    if (!s) {
        if (size >= REALLOC_LARGE_MIN)
            return ebb_large_realloc(large, p, size);
        old = large->usable;
    } else {
        old = s->block_size;
        /* Stay in place unless the block would be more than half empty. */
        if (size <= old && size > old / 2)
            return p;
        if (size > old && size >= REALLOC_LARGE_MIN) {
            void *q = realloc_to_large(p, old, size, func);
            if (q)
                return q;
            /* no mapping (e.g. the process's map count is exhausted): a class block */
        }
    }
    /* A block growing by realloc will likely grow again: leave it a quarter more room
     * (two size classes), so that a buffer grown in small steps is copied half as
     * often. */
    size_t want = size;
    if (size > old && size <= EBB_MAX_CLASS_SIZE) {
        want = size + size / 4;
        if (want > EBB_MAX_CLASS_SIZE)
            want = EBB_MAX_CLASS_SIZE;
    }
    void *q = ebb_alloc_impl(want);
    if (!q)
        return NULL;
    memcpy(q, p, size < old ? size : old);
    ebb_free_impl(p, func);
    return q;
}

void *ebb_reallocarray_impl(void *p, size_t count, size_t size, const char *func)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return ebb_realloc_impl(p, total, func);
}

/* align: a power of two. Blocks of a class whose size is a multiple of align are all
 * aligned to it (spans start at multiples of their own size, which is at least the
 * block size), and there is a power-of-two class at every doubling up to 1 MiB. */
void *ebb_core_aligned(size_t align, size_t size)
{
    if (align <= EBB_MIN_ALIGN)
        return ebb_core_alloc(size);
    ebb_ensure_init();
    if (size <= EBB_MAX_CLASS_SIZE && align <= EBB_MAX_CLASS_SIZE) {
        unsigned cls = ebb_class_of(size < align ? align : size);
        while (ebb_class_size(cls) & (align - 1))
            cls++;
        return ebb_alloc_class(cls, true);
    }
    if (align > PTRDIFF_MAX / 2) {
        errno = ENOMEM;
        return NULL;
    }
    return ebb_large_alloc(size, align, false);
}

void *ebb_aligned_impl(size_t align, size_t size)
{
#ifdef EBB_DEBUG_BUILD
    return ebb_debug_alloc(size, align, "aligned_alloc");
#else
    return ebb_core_aligned(align, size);
#endif
}

/* memalign and aligned_alloc: the alignment must be a power of two (EINVAL otherwise);
 * memalign(0, n) is malloc(n), as in glibc. */
void *ebb_memalign_impl(size_t align, size_t size, bool zero_ok)
{
    if (align == 0 && zero_ok)
        return ebb_alloc_impl(size);
    if (!is_pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
    return ebb_aligned_impl(align, size);
}

int ebb_posix_memalign_impl(void **out, size_t align, size_t size)
{
    if (!is_pow2(align) || align % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno;
    void *p = ebb_aligned_impl(align, size);
    if (!p) {
        errno = saved;
        return ENOMEM;
    }
    *out = p;
    return 0;
}

void *ebb_valloc_impl(size_t size)
{
    ebb_ensure_init();
    return ebb_aligned_impl(ebb_page_size, size);
}

void *ebb_pvalloc_impl(size_t size)
{
    ebb_ensure_init();
    if (size > SIZE_MAX - ebb_page_size) {
        errno = ENOMEM;
        return NULL;
    }
    size_t rounded = ebb_align_up(size ? size : 1, ebb_page_size);
    return ebb_aligned_impl(ebb_page_size, rounded);
}

void ebb_free_sized_impl(void *p, size_t size, const char *func)
{
    if (p && ebb_unlikely(size > ebb_usable_impl(p, func)))
        ebb_fatal_ptr(func, "size larger than the block at", p);
    ebb_free_impl(p, func);
}

/* free() of a block whose link word looks like a free block's: a cached block's tag
 * is a double free; a link of its span's lists is one if the owner finds the block on
 * them (only the owner can walk them); anything else was the program's data. */
void ebb_free_suspect(ebb_heap_t *heap, ebb_span_t *s, ebb_block_t *b, const char *func)
{
    if (b->next_enc == ebb_cached_tag(s, b))
        ebb_fatal_ptr(func, "double free of", b);
    ebb_heap_t *owner = atomic_load_explicit(&s->heap, memory_order_relaxed);
    if (owner == heap)
        ebb_span_check_double_free(s, b, func);
    else if (owner == &ebb_shared_heap)
        ebb_shared_check_double_free(s, b, func);
    ebb_free_block(heap, &heap->bin[s->cls], s, b);
}

/* Free of a large block or of a pointer free()'s fast path found no span for: every
 * check of ebb_block_lookup, which reports the invalid ones (a block it accepts in a
 * span goes back to it as a remote free). */
void ebb_free_other(void *p, const char *func)
{
    if (!p) /* free(NULL) comes here, not through a test on every free */
        return;
    ebb_large_t *large;
    ebb_span_t *s = ebb_block_lookup(p, func, &large);
    if (!s) {
        ebb_large_free(large, p);
        ebb_heap_arm(ebb_tls_heap);
        return;
    }
    ebb_span_remote_free(s, (ebb_block_t *)p);
}

/* ---- the prefixed API ---- */

EBB_EXPORT void *ebb_malloc(size_t size)
{
    return ebb_alloc_impl(size);
}

EBB_EXPORT void ebb_free(void *p)
{
    ebb_free_impl(p, "ebb_free");
}

EBB_EXPORT void *ebb_calloc(size_t count, size_t size)
{
    return ebb_calloc_impl(count, size);
}

EBB_EXPORT void *ebb_realloc(void *p, size_t size)
{
    return ebb_realloc_impl(p, size, "ebb_realloc");
}

EBB_EXPORT void *ebb_reallocarray(void *p, size_t count, size_t size)
{
    return ebb_reallocarray_impl(p, count, size, "ebb_reallocarray");
}

EBB_EXPORT void *ebb_aligned_alloc(size_t align, size_t size)
{
    return ebb_memalign_impl(align, size, false);
}

EBB_EXPORT void *ebb_memalign(size_t align, size_t size)
{
    return ebb_memalign_impl(align, size, true);
}

EBB_EXPORT int ebb_posix_memalign(void **out, size_t align, size_t size)
{
    return ebb_posix_memalign_impl(out, align, size);
}

EBB_EXPORT void *ebb_valloc(size_t size)
{
    return ebb_valloc_impl(size);
}

EBB_EXPORT void *ebb_pvalloc(size_t size)
{
    return ebb_pvalloc_impl(size);
}

EBB_EXPORT void ebb_free_sized(void *p, size_t size)
{
    ebb_free_sized_impl(p, size, "ebb_free_sized");
}

EBB_EXPORT void ebb_free_aligned_sized(void *p, size_t align, size_t size)
{
    (void)align;
    ebb_free_sized_impl(p, size, "ebb_free_aligned_sized");
}

EBB_EXPORT size_t ebb_usable_size(const void *p)
{
    return ebb_usable_impl(p, "ebb_usable_size");
}

EBB_EXPORT int ebb_owns(const void *p)
{
    return p && ebb_map_entry((uintptr_t)p) != 0;
}

EBB_EXPORT int ebb_trim(size_t pad)
{
    (void)pad;
    ebb_ensure_init();
    size_t before = atomic_load_explicit(&ebb_os.purged, memory_order_relaxed);
    ebb_heaps_trim();
    return atomic_load_explicit(&ebb_os.purged, memory_order_relaxed) != before;
}
