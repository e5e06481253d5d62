/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ring set-up as the fault tests need it: rings laid out once in guest
 * memory and then announced (again) as they are, as QEMU does after a
 * stop, a reconnection or a memory table change. fm_setup_vring lays a
 * ring out anew each time, which a forked frontend must not do (the
 * parent audits the rings it laid out) and a restart must not do (the
 * ring's contents are what is resumed).
 */
#ifndef FAULT_RING_H
#define FAULT_RING_H

#include <stdbool.h>
#include <stdint.h>

#include "fake_frontend.h"

/* Ring size of every fault-test queue. */
#define FAULT_RING_SIZE 256

/* Lays out m->vr[0..n) in region (eventfds included), split or packed
 * (the frontend must then negotiate VIRTIO_F_RING_PACKED). Returns 0 or
 * -1. */
int fault_rings_layout(struct fm_frontend *m, int n, int region, bool packed);

/* SET_VRING_BASE of a ring that has not run yet: index 0, or on a
 * packed ring position 0 in the first lap (wrap counter 1, bit 15). */
static inline uint16_t
fault_ring_base0(const struct fm_vring *vr)
{
	return vr->packed ? 1u << 15 : 0;
}

/* A ring position counted from the start over every lap (split: an
 * index, modulo 2^16) as a base or an rte_vhost_get_vring_base index:
 * the index, or on a packed ring the position with its lap's wrap
 * counter in bit 15. */
static inline uint16_t
fault_ring_pos_base(const struct fm_vring *vr, uint32_t pos)
{
	if (!vr->packed)
		return (uint16_t)pos;
	return (uint16_t)(pos % vr->size |
			((pos / vr->size) % 2 == 0 ? 1u << 15 : 0));
}

/*
 * Announces ring q as laid out: NUM, ADDR (a, or the frontend's own
 * addresses if NULL), BASE (on a packed ring 32 bits: the avail
 * position and, above, the used one), CALL, KICK, then ENABLE 1.
 * Returns an fm_result.
 */
int fault_ring_start(struct fm_frontend *m, uint32_t q, uint32_t base,
		const struct vhost_vring_addr *a);

/* How far the device has given chains back, as the guest can see it
 * (the chains it read and those written back after them): the used
 * index, or on a packed ring the device's next used position in the
 * form of fault_ring_pos_base. Only in the guest's own process (a
 * packed ring is walked with the guest's chain lengths). */
uint16_t fault_ring_used_base(const struct fm_vring *vr);

/* True if head is among the used elements the guest has not read yet
 * (on a packed ring: the used descriptors after the guest's position). */
bool fault_ring_used_pending_has(const struct fm_vring *vr, uint16_t head);

#endif /* FAULT_RING_H */
