/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_IOTLB_H
#define VHOST_IOTLB_H

/* A device IOTLB cache: IOVA ranges mapped to frontend user addresses
 * (uaddr) with a permission, as the frontend's vIOMMU sends them, with
 * our address (hva) and the guest physical address (gpa) of each range
 * worked out once, when it is mapped.
 *
 * Lookups cost the same with one entry or millions, whatever the order
 * of the IOVAs: each entry is indexed in a hash table under the aligned
 * blocks that tile its range (block sizes 4 KiB, 2 MiB, 1 GiB, 512 GiB,
 * 2^48 and 2^57 bytes, the largest that fit; the first and last 4 KiB
 * block may be partial). A lookup probes, for each block size in use,
 * the block containing the IOVA: one hash probe per size, no search.
 * An ordered tree (a treap on the IOVA) serves only the control path:
 * invalidations of ranges and the neighbours of an update.
 *
 * Ranges are inclusive [iova, last], so a mapping that ends at the top
 * of the 64-bit space needs no size that would overflow. An update
 * whose neighbour continues it in IOVA, uaddr, hva and gpa with the same
 * permission is merged into it, as long as the merged range needs at
 * most VHOST_IOTLB_MERGE_SLOTS blocks; an invalidation of part of an
 * entry trims it or splits it in two. Entries are retired oldest-mapped
 * first (a FIFO list, no scan) when the table holds max entries or its
 * blocks would exceed the slot budget: it is a cache, an evicted
 * mapping costs one miss later, never a wrong translation.
 *
 * Memory: fixed at init, max entries of sizeof(struct vhost_iotlb_entry)
 * + sizeof(struct vhost_iotlb_node) bytes, and a hash table of at most
 * twice the slot budget (2 * max, at least VHOST_IOTLB_MIN_SLOTS) of
 * one 8-byte word per slot: vhost_iotlb_mem_bytes(). The entry and slot
 * tables, when VHOST_IOTLB_HUGE_BYTES or larger, ask for transparent
 * huge pages (same bytes; they become resident 2 MiB at a time).
 *
 * Not thread-safe: the caller serialises writers against readers. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_prefetch.h>

/* Block sizes of the lookup index: 2^12, 2^21, ..., 2^57. */
#define VHOST_IOTLB_LEVELS 6
#define VHOST_IOTLB_LEVEL_SHIFT(l) (12u + 9u * (l))

/* Most blocks one range may need, whatever it is: 511 per size on
 * each side of its largest blocks, 127 of 2^57, two partial pages. */
#define VHOST_IOTLB_RANGE_MAX_SLOTS (2 * 511 * 5 + 127 + 2)
/* Slot budget floor: any single range can always be held. */
#define VHOST_IOTLB_MIN_SLOTS 8192
/* An update merges into a neighbour only if the result needs at most
 * this many blocks: re-indexing a merged entry stays cheap. */
#define VHOST_IOTLB_MERGE_SLOTS 64
/* Entries sharing one 4 KiB page (sub-page mappings): more would make
 * a lookup in that page walk them all. Past this, the oldest of them
 * is evicted: found by comparing their ages (entry.age), read from the
 * entries the page's probe run names anyway, without a scan. */
#define VHOST_IOTLB_MAX_PER_PAGE 8

#define VHOST_IOTLB_NIL UINT32_MAX

/* Lookup tables (entries, slots) of this size or more start on a
 * boundary of it and are madvised MADV_HUGEPAGE: scattered lookups
 * then miss the data TLB far less. */
#define VHOST_IOTLB_HUGE_BYTES ((size_t)2 << 20)

/* An index slot is one word, 0 when empty, else:
 *   bits 0-37   the low bits of the block's hash (its home slot is
 *               hash & slot_mask; the bits above tell blocks apart),
 *   bits 38-40  the block size (level) + 1,
 *   bits 41-63  the id of the entry.
 * Eight slots share a cache line (half the table of a 16-byte slot
 * with the full key). A slot whose tag matches only makes it likely
 * that the entry holds the IOVA: a lookup checks the entry's range,
 * which it had to read anyway, so a tag shared by two blocks costs one
 * more entry read, never a wrong answer (entries do not overlap). */
#define VHOST_IOTLB_SLOT_HASH_BITS 38
#define VHOST_IOTLB_SLOT_LEVEL_SHIFT VHOST_IOTLB_SLOT_HASH_BITS
#define VHOST_IOTLB_SLOT_ID_SHIFT 41
#define VHOST_IOTLB_SLOT_TAG_MASK ((UINT64_C(1) << VHOST_IOTLB_SLOT_ID_SHIFT) - 1)
/* Most entries a table may hold: ids fit the slot's 23 bits. */
#define VHOST_IOTLB_MAX_CAPACITY (UINT32_C(1) << (64 - VHOST_IOTLB_SLOT_ID_SHIFT))

