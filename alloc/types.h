/* types.h — every internal structure of libebb, with the invariants that govern it.
 *
 * Glossary
 *   chunk   a 4 MiB-aligned region of address space from the kernel. A small chunk is
 *           cut into spans of one span kind; a large chunk holds (part of) one large
 *           block. Each 64 KiB of it maps to its span's descriptor (tagged with the
 *           span's class) or its large block's in the address map (map.c).
 *   span    pages inside a chunk given to one size class and owned by one heap.
 *   block   the unit handed to the program: span start + i * block_size.
 *   heap    a thread's allocation state. It owns spans; only its owner allocates from
 *           them. Heaps are never freed: a thread's heap is abandoned when the thread
 *           exits and adopted by a later thread, so a pointer to a heap stays valid.
 *   owner   the thread using a heap; for the shared heap (shared.c), whoever holds its lock.
 *   local / remote free   a free by the span's owner / by any other thread.
 *   purge   giving pages back to the kernel with madvise.
 *
 * Layering (lower files never call upward):
 *   os.c -> meta.c, map.c -> pool.c (chunks, spans) -> span.c -> heap.c, cache.c and
 *   shared.c (a heap's spans, its cache of freed blocks, the shared heap), large.c ->
 *   alloc.h/alloc.c (entry points) -> override.c (standard symbols)
 *   options.c, error.c, lock.h and sizeclass.h are leaves usable from anywhere.
 */
#ifndef EBB_TYPES_H
#define EBB_TYPES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lock.h"

#define EBB_CHUNK_SHIFT 22
#define EBB_CHUNK_SIZE ((size_t)1 << EBB_CHUNK_SHIFT)
#define EBB_MAX_SPANS_PER_CHUNK 64
#define EBB_MIN_ALIGN 16
#define EBB_CLASSES 112
#define EBB_MAX_CLASS_SIZE ((size_t)1 << 20) /* largest size-class block: 1 MiB */
#define EBB_SMALL_LOOKUP_MAX 8192            /* sizes served by one table lookup */

/* Kinds of chunk. Span kinds come first; their span sizes are chosen so that every
 * span holds at least 8 blocks (4 for the largest classes). */
enum ebb_kind {
    EBB_KIND_SMALL = 0, /* 64 KiB spans, blocks up to 8 KiB */
    EBB_KIND_MEDIUM,    /* 512 KiB spans, blocks up to 64 KiB */
    EBB_KIND_HUGE,      /* one 4 MiB span, blocks up to 1 MiB */
    EBB_SPAN_KINDS,
};

/* A free block's link word, its second (every block has 16 bytes at least): the next
 * free block, XOR-ed with the span's key so that a stray write or a use-after-free write
 * does not yield a usable pointer. The last block of a list links to itself (no list
 * has a cycle), so that the word of every block on a list, XOR-ed with the key and the
 * block's address, is below the span's size (blocks are 16-aligned in a span aligned to
 * its size): free() tells a block that looks free with one comparison (alloc.h).
 * Not the first word: programs often write a block's first bytes with narrow stores
 * just before freeing it (a byte, an int), and free()'s 8-byte load of a word written
 * in parts cannot take the data from the stores in flight; it waits for them to reach
 * the cache (pair: 7.85 -> 7.41 ns with the link in the second word). */
typedef struct ebb_block {
    uintptr_t data; /* the program's, untouched by the allocator */
    uintptr_t next_enc;
} ebb_block_t;

struct ebb_heap;
struct ebb_chunk;

/* Values of span.full_state, the handshake between an owner that parks a span with no
 * free block on its full list and remote frees that must bring it back. */
enum {
    EBB_SPAN_ACTIVE = 0, /* on a class queue (or in the pool) */
    EBB_SPAN_FULL,       /* on the heap's full list; the next remote free notifies */
    EBB_SPAN_NOTIFIED,   /* on the full list and pushed on heap.remote_spans */
};

