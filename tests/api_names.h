/* api_names.h — one test source, two ways in: EBB_TEST_PREFIXED calls the ebb_* API
 * (linked with libebb_prefixed.a, beside glibc's malloc); otherwise the standard names,
 * which are ebb's when the test runs under LD_PRELOAD=libebb.so. */
#ifndef EBB_TEST_API_NAMES_H
#define EBB_TEST_API_NAMES_H

#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "ebb.h"

#ifdef EBB_TEST_PREFIXED
#define T_MALLOC ebb_malloc
#define T_FREE ebb_free
#define T_CALLOC ebb_calloc
#define T_REALLOC ebb_realloc
#define T_REALLOCARRAY ebb_reallocarray
#define T_ALIGNED_ALLOC ebb_aligned_alloc
#define T_MEMALIGN ebb_memalign
#define T_POSIX_MEMALIGN ebb_posix_memalign
#define T_VALLOC ebb_valloc
#define T_PVALLOC ebb_pvalloc
#define T_USABLE ebb_usable_size
#define T_FREE_SIZED ebb_free_sized
#define T_FREE_ALIGNED_SIZED ebb_free_aligned_sized
#define T_TRIM ebb_trim
#define T_VARIANT "prefixed"
static inline int t_owns(const void *p)
{
    return ebb_owns(p);
}
static inline int t_stats(ebb_stats_t *out)
{
    ebb_stats_get(out);
    return 1;
}
#else
/* glibc 2.36 does not have the C23 sized frees: find ebb's at run time. */
static inline void t_free_sized(void *p, size_t size)
{
    void (*f)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    if (!f)
        abort();
    f(p, size);
}
static inline void t_free_aligned_sized(void *p, size_t align, size_t size)
{
    void (*f)(void *, size_t, size_t) =
        (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
    if (!f)
        abort();
    f(p, align, size);
}
#define T_MALLOC malloc
#define T_FREE free
#define T_CALLOC calloc
#define T_REALLOC realloc
#define T_REALLOCARRAY reallocarray
#define T_ALIGNED_ALLOC aligned_alloc
#define T_MEMALIGN memalign
#define T_POSIX_MEMALIGN posix_memalign
#define T_VALLOC valloc
#define T_PVALLOC pvalloc
#define T_USABLE malloc_usable_size
#define T_FREE_SIZED t_free_sized
#define T_FREE_ALIGNED_SIZED t_free_aligned_sized
#define T_TRIM malloc_trim
#define T_VARIANT "preload"
/* Under LD_PRELOAD the test finds ebb_owns in the process; without it the test fails,
 * so a run that silently used glibc cannot pass. */
static inline int t_owns(const void *p)
{
    static int (*owns)(const void *);
    if (!owns)
        owns = (int (*)(const void *))dlsym(RTLD_DEFAULT, "ebb_owns");
    return owns && owns(p);
}
/* ebb's statistics, found the same way; 0 if the process has no ebb_stats_get. */
static inline int t_stats(ebb_stats_t *out)
{
    void (*get)(ebb_stats_t *) = (void (*)(ebb_stats_t *))dlsym(RTLD_DEFAULT, "ebb_stats_get");
    if (get)
        get(out);
    return get != NULL;
}
#endif

/* ebb's JSON statistics as text (to free()), or NULL if the process has no ebb. */
static inline char *t_stats_json(void)
{
#ifdef EBB_TEST_PREFIXED
    void (*json)(FILE *) = ebb_stats_json;
#else
    void (*json)(FILE *) = (void (*)(FILE *))dlsym(RTLD_DEFAULT, "ebb_stats_json");
    if (!json)
        return NULL;
#endif
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return NULL;
    json(mem);
    fclose(mem);
    return text;
}

#endif
