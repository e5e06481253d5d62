/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A device whose frontend lives in this process: a port (the library's
 * side, served by the datapath thread) and a scripted frontend with the guest
 * traffic engine (fault_guest.h) on the other side. Used by the witness
 * and by the scenarios that mistreat a live device (memory tables, ring
 * stops, IOTLB), where no packet may be lost: draining stops new traffic
 * and waits until everything sent either way has arrived, and the exact
 * check then reconciles the guest's counts, the datapath's and the
 * library's own counters.
 */
#ifndef FAULT_LINK_H
#define FAULT_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "fake_frontend.h"
#include "fault_guest.h"
#include "fault_port.h"

struct fault_link {
	struct fault_port *port;
	struct fm_frontend m;
	struct fault_guest g;
	struct fault_guest_stats st;
	/* Called while draining (an IOMMU frontend answers misses). */
	void (*serve)(void *ctx);
	void *serve_ctx;
	/* Protocol features fault_link_start asks for besides REPLY_ACK. */
	uint64_t protocol;
};

/* Guest memory of a link: two regions across a hole, rings in the first. */
#define FAULT_LINK_REGION (2u << 20)
#define FAULT_LINK_TX_BUFS 64
#define FAULT_LINK_RX_BUFS 96

/* Registers port name (flags), lays the guest out and connects. */
int fault_link_prepare(struct fault_link *k, const char *name,
		uint64_t flags, uint32_t stream);

/* After fault_link_prepare: the rings laid out again, packed (then
 * fault_link_start negotiates VIRTIO_F_RING_PACKED). Returns 0 or -1. */
int fault_link_packed(struct fault_link *k);

/*
 * The whole handshake without IOMMU (features given, ring addresses in
 * user addresses, packed rings if laid out so); waits for new_device.
 * Returns 0 or -1.
 */
int fault_link_start(struct fault_link *k, uint64_t features);

struct fault_iommu;

/*
 * The same for a guest behind a vIOMMU (x, fault_iommu.h): buffers at
 * IOVAs, misses answered (also while draining). The rings miss first,
 * so the device starts once their misses are answered. Returns 0 or -1.
 */
int fault_link_start_iommu(struct fault_link *k, struct fault_iommu *x,
		uint32_t seed);

/* Closes the frontend, waits for the library to let go, unregisters. */
void fault_link_close(struct fault_link *k);

/* Runs the guest for ms (stepping, never sleeping long). */
void fault_link_pump(struct fault_link *k, int ms);

/* Stops new traffic both ways and waits until all sent arrived.
 * Returns false on timeout. */
bool fault_link_drain(struct fault_link *k);

/* Lets traffic flow again after a drain. */
void fault_link_resume(struct fault_link *k);

/*
 * After a drain: nothing lost, duplicated, reordered or damaged either
 * way, and the library's counters say the same, with dropped and
 * invalid chains as expected (per virtqueue, [0] host->guest, [1]
 * guest->host). The packets dropped are the only ones that may be
 * missing; the host->guest buffers refused are the ones the guest
 * revoked (fault_guest_stats.revoked_back) and, beyond those, come
 * back empty. CUnit assertions; prints why under name. Returns true
 * if all held.
 */
bool fault_link_check(struct fault_link *k, const char *name,
		const uint64_t expect_dropped[2],
		const uint64_t expect_invalid[2]);

#endif /* FAULT_LINK_H */
