/* info.c — `ebb info TRACE`: what a trace holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "trace.h"

int cmd_info(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ebb info TRACE\n");
        return 2;
    }
    const char *path = argv[1];
    trace_error_t err;
    trace_reader_t *r = trace_reader_open(path, &err);
    if (!r)
        return cli_trace_error(path, &err);
    const trace_header_t *h = trace_reader_header(r);
    uint64_t count[OP_COUNT] = {0}, hist[65] = {0}, failed = 0;
    uint64_t live = 0, peak = 0, peak_at = 0, live_objects = 0, n = 0, end_us = 0;
    /* sizes of live objects, to know what a free releases */
    uint64_t *sizes = NULL;
    size_t cap = 0;
    trace_event_t ev;
    int rc;
    while ((rc = trace_reader_next(r, &ev, &err)) == 1) {
        n++;
        count[ev.op]++;
        end_us = ev.time_us;
        if (ev.flags & EV_FAILED)
            failed++;
        if (ev.op == OP_FREE || ev.op == OP_FREE_SIZED) {
            live -= sizes[ev.id];
            live_objects--;
        }
        if (ev.op == OP_REALLOC && ev.old && trace_realloc_releases(ev.flags, ev.size)) {
            live -= sizes[ev.old];
            live_objects--;
        }
        if (trace_event_makes(ev.op, ev.flags)) {
            uint64_t bytes = trace_event_bytes(&ev);
            if (ev.id >= cap) {
                size_t ncap = cap ? cap * 2 : 65536;
                while (ncap <= ev.id)
                    ncap *= 2;
                uint64_t *s = realloc(sizes, ncap * sizeof *s);
                if (!s) {
                    fprintf(stderr, "ebb: out of memory\n");
                    free(sizes);
                    trace_reader_close(r);
                    return 1;
                }
                sizes = s;
                cap = ncap;
            }
            sizes[ev.id] = bytes;
            live += bytes;
            live_objects++;
            hist[bytes ? 64 - __builtin_clzll(bytes) : 0]++;
            if (live > peak) {
                peak = live;
                peak_at = n;
            }
        }
    }
    free(sizes);
    if (rc < 0) {
        trace_reader_close(r);
        return cli_trace_error(path, &err);
    }
    struct stat st;
    stat(path, &st);
    printf("trace:        %s\n", path);
    printf("command:      ");
    for (uint32_t i = 0; i < h->cmdline_len; i++)
        putchar(h->cmdline[i] ? h->cmdline[i] : ' ');
    printf("\nevents:       %llu (%.2f bytes each in the file)\n", (unsigned long long)n,
           n ? (double)st.st_size / (double)n : 0.0);
    printf("threads:      %u\n", h->nthreads);
    printf("objects:      %llu made, %llu live at the end\n",
           (unsigned long long)h->nobjects, (unsigned long long)live_objects);
    printf("peak live:    %llu bytes (at event %llu)\n", (unsigned long long)peak,
           (unsigned long long)peak_at);
    printf("live at end:  %llu bytes\n", (unsigned long long)live);
    printf("duration:     %.3f s\n", (double)end_us / 1e6);
    printf("failed calls: %llu\n", (unsigned long long)failed);
    printf("calls:\n");
    for (int op = 0; op < OP_COUNT; op++)
        if (count[op])
            printf("  %-16s %llu\n", trace_op_name((unsigned)op), (unsigned long long)count[op]);
    printf("sizes (objects made):\n");
    for (int b = 0; b < 65; b++) {
        if (!hist[b])
            continue;
        unsigned long long lo = b ? 1ull << (b - 1) : 0, hi = b ? (b == 64 ? ~0ull : (1ull << b) - 1) : 0;
        printf("  %12llu .. %-12llu %llu\n", lo, hi, (unsigned long long)hist[b]);
    }
    trace_reader_close(r);
    return 0;
}
