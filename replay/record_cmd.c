/* record_cmd.c — `ebb record` (run a program under libebb-record.so, then turn its raw
 * recordings into traces) and `ebb convert`. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "convert.h"

static void report(const char *trace, const convert_stats_t *st)
{
    struct stat sb;
    long long bytes = stat(trace, &sb) == 0 ? (long long)sb.st_size : 0;
    fprintf(stderr, "ebb: %s: pid %u, %llu events, %llu threads, %lld bytes (%.2f per event)\n",
            trace, st->pid, (unsigned long long)st->events, (unsigned long long)st->threads,
            bytes, st->events ? (double)bytes / (double)st->events : 0.0);
    if (st->unknown_frees)
        fprintf(stderr, "ebb:   %llu frees of blocks allocated before recording began "
                "(dropped)\n", (unsigned long long)st->unknown_frees);
    if (st->truncated_chunks)
        fprintf(stderr, "ebb:   %llu chunks cut short (the program was killed); the trace "
                "ends at the last complete event\n", (unsigned long long)st->truncated_chunks);
}

int cmd_convert(int argc, char **argv)
{
    if (argc != 4 || strcmp(argv[2], "-o") != 0) {
        fprintf(stderr, "usage: ebb convert RAW -o TRACE\n");
        return 2;
    }
    convert_stats_t st;
    int rc = convert_raw(argv[1], argv[3], EBB_TRACE_LEVEL, &st);
    if (rc == 0)
        report(argv[3], &st);
    return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    /* <pid>-<n>.raw: by pid, then n */
    long pa = atol((*a)->d_name), pb = atol((*b)->d_name);
    if (pa != pb)
        return pa < pb ? -1 : 1;
    const char *da = strchr((*a)->d_name, '-'), *db = strchr((*b)->d_name, '-');
    return (da ? atoi(da + 1) : 0) - (db ? atoi(db + 1) : 0);
}

static int is_raw(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 4 && strcmp(d->d_name + n - 4, ".raw") == 0;
}

int cmd_record(int argc, char **argv)
{
    const char *out = "ebb.trace";
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else {
            fprintf(stderr, "usage: ebb record [-o FILE] -- PROG ARGS...\n");
            return 2;
        }
    }
    if (i + 1 >= argc) {
        fprintf(stderr, "usage: ebb record [-o FILE] -- PROG ARGS...\n");
        return 2;
    }
    char **prog = argv + i + 1;

    char shim[PATH_MAX];
    const char *override = getenv("EBB_RECORD_SHIM");
    if (override)
        snprintf(shim, sizeof shim, "%s", override);
    else
        snprintf(shim, sizeof shim, "%s/libebb-record.so", cli_self_dir());
    if (access(shim, R_OK) != 0) {
        snprintf(shim, sizeof shim, "%s/../lib/libebb-record.so", cli_self_dir());
        if (access(shim, R_OK) != 0) {
            fprintf(stderr, "ebb: cannot find libebb-record.so next to ebb\n");
            return 1;
        }
    }
    char shim_abs[PATH_MAX];
    if (!realpath(shim, shim_abs))
        snprintf(shim_abs, sizeof shim_abs, "%s", shim);

    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s.rec-XXXXXX", out);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "ebb: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char dir_abs[PATH_MAX];
    if (!realpath(dir, dir_abs))
        snprintf(dir_abs, sizeof dir_abs, "%s", dir);

    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "ebb: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        const char *old = getenv("LD_PRELOAD");
        char preload[2 * PATH_MAX];
        if (old && *old)
            snprintf(preload, sizeof preload, "%s:%s", shim_abs, old);
        else
            snprintf(preload, sizeof preload, "%s", shim_abs);
        setenv("LD_PRELOAD", preload, 1);
        setenv("EBB_RECORD_DIR", dir_abs, 1);
        execvp(prog[0], prog);
        fprintf(stderr, "ebb: cannot run %s: %s\n", prog[0], strerror(errno));
        _exit(127);
    }
    /* The recorded program gets the terminal's signals; we wait for it. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int prog_rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (WIFSIGNALED(status))
        fprintf(stderr, "ebb: %s was killed by signal %d\n", prog[0], WTERMSIG(status));

    struct dirent **names;
    int n = scandir(dir, &names, is_raw, by_name);
    int rc = 0, written = 0;
    for (int k = 0; k < n; k++) {
        char raw[PATH_MAX * 2], trace[PATH_MAX * 2];
        snprintf(raw, sizeof raw, "%s/%s", dir, names[k]->d_name);
        if (written == 0) {
            snprintf(trace, sizeof trace, "%s", out);
        } else {
            /* out.trace -> out.<pid>-<n>.trace for the other processes */
            char base[PATH_MAX];
            snprintf(base, sizeof base, "%s", names[k]->d_name);
            base[strlen(base) - 4] = 0;
            snprintf(trace, sizeof trace, "%s.%s", out, base);
        }
        convert_stats_t st;
        int c = convert_raw(raw, trace, EBB_TRACE_LEVEL, &st);
        if (c == 0 && (st.events > 0 || written == 0)) {
            report(trace, &st);
            written++;
        } else if (c == 0) {
            unlink(trace); /* a process that made no allocation call */
        } else {
            rc = 1;
        }
        unlink(raw);
        free(names[k]);
    }
    if (n >= 0)
        free(names);
    rmdir(dir);
    if (written == 0) {
        fprintf(stderr, "ebb: no recording was made (is %s a dynamically linked program?)\n",
                prog[0]);
        return rc ? rc : 1;
    }
    return rc ? rc : prog_rc;
}
