/* record.c — libebb-record.so, the recorder shim. Preloaded by `ebb record`, it forwards
 * every allocation call to the next allocator in the process (glibc's, or another one
 * preloaded after it) and logs the call into the raw file (raw.h).
 *
 * Ordering is correct by construction: a free is logged (with its time) before the
 * block is released, an allocation after it returns, and a realloc carries both times,
 * so that when the converter sorts events by time an address is never handed out
 * again before the free that released it. Each thread writes its own chunks of the
 * shared mapping: no lock on the hot path, one atomic add per 256 KiB chunk.
 * The child of a fork starts its own raw file; an exec'ed program (the shim is still
 * preloaded) too. Recording is off unless EBB_RECORD_DIR names a directory. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "raw.h"
#include "trace.h"
#include "varint.h"

#define EXPORT __attribute__((visibility("default")))

/* Declared here: this libc's headers lack some, and malloc.h would drag in more. */
void *memalign(size_t align, size_t n);
void *pvalloc(size_t n);
void free_sized(void *p, size_t n);
void free_aligned_sized(void *p, size_t align, size_t n);
size_t malloc_usable_size(void *p);
void ebb_record_marker(const char *label);
#define MAX_EVENT (2 + 6 * VARINT_MAX)

/* ---- the real functions ---- */

static struct {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    void (*free_sized)(void *, size_t);
    void (*free_aligned_sized)(void *, size_t, size_t);
    size_t (*malloc_usable_size)(void *);
    pid_t (*fork)(void);
    int (*execve)(const char *, char *const[], char *const[]);
    int (*execv)(const char *, char *const[]);
    int (*execvp)(const char *, char *const[]);
    int (*execvpe)(const char *, char *const[], char *const[]);
} real;

/* dlsym may allocate while we resolve the real functions: serve that from here. */
static char bootstrap[64 * 1024] __attribute__((aligned(16)));
static _Atomic size_t bootstrap_used;

static bool in_bootstrap(const void *p)
{
    return (const char *)p >= bootstrap && (const char *)p < bootstrap + sizeof bootstrap;
}

static void *bootstrap_alloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    size_t at = atomic_fetch_add(&bootstrap_used, n + 16);
    if (at + n + 16 > sizeof bootstrap)
        return NULL;
    memcpy(bootstrap + at, &n, sizeof n); /* size, for realloc */
    return bootstrap + at + 16;
}

static _Atomic int resolve_state; /* 0 not yet, 1 resolving, 2 done */

static void resolve(void)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&resolve_state, &expected, 1)) {
        while (atomic_load(&resolve_state) != 2)
            ;
        return;
    }
#define R(name) real.name = (__typeof__(real.name))dlsym(RTLD_NEXT, #name)
    R(malloc);
    R(free);
    R(calloc);
    R(realloc);
    R(posix_memalign);
    R(aligned_alloc);
    R(memalign);
    R(valloc);
    R(pvalloc);
    R(free_sized);
    R(free_aligned_sized);
    R(malloc_usable_size);
    R(fork);
    R(execve);
    R(execv);
    R(execvp);
    R(execvpe);
#undef R
    atomic_store(&resolve_state, 2);
}

/* Inside resolve() on the resolving thread, real.* may still be NULL. */
static inline bool resolving(void)
{
    if (__builtin_expect(atomic_load_explicit(&resolve_state, memory_order_acquire) == 2, 1))
        return false;
    if (atomic_load(&resolve_state) == 0)
        resolve();
    return atomic_load(&resolve_state) != 2;
}

/* ---- the raw file ---- */

static raw_header_t *hdr;          /* NULL: not recording */
static _Atomic uint64_t generation; /* changes when a fork child starts a new file */
static _Atomic int open_state;      /* 0 not yet, 1 opening, 2 done */
static pthread_key_t exit_key;

typedef struct thread_state {
    uint64_t generation;
    raw_chunk_t *chunk;
    uint32_t pos;
    uint32_t thread;
    uint32_t seq;
    uint64_t last_ns;
    int depth; /* > 0 inside a logged call: nested calls are not logged */
} thread_state_t;

static __thread thread_state_t ts __attribute__((tls_model("initial-exec")));

static uint64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void read_cmdline(raw_header_t *h)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, h->cmdline, sizeof h->cmdline);
    close(fd);
    if (n > 0)
        h->cmdline_len = (uint32_t)n;
}

