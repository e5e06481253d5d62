/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_IOTLB_H
#define VHOST_IOTLB_H

/* A device IOTLB cache: IOVA ranges mapped to frontend user addresses
 * (uaddr) with a permission, as the frontend's vIOMMU sends them.
 *
 * Entries are kept sorted by IOVA, never overlapping, in an array:
 * lookups are a binary search (O(log n)), preceded by a check of the
 * entry hit last, which makes the common case (consecutive buffers in
 * one mapping) O(1). Ranges are inclusive [iova, last], so a mapping
 * that ends at the top of the 64-bit space needs no size that would
 * overflow. An update whose neighbour is contiguous in both IOVA and
 * uaddr with the same permission is merged into it; an invalidation of
 * part of an entry splits it. The number of entries is bounded; when
 * full, the entry inserted longest ago is evicted (it is only a cache:
 * an evicted mapping costs one miss later).
 *
 * Not thread-safe: the caller serialises writers against readers (the
 * virtqueue's iotlb_lock). */

#include <stdbool.h>
#include <stdint.h>

#include <rte_branch_prediction.h>

struct vhost_iotlb_entry {
	uint64_t iova;
	uint64_t last;		/* inclusive */
	uint64_t uaddr;
	uint64_t seq;		/* insertion order, for eviction */
	uint64_t stamp;		/* t->clock when (the oldest part was) mapped */
	uint8_t perm;		/* VHOST_ACCESS_RO / WO / RW */
};

struct vhost_iotlb {
	struct vhost_iotlb_entry *e;
	uint32_t n;
	uint32_t max;
	uint32_t hint;		/* index of the last hit */
	uint64_t next_seq;
	uint64_t evictions;
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

/* Allocate room for max entries. Returns 0 or -ENOMEM. */
int vhost_iotlb_init(struct vhost_iotlb *t, uint32_t max);
void vhost_iotlb_fini(struct vhost_iotlb *t);

/* Map [iova, iova + size) to uaddr with perm, replacing whatever was
 * mapped there. Returns 0, or -EINVAL for a zero size, an invalid perm,
 * or a range that wraps around the address space. */
int vhost_iotlb_update(struct vhost_iotlb *t, uint64_t iova, uint64_t size,
		       uint64_t uaddr, uint8_t perm);

/* Unmap [iova, iova + size); a size reaching past the top of the
 * address space means "to the end". Returns the number of entries
 * removed or cut. */
uint32_t vhost_iotlb_invalidate(struct vhost_iotlb *t, uint64_t iova,
				uint64_t size);

/* Remove everything. */
void vhost_iotlb_flush(struct vhost_iotlb *t);

/* Result of a lookup. */
enum vhost_iotlb_result {
	VHOST_IOTLB_LOOKUP_HIT,
	VHOST_IOTLB_LOOKUP_MISS,	/* nothing mapped at iova */
	VHOST_IOTLB_LOOKUP_DENIED,	/* mapped without the permission */
};

/* Index of the entry containing iova, or -1. */
static inline int32_t
vhost_iotlb_find(struct vhost_iotlb *t, uint64_t iova)
{
	/* Readers share the hint under the read lock: load it once and
	 * store it atomically; a stale hint only costs the search. */
	uint32_t h = __atomic_load_n(&t->hint, __ATOMIC_RELAXED);
	uint32_t lo = 0, hi = t->n;

	if (h < t->n && iova >= t->e[h].iova && iova <= t->e[h].last)
		return (int32_t)h;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (iova < t->e[mid].iova)
			hi = mid;
		else if (iova > t->e[mid].last)
			lo = mid + 1;
		else {
			__atomic_store_n(&t->hint, mid, __ATOMIC_RELAXED);
			return (int32_t)mid;
		}
	}
	return -1;
}

/* Translate iova for an access of *len bytes needing perm. On a hit,
 * *uaddr is set, *len clipped to the end of the entry and, if entry is
 * not NULL, *entry points at the entry (valid until the next change). */
static inline enum vhost_iotlb_result
vhost_iotlb_lookup_entry(struct vhost_iotlb *t, uint64_t iova, uint64_t *len,
			 uint8_t perm, uint64_t *uaddr,
			 const struct vhost_iotlb_entry **entry)
{
	int32_t i = vhost_iotlb_find(t, iova);
	const struct vhost_iotlb_entry *e;
	uint64_t avail;

	if (i < 0)
		return VHOST_IOTLB_LOOKUP_MISS;
	e = &t->e[i];
	if (unlikely(e->stamp < t->expire_before))
		return VHOST_IOTLB_LOOKUP_MISS;	/* too old to trust */
	if ((e->perm & perm) != perm)
		return VHOST_IOTLB_LOOKUP_DENIED;
	if (entry != NULL)
		*entry = e;
	/* Bytes from iova to the end of the entry, without overflow: an
	 * entry may cover the whole 64-bit space. */
	avail = e->last - iova;
	if (*len != 0 && *len - 1 > avail)
		*len = avail + 1;
	*uaddr = e->uaddr + (iova - e->iova);
	return VHOST_IOTLB_LOOKUP_HIT;
}

static inline enum vhost_iotlb_result
vhost_iotlb_lookup(struct vhost_iotlb *t, uint64_t iova, uint64_t *len,
		   uint8_t perm, uint64_t *uaddr)
{
	return vhost_iotlb_lookup_entry(t, iova, len, perm, uaddr, NULL);
}

#endif /* VHOST_IOTLB_H */
