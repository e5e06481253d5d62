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

#include "fake_master.h"

/* Ring size of every fault-test queue. */
#define FAULT_RING_SIZE 256

/* Lays out m->vr[0..n) in region (eventfds included), split or packed
 * (the master must then negotiate VIRTIO_F_RING_PACKED). Returns 0 or
 * -1. */
int fault_rings_layout(struct fm_master *m, int n, int region, bool packed);

/* SET_VRING_BASE of a ring that has not run yet: index 0, or on a
 * packed ring position 0 in the first lap (wrap counter 1, bit 15). */
static inline uint16_t
fault_ring_base0(const struct fm_vring *vr)
{
	return vr->packed ? 1u << 15 : 0;
}

/*
 * Announces ring q as laid out: NUM, ADDR (a, or the master's own
 * addresses if NULL), BASE, CALL, KICK, then ENABLE 1. Returns an
 * fm_result.
 */
int fault_ring_start(struct fm_master *m, uint32_t q, uint16_t base,
		const struct vhost_vring_addr *a);

/* True if head is among the used elements the guest has not read yet
 * (split rings). */
bool fault_ring_used_pending_has(const struct fm_vring *vr, uint16_t head);

#endif /* FAULT_RING_H */
