/* raw.h — the recorder's raw file, written by libebb-record.so through a shared file
 * mapping while the program runs, and turned into a trace by `ebb record` (or
 * `ebb convert`) afterwards. Everything is in the mapping, so a program killed by
 * SIGKILL leaves every complete event in the file.
 *
 *   [0, RAW_HEADER_SIZE)  header
 *   then chunks of RAW_CHUNK_SIZE bytes, handed to threads in order; each starts with
 *   a chunk header and holds events of one thread. chunk.used counts the bytes of
 *   complete events; it is stored (release) after each event is written.
 *
 * Events in a chunk: op byte (| RAW_F_NULL when the call returned NULL), varint time
 * delta in ns (the first event of a chunk: time since the start), then the fields of
 * the op (see record.c), with addresses as plain varints. Objects are not numbered
 * here: the converter maps addresses to objects, in time order. */
#ifndef EBB_RAW_H
#define EBB_RAW_H

#include <stdatomic.h>
#include <stdint.h>

#define RAW_MAGIC "EBBRAW\0\1"
#define RAW_HEADER_SIZE 8192u
#define RAW_CHUNK_SIZE (256u * 1024u)
#define RAW_FILE_MAX ((uint64_t)64 << 30) /* sparse; only what is written takes space */
#define RAW_CHUNK_MAGIC 0x4b484345u       /* "ECHK" */
#define RAW_F_NULL 0x40
#define RAW_MAX_LABEL 4096

typedef struct raw_header {
    char magic[8];
    uint32_t page_size;
    uint32_t pid;
    uint32_t ppid;
    uint32_t cmdline_len;
    uint64_t start_unix_ns;
    uint64_t start_mono_ns;
    _Atomic uint64_t next_chunk; /* file offset of the next chunk to hand out */
    _Atomic uint32_t nthreads;
    uint32_t reserved;
    char cmdline[RAW_HEADER_SIZE - 56];
} raw_header_t;

typedef struct raw_chunk {
    uint32_t magic;
    uint32_t thread;
    uint32_t seq;           /* the thread's n-th chunk */
    _Atomic uint32_t used;  /* bytes of complete events after this header */
} raw_chunk_t;

_Static_assert(sizeof(raw_header_t) == RAW_HEADER_SIZE, "raw header size");

#endif
