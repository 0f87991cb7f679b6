/* trace_roundtrip.c — write random events with the trace writer, read them back, and
 * require every field to match; then check that the reader rejects every truncation
 * of the file with an offset and a reason, never a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "trace.h"

#define N 200000

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

int main(void)
{
    char path[] = "/tmp/ebb-roundtrip-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    trace_header_t h;
    memset(&h, 0, sizeof h);
    h.page_size = 4096;
    h.cmdline_len = 9;
    memcpy(h.cmdline, "prog\0arg1", 9);
    trace_writer_t *w = trace_writer_open(path, &h, 3);
    CHECK(w != NULL);
    static trace_event_t written[N];
    static uint64_t live[N];
    size_t nlive = 0;
    uint64_t s = 12345, t = 0;
    for (int i = 0; i < N; i++) {
        trace_event_t ev;
        memset(&ev, 0, sizeof ev);
        ev.thread = (uint32_t)(rnd(&s) % 7);
        t += rnd(&s) % 50;
        ev.time_us = t;
        unsigned pick = (unsigned)(rnd(&s) % 10);
        if (pick < 4 || nlive == 0) {
            ev.op = (uint8_t)(rnd(&s) % 8); /* one of the allocating calls */
            ev.size = rnd(&s) % 100000;
            ev.arg = ev.op == OP_CALLOC ? rnd(&s) % 64 : 1u << (rnd(&s) % 20);
            if (ev.op == OP_REALLOC) {
                ev.arg = 0;
                ev.old = nlive && rnd(&s) % 2 ? live[--nlive] : 0;
            }
            if (rnd(&s) % 50 == 0)
                ev.flags = EV_FAILED;
            if (ev.op == OP_REALLOC && ev.old && (ev.flags & EV_FAILED) && ev.size)
                live[nlive++] = ev.old; /* a failed realloc keeps its block */
        } else if (pick < 8) {
            size_t k = rnd(&s) % nlive;
            ev.op = rnd(&s) % 2 ? OP_FREE : OP_FREE_SIZED;
            ev.id = live[k];
            ev.size = ev.op == OP_FREE_SIZED ? rnd(&s) % 1000 : 0;
            live[k] = live[--nlive];
        } else if (pick == 8) {
            ev.op = OP_MARKER;
            ev.label = "phase";
        } else {
            ev.op = (uint8_t)(OP_THREAD_START + rnd(&s) % 3);
            ev.arg = ev.op == OP_FORK ? rnd(&s) % 100000 : 0;
        }
        CHECK(trace_writer_add(w, &ev));
        if (trace_event_makes(ev.op, ev.flags))
            live[nlive++] = ev.id;
        written[i] = ev;
    }
    CHECK(trace_writer_close(w));

    trace_error_t err;
    trace_reader_t *r = trace_reader_open(path, &err);
    CHECKF(r != NULL, "open: offset %llu: %s", (unsigned long long)err.offset, err.reason);
    if (!r)
        return check_report("trace-roundtrip");
    CHECK(trace_reader_header(r)->nevents == N);
    CHECK(memcmp(trace_reader_header(r)->cmdline, "prog\0arg1", 9) == 0);
    trace_event_t ev;
    long mismatches = 0;
    int i = 0, rc;
    while ((rc = trace_reader_next(r, &ev, &err)) == 1) {
        const trace_event_t *x = &written[i++];
        bool same = ev.op == x->op && ev.flags == x->flags && ev.thread == x->thread &&
                    ev.time_us == x->time_us && ev.size == x->size &&
                    (ev.op == OP_FREE || ev.op == OP_FREE_SIZED || trace_op_allocates(ev.op)
                         ? ev.id == x->id : true) &&
                    ev.old == x->old &&
                    (ev.op == OP_CALLOC || ev.op == OP_FORK || ev.op == OP_ALIGNED_ALLOC ||
                     ev.op == OP_MEMALIGN || ev.op == OP_POSIX_MEMALIGN ? ev.arg == x->arg : true) &&
                    (ev.op == OP_MARKER ? strcmp(ev.label, "phase") == 0 : true);
        mismatches += !same;
    }
    CHECKF(rc == 0, "read: offset %llu: %s", (unsigned long long)err.offset, err.reason);
    CHECK(i == N);
    CHECKF(mismatches == 0, "%ld events differ", mismatches);
    trace_reader_close(r);

    /* Every truncation is an error with an offset, never a crash or a clean end. */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc((size_t)size);
    CHECK(fread(data, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    long accepted = 0;
    for (long cut = 0; cut < size; cut += 1 + cut / 50) {
        trace_reader_t *t2 = trace_reader_open_mem(data, (size_t)cut, &err);
        int got = t2 ? 1 : -1;
        while (t2 && (got = trace_reader_next(t2, &ev, &err)) == 1)
            ;
        accepted += got == 0;
        trace_reader_close(t2);
    }
    CHECKF(accepted == 0, "%ld truncated files were accepted", accepted);
    /* Flipped bytes: rejected or read in full, never a crash. */
    uint64_t seed = 99;
    for (int k = 0; k < 300; k++) {
        uint8_t *copy = malloc((size_t)size);
        memcpy(copy, data, (size_t)size);
        copy[rnd(&seed) % (uint64_t)size] ^= (uint8_t)(1 + rnd(&seed) % 255);
        trace_reader_t *t2 = trace_reader_open_mem(copy, (size_t)size, &err);
        while (t2 && trace_reader_next(t2, &ev, &err) == 1)
            ;
        trace_reader_close(t2);
        free(copy);
    }
    free(data);
    unlink(path);
    return check_report("trace-roundtrip");
}
