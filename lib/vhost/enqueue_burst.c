/* SPDX-License-Identifier: BSD-3-Clause */

/* rte_vhost_enqueue_burst: the ring's held packets first (so packets
 * never overtake each other), then the caller's; what an IOTLB miss
 * stops is held (held_pkts.h) rather than left for the caller to drop. */

#include <rte_vhost.h>

#include "datapath.h"
#include "enqueue.h"
#include "held_pkts.h"

uint16_t
rte_vhost_enqueue_burst(int vid, uint16_t queue_id, struct rte_mbuf **pkts,
			uint16_t count)
{
	struct vhost_device *dev;
	struct vhost_virtqueue *vq = vhost_burst_begin(vid, queue_id, false, &dev);
	bool missed = false;
	uint16_t sent = 0;

	if (unlikely(vq == NULL))
		return 0;
	/* Held packets go first, so packets never overtake each other. */
	if (unlikely(vhost_held_any(vq)))
		vhost_held_flush(dev, vq);
	if (likely(!vhost_held_any(vq)))
		sent = vhost_enqueue_ring(dev, vq, pkts, count, &missed);
	else
		/* Still waiting: for the IOTLB (hold more), or for the
		 * guest to post buffers (normal backpressure: send none). */
		missed = vq->nb_pending != 0;
	/* With an IOMMU, a miss must not make the caller drop packets:
	 * keep them until the frontend maps the buffers. Other packets not
	 * sent stay with the caller, who may retry them. */
	if (unlikely(missed && sent < count))
		sent += vhost_held_add(vq, pkts + sent, count - sent);
	vhost_burst_end(dev, vq);
	return sent;
}
