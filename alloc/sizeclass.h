/* sizeclass.h — request size -> size class, and each class's geometry.
 *
 * Classes: 16, 32, ..., 128 in steps of 16, then eight classes per doubling up to
 * 1 MiB (144, 160, ..., 256, 288, ...), except between 4 and 8 KiB, where the eight
 * classes are the sizes that fill a 64 KiB span to within 128 bytes, 15 blocks down to
 * 8 (4368, 4672, 5040, 5456, 5952, 6544, 7280, 8192). Every class size is a multiple
 * of 16, so every block is 16-byte aligned. For a request r >= 128 the next class is
 * at most r/8 away, rounded up to a byte (911 bytes from 7281 to 8192), so no more than
 * 12.5% of the request is wasted; between 64 and 128 the 16-byte alignment forces steps
 * of 16, so the waste is at most 15 bytes there.
 * Power-of-two classes exist at every doubling, which is what aligned allocation uses.
 */
#ifndef EBB_SIZECLASS_H
#define EBB_SIZECLASS_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

#pragma GCC visibility push(hidden) /* as in internal.h */

/* Geometry of a class, filled in once by ebb_sizeclass_init(). */
typedef struct ebb_class_info {
    uint32_t block_size;
    uint16_t reserved;   /* blocks per span */
    uint64_t div_mul;    /* see ebb_span_t.div_mul */
    uint32_t start_limit; /* likewise */
    uint8_t kind;        /* span kind serving this class */
    bool big;            /* blocks of 8 KiB or more (at most 64 a span): free ones are
                            purged page by page */
} ebb_class_info_t;

/* Class of every size up to EBB_SMALL_LOOKUP_MAX, indexed by (size + 15) / 16. A constant
 * table, because the fast path may run before initialisation; test `sizeclass` checks it
 * against ebb_class_size_formula(). */
extern const uint8_t ebb_class_of_small[EBB_SMALL_LOOKUP_MAX / 16 + 1];
extern ebb_class_info_t ebb_class_info[EBB_CLASSES];
extern const uint8_t ebb_span_shift_of_kind[EBB_SPAN_KINDS];

void ebb_sizeclass_init(void);
/* The class size, computed from the class number alone (used to build the tables). */
size_t ebb_class_size_formula(unsigned cls);

/* size must be <= EBB_MAX_CLASS_SIZE. */
static inline unsigned ebb_class_of(size_t size)
{
    if (__builtin_expect(size <= EBB_SMALL_LOOKUP_MAX, 1))
        return ebb_class_of_small[(size + 15) >> 4];
    /* size in (2^k, 2^(k+1)]: eight classes of 2^(k-3) bytes each. */
    size_t s = size - 1;
    unsigned k = 63u - (unsigned)__builtin_clzl(s);
    return 8u + (k - 7u) * 8u + (unsigned)((s >> (k - 3u)) & 7u);
}

static inline size_t ebb_class_size(unsigned cls)
{
    return ebb_class_info[cls].block_size;
}

#pragma GCC visibility pop

#endif /* EBB_SIZECLASS_H */
