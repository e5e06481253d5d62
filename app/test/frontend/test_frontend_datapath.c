/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Data path through a real vhost-user connection: what rte_vhost_enqueue_burst
 * writes into guest RX buffers (header, bytes, used lengths, num_buffers,
 * notifications) and what rte_vhost_dequeue_burst makes of guest TX chains
 * in every descriptor layout.
 */
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <rte_vhost.h>

#include "fake_frontend.h"
#include "fe_harness.h"
#include "fe_traffic.h"

static struct fe_backend *B;
static struct fe_backend *BS;	/* with RTE_VHOST_USER_NET_STATS_ENABLE */
#define D fe_test_dev	/* the device under test (fe_traffic.h) */

static void
open_default(void)
{
	CU_ASSERT_FATAL(fe_dev_open(&D, B, NULL) == 0);
}

/* True if the header carries no offload: all fields but num_buffers 0. */
static bool
hdr_is_plain(const struct virtio_net_hdr_mrg_rxbuf *h)
{
	return h->hdr.flags == 0 && h->hdr.gso_type == VIRTIO_NET_HDR_GSO_NONE &&
		h->hdr.hdr_len == 0 && h->hdr.gso_size == 0 &&
		h->hdr.csum_start == 0 && h->hdr.csum_offset == 0;
}

/* --- host -> guest --- */

static void
test_rx_single_buffer(void)
{
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct vring_used_elem e;
	struct fm_chain c;
	uint8_t want[100], buf[2048];
	int head;

	open_default();
	fm_vring_take_calls(fe_rxq(&D));
	head = fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 2048, 1, false);
	CU_ASSERT_FATAL(head >= 0);
	CU_ASSERT_EQUAL_FATAL(fe_enqueue_one(&D, 100, 7, 0), 1);
	CU_ASSERT_FATAL(fm_vring_pop_used(fe_rxq(&D), &e, &c));
	CU_ASSERT_EQUAL(e.id, (uint32_t)head);
	CU_ASSERT_EQUAL(e.len, FM_NET_HDR_LEN + 100);
	CU_ASSERT_FATAL(fm_net_read_chain(&D.m.mem, &c, 2048, buf) == 2048);
	memcpy(&hdr, buf, sizeof(hdr));
	CU_ASSERT(hdr_is_plain(&hdr));
	CU_ASSERT_EQUAL(hdr.num_buffers, 1);
	fe_packet(want, sizeof(want), 7);
	CU_ASSERT(memcmp(buf + FM_NET_HDR_LEN, want, sizeof(want)) == 0);
	/* Nothing written past the packet. */
	CU_ASSERT(fe_all_bytes(buf + FM_NET_HDR_LEN + 100, FM_NET_POISON,
			2048 - FM_NET_HDR_LEN - 100));
	CU_ASSERT_EQUAL(fm_vring_used_pending(fe_rxq(&D)), 0);
	CU_ASSERT(fm_vring_take_calls(fe_rxq(&D)) > 0);
}

/* The header is written only where the buffer differs from it: a buffer
 * holding another header, or this one but for one field, still ends up
 * with exactly the right header, and the packet after it. */
