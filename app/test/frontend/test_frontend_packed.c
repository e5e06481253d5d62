/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packed virtqueues (VIRTIO_F_RING_PACKED) through a real vhost-user
 * connection, driven by the scripted frontend:
 *  - indirect descriptors: packets sent and received through packed
 *    indirect tables, alone and mixed with direct chains in one burst;
 *  - malformed indirect tables (length 0 or not a multiple of 16, table
 *    or buffer outside guest memory, a table across a region's end or
 *    longer than the largest ring, a read-only buffer in an RX table):
 *    each is refused (returned with length 0, counted in
 *    invalid_descriptor_chains, one log line), the chain after it
 *    passes, and a witness device on another socket keeps working;
 *  - event suppression with VIRTIO_RING_F_EVENT_IDX: the driver event
 *    area in descriptor mode (the guest is called exactly when the used
 *    descriptor at off_wrap is written, across the ring's end too, and
 *    not otherwise), ENABLE and DISABLE; the device event area as
 *    rte_vhost_enable_guest_notification() sets it.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <rte_vhost.h>

#include "fake_frontend.h"
#include "fe_harness.h"
#include "fe_log.h"
#include "fe_traffic.h"

#define HOLE_GPA (512ull << 20)	/* between the two regions */
/* Ring size of the notification tests: many wraps in few packets. */
#define EV_QSIZE 16
/* The library logs a refused chain at most every 250 ms. */
#define LOG_INTERVAL_MS 300
/* A packed descriptor's AVAIL and USED bits. */
#define VHOST_TEST_AVAIL_USED \
	((1u << VRING_PACKED_DESC_F_AVAIL) | (1u << VRING_PACKED_DESC_F_USED))

static struct fe_backend *B;	/* the device under test */
static struct fe_backend *W;	/* the witness */
static struct fe_dev WD;
#define D fe_test_dev	/* the device under test (fe_traffic.h) */

/* A packed device; event_idx adds VIRTIO_RING_F_EVENT_IDX. */
static void
open_packed(struct fe_dev *d, struct fe_backend *b, bool mergeable,
		bool event_idx, uint16_t qsize)
{
	struct fm_config cfg;

	fm_config_default(&cfg);
	cfg.features |= FM_BIT(VIRTIO_F_RING_PACKED);
	if (!mergeable)
		cfg.features &= ~FM_BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (event_idx)
		cfg.features |= FM_BIT(VIRTIO_RING_F_EVENT_IDX);
	if (qsize != 0)
		cfg.queue_size = qsize;
	CU_ASSERT_FATAL(fe_dev_open(d, b, &cfg) == 0);
	CU_ASSERT_FATAL(d->m.vr[FE_RXQ].packed && d->m.vr[FE_TXQ].packed);
}

/* The guest takes the next used element: it must be head's, of len. */
static void
expect_used(struct fm_vring *vr, int head, uint32_t len, struct fm_chain *c)
{
	struct vring_used_elem e;

	CU_ASSERT_FATAL(fm_vring_pop_used(vr, &e, c));
	CU_ASSERT_EQUAL(e.id, (uint32_t)head);
	CU_ASSERT_EQUAL(e.len, len);
}

/* The witness device passes traffic. */
static bool
witness_ok(const char *after)
{
	if (!fe_traffic_ok(&WD))
		return fe_fail("after %s: the witness device failed", after);
	return true;
}

/* --- indirect descriptors --- */

/* Posts one TX packet in layout, dequeues it and checks it and its used
 * descriptor. */
static void
tx_one(uint32_t len, uint32_t seed, enum fm_tx_layout layout,
		uint32_t seg_len, int region)
{
	static uint8_t want[32 * 1024], got[32 * 1024];
	struct rte_mbuf *mb[2];
	int head, n;

	fe_packet(want, len, seed);
	head = fm_net_post_tx(fe_txq(&D), &D.m.mem, region, want, len, layout,
			seg_len);
	CU_ASSERT_FATAL(head >= 0);
	fm_vring_kick(fe_txq(&D));
	n = fe_dequeue_wait(D.vid, mb, 1, 2, FE_WAIT_MS);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT(fe_mbuf_copy_out(mb[0], got, sizeof(got)) == (int)len &&
			memcmp(got, want, len) == 0);
	rte_pktmbuf_free(mb[0]);
	expect_used(fe_txq(&D), head, 0, NULL);
}

