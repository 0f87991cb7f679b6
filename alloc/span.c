/* span.c — one span's blocks: carving, collecting remote frees, remote free itself. */
#include "internal.h"
#include "sizeclass.h"
#ifdef EBB_DEBUG_BUILD
#include "debug.h"
#endif

static void set_aside(ebb_span_t *s, uint64_t mask);
static uint64_t free_pages(const ebb_span_t *s);

/* What the last look of its heap's purge saw of a span (chunk.last_look). */
static uint64_t *last_look(ebb_span_t *s)
{
    return &s->chunk->last_look[s - s->chunk->spans];
}

/* A small span's free list and count of blocks in use (the head's offset in the span,
 * 16 bits, the count 13), with bit 31 set so that no state is 0, the word of a span
 * never looked at: either changes when a block is handed out, freed (once collected)
 * or carved. The look stores it in the low half of the span's last_look word, in
 * bits 32-47 the pages it found all free and left to age, and in bits 48-63 its heap's
 * round of looks (ebb_span_purge_pages). */
static uint32_t small_span_state(const ebb_span_t *s)
{
    uint32_t head = s->free ? (uint32_t)((uintptr_t)s->free - s->start) & 0xffffu : 0xffffu;
    return head | (uint32_t)atomic_load_explicit(&s->used, memory_order_relaxed) << 16 |
           (uint32_t)1 << 31;
}

/* The span every heap's current[] points to when it has none for a class: it has no
 * free block, so the fast path falls through to the slow path without a NULL test. */
ebb_span_t ebb_empty_span;

/* How many bytes of blocks to carve at once: enough to amortise the slow path, few
 * enough that a span's untouched pages stay untouched. */
#define CARVE_BYTES 4096u

void ebb_span_init(ebb_span_t *s, unsigned cls, ebb_heap_t *heap)
{
    const ebb_class_info_t *ci = &ebb_class_info[cls];
    s->free = NULL;
    s->local_free = NULL;
    atomic_store_explicit(&s->used, 0, memory_order_relaxed);
    s->capacity = 0;
    s->reserved = ci->reserved;
    s->block_size = ci->block_size;
    s->div_mul = ci->div_mul;
    s->start_limit = ci->start_limit;
    atomic_store_explicit(&s->remote_pending, 0, memory_order_relaxed);
    s->cls = (uint8_t)cls;
    s->in_full = false;
    s->big = ci->big;
    s->purged_mask = 0;
    s->purged_blocks = 0;
    *last_look(s) = 0;
    s->key = ebb_random_word() | 1;
    s->next = s->prev = s->remote_next = NULL;
    atomic_store_explicit(&s->thread_free, NULL, memory_order_relaxed);
    atomic_store_explicit(&s->full_state, EBB_SPAN_ACTIVE, memory_order_relaxed);
    ebb_map_tag_span(s); /* free() takes the class from the map */
    /* Release: a remote thread that sees this heap also sees the fields above. */
    atomic_store_explicit(&s->heap, heap, memory_order_release);
}

/* Owner: the next n never-used blocks join the carved part (capacity), and their bytes
 * may be resident from now on (touched). Returns the first. */
static uintptr_t carve(ebb_span_t *s, uint32_t n)
{
    uintptr_t first = s->start + (uintptr_t)s->capacity * s->block_size;
#ifdef EBB_DEBUG_BUILD
    ebb_debug_fill_carved((void *)first, (size_t)n * s->block_size);
#endif
    s->capacity += n;
    uint32_t end = s->capacity * s->block_size;
    if (end > s->touched)
        s->touched = end;
    return first;
}

/* Owner, s->free empty: carve the next never-used blocks onto the free list. */
void ebb_span_extend(ebb_span_t *s)
{
    uint32_t n = CARVE_BYTES / s->block_size;
    if (n == 0)
        n = 1;
    uint32_t left = (uint32_t)s->reserved - s->capacity;
    if (n > left)
        n = left;
    uintptr_t first = carve(s, n);
    ebb_block_t *b = (ebb_block_t *)first;
    for (uint32_t i = 1; i < n; i++) {
        ebb_block_t *next = (ebb_block_t *)((uintptr_t)b + s->block_size);
        ebb_block_set_next(s, b, next);
        b = next;
    }
    ebb_block_set_next(s, b, s->free);
    s->free = (ebb_block_t *)first;
}

