/* SPDX-License-Identifier: BSD-3-Clause */
/* Driver side of a virtqueue for the scripted frontend: see fm_vring.h. */
#include "fm_vring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define PACKED_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define PACKED_USED (1u << VRING_PACKED_DESC_F_USED)

static int
init_ring(struct fm_vring *vr, struct fm_mem *mem, int region,
		uint16_t size, bool packed)
{
	uint16_t i;

	memset(vr, 0, sizeof(*vr));
	vr->kick_fd = -1;
	vr->call_fd = -1;
	if (size == 0 || (size & (size - 1)) != 0)
		return -EINVAL;
	vr->size = size;
	vr->packed = packed;
	/* Alignments from the virtio spec (packed: 16 and 4). */
	vr->desc = fm_mem_alloc(mem, region, 16ull * size, 16);
	if (packed) {
		vr->pdesc = (struct vring_packed_desc *)vr->desc;
		vr->avail = fm_mem_alloc(mem, region, 4, 4);
		vr->used = fm_mem_alloc(mem, region, 4, 4);
		vr->avail_wrap = true;
		vr->used_wrap = true;
	} else {
		vr->avail = fm_mem_alloc(mem, region, 6ull + 2ull * size, 2);
		vr->used = fm_mem_alloc(mem, region, 6ull + 8ull * size, 4);
	}
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

int
fm_vring_init(struct fm_vring *vr, struct fm_mem *mem, int region,
		uint16_t size)
{
	return init_ring(vr, mem, region, size, false);
}

int
fm_vring_init_packed(struct fm_vring *vr, struct fm_mem *mem, int region,
		uint16_t size)
{
	return init_ring(vr, mem, region, size, true);
}

bool
fm_vring_packed_at(const struct fm_vring *vr, uint32_t pos, bool *used)
{
	bool wrap = (pos / vr->size) % 2 == 0;
	uint16_t f = __atomic_load_n(&vr->pdesc[pos % vr->size].flags,
			__ATOMIC_ACQUIRE);
	bool a = (f & PACKED_AVAIL) != 0, u = (f & PACKED_USED) != 0;

	if (used != NULL)
		*used = a == wrap && u == wrap;
	return a == wrap;
}

/* Flags of a packed descriptor made available in a lap of wrap. */
static uint16_t
packed_flags(bool wrap, bool write, bool next)
{
	return (uint16_t)((wrap ? PACKED_AVAIL : PACKED_USED) |
		(write ? VRING_DESC_F_WRITE : 0) |
		(next ? VRING_DESC_F_NEXT : 0));
}

/* Packed: the chain at the next positions, every descriptor carrying
 * the buffer id, the head's flags stored last (they publish it). */
static int
add_packed(struct fm_vring *vr, const struct fm_seg *segs, int n)
{
	uint16_t ids[FM_MAX_CHAIN], pos = vr->avail_idx, head_flags = 0;
	bool wrap = vr->avail_wrap;
	int i;

	/* One id per descriptor: fewer ids out than free positions. */
	if (fm_vring_alloc(vr, n, ids) < 0)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		struct vring_packed_desc *d = &vr->pdesc[pos];
		uint16_t f = packed_flags(wrap, segs[i].write, i + 1 < n);

		d->addr = segs[i].addr;
		d->len = segs[i].len;
		d->id = ids[0];
		if (i == 0)
			head_flags = f;
		else
			d->flags = f;
		if (++pos == vr->size) {
			pos = 0;
			wrap = !wrap;
		}
	}
	__atomic_store_n(&vr->pdesc[vr->avail_idx].flags, head_flags,
			__ATOMIC_RELEASE);
	vr->avail_idx = pos;
	vr->avail_wrap = wrap;
	return ids[0];
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

	if (vr->packed) {
		int head = add_packed(vr, segs, n);

		if (head >= 0)
			record_segs(vr, (uint16_t)head, segs, n);
		return head;
	}
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

/* An indirect table of n entries of entry bytes each in region, and
 * the ring slot that is to point at it (*head): the table, or NULL if
 * either did not fit. */
static void *
indirect_alloc(struct fm_vring *vr, struct fm_mem *mem, int region,
		size_t entry, int n, uint16_t *head)
{
	void *table = fm_mem_alloc(mem, region, entry * (size_t)n, 16);

	if (table == NULL || fm_vring_alloc(vr, 1, head) < 0)
		return NULL;
	return table;
}

/* Packed: segs in a table of packed descriptors (only WRITE means
 * anything there), one ring descriptor with INDIRECT pointing at it. */
static int
add_packed_indirect(struct fm_vring *vr, struct fm_mem *mem, int region,
		const struct fm_seg *segs, int n)
{
	struct vring_packed_desc *table, *d = &vr->pdesc[vr->avail_idx];
	uint16_t head;
	int i;

	table = indirect_alloc(vr, mem, region, sizeof(*table), n, &head);
	if (table == NULL)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		table[i].addr = segs[i].addr;
		table[i].len = segs[i].len;
		table[i].id = 0;
		table[i].flags = segs[i].write ? VRING_DESC_F_WRITE : 0;
	}
	d->addr = fm_ptr_gpa(mem, table);
	d->len = (uint32_t)(sizeof(*table) * n);
	d->id = head;
	record_segs(vr, head, segs, n);
	__atomic_store_n(&d->flags, (uint16_t)(packed_flags(vr->avail_wrap,
			false, false) | VRING_DESC_F_INDIRECT), __ATOMIC_RELEASE);
	if (++vr->avail_idx == vr->size) {
		vr->avail_idx = 0;
		vr->avail_wrap = !vr->avail_wrap;
	}
	return head;
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
	if (vr->packed)
		return add_packed_indirect(vr, mem, region, segs, n);
	table = indirect_alloc(vr, mem, region, sizeof(*table), n, &head);
	if (table == NULL)
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

/* Packed: the driver's used position as a count over every lap. */
static uint32_t
packed_used_pos(const struct fm_vring *vr)
{
	return (uint32_t)vr->last_used + (vr->used_wrap ? 0u : vr->size);
}

/* Packed: ring positions taken by the chain of id (1 for a bad id). */
static uint16_t
packed_chain_len(const struct fm_vring *vr, uint16_t id)
{
	return id < vr->size && vr->chains[id].nids > 0 ?
		vr->chains[id].nids : 1;
}

uint16_t
fm_vring_used_pending(const struct fm_vring *vr)
{
	uint32_t pos = packed_used_pos(vr), n = 0;
	bool used;

	if (!vr->packed)
		return (uint16_t)(__atomic_load_n(&vr->used->idx,
				__ATOMIC_ACQUIRE) - vr->last_used);
	while (n < vr->size && fm_vring_packed_at(vr, pos, &used) && used) {
		pos += packed_chain_len(vr, vr->pdesc[pos % vr->size].id);
		n++;
	}
	return (uint16_t)n;
}

/* Packed: the next used descriptor, if the device wrote it back. */
static bool
pop_packed(struct fm_vring *vr, struct vring_used_elem *elem)
{
	const struct vring_packed_desc *d = &vr->pdesc[vr->last_used];
	uint32_t pos = packed_used_pos(vr);
	bool used;

	if (!fm_vring_packed_at(vr, pos, &used) || !used)
		return false;
	elem->id = d->id;
	elem->len = d->len;
	pos += packed_chain_len(vr, d->id);
	vr->last_used = (uint16_t)(pos % vr->size);
	vr->used_wrap = (pos / vr->size) % 2 == 0;
	return true;
}

bool
fm_vring_pop_used(struct fm_vring *vr, struct vring_used_elem *elem,
		struct fm_chain *chain)
{
	struct fm_chain *c;
	uint16_t i;

	if (vr->packed) {
		if (!pop_packed(vr, elem))
			return false;
	} else {
		if (fm_vring_used_pending(vr) == 0)
			return false;
		*elem = vr->used->ring[vr->last_used % vr->size];
		vr->last_used++;
	}
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