static void
test_tx_indirect(void)
{
	open_packed(&D, B, true, false, 0);
	tx_one(1514, 1, FM_TX_INDIRECT, 256, 0);
	tx_one(60, 2, FM_TX_INDIRECT, 60, 0);
	/* A table of 21 entries; packet in the second region. */
	tx_one(20000, 3, FM_TX_INDIRECT, 1000, 1);
	/* A direct chain between two indirect ones. */
	tx_one(1514, 4, FM_TX_CHAINED, 500, 0);
	tx_one(700, 5, FM_TX_INDIRECT, 128, 0);
	CU_ASSERT_EQUAL(fe_vring_stat(D.vid, FE_TXQ, "invalid_descriptor_chains"), 0);
}

/* DPDK's virtio PMD leaves WRITE set on the entries of its packed TX
 * tables: read-only use of such buffers is accepted. */
static void
test_tx_indirect_write_flag(void)
{
	static uint8_t want[1000], got[1100];
	struct vring_packed_desc *rd, *table;
	struct rte_mbuf *mb[2];
	uint16_t pos;
	int head;

	open_packed(&D, B, true, false, 0);
	pos = fe_txq(&D)->avail_idx;
	fe_packet(want, sizeof(want), 6);
	head = fm_net_post_tx(fe_txq(&D), &D.m.mem, 0, want, sizeof(want),
			FM_TX_INDIRECT, 300);
	CU_ASSERT_FATAL(head >= 0);
	rd = &fe_txq(&D)->pdesc[pos];
	table = fm_gpa_ptr(&D.m.mem, rd->addr, rd->len);
	CU_ASSERT_FATAL(table != NULL);
	for (uint32_t i = 0; i < rd->len / sizeof(*table); i++)
		table[i].flags |= VRING_DESC_F_WRITE;
	fm_vring_kick(fe_txq(&D));
	CU_ASSERT_EQUAL_FATAL(fe_dequeue_wait(D.vid, mb, 1, 2, FE_WAIT_MS), 1);
	CU_ASSERT(fe_mbuf_copy_out(mb[0], got, sizeof(got)) ==
			(int)sizeof(want) && memcmp(got, want, sizeof(want)) == 0);
	rte_pktmbuf_free(mb[0]);
	expect_used(fe_txq(&D), head, 0, NULL);
}

/* Direct, indirect, direct chained, indirect: one burst, in order. */
static void
test_tx_indirect_burst_mixed(void)
{
	static const enum fm_tx_layout layout[4] = {
		FM_TX_ONE_DESC, FM_TX_INDIRECT, FM_TX_CHAINED, FM_TX_INDIRECT,
	};
	static uint8_t want[4][1500], got[1600];
	struct rte_mbuf *mb[8];
	int head[4];

	open_packed(&D, B, true, false, 0);
	/* Around the ring's end: 250 one-descriptor packets first. */
	for (int i = 0; i < 250; i++)
		CU_ASSERT_FATAL(fe_tx_check(&D, 60, 100 + (uint32_t)i,
				FM_TX_ONE_DESC, 0));
	for (int i = 0; i < 4; i++) {
		fe_packet(want[i], sizeof(want[i]), 10 + (uint32_t)i);
		head[i] = fm_net_post_tx(fe_txq(&D), &D.m.mem, 0, want[i],
				sizeof(want[i]), layout[i], 400);
		CU_ASSERT_FATAL(head[i] >= 0);
	}
	fm_vring_kick(fe_txq(&D));
	CU_ASSERT_EQUAL_FATAL(fe_dequeue_wait(D.vid, mb, 4, 8, FE_WAIT_MS), 4);
	for (int i = 0; i < 4; i++) {
		CU_ASSERT(fe_mbuf_copy_out(mb[i], got, sizeof(got)) ==
				(int)sizeof(want[i]) &&
				memcmp(got, want[i], sizeof(want[i])) == 0);
		rte_pktmbuf_free(mb[i]);
	}
	for (int i = 0; i < 4; i++)
		expect_used(fe_txq(&D), head[i], 0, NULL);
	/* The ring wrapped under the burst. */
	CU_ASSERT_FALSE(fe_txq(&D)->used_wrap);
}

/* Posts n TX packets of len bytes in layout; want[] gets them. */
static void
post_tx_n(uint8_t (*want)[1000], int *head, int n, uint32_t len,
	  enum fm_tx_layout layout, uint32_t seed)
{
	for (int i = 0; i < n; i++) {
		fe_packet(want[i], len, seed + (uint32_t)i);
		head[i] = fm_net_post_tx(fe_txq(&D), &D.m.mem, 0, want[i], len,
				layout, len);
		CU_ASSERT_FATAL(head[i] >= 0);
	}
}

