/* convert.c — turns a raw recording into a trace: decode every thread's chunks, order
 * all events by time (a realloc splits into the release of its old block, at the time
 * the call started, and the new block, at the time it returned), map addresses to
 * objects, and write the trace. */
#include "convert.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "raw.h"
#include "trace.h"
#include "varint.h"

enum { ITEM_EVENT = 0, ITEM_RELEASE = 1 };

typedef struct item {
    uint64_t t;       /* ns since start */
    uint64_t addr;    /* result address (or the freed address) */
    uint64_t old;     /* realloc: old address */
    uint64_t size;
    uint64_t arg;
    uint32_t thread;
    uint32_t seq;     /* order within the thread */
    uint32_t label_off, label_len; /* into the mapping */
    uint8_t op, null, kind;
} item_t;

/* ---- address -> object id, open addressing with backward-shift deletion ---- */

typedef struct addrmap {
    uint64_t *keys, *vals;
    size_t cap, count;
} addrmap_t;

static size_t slot_of(const addrmap_t *m, uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k & (m->cap - 1);
}

static bool map_grow(addrmap_t *m)
{
    addrmap_t n = {calloc(m->cap * 2, 8), calloc(m->cap * 2, 8), m->cap * 2, 0};
    if (!n.keys || !n.vals) {
        free(n.keys);
        free(n.vals);
        return false;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = slot_of(&n, m->keys[i]);
        while (n.keys[j])
            j = (j + 1) & (n.cap - 1);
        n.keys[j] = m->keys[i];
        n.vals[j] = m->vals[i];
        n.count++;
    }
    free(m->keys);
    free(m->vals);
    *m = n;
    return true;
}

/* Returns the previous value (0 if none). */
static uint64_t map_put(addrmap_t *m, uint64_t k, uint64_t v)
{
    if ((m->count + 1) * 4 > m->cap * 3 && !map_grow(m))
        return 0;
    size_t i = slot_of(m, k);
    while (m->keys[i] && m->keys[i] != k)
        i = (i + 1) & (m->cap - 1);
    uint64_t old = m->keys[i] ? m->vals[i] : 0;
    if (!m->keys[i])
        m->count++;
    m->keys[i] = k;
    m->vals[i] = v;
    return old;
}

/* Removes k; returns its value, 0 if absent. */
static uint64_t map_take(addrmap_t *m, uint64_t k)
{
    size_t i = slot_of(m, k);
    while (m->keys[i] && m->keys[i] != k)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i])
        return 0;
    uint64_t v = m->vals[i];
    /* backward shift: pull later entries of the cluster into the hole */
    size_t hole = i;
    for (size_t j = (i + 1) & (m->cap - 1); m->keys[j]; j = (j + 1) & (m->cap - 1)) {
        size_t home = slot_of(m, m->keys[j]);
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            m->keys[hole] = m->keys[j];
            m->vals[hole] = m->vals[j];
            hole = j;
        }
    }
    m->keys[hole] = 0;
    m->count--;
    return v;
}

/* ---- decoding chunks ---- */

typedef struct items {
    item_t *v;
    size_t n, cap;
} items_t;

static item_t *push(items_t *it)
{
    if (it->n == it->cap) {
        size_t cap = it->cap ? it->cap * 2 : 65536;
        item_t *v = realloc(it->v, cap * sizeof *v);
        if (!v)
            return NULL;
        it->v = v;
        it->cap = cap;
    }
    item_t *x = &it->v[it->n++];
    memset(x, 0, sizeof *x);
    return x;
}

