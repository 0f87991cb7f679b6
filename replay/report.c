/* report.c — what `ebb compare` writes: summary.md (a table per trace: medians with
 * min-max, the best of each column in bold, ratios to glibc), results.json (everything,
 * with allocator versions, machine and trace metadata and every run), plots drawn by
 * gnuplot (SVG and PNG; skipped with a notice if gnuplot is missing) and index.html,
 * which shows it all. Every file is formatted from the same cmp_results_t. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cli.h"
#include "compare.h"

/* The columns of the tables, in order. */
static const int columns[] = {M_RUN_TIME, M_ALLOC_TIME,  M_MALLOC_NS, M_FREE_NS,
                              M_EXIT_TIME, M_PEAK_RSS, M_SETTLED_RSS, M_PEAK_FRAG, M_SLACK};
#define NCOLUMNS (int)(sizeof columns / sizeof columns[0])
static const int ratio_columns[] = {M_RUN_TIME, M_ALLOC_TIME, M_PEAK_RSS, M_SETTLED_RSS};
#define NRATIOS (int)(sizeof ratio_columns / sizeof ratio_columns[0])

static double shown(int m, double v)
{
    return cmp_metrics[m].bytes ? v / 1048576.0 : v;
}

static void fmt_value(char *out, size_t n, int m, double v)
{
    double s = shown(m, v);
    if (m == M_FAULTS)
        snprintf(out, n, "%.0f", s);
    else if (m == M_RUN_TIME || m == M_ALLOC_TIME)
        snprintf(out, n, "%.4g", s);
    else if (m == M_EXIT_TIME) /* often some microseconds: no exponent */
        snprintf(out, n, "%.6f", s);
    else if (cmp_metrics[m].zero_none && v <= 0)
        snprintf(out, n, "-");
    else if (m == M_PEAK_FRAG)
        snprintf(out, n, "%.2f", s);
    else
        snprintf(out, n, "%.1f", s);
}

static int find_alloc(const cmp_results_t *r, const char *name)
{
    for (int a = 0; a < r->nallocs; a++)
        if (strcmp(r->allocs[a], name) == 0)
            return a;
    return -1;
}

/* The best (lowest) median of a column among allocators with results; 0 if none. */
static double best_of(const cmp_results_t *r, int t, int m)
{
    double best = 0;
    bool any = false;
    for (int a = 0; a < r->nallocs; a++) {
        const cmp_cell_t *c = &r->cells[t][a];
        if (!c->nruns || (cmp_metrics[m].zero_none && c->median[m] <= 0))
            continue;
        double v = m == M_SLACK ? c->median[m] < 0 ? 0 : c->median[m] : c->median[m];
        if (!any || v < best)
            best = v;
        any = true;
    }
    return best;
}

/* Cell text of the summary: "median (min-max)", the best in bold. */
static void cell_text(const cmp_results_t *r, int t, int a, int m, char *out, size_t n,
                      const char *bold_on, const char *bold_off)
{
    const cmp_cell_t *c = &r->cells[t][a];
    if (!c->nruns) {
        snprintf(out, n, "failed");
        return;
    }
    char med[32], lo[32], hi[32];
    fmt_value(med, sizeof med, m, c->median[m]);
    fmt_value(lo, sizeof lo, m, c->min[m]);
    fmt_value(hi, sizeof hi, m, c->max[m]);
    double v = m == M_SLACK && c->median[m] < 0 ? 0 : c->median[m];
    bool none = cmp_metrics[m].zero_none && c->median[m] <= 0;
    bool best = !none && v == best_of(r, t, m);
    if (r->runs > 1 && c->nruns > 1 && m != M_PEAK_FRAG && !none)
        snprintf(out, n, "%s%s (%s–%s)%s", best ? bold_on : "", med, lo, hi, best ? bold_off : "");
    else
        snprintf(out, n, "%s%s%s", best ? bold_on : "", med, best ? bold_off : "");
}

static void ratio_text(const cmp_results_t *r, int t, int a, int m, char *out, size_t n)
{
    int g = find_alloc(r, "glibc");
    const cmp_cell_t *c = &r->cells[t][a], *gc = g >= 0 ? &r->cells[t][g] : NULL;
    if (!gc || !gc->nruns || !c->nruns || gc->median[m] <= 0)
        snprintf(out, n, "-");
    else
        snprintf(out, n, "%.2f", c->median[m] / gc->median[m]);
}

/* How the replays kept their threads in order (replay_options_t.window). */
static void write_order(FILE *f, const cmp_results_t *r)
{
    if (r->window)
        fprintf(f, "Threads kept within %llu events of the trace's order.",
                (unsigned long long)r->window);
    else
        fprintf(f, "Threads run freely, waiting only for objects not yet made.");
}

