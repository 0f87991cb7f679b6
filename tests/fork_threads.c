/* fork_threads.c — fork while threads allocate. Four threads allocate, free and hand
 * blocks to each other; two of them and the main thread fork hundreds of times. Every
 * child allocates, frees, starts a thread that allocates, and exits. A child that hangs
 * is killed by its own alarm and fails the test; the parent has an alarm too. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_names.h"
#include "check.h"

#define WORKERS 4
#define FORKS_PER_FORKER 100

static _Atomic int stop;
static _Atomic(void *) shared[256];
static _Atomic long child_failures, forks_done;

static void *child_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        T_FREE(T_MALLOC((size_t)(i % 300) * 16 + 1));
    return NULL;
}

static void child_work(void)
{
    alarm(10);
    void *p[64];
    for (int i = 0; i < 64; i++) {
        p[i] = T_MALLOC((size_t)i * 1000 + 1);
        if (!p[i])
            _exit(3);
        memset(p[i], i, (size_t)i * 1000 + 1);
    }
    void *big = T_MALLOC(3 << 20);
    if (!big)
        _exit(3);
    memset(big, 1, 3 << 20);
    for (int i = 0; i < 64; i++)
        T_FREE(p[i]);
    T_FREE(big);
    pthread_t t;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0 || pthread_join(t, NULL) != 0)
        _exit(4);
    _exit(0);
}

static void fork_one(void)
{
    pid_t pid = fork();
    if (pid == 0)
        child_work();
    if (pid < 0) {
        atomic_fetch_add(&child_failures, 1);
        return;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        atomic_fetch_add(&child_failures, 1);
    atomic_fetch_add(&forks_done, 1);
}

static void *worker(void *arg)
{
    long id = (long)arg;
    unsigned r = (unsigned)id * 2654435761u + 1;
    long n = 0, forked = 0;
    while (!atomic_load(&stop)) {
        r = r * 1103515245u + 12345u;
        size_t size = (r >> 8) % 4000 + 1;
        if ((r >> 4) % 64 == 0)
            size = (size_t)(1 << 20) + size * 100;
        void *p = T_MALLOC(size);
        if (p)
            memset(p, 0x33, size < 64 ? size : 64);
        void *old = atomic_exchange(&shared[(r >> 12) % 256], p);
        T_FREE(old);
        /* Workers 0 and 1 fork too, in the middle of their allocation loop. */
        if (id < 2 && ++n % 200 == 0 && forked < FORKS_PER_FORKER) {
            fork_one();
            forked++;
        }
    }
    return NULL;
}

int main(void)
{
    alarm(240);
    pthread_t t[WORKERS];
    for (long i = 0; i < WORKERS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
    for (int i = 0; i < FORKS_PER_FORKER; i++)
        fork_one();
    while (atomic_load(&forks_done) < 3 * FORKS_PER_FORKER)
        usleep(10000);
    atomic_store(&stop, 1);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 256; i++)
        T_FREE(atomic_exchange(&shared[i], NULL));
    CHECKF(atomic_load(&child_failures) == 0, "%ld of %ld children failed or hung",
           atomic_load(&child_failures), atomic_load(&forks_done));
    CHECK(atomic_load(&forks_done) == 3 * FORKS_PER_FORKER);
    printf("%ld forks while %d threads allocated\n", atomic_load(&forks_done), WORKERS);
    return check_report("fork-threads-" T_VARIANT);
}