/* Decodes one chunk; false if it ends in the middle of an event. */
static bool decode_chunk(const uint8_t *base, const raw_chunk_t *c, items_t *out, uint32_t *seq)
{
    uint32_t used = atomic_load_explicit(&c->used, memory_order_acquire);
    if (used > RAW_CHUNK_SIZE - sizeof *c)
        return false;
    const uint8_t *p = (const uint8_t *)(c + 1), *end = p + used;
    uint64_t t = 0;
    while (p < end) {
        uint8_t b0 = *p++;
        unsigned op = b0 & 0x1f;
        uint64_t dt, f[4] = {0};
        if (op >= OP_COUNT || !varint_get(&p, end, &dt))
            return false;
        t += dt;
        int nf = 0;
        switch (op) {
        case OP_MALLOC: case OP_VALLOC: case OP_PVALLOC: case OP_FREE_SIZED: nf = 2; break;
        case OP_CALLOC: case OP_POSIX_MEMALIGN: case OP_ALIGNED_ALLOC: case OP_MEMALIGN: nf = 3; break;
        case OP_REALLOC: nf = 4; break;
        case OP_FREE: case OP_FORK: nf = 1; break;
        case OP_EXEC: case OP_MARKER: nf = 1; break;
        default: nf = 0;
        }
        for (int i = 0; i < nf; i++)
            if (!varint_get(&p, end, &f[i]))
                return false;
        item_t *x;
        if (op == OP_REALLOC) {
            x = push(out);
            if (!x)
                return false;
            x->kind = ITEM_RELEASE;
            x->t = t;
            x->old = f[0];
            x->thread = c->thread;
            x->seq = (*seq)++;
            x->op = OP_REALLOC;
        }
        x = push(out);
        if (!x)
            return false;
        x->op = (uint8_t)op;
        x->null = (b0 & RAW_F_NULL) != 0;
        x->thread = c->thread;
        x->seq = (*seq)++;
        x->t = t;
        switch (op) {
        case OP_MALLOC: case OP_VALLOC: case OP_PVALLOC:
            x->size = f[0]; x->addr = f[1]; break;
        case OP_CALLOC:
            x->size = f[0]; x->arg = f[1]; x->addr = f[2]; break;
        case OP_POSIX_MEMALIGN: case OP_ALIGNED_ALLOC: case OP_MEMALIGN:
            x->arg = f[0]; x->size = f[1]; x->addr = f[2]; break;
        case OP_REALLOC:
            x->old = f[0]; x->size = f[1]; x->addr = f[2]; x->t = t + f[3]; break;
        case OP_FREE:
            x->addr = f[0]; break;
        case OP_FREE_SIZED:
            x->addr = f[0]; x->size = f[1]; break;
        case OP_FORK:
            x->arg = f[0]; break;
        case OP_EXEC: case OP_MARKER:
            if (f[0] > RAW_MAX_LABEL || f[0] > (uint64_t)(end - p))
                return false;
            x->label_off = (uint32_t)(p - base);
            x->label_len = (uint32_t)f[0];
            p += f[0];
            break;
        }
    }
    return true;
}

static int by_time(const void *a, const void *b)
{
    const item_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->thread != y->thread)
        return x->thread < y->thread ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

typedef struct chunk_ref {
    uint32_t thread, seq;
    const raw_chunk_t *c;
} chunk_ref_t;