static void
test_rx_header_only_changes(void)
{
	static const struct {
		size_t off;	/* byte of a plain header to spoil */
		uint8_t val;
	} spoil[] = {
		{ 0, 0x01 },	/* flags (first word) */
		{ 7, 0x40 },	/* csum_start high byte (first word) */
		{ 8, 0x02 },	/* csum_offset (second word) */
		{ 10, 0x07 },	/* num_buffers */
		{ 11, 0x01 },	/* num_buffers high byte */
	};

	open_default();
	for (unsigned int i = 0; i <= RTE_DIM(spoil); i++) {
		struct virtio_net_hdr_mrg_rxbuf hdr = { .num_buffers = 1 };
		struct vring_used_elem e;
		struct fm_chain c;
		uint8_t want[64], buf[2048], *guest;
		int head;

		head = fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 2048, 1, false);
		CU_ASSERT_FATAL(head >= 0);
		guest = fm_gpa_ptr(&D.m.mem, fe_rxq(&D)->desc[head].addr, sizeof(hdr));
		CU_ASSERT_FATAL(guest != NULL);
		/* The right header, spoiled in one byte (the last round
		 * leaves it right: nothing to write). */
		memcpy(guest, &hdr, sizeof(hdr));
		if (i < RTE_DIM(spoil))
			guest[spoil[i].off] = spoil[i].val;
		CU_ASSERT_EQUAL_FATAL(fe_enqueue_one(&D, 64, 30 + i, 0), 1);
		CU_ASSERT_FATAL(fm_vring_pop_used(fe_rxq(&D), &e, &c));
		CU_ASSERT_EQUAL(e.len, FM_NET_HDR_LEN + 64);
		CU_ASSERT_FATAL(fm_net_read_chain(&D.m.mem, &c, 2048, buf) == 2048);
		memcpy(&hdr, buf, sizeof(hdr));
		CU_ASSERT(hdr_is_plain(&hdr));
		CU_ASSERT_EQUAL(hdr.num_buffers, 1);
		fe_packet(want, sizeof(want), 30 + i);
		CU_ASSERT(memcmp(buf + FM_NET_HDR_LEN, want, sizeof(want)) == 0);
	}
}

/* With MRG_RXBUF a packet larger than one buffer takes several. */
static void
test_rx_mergeable_spans_buffers(void)
{
	static uint8_t want[3000], got[3000];
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct vring_used_elem e[3];
	struct fm_chain c[3];
	uint8_t tmp[1024];
	uint32_t off = 0;
	int heads[4], i;

	open_default();
	for (i = 0; i < 4; i++) {
		heads[i] = fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 1024, 1, false);
		CU_ASSERT_FATAL(heads[i] >= 0);
	}
	/* A multi-segment mbuf on top. */
	CU_ASSERT_EQUAL_FATAL(fe_enqueue_one(&D, 3000, 21, 1000), 1);
	CU_ASSERT_EQUAL_FATAL(fm_vring_used_pending(fe_rxq(&D)), 3);
	for (i = 0; i < 3; i++) {
		uint32_t skip = i == 0 ? FM_NET_HDR_LEN : 0;

		CU_ASSERT_FATAL(fm_vring_pop_used(fe_rxq(&D), &e[i], &c[i]));
		CU_ASSERT_EQUAL(e[i].id, (uint32_t)heads[i]);
		CU_ASSERT_FATAL(e[i].len >= skip && e[i].len <= 1024);
		CU_ASSERT_FATAL(fm_net_read_chain(&D.m.mem, &c[i], e[i].len,
				tmp) == (int)e[i].len);
		if (i == 0)
			memcpy(&hdr, tmp, sizeof(hdr));
		CU_ASSERT_FATAL(off + e[i].len - skip <= sizeof(got));
		memcpy(got + off, tmp + skip, e[i].len - skip);
		off += e[i].len - skip;
	}
	CU_ASSERT_EQUAL(e[0].len, 1024);
	CU_ASSERT_EQUAL(e[1].len, 1024);
	CU_ASSERT_EQUAL(e[2].len, FM_NET_HDR_LEN + 3000 - 2048);
	CU_ASSERT_EQUAL(hdr.num_buffers, 3);
	CU_ASSERT(hdr_is_plain(&hdr));
	CU_ASSERT_EQUAL(off, 3000);
	fe_packet(want, sizeof(want), 21);
	CU_ASSERT(memcmp(got, want, sizeof(want)) == 0);
	/* The fourth buffer is still there for the next packet. */
	CU_ASSERT_EQUAL_FATAL(fe_enqueue_one(&D, 500, 22, 0), 1);
	CU_ASSERT_FATAL(fm_vring_pop_used(fe_rxq(&D), &e[0], NULL));
	CU_ASSERT_EQUAL(e[0].id, (uint32_t)heads[3]);
	CU_ASSERT_EQUAL(e[0].len, FM_NET_HDR_LEN + 500);
}

