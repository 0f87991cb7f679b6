/* compare.c — `ebb compare`: replays traces under allocators, run after run (each run
 * goes through every trace and every allocator in turn, so that a noisy moment of the
 * machine hits them all alike), then writes the report (report.c) and checks a budget
 * (budget.c). Each replay is a separate `ebb replay` process. */
#include "compare.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "replay.h"
#include "trace.h"

/* A number from a flat JSON object written by ebb replay. */
static bool json_number(const char *text, const char *key, double *out)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    if (!p)
        return false;
    char *end;
    *out = strtod(p + strlen(pat), &end);
    return end != p + strlen(pat);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = 0;
    fclose(f);
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void summarise(cmp_cell_t *c)
{
    for (int m = 0; m < M_COUNT; m++) {
        double v[CMP_MAX_RUNS];
        for (int r = 0; r < c->nruns; r++)
            v[r] = c->v[r][m];
        qsort(v, (size_t)c->nruns, sizeof v[0], cmp_double);
        int n = c->nruns;
        c->median[m] = n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
        c->min[m] = n ? v[0] : 0;
        c->max[m] = n ? v[n - 1] : 0;
    }
}

/* The shipped traces: next to the executable's source tree, or installed. */
static int default_traces(cmp_results_t *r)
{
    const char *dirs[] = {"%s/../traces", "%s/../share/ebb/traces"};
    for (size_t d = 0; d < 2; d++) {
        char pat[PATH_MAX];
        snprintf(pat, sizeof pat, dirs[d], cli_self_dir());
        strncat(pat, "/*.trace", sizeof pat - strlen(pat) - 1);
        glob_t g;
        if (glob(pat, 0, NULL, &g) == 0) {
            for (size_t i = 0; i < g.gl_pathc && r->ntraces < CMP_MAX_TRACES; i++)
                snprintf(r->traces[r->ntraces++].path, sizeof r->traces[0].path, "%s",
                         g.gl_pathv[i]);
            globfree(&g);
            if (r->ntraces)
                return 0;
        }
    }
    fprintf(stderr, "ebb: no traces given and none shipped next to ebb\n");
    return 2;
}

static void trace_name(cmp_trace_t *t)
{
    cli_file_label(t->path, ".trace", t->name, sizeof t->name);
}

/* Checks a trace and reads its size from its header. */
static bool trace_meta(cmp_trace_t *t)
{
    trace_error_t err;
    trace_reader_t *rd = trace_reader_open(t->path, &err);
    if (!rd) {
        cli_trace_error(t->path, &err);
        return false;
    }
    t->events = trace_reader_header(rd)->nevents;
    t->threads = trace_reader_header(rd)->nthreads;
    trace_reader_close(rd);
    return true;
}

static void package_version(const char *alloc, char *out, size_t n)
{
    const char *pkg = strcmp(alloc, "glibc") == 0      ? "libc6"
                      : strcmp(alloc, "jemalloc") == 0 ? "libjemalloc2"
                      : strcmp(alloc, "mimalloc") == 0 ? "libmimalloc2.0"
                      : strcmp(alloc, "tcmalloc") == 0 ? "libtcmalloc-minimal4"
                                                       : NULL;
    snprintf(out, n, "%s", strcmp(alloc, "ebb") == 0 ? "ebb " EBB_VERSION_TEXT : "unknown");
    if (!pkg)
        return;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "dpkg-query -W -f='${Version}' %s 2>/dev/null", pkg);
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    char buf[64];
    if (fgets(buf, sizeof buf, p) && buf[0])
        snprintf(out, n, "%.40s %.60s", pkg, buf);
    pclose(p);
}

