/* fork_stdio.c — the lock-order cycle between the allocator and stdio: one thread reads
 * very long lines with getline (holding its stream's lock while realloc grows the line
 * buffer), one calls fflush(NULL) in a loop (stdio's list lock, then every stream's
 * lock), and others fork. An allocator that takes its own locks in the fork prepare
 * handler before glibc takes the stdio list lock deadlocks here. An alarm turns a
 * deadlock into a failure. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_names.h"
#include "check.h"

#define FORKERS 2
#define FORKS_EACH 150

static _Atomic int stop;
static _Atomic long forks, failures, lines;
static char path[] = "/tmp/ebb-fork-stdio-XXXXXX";

static void *reader(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        FILE *f = fopen(path, "r");
        if (!f) {
            atomic_fetch_add(&failures, 1);
            return NULL;
        }
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) > 0)
            atomic_fetch_add(&lines, 1);
        free(line);
        fclose(f);
    }
    return NULL;
}

static void *flusher(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop))
        fflush(NULL);
    return NULL;
}

static void *forker(void *arg)
{
    (void)arg;
    for (int i = 0; i < FORKS_EACH; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(10);
            void *p = malloc(100000);
            free(p);
            _exit(p ? 0 : 1);
        }
        if (pid < 0) {
            atomic_fetch_add(&failures, 1);
            continue;
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
            ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            atomic_fetch_add(&failures, 1);
        atomic_fetch_add(&forks, 1);
    }
    return NULL;
}

int main(void)
{
    alarm(120);
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    /* Lines of 3 MiB: the line buffer grows through the large-block path. */
    for (int l = 0; l < 4; l++) {
        for (int i = 0; i < 3 << 20; i++)
            fputc('a' + (i + l) % 26, f);
        fputc('\n', f);
    }
    fclose(f);

    pthread_t r[2], fl, fk[FORKERS];
    for (int i = 0; i < 2; i++)
        pthread_create(&r[i], NULL, reader, NULL);
    pthread_create(&fl, NULL, flusher, NULL);
    for (int i = 0; i < FORKERS; i++)
        pthread_create(&fk[i], NULL, forker, NULL);
    for (int i = 0; i < FORKERS; i++)
        pthread_join(fk[i], NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(r[i], NULL);
    pthread_join(fl, NULL);
    unlink(path);

    void *probe = malloc(10);
    CHECK(t_owns(probe));
    free(probe);
    CHECK(atomic_load(&forks) == FORKERS * FORKS_EACH);
    CHECKF(atomic_load(&failures) == 0, "%ld failures", atomic_load(&failures));
    CHECK(atomic_load(&lines) > 0);
    printf("%ld forks while getline read %ld long lines and fflush(NULL) ran\n",
           atomic_load(&forks), atomic_load(&lines));
    return check_report("fork-stdio");
}
