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

#define STREAM 0x34000000u
/* Packets a run may send (bitmaps of seqs). */
#define MAX_SEQ (1u << 21)
/* Per round: revocations each way, noise messages; a whole-space
 * flush every FLUSH_EVERY rounds. */
#define REVOKES 3
#define NOISES 6
#define FLUSH_EVERY 16

struct iotlb_run {
	struct fault_link k;
	struct fault_iommu x;
	uint8_t *revoked;	/* TX seqs revoked in time */
	uint32_t rng;
	unsigned int rounds;
};

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
		fault_iommu_serve(&r->x);
		for (i = 0; i < NOISES; i++)
			fault_iommu_noise(&r->x);
		if (++r->rounds % FLUSH_EVERY == 0)
			fault_iommu_flush(&r->x);
	}
}

/* Every TX seq arrived exactly once or was revoked, never both. */
static unsigned int
count_mismatches(const struct iotlb_run *r, unsigned int *revoked)
{
	const uint8_t *seen = r->k.port->g2h_seen;
	uint32_t posted = atomic_load(&r->k.st.tx_posted), i;
	unsigned int bad = 0;

	*revoked = 0;
	for (i = 0; i < posted; i++) {
		bool s = bit(seen, i), v = bit(r->revoked, i);

		*revoked += v;
		if (s == v && bad++ < 5)
			fe_fail("iotlb: TX packet %u %s", i, s ?
					"arrived though revoked in time" :
					"neither arrived nor was revoked");
	}
	return bad;
}

static void
run(bool warm, bool packed)
{
	const char *name = warm ? "iotlb warm-up" :
		packed ? "iotlb packed" : "iotlb";
	struct iotlb_run *r = calloc(1, sizeof(*r));
	uint64_t dropped[2], invalid[2];
	unsigned int mismatches, revoked;
	struct fault_port *p;

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

	churn(r, churn_ms(warm));
	CU_ASSERT(fault_link_drain(&r->k));
	mismatches = count_mismatches(r, &revoked);
	/* Revoked TX chains are dropped when reached (all are, by the
	 * drain); revoked RX chains are refused when reached. */
	dropped[0] = 0;
	dropped[1] = r->x.revoked[1];
	invalid[0] = atomic_load(&r->k.st.revoked_back);
	invalid[1] = r->x.revoked[1];
	fault_link_check(&r->k, name, dropped, invalid);
	if (!warm) {
		printf("    %s: %u packets out, %u in; %u updates ahead, "
				"%u invalidations, misses %u answered + %u "
				"refused, %u noise, %u flushes; revoked in time "
				"TX %u RX %u (%u RX back), too late TX %u RX %u; "
				"library: %lld misses, %lld timeouts\n", name,
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
					"_iotlb_miss_timeouts")));
		CU_ASSERT(r->x.revoked[0] > 0 && r->x.revoked[1] > 0);
		CU_ASSERT(r->x.flushes > 0 && r->x.misses_refused > 0);
	}
	CU_ASSERT_EQUAL(mismatches, 0);
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
