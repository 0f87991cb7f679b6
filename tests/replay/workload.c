/* workload.c — a program with known allocation calls, for the recorder tests.
 *   workload calls   a fixed sequence: 1000 malloc, 10 calloc, 100 realloc, 5 of each
 *                    aligned call, 1010 free, two phase markers
 *   workload fork    the same in a forked child too (the child writes its own trace)
 *   workload kill    5000 mallocs, then SIGKILL to itself
 *   workload threads 4 threads, every block freed by a different thread than made it
 *   workload _exit|abort|exec
 *                    3000 mallocs, then _exit(0), abort() or exec of this program
 *                    with "calls" */
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void marker(const char *label)
{
    void (*m)(const char *) = (void (*)(const char *))dlsym(RTLD_DEFAULT, "ebb_record_marker");
    if (m)
        m(label);
}

static void calls(void)
{
    static void *p[1000];
    marker("start");
    for (int i = 0; i < 1000; i++)
        p[i] = malloc((size_t)(i % 100) * 16 + 1);
    void *c[10];
    for (int i = 0; i < 10; i++)
        c[i] = calloc(10, (size_t)i + 1);
    for (int i = 0; i < 100; i++)
        p[i] = realloc(p[i], 5000);
    void *a[15];
    for (int i = 0; i < 5; i++) {
        a[i] = memalign(64, 100);
        a[5 + i] = aligned_alloc(128, 256);
        if (posix_memalign(&a[10 + i], 256, 1000) != 0)
            a[10 + i] = NULL;
    }
    marker("free");
    for (int i = 0; i < 1000; i++)
        free(p[i]);
    for (int i = 0; i < 10; i++)
        free(c[i]);
    for (int i = 0; i < 15; i++)
        free(a[i]);
}

#define THREADS 4
#define PER 20000
static _Atomic(void *) box[THREADS][64];

static void *worker(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < PER; i++) {
        void *p = malloc((size_t)(i % 500) + 1);
        /* hand it to the next thread's box, take one from ours */
        void *old = atomic_exchange(&box[(id + 1) % THREADS][i % 64], p);
        free(old);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "calls";
    if (strcmp(mode, "calls") == 0) {
        calls();
    } else if (strcmp(mode, "fork") == 0) {
        calls();
        pid_t pid = fork();
        if (pid == 0) {
            calls();
            _exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
    } else if (strcmp(mode, "kill") == 0) {
        for (int i = 0; i < 5000; i++)
            if (!malloc(100))
                return 1;
        kill(getpid(), SIGKILL);
    } else if (strcmp(mode, "_exit") == 0 || strcmp(mode, "abort") == 0 ||
               strcmp(mode, "exec") == 0) {
        for (int i = 0; i < 3000; i++)
            if (!malloc(64))
                return 1;
        if (strcmp(mode, "_exit") == 0)
            _exit(0);
        if (strcmp(mode, "abort") == 0)
            abort();
        execl("/proc/self/exe", "workload", "calls", (char *)NULL);
        return 1;
    } else if (strcmp(mode, "threads") == 0) {
        pthread_t t[THREADS];
        for (long i = 0; i < THREADS; i++)
            pthread_create(&t[i], NULL, worker, (void *)i);
        for (int i = 0; i < THREADS; i++)
            pthread_join(t[i], NULL);
        for (int i = 0; i < THREADS; i++)
            for (int j = 0; j < 64; j++)
                free(atomic_exchange(&box[i][j], NULL));
    } else {
        return 2;
    }
    return 0;
}
