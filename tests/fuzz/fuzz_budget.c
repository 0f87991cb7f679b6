/* fuzz_budget.c — libFuzzer target: the budget parser of ebb compare --check. */
#include <stdint.h>
#include <stdlib.h>

#include "compare.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    budget_t *b = malloc(sizeof *b);
    char err[256];
    if (b)
        budget_parse((const char *)data, size, b, err, sizeof err);
    free(b);
    return 0;
}
