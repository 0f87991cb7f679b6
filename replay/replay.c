/* replay.c — `ebb replay TRACE --alloc A`: run a trace's calls against an allocator.
 *
 * The parent (running on whatever malloc it has) decodes and validates the trace into
 * a compact program of per-thread operations in a memfd, then re-executes ebb with the
 * allocator under test preloaded. The child maps the program, so nothing it measures
 * was allocated by the allocator under test: its own memory (program, object slots,
 * samples) comes from mmap and is touched before the baseline is taken. One replay
 * thread runs each recorded thread's calls, started when the replay reaches the
 * thread's first call and kept within a window of the trace's order ("Trace order"
 * below); it also waits when it frees (or reallocs) an object that another thread
 * allocates and that has not been allocated yet. Every block is written once per page,
 * so its pages are resident. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "replay.h"
#include "trace.h"

/* Allocator time is read around each call with call_begin() and call_end(). On x86 the
 * time-stamp counter is read between fences: without them the reads are not ordered
 * with the call's own loads, and a cache miss a call leaves outstanding (free() reading
 * the block it is given, say) is charged to it, to a later call or to no call at all,
 * as the code around it happens to be scheduled. libebb built with its cache.c at -O3
 * instead of -O2 (free() itself the same instructions) took the fragment trace's
 * allocator time from 11.1 to 14.1 ms at the same run time (52.1 and 52.9 ms); between
 * fences, 22.2 and 20.9 ms. What the fences themselves cost is measured once
 * (call_overhead) and taken off every call. */
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
static inline uint64_t ticks(void)
{
    return __rdtsc();
}
static inline uint64_t call_begin(void)
{
    _mm_lfence(); /* what came before is done */
    uint64_t t = __rdtsc();
    _mm_lfence(); /* the call starts after the read */
    return t;
}
static inline uint64_t call_end(void)
{
    _mm_lfence(); /* the call's instructions, its loads included, are done */
    return __rdtsc();
}
#else
static inline uint64_t ticks(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}
static inline uint64_t call_begin(void)
{
    return ticks();
}
static inline uint64_t call_end(void)
{
    return ticks();
}
#endif

/* Ticks of an empty timed interval: the smallest of many, as the calls' own are. */
static uint64_t call_overhead(void)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 20000; i++) {
        uint64_t t0 = call_begin();
        uint64_t t1 = call_end();
        if (t1 - t0 < best)
            best = t1 - t0;
    }
    return best;
}

#define PROGRAM_MAGIC 0x3150524242455f00ull
#define FAILED_SLOT ((void *)1) /* the replayed allocation failed where the trace's did not */

/* One operation of a replay thread. */
typedef struct rop {
    uint8_t op, flags;
    uint16_t pad16;
    uint32_t pad32;
    uint64_t id;   /* object made, or freed */
    uint64_t old;  /* realloc: object passed in (0: NULL) */
    uint64_t size; /* as in the trace; free: bytes of the object freed */
    uint64_t arg;  /* calloc elem, alignment; realloc: bytes of the old object; marker: label offset */
    uint64_t seq;  /* position in the trace */
} rop_t;

typedef struct program {
    uint64_t magic;
    uint64_t nthreads, nobjects, nevents, label_bytes, rop_offset, label_offset;
    uint64_t order_offset; /* uint32_t indexes of the threads with operations, */
    uint64_t nstarts;      /* nstarts of them, by the trace position of their first */
    uint64_t thread_start[TRACE_MAX_THREADS + 1]; /* index of each thread's first op */
} program_t;

typedef struct first_op {
    uint64_t seq;
    uint32_t thread;
} first_op_t;

static int by_seq(const void *a, const void *b)
{
    uint64_t x = ((const first_op_t *)a)->seq, y = ((const first_op_t *)b)->seq;
    return (x > y) - (x < y);
}

/* ================= parent: trace -> program ================= */

typedef struct growbuf {
    uint8_t *p;
    size_t n, cap;
} growbuf_t;

static bool gb_add(growbuf_t *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1 << 20;
        while (cap < b->n + n)
            cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q)
            return false;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
    return true;
}

/* Decodes the whole trace; returns a memfd holding the program, or -1 (message printed,
 * *rc set). */