/* What lookups read: one cache line. */
struct vhost_iotlb_entry {
	uint64_t iova;
	uint64_t last;		/* inclusive */
	uint64_t hva;		/* ours, at iova */
	uint64_t gpa;		/* guest physical, at iova */
	uint64_t uaddr;		/* the frontend's, at iova */
	uint64_t stamp;		/* t->clock when (the oldest part was) mapped */
	uint8_t perm;		/* VHOST_ACCESS_RO / WO / RW */
	/* Place in the retirement order, for the control path (it fits
	 * the line's padding): never decreases from the oldest entry to
	 * the newest; the two parts of a split entry share it. */
	uint64_t age;
} __rte_aligned(64);

/* What only the control path reads. */
struct vhost_iotlb_node {
	uint32_t left, right;	/* treap by iova; right chains free ids */
	uint32_t older, newer;	/* retirement order */
	uint32_t nslots;	/* index slots pointing here */
};

struct vhost_iotlb {
	struct vhost_iotlb_entry *e;	/* max, indexed by id */
	struct vhost_iotlb_node *node;	/* max */
	uint64_t *slot;		/* slot_mask + 1 words, see above */
	uint64_t slot_mask;
	uint64_t seed;		/* hash and treap priorities */
	uint32_t levels;	/* bit l: some slot has block size l */
	uint32_t n;		/* entries */
	uint32_t max;
	uint32_t nslots, max_slots;
	uint32_t level_slots[VHOST_IOTLB_LEVELS];
	uint32_t root;		/* treap */
	uint32_t oldest, newest;
	uint64_t next_age;	/* the age of the next newest entry */
	uint32_t free_id;	/* released ids, through node.right */
	uint32_t fresh_id;	/* ids below were handed out at least once */
	uint64_t evictions;
	uint64_t page_evictions;	/* of those: a page held too many */
	/* Optional entry lifetime (see VHOST_IOTLB_MAX_AGE_US): updates
	 * stamp entries with clock; lookups treat entries stamped before
	 * expire_before as missing. Both stay 0 when lifetimes are off. */
	uint64_t clock;
	uint64_t expire_before;
	/* Moves forward with every change of the entries, and with
	 * init/fini (never back to a value it had): translations cached
	 * from the entries are valid while it stays the same. */
	uint64_t gen;
};

/* Allocate room for max entries (0: a table that keeps nothing).
 * Returns 0, -EINVAL if max is above VHOST_IOTLB_MAX_CAPACITY, or
 * -ENOMEM. */
int vhost_iotlb_init(struct vhost_iotlb *t, uint32_t max);
void vhost_iotlb_fini(struct vhost_iotlb *t);

/* Bytes allocated for a table of max entries. */
size_t vhost_iotlb_mem_bytes(uint32_t max);

/* Map [iova, iova + size) to uaddr (our address hva, guest physical
 * gpa, all at iova) with perm, replacing whatever was mapped there.
 * Returns 0, or -EINVAL for a zero size, an invalid perm, or a range
 * that wraps around the address space. */
int vhost_iotlb_map(struct vhost_iotlb *t, uint64_t iova, uint64_t size,
		    uint64_t uaddr, uint64_t hva, uint64_t gpa, uint8_t perm);

/* The same without a memory table (tests): hva and gpa equal uaddr. */
static inline int
vhost_iotlb_update(struct vhost_iotlb *t, uint64_t iova, uint64_t size,
		   uint64_t uaddr, uint8_t perm)
{
	return vhost_iotlb_map(t, iova, size, uaddr, uaddr, uaddr, perm);
}

/* Unmap [iova, iova + size); a size reaching past the top of the
 * address space means "to the end". Returns the number of entries
 * removed or cut. */
uint32_t vhost_iotlb_invalidate(struct vhost_iotlb *t, uint64_t iova,
				uint64_t size);

/* Remove everything. */
void vhost_iotlb_flush(struct vhost_iotlb *t);

/* Work out hva and gpa again for every entry from its uaddr (the
 * memory table changed): resolve() returns false if [uaddr, uaddr +
 * len) is not one contiguous piece of memory, and the entry is dropped.
 * Returns the number dropped. */
typedef bool (*vhost_iotlb_resolve_t)(void *arg, uint64_t uaddr, uint64_t len,
				      uint64_t *hva, uint64_t *gpa);
uint32_t vhost_iotlb_reresolve(struct vhost_iotlb *t,
			       vhost_iotlb_resolve_t resolve, void *arg);

