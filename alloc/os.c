/* os.c — every mmap, munmap, mremap and madvise of the allocator. */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

ebb_os_counters_t ebb_os;
ebb_class_purges_t ebb_class_purges[EBB_CLASSES];
size_t ebb_page_size = 4096;

void ebb_os_init(void)
{
    long ps = sysconf(_SC_PAGESIZE);
    if (ps > 0 && ps <= 65536)
        ebb_page_size = (size_t)ps;
}

void *ebb_os_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    atomic_fetch_add_explicit(&ebb_os.mapped, size, memory_order_relaxed);
    return p;
}

void ebb_os_unmap(void *p, size_t size)
{
    int saved = errno;
    munmap(p, size);
    errno = saved;
    atomic_fetch_sub_explicit(&ebb_os.mapped, size, memory_order_relaxed);
}

/* The statistics count as mapped what is in use: reserved address space joins (or
 * leaves) the count when the caller puts it to use. */
void ebb_os_count_mapped(ptrdiff_t bytes)
{
    atomic_fetch_add_explicit(&ebb_os.mapped, (size_t)bytes, memory_order_relaxed);
}

/* Map `size` bytes at an address that is a multiple of `align` (a power of two no
 * smaller than the page): over-map by `align`, then unmap the ends. */
void *ebb_os_map_aligned(size_t size, size_t align)
{
    if (size > SIZE_MAX - align)
        return NULL;
    char *raw = ebb_os_map(size + align);
    if (!raw)
        return NULL;
    char *p = (char *)ebb_align_up((uintptr_t)raw, align);
    size_t head = (size_t)(p - raw);
    size_t tail = align - head;
    if (head)
        ebb_os_unmap(raw, head);
    if (tail)
        ebb_os_unmap(p + size, tail);
    return p;
}

/* Which pages of a mapping are in memory, by mincore, a vector's worth at a time; a
 * failed call counts its pages as resident (an upper bound). Pages only ever read hold
 * the shared zero page, which mincore counts and the RSS does not; metadata is read
 * before it is written only by lookups of pointers ebb never gave out. */
size_t ebb_os_resident(const void *p, size_t size)
{
    enum { PAGES = 256 };
    unsigned char vec[PAGES];
    uintptr_t at = (uintptr_t)p & ~(uintptr_t)(ebb_page_size - 1);
    uintptr_t end = ebb_align_up((uintptr_t)p + size, ebb_page_size);
    size_t resident = 0;
    int saved = errno;
    while (at < end) {
        size_t len = end - at < PAGES * ebb_page_size ? end - at : PAGES * ebb_page_size;
        size_t pages = len / ebb_page_size;
        if (mincore((void *)at, len, vec) != 0) {
            resident += len;
        } else {
            for (size_t i = 0; i < pages; i++)
                resident += (vec[i] & 1) * ebb_page_size;
        }
        at += len;
    }
    errno = saved;
    return resident;
}

/* madvise of the whole pages in [p, p+size): their bytes, or 0 if none or it failed. */
static size_t purge_pages(void *p, size_t size)
{
    uintptr_t lo = ebb_align_up((uintptr_t)p, ebb_page_size);
    uintptr_t hi = ((uintptr_t)p + size) & ~(uintptr_t)(ebb_page_size - 1);
    if (hi <= lo)
        return 0;
    int saved = errno;
    int advice = ebb_opt.madv_free ? MADV_FREE : MADV_DONTNEED;
    int rc = madvise((void *)lo, hi - lo, advice);
    errno = saved;
    if (rc != 0)
        return 0;
    atomic_fetch_add_explicit(&ebb_os.purge_calls, 1, memory_order_relaxed);
    return hi - lo;
}

void ebb_os_count_purged(size_t bytes, unsigned cls, size_t calls)
{
    atomic_fetch_add_explicit(&ebb_os.purged, bytes, memory_order_relaxed);
    if (cls < EBB_CLASSES) {
        atomic_fetch_add_explicit(&ebb_class_purges[cls].bytes, bytes, memory_order_relaxed);
        atomic_fetch_add_explicit(&ebb_class_purges[cls].calls, calls, memory_order_relaxed);
    }
}

void ebb_os_purge(void *p, size_t size, unsigned cls)
{
    size_t bytes = purge_pages(p, size);
    if (bytes)
        ebb_os_count_purged(bytes, cls, 1);
}

bool ebb_os_purge_run(void *p, size_t size)
{
    return purge_pages(p, size) != 0;
}

bool ebb_os_grow_in_place(void *p, size_t old_size, size_t new_size)
{
    int saved = errno;
    void *q = mremap(p, old_size, new_size, 0);
    errno = saved;
    if (q == MAP_FAILED)
        return false;
    atomic_fetch_add_explicit(&ebb_os.mapped, new_size - old_size, memory_order_relaxed);
    return true;
}

void ebb_os_shrink(void *p, size_t old_size, size_t new_size)
{
    ebb_os_unmap((char *)p + new_size, old_size - new_size);
}

/* Move a mapping to a fresh `align`-aligned place of new_size bytes without copying:
 * reserve the target, then let mremap carry the pages over. NULL (and the mapping
 * untouched) on failure. */
void *ebb_os_move_aligned(void *p, size_t old_size, size_t new_size, size_t align)
{
    if (new_size > SIZE_MAX - align)
        return NULL;
    int saved = errno;
    char *raw = mmap(NULL, new_size + align, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) {
        errno = saved;
        return NULL;
    }
    char *target = (char *)ebb_align_up((uintptr_t)raw, align);
    void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    if (q == MAP_FAILED) {
        munmap(raw, new_size + align);
        errno = saved;
        return NULL;
    }
    /* The reservation's ends around the moved mapping are still PROT_NONE: drop them. */
    if (target > raw)
        munmap(raw, (size_t)(target - raw));
    size_t tail = (size_t)(raw + new_size + align - (target + new_size));
    if (tail)
        munmap(target + new_size, tail);
    errno = saved;
    atomic_fetch_add_explicit(&ebb_os.mapped, new_size - old_size, memory_order_relaxed);
    return q;
}