static int write_summary(const cmp_results_t *r, const char *dir)
{
    FILE *f = cli_fopen_in(dir, "summary.md", "w");
    if (!f)
        return 1;
    fprintf(f, "# ebb compare\n\n");
    fprintf(f, "Medians of %d run%s (min–max); the best of each column in bold. RSS is "
               "measured above the replayer's own baseline; *settled* is after the replay "
               "freed what it frees, %ld ms passed and one more allocation call was made; "
               "*slack* = settled RSS − live bytes. Ratios are to glibc, from the same "
               "runs. ",
            r->runs, r->runs > 1 ? "s" : "", r->settle_ms);
    write_order(f, r);
    fprintf(f, "\n");
    int g = find_alloc(r, "glibc");
    for (int t = 0; t < r->ntraces; t++) {
        const cmp_trace_t *tr = &r->traces[t];
        fprintf(f, "\n## %s\n\n%llu events, %llu thread%s.\n\n| allocator |", tr->name,
                tr->events, tr->threads, tr->threads == 1 ? "" : "s");
        for (int k = 0; k < NCOLUMNS; k++)
            fprintf(f, " %s |", cmp_metrics[columns[k]].title);
        if (g >= 0)
            for (int k = 0; k < NRATIOS; k++)
                fprintf(f, " %s vs glibc |", cmp_metrics[ratio_columns[k]].key);
        fprintf(f, "\n|---|");
        for (int k = 0; k < NCOLUMNS + (g >= 0 ? NRATIOS : 0); k++)
            fprintf(f, "---:|");
        fprintf(f, "\n");
        for (int a = 0; a < r->nallocs; a++) {
            fprintf(f, "| %s |", r->allocs[a]);
            char buf[128];
            for (int k = 0; k < NCOLUMNS; k++) {
                cell_text(r, t, a, columns[k], buf, sizeof buf, "**", "**");
                fprintf(f, " %s |", buf);
            }
            if (g >= 0)
                for (int k = 0; k < NRATIOS; k++) {
                    ratio_text(r, t, a, ratio_columns[k], buf, sizeof buf);
                    fprintf(f, " %s |", buf);
                }
            fprintf(f, "\n");
        }
    }
    return fclose(f) != 0;
}


/* 15 significant digits: every byte count and the half-page median of two runs come out
 * exact (with 6, a median of exactly 2.25 MiB was written as 2.2500038, and a reader
 * rounding it disagreed with the summary's 2.2). */
static void json_metrics(FILE *f, const double *v)
{
    fputc('{', f);
    for (int m = 0; m < M_COUNT; m++)
        fprintf(f, "%s\"%s\": %.15g", m ? ", " : "", cmp_metrics[m].key, v[m]);
    fputc('}', f);
}

static void machine(char *cpu, size_t n)
{
    snprintf(cpu, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                snprintf(cpu, n, "%s", c + 2);
                cpu[strcspn(cpu, "\n")] = 0;
            }
            break;
        }
    }
    fclose(f);
}

static int write_json(const cmp_results_t *r, const char *dir)
{
    FILE *f = cli_fopen_in(dir, "results.json", "w");
    if (!f)
        return 1;
    char cpu[256];
    machine(cpu, sizeof cpu);
    struct utsname u;
    uname(&u);
    fprintf(f, "{\n  \"ebb_version\": \"%s\",\n  \"machine\": {\"cpu\": ", EBB_VERSION_TEXT);
    cli_json_str(f, cpu);
    fprintf(f, ", \"cores\": %ld, \"memory_bytes\": %ld, \"kernel\": ", sysconf(_SC_NPROCESSORS_ONLN),
            sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE));
    cli_json_str(f, u.release);
    fprintf(f, "},\n  \"runs\": %d,\n  \"settle_ms\": %ld,\n  \"window\": %llu,\n"
               "  \"seconds\": %.1f,\n  \"metrics\": [",
            r->runs, r->settle_ms, (unsigned long long)r->window, r->seconds);
    for (int m = 0; m < M_COUNT; m++)
        fprintf(f, "%s\"%s\"", m ? ", " : "", cmp_metrics[m].key);
    fprintf(f, "],\n  \"allocators\": [");
    for (int a = 0; a < r->nallocs; a++) {
        fprintf(f, "%s\n    {\"name\": ", a ? "," : "");
        cli_json_str(f, r->allocs[a]);
        fprintf(f, ", \"path\": ");
        cli_json_str(f, r->alloc_paths[a]);
        fprintf(f, ", \"version\": ");
        cli_json_str(f, r->alloc_versions[a]);
        fprintf(f, "}");
    }
    fprintf(f, "\n  ],\n  \"traces\": [");
    for (int t = 0; t < r->ntraces; t++) {
        const cmp_trace_t *tr = &r->traces[t];
        fprintf(f, "%s\n    {\"name\": ", t ? "," : "");
        cli_json_str(f, tr->name);
        fprintf(f, ", \"path\": ");
        cli_json_str(f, tr->path);
        fprintf(f, ", \"events\": %llu, \"threads\": %llu, \"results\": {", tr->events,
                tr->threads);
        for (int a = 0; a < r->nallocs; a++) {
            const cmp_cell_t *c = &r->cells[t][a];
            fprintf(f, "%s\n      ", a ? "," : "");
            cli_json_str(f, r->allocs[a]);
            fprintf(f, ": {\"runs\": %d, \"median\": ", c->nruns);
            json_metrics(f, c->median);
            fprintf(f, ", \"min\": ");
            json_metrics(f, c->min);
            fprintf(f, ", \"max\": ");
            json_metrics(f, c->max);
            fprintf(f, ", \"each\": [");
            for (int k = 0; k < c->nruns; k++) {
                fprintf(f, "%s", k ? ", " : "");
                json_metrics(f, c->v[k]);
            }
            fprintf(f, "]}");
        }
        fprintf(f, "}}");
    }
    fprintf(f, "\n  ]\n}\n");
    return fclose(f) != 0;
}