int replay_build_program(const char *path, int *rc)
{
    trace_error_t err;
    trace_reader_t *r = trace_reader_open(path, &err);
    if (!r) {
        *rc = cli_trace_error(path, &err);
        return -1;
    }
    const trace_header_t *h = trace_reader_header(r);
    uint32_t nthreads = h->nthreads ? h->nthreads : 1;
    growbuf_t *per = calloc(nthreads, sizeof *per);
    growbuf_t labels = {0};
    uint64_t *sizes = calloc(h->nobjects + 1, sizeof *sizes);
    if (!per || !sizes) {
        fprintf(stderr, "ebb: out of memory for %llu objects\n", (unsigned long long)h->nobjects);
        *rc = 1;
        return -1;
    }
    trace_event_t ev;
    int got;
    uint64_t seq = 0;
    bool oom = false;
    while ((got = trace_reader_next(r, &ev, &err)) == 1 && !oom) {
        rop_t o = {.op = ev.op, .flags = ev.flags, .id = ev.id, .old = ev.old,
                   .size = ev.size, .arg = ev.arg, .seq = seq++};
        if (ev.op == OP_FREE || ev.op == OP_FREE_SIZED)
            o.size = sizes[ev.id];
        if (ev.op == OP_REALLOC)
            o.arg = ev.old ? sizes[ev.old] : 0;
        if (trace_event_makes(ev.op, ev.flags))
            sizes[ev.id] = trace_event_bytes(&ev);
        if (ev.op == OP_MARKER || ev.op == OP_EXEC) {
            o.arg = labels.n;
            oom |= !gb_add(&labels, ev.label, strlen(ev.label) + 1);
        }
        oom |= !gb_add(&per[ev.thread], &o, sizeof o);
    }
    if (got < 0 || oom) {
        if (oom)
            fprintf(stderr, "ebb: out of memory decoding %s\n", path);
        *rc = got < 0 ? cli_trace_error(path, &err) : 1;
        trace_reader_close(r);
        return -1;
    }
    program_t *pg = calloc(1, sizeof *pg);
    pg->magic = PROGRAM_MAGIC;
    pg->nthreads = nthreads;
    pg->nobjects = h->nobjects;
    pg->nevents = seq;
    pg->label_bytes = labels.n;
    pg->rop_offset = (sizeof *pg + 63) & ~(uint64_t)63;
    uint64_t total = 0;
    for (uint32_t t = 0; t < nthreads; t++) {
        pg->thread_start[t] = total;
        total += per[t].n / sizeof(rop_t);
    }
    pg->thread_start[nthreads] = total;
    pg->label_offset = pg->rop_offset + total * sizeof(rop_t);
    pg->order_offset = (pg->label_offset + labels.n + 7) & ~(uint64_t)7;
    trace_reader_close(r);
    free(sizes);
    /* The order in which ordered replays start the threads. */
    first_op_t *firsts = calloc(nthreads, sizeof *firsts);
    uint32_t *order = calloc(nthreads, sizeof *order);
    if (!firsts || !order) {
        fprintf(stderr, "ebb: out of memory decoding %s\n", path);
        *rc = 1;
        return -1;
    }
    for (uint32_t t = 0; t < nthreads; t++)
        if (per[t].n)
            firsts[pg->nstarts++] = (first_op_t){((const rop_t *)per[t].p)->seq, t};
    qsort(firsts, pg->nstarts, sizeof *firsts, by_seq);
    for (uint64_t i = 0; i < pg->nstarts; i++)
        order[i] = firsts[i].thread;
    free(firsts);

    int fd = memfd_create("ebb-replay-program", 0);
    bool ok = fd >= 0 && write(fd, pg, sizeof *pg) == (ssize_t)sizeof *pg &&
              lseek(fd, (off_t)pg->rop_offset, SEEK_SET) >= 0;
    for (uint32_t t = 0; ok && t < nthreads; t++) {
        size_t off = 0;
        while (ok && off < per[t].n) {
            ssize_t w = write(fd, per[t].p + off, per[t].n - off);
            ok = w > 0;
            off += w > 0 ? (size_t)w : 0;
        }
        free(per[t].p);
    }
    if (ok && labels.n)
        ok = write(fd, labels.p, labels.n) == (ssize_t)labels.n;
    size_t order_bytes = pg->nstarts * sizeof *order;
    if (ok && order_bytes)
        ok = pwrite(fd, order, order_bytes, (off_t)pg->order_offset) == (ssize_t)order_bytes;
    free(order);
    free(labels.p);
    free(per);
    free(pg);
    if (!ok) {
        fprintf(stderr, "ebb: cannot build the replay program: %s\n", strerror(errno));
        if (fd >= 0)
            close(fd);
        *rc = 1;
        return -1;
    }
    return fd;
}

/* ================= child: run the program ================= */

typedef struct sample {
    uint64_t seq;       /* trace position reached (approximate with several threads) */
    double t;           /* seconds since start */
    int64_t live;       /* live bytes of the replay */
    int64_t rss;        /* resident bytes above the baseline */
    uint64_t label;     /* marker label offset + 1, or 0 */
} sample_t;

/* The kinds of call whose time a replay also gives apart (JSON keys KIND_ns, the mean
 * ns per call, and KIND_calls), so that a difference in allocator time can be traced to
 * malloc or to free. */
enum { CALL_MALLOC, CALL_CALLOC, CALL_REALLOC, CALL_ALIGNED, CALL_FREE, CALL_KINDS };
static const char *const call_kind_name[CALL_KINDS] = {"malloc", "calloc", "realloc",
                                                       "aligned", "free"};

static unsigned call_kind(unsigned op)
{
    switch (op) {
    case OP_MALLOC: return CALL_MALLOC;
    case OP_CALLOC: return CALL_CALLOC;
    case OP_REALLOC: return CALL_REALLOC;
    case OP_FREE:
    case OP_FREE_SIZED: return CALL_FREE;
    default: return CALL_ALIGNED; /* posix_memalign, aligned_alloc, memalign, (p)valloc */
    }
}

typedef struct __attribute__((aligned(64))) thread_ctx {
    const rop_t *ops;
    uint64_t nops;
    uint64_t kind_ticks[CALL_KINDS]; /* in allocator calls, fences included */
    uint64_t kind_calls[CALL_KINDS];
    uint64_t failed;
    int64_t live_pending; /* not yet added to the global live counter */
    uint64_t done_pending;
    uint64_t run;         /* the run (ORDER_SHIFT) of the operations counted in run_ops */
    uint32_t run_ops;     /* operations done in it and not yet added to R.run_done */
    uint32_t seen;        /* R.complete as last read */
    struct thread_ctx *next_finished; /* on R.finished */
    bool joined;
    pthread_t tid;
    /* Last, so that the fields above keep their offsets: with these two after
     * kind_calls, the fragment trace's frees under libebb without its free check timed
     * 48 ns instead of 25 (alternating replays), and mimalloc's 45 instead of 26 (two
     * bench/tradeoffs.py runs); jemalloc's did not move. Why is not known; it is not
     * the contexts' page offset, which changes nothing with this layout. */
    uint64_t exit_t0;    /* when the thread function returned */
    uint64_t exit_ticks; /* from then to the end of the allocator's thread destructors */
} thread_ctx_t;