/* One dequeue call of up to count packets: got of them, as posted. */
static void
dequeue_check(uint8_t (*want)[1000], const uint32_t *len, const int *head,
	      int count, int got)
{
	static uint8_t out[1100];
	struct rte_mbuf *mb[16];

	CU_ASSERT_EQUAL_FATAL(rte_vhost_dequeue_burst(D.vid, FE_TXQ, fe_pool,
			mb, (uint16_t)count), got);
	for (int i = 0; i < got; i++) {
		CU_ASSERT(fe_mbuf_copy_out(mb[i], out, sizeof(out)) == (int)len[i] &&
				memcmp(out, want[i], len[i]) == 0);
		rte_pktmbuf_free(mb[i]);
	}
	for (int i = 0; i < got; i++)
		expect_used(fe_txq(&D), head[i], 0, NULL);
}

/*
 * A guest Tx burst counts the run of available descriptors first, then
 * walks it. Chains of two descriptors (header apart: the general walker)
 * between one-descriptor ones (the fast path) use the run up before the
 * mbufs: the burst counts again and takes every chain in one call,
 * across the ring's end. A run shorter than the count: only what is
 * there. A descriptor not available ends the run even if the ones after
 * it are: they wait for the next call.
 */
static void
test_tx_burst_runs(void)
{
	static uint8_t want[16][1000];
	uint32_t len[16];
	int head[16];
	struct vring_packed_desc *pd;
	uint16_t pos, saved;

	open_packed(&D, B, true, false, 0);
	/* Near the ring's end: 250 one-descriptor packets first. */
	for (int i = 0; i < 250; i++)
		CU_ASSERT_FATAL(fe_tx_check(&D, 60, 300 + (uint32_t)i,
				FM_TX_ONE_DESC, 0));
	/* 4 + 4 x 2 + 4 = 16 descriptors, 12 chains, 12 mbufs asked. */
	post_tx_n(want, head, 4, 60, FM_TX_ONE_DESC, 1);
	post_tx_n(want + 4, head + 4, 4, 1000, FM_TX_HDR_APART, 5);
	post_tx_n(want + 8, head + 8, 4, 60, FM_TX_ONE_DESC, 9);
	for (int i = 0; i < 12; i++)
		len[i] = i >= 4 && i < 8 ? 1000 : 60;
	fm_vring_kick(fe_txq(&D));
	dequeue_check(want, len, head, 12, 12);
	CU_ASSERT_FALSE(fe_txq(&D)->used_wrap);

	/* Three chains for 12 mbufs: three. */
	post_tx_n(want, head, 3, 60, FM_TX_ONE_DESC, 20);
	fm_vring_kick(fe_txq(&D));
	dequeue_check(want, len, head, 12, 3);
	CU_ASSERT_EQUAL(rte_vhost_dequeue_burst(D.vid, FE_TXQ, fe_pool,
			(struct rte_mbuf *[1]){ NULL }, 1), 0);

	/* Three again, the second not available yet (its flags still the
	 * last lap's): the first alone, then the other two. */
	pos = fe_txq(&D)->avail_idx;
	post_tx_n(want, head, 3, 60, FM_TX_ONE_DESC, 30);
	pd = &fe_txq(&D)->pdesc[(pos + 1) % fe_txq(&D)->size];
	saved = pd->flags;
	pd->flags ^= VHOST_TEST_AVAIL_USED;
	fm_vring_kick(fe_txq(&D));
	dequeue_check(want, len, head, 8, 1);
	pd->flags = saved;
	dequeue_check(want + 1, len, head + 1, 8, 2);
	CU_ASSERT_EQUAL(fe_vring_stat(D.vid, FE_TXQ, "invalid_descriptor_chains"), 0);
}

/* Posts n RX buffers: nsegs pieces of seg_len bytes each, direct. */
static void
post_rx_n(int *head, int n, uint32_t seg_len, int nsegs)
{
	for (int i = 0; i < n; i++) {
		head[i] = fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, seg_len, nsegs,
				false);
		CU_ASSERT_FATAL(head[i] >= 0);
	}
}

/* One enqueue call of count 60-byte packets (seeds seed, seed + 1...):
 * got of them go in, into the buffers head[] in order, intact. */
static void
enqueue_check(const int *head, int count, int got, uint32_t seed)
{
	static uint8_t want[60], out[2048];
	struct rte_mbuf *mb[16];
	struct fm_chain c;

	for (int i = 0; i < count; i++) {
		fe_packet(want, sizeof(want), seed + (uint32_t)i);
		mb[i] = fe_mbuf_make(want, sizeof(want), 0);
		CU_ASSERT_FATAL(mb[i] != NULL);
	}
	CU_ASSERT_EQUAL(rte_vhost_enqueue_burst(D.vid, FE_RXQ, mb,
			(uint16_t)count), got);
	for (int i = 0; i < count; i++)
		rte_pktmbuf_free(mb[i]);
	for (int i = 0; i < got; i++) {
		expect_used(fe_rxq(&D), head[i], FM_NET_HDR_LEN + sizeof(want), &c);
		CU_ASSERT_FATAL(fm_net_read_chain(&D.m.mem, &c,
				FM_NET_HDR_LEN + sizeof(want), out) ==
				(int)(FM_NET_HDR_LEN + sizeof(want)));
		fe_packet(want, sizeof(want), seed + (uint32_t)i);
		CU_ASSERT(memcmp(out + FM_NET_HDR_LEN, want, sizeof(want)) == 0);
	}
}

