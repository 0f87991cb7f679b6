/* debug_layout.c — what a program sees under libebb-debug.so (run with LD_PRELOAD of
 * it): the usable size is the requested size, new blocks hold the fresh fill, calloc
 * still zeroes, realloc moves and keeps the contents, alignment requests still hold,
 * and a correct program — including blocks freed and reused many times, cross-thread
 * frees and purged pages — never trips a check (the test would abort). */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define FRESH 0xEB /* alloc/debug.h */

static int all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

static void *free_from_other_thread(void *arg)
{
    void **blocks = arg;
    for (int i = 0; i < 1000; i++)
        free(blocks[i]);
    return NULL;
}

int main(void)
{
    size_t sizes[] = {1, 15, 16, 100, 1000, 4096, 10000, 70000, 1 << 20, 3 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *p = malloc(n);
        CHECKF(p && malloc_usable_size(p) == n, "size %zu: usable %zu\n", n,
               p ? malloc_usable_size(p) : 0);
        if (n < (1 << 20)) /* large blocks are not filled: they come from the kernel */
            CHECKF(all_bytes(p, n, FRESH), "size %zu not filled on malloc\n", n);
        memset(p, 7, n);
        unsigned char *q = realloc(p, n * 2);
        CHECKF(q && q != p && all_bytes(q, n, 7), "realloc of %zu moved and kept\n", n);
        free(q);
        unsigned char *z = calloc(1, n);
        CHECK(z && all_bytes(z, n, 0));
        free(z);
    }
    for (size_t align = 32; align <= (1 << 16); align *= 2) {
        void *p = aligned_alloc(align, 100);
        CHECKF(p && (uintptr_t)p % align == 0 && malloc_usable_size(p) == 100,
               "aligned_alloc(%zu, 100)\n", align);
        memset(p, 1, 100);
        free(p);
    }
    /* Reuse: each round frees every block and reallocates, so the freed fill of each
     * block is checked when it comes back; malloc_trim purges pages in between. */
    static void *blocks[1000];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 1000; i++) {
            size_t n = (size_t)((i * 37 + round * 11) % 20000) + 1;
            blocks[i] = malloc(n);
            memset(blocks[i], round, n);
        }
        if (round % 2) {
            pthread_t t;
            pthread_create(&t, NULL, free_from_other_thread, blocks);
            pthread_join(t, NULL);
        } else {
            for (int i = 0; i < 1000; i++)
                free(blocks[i]);
        }
        if (round % 5 == 4)
            malloc_trim(0);
    }
    return check_report("debug_layout");
}
