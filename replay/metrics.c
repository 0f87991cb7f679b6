/* metrics.c — the metrics of a replay, as ebb compare, its report and budgets name
 * them. */
#include <string.h>

#include "compare.h"

const metric_desc_t cmp_metrics[M_COUNT] = {
    {"run_time_s", "time (s)", false},      {"alloc_time_s", "alloc time (s)", false},
    {"peak_rss", "peak RSS (MiB)", true},     {"settled_rss", "settled RSS (MiB)", true},
    {"peak_live", "peak live (MiB)", true},   {"live_end", "live at end (MiB)", true},
    {"minor_faults", "page faults", false},   {"peak_frag", "peak RSS / live", false},
    {"slack", "settled slack (MiB)", true},
};

int cmp_metric_index(const char *key)
{
    for (int m = 0; m < M_COUNT; m++)
        if (strcmp(cmp_metrics[m].key, key) == 0)
            return m;
    return -1;
}
