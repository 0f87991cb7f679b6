/* tls_dtor.c — allocation after a thread's heap is gone: pthread key destructors and
 * C11 thread-exit paths that run after ebb's own destructor still malloc, realloc and
 * free, and what they leave behind is freed later by another thread. Also threads
 * that end with pthread_exit() in the middle of their work. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "api_names.h"
#include "check.h"

#define THREADS 64

static pthread_key_t key;
static _Atomic(void *) leftovers[THREADS * 4];
static _Atomic int slot, bad;

static void keep(void *p)
{
    atomic_store(&leftovers[atomic_fetch_add(&slot, 1)], p);
}

static void destructor(void *value)
{
    /* Runs after ebb's destructor (ebb's key was created first, at the first malloc). */
    char *p = T_MALLOC(100);
    char *q = T_MALLOC(200000);
    if (!p || !q) {
        atomic_fetch_add(&bad, 1);
        return;
    }
    memset(p, 1, 100);
    memset(q, 2, 200000);
    p = T_REALLOC(p, 5000);
    if (!p || p[99] != 1)
        atomic_fetch_add(&bad, 1);
    T_FREE(value);
    keep(p);
    keep(q);
    T_FREE(T_CALLOC(10, 10));
}

static void *thread_main(void *arg)
{
    long id = (long)arg;
    void *v = T_MALLOC(64);
    pthread_setspecific(key, v);
    keep(T_MALLOC(1000));
    if (id % 2)
        pthread_exit(NULL); /* destructors run from inside pthread_exit */
    keep(T_MALLOC(3000));
    return NULL;
}

int main(void)
{
    T_FREE(T_MALLOC(1)); /* make sure ebb is initialised before our key exists */
    CHECK(pthread_key_create(&key, destructor) == 0);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, thread_main, (void *)i) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    int n = atomic_load(&slot);
    CHECK(n == THREADS * 3 + THREADS / 2);
    for (int i = 0; i < n; i++) {
        void *p = atomic_load(&leftovers[i]);
        CHECK(p && t_owns(p));
        T_FREE(p);
    }
    CHECK(atomic_load(&bad) == 0);
    return check_report("tls-dtor-" T_VARIANT);
}
