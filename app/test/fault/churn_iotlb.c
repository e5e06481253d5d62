/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scenario 4: the device IOTLB under a storm while packets flow both
 * ways (VIRTIO_F_IOMMU_PLATFORM, RTE_VHOST_USER_IOMMU_SUPPORT). The guest
 * (fault_iommu.h) maps every buffer at a fresh IOVA and invalidates it
 * when it comes back, answers the device's misses, sends unrelated
 * UPDATE/INVALIDATE noise and whole-space flushes (rings included), and
 * revokes buffers the device still holds: unmap, INVALIDATE, and right
 * after the reply overwrite the memory with FAULT_POISON.
 *
 * The promise checked is the one INVALIDATE's reply makes: the device no
 * longer touches the range. So:
 *  - no packet the host receives carries poison, and none of the revoked
 *    TX packets arrives at all: every TX packet arrived exactly once or
 *    was revoked in time, never both, never neither;
 *  - a revoked RX buffer comes back empty and still all poison (the
 *    device wrote nothing into it);
 *  - the library dropped exactly the revoked TX packets and refused
 *    exactly the revoked chains it reached; every host->guest packet
 *    arrived in order;
 *  - every request was acknowledged.
 * A miss this frontend (the test's own thread) left unanswered past the
 * library's timeout (VHOST_IOTLB_MISS_TIMEOUT_MS), as a loaded machine
 * can make it, fails the access by design: the chain is dropped (TX) or
 * refused and the packet goes to a later buffer or, held too long, is
 * dropped (RX). Such losses are accepted only when the frontend did
 * answer that late (it clocks its serving rounds), each refusal against
 * a miss timeout the library counted, and the TX packets missing are
 * exactly the chains the library dropped beyond the revoked ones.
 * The same on packed rings, where the device also writes the descriptor
 * ring (its used write-backs), which the whole-space flushes take away
 * from it as well: the rings are mapped read-write.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <rte_vhost.h>

#include "churn.h"
#include "fault_env.h"
#include "fault_iommu.h"
#include "fault_link.h"
#include "fe_harness.h"
#include "fe_traffic.h"
#include "fm_conn.h"
#include "test_clock.h"

#define STREAM 0x34000000u
/* Packets a run may send (bitmaps of seqs). */
#define MAX_SEQ (1u << 21)
/* Per round: revocations each way, noise messages; a whole-space
 * flush every FLUSH_EVERY rounds. */
#define REVOKES 3
#define NOISES 6
#define FLUSH_EVERY 16
/* A miss may wait this long for the frontend before the library gives
 * it up (VHOST_IOTLB_MISS_TIMEOUT_MS, 500 ms from the send); 10% off
 * for the library's clock (as kill.h's SLOW_FRONTEND_US). */
#define SLOW_SERVE_US 450000

struct iotlb_run {
	struct fault_link k;
	struct fault_iommu x;
	uint8_t *revoked;	/* TX seqs revoked in time */
	uint32_t rng;
	unsigned int rounds;
	/* The start of the last serving round: a miss sent since is not
	 * answered yet. */
	int64_t served_us;
	/* The longest a miss can have waited for its answer: from the
	 * start of one serving round to the end of the next. */
	int64_t max_answer_us;
};

/* Answers every miss queued, round being when the round started. */
static void
serve(struct iotlb_run *r, int64_t round)
{
	int64_t waited;

	fault_iommu_serve(&r->x);
	waited = test_now_us() - r->served_us;
	if (waited > r->max_answer_us)
		r->max_answer_us = waited;
	r->served_us = round;
}

/* The same while draining (fault_link.serve). */
static void
serve_cb(void *ctx)
{
	serve(ctx, test_now_us());
}

static bool
bit(const uint8_t *map, uint32_t i)
{
	return (map[i / 8] >> (i % 8)) & 1;
}

static void
churn(struct iotlb_run *r, int ms)
{
	int64_t end = fm_now_ms() + ms;

	/* At least one flush however few rounds a loaded machine allows. */
	while (fm_now_ms() < end || r->rounds < FLUSH_EVERY) {
		int64_t round = test_now_us();
		int i;

		if (atomic_load(&r->k.st.tx_posted) >= MAX_SEQ - 1024)
			r->k.g.tx_on = false;
		/* A round posts and takes back up to 160 buffers, each an
		 * UPDATE (or a miss) and an INVALIDATE; between them a few
		 * revocations and noise, a flush now and then. */
		fault_guest_step(&r->k.g);
		/* Before the misses of the new buffers are answered: those
		 * the device waits for can be taken back in time too. */
		for (i = 0; i < REVOKES; i++) {
			if (fault_rand(&r->rng) % 4 == 0)
				fault_iommu_revoke(&r->x, true);
			fault_iommu_revoke(&r->x, false);
		}
		serve(r, round);
		for (i = 0; i < NOISES; i++)
			fault_iommu_noise(&r->x);
		if (++r->rounds % FLUSH_EVERY == 0)
			fault_iommu_flush(&r->x);
	}
}

/* Every TX seq arrived exactly once or was revoked, never both; those
 * that did neither are counted in *lost (dropped after a miss timeout:
 * as many as the library dropped beyond the revoked ones). */
static unsigned int
count_mismatches(const struct iotlb_run *r, unsigned int *revoked,
		unsigned int *lost)
{
	const uint8_t *seen = r->k.port->g2h_seen;
	uint32_t posted = atomic_load(&r->k.st.tx_posted), i;
	unsigned int bad = 0;

	*revoked = 0;
	*lost = 0;
	for (i = 0; i < posted; i++) {
		bool s = bit(seen, i), v = bit(r->revoked, i);

		*revoked += v;
		*lost += !s && !v;
		if (s && v && bad++ < 5)
			fe_fail("iotlb: TX packet %u arrived though revoked "
					"in time", i);
	}
	return bad;
}

/* A library counter of ring q, 0 if it has none. */
static uint64_t
ring_stat(const struct fault_port *p, uint16_t q, const char *name)
{
	int64_t v = fe_vring_stat(atomic_load(&p->ev.vid), q, name);

	return v > 0 ? (uint64_t)v : 0;
}

/* Chains the library failed beyond those revoked (have, revoked):
 * none unless the frontend left a miss unanswered past the library's
 * timeout, and then no more than the miss timeouts (timeouts). */
static uint64_t
late(const struct iotlb_run *r, const char *what, uint64_t have,
		uint64_t revoked, uint64_t timeouts)
{
	uint64_t n = have > revoked ? have - revoked : 0;

	if (n == 0)
		return 0;
	if (r->max_answer_us < SLOW_SERVE_US || n > timeouts) {
		fe_fail("iotlb: %llu %s beyond the revoked ones, %llu miss "
				"timeouts, misses answered within %lld us",
				(unsigned long long)n, what,
				(unsigned long long)timeouts,
				(long long)r->max_answer_us);
		return 0;	/* expected exactly: the check fails */
	}
	return n;
}

static void
run(bool warm, bool packed)
{
	const char *name = warm ? "iotlb warm-up" :
		packed ? "iotlb packed" : "iotlb";
	struct iotlb_run *r = calloc(1, sizeof(*r));
	uint64_t dropped[2], invalid[2], timeouts[2], late_tx;
	unsigned int mismatches, revoked, lost;
	struct fault_port *p;
	bool slow;

	CU_ASSERT_FATAL(r != NULL);
	r->rng = fault_seed() ^ 0x107bu;
	r->revoked = calloc(MAX_SEQ / 8, 1);
	CU_ASSERT_FATAL(r->revoked != NULL);
	CU_ASSERT_FATAL(fault_link_prepare(&r->k, "iotlb",
			RTE_VHOST_USER_IOMMU_SUPPORT |
			RTE_VHOST_USER_NET_STATS_ENABLE, STREAM) == 0);
	CU_ASSERT_FATAL(!packed || fault_link_packed(&r->k) == 0);
	p = r->k.port;
	p->g2h_seen = calloc(MAX_SEQ / 8, 1);
	p->g2h_seen_max = MAX_SEQ;
	CU_ASSERT_FATAL(p->g2h_seen != NULL);
	r->k.g.tx_revoked = r->revoked;
	r->k.g.tx_revoked_max = MAX_SEQ;
	CU_ASSERT_FATAL(fault_link_start_iommu(&r->k, &r->x,
			fault_seed() ^ 0x10f1u) == 0);
	r->k.serve = serve_cb;
	r->k.serve_ctx = r;
	r->served_us = test_now_us();

	churn(r, churn_ms(warm));
	CU_ASSERT(fault_link_drain(&r->k));
	mismatches = count_mismatches(r, &revoked, &lost);
	/* Revoked TX chains are dropped when reached (all are, by the
	 * drain); revoked RX chains are refused when reached. Beyond
	 * them, what a late frontend's misses cost (see the top). */
	slow = r->max_answer_us >= SLOW_SERVE_US;
	timeouts[0] = ring_stat(p, 0, "_iotlb_miss_timeouts");
	timeouts[1] = ring_stat(p, 1, "_iotlb_miss_timeouts");
	late_tx = late(r, "TX chains dropped", ring_stat(p, 1, "_dropped_packets"),
			r->x.revoked[1], timeouts[1]);
	dropped[0] = slow ? ring_stat(p, 0, "_dropped_packets") : 0;
	dropped[1] = r->x.revoked[1] + late_tx;
	invalid[0] = atomic_load(&r->k.st.revoked_back) +
		late(r, "RX chains refused",
			ring_stat(p, 0, "_invalid_descriptor_chains"),
			atomic_load(&r->k.st.revoked_back), timeouts[0]);
	invalid[1] = r->x.revoked[1] + late_tx;
	fault_link_check(&r->k, name, dropped, invalid);
	if (slow)
		printf("    %s: misses waited up to %lld us for the frontend: "
				"%llu TX chains dropped, %llu RX refused and "
				"%llu dropped after miss timeouts\n", name,
				(long long)r->max_answer_us,
				(unsigned long long)late_tx,
				(unsigned long long)(invalid[0] -
					atomic_load(&r->k.st.revoked_back)),
				(unsigned long long)dropped[0]);
	if (!warm) {
		printf("    %s: %u packets out, %u in; %u updates ahead, "
				"%u invalidations, misses %u answered + %u "
				"refused, %u noise, %u flushes; revoked in time "
				"TX %u RX %u (%u RX back), too late TX %u RX %u; "
				"library: %lld misses, %lld timeouts; misses "
				"answered within %lld us\n", name,
				atomic_load(&r->k.st.tx_posted),
				atomic_load(&r->k.st.rx_got), r->x.updates,
				r->x.invalidates, r->x.misses_mapped,
				r->x.misses_refused, r->x.noise, r->x.flushes,
				r->x.revoked[1], r->x.revoked[0],
				atomic_load(&r->k.st.revoked_back),
				r->x.revoked_late[1], r->x.revoked_late[0],
				(long long)(fe_vring_stat(atomic_load(&p->ev.vid),
					0, "_iotlb_misses") +
				fe_vring_stat(atomic_load(&p->ev.vid), 1,
					"_iotlb_misses")),
				(long long)(fe_vring_stat(atomic_load(&p->ev.vid),
					0, "_iotlb_miss_timeouts") +
				fe_vring_stat(atomic_load(&p->ev.vid), 1,
					"_iotlb_miss_timeouts")),
				(long long)r->max_answer_us);
		CU_ASSERT(r->x.revoked[0] > 0 && r->x.revoked[1] > 0);
		CU_ASSERT(r->x.flushes > 0 && r->x.misses_refused > 0);
	}
	CU_ASSERT_EQUAL(mismatches, 0);
	if (lost != late_tx)
		fe_fail("iotlb: %u TX packets neither arrived nor were "
				"revoked, %llu dropped after miss timeouts",
				lost, (unsigned long long)late_tx);
	CU_ASSERT_EQUAL(lost, late_tx);
	CU_ASSERT_EQUAL(revoked, r->x.revoked[1]);
	CU_ASSERT_EQUAL(atomic_load(&p->g2h_poisoned), 0);
	CU_ASSERT_EQUAL(atomic_load(&r->k.st.revoked_bad), 0);
	CU_ASSERT_EQUAL(r->x.failures, 0);
	churn_check_device(p, 1, 0);
	if (r->x.failures != 0)
		fe_fail("%s: %u requests failed", name, r->x.failures);
	fault_link_close(&r->k);
	fault_iommu_fini(&r->x);
	free(p->g2h_seen);
	p->g2h_seen = NULL;
	free(r->revoked);
	free(r);
}

CHURN_TESTS(iotlb, run)
