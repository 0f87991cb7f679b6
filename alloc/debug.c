/* debug.c — guard bytes, freed-memory fill and their checks (libebb-debug.so only; see
 * debug.h for the block layout). Every check aborts with a message naming the block. */
#ifdef EBB_DEBUG_BUILD

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "alloc.h"

#define WORD_OF(byte) ((uint64_t)0x0101010101010101u * (byte))

/* Mixed into the size word so that a stray copy of a size, or of another block's tail,
 * does not pass for this block's. The top bit makes a valid word never 0 (a purged
 * page) and the fill pattern only by a 2^-63 chance. */
static uint64_t tag_of(const void *p)
{
    return ((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15u) | ((uint64_t)1 << 63);
}

static uint64_t *size_word(void *p, size_t usable)
{
    return (uint64_t *)((char *)p + usable - sizeof(uint64_t));
}

/* First offset in [from, to) (multiples of 8 from an 8-aligned p) whose byte is not
 * `byte`, or `to`. */
static size_t first_other(const void *p, size_t from, size_t to, unsigned char byte)
{
    const unsigned char *c = p;
    uint64_t w = WORD_OF(byte);
    size_t i = from;
    while (i + 8 <= to) {
        uint64_t v;
        memcpy(&v, c + i, 8);
        if (v != w)
            break;
        i += 8;
    }
    for (; i < to; i++)
        if (c[i] != byte)
            return i;
    return to;
}

/* Bytes [off, to) of a block about to be handed out again: they must still hold the
 * freed fill, page by page, or the page must be one the kernel zeroed after a purge. */
static void check_fill_range(void *p, size_t off, size_t to, const char *func)
{
    uintptr_t base = (uintptr_t)p;
    while (off < to) {
        size_t page_end = ebb_align_up(base + off + 1, ebb_page_size) - base;
        size_t end = page_end < to ? page_end : to;
        size_t bad = first_other(p, off, end, EBB_DEBUG_FREED);
        if (bad != end && first_other(p, off, end, 0) != end)
            ebb_fatal_ptr_at(func, "block written after it was freed:", p, bad);
        off = end;
    }
}

/* Every byte of a block about to be handed out again but its link word. */
static void check_freed_fill(void *p, size_t usable, const char *func)
{
    check_fill_range(p, 0, offsetof(ebb_block_t, next_enc), func);
    check_fill_range(p, sizeof(ebb_block_t), usable, func);
}

/* The whole size of the block p starts (checked), and its span (NULL: a large block). */
static size_t block_usable(const void *p, const char *func, ebb_span_t **span)
{
    ebb_large_t *large;
    *span = ebb_block_lookup(p, func, &large);
    return *span ? (*span)->block_size : large->usable;
}

void *ebb_debug_alloc(size_t size, size_t align, const char *func)
{
    size_t inner;
    if (__builtin_add_overflow(size, EBB_DEBUG_TAIL, &inner)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = align ? ebb_core_aligned(align, inner) : ebb_core_alloc(inner);
    if (!p)
        return NULL;
    ebb_span_t *s;
    size_t usable = block_usable(p, func, &s);
    if (s) {
        check_freed_fill(p, usable, func);
        memset(p, EBB_DEBUG_FRESH, size);
    }
    memset((char *)p + size, EBB_DEBUG_GUARD, usable - sizeof(uint64_t) - size);
    *size_word(p, usable) = size ^ tag_of(p);
    return p;
}

/* The size the program asked for, from a block that passed ebb_block_lookup. A freed
 * block's size word holds the freed fill (or zero, purged): a double free. */
static size_t requested_size(void *p, size_t usable, const char *func)
{
    uint64_t raw = *size_word(p, usable);
    if (raw == WORD_OF(EBB_DEBUG_FREED) || raw == 0)
        ebb_fatal_freed(func, p);
    uint64_t size = raw ^ tag_of(p);
    if (size > usable - EBB_DEBUG_TAIL)
        ebb_fatal_ptr_at(func, "write past the end of", p, usable - sizeof(uint64_t));
    return (size_t)size;
}

void ebb_debug_free(void *p, const char *func)
{
    if (!p)
        return;
    ebb_span_t *s;
    size_t usable = block_usable(p, func, &s);
    size_t size = requested_size(p, usable, func);
    size_t guard_end = usable - sizeof(uint64_t);
    size_t bad = first_other(p, size, guard_end, EBB_DEBUG_GUARD);
    if (bad != guard_end)
        ebb_fatal_ptr_at(func, "write past the end of", p, bad);
    if (s)
        memset(p, EBB_DEBUG_FREED, usable);
    ebb_core_free(p, func);
}

size_t ebb_debug_usable(const void *p, const char *func)
{
    if (!p)
        return 0;
    ebb_span_t *s;
    size_t usable = block_usable(p, func, &s);
    return requested_size((void *)(uintptr_t)p, usable, func);
}

/* Always moves, so that a pointer kept across realloc points at freed, checked memory. */
void *ebb_debug_realloc(void *p, size_t size, const char *func)
{
    if (!p)
        return ebb_debug_alloc(size, 0, func);
    if (size == 0) {
        ebb_debug_free(p, func);
        return NULL;
    }
    size_t old = ebb_debug_usable(p, func);
    void *q = ebb_debug_alloc(size, 0, func);
    if (!q)
        return NULL;
    memcpy(q, p, old < size ? old : size);
    ebb_debug_free(p, func);
    return q;
}

void ebb_debug_fill_carved(void *p, size_t size)
{
    memset(p, EBB_DEBUG_FREED, size);
}

/* The link popped with block b must lead to a block of the span's carved part. */
void ebb_debug_check_link(const ebb_span_t *s, const ebb_block_t *b, const ebb_block_t *next)
{
    if (!next)
        return;
    uintptr_t off = (uintptr_t)next - s->start;
    if (off >= (uintptr_t)s->capacity * s->block_size || off % s->block_size != 0)
        ebb_fatal_ptr(NULL, "free list corrupted (block written after it was freed):", b);
}

#endif /* EBB_DEBUG_BUILD */
