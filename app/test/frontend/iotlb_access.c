/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device IOTLB tests (test_frontend_iotlb.c): what an IOTLB entry lets
 * the device do. Permissions (each direction needs its own), buffers
 * spanning IOTLB entries.
 */
#include "iotlb_dev.h"

#include <string.h>

#include <CUnit/CUnit.h>

/* --- permissions --- */

/* Maps a page of BUF_REGION at iova with perm, in the guest and in the
 * backend's IOTLB. */
static uint8_t *
map_page(struct iodev *x, uint64_t iova, uint8_t perm)
{
	uint8_t *page = page_alloc(x, BUF_REGION, 1);

	if (page == NULL || fm_iommu_map(&x->io, iova, page, FM_IOMMU_PAGE,
			perm) < 0 || fm_iotlb_update_mapped(&x->d.m, &x->io, iova,
			FM_IOMMU_PAGE) != FM_OK)
		return NULL;
	return page;
}

/* RX into a read-only mapping: refused (length 0, counted, untouched);
 * the next buffer takes the packet. */
void
test_permission_rx_read_only(void)
{
	static uint8_t pkt[256], got[2048];
	const uint64_t RO = IOVA_TEST(3), GOOD = IOVA_TEST(4);
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct vring_used_elem e;
	struct rte_mbuf *mb;
	struct fm_vring *rx;
	int64_t refused0, bad0;
	uint8_t *ro_page;
	int bad_head, good_head, n, nbufs;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	rx = &D.d.m.vr[FE_RXQ];
	ro_page = map_page(&D, RO, VHOST_ACCESS_RO);
	CU_ASSERT_FATAL(ro_page != NULL);
	CU_ASSERT_FATAL(map_page(&D, GOOD, VHOST_ACCESS_RW) != NULL);
	refused0 = fe_vring_stat(D.d.vid, FE_RXQ, "iotlb_refused");
	bad0 = fe_vring_stat(D.d.vid, FE_RXQ, "invalid_descriptor_chains");
	bad_head = post_rx(&D, RO, 2048);
	good_head = post_rx(&D, GOOD, 2048);
	CU_ASSERT_FATAL(bad_head >= 0 && good_head >= 0);
	fe_packet(pkt, 200, 51);
	mb = fe_mbuf_make(pkt, 200, 0);
	CU_ASSERT_FATAL(mb != NULL);
	CU_ASSERT(enqueue_until_used(&D, mb, 1000));
	rte_pktmbuf_free(mb);
	CU_ASSERT(wait_used(&D, FE_RXQ, 2, 300));
	if (fm_vring_pop_used(rx, &e, NULL)) {
		CU_ASSERT_EQUAL(e.id, (uint32_t)bad_head);
		CU_ASSERT_EQUAL(e.len, 0);
	}
	n = fm_iommu_net_recv(rx, &D.io, true, &hdr, got, sizeof(got), &nbufs);
	CU_ASSERT_EQUAL(n, 200);
	CU_ASSERT(n == 200 && memcmp(got, pkt, 200) == 0);
	CU_ASSERT(fe_all_bytes(ro_page, FM_NET_POISON, 2048));
	CU_ASSERT(fe_vring_stat(D.d.vid, FE_RXQ, "iotlb_refused") > refused0);
	CU_ASSERT(fe_vring_stat(D.d.vid, FE_RXQ, "invalid_descriptor_chains") > bad0);
	CU_ASSERT(rx_check(&D, 300, 54));
}

/*
 * The same with the refused buffer alone in the ring: it goes back to
 * the guest (length 0) at once and is counted once, though no packet
 * could be placed. A backend that rolls the refused chain back with the
 * packet walks and counts it again at every enqueue, and the guest never
 * gets its buffer back.
 */