/* A span. Invariants (owner's view):
 *   used + |free| + |local_free| + purged_blocks == capacity <= reserved
 *   live blocks == used - |thread_free|   (remote frees count as used until collected)
 *   remote_pending >= |thread_free|       (counted before the push, uncounted after
 *                                          the collection: what the statistics use)
 *   blocks [capacity, reserved) were never handed out since the span was taken from
 *   the pool; their pages are unbacked unless below touched.
 *   capacity * block_size <= touched
 *   A span is on exactly one of: its heap's queue for cls, its heap's full list
 *   (in_full), or the pool (heap == NULL).
 *   full_state == NOTIFIED implies the span is on heap.remote_spans or about to be,
 *   so only the processing of that list may take it off the full list.
 * heap, thread_free, remote_pending and full_state are shared; the rest is owner-only.
 * Span descriptors live inside chunk descriptors, which are never freed, so a remote
 * thread holding a span pointer always reads valid memory. */
typedef struct __attribute__((aligned(128))) ebb_span {
    /* First cache line: what free() reads to check a pointer and find its bin, written
     * only when the span changes hands or state (taken from the pool, parked, purged),
     * so that it stays shared in every core's cache: a free by another thread than the
     * owner, which is allocating from the span, would otherwise wait for the line the
     * owner's mallocs keep writing. */
    uint32_t start_limit;   /* see div_mul; 0 in the pool, where no block is live */
    uint32_t block_size;
    uint8_t cls;
    union {
        struct {
            bool in_full; /* on the heap's full list */
            bool big;     /* blocks of two pages or more: freed ones are purged inside */
        };
        uint16_t free_slow; /* non-zero: every local free takes the slow path */
    };
    uint16_t reserved;      /* blocks that fit in the span (at most 4096) */
    uint16_t purged_blocks; /* small spans: free blocks set aside on purged pages */
    union {
        uintptr_t key;     /* owned by a heap: free-list pointer encoding */
        uint64_t freed_at; /* dirty in the pool: ms timestamp of its return */
    };
    uintptr_t start;               /* address of block 0 */
    struct ebb_heap *_Atomic heap; /* owner; NULL while in the pool */
    /* ceil(2^64 / block_size). For an offset below 2^32 from start, the high word of
     * offset * div_mul is offset / block_size, and the low word is below start_limit iff
     * the offset starts one of the span's blocks (below div_mul iff it is a multiple
     * of block_size; a multiple q * block_size gives q * (block_size * div_mul - 2^64),
     * so start_limit is reserved times that, or 1 for a power of two): free() checks a
     * pointer with one multiply and one compare. */
    uint64_t div_mul;
    struct ebb_chunk *chunk;
    /* Owner-only. Big spans (at most 64 blocks): bit i set if free block i was purged
     * whole; it is on no list and counted in purged_blocks until linked again. Small
     * spans (16 pages): bit p set if page p was purged; the free blocks that overlap it
     * are on no list and counted in purged_blocks, until they are carved again. */
    uint64_t purged_mask;
    /* Second cache line: what the owner's mallocs write (the free list, the counts),
     * and what other threads' remote frees write. */
    ebb_block_t *free;       /* blocks to allocate from */
    ebb_block_t *local_free; /* blocks freed by the owner since the last collect */
    _Atomic uint32_t used;   /* relaxed: owner writes, stats read */
    _Atomic uint32_t remote_pending; /* remote frees not collected yet (at least) */
    _Atomic(ebb_block_t *) thread_free; /* remote frees, pushed lock-free */
    /* Bytes from start whose pages may be resident: the most ever carved since the span
     * was last purged whole, whatever classes used it meanwhile (a span reused from the
     * pool's dirty list keeps the pages of its earlier class). 0: clean. Owner and
     * pool only. */
    uint32_t touched;
    uint16_t capacity;
    _Atomic uint8_t full_state;
    struct ebb_span *next, *prev;       /* queue, full list or pool links */
    struct ebb_span *remote_next;       /* link on heap.remote_spans */
} ebb_span_t;