/*
 * A host->guest burst over buffers of one and two descriptors fills
 * every buffer in one call, across the ring's end. Fewer buffers than
 * packets: only what fits. A descriptor not available stops the burst
 * even if the ones after it are: they wait for the next call.
 */
static void
test_rx_burst_runs(void)
{
	struct vring_packed_desc *pd;
	int head[16];
	uint16_t pos, saved;

	open_packed(&D, B, true, false, 0);
	/* Near the ring's end: 250 buffers used first. */
	for (uint32_t i = 0; i < 250; i++)
		CU_ASSERT_FATAL(fe_rx_check(&D, 60, 300 + i));
	/* 4 + 4 x 2 + 4 = 16 descriptors, 12 buffers, 12 packets. */
	post_rx_n(head, 4, 2048, 1);
	post_rx_n(head + 4, 4, 1024, 2);
	post_rx_n(head + 8, 4, 2048, 1);
	enqueue_check(head, 12, 12, 1);
	CU_ASSERT_FALSE(fe_rxq(&D)->used_wrap);

	/* Three buffers for 12 packets: three. */
	post_rx_n(head, 3, 2048, 1);
	enqueue_check(head, 12, 3, 20);
	enqueue_check(head, 1, 0, 40);

	/* Three again, the second not available yet (its flags still the
	 * last lap's): the first alone, then the other two. */
	pos = fe_rxq(&D)->avail_idx;
	post_rx_n(head, 3, 2048, 1);
	pd = &fe_rxq(&D)->pdesc[(pos + 1) % fe_rxq(&D)->size];
	saved = pd->flags;
	pd->flags ^= VHOST_TEST_AVAIL_USED;
	enqueue_check(head, 8, 1, 50);
	pd->flags = saved;
	enqueue_check(head + 1, 8, 2, 51);
	CU_ASSERT_EQUAL(fe_vring_stat(D.vid, FE_RXQ, "invalid_descriptor_chains"), 0);
}

/* RX buffers given as indirect tables, mergeable and not. */
static void
test_rx_indirect(void)
{
	static uint8_t want[1800], got[2048];
	struct fm_chain c;
	int head;

	open_packed(&D, B, true, false, 0);
	head = fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 512, 2, true);
	CU_ASSERT_FATAL(head >= 0);
	CU_ASSERT_EQUAL_FATAL(fe_enqueue_one(&D, 900, 21, 0), 1);
	expect_used(fe_rxq(&D), head, FM_NET_HDR_LEN + 900, &c);
	CU_ASSERT_FATAL(fm_net_read_chain(&D.m.mem, &c, FM_NET_HDR_LEN + 900,
			got) == (int)(FM_NET_HDR_LEN + 900));
	fe_packet(want, 900, 21);
	CU_ASSERT(memcmp(got + FM_NET_HDR_LEN, want, 900) == 0);
	fe_dev_close(&D, true);
	fe_dev_init(&D);

	/* Without mergeable buffers a packet takes one chain: here a table
	 * of four 512-byte pieces in the second region. */
	open_packed(&D, B, false, false, 0);
	head = fm_net_post_rx(fe_rxq(&D), &D.m.mem, 1, 512, 4, true);
	CU_ASSERT_FATAL(head >= 0);
	CU_ASSERT_EQUAL_FATAL(fe_enqueue_one(&D, 1800, 22, 0), 1);
	expect_used(fe_rxq(&D), head, FM_NET_HDR_LEN + 1800, &c);
	CU_ASSERT_FATAL(fm_net_read_chain(&D.m.mem, &c, FM_NET_HDR_LEN + 1800,
			got) == (int)(FM_NET_HDR_LEN + 1800));
	fe_packet(want, 1800, 22);
	CU_ASSERT(memcmp(got + FM_NET_HDR_LEN, want, 1800) == 0);
	/* Many, around the ring's end. */
	for (uint32_t i = 0; i < 300; i++) {
		uint32_t len = 100 + i % 1900;

		head = fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 512, 4, true);
		CU_ASSERT_FATAL(head >= 0);
		CU_ASSERT_EQUAL_FATAL(fe_enqueue_one(&D, len, 1000 + i, 0), 1);
		expect_used(fe_rxq(&D), head, FM_NET_HDR_LEN + len, &c);
		CU_ASSERT_FATAL(fm_net_read_chain(&D.m.mem, &c,
				FM_NET_HDR_LEN + len, got) ==
				(int)(FM_NET_HDR_LEN + len));
		fe_packet(want, len, 1000 + i);
		CU_ASSERT_FATAL(memcmp(got + FM_NET_HDR_LEN, want, len) == 0);
	}
	CU_ASSERT_EQUAL(fe_vring_stat(D.vid, FE_RXQ, "invalid_descriptor_chains"), 0);
}