/* Creates DIR/<pid>-<n>.raw and maps it. */
static void open_raw_file(void)
{
    hdr = NULL;
    const char *dir = getenv("EBB_RECORD_DIR");
    if (!dir || !*dir)
        return;
    char path[4096];
    int fd = -1;
    for (int n = 0; n < 1000 && fd < 0; n++) {
        if (snprintf(path, sizeof path, "%s/%d-%d.raw", dir, (int)getpid(), n) >= (int)sizeof path)
            return;
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST)
            return;
    }
    if (fd < 0)
        return;
    if (ftruncate(fd, (off_t)RAW_FILE_MAX) != 0) {
        close(fd);
        return;
    }
    void *m = mmap(NULL, RAW_FILE_MAX, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return;
    raw_header_t *h = m;
    h->page_size = (uint32_t)sysconf(_SC_PAGESIZE);
    h->pid = (uint32_t)getpid();
    h->ppid = (uint32_t)getppid();
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    h->start_unix_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    h->start_mono_ns = mono_ns();
    atomic_store(&h->next_chunk, RAW_HEADER_SIZE);
    atomic_store(&h->nthreads, 0);
    read_cmdline(h);
    memcpy(h->magic, RAW_MAGIC, 8); /* last: a reader sees a complete header or none */
    hdr = h;
}

static void thread_exit(void *arg);

static void ensure_open(void)
{
    if (__builtin_expect(atomic_load_explicit(&open_state, memory_order_acquire) == 2, 1))
        return;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&open_state, &expected, 1)) {
        while (atomic_load(&open_state) != 2)
            ;
        return;
    }
    static bool key_made;
    if (!key_made) {
        pthread_key_create(&exit_key, thread_exit);
        key_made = true;
    }
    open_raw_file();
    atomic_fetch_add(&generation, 1);
    atomic_store(&open_state, 2);
}

/* Room for one event in this thread's chunk; NULL when not recording. */
static uint8_t *event_begin(size_t need)
{
    ensure_open();
    if (!hdr)
        return NULL;
    uint64_t gen = atomic_load_explicit(&generation, memory_order_relaxed);
    bool fresh = ts.generation != gen;
    if (fresh) {
        ts.generation = gen;
        ts.chunk = NULL;
        ts.seq = 0;
        ts.thread = atomic_fetch_add(&hdr->nthreads, 1);
        pthread_setspecific(exit_key, (void *)1);
        need += 2 + VARINT_MAX; /* the thread-start event written first */
    }
    if (!ts.chunk || ts.pos + need > RAW_CHUNK_SIZE - sizeof(raw_chunk_t)) {
        uint64_t off = atomic_fetch_add(&hdr->next_chunk, RAW_CHUNK_SIZE);
        if (off + RAW_CHUNK_SIZE > RAW_FILE_MAX)
            return NULL;
        raw_chunk_t *c = (raw_chunk_t *)((char *)hdr + off);
        c->thread = ts.thread;
        c->seq = ts.seq++;
        atomic_store_explicit(&c->used, 0, memory_order_relaxed);
        c->magic = RAW_CHUNK_MAGIC;
        ts.chunk = c;
        ts.pos = 0;
        ts.last_ns = 0; /* first event of a chunk: time since the start */
    }
    uint8_t *p = (uint8_t *)(ts.chunk + 1) + ts.pos;
    if (fresh) {
        uint64_t now = mono_ns() - hdr->start_mono_ns;
        *p++ = OP_THREAD_START;
        p = varint_put(p, now - ts.last_ns);
        ts.last_ns = now;
    }
    return p;
}

static uint8_t *put_time(uint8_t *p, uint64_t t_abs)
{
    uint64_t t = t_abs - hdr->start_mono_ns;
    if (t < ts.last_ns)
        t = ts.last_ns;
    p = varint_put(p, t - ts.last_ns);
    ts.last_ns = t;
    return p;
}

static void event_end(uint8_t *p)
{
    ts.pos = (uint32_t)(p - (uint8_t *)(ts.chunk + 1));
    atomic_store_explicit(&ts.chunk->used, ts.pos, memory_order_release);
}

/* op with flags, time, then up to four varint fields. */
static void log_event(unsigned op, bool null, uint64_t t, int n, uint64_t a, uint64_t b,
                      uint64_t c, uint64_t d)
{
    uint8_t *p = event_begin(MAX_EVENT);
    if (!p)
        return;
    *p++ = (uint8_t)(op | (null ? RAW_F_NULL : 0));
    p = put_time(p, t);
    uint64_t f[4] = {a, b, c, d};
    for (int i = 0; i < n; i++)
        p = varint_put(p, f[i]);
    event_end(p);
}