static void
test_rx_large_packet_mergeable(void)
{
	open_default();
	CU_ASSERT(fe_rx_check(&D, 9000, 5));
	CU_ASSERT(fe_rx_check(&D, 65000, 6));
	CU_ASSERT(fe_rx_check(&D, 60, 7));
}

static void
test_rx_burst(void)
{
	static uint8_t want[2048], got[2048];
	struct rte_mbuf *pkts[32];
	struct virtio_net_hdr_mrg_rxbuf hdr;
	int i, nbufs;

	open_default();
	for (i = 0; i < 32; i++) {
		uint32_t len = 60 + 45 * (uint32_t)i;

		CU_ASSERT_FATAL(fm_net_post_rx(fe_rxq(&D), &D.m.mem, i % 2, 2048, 1,
				false) >= 0);
		fe_packet(want, len, (uint32_t)i);
		pkts[i] = fe_mbuf_make(want, len, 0);
		CU_ASSERT_FATAL(pkts[i] != NULL);
	}
	CU_ASSERT_EQUAL(rte_vhost_enqueue_burst(D.vid, FE_RXQ, pkts, 32), 32);
	for (i = 0; i < 32; i++)
		rte_pktmbuf_free(pkts[i]);
	for (i = 0; i < 32; i++) {
		uint32_t len = 60 + 45 * (uint32_t)i;
		int n = fm_net_recv(fe_rxq(&D), &D.m.mem, true, &hdr, got,
				sizeof(got), &nbufs);

		CU_ASSERT_EQUAL(n, (int)len);
		CU_ASSERT_EQUAL(nbufs, 1);
		fe_packet(want, len, (uint32_t)i);
		CU_ASSERT(n == (int)len && memcmp(got, want, len) == 0);
	}
}

/* Fewer buffers than packets: the burst stops, nothing is lost later. */
static void
test_rx_more_packets_than_buffers(void)
{
	struct rte_mbuf *pkts[4];
	uint8_t want[200], got[2048];
	struct virtio_net_hdr_mrg_rxbuf hdr;
	uint16_t n;
	int i, nbufs;

	open_default();
	for (i = 0; i < 4; i++) {
		fe_packet(want, sizeof(want), 40 + (uint32_t)i);
		pkts[i] = fe_mbuf_make(want, sizeof(want), 0);
		CU_ASSERT_FATAL(pkts[i] != NULL);
	}
	/* No buffer at all. */
	CU_ASSERT_EQUAL(rte_vhost_enqueue_burst(D.vid, FE_RXQ, pkts, 4), 0);
	for (i = 0; i < 2; i++)
		CU_ASSERT_FATAL(fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 2048, 1,
				false) >= 0);
	n = rte_vhost_enqueue_burst(D.vid, FE_RXQ, pkts, 4);
	CU_ASSERT_EQUAL(n, 2);
	for (i = 0; i < 2; i++)
		CU_ASSERT_FATAL(fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 2048, 1,
				false) >= 0);
	if (n <= 4)
		CU_ASSERT_EQUAL(rte_vhost_enqueue_burst(D.vid, FE_RXQ, pkts + n,
				(uint16_t)(4 - n)), 4 - n);
	for (i = 0; i < 4; i++) {
		rte_pktmbuf_free(pkts[i]);
		fe_packet(want, sizeof(want), 40 + (uint32_t)i);
		CU_ASSERT_EQUAL(fm_net_recv(fe_rxq(&D), &D.m.mem, true, &hdr, got,
				sizeof(got), &nbufs), (int)sizeof(want));
		CU_ASSERT(memcmp(got, want, sizeof(want)) == 0);
	}
}

/* Posts one device-writable descriptor of len bytes at gpa. */
static int
post_rx_desc(uint64_t addr, uint32_t len)
{
	uint16_t id;

	CU_ASSERT_FATAL(fm_vring_alloc(fe_rxq(&D), 1, &id) == 0);
	fe_rxq(&D)->desc[id] = (struct vring_desc){ .addr = addr, .len = len,
					      .flags = VRING_DESC_F_WRITE };
	fm_vring_publish(fe_rxq(&D), id);
	return id;
}