static struct {
    const program_t *pg;
    const char *labels;
    void *_Atomic *slots;
    sample_t *samples;
    uint64_t max_samples;
    _Atomic uint64_t nsamples;
    uint64_t sample_every;
    _Atomic uint64_t done;
    _Atomic int64_t live;
    _Atomic int64_t peak_live;
    _Atomic uint64_t next_sample;
    _Atomic int go;
    /* Trace order (see "Trace order" below). */
    uint64_t window_runs;          /* 0: threads run freely */
    uint64_t nruns;
    _Atomic uint32_t *run_done;    /* operations done of each run */
    _Atomic uint32_t complete;     /* runs done from the start: the futex word */
    _Atomic uint32_t sleepers;     /* threads asleep on it, or about to be */
    thread_ctx_t *_Atomic finished; /* threads done, not yet joined */
    pthread_key_t exit_key;         /* timed_exit, after the allocator's destructors */
    pthread_attr_t attr;
    pthread_mutex_t sample_lock;
    /* --alloc-stats: the allocator's statistics emitter, and the statistics it wrote at
     * the highest RSS sampled so far (under sample_lock) */
    void (*stats_json)(FILE *);
    FILE *stats_file;
    sample_t stats_at;
    long baseline_rss;
    double t0;
    long page;
} R;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Reads a small /proc file into buf without stdio (which would allocate); its length,
 * or 0. */
static size_t read_proc(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    return n > 0 ? (size_t)n : 0;
}

/* Resident bytes. */
static long rss_bytes(void)
{
    char buf[128];
    if (!read_proc("/proc/self/statm", buf, sizeof buf))
        return 0;
    char *sp = strchr(buf, ' ');
    return sp ? atol(sp + 1) * R.page : 0;
}

/* A "Name:   N kB" field of /proc/self/status, in bytes. */
static long status_field(const char *name)
{
    char buf[4096];
    if (!read_proc("/proc/self/status", buf, sizeof buf))
        return 0;
    char *p = strstr(buf, name);
    return p ? atol(p + strlen(name)) * 1024 : 0;
}

static long count_mappings(void)
{
    char buf[65536];
    long lines = 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    close(fd);
    return lines;
}

/* --alloc-stats: the allocator's statistics now, in place of the last ones kept (the
 * file was opened before the replay, so writing it allocates nothing new). */
static void take_alloc_stats(const sample_t *at)
{
    R.stats_at = *at;
    rewind(R.stats_file);
    if (ftruncate(fileno(R.stats_file), 0) != 0)
        return;
    R.stats_json(R.stats_file);
    fflush(R.stats_file);
}

/* Writes the --alloc-stats file: where the statistics were taken, then the statistics as
 * the allocator wrote them. */
static int write_alloc_stats(const replay_options_t *opt)
{
    FILE *out = fopen(opt->alloc_stats, "w");
    if (!out) {
        fprintf(stderr, "ebb: cannot write %s: %s\n", opt->alloc_stats, strerror(errno));
        return 1;
    }
    const sample_t *at = &R.stats_at;
    fprintf(out, "{\n  \"trace\": ");
    cli_json_str(out, opt->trace);
    fprintf(out, ",\n  \"allocator\": ");
    cli_json_str(out, opt->alloc_name);
    fprintf(out,
            ",\n  \"event\": %llu,\n  \"time_s\": %.6f,\n  \"rss\": %lld,\n"
            "  \"live_bytes\": %lld,\n  \"stats\": ",
            (unsigned long long)at->seq, at->t, (long long)at->rss, (long long)at->live);
    rewind(R.stats_file);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, R.stats_file)) > 0)
        fwrite(buf, 1, n, out);
    fprintf(out, "}\n");
    fclose(R.stats_file);
    return fclose(out) == 0 ? 0 : 1;
}

static void take_sample(uint64_t seq, uint64_t label)
{
    pthread_mutex_lock(&R.sample_lock);
    uint64_t i = atomic_load(&R.nsamples);
    if (i < R.max_samples) {
        R.samples[i] = (sample_t){seq, now_s() - R.t0, atomic_load(&R.live),
                                  rss_bytes() - R.baseline_rss, label};
        atomic_store(&R.nsamples, i + 1);
        if (R.stats_json && (i == 0 || R.samples[i].rss > R.stats_at.rss))
            take_alloc_stats(&R.samples[i]);
    }
    pthread_mutex_unlock(&R.sample_lock);
}

/* Publish a thread's counts; the thread that crosses a sampling point samples. */
static void publish(thread_ctx_t *c)
{
    int64_t live = atomic_fetch_add(&R.live, c->live_pending) + c->live_pending;
    int64_t peak = atomic_load(&R.peak_live);
    while (live > peak && !atomic_compare_exchange_weak(&R.peak_live, &peak, live))
        ;
    uint64_t done = atomic_fetch_add(&R.done, c->done_pending) + c->done_pending;
    c->live_pending = 0;
    c->done_pending = 0;
    uint64_t next = atomic_load(&R.next_sample);
    if (done >= next &&
        atomic_compare_exchange_strong(&R.next_sample, &next, done + R.sample_every))
        take_sample(done, 0);
}

