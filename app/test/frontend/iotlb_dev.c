/* SPDX-License-Identifier: BSD-3-Clause */
/* The device of the IOTLB tests and its traffic helpers: see iotlb_dev.h. */
#include "iotlb_dev.h"

#include <stdatomic.h>
#include <string.h>

#include <CUnit/CUnit.h>

struct fe_backend *BI;
struct fe_backend *BW;
struct fe_backend *BP;
struct iodev D, W;

void
iodev_reset(struct iodev *x)
{
	memset(x, 0, sizeof(*x));
	fm_frontend_attach(&x->d.m, -1);
	fm_iommu_init(&x->io);
	x->d.vid = -1;
}

void
iodev_close(struct iodev *x)
{
	fe_dev_close(&x->d, true);
	fm_iommu_fini(&x->io);
}

/* Answers misses until the backend calls new_device (bounded). */
static bool
serve_until_running(struct iodev *x, int before)
{
	int64_t deadline = fm_now_ms() + FE_EVENT_MS;

	while (atomic_load(&x->d.b->ev.new_device) <= before) {
		if (fm_now_ms() >= deadline)
			return fe_fail("new_device did not come (%llu misses, %llu answered)",
					(unsigned long long)x->io.misses_received,
					(unsigned long long)x->io.misses_answered);
		if (fm_iommu_serve(&x->d.m, &x->io, 5) < 0)
			return fe_fail("request channel failed");
	}
	x->d.vid = atomic_load(&x->d.b->ev.vid);
	return true;
}

/* Connects and starts with the IOMMU; the rings' misses are answered. */
int
iodev_open(struct iodev *x, struct fe_backend *b)
{
	struct fm_config cfg;
	int before = atomic_load(&b->ev.new_device);
	int ret;

	iodev_reset(x);
	x->d.b = b;
	x->d.buf_region = BUF_REGION;
	fm_config_default(&cfg);
	if (fm_frontend_connect(&x->d.m, b->path) < 0) {
		fe_fail("cannot connect to %s", b->path);
		return -1;
	}
	ret = fm_iommu_handshake(&x->d.m, &x->io, &cfg);
	if (ret != FM_OK) {
		fe_fail("IOMMU handshake: %s", fm_result_name(ret));
		return -1;
	}
	return serve_until_running(x, before) ? 0 : -1;
}

/* Zeroed guest memory in region, at the IOVA of the region's window. */
uint64_t
buf_alloc(struct iodev *x, int region, uint64_t size, uint64_t align,
		uint8_t **ptr)
{
	struct fm_region *r = &x->d.m.mem.r[region];
	uint8_t *p = fm_mem_alloc(&x->d.m.mem, region, size, align);

	if (p == NULL)
		return UINT64_MAX;
	if (ptr != NULL)
		*ptr = p;
	return FM_IOVA_REGION(region) + (uint64_t)(p - r->base);
}

/* A page of region for a test's own mapping. */
uint8_t *
page_alloc(struct iodev *x, int region, int npages)
{
	return fm_mem_alloc(&x->d.m.mem, region, FM_IOMMU_PAGE * npages,
			FM_IOMMU_PAGE);
}

/* npages fresh pages of BUF_REGION that the guest maps at iova with
 * perm; the backend is not told. */
uint8_t *
guest_map(uint64_t iova, int npages, uint8_t perm)
{
	uint8_t *p = page_alloc(&D, BUF_REGION, npages);

	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT_FATAL(fm_iommu_map(&D.io, iova, p,
			FM_IOMMU_PAGE * (uint64_t)npages, perm) == 0);
	return p;
}

/* A packet without 0xee bytes: 0xee is what tests scribble. */
void
packet_no_ee(uint8_t *buf, uint32_t len, uint32_t seed)
{
	uint32_t i;

	fe_packet(buf, len, seed);
	for (i = 0; i < len; i++)
		if (buf[i] == 0xee)
			buf[i] = 0x11;
}