/* A mergeable packet meets a refused chain after its first buffer and
 * then runs out of buffers: it waits, and when buffers come the refused
 * chain goes back empty ahead of the packet's chains, counted once. */
static void
test_rx_refused_inside_waiting_packet(void)
{
	static uint8_t want[1500], got[2048];
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct vring_used_elem e;
	int64_t inval0;
	int first, bad, nbufs;

	if (BS == NULL)
		BS = fe_backend_start("stats", RTE_VHOST_USER_NET_STATS_ENABLE);
	CU_ASSERT_FATAL(BS != NULL);
	CU_ASSERT_FATAL(fe_dev_open(&D, BS, NULL) == 0);
	inval0 = fe_vring_stat(D.vid, FE_RXQ, "_invalid_descriptor_chains");
	CU_ASSERT_FATAL(inval0 >= 0);
	first = fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 1024, 1, false);
	bad = post_rx_desc(1ull << 40, 1024);	/* outside guest memory */
	CU_ASSERT_FATAL(first >= 0);
	/* 1500 bytes need a second good buffer: none yet, for 3 bursts. */
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(fe_enqueue_one(&D, sizeof(want), 77, 0), 0);
	CU_ASSERT_EQUAL(fm_vring_used_pending(fe_rxq(&D)), 0);
	CU_ASSERT_EQUAL(fe_vring_stat(D.vid, FE_RXQ,
			"_invalid_descriptor_chains"), inval0);
	CU_ASSERT_FATAL(fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 1024, 1, false) >= 0);
	CU_ASSERT_EQUAL_FATAL(fe_enqueue_one(&D, sizeof(want), 77, 0), 1);
	CU_ASSERT_EQUAL(fe_vring_stat(D.vid, FE_RXQ,
			"_invalid_descriptor_chains"), inval0 + 1);
	CU_ASSERT_FATAL(fm_vring_pop_used(fe_rxq(&D), &e, NULL));
	CU_ASSERT_EQUAL(e.id, (uint32_t)bad);
	CU_ASSERT_EQUAL(e.len, 0);
	CU_ASSERT_EQUAL(fm_net_recv(fe_rxq(&D), &D.m.mem, true, &hdr, got,
			sizeof(got), &nbufs), (int)sizeof(want));
	CU_ASSERT_EQUAL(nbufs, 2);
	fe_packet(want, sizeof(want), 77);
	CU_ASSERT(memcmp(got, want, sizeof(want)) == 0);
	CU_ASSERT_EQUAL(fm_vring_used_pending(fe_rxq(&D)), 0);
}

/* VRING_AVAIL_F_NO_INTERRUPT: the driver asks not to be called. */
static void
test_rx_notification_suppressed(void)
{
	open_default();
	fe_rxq(&D)->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	fm_vring_take_calls(fe_rxq(&D));
	CU_ASSERT(fe_rx_check(&D, 300, 1));
	CU_ASSERT_EQUAL(fm_vring_take_calls(fe_rxq(&D)), 0);
	fe_rxq(&D)->avail->flags = 0;
	CU_ASSERT(fe_rx_check(&D, 300, 2));
	CU_ASSERT(fm_vring_take_calls(fe_rxq(&D)) > 0);
}

