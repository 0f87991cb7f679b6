/* misuse.c — one misuse per run, chosen by argv[1]. Prints the pointer it misuses on
 * stdout first, so that expect_abort.sh can check the exact message on stderr. */
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void show(const void *p)
{
    printf("%p\n", p);
    fflush(stdout);
}

static _Atomic int freed;

/* Frees p and stays alive (its cache keeps p) until the process ends. */
static void *free_it(void *p)
{
    free(p);
    atomic_store(&freed, 1);
    for (;;)
        pause();
    return NULL;
}

/* Frees p and exits (its exit gives p back to p's span, as a remote free). */
static void *free_and_exit(void *p)
{
    free(p);
    return NULL;
}

/* Takes a heap, then frees the 130 blocks of arg, the first first: the 65th finds the
 * bin full and moves the older half, the first one with it, to the depot. */
static void *free_many(void *arg)
{
    char **p = arg;
    free(malloc(5000));
    for (int i = 0; i < 130; i++)
        free(p[i]);
    return NULL;
}

/* Freed, then pushed out of the cache to its span's free list by more frees of its
 * class: the second free finds it there. */
static void *double_free_flushed(void *arg)
{
    char *p = malloc(100);
    char *more[256];
    for (int i = 0; i < 256; i++)
        more[i] = malloc(100);
    show(p);
    free(p);
    for (int i = 0; i < 256; i++)
        free(more[i]);
    free(p);
    return arg;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *c = argv[1];
    char local[32] = {0};
    if (strcmp(c, "double_free") == 0) {
        char *p = malloc(100);
        free(malloc(100)); /* a neighbour on the free list too */
        free(p);
        show(p);
        free(p);
    } else if (strcmp(c, "double_free_other_thread") == 0) {
        /* the first free is another thread's: the block waits in that thread's cache */
        char *p = malloc(100);
        pthread_t t;
        show(p);
        pthread_create(&t, NULL, free_it, p);
        while (!atomic_load(&freed))
            usleep(1000);
        free(p);
    } else if (strcmp(c, "double_free_remote") == 0) {
        char *p = malloc(100);
        pthread_t t;
        show(p);
        pthread_create(&t, NULL, free_and_exit, p);
        pthread_join(t, NULL);
        free(p);
    } else if (strcmp(c, "double_free_depot") == 0) {
        /* freed by a second thread past its full cache: the block waits in the depot */
        char *p[130];
        for (int i = 0; i < 130; i++)
            p[i] = malloc(100);
        show(p[0]);
        pthread_t t;
        pthread_create(&t, NULL, free_many, p);
        pthread_join(t, NULL);
        free(p[0]);
    } else if (strcmp(c, "double_free_flushed") == 0) {
        double_free_flushed(NULL);
    } else if (strcmp(c, "double_free_flushed_thread") == 0) {
        /* the same in a second thread: with EBB_SHARED=1, the shared heap's block */
        pthread_t t;
        pthread_create(&t, NULL, double_free_flushed, NULL);
        pthread_join(t, NULL);
    } else if (strcmp(c, "double_free_large") == 0) {
        char *p = malloc(8 << 20);
        show(p);
        free(p);
        free(p);
    } else if (strcmp(c, "realloc_freed_large") == 0) {
        char *p = malloc(8 << 20);
        show(p);
        free(p);
        void *r = realloc(p, 100);
        free(r);
    } else if (strcmp(c, "realloc_freed_small") == 0) {
        char *p = malloc(100);
        show(p);
        free(p);
        void *r = realloc(p, 200);
        free(r);
    } else if (strcmp(c, "invalid_pointer") == 0) {
        show(local);
        free(local);
    } else if (strcmp(c, "interior_pointer") == 0) {
        char *p = malloc(100);
        show(p + 16);
        free(p + 16);
    } else if (strcmp(c, "interior_large") == 0) {
        char *p = malloc(8 << 20);
        show(p + 4096);
        free(p + 4096);
    } else if (strcmp(c, "realloc_invalid") == 0) {
        show(local);
        void *r = realloc(local, 10);
        free(r);
    } else if (strcmp(c, "usable_invalid") == 0) {
        show(local + 16);
        printf("%zu\n", malloc_usable_size(local + 16));
    } else if (strcmp(c, "free_sized_mismatch") == 0) {
        void (*fs)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
        char *p = malloc(100);
        show(p);
        if (fs)
            fs(p, 5000);
    } else if (strcmp(c, "double_free_purged") == 0) {
        char *keep = malloc(16384); /* the span stays: the freed block is purged alone */
        char *p = malloc(16384);
        show(p);
        free(p);
        malloc_trim(0); /* purges p whole, its free-list link too */
        free(p);
        free(keep);
    } else if (strcmp(c, "overflow_by_one") == 0) { /* the debug library's cases */
        char *p = malloc(100);
        show(p);
        p[100] = 1;
        free(p);
    } else if (strcmp(c, "overflow_large") == 0) {
        char *p = malloc(3 << 20);
        show(p);
        p[(3 << 20) + 5] = 1;
        free(p);
    } else if (strcmp(c, "overflow_size_word") == 0) {
        char *p = malloc(100);
        show(p);
        memset(p, 'x', 128); /* to the end of its 128-byte block: the size word too */
        free(p);
    } else if (strcmp(c, "write_after_free") == 0) {
        char *p = malloc(100);
        show(p);
        free(p);
        p[40] = 'x';
        for (int i = 0; i < 100000; i++)
            if (malloc(100) == p)
                break;
    } else if (strcmp(c, "free_list_corrupted") == 0) {
        char *p = malloc(100);
        show(p);
        free(p);
        memset(p + 8, 'x', 8); /* the link: a free block's second word */
        for (int i = 0; i < 100000; i++)
            if (malloc(100) == p)
                break;
    } else if (strcmp(c, "double_free_debug") == 0) {
        char *p = malloc(100);
        char *q = malloc(100);
        show(p);
        free(p);
        free(q);
        free(p);
    } else {
        return 2;
    }
    return 0; /* reached only if the misuse went unnoticed */
}
