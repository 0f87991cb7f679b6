/* ebb.h — the public interface of libebb.
 *
 * libebb is a size-class arena allocator that returns free pages to the kernel.
 * Two ways to use it:
 *   - as the process's malloc: link with -lebb or LD_PRELOAD=libebb.so; the standard
 *     malloc/free/... symbols and the glibc introspection calls are then ebb's;
 *   - through the prefixed API below, alongside the system malloc: link with
 *     -lebb_prefixed, which defines only the ebb_* symbols.
 * Both builds come from the same sources and behave identically.
 */
#ifndef EBB_H
#define EBB_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EBB_VERSION_MAJOR 0
#define EBB_VERSION_MINOR 1
#define EBB_VERSION_PATCH 0
#define EBB_VERSION_STRING "0.1.0"

#if defined(__GNUC__)
#define EBB_ALLOC_SIZE(...) __attribute__((malloc, alloc_size(__VA_ARGS__)))
#else
#define EBB_ALLOC_SIZE(...)
#endif

/* Allocation. Failure returns NULL with errno set (ENOMEM, or EINVAL for a bad
 * alignment); a failed ebb_realloc leaves the block untouched. */
void *ebb_malloc(size_t size) EBB_ALLOC_SIZE(1);
void *ebb_calloc(size_t count, size_t size) EBB_ALLOC_SIZE(1, 2);
void *ebb_realloc(void *ptr, size_t size) EBB_ALLOC_SIZE(2);
void *ebb_reallocarray(void *ptr, size_t count, size_t size) EBB_ALLOC_SIZE(2, 3);
void *ebb_aligned_alloc(size_t alignment, size_t size) EBB_ALLOC_SIZE(2);
void *ebb_memalign(size_t alignment, size_t size) EBB_ALLOC_SIZE(2);
int ebb_posix_memalign(void **out, size_t alignment, size_t size);
void *ebb_valloc(size_t size) EBB_ALLOC_SIZE(1);
void *ebb_pvalloc(size_t size) EBB_ALLOC_SIZE(1);

/* Release. ebb_free(NULL) does nothing; freeing anything ebb did not hand out, an
 * interior pointer or a block already free aborts with a message naming the pointer.
 * The sized forms check the size against the block's and abort on a mismatch. */
void ebb_free(void *ptr);
void ebb_free_sized(void *ptr, size_t size);
void ebb_free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* The number of bytes usable at ptr (at least what was requested); 0 for NULL. */
size_t ebb_usable_size(const void *ptr);

/* 1 if p lies in memory ebb manages (a cheap check that does not touch *p). */
int ebb_owns(const void *p);

/* Return every free page to the kernel now. Returns 1 if memory was released. */
int ebb_trim(size_t pad);

/* Statistics, all fed by one snapshot of the allocator's counters. */
typedef struct ebb_stats {
    size_t live_bytes;      /* bytes in blocks handed out and not freed (usable sizes) */
    size_t free_bytes;      /* mapped for blocks but not in a live block */
    size_t mapped_bytes;    /* address space obtained from the kernel for blocks:
                               live_bytes + free_bytes */
    size_t os_mapped_bytes; /* everything mapped, counted by the system-call layer:
                               equals mapped_bytes + metadata_bytes when no thread is
                               inside the allocator */
    size_t resident_bytes;  /* of mapped_bytes, pages not yet given back (upper bound) */
    size_t metadata_bytes;  /* mapped for the allocator's own bookkeeping */
    size_t large_bytes;     /* mapped bytes of blocks above the largest size class */
    size_t large_count;     /* number of such blocks */
    size_t purged_bytes;    /* total bytes ever returned to the kernel */
    size_t purge_calls;     /* total madvise calls made to return them */
    size_t heaps;           /* thread heaps created (live and abandoned) */
    size_t threads_active;  /* heaps owned by a running thread */
    size_t metadata_resident_bytes; /* of metadata_bytes, pages in memory (the kernel's
                                       count); with resident_bytes, ebb's share of RSS */
} ebb_stats_t;

void ebb_stats_get(ebb_stats_t *out);
/* Write the statistics as JSON, with per-size-class detail. */
void ebb_stats_json(FILE *out);
/* glibc-style text summary on stderr, as malloc_stats() prints it. */
void ebb_stats_print(void);

#ifdef __cplusplus
}
#endif

#endif /* EBB_H */
