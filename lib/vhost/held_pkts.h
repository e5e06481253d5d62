/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_HELD_PKTS_H
#define VHOST_HELD_PKTS_H

/* Held packets: what an enqueue could not place because a buffer's IOVA
 * missed in the IOTLB. The ring keeps them (a reference to each mbuf, at
 * most VHOST_MAX_HELD_PKTS) and delivers them before anything newer: at
 * the next burst, after the IOTLB updates of an event-thread wake-up, or
 * at the event thread's tick; they are dropped after
 * 2 * VHOST_IOTLB_MISS_TIMEOUT_MS without progress (a stretch without
 * any attempt counting at most VHOST_HELD_MAX_GAP_MS).
 *
 * The state is vq->held and dev->held_waiting; nothing else touches it.
 * Every function here runs with the ring held: by the burst (inside its
 * gate) or by the control path (vhost_vq_lock or the IOTLB write lock),
 * and with an IOMMU with iotlb_lock (either mode). */

#include <stdbool.h>
#include <stdint.h>

#include "vhost_device_types.h"

struct rte_mbuf;

static __rte_always_inline bool
vhost_held_any(const struct vhost_virtqueue *vq)
{
	return vq->held.n != 0;
}

/* Keep up to n packets (a reference to each) until their buffers are
 * mapped. Returns how many were taken. */
uint16_t vhost_held_add(struct vhost_virtqueue *vq, struct rte_mbuf **pkts,
			uint16_t n);

/* Deliver what the ring holds, now that an update may have mapped the
 * buffers; drop it if nothing went for too long. */
void vhost_held_flush(struct vhost_device *dev, struct vhost_virtqueue *vq);

/* The same, then send the misses that met (the event thread retrying:
 * no burst will send them). */
void vhost_held_retry(struct vhost_device *dev, struct vhost_virtqueue *vq);

/* An IOTLB update came: if vq holds packets, the device waits for a
 * retry once the wake-up's updates are all in (vhost_held_take_waiting). */
static inline void
vhost_held_note_update(struct vhost_device *dev,
		       const struct vhost_virtqueue *vq)
{
	if (vhost_held_any(vq))
		dev->held_waiting = true;
}

/* Whether an update came for held packets since the last call. */
static inline bool
vhost_held_take_waiting(struct vhost_device *dev)
{
	bool waiting = dev->held_waiting;

	dev->held_waiting = false;
	return waiting;
}

/* Free what the ring holds (the ring goes away). */
void vhost_held_free(struct vhost_virtqueue *vq);

#endif /* VHOST_HELD_PKTS_H */
