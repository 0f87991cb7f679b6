/* init_early.c — the first calls of a process: allocation from constructors that run
 * before main (and before ebb has been called by anyone else in the prefixed build),
 * from inside dlsym/dlerror (which allocate in libc), and from threads created before
 * the allocator was first used, all making their first call at the same instant. */
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include "api_names.h"
#include "check.h"

#define THREADS 8

static void *early[4];
static pthread_barrier_t barrier;
static void *from_threads[THREADS];

__attribute__((constructor(101))) static void first_constructor(void)
{
    early[0] = T_MALLOC(24);
    early[1] = T_CALLOC(100, 10);
    early[2] = T_MALLOC(2 << 20);
}

__attribute__((constructor(102))) static void second_constructor(void)
{
    early[3] = T_REALLOC(early[0], 5000);
}

static void *racer(void *arg)
{
    long i = (long)arg;
    pthread_barrier_wait(&barrier);
    from_threads[i] = T_MALLOC((size_t)(i + 1) * 100);
    if (from_threads[i])
        memset(from_threads[i], 0x77, (size_t)(i + 1) * 100);
    return NULL;
}

int main(void)
{
    for (int i = 1; i < 4; i++)
        CHECK(early[i] != NULL && t_owns(early[i]));

    /* dlerror() allocates its message with malloc inside libc. */
    CHECK(dlsym(RTLD_DEFAULT, "ebb_no_such_symbol_anywhere") == NULL);
    const char *err = dlerror();
    CHECK(err != NULL && strstr(err, "ebb_no_such_symbol_anywhere") != NULL);
    void *h = dlopen("libm.so.6", RTLD_NOW);
    CHECK(h != NULL);
    if (h)
        dlclose(h);

    pthread_barrier_init(&barrier, NULL, THREADS);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, racer, (void *)i) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        CHECK(from_threads[i] != NULL && t_owns(from_threads[i]));
        T_FREE(from_threads[i]);
    }
    for (int i = 1; i < 4; i++)
        T_FREE(early[i]);
    return check_report("init-early-" T_VARIANT);
}
