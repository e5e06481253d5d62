/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rte_alarm.h>
#include <rte_common.h>
#include <rte_malloc.h>

#include "vvi_vring.h"

/* Packed layout: descriptors, then the driver and device event areas
 * (4 bytes each, 4-aligned). */
static size_t
packed_extra_offset(uint16_t size)
{
	size_t end = sizeof(struct vring_packed_desc) * size +
		2 * sizeof(struct vring_packed_desc_event);

	return RTE_ALIGN_CEIL(end, RTE_CACHE_LINE_SIZE);
}

static size_t
used_offset(uint16_t size)
{
	size_t avail_end = sizeof(struct vring_desc) * size +
		sizeof(struct vring_avail) + sizeof(uint16_t) * (size + 1);

	return RTE_ALIGN_CEIL(avail_end, VVI_VRING_ALIGN);
}

static size_t
split_extra_offset(uint16_t size)
{
	size_t used_end = used_offset(size) + sizeof(struct vring_used) +
		sizeof(struct vring_used_elem) * size + sizeof(uint16_t);

	return RTE_ALIGN_CEIL(used_end, RTE_CACHE_LINE_SIZE);
}

static size_t
extra_offset(const struct vvi_vring *vr)
{
	return vr->packed ? packed_extra_offset(vr->size) :
		split_extra_offset(vr->size);
}

/* Packed: the chains are built in a private table, never shared. */
static int
alloc_packed(struct vvi_vring *vr, int socket)
{
	size_t tbl = sizeof(struct vring_desc) * vr->size;

	vr->pdesc = vr->mem;
	vr->driver_event = RTE_PTR_ADD(vr->mem,
		sizeof(struct vring_packed_desc) * vr->size);
	vr->device_event = vr->driver_event + 1;
	vr->priv = rte_zmalloc_socket("vvi_vring_priv",
		tbl + 2 * sizeof(uint16_t) * vr->size, RTE_CACHE_LINE_SIZE,
		socket);
	if (vr->priv == NULL)
		return -ENOMEM;
	vr->desc = vr->priv;
	vr->chain_len = RTE_PTR_ADD(vr->priv, tbl);
	vr->buf_id = vr->chain_len + vr->size;
	return 0;
}

int
vvi_vring_alloc(struct vvi_vring *vr, uint16_t index, uint16_t size,
	bool packed, size_t extra_len, int socket)
{
	memset(vr, 0, sizeof(*vr));
	vr->kickfd = -1;
	vr->callfd = -1;
	vr->index = index;
	vr->size = size;
	vr->packed = packed;
	vr->mem_len = extra_offset(vr) + extra_len;
	vr->mem = rte_zmalloc_socket("vvi_vring", vr->mem_len, VVI_VRING_ALIGN,
		socket);
	vr->next = rte_zmalloc_socket("vvi_vring_next",
		sizeof(*vr->next) * size, RTE_CACHE_LINE_SIZE, socket);
	if (vr->mem == NULL || vr->next == NULL) {
		vvi_vring_free(vr);
		return -ENOMEM;
	}
	if (packed) {
		if (alloc_packed(vr, socket) < 0) {
			vvi_vring_free(vr);
			return -ENOMEM;
		}
	} else {
		vr->desc = vr->mem;
		vr->avail = RTE_PTR_ADD(vr->mem,
			sizeof(struct vring_desc) * size);
		vr->used = RTE_PTR_ADD(vr->mem, used_offset(size));
	}
	vr->extra = extra_len ? RTE_PTR_ADD(vr->mem, extra_offset(vr)) : NULL;
	/* Non-blocking: an unread call eventfd must never stall anyone. */
	vr->kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	vr->callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vr->kickfd < 0 || vr->callfd < 0) {
		vvi_vring_free(vr);
		return -errno;
	}
	vvi_vring_reset(vr);
	return 0;
}

void
vvi_vring_cancel_hold(struct vvi_vring *vr)
{
	if (vr->hold_expire != NULL)
		rte_eal_alarm_cancel(vr->hold_expire, vr);
}

void
vvi_vring_free(struct vvi_vring *vr)
{
	vvi_vring_cancel_hold(vr);
	if (vr->kickfd >= 0)
		close(vr->kickfd);
	if (vr->callfd >= 0)
		close(vr->callfd);
	rte_free(vr->mem);
	rte_free(vr->priv);
	rte_free(vr->next);
	memset(vr, 0, sizeof(*vr));
	vr->kickfd = -1;
	vr->callfd = -1;
}

void
vvi_vring_reset(struct vvi_vring *vr)
{
	vvi_vring_cancel_hold(vr);
	if (vr->packed) {
		vvi_vring_packed_reset(vr);
		memset(vr->mem, 0, extra_offset(vr));
		/* Polling driver: no used-buffer notifications. */
		vr->driver_event->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
	} else {
		memset(vr->mem, 0, extra_offset(vr));
	}
	for (uint16_t i = 0; i < vr->size; i++)
		vr->next[i] = (uint16_t)(i + 1);
	vr->free_head = 0;
	vr->free_tail = (uint16_t)(vr->size - 1);
	vr->nb_free = vr->size;
	vr->avail_idx = 0;
	vr->last_used = 0;
	/* Polling driver: the backend need not signal the call eventfd. */
	if (!vr->packed)
		vr->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
}

void
vvi_vring_put_chain(struct vvi_vring *vr, uint16_t head, uint16_t n)
{
	uint16_t tail = head;

	for (uint16_t i = 1; i < n; i++)
		tail = vr->next[tail];
	if (vr->nb_free == 0)
		vr->free_head = head;
	else
		vr->next[vr->free_tail] = head;
	vr->free_tail = tail;
	vr->nb_free += n;
}

void
vvi_vring_flush(struct vvi_vring *vr)
{
	static const uint64_t one = 1;

	if (vr->packed) {
		vvi_vring_packed_flush(vr);
		return;
	}
	/* Release: descriptors and ring entries before the index. */
	__atomic_store_n(&vr->avail->idx, vr->avail_idx, __ATOMIC_RELEASE);
	/* The flags read must not pass the index store. */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!(__atomic_load_n(&vr->used->flags, __ATOMIC_RELAXED) &
			VRING_USED_F_NO_NOTIFY)) {
		ssize_t r = write(vr->kickfd, &one, sizeof(one));

		RTE_SET_USED(r);
	}
}
