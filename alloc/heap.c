/* heap.c — thread heaps: acquisition on a thread's first call, the malloc and free
 * slow paths, parking full spans, thread exit and the adoption of abandoned heaps. */
#include <errno.h>
#include <pthread.h>

#include "internal.h"
#include "sizeclass.h"

#define EMPTY_CURRENT {[0 ... EBB_CLASSES - 1] = &ebb_empty_span}

/* The heap of a thread that has none yet (or has exited): every class's current span
 * is the empty span, so its fast path always falls into the slow path. */
ebb_heap_t ebb_empty_heap = {.current = EMPTY_CURRENT};

__thread ebb_heap_t *ebb_tls_heap __attribute__((tls_model("initial-exec"))) = &ebb_empty_heap;

/* FRESH until the thread's first heap; ACQUIRING while acquire_heap runs (it collects
 * heaps, which may free into abandoned ones: ebb_heap_freed_unowned must not
 * acquire a second heap then). */
enum { THREAD_FRESH = 0, THREAD_ACQUIRING, THREAD_ACTIVE, THREAD_EXITED };
static __thread uint8_t tls_state __attribute__((tls_model("initial-exec")));

/* The shared heap (shared.c), owned by whoever holds its lock. */
ebb_lock_t ebb_shared_lock = EBB_LOCK_INIT;
ebb_heap_t ebb_shared_heap = {.current = EMPTY_CURRENT, .owned = true};
/* The heap that keeps spans of its own for every class (shared.c); written under the
 * pool lock. */
ebb_heap_t *ebb_first_heap;
/* Held while abandoned heaps are off their list being collected: one collector at a
 * time, so that none misses frees made while another holds the heaps. */
ebb_lock_t ebb_collect_lock = EBB_LOCK_INIT;
/* Under the pool lock: collect_abandoned has taken the abandoned heaps off their list. */
static bool abandoned_out;

/* Bytes freed into heaps of exited threads since they were last collected or adopted:
 * the sum of their abandoned_freed. */
_Atomic size_t ebb_abandoned_pending;

/* Takes the heap's part of ebb_abandoned_pending; true if there was any. The total
 * stops at zero: the decay clears it (below), for the heaps of the threads a fork left
 * behind too, which nobody collects. */