/* Writes a zero header and pkt at iova and posts them in one descriptor. */
int
post_tx(struct iodev *x, uint64_t iova, const uint8_t *pkt, uint32_t len)
{
	static const uint8_t zero[FM_NET_HDR_LEN];
	struct fm_seg s = { iova, FM_NET_HDR_LEN + len, false };

	if (fm_iommu_write(&x->io, iova, zero, FM_NET_HDR_LEN) < 0 ||
			fm_iommu_write(&x->io, iova + FM_NET_HDR_LEN, pkt, len) < 0)
		return -1;
	return fm_vring_add_chain(&x->d.m.vr[FE_TXQ], &s, 1);
}

/* Posts one device-writable buffer at iova, poisoned first. */
int
post_rx(struct iodev *x, uint64_t iova, uint32_t len)
{
	struct fm_seg s = { iova, len, true };

	if (fm_iommu_fill(&x->io, iova, FM_NET_POISON, len) < 0)
		return -1;
	return fm_vring_add_chain(&x->d.m.vr[FE_RXQ], &s, 1);
}

/* Dequeues until want packets came, answering misses meanwhile. */
int
dequeue_serving(struct iodev *x, struct rte_mbuf **pkts, int want, int max,
		int timeout_ms)
{
	int64_t deadline = fm_now_ms() + timeout_ms;
	int got = 0;

	for (;;) {
		got += rte_vhost_dequeue_burst(x->d.vid, FE_TXQ, fe_pool,
				pkts + got, (uint16_t)(max - got));
		if (got >= want || got >= max || fm_now_ms() >= deadline)
			return got;
		if (fm_iommu_serve(&x->d.m, &x->io, 1) < 0)
			return got;
	}
}

/* The packet in m is exactly want[0..len). */
bool
mbuf_is(struct rte_mbuf *m, const uint8_t *want, uint32_t len)
{
	static uint8_t got[70 * 1024];

	return fe_same_bytes("host", got,
			fe_mbuf_copy_out(m, got, sizeof(got)), want, len);
}

/* The TX chain head carrying pkt[0..len) comes out as one packet
 * (misses answered meanwhile) and comes back as used. */
void
expect_tx_one(const uint8_t *pkt, uint32_t len, uint32_t head)
{
	struct vring_used_elem e;
	struct rte_mbuf *mb[4];
	int n = dequeue_serving(&D, mb, 1, 4, FE_EVENT_MS);

	CU_ASSERT_EQUAL(n, 1);
	if (n >= 1)
		CU_ASSERT(mbuf_is(mb[0], pkt, len));
	while (n > 0)
		rte_pktmbuf_free(mb[--n]);
	CU_ASSERT(fm_vring_pop_used(&D.d.m.vr[FE_TXQ], &e, NULL) &&
			e.id == head);
}

/* Posts pkt[0..len) at iova on D and kicks; for ms milliseconds nothing
 * may come out nor be used (the buffer misses). Returns the head. */
int
post_tx_stalled(uint64_t iova, const uint8_t *pkt, uint32_t len, int ms)
{
	struct fm_vring *tx = &D.d.m.vr[FE_TXQ];
	int h = post_tx(&D, iova, pkt, len);

	CU_ASSERT_FATAL(h >= 0);
	fm_vring_kick(tx);
	CU_ASSERT_EQUAL(fe_dequeue_for(D.d.vid, ms), 0);
	CU_ASSERT_EQUAL(fm_vring_used_pending(tx), 0);
	return h;
}

/* Guest -> host through a buffer at its region IOVA. */
bool
tx_check(struct iodev *x, uint32_t len, uint32_t seed)
{
	static uint8_t pkt[4096];
	struct vring_used_elem e;
	struct rte_mbuf *mb[4];
	uint64_t iova = buf_alloc(x, BUF_REGION, FM_NET_HDR_LEN + len, 64, NULL);
	bool ok = true;
	int head, n, i;

	if (len > sizeof(pkt) || iova == UINT64_MAX)
		return fe_fail("no room for a TX buffer");
	fe_packet(pkt, len, seed);
	head = post_tx(x, iova, pkt, len);
	if (head < 0)
		return fe_fail("cannot post TX packet");
	fm_vring_kick(&x->d.m.vr[FE_TXQ]);
	n = dequeue_serving(x, mb, 1, 4, FE_EVENT_MS);
	if (n != 1)
		ok = fe_fail("dequeue gave %d packets, want 1", n);
	else
		ok = mbuf_is(mb[0], pkt, len);
	for (i = 0; i < n; i++)
		rte_pktmbuf_free(mb[i]);
	if (!fm_vring_pop_used(&x->d.m.vr[FE_TXQ], &e, NULL))
		return fe_fail("TX chain not returned");
	if (e.id != (uint32_t)head)
		return fe_fail("used id %u, want %d", e.id, head);
	return ok;
}

