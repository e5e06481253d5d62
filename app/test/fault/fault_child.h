/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A frontend in a process of its own, so that it can really die: the
 * parent lays out its guest (memory, rings, buffers) before the fork,
 * the child connects (or accepts, when the library is the client), runs
 * the handshake step by step, then sends and receives packets until it
 * is killed. It never touches DPDK, the library or malloc: only the
 * scripted frontend and the guest memory it got.
 *
 * What the child knows survives it in a shared mapping: how far it got
 * (phase) and its guest counters. What it sent is also in the rings the
 * parent still maps, so the parent can count exactly what the dead
 * frontend had made available, and what the library gave back.
 */
#ifndef FAULT_CHILD_H
#define FAULT_CHILD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fake_frontend.h"
#include "fault_guest.h"
#include "fault_iommu.h"

/* How far a frontend got (fault_guest_stats.phase). */
enum fault_phase {
	FAULT_PH_START,		/* forked, not connected yet */
	FAULT_PH_CONNECTED,	/* has its socket: the library sees it */
	FAULT_PH_FEATURES,	/* feature negotiation under way */
	FAULT_PH_MEMTABLE,	/* SET_MEM_TABLE about to be sent */
	FAULT_PH_RINGS,		/* ring set-up under way */
	FAULT_PH_TRAFFIC,	/* rings enabled, packets flowing */
	FAULT_PH_NB
};

const char *fault_phase_name(int phase);

/* Where a frontend may park until it is killed: every state of the
 * handshake the library can be left in. */
enum fault_stop {
	FAULT_STOP_NONE,	/* goes on to traffic */
	FAULT_STOP_CONNECTED,	/* connected, nothing sent */
	FAULT_STOP_NEGOTIATED,	/* features agreed, no memory table */
	FAULT_STOP_HALF_MESSAGE,	/* half a SET_MEM_TABLE sent (fds too) */
	FAULT_STOP_MEMTABLE_SENT,	/* SET_MEM_TABLE sent, reply unread */
	FAULT_STOP_MEMTABLE_DONE,	/* memory table acknowledged */
	FAULT_STOP_RING0,	/* ring 0 running, ring 1 not set up */
	FAULT_STOP_HANDSHAKE_NB,	/* the stops above: the handshake's */
	/* vIOMMU, in traffic: misses left unanswered from then on (the
	 * device holds packets for them), the guest still stepping. */
	FAULT_STOP_MISSES = FAULT_STOP_HANDSHAKE_NB,
	FAULT_STOP_NB
};

const char *fault_stop_name(int stop);

/* Survives the child. */
struct fault_child_shared {
	struct fault_guest_stats st;
	atomic_int parked;		/* the stop it waits at, or 0 */
	atomic_int failed_phase;	/* where the child gave up, or 0 */
	atomic_int failed_result;	/* the fm_result or -errno then */
	atomic_uint iommu_failures;	/* IOTLB requests not acknowledged */
	atomic_uint iommu_refused;	/* misses answered "not mapped" */
	atomic_uint iommu_answered;	/* misses answered with an UPDATE */
	/* Longest time between two rounds of the traffic loop. */
	atomic_uint max_gap_us;
	/* IOTLB misses (test_now_us clock). The start of the last round
	 * whose look at the backend channel found it empty: any miss the
	 * library sent since is unanswered yet (and stays so if the
	 * frontend dies). */
	atomic_llong served_us;
	/* Longest a miss can have waited for its answer while the
	 * frontend lived: from the start of one round that served misses
	 * to the end of the next one (its UPDATE acknowledged). */
	atomic_uint max_answer_us;
	/* Memory slots: ADD_MEM_REG / REM_MEM_REG acknowledged. */
	atomic_uint slot_ops;
	/* FAULT_STOP_MISSES: when it stopped answering (test_now_us). */
	atomic_llong deaf_since_us;
};

struct fault_child {
	pid_t pid;
	struct fault_child_shared *sh;
	struct fm_frontend m;	/* the guest; m.sock is the child's */
	struct fault_guest g;
	char path[256];		/* the library's socket (server mode) */
	int listen_fd;		/* >= 0: accept on it (library is client) */
	uint64_t features;
	uint64_t protocol;
	int stop;		/* enum fault_stop */
	unsigned int deaf_after;	/* see fault_child_plan */
	bool iommu;		/* a guest behind a vIOMMU */
	bool slots;		/* memory slots (see fault_child_plan) */
	bool packed;		/* packed rings */
	struct fault_iommu x;
};

/* Maps the shared block (once per lane). Returns 0 or -1. */
int fault_child_init(struct fault_child *c);
void fault_child_fini(struct fault_child *c);

/* What the next frontend does. */
struct fault_child_plan {
	uint32_t stream;	/* stamp of its packets */
	bool mergeable;		/* negotiates VIRTIO_NET_F_MRG_RXBUF */
	bool iommu;		/* VIRTIO_F_IOMMU_PLATFORM, buffers at IOVAs
				 * (fault_iommu.h), misses answered */
	int stop;		/* where it parks (enum fault_stop) */
	/* FAULT_STOP_MISSES: traffic steps before it stops answering. */
	unsigned int deaf_after;
	/* CONFIGURE_MEM_SLOTS: SET_MEM_TABLE with region 0 only, the
	 * buffers' region and a spare one added with ADD_MEM_REG, and the
	 * spare removed and added again all along the traffic. */
	bool slots;
	/* VIRTIO_F_RING_PACKED, rings laid out packed. */
	bool packed;
};

/*
 * Lays out the next frontend's guest: two regions (three with slots),
 * the rings, the buffers. Returns 0 or -1.
 */
int fault_child_prepare(struct fault_child *c, const char *path,
		int listen_fd, const struct fault_child_plan *plan);

/* Forks the frontend. Returns 0 or -1. */
int fault_child_spawn(struct fault_child *c);

/* True (with the wait status) if the child ended on its own. */
bool fault_child_ended(struct fault_child *c, int *status);

/* SIGKILL, then reaps it. Returns the wait status. */
int fault_child_kill(struct fault_child *c);

/* Releases the parent's copy of the guest (after the library let go). */
void fault_child_release(struct fault_child *c);

/*
 * The frontend's rings as the parent sees them, in chains counted from
 * the start (split: modulo 2^16, the rings' own indexes). A packed ring
 * has no index: the descriptors tell, found from the child's counts
 * (fault_guest_tx_pos) and checked by their flags in each lap.
 */
/* TX chains made available (one more than tx_posted if the child died
 * publishing one). */
uint32_t fault_child_g2h_published(const struct fault_child *c);
/* Chains of ring q the device gave back (q 1 TX, 0 RX). */
uint32_t fault_child_used(const struct fault_child *c, int q);
/* What rte_vhost_get_vring_base gives for ring q once count chains are
 * done: the index, or (packed) the position with its wrap counter in
 * bit 15. */
uint16_t fault_child_ring_base(const struct fault_child *c, int q,
		uint32_t count);

#endif /* FAULT_CHILD_H */
