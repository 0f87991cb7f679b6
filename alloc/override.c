/* override.c — the standard allocation symbols, so that libebb replaces the system
 * malloc when preloaded or linked (libebb.so, libebb.a; not in libebb_prefixed).
 * C++ operators new and delete in libstdc++ call malloc, aligned_alloc and free, so
 * they reach ebb through these. */
#include <limits.h>
#include <malloc.h>
#include <stdlib.h>

#include "alloc.h"
#include "ebb.h"
#include "stats.h"

/* C23 functions that this libc's headers may not declare yet. */
void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t align, size_t size);

EBB_EXPORT void *malloc(size_t size)
{
    return ebb_alloc_impl(size);
}

EBB_EXPORT void free(void *p)
{
    ebb_free_impl(p, "free");
}

EBB_EXPORT void *calloc(size_t count, size_t size)
{
    return ebb_calloc_impl(count, size);
}

EBB_EXPORT void *realloc(void *p, size_t size)
{
    return ebb_realloc_impl(p, size, "realloc");
}

EBB_EXPORT void *reallocarray(void *p, size_t count, size_t size)
{
    return ebb_reallocarray_impl(p, count, size, "reallocarray");
}

EBB_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    return ebb_posix_memalign_impl(out, align, size);
}

EBB_EXPORT void *aligned_alloc(size_t align, size_t size)
{
    return ebb_memalign_impl(align, size, false);
}

EBB_EXPORT void *memalign(size_t align, size_t size)
{
    return ebb_memalign_impl(align, size, true);
}

EBB_EXPORT void *valloc(size_t size)
{
    return ebb_valloc_impl(size);
}

EBB_EXPORT void *pvalloc(size_t size)
{
    return ebb_pvalloc_impl(size);
}

EBB_EXPORT size_t malloc_usable_size(void *p)
{
    return ebb_usable_impl(p, "malloc_usable_size");
}

EBB_EXPORT void free_sized(void *p, size_t size)
{
    ebb_free_sized_impl(p, size, "free_sized");
}

EBB_EXPORT void free_aligned_sized(void *p, size_t align, size_t size)
{
    (void)align;
    ebb_free_sized_impl(p, size, "free_aligned_sized");
}

EBB_EXPORT int malloc_trim(size_t pad)
{
    return ebb_trim(pad);
}

EBB_EXPORT struct mallinfo2 mallinfo2(void)
{
    return ebb_stats_mallinfo2();
}

static int clamp_int(size_t v)
{
    return v > INT_MAX ? INT_MAX : (int)v;
}

EBB_EXPORT struct mallinfo mallinfo(void)
{
    struct mallinfo2 m = ebb_stats_mallinfo2();
    struct mallinfo r = {
        .arena = clamp_int(m.arena),
        .ordblks = clamp_int(m.ordblks),
        .smblks = clamp_int(m.smblks),
        .hblks = clamp_int(m.hblks),
        .hblkhd = clamp_int(m.hblkhd),
        .usmblks = clamp_int(m.usmblks),
        .fsmblks = clamp_int(m.fsmblks),
        .uordblks = clamp_int(m.uordblks),
        .fordblks = clamp_int(m.fordblks),
        .keepcost = clamp_int(m.keepcost),
    };
    return r;
}

EBB_EXPORT void malloc_stats(void)
{
    ebb_stats_print();
}

EBB_EXPORT int malloc_info(int options, FILE *out)
{
    if (options != 0) {
        errno = EINVAL;
        return -1;
    }
    ebb_stats_xml(out);
    return 0;
}

/* Accepted and ignored: none of glibc's tunables applies to ebb. */
EBB_EXPORT int mallopt(int param, int value)
{
    (void)param;
    (void)value;
    return 1;
}
