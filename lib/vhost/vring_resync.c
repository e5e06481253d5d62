/* SPDX-License-Identifier: BSD-3-Clause */

/* Ring state recovery when a ring (re)starts.
 *
 * A frontend that outlives its backend (virtio-user with server=1, a
 * guest whose vhost-user backend was relaunched) keeps its rings, and
 * some frontends then send SET_VRING_BASE 0 because they do not track
 * the backend's index. The ring memory knows better: every entry below
 * used->idx has been completed. As DPDK does, the ring resumes from the
 * used index when it disagrees with the base, once, at the first moment
 * the ring is both armed by SET_VRING_BASE and translated (with an
 * IOMMU, possibly only after the IOTLB update that maps the used ring).
 * Re-translations while the ring runs (memory table, IOTLB) do not
 * check: the datapath owns the indexes then.
 *
 * A packed ring has no used index: its descriptors' flags say what the
 * previous backend completed (resync_packed). */

#include "vring.h"
#include "vring_packed.h"

/* Split ring: our datapath publishes every used entry at the end of each
 * burst, so between bursts last_avail_idx == last_used_idx and entries
 * in [used->idx, avail->idx) are exactly the ones not completed. */
static void
resync_split(struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	uint16_t used = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	uint16_t avail = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	uint16_t base = vq->last_avail_idx;

	if (used == base)
		return;
	/* A driver never has more entries outstanding than the ring holds:
	 * a used index that says otherwise is garbage, and the frontend's
	 * base is the better guess (the datapath refuses it in turn if it
	 * is impossible too). */
	if ((uint16_t)(avail - used) > vq->size) {
		VHOST_DEV_LOG(ERR, dev, "vring %u: used index %u is impossible with avail index %u (ring size %u): keeping base %u from the frontend",
			vq->index, used, avail, vq->size, base);
		return;
	}
	VHOST_DEV_LOG(WARNING, dev, "vring %u: base %u from the frontend, but the ring's used index is %u (avail %u): resuming at %u; packets in flight when the previous backend stopped are not redone",
		vq->index, base, used, avail, used);
	vq->last_avail_idx = used;
	vq->last_used_idx = used;
	vq->walked_ahead = used;
	vq->signalled_used_valid = false;
}

/* The device wrote this descriptor back as used in the lap of wrap. */
static bool
packed_used_in_lap(const struct vhost_virtqueue *vq, struct vhost_ring_pos p)
{
	uint16_t f = __atomic_load_n(&vq->desc_packed[p.idx].flags,
				     __ATOMIC_ACQUIRE);

	return !!(f & VHOST_PACKED_AVAIL) == p.wrap &&
	       !!(f & VHOST_PACKED_USED) == p.wrap;
}

/* Descriptors of the chain whose used element is at head. The device
 * rewrote only the head; the driver's flags stay on the rest: NEXT on
 * all but the last, which carries the buffer id (DPDK's virtio writes
 * the id there only, Linux on every descriptor). Without a matching
 * last descriptor, the chain had one descriptor. */
static uint16_t
packed_used_chain_len(const struct vhost_virtqueue *vq, struct vhost_ring_pos head)
{
	uint16_t id = vq->desc_packed[head.idx].id;
	struct vhost_ring_pos p = head;

	for (uint16_t n = 1; n < vq->size; n++) {
		uint16_t f;

		vhost_ring_pos_advance(vq, &p, 1);
		f = vq->desc_packed[p.idx].flags;
		if (!vhost_packed_flags_avail(f, p.wrap))
			break;
		if (!(f & VRING_DESC_F_NEXT))
			return vq->desc_packed[p.idx].id == id ? n + 1 : 1;
	}
	return 1;
}

/* Where the driver stands, from the AVAIL bits alone. The driver
 * writes every descriptor in ring order, AVAIL set to its lap's wrap
 * counter (the device writes the same value back into used ones), so
 * the bits change once around the ring: at the driver's position. All
 * equal means it is at 0 of the lap after theirs. Returns false if they
 * change more than once (a driver in the middle of a write, or not a
 * packed ring's history). */
static bool
packed_driver_pos(const struct vhost_virtqueue *vq, struct vhost_ring_pos *d)
{
	bool first = !!(vq->desc_packed[0].flags & VHOST_PACKED_AVAIL);
	bool prev = first;
	uint16_t flips = 0;

	*d = (struct vhost_ring_pos){ 0, !first };
	for (uint16_t i = 1; i < vq->size; i++) {
		bool a = !!(__atomic_load_n(&vq->desc_packed[i].flags,
					    __ATOMIC_ACQUIRE) & VHOST_PACKED_AVAIL);

		if (a != prev && flips++ == 0)
			*d = (struct vhost_ring_pos){ i, first };
		prev = a;
	}
	return flips <= 1;
}

/* Positions from p up to d, in [0, 2 * size). */
static uint32_t
packed_dist(const struct vhost_virtqueue *vq, struct vhost_ring_pos p,
	    struct vhost_ring_pos d)
{
	uint32_t lap = 2u * vq->size;

	return (vhost_packed_linear(vq, d.idx, d.wrap) + lap -
		vhost_packed_linear(vq, p.idx, p.wrap)) % lap;
}

static void
packed_pos_back(const struct vhost_virtqueue *vq, struct vhost_ring_pos *p)
{
	if (p->idx == 0) {
		p->idx = (uint16_t)(vq->size - 1);
		p->wrap = !p->wrap;
	} else {
		p->idx--;
	}
}