void
test_permission_rx_read_only_alone(void)
{
	static uint8_t pkt[256];
	const uint64_t RO = IOVA_TEST(3);
	struct vring_used_elem e;
	struct rte_mbuf *mb;
	int64_t refused0, bad0;
	uint8_t *ro_page;
	int head, i;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	ro_page = map_page(&D, RO, VHOST_ACCESS_RO);
	CU_ASSERT_FATAL(ro_page != NULL);
	refused0 = fe_vring_stat(D.d.vid, FE_RXQ, "iotlb_refused");
	bad0 = fe_vring_stat(D.d.vid, FE_RXQ, "invalid_descriptor_chains");
	head = post_rx(&D, RO, 2048);
	CU_ASSERT_FATAL(head >= 0);
	fe_packet(pkt, 200, 57);
	for (i = 0; i < 3; i++) {
		mb = fe_mbuf_make(pkt, 200, 0);
		CU_ASSERT_FATAL(mb != NULL);
		/* Nowhere to put it: not taken (and not held, no miss). */
		CU_ASSERT_EQUAL(rte_vhost_enqueue_burst(D.d.vid, FE_RXQ, &mb, 1), 0);
		rte_pktmbuf_free(mb);
	}
	CU_ASSERT(wait_used(&D, FE_RXQ, 1, 300));
	if (fm_vring_pop_used(&D.d.m.vr[FE_RXQ], &e, NULL)) {
		CU_ASSERT_EQUAL(e.id, (uint32_t)head);
		CU_ASSERT_EQUAL(e.len, 0);
	}
	CU_ASSERT(fe_all_bytes(ro_page, FM_NET_POISON, 2048));
	CU_ASSERT_EQUAL(fe_vring_stat(D.d.vid, FE_RXQ, "iotlb_refused"), refused0 + 1);
	CU_ASSERT_EQUAL(fe_vring_stat(D.d.vid, FE_RXQ, "invalid_descriptor_chains"),
			bad0 + 1);
}

/* TX from a write-only mapping: refused, never delivered. */
void
test_permission_tx_write_only(void)
{
	static uint8_t pkt[256];
	const uint64_t WO = IOVA_TEST(5);
	struct vring_used_elem e;
	struct rte_mbuf *mb[4];
	struct fm_vring *tx;
	int64_t refused0, bad0, deadline;
	int head, n, total = 0;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	tx = &D.d.m.vr[FE_TXQ];
	CU_ASSERT_FATAL(map_page(&D, WO, VHOST_ACCESS_WO) != NULL);
	refused0 = fe_vring_stat(D.d.vid, FE_TXQ, "iotlb_refused");
	bad0 = fe_vring_stat(D.d.vid, FE_TXQ, "invalid_descriptor_chains");
	fe_packet(pkt, 100, 52);
	head = post_tx(&D, WO, pkt, 100);
	CU_ASSERT_FATAL(head >= 0);
	fm_vring_kick(tx);
	deadline = fm_now_ms() + FE_EVENT_MS;
	while (fm_now_ms() < deadline) {
		n = rte_vhost_dequeue_burst(D.d.vid, FE_TXQ, fe_pool, mb, 4);
		total += n;
		while (n > 0)
			rte_pktmbuf_free(mb[--n]);
		if (fm_vring_used_pending(tx) > 0)
			break;
		fm_iommu_serve(&D.d.m, &D.io, 1);
	}
	CU_ASSERT_EQUAL(total, 0);
	CU_ASSERT_FATAL(fm_vring_pop_used(tx, &e, NULL));
	CU_ASSERT_EQUAL(e.id, (uint32_t)head);
	CU_ASSERT_EQUAL(e.len, 0);
	CU_ASSERT(fe_vring_stat(D.d.vid, FE_TXQ, "iotlb_refused") > refused0);
	CU_ASSERT(fe_vring_stat(D.d.vid, FE_TXQ, "invalid_descriptor_chains") > bad0);
	/* A well-formed packet after it passes. */
	CU_ASSERT(tx_check(&D, 300, 53));
}

/* The least a direction needs is enough: Linux maps RX buffers
 * write-only (DMA_FROM_DEVICE) and TX buffers read-only. */
