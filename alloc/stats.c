/* stats.c — every statistic ebb reports comes from one snapshot taken here, under the
 * pool lock; the emitters below (ebb_stats_get, JSON, malloc_stats text, malloc_info
 * XML, mallinfo2) only format it, after the lock is released, since writing to a
 * stream may itself allocate. Figures for spans owned by running threads are read
 * without stopping them, so they are exact only when those threads are quiet. */
#include <string.h>

#include "ebb.h"
#include "internal.h"
#include "sizeclass.h"
#include "stats.h"

void ebb_stats_snapshot(ebb_snapshot_t *snap)
{
    memset(snap, 0, sizeof *snap);
    ebb_ensure_init();
    ebb_lock(&ebb_pool_lock);
    size_t chunk_bytes = 0, free_bytes = 0;
    for (ebb_chunk_t *c = ebb_pool_chunks(); c; c = c->all_next) {
        chunk_bytes += EBB_CHUNK_SIZE;
        for (unsigned i = 0; i < c->nspans; i++) {
            ebb_span_t *s = &c->spans[i];
            size_t span_bytes = (size_t)1 << c->span_shift;
            if (!atomic_load_explicit(&s->heap, memory_order_relaxed)) {
                free_bytes += span_bytes;
                continue;
            }
            /* remote frees not yet collected are free memory, not live */
            size_t used = atomic_load_explicit(&s->used, memory_order_relaxed);
            size_t pending = atomic_load_explicit(&s->remote_pending, memory_order_relaxed);
            used = pending < used ? used - pending : 0;
            free_bytes += span_bytes - used * s->block_size;
            ebb_class_snapshot_t *cs = &snap->cls[s->cls];
            cs->spans++;
            cs->live_blocks += used;
            cs->free_blocks += s->capacity - used;
            size_t resident = ebb_align_up(s->touched, ebb_page_size) - ebb_span_purged_bytes(s);
            cs->resident_bytes += resident;
        }
    }
    size_t large_bytes = 0, large_live = 0, large_count = 0, large_touched = 0;
    for (ebb_large_t *l = ebb_large_first(); l; l = l->next) {
        large_bytes += l->mapped;
        large_touched += l->touched;
        large_live += l->usable;
        large_count++;
    }
    size_t cached = ebb_large_cached_bytes(), cached_touched = ebb_large_cached_touched();
    size_t in_caches[EBB_CACHED_CLASSES];
    ebb_heaps_cached(in_caches);
    ebb_heaps_count(&snap->total.heaps, &snap->total.threads_active);
    size_t pool_dirty = ebb_pool_dirty_bytes();
    snap->total.metadata_resident_bytes = ebb_meta_resident();
    ebb_unlock(&ebb_pool_lock);

    size_t live = 0, resident = 0;
    for (unsigned c = 0; c < EBB_CLASSES; c++) {
        ebb_class_snapshot_t *cs = &snap->cls[c];
        cs->block_size = ebb_class_size(c);
        if (c < EBB_CACHED_CLASSES) { /* cached blocks are free, not live */
            size_t n = in_caches[c] < cs->live_blocks ? in_caches[c] : cs->live_blocks;
            cs->live_blocks -= n;
            cs->free_blocks += n;
            free_bytes += n * cs->block_size;
        }
        cs->purged_bytes = atomic_load_explicit(&ebb_class_purges[c].bytes, memory_order_relaxed);
        cs->purge_calls = atomic_load_explicit(&ebb_class_purges[c].calls, memory_order_relaxed);
        live += cs->live_blocks * cs->block_size;
        resident += cs->resident_bytes;
    }
    snap->small_mapped = chunk_bytes;
    snap->small_live = live;
    snap->total.live_bytes = live + large_live;
    snap->total.free_bytes = free_bytes + (large_bytes - large_live) + cached;
    snap->total.mapped_bytes = chunk_bytes + large_bytes + cached;
    snap->total.os_mapped_bytes = atomic_load_explicit(&ebb_os.mapped, memory_order_relaxed);
    snap->spans_resident = resident;
    snap->pool_resident = pool_dirty;
    snap->large_resident = large_touched + cached_touched;
    snap->total.resident_bytes = resident + pool_dirty + large_touched + cached_touched;
    snap->total.metadata_bytes = atomic_load_explicit(&ebb_meta_bytes, memory_order_relaxed);
    snap->total.large_bytes = large_bytes;
    snap->total.large_count = large_count;
    snap->total.purged_bytes = atomic_load_explicit(&ebb_os.purged, memory_order_relaxed);
    snap->total.purge_calls = atomic_load_explicit(&ebb_os.purge_calls, memory_order_relaxed);
}

EBB_EXPORT void ebb_stats_get(ebb_stats_t *out)
{
    ebb_snapshot_t snap;
    ebb_stats_snapshot(&snap);
    *out = snap.total;
}