enum bad_table {
	BAD_LEN_ZERO,		/* ring descriptor length 0 */
	BAD_LEN_UNALIGNED,	/* 24 bytes: not whole descriptors */
	BAD_TABLE_OUTSIDE,	/* table address in no region */
	BAD_BUFFER_OUTSIDE,	/* an entry's buffer in no region */
	BAD_TABLE_CROSSES,	/* table running off its region's end */
	BAD_TOO_LONG,		/* more entries than the largest ring */
	BAD_COUNT,
};

static const char *const bad_name[BAD_COUNT] = {
	"length 0", "length 24", "table outside memory",
	"buffer outside memory", "table across a region's end",
	"table of 32769 entries",
};

/* When a chain was last refused on purpose. */
static int64_t last_refusal_ms;

/* Waits until the library's log interval for refused chains passed
 * since the previous refusal, so that the next one's line is not held
 * back by the rate limit. */
static void
wait_log_interval(void)
{
	int64_t now = fm_now_ms();

	if (last_refusal_ms != 0 && now - last_refusal_ms < LOG_INTERVAL_MS)
		usleep((useconds_t)(LOG_INTERVAL_MS - (now - last_refusal_ms)) * 1000);
	last_refusal_ms = fm_now_ms();
}

/* Breaks the table of the indirect descriptor at ring position pos. */
static void
corrupt(struct fm_vring *vr, uint16_t pos, enum bad_table how)
{
	struct vring_packed_desc *rd = &vr->pdesc[pos];
	struct vring_packed_desc *table = fm_gpa_ptr(&D.m.mem, rd->addr,
			rd->len);

	CU_ASSERT_FATAL(table != NULL && (rd->flags & VRING_DESC_F_INDIRECT));
	switch (how) {
	case BAD_LEN_ZERO:
		rd->len = 0;
		break;
	case BAD_LEN_UNALIGNED:
		rd->len = 24;
		break;
	case BAD_TABLE_OUTSIDE:
		rd->addr = HOLE_GPA;
		break;
	case BAD_BUFFER_OUTSIDE:
		table[1].addr = HOLE_GPA;
		break;
	case BAD_TABLE_CROSSES:
		rd->addr = D.m.mem.r[0].gpa + D.m.mem.r[0].size - 16;
		rd->len = 48;
		break;
	case BAD_TOO_LONG:
		rd->len = (32768 + 1) * 16;
		break;
	default:
		break;
	}
}

/*
 * Each malformed table, then a good one-descriptor packet: the guest
 * gets the bad chain back with length 0 and nothing from it reaches the
 * host; the good packet passes; the refusal is counted and logged; the
 * witness device passes traffic.
 */
static void
test_tx_bad_indirect(void)
{
	static uint8_t bad[300], good[80], got[400];

	open_packed(&D, B, true, false, 0);
	for (int how = 0; how < BAD_COUNT; how++) {
		uint16_t pos = fe_txq(&D)->avail_idx;
		struct rte_mbuf *mb[4];
		char re[160];
		size_t mark;
		int bad_head, good_head, n;

		wait_log_interval();
		mark = fe_log_mark();
		fe_packet(bad, sizeof(bad), 50 + (uint32_t)how);
		bad_head = fm_net_post_tx(fe_txq(&D), &D.m.mem, 0, bad, sizeof(bad),
				FM_TX_INDIRECT, 100);
		CU_ASSERT_FATAL(bad_head >= 0);
		corrupt(fe_txq(&D), pos, (enum bad_table)how);
		fe_packet(good, sizeof(good), 60 + (uint32_t)how);
		good_head = fm_net_post_tx(fe_txq(&D), &D.m.mem, 0, good,
				sizeof(good), FM_TX_ONE_DESC, 0);
		CU_ASSERT_FATAL(good_head >= 0);
		fm_vring_kick(fe_txq(&D));
		n = fe_dequeue_wait(D.vid, mb, 1, 4, FE_WAIT_MS);
		if (n != 1 || fe_mbuf_copy_out(mb[0], got, sizeof(got)) !=
				(int)sizeof(good) ||
				memcmp(got, good, sizeof(good)) != 0)
			CU_FAIL_FATAL("the good packet after a bad table did not come alone");
		while (n > 0)
			rte_pktmbuf_free(mb[--n]);
		expect_used(fe_txq(&D), bad_head, 0, NULL);
		expect_used(fe_txq(&D), good_head, 0, NULL);
		CU_ASSERT_EQUAL(fe_vring_stat(D.vid, FE_TXQ,
				"invalid_descriptor_chains"), how + 1);
		snprintf(re, sizeof(re), "ERR: .*vring 1: invalid descriptor chain at head [0-9]+: ");
		if (!fe_log_expect(mark, bad_name[how], re))
			CU_FAIL("no log line for a refused table");
		CU_ASSERT(witness_ok(bad_name[how]));
	}
	/* The device still works, through indirect tables too. */
	tx_one(1000, 70, FM_TX_INDIRECT, 300, 0);
	CU_ASSERT(fe_rx_check(&D, 500, 71));
}

