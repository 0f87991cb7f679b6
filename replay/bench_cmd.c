/* bench_cmd.c — `ebb bench [--alloc LIST] [--runs N] [-o DIR] -- CMD ARGS...`: time a
 * real command under every allocator with hyperfine (its JSON and Markdown exports are
 * kept) and measure each one's peak RSS (the largest process of the command, from
 * wait4), then write summary.md, results.json and index.html as ebb compare does. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "replay.h"

#define MAX_ALLOCS 16

/* Appends s to buf, quoted for sh. */
static void shell_quote(char *buf, size_t n, const char *s)
{
    size_t k = strlen(buf);
    if (k + 3 >= n)
        return;
    buf[k++] = '\'';
    for (; *s && k + 5 < n; s++) {
        if (*s == '\'') {
            memcpy(buf + k, "'\\''", 4);
            k += 4;
        } else {
            buf[k++] = *s;
        }
    }
    buf[k++] = '\'';
    buf[k] = 0;
}

/* Runs argv once under the allocator; peak RSS (bytes) of its largest process. */
static long peak_rss(char **argv, const char *alloc_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (alloc_path[0])
            setenv("LD_PRELOAD", alloc_path, 1);
        else
            unsetenv("LD_PRELOAD");
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) == 127)
        return -1;
    return ru.ru_maxrss * 1024L;
}

static bool json_field(const char *text, const char *from, const char *key, double *out)
{
    const char *p = strstr(text, from);
    if (!p)
        return false;
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(p, pat);
    if (!p)
        return false;
    char *e;
    *out = strtod(p + strlen(pat), &e);
    return e != p + strlen(pat);
}