static bool take_abandoned_freed(ebb_heap_t *heap)
{
    size_t freed = atomic_exchange_explicit(&heap->abandoned_freed, 0, memory_order_acquire);
    if (!freed)
        return false;
    size_t total = atomic_load_explicit(&ebb_abandoned_pending, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&ebb_abandoned_pending, &total,
                                                  total > freed ? total - freed : 0,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
    return true;
}

/* Under the pool lock. */
static ebb_heap_t *all_heaps;
static ebb_heap_t *abandoned_heaps;
/* Heaps owned by live threads: written under the pool lock, read anywhere. */
static _Atomic size_t owned_count;

/* Two threads or more own heaps. An exiting thread, which no longer counts, then keeps
 * memory for the others (the last worker of a main thread does not); a thread that
 * owns the only heap arms sooner. */
static bool several_own_heaps(void)
{
    return atomic_load_explicit(&owned_count, memory_order_relaxed) >= 2;
}

static pthread_key_t heap_key;

/* What a thread's exit keeps. While two threads or more still own heaps, an exiting
 * thread leaves the free blocks of its heap resident for the thread that adopts the heap
 * next, and the pool keeps EXIT_KEEP of its dirty spans, the most recently returned, for
 * the other threads: a program whose threads come and go would otherwise fault in every
 * page each thread uses (purging the heap at every exit, and the pool down to 512 KiB,
 * made the 400-thread trace fault 44 k pages in 66 ms; 21 k in 35 ms now, medians of 8
 * alternating replays; keeping 4 or 8 MiB did no better). The abandoned heaps keep at
 * most KEPT_FREE_MAX so in all, the most recently abandoned: an exit purges the free
 * pages of those past it, and the decay purges every abandoned heap's. With one thread
 * left (the main thread of a program whose workers are done, say) nothing is kept: its
 * next calls may be few. */
#define EXIT_KEEP ((size_t)2 << 20)
#define KEPT_FREE_MAX ((size_t)2 << 20)

/* When the last exit that left one thread purged everything (ms; 0: never). A program
 * that starts a new set of workers each time a set ends (larson: 100 generations of 4
 * threads in 330 ms) purged every free page of its heaps and of the pool at the end of
 * each generation, and faulted them in again in the next: 83% of its madvise calls, and
 * TLB shootdowns and faults for about 15% of its time. */
static _Atomic uint64_t lone_exit_ms;

/* Whether an exit that leaves one thread owning a heap keeps some memory for the next
 * set of workers: if such an exit purged everything less than a decay delay ago. It
 * then keeps an eighth of the memory in use in the abandoned heaps' free pages and an
 * eighth in the pool's dirty spans (a quarter in all, the part of the slack bound
 * relative to live bytes), each figured once the spans that the exit and the shared
 * heap's tidying empty are back in the pool; the decay, or the next such exit past the
 * delay, gives back the rest. A program whose workers are done, and whose main thread
 * then makes a single call, still settles within the bound (test rss_consumer): what
 * its last exit keeps follows what is still in use. */
static bool lone_exit_keeps(void)
{
    if (ebb_opt.decay_ms <= 0)
        return false;
    uint64_t now = ebb_now_ms();
    uint64_t last = atomic_load_explicit(&lone_exit_ms, memory_order_relaxed);
    if (last && now - last < (uint64_t)ebb_opt.decay_ms)
        return true;
    atomic_store_explicit(&lone_exit_ms, now, memory_order_relaxed);
    return false;
}

/* What each of the two parts keeps, then: an eighth of the memory in use, read when
 * that part is given back. */
static size_t lone_exit_share(void)
{
    return ebb_pool_in_use() / 8;
}

uintptr_t ebb_self(void)
{
    return (uintptr_t)&ebb_tls_heap;
}

static void collect_abandoned(bool wait, ebb_collect_t how, size_t keep);
static void tidy_shared(bool all);

/* An armed heap keeps every current[] empty, so that its mallocs reach the slow path
 * (see "armed heaps" below); only ebb_heap_alloc hands it a span for one malloc. */
static void set_current(ebb_heap_t *heap, unsigned cls)
{
    ebb_span_t *first = heap->queue[cls].first;
    heap->current[cls] = first && !heap->armed ? first : &ebb_empty_span;
}

/* ---- the full list ---- */

/* A span with no free block and nothing left to carve leaves its class queue, so the
 * slow path never walks it again until a free brings it back. */
static void park_full(ebb_heap_t *heap, ebb_span_t *s)
{
    ebb_span_list_remove(&heap->queue[s->cls], s);
    ebb_span_list_push_back(&heap->full, s);
    s->in_full = true;
    atomic_store_explicit(&s->full_state, EBB_SPAN_FULL, memory_order_seq_cst);
    /* A remote free that pushed before seeing FULL did not notify: look for it. */
    if (atomic_load_explicit(&s->thread_free, memory_order_seq_cst) != NULL) {
        uint8_t expected = EBB_SPAN_FULL;
        if (atomic_compare_exchange_strong_explicit(&s->full_state, &expected,
                                                    EBB_SPAN_ACTIVE, memory_order_acq_rel,
                                                    memory_order_relaxed)) {
            ebb_span_list_remove(&heap->full, s);
            s->in_full = false;
            ebb_span_list_push_back(&heap->queue[s->cls], s);
        }
        /* else NOTIFIED: the span is on remote_spans and comes back from there. */
    }
}

static void unpark(ebb_heap_t *heap, ebb_span_t *s)
{
    ebb_span_list_remove(&heap->full, s);
    s->in_full = false;
    ebb_span_list_push_back(&heap->queue[s->cls], s);
    if (heap->current[s->cls] == &ebb_empty_span && !heap->armed)
        heap->current[s->cls] = s;
}

static void process_remote_spans(ebb_heap_t *heap)
{
    if (atomic_load_explicit(&heap->remote_spans, memory_order_relaxed) == NULL)
        return;
    ebb_span_t *s = atomic_exchange_explicit(&heap->remote_spans, NULL, memory_order_acquire);
    while (s) {
        ebb_span_t *next = s->remote_next;
        s->remote_next = NULL;
        unpark(heap, s);
        atomic_store_explicit(&s->full_state, EBB_SPAN_ACTIVE, memory_order_release);
        s = next;
    }
}

/* When purge_free_pages looks: on time, now, or now at every page (malloc_trim). */
typedef enum { PURGE_DUE, PURGE_NOW, PURGE_EVERY_PAGE } purge_when_t;

/* Looks at small spans' free pages in a decay delay: every PAGES_LOOKS-th purges every
 * page whose blocks are all free, as the one look a delay did before; the others purge
 * those that were so at the look before too. Free pages used to wait up to a whole
 * delay: on the `gcc-cc1` trace, whose replay is shorter than the delay, they were
 * never purged, and its peak was 5.66 MiB against glibc's 4.88; the looks in between
 * take it to 5.42 (4% more page faults, the same time; 16 or 64 looks a delay, 5.41).
 * Purging every free page at each of them, with no aging, would purge pages a program
 * frees and reuses at once. */
#define PAGES_LOOKS 8

/* An aged look (one of those in between) walks the free blocks of every span where
 * pages wait to be purged, but of the others, where it can only note the free pages for
 * the next look, at most this many in all (the spans left are walked at the next looks,
 * each once a round). A walk follows each free block's link, a cache miss apiece in a
 * large heap of partly free spans: on the `fragment` trace (60 000 blocks freed one in
 * two, no page all free) the first aged look walked them all, and its replay's
 * allocator time was 15.8 ms instead of 11.8. The decay's look walks everything, as the
 * one look a delay did before. */
#define AGED_LOOK_BLOCKS 8192

/* Owner: purge the free blocks of big spans that were free at the last look too (a look
 * is due every ebb_big_look_ms while any wait), and the free pages of small spans that
 * are at least an eighth free (PAGES_LOOKS above); or all of it without waiting. */
static void purge_free_pages(ebb_heap_t *heap, purge_when_t when, uint64_t now)
{
    bool force = when != PURGE_DUE;
    if (ebb_opt.decay_ms < 0 && !force)
        return;
    bool big_due = heap->purge_due && (force || now >= heap->purge_due);
    bool pages_due = force || now >= heap->pages_due;
    if (!big_due && !pages_due)
        return;
    if (big_due)
        heap->purge_due = 0;
    ebb_pages_look_t look = force ? EBB_PAGES_AGAIN : EBB_PAGES_AGED;
    if (pages_due) {
        uint64_t delay = (uint64_t)(ebb_opt.decay_ms > 0 ? ebb_opt.decay_ms : 0);
        heap->pages_due = now + delay / PAGES_LOOKS;
        if (!force && now >= heap->pages_all_due) {
            look = EBB_PAGES_ALL;
            heap->pages_all_due = now + delay;
        }
    }
    bool big_left = false;
    uint32_t budget = look == EBB_PAGES_AGED ? AGED_LOOK_BLOCKS : UINT32_MAX;
    bool round_done = true;
    for (unsigned c = 0; c < EBB_CLASSES; c++) {
        bool big = ebb_class_info[c].big;
        if (big ? !big_due : !pages_due)
            continue;
        for (ebb_span_t *s = heap->queue[c].first; s; s = s->next) {
            /* The pages an earlier class left resident past the carved blocks go at
             * every look; leaving those of big spans to the looks at small spans, once
             * a delay, took the real gcc case's peak from 48.3 to 50.3 MiB. */
            ebb_span_purge_tail(s);
            if (big) {
                big_left |= ebb_span_purge_free_blocks(s, !force && ebb_opt.decay_ms > 0);
            } else if (when == PURGE_EVERY_PAGE ||
                       atomic_load_explicit(&s->used, memory_order_relaxed) <
                           (uint32_t)(s->capacity - s->capacity / 8)) {
                /* At least an eighth free: pages whose blocks are all free are likely.
                 * (Half free instead leaves 26 MiB of slack on bench/memory.c's
                 * forkexec, this 19 MiB; purging every span does no better.) */
                round_done &= ebb_span_purge_pages(s, look, heap->pages_round, &budget);
            }
        }
    }
    if (pages_due && round_done)
        heap->pages_round++;
    if (big_left && !heap->purge_due)
        heap->purge_due = now + ebb_big_look_ms();
}

/* ---- allocation slow path ---- */

/* A class about to take fresh pages from the pool: the empty spans of big blocks that
 * other classes of its kind keep as current go to the pool first, so that their
 * resident pages serve it (a program using many classes one block at a time, e.g. a
 * compiler's 16-64 KiB buffers, would otherwise hold a span's pages per class until the
 * decay). Spans of small blocks stay: they hold little, and a block freed there stays
 * on its free list, where a double free of it is caught. True if any span went. */
static bool release_idle_current(ebb_heap_t *heap, unsigned kind)
{
    bool released = false;
    for (unsigned c = 0; c < EBB_CLASSES; c++) {
        ebb_span_t *s = heap->current[c];
        if (s == &ebb_empty_span || ebb_class_info[c].kind != kind || !s->big ||
            atomic_load_explicit(&s->used, memory_order_relaxed) != 0)
            continue;
        ebb_span_list_remove(&heap->queue[c], s);
        set_current(heap, c);
        ebb_pool_return_span(s);
        released = true;
    }
    return released;
}

/* Find (or make) a span of class cls with a free or never-used block; it becomes
 * current. Blocks already freed are preferred to new ones from a span's untouched
 * pages, and those to taking a new span, so that resident memory is reused first. */
static ebb_span_t *find_span(ebb_heap_t *heap, unsigned cls)
{
    ebb_span_list_t *q = &heap->queue[cls];
    ebb_span_t *s = q->first, *extendable = NULL;
    while (s) {
        ebb_span_t *next = s->next;
        ebb_span_collect(s);
        if (!s->free && s->purged_blocks)
            ebb_span_unpurge(s);
        if (s->free)
            break;
        if (ebb_span_can_grow(s)) {
            if (!extendable)
                extendable = s;
        } else {
            park_full(heap, s);
            if (!s->in_full)
                continue; /* a remote free raced in: s is back on the queue, collect it */
        }
        s = next;
    }
    if (!s && extendable)
        s = extendable;
    if (!s) {
        unsigned kind = ebb_class_info[cls].kind;
        /* About to grow the process by a span, unless an idle one is released: give
         * back as much of the freed large blocks kept for reuse. */
        if (ebb_pool_takes_fresh(kind) && !release_idle_current(heap, kind) &&
            ebb_large_cache_pending())
            ebb_large_cache_give((size_t)1 << ebb_span_shift_of_kind[kind]);
        s = ebb_pool_take_span(kind);
        if (!s) {
            set_current(heap, cls);
            return NULL;
        }
        ebb_span_init(s, cls, heap);
        ebb_span_list_push_front(q, s);
    } else if (s != q->first) {
        ebb_span_list_remove(q, s);
        ebb_span_list_push_front(q, s);
    }
    heap->current[cls] = s;
    return s;
}

/* Enough free memory waits for the decay to be worth a slow path per call: 1 MiB plus
 * 1/16 of the spans in use. Below it, a program churning memory (which reuses what it
 * frees) runs at full speed; what may stay unpurged if the program then goes quiet is
 * within the slack bound (2 MiB + 25% of live bytes). The part relative to the memory in
 * use keeps a program whose threads come and go (their heaps' free pages wait for the
 * decay while the next threads reuse them) from running armed all the time. Frees into
 * the heaps of exited threads by the only thread left count against 1 MiB alone: spans
 * in use are address space, and many threads' heaps, each with spans of a few blocks,
 * made the relative part so large that a main thread freeing the 40 MiB its exited
 * workers left was never armed, and kept it all resident. */
#define ARM_THRESHOLD ((size_t)1 << 20)

static bool much_pending(void)
{
    size_t threshold = ARM_THRESHOLD + ebb_pool_in_use() / 16;
    bool alone = !several_own_heaps();
    /* The dirty spans that thread exits keep for the other threads do not count: with
     * them, every thread of a program whose threads come and go ran armed (mstress
     * spent a fifth of its instructions there). Freed large blocks count by what they
     * may hold resident: any one of them armed the heap before, and python-dicts, which
     * frees blocks of 0.3-0.8 MiB, ran armed to its end (10% of its allocator time). */
    size_t waiting = ebb_pool_dirty_pending() + ebb_large_cached_touched();
    ptrdiff_t net = atomic_load_explicit(&ebb_shared_net, memory_order_relaxed);
    size_t freed = atomic_load_explicit(&ebb_abandoned_pending, memory_order_relaxed) +
                   (alone ? atomic_load_explicit(&ebb_shared_freed, memory_order_relaxed)
                          : net > 0 ? (size_t)net : 0);
    return waiting >= threshold + (alone ? 0 : EXIT_KEEP) ||
           freed >= (alone ? ARM_THRESHOLD : threshold);
}

/* ---- armed heaps ----
 * A thread that freed memory now waiting for the decay arms its heap: until little
 * waits, its mallocs and cached frees come to the slow path, which reads the clock (a
 * few ns) and runs the decay once it is due, so that a program that frees much and then
 * makes only a few calls after the delay gets its memory back. Between two looks of the
 * decay the heap still caches: its blocks are held in the bins out of the fast paths'
 * sight (ebb_cache_off) and served from here, so that a program churning memory while
 * some waits (threads coming and going, say) keeps most of its speed. */

static void hide_current(ebb_heap_t *heap)
{
    for (unsigned c = 0; c < EBB_CLASSES; c++)
        heap->current[c] = &ebb_empty_span;
}

void ebb_heap_arm(ebb_heap_t *heap)
{
    /* Not a heap without a cache (the empty and shared heaps): the shared heap serves
     * every thread's refills, which would each take its slow path. */
    if (!heap->cache_slots || heap->armed || ebb_opt.decay_ms <= 0 || !much_pending())
        return;
    heap->armed = true;
    heap->armed_seen = ebb_now_ms();
    hide_current(heap);
    ebb_cache_off(heap);
}

/* The periodic work of the slow paths: the decay if due, this heap's free pages, and
 * the heap disarmed once little waits. The shared heap's leaves the decay to the thread
 * that called: it runs its own periodic work first, outside the shared lock, which the
 * decay (collecting every abandoned heap, purging) would hold long. */
static void periodic_work(ebb_heap_t *heap, uint64_t now)
{
    if (heap != &ebb_shared_heap && ebb_purge_tick_at(now))
        collect_abandoned(false, EBB_COLLECT_PURGE, 0);
    purge_free_pages(heap, PURGE_DUE, now);
    if (heap->armed && !much_pending()) {
        heap->armed = false;
        ebb_cache_on(heap);
        /* What the hidden bins held goes back to the spans rather than stay cached: a
         * thread that freed what exited threads left (their heaps' spans) and goes
         * quiet would keep a page resident for each such block. The armed heap's slow
         * path gives it all back once it is quiet for a delay, but only while armed:
         * with EBB_BACKGROUND=1 the decay's thread collected the exited heaps, the
         * freeing thread disarmed at its next call, and bench/memory.c's `threads`
         * settled at 1.5-9.7 MiB (1.0-1.2 without the thread; 1.2-1.4 with it since).
         * Not covered: blocks such a thread frees into its bins after it disarmed, and
         * before it frees enough to arm again, stay cached if it then goes quiet. */
        ebb_cache_flush(heap, false);
    }
}

/* An armed heap's call that its held blocks could serve: true if they may (the decay is
 * not due). A heap unused for a whole delay first gives back everything it holds,
 * purged: the program went quiet, and this call may be its last for long. */
static bool armed_call(ebb_heap_t *heap, uint64_t now)
{
    uint64_t last = heap->armed_seen;
    heap->armed_seen = now;
    if (now - last >= (uint64_t)ebb_opt.decay_ms) {
        ebb_heap_collect_all(heap, EBB_COLLECT_PURGE);
        return false;
    }
    return !ebb_purge_due(now);
}

/* free() of a block when the heap is armed and its bin is hidden. */
void ebb_heap_free_armed(ebb_heap_t *heap, ebb_span_t *s, ebb_block_t *b)
{
    uint64_t now = ebb_now_ms();
    if (!armed_call(heap, now))
        periodic_work(heap, now);
    else if (ebb_cache_held_push(heap, s, b))
        return;
    ebb_cache_release_one(heap, b);
}

/* Of the quick refills of a current span (from its own local frees, or a new block),
 * one in QUICK_PERIOD goes through the whole slow path, so that the periodic work
 * (decay, purging free pages, remote spans) still runs in a program that keeps reusing
 * the same blocks or growing one span. */
#define QUICK_PERIOD 64

/* A big class about to hand out a block on pages it never touched (a new block past
 * what its span carved, or a new span): a free block of a larger class kept as current,
 * at most half as large again, serves instead, so that memory already resident is
 * reused rather than more taken. A program whose temporaries of 16 KiB and more vary
 * in size (a compiler's buffers) frees them into one class and asks for the next in
 * another; without this, each class keeps its freed blocks resident until the decay,
 * while the others grow (gcc-cc1 trace: peak 6.22 -> 5.9 MiB; borrowing up to 1.25x
 * the size, 5.98; up to 2x or any size, no better). The block stays its span's: free()
 * and malloc_usable_size see its real class. Not for an aligned allocation (`exact`):
 * its class was chosen for the alignment of its blocks, which a larger class's may
 * lack. Only resident blocks are lent, not purged ones: lending those too took
 * python-dicts' peak from 19.84 to 19.27 MiB, but the borrower writes only what it asked
 * for, up to a third less than the block, and the pages of the rest stay unbacked while
 * the statistics count them resident (test rss_return's mixed runs, under load, counted
 * 4.8 MiB more than the process had). Small classes do not borrow: a fresh block of
 * theirs costs a page at most, and their freed blocks are reused from the heap's cache.
 * An armed heap has no current span to borrow from. */
static void *borrow_larger(ebb_heap_t *heap, unsigned cls)
{
    size_t size = ebb_class_info[cls].block_size;
    for (unsigned c = cls + 1; c < EBB_CLASSES && ebb_class_info[c].block_size <= size + size / 2;
         c++) {
        ebb_span_t *s = heap->current[c];
        if (!s->free)
            ebb_span_collect(s); /* its local and remote frees; nothing in the empty span */
        void *p = ebb_span_pop(s); /* NULL from the empty span */
        if (p)
            return p;
    }
    return NULL;
}

/* A block never handed out from span s (ebb_span_can_grow): borrowed from a larger
 * class when it would be on pages s never touched, unless the class is `exact`. */
static inline __attribute__((always_inline)) void *
take_fresh(ebb_heap_t *heap, ebb_span_t *s, unsigned cls, bool exact)
{
    /* Blocks other threads freed come before new pages (depot.c). */
    if (cls < EBB_CACHED_CLASSES && ebb_unlikely(atomic_load_explicit(
                                        &ebb_depot_count[cls], memory_order_relaxed)) &&
        heap->cache_slots && !heap->armed) {
        void *p = ebb_depot_take(heap, cls);
        if (p)
            return p;
    }
    if (s->big && !exact && ebb_span_fresh_untouched(s)) {
        void *p = borrow_larger(heap, cls);
        if (p)
            return p;
    }
    return ebb_span_take_fresh(s);
}

/* ebb_heap_alloc past its quick refills: an armed heap's held blocks, the periodic work,
 * then a span found or taken for the class. Apart, so that the quick refills (every new
 * block of a program building up its data, say) need no large frame: 149 -> 113
 * instructions a malloc on the fragment trace, whose mallocs are nearly all new
 * blocks. */
static EBB_NOINLINE void *alloc_slow(ebb_heap_t *heap, unsigned cls, bool exact, bool shares)
{
    uint64_t now = ebb_now_ms();
    if (heap->armed && armed_call(heap, now)) {
        void *p = ebb_cache_held_pop(heap, cls);
        if (p)
            return p;
    }
    periodic_work(heap, now);
    if (shares)
        return ebb_shared_alloc(heap, cls, exact);
    process_remote_spans(heap);
    ebb_span_t *s = find_span(heap, cls);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = s->free ? ebb_span_pop(s) : take_fresh(heap, s, cls, exact);
    if (heap->armed) {
        if (!s->free && ebb_span_can_grow(s))
            ebb_span_extend(s);
        heap->current[cls] = &ebb_empty_span;
        ebb_cache_fill(heap, s, EBB_ARMED_FILL);
    }
    return p;
}

void *ebb_heap_alloc(ebb_heap_t *heap, unsigned cls, bool exact)
{
    bool shares = ebb_heap_shares(heap, cls);
    if (!heap->armed && !shares) {
        ebb_span_t *cur = heap->current[cls];
        void *p = ebb_span_pop(cur);
        if (p)
            return p;
        /* The span's own local frees, or, if it is the only span of its class with
         * nothing freed to reuse, a new block. */
        bool fresh = !cur->local_free && ebb_span_can_grow(cur) && !cur->next &&
                     !atomic_load_explicit(&cur->thread_free, memory_order_relaxed);
        if ((cur->local_free || fresh) && (++heap->refills % QUICK_PERIOD) != 0) {
            if (fresh)
                return take_fresh(heap, cur, cls, exact);
            cur->free = cur->local_free;
            cur->local_free = NULL;
            return ebb_span_pop(cur);
        }
    }
    return alloc_slow(heap, cls, exact, shares);
}

/* A thread's first allocation: adopt an abandoned heap or make a new one. */
static ebb_heap_t *acquire_heap(void)
{
    tls_state = THREAD_ACQUIRING;
    ebb_ensure_init();
    ebb_lock(&ebb_pool_lock);
    ebb_heap_t *heap = abandoned_heaps;
    if (!heap && abandoned_out) {
        /* The abandoned heaps are out being collected (by an exiting thread, say):
         * wait for them rather than make a heap while theirs sit unused. */
        ebb_unlock(&ebb_pool_lock);
        ebb_lock(&ebb_collect_lock);
        ebb_unlock(&ebb_collect_lock);
        ebb_lock(&ebb_pool_lock);
        heap = abandoned_heaps;
    }
    if (heap) {
        abandoned_heaps = heap->abandoned_next;
        heap->abandoned_next = NULL;
    } else {
        /* page-aligned: the stacks are purged as whole pages */
        char *mem = ebb_meta_alloc_aligned(EBB_CACHE_SLOTS_BYTES + sizeof(ebb_heap_t), 4096);
        heap = mem ? (ebb_heap_t *)(mem + EBB_CACHE_SLOTS_BYTES) : NULL;
        if (heap) {
            heap->cache_slots = (void **)mem;
            for (unsigned c = 0; c < EBB_CLASSES; c++)
                heap->current[c] = &ebb_empty_span;
            ebb_cache_setup(heap);
            heap->all_next = all_heaps;
            all_heaps = heap;
        }
    }
    if (heap) {
        if (!ebb_first_heap)
            ebb_first_heap = heap;
        atomic_store_explicit(&heap->owned, true, memory_order_relaxed);
        atomic_fetch_add_explicit(&owned_count, 1, memory_order_relaxed);
        heap->kept = false;
    }
    ebb_unlock(&ebb_pool_lock);
    if (!heap)
        return NULL;
    /* No longer pending in an abandoned heap: collected right below. */
    take_abandoned_freed(heap);
    /* Frees made into it since its thread exited; its free pages stay for the new
     * owner, who is about to allocate. */
    ebb_heap_collect_all(heap, EBB_COLLECT_KEEP);
    if (ebb_purge_tick())
        collect_abandoned(false, EBB_COLLECT_PURGE, 0);
    ebb_tls_heap = heap;
    tls_state = THREAD_ACTIVE;
    /* Registers the exit destructor. May allocate (for high key numbers): the heap is
     * already in place, so such a nested call takes the normal path. */
    pthread_setspecific(heap_key, heap);
    return heap;
}

void *ebb_heap_malloc_slow(ebb_heap_t *heap, unsigned cls, bool exact)
{
    if (ebb_likely(heap != &ebb_empty_heap))
        return ebb_heap_alloc(heap, cls, exact);
    if (tls_state == THREAD_EXITED) {
        ebb_lock(&ebb_shared_lock);
        void *p = ebb_heap_alloc(&ebb_shared_heap, cls, exact);
        ebb_unlock(&ebb_shared_lock);
        return p;
    }
    heap = acquire_heap();
    if (!heap) {
        errno = ENOMEM;
        return NULL;
    }
    return ebb_heap_alloc(heap, cls, exact);
}

/* The calling thread freed into a heap no thread owns (of an exited thread, or the
 * shared heap): arm its heap, and give it one first if it has none. A thread that only
 * frees (a consumer of what threads that are gone made) would otherwise never run the
 * decay, and as it has no heap nothing would collect at its exit what it freed: the
 * 400-thread trace, whose thread 0 frees what the others leave, kept 20-34 MiB in about
 * one replay in 80, and over 2 MiB in one in six. */
void ebb_heap_freed_unowned(void)
{
    ebb_heap_t *heap = ebb_tls_heap;
    if (heap == &ebb_empty_heap) {
        if (tls_state != THREAD_FRESH) /* exited, or acquiring one now */
            return;
        heap = acquire_heap();
        if (!heap)
            return;
    }
    /* While other threads run, collect the abandoned heaps now rather than run armed
     * until the decay does: their empty spans go to the pool, where the decay finds
     * them, and their free blocks wait there for the next thread, as after an exit
     * (threads freeing what a thread of theirs that finished first left, as in every
     * phase of mstress, ran armed until the phase ended). */
    if (!heap->armed && several_own_heaps() && much_pending())
        collect_abandoned(false, EBB_COLLECT_SPANS, KEPT_FREE_MAX);
    ebb_heap_arm(heap);
}

/* ---- free slow path ---- */

/* Owner, after a local free left the span empty, hit a parked span, or freed a big
 * block. */
void ebb_heap_free_slow(ebb_heap_t *heap, ebb_span_t *s, ebb_block_t *b)
{
    if (s->big) {
        ebb_span_block_freed(s, b);
        purge_free_pages(heap, PURGE_DUE, ebb_now_ms());
    }
    if (s->in_full) {
        uint8_t expected = EBB_SPAN_FULL;
        if (!atomic_compare_exchange_strong_explicit(&s->full_state, &expected,
                                                     EBB_SPAN_ACTIVE, memory_order_acq_rel,
                                                     memory_order_relaxed))
            return; /* NOTIFIED: only remote_spans processing may move it */
        unpark(heap, s);
    }
    /* An empty span goes back to the pool, where any class of its kind reuses its
     * resident pages; the span malloc is using stays, so that a loop allocating and
     * freeing one block does not pass through the pool each time (find_span takes it
     * when another class needs the pages). */
    if (atomic_load_explicit(&s->used, memory_order_relaxed) == 0 &&
        s != heap->current[s->cls]) {
        ebb_span_list_remove(&heap->queue[s->cls], s);
        ebb_pool_return_spans(&s, 1, heap == &ebb_shared_heap && ebb_shared_purging);
        if (heap != &ebb_shared_heap && ebb_purge_tick()) /* as in periodic_work */
            collect_abandoned(false, EBB_COLLECT_PURGE, 0);
        ebb_heap_arm(heap);
    }
}

/* ---- collection, exit, fork ---- */

/* Owner: gather every pending free and give every empty span back to the pool, and
 * purge as `how` says. */
void ebb_heap_collect_all(ebb_heap_t *heap, ebb_collect_t how)
{
    bool purge_now = how >= EBB_COLLECT_PURGE;
    ebb_span_t *empty[EBB_RETURN_BATCH]; /* returned together: purged in runs */
    unsigned nempty = 0;
    ebb_cache_flush(heap, purge_now);
    process_remote_spans(heap);
    for (ebb_span_t *s = heap->full.first, *next; s; s = next) {
        next = s->next;
        if (atomic_load_explicit(&s->thread_free, memory_order_relaxed) == NULL)
            continue;
        uint8_t expected = EBB_SPAN_FULL;
        if (atomic_compare_exchange_strong_explicit(&s->full_state, &expected,
                                                    EBB_SPAN_ACTIVE, memory_order_acq_rel,
                                                    memory_order_relaxed))
            unpark(heap, s);
    }
    for (unsigned c = 0; c < EBB_CLASSES; c++) {
        for (ebb_span_t *s = heap->queue[c].first, *next; s; s = next) {
            next = s->next;
            ebb_span_collect(s);
            if (atomic_load_explicit(&s->used, memory_order_relaxed) == 0) {
                ebb_span_list_remove(&heap->queue[c], s);
                empty[nempty++] = s;
                if (nempty == EBB_RETURN_BATCH) {
                    ebb_pool_return_spans(empty, nempty, purge_now);
                    nempty = 0;
                }
            }
        }
        set_current(heap, c);
    }
    ebb_pool_return_spans(empty, nempty, purge_now);
    if (how >= EBB_COLLECT_PURGE)
        purge_free_pages(heap, how == EBB_COLLECT_ALL ? PURGE_EVERY_PAGE : PURGE_NOW,
                         ebb_now_ms());
}

static void abandon(ebb_heap_t *heap)
{
    atomic_store_explicit(&heap->owned, false, memory_order_relaxed);
    heap->abandoned_next = abandoned_heaps;
    abandoned_heaps = heap;
}

/* ---- thread exit (what it keeps: EXIT_KEEP and KEPT_FREE_MAX, at the top) ---- */

/* Owner or collector: bytes of the heap's free blocks (on its spans' lists). */
static size_t heap_free_bytes(const ebb_heap_t *heap)
{
    size_t bytes = 0;
    for (unsigned c = 0; c < EBB_CLASSES; c++)
        for (const ebb_span_t *s = heap->queue[c].first; s; s = s->next)
            bytes += (size_t)(s->capacity - s->purged_blocks -
                              atomic_load_explicit(&s->used, memory_order_relaxed)) *
                     s->block_size;
    return bytes;
}

/* An abandoned heap (or one about to be) gives back what it kept for its next owner:
 * its free pages, and the pages of its cache's stacks (empty since its thread's exit;
 * up to 11 KiB per heap, for as long as the process lives otherwise). */
static void purge_kept(ebb_heap_t *heap)
{
    heap->kept = false;
    heap->kept_free = 0;
    if (ebb_opt.decay_ms < 0)
        return;
    purge_free_pages(heap, PURGE_NOW, ebb_now_ms()); /* little left if collected purging */
    ebb_os_purge(heap->cache_slots, EBB_CACHE_SLOTS_BYTES, EBB_CLASSES);
}

/* pthread key destructor: the exiting thread's empty spans go back to the pool, and its
 * heap, with whatever blocks are still live in it and its free pages (purged if it is
 * the last thread but one, and no such exit purged in the last delay), waits for the
 * next thread. */
static void heap_thread_exit(void *arg)
{
    ebb_heap_t *heap = arg;
    if (heap != ebb_tls_heap)
        return;
    /* Not owned from here: a remote free that pushes before the fence is collected
     * just below; one after it sees owned false and counts as freed into an abandoned
     * heap (which makes the freeing thread run the decay). */
    ebb_lock(&ebb_pool_lock);
    atomic_store_explicit(&heap->owned, false, memory_order_seq_cst);
    atomic_fetch_sub_explicit(&owned_count, 1, memory_order_relaxed);
    ebb_unlock(&ebb_pool_lock);
    atomic_thread_fence(memory_order_seq_cst);
    ebb_heap_collect_all(heap, EBB_COLLECT_KEEP);
    heap->kept = true;
    heap->kept_free = heap_free_bytes(heap);
    ebb_tls_heap = &ebb_empty_heap;
    tls_state = THREAD_EXITED;
    /* Whether other threads run is decided when the heap is abandoned: a thread that
     * exits at the same time and saw this one still running gave back what was
     * abandoned before, but not this heap nor the spans it just returned. */
    ebb_lock(&ebb_pool_lock);
    bool others = several_own_heaps();
    bool lone_keeps = !others && lone_exit_keeps();
    if (others || lone_keeps)
        abandon(heap);
    ebb_unlock(&ebb_pool_lock);
    if (!others && !lone_keeps) {
        purge_kept(heap);
        ebb_lock(&ebb_pool_lock);
        abandon(heap);
        ebb_unlock(&ebb_pool_lock);
    }
    /* With others, the decay looks at the shared heap: every exit of a program's many
     * threads would walk its spans otherwise. */
    if (!others && ebb_opt.decay_ms >= 0)
        tidy_shared(true);
    /* The depot holds blocks for other threads, and keeps their spans in use: with one
     * thread left they go back before the collection below (the server trace's four
     * threads left 1.8 MiB resident after a quiet second and one more call, 0.4 before
     * the depot). */
    if (!others)
        ebb_depot_flush();
    /* A thread's end is a natural moment to give back what the program freed: other
     * threads' frees may wait in heaps of threads that are gone, and a program whose
     * threads are done may make no further call that would run the decay. While others
     * run, the abandoned heaps give back their empty spans only, and their kept free
     * pages past KEPT_FREE_MAX: purging all their free pages (as the decay does) at
     * every exit made a program that starts and ends many threads walk every free list
     * of every heap each time (larson: 300 -> 240 ms). */
    collect_abandoned(true, EBB_COLLECT_SPANS,
                      others ? KEPT_FREE_MAX : lone_keeps ? lone_exit_share() : 0);
    if (ebb_opt.decay_ms < 0)
        return; /* EBB_DECAY_MS=-1: nothing is purged but by malloc_trim */
    ebb_pool_decay_to(others ? EXIT_KEEP : lone_keeps ? lone_exit_share() : 0);
    ebb_large_decay(true);
}

/* The decay and thread exits, for the shared heap: its empty spans to the pool (remote
 * frees leave them there; its current spans stay when they empty) and its free pages as
 * for any heap; or everything free in it purged, as a quiet heap's (armed_call), once no
 * thread has used it for a whole delay or with `all` (the exit of the last thread but
 * one, which waits for the lock). The decay skips it if the lock is busy (held by this
 * thread, whose refill from the shared heap runs the decay, or another's): the next
 * decay does it. */
static void tidy_shared(bool all)
{
    if (all)
        ebb_lock(&ebb_shared_lock);
    else if (!ebb_trylock(&ebb_shared_lock))
        return;
    uint64_t now = ebb_now_ms();
    bool quiet = all || now - ebb_shared_used_ms >= (uint64_t)ebb_opt.decay_ms;
    ebb_heap_collect_all(&ebb_shared_heap, quiet ? EBB_COLLECT_PURGE : EBB_COLLECT_SPANS);
    if (!quiet)
        purge_free_pages(&ebb_shared_heap, PURGE_DUE, now);
    atomic_store_explicit(&ebb_shared_freed, 0, memory_order_relaxed);
    atomic_store_explicit(&ebb_shared_net, 0, memory_order_relaxed);
    ebb_unlock(&ebb_shared_lock);
}

/* Collect the heaps of exited threads as `how` says: other threads' frees into them
 * are pending there until someone does. The heaps are off their list meanwhile, so no
 * thread adopts one; with `wait` false, give up if another thread is collecting. With
 * EBB_COLLECT_SPANS, the most recently abandoned heaps go on keeping free pages for
 * their next owners up to `keep` bytes in all; the others' are purged. */
static void collect_abandoned(bool wait, ebb_collect_t how, size_t keep)
{
    if (how >= EBB_COLLECT_PURGE)
        ebb_depot_flush();
    if (wait)
        ebb_lock(&ebb_collect_lock);
    else if (!ebb_trylock(&ebb_collect_lock))
        return;
    ebb_lock(&ebb_pool_lock);
    ebb_heap_t *list = abandoned_heaps;
    abandoned_heaps = NULL;
    abandoned_out = list != NULL;
    ebb_unlock(&ebb_pool_lock);
    ebb_heap_t *last = NULL;
    size_t kept = 0; /* by the heaps abandoned more recently (the list is newest first) */
    for (ebb_heap_t *h = list; h; h = h->abandoned_next) {
        /* At a thread's exit (EBB_COLLECT_SPANS) only the heaps that frees reached since
         * their last collection have anything new to give: walking every abandoned
         * heap's lists at each exit made 400 threads that exit together spend most of
         * their time there. */
        bool freed = take_abandoned_freed(h);
        if (freed || how != EBB_COLLECT_SPANS)
            ebb_heap_collect_all(h, how);
        if (h->kept && (how != EBB_COLLECT_SPANS || kept + h->kept_free > keep))
            purge_kept(h); /* the decay, or past what the abandoned heaps keep */
        kept += h->kept ? h->kept_free : 0;
        last = h;
    }
    if (how >= EBB_COLLECT_PURGE) {
        atomic_store_explicit(&ebb_abandoned_pending, 0, memory_order_relaxed);
        tidy_shared(false);
    }
    if (list) {
        ebb_lock(&ebb_pool_lock);
        last->abandoned_next = abandoned_heaps;
        abandoned_heaps = list;
        abandoned_out = false;
        ebb_unlock(&ebb_pool_lock);
    }
    ebb_unlock(&ebb_collect_lock);
}

void ebb_heaps_collect_abandoned(void)
{
    collect_abandoned(false, EBB_COLLECT_PURGE, 0);
}

/* malloc_trim: collect the calling thread's heap, every abandoned heap and the shared
 * heap, then purge everything free. */
void ebb_heaps_trim(void)
{
    ebb_depot_flush();
    if (ebb_tls_heap != &ebb_empty_heap)
        ebb_heap_collect_all(ebb_tls_heap, EBB_COLLECT_ALL);
    collect_abandoned(true, EBB_COLLECT_ALL, 0);
    ebb_lock(&ebb_shared_lock);
    ebb_heap_collect_all(&ebb_shared_heap, EBB_COLLECT_ALL);
    ebb_unlock(&ebb_shared_lock);
    ebb_purge_all();
}

/* Pool lock held: blocks of each cached class that wait in the heaps' caches. */
void ebb_heaps_cached(size_t blocks[EBB_CACHED_CLASSES])
{
    for (unsigned c = 0; c < EBB_CACHED_CLASSES; c++)
        blocks[c] = 0;
    for (ebb_heap_t *h = all_heaps; h; h = h->all_next)
        for (unsigned c = 0; c < EBB_CACHED_CLASSES; c++)
            blocks[c] += ebb_cache_blocks(h, c);
    for (unsigned c = 0; c < EBB_CACHED_CLASSES; c++)
        blocks[c] += atomic_load_explicit(&ebb_depot_count[c], memory_order_relaxed);
}

void ebb_heaps_count(size_t *all, size_t *owned)
{
    size_t a = 0, o = 0;
    for (ebb_heap_t *h = all_heaps; h; h = h->all_next) {
        a++;
        o += atomic_load_explicit(&h->owned, memory_order_relaxed);
    }
    *all = a;
    *owned = o;
}

/* Child after fork: only the forking thread survives. The other threads' heaps may
 * have been in the middle of an operation (their fast paths take no lock), so the
 * child never touches them again: they are neither adopted nor collected, and blocks
 * of theirs that the child frees wait on their spans' remote lists. The memory is the
 * parent's, shared copy-on-write, and a forked child mostly execs or exits soon. */
void ebb_heaps_after_fork_child(void)
{
    for (ebb_heap_t *h = all_heaps; h; h = h->all_next)
        if (atomic_load_explicit(&h->owned, memory_order_relaxed) && h != ebb_tls_heap)
            atomic_store_explicit(&h->owned, false, memory_order_relaxed); /* not on the
                                                                               abandoned list */
    atomic_store_explicit(&owned_count, ebb_tls_heap != &ebb_empty_heap, memory_order_relaxed);
    /* The only thread left keeps spans of its own (shared.c). */
    ebb_first_heap = ebb_tls_heap != &ebb_empty_heap ? ebb_tls_heap : NULL;
}

void ebb_heap_key_init(void)
{
    pthread_key_create(&heap_key, heap_thread_exit);
}
