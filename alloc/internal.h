/* internal.h — functions shared between the allocator's files, grouped by the file
 * that owns them. Names: ebb_* everywhere inside the library (hidden from the
 * dynamic symbol table); the public ones are declared in include/ebb.h. */
#ifndef EBB_INTERNAL_H
#define EBB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "types.h"

/* Everything declared below is the library's own, defined in it with hidden visibility:
 * declared so too, the compiler reads its globals straight from their addresses rather
 * than through the GOT (free() loads one). */
#pragma GCC visibility push(hidden)

#define ebb_likely(x) __builtin_expect(!!(x), 1)
#define ebb_unlikely(x) __builtin_expect(!!(x), 0)
#define EBB_NOINLINE __attribute__((noinline))
#define EBB_COLD __attribute__((cold, noinline))
/* The library is built with hidden visibility; this marks what it exports. */
#define EBB_EXPORT __attribute__((visibility("default")))
/* 0 in a build with EBB_FREE_CHECK=OFF (CMake): free() does not read the block's link
 * word, so a second free of a free block is not caught (alloc.h). */
#ifdef EBB_NO_FREE_CHECK
#define EBB_CHECKS_FREE 0
#else
#define EBB_CHECKS_FREE 1
#endif

/* os.c — the only file that talks to the kernel about memory. */
typedef struct ebb_os_counters {
    _Atomic size_t mapped;       /* bytes currently mapped for blocks and metadata */
    _Atomic size_t purged;       /* bytes ever given back with madvise */
    _Atomic size_t purge_calls;
} ebb_os_counters_t;
extern ebb_os_counters_t ebb_os;
typedef struct ebb_class_purges {
    _Atomic size_t bytes, calls;
} ebb_class_purges_t;
extern ebb_class_purges_t ebb_class_purges[EBB_CLASSES]; /* per size class */
extern size_t ebb_page_size;
void ebb_os_init(void);
void *ebb_os_map(size_t size);                   /* NULL on failure */
void *ebb_os_map_aligned(size_t size, size_t align);
size_t ebb_os_resident(const void *p, size_t size); /* bytes of those pages in memory */
void ebb_os_unmap(void *p, size_t size);
void ebb_os_count_mapped(ptrdiff_t bytes); /* address space reserved or put to use */
void ebb_os_purge(void *p, size_t size, unsigned cls); /* whole pages in [p, p+size);
                                                          cls counts it (EBB_CLASSES: none) */
/* One madvise for a run of regions the caller counts itself (false if it failed). */
bool ebb_os_purge_run(void *p, size_t size);
void ebb_os_count_purged(size_t bytes, unsigned cls, size_t calls);
bool ebb_os_grow_in_place(void *p, size_t old_size, size_t new_size);
void ebb_os_shrink(void *p, size_t old_size, size_t new_size);
void *ebb_os_move_aligned(void *p, size_t old_size, size_t new_size, size_t align);

static inline size_t ebb_align_up(size_t n, size_t align)
{
    return (n + align - 1) & ~(align - 1);
}

/* error.c — fatal misuse reports and warnings, written without allocating. */
EBB_COLD __attribute__((noreturn)) void ebb_fatal_ptr(const char *func, const char *what,
                                                      const void *p);
EBB_COLD __attribute__((noreturn)) void ebb_fatal_freed(const char *func, const void *p);
/* "ebb: FUNC(): WHAT P at offset OFF" then abort(). */
EBB_COLD __attribute__((noreturn)) void ebb_fatal_ptr_at(const char *func, const char *what,
                                                         const void *p, size_t off);
EBB_COLD void ebb_warn(const char *msg1, const char *msg2);

/* options.c — EBB_* environment options, read once. */
typedef struct ebb_options {
    bool stats_at_exit; /* EBB_STATS */
    bool madv_free;     /* EBB_PURGE=free */
    long decay_ms;      /* EBB_DECAY_MS: delay before free pages are purged; 0 now, -1 never */
    bool background;    /* EBB_BACKGROUND=1: a thread runs the decay on time */
    bool debug;         /* EBB_DEBUG=1: asks for libebb-debug.so's checks */
    bool shared;        /* EBB_SHARED=1: threads but the first take small blocks from the
                           shared heap (shared.c) */
} ebb_options_t;
extern ebb_options_t ebb_opt;
void ebb_options_init(void);

