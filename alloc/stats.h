/* stats.h — the snapshot every statistics output is formatted from. */
#ifndef EBB_STATS_H
#define EBB_STATS_H

#include <malloc.h>
#include <stdio.h>

#include "ebb.h"
#include "types.h"

typedef struct ebb_class_snapshot {
    size_t block_size;
    size_t spans;
    size_t live_blocks;    /* handed out, including remote frees not yet collected */
    size_t free_blocks;    /* carved and free */
    size_t resident_bytes; /* pages blocks were carved from, less those purged */
    size_t purged_bytes;   /* ever given back from this class's spans */
    size_t purge_calls;
} ebb_class_snapshot_t;

typedef struct ebb_snapshot {
    ebb_stats_t total;
    size_t small_mapped; /* bytes of chunks cut into spans */
    size_t small_live;   /* live bytes in size classes */
    /* resident_bytes, split by where the pages are: spans of size classes in use (the
     * classes' sum), free spans in the pool not purged yet, and large blocks (live or
     * kept for reuse) */
    size_t spans_resident, pool_resident, large_resident;
    ebb_class_snapshot_t cls[EBB_CLASSES];
} ebb_snapshot_t;

void ebb_stats_snapshot(ebb_snapshot_t *snap);
void ebb_stats_xml(FILE *out);
struct mallinfo2 ebb_stats_mallinfo2(void);

#endif /* EBB_STATS_H */
