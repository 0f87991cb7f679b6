/* budget.c — `ebb compare --check BUDGET`: limits on the results, for CI.
 *
 * A budget is text, one statement a line, '#' starts a comment:
 *   baseline PATH                              results.json of an earlier run
 *   limit METRIC ALLOC FACTOR REF [TRACE]
 * A limit holds when ALLOC's median METRIC is at most FACTOR times the reference on
 * every trace (or on TRACE): REF is best-other (the lowest median among the other
 * allocators), an allocator's name, or baseline (ALLOC's median in the baseline).
 * Example: "limit peak_rss ebb 1.10 best-other", "limit run_time_s ebb 1.05 baseline". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"

static bool word(const char **p, const char *end, char *out, size_t n)
{
    while (*p < end && (**p == ' ' || **p == '\t' || **p == '\r'))
        (*p)++;
    size_t k = 0;
    while (*p < end && **p != ' ' && **p != '\t' && **p != '\r' && **p != '\n' && **p != '#') {
        if (k + 1 >= n)
            return false;
        out[k++] = *(*p)++;
    }
    out[k] = 0;
    return true;
}

int budget_parse(const char *text, size_t len, budget_t *b, char *err, size_t errlen)
{
    memset(b, 0, sizeof *b);
    const char *p = text, *end = text + len;
    for (int line = 1; p < end; line++) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        char w[6][4096];
        int n = 0;
        const char *q = p;
        while (n < 6) {
            if (!word(&q, eol, w[n], sizeof w[n])) {
                snprintf(err, errlen, "line %d: word too long", line);
                return 2;
            }
            if (!w[n][0])
                break;
            n++;
        }
        while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q < eol && *q != '#') {
            snprintf(err, errlen, "line %d: too many words", line);
            return 2;
        }
        p = eol < end ? eol + 1 : end;
        if (n == 0)
            continue;
        if (strcmp(w[0], "baseline") == 0 && n == 2) {
            snprintf(b->baseline, sizeof b->baseline, "%s", w[1]);
            continue;
        }
        if (strcmp(w[0], "limit") != 0 || n < 5) {
            snprintf(err, errlen, "line %d: expected 'baseline PATH' or 'limit METRIC ALLOC "
                     "FACTOR REF [TRACE]'", line);
            return 2;
        }
        if (b->nlimits == (int)(sizeof b->limits / sizeof b->limits[0])) {
            snprintf(err, errlen, "line %d: too many limits", line);
            return 2;
        }
        budget_limit_t *l = &b->limits[b->nlimits];
        l->line = line;
        l->metric = cmp_metric_index(w[1]);
        if (l->metric < 0) {
            snprintf(err, errlen, "line %d: unknown metric '%.64s'", line, w[1]);
            return 2;
        }
        char *e;
        errno = 0;
        l->factor = strtod(w[3], &e);
        if (*e || errno || !(l->factor > 0) || l->factor > 1e6) {
            snprintf(err, errlen, "line %d: bad factor '%.64s'", line, w[3]);
            return 2;
        }
        if (strlen(w[2]) >= sizeof l->alloc || strlen(w[4]) >= sizeof l->ref ||
            (n > 5 && strlen(w[5]) >= sizeof l->trace)) {
            snprintf(err, errlen, "line %d: name too long", line);
            return 2;
        }
        snprintf(l->alloc, sizeof l->alloc, "%s", w[2]);
        snprintf(l->ref, sizeof l->ref, "%s", w[4]);
        snprintf(l->trace, sizeof l->trace, "%s", n > 5 ? w[5] : "");
        b->nlimits++;
    }
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    char *s = malloc(cap + 1);
    size_t got;
    while (s && (got = fread(s + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            if (cap > ((size_t)64 << 20)) { /* a budget or baseline is never this big */
                free(s);
                s = NULL;
                break;
            }
            char *t = realloc(s, cap * 2 + 1);
            if (!t) {
                free(s);
                s = NULL;
                break;
            }
            s = t;
            cap *= 2;
        }
    }
    fclose(f);
    if (s) {
        s[n] = 0;
        *len = n;
    }
    return s;
}