/* A read-only buffer in an RX table: refused, the packet goes into the
 * next buffer. */
static void
test_rx_bad_indirect(void)
{
	static uint8_t want[700], got[2048];
	struct fm_chain c;
	uint16_t pos;
	int bad_head, good_head;
	size_t mark;
	char re[160];

	open_packed(&D, B, true, false, 0);
	wait_log_interval();
	mark = fe_log_mark();
	pos = fe_rxq(&D)->avail_idx;
	bad_head = fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 512, 2, true);
	CU_ASSERT_FATAL(bad_head >= 0);
	{
		struct vring_packed_desc *rd = &fe_rxq(&D)->pdesc[pos];
		struct vring_packed_desc *table = fm_gpa_ptr(&D.m.mem,
				rd->addr, rd->len);

		CU_ASSERT_FATAL(table != NULL);
		table[1].flags &= (uint16_t)~VRING_DESC_F_WRITE;
	}
	good_head = fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 2048, 1, false);
	CU_ASSERT_FATAL(good_head >= 0);
	CU_ASSERT_EQUAL_FATAL(fe_enqueue_one(&D, 700, 80, 0), 1);
	expect_used(fe_rxq(&D), bad_head, 0, NULL);
	expect_used(fe_rxq(&D), good_head, FM_NET_HDR_LEN + 700, &c);
	CU_ASSERT_FATAL(fm_net_read_chain(&D.m.mem, &c, FM_NET_HDR_LEN + 700,
			got) == (int)(FM_NET_HDR_LEN + 700));
	fe_packet(want, 700, 80);
	CU_ASSERT(memcmp(got + FM_NET_HDR_LEN, want, 700) == 0);
	CU_ASSERT_EQUAL(fe_vring_stat(D.vid, FE_RXQ, "invalid_descriptor_chains"), 1);
	snprintf(re, sizeof(re), "ERR: .*vring 0: invalid descriptor chain at head [0-9]+: ");
	CU_ASSERT(fe_log_expect(mark, "refused RX table", re));
	CU_ASSERT(witness_ok("refused RX table"));
	CU_ASSERT(fe_rx_check(&D, 1500, 81));
}

/* --- event suppression --- */

static volatile struct vring_packed_desc_event *
driver_event(struct fm_vring *vr)
{
	return (volatile struct vring_packed_desc_event *)vr->avail;
}

static volatile struct vring_packed_desc_event *
device_event(struct fm_vring *vr)
{
	return (volatile struct vring_packed_desc_event *)vr->used;
}

/* off_wrap of the used position ahead descriptors after the one the
 * driver reads next. */
static uint16_t
event_at(const struct fm_vring *vr, uint16_t ahead)
{
	uint32_t pos = vr->last_used + ahead;
	bool wrap = vr->used_wrap;

	while (pos >= vr->size) {
		pos -= vr->size;
		wrap = !wrap;
	}
	return (uint16_t)(pos | (uint32_t)wrap << VRING_PACKED_EVENT_F_WRAP_CTR);
}

/* The host sends n packets in one burst into one-buffer chains; the
 * guest takes them and posts n buffers again. Returns the calls the
 * guest got. */