/* ---- Trace order ----
 * Replay threads run at once but keep close to the order the trace recorded: the
 * operation at trace position s starts only once every operation more than `window`
 * positions before it is done (counted in runs of ORDER_RUN positions, so the window is
 * rounded up to a multiple of ORDER_RUN). Left free, a thread runs as far
 * ahead as the scheduler lets it, and what the replay measures (peak live bytes, how
 * many threads are alive at once, which heap a block is freed into) becomes the
 * scheduler's, not the program's: a producer runs thousands of messages ahead of its
 * consumer, and 400 short-lived threads the program ran one after another are all
 * alive at once. Every event of the trace is an operation of one thread, so a run of
 * ORDER_RUN positions is done when ORDER_RUN operations in it are (the last run: the
 * rest). A thread adds its count for a run when it leaves the run and before it waits,
 * so that what others wait for is never its own count; whoever completes the lowest
 * unfinished run moves R.complete on. The thread holding the lowest pending position
 * can always go on (what it waits for comes earlier in the trace), so this cannot
 * deadlock. */
#define ORDER_SHIFT 6
#define ORDER_RUN (1u << ORDER_SHIFT)

static uint32_t run_size(uint64_t run)
{
    uint64_t end = (run + 1) << ORDER_SHIFT;
    return end <= R.pg->nevents ? ORDER_RUN : (uint32_t)(R.pg->nevents - (run << ORDER_SHIFT));
}

