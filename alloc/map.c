/* map.c — the chunk map: for every 4 MiB chunk number of the 47-bit user address
 * space, the descriptor of the ebb region that owns it, or NULL. Two levels: a static
 * root of 4096 leaf pointers and leaves of 8192 entries allocated on first use (the
 * first one static, and found without the root: internal.h).
 * free() validates every pointer through it, so a pointer ebb never handed out is
 * recognised without touching the memory it points to. Leaves are never freed. */
#include "internal.h"

ebb_map_leaf_t *_Atomic ebb_map_root[(size_t)1 << EBB_MAP_ROOT_BITS];
ebb_map_leaf_t ebb_map_first_leaf;
_Atomic uintptr_t ebb_map_first_index = UINTPTR_MAX;

/* Set the entries of [start, start+size) to r, tagged with r's kind (which must be set
 * already); with `only` set, change only entries that hold `only`. */
static bool map_store(uintptr_t start, size_t size, ebb_region_t *r, ebb_region_t *only)
{
    uintptr_t first = start >> EBB_CHUNK_SHIFT;
    uintptr_t last = (start + size - 1) >> EBB_CHUNK_SHIFT;
    if ((start + size - 1) >> EBB_MAP_ADDR_BITS)
        return false;
    for (uintptr_t c = first; c <= last; c++) {
        ebb_map_leaf_t *leaf = atomic_load_explicit(&ebb_map_root[c >> EBB_MAP_LEAF_BITS],
                                                memory_order_relaxed);
        if (!leaf) {
            if (!r)
                continue;
            bool first_leaf = atomic_load_explicit(&ebb_map_first_index,
                                                   memory_order_relaxed) == UINTPTR_MAX;
            leaf = first_leaf ? &ebb_map_first_leaf : ebb_meta_alloc(sizeof(ebb_map_leaf_t));
            if (!leaf)
                return false;
            atomic_store_explicit(&ebb_map_root[c >> EBB_MAP_LEAF_BITS], leaf, memory_order_release);
            if (first_leaf)
                atomic_store_explicit(&ebb_map_first_index, c >> EBB_MAP_LEAF_BITS,
                                      memory_order_release);
        }
        _Atomic uintptr_t *e = &leaf->entry[c & (EBB_MAP_LEAF_SIZE - 1)];
        if (!only || (atomic_load_explicit(e, memory_order_relaxed) & ~EBB_MAP_KIND_MASK) ==
                         (uintptr_t)only)
            atomic_store_explicit(e, r ? (uintptr_t)r | r->kind : 0, memory_order_release);
    }
    return true;
}

/* Pool lock held. On failure (no memory for a leaf) nothing is left registered. */
bool ebb_map_set(uintptr_t start, size_t size, ebb_region_t *r)
{
    if (map_store(start, size, r, NULL))
        return true;
    map_store(start, size, NULL, NULL);
    return false;
}

void ebb_map_clear(uintptr_t start, size_t size)
{
    map_store(start, size, NULL, NULL);
}

/* For a range that was already given back to the kernel: another region may have been
 * mapped there meanwhile, and its entries must stay. */
void ebb_map_clear_if(uintptr_t start, size_t size, ebb_region_t *r)
{
    map_store(start, size, NULL, r);
}
