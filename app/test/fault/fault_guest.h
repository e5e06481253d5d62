/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The guest's side of steady traffic on queue pair 0 of an fm_frontend:
 * numbered packets out (fault_pkt.h) through a fixed set of buffers that
 * are reused as the device returns them, and receive buffers posted
 * again and again, each packet received checked for stream, order and
 * bytes. Unlike fe_traffic.h's checks it never allocates guest memory
 * after init and never waits, so it can run for hundreds of thousands of
 * packets, in a thread or in a forked frontend (no DPDK, no malloc).
 *
 * Buffer addresses are GPAs, unless a map is given: then every buffer is
 * mapped when posted and unmapped when the device gives it back (a guest
 * behind an IOMMU, fault_iommu.h). A buffer may also be revoked while
 * the device holds it: it is overwritten with FAULT_POISON, and the
 * device must give it back without touching it (RX) or without
 * delivering it (TX).
 */
#ifndef FAULT_GUEST_H
#define FAULT_GUEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fake_frontend.h"
#include "fault_ring.h"

/* One buffer: the 12-byte header and the largest packet. */
#define FG_SLOT 2048u
#define FG_MAX_SLOTS 128

/* Why a received packet was bad (fault_guest_bad.why). */
enum fault_guest_bad_why {
	FG_BAD_LEN = 1,	/* used length outside a packet's */
	FG_BAD_HDR,	/* virtio-net header not the host's */
	FG_BAD_STREAM,	/* another stream's packet */
	FG_BAD_PKTLEN,	/* length not the one of its seq */
	FG_BAD_BYTES,	/* bytes not the ones of its seq */
	FG_BAD_ORDER,	/* a seq before the one expected */
};

/* The first packets found bad, as the guest saw them. */
#define FG_BAD_KEEP 4
struct fault_guest_bad {
	uint32_t why;		/* enum fault_guest_bad_why */
	uint32_t nth;		/* RX chains used before it (its used ring
				 * position, counted from the stream's start) */
	uint32_t want_stream, want_seq;	/* what the guest expected */
	uint32_t stream, seq;	/* what the packet says (if long enough) */
	uint32_t len;		/* used length, header included */
};

/* Counters another thread or process reads (atomics, no pointers: they
 * may live in memory shared with the parent of a forked frontend). */
struct fault_guest_stats {
	atomic_uint phase;	/* free for the frontend's own use */
	atomic_uint tx_posted;	/* packets made available */
	atomic_uint tx_done;	/* TX buffers the device gave back */
	atomic_uint rx_got;	/* packets received intact, in order */
	atomic_uint rx_bad;	/* wrong header, length, stream, order, bytes */
	atomic_uint rx_gaps;	/* packets intact but after a gap (counted
				 * in rx_got: the device dropped some) */
	atomic_uint rx_empty;	/* RX buffers given back with length 0 */
	atomic_uint used_bad;	/* used ids the guest never posted */
	atomic_uint revoked_bad;	/* a revoked buffer was written or used */
	atomic_uint revoked_back;	/* revoked RX buffers given back */
	atomic_llong last_progress_ns;	/* CLOCK_MONOTONIC of the last packet */
	atomic_llong max_gap_ns;	/* longest time without one */
	/* The first FG_BAD_KEEP bad packets: bad[i] is written before
	 * rx_bad counts it, so a reader takes min(rx_bad, FG_BAD_KEEP). */
	struct fault_guest_bad bad[FG_BAD_KEEP];
};

/* Writes what st->bad holds to buf (one line per packet kept). */
void fault_guest_bad_describe(const struct fault_guest_stats *st, char *buf,
		size_t size);

/* How the device addresses a buffer (default: its GPA). */
struct fault_guest_map {
	/* The address of [p, p + len) for a descriptor, or UINT64_MAX if
	 * it cannot be mapped now (the buffer is posted later). */
	uint64_t (*map)(void *ctx, uint8_t *p, uint32_t len, bool dev_writes);
	/* The device gave the buffer at addr back. */
	void (*unmap)(void *ctx, uint64_t addr, uint32_t len);
	void *ctx;
};

