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
 * check: the datapath owns the indexes then. */

#include "vring.h"

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

void
vhost_vring_resync(struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	if (!vq->resync_armed || !vq->access_ok)
		return;
	vq->resync_armed = false;
	vq->avail_idx_bad = false;
	/* A packed ring has no used index to check against: it resumes
	 * from the base with its wrap counters (a check from descriptor
	 * flags would go beside resync_split). */
	if (vhost_packed(dev))
		return;
	resync_split(dev, vq);
}
