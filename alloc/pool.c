/* pool.c — chunks, and the spans that no heap owns; the decay that purges them.
 *
 * A chunk is formatted for one span kind and lists its free spans in a bit mask.
 * Chunks with a free span sit on partial[kind]. A span returned with touched pages is
 * "dirty": it goes on dirty[kind], newest first, and is reused from there first (its
 * pages are still there, no page faults); the decay purges the oldest ones once they
 * have been unused for the decay delay (EBB_DECAY_MS). A chunk with no span in use
 * and none dirty moves to a small cache of empty chunks, which any kind can take;
 * beyond the cache, empty chunks go back to the kernel.
 * Lists and masks change under ebb_pool_lock; system calls are made outside it. */
#include <string.h>
#include <time.h>

#include "internal.h"
#include "sizeclass.h"

#define EMPTY_CHUNK_CACHE 4
#define PURGE_BATCH 32
/* The pool keeps at most this much dirty (plus an eighth of the spans in use) whatever
 * their age: the part of the slack that does not wait for time to pass. */
#define DIRTY_LIMIT_BASE ((size_t)4 << 20)
/* Over the limit, the oldest dirty spans are purged until 1/OVER_LIMIT_DROP of it is
 * free again: a program freeing spans one after another then purges them in batches,
 * in runs of neighbours (one system call each), not one span per call. */
#define OVER_LIMIT_DROP 4

ebb_lock_t ebb_pool_lock = EBB_LOCK_INIT;
/* Address space mapped ahead for new chunks, [reserve_next, reserve_end): chunks are
 * mapped several at a time as the program's use grows (RESERVE_MAX at most), so that a
 * program taking many chunks (400 threads, each with a 4 MiB span of its own) does
 * not make an mmap and one or two munmaps (the alignment's trims) for each, every one
 * of which takes the process's address-space lock that its page faults wait for. The
 * reserve is counted as mapped in the statistics only as chunks are taken from it.
 * Its lock is held across the mmap that refills it: the threads that need a chunk
 * meanwhile wait for the refill instead of each mapping its own. */
#define RESERVE_MAX 32
ebb_lock_t ebb_reserve_lock = EBB_LOCK_INIT;
static uintptr_t reserve_next, reserve_end;
static unsigned chunks_added; /* chunks ever mapped (under the reserve lock) */

static ebb_chunk_t *partial[EBB_SPAN_KINDS]; /* doubly linked through next/prev */
static ebb_span_list_t dirty[EBB_SPAN_KINDS]; /* newest first, via span next/prev */
static _Atomic size_t dirty_bytes; /* written under the lock, read without it */
static _Atomic size_t active_bytes; /* bytes of spans out of the pool; as dirty_bytes */
static ebb_chunk_t *empty_chunks;            /* singly linked through next */
static unsigned empty_count;
static ebb_chunk_t *all_chunks;              /* every mapped small chunk */
static ebb_chunk_t *spare_descs;             /* descriptors of unmapped chunks */

ebb_chunk_t *ebb_pool_chunks(void)
{
    return all_chunks;
}

size_t ebb_pool_dirty_bytes(void)
{
    return dirty_bytes;
}