static void log_label(unsigned op, const char *label)
{
    size_t len = label ? strnlen(label, RAW_MAX_LABEL) : 0;
    uint8_t *p = event_begin(MAX_EVENT + len);
    if (!p)
        return;
    *p++ = (uint8_t)op;
    p = put_time(p, mono_ns());
    p = varint_put(p, len);
    memcpy(p, label, len);
    event_end(p + len);
}

static void thread_exit(void *arg)
{
    (void)arg;
    if (hdr && ts.generation == atomic_load(&generation))
        log_event(OP_THREAD_EXIT, false, mono_ns(), 0, 0, 0, 0, 0);
}

__attribute__((constructor)) static void record_init(void)
{
    if (!resolving())
        ensure_open();
}

/* Called around every logged call: nested calls (from inside the real allocator) are
 * forwarded without being logged. */
#define ENTER() (ts.depth++ == 0)
#define LEAVE() (ts.depth--)

/* ---- the interposed functions ---- */

EXPORT void *malloc(size_t n)
{
    if (resolving())
        return bootstrap_alloc(n);
    bool log = ENTER();
    void *p = real.malloc(n);
    if (log)
        log_event(OP_MALLOC, !p, mono_ns(), 2, n, (uintptr_t)p, 0, 0);
    LEAVE();
    return p;
}

EXPORT void free(void *p)
{
    if (!p || in_bootstrap(p) || resolving())
        return;
    bool log = ENTER();
    if (log)
        log_event(OP_FREE, false, mono_ns(), 1, (uintptr_t)p, 0, 0, 0);
    real.free(p);
    LEAVE();
}

EXPORT void *calloc(size_t n, size_t m)
{
    if (resolving()) {
        size_t total;
        if (__builtin_mul_overflow(n, m, &total))
            return NULL;
        return bootstrap_alloc(total); /* static memory is zero */
    }
    bool log = ENTER();
    void *p = real.calloc(n, m);
    if (log)
        log_event(OP_CALLOC, !p, mono_ns(), 3, n, m, (uintptr_t)p, 0);
    LEAVE();
    return p;
}

EXPORT void *realloc(void *old, size_t n)
{
    if (resolving())
        return NULL;
    if (in_bootstrap(old)) {
        size_t had;
        memcpy(&had, (char *)old - 16, sizeof had);
        void *p = malloc(n);
        if (p)
            memcpy(p, old, had < n ? had : n);
        return p;
    }
    bool log = ENTER();
    uint64_t t0 = mono_ns();
    void *p = real.realloc(old, n);
    if (log) {
        uint64_t t1 = mono_ns();
        log_event(OP_REALLOC, !p, t0, 4, (uintptr_t)old, n, (uintptr_t)p, t1 - t0);
    }
    LEAVE();
    return p;
}

