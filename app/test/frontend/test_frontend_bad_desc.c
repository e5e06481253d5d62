/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Malformed descriptor chains from the guest. Each test publishes one bad
 * chain followed by a good one on a running device. A correct backend
 * does not touch the bad chain (no mbuf from it, no byte written into any
 * of its buffers), returns its head in the used ring with length 0 so the
 * guest gets it back, and carries on: the good chain after it passes and
 * the device keeps working.
 *
 * Guest memory (fm_config_default): region 0 at GPA [0, 4 MiB), region 1
 * at [1 GiB, 1 GiB + 4 MiB); nothing between or after.
 *
 * Debian's DPDK 22.11 fails every test here: at the first bad chain it
 * stops the burst without consuming the chain, so the queue stalls for
 * good (the good packet never passes, the head never comes back; Linux's
 * vhost-net also stops the queue, but this library's target is to skip
 * the chain). It also follows no nested indirect table but takes its
 * descriptor for a data buffer (TX: the table's bytes come out as a
 * packet; RX: packet bytes are written over the guest's table), and it
 * writes received packets into device-readable buffers (it ignores
 * VRING_DESC_F_WRITE).
 */
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <rte_vhost.h>

#include "fake_frontend.h"
#include "fe_harness.h"
#include "fe_traffic.h"

#define HOLE_GPA (512ull << 20)                  /* between the regions */
#define PAST_END_GPA ((1ull << 30) + (64u << 20)) /* after the last one */
#define GOOD_LEN 200u

static struct fe_backend *B;
#define D fe_test_dev	/* the device under test (fe_traffic.h) */

/* A buffer of len bytes in region 0 filled with the RX poison. */
static uint8_t *
buffer(uint32_t len)
{
	uint8_t *p = fm_mem_alloc(&D.m.mem, 0, len, 64);

	CU_ASSERT_FATAL(p != NULL);
	memset(p, FM_NET_POISON, len);
	return p;
}

static uint64_t
gpa(const void *p)
{
	return fm_ptr_gpa(&D.m.mem, p);
}

static uint64_t
region0_end(void)
{
	return D.m.mem.r[0].gpa + D.m.mem.r[0].size;
}

static void
set_desc(struct vring_desc *d, uint64_t addr, uint32_t len, uint16_t flags,
		uint16_t next)
{
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

/*
 * Builds one faulty chain of the given kind in vr and publishes it.
 * dev_writes: the buffers are RX buffers (device-writable).
 * Returns its head (beyond the ring when the avail entry itself is bogus)
 * and the bytes it must not write.
 */
enum fault {
	F_ADDR_IN_HOLE,
	F_ADDR_PAST_END,
	F_LEN_CROSSES_END,
	F_LEN_HUGE,
	F_ADDR_WRAPS,
	F_LOOP,
	F_NEXT_OUT_OF_RANGE,
	F_HEAD_OUT_OF_RANGE,
	F_INDIRECT_LEN_ZERO,
	F_INDIRECT_LEN_UNALIGNED,
	F_INDIRECT_TABLE_OUTSIDE,
	F_INDIRECT_NESTED,
	F_INDIRECT_LOOP,
	F_INDIRECT_NEXT_OUT_OF_RANGE,
	F_INDIRECT_BAD_BUFFER,
	F_INDIRECT_TOO_LONG,
	F_READ_ONLY_RX,
};

static int
post_fault(struct fm_vring *vr, enum fault f, bool dev_writes,
		struct fe_canary *can, int *ncan)
{
	uint16_t wr = dev_writes ? VRING_DESC_F_WRITE : 0;
	struct vring_desc *t;
	uint16_t ids[2];
	uint8_t *b1, *b2;
	int n, i;

	*ncan = 0;
	if (f == F_HEAD_OUT_OF_RANGE) {
		fm_vring_publish(vr, (uint16_t)(vr->size + 44));
		return vr->size + 44;
	}
	n = f == F_LOOP ? 2 : 1;
	CU_ASSERT_FATAL(fm_vring_alloc(vr, n, ids) == 0);
	b1 = buffer(512);
	b2 = buffer(512);
	can[(*ncan)++] = (struct fe_canary){ b1, 512 };
	can[(*ncan)++] = (struct fe_canary){ b2, 512 };
	t = fm_mem_alloc(&D.m.mem, 0, 300 * sizeof(*t), 16);
	CU_ASSERT_FATAL(t != NULL);
	switch (f) {
	case F_ADDR_IN_HOLE:
		set_desc(&vr->desc[ids[0]], HOLE_GPA, 512, wr, 0);
		break;
	case F_ADDR_PAST_END:
		set_desc(&vr->desc[ids[0]], PAST_END_GPA, 512, wr, 0);
		break;
	case F_LEN_CROSSES_END: {
		/* The first 64 bytes are guest memory, the rest is not. */
		uint8_t *tail = fm_gpa_ptr(&D.m.mem, region0_end() - 64, 64);

		memset(tail, FM_NET_POISON, 64);
		can[(*ncan)++] = (struct fe_canary){ tail, 64 };
		set_desc(&vr->desc[ids[0]], region0_end() - 64, 4096, wr, 0);
		break;
	}
	case F_LEN_HUGE:
		set_desc(&vr->desc[ids[0]], gpa(b1), 0xffffffffu, wr, 0);
		break;
	case F_ADDR_WRAPS:
		set_desc(&vr->desc[ids[0]], ~0ull - 63, 512, wr, 0);
		break;
	case F_LOOP:
		set_desc(&vr->desc[ids[0]], gpa(b1), 512,
				wr | VRING_DESC_F_NEXT, ids[1]);
		set_desc(&vr->desc[ids[1]], gpa(b2), 512,
				wr | VRING_DESC_F_NEXT, ids[0]);
		break;
	case F_NEXT_OUT_OF_RANGE:
		set_desc(&vr->desc[ids[0]], gpa(b1), 512,
				wr | VRING_DESC_F_NEXT, (uint16_t)(vr->size + 5));
		break;
	case F_INDIRECT_LEN_ZERO:
		set_desc(&t[0], gpa(b1), 512, wr, 0);
		set_desc(&vr->desc[ids[0]], gpa(t), 0, VRING_DESC_F_INDIRECT,
				0);
		break;
	case F_INDIRECT_LEN_UNALIGNED:
		set_desc(&t[0], gpa(b1), 512, wr | VRING_DESC_F_NEXT, 1);
		set_desc(&t[1], gpa(b2), 512, wr, 0);
		set_desc(&vr->desc[ids[0]], gpa(t), 24, VRING_DESC_F_INDIRECT,
				0);
		break;
	case F_INDIRECT_TABLE_OUTSIDE:
		set_desc(&vr->desc[ids[0]], HOLE_GPA, 32, VRING_DESC_F_INDIRECT,
				0);
		break;
	case F_INDIRECT_NESTED:
		/* t[0] points at a second table t[8..9]. */
		set_desc(&t[8], gpa(b1), 512, wr | VRING_DESC_F_NEXT, 1);
		set_desc(&t[9], gpa(b2), 512, wr, 0);
		set_desc(&t[0], gpa(&t[8]), 32, VRING_DESC_F_INDIRECT, 0);
		set_desc(&vr->desc[ids[0]], gpa(t), 16, VRING_DESC_F_INDIRECT,
				0);
		break;
	case F_INDIRECT_LOOP:
		set_desc(&t[0], gpa(b1), 512, wr | VRING_DESC_F_NEXT, 1);
		set_desc(&t[1], gpa(b2), 512, wr | VRING_DESC_F_NEXT, 0);
		set_desc(&vr->desc[ids[0]], gpa(t), 32, VRING_DESC_F_INDIRECT,
				0);
		break;
	case F_INDIRECT_NEXT_OUT_OF_RANGE:
		set_desc(&t[0], gpa(b1), 512, wr | VRING_DESC_F_NEXT, 7);
		set_desc(&t[1], gpa(b2), 512, wr, 0);
		set_desc(&vr->desc[ids[0]], gpa(t), 32, VRING_DESC_F_INDIRECT,
				0);
		break;
	case F_INDIRECT_BAD_BUFFER:
		set_desc(&t[0], gpa(b1), 512, wr | VRING_DESC_F_NEXT, 1);
		set_desc(&t[1], HOLE_GPA, 512, wr, 0);
		set_desc(&vr->desc[ids[0]], gpa(t), 32, VRING_DESC_F_INDIRECT,
				0);
		break;
	case F_INDIRECT_TOO_LONG:
		/* A chain longer than the queue: the spec forbids it. */
		for (i = 0; i < 300; i++)
			set_desc(&t[i], gpa(b1) + (uint64_t)i, 1,
					wr | (i < 299 ? VRING_DESC_F_NEXT : 0),
					(uint16_t)(i + 1));
		set_desc(&vr->desc[ids[0]], gpa(t), 300 * sizeof(*t),
				VRING_DESC_F_INDIRECT, 0);
		break;
	case F_READ_ONLY_RX:
		/* A driver-readable buffer offered for receiving. */
		set_desc(&vr->desc[ids[0]], gpa(b1), 512, 0, 0);
		break;
	case F_HEAD_OUT_OF_RANGE:
		break;
	}
	fm_vring_publish(vr, ids[0]);
	return ids[0];
}

/* Guest -> host: the bad chain yields nothing, the good packet passes. */
static void
run_tx_fault(enum fault f, const char *what)
{
	static uint8_t want[GOOD_LEN], got[GOOD_LEN + 64];
	struct fe_canary can[4];
	struct vring_used_elem e;
	struct fm_chain c;
	struct rte_mbuf *mb[4];
	int ncan, bad, good, n, i;
	bool ok;

	CU_ASSERT_FATAL(fe_dev_open(&D, B, NULL) == 0);
	bad = post_fault(fe_txq(&D), f, false, can, &ncan);
	fe_packet(want, GOOD_LEN, 77);
	good = fm_net_post_tx(fe_txq(&D), &D.m.mem, 0, want, GOOD_LEN,
			FM_TX_HDR_APART, 0);
	CU_ASSERT_FATAL(good >= 0);
	fm_vring_kick(fe_txq(&D));
	n = fe_dequeue_wait(D.vid, mb, 1, 4, 1000);
	ok = n == 1 && fe_mbuf_copy_out(mb[0], got, sizeof(got)) ==
		(int)GOOD_LEN && memcmp(got, want, GOOD_LEN) == 0;
	if (!ok)
		fe_fail("%s: dequeued %d packets, want only the good one",
				what, n);
	CU_ASSERT(ok);
	for (i = 0; i < n; i++)
		rte_pktmbuf_free(mb[i]);
	CU_ASSERT(fe_pop_refused_and_good(fe_txq(&D), bad, good, &e, &c, what));
	CU_ASSERT(fe_traffic_ok(&D));
}

/* Host -> guest: the packet lands in the good buffer, not the bad one. */
static void
run_rx_fault(enum fault f, const char *what)
{
	static uint8_t want[GOOD_LEN], got[FM_NET_HDR_LEN + GOOD_LEN];
	struct fe_canary can[4];
	struct vring_used_elem e = { 0, 0 };
	struct fm_chain c;
	struct rte_mbuf *m;
	int ncan, bad, good;
	uint16_t n;

	CU_ASSERT_FATAL(fe_dev_open(&D, B, NULL) == 0);
	bad = post_fault(fe_rxq(&D), f, true, can, &ncan);
	good = fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 2048, 1, false);
	CU_ASSERT_FATAL(good >= 0);
	fe_packet(want, GOOD_LEN, 78);
	m = fe_mbuf_make(want, GOOD_LEN, 0);
	CU_ASSERT_FATAL(m != NULL);
	n = rte_vhost_enqueue_burst(D.vid, FE_RXQ, &m, 1);
	rte_pktmbuf_free(m);
	if (n != 1)
		fe_fail("%s: enqueue_burst returned %u, want 1", what, n);
	CU_ASSERT(n == 1);
	CU_ASSERT(fe_canaries_intact(can, ncan));
	if (n == 1 && fe_pop_refused_and_good(fe_rxq(&D), bad, good, &e, &c, what)) {
		CU_ASSERT_EQUAL(e.len, FM_NET_HDR_LEN + GOOD_LEN);
		CU_ASSERT(fm_net_read_chain(&D.m.mem, &c, sizeof(got), got) ==
				(int)sizeof(got) && memcmp(got + FM_NET_HDR_LEN,
				want, GOOD_LEN) == 0);
	} else {
		CU_FAIL("good RX buffer not used");
	}
	CU_ASSERT(fe_traffic_ok(&D));
}

#define TX_CASE(name, fault) \
	static void test_tx_##name(void) { run_tx_fault(fault, "TX " #name); }
#define RX_CASE(name, fault) \
	static void test_rx_##name(void) { run_rx_fault(fault, "RX " #name); }

TX_CASE(addr_in_hole, F_ADDR_IN_HOLE)
TX_CASE(addr_past_end, F_ADDR_PAST_END)
TX_CASE(len_crosses_region_end, F_LEN_CROSSES_END)
TX_CASE(len_huge, F_LEN_HUGE)
TX_CASE(addr_wraps, F_ADDR_WRAPS)
TX_CASE(loop, F_LOOP)
TX_CASE(next_out_of_range, F_NEXT_OUT_OF_RANGE)
TX_CASE(head_out_of_range, F_HEAD_OUT_OF_RANGE)
TX_CASE(indirect_len_zero, F_INDIRECT_LEN_ZERO)
TX_CASE(indirect_len_unaligned, F_INDIRECT_LEN_UNALIGNED)
TX_CASE(indirect_table_outside, F_INDIRECT_TABLE_OUTSIDE)
TX_CASE(indirect_nested, F_INDIRECT_NESTED)
TX_CASE(indirect_loop, F_INDIRECT_LOOP)
TX_CASE(indirect_next_out_of_range, F_INDIRECT_NEXT_OUT_OF_RANGE)
TX_CASE(indirect_bad_buffer, F_INDIRECT_BAD_BUFFER)
TX_CASE(indirect_too_long, F_INDIRECT_TOO_LONG)

RX_CASE(addr_in_hole, F_ADDR_IN_HOLE)
RX_CASE(len_crosses_region_end, F_LEN_CROSSES_END)
RX_CASE(addr_wraps, F_ADDR_WRAPS)
RX_CASE(loop, F_LOOP)
RX_CASE(indirect_nested, F_INDIRECT_NESTED)
RX_CASE(indirect_len_unaligned, F_INDIRECT_LEN_UNALIGNED)
RX_CASE(indirect_bad_buffer, F_INDIRECT_BAD_BUFFER)
RX_CASE(read_only_buffer, F_READ_ONLY_RX)

/* A bad chain between two good ones in one burst. */
static void
test_tx_bad_in_burst(void)
{
	static uint8_t want[2][GOOD_LEN], got[GOOD_LEN];
	struct fe_canary can[4];
	struct rte_mbuf *mb[4];
	int ncan, n, i;

	CU_ASSERT_FATAL(fe_dev_open(&D, B, NULL) == 0);
	fe_packet(want[0], GOOD_LEN, 1);
	fe_packet(want[1], GOOD_LEN, 2);
	CU_ASSERT_FATAL(fm_net_post_tx(fe_txq(&D), &D.m.mem, 0, want[0], GOOD_LEN,
			FM_TX_ONE_DESC, 0) >= 0);
	post_fault(fe_txq(&D), F_ADDR_IN_HOLE, false, can, &ncan);
	CU_ASSERT_FATAL(fm_net_post_tx(fe_txq(&D), &D.m.mem, 0, want[1], GOOD_LEN,
			FM_TX_ONE_DESC, 0) >= 0);
	n = fe_dequeue_wait(D.vid, mb, 2, 4, 1000);
	CU_ASSERT_EQUAL(n, 2);
	for (i = 0; i < n; i++) {
		CU_ASSERT(i < 2 && fe_mbuf_copy_out(mb[i], got, sizeof(got)) ==
				(int)GOOD_LEN && memcmp(got, want[i],
				GOOD_LEN) == 0);
		rte_pktmbuf_free(mb[i]);
	}
	CU_ASSERT_EQUAL(fm_vring_used_pending(fe_txq(&D)), 3);
}

static void
test_rx_bad_in_burst(void)
{
	static uint8_t want[2][GOOD_LEN], got[GOOD_LEN];
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct fe_canary can[4];
	struct rte_mbuf *m[2];
	struct vring_used_elem e;
	int ncan, bad, nbufs, i;

	CU_ASSERT_FATAL(fe_dev_open(&D, B, NULL) == 0);
	CU_ASSERT_FATAL(fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 2048, 1, false)
			>= 0);
	bad = post_fault(fe_rxq(&D), F_ADDR_IN_HOLE, true, can, &ncan);
	CU_ASSERT_FATAL(fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 2048, 1, false)
			>= 0);
	for (i = 0; i < 2; i++) {
		fe_packet(want[i], GOOD_LEN, 10 + (uint32_t)i);
		m[i] = fe_mbuf_make(want[i], GOOD_LEN, 0);
		CU_ASSERT_FATAL(m[i] != NULL);
	}
	CU_ASSERT_EQUAL(rte_vhost_enqueue_burst(D.vid, FE_RXQ, m, 2), 2);
	rte_pktmbuf_free(m[0]);
	rte_pktmbuf_free(m[1]);
	CU_ASSERT_EQUAL(fm_net_recv(fe_rxq(&D), &D.m.mem, true, &hdr, got,
			sizeof(got), &nbufs), (int)GOOD_LEN);
	CU_ASSERT(memcmp(got, want[0], GOOD_LEN) == 0);
	/* The bad head comes back empty before the second packet. */
	CU_ASSERT_FATAL(fm_vring_pop_used(fe_rxq(&D), &e, NULL));
	CU_ASSERT_EQUAL(e.id, (uint32_t)bad);
	CU_ASSERT_EQUAL(e.len, 0);
	CU_ASSERT_EQUAL(fm_net_recv(fe_rxq(&D), &D.m.mem, true, &hdr, got,
			sizeof(got), &nbufs), (int)GOOD_LEN);
	CU_ASSERT(memcmp(got, want[1], GOOD_LEN) == 0);
	CU_ASSERT(fe_canaries_intact(can, ncan));
}

