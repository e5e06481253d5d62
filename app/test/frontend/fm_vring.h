/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The driver (guest) side of one virtqueue laid out in fake guest
 * memory, with its kick and call eventfds: split, or packed
 * (fm_vring_init_packed; chains written straight into the descriptor
 * ring or as one indirect descriptor, no direct access to the split
 * fields).
 *
 * The descriptor table is written only when a chain is added, and every
 * field stays reachable (fm_vring.desc) so that tests can corrupt a chain
 * before publishing it. The free list is kept outside guest memory so a
 * corrupted chain cannot corrupt the driver's own bookkeeping.
 */
#ifndef FM_VRING_H
#define FM_VRING_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

#include "fm_mem.h"

/* Longest chain (direct or indirect) a test builds. */
#define FM_MAX_CHAIN 64

/* One buffer of a chain, as the driver means it. */
struct fm_seg {
	uint64_t addr;  /* guest-physical */
	uint32_t len;
	bool write;     /* device-writable (VRING_DESC_F_WRITE) */
};

/* What the driver posted under one head, kept to read results back. */
struct fm_chain {
	uint16_t nids;                  /* ring descriptors used */
	uint16_t ids[FM_MAX_CHAIN];
	uint16_t nsegs;
	struct fm_seg segs[FM_MAX_CHAIN];
};

struct fm_vring {
	uint16_t size;
	bool packed;
	/* Split: the three parts. Packed: desc is the descriptor ring
	 * (pdesc), avail and used the driver and device event areas, so
	 * that SET_VRING_ADDR sends them in the same fields. */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	struct vring_packed_desc *pdesc;
	int kick_fd;
	int call_fd;
	/* Split: next avail index published, next used entry read.
	 * Packed: ring positions, each with its wrap counter. */
	uint16_t avail_idx;
	uint16_t last_used;
	bool avail_wrap;
	bool used_wrap;
	uint16_t num_free;
	uint16_t *free_ids;     /* stack of free descriptor ids */
	struct fm_chain *chains; /* indexed by head id */
};

/*
 * Lays out a ring of size entries in region `region` of mem and creates
 * its eventfds. Returns 0 or -errno.
 */
int fm_vring_init(struct fm_vring *vr, struct fm_mem *mem, int region,
		uint16_t size);

/* The same as a packed ring: descriptor ring, driver and device event
 * areas (all zero: notifications enabled), wrap counters at 1. */
int fm_vring_init_packed(struct fm_vring *vr, struct fm_mem *mem,
		int region, uint16_t size);

/*
 * Packed: true if the descriptor at position pos (counted from the
 * ring's start over every lap) was made available in its lap; *used
 * (may be NULL) tells whether the device wrote it back as used in that
 * lap. Reads only guest memory, so another process mapping the same
 * ring may ask.
 */
bool fm_vring_packed_at(const struct fm_vring *vr, uint32_t pos,
		bool *used);

/* Closes the eventfds and frees bookkeeping. Safe to call twice. */
void fm_vring_fini(struct fm_vring *vr);

/*
 * Takes n free descriptor ids (recorded as the chain of ids[0]).
 * Returns 0 or -ENOSPC.
 */
int fm_vring_alloc(struct fm_vring *vr, int n, uint16_t *ids);

/* Split only: makes head available to the device (avail ring + index,
 * release order). */
void fm_vring_publish(struct fm_vring *vr, uint16_t head);

/*
 * Writes segs as a direct chain of descriptors and publishes it.
 * Returns the head id or -errno.
 */
int fm_vring_add_chain(struct fm_vring *vr, const struct fm_seg *segs,
		int n);

/*
 * Writes segs into an indirect table allocated in region `region` and
 * publishes one ring descriptor pointing at it. Returns the head (packed:
 * the buffer id; the descriptor is at the avail position before the call)
 * or -errno. A packed table holds packed descriptors with only WRITE set.
 */
int fm_vring_add_indirect(struct fm_vring *vr, struct fm_mem *mem,
		int region, const struct fm_seg *segs, int n);

/*
 * Takes the next used element if the device published one; *chain (may
 * be NULL) receives what had been posted under its id, and the ring
 * descriptors are freed. Returns false when nothing is new.
 */
bool fm_vring_pop_used(struct fm_vring *vr, struct vring_used_elem *elem,
		struct fm_chain *chain);

/* Used elements published and not yet popped. */
uint16_t fm_vring_used_pending(const struct fm_vring *vr);

/* Signals the kick eventfd. */
void fm_vring_kick(struct fm_vring *vr);

/* Reads (and clears) the call eventfd counter; 0 if not signalled. */
uint64_t fm_vring_take_calls(struct fm_vring *vr);

#endif /* FM_VRING_H */
