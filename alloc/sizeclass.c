/* sizeclass.c — builds the size-class tables once, at initialisation. */
#include "internal.h"
#include "sizeclass.h"

#include <assert.h>

const uint8_t ebb_class_of_small[EBB_SMALL_LOOKUP_MAX / 16 + 1] = {
     0,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, 16, 17, 17,
    18, 18, 19, 19, 20, 20, 21, 21, 22, 22, 23, 23, 24, 24, 24, 24, 25, 25, 25, 25, 26,
    26, 26, 26, 27, 27, 27, 27, 28, 28, 28, 28, 29, 29, 29, 29, 30, 30, 30, 30, 31, 31,
    31, 31, 32, 32, 32, 32, 32, 32, 32, 32, 33, 33, 33, 33, 33, 33, 33, 33, 34, 34, 34,
    34, 34, 34, 34, 34, 35, 35, 35, 35, 35, 35, 35, 35, 36, 36, 36, 36, 36, 36, 36, 36,
    37, 37, 37, 37, 37, 37, 37, 37, 38, 38, 38, 38, 38, 38, 38, 38, 39, 39, 39, 39, 39,
    39, 39, 39, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 41, 41,
    41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 41, 42, 42, 42, 42, 42, 42, 42,
    42, 42, 42, 42, 42, 42, 42, 42, 42, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43,
    43, 43, 43, 43, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 44, 45,
    45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 46, 46, 46, 46, 46, 46,
    46, 46, 46, 46, 46, 46, 46, 46, 46, 46, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47, 47,
    47, 47, 47, 47, 47, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48,
    48, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 50,
    50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50,
    50, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51, 51,
    51, 51, 51, 51, 51, 51, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52,
    52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 53, 53, 53, 53, 53,
    53, 53, 53, 53, 53, 53, 53, 53, 53, 53, 53, 53, 53, 53, 53, 53, 53, 53, 53, 53, 53,
    53, 53, 53, 53, 53, 53, 53, 53, 53, 53, 53, 54, 54, 54, 54, 54, 54, 54, 54, 54, 54,
    54, 54, 54, 54, 54, 54, 54, 54, 54, 54, 54, 54, 54, 54, 54, 54, 54, 54, 54, 54, 54,
    54, 54, 54, 54, 54, 54, 54, 54, 54, 54, 54, 54, 54, 54, 54, 55, 55, 55, 55, 55, 55,
    55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55,
    55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55, 55,
    55, 55, 55, 55, 55, 55, 55, 55, 55,
};
ebb_class_info_t ebb_class_info[EBB_CLASSES];
/* The smallest spans are the address map's granules, so that each granule belongs to
 * one span. */
const uint8_t ebb_span_shift_of_kind[EBB_SPAN_KINDS] = {EBB_MAP_SHIFT, EBB_MAP_SHIFT + 3,
                                                        EBB_CHUNK_SHIFT};

static_assert(EBB_CHUNK_SHIFT == EBB_MAP_SHIFT + 6, "64 KiB, 512 KiB and 4 MiB spans");
static_assert((EBB_CHUNK_SIZE >> 16) == EBB_MAX_SPANS_PER_CHUNK, "64 KiB spans fill a chunk");

size_t ebb_class_size_formula(unsigned cls)
{
    if (cls < 8)
        return 16u * (cls + 1u);
    unsigned k = 7u + (cls - 8u) / 8u;
    unsigned j = (cls - 8u) % 8u + 1u;
    /* Between 4 and 8 KiB a 64 KiB span holds 15 blocks down to 8: each class is the
     * largest 16-byte multiple that fits one more block than the next class up, so that
     * no span ends in an unused tail of more than 128 bytes (the classes of 4608, 5120,
     * ... left up to 5.5 KiB of a span unused), and a 4096-byte payload with a small
     * header, which databases and buffered streams allocate (4104, 4368 bytes), takes
     * no more than 4368. */
    if (k == 12u)
        return (((size_t)1 << EBB_MAP_SHIFT) / (16u - j)) & ~(size_t)15; /* small span */
    return ((size_t)1 << k) + (size_t)j * ((size_t)1 << (k - 3u));
}

static uint8_t kind_for_block(size_t block_size)
{
    if (block_size <= 8192)
        return EBB_KIND_SMALL;
    if (block_size <= 65536)
        return EBB_KIND_MEDIUM;
    return EBB_KIND_HUGE;
}

void ebb_sizeclass_init(void)
{
    for (unsigned c = 0; c < EBB_CLASSES; c++) {
        size_t bs = ebb_class_size_formula(c);
        uint8_t kind = kind_for_block(bs);
        size_t span = (size_t)1 << ebb_span_shift_of_kind[kind];
        uint64_t mul = UINT64_MAX / bs + 1; /* ceil(2^64 / bs) */
        uint64_t step = (uint64_t)bs * mul; /* mod 2^64: 0 iff bs is a power of two */
        ebb_class_info[c] = (ebb_class_info_t){
            .block_size = (uint32_t)bs,
            .reserved = (uint16_t)(span / bs),
            .div_mul = mul,
            /* below span (reserved * bs <= span and step < bs): fits in 32 bits */
            .start_limit = step ? (uint32_t)(span / bs * step) : 1,
            .kind = kind,
            .big = bs >= 8192,
        };
        assert(bs < 8192 || span / bs <= 64);
        assert(span / bs <= UINT16_MAX);
    }
}
