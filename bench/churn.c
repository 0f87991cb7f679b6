/* churn.c — a malloc-heavy program for the recorder benchmark: N rounds of mixed
 * malloc/realloc/free over a working set of 4096 slots (N from argv, default 2M). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    static void *slot[4096];
    uint64_t x = 88172645463325252ull, sum = 0;
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned k = (unsigned)(x % 4096);
        size_t size = 16 + (x >> 20) % 500;
        if (slot[k] && (x >> 40) % 8 == 0) {
            slot[k] = realloc(slot[k], size * 2);
        } else {
            free(slot[k]);
            slot[k] = malloc(size);
        }
        ((char *)slot[k])[0] = (char)i;
        sum += (uintptr_t)slot[k] & 0xff;
    }
    for (int k = 0; k < 4096; k++)
        free(slot[k]);
    printf("%llu\n", (unsigned long long)(sum & 1));
    return 0;
}