/* Waits until the RX ring has n used elements, answering misses. */
bool
wait_used(struct iodev *x, uint16_t q, uint16_t n, int timeout_ms)
{
	int64_t deadline = fm_now_ms() + timeout_ms;

	while (fm_vring_used_pending(&x->d.m.vr[q]) < n) {
		if (fm_now_ms() >= deadline)
			return false;
		if (fm_iommu_serve(&x->d.m, &x->io, 1) < 0)
			return false;
	}
	return true;
}

/* Enqueues pkt until taken (a library may refuse it on a miss and
 * expect a retry), answering misses, until the guest has it. */
bool
enqueue_until_used(struct iodev *x, struct rte_mbuf *mb, int timeout_ms)
{
	struct fm_vring *vr = &x->d.m.vr[FE_RXQ];
	int64_t deadline = fm_now_ms() + timeout_ms;
	bool sent = false;

	while (fm_vring_used_pending(vr) == 0) {
		if (!sent)
			sent = rte_vhost_enqueue_burst(x->d.vid, FE_RXQ, &mb, 1) == 1;
		if (fm_now_ms() >= deadline)
			return fe_fail("RX packet not delivered (enqueued: %d)", sent);
		if (fm_iommu_serve(&x->d.m, &x->io, 1) < 0)
			return fe_fail("request channel failed");
	}
	return true;
}

/* Host -> guest into a buffer at its region IOVA. */
bool
rx_check(struct iodev *x, uint32_t len, uint32_t seed)
{
	static uint8_t pkt[2048], got[2048];
	struct virtio_net_hdr_mrg_rxbuf hdr;
	uint64_t iova = buf_alloc(x, BUF_REGION, 2048, 64, NULL);
	struct rte_mbuf *mb;
	int n, nbufs;
	bool ok;

	if (len > 2048 - FM_NET_HDR_LEN || iova == UINT64_MAX ||
			post_rx(x, iova, 2048) < 0)
		return fe_fail("cannot post an RX buffer");
	fe_packet(pkt, len, seed);
	mb = fe_mbuf_make(pkt, len, 0);
	if (mb == NULL)
		return fe_fail("no mbuf");
	ok = enqueue_until_used(x, mb, FE_EVENT_MS);
	rte_pktmbuf_free(mb);
	if (!ok)
		return false;
	n = fm_iommu_net_recv(&x->d.m.vr[FE_RXQ], &x->io, true, &hdr, got,
			sizeof(got), &nbufs);
	return fe_same_bytes("guest", got, n, pkt, len);
}

bool
traffic_ok(struct iodev *x)
{
	return rx_check(x, 64, 1) && rx_check(x, 1500, 2) &&
		tx_check(x, 60, 3) && tx_check(x, 1500, 4);
}

/* The six ring parts of queue pair 0, as IOVAs. */
void
ring_parts(const struct iodev *x, struct ring_part p[6])
{
	int q;

	for (q = 0; q < 2; q++) {
		const struct fm_vring *vr = &x->d.m.vr[q];
		uint64_t n = vr->size;

		p[3 * q] = (struct ring_part){ fm_iommu_iova(&x->io, vr->desc),
			16 * n, VHOST_ACCESS_RO };
		p[3 * q + 1] = (struct ring_part){ fm_iommu_iova(&x->io, vr->avail),
			6 + 2 * n, VHOST_ACCESS_RO };
		p[3 * q + 2] = (struct ring_part){ fm_iommu_iova(&x->io, vr->used),
			6 + 8 * n, VHOST_ACCESS_WO };
	}
}

bool
in_ring_pages(const struct ring_part p[6], uint64_t iova)
{
	int i;

	for (i = 0; i < 6; i++)
		if (FM_PAGE_OF(iova) >= FM_PAGE_OF(p[i].iova) &&
				FM_PAGE_OF(iova) <= FM_PAGE_OF(p[i].iova + p[i].len - 1))
			return true;
	return false;
}
