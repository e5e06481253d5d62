/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_DESC_CHAIN_H
#define VHOST_DESC_CHAIN_H

/* The one descriptor-chain walker of the library: enqueue and dequeue,
 * direct and indirect, all go through it. It reads each descriptor once
 * (the guest may change it meanwhile), checks every index, flag, length
 * and address, and produces the chain as translated pieces. The copy
 * helpers below move bytes between such pieces and flat memory. */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_memcpy.h>

#include "iotlb_miss.h"
#include "vhost_device_types.h"
#include "vhost_translate.h"

/* A walked chain: pieces segs[first .. first + nsegs) of the caller's
 * array, len bytes in all. */
struct vhost_chain {
	uint16_t head;		/* split: head index; packed: ring position */
	uint16_t nsegs;
	uint32_t len;
	/* Packed: the buffer id (the list's last descriptor's) and the ring
	 * descriptors the chain takes; also set for a refused chain, which
	 * goes back to the guest. Split: head and 1. */
	uint16_t id;
	uint16_t ndesc;
};

enum vhost_chain_dir {
	VHOST_CHAIN_DEVICE_READS,	/* guest -> host (Tx) */
	VHOST_CHAIN_DEVICE_WRITES,	/* host -> guest (Rx) */
};

/* Walk the chain starting at descriptor head. Pieces are appended to
 * segs from index *nsegs (at most max_segs in all), *nsegs is advanced.
 * Returns 0, or a negative errno if the chain is invalid: then nothing
 * of it may be accessed, and *nsegs is left unchanged.
 * Caller is inside the ring (a burst, or vhost_vq_lock).
 * This is the general walker; datapath callers use vhost_walk_chain()
 * below, which handles the common shape inline and defers to it. */
int vhost_walk_chain_general(const struct vhost_device *dev,
			     struct vhost_virtqueue *vq, uint16_t head,
			     enum vhost_chain_dir dir, struct vhost_seg *segs,
			     uint16_t *nsegs, uint16_t max_segs,
			     struct vhost_chain *chain);

/* A chain the fast path found refused by the translation: log and count
 * it as the general walker does. Returns err. */
int vhost_chain_refused(const struct vhost_device *dev,
			struct vhost_virtqueue *vq, uint16_t head, int err);

/* The packed ring's general walker: the list of consecutive ring
 * descriptors starting at position pos (the caller saw it available),
 * or the indirect table its one descriptor names. Same checks, pieces
 * and result as vhost_walk_chain_general(); in addition, chain->id and
 * chain->ndesc are set for a refused chain too (not after -EAGAIN), so
 * that it can be returned. A list that does not end within the ring
 * size is refused (-ELOOP) as taking the whole ring. */
int vhost_walk_chain_packed_general(const struct vhost_device *dev,
				    struct vhost_virtqueue *vq, uint16_t pos,
				    enum vhost_chain_dir dir,
				    struct vhost_seg *segs, uint16_t *nsegs,
				    uint16_t max_segs, struct vhost_chain *chain);

/* The inline part both layouts share: one direct buffer of the right
 * direction, contiguous in our memory. Returns 0 (walked), 1 (let the
 * general walker decide) or a negative errno. */
static __rte_always_inline int
vhost_walk_one(const struct vhost_device *dev, struct vhost_virtqueue *vq,
	       uint16_t head, uint64_t addr, uint32_t len, bool device_writes,
	       struct vhost_seg *segs, uint16_t *nsegs, struct vhost_chain *chain)
{
	uint64_t piece, gpa;
	uint8_t *hva;

	if (unlikely(len == 0 ||
		     len > VHOST_MAX_PKT_LEN * (uint64_t)VHOST_MAX_MRG_CHAINS ||
		     addr > UINT64_MAX - (len - 1)))
		return 1;
	piece = len;
	hva = vhost_translate(dev, vq, addr, &piece,
			      device_writes ? VHOST_PERM_WRITE : VHOST_PERM_READ,
			      &gpa);
	if (unlikely(hva == NULL)) {
		if (vq->xlate_err != -EAGAIN)
			return vhost_chain_refused(dev, vq, head, vq->xlate_err);
		/* A miss: ask for the rest of the buffer too, as the
		 * general walker would. */
		vhost_iotlb_miss_rest(dev, vq, addr, len,
				      device_writes ? VHOST_PERM_WRITE : VHOST_PERM_READ);
		return -EAGAIN;
	}
	if (unlikely(piece != len))
		return 1;	/* crosses a region or mapping boundary */
	segs[*nsegs] = (struct vhost_seg){ .hva = hva, .len = len, .gpa = gpa };
	(*nsegs)++;
	chain->head = head;
	chain->nsegs = 1;
	chain->len = len;
	return 0;
}

