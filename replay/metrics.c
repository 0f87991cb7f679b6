/* metrics.c — the metrics of a replay, as ebb compare, its report and budgets name
 * them. */
#include <string.h>

#include "compare.h"

const metric_desc_t cmp_metrics[M_COUNT] = {
    {"run_time_s", "time (s)", false, false},
    {"alloc_time_s", "alloc time (s)", false, false},
    {"peak_rss", "peak RSS (MiB)", true, false},
    {"settled_rss", "settled RSS (MiB)", true, false},
    {"peak_live", "peak live (MiB)", true, false},
    {"live_end", "live at end (MiB)", true, false},
    {"minor_faults", "page faults", false, false},
    {"malloc_ns", "malloc (ns)", false, true},
    {"calloc_ns", "calloc (ns)", false, true},
    {"realloc_ns", "realloc (ns)", false, true},
    {"aligned_ns", "aligned (ns)", false, true},
    {"free_ns", "free (ns)", false, true},
    {"thread_exit_s", "exit time (s)", false, false},
    {"peak_frag", "peak RSS / live", false, true},
    {"slack", "settled slack (MiB)", true, false},
};

int cmp_metric_index(const char *key)
{
    for (int m = 0; m < M_COUNT; m++)
        if (strcmp(cmp_metrics[m].key, key) == 0)
            return m;
    return -1;
}