static void futex(_Atomic uint32_t *word, int op, uint32_t val)
{
    syscall(SYS_futex, word, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

/* Adds the thread's pending count to its run; moves R.complete past every finished run.
 * Sequentially consistent throughout: a thread completing run k+1 while k is open
 * either sees k complete (and advances) or the thread completing k sees k+1's count. */
static void order_flush(thread_ctx_t *c)
{
    if (!c->run_ops)
        return;
    atomic_fetch_add(&R.run_done[c->run], c->run_ops);
    c->run_ops = 0;
    uint32_t f = atomic_load(&R.complete);
    bool moved = false;
    while (f < R.nruns && atomic_load(&R.run_done[f]) == run_size(f)) {
        if (atomic_compare_exchange_strong(&R.complete, &f, f + 1)) {
            f++;
            moved = true;
        }
    }
    if (moved && atomic_load(&R.sleepers))
        futex(&R.complete, FUTEX_WAKE, INT32_MAX);
}

static bool order_allows(uint64_t run, uint32_t complete)
{
    return run < complete + R.window_runs;
}

/* Waits until the operations of `run` may start. */
static void order_wait(thread_ctx_t *c, uint64_t run)
{
    if (order_allows(run, c->seen))
        return;
    c->seen = atomic_load(&R.complete);
    if (order_allows(run, c->seen))
        return;
    order_flush(c);
    /* A short spin, about what a futex sleep and wake-up cost: on two cores with more
     * replay threads than cores, what this thread waits for needs another thread to
     * run, and a longer spin only takes its core (2000 spins: server replayed in
     * 123-161 ms under glibc and ebb; 100: 41-92). */
    for (unsigned spins = 0; spins < 100; spins++) {
        __builtin_ia32_pause();
        c->seen = atomic_load(&R.complete);
        if (order_allows(run, c->seen))
            return;
    }
    /* Counted before the check, so that a thread moving R.complete after the check
     * sees the sleeper and wakes it (the futex re-checks the word). */
    atomic_fetch_add(&R.sleepers, 1);
    while (!order_allows(run, c->seen = atomic_load(&R.complete)))
        futex(&R.complete, FUTEX_WAIT, c->seen);
    atomic_fetch_sub(&R.sleepers, 1);
}

/* Before each operation: count the previous run's operations when leaving it, then wait
 * for this one's turn. */
static void order_enter(thread_ctx_t *c, uint64_t seq)
{
    if (!R.window_runs)
        return;
    uint64_t run = seq >> ORDER_SHIFT;
    if (run != c->run) {
        order_flush(c);
        c->run = run;
    }
    order_wait(c, run);
}

static void *wait_slot(thread_ctx_t *c, uint64_t id)
{
    void *p;
    unsigned spins = 0;
    if (!atomic_load_explicit(&R.slots[id], memory_order_acquire))
        order_flush(c); /* the thread making it may be waiting for this one's count */
    while ((p = atomic_load_explicit(&R.slots[id], memory_order_acquire)) == NULL) {
        if (++spins < 100)
            __builtin_ia32_pause();
        else
            sched_yield();
    }
    return p;
}

static void touch(void *p, uint64_t from, uint64_t to)
{
    volatile char *c = p;
    if (from >= to)
        return;
    c[from] = 1;
    for (uint64_t off = (from + (uint64_t)R.page) & ~(uint64_t)(R.page - 1); off < to;
         off += (uint64_t)R.page)
        c[off] = 1;
}

static inline void count_call(thread_ctx_t *c, unsigned op, uint64_t ticks)
{
    unsigned k = call_kind(op);
    c->kind_ticks[k] += ticks;
    c->kind_calls[k]++;
}

/* Thread exit: the allocator's own thread destructor (giving back a thread's cache,
 * collecting its heap, purging what it freed: jemalloc purges an arena whose last
 * thread leaves) runs after the thread function returns, outside any timed call. Its
 * key was made at the allocator's initialisation, before R.exit_key, and the thread
 * library runs destructors in the order of the keys, so the time from the return to
 * this destructor is the allocator's exit work (with the thread library's, and none of
 * glibc malloc's, which it does after every destructor). Reported apart
 * (thread_exit_s): it is not a call of the trace. */
static void timed_exit(void *arg)
{
    thread_ctx_t *c = arg;
    c->exit_ticks = call_end() - c->exit_t0;
}

static void *run_thread(void *arg)
{
    thread_ctx_t *c = arg;
    pthread_setspecific(R.exit_key, c);
    while (!atomic_load_explicit(&R.go, memory_order_acquire))
        sched_yield();
    for (uint64_t i = 0; i < c->nops; i++) {
        const rop_t *o = &c->ops[i];
        void *p = NULL, *old = NULL;
        uint64_t bytes = o->size, t0, t1;
        order_enter(c, o->seq);
        switch (o->op) {
        case OP_MALLOC:
        case OP_CALLOC:
        case OP_VALLOC:
        case OP_PVALLOC:
        case OP_ALIGNED_ALLOC:
        case OP_MEMALIGN:
        case OP_POSIX_MEMALIGN:
            t0 = call_begin();
            switch (o->op) {
            case OP_MALLOC: p = malloc(o->size); break;
            case OP_CALLOC:
                p = calloc(o->size, o->arg);
                bytes = o->size * o->arg;
                break;
            case OP_VALLOC: p = valloc(o->size); break;
            case OP_PVALLOC: p = pvalloc(o->size); break;
            case OP_ALIGNED_ALLOC: p = aligned_alloc(o->arg, o->size); break;
            case OP_MEMALIGN: p = memalign(o->arg, o->size); break;
            default:
                if (posix_memalign(&p, o->arg, o->size) != 0)
                    p = NULL;
            }
            t1 = call_end();
            count_call(c, o->op, t1 - t0);
            if (o->flags & EV_FAILED) {
                free(p); /* the recorded call failed: keep no object */
                break;
            }
            if (!p) {
                c->failed++;
                atomic_store_explicit(&R.slots[o->id], FAILED_SLOT, memory_order_release);
                break;
            }
            touch(p, 0, bytes);
            c->live_pending += (int64_t)bytes;
            atomic_store_explicit(&R.slots[o->id], p, memory_order_release);
            break;
        case OP_REALLOC:
            if (o->old) {
                old = wait_slot(c, o->old);
                if (old == FAILED_SLOT)
                    old = NULL;
            }
            t0 = call_begin();
            p = realloc(old, o->size);
            t1 = call_end();
            count_call(c, o->op, t1 - t0);
            if (o->flags & EV_FAILED) {
                if (o->size == 0 && o->old) {
                    c->live_pending -= (int64_t)o->arg; /* realloc(p, 0) freed p */
                    if (p)
                        free(p);
                }
                break;
            }
            if (!p) {
                c->failed++;
                atomic_store_explicit(&R.slots[o->id], FAILED_SLOT, memory_order_release);
                break;
            }
            touch(p, o->arg < o->size ? o->arg : 0, o->size);
            c->live_pending += (int64_t)o->size - (int64_t)o->arg;
            atomic_store_explicit(&R.slots[o->id], p, memory_order_release);
            break;
        case OP_FREE:
        case OP_FREE_SIZED:
            p = wait_slot(c, o->id);
            if (p != FAILED_SLOT) {
                t0 = call_begin();
                free(p);
                t1 = call_end();
                count_call(c, o->op, t1 - t0);
                c->live_pending -= (int64_t)o->size;
            }
            break;
        case OP_MARKER:
            publish(c);
            take_sample(o->seq, o->arg + 1);
            break;
        default:
            break;
        }
        c->run_ops += R.window_runs != 0;
        if (++c->done_pending >= 256)
            publish(c);
    }
    publish(c);
    order_flush(c);
    /* for the main thread to join (and the stack to go back to the thread library) */
    thread_ctx_t *head = atomic_load(&R.finished);
    do
        c->next_finished = head;
    while (!atomic_compare_exchange_weak(&R.finished, &head, c));
    c->exit_t0 = call_begin();
    return NULL;
}

static bool start_thread(thread_ctx_t *c)
{
    if (pthread_create(&c->tid, &R.attr, run_thread, c) == 0)
        return true;
    fprintf(stderr, "ebb: replay: cannot create a thread\n");
    return false;
}

/* Ordered replay: starts each thread when the replay reaches its first operation, as the
 * program started it, and joins the threads that are done meanwhile, as a program
 * would, so that their stacks are reused rather than all kept to the end. */
static bool start_threads(thread_ctx_t *ctx, const uint32_t *order)
{
    thread_ctx_t self = {0};
    for (uint64_t i = 0; i < R.pg->nstarts; i++) {
        thread_ctx_t *c = &ctx[order[i]];
        order_wait(&self, c->ops[0].seq >> ORDER_SHIFT);
        for (thread_ctx_t *d = atomic_exchange(&R.finished, NULL); d; d = d->next_finished) {
            pthread_join(d->tid, NULL);
            d->joined = true;
        }
        if (!start_thread(c))
            return false;
    }
    return true;
}

static void *map_anon(size_t n)
{
    void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}


static int child_main(int fd, const replay_options_t *opt)
{
    R.page = sysconf(_SC_PAGESIZE);
    struct stat st;
    if (fstat(fd, &st) != 0)
        return 1;
    const uint8_t *base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE,
                               fd, 0);
    if (base == MAP_FAILED)
        return 1;
    close(fd);
    R.pg = (const program_t *)base;
    if (R.pg->magic != PROGRAM_MAGIC)
        return 1;
    R.labels = (const char *)base + R.pg->label_offset;
    const rop_t *ops = (const rop_t *)(base + R.pg->rop_offset);
    R.slots = map_anon((R.pg->nobjects + 1) * sizeof(void *));
    R.sample_every = opt->sample_every ? opt->sample_every : 1;
    R.max_samples = R.pg->nevents / R.sample_every + R.pg->nevents / 64 + 1024;
    if (R.max_samples > R.pg->nevents + 1024)
        R.max_samples = R.pg->nevents + 1024;
    R.samples = map_anon(R.max_samples * sizeof(sample_t));
    thread_ctx_t *ctx = map_anon(R.pg->nthreads * sizeof(thread_ctx_t));
    if (!R.slots || !R.samples || !ctx) {
        fprintf(stderr, "ebb: replay: out of memory\n");
        return 1;
    }
    R.nruns = (R.pg->nevents + ORDER_RUN - 1) >> ORDER_SHIFT;
    if (opt->window && R.nruns < (1u << 31)) {
        R.window_runs = (opt->window + ORDER_RUN - 1) >> ORDER_SHIFT;
        R.run_done = map_anon(R.nruns * sizeof *R.run_done);
        if (!R.run_done) {
            fprintf(stderr, "ebb: replay: out of memory\n");
            return 1;
        }
    }
    pthread_mutex_init(&R.sample_lock, NULL);
    atomic_store(&R.next_sample, R.sample_every);

    pthread_attr_init(&R.attr);
    pthread_attr_setstacksize(&R.attr, 256 * 1024);
    free(malloc(1)); /* the allocator initialised, its thread key made before this one */
    if (pthread_key_create(&R.exit_key, timed_exit) != 0) {
        fprintf(stderr, "ebb: replay: no thread key\n");
        return 1;
    }
    for (uint64_t t = 0; t < R.pg->nthreads; t++) {
        ctx[t].ops = ops + R.pg->thread_start[t];
        ctx[t].nops = R.pg->thread_start[t + 1] - R.pg->thread_start[t];
        /* Free-running: every thread exists before the start; ordered: each one is
         * started when the replay reaches its first operation (start_threads). */
        if (!R.window_runs && !start_thread(&ctx[t]))
            return 1;
    }
    if (opt->alloc_stats) {
        /* libebb's; the other allocators keep no such statistics */
        R.stats_json = (void (*)(FILE *))dlsym(RTLD_DEFAULT, "ebb_stats_json");
        if (!R.stats_json) {
            fprintf(stderr,
                    "ebb: replay: --alloc-stats: %s has no ebb_stats_json (only libebb "
                    "reports its own statistics)\n",
                    opt->alloc_name);
            return 2;
        }
        R.stats_file = tmpfile();
        if (!R.stats_file) {
            fprintf(stderr, "ebb: replay: --alloc-stats: no temporary file: %s\n",
                    strerror(errno));
            return 1;
        }
        take_alloc_stats(&(sample_t){0}); /* its stream buffer, before the baseline */
    }
    /* Baseline: everything of the replayer's own is in place. */
    int cr = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (cr >= 0) {
        if (write(cr, "5", 1) != 1) { /* reset the peak-RSS mark */
        }
        close(cr);
    }
    R.baseline_rss = rss_bytes();
    long maps0 = count_mappings();
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    uint64_t overhead = call_overhead();
    R.t0 = now_s();
    uint64_t tick0 = ticks();
    take_sample(0, 0);
    atomic_store_explicit(&R.go, 1, memory_order_release);
    if (R.window_runs && !start_threads(ctx, (const uint32_t *)(base + R.pg->order_offset)))
        return 1;
    for (uint64_t t = 0; t < R.pg->nthreads; t++)
        if (ctx[t].tid && !ctx[t].joined)
            pthread_join(ctx[t].tid, NULL);
    double run = now_s() - R.t0;
    uint64_t tick1 = ticks();
    take_sample(R.pg->nevents, 0);
    long peak_rss = status_field("VmHWM:") - R.baseline_rss;
    for (uint64_t i = 0; i < atomic_load(&R.nsamples); i++)
        if (R.samples[i].rss > peak_rss)
            peak_rss = R.samples[i].rss;
    long end_rss = rss_bytes() - R.baseline_rss;
    getrusage(RUSAGE_SELF, &ru1);
    long maps = count_mappings() - maps0;

    /* Settled: the allocator's decay delay has passed, then one more call. */
    struct timespec settle = {opt->settle_ms / 1000, (opt->settle_ms % 1000) * 1000000L};
    nanosleep(&settle, NULL);
    free(malloc(1));
    long settled_rss = rss_bytes() - R.baseline_rss;

    double ns_per_tick = (tick1 > tick0) ? run * 1e9 / (double)(tick1 - tick0) : 1.0;
    uint64_t kind_ticks[CALL_KINDS] = {0}, kind_calls[CALL_KINDS] = {0};
    uint64_t alloc_ticks = 0, calls = 0, failed = 0, exit_ticks = 0, exits = 0;
    for (uint64_t t = 0; t < R.pg->nthreads; t++) {
        for (unsigned k = 0; k < CALL_KINDS; k++) {
            kind_ticks[k] += ctx[t].kind_ticks[k];
            kind_calls[k] += ctx[t].kind_calls[k];
        }
        failed += ctx[t].failed;
        if (ctx[t].tid) {
            exits++;
            exit_ticks += ctx[t].exit_ticks > overhead ? ctx[t].exit_ticks - overhead : 0;
        }
    }
    for (unsigned k = 0; k < CALL_KINDS; k++) {
        uint64_t fences = kind_calls[k] * overhead;
        kind_ticks[k] = kind_ticks[k] > fences ? kind_ticks[k] - fences : 0;
        alloc_ticks += kind_ticks[k];
        calls += kind_calls[k];
    }
    int64_t live_end = atomic_load(&R.live);

    FILE *out = stdout;
    if (opt->json && strcmp(opt->json, "-") != 0) {
        out = fopen(opt->json, "w");
        if (!out) {
            fprintf(stderr, "ebb: cannot write %s: %s\n", opt->json, strerror(errno));
            return 1;
        }
    }
    fprintf(out, "{\n  \"trace\": ");
    cli_json_str(out, opt->trace);
    fprintf(out, ",\n  \"allocator\": ");
    cli_json_str(out, opt->alloc_name);
    fprintf(out, ",\n  \"allocator_path\": ");
    cli_json_str(out, opt->alloc_path ? opt->alloc_path : "");
    fprintf(out,
            ",\n  \"threads\": %llu,\n  \"events\": %llu,\n  \"calls\": %llu,\n"
            "  \"failed_calls\": %llu,\n  \"run_time_s\": %.6f,\n  \"alloc_time_s\": %.6f,\n"
            "  \"peak_rss\": %ld,\n  \"peak_live\": %lld,\n  \"end_rss\": %ld,\n"
            "  \"settled_rss\": %ld,\n  \"live_end\": %lld,\n  \"baseline_rss\": %ld,\n"
            "  \"settle_ms\": %ld,\n  \"minor_faults\": %ld,\n  \"major_faults\": %ld,\n"
            "  \"mappings\": %ld,\n  \"samples\": %llu,\n  \"thread_exit_s\": %.6f,\n"
            "  \"thread_exits\": %llu,\n",
            (unsigned long long)R.pg->nthreads, (unsigned long long)R.pg->nevents,
            (unsigned long long)calls, (unsigned long long)failed, run,
            (double)alloc_ticks * ns_per_tick / 1e9, peak_rss,
            (long long)atomic_load(&R.peak_live), end_rss, settled_rss, (long long)live_end,
            R.baseline_rss, opt->settle_ms, ru1.ru_minflt - ru0.ru_minflt,
            ru1.ru_majflt - ru0.ru_majflt, maps, (unsigned long long)atomic_load(&R.nsamples),
            (double)exit_ticks * ns_per_tick / 1e9, (unsigned long long)exits);
    /* Per kind: ns per call (0 when the trace makes none), and the calls. */
    for (unsigned k = 0; k < CALL_KINDS; k++)
        fprintf(out, "%s  \"%s_ns\": %.3f,\n  \"%s_calls\": %llu", k ? ",\n" : "",
                call_kind_name[k],
                kind_calls[k] ? (double)kind_ticks[k] * ns_per_tick / (double)kind_calls[k] : 0.0,
                call_kind_name[k], (unsigned long long)kind_calls[k]);
    fprintf(out, "\n}\n");
    if (out != stdout)
        fclose(out);
    if (opt->alloc_stats && write_alloc_stats(opt) != 0)
        return 1;
    if (opt->csv) {
        FILE *c = fopen(opt->csv, "w");
        if (!c) {
            fprintf(stderr, "ebb: cannot write %s: %s\n", opt->csv, strerror(errno));
            return 1;
        }
        fprintf(c, "event,time_s,live_bytes,rss_bytes,slack_bytes,marker\n");
        for (uint64_t i = 0; i < atomic_load(&R.nsamples); i++) {
            const sample_t *s = &R.samples[i];
            fprintf(c, "%llu,%.6f,%lld,%lld,%lld,%s\n", (unsigned long long)s->seq, s->t,
                    (long long)s->live, (long long)s->rss, (long long)(s->rss - s->live),
                    s->label ? R.labels + s->label - 1 : "");
        }
        fclose(c);
    }
    return failed ? 1 : 0;
}

/* ================= the command ================= */

static const struct {
    const char *name, *soname;
} known[] = {
    {"jemalloc", "libjemalloc.so.2"},
    {"mimalloc", "libmimalloc.so.2"},
    {"tcmalloc", "libtcmalloc_minimal.so.4"},
};

/* Finds a library the way the loader would, in the usual directories. */
static bool find_library(const char *soname, char *out, size_t n)
{
    static const char *const dirs[] = {
        "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib/x86_64-linux-gnu",
        "/usr/lib64", "/usr/local/lib", "/usr/lib", "/lib",
    };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(out, n, "%s/%s", dirs[i], soname);
        if (access(out, R_OK) == 0)
            return true;
    }
    return false;
}

