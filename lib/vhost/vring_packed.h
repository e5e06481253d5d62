/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_VRING_PACKED_H
#define VHOST_VRING_PACKED_H

/* Packed ring access (virtio 1.1, 2.7): which descriptors the driver
 * made available, used descriptors written back, event suppression.
 * Everything else (walking, translation, copies) is shared with split
 * rings. */

#include <stdbool.h>
#include <stdint.h>

#include "vhost_device_types.h"

#define VHOST_PACKED_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define VHOST_PACKED_USED (1u << VRING_PACKED_DESC_F_USED)

/* A position in a packed ring: index and the wrap counter that goes
 * with it. */
struct vhost_ring_pos {
	uint16_t idx;
	bool wrap;
};

static __rte_always_inline void
vhost_ring_pos_advance(const struct vhost_virtqueue *vq,
		       struct vhost_ring_pos *p, uint16_t n)
{
	uint32_t idx = (uint32_t)p->idx + n;

	/* n <= size, so one lap at most. */
	if (idx >= vq->size) {
		idx -= vq->size;
		p->wrap = !p->wrap;
	}
	p->idx = (uint16_t)idx;
}

/* A descriptor is available when its AVAIL bit matches the driver's
 * wrap counter and its USED bit does not. */
static __rte_always_inline bool
vhost_packed_flags_avail(uint16_t flags, bool wrap)
{
	return !!(flags & VHOST_PACKED_AVAIL) == wrap &&
	       !!(flags & VHOST_PACKED_USED) != wrap;
}

/* Is the descriptor at p available? The acquire load orders the reads
 * of the rest of the chain after it: the driver makes a list's first
 * descriptor available last. */
static __rte_always_inline bool
vhost_packed_desc_avail(const struct vhost_virtqueue *vq,
			struct vhost_ring_pos p)
{
	uint16_t flags = __atomic_load_n(&vq->desc_packed[p.idx].flags,
					 __ATOMIC_ACQUIRE);

	return vhost_packed_flags_avail(flags, p.wrap);
}

/* How many descriptors from p on are available in a row, up to max (at
 * most the ring size). One pass over their flags alone, before anything
 * else of them is read: the descriptors of a burst sit in a few lines
 * that the driver has just written, and a tight loop has the misses on
 * all of them in flight together, where a check per chain between walks
 * met them one after the other. Each flag is loaded with acquire, as
 * vhost_packed_desc_avail() does, so the rest of a counted chain may be
 * read after it. */
static __rte_always_inline uint16_t
vhost_packed_avail_run(const struct vhost_virtqueue *vq, struct vhost_ring_pos p,
		       uint16_t max)
{
	const uint16_t ring_bits = VHOST_PACKED_AVAIL | VHOST_PACKED_USED;
	uint16_t n = 0;

	while (n < max) {
		/* The AVAIL bit equal to the wrap counter, USED not. */
		const uint16_t want = p.wrap ? VHOST_PACKED_AVAIL : VHOST_PACKED_USED;
		const uint16_t run = RTE_MIN((uint16_t)(max - n),
					     (uint16_t)(vq->size - p.idx));
		const volatile struct vring_packed_desc *d = &vq->desc_packed[p.idx];

		for (uint16_t k = 0; k < run; k++) {
			uint16_t flags = __atomic_load_n(&d[k].flags, __ATOMIC_ACQUIRE);

			if ((flags & ring_bits) != want)
				return (uint16_t)(n + k);
		}
		n = (uint16_t)(n + run);
		/* The run ended at the ring's end: on in the next lap. */
		p.idx = 0;
		p.wrap = !p.wrap;
	}
	return n;
}

/* A burst's used element for a packed chain: the shadow array keeps
 * split's layout, the descriptor count rides in the id's upper half
 * (buffer ids are 16 bits, counts at most 32768). */
static __rte_always_inline uint32_t
vhost_packed_used_id(uint16_t buf_id, uint16_t ndesc)
{
	return (uint32_t)buf_id | (uint32_t)ndesc << 16;
}

/* Used position p as one number in [0, 2 * size): the event offsets of
 * the driver compare in this space. */
static __rte_always_inline uint32_t
vhost_packed_linear(const struct vhost_virtqueue *vq, uint16_t idx, bool wrap)
{
	return idx + (wrap ? 0u : vq->size);
}

/* Write n used elements back into the descriptor ring, the first one's
 * flags last, then notify the guest if it wants it. */
void vhost_packed_used_publish(struct vhost_device *dev,
			       struct vhost_virtqueue *vq,
			       const struct vhost_used_elem *elems, uint16_t n);

/* The same for a burst of device-read buffers (all len 0, guest Tx):
 * with VIRTIO_F_IN_ORDER, one used descriptor for the whole burst. */
void vhost_packed_used_publish_tx(struct vhost_device *dev,
				  struct vhost_virtqueue *vq,
				  const struct vhost_used_elem *elems, uint16_t n);

/* Signal the call fd if the driver's event suppression allows it. */
void vhost_packed_notify_guest(struct vhost_device *dev,
			       struct vhost_virtqueue *vq);

/* Apply the application's choice of guest kicks (device event area). */
void vhost_packed_apply_notify(struct vhost_device *dev,
			       struct vhost_virtqueue *vq);

/* Available chains' descriptors from the driver's position on, at most
 * the ring size: for the queue-count queries. */
uint16_t vhost_packed_avail_count(const struct vhost_virtqueue *vq);

#endif /* VHOST_VRING_PACKED_H */
