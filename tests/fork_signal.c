/* fork_signal.c — a single-threaded process whose timer signal handler calls fork()
 * while the main loop is inside malloc/free (including the paths that take the
 * allocator's locks: large blocks and new spans). The fork must not deadlock, in the
 * parent or the child; the child exits at once, as a handler-forked child should. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api_names.h"
#include "check.h"

static volatile sig_atomic_t forks, failures;

static void on_timer(int sig)
{
    (void)sig;
    int saved = errno;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    if (pid > 0) {
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
            failures++;
        forks++;
    } else {
        failures++;
    }
    errno = saved;
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_timer;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 500}, {0, 500}};
    setitimer(ITIMER_REAL, &it, NULL);

    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    void *keep[64] = {0};
    unsigned r = 1;
    for (long i = 0;; i++) {
        r = r * 1103515245u + 12345u;
        size_t size = (r >> 8) % 3 == 0 ? (size_t)(1 << 20) + (r >> 12) % 100000
                                          : (r >> 8) % 20000 + 1;
        unsigned slot = (r >> 20) % 64;
        free(keep[slot]); /* the standard names, so this runs under LD_PRELOAD */
        keep[slot] = malloc(size);
        if ((i & 1023) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if (t.tv_sec - t0.tv_sec >= 3 && forks >= 200)
                break;
            if (t.tv_sec - t0.tv_sec >= 60)
                break;
        }
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    for (int i = 0; i < 64; i++)
        free(keep[i]);
    CHECK(t_owns(keep) == 0); /* a stack address is not ebb's */
    void *probe = malloc(10);
    CHECK(t_owns(probe));
    free(probe);
    CHECKF(forks >= 200, "only %d forks", (int)forks);
    CHECKF(failures == 0, "%d failed forks", (int)failures);
    printf("%d forks from a signal handler interrupting malloc\n", (int)forks);
    return check_report("fork-signal");
}
