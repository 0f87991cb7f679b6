/* map.c — the address map: for every 64 KiB granule of the 47-bit user address space
 * (the smallest span), the tagged descriptor of what ebb has there, or 0. Two levels: a
 * static root of 4096 leaf pointers and leaves of 2^19 entries (32 GiB of address space
 * each, in 4 MiB touched page by page) allocated on first use (the first one static,
 * and found without the root: internal.h).
 * free() validates every pointer through it, so a pointer ebb never handed out is
 * recognised without touching the memory it points to, and it finds the span and the
 * class in one load. Leaves are never freed. */
#include "internal.h"

ebb_map_leaf_t *_Atomic ebb_map_root[(size_t)1 << EBB_MAP_ROOT_BITS];
ebb_map_leaf_t ebb_map_first_leaf;
_Atomic uintptr_t ebb_map_first_granule = EBB_MAP_NO_GRANULE;

/* The leaf serving granule g; allocated if `create` (pool lock held), else NULL if
 * there is none. */
static ebb_map_leaf_t *leaf_of(uintptr_t g, bool create)
{
    ebb_map_leaf_t *leaf = atomic_load_explicit(&ebb_map_root[g >> EBB_MAP_LEAF_BITS],
                                                memory_order_relaxed);
    if (leaf || !create)
        return leaf;
    bool first_leaf = atomic_load_explicit(&ebb_map_first_granule, memory_order_relaxed) ==
                      EBB_MAP_NO_GRANULE;
    leaf = first_leaf ? &ebb_map_first_leaf : ebb_meta_alloc(sizeof(ebb_map_leaf_t));
    if (!leaf)
        return NULL;
    atomic_store_explicit(&ebb_map_root[g >> EBB_MAP_LEAF_BITS], leaf, memory_order_release);
    if (first_leaf)
        atomic_store_explicit(&ebb_map_first_granule, g & ~(EBB_MAP_LEAF_SIZE - 1),
                              memory_order_release);
    return leaf;
}

/* Set the entries of [start, start+size) to entry; with `only` set, change only the
 * entries whose descriptor is `only`. */
static bool map_store(uintptr_t start, size_t size, uintptr_t entry, uintptr_t only)
{
    uintptr_t first = start >> EBB_MAP_SHIFT;
    uintptr_t last = (start + size - 1) >> EBB_MAP_SHIFT;
    if ((start + size - 1) >> EBB_MAP_ADDR_BITS)
        return false;
    for (uintptr_t g = first; g <= last; g++) {
        ebb_map_leaf_t *leaf = leaf_of(g, entry != 0);
        if (!leaf) {
            if (!entry)
                continue;
            return false;
        }
        _Atomic uintptr_t *e = &leaf->entry[g & (EBB_MAP_LEAF_SIZE - 1)];
        if (!only || (atomic_load_explicit(e, memory_order_relaxed) & ~EBB_MAP_TAG_MASK) == only)
            atomic_store_explicit(e, entry, memory_order_release);
    }
    return true;
}

/* Pool lock held. On failure (no memory for a leaf) nothing is left registered. */
bool ebb_map_set(uintptr_t start, size_t size, uintptr_t entry)
{
    if (map_store(start, size, entry, 0))
        return true;
    map_store(start, size, 0, 0);
    return false;
}

/* Pool lock held: every span of chunk c, with no class yet. A chunk lies in one leaf
 * (leaves cover whole chunks), so this fails on its first span or not at all. */
bool ebb_map_set_chunk(ebb_chunk_t *c)
{
    size_t span = (size_t)1 << c->span_shift;
    for (unsigned i = 0; i < c->nspans; i++) {
        uintptr_t entry = (uintptr_t)&c->spans[i] | EBB_MAP_NO_CLASS;
        if (!ebb_map_set(c->spans[i].start, span, entry))
            return false;
    }
    return true;
}

/* The span's owner, when it gives the span its class: no lock, since the span's entries
 * exist (its chunk is registered) and only its owner changes them. */
void ebb_map_tag_span(const ebb_span_t *s)
{
    size_t span = (size_t)1 << s->chunk->span_shift;
    map_store(s->start, span, (uintptr_t)s | ((uintptr_t)s->cls + 1), 0);
}

void ebb_map_clear(uintptr_t start, size_t size)
{
    map_store(start, size, 0, 0);
}

/* For a range that was already given back to the kernel: another region may have been
 * mapped there meanwhile, and its entries must stay. */
void ebb_map_clear_if(uintptr_t start, size_t size, const void *desc)
{
    map_store(start, size, 0, (uintptr_t)desc);
}
