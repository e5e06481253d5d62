/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A port: one socket registered with the library, as an application such
 * as the vhost PMD holds it. Its callbacks count what the library tells
 * (connections, devices, ring states) and gate the datapath thread
 * (fault_datapath.h) the way DPDK's contract asks: the datapath may use
 * a vid from new_device on, and destroy_device returns only once the
 * datapath has left the device for good.
 *
 * destroy_device also records the library's own view of the device (per
 * ring counters, ring indexes) just before it goes away, so a test can
 * reconcile them with its own counts after the connection died.
 */
#ifndef FAULT_PORT_H
#define FAULT_PORT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "test_recorder.h"

#define FAULT_MAX_PORTS 12

/* Virtqueues of queue pair 0. */
#define FAULT_H2G_Q 0	/* rte_vhost_enqueue_burst: guest receives */
#define FAULT_G2H_Q 1	/* rte_vhost_dequeue_burst: guest transmits */

/* The library's view of queue pair 0 at a destroy_device. */
struct fault_vq_view {
	bool valid;
	uint64_t good[2];	/* <dir>_q0_good_packets per virtqueue */
	uint64_t dropped[2];	/* dropped_packets */
	uint64_t invalid[2];	/* invalid_descriptor_chains */
	uint64_t timeouts[2];	/* iotlb_miss_timeouts */
	uint64_t misses[2];	/* iotlb_misses (diagnostics) */
	uint64_t pending[2];	/* iotlb_pending (diagnostics) */
	uint16_t last_avail[2];	/* rte_vhost_get_vring_base */
	uint16_t last_used[2];
};

struct fault_port {
	char path[256];
	uint64_t flags;
	bool used;
	int index;

	/* Callbacks, cumulative over the port's life (ev.vid: the device
	 * the datapath may use). */
	struct test_recorder ev;
	atomic_int packed_devices;	/* of new_device, with packed rings */
	atomic_int refused;	/* callbacks the port could not honour */

	/* The datapath gate. */
	atomic_bool active;	/* the datapath may use vid */
	atomic_bool in_burst;	/* the datapath is inside the library */

	/* Traffic of the current connection, reset by the test while no
	 * device runs (fault_port_reset_traffic). */
	atomic_uint stream;		/* the connection's stream id */
	atomic_bool h2g_on;		/* the datapath enqueues */
	atomic_uint g2h_received;	/* intact packets dequeued */
	atomic_uint g2h_next;		/* the seq expected next */
	atomic_uint g2h_gaps;		/* packets skipped over */
	atomic_uint g2h_bad;		/* corrupted, stale or reordered */
	atomic_uint g2h_poisoned;	/* bytes the frontend took back */
	atomic_uint h2g_sent;		/* packets enqueue_burst took */
	/* Optional: one bit per seq received (tests where some packets
	 * may never arrive say which ones arrived). */
	uint8_t *g2h_seen;
	uint32_t g2h_seen_max;

	struct fault_vq_view at_stop;	/* written before destroy_device
					 * is counted */
	atomic_llong stop_us;		/* when destroy_device ran (after
					 * the datapath left; CLOCK_MONOTONIC) */
};

/*
 * Registers tmpdir/name.sock with flags and the port callbacks, and
 * starts it. NULL on failure.
 */
struct fault_port *fault_port_start(const char *name, uint64_t flags);
/* rte_vhost_driver_unregister; the port slot stays (counters readable). */
int fault_port_stop(struct fault_port *p);

/* Zeroes the traffic counters and sets the next connection's stream. */
void fault_port_reset_traffic(struct fault_port *p, uint32_t stream);

/* Number of ports ever started (for the datapath's loop). */
int fault_port_count(void);
struct fault_port *fault_port_at(int i);

/* Callbacks the library made for a vid of no port (should be 0). */
int fault_port_strays(void);

/* Waits until the datapath may use the port (new_device came). */
bool fault_port_wait_active(struct fault_port *p, int timeout_ms);

/*
 * Waits until every device the port had is destroyed and at least
 * nconn connections were torn down. Returns false on timeout.
 */
bool fault_port_wait_quiet(struct fault_port *p, int nconn, int timeout_ms);

#endif /* FAULT_PORT_H */
