/* peak.c — `bench_peak FILE CMD ARGS...`: run CMD, then write its peak RSS in bytes
 * (wait4's ru_maxrss) to FILE; exit with CMD's status. A separate small process,
 * because the kernel carries the peak of the process that forked over into the child's
 * across exec: measured from a Python parent, every program would weigh as much as the
 * interpreter. */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_peak FILE CMD ARGS...\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench_peak: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror("bench_peak: exec");
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("bench_peak: wait4");
        return 2;
    }
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    fprintf(f, "%ld\n", ru.ru_maxrss * 1024L);
    fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