static bool have_gnuplot(void)
{
    return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

/* Writes plots/NAME.gp for both terminals and runs gnuplot in dir. */
static bool plot(const char *dir, const char *name, void (*body)(FILE *, const cmp_results_t *, int),
                 const cmp_results_t *r, int t, const char *size)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/plots/%s.gp", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    const char *terms[2][2] = {{"svg dynamic background rgb 'white' font 'sans,11'", "svg"},
                               {"pngcairo font 'sans,10'", "png"}};
    for (int k = 0; k < 2; k++) {
        fprintf(f, "set terminal %s size %s\nset output 'plots/%s.%s'\n", terms[k][0], size,
                name, terms[k][1]);
        body(f, r, t);
        fprintf(f, "unset output\nreset\n");
    }
    fclose(f);
    char cmd[8600];
    snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot 'plots/%s.gp' 2>plots/%s.log", dir, name, name);
    return system(cmd) == 0;
}

/* One colour per allocator, the same in every plot. */
static const char *color_of(const char *alloc)
{
    static const char *const known[][2] = {{"glibc", "#7f7f7f"}, {"jemalloc", "#1f77b4"},
                                           {"mimalloc", "#2ca02c"}, {"tcmalloc", "#ff7f0e"},
                                           {"ebb", "#d62728"}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(alloc, known[i][0]) == 0)
            return known[i][1];
    return "#9467bd";
}

static void trace_plot(FILE *f, const cmp_results_t *r, int t)
{
    const char *name = r->traces[t].name;
    fprintf(f, "set datafile separator ','\nset title \"%s: resident memory (RSS) and live bytes, "
               "run 1\" noenhanced\nset xlabel 'events replayed'\nset ylabel 'MiB'\n"
               "set key outside right top\nset grid\nset yrange [0:*]\n",
            name);
    fprintf(f, "plot ");
    int first = -1;
    for (int a = 0; a < r->nallocs; a++) {
        if (!r->cells[t][a].nruns)
            continue;
        if (first < 0)
            first = a;
        fprintf(f, "'timelines/%s__%s__1.csv' using 1:($4/1048576) with lines lw 2 "
                   "lc rgb '%s' title '%s', ",
                name, r->allocs[a], color_of(r->allocs[a]), r->allocs[a]);
    }
    if (first >= 0)
        fprintf(f, "'timelines/%s__%s__1.csv' using 1:($3/1048576) with lines dt 2 lw 2 "
                   "lc rgb 'black' title 'live bytes'\n",
                name, r->allocs[first]);
    else
        fprintf(f, "0 notitle\n");
}