static int by_thread_seq(const void *a, const void *b)
{
    const chunk_ref_t *x = a, *y = b;
    if (x->thread != y->thread)
        return x->thread < y->thread ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int convert_raw(const char *raw_path, const char *trace_path, int level, convert_stats_t *st)
{
    memset(st, 0, sizeof *st);
    int fd = open(raw_path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        fprintf(stderr, "ebb: %s: %s\n", raw_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 2;
    }
    size_t size = (size_t)sb.st_size;
    if (size < RAW_HEADER_SIZE) {
        fprintf(stderr, "ebb: %s: offset %zu: too short for a raw recording\n", raw_path, size);
        close(fd);
        return 2;
    }
    /* The file is sparse and sized for the worst case: map only what was handed out. */
    raw_header_t head;
    if (pread(fd, &head, sizeof head, 0) == (ssize_t)sizeof head) {
        uint64_t used = atomic_load(&head.next_chunk);
        if (used >= RAW_HEADER_SIZE && used < size)
            size = (size_t)used;
    }
    const uint8_t *base = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED) {
        fprintf(stderr, "ebb: %s: cannot map: %s\n", raw_path, strerror(errno));
        return 2;
    }
    const raw_header_t *h = (const raw_header_t *)base;
    int rc = 2;
    items_t items = {0};
    chunk_ref_t *refs = NULL;
    addrmap_t map = {calloc(1024, 8), calloc(1024, 8), 1024, 0};
    if (memcmp(h->magic, RAW_MAGIC, 8) != 0) {
        fprintf(stderr, "ebb: %s: offset 0: not an ebb raw recording\n", raw_path);
        goto out;
    }
    uint64_t limit = atomic_load(&h->next_chunk);
    if (limit > size)
        limit = size;
    uint32_t nthreads = atomic_load(&h->nthreads);
    if (nthreads > TRACE_MAX_THREADS || h->cmdline_len > sizeof h->cmdline) {
        fprintf(stderr, "ebb: %s: offset 0: corrupt header\n", raw_path);
        goto out;
    }
    size_t nchunks = limit > RAW_HEADER_SIZE ? (limit - RAW_HEADER_SIZE) / RAW_CHUNK_SIZE : 0;
    refs = calloc(nchunks + 1, sizeof *refs);
    size_t nrefs = 0;
    for (size_t i = 0; i < nchunks; i++) {
        const raw_chunk_t *c =
            (const raw_chunk_t *)(base + RAW_HEADER_SIZE + i * (size_t)RAW_CHUNK_SIZE);
        if (c->magic != RAW_CHUNK_MAGIC || c->thread >= nthreads) {
            st->truncated_chunks++;
            continue;
        }
        refs[nrefs++] = (chunk_ref_t){c->thread, c->seq, c};
    }
    qsort(refs, nrefs, sizeof *refs, by_thread_seq);
    uint32_t seq = 0;
    for (size_t i = 0; i < nrefs; i++) {
        if (i == 0 || refs[i].thread != refs[i - 1].thread)
            seq = 0;
        if (!decode_chunk(base, refs[i].c, &items, &seq))
            st->truncated_chunks++;
    }
    qsort(items.v, items.n, sizeof *items.v, by_time);

    trace_header_t th;
    memset(&th, 0, sizeof th);
    th.page_size = h->page_size;
    th.nthreads = nthreads;
    th.start_unix_ns = h->start_unix_ns;
    th.cmdline_len = h->cmdline_len;
    memcpy(th.cmdline, h->cmdline, h->cmdline_len);
    trace_writer_t *w = trace_writer_open(trace_path, &th, level);
    if (!w) {
        rc = 1;
        goto out;
    }
    char label[RAW_MAX_LABEL + 1];
    for (size_t i = 0; i < items.n; i++) {
        item_t *x = &items.v[i];
        trace_event_t ev;
        memset(&ev, 0, sizeof ev);
        ev.op = x->op;
        ev.thread = x->thread;
        ev.time_us = x->t / 1000;
        ev.size = x->size;
        ev.arg = x->arg;
        ev.flags = x->null ? EV_FAILED : 0;
        if (x->kind == ITEM_RELEASE) {
            /* the old block of a realloc is released when the call starts; keep its
             * object in `arg` of the matching event, found later in the same thread */
            uint64_t id = x->old ? map_take(&map, x->old) : 0;
            for (size_t j = i + 1; j < items.n; j++) {
                if (items.v[j].thread == x->thread && items.v[j].kind == ITEM_EVENT) {
                    items.v[j].arg = id;
                    break;
                }
            }
            if (x->old && !id)
                st->unknown_frees++;
            continue;
        }
        switch (x->op) {
        case OP_FREE:
        case OP_FREE_SIZED:
            ev.id = map_take(&map, x->addr);
            if (!ev.id) {
                st->unknown_frees++;
                continue;
            }
            break;
        case OP_REALLOC:
            ev.old = x->arg;
            ev.arg = 0;
            /* a realloc that failed keeps its block */
            if (ev.old && !trace_realloc_releases(ev.flags, ev.size))
                map_put(&map, x->old, ev.old);
            break;
        case OP_EXEC:
        case OP_MARKER:
            memcpy(label, base + x->label_off, x->label_len);
            label[x->label_len] = 0;
            ev.label = label;
            break;
        default:
            break;
        }
        if (!trace_writer_add(w, &ev))
            break;
        if (trace_event_makes(ev.op, ev.flags) && map_put(&map, x->addr, ev.id))
            st->reused_live++;
    }
    st->threads = nthreads;
    st->pid = h->pid;
    rc = trace_writer_close(w) ? 0 : 1;
    trace_error_t err;
    trace_reader_t *r = trace_reader_open(trace_path, &err);
    if (r) {
        st->events = trace_reader_header(r)->nevents;
        trace_reader_close(r);
    }
out:
    munmap((void *)(uintptr_t)base, size);
    free(items.v);
    free(refs);
    free(map.keys);
    free(map.vals);
    return rc;
}
