/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_DATAPATH_H
#define VHOST_DATAPATH_H

/* What enqueue and dequeue share: entering a queue for one burst. */

#include <rte_rwlock.h>

#include "iotlb_miss.h"
#include "vhost_device.h"
#include "vhost_device_types.h"
#include "vhost_log.h"

/* The datapath's view of a device and queue, or NULL if invalid. */
static inline struct vhost_virtqueue *
vhost_datapath_vq(struct vhost_device *dev, uint16_t queue_id, bool is_tx)
{
	if (unlikely(queue_id >= dev->nr_vring ||
		     (queue_id & 1) != (uint16_t)is_tx))
		return NULL;
	return dev->vq[queue_id];
}

/* Look up vid/queue_id for a burst and enter the queue (vq_gate.h; and
 * the IOTLB's read lock with an IOMMU). Returns the queue or NULL:
 * unknown device, wrong direction, or the control path is changing the
 * queue right now. */
static __rte_always_inline struct vhost_virtqueue *
vhost_burst_begin(int vid, uint16_t queue_id, bool is_tx,
		  struct vhost_device **devp)
{
	struct vhost_device *dev = vhost_device_get(vid);
	struct vhost_virtqueue *vq;

	if (unlikely(dev == NULL))
		return NULL;
	vq = vhost_datapath_vq(dev, queue_id, is_tx);
	if (unlikely(vq == NULL)) {
		VHOST_LOG_RATELIMITED(ERR, "(%s) invalid %s queue %u",
			dev->ifname, is_tx ? "dequeue" : "enqueue", queue_id);
		return NULL;
	}
	if (unlikely(!vhost_gate_enter(&vq->gate)))
		return NULL;	/* the control path holds the ring */
	if (vhost_iommu_on(dev)) {
		/* An IOTLB writer waits: let it in (vhost_vq_iotlb_lock). */
		if (unlikely(__atomic_load_n(&vq->writers_waiting, __ATOMIC_RELAXED) != 0 ||
			     rte_rwlock_read_trylock(&vq->iotlb_lock) != 0)) {
			vhost_gate_leave(&vq->gate);
			return NULL;
		}
		if (unlikely(dev->iotlb_max_age != 0))
			vhost_iotlb_age(dev, vq);
	}
	if (unlikely(!vq->access_ok || !vq->enabled)) {
		if (vhost_iommu_on(dev))
			rte_rwlock_read_unlock(&vq->iotlb_lock);
		vhost_gate_leave(&vq->gate);
		return NULL;
	}
	*devp = dev;
	return vq;
}

/* Leave the burst; the IOTLB misses it met go out in one write. */
static __rte_always_inline void
vhost_burst_end(struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	if (vhost_iommu_on(dev)) {
		if (vq->nb_unsent != 0)
			vhost_iotlb_send_misses(dev, vq);
		rte_rwlock_read_unlock(&vq->iotlb_lock);
	}
	vhost_gate_leave(&vq->gate);
}

#endif /* VHOST_DATAPATH_H */
