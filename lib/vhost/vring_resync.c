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

/* Packed ring: our datapath writes back every chain it walked by the end
 * of each burst, in ring order, so between bursts the used and avail
 * positions are equal and the chains in front of them are not done. The
 * base is stale if its descriptor was already written back as used in
 * the base's lap: then the ring resumes after the last descriptor used
 * in the lap that follows (one ring size scanned, the wrap counter
 * flipping at the end). The base's wrap counter is trusted: a base a
 * whole lap behind cannot be told from the ring. */
static void
resync_packed(struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	struct vhost_ring_pos base = { vq->last_used_idx, vq->used_wrap };
	struct vhost_ring_pos p = base, last = base;

	/* A base outside the ring is the datapath's to refuse. */
	if (base.idx >= vq->size || vq->last_avail_idx >= vq->size ||
	    !packed_used_in_lap(vq, base))
		return;
	for (uint16_t i = 0; i < vq->size; i++) {
		if (packed_used_in_lap(vq, p))
			last = p;
		vhost_ring_pos_advance(vq, &p, 1);
	}
	p = last;
	vhost_ring_pos_advance(vq, &p, packed_used_chain_len(vq, last));
	VHOST_DEV_LOG(WARNING, dev, "vring %u: packed base %u (wrap %u) from the frontend, but the ring's descriptors were used up to %u (wrap %u): resuming there; packets in flight when the previous backend stopped are not redone",
		vq->index, base.idx, base.wrap, p.idx, p.wrap);
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
