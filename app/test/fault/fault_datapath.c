/* SPDX-License-Identifier: BSD-3-Clause */
/* The datapath thread: see fault_datapath.h. */
#include "fault_datapath.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_mbuf.h>
#include <rte_vhost.h>

#include "fault_pkt.h"
#include "fault_port.h"
#include "fault_usage.h"
#include "fe_harness.h"
#include "fm_conn.h"

/* Host -> guest packets built ahead, per port: what enqueue did not take
 * is offered again (same seq) next round. */
struct prepared {
	struct rte_mbuf *m[FAULT_BURST];
	int n;
	uint32_t stream;
	uint32_t first_seq;
};

static pthread_t thread;
static atomic_bool running, stop;
static atomic_uint rounds;
static atomic_uint max_gap_us;

static int64_t
now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}
static struct prepared prep[FAULT_MAX_PORTS];

static void
drop_prepared(struct prepared *pr)
{
	int i;

	for (i = 0; i < pr->n; i++)
		rte_pktmbuf_free(pr->m[i]);
	pr->n = 0;
}

static void
prepare(struct fault_port *p, struct prepared *pr)
{
	uint32_t stream = atomic_load(&p->stream) | FAULT_STREAM_H2G;
	uint32_t sent = atomic_load(&p->h2g_sent);

	/* Another connection, or a reset: what was built is stale. */
	if (pr->n > 0 && (pr->stream != stream || pr->first_seq != sent))
		drop_prepared(pr);
	pr->stream = stream;
	pr->first_seq = sent;
	while (pr->n < FAULT_BURST) {
		uint32_t seq = sent + (uint32_t)pr->n;
		uint32_t len = fault_pkt_len(stream, seq);
		struct rte_mbuf *m = rte_pktmbuf_alloc(fe_pool);
		uint8_t *d;

		if (m == NULL)
			return;
		d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
		if (d == NULL) {
			rte_pktmbuf_free(m);
			return;
		}
		fault_pkt_fill(d, stream, seq);
		pr->m[pr->n++] = m;
	}
}

static void
check_g2h(struct fault_port *p, uint32_t stream, struct rte_mbuf *m)
{
	uint8_t buf[FAULT_PKT_MAX + 64];
	int len = fe_mbuf_copy_out(m, buf, sizeof(buf));
	uint32_t seq, next = atomic_load(&p->g2h_next);

	if (len < 0 || fault_pkt_parse(buf, (uint32_t)len, stream, &seq) < 0) {
		if (len > 0 && fault_pkt_poisoned(buf, (uint32_t)len))
			atomic_fetch_add(&p->g2h_poisoned, 1);
		atomic_fetch_add(&p->g2h_bad, 1);
		return;
	}
	if (seq < next) {
		atomic_fetch_add(&p->g2h_bad, 1);	/* again, or late */
		return;
	}
	atomic_fetch_add(&p->g2h_gaps, seq - next);
	atomic_store(&p->g2h_next, seq + 1);
	if (p->g2h_seen != NULL && seq < p->g2h_seen_max)
		p->g2h_seen[seq / 8] |= (uint8_t)(1u << (seq % 8));
	/* Counted last: a reader that sees the count sees the rest. */
	atomic_fetch_add(&p->g2h_received, 1);
}

/* One round on one port. Returns the packets moved. */
static int
serve(struct fault_port *p, struct prepared *pr)
{
	struct rte_mbuf *pkts[FAULT_BURST];
	uint32_t stream;
	uint16_t n, sent = 0, i;
	int vid;

	if (!atomic_load(&p->active)) {
		drop_prepared(pr);
		return 0;
	}
	if (atomic_load(&p->h2g_on))
		prepare(p, pr);
	else
		drop_prepared(pr);
	/* Through the gate (pairs with on_destroy_device). */
	atomic_store(&p->in_burst, true);
	if (!atomic_load(&p->active)) {
		atomic_store(&p->in_burst, false);
		return 0;
	}
	vid = atomic_load(&p->ev.vid);
	stream = atomic_load(&p->stream);
	/* prepare() ran before the gate: if this thread was held up there
	 * while the device died and the port's next connection started
	 * (traffic reset, new stream), what it built belongs to the old
	 * stream. Only what is read past the gate belongs to vid. */
	if (pr->n > 0 && (pr->stream != (stream | FAULT_STREAM_H2G) ||
			pr->first_seq != atomic_load(&p->h2g_sent)))
		drop_prepared(pr);
	n = rte_vhost_dequeue_burst(vid, FAULT_G2H_Q, fe_pool, pkts,
			FAULT_BURST);
	if (pr->n > 0)
		sent = rte_vhost_enqueue_burst(vid, FAULT_H2G_Q, pr->m,
				(uint16_t)pr->n);
	/* Counted before leaving the gate: once destroy_device returns,
	 * the port's counters are final. */
	for (i = 0; i < n; i++) {
		check_g2h(p, stream, pkts[i]);
		rte_pktmbuf_free(pkts[i]);
	}
	atomic_fetch_add(&p->h2g_sent, sent);
	atomic_store(&p->in_burst, false);

	/* The library copied (or holds its own reference to) these. */
	for (i = 0; i < sent; i++)
		rte_pktmbuf_free(pr->m[i]);
	memmove(pr->m, pr->m + sent, sizeof(pr->m[0]) * (pr->n - sent));
	pr->n -= sent;
	pr->first_seq += sent;
	return n + sent;
}

static void *
datapath_main(void *arg)
{
	unsigned int idle = 0;
	int64_t last = now_us();
	int i;

	(void)arg;
	fault_unpin();
	while (!atomic_load(&stop)) {
		int moved = 0, np = fault_port_count();
		int64_t t = now_us();

		if (t - last > (int64_t)atomic_load(&max_gap_us))
			atomic_store(&max_gap_us, (unsigned int)(t - last));
		last = t;

		for (i = 0; i < np; i++)
			moved += serve(fault_port_at(i), &prep[i]);
		atomic_fetch_add(&rounds, 1);
		/* Busy while there is traffic; otherwise leave the CPUs to
		 * the frontends and the event thread. */
		if (moved > 0)
			idle = 0;
		else if (++idle < 64)
			sched_yield();
		else
			usleep(50);
	}
	for (i = 0; i < FAULT_MAX_PORTS; i++)
		drop_prepared(&prep[i]);
	return NULL;
}

unsigned int
fault_datapath_rounds(void)
{
	return atomic_load(&rounds);
}

unsigned int
fault_datapath_take_max_gap_us(void)
{
	return atomic_exchange(&max_gap_us, 0);
}

void
fault_datapath_settle(void)
{
	unsigned int want = atomic_load(&rounds) + 2;
	int64_t deadline = fm_now_ms() + FE_EVENT_MS;

	while ((int)(atomic_load(&rounds) - want) < 0 &&
			atomic_load(&running) && fm_now_ms() < deadline)
		usleep(20);
}

int
fault_datapath_start(void)
{
	if (atomic_load(&running))
		return 0;
	atomic_store(&stop, false);
	if (pthread_create(&thread, NULL, datapath_main, NULL) != 0)
		return -1;
	atomic_store(&running, true);
	return 0;
}

void
fault_datapath_stop(void)
{
	if (!atomic_load(&running))
		return;
	atomic_store(&stop, true);
	pthread_join(thread, NULL);
	atomic_store(&running, false);
}
