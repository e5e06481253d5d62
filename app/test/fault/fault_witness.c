/* SPDX-License-Identifier: BSD-3-Clause */
/* The witness device: see fault_witness.h. */
#include "fault_witness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <rte_common.h>
#include <rte_vhost.h>

#include "fault_datapath.h"
#include "fault_link.h"
#include "fault_usage.h"
#include "fe_harness.h"
#include "fe_traffic.h"

#define WITNESS_STREAM 0x57000000u

static struct {
	struct fault_link k;
	bool open;
	pthread_t thread;
	atomic_bool running, stop;
	/* At the last start: progress is counted from there. */
	unsigned int tx_base, rx_base;
	/* Longest time the witness's own thread went between two steps. */
	atomic_llong self_gap_ns;
} w;

int
fault_witness_open(void)
{
	if (fault_link_prepare(&w.k, "witness",
			RTE_VHOST_USER_NET_STATS_ENABLE, WITNESS_STREAM) < 0 ||
			fault_link_start(&w.k, FM_BIT(VIRTIO_F_VERSION_1) |
				FM_BIT(VIRTIO_NET_F_MRG_RXBUF) |
				FM_BIT(FM_F_PROTOCOL_FEATURES)) < 0) {
		fe_fail("witness: cannot start");
		return -1;
	}
	w.open = true;
	return 0;
}

static void
stop_thread(void)
{
	if (!atomic_load(&w.running))
		return;
	atomic_store(&w.stop, true);
	pthread_join(w.thread, NULL);
	atomic_store(&w.running, false);
}

void
fault_witness_close(void)
{
	stop_thread();
	fault_link_close(&w.k);
	w.open = false;
}

static void *
witness_main(void *arg)
{
	struct timespec ts;
	int64_t last, now;

	(void)arg;
	fault_unpin();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	last = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	while (!atomic_load(&w.stop)) {
		if (fault_guest_step(&w.k.g) == 0)
			usleep(20);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		if (now - last > atomic_load(&w.self_gap_ns))
			atomic_store(&w.self_gap_ns, now - last);
		last = now;
	}
	return NULL;
}

int
fault_witness_run(void)
{
	if (!w.open)
		return -1;
	if (atomic_load(&w.running))
		return 0;
	fault_link_resume(&w.k);
	atomic_store(&w.k.st.max_gap_ns, 0);
	atomic_store(&w.k.st.last_progress_ns, 0);
	atomic_store(&w.self_gap_ns, 0);
	fault_datapath_take_max_gap_us();
	w.tx_base = atomic_load(&w.k.st.tx_posted);
	w.rx_base = atomic_load(&w.k.st.rx_got);
	atomic_store(&w.stop, false);
	if (pthread_create(&w.thread, NULL, witness_main, NULL) != 0)
		return -1;
	atomic_store(&w.running, true);
	return 0;
}

void
fault_witness_warm_up(int ms)
{
	unsigned int tx0 = atomic_load(&w.k.st.tx_done);
	unsigned int rx0 = atomic_load(&w.k.st.rx_got);
	int64_t start = fm_now_ms();

	if (fault_witness_run() != 0)
		return;
	/* For ms, and until packets went both ways: on a loaded machine
	 * the witness may not have run at all in that time. */
	while (fm_now_ms() - start < ms ||
			((atomic_load(&w.k.st.tx_done) == tx0 ||
			atomic_load(&w.k.st.rx_got) == rx0) &&
			fm_now_ms() - start < FE_EVENT_MS))
		usleep(1000);
	stop_thread();
	fault_link_drain(&w.k);
}

int
fault_witness_ping(void)
{
	uint64_t features = 0;

	if (!w.open)
		return FM_CLOSED;
	return fm_get_u64(&w.k.m, FM_REQ_GET_FEATURES, &features);
}

bool
fault_witness_check(const char *name)
{
	static const uint64_t none[2];
	struct fault_port *p = w.k.port;
	int64_t gap_ms = atomic_load(&w.k.st.max_gap_ns) / 1000000;
	int64_t pause_ms, self_ms, limit_ms;
	unsigned int tx, rx;
	bool drained, ok;

	stop_thread();
	if (!w.open) {
		CU_FAIL("no witness");
		return false;
	}
	drained = fault_link_drain(&w.k);
	CU_ASSERT_EQUAL(fault_witness_ping(), FM_OK);
	tx = atomic_load(&w.k.st.tx_posted) - w.tx_base;
	rx = atomic_load(&w.k.st.rx_got) - w.rx_base;
	pause_ms = fault_datapath_take_max_gap_us() / 1000;
	self_ms = atomic_load(&w.self_gap_ns) / 1000000;
	/* A stall while one of the test's own threads was not running is
	 * the machine's, not the library's (bursts never wait: a device
	 * the library stopped stays stalled and fails to drain). */
	limit_ms = FAULT_WITNESS_MAX_GAP_MS + RTE_MAX(pause_ms, self_ms);
	printf("    %s: witness moved %u packets out, %u in; longest stall "
			"%lld ms (longest pause of the datapath thread %lld ms, "
			"of the witness thread %lld ms; limit %lld ms); "
			"drained %s\n", name, tx, rx, (long long)gap_ms,
			(long long)pause_ms, (long long)self_ms,
			(long long)limit_ms, drained ? "yes" : "NO");
	ok = fault_link_check(&w.k, name, none, none);
	if (atomic_load(&p->ev.destroy_device) != 0 ||
			atomic_load(&p->refused) != 0 ||
			atomic_load(&p->g2h_gaps) != 0)
		ok = fe_fail("%s: witness stopped %d times, refused %d "
				"callbacks, gaps %u", name,
				atomic_load(&p->ev.destroy_device),
				atomic_load(&p->refused),
				atomic_load(&p->g2h_gaps));
	CU_ASSERT(drained);
	CU_ASSERT(tx > 0 && rx > 0);
	CU_ASSERT(gap_ms <= limit_ms);
	CU_ASSERT_EQUAL(atomic_load(&p->ev.destroy_device), 0);
	CU_ASSERT_EQUAL(atomic_load(&p->refused), 0);
	return ok && drained && tx > 0 && rx > 0 &&
		gap_ms <= limit_ms;
}