/* The split ring's second inline shape: two direct descriptors of the
 * right direction, the second the last, each buffer contiguous in our
 * memory and not empty. A frontend posts that for a header and its
 * data, or for a buffer cut at a page boundary because its IOMMU pages
 * are scattered (each then a lookup of its own). d0 is the head, whose
 * flags the caller read: shape with NEXT. Returns as vhost_walk_one();
 * a miss or a refusal is the general walker's: it translates in the
 * same order and stops at the same buffer. */
static __rte_always_inline int
vhost_walk_two(const struct vhost_device *dev, struct vhost_virtqueue *vq,
	       uint16_t head, const volatile struct vring_desc *d0,
	       bool device_writes, struct vhost_seg *segs, uint16_t *nsegs,
	       uint16_t max_segs, struct vhost_chain *chain)
{
	const uint16_t shape = device_writes ? VRING_DESC_F_WRITE : 0;
	const uint8_t perm = device_writes ? VHOST_PERM_WRITE : VHOST_PERM_READ;
	const volatile struct vring_desc *d1;
	uint16_t next = d0->next, n = *nsegs;
	uint64_t addr[2];
	uint32_t len[2];

	if (unlikely(next >= vq->size || max_segs - n < 2))
		return 1;
	d1 = &vq->desc[next];
	if (unlikely(d1->flags != shape))
		return 1;
	addr[0] = d0->addr;
	len[0] = d0->len;
	addr[1] = d1->addr;
	len[1] = d1->len;
	if (unlikely(len[0] == 0 || len[1] == 0 ||
		     (uint64_t)len[0] + len[1] >
		     VHOST_MAX_PKT_LEN * (uint64_t)VHOST_MAX_MRG_CHAINS ||
		     addr[0] > UINT64_MAX - (len[0] - 1) ||
		     addr[1] > UINT64_MAX - (len[1] - 1)))
		return 1;
	for (int i = 0; i < 2; i++) {
		uint64_t piece = len[i], gpa;
		uint8_t *hva = vhost_translate(dev, vq, addr[i], &piece, perm, &gpa);

		if (unlikely(hva == NULL)) {
			if (vq->xlate_err != -EAGAIN)
				return vhost_chain_refused(dev, vq, head, vq->xlate_err);
			vhost_iotlb_miss_rest(dev, vq, addr[i], len[i], perm);
			return -EAGAIN;
		}
		if (unlikely(piece != len[i]))
			return 1;	/* crosses a region or mapping boundary */
		segs[n + i] = (struct vhost_seg){ .hva = hva, .len = len[i], .gpa = gpa };
	}
	*nsegs = n + 2;
	chain->head = head;
	chain->nsegs = 2;
	chain->len = len[0] + len[1];
	return 0;
}

/* vhost_walk_chain_general() with the common shapes done inline: one
 * direct descriptor of the right direction whose buffer is contiguous
 * in our memory, or two such (vhost_walk_two). The result is the
 * general walker's for those shapes (the fuzzers and unit tests compare
 * both against a reference walker); every other shape, and anything
 * doubtful, goes to the general walker, which reads the descriptors
 * again and decides. */
static __rte_always_inline int
vhost_walk_chain(const struct vhost_device *dev, struct vhost_virtqueue *vq,
		 uint16_t head, enum vhost_chain_dir dir,
		 struct vhost_seg *segs, uint16_t *nsegs, uint16_t max_segs,
		 struct vhost_chain *chain)
{
	const bool device_writes = dir == VHOST_CHAIN_DEVICE_WRITES;
	const uint16_t shape = device_writes ? VRING_DESC_F_WRITE : 0;
	const volatile struct vring_desc *d;
	uint16_t flags;
	int ret;

	if (unlikely(head >= vq->size || *nsegs >= max_segs))
		goto general;
	d = &vq->desc[head];
	/* One snapshot of the fields used below: the guest may rewrite the
	 * descriptor meanwhile. */
	chain->id = head;
	chain->ndesc = 1;
	flags = d->flags;
	if (likely(flags == shape))
		ret = vhost_walk_one(dev, vq, head, d->addr, d->len, device_writes,
				     segs, nsegs, chain);
	else if (flags == (shape | VRING_DESC_F_NEXT))
		ret = vhost_walk_two(dev, vq, head, d, device_writes, segs,
				     nsegs, max_segs, chain);
	else
		goto general;
	if (likely(ret <= 0))
		return ret;
general:
	return vhost_walk_chain_general(dev, vq, head, dir, segs, nsegs,
					max_segs, chain);
}

/* The same for a packed ring's chain at position pos, which the caller
 * saw available. */
