/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The frontend of a guest behind a vIOMMU in strict mode, for the IOTLB
 * fault scenario: every buffer is mapped at a fresh IOVA page when posted
 * (and sometimes announced at once with an UPDATE, otherwise left for the
 * device to miss), and unmapped with an INVALIDATE when the device gives
 * it back. On top of that the test revokes buffers the device still
 * holds (unmap, INVALIDATE, then scribble over the memory once the reply
 * came), and sends unrelated UPDATE/INVALIDATE noise and whole-IOTLB
 * flushes. Misses are answered from the emulated IOMMU, and answered
 * "not mapped" (a non-zero reply) for what the guest has unmapped, as
 * QEMU does, so that the device refuses such a buffer at once.
 * Forked frontends use it too, with buffers mapped the same way.
 */
#ifndef FAULT_IOMMU_H
#define FAULT_IOMMU_H

#include <stdbool.h>
#include <stdint.h>

#include "fake_frontend.h"
#include "fault_guest.h"
#include "fm_iommu.h"

struct fault_iommu {
	struct fm_frontend *m;
	struct fault_guest *g;
	struct fm_iommu io;
	struct fault_guest_map map;	/* given to the guest engine */
	uint64_t next_iova;
	uint32_t rng;
	/* What was done, for the report. */
	unsigned int updates;		/* UPDATEs sent ahead of use */
	unsigned int invalidates;	/* INVALIDATEs of returned buffers */
	unsigned int misses_mapped;	/* misses answered with an UPDATE */
	unsigned int misses_refused;	/* misses answered "not mapped" */
	unsigned int noise;		/* unrelated UPDATE/INVALIDATE */
	unsigned int flushes;		/* whole-IOTLB invalidations */
	unsigned int revoked[2];	/* buffers revoked in time: RX, TX */
	unsigned int revoked_late[2];	/* revoked after the device used them */
	unsigned int failures;		/* requests not acknowledged, etc. */
};

/*
 * Ties x to frontend m and its guest engine g (whose buffers are then
 * mapped through x). Sends nothing; needs no DPDK (forked frontends use
 * it too).
 */
void fault_iommu_init(struct fault_iommu *x, struct fm_frontend *m,
		struct fault_guest *g, uint32_t seed);
void fault_iommu_fini(struct fault_iommu *x);

/*
 * Feature negotiation with IOMMU_PLATFORM (features given), the backend
 * request channel, and the guest mapping every region in its IOMMU.
 * Returns an fm_result.
 */
int fault_iommu_negotiate(struct fault_iommu *x, uint64_t features);

/* Starts ring q at its IOVAs (fault_ring_start). Returns an fm_result. */
int fault_iommu_ring_start(struct fault_iommu *x, uint32_t q);

/* Answers every miss already queued. Returns how many. */
int fault_iommu_serve(struct fault_iommu *x);
/* The same, shaped as fault_link.serve. */
void fault_iommu_serve_cb(void *x);

/* Revokes a random buffer the device holds (tx: a TX one). */
void fault_iommu_revoke(struct fault_iommu *x, bool tx);

/* One unrelated UPDATE or INVALIDATE (or a range of them). */
void fault_iommu_noise(struct fault_iommu *x);

/* INVALIDATE of the whole IOVA space (rings included). */
void fault_iommu_flush(struct fault_iommu *x);

#endif /* FAULT_IOMMU_H */