EXPORT void *reallocarray(void *old, size_t n, size_t m)
{
    size_t total;
    if (__builtin_mul_overflow(n, m, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(old, total);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (resolving())
        return ENOMEM;
    bool log = ENTER();
    int rc = real.posix_memalign(out, align, n);
    if (log)
        log_event(OP_POSIX_MEMALIGN, rc != 0, mono_ns(), 3, align, n,
                  rc == 0 ? (uintptr_t)*out : 0, 0);
    LEAVE();
    return rc;
}

#define ALIGNED_WRAPPER(name, op)                                                        \
    EXPORT void *name(size_t align, size_t n)                                            \
    {                                                                                    \
        if (resolving())                                                                 \
            return NULL;                                                                 \
        bool log = ENTER();                                                              \
        void *p = real.name(align, n);                                                   \
        if (log)                                                                         \
            log_event(op, !p, mono_ns(), 3, align, n, (uintptr_t)p, 0);                  \
        LEAVE();                                                                         \
        return p;                                                                        \
    }
ALIGNED_WRAPPER(aligned_alloc, OP_ALIGNED_ALLOC)
ALIGNED_WRAPPER(memalign, OP_MEMALIGN)

#define PAGE_WRAPPER(name, op)                                                           \
    EXPORT void *name(size_t n)                                                          \
    {                                                                                    \
        if (resolving())                                                                 \
            return NULL;                                                                 \
        bool log = ENTER();                                                              \
        void *p = real.name(n);                                                          \
        if (log)                                                                         \
            log_event(op, !p, mono_ns(), 2, n, (uintptr_t)p, 0, 0);                      \
        LEAVE();                                                                         \
        return p;                                                                        \
    }
PAGE_WRAPPER(valloc, OP_VALLOC)
PAGE_WRAPPER(pvalloc, OP_PVALLOC)

EXPORT void free_sized(void *p, size_t n)
{
    if (!p || in_bootstrap(p) || resolving())
        return;
    bool log = ENTER();
    if (log)
        log_event(OP_FREE_SIZED, false, mono_ns(), 2, (uintptr_t)p, n, 0, 0);
    if (real.free_sized)
        real.free_sized(p, n);
    else
        real.free(p);
    LEAVE();
}

EXPORT void free_aligned_sized(void *p, size_t align, size_t n)
{
    if (!p || in_bootstrap(p) || resolving())
        return;
    bool log = ENTER();
    if (log)
        log_event(OP_FREE_SIZED, false, mono_ns(), 2, (uintptr_t)p, n, 0, 0);
    if (real.free_aligned_sized)
        real.free_aligned_sized(p, align, n);
    else
        real.free(p);
    LEAVE();
}

EXPORT size_t malloc_usable_size(void *p)
{
    if (!p || in_bootstrap(p) || resolving())
        return 0;
    return real.malloc_usable_size ? real.malloc_usable_size(p) : 0;
}

/* ---- process events ---- */

EXPORT pid_t fork(void)
{
    resolving();
    pid_t pid = real.fork();
    if (pid == 0) {
        /* The child writes its own trace: a new file and new thread numbers. The
         * parent's mapping stays shared; the child never writes to it again. */
        hdr = NULL;
        atomic_store(&open_state, 0);
        ts.generation = 0;
        ensure_open();
    } else if (pid > 0) {
        log_event(OP_FORK, false, mono_ns(), 1, (uint64_t)pid, 0, 0, 0);
    }
    return pid;
}

#define EXEC_LOG(path) log_label(OP_EXEC, path)

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    resolving();
    EXEC_LOG(path);
    return real.execve(path, argv, envp);
}

EXPORT int execv(const char *path, char *const argv[])
{
    resolving();
    EXEC_LOG(path);
    return real.execv(path, argv);
}

EXPORT int execvp(const char *file, char *const argv[])
{
    resolving();
    EXEC_LOG(file);
    return real.execvp(file, argv);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    resolving();
    EXEC_LOG(file);
    return real.execvpe(file, argv, envp);
}

/* The l-forms build their argument vector and go through the v-forms above (glibc's
 * own call execve internally, out of reach of interposition). */
#define MAX_EXEC_ARGS 65536

/* The argument vector of an l-form, in memory from mmap (not the program's
 * allocator, not the stack of a thread that may be small); NULL if none. */
static char **collect_args(const char *arg0, va_list ap, char *const **envp)
{
    char **argv = mmap(NULL, MAX_EXEC_ARGS * sizeof(char *), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (argv == MAP_FAILED) {
        errno = E2BIG;
        return NULL;
    }
    int n = 0;
    argv[n++] = (char *)(uintptr_t)arg0;
    while (n < MAX_EXEC_ARGS - 1 && (argv[n] = va_arg(ap, char *)) != NULL)
        n++;
    argv[n] = NULL;
    if (envp)
        *envp = va_arg(ap, char *const *);
    return argv;
}

static int exec_done(char **argv, int rc)
{
    int saved = errno;
    munmap(argv, MAX_EXEC_ARGS * sizeof(char *));
    errno = saved;
    return rc;
}

EXPORT int execl(const char *path, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    char **argv = collect_args(arg0, ap, NULL);
    va_end(ap);
    return argv ? exec_done(argv, execv(path, argv)) : -1;
}

EXPORT int execlp(const char *file, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    char **argv = collect_args(arg0, ap, NULL);
    va_end(ap);
    return argv ? exec_done(argv, execvp(file, argv)) : -1;
}

EXPORT int execle(const char *path, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    char *const *envp = NULL;
    char **argv = collect_args(arg0, ap, &envp);
    va_end(ap);
    return argv ? exec_done(argv, execve(path, argv, envp)) : -1;
}

/* Phase markers from the program: find it with dlsym(RTLD_DEFAULT, "ebb_record_marker"). */
EXPORT void ebb_record_marker(const char *label)
{
    if (!resolving())
        log_label(OP_MARKER, label);
}
