/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Faults at the boundaries of a death: a socket unregistered right after
 * its frontend died, a frontend that comes back (client mode) with its
 * listening queue full, and a frontend stuck in the middle of a message
 * while another device needs the event thread.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <rte_vhost.h>

#include "fault_env.h"
#include "fault_iommu.h"
#include "fault_link.h"
#include "fault_witness.h"
#include "fe_connect_spy.h"
#include "fe_harness.h"
#include "fe_traffic.h"
#include "fm_conn.h"
#include "kill.h"

/*
 * A frontend killed during traffic, and its socket unregistered at once
 * (or a few microseconds later), before or while the library notices the
 * death. rte_vhost_driver_unregister must be synchronous, as in DPDK:
 * when it returns, every callback of the socket has run (and none comes
 * later: it would find a port that is gone) and every fd of the
 * connection is closed.
 */
void
test_kill_then_unregister(void)
{
	int iterations = (int)fault_env_long("FAULT_UNREG_CYCLES", UNREG_CYCLES);
	struct fault_child child;
	struct fault_usage base;
	uint32_t rng = fault_seed() ^ 0x0e1e9u;
	int i, late = 0, fds = 0, failed = 0, strays;

	CU_ASSERT_FATAL(fault_child_init(&child) == 0);
	fault_scenario_start(&base);
	strays = fault_port_strays();
	for (i = 0; i < iterations; i++) {
		struct fault_child_plan cp = { .stream = (uint32_t)i };
		int64_t deadline = fm_now_ms() + CYCLE_TIMEOUT_MS, t0;
		int spin_us = (int)(fault_rand(&rng) % 200);
		struct fault_port *p;
		int status;

		if (i == 1)	/* the first one was the warm-up */
			fault_scenario_baseline(&base);
		p = fault_port_start("unreg", RTE_VHOST_USER_NET_STATS_ENABLE);
		CU_ASSERT_FATAL(p != NULL);
		fault_port_reset_traffic(p, (uint32_t)i);
		if (fault_child_prepare(&child, p->path, -1, &cp) < 0 ||
				fault_child_spawn(&child) < 0) {
			failed++;
			fault_port_stop(p);
			fault_child_release(&child);
			continue;
		}
		while (atomic_load(&p->g2h_received) == 0 &&
				!fault_child_ended(&child, &status) &&
				fm_now_ms() < deadline)
			usleep(50);
		if (atomic_load(&p->g2h_received) == 0 && failed++ < 5)
			fe_fail("unregister cycle %d: no traffic (frontend at "
					"%s, gave up with %d)", i,
					fault_phase_name(atomic_load(
						&child.sh->st.phase)),
					atomic_load(&child.sh->failed_result));
		fault_child_kill(&child);
		fault_child_release(&child);
		t0 = test_now_us();
		while (test_now_us() - t0 < spin_us)
			;
		CU_ASSERT_EQUAL(fault_port_stop(p), 0);
		/* No waiting: all of this must hold when unregister returns. */
		if (atomic_load(&p->ev.new_device) !=
				atomic_load(&p->ev.destroy_device) ||
				atomic_load(&p->ev.new_connection) !=
				atomic_load(&p->ev.destroy_connection))
			late++;
		if (test_count_fds() > base.fds)
			fds++;
		/* Whatever comes late must have come before the next one. */
		fe_wait_fd_count(base.fds, FE_EVENT_MS);
	}
	printf("    kill then unregister: %d cycles; unregister returned "
			"before the callbacks %d times, before closing the "
			"connection %d times; %d callbacks after it\n",
			iterations, late, fds, fault_port_strays() - strays);
	CU_ASSERT_EQUAL(failed, 0);
	CU_ASSERT_EQUAL(late, 0);
	CU_ASSERT_EQUAL(fds, 0);
	fault_child_fini(&child);
	fault_scenario_finish("kill then unregister", &base);
}