void
test_permission_least_needed(void)
{
	static uint8_t pkt[256], got[2048];
	const uint64_t WO = IOVA_TEST(17), RO = IOVA_TEST(18);
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct rte_mbuf *mb[4];
	int n, nbufs;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	CU_ASSERT_FATAL(map_page(&D, WO, VHOST_ACCESS_WO) != NULL);
	CU_ASSERT_FATAL(map_page(&D, RO, VHOST_ACCESS_RO) != NULL);
	CU_ASSERT_FATAL(post_rx(&D, WO, 2048) >= 0);
	fe_packet(pkt, 200, 55);
	mb[0] = fe_mbuf_make(pkt, 200, 0);
	CU_ASSERT_FATAL(mb[0] != NULL);
	CU_ASSERT(enqueue_until_used(&D, mb[0], 1000));
	rte_pktmbuf_free(mb[0]);
	n = fm_iommu_net_recv(&D.d.m.vr[FE_RXQ], &D.io, true, &hdr, got,
			sizeof(got), &nbufs);
	CU_ASSERT(n == 200 && memcmp(got, pkt, 200) == 0);

	fe_packet(pkt, 200, 56);
	CU_ASSERT_FATAL(post_tx(&D, RO, pkt, 200) >= 0);
	fm_vring_kick(&D.d.m.vr[FE_TXQ]);
	n = dequeue_serving(&D, mb, 1, 4, 1000);
	CU_ASSERT_EQUAL(n, 1);
	if (n >= 1)
		CU_ASSERT(mbuf_is(mb[0], pkt, 200));
	while (n > 0)
		rte_pktmbuf_free(mb[--n]);
}

/* --- buffers spanning two IOTLB entries --- */