static __rte_always_inline int
vhost_walk_chain_packed(const struct vhost_device *dev,
			struct vhost_virtqueue *vq, uint16_t pos,
			enum vhost_chain_dir dir, struct vhost_seg *segs,
			uint16_t *nsegs, uint16_t max_segs,
			struct vhost_chain *chain)
{
	const bool device_writes = dir == VHOST_CHAIN_DEVICE_WRITES;
	const uint16_t shape = device_writes ? VRING_DESC_F_WRITE : 0;
	const uint16_t ring_bits = (1u << VRING_PACKED_DESC_F_AVAIL) |
				   (1u << VRING_PACKED_DESC_F_USED);
	const volatile struct vring_packed_desc *d;
	int ret;

	if (unlikely(pos >= vq->size || *nsegs >= max_segs))
		goto general;
	d = &vq->desc_packed[pos];
	chain->id = d->id;
	chain->ndesc = 1;
	if (unlikely((d->flags & ~ring_bits) != shape))
		goto general;
	ret = vhost_walk_one(dev, vq, pos, d->addr, d->len, device_writes,
			     segs, nsegs, chain);
	if (likely(ret <= 0))
		return ret;
general:
	return vhost_walk_chain_packed_general(dev, vq, pos, dir, segs, nsegs,
					       max_segs, chain);
}

/* After an IOTLB miss stopped a burst at avail entry first - 1: walk up
 * to count chains (at most VHOST_IOTLB_MAX_PENDING) from avail entry
 * first on without using them, so that their misses are asked for
 * together, ahead of need, rather than one per burst. Caller holds the
 * locks of vhost_walk_chain. */
void vhost_walk_ahead(const struct vhost_device *dev, struct vhost_virtqueue *vq,
		      uint16_t first, uint16_t count, enum vhost_chain_dir dir);

/* The same on a packed ring, from the chain at position idx (wrap
 * counter wrap: the one that missed, whose length is not known) on,
 * while the chains are available: up to VHOST_IOTLB_MAX_PENDING chains,
 * at most a ring's worth of descriptors. */
void vhost_walk_ahead_packed(const struct vhost_device *dev,
			     struct vhost_virtqueue *vq, uint16_t idx,
			     bool wrap, enum vhost_chain_dir dir);

/* A burst stopped on an IOTLB miss at its consumed-th new chain (split:
 * of avail new entries; packed: at ring position idx, wrap counter
 * wrap): ask for the chains after it too, on either layout. */
static __rte_always_inline void
vhost_walk_ahead_after_miss(const struct vhost_device *dev,
			    struct vhost_virtqueue *vq, uint16_t consumed,
			    uint16_t avail, uint16_t idx, bool wrap,
			    enum vhost_chain_dir dir, const bool packed)
{
	if (packed)
		vhost_walk_ahead_packed(dev, vq, idx, wrap, dir);
	else
		vhost_walk_ahead(dev, vq, consumed + 1, avail - consumed - 1, dir);
}

/* Cursor over a sequence of pieces. */
struct vhost_seg_cursor {
	const struct vhost_seg *seg;
	const struct vhost_seg *end;
	uint32_t off;		/* into *seg */
};

static inline void
vhost_cursor_init(struct vhost_seg_cursor *c, const struct vhost_seg *segs,
		  uint16_t nsegs)
{
	c->seg = segs;
	c->end = segs + nsegs;
	c->off = 0;
	while (c->seg < c->end && c->seg->len == 0)
		c->seg++;
}

/* Copy len bytes between buf and the pieces at the cursor, into the
 * guest buffers if to_guest. Returns the bytes copied (less than len
 * only if the pieces run out). */
static __rte_always_inline uint32_t
vhost_cursor_copy(struct vhost_seg_cursor *c, void *buf, uint32_t len,
		  bool to_guest)
{
	uint32_t done = 0;

	while (done < len && c->seg < c->end) {
		uint32_t n = RTE_MIN(len - done, c->seg->len - c->off);
		uint8_t *guest = c->seg->hva + c->off;
		uint8_t *local = (uint8_t *)buf + done;

		if (to_guest)
			rte_memcpy(guest, local, n);
		else
			rte_memcpy(local, guest, n);
		done += n;
		c->off += n;
		if (c->off == c->seg->len) {
			c->seg++;
			c->off = 0;
		}
	}
	return done;
}

static __rte_always_inline uint32_t
vhost_cursor_write(struct vhost_seg_cursor *c, const void *src, uint32_t len)
{
	return vhost_cursor_copy(c, (void *)(uintptr_t)src, len, true);
}

static __rte_always_inline uint32_t
vhost_cursor_read(struct vhost_seg_cursor *c, void *dst, uint32_t len)
{
	return vhost_cursor_copy(c, dst, len, false);
}

#endif /* VHOST_DESC_CHAIN_H */
