/* SPDX-License-Identifier: BSD-3-Clause */

/* The used side and event suppression of packed rings. See
 * vring_packed.h. */

#include <stddef.h>
#include <sys/eventfd.h>

#include <rte_atomic.h>

#include "dirty_log.h"
#include "vring_packed.h"
#include "write_trace.h"

/* Log (and trace) a write of len bytes at gpa, made just before. */
static __rte_always_inline void
log_ring_write(struct vhost_device *dev, const struct vhost_virtqueue *vq,
	       bool log, uint64_t gpa, uint64_t len)
{
	if (unlikely(log))
		vhost_log_pages(dev, gpa, len);
	if (unlikely(vhost_write_trace_on))
		vhost_write_trace_record(vq, gpa, len, log, "used-ring");
}

void
vhost_packed_used_publish(struct vhost_device *dev, struct vhost_virtqueue *vq,
			  const struct vhost_used_elem *elems, uint16_t n)
{
	struct vhost_ring_pos p = { vq->last_used_idx, vq->used_wrap };
	const bool log = vhost_log_enabled(dev);
	uint16_t first_idx = p.idx, first_flags = 0;

	if (n == 0)
		return;
	for (uint16_t i = 0; i < n; i++) {
		volatile struct vring_packed_desc *d = &vq->desc_packed[p.idx];
		uint16_t ndesc = (uint16_t)(elems[i].id >> 16);
		uint16_t flags = p.wrap ? VHOST_PACKED_AVAIL | VHOST_PACKED_USED : 0;

		/* WRITE in a used descriptor: the device wrote data. */
		if (elems[i].len != 0)
			flags |= VRING_DESC_F_WRITE;
		d->id = (uint16_t)elems[i].id;
		d->len = elems[i].len;
		/* The driver polls the first element only: the others may
		 * be complete in any order before it. */
		if (i == 0) {
			first_flags = flags;
		} else {
			d->flags = flags;
			log_ring_write(dev, vq, log, vq->desc_log_gpa +
				p.idx * sizeof(struct vring_packed_desc),
				sizeof(struct vring_packed_desc));
		}
		/* The walker counts at least one descriptor per chain. */
		vhost_ring_pos_advance(vq, &p, ndesc != 0 ? ndesc : 1);
	}
	/* One release store makes the whole burst visible. */
	__atomic_store_n(&vq->desc_packed[first_idx].flags, first_flags,
			 __ATOMIC_RELEASE);
	/* Logged after its flags: the frontend may harvest the log (and
	 * send the page) between our log and our store, and nothing
	 * would mark the page again. */
	log_ring_write(dev, vq, log, vq->desc_log_gpa +
		first_idx * sizeof(struct vring_packed_desc),
		sizeof(struct vring_packed_desc));
	vq->last_used_idx = p.idx;
	vq->used_wrap = p.wrap;
	vhost_packed_notify_guest(dev, vq);
}

void
vhost_packed_used_publish_tx(struct vhost_device *dev, struct vhost_virtqueue *vq,
			     const struct vhost_used_elem *elems, uint16_t n)
{
	struct vhost_ring_pos p = { vq->last_used_idx, vq->used_wrap };
	volatile struct vring_packed_desc *d = &vq->desc_packed[p.idx];
	const uint16_t flags = p.wrap ? VHOST_PACKED_AVAIL | VHOST_PACKED_USED : 0;

	if (n == 0)
		return;
	if (!vhost_has_feature(dev, VIRTIO_F_IN_ORDER)) {
		vhost_packed_used_publish(dev, vq, elems, n);
		return;
	}
	/* In order (virtio 1.1, 2.8.23): one used descriptor at the
	 * batch's first position, with the last chain's buffer id, stands
	 * for the whole batch; the driver skips forward by what it made
	 * available. One line of the ring written per burst, not one per
	 * four chains: the driver then writes its next descriptors into
	 * lines we did not take from it. */
	d->id = (uint16_t)elems[n - 1].id;
	d->len = 0;
	__atomic_store_n(&d->flags, flags, __ATOMIC_RELEASE);
	log_ring_write(dev, vq, vhost_log_enabled(dev), vq->desc_log_gpa +
		p.idx * sizeof(struct vring_packed_desc),
		sizeof(struct vring_packed_desc));
	/* Chain by chain, as the avail side advanced. */
	for (uint16_t i = 0; i < n; i++) {
		uint16_t c = (uint16_t)(elems[i].id >> 16);

		/* The walker counts at least one descriptor per chain. */
		vhost_ring_pos_advance(vq, &p, c != 0 ? c : 1);
	}
	vq->last_used_idx = p.idx;
	vq->used_wrap = p.wrap;
	vhost_packed_notify_guest(dev, vq);
}

