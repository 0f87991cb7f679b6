/* trace.c — writer and validating reader of the ebb trace format (traces/FORMAT.md). */
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "varint.h"

#define HEADER_FIXED 52
#define BLOCK_HEADER 16
#define OPBITS 0x1f
#define F_THREAD 0x20
#define F_FAILED 0x40
#define MAX_EVENT_BYTES (2 + 6 * VARINT_MAX + TRACE_MAX_LABEL)

static const char *const op_names[OP_COUNT] = {
    "malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc", "memalign", "valloc",
    "pvalloc", "free", "free_sized", "thread_start", "thread_exit", "fork", "exec", "marker",
};

const char *trace_op_name(unsigned op)
{
    return op < OP_COUNT ? op_names[op] : "?";
}

bool trace_op_allocates(unsigned op)
{
    return op <= OP_PVALLOC;
}

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* ================= writer ================= */

struct trace_writer {
    FILE *f;
    char *path;
    trace_header_t h;
    ZSTD_CCtx *cctx;
    uint8_t *raw;
    size_t raw_len;
    uint32_t block_events;
    uint8_t *zbuf;
    size_t zcap;
    uint64_t newest;      /* highest object id given */
    uint64_t last_time;
    uint32_t last_thread;
    bool failed;
};

static void encode_header(const trace_header_t *h, uint8_t *b)
{
    memcpy(b, TRACE_MAGIC, 8);
    put_u16(b + 8, TRACE_VERSION);
    put_u16(b + 10, h->flags);
    put_u32(b + 12, h->page_size);
    put_u32(b + 16, h->nthreads);
    put_u32(b + 20, 0);
    put_u64(b + 24, h->start_unix_ns);
    put_u64(b + 32, h->nevents);
    put_u64(b + 40, h->nobjects);
    put_u32(b + 48, h->cmdline_len);
}

trace_writer_t *trace_writer_open(const char *path, const trace_header_t *h, int level)
{
    trace_writer_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->h = *h;
    if (w->h.cmdline_len > TRACE_MAX_CMDLINE)
        w->h.cmdline_len = TRACE_MAX_CMDLINE;
    w->f = fopen(path, "wb");
    w->path = strdup(path);
    w->cctx = ZSTD_createCCtx();
    w->raw = malloc(TRACE_BLOCK_RAW_MAX);
    w->zcap = ZSTD_compressBound(TRACE_BLOCK_RAW_MAX);
    w->zbuf = malloc(w->zcap);
    if (!w->f || !w->path || !w->cctx || !w->raw || !w->zbuf) {
        fprintf(stderr, "ebb: cannot write %s: %s\n", path, strerror(errno));
        if (w->f)
            fclose(w->f);
        ZSTD_freeCCtx(w->cctx);
        free(w->raw);
        free(w->zbuf);
        free(w->path);
        free(w);
        return NULL;
    }
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
    uint8_t b[HEADER_FIXED];
    encode_header(&w->h, b);
    if (fwrite(b, 1, HEADER_FIXED, w->f) != HEADER_FIXED ||
        fwrite(w->h.cmdline, 1, w->h.cmdline_len, w->f) != w->h.cmdline_len)
        w->failed = true;
    w->last_thread = 0;
    return w;
}

static void flush_block(trace_writer_t *w)
{
    if (w->raw_len == 0)
        return;
    size_t z = ZSTD_compress2(w->cctx, w->zbuf, w->zcap, w->raw, w->raw_len);
    if (ZSTD_isError(z)) {
        w->failed = true;
        return;
    }
    uint8_t bh[BLOCK_HEADER];
    put_u32(bh, TRACE_BLOCK_MAGIC);
    put_u32(bh + 4, (uint32_t)z);
    put_u32(bh + 8, (uint32_t)w->raw_len);
    put_u32(bh + 12, w->block_events);
    if (fwrite(bh, 1, BLOCK_HEADER, w->f) != BLOCK_HEADER || fwrite(w->zbuf, 1, z, w->f) != z)
        w->failed = true;
    w->raw_len = 0;
    w->block_events = 0;
}