/* A power of two, so that finding a span from a pointer is a shift, not a multiply. */
_Static_assert(sizeof(ebb_span_t) == 128, "span descriptors are 128 bytes");
_Static_assert(offsetof(ebb_span_t, free) == 64, "free() reads only the first line");

/* A small chunk: `nspans` spans of 1 << span_shift bytes from `base`.
 * Invariants: bit i of free_mask is set iff spans[i] is in the pool;
 * spans_used == nspans - popcount(free_mask); dirty_spans counts the spans in the pool
 * whose pages have not been purged yet (they are on the pool's dirty list).
 * Descriptors are recycled, never freed. */
typedef struct ebb_chunk {
    uint8_t kind;
    uint8_t span_shift;
    uint16_t nspans;
    uint16_t spans_used;
    uint16_t dirty_spans;
    uintptr_t base;
    uint64_t free_mask;
    struct ebb_chunk *next, *prev;   /* pool list of chunks of this kind with free spans */
    struct ebb_chunk *all_next;      /* every small chunk, for stats and trim */
    ebb_span_t spans[EBB_MAX_SPANS_PER_CHUNK];
    /* Owner-only, per span, what the last look of its heap's purge saw (span.c). Big
     * spans: bit i set if block i was free then and has not been freed again since (a
     * free clears it), so that the next look purges the blocks free all along. Small
     * spans: the state (free-list head, blocks in use) in which a look found no page
     * to purge, so that the next skips the span if nothing changed. Here, not in the
     * span: its descriptor fills its two cache lines. */
    uint64_t last_look[EBB_MAX_SPANS_PER_CHUNK];
} ebb_chunk_t;

/* A large block: [base, base + mapped) is mapped for it alone and every granule of the
 * address map it touches maps to this descriptor (128-byte aligned, from meta.c, so
 * that the entry carries no tag). The block starts at base. Changes of usable,
 * mapped and tail_since happen under the pool lock, so the decay can cut a tail
 * without racing with the owner growing into it. */
typedef struct ebb_large {
    bool cached;    /* freed, kept mapped for reuse until the decay delay passes */
    bool resizing;  /* its owner is in a system call changing it: the decay keeps off */
    uintptr_t base;
    size_t usable;  /* what the program may use: whole pages, usable <= mapped */
    size_t mapped;  /* mapped from base; a tail past usable waits for growth or decay */
    size_t touched; /* bytes from base whose pages may be resident: usable <= touched
                       <= mapped, less than mapped once a long tail was purged */
    uint64_t freed_at;             /* ms, while cached */
    uint64_t tail_since;           /* ms, while mapped > usable (else 0) */
    struct ebb_large *next, *prev; /* live blocks (for stats), or the cache */
} ebb_large_t;

typedef struct ebb_span_list {
    ebb_span_t *first, *last;
} ebb_span_list_t;

/* The heap's cache of freed blocks of class c: a stack of pointers, so that free pushes
 * and malloc pops without touching the span, its lists or its counters (cache.c says
 * why). Any thread's blocks may be cached: a block freed by another thread than its
 * span's owner is reused where it was freed, or, once the bin overflows, by any thread
 * through the depot (depot.c); it goes back to its span (a remote free) when the cache
 * or the depot is flushed (thread exit, malloc_trim, arming; the decay for the depot).
 * Invariants:
 *   count <= the bin's size (cache.c); slots[0, count) are distinct blocks of class c,
 *   oldest first. Frees push while count < max.
 *   A cached block counts as used in its span (so its span is never returned to the
 *   pool, nor its page purged, while it is cached), and its link word holds
 *   ebb_cached_tag(block), which no block in use or on a free list holds: that is how
 *   free() recognises a second free of a cached block, whichever thread caches it (in
 *   a build with EBB_FREE_CHECK=OFF, no block is tagged).
 *   max == 0 in heaps that never cache (the empty and shared heaps), and while the heap
 *   is armed. An armed heap's blocks are held out of the fast paths' sight, in
 *   slots[0, held) (count == 0 then; held == 0 otherwise): its mallocs and frees come to
 *   the slow path, which reads the clock, runs the decay when it is due and otherwise
 *   pops or pushes there (heap.c, "armed heaps"). */
