/* memory.c — how much memory an allocator keeps: the benchmarks of RSS that should
 * follow live bytes. Run against whatever malloc the process has (bench/memory.py
 * preloads each allocator in turn). One case per run; prints "key=value" figures.
 * RSS is measured above a baseline taken once the program's own arrays are resident;
 * "settled" is after the case freed what it frees, 1 s passed and one more
 * malloc/free pair was made.
 *   append     buffers rebuilt by 64 KiB appends (realloc) to 1-4 MiB, 2,000 times, with
 *              small long-lived records made between the appends; then 90% of the
 *              records are freed
 *   threads    2,000 short-lived threads (8 at a time) each leave 300 objects that the
 *              main thread frees
 *   forkexec   about 1 GiB of mixed small and medium objects, 90% freed in long runs,
 *              then 100 fork+exec of /bin/true, timed
 *   prodcons   a producer thread hands 2 million messages to a consumer thread
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long page;
static long baseline;
static int64_t live, peak_live;

/* Reads a small /proc file without stdio; its length, or 0. */
static size_t read_proc(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, size - 1) : -1;
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = 0;
    return n > 0 ? (size_t)n : 0;
}

static long statm_rss(void)
{
    char buf[128];
    char *sp = read_proc("/proc/self/statm", buf, sizeof buf) ? strchr(buf, ' ') : NULL;
    return sp ? atol(sp + 1) * page : 0;
}

static long hwm(void)
{
    char buf[4096];
    char *p = read_proc("/proc/self/status", buf, sizeof buf) ? strstr(buf, "VmHWM:") : NULL;
    return p ? atol(p + 6) * 1024 : 0;
}

static void start_measuring(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    if (fd >= 0) {
        if (write(fd, "5", 1) != 1) { /* resets the peak mark */
        }
        close(fd);
    }
    baseline = statm_rss();
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void *take(size_t n)
{
    void *p = malloc(n);
    memset(p, 0x5a, n);
    live += (int64_t)n;
    if (live > peak_live)
        peak_live = live;
    return p;
}

static void give(void *p, size_t n)
{
    free(p);
    live -= (int64_t)n;
}

static long settled(void)
{
    sleep(1);
    free(malloc(1));
    return statm_rss() - baseline;
}

static void report(const char *name, long settled_rss, const char *extra)
{
    long peak = hwm() - baseline;
    printf("case=%s peak_rss=%ld peak_live=%lld settled_rss=%ld live=%lld slack=%ld%s\n", name,
           peak, (long long)peak_live, settled_rss, (long long)live, settled_rss - (long)live,
           extra);
}

static void case_append(void)
{
    enum { ROUNDS = 2000, PER = 24 };
    static void *rec[ROUNDS * PER];
    static size_t recsz[ROUNDS * PER];
    memset(rec, 0, sizeof rec);
    memset(recsz, 0, sizeof recsz);
    start_measuring();
    size_t n = 0;
    for (int r = 0; r < ROUNDS; r++) {
        size_t size = 256 * 1024, target = (1 + rnd() % 4) << 20;
        char *buf = take(size);
        while (size < target) {
            char *nb = realloc(buf, size + 65536);
            memset(nb + size, 1, 65536);
            buf = nb;
            size += 65536;
            live += 65536;
            if (live > peak_live)
                peak_live = live;
            if (size % (1 << 20) == 0 || (rnd() % 8) == 0) {
                if (n < ROUNDS * PER) {
                    recsz[n] = 32 + rnd() % 224;
                    rec[n] = take(recsz[n]);
                    n++;
                }
            }
        }
        give(buf, size);
    }
    for (size_t i = 0; i < n; i++)
        if (i % 10)
            give(rec[i], recsz[i]);
    report("append", settled(), "");
}

enum { TH_BATCH = 8, TH_BATCHES = 250, TH_PER = 300 };
static void *th_left[TH_BATCH][TH_PER];
static size_t th_size[TH_BATCH][TH_PER];

static void *th_main(void *arg)
{
    long id = (long)arg;
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1);
    for (int i = 0; i < TH_PER; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        th_size[id][i] = 16 + x % 16384;
        th_left[id][i] = malloc(th_size[id][i]);
        memset(th_left[id][i], 3, th_size[id][i]);
    }
    return NULL;
}