/* How often a heap looks at the free blocks of its big spans while some are free (heap.c):
 * a block found free at two looks in a row is purged, so once it has been free for one
 * to two looks. A fraction of the decay delay: a free block inside a span serves only
 * its class, where a free span in the pool serves any, so it is less likely to be
 * wanted again soon. */
#define EBB_BIG_LOOK_DIVISOR 32
static inline uint64_t ebb_big_look_ms(void)
{
    uint64_t ms = (uint64_t)ebb_opt.decay_ms / EBB_BIG_LOOK_DIVISOR;
    return ms || !ebb_opt.decay_ms ? ms : 1; /* 0: purged at once */
}

/* meta.c — memory for descriptors and heaps, from the kernel, never from malloc.
 * Callers hold the pool lock. */
void *ebb_meta_alloc(size_t size);  /* zeroed, 128-byte aligned; NULL on failure */
void *ebb_meta_alloc_aligned(size_t size, size_t align); /* align: 128 .. 4096 */
extern _Atomic size_t ebb_meta_bytes; /* mapped for metadata */
size_t ebb_meta_resident(void);        /* of that, resident now (asks the kernel) */

/* map.c — address -> tagged descriptor, one entry per 64 KiB. Lookups are lock-free
 * (inline below, for the free fast path); updates hold the pool lock, but for the
 * tagging of a span by its owner. */
#define EBB_MAP_ADDR_BITS 47
#define EBB_MAP_SHIFT 16 /* the smallest span */
#define EBB_MAP_LEAF_BITS 19
#define EBB_MAP_ROOT_BITS (EBB_MAP_ADDR_BITS - EBB_MAP_SHIFT - EBB_MAP_LEAF_BITS)
#define EBB_MAP_LEAF_SIZE ((size_t)1 << EBB_MAP_LEAF_BITS)
/* An entry: a span's descriptor (128-byte aligned) with its class + 1 in the low seven
 * bits (EBB_MAP_NO_CLASS until an owner gives it one), or a large block's descriptor
 * (also 128-byte aligned) untagged; 0 for none. free() finds the span and its heap's
 * bin from this one load. A span back in the pool keeps its last class's tag: its
 * start_limit (0, no block starts there) is what free() checks. */
#define EBB_MAP_TAG_MASK ((uintptr_t)127)
#define EBB_MAP_NO_CLASS ((uintptr_t)127)
_Static_assert(EBB_CLASSES < EBB_MAP_NO_CLASS, "class tags fit the entry's low bits");
_Static_assert(EBB_CHUNK_SHIFT - EBB_MAP_SHIFT <= EBB_MAP_LEAF_BITS, "a chunk is in one leaf");
typedef struct ebb_map_leaf {
    _Atomic uintptr_t entry[EBB_MAP_LEAF_SIZE];
} ebb_map_leaf_t;
extern ebb_map_leaf_t *_Atomic ebb_map_root[(size_t)1 << EBB_MAP_ROOT_BITS];
/* The first leaf ever needed is a static one, and the root index it serves is known
 * without reading the root: a lookup in it (nearly every lookup: a leaf spans 32 GiB,
 * and the kernel places mappings near one another) is one load that depends on the
 * address instead of two, which is what free() waits for. ebb_map_first_granule is the
 * first granule that leaf serves once set, and before it one so far beyond any address
 * that no granule is within a leaf of it: one subtraction and one compare tell whether
 * an address is in the first leaf, and where. */
extern ebb_map_leaf_t ebb_map_first_leaf;
extern _Atomic uintptr_t ebb_map_first_granule;
#define EBB_MAP_NO_GRANULE ((uintptr_t)1 << 62)

