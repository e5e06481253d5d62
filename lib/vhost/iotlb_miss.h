/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_IOTLB_MISS_H
#define VHOST_IOTLB_MISS_H

/* IOVA translation for devices with VIRTIO_F_IOMMU_PLATFORM, and what
 * happens when the IOTLB has no answer: the page is recorded as pending
 * (once, however many buffers need it), all pending pages of a burst
 * are sent together on the backend request channel at the end of the
 * burst, and a page the frontend never maps fails after
 * VHOST_IOTLB_MISS_TIMEOUT_MS (counted from the send, and never while
 * the frontend's messages wait for our event thread). Callers hold vq->iotlb_lock (read on the
 * datapath, write on the control path). */

#include <stdint.h>

#include "vhost_device_types.h"

/* Is [uaddr, uaddr + size) wholly in the memory the frontend shared? */
bool vhost_uaddr_range_mapped(const struct vhost_device *dev, uint64_t uaddr,
			      uint64_t size);

/* Map [iova, iova + size) -> uaddr with perm in the device IOTLB, one
 * memory region at a time, so that each entry carries our and the guest
 * physical address. Returns 0, -EINVAL (wraps, empty) or -EFAULT (not
 * wholly guest memory: nothing mapped). Caller holds every ring's IOTLB
 * write lock, and the IOTLB is allocated. */
int vhost_iotlb_map_mem(struct vhost_device *dev, uint64_t iova, uint64_t size,
			uint64_t uaddr, uint8_t perm);

/* vhost_iotlb_resolve_t over dev->mem (arg): one region must hold
 * [uaddr, uaddr + len). */
bool vhost_iotlb_resolve_uaddr(void *arg, uint64_t uaddr, uint64_t len,
			       uint64_t *hva, uint64_t *gpa);

/* IOVA -> our address, clipping *len to what is contiguous. Returns
 * NULL with vq->xlate_err set: -EAGAIN (miss, asked for, retry later),
 * -EPERM (mapped without perm) or -EFAULT (not in guest memory, or a
 * miss that timed out). */
uint8_t *vhost_iova_translate(const struct vhost_device *dev,
			      struct vhost_virtqueue *vq, uint64_t iova,
			      uint64_t *len, uint8_t perm, uint64_t *gpa);

/* Translate [iova, iova + len) into one contiguous range of ours, or
 * NULL (xlate_err as above): for rings. */
void *vhost_iova_range(const struct vhost_device *dev,
		       struct vhost_virtqueue *vq, uint64_t iova, uint64_t len,
		       uint8_t perm);

/* After a miss at iova: ask now for the following pages of the buffer
 * [iova, iova + len) that miss too (up to VHOST_IOTLB_MISS_AHEAD_PAGES),
 * rather than one round trip per page as the walk reaches them. */
void vhost_iotlb_miss_rest(const struct vhost_device *dev,
			   struct vhost_virtqueue *vq, uint64_t iova,
			   uint64_t len, uint8_t perm);

/* Has the frontend sent messages that the event thread has not read,
 * or is it handling some now? Then an answer to a miss may be among
 * them, and the miss is not given up yet. A system call: only for the
 * rare wait that ran out. */
bool vhost_frontend_unread(const struct vhost_device *dev);

/* Send every pending miss of vq not yet sent, in one write. */
void vhost_iotlb_send_misses(struct vhost_device *dev,
			     struct vhost_virtqueue *vq);

/* With an entry lifetime configured: move the ring's expiry horizon
 * to now. Caller holds vq->iotlb_lock (read or write): only the ring's
 * own burst or the event thread run this. */
void vhost_iotlb_age(const struct vhost_device *dev, struct vhost_virtqueue *vq);

/* The frontend answered that iova is not mapped (with perm): make the
 * pending page fail its next access. Caller holds the ring's write
 * locks. */
void vhost_iotlb_refuse_pending(struct vhost_virtqueue *vq, uint64_t iova,
				uint8_t perm);

/* Forget pending misses that [iova, iova + size) with perm answers. */
void vhost_iotlb_resolve_pending(struct vhost_virtqueue *vq, uint64_t iova,
				 uint64_t size, uint8_t perm);

/* Entries of each device IOTLB of the socket at path: the default, or
 * VHOST_IOTLB_MAX_ENTRIES if valid (an invalid value is logged and
 * ignored). Logs the size and its memory. */
uint32_t vhost_iotlb_max_entries_conf(const char *path);

#endif /* VHOST_IOTLB_MISS_H */