bool trace_writer_add(trace_writer_t *w, trace_event_t *ev)
{
    if (w->raw_len + MAX_EVENT_BYTES > TRACE_BLOCK_RAW_MAX)
        flush_block(w);
    uint8_t *p = w->raw + w->raw_len;
    uint8_t *start = p;
    unsigned op = ev->op;
    bool failed = ev->flags & EV_FAILED;
    uint8_t b0 = (uint8_t)op | (failed ? F_FAILED : 0);
    if (ev->thread != w->last_thread)
        b0 |= F_THREAD;
    *p++ = b0;
    if (b0 & F_THREAD)
        p = varint_put(p, ev->thread);
    if (ev->thread >= w->h.nthreads)
        w->h.nthreads = ev->thread + 1;
    w->last_thread = ev->thread;
    uint64_t t = ev->time_us < w->last_time ? w->last_time : ev->time_us;
    p = varint_put(p, t - w->last_time);
    w->last_time = t;
    switch (op) {
    case OP_MALLOC:
    case OP_VALLOC:
    case OP_PVALLOC:
        p = varint_put(p, ev->size);
        break;
    case OP_CALLOC:
        p = varint_put(p, ev->size);
        p = varint_put(p, ev->arg);
        break;
    case OP_REALLOC:
        p = varint_put(p, ev->old ? w->newest + 1 - ev->old : 0);
        p = varint_put(p, ev->size);
        break;
    case OP_POSIX_MEMALIGN:
    case OP_ALIGNED_ALLOC:
    case OP_MEMALIGN:
        p = varint_put(p, ev->arg);
        p = varint_put(p, ev->size);
        break;
    case OP_FREE:
        p = varint_put(p, w->newest + 1 - ev->id);
        break;
    case OP_FREE_SIZED:
        p = varint_put(p, w->newest + 1 - ev->id);
        p = varint_put(p, ev->size);
        break;
    case OP_FORK:
        p = varint_put(p, ev->arg);
        break;
    case OP_EXEC:
    case OP_MARKER: {
        size_t len = ev->label ? strlen(ev->label) : 0;
        if (len > TRACE_MAX_LABEL)
            len = TRACE_MAX_LABEL;
        p = varint_put(p, len);
        memcpy(p, ev->label, len);
        p += len;
        break;
    }
    default:
        break;
    }
    if (trace_event_makes(op, ev->flags))
        ev->id = ++w->newest;
    w->raw_len += (size_t)(p - start);
    w->block_events++;
    w->h.nevents++;
    return !w->failed;
}

bool trace_writer_close(trace_writer_t *w)
{
    flush_block(w);
    w->h.nobjects = w->newest;
    uint8_t b[HEADER_FIXED];
    encode_header(&w->h, b);
    bool ok = !w->failed && fseek(w->f, 0, SEEK_SET) == 0 &&
              fwrite(b, 1, HEADER_FIXED, w->f) == HEADER_FIXED;
    ok = (fclose(w->f) == 0) && ok;
    if (!ok)
        fprintf(stderr, "ebb: error writing %s\n", w->path);
    ZSTD_freeCCtx(w->cctx);
    free(w->raw);
    free(w->zbuf);
    free(w->path);
    free(w);
    return ok;
}

/* ================= reader ================= */

struct trace_reader {
    const uint8_t *data;
    size_t size;
    bool mapped;
    trace_header_t h;
    size_t pos;            /* file offset of the next block */
    size_t block_offset;   /* file offset of the current block */
    uint64_t block_index;
    ZSTD_DCtx *dctx;
    uint8_t *raw;
    const uint8_t *rp, *rend;
    uint32_t block_left;   /* events still to decode in this block */
    uint64_t events;
    uint64_t newest;
    uint64_t time;
    uint32_t thread;
    uint8_t *live;         /* one byte per object id: 1 while live */
    size_t live_cap;
    char label[TRACE_MAX_LABEL + 1];
};

static void fail(trace_error_t *err, uint64_t offset, const char *fmt, ...)
{
    if (!err)
        return;
    err->offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof err->reason, fmt, ap);
    va_end(ap);
}

