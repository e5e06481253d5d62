/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packed virtqueue, driver side (virtio 1.1, 2.7). A chain built in the
 * private table is copied to consecutive ring positions; the driver
 * marks a descriptor available with AVAIL = its wrap counter and USED =
 * the opposite, the device marks it used with both equal to its own.
 * Both counters start at 1 and flip each time a position passes the
 * ring's end.
 */
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rte_atomic.h>
#include <rte_common.h>

#include "vvi_vring.h"

/* Ring flags of a descriptor made available with wrap counter w. */
static inline uint16_t
avail_bits(bool w)
{
	return w ? VVI_PACKED_AVAIL : VVI_PACKED_USED;
}

static inline void
advance(const struct vvi_vring *vr, uint16_t *pos, bool *wrap, uint32_t n)
{
	uint32_t p = (uint32_t)*pos + n;

	/* n <= size: one lap at most. */
	if (p >= vr->size) {
		p -= vr->size;
		*wrap = !*wrap;
	}
	*pos = (uint16_t)p;
}

void
vvi_vring_packed_reset(struct vvi_vring *vr)
{
	memset(vr->priv, 0, (sizeof(struct vring_desc) + 2 * sizeof(uint16_t)) *
		vr->size);
	for (uint16_t i = 0; i < vr->size; i++)
		vr->buf_id[i] = i;
	vr->avail_wrap = true;
	vr->used_wrap = true;
	vr->batch_open = false;
	vr->held = false;
}

void
vvi_vring_packed_push(struct vvi_vring *vr, uint16_t head, uint16_t n)
{
	const uint16_t keep = VRING_DESC_F_NEXT | VRING_DESC_F_WRITE |
		VRING_DESC_F_INDIRECT;
	uint16_t id = head, pos = vr->avail_idx;
	bool wrap = vr->avail_wrap;

	for (uint16_t i = 0; i < n; i++) {
		const struct vring_desc *s = &vr->desc[id];
		struct vring_packed_desc *d = &vr->pdesc[pos];
		uint16_t flags = (s->flags & keep) | avail_bits(wrap);

		d->addr = s->addr;
		d->len = s->len;
		/* The device takes the last descriptor's id: all carry it. */
		d->id = vr->buf_id[head];
		if (i == 0 && !vr->batch_open) {
			/* Stored by flush, after everything else. */
			vr->batch_open = true;
			vr->batch_pos = pos;
			vr->batch_flags = flags;
		} else {
			/* Invisible until the batch head is: the device
			 * reads the ring in order. */
			__atomic_store_n(&d->flags, flags, __ATOMIC_RELAXED);
		}
		id = vr->next[id];
		advance(vr, &pos, &wrap, 1);
	}
	vr->chain_len[head] = n;
	vr->avail_idx = pos;
	vr->avail_wrap = wrap;
}

static void
kick(struct vvi_vring *vr)
{
	static const uint64_t one = 1;

	/* The flags read must not pass our descriptor stores. */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* Without EVENT_IDX the device asks for all kicks or none. */
	if (__atomic_load_n(&vr->device_event->flags, __ATOMIC_RELAXED) !=
			VRING_PACKED_EVENT_FLAG_DISABLE) {
		ssize_t r = write(vr->kickfd, &one, sizeof(one));

		RTE_SET_USED(r);
	}
}

void
vvi_vring_packed_flush(struct vvi_vring *vr)
{
	if (vr->batch_open) {
		/* Release: the batch's other stores come first. */
		__atomic_store_n(&vr->pdesc[vr->batch_pos].flags,
			vr->batch_flags, __ATOMIC_RELEASE);
		vr->batch_open = false;
	}
	kick(vr);
}

bool
vvi_vring_packed_hold(struct vvi_vring *vr, unsigned int variant)
{
	const uint16_t ring = VVI_PACKED_AVAIL | VVI_PACKED_USED;
	uint16_t good, bits;
	bool w;

	if (!vr->batch_open || vvi_vring_held(vr))
		return false;
	good = vr->batch_flags;
	w = !!(good & VVI_PACKED_AVAIL);
	switch (variant % 3) {
	case 0:		/* AVAIL = USED = w: what a used one looks like */
		bits = w ? ring : 0;
		break;
	case 1:		/* AVAIL = USED = !w: next lap's */
		bits = w ? 0 : ring;
		break;
	default:	/* AVAIL = !w, USED = w: the previous lap's */
		bits = w ? VVI_PACKED_USED : VVI_PACKED_AVAIL;
		break;
	}
	__atomic_store_n(&vr->held, true, __ATOMIC_RELAXED);
	vr->held_pos = vr->batch_pos;
	vr->held_flags = good;
	vr->held_bogus = (good & ~ring) | bits;
	vr->held_len = vr->pdesc[vr->batch_pos].len;
	vr->batch_open = false;
	__atomic_store_n(&vr->pdesc[vr->held_pos].flags, vr->held_bogus,
		__ATOMIC_RELEASE);
	kick(vr);
	return true;
}

bool
vvi_vring_packed_release(struct vvi_vring *vr)
{
	struct vring_packed_desc *d = &vr->pdesc[vr->held_pos];
	bool untouched;

	if (!vvi_vring_held(vr))
		return true;
	untouched = __atomic_load_n(&d->flags, __ATOMIC_ACQUIRE) ==
		vr->held_bogus && d->len == vr->held_len;
	__atomic_store_n(&d->flags, vr->held_flags, __ATOMIC_RELEASE);
	kick(vr);
	/* Last: the queue's lcore reads the head's flags only after it
	 * sees this, and may then hold the next chain. */
	__atomic_store_n(&vr->held, false, __ATOMIC_RELEASE);
	return untouched;
}

bool
vvi_vring_packed_next_used(struct vvi_vring *vr, struct vring_used_elem *e)
{
	const struct vring_packed_desc *d = &vr->pdesc[vr->last_used];
	uint16_t id, head, n = 1;

	if ((vvi_vring_held(vr) && vr->last_used == vr->held_pos) ||
			!vvi_packed_is_used(vr, vr->last_used, vr->used_wrap))
		return false;
	/* Read after the flags (acquire in vvi_packed_is_used). */
	id = d->id;
	e->len = d->len;
	/* A head's own id, or its alias above the ring (attack=badid). */
	head = id < vr->size ? id : (uint16_t)(id - vr->size);
	if (head < vr->size && vr->chain_len[head] != 0 &&
			vr->buf_id[head] == id) {
		n = vr->chain_len[head];
		vr->chain_len[head] = 0;
		vr->buf_id[head] = head;
		e->id = head;
	} else {
		/* Not a chain in flight: the caller counts the error; the
		 * position moves by one, the least a used entry takes. */
		e->id = id;
	}
	advance(vr, &vr->last_used, &vr->used_wrap, n);
	return true;
}