bool replay_resolve_allocator(const char *name, char *path, size_t n)
{
    if (strcmp(name, "glibc") == 0) {
        path[0] = 0;
        return true;
    }
    if (strcmp(name, "ebb") == 0) {
        snprintf(path, n, "%s/libebb.so", cli_self_dir());
        if (access(path, R_OK) == 0)
            return true;
        snprintf(path, n, "%s/../lib/libebb.so", cli_self_dir());
        return access(path, R_OK) == 0;
    }
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(name, known[i].name) == 0)
            return find_library(known[i].soname, path, n);
    if (strchr(name, '/') && access(name, R_OK) == 0) {
        if (!realpath(name, path))
            snprintf(path, n, "%s", name);
        return true;
    }
    return false;
}

static void replay_usage(void)
{
    fprintf(stderr, "usage: ebb replay TRACE [--alloc glibc|jemalloc|mimalloc|tcmalloc|ebb|PATH.so]\n"
                    "                  [--json FILE] [--csv FILE] [--settle-ms N] [--sample-every N]\n"
                    "                  [--window N] [--alloc-stats FILE]\n");
}

int cmd_replay(int argc, char **argv)
{
    replay_options_t opt = {.alloc_name = "glibc", .settle_ms = 1000, .sample_every = 0,
                            .window = REPLAY_WINDOW};
    const char *child_fd = NULL, *label = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--alloc") == 0 && v)
            opt.alloc_name = argv[++i];
        else if (strcmp(a, "--json") == 0 && v)
            opt.json = argv[++i];
        else if (strcmp(a, "--csv") == 0 && v)
            opt.csv = argv[++i];
        else if (strcmp(a, "--alloc-stats") == 0 && v)
            opt.alloc_stats = argv[++i];
        else if (strcmp(a, "--settle-ms") == 0 && v && atol(v) >= 0)
            opt.settle_ms = atol(argv[++i]);
        else if (strcmp(a, "--sample-every") == 0 && v && atol(v) > 0)
            opt.sample_every = (uint64_t)atol(argv[++i]);
        else if (strcmp(a, "--window") == 0 && v && atol(v) >= 0)
            opt.window = (uint64_t)atol(argv[++i]);
        else if (strcmp(a, "--child-fd") == 0 && v)
            child_fd = argv[++i];
        else if (strcmp(a, "--child-label") == 0 && v)
            label = argv[++i];
        else if (a[0] != '-' && !opt.trace)
            opt.trace = a;
        else {
            replay_usage();
            return 2;
        }
    }
    if (!opt.trace) {
        replay_usage();
        return 2;
    }
    char path[PATH_MAX];
    if (!replay_resolve_allocator(opt.alloc_name, path, sizeof path)) {
        fprintf(stderr, "ebb: allocator '%s' is not installed\n", opt.alloc_name);
        return 2;
    }
    opt.alloc_path = path[0] ? path : NULL;
    if (label) /* the name a comparison reports the allocator under */
        opt.alloc_name = label;
    if (child_fd)
        return child_main(atoi(child_fd), &opt);

    int rc = 0;
    int fd = replay_build_program(opt.trace, &rc);
    if (fd < 0)
        return rc;
    rc = replay_run_child(fd, &opt);
    close(fd);
    return rc;
}