enum packed_pos_check {
	POS_OK,
	POS_MID_CHAIN,		/* the descriptor before p does not end a chain */
	POS_NOTHING_USED,	/* nothing used in the ring before p */
};

/* Does a chain start at p, m (< size) descriptors after the driver's
 * position a lap earlier, as it must where the device stands? The last
 * chain before p was used: the nearest used descriptor before p (within
 * those m) says so, and the descriptor before p may end a chain (a used
 * one, whose NEXT the device overwrote, or the driver's without NEXT; a
 * device that used a batch in order may have written only one used
 * descriptor for it). Without a used descriptor there, the driver may
 * have reused the position of the last used chain's head already: the
 * m descriptors must then be the rest of that chain. */
static enum packed_pos_check
packed_device_pos(const struct vhost_virtqueue *vq, struct vhost_ring_pos p,
		  uint32_t m)
{
	struct vhost_ring_pos q = p, prev = p;
	bool ends;

	packed_pos_back(vq, &prev);
	ends = packed_used_in_lap(vq, prev) ||
		!(vq->desc_packed[prev.idx].flags & VRING_DESC_F_NEXT);
	for (uint32_t i = 0; i < m; i++) {
		packed_pos_back(vq, &q);
		if (packed_used_in_lap(vq, q))
			return ends ? POS_OK : POS_MID_CHAIN;
	}
	/* q is the first of the m, prev the last. */
	for (uint32_t i = 0; i + 1 < m; i++) {
		if (!(vq->desc_packed[q.idx].flags & VRING_DESC_F_NEXT))
			return POS_NOTHING_USED;
		vhost_ring_pos_advance(vq, &q, 1);
	}
	return ends ? POS_OK : POS_NOTHING_USED;
}

/* Packed ring: our datapath writes back every chain it walked by the end
 * of each burst, in ring order, so between bursts the used and avail
 * positions are equal: the device stands where the descriptors from it
 * to the driver's position are all the driver's, and the last chain
 * before it was used.
 *
 * The AVAIL bits give the driver's position D, and the device is at
 * most a ring behind it. A base farther than that (the same index with
 * the other wrap counter: a base a lap behind, or garbage) cannot be
 * true: its wrap counter is flipped, which puts it within the ring
 * before D. Used chains between the base and D mean the base is stale:
 * the ring resumes after the last of them. Nothing used in the whole
 * ring before D means the driver filled it: the device is a ring
 * behind D. A base in the middle of a chain keeps the frontend's base,
 * with an error. */
static void
resync_packed(struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	struct vhost_ring_pos base = { vq->last_used_idx, vq->used_wrap };
	struct vhost_ring_pos d, p, q, head = base;
	uint32_t n;
	bool lap_off = false, moved = false;

	/* A base outside the ring is the datapath's to refuse. */
	if (base.idx >= vq->size || vq->last_avail_idx >= vq->size)
		return;
	if (!packed_driver_pos(vq, &d)) {
		VHOST_DEV_LOG(ERR, dev, "vring %u: packed ring's AVAIL flags change at more than one place: the driver's position is unknown, keeping base %u (wrap %u) from the frontend",
			vq->index, base.idx, base.wrap);
		return;
	}
	p = base;
	n = packed_dist(vq, p, d);
	if (n > vq->size) {
		p.wrap = !p.wrap;
		n -= vq->size;
		lap_off = true;
	}
	/* The last used chain in [p, d): the ring resumes after it. */
	q = p;
	for (uint32_t i = 0; i < n; i++) {
		if (packed_used_in_lap(vq, q)) {
			head = q;
			moved = true;
		}
		vhost_ring_pos_advance(vq, &q, 1);
	}
	if (moved) {
		p = head;
		vhost_ring_pos_advance(vq, &p, packed_used_chain_len(vq, head));
		n = packed_dist(vq, p, d);
	}
	if (n < vq->size) {
		switch (packed_device_pos(vq, p, vq->size - n)) {
		case POS_OK:
			break;
		case POS_MID_CHAIN:
			VHOST_DEV_LOG(ERR, dev, "vring %u: packed base %u (wrap %u) from the frontend disagrees with the ring (driver at %u, wrap %u): %u (wrap %u) is inside a chain; keeping the frontend's base",
				vq->index, base.idx, base.wrap, d.idx, d.wrap,
				p.idx, p.wrap);
			return;
		case POS_NOTHING_USED:
			p = (struct vhost_ring_pos){ d.idx, !d.wrap };
			moved = true;
			break;
		}
	}
	if (!lap_off && !moved)
		return;
	VHOST_DEV_LOG(WARNING, dev, "vring %u: packed base %u (wrap %u) from the frontend, but the ring's descriptors were used up to %u (wrap %u)%s: resuming there; packets in flight when the previous backend stopped are not redone",
		vq->index, base.idx, base.wrap, p.idx, p.wrap,
		lap_off ? " (the base is a lap off)" : "");
	vq->last_avail_idx = p.idx;
	vq->avail_wrap = p.wrap;
	vq->last_used_idx = p.idx;
	vq->used_wrap = p.wrap;
	vq->walked_ahead = (uint16_t)vhost_packed_linear(vq, p.idx, p.wrap);
	vq->signalled_used_valid = false;
}

void
vhost_vring_resync(struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	if (!vq->resync_armed || !vq->access_ok)
		return;
	vq->resync_armed = false;
	vq->avail_idx_bad = false;
	if (vhost_packed(dev))
		resync_packed(dev, vq);
	else
		resync_split(dev, vq);
}