static trace_reader_t *open_common(trace_reader_t *r, trace_error_t *err)
{
    const uint8_t *b = r->data;
    if (memcmp(b, TRACE_MAGIC, r->size < 8 ? r->size : 8) != 0 || r->size == 0) {
        fail(err, 0, "not an ebb trace (bad magic)");
        return NULL;
    }
    if (r->size < HEADER_FIXED) {
        fail(err, r->size, "file too short for a trace header (%zu bytes)", r->size);
        return NULL;
    }
    r->h.version = get_u16(b + 8);
    if (r->h.version != TRACE_VERSION) {
        fail(err, 8, "unsupported trace version %u (this ebb reads version %d)",
             r->h.version, TRACE_VERSION);
        return NULL;
    }
    r->h.flags = get_u16(b + 10);
    r->h.page_size = get_u32(b + 12);
    r->h.nthreads = get_u32(b + 16);
    r->h.start_unix_ns = get_u64(b + 24);
    r->h.nevents = get_u64(b + 32);
    r->h.nobjects = get_u64(b + 40);
    r->h.cmdline_len = get_u32(b + 48);
    if (r->h.flags != 0) {
        fail(err, 10, "unknown header flags 0x%x", r->h.flags);
        return NULL;
    }
    if (r->h.page_size < 512 || r->h.page_size > (1u << 20) ||
        (r->h.page_size & (r->h.page_size - 1))) {
        fail(err, 12, "bad page size %u", r->h.page_size);
        return NULL;
    }
    if (r->h.nthreads > TRACE_MAX_THREADS) {
        fail(err, 16, "too many threads (%u)", r->h.nthreads);
        return NULL;
    }
    if (r->h.nobjects > r->h.nevents) {
        fail(err, 40, "more objects (%llu) than events (%llu)",
             (unsigned long long)r->h.nobjects, (unsigned long long)r->h.nevents);
        return NULL;
    }
    if (r->h.cmdline_len > TRACE_MAX_CMDLINE || r->h.cmdline_len > r->size - HEADER_FIXED) {
        fail(err, 48, "bad command line length %u", r->h.cmdline_len);
        return NULL;
    }
    memcpy(r->h.cmdline, b + HEADER_FIXED, r->h.cmdline_len);
    r->pos = HEADER_FIXED + r->h.cmdline_len;
    r->dctx = ZSTD_createDCtx();
    r->raw = malloc(TRACE_BLOCK_RAW_MAX);
    if (!r->dctx || !r->raw) {
        fail(err, 0, "out of memory");
        return NULL;
    }
    return r;
}

static trace_reader_t *new_reader(void)
{
    return calloc(1, sizeof(trace_reader_t));
}

trace_reader_t *trace_reader_open_mem(const uint8_t *data, size_t size, trace_error_t *err)
{
    trace_reader_t *r = new_reader();
    if (!r) {
        fail(err, 0, "out of memory");
        return NULL;
    }
    r->data = data;
    r->size = size;
    if (!open_common(r, err)) {
        trace_reader_close(r);
        return NULL;
    }
    return r;
}

trace_reader_t *trace_reader_open(const char *path, trace_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(err, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fail(err, 0, "not a regular file");
        close(fd);
        return NULL;
    }
    trace_reader_t *r = new_reader();
    if (!r) {
        close(fd);
        fail(err, 0, "out of memory");
        return NULL;
    }
    r->size = (size_t)st.st_size;
    if (r->size > 0) {
        void *m = mmap(NULL, r->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            fail(err, 0, "cannot map: %s", strerror(errno));
            close(fd);
            free(r);
            return NULL;
        }
        r->data = m;
        r->mapped = true;
    } else {
        r->data = (const uint8_t *)"";
    }
    close(fd);
    if (!open_common(r, err)) {
        trace_reader_close(r);
        return NULL;
    }
    return r;
}

const trace_header_t *trace_reader_header(const trace_reader_t *r)
{
    return &r->h;
}

void trace_reader_close(trace_reader_t *r)
{
    if (!r)
        return;
    if (r->mapped)
        munmap((void *)(uintptr_t)r->data, r->size);
    ZSTD_freeDCtx(r->dctx);
    free(r->raw);
    free(r->live);
    free(r);
}