/* Ids of the entries whose frontend range meets [uaddr, uaddr + size)
 * (size > 0), in ids[0..max); returns how many there are (more than max
 * if ids was too small). Reads only: the caller may look before it
 * takes the locks that vhost_iotlb_remove() needs, as long as nothing
 * changes the table in between. */
uint32_t vhost_iotlb_find_uaddr(const struct vhost_iotlb *t, uint64_t uaddr,
				uint64_t size, uint32_t *ids, uint32_t max);

/* Remove the entries ids[0..n) (distinct, from vhost_iotlb_find_uaddr
 * on the table as it is). */
void vhost_iotlb_remove(struct vhost_iotlb *t, const uint32_t *ids, uint32_t n);

/* Index blocks [iova, last] needs, counting no further than limit + 1. */
uint32_t vhost_iotlb_range_blocks(uint64_t iova, uint64_t last, uint32_t limit);

/* Entries in IOVA order, for tests and diagnostics: copies at most max
 * into out and returns how many there are. */
uint32_t vhost_iotlb_snapshot(const struct vhost_iotlb *t,
			      struct vhost_iotlb_entry *out, uint32_t max);

/* Check every internal invariant (tree order, retirement list, slot
 * counts, each slot's block inside its entry, each entry reachable
 * from every block it covers...). Returns 0 or -1 with a reason in why.
 * O(n + slots): for tests. */
int vhost_iotlb_check(const struct vhost_iotlb *t, char *why, size_t whylen);

/* Result of a lookup. */
enum vhost_iotlb_result {
	VHOST_IOTLB_LOOKUP_HIT,
	VHOST_IOTLB_LOOKUP_MISS,	/* nothing mapped at iova */
	VHOST_IOTLB_LOOKUP_DENIED,	/* mapped without the permission */
};

static __rte_always_inline uint64_t
vhost_iotlb_key(unsigned int level, uint64_t iova)
{
	return ((uint64_t)(level + 1) << 58) | (iova >> VHOST_IOTLB_LEVEL_SHIFT(level));
}

