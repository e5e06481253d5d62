/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scenario 3: rings turned off and on while the datapath polls them.
 *  - SET_VRING_ENABLE 0 on the TX ring, the RX ring or both; the guest
 *    keeps posting; once the reply came the library must not touch a
 *    disabled ring (its used index and the datapath's counts freeze);
 *    then SET_VRING_ENABLE 1 and traffic resumes;
 *  - GET_VRING_BASE on both rings, or on the TX ring only: the device
 *    stops (destroy_device, the datapath leaves it), the base returned is
 *    exactly what was consumed (the used index the guest sees, the
 *    datapath's counts, the library's own last_avail_idx), nothing moves
 *    while stopped, and the rings restart from that base (new_device).
 * At the end, nothing was lost either way, ring state callbacks pair up,
 * and there was one new_device per start.
 * The same on packed rings: the base is then a position with its wrap
 * counter, avail and used halves (vhost_vring_packed_base), both where
 * the device's used write-backs end as the guest sees them in its
 * descriptor ring; the restart sends it back whole.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <rte_vhost.h>

#include "churn.h"
#include "fault_datapath.h"
#include "fault_env.h"
#include "fault_link.h"
#include "fault_ring.h"
#include "fe_harness.h"
#include "fe_traffic.h"
#include "fm_conn.h"

#define STREAM 0x31000000u
/* How long the guest keeps posting while a ring is off (ms). */
#define OFF_MS 1

enum op { DISABLE_TX, DISABLE_RX, DISABLE_BOTH, STOP_ALL, STOP_TX, NB_OPS };

static const char *const op_names[NB_OPS] = {
	"disable TX", "disable RX", "disable both", "stop both", "stop TX",
};

struct rings_run {
	struct fault_link k;
	const char *name;
	uint32_t rng;
	unsigned int ops[NB_OPS];
	unsigned int downs;	/* ring-down events the ops imply */
	unsigned int stops;
	unsigned int failures;
};

static void
fail(struct rings_run *r, enum op op, const char *what)
{
	if (r->failures++ < 10)
		fe_fail("%s: %s: %s", r->name, op_names[op], what);
}

/* What the library has done on each ring so far, as the guest and the
 * datapath see it. */
struct marks {
	uint16_t used[2];	/* fault_ring_used_base */
	uint32_t host[2];	/* h2g_sent, g2h_received */
};

static void
mark(struct rings_run *r, struct marks *m)
{
	struct fault_port *p = r->k.port;
	int q;

	for (q = 0; q < 2; q++)
		m->used[q] = fault_ring_used_base(&r->k.m.vr[q]);
	m->host[0] = atomic_load(&p->h2g_sent);
	m->host[1] = atomic_load(&p->g2h_received);
}

/* The guest goes on posting; rings in mask must not move meanwhile. */
static void
check_frozen(struct rings_run *r, enum op op, unsigned int mask)
{
	struct marks before, after;
	int q;

	fault_datapath_settle();
	mark(r, &before);
	fault_link_pump(&r->k, OFF_MS);
	fault_datapath_settle();
	mark(r, &after);
	for (q = 0; q < 2; q++)
		if ((mask & (1u << q)) && (before.used[q] != after.used[q] ||
				before.host[q] != after.host[q]))
			fail(r, op, q ? "TX ring used while off" :
					"RX ring used while off");
}

static void
toggle(struct rings_run *r, enum op op, unsigned int mask)
{
	struct fm_frontend *m = &r->k.m;
	uint32_t q;

	for (q = 0; q < 2; q++)
		if ((mask & (1u << q)) &&
				fm_set_state(m, FM_REQ_SET_VRING_ENABLE, q, 0) !=
				FM_OK)
			fail(r, op, "SET_VRING_ENABLE 0 refused");
	check_frozen(r, op, mask);
	for (q = 0; q < 2; q++) {
		if (!(mask & (1u << q)))
			continue;
		r->downs++;
		if (fm_set_state(m, FM_REQ_SET_VRING_ENABLE, q, 1) != FM_OK)
			fail(r, op, "SET_VRING_ENABLE 1 refused");
	}
}

static void
stop_restart(struct rings_run *r, enum op op, unsigned int mask)
{
	struct fault_port *p = r->k.port;
	struct fm_frontend *m = &r->k.m;
	int destroys = atomic_load(&p->ev.destroy_device);
	int news = atomic_load(&p->ev.new_device);
	uint32_t base[2] = { 0, 0 };
	struct marks at;
	int q;

	for (q = 0; q < 2; q++)
		if ((mask & (1u << q)) &&
				fm_get_vring_base(m, (uint32_t)q, &base[q]) !=
				FM_OK)
			fail(r, op, "GET_VRING_BASE failed");
	r->stops++;
	/* The device stopped before the first reply: the datapath left it,
	 * and the library's view was taken then. */
	if (atomic_load(&p->ev.destroy_device) != destroys + 1 ||
			atomic_load(&p->active))
		fail(r, op, "no destroy_device before the reply");
	mark(r, &at);
	for (q = 0; q < 2; q++) {
		const struct fm_vring *vr = &m->vr[q];
		/* A packed base carries the used position above the avail
		 * one: nothing is in flight at a stop, so both are the
		 * same. */
		uint32_t want = vr->packed ? at.used[q] |
			(uint32_t)at.used[q] << 16 : at.used[q];

		if (!(mask & (1u << q)))
			continue;
		r->downs++;
		if (base[q] != want || at.used[q] != fault_guest_ring_base(vr,
				q, at.host[q]) ||
				at.used[q] != p->at_stop.last_avail[q] ||
				at.used[q] != p->at_stop.last_used[q])
			fail(r, op, "base is not what was consumed");
	}
	check_frozen(r, op, 3);
	for (q = 0; q < 2; q++)
		if ((mask & (1u << q)) && fault_ring_start(m, (uint32_t)q,
				base[q], NULL) != FM_OK)
			fail(r, op, "restart refused");
	if (!fault_port_wait_active(p, FE_EVENT_MS) ||
			atomic_load(&p->ev.new_device) != news + 1)
		fail(r, op, "no new_device after the restart");
}

static void
do_op(struct rings_run *r, enum op op)
{
	fault_link_pump(&r->k, (int)(fault_rand(&r->rng) % 2));
	r->ops[op]++;
	switch (op) {
	case DISABLE_TX:
		toggle(r, op, 2);
		break;
	case DISABLE_RX:
		toggle(r, op, 1);
		break;
	case DISABLE_BOTH:
		toggle(r, op, 3);
		break;
	case STOP_ALL:
		stop_restart(r, op, 3);
		break;
	default:
		stop_restart(r, op, 2);
		break;
	}
}

static void
churn(struct rings_run *r, int ms)
{
	int64_t end = fm_now_ms() + ms;
	int op;

	while (fm_now_ms() < end)
		do_op(r, (enum op)(fault_rand(&r->rng) % NB_OPS));
	/* A loaded machine may have left an operation undrawn: every one
	 * runs at least once, however long the churn took. */
	for (op = 0; op < NB_OPS; op++)
		if (r->ops[op] == 0)
			do_op(r, (enum op)op);
}

static void
run(bool warm, bool packed)
{
	static const uint64_t none[2];
	const char *name = warm ? "rings warm-up" :
		packed ? "rings packed" : "rings";
	struct rings_run r;
	struct fault_port *p;
	int i;

	memset(&r, 0, sizeof(r));
	r.name = name;
	r.rng = fault_seed() ^ 0x41e95u;
	CU_ASSERT_FATAL(fault_link_prepare(&r.k, "rings",
			RTE_VHOST_USER_NET_STATS_ENABLE, STREAM) == 0);
	CU_ASSERT_FATAL(!packed || fault_link_packed(&r.k) == 0);
	CU_ASSERT_FATAL(fault_link_start(&r.k, FM_BIT(VIRTIO_F_VERSION_1) |
			FM_BIT(VIRTIO_NET_F_MRG_RXBUF) |
			FM_BIT(VIRTIO_RING_F_EVENT_IDX) |
			FM_BIT(FM_F_PROTOCOL_FEATURES)) == 0);
	p = r.k.port;
	churn(&r, churn_ms(warm));
	CU_ASSERT(fault_link_drain(&r.k));
	fault_link_check(&r.k, name, none, none);
	if (!warm) {
		printf("    %s: %u packets out, %u in;", name, atomic_load(
				&r.k.st.tx_posted), atomic_load(&r.k.st.rx_got));
		for (i = 0; i < NB_OPS; i++)
			printf(" %s %u", op_names[i], r.ops[i]);
		printf("; ring down/up events %d/%d\n",
				atomic_load(&p->ev.vring_down),
				atomic_load(&p->ev.vring_up));
		for (i = 0; i < NB_OPS; i++)
			CU_ASSERT(r.ops[i] > 0);
	}
	CU_ASSERT_EQUAL(r.failures, 0);
	/* One new_device per start, one destroy_device per stop; each ring
	 * taken down came back up. */
	churn_check_device(p, (int)r.stops + 1, (int)r.stops);
	CU_ASSERT_EQUAL(atomic_load(&p->ev.vring_down), (int)r.downs);
	CU_ASSERT_EQUAL(atomic_load(&p->ev.vring_up), (int)r.downs + 2);
	fault_link_close(&r.k);
}

CHURN_TESTS(rings, run)