int cmd_bench(int argc, char **argv)
{
    const char *dir = "ebb-bench", *list = "glibc,jemalloc,mimalloc,tcmalloc,ebb";
    int runs = 5, i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--alloc") == 0 && v)
            list = argv[++i];
        else if (strcmp(argv[i], "--runs") == 0 && v && atoi(v) >= 2)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "-o") == 0 && v)
            dir = argv[++i];
        else
            break;
    }
    if (i + 1 >= argc || strcmp(argv[i], "--") != 0) {
        fprintf(stderr, "usage: ebb bench [--alloc LIST] [--runs N] [-o DIR] -- CMD ARGS...\n");
        return 2;
    }
    char **cmd = argv + i + 1;
    if (system("command -v hyperfine >/dev/null 2>&1") != 0) {
        fprintf(stderr, "ebb bench: hyperfine is not installed\n");
        return 1;
    }
    char names[MAX_ALLOCS][CLI_ALLOC_LABEL], paths[MAX_ALLOCS][PATH_MAX];
    int n = 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && n < MAX_ALLOCS;
         tok = strtok_r(NULL, ",", &save)) {
        if (!replay_resolve_allocator(tok, paths[n], sizeof paths[n])) {
            fprintf(stderr, "ebb bench: %s is not installed; skipped\n", tok);
            continue;
        }
        cli_alloc_label(tok, names, n, names[n]);
        n++;
    }
    if (n == 0)
        return 2;
    if (!cli_mkdirs(dir)) {
        fprintf(stderr, "ebb bench: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }

    /* hyperfine, allocators interleaved by its own ordering of one benchmark each. No
     * shell between hyperfine and the command (-N): it would subtract its estimate of
     * a shell's start-up, which for a command of a few ms can leave a mean of zero or
     * less, and then hyperfine refuses to write the Markdown table. */
    static char line[65536];
    snprintf(line, sizeof line,
             "hyperfine -N --style basic --warmup 1 --runs %d --export-json ", runs);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/hyperfine.json", dir);
    shell_quote(line, sizeof line, path);
    strncat(line, " --export-markdown ", sizeof line - strlen(line) - 1);
    snprintf(path, sizeof path, "%s/hyperfine.md", dir);
    shell_quote(line, sizeof line, path);
    for (int a = 0; a < n; a++) {
        /* env -u LD_PRELOAD CMD (glibc) or env 'LD_PRELOAD=PATH' CMD, quoted for sh */
        char one[16384] = "env ";
        if (paths[a][0]) {
            char assign[PATH_MAX + 16];
            snprintf(assign, sizeof assign, "LD_PRELOAD=%.4000s", paths[a]);
            shell_quote(one, sizeof one, assign);
            strncat(one, " ", sizeof one - strlen(one) - 1);
        } else {
            strncat(one, "-u LD_PRELOAD ", sizeof one - strlen(one) - 1);
        }
        for (char **c = cmd; *c; c++) {
            shell_quote(one, sizeof one, *c);
            strncat(one, " ", sizeof one - strlen(one) - 1);
        }
        strncat(line, " -n ", sizeof line - strlen(line) - 1);
        shell_quote(line, sizeof line, names[a]);
        strncat(line, " ", sizeof line - strlen(line) - 1);
        shell_quote(line, sizeof line, one);
    }
    fprintf(stderr, "ebb bench: timing with hyperfine (%d runs each)\n", runs);
    if (system(line) != 0) {
        fprintf(stderr, "ebb bench: hyperfine failed\n");
        return 1;
    }
    FILE *hf = cli_fopen_in(dir, "hyperfine.json", "r");
    static char text[1 << 20];
    size_t len = hf ? fread(text, 1, sizeof text - 1, hf) : 0;
    text[len] = 0;
    if (hf)
        fclose(hf);

    double median[MAX_ALLOCS] = {0}, mn[MAX_ALLOCS] = {0}, mx[MAX_ALLOCS] = {0};
    long rss[MAX_ALLOCS];
    for (int a = 0; a < n; a++) {
        char from[128];
        snprintf(from, sizeof from, "\"command\": \"%s\"", names[a]);
        json_field(text, from, "median", &median[a]);
        json_field(text, from, "min", &mn[a]);
        json_field(text, from, "max", &mx[a]);
        fprintf(stderr, "ebb bench: peak RSS under %s\n", names[a]);
        rss[a] = peak_rss(cmd, paths[a]);
    }
    int g = -1;
    for (int a = 0; a < n; a++)
        if (strcmp(names[a], "glibc") == 0)
            g = a;
    FILE *md = cli_fopen_in(dir, "summary.md", "w");
    FILE *js = cli_fopen_in(dir, "results.json", "w");
    if (!md || !js) {
        fprintf(stderr, "ebb bench: cannot write in %s: %s\n", dir, strerror(errno));
        return 1;
    }
    fprintf(md, "# ebb bench\n\n`");
    fprintf(js, "{\n  \"command\": [");
    for (char **c = cmd; *c; c++) {
        fprintf(md, "%s%s", c == cmd ? "" : " ", *c);
        fprintf(js, "%s\"", c == cmd ? "" : ", ");
        for (const char *p = *c; *p; p++)
            fprintf(js, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
        fprintf(js, "\"");
    }
    fprintf(md, "`, %d runs timed by hyperfine (median, min–max); peak RSS of the largest "
                "process, from one more run.\n\n| allocator | time (s) | peak RSS (MiB) |%s\n"
                "|---|---:|---:|%s\n",
            runs, g >= 0 ? " time vs glibc | peak RSS vs glibc |" : "", g >= 0 ? "---:|---:|" : "");
    fprintf(js, "],\n  \"runs\": %d,\n  \"results\": {", runs);
    for (int a = 0; a < n; a++) {
        fprintf(md, "| %s | %.4f (%.4f–%.4f) | %.1f |", names[a], median[a], mn[a], mx[a],
                (double)rss[a] / 1048576.0);
        if (g >= 0)
            fprintf(md, " %.2f | %.2f |", median[g] > 0 ? median[a] / median[g] : 0,
                    rss[g] > 0 ? (double)rss[a] / (double)rss[g] : 0);
        fprintf(md, "\n");
        fprintf(js, "%s\n    \"%s\": {\"median_s\": %.6f, \"min_s\": %.6f, \"max_s\": %.6f, "
                    "\"peak_rss\": %ld, \"path\": \"%s\"}",
                a ? "," : "", names[a], median[a], mn[a], mx[a], rss[a], paths[a]);
    }
    fprintf(js, "\n  }\n}\n");
    fclose(md);
    fclose(js);
    FILE *h = cli_fopen_in(dir, "index.html", "w");
    if (h) {
        fprintf(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ebb "
                   "bench</title></head><body><h1>ebb bench</h1><p>See <a href=\"summary.md\">"
                   "summary.md</a>, <a href=\"results.json\">results.json</a>, <a href=\""
                   "hyperfine.md\">hyperfine.md</a>, <a href=\"hyperfine.json\">hyperfine.json"
                   "</a>.</p></body></html>\n");
        fclose(h);
    }
    FILE *s = cli_fopen_in(dir, "summary.md", "r");
    int c;
    while (s && (c = fgetc(s)) != EOF)
        putchar(c);
    if (s)
        fclose(s);
    return 0;
}