static uint64_t
rx_burst(uint16_t n)
{
	static uint8_t pkt[128];
	struct rte_mbuf *m[EV_QSIZE];
	uint16_t sent;

	fm_vring_take_calls(fe_rxq(&D));
	for (uint16_t i = 0; i < n; i++) {
		fe_packet(pkt, sizeof(pkt), i);
		m[i] = fe_mbuf_make(pkt, sizeof(pkt), 0);
		CU_ASSERT_FATAL(m[i] != NULL);
	}
	sent = rte_vhost_enqueue_burst(D.vid, FE_RXQ, m, n);
	for (uint16_t i = 0; i < n; i++)
		rte_pktmbuf_free(m[i]);
	CU_ASSERT_EQUAL_FATAL(sent, n);
	for (uint16_t i = 0; i < n; i++) {
		struct vring_used_elem e;

		CU_ASSERT_FATAL(fm_vring_pop_used(fe_rxq(&D), &e, NULL));
		CU_ASSERT_FATAL(fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 2048, 1,
				false) >= 0);
	}
	return fm_vring_take_calls(fe_rxq(&D));
}

/*
 * The driver event area with EVENT_IDX, on a 16-entry ring: the guest is
 * called when (and only when) a burst writes the used descriptor at
 * off_wrap, including across the ring's end and in the lap the wrap bit
 * names.
 */
static void
test_driver_event_desc(void)
{
	volatile struct vring_packed_desc_event *ev;
	uint64_t calls = 0;

	open_packed(&D, B, true, true, EV_QSIZE);
	ev = driver_event(fe_rxq(&D));
	for (int i = 0; i < 8; i++)
		CU_ASSERT_FATAL(fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 2048, 1,
				false) >= 0);
	ev->flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	CU_ASSERT_EQUAL(rx_burst(1), 1);		/* used 0 */
	ev->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
	CU_ASSERT_EQUAL(rx_burst(2), 0);		/* 1, 2 */

	/* Descriptor mode: the used descriptor 2 ahead (at 5). */
	ev->off_wrap = event_at(fe_rxq(&D), 2);
	ev->flags = VRING_PACKED_EVENT_FLAG_DESC;
	CU_ASSERT_EQUAL(rx_burst(2), 0);		/* 3, 4 */
	CU_ASSERT_EQUAL(rx_burst(1), 1);		/* 5 */
	CU_ASSERT_EQUAL(rx_burst(3), 0);		/* 6 .. 8 */
	/* Across the ring's end: 17 is 1 of the next lap (wrap 0). */
	ev->off_wrap = event_at(fe_rxq(&D), 8);
	CU_ASSERT_EQUAL(ev->off_wrap, 1);
	CU_ASSERT_EQUAL(rx_burst(3), 0);		/* 9 .. 11 */
	CU_ASSERT_EQUAL(rx_burst(3), 0);		/* 12 .. 14 */
	CU_ASSERT_EQUAL(rx_burst(3), 1);		/* 15, 0, 1 (wrap 0) */
	CU_ASSERT_EQUAL(rx_burst(2), 0);		/* 2, 3 */
	/* The offset of a descriptor already written in the other lap:
	 * not before the ring comes round to it again. */
	ev->off_wrap = 2 | 1u << VRING_PACKED_EVENT_F_WRAP_CTR;
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(rx_burst(3), 0);	/* 4 .. 15 */
	CU_ASSERT_EQUAL(rx_burst(3), 1);		/* 0 .. 2, wrap 1 */
	/* An event at the end of the burst's range is not crossed by it. */
	ev->off_wrap = event_at(fe_rxq(&D), 3);
	CU_ASSERT_EQUAL(rx_burst(3), 0);
	CU_ASSERT_EQUAL(rx_burst(1), 1);

	/* As Linux does: the event always at the next used descriptor the
	 * driver reads. One call per burst, whatever its size, over many
	 * laps. */
	for (int i = 0; i < 60; i++) {
		ev->off_wrap = event_at(fe_rxq(&D), 0);
		calls += rx_burst((uint16_t)(1 + i % 5)) == 1;
	}
	CU_ASSERT_EQUAL(calls, 60);
	/* A driver that does not move the event: one call, then none. */
	ev->off_wrap = event_at(fe_rxq(&D), 0);
	CU_ASSERT_EQUAL(rx_burst(4), 1);
	for (int i = 0; i < 6; i++)
		CU_ASSERT_EQUAL(rx_burst(4), 0);	/* it comes round at 32 */
	CU_ASSERT(witness_ok("event suppression"));
}

/* The same on the guest's TX ring (dequeue). */
static void
test_driver_event_desc_tx(void)
{
	volatile struct vring_packed_desc_event *ev;

	open_packed(&D, B, true, true, EV_QSIZE);
	ev = driver_event(fe_txq(&D));
	ev->flags = VRING_PACKED_EVENT_FLAG_DESC;
	for (int lap = 0; lap < 5; lap++) {
		/* The used descriptor 5 ahead: the 6th packet calls. */
		ev->off_wrap = event_at(fe_txq(&D), 5);
		for (uint32_t i = 0; i < 8; i++) {
			fm_vring_take_calls(fe_txq(&D));
			CU_ASSERT_FATAL(fe_tx_check(&D, 60, i, FM_TX_ONE_DESC, 0));
			CU_ASSERT_EQUAL(fm_vring_take_calls(fe_txq(&D)),
					lap == 0 && i == 0 ? 1u : i == 5);
		}
	}
}

