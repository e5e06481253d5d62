/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The checks after a frontend's death, once the library tore its
 * connection down (test_fault_kill.c says what they mean): the rings the
 * test still maps, the frontend's own counts (shared memory), the
 * datapath's counts and the library's view at destroy_device must
 * reconcile exactly.
 */
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <rte_vhost.h>

#include "fault_env.h"
#include "fe_harness.h"
#include "fe_traffic.h"
#include "fm_conn.h"
#include "kill.h"

/* Counts, then checks what the library did with one direction. */
struct dir_view {
	uint64_t good, dropped, invalid, timeouts;
};

void
kill_audit(struct lane *l, struct totals *t)
{
	struct fault_port *p = l->port;
	struct fault_child *c = &l->child;
	struct fault_guest_stats *st = &c->sh->st;
	const struct fault_vq_view *v = &p->at_stop;
	int ph = (int)atomic_load(&st->phase);
	bool ran = atomic_load(&p->ev.new_device) > l->dev_base;
	bool iommu = l->mode->iommu;
	bool deaf = l->plan.kind == PLAN_STOP &&
		l->plan.stop == FAULT_STOP_MISSES;
	unsigned int gap_us = atomic_load(&c->sh->max_gap_us);
	int64_t deaf_us = deaf ? l->killed_us -
		atomic_load(&c->sh->deaf_since_us) : 0;
	/* The longest a miss can have waited for the frontend: between
	 * two of its serving rounds while it lived, or from its last one
	 * until the library tore the device down (it died, or went deaf,
	 * in between; on a busy machine the teardown itself may wait for
	 * a CPU). */
	unsigned int answer_us = atomic_load(&c->sh->max_answer_us);
	long long served = atomic_load(&c->sh->served_us);
	int64_t tail_us = ran && served != 0 ?
		atomic_load(&p->stop_us) - served : 0;
	unsigned int wait_us = tail_us > answer_us ? (unsigned int)tail_us :
		answer_us;
	/* The frontend left a miss unanswered past the library's timeout:
	 * the library may then fail those accesses (and count them). */
	bool slow = iommu && wait_us >= SLOW_FRONTEND_US;
	uint32_t posted = atomic_load(&st->tx_posted);

	t->slot_ops += atomic_load(&c->sh->slot_ops);
	uint32_t recv = atomic_load(&p->g2h_received);
	uint32_t h2g = atomic_load(&p->h2g_sent);
	uint32_t got = atomic_load(&st->rx_got);
	uint32_t used_tx = 0, used_rx = 0;
	bool ends_ok;
	struct dir_view d[2];
	uint32_t sent = posted, held;
	char why[320], why_long[800];
	int q;

	memset(d, 0, sizeof(d));
	for (q = 0; ran && v->valid && q < 2; q++)
		d[q] = (struct dir_view){ v->good[q], v->dropped[q],
			v->invalid[q], v->timeouts[q] };
	if (ran && !v->valid)
		kill_failure(t, l, "no library counters at destroy_device");
	if (ph >= FAULT_PH_RINGS) {
		/* The ring knows what the frontend published, even the one
		 * it was publishing when it died. */
		uint32_t published = fault_child_g2h_published(c);
		uint16_t extra = (uint16_t)(published - (uint16_t)posted);

		sent = posted + extra;
		used_tx = fault_child_used(c, 1);
		used_rx = fault_child_used(c, 0);
		if (extra > 1) {
			snprintf(why, sizeof(why), "TX ring published %u, %u "
					"past the %u packets posted",
					published, extra, posted);
			kill_failure(t, l, why);
		}
	}
	held = h2g - (uint32_t)(d[0].good + d[0].dropped);
	/* The library stopped where the guest's ring says it did. */
	ends_ok = !ran || (v->last_avail[1] == fault_child_ring_base(c, 1,
				used_tx) && v->last_used[1] ==
			fault_child_ring_base(c, 1, used_tx));

	/* Guest -> host: each chain the library gave back was received
	 * intact and in order, or dropped (and counted) after a miss
	 * timeout; the rest were lost in the ring. */
	if (recv + d[1].dropped > sent || d[1].good != recv ||
			(uint16_t)used_tx != (uint16_t)(recv + d[1].dropped) ||
			!ends_ok ||
			atomic_load(&p->g2h_next) != recv +
			atomic_load(&p->g2h_gaps) ||
			atomic_load(&p->g2h_gaps) > d[1].dropped ||
			atomic_load(&p->g2h_bad) != 0 ||
			atomic_load(&p->g2h_poisoned) != 0) {
		snprintf(why, sizeof(why), "guest->host: sent %u, received "
				"%u (next %u, gaps %u, bad %u, poisoned %u), "
				"used %u, library good %lu dropped %lu "
				"last_avail %u", sent, recv,
				atomic_load(&p->g2h_next),
				atomic_load(&p->g2h_gaps),
				atomic_load(&p->g2h_bad),
				atomic_load(&p->g2h_poisoned), used_tx,
				(unsigned long)d[1].good,
				(unsigned long)d[1].dropped, v->last_avail[1]);
		kill_failure(t, l, why);
	}
	/* Host -> guest: each packet the library took was written to the
	 * guest (one buffer each), dropped after waiting for a miss, or
	 * still held for one (freed with the device); refused buffers came
	 * back empty. The guest read a prefix of what was written. */
	if (d[0].good + d[0].dropped > h2g || held > (iommu ? MAX_HELD : 0) ||
			(uint16_t)used_rx != (uint16_t)(d[0].good +
				d[0].invalid) ||
			got > d[0].good || atomic_load(&st->rx_bad) != 0 ||
			atomic_load(&st->rx_gaps) > d[0].dropped ||
			atomic_load(&st->rx_empty) > d[0].invalid ||
			atomic_load(&st->used_bad) != 0) {
		char bad[400];

		fault_guest_bad_describe(st, bad, sizeof(bad));
		snprintf(why_long, sizeof(why_long), "host->guest: sent %u, "
				"library wrote %lu dropped %lu refused %lu, used "
				"%u; got %u (bad %u, after gaps %u, empty %u, bad "
				"used ids %u)%s%s", h2g,
				(unsigned long)d[0].good,
				(unsigned long)d[0].dropped,
				(unsigned long)d[0].invalid, used_rx, got,
				atomic_load(&st->rx_bad),
				atomic_load(&st->rx_gaps),
				atomic_load(&st->rx_empty),
				atomic_load(&st->used_bad),
				bad[0] != '\0' ? "; " : "", bad);
		kill_failure(t, l, why_long);
	}
	/* Drops and refusals only ever come from a frontend too slow to
	 * answer a miss, and each is a timeout the library counted. */
	if ((!slow && (d[0].dropped | d[1].dropped | d[0].invalid |
			d[1].invalid | d[0].timeouts | d[1].timeouts) != 0) ||
			d[1].dropped != d[1].invalid ||
			d[1].invalid > d[1].timeouts ||
			d[0].invalid > d[0].timeouts) {
		snprintf(why, sizeof(why), "refused chains %lu/%lu, dropped "
				"%lu/%lu, miss timeouts %lu/%lu, misses %lu/%lu, "
				"pending %lu/%lu (TX/RX); the frontend answered "
				"%u misses, longest wait for it %u us (pause %u "
				"us)",
				(unsigned long)d[1].invalid,
				(unsigned long)d[0].invalid,
				(unsigned long)d[1].dropped,
				(unsigned long)d[0].dropped,
				(unsigned long)d[1].timeouts,
				(unsigned long)d[0].timeouts,
				(unsigned long)v->misses[1],
				(unsigned long)v->misses[0],
				(unsigned long)v->pending[1],
				(unsigned long)v->pending[0],
				atomic_load(&c->sh->iommu_answered), wait_us,
				gap_us);
		kill_failure(t, l, why);
	}
	if (iommu && (atomic_load(&c->sh->iommu_failures) != 0 ||
			atomic_load(&c->sh->iommu_refused) != 0)) {
		snprintf(why, sizeof(why), "IOTLB: %u requests not "
				"acknowledged, %u misses for unmapped IOVAs",
				atomic_load(&c->sh->iommu_failures),
				atomic_load(&c->sh->iommu_refused));
		kill_failure(t, l, why);
	}
	if (ran && l->mode->packed != (atomic_load(&p->packed_devices) >
			l->dev_packed))
		kill_failure(t, l, "packed rings not negotiated as planned");
	if (!ran && (recv != 0 || h2g != 0))
		kill_failure(t, l, "packets moved without new_device");

	t->plans[l->plan.kind]++;
	t->killed_in[ph]++;
	if (l->plan.kind == PLAN_STOP)
		t->stops[l->plan.stop]++;
	if (l->plan.kind == PLAN_TRAFFIC)
		t->mid_burst += l->mid_burst;
	t->devices += ran;
	if (gap_us > t->max_gap_us)
		t->max_gap_us = gap_us;
	if (iommu && wait_us > t->max_wait_us)
		t->max_wait_us = wait_us;
	t->slow += slow && (d[0].timeouts | d[1].timeouts) != 0;
	t->g2h_sent += sent;
	t->g2h_received += recv;
	t->g2h_dropped += d[1].dropped;
	t->g2h_lost += sent - recv - d[1].dropped;
	t->h2g_sent += h2g;
	t->h2g_got += got;
	t->h2g_lost += h2g - got;
	t->held += held;
	t->h2g_dropped += d[0].dropped;
	t->deaf_held += deaf && held > 0;
	t->deaf_late += deaf && deaf_us >= DEAF_WAIT_US;
}
