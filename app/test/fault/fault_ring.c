/* SPDX-License-Identifier: BSD-3-Clause */
/* Ring set-up of the fault tests: see fault_ring.h. */
#include "fault_ring.h"

int
fault_rings_layout(struct fm_frontend *m, int n, int region, bool packed)
{
	int q;

	for (q = 0; q < n && q < FM_MAX_VRINGS; q++)
		if ((packed ? fm_vring_init_packed : fm_vring_init)(&m->vr[q],
				&m->mem, region, FAULT_RING_SIZE) < 0)
			return -1;
	m->nvrings = n;
	return 0;
}

int
fault_ring_start(struct fm_frontend *m, uint32_t q, uint32_t base,
		const struct vhost_vring_addr *a)
{
	struct vhost_vring_addr own;
	int r;

	if (a == NULL) {
		fm_vring_addr_of(m, q, &own);
		a = &own;
	}
	r = fm_set_state(m, FM_REQ_SET_VRING_NUM, q, m->vr[q].size);
	if (r == FM_OK)
		r = fm_set_vring_addr(m, a);
	if (r == FM_OK)
		r = fm_set_state(m, FM_REQ_SET_VRING_BASE, q, base);
	if (r == FM_OK)
		r = fm_set_vring_fd(m, FM_REQ_SET_VRING_CALL, q,
				m->vr[q].call_fd);
	if (r == FM_OK)
		r = fm_set_vring_fd(m, FM_REQ_SET_VRING_KICK, q,
				m->vr[q].kick_fd);
	if (r == FM_OK)
		r = fm_set_state(m, FM_REQ_SET_VRING_ENABLE, q, 1);
	return r;
}

/* Packed: the guest's used position over two laps. */
static uint32_t
packed_used_pos(const struct fm_vring *vr)
{
	return (uint32_t)vr->last_used + (vr->used_wrap ? 0u : vr->size);
}

/* Packed: walks the used descriptors after the guest's position until
 * one of buffer id head (*found) or the first not used. Returns the
 * position where it stopped (over laps, from packed_used_pos). */
static uint32_t
packed_walk_used(const struct fm_vring *vr, uint16_t head, bool *found)
{
	uint32_t pos = packed_used_pos(vr), n;
	bool used;

	*found = false;
	for (n = 0; n < vr->size && fm_vring_packed_at(vr, pos, &used) &&
			used; n++) {
		uint16_t id = vr->pdesc[pos % vr->size].id;

		if (id == head) {
			*found = true;
			break;
		}
		/* A bad id takes one position (fm_vring_pop_used too). */
		pos += id < vr->size && vr->chains[id].nids > 0 ?
			vr->chains[id].nids : 1;
	}
	return pos;
}

uint16_t
fault_ring_used_base(const struct fm_vring *vr)
{
	bool found;

	if (!vr->packed)
		return __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE);
	/* No id is the ring's size: walks to the end. */
	return fault_ring_pos_base(vr, packed_walk_used(vr, vr->size,
			&found));
}

bool
fault_ring_used_pending_has(const struct fm_vring *vr, uint16_t head)
{
	uint16_t idx;
	uint16_t i;
	bool found;

	if (vr->packed) {
		packed_walk_used(vr, head, &found);
		return found;
	}
	idx = __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE);
	for (i = vr->last_used; i != idx; i++)
		if (vr->used->ring[i % vr->size].id == head)
			return true;
	return false;
}