void
test_straddle(void)
{
	static uint8_t pkt[3000], got[4096];
	const uint64_t P = IOVA_TEST(6), P2 = IOVA_TEST(7), Q = IOVA_TEST(8);
	struct vring_desc table[2];
	struct vring_used_elem e;
	struct fm_chain c;
	struct fm_vring *tx, *rx;
	struct rte_mbuf *mb[4];
	uint8_t *x1, *y1, *x2, *y2, *x3, *y3;
	uint64_t data, buf;
	uint16_t head;
	int h;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	tx = &D.d.m.vr[FE_TXQ];
	rx = &D.d.m.vr[FE_RXQ];
	/* Each IOVA pair maps pages of two regions: never contiguous for
	 * the frontend nor for the backend. */
	x1 = page_alloc(&D, 1, 1);
	y1 = page_alloc(&D, 0, 1);
	x2 = page_alloc(&D, 1, 1);
	y2 = page_alloc(&D, 0, 1);
	x3 = page_alloc(&D, 1, 1);
	y3 = page_alloc(&D, 0, 1);
	CU_ASSERT_FATAL(x1 && y1 && x2 && y2 && x3 && y3);
	CU_ASSERT_FATAL(fm_iommu_map(&D.io, P, x1, FM_IOMMU_PAGE, VHOST_ACCESS_RO) == 0);
	CU_ASSERT_FATAL(fm_iommu_map(&D.io, P + FM_IOMMU_PAGE, y1, FM_IOMMU_PAGE, VHOST_ACCESS_RO) == 0);
	CU_ASSERT_FATAL(fm_iommu_map(&D.io, P2, x2, FM_IOMMU_PAGE, VHOST_ACCESS_RO) == 0);
	CU_ASSERT_FATAL(fm_iommu_map(&D.io, P2 + FM_IOMMU_PAGE, y2, FM_IOMMU_PAGE, VHOST_ACCESS_RO) == 0);
	CU_ASSERT_FATAL(fm_iommu_map(&D.io, Q, x3, FM_IOMMU_PAGE, VHOST_ACCESS_RW) == 0);
	CU_ASSERT_FATAL(fm_iommu_map(&D.io, Q + FM_IOMMU_PAGE, y3, FM_IOMMU_PAGE, VHOST_ACCESS_RW) == 0);
	CU_ASSERT_EQUAL_FATAL(fm_iotlb_update_mapped(&D.d.m, &D.io, P, 2 * FM_IOMMU_PAGE), FM_OK);
	CU_ASSERT_EQUAL_FATAL(fm_iotlb_update_mapped(&D.d.m, &D.io, P2, 2 * FM_IOMMU_PAGE), FM_OK);
	CU_ASSERT_EQUAL_FATAL(fm_iotlb_update_mapped(&D.d.m, &D.io, Q, 2 * FM_IOMMU_PAGE), FM_OK);

	/* TX: header and 1488 bytes in one page, 1512 in the other. */
	fe_packet(pkt, sizeof(pkt), 71);
	h = post_tx(&D, P + FM_IOMMU_PAGE - 1500, pkt, sizeof(pkt));
	CU_ASSERT_FATAL(h >= 0);
	fm_vring_kick(tx);
	expect_tx_one(pkt, sizeof(pkt), (uint32_t)h);

	/* TX through an indirect table that itself spans the two pages. */
	fe_packet(pkt, 1000, 72);
	data = buf_alloc(&D, BUF_REGION, FM_NET_HDR_LEN + 1000, 64, NULL);
	CU_ASSERT_FATAL(data != UINT64_MAX);
	CU_ASSERT_FATAL(fm_iommu_fill(&D.io, data, 0, FM_NET_HDR_LEN) == 0);
	CU_ASSERT_FATAL(fm_iommu_write(&D.io, data + FM_NET_HDR_LEN, pkt, 1000) == 0);
	table[0] = (struct vring_desc){ .addr = data, .len = FM_NET_HDR_LEN,
		.flags = VRING_DESC_F_NEXT, .next = 1 };
	table[1] = (struct vring_desc){ .addr = data + FM_NET_HDR_LEN,
		.len = 1000, .flags = 0, .next = 0 };
	CU_ASSERT_FATAL(fm_iommu_write(&D.io, P2 + FM_IOMMU_PAGE - 16, table,
			sizeof(table)) == 0);
	CU_ASSERT_FATAL(fm_vring_alloc(tx, 1, &head) == 0);
	tx->desc[head] = (struct vring_desc){ .addr = P2 + FM_IOMMU_PAGE - 16,
		.len = sizeof(table), .flags = VRING_DESC_F_INDIRECT, .next = 0 };
	fm_vring_publish(tx, head);
	fm_vring_kick(tx);
	expect_tx_one(pkt, 1000, head);

	/* RX: 1000 bytes of the buffer in one page, 2000 in the other. */
	fe_packet(pkt, 2000, 73);
	buf = Q + FM_IOMMU_PAGE - 1000;
	h = post_rx(&D, buf, 3000);
	CU_ASSERT_FATAL(h >= 0);
	mb[0] = fe_mbuf_make(pkt, 2000, 0);
	CU_ASSERT_FATAL(mb[0] != NULL);
	CU_ASSERT(enqueue_until_used(&D, mb[0], FE_EVENT_MS));
	rte_pktmbuf_free(mb[0]);
	CU_ASSERT_FATAL(fm_vring_pop_used(rx, &e, &c));
	CU_ASSERT_EQUAL(e.id, (uint32_t)h);
	CU_ASSERT_EQUAL(e.len, FM_NET_HDR_LEN + 2000);
	CU_ASSERT_FATAL(fm_iommu_read(&D.io, buf, got, 3000) == 0);
	CU_ASSERT(memcmp(got + FM_NET_HDR_LEN, pkt, 2000) == 0);
	CU_ASSERT(fe_all_bytes(got + FM_NET_HDR_LEN + 2000, FM_NET_POISON,
			3000 - FM_NET_HDR_LEN - 2000));
	/* The pages seen by the frontend directly. */
	CU_ASSERT(memcmp(x3 + FM_IOMMU_PAGE - 1000 + FM_NET_HDR_LEN, pkt,
			1000 - FM_NET_HDR_LEN) == 0);
	CU_ASSERT(memcmp(y3, pkt + 1000 - FM_NET_HDR_LEN,
			2000 - (1000 - FM_NET_HDR_LEN)) == 0);
}