/* Owner, s->free empty: the next never-used block, handed out without carving, so that
 * malloc writes nothing into a page the program has not touched: a block past `touched`
 * lies on memory nobody wrote since it was mapped or purged, so its link word is zero
 * already (free() requires a live block's link word not to look free). The page then
 * faults in where the program first writes it, and a block the program never fills
 * costs no page. */
__thread void *ebb_tls_zeroed __attribute__((tls_model("initial-exec")));

ebb_block_t *ebb_span_take_fresh(ebb_span_t *s)
{
    bool written = s->capacity * s->block_size < s->touched; /* by an earlier class */
    ebb_block_t *b = (ebb_block_t *)carve(s, 1);
#ifdef EBB_DEBUG_BUILD
    written = true; /* the freed fill, over the link word too */
#endif
    if (written)
        b->next_enc = 0;
    else /* all of it past `touched`: calloc need not write its pages, nor fault them */
        ebb_tls_zeroed = b;
    atomic_store_explicit(&s->used, atomic_load_explicit(&s->used, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return b;
}

/* Owner: move local frees and remote frees onto the free list. */
void ebb_span_collect(ebb_span_t *s)
{
    if (s->local_free) {
        if (!s->free) {
            s->free = s->local_free;
        } else {
            ebb_block_t *tail = s->local_free;
            for (ebb_block_t *n; (n = ebb_block_next(s, tail)) != NULL;)
                tail = n;
            ebb_block_set_next(s, tail, s->free);
            s->free = s->local_free;
        }
        s->local_free = NULL;
    }
    if (atomic_load_explicit(&s->thread_free, memory_order_relaxed) == NULL)
        return;
    ebb_block_t *list = atomic_exchange_explicit(&s->thread_free, NULL, memory_order_acquire);
    if (!list)
        return;
    uint32_t n = 1;
    ebb_block_t *tail = list;
    for (ebb_block_t *next; (next = ebb_block_next(s, tail)) != NULL; tail = next)
        n++;
    if (s->big) {
        for (ebb_block_t *b = list; b; b = ebb_block_next(s, b))
            ebb_span_block_freed(s, b);
    }
    ebb_block_set_next(s, tail, s->free);
    s->free = list;
    uint32_t used = atomic_load_explicit(&s->used, memory_order_relaxed);
    atomic_store_explicit(&s->used, used - n, memory_order_relaxed);
    atomic_fetch_sub_explicit(&s->remote_pending, n, memory_order_relaxed);
}

/* Owner, big spans: block b was just freed (locally, or collected from the remote
 * list). A block set aside by the purge is free already: freeing it again is a double
 * free (its link was purged with it, so the check in free() cannot see it). */
void ebb_span_block_freed(ebb_span_t *s, ebb_block_t *b)
{
    uint32_t idx = ebb_block_index(s, (uintptr_t)b - s->start);
    if (ebb_unlikely((s->purged_mask >> idx) & 1))
        ebb_fatal_ptr("free", "double free of", b);
    *last_look(s) &= ~((uint64_t)1 << idx); /* free for no time yet */
    ebb_heap_t *heap = atomic_load_explicit(&s->heap, memory_order_relaxed);
    if (!heap->purge_due && ebb_opt.decay_ms >= 0)
        heap->purge_due = ebb_now_ms() + ebb_big_look_ms();
}

/* Whole pages inside blocks [first, last] of a big span. */
static void big_run_pages(const ebb_span_t *s, uint32_t first, uint32_t last, uintptr_t *from,
                          uintptr_t *to)
{
    *from = ebb_align_up(s->start + (uintptr_t)first * s->block_size, ebb_page_size);
    *to = (s->start + (uintptr_t)(last + 1) * s->block_size) & ~(uintptr_t)(ebb_page_size - 1);
}

/* The next run of consecutive set bits of mask at or above bit `from`, as
 * [*first, *last]; false if there is none. */
static bool next_run(uint64_t mask, uint32_t from, uint32_t *first, uint32_t *last)
{
    if (from >= 64)
        return false;
    uint64_t m = mask & (~(uint64_t)0 << from);
    if (!m)
        return false;
    *first = (uint32_t)__builtin_ctzll(m);
    uint64_t gaps = ~(m >> *first); /* zero over the run */
    *last = gaps ? *first + (uint32_t)__builtin_ctzll(gaps) - 1 : 63;
    return true;
}

/* Owner, big spans: purge the free blocks that were free at the last look too (all of
 * them if !aged), each with the pages it covers, the one holding its link included. They
 * leave the free list, counted in purged_blocks and marked in purged_mask until
 * ebb_span_unpurge links them again. Neighbouring free blocks are purged in one call,
 * with the pages they share. The blocks still free are remembered for the next look;
 * true if there are any. */
bool ebb_span_purge_free_blocks(ebb_span_t *s, bool aged)
{
    ebb_span_collect(s);
    uint64_t free_now = 0;
    for (ebb_block_t *b = s->free; b; b = ebb_block_next(s, b))
        free_now |= (uint64_t)1 << ebb_block_index(s, (uintptr_t)b - s->start);
    uint64_t *seen = last_look(s);
    uint64_t newly = aged ? free_now & *seen : free_now;
    *seen = free_now & ~newly;
    if (!newly)
        return *seen != 0;
    set_aside(s, newly);
    uint64_t all = s->purged_mask | newly;
    for (uint32_t first, last, at = 0; next_run(all, at, &first, &last); at = last + 1) {
        /* Only runs with a newly purged block: the others are purged already. */
        uint64_t below_end = last == 63 ? ~(uint64_t)0 : ((uint64_t)1 << (last + 1)) - 1;
        if (!(newly & below_end & (~(uint64_t)0 << first)))
            continue;
        uintptr_t from, to;
        big_run_pages(s, first, last, &from, &to);
        if (to > from)
            ebb_os_purge((void *)from, to - from, s->cls);
    }
    s->purged_mask = all;
    return *seen != 0;
}

/* Owner: purge the pages past the carved blocks that an earlier use of the span left
 * resident (a span from the pool's dirty list keeps its earlier class's pages). */
void ebb_span_purge_tail(ebb_span_t *s)
{
    uintptr_t carved = ebb_align_up((uintptr_t)s->capacity * s->block_size, ebb_page_size);
    if (s->touched <= carved)
        return;
    ebb_os_purge((void *)(s->start + carved), ebb_align_up(s->touched, ebb_page_size) - carved,
                 s->cls);
    s->touched = (uint32_t)carved;
}

/* Bytes of a span's pages that are purged (for the statistics). */
size_t ebb_span_purged_bytes(const ebb_span_t *s)
{
    if (!s->big)
        return (size_t)__builtin_popcountll(s->purged_mask) * ebb_page_size;
    size_t bytes = 0;
    for (uint32_t first, last, at = 0; next_run(s->purged_mask, at, &first, &last);
         at = last + 1) {
        uintptr_t from, to;
        big_run_pages(s, first, last, &from, &to);
        if (to > from)
            bytes += to - from;
    }
    return bytes;
}

/* Any thread but the owner: push the block lock-free; if the owner parked the span on
 * its full list, tell the owner (once) by pushing the span on heap.remote_spans. True
 * if the block went into an abandoned heap. */
static bool remote_push(ebb_span_t *s, ebb_block_t *b)
{
    /* Read the span before the push: after it, the owner may collect the block, empty
     * the span and give it to another heap. */
    ebb_heap_t *owner = atomic_load_explicit(&s->heap, memory_order_relaxed);
    bool abandoned = owner && !atomic_load_explicit(&owner->owned, memory_order_relaxed);
    uint32_t block_size = s->block_size;
    atomic_fetch_add_explicit(&s->remote_pending, 1, memory_order_relaxed);
    ebb_block_t *old = atomic_load_explicit(&s->thread_free, memory_order_relaxed);
    do {
        ebb_block_set_next(s, b, old);
    } while (!atomic_compare_exchange_weak_explicit(&s->thread_free, &old, b,
                                                    memory_order_seq_cst,
                                                    memory_order_relaxed));
    /* An owner exiting meanwhile clears owned before its last collection (with a
     * seq_cst fence): if this load still sees it owned, that collection takes the
     * block; if not, the block waits in an abandoned heap and is counted as such. */
    if (owner && !abandoned)
        abandoned = !atomic_load_explicit(&owner->owned, memory_order_seq_cst);
    if (ebb_unlikely(abandoned)) {
        /* The total first: whoever takes the heap's part (acquire) then subtracts it
         * from a total that already holds it. */
        atomic_fetch_add_explicit(&ebb_abandoned_pending, block_size, memory_order_relaxed);
        atomic_fetch_add_explicit(&owner->abandoned_freed, block_size, memory_order_release);
    }
    if (ebb_likely(atomic_load_explicit(&s->full_state, memory_order_seq_cst) !=
                   EBB_SPAN_FULL))
        return abandoned;
    uint8_t expected = EBB_SPAN_FULL;
    if (!atomic_compare_exchange_strong_explicit(&s->full_state, &expected,
                                                 EBB_SPAN_NOTIFIED, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return abandoned;
    /* Read the owner after winning the state change: it set FULL after setting heap. */
    ebb_heap_t *heap = atomic_load_explicit(&s->heap, memory_order_acquire);
    ebb_span_t *head = atomic_load_explicit(&heap->remote_spans, memory_order_relaxed);
    do {
        s->remote_next = head;
    } while (!atomic_compare_exchange_weak_explicit(&heap->remote_spans, &head, s,
                                                    memory_order_release,
                                                    memory_order_relaxed));
    return abandoned;
}

void ebb_span_remote_free(ebb_span_t *s, ebb_block_t *b)
{
    /* Freed into the heap of an exited thread: nobody collects it until a thread exits
     * or the decay runs; let this thread's next calls run the decay (heap.c). Once the
     * push and its notice are done, as this may collect heaps. */
    if (ebb_unlikely(remote_push(s, b)))
        ebb_heap_freed_unowned();
}

static bool list_contains(const ebb_span_t *s, const ebb_block_t *list, const ebb_block_t *b)
{
    for (uint32_t steps = 0; list && steps <= s->capacity; steps++) {
        if (list == b)
            return true;
        list = ebb_block_next(s, list);
    }
    return false;
}

/* Owner. The block's link word decodes like a free-list link, which a live block's
 * data almost never does: look for it in the span's free lists, the remote one too
 * (what was pushed on it before this load stays there until the owner collects). */
void ebb_span_check_double_free(ebb_span_t *s, ebb_block_t *b, const char *func)
{
    if (list_contains(s, s->free, b) || list_contains(s, s->local_free, b) ||
        list_contains(s, atomic_load_explicit(&s->thread_free, memory_order_acquire), b))
        ebb_fatal_ptr(func, "double free of", b);
}

/* ---- purging the free pages of small spans ---- */

#define SMALL_SPAN_PAGES 16 /* a 64 KiB span of 4 KiB pages */

/* Blocks [first, last] overlap page p of the span. */
static void page_blocks(const ebb_span_t *s, unsigned p, uint32_t *first, uint32_t *last)
{
    uintptr_t lo = (uintptr_t)p * 4096u, hi = lo + 4096u - 1;
    *first = ebb_block_index(s, lo);
    *last = ebb_block_index(s, hi);
    if (*last >= s->capacity)
        *last = s->capacity - 1;
}

/* Whether block b touches one of the pages in mask. */
static bool on_pages(const ebb_span_t *s, const ebb_block_t *b, uint64_t mask)
{
    uintptr_t off = (uintptr_t)b - s->start;
    unsigned p0 = (unsigned)(off / 4096u), p1 = (unsigned)((off + s->block_size - 1) / 4096u);
    for (unsigned p = p0; p <= p1 && p < SMALL_SPAN_PAGES; p++)
        if ((mask >> p) & 1)
            return true;
    return false;
}

/* Whether block b lies on what mask marks: a block (big spans) or a page (small). */
static bool marked(const ebb_span_t *s, const ebb_block_t *b, uint64_t mask)
{
    if (s->big)
        return (mask >> ebb_block_index(s, (uintptr_t)b - s->start)) & 1;
    return on_pages(s, b, mask);
}

/* Owner: the free blocks that mask marks leave the free list (their links are about to
 * be purged), counted in purged_blocks. */
static void set_aside(ebb_span_t *s, uint64_t mask)
{
    ebb_block_t *head = NULL, *last = NULL;
    uint32_t removed = 0;
    for (ebb_block_t *b = s->free, *next; b; b = next) {
        next = ebb_block_next(s, b);
        if (marked(s, b, mask)) {
            removed++;
            continue;
        }
        if (last)
            ebb_block_set_next(s, last, b);
        else
            head = b;
        last = b;
    }
    if (last)
        ebb_block_set_next(s, last, NULL);
    s->free = head;
    s->purged_blocks = (uint16_t)(s->purged_blocks + removed);
}

/* Owner, small spans: purge the pages whose blocks are all free, as `look` says. Those
 * blocks leave the free list (their links may be on the purged page) until
 * ebb_span_unpurge. */
bool ebb_span_purge_pages(ebb_span_t *s, ebb_pages_look_t look, uint16_t round,
                          uint32_t *budget)
{
    if (s->big || ebb_page_size != 4096 || !s->capacity)
        return true;
    ebb_span_collect(s);
    if (!s->free)
        return true;
    uint64_t word = *last_look(s);
    uint64_t seen = (word >> 32) & 0xffffu & ~s->purged_mask; /* all free at the last look */
    /* Unchanged since a look that found no free page: the walk of its free list (every
     * partly free span's, at every look) would find none again. Only then: the state
     * is no proof, a few calls can leave the head and the count as they were with other
     * blocks in use, so the pages a look purges are always those its walk found. */
    if (look != EBB_PAGES_AGAIN && !seen && (uint32_t)word == small_span_state(s))
        return true;
    /* An aged look that can purge nothing here (no page waits) only notes the free pages
     * for the next: once a round (a span never looked at has word 0), within the budget. */
    if (look == EBB_PAGES_AGED && !seen) {
        if (word && (uint16_t)(word >> 48) == round)
            return true;
        uint32_t walk = (uint32_t)(s->capacity - s->purged_blocks -
                                   atomic_load_explicit(&s->used, memory_order_relaxed));
        if (walk > *budget)
            return false;
        *budget -= walk;
    }
    uint64_t pages = free_pages(s);
    uint64_t purge = look == EBB_PAGES_AGED ? pages & seen : pages;
    if (purge) {
        set_aside(s, purge | s->purged_mask);
        for (unsigned p = 0; p < SMALL_SPAN_PAGES; p++) {
            if (!((purge >> p) & 1))
                continue;
            unsigned q = p;
            while (q + 1 < SMALL_SPAN_PAGES && ((purge >> (q + 1)) & 1))
                q++;
            ebb_os_purge((void *)(s->start + (uintptr_t)p * 4096u),
                         (uintptr_t)(q - p + 1) * 4096u, s->cls);
            p = q;
        }
        s->purged_mask |= purge;
    }
    *last_look(s) = small_span_state(s) | (pages & ~purge) << 32 | (uint64_t)round << 48;
    return true;
}

/* The pages of small span s whose blocks are all free, not purged yet. */
static uint64_t free_pages(const ebb_span_t *s)
{
    uint64_t freebits[4096 / 64] = {0};
    for (ebb_block_t *b = s->free; b; b = ebb_block_next(s, b)) {
        uint32_t i = ebb_block_index(s, (uintptr_t)b - s->start);
        freebits[i / 64] |= (uint64_t)1 << (i % 64);
    }
    uintptr_t carved = (uintptr_t)s->capacity * s->block_size;
    uint64_t pages = 0;
    for (unsigned p = 0; p < SMALL_SPAN_PAGES && (uintptr_t)p * 4096u < carved; p++) {
        if (s->purged_mask & ((uint64_t)1 << p))
            continue;
        uint32_t first, last;
        page_blocks(s, p, &first, &last);
        bool all_free = true;
        for (uint32_t i = first; i <= last && all_free; i++)
            all_free = (freebits[i / 64] >> (i % 64)) & 1;
        if (all_free)
            pages |= (uint64_t)1 << p;
    }
    return pages;
}

/* Owner: put the blocks set aside on purged pages (small spans) or purged whole (big
 * spans) back on the free list; their pages fault in again as they are used. */
void ebb_span_unpurge(ebb_span_t *s)
{
    if (!s->purged_blocks)
        return;
    for (uint32_t i = s->capacity; i-- > 0;) {
        ebb_block_t *b = (ebb_block_t *)(s->start + (uintptr_t)i * s->block_size);
        if (marked(s, b, s->purged_mask)) {
            ebb_block_set_next(s, b, s->free);
            s->free = b;
        }
    }
    s->purged_mask = 0;
    s->purged_blocks = 0;
}