/* Without MRG_RXBUF a packet goes into one chain of descriptors. */
static void
test_rx_non_mergeable_chain(void)
{
	static uint8_t want[2500], got[3072];
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct vring_used_elem e;
	struct fm_chain c;
	struct fm_config cfg;
	int head;

	fm_config_default(&cfg);
	cfg.features &= ~FM_BIT(VIRTIO_NET_F_MRG_RXBUF);
	CU_ASSERT_FATAL(fe_dev_open(&D, B, &cfg) == 0);
	head = fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 1024, 3, false);
	CU_ASSERT_FATAL(head >= 0);
	CU_ASSERT_EQUAL_FATAL(fe_enqueue_one(&D, 2500, 31, 0), 1);
	CU_ASSERT_FATAL(fm_vring_pop_used(fe_rxq(&D), &e, &c));
	CU_ASSERT_EQUAL(e.id, (uint32_t)head);
	CU_ASSERT_EQUAL_FATAL(e.len, FM_NET_HDR_LEN + 2500);
	CU_ASSERT_FATAL(fm_net_read_chain(&D.m.mem, &c, e.len, got) ==
			(int)e.len);
	memcpy(&hdr, got, sizeof(hdr));
	CU_ASSERT(hdr_is_plain(&hdr));
	fe_packet(want, sizeof(want), 31);
	CU_ASSERT(memcmp(got + FM_NET_HDR_LEN, want, sizeof(want)) == 0);
	/* The same through an indirect table. */
	head = fm_net_post_rx(fe_rxq(&D), &D.m.mem, 1, 512, 4, true);
	CU_ASSERT_FATAL(head >= 0);
	CU_ASSERT_EQUAL_FATAL(fe_enqueue_one(&D, 1800, 32, 0), 1);
	CU_ASSERT_FATAL(fm_vring_pop_used(fe_rxq(&D), &e, &c));
	CU_ASSERT_EQUAL(e.id, (uint32_t)head);
	CU_ASSERT_EQUAL_FATAL(e.len, FM_NET_HDR_LEN + 1800);
	CU_ASSERT_FATAL(fm_net_read_chain(&D.m.mem, &c, e.len, got) ==
			(int)e.len);
	fe_packet(want, 1800, 32);
	CU_ASSERT(memcmp(got + FM_NET_HDR_LEN, want, 1800) == 0);
}

/* A mergeable buffer given through an indirect table of two pieces. */
static void
test_rx_indirect_buffer(void)
{
	static uint8_t want[900], got[1024];
	struct vring_used_elem e;
	struct fm_chain c;
	int head;

	open_default();
	head = fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 512, 2, true);
	CU_ASSERT_FATAL(head >= 0);
	CU_ASSERT_EQUAL_FATAL(fe_enqueue_one(&D, 900, 41, 0), 1);
	CU_ASSERT_FATAL(fm_vring_pop_used(fe_rxq(&D), &e, &c));
	CU_ASSERT_EQUAL(e.id, (uint32_t)head);
	CU_ASSERT_EQUAL_FATAL(e.len, FM_NET_HDR_LEN + 900);
	CU_ASSERT_FATAL(fm_net_read_chain(&D.m.mem, &c, e.len, got) ==
			(int)e.len);
	fe_packet(want, sizeof(want), 41);
	CU_ASSERT(memcmp(got + FM_NET_HDR_LEN, want, sizeof(want)) == 0);
}

/* Buffers in the second region (at a mmap_offset, above a hole). */
static void
test_rx_second_region(void)
{
	open_default();
	D.buf_region = 1;
	CU_ASSERT(fe_rx_check(&D, 1500, 3));
	CU_ASSERT(fe_rx_check(&D, 5000, 4));
}

static void
test_rx_multiseg_mbuf(void)
{
	static uint8_t want[1500], got[2048];
	struct virtio_net_hdr_mrg_rxbuf hdr;
	int nbufs;

	open_default();
	CU_ASSERT_FATAL(fm_net_post_rx(fe_rxq(&D), &D.m.mem, 0, 2048, 1, false)
			>= 0);
	CU_ASSERT_EQUAL_FATAL(fe_enqueue_one(&D, 1500, 51, 300), 1);
	CU_ASSERT_EQUAL(fm_net_recv(fe_rxq(&D), &D.m.mem, true, &hdr, got,
			sizeof(got), &nbufs), 1500);
	fe_packet(want, sizeof(want), 51);
	CU_ASSERT(memcmp(got, want, sizeof(want)) == 0);
}

/* --- guest -> host --- */