/* The tagged entry of the granule holding addr, 0 if ebb has none there. */
static inline uintptr_t ebb_map_entry(uintptr_t addr)
{
    uintptr_t g = addr >> EBB_MAP_SHIFT;
    uintptr_t i = g - atomic_load_explicit(&ebb_map_first_granule, memory_order_relaxed);
    if (ebb_likely(i < EBB_MAP_LEAF_SIZE))
        return atomic_load_explicit(&ebb_map_first_leaf.entry[i], memory_order_acquire);
    if (ebb_unlikely(addr >> EBB_MAP_ADDR_BITS))
        return 0;
    ebb_map_leaf_t *leaf = atomic_load_explicit(&ebb_map_root[g >> EBB_MAP_LEAF_BITS],
                                                memory_order_acquire);
    if (ebb_unlikely(!leaf))
        return 0;
    return atomic_load_explicit(&leaf->entry[g & (EBB_MAP_LEAF_SIZE - 1)],
                                memory_order_acquire);
}

/* The span of a tagged span entry. */
static inline ebb_span_t *ebb_span_of_entry(uintptr_t entry)
{
    return (ebb_span_t *)(entry & ~EBB_MAP_TAG_MASK);
}
bool ebb_map_set(uintptr_t start, size_t size, uintptr_t entry);
bool ebb_map_set_chunk(ebb_chunk_t *c);
void ebb_map_tag_span(const ebb_span_t *s);
void ebb_map_clear(uintptr_t start, size_t size);
void ebb_map_clear_if(uintptr_t start, size_t size, const void *desc);

/* pool.c — chunks and the spans not owned by any heap. */
extern ebb_lock_t ebb_pool_lock;
extern ebb_lock_t ebb_reserve_lock; /* taken with no other lock of the pool's held */
ebb_span_t *ebb_pool_take_span(unsigned kind);  /* pool lock not held; NULL on ENOMEM */
bool ebb_pool_takes_fresh(unsigned kind);       /* no dirty span to reuse */
void ebb_pool_return_span(ebb_span_t *s);      /* dirty (purged if the delay is 0) */
/* Several spans (at most EBB_RETURN_BATCH), purged first in runs of adjacent ones if
 * purge_now. Pool lock not held for either. */
#define EBB_RETURN_BATCH 32
void ebb_pool_return_spans(ebb_span_t **spans, unsigned n, bool purge_now);
void ebb_pool_decay(bool all);                  /* purge decayed dirty spans (or all) */
void ebb_pool_decay_to(size_t keep); /* purge the oldest dirty spans down to keep bytes */
size_t ebb_pool_dirty_pending(void);            /* dirty bytes waiting (racy read) */
size_t ebb_pool_in_use(void);                  /* bytes of spans out of the pool (racy) */
ebb_chunk_t *ebb_pool_chunks(void);             /* first of all small chunks */
size_t ebb_pool_dirty_bytes(void);              /* pool lock held */
uint64_t ebb_now_ms(void);                      /* monotonic, coarse */

/* span.c — one span's free lists. */
void ebb_span_init(ebb_span_t *s, unsigned cls, ebb_heap_t *heap);
/* A span grows (ebb_span_extend carves blocks onto its free list, ebb_span_take_fresh
 * hands out one) only while no block is set aside on a purged page or purged whole:
 * ebb_span_unpurge links back every such block below the capacity, so a block carved
 * meanwhile on a purged page would be linked while in use. */
static inline bool ebb_span_can_grow(const ebb_span_t *s)
{
    return s->capacity < s->reserved && !s->purged_blocks;
}
/* Whether the block ebb_span_take_fresh would hand out lies (partly) on pages the span
 * never touched. */
static inline bool ebb_span_fresh_untouched(const ebb_span_t *s)
{
    return (size_t)(s->capacity + 1u) * s->block_size > s->touched;
}
void ebb_span_extend(ebb_span_t *s);             /* owner; ebb_span_can_grow */
ebb_block_t *ebb_span_take_fresh(ebb_span_t *s); /* owner; ebb_span_can_grow */
/* The last block ebb_span_take_fresh handed out from memory nobody wrote since it was
 * mapped or purged, so zero throughout: calloc clears it, allocates, and zeroes the
 * block unless it is this one. */
