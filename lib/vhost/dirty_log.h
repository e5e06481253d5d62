/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_DIRTY_LOG_H
#define VHOST_DIRTY_LOG_H

/* Dirty page logging for live migration: while VHOST_F_LOG_ALL is
 * negotiated, every guest page the backend writes is marked in the
 * bitmap the frontend shared with SET_LOG_BASE (one bit per 4 KiB of
 * guest physical memory). */

#include <stdint.h>

#include "vhost_device_types.h"

/* Mark [gpa, gpa + len) dirty. Pages beyond the bitmap are ignored (and
 * counted by nothing: the frontend sized the log). */
void vhost_log_pages(struct vhost_device *dev, uint64_t gpa, uint64_t len);

static __rte_always_inline bool
vhost_log_enabled(const struct vhost_device *dev)
{
	return unlikely(vhost_has_feature(dev, VHOST_F_LOG_ALL) &&
			dev->log_base != NULL);
}

/* Log a write of len bytes at offset of the used ring, if the frontend
 * asked for the used ring to be logged (vring address flag bit 0). */
void vhost_log_used(struct vhost_device *dev, struct vhost_virtqueue *vq,
		    uint64_t offset, uint64_t len);

/* Map the log the frontend sends with SET_LOG_BASE; replaces any
 * previous one. Takes ownership of fd whatever the result. */
int vhost_log_map(struct vhost_device *dev, int fd, uint64_t size,
		  uint64_t offset);
void vhost_log_unmap(struct vhost_device *dev);

#endif /* VHOST_DIRTY_LOG_H */
