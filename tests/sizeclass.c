/* sizeclass.c — the size-class tables and the span arithmetic built from them, checked
 * against plain division for every size and every byte offset of every class's span:
 * malloc's class lookup (a constant table up to 8 KiB, computed above), and the block
 * index and block-start test that free() uses to reject interior pointers. */
#include <stdbool.h>
#include <stdio.h>

#include "../alloc/internal.h"
#include "../alloc/sizeclass.h"
#include "check.h"

/* The smallest class whose blocks hold size bytes, by search. */
static unsigned class_by_search(size_t size)
{
    unsigned c = 0;
    while (ebb_class_size_formula(c) < size)
        c++;
    return c;
}

static void check_lookup(void)
{
    CHECK(ebb_class_size_formula(EBB_CLASSES - 1) == EBB_MAX_CLASS_SIZE);
    for (size_t size = 0; size <= EBB_SMALL_LOOKUP_MAX; size++)
        CHECK(ebb_class_of_small[(size + 15) >> 4] == class_by_search(size ? size : 1));
    unsigned c = 0;
    for (size_t size = 1; size <= EBB_MAX_CLASS_SIZE; size++) {
        if (ebb_class_size_formula(c) < size)
            c++;
        CHECK(ebb_class_of(size) == c);
    }
}

static void check_span_arithmetic(void)
{
    for (unsigned c = 0; c < EBB_CLASSES; c++) {
        const ebb_class_info_t *ci = &ebb_class_info[c];
        size_t span = (size_t)1 << ebb_span_shift_of_kind[ci->kind];
        ebb_span_t s = {.block_size = ci->block_size, .div_mul = ci->div_mul,
                        .start_limit = ci->start_limit};
        CHECK(ci->block_size == ebb_class_size_formula(c));
        CHECK(ci->reserved == span / ci->block_size);
        size_t starts = 0, wrong = 0;
        for (uintptr_t off = 0; off < span; off++) {
            size_t q = off / ci->block_size;
            bool start = off % ci->block_size == 0 && q < ci->reserved;
            if (ebb_block_starts_at(&s, off) != start ||
                (q < ci->reserved && ebb_block_index(&s, off) != q)) {
                if (wrong++ == 0)
                    fprintf(stderr, "class %u (%u B): offset %lu wrong\n", c, ci->block_size,
                            (unsigned long)off);
            }
            starts += start;
        }
        CHECK(wrong == 0);
        CHECK(starts == ci->reserved);
    }
}

int main(void)
{
    ebb_sizeclass_init();
    check_lookup();
    check_span_arithmetic();
    return check_report("sizeclass");
}