/* Posts, dequeues and checks one TX packet, and its used element. */
static void
tx_one(uint32_t len, uint32_t seed, enum fm_tx_layout layout,
		uint32_t seg_len, int region)
{
	static uint8_t want[70 * 1024], got[70 * 1024];
	struct vring_used_elem e;
	struct rte_mbuf *mb[2];
	int head, n;

	fe_packet(want, len, seed);
	head = fm_net_post_tx(fe_txq(&D), &D.m.mem, region, want, len, layout,
			seg_len);
	CU_ASSERT_FATAL(head >= 0);
	fm_vring_kick(fe_txq(&D));
	n = fe_dequeue_wait(D.vid, mb, 1, 2, 1000);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(rte_pktmbuf_pkt_len(mb[0]), len);
	CU_ASSERT(fe_mbuf_copy_out(mb[0], got, sizeof(got)) == (int)len &&
			memcmp(got, want, len) == 0);
	if (len > rte_pktmbuf_data_room_size(fe_pool))
		CU_ASSERT(mb[0]->nb_segs > 1);
	rte_pktmbuf_free(mb[0]);
	CU_ASSERT_FATAL(fm_vring_pop_used(fe_txq(&D), &e, NULL));
	CU_ASSERT_EQUAL(e.id, (uint32_t)head);
	/* The device wrote nothing into a TX chain. */
	CU_ASSERT_EQUAL(e.len, 0);
}

static void
test_tx_single_desc(void)
{
	open_default();
	tx_one(60, 1, FM_TX_ONE_DESC, 0, 0);
	tx_one(1514, 2, FM_TX_ONE_DESC, 0, 0);
}

static void
test_tx_header_apart(void)
{
	open_default();
	tx_one(60, 3, FM_TX_HDR_APART, 0, 0);
	tx_one(1514, 4, FM_TX_HDR_APART, 0, 0);
}

static void
test_tx_chained(void)
{
	open_default();
	tx_one(1514, 5, FM_TX_CHAINED, 100, 0);
	tx_one(1000, 6, FM_TX_CHAINED, 16, 0);
}

static void
test_tx_indirect(void)
{
	open_default();
	tx_one(1514, 7, FM_TX_INDIRECT, 256, 0);
	tx_one(60, 8, FM_TX_INDIRECT, 60, 0);
}

/* Packets larger than an mbuf come out as mbuf chains. */
static void
test_tx_large_multiseg(void)
{
	open_default();
	tx_one(9000, 9, FM_TX_CHAINED, 4096, 0);
	tx_one(65000, 10, FM_TX_CHAINED, 4096, 0);
	tx_one(20000, 11, FM_TX_INDIRECT, 1000, 1);
	tx_one(9000, 12, FM_TX_HDR_APART, 0, 1);
}

static void
test_tx_second_region(void)
{
	open_default();
	tx_one(1514, 13, FM_TX_HDR_APART, 0, 1);
	tx_one(1514, 14, FM_TX_CHAINED, 500, 1);
}

static void
test_tx_burst_mixed(void)
{
	static uint8_t want[2048], got[2048];
	struct vring_used_elem e;
	struct rte_mbuf *mb[32];
	int heads[16], i, n;

	open_default();
	for (i = 0; i < 16; i++) {
		uint32_t len = 60 + 90 * (uint32_t)i;

		fe_packet(want, len, 100 + (uint32_t)i);
		heads[i] = fm_net_post_tx(fe_txq(&D), &D.m.mem, i % 2, want, len,
				(enum fm_tx_layout)(i % 4), 128);
		CU_ASSERT_FATAL(heads[i] >= 0);
	}
	fm_vring_kick(fe_txq(&D));
	n = fe_dequeue_wait(D.vid, mb, 16, 32, 1000);
	CU_ASSERT_EQUAL_FATAL(n, 16);
	for (i = 0; i < n; i++) {
		uint32_t len = 60 + 90 * (uint32_t)i;

		fe_packet(want, len, 100 + (uint32_t)i);
		CU_ASSERT(fe_mbuf_copy_out(mb[i], got, sizeof(got)) ==
				(int)len && memcmp(got, want, len) == 0);
		rte_pktmbuf_free(mb[i]);
	}
	for (i = 0; i < 16; i++) {
		CU_ASSERT_FATAL(fm_vring_pop_used(fe_txq(&D), &e, NULL));
		CU_ASSERT_EQUAL(e.id, (uint32_t)heads[i]);
	}
}

