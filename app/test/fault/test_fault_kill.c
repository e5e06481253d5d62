/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault scenario 1: frontends killed with SIGKILL and replaced, hundreds
 * of times, with the library as socket server (the frontend connects)
 * and as client (the frontend listens; the library reconnects), on split
 * and on packed rings; as server with a guest behind a vIOMMU (IOTLB
 * misses in flight, packets held for them when the frontend dies), also
 * with most frontends killed after they stopped answering misses (the
 * library holding packets for them) and each followed by one that must
 * get traffic going, both on split and on packed rings; and as server and client with frontends that add
 * their memory with ADD_MEM_REG and remove and add a spare region all
 * along their traffic (memory slots), on split and on packed rings. Then three faults at the
 * application's boundary: a socket unregistered right after its
 * frontend died, a client-mode frontend that comes back with its
 * listening queue full, and a frontend stuck in the middle of a message
 * while a vIOMMU device needs the event thread (kill_boundary.c).
 * Each group is a suite, run on its own by meson (meson.build).
 *
 * Each cycle forks a frontend (fault_child.h) that connects, shakes
 * hands step by step and then moves packets both ways while the
 * datapath thread polls its device. The test kills it at a chosen point:
 * right after it connected, during feature negotiation, around
 * SET_MEM_TABLE, during ring set-up, or after some traffic, at a moment
 * the datapath thread is inside a burst on that device. Several lanes
 * (ports) run cycles at once, so deaths also overlap each other.
 *
 * After each death, once the library has torn the connection down:
 *  - new_device/destroy_device and connection callbacks balance;
 *  - guest -> host: the packets the frontend had made available (read
 *    from its rings, which the test still maps: the avail index, or on
 *    a packed ring the flags of the descriptors where the frontend's
 *    counts say its chains start) are those the datapath
 *    received, in order and intact, plus those still in the ring, lost
 *    with the frontend; the library gave back (used ring) and counted
 *    (good_packets, last_avail_idx) exactly the ones received;
 *  - host -> guest: every packet the library accepted is in the used
 *    ring and in its counters (with an IOMMU, or still held for a miss:
 *    at most the library's bound, freed with the device); the frontend
 *    got a prefix of them, intact, and the rest died with it;
 *  - nothing was refused or dropped: no chain of a dying frontend is
 *    taken for a bad one. The only exception is a vIOMMU frontend that
 *    paused longer than the library's miss timeout: then each drop is a
 *    counted miss timeout, and is accounted for as such;
 *  - a frontend that died in the middle of a message is seen at once.
 * After all cycles: no fd, rte_malloc, libc memory or mbuf left
 * behind, RSS flat, and the witness device never stopped.
 */
#include <CUnit/CUnit.h>

#include "fault_env.h"
#include "kill.h"

static CU_TestInfo edge_tests[] = {
	{ "then_unregister", test_kill_then_unregister },
	{ "client_backlog_full", test_kill_client_backlog_full },
	{ "stuck_half_message", test_kill_stuck_half_message },
	CU_TEST_INFO_NULL,
};

/* One suite per meson test (meson.build): they run apart, each well
 * inside its timeout on a loaded machine. */
static CU_SuiteInfo suites[] = {
	{ "split", NULL, NULL, NULL, NULL, kill_split_tests },
	{ "packed", NULL, NULL, NULL, NULL, kill_packed_tests },
	{ "iommu", NULL, NULL, NULL, NULL, kill_iommu_tests },
	{ "packed_iommu", NULL, NULL, NULL, NULL, kill_packed_iommu_tests },
	{ "slots", NULL, NULL, NULL, NULL, kill_slots_tests },
	{ "packed_slots", NULL, NULL, NULL, NULL, kill_packed_slots_tests },
	{ "edge", NULL, NULL, NULL, NULL, edge_tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	return fault_main("fault-kill", suites, argc, argv);
}
