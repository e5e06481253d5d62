/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_ENQUEUE_H
#define VHOST_ENQUEUE_H

#include "vhost_device.h"

/* Deliver packets an enqueue held for IOTLB misses, now that an update
 * may have mapped their buffers; drop them if they waited too long.
 * Caller holds the ring (vhost_vq_lock or the burst's gate) and, with
 * an IOMMU, iotlb_lock (either mode). */
void vhost_enqueue_flush_held(struct vhost_device *dev,
			      struct vhost_virtqueue *vq);

#endif /* VHOST_ENQUEUE_H */