/* Posts one direct descriptor of len bytes at gpa, flags 0 (device
 * reads): the fast shape's layout, whatever the address and length. */
static int
post_tx_desc(uint64_t addr, uint32_t len)
{
	uint16_t id;

	CU_ASSERT_FATAL(fm_vring_alloc(fe_txq(&D), 1, &id) == 0);
	fe_txq(&D)->desc[id] = (struct vring_desc){ .addr = addr, .len = len };
	fm_vring_publish(fe_txq(&D), id);
	return id;
}

/* One burst mixing chains of the fast two-pass shape with chains that
 * must leave it (refused by the walker inside the fast pass, larger than
 * an mbuf, header apart, too short for the header): each comes out as
 * the general path makes it, in order, every chain is used exactly once
 * and each refusal is counted once. */
static void
test_tx_fast_shape_fallbacks(void)
{
	enum { NPOST = 8 };
	static const uint32_t lens[NPOST] = { 60, 100, 9000, 200, 8, 1514, 60, 64 };
	static uint8_t want[NPOST][9000], got[9000];
	const int good[] = { 0, 2, 3, 5, 6, 7 };
	int64_t inval0, drop0;
	struct vring_used_elem e;
	struct rte_mbuf *mb[16];
	int heads[NPOST], i, n;

	/* The counters need the statistics flag: a backend of its own. */
	if (BS == NULL)
		BS = fe_backend_start("stats", RTE_VHOST_USER_NET_STATS_ENABLE);
	CU_ASSERT_FATAL(BS != NULL);
	CU_ASSERT_FATAL(fe_dev_open(&D, BS, NULL) == 0);
	inval0 = fe_vring_stat(D.vid, FE_TXQ, "_invalid_descriptor_chains");
	drop0 = fe_vring_stat(D.vid, FE_TXQ, "_dropped_packets");
	CU_ASSERT_FATAL(inval0 >= 0 && drop0 >= 0);
	for (i = 0; i < NPOST; i++) {
		fe_packet(want[i], lens[i], 300 + (uint32_t)i);
		if (i == 1) {
			/* Fast layout, address outside guest memory. */
			heads[i] = post_tx_desc(1ull << 40, lens[i]);
		} else if (i == 4) {
			uint8_t *b = fm_mem_alloc(&D.m.mem, 0, 64, 64);

			CU_ASSERT_FATAL(b != NULL);
			heads[i] = post_tx_desc(fm_ptr_gpa(&D.m.mem, b), lens[i]);
		} else {
			heads[i] = fm_net_post_tx(fe_txq(&D), &D.m.mem, 0, want[i],
					lens[i], i == 3 ? FM_TX_HDR_APART :
					FM_TX_ONE_DESC, 0);
		}
		CU_ASSERT_FATAL(heads[i] >= 0);
	}
	fm_vring_kick(fe_txq(&D));
	n = fe_dequeue_wait(D.vid, mb, 6, 16, 1000);
	CU_ASSERT_EQUAL_FATAL(n, 6);
	for (i = 0; i < n; i++) {
		uint32_t len = lens[good[i]];

		CU_ASSERT(fe_mbuf_copy_out(mb[i], got, sizeof(got)) ==
				(int)len && memcmp(got, want[good[i]], len) == 0);
		rte_pktmbuf_free(mb[i]);
	}
	for (i = 0; i < NPOST; i++) {
		CU_ASSERT_FATAL(fm_vring_pop_used(fe_txq(&D), &e, NULL));
		CU_ASSERT_EQUAL(e.id, (uint32_t)heads[i]);
	}
	CU_ASSERT_EQUAL(fm_vring_used_pending(fe_txq(&D)), 0);
	/* The address refused by the fast pass; the short chain is a bad
	 * packet, not a bad chain: both dropped. */
	CU_ASSERT_EQUAL(fe_vring_stat(D.vid, FE_TXQ,
			"_invalid_descriptor_chains"), inval0 + 1);
	CU_ASSERT_EQUAL(fe_vring_stat(D.vid, FE_TXQ, "_dropped_packets"),
			drop0 + 2);
}

