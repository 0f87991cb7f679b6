/* check.h — the tests' assertions: CHECK counts, reports the first failures with
 * file:line and continues; a test program exits 1 if any check failed. Tests allocate
 * through T_* names (api_names.h) so one source runs against the prefixed API and,
 * through LD_PRELOAD, against the standard symbols. */
#ifndef EBB_TEST_CHECK_H
#define EBB_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static long check_passed, check_failed;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (cond) {                                                                   \
            check_passed++;                                                           \
        } else {                                                                      \
            if (check_failed++ < 20)                                                  \
                fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)

#define CHECKF(cond, ...)                                                             \
    do {                                                                              \
        if (cond) {                                                                   \
            check_passed++;                                                           \
        } else {                                                                      \
            if (check_failed++ < 20) {                                                \
                fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
                fprintf(stderr, __VA_ARGS__);                                         \
                fputc('\n', stderr);                                                  \
            }                                                                         \
        }                                                                             \
    } while (0)

static inline int check_report(const char *name)
{
    printf("%s: %ld checks passed, %ld failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : (check_passed ? 0 : 1);
}

/* The tests' pseudo-random numbers (xorshift64): reproducible, no allocation. */
static inline uint64_t check_random(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

#endif