static void case_threads(void)
{
    start_measuring();
    for (int b = 0; b < TH_BATCHES; b++) {
        pthread_t t[TH_BATCH];
        for (long i = 0; i < TH_BATCH; i++)
            pthread_create(&t[i], NULL, th_main, (void *)i);
        for (int i = 0; i < TH_BATCH; i++)
            pthread_join(t[i], NULL);
        int64_t batch = 0;
        for (int i = 0; i < TH_BATCH; i++)
            for (int j = 0; j < TH_PER; j++)
                batch += (int64_t)th_size[i][j];
        if (batch > peak_live)
            peak_live = batch;
        for (int i = 0; i < TH_BATCH; i++)
            for (int j = 0; j < TH_PER; j++)
                free(th_left[i][j]);
    }
    report("threads", settled(), "");
}

static void case_forkexec(void)
{
    enum { N = 300000 };
    static void *obj[N];
    static uint32_t osz[N];
    memset(obj, 0, sizeof obj);
    memset(osz, 0, sizeof osz);
    start_measuring();
    for (int i = 0; i < N; i++) {
        uint64_t r = rnd();
        osz[i] = (uint32_t)(r % 4 ? 16 + (r >> 8) % 1024 : 1024 + (r >> 8) % 13000);
        obj[i] = take(osz[i]);
    }
    /* free 90% in long runs: keep one run of 1,000 in ten */
    for (int i = 0; i < N; i++)
        if ((i / 1000) % 10)
            give(obj[i], osz[i]);
    long s = settled();
    double t0 = now_s();
    for (int k = 0; k < 100; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        int st;
        waitpid(pid, &st, 0);
    }
    char extra[64];
    snprintf(extra, sizeof extra, " forkexec_ms=%.3f", (now_s() - t0) * 1000 / 100);
    report("forkexec", s, extra);
}

enum { PC_MSGS = 2000000, PC_RING = 4096 };
static _Atomic(void *) ring[2][PC_RING];

static void *producer(void *arg)
{
    long id = (long)arg;
    uint64_t x = 12345 + (uint64_t)id;
    for (long i = 0; i < PC_MSGS; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t n = 16 + x % 496;
        char *p = malloc(n);
        p[0] = (char)n;
        _Atomic(void *) *slot = &ring[id][i % PC_RING];
        while (atomic_load_explicit(slot, memory_order_acquire))
            sched_yield();
        atomic_store_explicit(slot, p, memory_order_release);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    long id = (long)arg;
    for (long i = 0; i < PC_MSGS; i++) {
        _Atomic(void *) *slot = &ring[id][i % PC_RING];
        void *p;
        while (!(p = atomic_exchange_explicit(slot, NULL, memory_order_acquire)))
            sched_yield();
        free(p);
    }
    return NULL;
}

static void case_prodcons(void)
{
    start_measuring();
    pthread_t t[2];
    double t0 = now_s();
    pthread_create(&t[0], NULL, producer, (void *)0);
    pthread_create(&t[1], NULL, consumer, (void *)0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    double secs = now_s() - t0;
    peak_live = PC_RING * 264; /* at most a full ring of messages of average size */
    char extra[64];
    snprintf(extra, sizeof extra, " msgs_per_s=%.0f", PC_MSGS / secs);
    report("prodcons", settled(), extra);
}

int main(int argc, char **argv)
{
    page = sysconf(_SC_PAGESIZE);
    const char *c = argc > 1 ? argv[1] : "";
    if (strcmp(c, "append") == 0)
        case_append();
    else if (strcmp(c, "threads") == 0)
        case_threads();
    else if (strcmp(c, "forkexec") == 0)
        case_forkexec();
    else if (strcmp(c, "prodcons") == 0)
        case_prodcons();
    else {
        fprintf(stderr, "usage: memory append|threads|forkexec|prodcons\n");
        return 2;
    }
    return 0;
}
