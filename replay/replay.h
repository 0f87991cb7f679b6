/* replay.h — options of a replay run, shared with ebb compare. */
#ifndef EBB_REPLAY_H
#define EBB_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct replay_options {
    const char *trace;
    const char *alloc_name;
    const char *alloc_path; /* NULL: the system malloc */
    const char *json;       /* result file; NULL or "-": stdout */
    const char *csv;        /* timeline file, or NULL */
    const char *alloc_stats; /* file for the allocator's own statistics at the highest
                                sampled RSS (libebb's ebb_stats_json), or NULL */
    long settle_ms;         /* wait before the settled measurement */
    uint64_t sample_every;  /* events between timeline samples; 0: about 2000 samples */
    uint64_t window;        /* trace order: how many events a thread may run ahead of the
                               earliest one not done (rounded up to 64); 0: no limit */
} replay_options_t;

#define REPLAY_WINDOW 1024

/* name: glibc, jemalloc, mimalloc, tcmalloc, ebb or a path to a .so; path "" for glibc.
 * False if it is not installed. */
bool replay_resolve_allocator(const char *name, char *path, size_t n);

/* Decodes and validates a trace into a replay program in a memfd; -1 on failure
 * (message printed, *rc set to the exit status). */
int replay_build_program(const char *path, int *rc);
/* Replays the program under opt->alloc_path in a child; returns its exit status. */
int replay_run_child(int fd, const replay_options_t *opt);

#endif
