/* SPDX-License-Identifier: BSD-3-Clause */
/* Driver side of a split virtqueue for the fake master: see fm_vring.h. */
#include "fm_vring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int
fm_vring_init(struct fm_vring *vr, struct fm_mem *mem, int region,
		uint16_t size)
{
	uint16_t i;

	memset(vr, 0, sizeof(*vr));
	vr->kick_fd = -1;
	vr->call_fd = -1;
	if (size == 0 || (size & (size - 1)) != 0)
		return -EINVAL;
	vr->size = size;
	/* Alignments from the virtio spec for split rings. */
	vr->desc = fm_mem_alloc(mem, region, 16ull * size, 16);
	vr->avail = fm_mem_alloc(mem, region, 6ull + 2ull * size, 2);
	vr->used = fm_mem_alloc(mem, region, 6ull + 8ull * size, 4);
	vr->free_ids = calloc(size, sizeof(*vr->free_ids));
	vr->chains = calloc(size, sizeof(*vr->chains));
	vr->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vr->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vr->desc == NULL || vr->avail == NULL || vr->used == NULL ||
			vr->free_ids == NULL || vr->chains == NULL ||
			vr->kick_fd < 0 || vr->call_fd < 0) {
		fm_vring_fini(vr);
		return -ENOMEM;
	}
	/* Pop order 0, 1, 2...: makes descriptor ids predictable. */
	for (i = 0; i < size; i++)
		vr->free_ids[i] = (uint16_t)(size - 1 - i);
	vr->num_free = size;
	return 0;
}

void
fm_vring_fini(struct fm_vring *vr)
{
	if (vr->kick_fd >= 0)
		close(vr->kick_fd);
	if (vr->call_fd >= 0)
		close(vr->call_fd);
	free(vr->free_ids);
	free(vr->chains);
	memset(vr, 0, sizeof(*vr));
	vr->kick_fd = -1;
	vr->call_fd = -1;
}

int
fm_vring_alloc(struct fm_vring *vr, int n, uint16_t *ids)
{
	struct fm_chain *c;
	int i;

	if (n <= 0 || n > FM_MAX_CHAIN || n > vr->num_free)
		return -ENOSPC;
	for (i = 0; i < n; i++)
		ids[i] = vr->free_ids[--vr->num_free];
	c = &vr->chains[ids[0]];
	memset(c, 0, sizeof(*c));
	c->nids = (uint16_t)n;
	memcpy(c->ids, ids, sizeof(*ids) * n);
	return 0;
}

void
fm_vring_publish(struct fm_vring *vr, uint16_t head)
{
	vr->avail->ring[vr->avail_idx % vr->size] = head;
	vr->avail_idx++;
	/* The device must see the ring entry before the new index. */
	__atomic_store_n(&vr->avail->idx, vr->avail_idx, __ATOMIC_RELEASE);
}

static void
record_segs(struct fm_vring *vr, uint16_t head, const struct fm_seg *segs,
		int n)
{
	struct fm_chain *c = &vr->chains[head];

	c->nsegs = (uint16_t)n;
	memcpy(c->segs, segs, sizeof(*segs) * n);
}

int
fm_vring_add_chain(struct fm_vring *vr, const struct fm_seg *segs, int n)
{
	uint16_t ids[FM_MAX_CHAIN];
	int i;

	if (fm_vring_alloc(vr, n, ids) < 0)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		struct vring_desc *d = &vr->desc[ids[i]];

		d->addr = segs[i].addr;
		d->len = segs[i].len;
		d->flags = (segs[i].write ? VRING_DESC_F_WRITE : 0) |
			(i + 1 < n ? VRING_DESC_F_NEXT : 0);
		d->next = i + 1 < n ? ids[i + 1] : 0;
	}
	record_segs(vr, ids[0], segs, n);
	fm_vring_publish(vr, ids[0]);
	return ids[0];
}

int
fm_vring_add_indirect(struct fm_vring *vr, struct fm_mem *mem, int region,
		const struct fm_seg *segs, int n)
{
	struct vring_desc *table;
	uint16_t head;
	int i;

	if (n <= 0 || n > FM_MAX_CHAIN)
		return -EINVAL;
	table = fm_mem_alloc(mem, region, sizeof(*table) * n, 16);
	if (table == NULL || fm_vring_alloc(vr, 1, &head) < 0)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		table[i].addr = segs[i].addr;
		table[i].len = segs[i].len;
		table[i].flags = (segs[i].write ? VRING_DESC_F_WRITE : 0) |
			(i + 1 < n ? VRING_DESC_F_NEXT : 0);
		table[i].next = (uint16_t)(i + 1 < n ? i + 1 : 0);
	}
	vr->desc[head].addr = fm_ptr_gpa(mem, table);
	vr->desc[head].len = (uint32_t)(sizeof(*table) * n);
	vr->desc[head].flags = VRING_DESC_F_INDIRECT;
	vr->desc[head].next = 0;
	record_segs(vr, head, segs, n);
	fm_vring_publish(vr, head);
	return head;
}

uint16_t
fm_vring_used_pending(const struct fm_vring *vr)
{
	uint16_t idx = __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE);

	return (uint16_t)(idx - vr->last_used);
}

bool
fm_vring_pop_used(struct fm_vring *vr, struct vring_used_elem *elem,
		struct fm_chain *chain)
{
	struct fm_chain *c;
	uint16_t i;

	if (fm_vring_used_pending(vr) == 0)
		return false;
	*elem = vr->used->ring[vr->last_used % vr->size];
	vr->last_used++;
	if (elem->id >= vr->size) {
		/* A device bug; leave the ring as it is for the test to see. */
		if (chain != NULL)
			memset(chain, 0, sizeof(*chain));
		return true;
	}
	c = &vr->chains[elem->id];
	if (chain != NULL)
		*chain = *c;
	for (i = 0; i < c->nids; i++)
		vr->free_ids[vr->num_free++] = c->ids[i];
	c->nids = 0;
	return true;
}

void
fm_vring_kick(struct fm_vring *vr)
{
	eventfd_write(vr->kick_fd, 1);
}

uint64_t
fm_vring_take_calls(struct fm_vring *vr)
{
	eventfd_t v = 0;

	if (eventfd_read(vr->call_fd, &v) < 0)
		return 0;
	return v;
}
