/* trace.h — the ebb trace format (specified in traces/FORMAT.md): a header, then zstd
 * blocks of events in one global order. Objects are numbered in the order they were
 * allocated (id 1, 2, ...), so an allocation carries no id; a free names the object by
 * its distance back from the newest id. The reader validates everything and reports
 * the byte offset and reason of the first problem. */
#ifndef EBB_TRACE_H
#define EBB_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TRACE_MAGIC "EBBTRACE"
#define TRACE_VERSION 1
#define TRACE_BLOCK_MAGIC 0x4b4c4245u /* "EBLK" little-endian */
#define TRACE_BLOCK_RAW_MAX (1u << 20)
#define TRACE_MAX_THREADS 65536
#define TRACE_MAX_CMDLINE 65536
#define TRACE_MAX_LABEL 4096
#define EBB_TRACE_LEVEL 12 /* zstd level of recorded traces: small files, fast enough */

/* Operations. The allocation calls come first; their order is part of the format. */
typedef enum trace_op {
    OP_MALLOC = 0,
    OP_CALLOC,         /* size = nmemb, arg = elem size */
    OP_REALLOC,        /* old = object or 0 for NULL */
    OP_POSIX_MEMALIGN, /* arg = alignment */
    OP_ALIGNED_ALLOC,  /* arg = alignment */
    OP_MEMALIGN,       /* arg = alignment */
    OP_VALLOC,
    OP_PVALLOC,
    OP_FREE,
    OP_FREE_SIZED,     /* size = the size passed */
    OP_THREAD_START,
    OP_THREAD_EXIT,
    OP_FORK,           /* arg = child pid */
    OP_EXEC,           /* label = program path */
    OP_MARKER,         /* label = phase name */
    OP_COUNT
} trace_op_t;

/* Event flags. */
#define EV_FAILED 1u /* the call returned NULL (or an error): no object was made. For
                        realloc(p, 0) this is glibc's normal answer: p was freed. */

typedef struct trace_event {
    uint8_t op;
    uint8_t flags;
    uint32_t thread;
    uint64_t time_us;  /* since the start of recording */
    uint64_t id;       /* object made (allocations, realloc) or released (free) */
    uint64_t old;      /* realloc: the object passed in, 0 for NULL */
    uint64_t size;     /* bytes requested (calloc: nmemb * elem) */
    uint64_t arg;      /* calloc elem size, alignment, or fork child pid */
    const char *label; /* exec, marker: NUL-terminated, valid until the next event */
} trace_event_t;

typedef struct trace_header {
    uint16_t version;
    uint16_t flags;
    uint32_t page_size;
    uint32_t nthreads;
    uint64_t start_unix_ns;
    uint64_t nevents;
    uint64_t nobjects;
    uint32_t cmdline_len;
    char cmdline[TRACE_MAX_CMDLINE]; /* arguments separated by NUL */
} trace_header_t;

/* ---- writing ---- */
typedef struct trace_writer trace_writer_t;
/* Creates FILE (replaced if it exists); NULL with a message on stderr on failure. */
trace_writer_t *trace_writer_open(const char *path, const trace_header_t *h, int level);
/* Appends an event. Allocation events get the next object id (returned in ev->id). */
bool trace_writer_add(trace_writer_t *w, trace_event_t *ev);
/* Flushes, writes the final counts into the header, closes. */
bool trace_writer_close(trace_writer_t *w);

/* ---- reading ---- */
typedef struct trace_reader trace_reader_t;
typedef struct trace_error {
    uint64_t offset;
    char reason[256];
} trace_error_t;

/* Opens and checks the header. NULL and *err filled on failure. */
trace_reader_t *trace_reader_open(const char *path, trace_error_t *err);
const trace_header_t *trace_reader_header(const trace_reader_t *r);
/* Next event: 1 event read, 0 end of trace (all counts checked), -1 error in *err. */
int trace_reader_next(trace_reader_t *r, trace_event_t *ev, trace_error_t *err);
void trace_reader_close(trace_reader_t *r);
/* Opens from memory (for fuzzing); the buffer must outlive the reader. */
trace_reader_t *trace_reader_open_mem(const uint8_t *data, size_t size, trace_error_t *err);

const char *trace_op_name(unsigned op);
bool trace_op_allocates(unsigned op);

/* Whether an allocation event made a new object. */
static inline bool trace_event_makes(unsigned op, unsigned flags)
{
    return trace_op_allocates(op) && !(flags & EV_FAILED);
}

/* Whether a realloc released the object passed in: it succeeded, or it was given size 0
 * (glibc frees and returns NULL). */
static inline bool trace_realloc_releases(unsigned flags, uint64_t size)
{
    return !(flags & EV_FAILED) || size == 0;
}

/* Bytes an allocation event asked for (calloc: nmemb * elem, saturated). */
static inline uint64_t trace_event_bytes(const trace_event_t *ev)
{
    if (ev->op != OP_CALLOC)
        return ev->size;
    uint64_t total;
    return __builtin_mul_overflow(ev->size, ev->arg, &total) ? UINT64_MAX : total;
}

#endif
