/* pool.c — chunks, and the spans that no heap owns.
 *
 * A chunk is formatted for one span kind and lists its free spans in a bit mask.
 * Chunks with a free span sit on partial[kind]; a chunk whose spans are all free moves
 * to a small cache of empty chunks (already purged), from which any kind can take it;
 * beyond the cache, empty chunks go back to the kernel. Everything here runs under
 * ebb_pool_lock, except the system calls, which are made outside it. */
#include <string.h>

#include "internal.h"
#include "sizeclass.h"

#define EMPTY_CHUNK_CACHE 4

ebb_lock_t ebb_pool_lock = EBB_LOCK_INIT;

static ebb_chunk_t *partial[EBB_SPAN_KINDS]; /* doubly linked through next/prev */
static ebb_chunk_t *empty_chunks;            /* singly linked through next */
static unsigned empty_count;
static ebb_chunk_t *all_chunks;              /* every mapped small chunk */
static ebb_chunk_t *spare_descs;             /* descriptors of unmapped chunks */

ebb_chunk_t *ebb_pool_chunks(void)
{
    return all_chunks;
}

static void partial_push(ebb_chunk_t *c, unsigned kind)
{
    c->prev = NULL;
    c->next = partial[kind];
    if (c->next)
        c->next->prev = c;
    partial[kind] = c;
}

static void partial_remove(ebb_chunk_t *c, unsigned kind)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        partial[kind] = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

static void chunk_format(ebb_chunk_t *c, unsigned kind)
{
    unsigned shift = ebb_span_shift_of_kind[kind];
    c->region.kind = (uint8_t)kind;
    c->span_shift = (uint8_t)shift;
    c->nspans = (uint16_t)(EBB_CHUNK_SIZE >> shift);
    c->spans_used = 0;
    c->free_mask = c->nspans == 64 ? ~(uint64_t)0 : (((uint64_t)1 << c->nspans) - 1);
    for (unsigned i = 0; i < c->nspans; i++) {
        ebb_span_t *s = &c->spans[i];
        s->chunk = c;
        s->start = c->base + ((uintptr_t)i << shift);
        atomic_store_explicit(&s->heap, NULL, memory_order_relaxed);
    }
}

/* Pool lock held. Takes an empty chunk from the cache, or NULL. */
static ebb_chunk_t *take_empty_chunk(unsigned kind)
{
    ebb_chunk_t *c = empty_chunks;
    if (!c)
        return NULL;
    empty_chunks = c->next;
    empty_count--;
    if (c->region.kind != kind)
        chunk_format(c, kind);
    c->next = c->prev = NULL;
    partial_push(c, kind);
    return c;
}

/* Pool lock NOT held: maps a chunk and registers it. */
static bool add_new_chunk(unsigned kind)
{
    void *base = ebb_os_map_aligned(EBB_CHUNK_SIZE, EBB_CHUNK_SIZE);
    if (!base)
        return false;
    ebb_lock(&ebb_pool_lock);
    ebb_chunk_t *c = spare_descs;
    if (c)
        spare_descs = c->next;
    else
        c = ebb_meta_alloc(sizeof(ebb_chunk_t));
    if (!c || !ebb_map_set((uintptr_t)base, EBB_CHUNK_SIZE, &c->region)) {
        if (c) {
            c->next = spare_descs;
            spare_descs = c;
        }
        ebb_unlock(&ebb_pool_lock);
        ebb_os_unmap(base, EBB_CHUNK_SIZE);
        return false;
    }
    c->base = (uintptr_t)base;
    c->region.kind = 0xff; /* force formatting */
    chunk_format(c, kind);
    c->all_next = all_chunks;
    all_chunks = c;
    partial_push(c, kind);
    ebb_unlock(&ebb_pool_lock);
    return true;
}

ebb_span_t *ebb_pool_take_span(unsigned kind)
{
    for (;;) {
        ebb_lock(&ebb_pool_lock);
        ebb_chunk_t *c = partial[kind];
        if (!c)
            c = take_empty_chunk(kind);
        if (c) {
            unsigned i = (unsigned)__builtin_ctzll(c->free_mask);
            c->free_mask &= c->free_mask - 1;
            c->spans_used++;
            if (c->free_mask == 0)
                partial_remove(c, kind);
            ebb_unlock(&ebb_pool_lock);
            return &c->spans[i];
        }
        ebb_unlock(&ebb_pool_lock);
        if (!add_new_chunk(kind))
            return NULL;
    }
}

/* Pool lock held. Unlinks an empty chunk from the list of all chunks. */
static void all_remove(ebb_chunk_t *c)
{
    for (ebb_chunk_t **pp = &all_chunks; *pp; pp = &(*pp)->all_next) {
        if (*pp == c) {
            *pp = c->all_next;
            return;
        }
    }
}

void ebb_pool_return_span(ebb_span_t *s)
{
    /* Purge outside the lock: only the pages blocks were ever carved from. */
    if (s->dirty) {
        ebb_os_purge((void *)s->start, (size_t)s->capacity * s->block_size);
        s->dirty = false;
    }
    ebb_chunk_t *c = s->chunk;
    unsigned kind = c->region.kind;
    unsigned i = (unsigned)((s->start - c->base) >> c->span_shift);
    ebb_chunk_t *unmap = NULL;

    ebb_lock(&ebb_pool_lock);
    atomic_store_explicit(&s->heap, NULL, memory_order_relaxed);
    if (c->free_mask == 0)
        partial_push(c, kind);
    c->free_mask |= (uint64_t)1 << i;
    c->spans_used--;
    if (c->spans_used == 0) {
        partial_remove(c, kind);
        if (empty_count < EMPTY_CHUNK_CACHE) {
            c->next = empty_chunks;
            empty_chunks = c;
            empty_count++;
        } else {
            ebb_map_clear(c->base, EBB_CHUNK_SIZE);
            all_remove(c);
            unmap = c;
        }
    }
    ebb_unlock(&ebb_pool_lock);

    if (unmap) {
        ebb_os_unmap((void *)unmap->base, EBB_CHUNK_SIZE);
        ebb_lock(&ebb_pool_lock);
        unmap->next = spare_descs;
        spare_descs = unmap;
        ebb_unlock(&ebb_pool_lock);
    }
}