extern __thread void *ebb_tls_zeroed __attribute__((tls_model("initial-exec")));
void ebb_span_collect(ebb_span_t *s);
void ebb_span_remote_free(ebb_span_t *s, ebb_block_t *b);
void ebb_span_check_double_free(ebb_span_t *s, ebb_block_t *b, const char *func);
void ebb_span_block_freed(ebb_span_t *s, ebb_block_t *b);
bool ebb_span_purge_free_blocks(ebb_span_t *s, bool aged); /* true: some left to age */
size_t ebb_span_purged_bytes(const ebb_span_t *s);
void ebb_span_purge_tail(ebb_span_t *s);   /* pages past the carved blocks */
/* How a look purges the pages of a small span whose blocks are all free: those that were
 * so at the span's last look too (the looks between two of the decay's), or all of them
 * (the decay's look; or malloc_trim's, which also looks at a span unchanged since). */
typedef enum { EBB_PAGES_AGED, EBB_PAGES_ALL, EBB_PAGES_AGAIN } ebb_pages_look_t;
/* An aged look at a span where no page waits walks its free blocks (taken from *budget)
 * if the budget covers them and no look did in this round; false if the budget stopped
 * it. */
bool ebb_span_purge_pages(ebb_span_t *s, ebb_pages_look_t look, uint16_t round,
                          uint32_t *budget);
void ebb_span_unpurge(ebb_span_t *s);      /* carve the blocks on purged pages again */
extern ebb_span_t ebb_empty_span;

/* Whether byte offset off (below the span's size) of span s starts one of its blocks. */
static inline bool ebb_block_starts_at(const ebb_span_t *s, uintptr_t off)
{
    return off * s->div_mul < s->start_limit;
}

/* Index of the block at byte offset off of span s (a division by block_size). */
static inline uint32_t ebb_block_index(const ebb_span_t *s, uintptr_t off)
{
    return (uint32_t)(((unsigned __int128)off * s->div_mul) >> 64);
}

#ifdef EBB_DEBUG_BUILD
void ebb_debug_check_link(const ebb_span_t *s, const ebb_block_t *b, const ebb_block_t *next);
#endif
/* Owner only (the debug build checks the link against the span's carved blocks). */
static inline ebb_block_t *ebb_block_next(const ebb_span_t *s, const ebb_block_t *b)
{
    uintptr_t n = b->next_enc ^ s->key;
    ebb_block_t *next = n == (uintptr_t)b ? NULL : (ebb_block_t *)n; /* the end links to itself */
#ifdef EBB_DEBUG_BUILD
    ebb_debug_check_link(s, b, next);
#endif
    return next;
}
static inline void ebb_block_set_next(const ebb_span_t *s, ebb_block_t *b, ebb_block_t *next)
{
    b->next_enc = (next ? (uintptr_t)next : (uintptr_t)b) ^ s->key;
}

/* Doubly linked span lists (heap queues, full lists, the pool's dirty lists). */
static inline void ebb_span_list_remove(ebb_span_list_t *l, ebb_span_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        l->first = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        l->last = s->prev;
    s->next = s->prev = NULL;
}

static inline void ebb_span_list_push_front(ebb_span_list_t *l, ebb_span_t *s)
{
    s->prev = NULL;
    s->next = l->first;
    if (l->first)
        l->first->prev = s;
    else
        l->last = s;
    l->first = s;
}

static inline void ebb_span_list_push_back(ebb_span_list_t *l, ebb_span_t *s)
{
    s->next = NULL;
    s->prev = l->last;
    if (l->last)
        l->last->next = s;
    else
        l->first = s;
    l->last = s;
}

/* Owner: take the first free block of a span (NULL if none). Used by the fast path and
 * the slow path alike. */