/* Loads the next block; 1 loaded, 0 clean end of file, -1 error. */
static int load_block(trace_reader_t *r, trace_error_t *err)
{
    if (r->pos == r->size)
        return 0;
    r->block_offset = r->pos;
    if (r->size - r->pos < BLOCK_HEADER) {
        fail(err, r->pos, "truncated block header");
        return -1;
    }
    const uint8_t *bh = r->data + r->pos;
    uint32_t magic = get_u32(bh), csize = get_u32(bh + 4), rsize = get_u32(bh + 8);
    uint32_t nev = get_u32(bh + 12);
    if (magic != TRACE_BLOCK_MAGIC) {
        fail(err, r->pos, "bad block magic");
        return -1;
    }
    if (rsize > TRACE_BLOCK_RAW_MAX || rsize == 0) {
        fail(err, r->pos + 8, "bad block size %u", rsize);
        return -1;
    }
    if (nev == 0 || nev > rsize) {
        fail(err, r->pos + 12, "bad event count %u for a block of %u bytes", nev, rsize);
        return -1;
    }
    if (csize > r->size - r->pos - BLOCK_HEADER) {
        fail(err, r->pos + 4, "truncated block: %u bytes declared, %zu left", csize,
             r->size - r->pos - BLOCK_HEADER);
        return -1;
    }
    size_t got = ZSTD_decompressDCtx(r->dctx, r->raw, TRACE_BLOCK_RAW_MAX,
                                     bh + BLOCK_HEADER, csize);
    if (ZSTD_isError(got)) {
        fail(err, r->pos + BLOCK_HEADER, "corrupt block: %s", ZSTD_getErrorName(got));
        return -1;
    }
    if (got != rsize) {
        fail(err, r->pos + 8, "block decompresses to %zu bytes, header says %u", got, rsize);
        return -1;
    }
    r->rp = r->raw;
    r->rend = r->raw + rsize;
    r->block_left = nev;
    r->pos += BLOCK_HEADER + csize;
    r->block_index++;
    return 1;
}

static bool live_set(trace_reader_t *r, uint64_t id, uint8_t v)
{
    if (id >= r->live_cap) {
        size_t cap = r->live_cap ? r->live_cap * 2 : 4096;
        while (cap <= id)
            cap *= 2;
        uint8_t *n = realloc(r->live, cap);
        if (!n)
            return false;
        memset(n + r->live_cap, 0, cap - r->live_cap);
        r->live = n;
        r->live_cap = cap;
    }
    r->live[id] = v;
    return true;
}

/* Decodes a back-reference to a live object. */
static bool get_object(trace_reader_t *r, const uint8_t **p, uint64_t *id, bool allow_null,
                       trace_error_t *err)
{
    uint64_t back;
    if (!varint_get(p, r->rend, &back)) {
        fail(err, r->block_offset, "block %llu, event %llu: truncated object reference",
             (unsigned long long)r->block_index, (unsigned long long)r->events);
        return false;
    }
    if (back == 0 && allow_null) {
        *id = 0;
        return true;
    }
    if (back == 0 || back > r->newest) {
        fail(err, r->block_offset, "block %llu, event %llu: reference to object %llu back, "
             "but only %llu objects exist", (unsigned long long)r->block_index,
             (unsigned long long)r->events, (unsigned long long)back,
             (unsigned long long)r->newest);
        return false;
    }
    *id = r->newest + 1 - back;
    if (!r->live[*id]) {
        fail(err, r->block_offset, "block %llu, event %llu: object %llu is not live",
             (unsigned long long)r->block_index, (unsigned long long)r->events,
             (unsigned long long)*id);
        return false;
    }
    return true;
}