/*
 * The device event area: rte_vhost_enable_guest_notification() turns the
 * driver's kicks off (DISABLE) and on; with EVENT_IDX on for the next
 * descriptor the driver makes available (our avail position and its
 * wrap counter), without it for every one (ENABLE).
 */
static void
test_device_event(void)
{
	volatile struct vring_packed_desc_event *ev;

	open_packed(&D, B, true, true, EV_QSIZE);
	ev = device_event(fe_txq(&D));
	CU_ASSERT_EQUAL(rte_vhost_enable_guest_notification(D.vid, FE_TXQ, 0), 0);
	CU_ASSERT_EQUAL(ev->flags, VRING_PACKED_EVENT_FLAG_DISABLE);
	for (uint32_t i = 0; i < 20; i++)
		CU_ASSERT_FATAL(fe_tx_check(&D, 60, i, FM_TX_ONE_DESC, 0));
	CU_ASSERT_EQUAL(rte_vhost_enable_guest_notification(D.vid, FE_TXQ, 1), 0);
	CU_ASSERT_EQUAL(ev->flags, VRING_PACKED_EVENT_FLAG_DESC);
	/* 20 descriptors: position 4 of the second lap (wrap 0). */
	CU_ASSERT_EQUAL(ev->off_wrap, 4);
	CU_ASSERT_EQUAL(ev->off_wrap, (uint16_t)(fe_txq(&D)->avail_idx |
			(uint32_t)fe_txq(&D)->avail_wrap << VRING_PACKED_EVENT_F_WRAP_CTR));
	CU_ASSERT_EQUAL(rte_vhost_enable_guest_notification(D.vid, FE_TXQ, 0), 0);
	CU_ASSERT_EQUAL(ev->flags, VRING_PACKED_EVENT_FLAG_DISABLE);
	fe_dev_close(&D, true);
	fe_dev_init(&D);

	open_packed(&D, B, true, false, EV_QSIZE);
	ev = device_event(fe_rxq(&D));
	CU_ASSERT_EQUAL(rte_vhost_enable_guest_notification(D.vid, FE_RXQ, 1), 0);
	CU_ASSERT_EQUAL(ev->flags, VRING_PACKED_EVENT_FLAG_ENABLE);
	CU_ASSERT_EQUAL(rte_vhost_enable_guest_notification(D.vid, FE_RXQ, 0), 0);
	CU_ASSERT_EQUAL(ev->flags, VRING_PACKED_EVENT_FLAG_DISABLE);
}

static CU_TestInfo indirect_tests[] = {
	{ "tx_indirect", test_tx_indirect },
	{ "tx_indirect_burst_mixed", test_tx_indirect_burst_mixed },
	{ "tx_indirect_write_flag", test_tx_indirect_write_flag },
	{ "tx_burst_runs", test_tx_burst_runs },
	{ "rx_burst_runs", test_rx_burst_runs },
	{ "rx_indirect", test_rx_indirect },
	{ "tx_bad_indirect", test_tx_bad_indirect },
	{ "rx_bad_indirect", test_rx_bad_indirect },
	CU_TEST_INFO_NULL,
};

static CU_TestInfo event_tests[] = {
	{ "driver_event_desc", test_driver_event_desc },
	{ "driver_event_desc_tx", test_driver_event_desc_tx },
	{ "device_event", test_device_event },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	FE_DEV_SUITE("packed_indirect", indirect_tests),
	FE_DEV_SUITE("packed_events", event_tests),
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	int ret = 1;

	if (fe_init("packed") < 0)
		return 1;
	if (fe_log_capture_start() < 0)
		goto out;
	B = fe_backend_start("packed", RTE_VHOST_USER_NET_STATS_ENABLE);
	W = fe_backend_start("packed-witness", 0);
	fe_dev_init(&WD);
	if (B == NULL || W == NULL)
		goto out_log;
	/* The witness: a packed device connected all along. */
	{
		struct fm_config cfg;

		fm_config_default(&cfg);
		cfg.features |= FM_BIT(VIRTIO_F_RING_PACKED);
		cfg.regions[0].size = 16u << 20;
		if (fe_dev_open(&WD, W, &cfg) != 0)
			goto out_log;
	}
	ret = fe_run(suites, argc, argv);
	fe_dev_close(&WD, true);
out_log:
	fe_log_capture_stop();
out:
	fe_fini();
	return ret;
}
