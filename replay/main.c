/* main.c — the ebb command: dispatch to subcommands. Exit codes: 0 success, 1 failure
 * of the work itself, 2 bad input (usage, malformed trace). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int cli_trace_error(const char *path, const trace_error_t *err)
{
    fprintf(stderr, "ebb: %s: offset %llu: %s\n", path, (unsigned long long)err->offset,
            err->reason);
    return 2;
}

/* mkdir -p: creates path and its missing parents; true if it exists afterwards. */
FILE *cli_fopen_in(const char *dir, const char *name, const char *mode)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    return fopen(path, mode);
}

bool cli_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(buf, 0755);
            *p = '/';
        }
    }
    mkdir(buf, 0755);
    struct stat st;
    return stat(buf, &st) == 0 && S_ISDIR(st.st_mode);
}

void cli_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

void cli_file_label(const char *path, const char *suffix, char *out, size_t n)
{
    const char *b = strrchr(path, '/');
    snprintf(out, n, "%s", b && b[1] ? b + 1 : path);
    size_t len = strlen(out), sl = strlen(suffix);
    if (len > sl && strcmp(out + len - sl, suffix) == 0)
        out[len - sl] = 0;
    for (char *p = out; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
            *p = '_';
}

void cli_alloc_label(const char *given, char names[][CLI_ALLOC_LABEL], int n,
                     char out[CLI_ALLOC_LABEL])
{
    if (!strchr(given, '/')) {
        snprintf(out, CLI_ALLOC_LABEL, "%s", given);
        return;
    }
    char base[CLI_ALLOC_LABEL - 12]; /* room for "-N" */
    cli_file_label(given, ".so", base, sizeof base);
    snprintf(out, CLI_ALLOC_LABEL, "%s", base);
    for (int k = 2, clash = 1; clash; k++) {
        clash = 0;
        for (int a = 0; a < n; a++)
            clash |= strcmp(names[a], out) == 0;
        if (clash)
            snprintf(out, CLI_ALLOC_LABEL, "%s-%d", base, k);
    }
}

const char *cli_self_dir(void)
{
    static char dir[PATH_MAX];
    if (!dir[0]) {
        ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
        if (n <= 0)
            return ".";
        dir[n] = 0;
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
    }
    return dir;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ebb COMMAND [ARGS]\n"
            "  record [-o FILE] -- PROG ARGS...   record PROG's allocation calls into a trace\n"
            "  replay TRACE [--alloc NAME|PATH.so] [--json FILE] [--csv FILE]\n"
            "                                     replay a trace against an allocator\n"
            "  compare [TRACES...] [--alloc LIST] [--runs N] [-o DIR] [--check BUDGET]\n"
            "                                     compare allocators on traces; write a report\n"
            "  info TRACE                         what a trace holds\n"
            "  gen PATTERN [--seed N] -o FILE     write a synthetic trace (ebb gen lists them)\n"
            "  bench [--alloc LIST] [--runs N] [-o DIR] -- CMD ARGS...\n"
            "                                     time a command under every allocator\n"
            "  convert RAW -o TRACE               turn a raw recording into a trace\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *c = argv[1];
    if (strcmp(c, "record") == 0)
        return cmd_record(argc - 1, argv + 1);
    if (strcmp(c, "replay") == 0)
        return cmd_replay(argc - 1, argv + 1);
    if (strcmp(c, "compare") == 0)
        return cmd_compare(argc - 1, argv + 1);
    if (strcmp(c, "bench") == 0)
        return cmd_bench(argc - 1, argv + 1);
    if (strcmp(c, "gen") == 0)
        return cmd_gen(argc - 1, argv + 1);
    if (strcmp(c, "info") == 0)
        return cmd_info(argc - 1, argv + 1);
    if (strcmp(c, "convert") == 0)
        return cmd_convert(argc - 1, argv + 1);
    if (strcmp(c, "-h") == 0 || strcmp(c, "--help") == 0 || strcmp(c, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "ebb: unknown command '%s'\n", c);
    usage(stderr);
    return 2;
}