/* A listening socket with room for one pending connection. */
static int
listen_one(const char *path)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(un.sun_path)) {
		close(fd);
		return -1;
	}
	memcpy(un.sun_path, path, strlen(path) + 1);
	unlink(path);
	if (fd >= 0 && (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0 ||
			listen(fd, 0) < 0)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Connects without blocking; returns the fd, or -errno (-EAGAIN: the
 * listener's queue is full). */
static int
connect_nonblock(const char *path)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int err;

	if (fd < 0)
		return -errno;
	if (strlen(path) >= sizeof(un.sun_path)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	memcpy(un.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0)
		return fd;
	err = errno;
	close(fd);
	return -err;
}

/*
 * Client mode: the frontend dies and its successor is not accepting yet
 * while its listening queue is full (a restarting QEMU, a supervisor
 * holding the socket). The library's reconnection must not block: its
 * event thread serves every other device (here the witness must still
 * answer a request), and once the frontend accepts again the library
 * connects on its own.
 */
void
test_kill_client_backlog_full(void)
{
	struct fault_usage base;
	struct fault_port *p;
	char path[256];
	int lfd, s1, filler, full, r, s2 = -1;
	int64_t deadline;

	fault_scenario_start(&base);
	fe_sock_path(path, sizeof(path), "backlog");
	lfd = listen_one(path);
	CU_ASSERT_FATAL(lfd >= 0);
	p = fault_port_start("backlog", RTE_VHOST_USER_CLIENT |
			RTE_VHOST_USER_NET_STATS_ENABLE);
	CU_ASSERT_FATAL(p != NULL);
	s1 = fm_accept(lfd, FE_WAIT_MS);
	CU_ASSERT_FATAL(s1 >= 0);
	/* Fill the queue: one waits, the next is refused. */
	filler = connect_nonblock(path);
	full = connect_nonblock(path);
	CU_ASSERT(filler >= 0);
	CU_ASSERT_EQUAL(full, -EAGAIN);
	if (full >= 0)
		close(full);
	/* The frontend dies: the library reconnects into a full queue,
	 * and its connect() must come back at once (EAGAIN). Its attempts
	 * are counted from here (fe_connect_spy.h), past the test's own. */
	fe_connect_spy_watch(path);
	close(s1);
	CU_ASSERT(fe_wait_at_least(&p->ev.destroy_connection, 1,
			FE_EVENT_MS));
	CU_ASSERT(fe_connect_spy_wait_failed(1, FE_EVENT_MS));
	fe_connect_spy_watch("");
	r = fault_witness_ping();
	if (r != FM_OK)
		fe_fail("backlog full: the witness's request got: %s (the "
				"library's event thread is stuck in connect)",
				fm_result_name(r));
	CU_ASSERT_EQUAL(r, FM_OK);
	/* The successor accepts: the filler, then the library. */
	if (filler >= 0) {
		int a = fm_accept(lfd, FE_WAIT_MS);

		if (a >= 0)
			close(a);
		close(filler);
	}
	deadline = fm_now_ms() + FE_EVENT_MS;
	while (s2 < 0 && fm_now_ms() < deadline)
		s2 = fm_accept(lfd, 100);
	CU_ASSERT(s2 >= 0);
	CU_ASSERT(fe_wait_at_least(&p->ev.new_connection, 2, FE_EVENT_MS));
	if (s2 >= 0)
		close(s2);
	CU_ASSERT(fe_wait_at_least(&p->ev.destroy_connection, 2,
			FE_EVENT_MS));
	CU_ASSERT_EQUAL(fault_port_stop(p), 0);
	CU_ASSERT_EQUAL(atomic_load(&p->ev.new_connection),
			atomic_load(&p->ev.destroy_connection));
	close(lfd);
	unlink(path);
	fault_scenario_finish("client, backlog full", &base);
}

/*
 * A frontend stops in the middle of a message (it sent half of a
 * SET_MEM_TABLE, fds included, and hangs) while another device, behind
 * a vIOMMU, moves packets: that device's misses are answered with
 * UPDATEs, which the event thread must handle within the library's miss
 * timeout. The event thread may wait for the rest of a message only
 * briefly: the stuck connection is closed by the library itself, and
 * the other device loses nothing (no miss timeout, no drop).
 */
void
test_kill_stuck_half_message(void)
{
	static const uint64_t none[2];
	struct fault_link k;
	struct fault_iommu x;
	struct fault_child child;
	struct fault_child_plan cp = {
		.stream = 0x5a000000u, .stop = FAULT_STOP_HALF_MESSAGE,
	};
	struct fault_usage base;
	struct fault_port *stuck;
	int64_t deadline, started, parked_at = 0, closed_at = 0;
	int vid, q;

	CU_ASSERT_FATAL(fault_child_init(&child) == 0);
	fault_scenario_start(&base);
	CU_ASSERT_FATAL(fault_link_prepare(&k, "live-iommu",
			RTE_VHOST_USER_IOMMU_SUPPORT |
			RTE_VHOST_USER_NET_STATS_ENABLE, 0x5b000000u) == 0);
	CU_ASSERT_FATAL(fault_link_start_iommu(&k, &x, fault_seed()) == 0);
	stuck = fault_port_start("stuck", RTE_VHOST_USER_NET_STATS_ENABLE);
	CU_ASSERT_FATAL(stuck != NULL);
	CU_ASSERT_FATAL(fault_child_prepare(&child, stuck->path, -1, &cp) == 0);
	started = fm_now_ms();
	CU_ASSERT_FATAL(fault_child_spawn(&child) == 0);
	/* Traffic (and misses) all along, until well past the time the
	 * stuck frontend could hold the event thread. */
	deadline = fm_now_ms() + STUCK_MS;
	while (fm_now_ms() < deadline) {
		fault_link_pump(&k, 1);
		if (parked_at == 0 && atomic_load(&child.sh->parked) != 0)
			parked_at = fm_now_ms();
		if (closed_at == 0 &&
				atomic_load(&stuck->ev.destroy_connection) > 0)
			closed_at = fm_now_ms();
	}
	fault_child_kill(&child);
	fault_child_release(&child);
	CU_ASSERT(fault_link_drain(&k));
	vid = atomic_load(&k.port->ev.vid);
	/* (The IOMMU frontend waits for acks meanwhile, so it sees the
	 * park and the close late: the time is counted from the fork.) */
	printf("    stuck half message: the library closed it %lld ms after "
			"the frontend started; the IOMMU device moved %u "
			"packets out, %u in, miss timeouts %lld/%lld\n",
			closed_at ? (long long)(closed_at - started) : -1LL,
			atomic_load(&k.st.tx_posted), atomic_load(&k.st.rx_got),
			(long long)fe_vring_stat(vid, 1,
				"_iotlb_miss_timeouts"),
			(long long)fe_vring_stat(vid, 0,
				"_iotlb_miss_timeouts"));
	CU_ASSERT(parked_at != 0);
	/* Closed by the library, before the frontend died. */
	CU_ASSERT(closed_at != 0);
	for (q = 0; q < 2; q++)
		CU_ASSERT_EQUAL(fe_vring_stat(vid, (uint16_t)q,
				"_iotlb_miss_timeouts"), 0);
	fault_link_check(&k, "stuck half message", none, none);
	CU_ASSERT_EQUAL(x.failures, 0);
	CU_ASSERT(atomic_load(&k.st.tx_posted) > 0 &&
			atomic_load(&k.st.rx_got) > 0);
	fault_link_close(&k);
	fault_iommu_fini(&x);
	CU_ASSERT_EQUAL(fault_port_stop(stuck), 0);
	fault_child_fini(&child);
	fault_scenario_finish("stuck half message", &base);
}