/* One replay of the program in fd (trace t); false if it failed (reported). */
static bool run_one(const char *dir, const cmp_trace_t *t, int fd, const char *alloc,
                    const char *alloc_path, int run, const cmp_results_t *r, double *v)
{
    char json[PATH_MAX], csv[PATH_MAX];
    snprintf(json, sizeof json, "%s/runs/%s__%s__%d.json", dir, t->name, alloc, run + 1);
    snprintf(csv, sizeof csv, "%s/timelines/%s__%s__%d.csv", dir, t->name, alloc, run + 1);
    replay_options_t opt = {.trace = t->path, .alloc_name = alloc,
                            .alloc_path = alloc_path[0] ? alloc_path : NULL, .json = json,
                            .csv = csv, .settle_ms = r->settle_ms, .window = r->window};
    int st = replay_run_child(fd, &opt);
    char *text = read_file(json);
    bool ok = st == 0 && text;
    for (int m = 0; ok && m < M_PEAK_FRAG; m++)
        ok = json_number(text, cmp_metrics[m].key, &v[m]);
    free(text);
    if (!ok) {
        fprintf(stderr, "\nebb: replay of %s under %s failed (run %d)\n", t->name, alloc, run + 1);
        return false;
    }
    v[M_PEAK_FRAG] = v[M_PEAK_LIVE] > 1048576 ? v[M_PEAK_RSS] / v[M_PEAK_LIVE] : 0;
    v[M_SLACK] = v[M_SETTLED_RSS] - v[M_LIVE_END];
    return true;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void progress(bool tty, int done, int total, double start, const char *trace,
                     const char *alloc, int run, int runs)
{
    double el = now_s() - start;
    double eta = done ? el / done * (total - done) : 0;
    if (tty)
        fprintf(stderr, "\r\033[K[%d/%d] %s under %s, run %d of %d, ETA %dm%02ds", done + 1,
                total, trace, alloc, run + 1, runs, (int)eta / 60, (int)eta % 60);
    else
        fprintf(stderr, "ebb compare: [%d/%d] %s under %s, run %d of %d\n", done + 1, total,
                trace, alloc, run + 1, runs);
}

static void usage(void)
{
    fprintf(stderr, "usage: ebb compare [TRACES...] [--alloc LIST] [--runs N] [-o DIR]\n"
                    "                   [--settle-ms N] [--window N] [--check BUDGET]\n");
}

int cmd_compare(int argc, char **argv)
{
    cmp_results_t *r = calloc(1, sizeof *r);
    if (!r) {
        fprintf(stderr, "ebb: out of memory\n");
        return 1;
    }
    const char *dir = "ebb-compare", *alloc_list = NULL, *budget = NULL;
    r->runs = 3;
    r->settle_ms = 1000;
    r->window = REPLAY_WINDOW;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--alloc") == 0 && v)
            alloc_list = argv[++i];
        else if (strcmp(a, "--runs") == 0 && v && atoi(v) >= 1 && atoi(v) <= CMP_MAX_RUNS)
            r->runs = atoi(argv[++i]);
        else if (strcmp(a, "-o") == 0 && v)
            dir = argv[++i];
        else if (strcmp(a, "--settle-ms") == 0 && v && atol(v) >= 0)
            r->settle_ms = atol(argv[++i]);
        else if (strcmp(a, "--window") == 0 && v && atol(v) >= 0)
            r->window = (uint64_t)atol(argv[++i]);
        else if (strcmp(a, "--check") == 0 && v)
            budget = argv[++i];
        else if (a[0] != '-' && r->ntraces < CMP_MAX_TRACES)
            snprintf(r->traces[r->ntraces++].path, sizeof r->traces[0].path, "%s", a);
        else {
            usage();
            free(r);
            return 2;
        }
    }
    if (r->ntraces == 0 && default_traces(r) != 0) {
        free(r);
        return 2;
    }
    for (int t = 0; t < r->ntraces; t++) {
        trace_name(&r->traces[t]);
        if (!trace_meta(&r->traces[t])) {
            free(r);
            return 2;
        }
    }
    /* Allocators: the list given, or every known one; missing ones are said and skipped. */
    char list[1024];
    snprintf(list, sizeof list, "%s", alloc_list ? alloc_list : "glibc,jemalloc,mimalloc,tcmalloc,ebb");
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char path[PATH_MAX];
        if (!replay_resolve_allocator(tok, path, sizeof path)) {
            fprintf(stderr, "ebb compare: %s is not installed; skipped\n", tok);
            continue;
        }
        if (r->nallocs == CMP_MAX_ALLOCS)
            break;
        cli_alloc_label(tok, r->allocs, r->nallocs, r->allocs[r->nallocs]);
        snprintf(r->alloc_paths[r->nallocs], sizeof r->alloc_paths[0], "%s", path);
        package_version(tok, r->alloc_versions[r->nallocs], sizeof r->alloc_versions[0]);
        r->nallocs++;
    }
    if (r->nallocs == 0) {
        fprintf(stderr, "ebb compare: no allocator to compare\n");
        free(r);
        return 2;
    }
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/runs", dir);
    bool made = cli_mkdirs(sub);
    snprintf(sub, sizeof sub, "%s/timelines", dir);
    if (!made || !cli_mkdirs(sub)) {
        fprintf(stderr, "ebb: cannot create %s: %s\n", sub, strerror(errno));
        free(r);
        return 1;
    }

    bool tty = isatty(2);
    int total = r->runs * r->ntraces * r->nallocs, done = 0, failures = 0;
    double start = now_s();
    /* Trace by trace (its program decoded once), run by run, allocator by allocator. */
    for (int t = 0; t < r->ntraces; t++) {
        int prc = 0;
        int fd = replay_build_program(r->traces[t].path, &prc);
        for (int run = 0; run < r->runs; run++)
            for (int a = 0; a < r->nallocs; a++) {
                progress(tty, done, total, start, r->traces[t].name, r->allocs[a], run, r->runs);
                cmp_cell_t *c = &r->cells[t][a];
                if (fd >= 0 && run_one(dir, &r->traces[t], fd, r->allocs[a], r->alloc_paths[a],
                                       run, r, c->v[c->nruns]))
                    c->nruns++;
                else
                    failures++;
                done++;
            }
        if (fd >= 0)
            close(fd);
    }
    if (tty)
        fprintf(stderr, "\r\033[K");
    r->seconds = now_s() - start;
    for (int t = 0; t < r->ntraces; t++)
        for (int a = 0; a < r->nallocs; a++)
            summarise(&r->cells[t][a]);
    int rc = report_write(r, dir);
    if (rc == 0)
        fprintf(stderr, "ebb compare: %d replays in %.0f s; report in %s/ (summary.md, "
                "results.json, index.html)\n", done, r->seconds, dir);
    if (rc == 0 && failures)
        rc = 1;
    if (rc == 0 && budget)
        rc = budget_check(r, budget, dir);
    free(r);
    return rc;
}
