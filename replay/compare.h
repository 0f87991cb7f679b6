/* compare.h — the results of `ebb compare`: traces x allocators x runs, the medians
 * the report shows, and the budget check. */
#ifndef EBB_COMPARE_H
#define EBB_COMPARE_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"

#define CMP_MAX_RUNS 50
#define CMP_MAX_ALLOCS 16
#define CMP_MAX_TRACES 256

/* Measured by one replay (fields of its JSON), then the two derived from them. */
enum {
    M_RUN_TIME,     /* run_time_s */
    M_ALLOC_TIME,   /* alloc_time_s */
    M_PEAK_RSS,     /* peak_rss */
    M_SETTLED_RSS,  /* settled_rss */
    M_PEAK_LIVE,    /* peak_live */
    M_LIVE_END,     /* live_end */
    M_FAULTS,       /* minor_faults */
    M_MALLOC_NS,    /* malloc_ns: mean time of a malloc call (0: the trace makes none) */
    M_CALLOC_NS,    /* calloc_ns */
    M_REALLOC_NS,   /* realloc_ns */
    M_ALIGNED_NS,   /* aligned_ns: posix_memalign, aligned_alloc, memalign, (p)valloc */
    M_FREE_NS,      /* free_ns */
    M_EXIT_TIME,    /* thread_exit_s: the allocator's work at thread exits, not in
                       alloc_time_s */
    M_PEAK_FRAG,    /* peak_rss / peak_live, when peak_live > 1 MiB (else 0) */
    M_SLACK,        /* settled_rss - live_end */
    M_COUNT
};

typedef struct metric_desc {
    const char *key;   /* name in JSON and budgets */
    const char *title; /* column title */
    bool bytes;        /* printed in MiB */
    bool zero_none;    /* 0 means no figure (shown as "-", never the best) */
} metric_desc_t;
extern const metric_desc_t cmp_metrics[M_COUNT];

typedef struct cmp_cell {
    double v[CMP_MAX_RUNS][M_COUNT];
    int nruns;
    double median[M_COUNT], min[M_COUNT], max[M_COUNT];
} cmp_cell_t;

typedef struct cmp_trace {
    char path[4096];
    char name[256];
    unsigned long long events, threads;
} cmp_trace_t;

typedef struct cmp_results {
    int ntraces, nallocs, runs;
    cmp_trace_t traces[CMP_MAX_TRACES];
    char allocs[CMP_MAX_ALLOCS][CLI_ALLOC_LABEL];
    char alloc_paths[CMP_MAX_ALLOCS][4096];
    char alloc_versions[CMP_MAX_ALLOCS][128];
    cmp_cell_t cells[CMP_MAX_TRACES][CMP_MAX_ALLOCS];
    long settle_ms;
    uint64_t window; /* replay_options_t.window */
    double seconds;
} cmp_results_t;

int cmp_metric_index(const char *key);

/* report.c */
int report_write(const cmp_results_t *r, const char *dir);

/* budget.c: 0 all limits hold, 1 some fell short (listed on stdout), 2 bad budget. */
int budget_check(const cmp_results_t *r, const char *budget_path, const char *dir);
/* Parses budget text (also for the fuzz target): 0 ok, 2 error (message in err). */
typedef struct budget_limit {
    int metric;
    char alloc[64];
    double factor;
    char ref[64];   /* "best-other", an allocator name, or "baseline" */
    char trace[256]; /* "" for every trace */
    int line;
} budget_limit_t;
typedef struct budget {
    budget_limit_t limits[256];
    int nlimits;
    char baseline[4096];
} budget_t;
int budget_parse(const char *text, size_t len, budget_t *b, char *err, size_t errlen);

#endif