/* Runs the program in fd under opt->alloc_path in a child process (the fd stays open
 * for other runs). Returns the child's exit status (1 if it died). */
int replay_run_child(int fd, const replay_options_t *optp)
{
    replay_options_t opt = *optp;
    if (!opt.sample_every) {
        const program_t *pg = mmap(NULL, sizeof(program_t), PROT_READ, MAP_SHARED, fd, 0);
        uint64_t ev = pg != MAP_FAILED ? pg->nevents : 0;
        opt.sample_every = ev / 2000 > 64 ? ev / 2000 : 64;
        if (pg != MAP_FAILED)
            munmap((void *)(uintptr_t)pg, sizeof(program_t));
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "ebb: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        char fdbuf[32], every[32], settle[32], window[32];
        snprintf(fdbuf, sizeof fdbuf, "%d", fd);
        snprintf(every, sizeof every, "%llu", (unsigned long long)opt.sample_every);
        snprintf(settle, sizeof settle, "%ld", opt.settle_ms);
        snprintf(window, sizeof window, "%llu", (unsigned long long)opt.window);
        if (opt.alloc_path)
            setenv("LD_PRELOAD", opt.alloc_path, 1);
        else
            unsetenv("LD_PRELOAD");
        char *args[32];
        int k = 0;
        args[k++] = strdup("ebb");
        args[k++] = strdup("replay");
        args[k++] = strdup(opt.trace);
        args[k++] = strdup("--alloc");
        args[k++] = strdup(opt.alloc_path ? opt.alloc_path : opt.alloc_name);
        args[k++] = strdup("--child-label");
        args[k++] = strdup(opt.alloc_name);
        args[k++] = strdup("--child-fd");
        args[k++] = strdup(fdbuf);
        args[k++] = strdup("--sample-every");
        args[k++] = strdup(every);
        args[k++] = strdup("--settle-ms");
        args[k++] = strdup(settle);
        args[k++] = strdup("--window");
        args[k++] = strdup(window);
        if (opt.json) {
            args[k++] = strdup("--json");
            args[k++] = strdup(opt.json);
        }
        if (opt.csv) {
            args[k++] = strdup("--csv");
            args[k++] = strdup(opt.csv);
        }
        if (opt.alloc_stats) {
            args[k++] = strdup("--alloc-stats");
            args[k++] = strdup(opt.alloc_stats);
        }
        args[k] = NULL;
        execv("/proc/self/exe", args);
        fprintf(stderr, "ebb: cannot re-execute: %s\n", strerror(errno));
        _exit(1);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "ebb: replay under %s died of signal %d\n", opt.alloc_name,
                WTERMSIG(status));
        return 1;
    }
    return WEXITSTATUS(status);
}
