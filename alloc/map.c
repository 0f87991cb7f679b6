/* map.c — the chunk map: for every 4 MiB chunk number of the 47-bit user address
 * space, the descriptor of the ebb region that owns it, or NULL. Two levels: a static
 * root of 4096 leaf pointers and leaves of 8192 entries allocated on first use.
 * free() validates every pointer through it, so a pointer ebb never handed out is
 * recognised without touching the memory it points to. Leaves are never freed. */
#include "internal.h"

#define MAP_ADDR_BITS 47
#define MAP_LEAF_BITS 13
#define MAP_ROOT_BITS (MAP_ADDR_BITS - EBB_CHUNK_SHIFT - MAP_LEAF_BITS)
#define MAP_LEAF_SIZE ((size_t)1 << MAP_LEAF_BITS)

typedef struct map_leaf {
    ebb_region_t *_Atomic entry[MAP_LEAF_SIZE];
} map_leaf_t;

static map_leaf_t *_Atomic map_root[(size_t)1 << MAP_ROOT_BITS];

ebb_region_t *ebb_map_lookup(uintptr_t addr)
{
    if (ebb_unlikely(addr >> MAP_ADDR_BITS))
        return NULL;
    uintptr_t chunk = addr >> EBB_CHUNK_SHIFT;
    map_leaf_t *leaf = atomic_load_explicit(&map_root[chunk >> MAP_LEAF_BITS],
                                            memory_order_acquire);
    if (ebb_unlikely(!leaf))
        return NULL;
    return atomic_load_explicit(&leaf->entry[chunk & (MAP_LEAF_SIZE - 1)],
                                memory_order_acquire);
}

/* Set the entries of [start, start+size) to r; with `only` set, change only entries
 * that hold `only`. */
static bool map_store(uintptr_t start, size_t size, ebb_region_t *r, ebb_region_t *only)
{
    uintptr_t first = start >> EBB_CHUNK_SHIFT;
    uintptr_t last = (start + size - 1) >> EBB_CHUNK_SHIFT;
    if ((start + size - 1) >> MAP_ADDR_BITS)
        return false;
    for (uintptr_t c = first; c <= last; c++) {
        map_leaf_t *leaf = atomic_load_explicit(&map_root[c >> MAP_LEAF_BITS],
                                                memory_order_relaxed);
        if (!leaf) {
            if (!r)
                continue;
            leaf = ebb_meta_alloc(sizeof(map_leaf_t));
            if (!leaf)
                return false;
            atomic_store_explicit(&map_root[c >> MAP_LEAF_BITS], leaf, memory_order_release);
        }
        ebb_region_t *_Atomic *e = &leaf->entry[c & (MAP_LEAF_SIZE - 1)];
        if (!only || atomic_load_explicit(e, memory_order_relaxed) == only)
            atomic_store_explicit(e, r, memory_order_release);
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