static inline void *ebb_span_pop(ebb_span_t *s)
{
    ebb_block_t *b = s->free;
    if (ebb_unlikely(!b))
        return NULL;
    s->free = ebb_block_next(s, b);
    /* Clear the link: a live block must not look free to the double-free check in
     * free() when the program leaves that word unwritten. */
    b->next_enc = 0;
    atomic_store_explicit(&s->used, atomic_load_explicit(&s->used, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return b;
}

/* heap.c — thread heaps: acquisition, the slow paths, thread exit, abandonment. */
extern __thread ebb_heap_t *ebb_tls_heap __attribute__((tls_model("initial-exec")));
extern ebb_heap_t ebb_empty_heap;
/* cls valid before init; exact: a block of class cls itself (an aligned allocation),
 * else possibly of a slightly larger class (heap.c, borrow_larger) */
void *ebb_heap_malloc_slow(ebb_heap_t *heap, unsigned cls, bool exact);
void ebb_heap_free_slow(ebb_heap_t *heap, ebb_span_t *s, ebb_block_t *b);
/* The out-of-line exits of free's fast path (alloc.h). */
EBB_NOINLINE void ebb_free_suspect(ebb_heap_t *heap, ebb_span_t *s, ebb_block_t *b,
                                   const char *func); /* link word looks free */
EBB_NOINLINE void ebb_free_other(void *p, const char *func); /* large, invalid */
void ebb_heap_arm(ebb_heap_t *heap);
void ebb_heap_freed_unowned(void); /* by this thread: arm (span.c, cache.c) */
EBB_NOINLINE void ebb_heap_free_armed(ebb_heap_t *heap, ebb_span_t *s,
                                      ebb_block_t *b); /* bins hidden */
extern _Atomic size_t ebb_abandoned_pending;
/* How much collecting a whole heap gives back. */
typedef enum {
    EBB_COLLECT_KEEP,  /* adoption, and its own heap at a thread's exit: empty spans to the
                          pool unpurged, free pages kept */
    EBB_COLLECT_SPANS, /* abandoned heaps at a thread's exit: empty spans to the pool
                          unpurged; free pages left to the decay */
    EBB_COLLECT_PURGE, /* the decay: empty spans purged, free pages as the decay
                          would */
    EBB_COLLECT_ALL,   /* malloc_trim: every free page */
} ebb_collect_t;
void ebb_heap_collect_all(ebb_heap_t *heap, ebb_collect_t how);
void ebb_heaps_after_fork_child(void);
void ebb_heaps_trim(void);            /* collect every heap, release empty spans */
void ebb_heap_key_init(void);
void ebb_heaps_collect_abandoned(void); /* for the background thread */
void ebb_heaps_count(size_t *all, size_t *owned);
void ebb_heaps_cached(size_t blocks[EBB_CACHED_CLASSES]); /* pool lock held */
extern ebb_lock_t ebb_collect_lock;
void *ebb_heap_alloc(ebb_heap_t *heap, unsigned cls, bool exact); /* the owner's slow path */

/* shared.c — the shared heap: small blocks for every thread but the first's. */
extern ebb_lock_t ebb_shared_lock;
extern ebb_heap_t ebb_shared_heap;
extern ebb_heap_t *ebb_first_heap;
/* Whether heap takes its blocks of class cls from the shared heap. */
static inline bool ebb_heap_shares(const ebb_heap_t *heap, unsigned cls)
{
    return ebb_opt.shared && cls < EBB_CACHED_CLASSES && heap->cache_slots &&
           heap != ebb_first_heap;
}
/* A refill of heap's bin of class cls (empty) from the shared heap: one block returned,
 * a batch more cached. */
void *ebb_shared_alloc(ebb_heap_t *heap, unsigned cls, bool exact);
/* Blocks back to the shared heap (local frees under its lock); with `purge`, the spans
 * that empty go to the pool purged. */
void ebb_shared_release(ebb_block_t *const *blocks, uint32_t n, bool purge);
extern bool ebb_shared_purging; /* under the lock: ebb_shared_release's `purge` */
/* Under the lock (read anywhere): bytes freed into the shared heap since the decay last
 * tidied it (heap.c), in all, and net of those taken from it since; as
 * ebb_abandoned_pending, they arm the heaps of the threads that freed them. The net
 * figure while other threads run: the blocks one thread frees, others take again (a
 * figure kept from going below 0 drifted up as refills and releases interleaved, and
 * armed every thread of the threads micro cases: 2.7x their time). The whole figure
 * for a thread alone, whose frees no other thread will reuse: a main thread freeing
 * what its workers left was left unarmed by the net figure, low after the workers'
 * refills, and the blocks in its cache kept the spans they are in from the decay. */
extern _Atomic size_t ebb_shared_freed;
extern _Atomic ptrdiff_t ebb_shared_net;
extern uint64_t ebb_shared_used_ms; /* under the lock: when a thread last used it */
void ebb_shared_check_double_free(ebb_span_t *s, ebb_block_t *b, const char *func);

/* cache.c — the heaps' caches of freed blocks (ebb_bin_t). */
/* The link word of a cached block of span s: the span's random key, so that a program
 * cannot write it by chance, mixed with the block's address, so that copying a cached
 * block's words elsewhere does not make a tagged block, and with 8, so that it never
 * decodes to a free-list link of the span (links XOR-ed with the block's address are
 * multiples of 16) but still looks free to free()'s one comparison. */
#define EBB_CACHED_MARK ((uintptr_t)8)
static inline uintptr_t ebb_cached_tag(const ebb_span_t *s, const ebb_block_t *b)
{
    return (uintptr_t)b ^ s->key ^ EBB_CACHED_MARK;
}
/* A block going into a cache or the depot gets the tag; one handed out of them loses
 * it. Neither in a build without the free check (EBB_CHECKS_FREE 0), where nothing
 * reads the tag: the cache's pushes and pops then touch no block. */
static inline void ebb_tag_cached(const ebb_span_t *s, ebb_block_t *b)
{
    if (EBB_CHECKS_FREE)
        b->next_enc = ebb_cached_tag(s, b);
}
static inline void ebb_untag(ebb_block_t *b)
{
    if (EBB_CHECKS_FREE)
        b->next_enc = 0;
}
void ebb_cache_init(void);                 /* the bins' sizes, from the classes */
void ebb_cache_setup(ebb_heap_t *heap);    /* a new heap's bins, on */
/* Owner: every cached block to its span; with `purge`, the shared heap's spans that empty
 * go to the pool purged. */
void ebb_cache_flush(ebb_heap_t *heap, bool purge);
void ebb_cache_off(ebb_heap_t *heap);      /* owner, arming: flush, and hide the bins */
void ebb_cache_on(ebb_heap_t *heap);       /* owner: the bins in sight again */
/* An armed heap's bins (owner). */
ebb_block_t *ebb_cache_held_pop(ebb_heap_t *heap, unsigned cls); /* NULL if none */
bool ebb_cache_held_push(ebb_heap_t *heap, ebb_span_t *s, ebb_block_t *b); /* false if full */
void ebb_cache_fill(ebb_heap_t *heap, ebb_span_t *s, uint32_t n); /* up to n blocks of s */
/* When an armed heap's bin is empty, its slow path holds this many blocks for the next
 * mallocs of the class. */
#define EBB_ARMED_FILL 8
/* Refills from the shared heap, and the overflow of a full bin into it (owner). */
uint32_t ebb_cache_refill_size(const ebb_heap_t *heap, unsigned cls);
void ebb_cache_put(ebb_heap_t *heap, unsigned cls, ebb_block_t *const *blocks, uint32_t n);
EBB_NOINLINE void ebb_cache_overflow(ebb_heap_t *heap, ebb_span_t *s, ebb_block_t *b);
/* Owner: a full bin of n blocks whose older k were taken out keeps the others, and b of
 * span s, just freed, on top (the next to be reused), tagged as cached. */
void ebb_cache_keep_newer(ebb_bin_t *bin, uint32_t n, uint32_t k, ebb_span_t *s, ebb_block_t *b);
/* Owner: blocks back to their spans, past the cache (local, shared or remote frees). */
void ebb_cache_release(ebb_heap_t *heap, ebb_block_t **blocks, uint32_t n);
void ebb_cache_release_one(ebb_heap_t *heap, ebb_block_t *b);
/* The most blocks a bin holds (cache.c chooses each class's size up to it). */
#define EBB_BIN_MAX 64

/* depot.c — blocks freed for other threads' spans, for any thread of the class. */
extern ebb_lock_t ebb_depot_lock;
extern _Atomic uint32_t ebb_depot_count[EBB_CACHED_CLASSES]; /* relaxed reads anywhere */
/* Owner, free into heap's full bin of a block s of another heap holds: the older half of
 * the bin to the depot, or b to its span if the depot has no room. */
void ebb_depot_put(ebb_heap_t *heap, ebb_span_t *s, ebb_block_t *b);
/* Owner, before carving a block of class cls, once ebb_depot_count shows some: one from
 * the depot, and up to half a bin more into heap's bin; NULL if another thread took
 * them first. */
ebb_block_t *ebb_depot_take(ebb_heap_t *heap, unsigned cls);
void ebb_depot_flush(void); /* everything back to the spans: the decay, malloc_trim */
size_t ebb_cache_blocks(const ebb_heap_t *heap, unsigned cls); /* racy read, for stats */

/* A free by the span's owner, from free()'s fast path (alloc.h) and the cache's flush:
 * push on the local list; heap.c's slow path when the span became empty or is flagged
 * (parked, big blocks). */
static inline void ebb_free_local(ebb_heap_t *heap, ebb_span_t *s, ebb_block_t *b)
{
    ebb_block_set_next(s, b, s->local_free);
    s->local_free = b;
    uint32_t used = atomic_load_explicit(&s->used, memory_order_relaxed) - 1;
    atomic_store_explicit(&s->used, used, memory_order_relaxed);
    if (ebb_unlikely(used == 0 || s->free_slow)) {
        /* An emptied span that malloc is using stays where it is: nothing to do. */
        if (!s->free_slow && s == heap->current[s->cls])
            return;
        ebb_heap_free_slow(heap, s, b);
    }
}

/* large.c — blocks above the largest class. */
void *ebb_large_alloc(size_t size, size_t align, bool zero);
void ebb_large_free(ebb_large_t *l, void *p);
void *ebb_large_realloc(ebb_large_t *l, void *p, size_t size);
ebb_large_t *ebb_large_first(void);
void ebb_large_decay(bool all); /* unmap cached blocks past the decay delay (or all) */
bool ebb_large_cache_pending(void);
void ebb_large_cache_give(size_t bytes); /* unmap this much of the cache, oldest first */
size_t ebb_large_cached_bytes(void);   /* pool lock held: mapped */
size_t ebb_large_cached_touched(void); /* of which may be resident (no lock needed) */

/* purge.c — the decay: when free spans and cached large blocks go back to the kernel. */
bool ebb_purge_due(uint64_t now); /* the decay would run at `now` */
bool ebb_purge_tick(void); /* from slow paths: run the decay if it is due (true if it ran) */
bool ebb_purge_tick_at(uint64_t now); /* the same, with the time (ms) already read */
void ebb_purge_all(void);  /* purge everything free now */
void ebb_purge_after_fork_child(void);

/* init.c — process-wide initialisation, done once, lazily, without malloc. */
extern _Atomic int ebb_init_state; /* 0 none, 1 running, 2 done */
void ebb_init_slow(void);
static inline void ebb_ensure_init(void)
{
    if (ebb_unlikely(atomic_load_explicit(&ebb_init_state, memory_order_acquire) != 2))
        ebb_init_slow();
}
/* random bits from the kernel's auxiliary vector, mixed with a counter. */
uintptr_t ebb_random_word(void);

/* fork.c */
void ebb_fork_install(void);

#pragma GCC visibility pop

#endif /* EBB_INTERNAL_H */
