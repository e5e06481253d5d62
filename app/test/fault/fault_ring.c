/* SPDX-License-Identifier: BSD-3-Clause */
/* Ring set-up of the fault tests: see fault_ring.h. */
#include "fault_ring.h"

int
fault_rings_layout(struct fm_master *m, int n, int region, bool packed)
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
fault_ring_start(struct fm_master *m, uint32_t q, uint16_t base,
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

bool
fault_ring_used_pending_has(const struct fm_vring *vr, uint16_t head)
{
	uint16_t idx = __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE);
	uint16_t i;

	for (i = vr->last_used; i != idx; i++)
		if (vr->used->ring[i % vr->size].id == head)
			return true;
	return false;
}