void
vhost_packed_notify_guest(struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	const volatile struct vring_packed_desc_event *ev = vq->driver_event;
	const uint32_t lap = 2u * vq->size;
	uint32_t new = vhost_packed_linear(vq, vq->last_used_idx, vq->used_wrap);
	uint32_t old = vq->signalled_used;
	bool valid = vq->signalled_used_valid;
	uint16_t flags;
	bool notify;

	if (vq->callfd < 0)
		return;
	/* Our used descriptors must be visible before we read the
	 * driver's wish, or it could miss them and sleep forever. */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = ev->flags;
	vq->signalled_used = (uint16_t)new;
	vq->signalled_used_valid = true;
	if (flags == VRING_PACKED_EVENT_FLAG_DESC &&
	    vhost_has_feature(dev, VIRTIO_RING_F_EVENT_IDX)) {
		uint16_t off_wrap = ev->off_wrap;
		uint16_t off = off_wrap & 0x7fff;
		uint32_t event = vhost_packed_linear(vq, off,
			off_wrap >> VRING_PACKED_EVENT_F_WRAP_CTR);

		/* The driver asks for the used descriptor at event: notify
		 * if this burst wrote [old, new) over it. An offset outside
		 * the ring is the driver's error: notify. */
		notify = !valid || off >= vq->size ||
			 (event + lap - old) % lap < (new + lap - old) % lap;
	} else {
		notify = flags != VRING_PACKED_EVENT_FLAG_DISABLE;
	}
	if (!notify)
		return;
	eventfd_write(vq->callfd, 1);
	vq->stats.v[VHOST_STAT_GUEST_NOTIFICATIONS]++;
	if (dev->ops != NULL && dev->ops->guest_notified != NULL)
		dev->ops->guest_notified(dev->vid);
}

/* The driver kicks as the device event area says. With EVENT_IDX, an
 * enabled ring asks for a kick when the driver makes available the
 * descriptor at our avail position (descriptor mode), as the split
 * layout's avail_event does: the driver kicks once for what arrives
 * after this call, not for every batch it adds (DPDK and QEMU do the
 * same). The offset is stored before the flags that make it count. */
void
vhost_packed_apply_notify(struct vhost_device *dev, struct vhost_virtqueue *vq)
{
	volatile struct vring_packed_desc_event *ev = vq->device_event;
	uint16_t flags = VRING_PACKED_EVENT_FLAG_DISABLE;

	if (vq->guest_notify && vhost_has_feature(dev, VIRTIO_RING_F_EVENT_IDX)) {
		ev->off_wrap = (uint16_t)(vq->last_avail_idx |
			(unsigned int)vq->avail_wrap << VRING_PACKED_EVENT_F_WRAP_CTR);
		flags = VRING_PACKED_EVENT_FLAG_DESC;
	} else if (vq->guest_notify) {
		flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	}
	__atomic_store_n(&vq->device_event->flags, flags, __ATOMIC_RELEASE);
	log_ring_write(dev, vq, vhost_log_enabled(dev), vq->device_event_log_gpa,
		       sizeof(struct vring_packed_desc_event));
}

uint16_t
vhost_packed_avail_count(const struct vhost_virtqueue *vq)
{
	struct vhost_ring_pos p = { vq->last_avail_idx, vq->avail_wrap };

	return vhost_packed_avail_run(vq, p, vq->size);
}