static CU_TestInfo tx_tests[] = {
	{ "addr_in_hole", test_tx_addr_in_hole },
	{ "addr_past_end", test_tx_addr_past_end },
	{ "len_crosses_region_end", test_tx_len_crosses_region_end },
	{ "len_huge", test_tx_len_huge },
	{ "addr_wraps", test_tx_addr_wraps },
	{ "loop", test_tx_loop },
	{ "next_out_of_range", test_tx_next_out_of_range },
	{ "head_out_of_range", test_tx_head_out_of_range },
	{ "indirect_len_zero", test_tx_indirect_len_zero },
	{ "indirect_len_unaligned", test_tx_indirect_len_unaligned },
	{ "indirect_table_outside", test_tx_indirect_table_outside },
	{ "indirect_nested", test_tx_indirect_nested },
	{ "indirect_loop", test_tx_indirect_loop },
	{ "indirect_next_out_of_range", test_tx_indirect_next_out_of_range },
	{ "indirect_bad_buffer", test_tx_indirect_bad_buffer },
	{ "indirect_too_long", test_tx_indirect_too_long },
	{ "bad_in_burst", test_tx_bad_in_burst },
	CU_TEST_INFO_NULL,
};

static CU_TestInfo rx_tests[] = {
	{ "addr_in_hole", test_rx_addr_in_hole },
	{ "len_crosses_region_end", test_rx_len_crosses_region_end },
	{ "addr_wraps", test_rx_addr_wraps },
	{ "loop", test_rx_loop },
	{ "indirect_nested", test_rx_indirect_nested },
	{ "indirect_len_unaligned", test_rx_indirect_len_unaligned },
	{ "indirect_bad_buffer", test_rx_indirect_bad_buffer },
	{ "read_only_buffer", test_rx_read_only_buffer },
	{ "bad_in_burst", test_rx_bad_in_burst },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	FE_DEV_SUITE("bad_tx_chain", tx_tests),
	FE_DEV_SUITE("bad_rx_chain", rx_tests),
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	return fe_main_one_backend("bad_desc", "bad", &B, suites, argc, argv);
}