int trace_reader_next(trace_reader_t *r, trace_event_t *ev, trace_error_t *err)
{
    if (r->block_left == 0) {
        if (r->rp != r->rend) {
            fail(err, r->block_offset, "block %llu has %zu bytes after its last event",
                 (unsigned long long)r->block_index, (size_t)(r->rend - r->rp));
            return -1;
        }
        int l = load_block(r, err);
        if (l < 0)
            return -1;
        if (l == 0) {
            if (r->events != r->h.nevents) {
                fail(err, r->size, "trace ends after %llu events, header says %llu",
                     (unsigned long long)r->events, (unsigned long long)r->h.nevents);
                return -1;
            }
            if (r->newest != r->h.nobjects) {
                fail(err, r->size, "trace has %llu objects, header says %llu",
                     (unsigned long long)r->newest, (unsigned long long)r->h.nobjects);
                return -1;
            }
            return 0;
        }
    }
    if (r->events >= r->h.nevents) {
        fail(err, r->block_offset, "more events than the header's %llu",
             (unsigned long long)r->h.nevents);
        return -1;
    }
    const uint8_t *p = r->rp;
    memset(ev, 0, sizeof *ev);
    if (p >= r->rend)
        goto truncated;
    uint8_t b0 = *p++;
    if ((b0 & 0x80) || (b0 & OPBITS) >= OP_COUNT) {
        fail(err, r->block_offset, "block %llu, event %llu: bad operation byte 0x%02x",
             (unsigned long long)r->block_index, (unsigned long long)r->events, b0);
        return -1;
    }
    ev->op = b0 & OPBITS;
    ev->flags = (b0 & F_FAILED) ? EV_FAILED : 0;
    uint64_t v;
    if (b0 & F_THREAD) {
        if (!varint_get(&p, r->rend, &v))
            goto truncated;
        if (v >= r->h.nthreads) {
            fail(err, r->block_offset, "block %llu, event %llu: thread %llu of %u",
                 (unsigned long long)r->block_index, (unsigned long long)r->events,
                 (unsigned long long)v, r->h.nthreads);
            return -1;
        }
        r->thread = (uint32_t)v;
    }
    ev->thread = r->thread;
    if (!varint_get(&p, r->rend, &v))
        goto truncated;
    if (v > UINT64_MAX - r->time)
        goto bad_value;
    r->time += v;
    ev->time_us = r->time;
    switch (ev->op) {
    case OP_MALLOC:
    case OP_VALLOC:
    case OP_PVALLOC:
        if (!varint_get(&p, r->rend, &ev->size))
            goto truncated;
        break;
    case OP_CALLOC:
        if (!varint_get(&p, r->rend, &ev->size) || !varint_get(&p, r->rend, &ev->arg))
            goto truncated;
        break;
    case OP_REALLOC:
        if (!get_object(r, &p, &ev->old, true, err))
            return -1;
        if (!varint_get(&p, r->rend, &ev->size))
            goto truncated;
        break;
    case OP_POSIX_MEMALIGN:
    case OP_ALIGNED_ALLOC:
    case OP_MEMALIGN:
        if (!varint_get(&p, r->rend, &ev->arg) || !varint_get(&p, r->rend, &ev->size))
            goto truncated;
        break;
    case OP_FREE:
        if (!get_object(r, &p, &ev->id, false, err))
            return -1;
        break;
    case OP_FREE_SIZED:
        if (!get_object(r, &p, &ev->id, false, err))
            return -1;
        if (!varint_get(&p, r->rend, &ev->size))
            goto truncated;
        break;
    case OP_FORK:
        if (!varint_get(&p, r->rend, &ev->arg))
            goto truncated;
        break;
    case OP_EXEC:
    case OP_MARKER:
        if (!varint_get(&p, r->rend, &v))
            goto truncated;
        if (v > TRACE_MAX_LABEL || v > (uint64_t)(r->rend - p))
            goto bad_value;
        memcpy(r->label, p, v);
        r->label[v] = 0;
        p += v;
        ev->label = r->label;
        break;
    default:
        break;
    }
    /* Object bookkeeping: which ids exist and which are live. */
    if (ev->op == OP_FREE || ev->op == OP_FREE_SIZED) {
        r->live[ev->id] = 0;
    } else if (trace_op_allocates(ev->op)) {
        bool makes = trace_event_makes(ev->op, ev->flags);
        if (ev->op == OP_REALLOC && ev->old && trace_realloc_releases(ev->flags, ev->size))
            r->live[ev->old] = 0;
        if (makes) {
            if (r->newest >= r->h.nobjects) {
                fail(err, r->block_offset, "more objects than the header's %llu",
                     (unsigned long long)r->h.nobjects);
                return -1;
            }
            ev->id = ++r->newest;
            if (!live_set(r, ev->id, 1)) {
                fail(err, r->block_offset, "out of memory");
                return -1;
            }
        }
    } else if (ev->flags & EV_FAILED) {
        goto bad_value;
    }
    r->rp = p;
    r->block_left--;
    r->events++;
    return 1;
truncated:
    fail(err, r->block_offset, "block %llu, event %llu: truncated event",
         (unsigned long long)r->block_index, (unsigned long long)r->events);
    return -1;
bad_value:
    fail(err, r->block_offset, "block %llu, event %llu: bad value in a %s event",
         (unsigned long long)r->block_index, (unsigned long long)r->events,
         trace_op_name(ev->op));
    return -1;
}
