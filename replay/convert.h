/* convert.h — raw recording (raw.h) -> trace (trace.h). */
#ifndef EBB_CONVERT_H
#define EBB_CONVERT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct convert_stats {
    uint64_t events;
    uint64_t threads;
    uint32_t pid;
    uint64_t unknown_frees;    /* frees of addresses never seen allocated (dropped) */
    uint64_t reused_live;      /* allocations returning an address still live */
    uint64_t truncated_chunks; /* chunks cut short (a killed program) */
} convert_stats_t;

/* Returns 0 on success, 2 if the raw file is unusable (message on stderr), 1 if the
 * trace could not be written. */
int convert_raw(const char *raw_path, const char *trace_path, int level, convert_stats_t *st);

#endif
