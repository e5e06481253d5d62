/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Malformed descriptors for security tests of a backend's IOTLB. One
 * mode at a time (attack=), one chain in every attack_every, while the
 * rest of the traffic stays well-formed.
 *
 * The attack area is 4 IOMMU pages A, B, C, D. B and D are guards that
 * nothing maps; A and C are mapped through windows at ATTACK_BASE:
 *   W_RO  -> A read-only      W_WO -> A write-only      (perm)
 *   S0    -> A, S1 = S0 + page -> C   (adjacent IOVAs, uaddrs apart)
 * The canary is one more page, in the memory table but never mapped.
 *
 * Packed rings add: loop becomes a chain of every descriptor of the
 * ring with NEXT still set on the last (posted when the ring is empty);
 * indirect also sends INDIRECT with NEXT and INDIRECT after another
 * descriptor; wrap publishes a well-formed chain with AVAIL/USED bits
 * that do not make it available, and makes it available after
 * VVI_HOLD_US; badid gives a well-formed chain a buffer id outside the
 * ring.
 */
#ifndef VVI_ATTACK_H
#define VVI_ATTACK_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

#include "vvi_args.h"
#include "vvi_iommu.h"
#include "vvi_vring.h"

struct vvi_attack {
	enum vvi_attack_mode mode;
	uint32_t every;
	uint64_t page;
	uint8_t *area;		/* pages A, B, C, D */
	uint8_t *canary;
	uint64_t canary_iova;	/* its would-be static IOVA */
	bool mapped;
	/* Counters: rx and tx queues run on several lcores (atomics). */
	uint64_t sent;		/* attack chains posted */
	uint64_t completed;	/* ... returned in the used ring */
	uint64_t written;	/* ... rx ones returned with data */
	uint64_t wellformed_tx;	/* straddle tx: should be delivered */
	uint64_t straddle_ok;	/* rx straddle packets correct */
	uint64_t straddle_bad;
	uint64_t guard_bad;	/* guard page writes seen */
	uint64_t canary_bad;	/* canary writes seen */
	uint64_t held;		/* wrap: chains published not available */
	uint64_t held_taken;	/* ... that the device wrote back anyway */
};

/* How long attack=wrap leaves a chain not available. */
#define VVI_HOLD_US 500

/* Allocates the attack pages (first call) and makes the canary a hole of
 * io: before the memory table is built, so that they are in it, and
 * before any mapping. Returns 0, or -ENOTSUP when the mode cannot run
 * with this page size. */
int vvi_attack_alloc(struct vvi_attack *at, const struct vvi_args *a,
	struct vvi_iommu *io);

/* Maps the attack windows (the device's IOMMU is started). */
int vvi_attack_map(struct vvi_attack *at, struct vvi_iommu *io);

/* Checks the canary and guards one last time, logs, frees. */
void vvi_attack_release(struct vvi_attack *at);

/* Whether the n-th chain of a queue should be an attack. */
static inline bool
vvi_attack_due(const struct vvi_attack *at, uint64_t n)
{
	return at->mapped && n % at->every == at->every - 1;
}

/* Builds a tx attack chain from free descriptors (the caller checked
 * there are at least 3). hdr_iova is a valid header of hdr_len bytes;
 * model gives the frame to copy. Returns the head; *ndesc its length. */
uint16_t vvi_attack_tx_chain(struct vvi_attack *at, struct vvi_vring *vr,
	uint64_t hdr_iova, uint32_t hdr_len, const struct rte_mbuf *model,
	uint16_t *ndesc);

/* Builds an rx attack chain (at least 2 free descriptors). */
uint16_t vvi_attack_rx_chain(struct vvi_attack *at, struct vvi_vring *vr,
	uint16_t *ndesc);

/* Packed attack=loop: whether chain n is the ring-long one, which
 * waits until every descriptor is free (nothing else is posted). */
static inline bool
vvi_attack_long_due(const struct vvi_attack *at, const struct vvi_vring *vr,
	uint64_t n)
{
	return vr->packed && at->mode == VVI_ATTACK_LOOP &&
		vvi_attack_due(at, n);
}

/* Packed attack=wrap: pushes nothing, but a chain is due only when no
 * other is held. */
static inline bool
vvi_attack_can_hold(const struct vvi_attack *at, const struct vvi_vring *vr)
{
	return at->mode != VVI_ATTACK_WRAP || !vvi_vring_held(vr);
}

/* After pushing an attack chain: attack=wrap publishes it now, not
 * available (the caller flushed what was pushed before it), and an EAL
 * alarm makes it available VVI_HOLD_US later, counting it well-formed
 * (tx) and whether the device left it alone. */
void vvi_attack_pushed(struct vvi_attack *at, struct vvi_vring *vr,
	bool tx);

/* An attack chain came back; rx ones are checked against model, the
 * first model_len bytes of the last good frame of the queue. */
void vvi_attack_done(struct vvi_attack *at, bool rx, uint32_t len,
	uint32_t hdr_len, const uint8_t *model, uint32_t model_len);

/* Checks the canary and guard pages; returns the number of bad bytes. */
uint64_t vvi_attack_check(struct vvi_attack *at);

#endif /* VVI_ATTACK_H */