/* The median of METRIC for ALLOC on TRACE in a results.json written by ebb compare. */
static bool baseline_value(const char *json, const char *trace, const char *alloc, int m,
                           double *out)
{
    char pat[512];
    snprintf(pat, sizeof pat, "{\"name\": \"%s\", \"path\"", trace);
    const char *t = strstr(json, pat);
    if (!t)
        return false;
    const char *next = strstr(t + 1, "{\"name\": ");
    snprintf(pat, sizeof pat, "\"%s\": {\"runs\": ", alloc);
    const char *a = strstr(t, pat);
    if (!a || (next && a > next))
        return false;
    const char *med = strstr(a, "\"median\": {");
    snprintf(pat, sizeof pat, "\"%s\": ", cmp_metrics[m].key);
    const char *v = med ? strstr(med, pat) : NULL;
    const char *close = med ? strchr(med, '}') : NULL;
    if (!v || !close || v > close)
        return false;
    char *e;
    *out = strtod(v + strlen(pat), &e);
    return e != v + strlen(pat);
}

static int alloc_index(const cmp_results_t *r, const char *name)
{
    for (int a = 0; a < r->nallocs; a++)
        if (strcmp(r->allocs[a], name) == 0)
            return a;
    return -1;
}

int budget_check(const cmp_results_t *r, const char *path, const char *dir)
{
    size_t len;
    char *text = slurp(path, &len);
    if (!text) {
        fprintf(stderr, "ebb: cannot read budget %s: %s\n", path, strerror(errno));
        return 2;
    }
    budget_t *b = malloc(sizeof *b);
    char err[256];
    int rc = b ? budget_parse(text, len, b, err, sizeof err) : 2;
    free(text);
    if (rc) {
        fprintf(stderr, "ebb: %s: %s\n", path, b ? err : "out of memory");
        free(b);
        return 2;
    }
    char *base = NULL;
    if (b->baseline[0]) {
        size_t blen;
        base = slurp(b->baseline, &blen);
        if (!base) {
            fprintf(stderr, "ebb: %s: cannot read baseline %s\n", path, b->baseline);
            free(b);
            return 2;
        }
    }
    char out_path[4200];
    snprintf(out_path, sizeof out_path, "%s/budget.md", dir);
    FILE *md = fopen(out_path, "w");
    int shortfalls = 0, checks = 0;
    printf("## Budget check: %s\n\n", path);
    if (md)
        fprintf(md, "## Budget check: %s\n\n", path);
    for (int i = 0; i < b->nlimits; i++) {
        const budget_limit_t *l = &b->limits[i];
        int a = alloc_index(r, l->alloc);
        for (int t = 0; t < r->ntraces; t++) {
            if (l->trace[0] && strcmp(l->trace, r->traces[t].name) != 0)
                continue;
            char line[1024];
            double v = 0, ref = 0;
            bool have = a >= 0 && r->cells[t][a].nruns > 0;
            bool have_ref = false;
            if (have) {
                v = r->cells[t][a].median[l->metric];
                if (strcmp(l->ref, "best-other") == 0) {
                    for (int o = 0; o < r->nallocs; o++) {
                        const cmp_cell_t *c = &r->cells[t][o];
                        if (o == a || !c->nruns)
                            continue;
                        if (!have_ref || c->median[l->metric] < ref)
                            ref = c->median[l->metric];
                        have_ref = true;
                    }
                } else if (strcmp(l->ref, "baseline") == 0) {
                    have_ref = base && baseline_value(base, r->traces[t].name, l->alloc,
                                                      l->metric, &ref);
                } else {
                    int o = alloc_index(r, l->ref);
                    have_ref = o >= 0 && r->cells[t][o].nruns > 0;
                    if (have_ref)
                        ref = r->cells[t][o].median[l->metric];
                }
            }
            checks++;
            if (!have || !have_ref) {
                snprintf(line, sizeof line, "- **FAILED** (line %d) %s on %s: no %s to compare",
                         l->line, l->alloc, r->traces[t].name, have ? l->ref : "result");
                shortfalls++;
            } else if (v <= l->factor * ref) {
                snprintf(line, sizeof line, "- ok (line %d): %s %s on %s = %.6g <= %.2f x %s (%.6g)",
                         l->line, l->alloc, cmp_metrics[l->metric].key, r->traces[t].name, v,
                         l->factor, l->ref, ref);
            } else {
                snprintf(line, sizeof line, "- **FAILED** (line %d): %s %s on %s = %.6g > %.2f x "
                         "%s (%.6g): %.2fx", l->line, l->alloc, cmp_metrics[l->metric].key,
                         r->traces[t].name, v, l->factor, l->ref, ref, ref > 0 ? v / ref : 0);
                shortfalls++;
            }
            printf("%s\n", line);
            if (md)
                fprintf(md, "%s\n", line);
        }
    }
    printf("\n%d of %d checks held.\n", checks - shortfalls, checks);
    if (md) {
        fprintf(md, "\n%d of %d checks held.\n", checks - shortfalls, checks);
        fclose(md);
    }
    free(base);
    free(b);
    return shortfalls ? 1 : 0;
}