typedef struct ebb_bin {
    _Atomic uint32_t count; /* relaxed: the owner writes, statistics read */
    uint32_t max;
    void **slots;
    _Atomic uint32_t held;  /* as count */
    uint32_t fill;          /* EBB_SHARED=1: the blocks the last refill from the shared
                               heap brought (cache.c); 0 after a flush */
    uint64_t unused;        /* to 32 bytes: the fast paths find a bin with one shift */
} ebb_bin_t;
_Static_assert(sizeof(ebb_bin_t) == 32, "a bin is 32 bytes");

/* Blocks up to 4 KiB are cached: the classes 16 .. 4096. */
#define EBB_CACHED_CLASSES 48
/* Slots of all bins of a heap: room for every bin at its largest (cache.c), six pages;
 * the bins' real sizes use the first 1329, and only pages a thread touched are
 * resident. */
#define EBB_CACHE_SLOTS 3072
#define EBB_CACHE_SLOTS_BYTES (EBB_CACHE_SLOTS * sizeof(void *))
_Static_assert(EBB_CACHE_SLOTS_BYTES % 4096 == 0, "slots fill whole pages");

/* A heap. current[c] is the span malloc pops from for class c; it is the static empty
 * span when the heap has none, so the fast path never tests for NULL. current[c] is
 * always the first span of queue[c] (or the empty span). */
typedef struct ebb_heap {
    /* The bins' stacks, one after another: EBB_CACHE_SLOTS_BYTES on whole pages of
     * their own, just below the heap, which a thread's exit purges (heaps are kept for
     * reuse, and each thread's stacks would otherwise keep up to 11 KiB resident for as
     * long as the process lives). Not inside the struct: the static heaps (the empty
     * and shared heaps, which never cache, cache_slots NULL) would carry them as 48 KiB
     * of initialised data that every process maps resident. */
    void **cache_slots;
    ebb_span_t *current[EBB_CLASSES];
    ebb_span_list_t queue[EBB_CLASSES];
    ebb_span_list_t full;
    _Atomic(ebb_span_t *) remote_spans; /* full spans that received a remote free */
    struct ebb_heap *all_next;          /* every heap (under the pool lock) */
    struct ebb_heap *abandoned_next;
    uint64_t purge_due;                 /* ms: next look at free big blocks; 0: none wait */
    uint64_t pages_due;                 /* ms: next look for free pages of small spans */
    uint64_t pages_all_due;             /* ms: next of those looks to purge every one */
    uint16_t pages_round;               /* round of the looks at small spans (heap.c) */
    _Atomic bool owned;                 /* a live thread (or the shared lock) owns it;
                                           written under the pool lock */
    _Atomic size_t abandoned_freed;     /* bytes of remote frees that found it
                                           abandoned, since its last collection or
                                           adoption (its part of ebb_abandoned_pending) */
    uint32_t refills;                   /* quick refills of current spans (heap.c) */
    bool armed;                         /* memory waits to be purged: this heap's
                                           mallocs and cached frees take the slow path,
                                           which watches the clock for the decay, until
                                           little waits (current[] is empty, the bins
                                           hidden; ebb_heap_arm) */
    uint64_t armed_seen;                /* ms: the armed heap's last call */
    bool kept;                          /* abandoned, and its thread's exit left its
                                           free pages resident for the next owner (until
                                           adopted or purged; heap.c, "thread exit") */
    size_t kept_free;                   /* then: the bytes of its free blocks */
    ebb_bin_t bin[EBB_CLASSES];          /* max 0 from EBB_CACHED_CLASSES on */
} ebb_heap_t;

#endif /* EBB_TYPES_H */