EBB_EXPORT void ebb_stats_json(FILE *out)
{
    ebb_snapshot_t snap;
    ebb_stats_snapshot(&snap);
    const ebb_stats_t *t = &snap.total;
    fprintf(out,
            "{\"version\": \"%s\", \"free_check\": %s, \"live_bytes\": %zu, "
            "\"free_bytes\": %zu, \"mapped_bytes\": %zu, \"os_mapped_bytes\": %zu, "
            "\"resident_bytes\": %zu, \"metadata_bytes\": %zu, \"large_bytes\": %zu, "
            "\"large_count\": %zu, \"purged_bytes\": %zu, \"purge_calls\": %zu, "
            "\"heaps\": %zu, \"threads_active\": %zu, \"metadata_resident_bytes\": %zu, "
            "\"spans_resident_bytes\": %zu, \"pool_resident_bytes\": %zu, "
            "\"large_resident_bytes\": %zu, \"classes\": [",
            EBB_VERSION_STRING, EBB_CHECKS_FREE ? "true" : "false", t->live_bytes,
            t->free_bytes, t->mapped_bytes, t->os_mapped_bytes, t->resident_bytes,
            t->metadata_bytes, t->large_bytes, t->large_count, t->purged_bytes,
            t->purge_calls, t->heaps, t->threads_active, t->metadata_resident_bytes,
            snap.spans_resident, snap.pool_resident, snap.large_resident);
    const char *sep = "";
    for (unsigned c = 0; c < EBB_CLASSES; c++) {
        const ebb_class_snapshot_t *cs = &snap.cls[c];
        if (!cs->spans && !cs->purge_calls)
            continue;
        fprintf(out,
                "%s\n  {\"block_size\": %zu, \"spans\": %zu, \"live_bytes\": %zu, "
                "\"free_bytes\": %zu, \"resident_bytes\": %zu, \"purged_bytes\": %zu, "
                "\"purge_calls\": %zu}",
                sep, cs->block_size, cs->spans, cs->live_blocks * cs->block_size,
                cs->free_blocks * cs->block_size, cs->resident_bytes, cs->purged_bytes,
                cs->purge_calls);
        sep = ",";
    }
    fprintf(out, "\n]}\n");
}

EBB_EXPORT void ebb_stats_print(void)
{
    ebb_snapshot_t snap;
    ebb_stats_snapshot(&snap);
    const ebb_stats_t *t = &snap.total;
    fprintf(stderr,
            "Arena 0:\n"
            "system bytes     = %10zu\n"
            "in use bytes     = %10zu\n"
            "Total (incl. mmap):\n"
            "system bytes     = %10zu\n"
            "in use bytes     = %10zu\n"
            "max mmap regions = %10zu\n"
            "max mmap bytes   = %10zu\n",
            snap.small_mapped, snap.small_live, t->mapped_bytes, t->live_bytes,
            t->large_count, t->large_bytes);
}

void ebb_stats_xml(FILE *out)
{
    ebb_snapshot_t snap;
    ebb_stats_snapshot(&snap);
    const ebb_stats_t *t = &snap.total;
    size_t free_count = 0, free_bytes = 0;
    fprintf(out, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n");
    size_t prev = 0;
    for (unsigned c = 0; c < EBB_CLASSES; c++) {
        const ebb_class_snapshot_t *cs = &snap.cls[c];
        if (cs->free_blocks)
            fprintf(out, "  <size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n",
                    prev + 1, cs->block_size, cs->free_blocks * cs->block_size,
                    cs->free_blocks);
        free_count += cs->free_blocks;
        free_bytes += cs->free_blocks * cs->block_size;
        prev = cs->block_size;
    }
    fprintf(out,
            "</sizes>\n"
            "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
            "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n"
            "<system type=\"current\" size=\"%zu\"/>\n"
            "<system type=\"max\" size=\"%zu\"/>\n"
            "<aspace type=\"total\" size=\"%zu\"/>\n"
            "<aspace type=\"mprotect\" size=\"%zu\"/>\n"
            "</heap>\n"
            "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
            "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n"
            "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n"
            "<system type=\"current\" size=\"%zu\"/>\n"
            "<system type=\"max\" size=\"%zu\"/>\n"
            "<aspace type=\"total\" size=\"%zu\"/>\n"
            "<aspace type=\"mprotect\" size=\"%zu\"/>\n"
            "</malloc>\n",
            free_count, free_bytes, snap.small_mapped, snap.small_mapped, snap.small_mapped,
            snap.small_mapped, free_count, free_bytes, t->large_count, t->large_bytes,
            snap.small_mapped, snap.small_mapped, t->mapped_bytes, t->mapped_bytes);
}

struct mallinfo2 ebb_stats_mallinfo2(void)
{
    ebb_snapshot_t snap;
    ebb_stats_snapshot(&snap);
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof mi);
    mi.arena = snap.small_mapped;
    mi.hblks = snap.total.large_count;
    mi.hblkhd = snap.total.large_bytes;
    mi.uordblks = snap.small_live;
    mi.fordblks = snap.small_mapped - snap.small_live;
    for (unsigned c = 0; c < EBB_CLASSES; c++)
        mi.ordblks += snap.cls[c].free_blocks;
    return mi;
}

__attribute__((destructor)) static void stats_at_exit(void)
{
    if (atomic_load_explicit(&ebb_init_state, memory_order_acquire) == 2 &&
        ebb_opt.stats_at_exit)
        ebb_stats_print();
}
