/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_ENQUEUE_H
#define VHOST_ENQUEUE_H

/* Host -> guest: packets into the guest's Rx ring, as many as fit. The
 * public burst (enqueue_burst.c) puts held packets first and holds what
 * an IOTLB miss stops (held_pkts.h). */

#include <stdbool.h>
#include <stdint.h>

#include "vhost_device_types.h"

struct rte_mbuf;

/* One instance per ring layout. Copy what fits of pkts into the ring
 * the caller is inside (burst gate, or held by the control path, and
 * with an IOMMU iotlb_lock); *missed tells whether an IOTLB miss stopped
 * it. The caller keeps the mbufs (copied, not freed). */
uint16_t vhost_enqueue_split(struct vhost_device *dev,
			     struct vhost_virtqueue *vq,
			     struct rte_mbuf **pkts, uint16_t count,
			     bool *missed);
uint16_t vhost_enqueue_packed(struct vhost_device *dev,
			      struct vhost_virtqueue *vq,
			      struct rte_mbuf **pkts, uint16_t count,
			      bool *missed);

/* The one branch on the ring layout, per burst. */
static __rte_always_inline uint16_t
vhost_enqueue_ring(struct vhost_device *dev, struct vhost_virtqueue *vq,
		   struct rte_mbuf **pkts, uint16_t count, bool *missed)
{
	if (vhost_packed(dev))
		return vhost_enqueue_packed(dev, vq, pkts, count, missed);
	return vhost_enqueue_split(dev, vq, pkts, count, missed);
}

#endif /* VHOST_ENQUEUE_H */