static void summary_plot(FILE *f, const cmp_results_t *r, int unused)
{
    (void)unused;
    const int ms[3] = {M_PEAK_RSS, M_SETTLED_RSS, M_RUN_TIME};
    const char *titles[3] = {"peak RSS (MiB)", "settled RSS (MiB)", "replay time (s)"};
    fprintf(f, "set style data histograms\nset style histogram clustered gap 1\n"
               "set style fill solid 0.8 border -1\nset key outside right top\nset grid y\n"
               "set xtics rotate by -30 noenhanced\nset yrange [0:*]\nset multiplot layout 3,1\n");
    for (int k = 0; k < 3; k++) {
        fprintf(f, "set title '%s'\n$d%d << EOD\n", titles[k], k);
        for (int t = 0; t < r->ntraces; t++) {
            fprintf(f, "%s", r->traces[t].name);
            for (int a = 0; a < r->nallocs; a++)
                fprintf(f, " %g", shown(ms[k], r->cells[t][a].median[ms[k]]));
            fprintf(f, "\n");
        }
        fprintf(f, "EOD\nplot ");
        for (int a = 0; a < r->nallocs; a++)
            fprintf(f, "%s$d%d using %d:xtic(1) lc rgb '%s' title '%s'", a ? ", " : "", k,
                    a + 2, color_of(r->allocs[a]), r->allocs[a]);
        fprintf(f, "\n");
    }
    fprintf(f, "unset multiplot\n");
}

static void html_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else
            fputc(*s, f);
    }
}

static int write_html(const cmp_results_t *r, const char *dir, bool plots, const bool *trace_plotted,
                      bool summary_plotted)
{
    FILE *f = cli_fopen_in(dir, "index.html", "w");
    if (!f)
        return 1;
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<title>ebb compare</title>\n<style>body{font-family:sans-serif;margin:2em;"
               "max-width:1200px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px "
               "solid #999;padding:4px 8px;text-align:right}td:first-child,th:first-child{"
               "text-align:left}th{background:#eee}img{max-width:100%%;border:1px solid #ccc}"
               ".best{font-weight:bold;background:#dfd}</style></head><body>\n"
               "<h1>ebb compare</h1>\n<p>Medians of %d run%s (min–max), best of each column "
               "highlighted. Settled: %ld ms after the replay, plus one allocation call. "
               "Files: <a href=\"summary.md\">summary.md</a>, <a href=\"results.json\">"
               "results.json</a>, per-run timelines in <a href=\"timelines/\">timelines/</a>. ",
            r->runs, r->runs > 1 ? "s" : "", r->settle_ms);
    write_order(f, r);
    fprintf(f, "</p>\n");
    if (!plots)
        fprintf(f, "<p><em>gnuplot is not installed: no plots were drawn.</em></p>\n");
    if (summary_plotted)
        fprintf(f, "<h2>Summary</h2>\n<img src=\"plots/summary.svg\" alt=\"peak RSS, settled "
                   "RSS and time of every allocator on every trace\">\n");
    for (int t = 0; t < r->ntraces; t++) {
        fprintf(f, "<h2>");
        html_escape(f, r->traces[t].name);
        fprintf(f, "</h2>\n<p>%llu events, %llu threads.</p>\n<table><tr><th>allocator</th>",
                r->traces[t].events, r->traces[t].threads);
        for (int k = 0; k < NCOLUMNS; k++)
            fprintf(f, "<th>%s</th>", cmp_metrics[columns[k]].title);
        fprintf(f, "</tr>\n");
        for (int a = 0; a < r->nallocs; a++) {
            fprintf(f, "<tr><td>%s</td>", r->allocs[a]);
            for (int k = 0; k < NCOLUMNS; k++) {
                char buf[128];
                cell_text(r, t, a, columns[k], buf, sizeof buf, "<span class=\"best\">", "</span>");
                fprintf(f, "<td>%s</td>", buf);
            }
            fprintf(f, "</tr>\n");
        }
        fprintf(f, "</table>\n");
        if (trace_plotted[t]) {
            fprintf(f, "<img src=\"plots/");
            html_escape(f, r->traces[t].name);
            fprintf(f, ".svg\" alt=\"RSS and live bytes over the replay of ");
            html_escape(f, r->traces[t].name);
            fprintf(f, "\">\n");
        }
    }
    fprintf(f, "</body></html>\n");
    return fclose(f) != 0;
}

int report_write(const cmp_results_t *r, const char *dir)
{
    int rc = write_summary(r, dir) | write_json(r, dir);
    bool plots = have_gnuplot();
    bool *done = calloc((size_t)r->ntraces + 1, sizeof *done);
    bool summary = false;
    if (plots) {
        char sub[4200];
        snprintf(sub, sizeof sub, "%s/plots", dir);
        mkdir(sub, 0755);
        for (int t = 0; t < r->ntraces; t++)
            done[t] = plot(dir, r->traces[t].name, trace_plot, r, t, "1000,500");
        summary = plot(dir, "summary", summary_plot, r, 0, "1000,1100");
    } else {
        fprintf(stderr, "ebb compare: gnuplot is not installed; no plots (the tables and "
                        "data are complete)\n");
    }
    rc |= write_html(r, dir, plots, done, summary);
    free(done);
    if (rc)
        fprintf(stderr, "ebb compare: cannot write the report in %s\n", dir);
    return rc;
}
