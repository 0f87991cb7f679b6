/* fuzz_trace.c — libFuzzer target: the trace reader on arbitrary bytes must reject or
 * read them, never crash, leak or allocate without bound. */
#include <stddef.h>
#include <stdint.h>

#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    trace_error_t err;
    trace_reader_t *r = trace_reader_open_mem(data, size, &err);
    if (!r)
        return 0;
    trace_event_t ev;
    while (trace_reader_next(r, &ev, &err) == 1)
        ;
    trace_reader_close(r);
    return 0;
}