uint64_t ebb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Purges every page the spans of a batch taken out of the pool may have touched (the
 * page each one's last block ends in too), with one madvise per run of adjacent spans:
 * each call interrupts every core running the process for a TLB flush (a process with
 * many threads exiting paid one per span of a page or two). A run covers the untouched
 * tail of each span but its last, which holds no resident page, so covering it costs
 * nothing. The call counts for the run's first span's class. */
static void purge_spans(ebb_span_t **batch, unsigned n)
{
    for (unsigned i = 1; i < n; i++) /* by address; batches are small */
        for (unsigned j = i; j > 0 && batch[j - 1]->start > batch[j]->start; j--) {
            ebb_span_t *t = batch[j];
            batch[j] = batch[j - 1];
            batch[j - 1] = t;
        }
    for (unsigned i = 0, j; i < n; i = j) {
        uintptr_t end = batch[i]->start + ebb_align_up(batch[i]->touched, ebb_page_size);
        for (j = i + 1; j < n && batch[j]->start == batch[j - 1]->start +
                                                       ((size_t)1 << batch[j - 1]->chunk->span_shift);
             j++)
            if (batch[j]->touched)
                end = batch[j]->start + ebb_align_up(batch[j]->touched, ebb_page_size);
        if (end > batch[i]->start &&
            ebb_os_purge_run((void *)batch[i]->start, end - batch[i]->start)) {
            for (unsigned k = i; k < j; k++)
                ebb_os_count_purged(ebb_align_up(batch[k]->touched, ebb_page_size),
                                    batch[k]->cls, k == i);
        }
        for (unsigned k = i; k < j; k++)
            batch[k]->touched = 0;
    }
}

/* ---- lists ---- */

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

static void dirty_push(ebb_span_t *s, unsigned kind)
{
    ebb_span_list_push_front(&dirty[kind], s);
    s->chunk->dirty_spans++;
    atomic_store_explicit(&dirty_bytes, dirty_bytes + s->touched, memory_order_relaxed);
}

static void dirty_remove(ebb_span_t *s, unsigned kind)
{
    ebb_span_list_remove(&dirty[kind], s);
    s->chunk->dirty_spans--;
    atomic_store_explicit(&dirty_bytes, dirty_bytes - s->touched, memory_order_relaxed);
}

/* ---- chunks ---- */

static void chunk_format(ebb_chunk_t *c, unsigned kind)
{
    unsigned shift = ebb_span_shift_of_kind[kind];
    c->kind = (uint8_t)kind;
    c->span_shift = (uint8_t)shift;
    c->nspans = (uint16_t)(EBB_CHUNK_SIZE >> shift);
    c->spans_used = 0;
    c->dirty_spans = 0;
    c->free_mask = c->nspans == 64 ? ~(uint64_t)0 : (((uint64_t)1 << c->nspans) - 1);
    for (unsigned i = 0; i < c->nspans; i++) {
        ebb_span_t *s = &c->spans[i];
        s->chunk = c;
        s->start = c->base + ((uintptr_t)i << shift);
        s->touched = 0;
        s->start_limit = 0; /* as in the pool (return_span) */
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
    if (c->kind != kind) {
        chunk_format(c, kind);
        ebb_map_set_chunk(c); /* the new spans; cannot fail: the leaf exists */
    }
    c->next = c->prev = NULL;
    partial_push(c, kind);
    return c;
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

/* Pool lock held; c has no span in use and none dirty. Returns c if the caller must
 * unmap it (then give its descriptor to release_descriptor), else NULL. */
static ebb_chunk_t *chunk_now_empty(ebb_chunk_t *c)
{
    partial_remove(c, c->kind);
    if (empty_count < EMPTY_CHUNK_CACHE) {
        c->next = empty_chunks;
        empty_chunks = c;
        empty_count++;
        return NULL;
    }
    ebb_map_clear(c->base, EBB_CHUNK_SIZE);
    all_remove(c);
    return c;
}

/* Pool lock NOT held. */
static void unmap_chunk(ebb_chunk_t *c)
{
    ebb_os_unmap((void *)c->base, EBB_CHUNK_SIZE);
    ebb_lock(&ebb_pool_lock);
    c->next = spare_descs;
    spare_descs = c;
    ebb_unlock(&ebb_pool_lock);
}

/* No lock held: a new chunk's address space, from the reserve, refilled with one
 * chunk for each two mapped so far. */
static void *map_chunk(void)
{
    ebb_lock(&ebb_reserve_lock);
    if (reserve_next == reserve_end) {
        size_t n = 1 + chunks_added / 2;
        if (n > RESERVE_MAX)
            n = RESERVE_MAX;
        char *r = ebb_os_map_aligned(n * EBB_CHUNK_SIZE, EBB_CHUNK_SIZE);
        if (!r && n > 1) {
            n = 1;
            r = ebb_os_map_aligned(EBB_CHUNK_SIZE, EBB_CHUNK_SIZE);
        }
        if (!r) {
            ebb_unlock(&ebb_reserve_lock);
            return NULL;
        }
        reserve_next = (uintptr_t)r;
        reserve_end = (uintptr_t)r + n * EBB_CHUNK_SIZE;
        ebb_os_count_mapped(-(ptrdiff_t)(n * EBB_CHUNK_SIZE));
    }
    void *base = (void *)reserve_next;
    reserve_next += EBB_CHUNK_SIZE;
    chunks_added++;
    ebb_unlock(&ebb_reserve_lock);
    ebb_os_count_mapped((ptrdiff_t)EBB_CHUNK_SIZE);
    return base;
}

/* Pool lock NOT held: maps a chunk and registers it. */
static bool add_new_chunk(unsigned kind)
{
    void *base = map_chunk();
    if (!base)
        return false;
    ebb_lock(&ebb_pool_lock);
    ebb_chunk_t *c = spare_descs;
    if (c)
        spare_descs = c->next;
    else
        c = ebb_meta_alloc(sizeof(ebb_chunk_t));
    if (c) {
        c->base = (uintptr_t)base;
        chunk_format(c, kind); /* before the map entries, which point at its spans */
    }
    if (!c || !ebb_map_set_chunk(c)) {
        if (c) {
            c->next = spare_descs;
            spare_descs = c;
        }
        ebb_unlock(&ebb_pool_lock);
        ebb_os_unmap(base, EBB_CHUNK_SIZE);
        return false;
    }
    c->all_next = all_chunks;
    all_chunks = c;
    partial_push(c, kind);
    ebb_unlock(&ebb_pool_lock);
    return true;
}

/* ---- spans in and out of the pool (lock held) ---- */

static void mark_taken(ebb_span_t *s)
{
    ebb_chunk_t *c = s->chunk;
    unsigned i = (unsigned)((s->start - c->base) >> c->span_shift);
    c->free_mask &= ~((uint64_t)1 << i);
    c->spans_used++;
    atomic_store_explicit(&active_bytes, active_bytes + ((size_t)1 << c->span_shift),
                          memory_order_relaxed);
    if (c->free_mask == 0)
        partial_remove(c, c->kind);
}

/* Returns a chunk to unmap, or NULL. */
static ebb_chunk_t *mark_returned(ebb_span_t *s)
{
    ebb_chunk_t *c = s->chunk;
    unsigned kind = c->kind;
    unsigned i = (unsigned)((s->start - c->base) >> c->span_shift);
    if (c->free_mask == 0)
        partial_push(c, kind);
    c->free_mask |= (uint64_t)1 << i;
    c->spans_used--;
    atomic_store_explicit(&active_bytes, active_bytes - ((size_t)1 << c->span_shift),
                          memory_order_relaxed);
    if (s->touched)
        dirty_push(s, kind);
    if (c->spans_used == 0 && c->dirty_spans == 0)
        return chunk_now_empty(c);
    return NULL;
}

/* ---- decay ---- */

static size_t dirty_limit(void)
{
    return DIRTY_LIMIT_BASE + active_bytes / 8;
}

/* Purge the oldest dirty spans: those unused for at least the decay delay if `aged`,
 * else until at most `keep` bytes stay dirty. Pool lock NOT held. Spans being purged
 * are taken out of the pool meanwhile, so no heap can start using one while its pages
 * are being dropped. */
static void decay(bool aged, size_t keep)
{
    for (;;) {
        ebb_span_t *batch[PURGE_BATCH];
        unsigned n = 0;
        uint64_t now = ebb_now_ms();
        ebb_lock(&ebb_pool_lock);
        for (unsigned kind = 0; kind < EBB_SPAN_KINDS && n < PURGE_BATCH; kind++) {
            ebb_span_t *s;
            while (n < PURGE_BATCH && (s = dirty[kind].last) != NULL &&
                   (aged ? now - s->freed_at >= (uint64_t)ebb_opt.decay_ms
                         : dirty_bytes > keep)) {
                dirty_remove(s, kind);
                mark_taken(s);
                batch[n++] = s;
            }
        }
        ebb_unlock(&ebb_pool_lock);
        if (n == 0)
            return;
        purge_spans(batch, n);
        ebb_chunk_t *unmap[PURGE_BATCH];
        unsigned nunmap = 0;
        ebb_lock(&ebb_pool_lock);
        for (unsigned i = 0; i < n; i++) {
            ebb_chunk_t *c = mark_returned(batch[i]);
            if (c)
                unmap[nunmap++] = c;
        }
        ebb_unlock(&ebb_pool_lock);
        for (unsigned i = 0; i < nunmap; i++)
            unmap_chunk(unmap[i]);
        if (n < PURGE_BATCH)
            return;
    }
}

/* Purge dirty spans unused for the decay delay (all of them if `all`). */
void ebb_pool_decay(bool all)
{
    decay(!all, 0);
}

void ebb_pool_decay_to(size_t keep)
{
    decay(false, keep);
}

size_t ebb_pool_in_use(void)
{
    return atomic_load_explicit(&active_bytes, memory_order_relaxed);
}

size_t ebb_pool_dirty_pending(void)
{
    return atomic_load_explicit(&dirty_bytes, memory_order_relaxed);
}

/* ---- the interface ---- */

/* Whether a span of this kind taken now would bring fresh pages (no dirty one). */
bool ebb_pool_takes_fresh(unsigned kind)
{
    ebb_lock(&ebb_pool_lock);
    bool fresh = dirty[kind].first == NULL;
    ebb_unlock(&ebb_pool_lock);
    return fresh;
}

ebb_span_t *ebb_pool_take_span(unsigned kind)
{
    for (;;) {
        ebb_lock(&ebb_pool_lock);
        ebb_span_t *s = dirty[kind].first;
        if (s) {
            /* The most recently returned span: its pages are still resident. */
            dirty_remove(s, kind);
            mark_taken(s);
            ebb_unlock(&ebb_pool_lock);
            return s;
        }
        ebb_chunk_t *c = partial[kind];
        if (!c)
            c = take_empty_chunk(kind);
        if (c) {
            /* No span of this kind is dirty, so this one is clean. */
            s = &c->spans[__builtin_ctzll(c->free_mask)];
            mark_taken(s);
            ebb_unlock(&ebb_pool_lock);
            return s;
        }
        ebb_unlock(&ebb_pool_lock);
        if (!add_new_chunk(kind))
            return NULL;
    }
}

/* A span back in the pool, its pages purged already or left dirty. */
static void return_span(ebb_span_t *s)
{
    uint64_t now = ebb_now_ms();
    ebb_lock(&ebb_pool_lock);
    atomic_store_explicit(&s->heap, NULL, memory_order_relaxed);
    s->start_limit = 0; /* free() rejects its blocks without reading the owner */
    s->freed_at = now;
    ebb_chunk_t *unmap = mark_returned(s);
    size_t limit = dirty_limit();
    bool over = dirty_bytes > limit;
    ebb_unlock(&ebb_pool_lock);
    if (unmap)
        unmap_chunk(unmap);
    if (over && ebb_opt.decay_ms >= 0) /* -1: never purged but by malloc_trim */
        decay(false, limit - limit / OVER_LIMIT_DROP);
}

void ebb_pool_return_span(ebb_span_t *s)
{
    ebb_pool_return_spans(&s, 1, false);
}

void ebb_pool_return_spans(ebb_span_t **spans, unsigned n, bool purge_now)
{
    if (purge_now || ebb_opt.decay_ms == 0)
        purge_spans(spans, n);
    for (unsigned i = 0; i < n; i++)
        return_span(spans[i]);
}