struct fault_guest {
	struct fm_frontend *m;
	struct fault_guest_stats *st;
	const struct fault_guest_map *map;
	uint32_t tx_stream;	/* stamped on TX packets */
	uint32_t rx_stream;	/* expected on RX packets */
	uint32_t tx_seq;	/* next TX packet */
	uint32_t rx_seq;	/* next RX packet expected */
	uint32_t rx_seen;	/* RX chains taken back */
	bool tx_on;		/* post TX packets (default on) */
	bool rx_on;		/* post RX buffers (default on) */
	bool mergeable;
	/* Most buffers taken back, and posted, per direction and step
	 * (0: all there are): a frontend that answers IOTLB misses between
	 * steps must not spend long in one. */
	int batch;
	int ntx, nrx;
	uint8_t *tx_slot[FG_MAX_SLOTS];
	uint8_t *rx_slot[FG_MAX_SLOTS];
	int16_t tx_free[FG_MAX_SLOTS], rx_free[FG_MAX_SLOTS];
	int ntx_free, nrx_free;
	/* By head id: what is out with the device. */
	int16_t tx_of[FAULT_RING_SIZE], rx_of[FAULT_RING_SIZE];
	uint32_t tx_seq_of[FAULT_RING_SIZE];
	uint64_t tx_addr[FAULT_RING_SIZE], rx_addr[FAULT_RING_SIZE];
	uint32_t tx_len[FAULT_RING_SIZE];
	bool rx_revoked[FAULT_RING_SIZE];
	/* Optional: one bit per TX seq revoked (the caller's memory). */
	uint8_t *tx_revoked;
	uint32_t tx_revoked_max;
};

/*
 * Buffers for ntx packets and nrx receive buffers, spread over the
 * first nregions regions of m (rings must be laid out already). stream
 * names this guest's TX packets; RX packets carry stream |
 * FAULT_STREAM_H2G. Returns 0 or -1 (no room).
 */
int fault_guest_init(struct fault_guest *g, struct fm_frontend *m,
		struct fault_guest_stats *st, uint32_t stream, int ntx, int nrx,
		int nregions);

/* Restarts the numbering for a new stream (buffers stay). */
void fault_guest_restream(struct fault_guest *g, uint32_t stream);

/*
 * One round: takes back what the device used (checking RX packets),
 * posts every free buffer, kicks. Returns the number of buffers that
 * moved (0: nothing to do).
 */
int fault_guest_step(struct fault_guest *g);

/*
 * The ring position of TX packet seq's first descriptor, counted from
 * the stream's start over every lap: packets take one, two and three
 * descriptors in turn. On a packed ring it tells a dead frontend's
 * descriptors apart (fault_child.h).
 */
uint32_t fault_guest_tx_pos(uint32_t seq);

/* The ring position of chain n of ring q: TX chains (q 1) take 1-3
 * descriptors (fault_guest_tx_pos), RX chains (q 0) one. */
uint32_t fault_guest_chain_pos(int q, uint32_t n);

/*
 * The base of ring q (1 TX, 0 RX: one descriptor per chain) once count
 * chains of a stream that started at position 0 are done, as
 * GET_VRING_BASE and rte_vhost_get_vring_base give it: the index, or on
 * a packed ring the position with its wrap counter (fault_ring_pos_base).
 */
uint16_t fault_guest_ring_base(const struct fm_vring *vr, int q,
		uint32_t count);

/* Buffers out with the device. */
int fault_guest_tx_out(const struct fault_guest *g);
int fault_guest_rx_out(const struct fault_guest *g);

/* Revokes the buffer of head (out with the device): see above. */
void fault_guest_revoke_tx(struct fault_guest *g, uint16_t head);
void fault_guest_revoke_rx(struct fault_guest *g, uint16_t head);

#endif /* FAULT_GUEST_H */
