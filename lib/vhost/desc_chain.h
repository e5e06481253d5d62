/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_DESC_CHAIN_H
#define VHOST_DESC_CHAIN_H

/* The one descriptor-chain walker of the library: enqueue and dequeue,
 * direct and indirect, all go through it. It reads each descriptor once
 * (the guest may change it meanwhile), checks every index, flag, length
 * and address, and produces the chain as translated pieces. The copy
 * helpers below move bytes between such pieces and flat memory. */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_memcpy.h>

#include "vhost_device.h"

/* A walked chain: pieces segs[first .. first + nsegs) of the caller's
 * array, len bytes in all. */
struct vhost_chain {
	uint16_t head;
	uint16_t nsegs;
	uint32_t len;
};

enum vhost_chain_dir {
	VHOST_CHAIN_DEVICE_READS,	/* guest -> host (Tx) */
	VHOST_CHAIN_DEVICE_WRITES,	/* host -> guest (Rx) */
};

/* Walk the chain starting at descriptor head. Pieces are appended to
 * segs from index *nsegs (at most max_segs in all), *nsegs is advanced.
 * Returns 0, or a negative errno if the chain is invalid: then nothing
 * of it may be accessed, and *nsegs is left unchanged.
 * Caller holds vq->access_lock for reading. */
int vhost_walk_chain(const struct vhost_device *dev, struct vhost_virtqueue *vq,
		     uint16_t head, enum vhost_chain_dir dir,
		     struct vhost_seg *segs, uint16_t *nsegs, uint16_t max_segs,
		     struct vhost_chain *chain);

/* After an IOTLB miss stopped a burst at avail entry first - 1: walk up
 * to count chains (at most VHOST_IOTLB_MAX_PENDING) from avail entry
 * first on without using them, so that their misses are asked for
 * together, ahead of need, rather than one per burst. Caller holds the
 * locks of vhost_walk_chain. */
void vhost_walk_ahead(const struct vhost_device *dev, struct vhost_virtqueue *vq,
		      uint16_t first, uint16_t count, enum vhost_chain_dir dir);

/* Cursor over a sequence of pieces. */
struct vhost_seg_cursor {
	const struct vhost_seg *seg;
	const struct vhost_seg *end;
	uint32_t off;		/* into *seg */
};

static inline void
vhost_cursor_init(struct vhost_seg_cursor *c, const struct vhost_seg *segs,
		  uint16_t nsegs)
{
	c->seg = segs;
	c->end = segs + nsegs;
	c->off = 0;
	while (c->seg < c->end && c->seg->len == 0)
		c->seg++;
}

/* Copy len bytes between buf and the pieces at the cursor, into the
 * guest buffers if to_guest. Returns the bytes copied (less than len
 * only if the pieces run out). */
static __rte_always_inline uint32_t
vhost_cursor_copy(struct vhost_seg_cursor *c, void *buf, uint32_t len,
		  bool to_guest)
{
	uint32_t done = 0;

	while (done < len && c->seg < c->end) {
		uint32_t n = RTE_MIN(len - done, c->seg->len - c->off);
		uint8_t *guest = c->seg->hva + c->off;
		uint8_t *local = (uint8_t *)buf + done;

		if (to_guest)
			rte_memcpy(guest, local, n);
		else
			rte_memcpy(local, guest, n);
		done += n;
		c->off += n;
		if (c->off == c->seg->len) {
			c->seg++;
			c->off = 0;
		}
	}
	return done;
}

static __rte_always_inline uint32_t
vhost_cursor_write(struct vhost_seg_cursor *c, const void *src, uint32_t len)
{
	return vhost_cursor_copy(c, (void *)(uintptr_t)src, len, true);
}

static __rte_always_inline uint32_t
vhost_cursor_read(struct vhost_seg_cursor *c, void *dst, uint32_t len)
{
	return vhost_cursor_copy(c, dst, len, false);
}

#endif /* VHOST_DESC_CHAIN_H */