/* A burst stops at count; the rest waits for the next call. */
static void
test_tx_count_limits_burst(void)
{
	struct rte_mbuf *mb[8];
	uint8_t pkt[100];
	int i, n;

	open_default();
	for (i = 0; i < 8; i++) {
		fe_packet(pkt, sizeof(pkt), (uint32_t)i);
		CU_ASSERT_FATAL(fm_net_post_tx(fe_txq(&D), &D.m.mem, 0, pkt,
				sizeof(pkt), FM_TX_ONE_DESC, 0) >= 0);
	}
	n = rte_vhost_dequeue_burst(D.vid, FE_TXQ, fe_pool, mb, 3);
	CU_ASSERT_EQUAL(n, 3);
	while (n > 0)
		rte_pktmbuf_free(mb[--n]);
	n = fe_dequeue_wait(D.vid, mb, 5, 8, 1000);
	CU_ASSERT_EQUAL(n, 5);
	while (n > 0)
		rte_pktmbuf_free(mb[--n]);
	CU_ASSERT_EQUAL(fm_vring_used_pending(fe_txq(&D)), 8);
}

static void
test_tx_empty_ring(void)
{
	struct rte_mbuf *mb[4];

	open_default();
	CU_ASSERT_EQUAL(rte_vhost_dequeue_burst(D.vid, FE_TXQ, fe_pool, mb, 4),
			0);
	CU_ASSERT_EQUAL(fm_vring_used_pending(fe_txq(&D)), 0);
}

static void
test_tx_notifications(void)
{
	open_default();
	fm_vring_take_calls(fe_txq(&D));
	CU_ASSERT(fe_tx_check(&D, 100, 1, FM_TX_ONE_DESC, 0));
	CU_ASSERT(fm_vring_take_calls(fe_txq(&D)) > 0);
	fe_txq(&D)->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	CU_ASSERT(fe_tx_check(&D, 100, 2, FM_TX_ONE_DESC, 0));
	CU_ASSERT_EQUAL(fm_vring_take_calls(fe_txq(&D)), 0);
}

static CU_TestInfo rx_tests[] = {
	{ "single_buffer", test_rx_single_buffer },
	{ "header_only_changes", test_rx_header_only_changes },
	{ "mergeable_spans_buffers", test_rx_mergeable_spans_buffers },
	{ "large_packet_mergeable", test_rx_large_packet_mergeable },
	{ "burst", test_rx_burst },
	{ "more_packets_than_buffers", test_rx_more_packets_than_buffers },
	{ "refused_inside_waiting_packet", test_rx_refused_inside_waiting_packet },
	{ "notification_suppressed", test_rx_notification_suppressed },
	{ "non_mergeable_chain", test_rx_non_mergeable_chain },
	{ "indirect_buffer", test_rx_indirect_buffer },
	{ "second_region", test_rx_second_region },
	{ "multiseg_mbuf", test_rx_multiseg_mbuf },
	CU_TEST_INFO_NULL,
};

static CU_TestInfo tx_tests[] = {
	{ "single_desc", test_tx_single_desc },
	{ "header_apart", test_tx_header_apart },
	{ "chained", test_tx_chained },
	{ "indirect", test_tx_indirect },
	{ "large_multiseg", test_tx_large_multiseg },
	{ "second_region", test_tx_second_region },
	{ "burst_mixed", test_tx_burst_mixed },
	{ "fast_shape_fallbacks", test_tx_fast_shape_fallbacks },
	{ "count_limits_burst", test_tx_count_limits_burst },
	{ "empty_ring", test_tx_empty_ring },
	{ "notifications", test_tx_notifications },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	FE_DEV_SUITE("rx", rx_tests),
	FE_DEV_SUITE("tx", tx_tests),
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	return fe_main_one_backend("datapath", "data", &B, suites, argc, argv);
}