/* The 64-bit hash of a block key: its home slot is hash & slot_mask. */
static __rte_always_inline uint64_t
vhost_iotlb_hash(const struct vhost_iotlb *t, uint64_t key)
{
	/* A seeded 64-bit finaliser: IOVAs a guest picks do not pile up. */
	uint64_t h = key ^ t->seed;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* What a slot of a block of that hash and level holds besides the id. */
static __rte_always_inline uint64_t
vhost_iotlb_tag(uint64_t hash, unsigned int level)
{
	return (hash & ((UINT64_C(1) << VHOST_IOTLB_SLOT_HASH_BITS) - 1)) |
		((uint64_t)(level + 1) << VHOST_IOTLB_SLOT_LEVEL_SHIFT);
}

/* The entry containing iova, or NULL. */
static inline const struct vhost_iotlb_entry *
vhost_iotlb_find(const struct vhost_iotlb *t, uint64_t iova)
{
	uint32_t lv = t->levels;

	while (lv != 0) {
		unsigned int l = (unsigned int)__builtin_ctz(lv);
		uint64_t h = vhost_iotlb_hash(t, vhost_iotlb_key(l, iova));
		uint64_t tag = vhost_iotlb_tag(h, l);

		lv &= lv - 1;
		for (h &= t->slot_mask;; h = (h + 1) & t->slot_mask) {
			uint64_t w = t->slot[h];
			const struct vhost_iotlb_entry *e;

			if (w == 0)
				break;
			if ((w & VHOST_IOTLB_SLOT_TAG_MASK) != tag)
				continue;
			e = &t->e[w >> VHOST_IOTLB_SLOT_ID_SHIFT];
			if (iova - e->iova <= e->last - e->iova)
				return e;
		}
	}
	return NULL;
}

/* Prefetching a batch of lookups (the IOVAs of a burst's buffers), in
 * two steps so that their misses to memory overlap: first the index
 * slot each lookup probes first (for the smallest block size in use),
 * then, once the slots have arrived, the entries they name. Returns
 * the hash to give vhost_iotlb_prefetch_entry(). */
static __rte_always_inline uint64_t
vhost_iotlb_prefetch_slot(const struct vhost_iotlb *t, uint64_t iova)
{
	unsigned int l = (unsigned int)__builtin_ctz(t->levels);
	uint64_t h = vhost_iotlb_hash(t, vhost_iotlb_key(l, iova));

	rte_prefetch0(&t->slot[h & t->slot_mask]);
	return h;
}

/* Returns the id of the entry it started loading (a hint for
 * vhost_iotlb_lookup_hinted() on the same iova, while t->gen stays the
 * same), or VHOST_IOTLB_NIL. The probe run is followed as far as the
 * line of the home slot goes (the line the prefetch loaded): a block
 * whose home slot another one holds is found too. */
static __rte_always_inline uint32_t
vhost_iotlb_prefetch_entry(const struct vhost_iotlb *t, uint64_t h)
{
	const uint64_t per_line = RTE_CACHE_LINE_SIZE / sizeof(t->slot[0]);
	const uint64_t tag = vhost_iotlb_tag(h, (unsigned int)__builtin_ctz(t->levels));

	for (uint64_t i = h & t->slot_mask;; i++) {
		uint64_t w = t->slot[i];

		if (w == 0)
			return VHOST_IOTLB_NIL;
		if ((w & VHOST_IOTLB_SLOT_TAG_MASK) == tag) {
			uint32_t id = (uint32_t)(w >> VHOST_IOTLB_SLOT_ID_SHIFT);

			rte_prefetch0(&t->e[id]);
			return id;
		}
		if ((i + 1) % per_line == 0 || i == t->slot_mask)
			return VHOST_IOTLB_NIL;
	}
}

/* vhost_iotlb_find() given hint: VHOST_IOTLB_NIL, or an id that
 * vhost_iotlb_prefetch_entry() returned while t->gen had the value it
 * has now (so a live entry). Entries do not overlap: if the hinted one
 * contains iova, it is the one the search would find, without the hash
 * and the slot; otherwise the search as ever. */
static __rte_always_inline const struct vhost_iotlb_entry *
vhost_iotlb_find_hinted(const struct vhost_iotlb *t, uint64_t iova,
			uint32_t hint)
{
	if (hint != VHOST_IOTLB_NIL) {
		const struct vhost_iotlb_entry *e = &t->e[hint];

		if (iova - e->iova <= e->last - e->iova)
			return e;
	}
	return vhost_iotlb_find(t, iova);
}

/* Translate iova for an access of *len bytes needing perm, treating
 * entries stamped before expire_before as missing, with a hint as for
 * vhost_iotlb_find_hinted(): the result is the same with any valid
 * hint. On a hit, *entry points at the entry (valid until the next
 * change) and *len is clipped to its end. */
static __rte_always_inline enum vhost_iotlb_result
vhost_iotlb_lookup_hinted(const struct vhost_iotlb *t, uint64_t iova,
			  uint64_t *len, uint8_t perm, uint64_t expire_before,
			  uint32_t hint, const struct vhost_iotlb_entry **entry)
{
	const struct vhost_iotlb_entry *e = vhost_iotlb_find_hinted(t, iova, hint);
	uint64_t avail;

	if (e == NULL)
		return VHOST_IOTLB_LOOKUP_MISS;
	if (unlikely(e->stamp < expire_before))
		return VHOST_IOTLB_LOOKUP_MISS;	/* too old to trust */
	if ((e->perm & perm) != perm)
		return VHOST_IOTLB_LOOKUP_DENIED;
	*entry = e;
	/* Bytes from iova to the end of the entry, without overflow: an
	 * entry may cover the whole 64-bit space. */
	avail = e->last - iova;
	if (*len != 0 && *len - 1 > avail)
		*len = avail + 1;
	return VHOST_IOTLB_LOOKUP_HIT;
}

/* The same without a hint. */
static __rte_always_inline enum vhost_iotlb_result
vhost_iotlb_lookup_at(const struct vhost_iotlb *t, uint64_t iova, uint64_t *len,
		      uint8_t perm, uint64_t expire_before,
		      const struct vhost_iotlb_entry **entry)
{
	return vhost_iotlb_lookup_hinted(t, iova, len, perm, expire_before,
					 VHOST_IOTLB_NIL, entry);
}

/* The same with the table's own expiry horizon, giving the uaddr. */
static inline enum vhost_iotlb_result
vhost_iotlb_lookup_entry(struct vhost_iotlb *t, uint64_t iova, uint64_t *len,
			 uint8_t perm, uint64_t *uaddr,
			 const struct vhost_iotlb_entry **entry)
{
	const struct vhost_iotlb_entry *e = NULL;
	enum vhost_iotlb_result r;

	r = vhost_iotlb_lookup_at(t, iova, len, perm, t->expire_before, &e);
	if (r != VHOST_IOTLB_LOOKUP_HIT)
		return r;
	if (entry != NULL)
		*entry = e;
	*uaddr = e->uaddr + (iova - e->iova);
	return r;
}

static inline enum vhost_iotlb_result
vhost_iotlb_lookup(struct vhost_iotlb *t, uint64_t iova, uint64_t *len,
		   uint8_t perm, uint64_t *uaddr)
{
	return vhost_iotlb_lookup_entry(t, iova, len, perm, uaddr, NULL);
}

#endif /* VHOST_IOTLB_H */
