/* debug.h — the checking layer of libebb-debug.so (built with EBB_DEBUG_BUILD).
 *
 * It wraps the allocator's entry points; the release library has none of it, so its
 * fast paths carry no test of a debug flag (the same split as glibc's separate
 * malloc-debug library).
 *
 * Layout of a block handed out by the debug library (usable = the block's size, or a
 * large block's page-rounded size):
 *
 *   [0, size)              the program's bytes, filled with EBB_DEBUG_FRESH
 *   [size, usable - 8)     guard bytes EBB_DEBUG_GUARD (at least 8 of them)
 *   [usable - 8, usable)   the requested size XOR a tag derived from the address
 *
 * Invariants:
 *   - every block on a free list of a span (including blocks carved and never used)
 *     holds EBB_DEBUG_FREED in every byte but its link word (ebb_block_t), except
 *     in whole pages the kernel zeroed after a purge;
 *   - a live block's size word decodes to a size <= usable - 16.
 * free() checks the guard bytes (writes past the end) and fills the block; malloc()
 * checks the fill of the block it pops (writes after free) and the decoded free-list
 * link (corrupted lists). */
#ifndef EBB_DEBUG_H
#define EBB_DEBUG_H

#include <stddef.h>

#include "types.h"

#define EBB_DEBUG_FRESH 0xEB /* new blocks: use of uninitialised memory shows */
#define EBB_DEBUG_FREED 0xDF /* freed blocks: checked when the block is reused */
#define EBB_DEBUG_GUARD 0xFD /* past the requested size: checked on free */
#define EBB_DEBUG_TAIL 16    /* bytes added to each request: >= 8 guard + size word */

void *ebb_debug_alloc(size_t size, size_t align, const char *func);
void ebb_debug_free(void *p, const char *func);
size_t ebb_debug_usable(const void *p, const char *func);
void *ebb_debug_realloc(void *p, size_t size, const char *func);
void ebb_debug_fill_carved(void *p, size_t size);

#endif /* EBB_DEBUG_H */
