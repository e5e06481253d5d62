/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device IOTLB (VIRTIO_F_IOMMU_PLATFORM) through a real vhost-user
 * connection: the frontend plays QEMU with a vIOMMU (fm_iommu.h). Every
 * address the backend gets (rings, descriptors, indirect tables) is an
 * IOVA, never a GPA or a user address, so nothing works unless the
 * backend translates through the IOTLB the frontend fills.
 *
 * Checked: negotiation, rings at IOVAs (misses, the device waits), misses
 * on both directions without losing packets, permissions, misses never
 * answered, buffers spanning IOTLB entries, INVALIDATE and its reply
 * (also against a concurrent datapath), an update storm against the
 * IOTLB bound, and malformed IOTLB messages.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <rte_log.h>
#include <rte_vhost.h>

#include "fake_frontend.h"
#include "fe_harness.h"
#include "fe_traffic.h"
#include "fm_iommu.h"

#define IOMMU_FLAGS (RTE_VHOST_USER_IOMMU_SUPPORT | \
		RTE_VHOST_USER_NET_STATS_ENABLE)

/* The library's documented constants (doc/iotlb.md), as a guest sees them.
 * The IOTLB size is set through VHOST_IOTLB_MAX_ENTRIES (main()), so that
 * the storm fills it many times over. */
#define IOTLB_MAX_ENTRIES 4096
#define IOTLB_MAX_ENTRIES_STR "4096"
#define IOTLB_MISS_TIMEOUT_MS 500

/* IOVA windows for a test's own mappings, apart from the region windows
 * (FM_IOVA_REGION) and from GPAs and user addresses. */
#define IOVA_TEST(n) (0xe00000000000ull + ((uint64_t)(n) << 24))
/* Never mapped by the guest. */
#define IOVA_NEVER 0xf00000000000ull
#define IOVA_STORM 0xc00000000000ull

/* Where buffers go unless a test says otherwise: region 1 is not touched
 * by the ring set-up, so its pages miss on first use. */
#define BUF_REGION 1

/* A device with its emulated IOMMU. */
struct iodev {
	struct fe_dev d;
	struct fm_iommu io;
};

static struct fe_backend *BI;	/* IOMMU + stats */
static struct fe_backend *BW;	/* IOMMU + stats: a second socket */
static struct fe_backend *BP;	/* stats, no IOMMU */
static struct iodev D, W;

static void
iodev_reset(struct iodev *x)
{
	memset(x, 0, sizeof(*x));
	fm_frontend_attach(&x->d.m, -1);
	fm_iommu_init(&x->io);
	x->d.vid = -1;
}

static void
iodev_close(struct iodev *x)
{
	fe_dev_close(&x->d, true);
	fm_iommu_fini(&x->io);
}

static void
test_setup(void)
{
	iodev_reset(&D);
	iodev_reset(&W);
}

static void
test_teardown(void)
{
	iodev_close(&D);
	iodev_close(&W);
}

/* Answers misses until the backend calls new_device (bounded). */
static bool
serve_until_running(struct iodev *x, int before)
{
	int64_t deadline = fm_now_ms() + FE_WAIT_MS;

	while (atomic_load(&x->d.b->new_device) <= before) {
		if (fm_now_ms() >= deadline)
			return fe_fail("new_device did not come (%llu misses, %llu answered)",
					(unsigned long long)x->io.misses_received,
					(unsigned long long)x->io.misses_answered);
		if (fm_iommu_serve(&x->d.m, &x->io, 5) < 0)
			return fe_fail("request channel failed");
	}
	x->d.vid = atomic_load(&x->d.b->vid);
	return true;
}

/* Connects and starts with the IOMMU; the rings' misses are answered. */
static int
iodev_open(struct iodev *x, struct fe_backend *b)
{
	struct fm_config cfg;
	int before = atomic_load(&b->new_device);
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
static uint64_t
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
static uint8_t *
page_alloc(struct iodev *x, int region, int npages)
{
	return fm_mem_alloc(&x->d.m.mem, region, FM_IOMMU_PAGE * npages,
			FM_IOMMU_PAGE);
}

/* npages fresh pages of BUF_REGION that the guest maps at iova with
 * perm; the backend is not told. */
static uint8_t *
guest_map(uint64_t iova, int npages, uint8_t perm)
{
	uint8_t *p = page_alloc(&D, BUF_REGION, npages);

	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT_FATAL(fm_iommu_map(&D.io, iova, p,
			FM_IOMMU_PAGE * (uint64_t)npages, perm) == 0);
	return p;
}

/* A packet without 0xee bytes: 0xee is what tests scribble. */
static void
packet_no_ee(uint8_t *buf, uint32_t len, uint32_t seed)
{
	uint32_t i;

	fe_packet(buf, len, seed);
	for (i = 0; i < len; i++)
		if (buf[i] == 0xee)
			buf[i] = 0x11;
}

/* Writes a zero header and pkt at iova and posts them in one descriptor. */
static int
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
static int
post_rx(struct iodev *x, uint64_t iova, uint32_t len)
{
	struct fm_seg s = { iova, len, true };

	if (fm_iommu_fill(&x->io, iova, FM_NET_POISON, len) < 0)
		return -1;
	return fm_vring_add_chain(&x->d.m.vr[FE_RXQ], &s, 1);
}

/* Dequeues until want packets came, answering misses meanwhile. */
static int
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
static bool
mbuf_is(struct rte_mbuf *m, const uint8_t *want, uint32_t len)
{
	static uint8_t got[70 * 1024];

	return fe_same_bytes("host", got,
			fe_mbuf_copy_out(m, got, sizeof(got)), want, len);
}

/* The TX chain head carrying pkt[0..len) comes out as one packet
 * (misses answered meanwhile) and comes back as used. */
static void
expect_tx_one(const uint8_t *pkt, uint32_t len, uint32_t head)
{
	struct vring_used_elem e;
	struct rte_mbuf *mb[4];
	int n = dequeue_serving(&D, mb, 1, 4, FE_WAIT_MS);

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
static int
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
static bool
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
	n = dequeue_serving(x, mb, 1, 4, FE_WAIT_MS);
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
static bool
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
static bool
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
static bool
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
	ok = enqueue_until_used(x, mb, FE_WAIT_MS);
	rte_pktmbuf_free(mb);
	if (!ok)
		return false;
	n = fm_iommu_net_recv(&x->d.m.vr[FE_RXQ], &x->io, true, &hdr, got,
			sizeof(got), &nbufs);
	return fe_same_bytes("guest", got, n, pkt, len);
}

static bool
traffic_ok(struct iodev *x)
{
	return rx_check(x, 64, 1) && rx_check(x, 1500, 2) &&
		tx_check(x, 60, 3) && tx_check(x, 1500, 4);
}

/* --- 1. negotiation --- */

static void
test_negotiation(void)
{
	struct fm_frontend m;
	uint64_t f = 0, pf = 0;

	CU_ASSERT_FATAL(fm_frontend_connect(&m, BI->path) == 0);
	CU_ASSERT_EQUAL(fm_get_u64(&m, FM_REQ_GET_FEATURES, &f), FM_OK);
	CU_ASSERT((f & FM_BIT(FM_F_IOMMU_PLATFORM)) != 0);
	CU_ASSERT_EQUAL(fm_get_u64(&m, FM_REQ_GET_PROTOCOL_FEATURES, &pf),
			FM_OK);
	CU_ASSERT((pf & FM_BIT(FM_PF_BACKEND_REQ)) != 0);
	CU_ASSERT((pf & FM_BIT(FM_PF_REPLY_ACK)) != 0);
	fm_frontend_close(&m);

	/* Registered without IOMMU support: not offered. */
	CU_ASSERT_FATAL(fm_frontend_connect(&m, BP->path) == 0);
	f = FM_BIT(FM_F_IOMMU_PLATFORM);
	CU_ASSERT_EQUAL(fm_get_u64(&m, FM_REQ_GET_FEATURES, &f), FM_OK);
	CU_ASSERT((f & FM_BIT(FM_F_IOMMU_PLATFORM)) == 0);
	fm_frontend_close(&m);

	/* The whole way: the application sees what was negotiated. */
	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	CU_ASSERT_EQUAL(rte_vhost_get_negotiated_features(D.d.vid, &f), 0);
	CU_ASSERT((f & FM_BIT(FM_F_IOMMU_PLATFORM)) != 0);
	CU_ASSERT_EQUAL(rte_vhost_get_negotiated_protocol_features(D.d.vid,
			&pf), 0);
	CU_ASSERT((pf & FM_BIT(FM_PF_BACKEND_REQ)) != 0);
	CU_ASSERT(traffic_ok(&D));
}

/* --- 2. rings at IOVAs --- */

struct ring_part {
	uint64_t iova;
	uint64_t len;
	uint8_t need;	/* the access the device needs */
};

/* The six ring parts of queue pair 0, as IOVAs. */
static void
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

static bool
in_ring_pages(const struct ring_part p[6], uint64_t iova)
{
	int i;

	for (i = 0; i < 6; i++)
		if (FM_PAGE_OF(iova) >= FM_PAGE_OF(p[i].iova) &&
				FM_PAGE_OF(iova) <= FM_PAGE_OF(p[i].iova + p[i].len - 1))
			return true;
	return false;
}

static void
test_rings_at_iovas(void)
{
	struct vhost_iotlb_msg miss[128];
	struct ring_part parts[6];
	struct fm_config cfg;
	int before = atomic_load(&BI->new_device);
	int64_t deadline;
	int n, i, j, total, first, same;

	D.d.b = BI;
	D.d.buf_region = BUF_REGION;
	fm_config_default(&cfg);
	CU_ASSERT_FATAL(fm_frontend_connect(&D.d.m, BI->path) == 0);
	CU_ASSERT_EQUAL_FATAL(fm_iommu_handshake(&D.d.m, &D.io, &cfg), FM_OK);
	ring_parts(&D, parts);
	for (i = 0; i < 6; i++)
		CU_ASSERT_FATAL(parts[i].iova != UINT64_MAX &&
				parts[i].iova >= FM_IOVA_REGION(0));

	/* Quick enough that no miss reaches the library's timeout. */
	n = fm_iommu_collect_misses(&D.io, miss, 128, 100, FE_WAIT_MS);
	CU_ASSERT_FATAL(n > 0 && n <= 128);
	first = n;
	/* Nothing mapped: the device must not start. */
	CU_ASSERT(fe_stays_below(&BI->new_device, before + 1, 150));

	/* Answer page by page, as QEMU does with 4K IOMMU pages: a part
	 * spanning two pages misses again on the second. */
	D.io.answer_size = FM_IOMMU_PAGE;
	total = n;
	i = 0;
	deadline = fm_now_ms() + FE_WAIT_MS;
	while (atomic_load(&BI->new_device) <= before &&
			fm_now_ms() < deadline) {
		if (i < total && i < 128) {
			CU_ASSERT(miss[i].type == VHOST_IOTLB_MISS);
			CU_ASSERT(in_ring_pages(parts, miss[i].iova));
			CU_ASSERT(miss[i].perm >= VHOST_ACCESS_RO &&
					miss[i].perm <= VHOST_ACCESS_RW);
			/* A page waiting for an answer is not asked again:
			 * at most once per ring (each ring has its own IOTLB
			 * and a MISS does not say which ring asks). Later, a
			 * page whose answer came too late may be re-asked. */
			for (j = 0, same = 0; i < first && j < i; j++)
				same += miss[j].iova == miss[i].iova &&
					miss[j].perm == miss[i].perm;
			CU_ASSERT(same < 2);
			CU_ASSERT_EQUAL(fm_iommu_answer(&D.d.m, &D.io, &miss[i]),
					FM_OK);
			i++;
			continue;
		}
		n = fm_iommu_collect_misses(&D.io, miss + (total < 128 ? total : 128),
				total < 128 ? 128 - total : 0, 5, 50);
		CU_ASSERT_FATAL(n >= 0);
		total += n;
	}
	CU_ASSERT_FATAL(atomic_load(&BI->new_device) > before);
	D.d.vid = atomic_load(&BI->vid);
	/* Each part's first page was asked, with the access it needs. */
	for (i = 0; i < 6; i++) {
		bool asked = false;

		for (j = 0; j < total && j < 128; j++)
			if (FM_PAGE_OF(miss[j].iova) == FM_PAGE_OF(parts[i].iova) &&
					(miss[j].perm & parts[i].need) == parts[i].need)
				asked = true;
		if (!asked)
			fe_fail("ring part %d (iova 0x%llx) never asked", i,
					(unsigned long long)parts[i].iova);
		CU_ASSERT(asked);
	}
	CU_ASSERT(traffic_ok(&D));
}

/* --- 3. guest -> host: miss, update, progress --- */

static void
test_tx_miss_update(void)
{
	static uint8_t pkt[3][400];
	const uint32_t len[3] = { 100, 200, 300 };
	const uint64_t P = IOVA_TEST(1);
	struct vhost_iotlb_msg miss[8];
	struct fm_vring *vr;
	struct rte_mbuf *mb[8];
	struct vring_used_elem e;
	struct rte_vhost_stat_name names[128];
	uint16_t used0;
	int head[3], n, i, total = 0;
	bool seen_hits = false, seen_misses = false;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	vr = &D.d.m.vr[FE_TXQ];
	guest_map(P, 1, VHOST_ACCESS_RO);
	for (i = 0; i < 3; i++)
		fe_packet(pkt[i], len[i], 31 + (uint32_t)i);
	used0 = __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE);
	head[0] = post_tx(&D, P, pkt[0], len[0]);
	CU_ASSERT_FATAL(head[0] >= 0);
	fm_vring_kick(vr);
	for (i = 0; i < 60; i++) {
		/* More chains in the same page while the miss is pending. */
		if (i == 10 || i == 20) {
			int k = i / 10;

			head[k] = post_tx(&D, P + 1024 * (uint64_t)k, pkt[k],
					len[k]);
			CU_ASSERT_FATAL(head[k] >= 0);
			fm_vring_kick(vr);
		}
		n = rte_vhost_dequeue_burst(D.d.vid, FE_TXQ, fe_pool, mb, 8);
		total += n;
		while (n > 0)
			rte_pktmbuf_free(mb[--n]);
		usleep(1000);
	}
	CU_ASSERT_EQUAL(total, 0);
	n = fm_iommu_collect_misses(&D.io, miss, 8, 100, 1000);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_FATAL(n >= 1);
	CU_ASSERT_EQUAL(FM_PAGE_OF(miss[0].iova), P);
	CU_ASSERT(miss[0].perm & VHOST_ACCESS_RO);
	/* Still in the avail ring: nothing returned. */
	CU_ASSERT_EQUAL(__atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE),
			used0);
	CU_ASSERT_EQUAL(fm_vring_used_pending(vr), 0);

	CU_ASSERT_EQUAL_FATAL(fm_iommu_answer(&D.d.m, &D.io, &miss[0]), FM_OK);
	n = dequeue_serving(&D, mb, 3, 8, FE_WAIT_MS);
	CU_ASSERT_EQUAL(n, 3);
	for (i = 0; i < n; i++) {
		if (i < 3)
			CU_ASSERT(mbuf_is(mb[i], pkt[i], len[i]));
		rte_pktmbuf_free(mb[i]);
	}
	for (i = 0; i < 3; i++) {
		CU_ASSERT_FATAL(fm_vring_pop_used(vr, &e, NULL));
		CU_ASSERT_EQUAL(e.id, (uint32_t)head[i]);
	}

	n = rte_vhost_vring_stats_get_names(D.d.vid, FE_TXQ, names, 128);
	CU_ASSERT_FATAL(n > 0 && n <= 128);
	for (i = 0; i < n; i++) {
		seen_hits |= strstr(names[i].name, "iotlb_hits") != NULL;
		seen_misses |= strstr(names[i].name, "iotlb_misses") != NULL;
	}
	CU_ASSERT(seen_hits && seen_misses);
	CU_ASSERT(fe_vring_stat(D.d.vid, FE_TXQ, "iotlb_misses") > 0);
	CU_ASSERT(fe_vring_stat(D.d.vid, FE_TXQ, "iotlb_hits") > 0);
}

/* --- 4. host -> guest: miss, packets held, update completes them --- */

static void
test_rx_miss_held(void)
{
	enum { N = 8 };
	static uint8_t pkt[N][1024], got[2048];
	const uint64_t Q = IOVA_TEST(2);
	struct vhost_iotlb_msg miss[16];
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct rte_mbuf *mb[N];
	struct fm_vring *vr;
	uint8_t *area;
	uint16_t sent;
	int i, n, nbufs;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	vr = &D.d.m.vr[FE_RXQ];
	area = guest_map(Q, N, VHOST_ACCESS_RW);
	for (i = 0; i < N; i++) {
		CU_ASSERT_FATAL(post_rx(&D, Q + FM_IOMMU_PAGE * (uint64_t)i,
				2048) >= 0);
		fe_packet(pkt[i], 100 + 50 * (uint32_t)i, 41 + (uint32_t)i);
		mb[i] = fe_mbuf_make(pkt[i], 100 + 50 * (uint32_t)i, 0);
		CU_ASSERT_FATAL(mb[i] != NULL);
	}
	sent = rte_vhost_enqueue_burst(D.d.vid, FE_RXQ, mb, N);
	/* All taken: none may be dropped because of a miss. */
	CU_ASSERT_EQUAL(sent, N);
	for (i = 0; i < N; i++)
		rte_pktmbuf_free(mb[i]);
	/* Nothing written yet. */
	CU_ASSERT_EQUAL(fm_vring_used_pending(vr), 0);
	for (i = 0; i < N; i++)
		CU_ASSERT(fe_all_bytes(area + FM_IOMMU_PAGE * (uint64_t)i,
				FM_NET_POISON, 2048));

	n = fm_iommu_collect_misses(&D.io, miss, 16, 100, 1000);
	CU_ASSERT_FATAL(n >= 1);
	for (i = 0; i < n && i < 16; i++) {
		CU_ASSERT(miss[i].perm & VHOST_ACCESS_WO);
		CU_ASSERT_EQUAL(fm_iommu_answer(&D.d.m, &D.io, &miss[i]), FM_OK);
	}
	/* No enqueue call from here on: the update alone completes them. */
	CU_ASSERT(wait_used(&D, FE_RXQ, N, FE_WAIT_MS));
	CU_ASSERT_EQUAL(fm_vring_used_pending(vr), N);
	for (i = 0; i < N && fm_vring_used_pending(vr) > 0; i++) {
		uint32_t len = 100 + 50 * (uint32_t)i;

		n = fm_iommu_net_recv(vr, &D.io, true, &hdr, got, sizeof(got),
				&nbufs);
		CU_ASSERT_EQUAL(n, (int)len);
		CU_ASSERT(n == (int)len && memcmp(got, pkt[i], len) == 0);
	}
	CU_ASSERT(fe_vring_stat(D.d.vid, FE_RXQ, "iotlb_misses") > 0);
	CU_ASSERT(fe_vring_stat(D.d.vid, FE_RXQ, "iotlb_held_packets") >= N);
	CU_ASSERT(rx_check(&D, 500, 49));
}

/* --- 5. permissions --- */

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
static void
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
static void
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
static void
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
	deadline = fm_now_ms() + 300;
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
static void
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

/* --- 6. a miss never answered --- */

static void
test_unanswered_miss(void)
{
	struct vhost_iotlb_msg miss[16];
	struct fm_seg s = { IOVA_NEVER + 256, FM_NET_HDR_LEN + 60, false };
	struct vring_used_elem e;
	struct rte_mbuf *mb[4];
	struct fm_vring *tx;
	int64_t t0, elapsed = -1, next_witness = 0;
	int head, n, i, total = 0, witness_ok = 0, witness_bad = 0;
	int asked = 0;
	bool early = false;

	CU_ASSERT_FATAL(iodev_open(&W, BW) == 0);
	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	CU_ASSERT_FATAL(traffic_ok(&W));
	tx = &D.d.m.vr[FE_TXQ];
	/* The descriptor points where the guest never mapped anything. */
	head = fm_vring_add_chain(tx, &s, 1);
	CU_ASSERT_FATAL(head >= 0);
	fm_vring_kick(tx);
	t0 = fm_now_ms();
	while (fm_now_ms() - t0 < 2000) {
		n = rte_vhost_dequeue_burst(D.d.vid, FE_TXQ, fe_pool, mb, 4);
		total += n;
		while (n > 0)
			rte_pktmbuf_free(mb[--n]);
		if (fm_vring_used_pending(tx) > 0) {
			elapsed = fm_now_ms() - t0;
			break;
		}
		n = fm_iommu_collect_misses(&D.io, miss, 16, 0, 0);
		for (i = 0; i < n && i < 16; i++)
			if (FM_PAGE_OF(miss[i].iova) == FM_PAGE_OF(s.addr))
				asked++;
		/* The other device carries on meanwhile. */
		if (fm_now_ms() >= next_witness) {
			if (tx_check(&W, 200, 61 + (uint32_t)witness_ok) &&
					rx_check(&W, 200, 62 + (uint32_t)witness_ok))
				witness_ok++;
			else
				witness_bad++;
			next_witness = fm_now_ms() + 50;
		}
		usleep(1000);
	}
	if (elapsed >= 0 && elapsed < IOTLB_MISS_TIMEOUT_MS * 8 / 10)
		early = true;
	CU_ASSERT_EQUAL(total, 0);
	CU_ASSERT(asked >= 1);
	if (elapsed < 0)
		fe_fail("the chain was never returned");
	CU_ASSERT(elapsed >= 0);
	CU_ASSERT_FALSE(early);
	CU_ASSERT(fm_vring_pop_used(tx, &e, NULL) && e.id == (uint32_t)head &&
			e.len == 0);
	CU_ASSERT(fe_vring_stat(D.d.vid, FE_TXQ, "iotlb_miss_timeouts") >= 1);
	CU_ASSERT_EQUAL(witness_bad, 0);
	CU_ASSERT(witness_ok >= 5);
	/* A good packet after it passes. */
	CU_ASSERT(tx_check(&D, 100, 63));
	CU_ASSERT(traffic_ok(&W));
}

/* --- 7. buffers spanning two IOTLB entries --- */

static void
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
	CU_ASSERT(enqueue_until_used(&D, mb[0], FE_WAIT_MS));
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

/* --- 8. INVALIDATE with reply --- */

static void
test_invalidate(void)
{
	static uint8_t pkt[500];
	const uint64_t P = IOVA_TEST(9);
	struct vhost_iotlb_msg miss[8];
	struct fm_vring *tx;
	int h, n;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	tx = &D.d.m.vr[FE_TXQ];
	guest_map(P, 1, VHOST_ACCESS_RO);
	CU_ASSERT_EQUAL_FATAL(fm_iotlb_update_mapped(&D.d.m, &D.io, P,
			FM_IOMMU_PAGE), FM_OK);
	fe_packet(pkt, 500, 81);
	h = post_tx(&D, P, pkt, 500);
	CU_ASSERT_FATAL(h >= 0);
	fm_vring_kick(tx);
	expect_tx_one(pkt, 500, (uint32_t)h);
	/* Nothing was missed so far. */
	CU_ASSERT_EQUAL(fm_iommu_collect_misses(&D.io, miss, 8, 0, 0), 0);

	/* The reply arrives (fm_iotlb_msg waits for it). */
	CU_ASSERT_EQUAL_FATAL(fm_iotlb_invalidate(&D.d.m, P, FM_IOMMU_PAGE),
			FM_OK);
	fe_packet(pkt, 500, 82);
	h = post_tx_stalled(P, pkt, 500, 20);
	n = fm_iommu_collect_misses(&D.io, miss, 8, 100, 1000);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_FATAL(n >= 1);
	CU_ASSERT_EQUAL(FM_PAGE_OF(miss[0].iova), P);
	CU_ASSERT_EQUAL_FATAL(fm_iommu_answer(&D.d.m, &D.io, &miss[0]), FM_OK);
	expect_tx_one(pkt, 500, (uint32_t)h);
}

/* INVALIDATE over the rings themselves: the queues stop using them,
 * ask for them again, and resume with nothing lost once answered. */
static void
test_invalidate_rings(void)
{
	static uint8_t pkt[400];
	struct vhost_iotlb_msg miss[32];
	struct ring_part parts[6];
	uint64_t iova;
	int h, n, i, ring_misses = 0;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	CU_ASSERT_FATAL(traffic_ok(&D));
	ring_parts(&D, parts);
	/* The buffer is mapped already (region 1), only the rings go. */
	fe_packet(pkt, 400, 85);
	iova = buf_alloc(&D, BUF_REGION, FM_NET_HDR_LEN + 400, 64, NULL);
	CU_ASSERT_FATAL(iova != UINT64_MAX);
	CU_ASSERT_EQUAL_FATAL(fm_iotlb_invalidate(&D.d.m, FM_IOVA_REGION(0),
			D.d.m.mem.r[0].size), FM_OK);
	h = post_tx_stalled(iova, pkt, 400, 10);
	n = fm_iommu_collect_misses(&D.io, miss, 32, 100, 1000);
	for (i = 0; i < n && i < 32; i++) {
		if (in_ring_pages(parts, miss[i].iova))
			ring_misses++;
		CU_ASSERT_EQUAL(fm_iommu_answer(&D.d.m, &D.io, &miss[i]), FM_OK);
	}
	CU_ASSERT(ring_misses >= 1);
	expect_tx_one(pkt, 400, (uint32_t)h);
	CU_ASSERT(traffic_ok(&D));
}

/* A datapath thread for the concurrent invalidation tests. It does
 * little besides calling the library, so that it is in a burst most of
 * the time: TX packets are handed over to the frontend to check, RX sends
 * one prebuilt packet again and again. */
#define RACER_STASH 64
struct racer {
	int vid;
	bool tx;		/* dequeue, else enqueue */
	struct rte_mbuf *proto;	/* RX: the packet enqueued */
	cpu_set_t main_set;	/* where the frontend runs */
	atomic_bool stop;
	atomic_bool in_call;	/* inside the library right now */
	atomic_uint delivered;
	atomic_uint overflow;	/* TX packets beyond the stash */
	atomic_uint nstash;
	struct rte_mbuf *stash[RACER_STASH];
};

/* Threads inherit the EAL main thread's pinning (-l 0): move to the
 * other CPUs, or the frontend's busy waits would starve this thread. */
static void
unpin_from_main(const cpu_set_t *main_set)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;
	long i;

	CPU_ZERO(&set);
	for (i = 0; i < ncpu && i < CPU_SETSIZE; i++)
		if (!CPU_ISSET(i, main_set))
			CPU_SET(i, &set);
	if (CPU_COUNT(&set) == 0)
		for (i = 0; i < ncpu && i < CPU_SETSIZE; i++)
			CPU_SET(i, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *
racer_main(void *arg)
{
	struct racer *r = arg;
	struct rte_mbuf *mb[32];

	unpin_from_main(&r->main_set);

	while (!atomic_load(&r->stop)) {
		int n, i;

		if (r->tx) {
			atomic_store(&r->in_call, true);
			n = rte_vhost_dequeue_burst(r->vid, FE_TXQ, fe_pool, mb, 32);
			atomic_store(&r->in_call, false);
			for (i = 0; i < n; i++) {
				unsigned int k = atomic_load(&r->nstash);

				if (k < RACER_STASH) {
					r->stash[k] = mb[i];
					atomic_store(&r->nstash, k + 1);
				} else {
					atomic_fetch_add(&r->overflow, 1);
					rte_pktmbuf_free(mb[i]);
				}
			}
		} else {
			/* One reference for the library, ours stays. */
			rte_pktmbuf_refcnt_update(r->proto, 1);
			atomic_store(&r->in_call, true);
			n = rte_vhost_enqueue_burst(r->vid, FE_RXQ, &r->proto, 1);
			atomic_store(&r->in_call, false);
			rte_pktmbuf_free(r->proto);
		}
		atomic_fetch_add(&r->delivered, (unsigned int)n);
		if (n == 0)
			sched_yield();
	}
	return NULL;
}

#define SCRIBBLE 0xee

/* The datapath thread, frozen for a while wherever it is (most often in
 * the middle of a burst): what a preemption does. A backend keeps its
 * promise by answering INVALIDATE after such a burst, not during it. */
static void
on_freeze(int sig)
{
	struct timespec t = { 0, 1000 * 1000 };

	(void)sig;
	nanosleep(&t, NULL);
}

static void
freeze_handler(bool on)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on ? on_freeze : SIG_DFL;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}

/* Busy-waits up to max_us, so that the datapath is caught mid-way. */
static void
spin_us(unsigned int *seed, int max_us)
{
	struct timespec t0, t;
	long wait = rand_r(seed) % (max_us + 1);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000000L +
			(t.tv_nsec - t0.tv_nsec) / 1000 < wait);
}

/*
 * Freezes the racer while it is in a call that has work (the ring
 * still has chains it has not used): most likely in the middle of a
 * copy. Skipped if the work is done first.
 */
static void
freeze_in_burst(struct racer *r, pthread_t th, const struct fm_vring *vr,
		uint16_t done_idx, unsigned int *seed)
{
	int64_t deadline;

	/* A few microseconds into the work, then at the next call. */
	spin_us(seed, 30);
	deadline = fm_now_ms() + 2;
	while (fm_now_ms() < deadline) {
		if (__atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE) == done_idx)
			return;
		if (atomic_load(&r->in_call)) {
			pthread_kill(th, SIGUSR1);
			return;
		}
	}
}

static void
drain_misses(struct iodev *x)
{
	struct vhost_iotlb_msg miss[64];

	fm_iommu_collect_misses(&x->io, miss, 64, 0, 100);
}

/* Starts the racer on D (tx: dequeueing, else enqueueing r->proto, set
 * by the caller) with the freeze handler on. */
static void
race_start(struct racer *r, pthread_t *th, bool tx)
{
	r->vid = D.d.vid;
	r->tx = tx;
	pthread_getaffinity_np(pthread_self(), sizeof(r->main_set),
			&r->main_set);
	freeze_handler(true);
	CU_ASSERT_FATAL(pthread_create(th, NULL, racer_main, r) == 0);
}

static void
race_stop(struct racer *r, pthread_t th)
{
	atomic_store(&r->stop, true);
	pthread_join(th, NULL);
	freeze_handler(false);
}

/* After the reply to an INVALIDATE of vr's buffers (used index at_reply
 * then) and the frontend's reuse of them: whether vr published anything
 * in the next millisecond, misses asked meanwhile answered. */
static bool
published_after(const struct fm_vring *vr, uint16_t at_reply)
{
	usleep(1000);
	drain_misses(&D);
	return __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE) != at_reply;
}

/*
 * INVALIDATE with NEED_REPLY, watching the socket without sleeping so
 * that the reply is seen as soon as it is sent: the sooner the frontend
 * reuses the memory, the smaller an access after the reply that it can
 * catch. Returns an fm_result.
 */
static int
invalidate_busy(struct iodev *x, uint64_t iova, uint64_t size)
{
	struct vhost_iotlb_msg msg;
	int64_t deadline = fm_now_ms() + FM_REPLY_TIMEOUT_MS;
	struct pollfd pfd = { .fd = x->d.m.sock, .events = POLLIN };
	static struct fm_msg reply;
	uint64_t v;

	memset(&msg, 0, sizeof(msg));
	msg.iova = iova;
	msg.size = size;
	msg.type = VHOST_IOTLB_INVALIDATE;
	if (fm_send(x->d.m.sock, FM_REQ_IOTLB_MSG,
			FM_FLAG_VERSION | FM_FLAG_NEED_REPLY, FM_IOTLB_MSG_SIZE,
			&msg, FM_IOTLB_MSG_SIZE, NULL, 0) < 0)
		return FM_SENDFAIL;
	/* Yield rather than sleep: on two cores the event thread that
	 * sends the reply needs one of them. */
	while (poll(&pfd, 1, 0) == 0) {
		if (fm_now_ms() >= deadline)
			return FM_TIMEOUT;
		sched_yield();
	}
	if (fm_recv(x->d.m.sock, &reply, FM_REPLY_TIMEOUT_MS) != 1)
		return FM_CLOSED;
	fm_msg_close_fds(&reply);
	if (reply.request != FM_REQ_IOTLB_MSG || reply.size != sizeof(v))
		return FM_BADREPLY;
	memcpy(&v, reply.payload, sizeof(v));
	return v == 0 ? FM_OK : FM_NACK;
}

/* Writes byte over [p, p + len): first one byte in 64 everywhere, so
 * that a copy running anywhere in the range meets it at once, then
 * everything. */
static void
scribble(uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i += 64)
		__atomic_store_n(&p[i], SCRIBBLE, __ATOMIC_RELAXED);
	memset(p, SCRIBBLE, len);
}

/*
 * TX: the frontend invalidates the buffers while a thread dequeues (and is
 * frozen mid-burst), and scribbles over them as soon as the reply
 * arrives. A backend that reads them after its reply delivers scribbled
 * bytes, or publishes chains after it.
 */
static void
test_invalidate_concurrent_tx(void)
{
	/* Big packets: long copies, so that the freeze lands in one. */
	enum { K = 8, LEN = 60000, STRIDE = 65536 };
	static uint8_t good[LEN];
	static const uint8_t zero[FM_NET_HDR_LEN];
	const uint64_t R = IOVA_TEST(10);
	struct racer r;
	struct vring_used_elem e;
	struct fm_vring *tx;
	pthread_t th;
	unsigned int seed = 12345;
	uint8_t *area;
	int64_t deadline;
	static uint8_t got[70 * 1024];
	int iterations = 0, progressed = 0, scribbled = 0, wrong = 0;
	int delivered = 0, k;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	tx = &D.d.m.vr[FE_TXQ];
	area = guest_map(R, K * STRIDE / FM_IOMMU_PAGE, VHOST_ACCESS_RO);
	packet_no_ee(good, LEN, 91);
	memset(&r, 0, sizeof(r));
	race_start(&r, &th, true);

	deadline = fm_now_ms() + 1200;
	while (fm_now_ms() < deadline) {
		uint16_t at_reply;

		for (k = 0; k < K; k++) {
			memcpy(area + k * STRIDE, zero, FM_NET_HDR_LEN);
			memcpy(area + k * STRIDE + FM_NET_HDR_LEN, good, LEN);
		}
		if (fm_iotlb_update_mapped(&D.d.m, &D.io, R, K * STRIDE) != FM_OK)
			break;
		for (k = 0; k < K; k++) {
			struct fm_seg s = { R + (uint64_t)k * STRIDE,
				FM_NET_HDR_LEN + LEN, false };

			if (fm_vring_add_chain(tx, &s, 1) < 0)
				break;
		}
		freeze_in_burst(&r, th, tx, (uint16_t)(tx->last_used + K), &seed);
		if (invalidate_busy(&D, R, K * STRIDE) != FM_OK)
			break;
		/* The reply promises no more access: a burst that still
		 * runs would publish chains after it, or copy what we write
		 * now. */
		at_reply = __atomic_load_n(&tx->used->idx, __ATOMIC_ACQUIRE);
		scribble(area, K * STRIDE);
		if (published_after(tx, at_reply))
			progressed++;
		/* Give the buffers back their packets, then the mapping. */
		for (k = 0; k < K; k++) {
			memcpy(area + k * STRIDE, zero, FM_NET_HDR_LEN);
			memcpy(area + k * STRIDE + FM_NET_HDR_LEN, good, LEN);
		}
		if (fm_iotlb_update_mapped(&D.d.m, &D.io, R, K * STRIDE) != FM_OK)
			break;
		if (!wait_used(&D, FE_TXQ, K, FE_WAIT_MS))
			break;
		while (fm_vring_pop_used(tx, &e, NULL))
			;
		/* The racer hands its packets over right after its burst. */
		for (k = 0; k < 1000 && atomic_load(&r.nstash) < K; k++)
			usleep(100);
		for (k = 0; k < (int)atomic_load(&r.nstash); k++) {
			int l = fe_mbuf_copy_out(r.stash[k], got, sizeof(got));

			if (l > 0 && memchr(got, SCRIBBLE, (size_t)l) != NULL)
				scribbled++;
			else if (l != LEN || memcmp(got, good, LEN) != 0)
				wrong++;
			rte_pktmbuf_free(r.stash[k]);
		}
		delivered += (int)atomic_load(&r.nstash);
		atomic_store(&r.nstash, 0);
		iterations++;
	}
	race_stop(&r, th);
	for (k = 0; k < (int)atomic_load(&r.nstash); k++)
		rte_pktmbuf_free(r.stash[k]);
	printf("    FE: %d rounds, %d packets, %d scribbled, %d other, %d published after the reply\n",
			iterations, delivered, scribbled, wrong, progressed);
	CU_ASSERT(iterations >= 10);
	CU_ASSERT_EQUAL(scribbled, 0);
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT_EQUAL(progressed, 0);
	CU_ASSERT_EQUAL(atomic_load(&r.overflow), 0);
	CU_ASSERT_EQUAL(delivered, K * iterations);
}

/*
 * RX: the same with a thread enqueueing. After the reply the frontend
 * scribbles over the buffers: nothing may be written there, nor any
 * chain completed, until the next update.
 */
static void
test_invalidate_concurrent_rx(void)
{
	enum { K = 8, LEN = 60000, BUF = 65536 };
	static uint8_t good[LEN], got[BUF];
	const uint64_t S = IOVA_TEST(11);
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct racer r;
	struct fm_vring *rx;
	pthread_t th;
	unsigned int seed = 777;
	uint8_t *area;
	int64_t deadline;
	int iterations = 0, progressed = 0, written = 0, wrong = 0, k;
	uint16_t before;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	rx = &D.d.m.vr[FE_RXQ];
	area = guest_map(S, K * BUF / FM_IOMMU_PAGE, VHOST_ACCESS_RW);
	packet_no_ee(good, LEN, 92);
	memset(&r, 0, sizeof(r));
	r.proto = fe_mbuf_make(good, LEN, 0);
	CU_ASSERT_FATAL(r.proto != NULL);
	race_start(&r, &th, false);

	deadline = fm_now_ms() + 1000;
	while (fm_now_ms() < deadline) {
		uint16_t at_reply;

		if (fm_iotlb_update_mapped(&D.d.m, &D.io, S, K * BUF) != FM_OK)
			break;
		for (k = 0; k < K; k++)
			if (post_rx(&D, S + (uint64_t)BUF * k, BUF) < 0)
				break;
		freeze_in_burst(&r, th, rx, (uint16_t)(rx->last_used + K), &seed);
		if (invalidate_busy(&D, S, K * BUF) != FM_OK)
			break;
		at_reply = __atomic_load_n(&rx->used->idx, __ATOMIC_ACQUIRE);
		memset(area, SCRIBBLE, K * BUF);
		if (published_after(rx, at_reply))
			progressed++;
		if (!fe_all_bytes(area, SCRIBBLE, K * BUF))
			written++;
		if (fm_iotlb_update_mapped(&D.d.m, &D.io, S, K * BUF) != FM_OK)
			break;
		/* The buffers not used before the reply get the packets
		 * held meanwhile, or later ones. */
		if (!wait_used(&D, FE_RXQ, K, FE_WAIT_MS))
			break;
		before = (uint16_t)(at_reply - rx->last_used);
		for (k = 0; k < K; k++) {
			struct vring_used_elem e;
			int nbufs, n;

			/* Scribbled over by us after the reply: skip. */
			if (k < before) {
				fm_vring_pop_used(rx, &e, NULL);
				continue;
			}
			n = fm_iommu_net_recv(rx, &D.io, true, &hdr, got,
					sizeof(got), &nbufs);
			if (n != LEN || memcmp(got, good, LEN) != 0)
				wrong++;
		}
		iterations++;
	}
	race_stop(&r, th);
	rte_pktmbuf_free(r.proto);
	printf("    FE: %d rounds, %u packets, %d published and %d written after the reply, %d wrong\n",
			iterations, atomic_load(&r.delivered), progressed,
			written, wrong);
	CU_ASSERT(iterations >= 10);
	CU_ASSERT_EQUAL(progressed, 0);
	CU_ASSERT_EQUAL(written, 0);
	CU_ASSERT_EQUAL(wrong, 0);
}

/* --- 9. update storm --- */

static uint32_t
log_level_from_env(void)
{
	const char *l = getenv("FE_LOG_LEVEL");

	if (l == NULL || strcmp(l, "debug") == 0)
		return RTE_LOG_DEBUG;
	if (strcmp(l, "info") == 0)
		return RTE_LOG_INFO;
	if (strcmp(l, "notice") == 0)
		return RTE_LOG_NOTICE;
	if (strcmp(l, "warning") == 0)
		return RTE_LOG_WARNING;
	return RTE_LOG_ERR;
}

/* Sends n UPDATEs without waiting, then reads the n acks. Returns how
 * many were acknowledged with 0. */
static int
update_batch(struct iodev *x, const struct vhost_iotlb_msg *msgs, int n)
{
	static struct fm_msg reply;
	int i, ok = 0;

	for (i = 0; i < n; i++)
		if (fm_send(x->d.m.sock, FM_REQ_IOTLB_MSG,
				FM_FLAG_VERSION | FM_FLAG_NEED_REPLY,
				FM_IOTLB_MSG_SIZE, &msgs[i], FM_IOTLB_MSG_SIZE,
				NULL, 0) < 0)
			return ok;
	for (i = 0; i < n; i++) {
		uint64_t v;

		if (fm_recv(x->d.m.sock, &reply, FM_REPLY_TIMEOUT_MS) != 1)
			return ok;
		fm_msg_close_fds(&reply);
		memcpy(&v, reply.payload, sizeof(v));
		if (reply.request == FM_REQ_IOTLB_MSG &&
				(reply.flags & FM_FLAG_REPLY) &&
				reply.size == sizeof(v) && v == 0)
			ok++;
	}
	return ok;
}

/* Each ring's IOTLB holds delta entries more than e0[ring]. */
static bool
entries_are(int vid, const int64_t e0[2], int64_t delta)
{
	int64_t n0 = fe_vring_stat(vid, FE_RXQ, "iotlb_entries");
	int64_t n1 = fe_vring_stat(vid, FE_TXQ, "iotlb_entries");

	if (n0 != e0[0] + delta || n1 != e0[1] + delta)
		return fe_fail("iotlb_entries %lld/%lld, want %lld/%lld",
				(long long)n0, (long long)n1,
				(long long)(e0[0] + delta),
				(long long)(e0[1] + delta));
	return true;
}

static void
test_update_storm(void)
{
	enum { STORM = 1000000, BATCH = 200, RUN = 64 };
	static struct vhost_iotlb_msg msgs[BATCH];
	static uint8_t pkt[300];
	const uint64_t T = IOVA_TEST(12);
	const uint64_t A = IOVA_TEST(13), B = IOVA_TEST(14), C = IOVA_TEST(15);
	struct vhost_iotlb_msg miss[16];
	struct vring_used_elem e;
	struct rte_mbuf *mb[4];
	struct fm_region *r1;
	uint8_t *tpage, *run;
	int64_t e0[2], t0;
	long rss0, rss1;
	int i, n, q, answered = 0, asked = 0;
	bool counted;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	r1 = &D.d.m.mem.r[BUF_REGION];
	tpage = page_alloc(&D, BUF_REGION, 1);
	run = page_alloc(&D, BUF_REGION, RUN);
	CU_ASSERT_FATAL(tpage != NULL && run != NULL);
	CU_ASSERT_FATAL(fm_iommu_map(&D.io, T, tpage, FM_IOMMU_PAGE,
			VHOST_ACCESS_RO) == 0);
	CU_ASSERT_EQUAL_FATAL(fm_iotlb_update_mapped(&D.d.m, &D.io, T,
			FM_IOMMU_PAGE), FM_OK);
	CU_ASSERT(traffic_ok(&D));

	/* Contiguous runs merge into one entry: ascending, descending, and
	 * holes filled last. */
	e0[0] = fe_vring_stat(D.d.vid, FE_RXQ, "iotlb_entries");
	e0[1] = fe_vring_stat(D.d.vid, FE_TXQ, "iotlb_entries");
	/* Without the gauge, the merges cannot be seen; the storm still
	 * runs. */
	CU_ASSERT(e0[0] > 0 && e0[1] > 0);
	counted = e0[0] > 0 && e0[1] > 0;
	for (i = 0; i < RUN; i++)
		CU_ASSERT_EQUAL(fm_iotlb_update(&D.d.m, A + FM_IOMMU_PAGE * i,
				FM_IOMMU_PAGE, fm_ptr_uaddr(run + FM_IOMMU_PAGE * i),
				VHOST_ACCESS_RO), FM_OK);
	CU_ASSERT(!counted || entries_are(D.d.vid, e0, 1));
	for (i = RUN - 1; i >= 0; i--)
		CU_ASSERT_EQUAL(fm_iotlb_update(&D.d.m, B + FM_IOMMU_PAGE * i,
				FM_IOMMU_PAGE, fm_ptr_uaddr(run + FM_IOMMU_PAGE * i),
				VHOST_ACCESS_RO), FM_OK);
	CU_ASSERT(!counted || entries_are(D.d.vid, e0, 2));
	for (i = 0; i < RUN; i += 2)
		CU_ASSERT_EQUAL(fm_iotlb_update(&D.d.m, C + FM_IOMMU_PAGE * i,
				FM_IOMMU_PAGE, fm_ptr_uaddr(run + FM_IOMMU_PAGE * i),
				VHOST_ACCESS_RO), FM_OK);
	CU_ASSERT(!counted || entries_are(D.d.vid, e0, 2 + RUN / 2));
	for (i = 1; i < RUN; i += 2)
		CU_ASSERT_EQUAL(fm_iotlb_update(&D.d.m, C + FM_IOMMU_PAGE * i,
				FM_IOMMU_PAGE, fm_ptr_uaddr(run + FM_IOMMU_PAGE * i),
				VHOST_ACCESS_RO), FM_OK);
	CU_ASSERT(!counted || entries_are(D.d.vid, e0, 3));

	/* The storm: distinct pages with holes between them, so that no
	 * two merge, in scattered order (an odd multiplier permutes the
	 * page numbers modulo 2^22); uaddrs cycle over region 1. */
	rte_log_set_level_pattern("lib.vhost*", RTE_LOG_ERR);
	rss0 = test_rss_kib();
	t0 = fm_now_ms();
	for (i = 0; i < STORM; i += BATCH) {
		int k;

		for (k = 0; k < BATCH; k++) {
			uint64_t j = (uint64_t)(i + k);

			memset(&msgs[k], 0, sizeof(msgs[k]));
			msgs[k].iova = IOVA_STORM + 2 * FM_IOMMU_PAGE *
				((j * 0x9e3779b1ull) & ((1ull << 22) - 1));
			msgs[k].size = FM_IOMMU_PAGE;
			msgs[k].uaddr = fm_ptr_uaddr(r1->base +
					FM_IOMMU_PAGE * (j % (r1->size / FM_IOMMU_PAGE)));
			msgs[k].perm = VHOST_ACCESS_RO;
			msgs[k].type = VHOST_IOTLB_UPDATE;
		}
		n = update_batch(&D, msgs, BATCH);
		answered += n;
		if (n != BATCH)
			break;
	}
	rss1 = test_rss_kib();
	rte_log_set_level_pattern("lib.vhost*", log_level_from_env());
	printf("    FE: %d updates answered in %lld ms, RSS %ld -> %ld KiB\n",
			answered, (long long)(fm_now_ms() - t0), rss0, rss1);
	CU_ASSERT_EQUAL(answered, STORM);
	/* A million entries of 84 bytes would be 80 MB; the bound for
	 * 4096 entries is about 600 KiB (vhost_iotlb_mem_bytes), allocated
	 * before the storm by the first updates. */
	CU_ASSERT(rss0 > 0 && rss1 - rss0 < 4096);
	for (q = 0; q < 2; q++) {
		int64_t entries = fe_vring_stat(D.d.vid, (uint16_t)q, "iotlb_entries");
		int64_t evictions = fe_vring_stat(D.d.vid, (uint16_t)q, "iotlb_evictions");

		/* One IOTLB per device: both rings show it. */
		printf("    FE: ring %d: %lld entries, %lld evictions\n", q,
				(long long)entries, (long long)evictions);
		CU_ASSERT(entries > 0 && entries <= IOTLB_MAX_ENTRIES);
		CU_ASSERT(evictions >= STORM - IOTLB_MAX_ENTRIES);
	}

	/* T was among the oldest: evicted, so asked again, then works. */
	fe_packet(pkt, 300, 95);
	n = post_tx(&D, T, pkt, 300);
	CU_ASSERT_FATAL(n >= 0);
	fm_vring_kick(&D.d.m.vr[FE_TXQ]);
	for (i = 0; i < 10; i++) {
		int got = rte_vhost_dequeue_burst(D.d.vid, FE_TXQ, fe_pool, mb, 4);

		CU_ASSERT_EQUAL(got, 0);
		while (got > 0)
			rte_pktmbuf_free(mb[--got]);
		usleep(1000);
	}
	n = fm_iommu_collect_misses(&D.io, miss, 16, 100, 1000);
	for (i = 0; i < n && i < 16; i++) {
		if (FM_PAGE_OF(miss[i].iova) == T)
			asked++;
		fm_iommu_answer(&D.d.m, &D.io, &miss[i]);
	}
	CU_ASSERT_EQUAL(asked, 1);
	n = dequeue_serving(&D, mb, 1, 4, FE_WAIT_MS);
	CU_ASSERT_EQUAL(n, 1);
	if (n >= 1)
		CU_ASSERT(mbuf_is(mb[0], pkt, 300));
	while (n > 0)
		rte_pktmbuf_free(mb[--n]);
	CU_ASSERT(fm_vring_pop_used(&D.d.m.vr[FE_TXQ], &e, NULL));
	CU_ASSERT(traffic_ok(&D));
}

/* --- 10. malformed IOTLB messages --- */

/* Refused with an error reply, and the connection still serves. */
static void
expect_nack(struct fm_frontend *m, const char *name, const void *payload,
		uint32_t size, uint32_t payload_len)
{
	int r = fm_expect_refused(m, FM_REQ_IOTLB_MSG, payload, size,
			payload_len, NULL, 0);
	uint64_t f;

	if (r != FM_NACK)
		fe_fail("%s: %s", name, fm_result_name(r));
	CU_ASSERT_EQUAL(r, FM_NACK);
	if (r == FM_CLOSED)
		return;
	r = fm_get_u64(m, FM_REQ_GET_FEATURES, &f);
	if (r != FM_OK)
		fe_fail("after %s: GET_FEATURES %s", name, fm_result_name(r));
	CU_ASSERT_EQUAL(r, FM_OK);
}

static void
test_malformed(void)
{
	const uint64_t P = IOVA_TEST(16);
	struct vhost_iotlb_msg good, bad;
	uint8_t big[FM_IOTLB_MSG_SIZE + 8];
	struct fe_dev plain;
	const struct fm_region *hi;
	int64_t e0;
	uint8_t *page;
	int i;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	page = page_alloc(&D, BUF_REGION, 1);
	CU_ASSERT_FATAL(page != NULL);
	memset(&good, 0, sizeof(good));
	good.iova = P;
	good.size = FM_IOMMU_PAGE;
	good.uaddr = fm_ptr_uaddr(page);
	good.perm = VHOST_ACCESS_RO;
	good.type = VHOST_IOTLB_UPDATE;
	CU_ASSERT_EQUAL_FATAL(fm_iotlb_msg(&D.d.m, &good), FM_OK);
	e0 = fe_vring_stat(D.d.vid, FE_TXQ, "iotlb_entries");

	/* Payload sizes. */
	expect_nack(&D.d.m, "payload of 24 bytes", &good, 24, 24);
	memset(big, 0, sizeof(big));
	memcpy(big, &good, sizeof(good));
	expect_nack(&D.d.m, "payload of 40 bytes", big, sizeof(big), sizeof(big));
	expect_nack(&D.d.m, "empty payload", NULL, 0, 0);

	bad = good;
	bad.size = 0;
	expect_nack(&D.d.m, "size 0", &bad, FM_IOTLB_MSG_SIZE, FM_IOTLB_MSG_SIZE);
	bad = good;
	bad.iova = UINT64_MAX - FM_IOMMU_PAGE + 1;
	bad.size = 2 * FM_IOMMU_PAGE;
	expect_nack(&D.d.m, "iova + size wraps", &bad, FM_IOTLB_MSG_SIZE,
			FM_IOTLB_MSG_SIZE);
	bad = good;
	bad.perm = 0;
	expect_nack(&D.d.m, "perm 0", &bad, FM_IOTLB_MSG_SIZE, FM_IOTLB_MSG_SIZE);
	bad.perm = 4;
	expect_nack(&D.d.m, "perm 4", &bad, FM_IOTLB_MSG_SIZE, FM_IOTLB_MSG_SIZE);
	bad = good;
	bad.uaddr = 0x1000;
	expect_nack(&D.d.m, "uaddr outside memory", &bad, FM_IOTLB_MSG_SIZE,
			FM_IOTLB_MSG_SIZE);
	/* The last page of the highest region, and one more. */
	hi = &D.d.m.mem.r[0];
	for (i = 1; i < D.d.m.mem.nregions; i++)
		if (D.d.m.mem.r[i].base > hi->base)
			hi = &D.d.m.mem.r[i];
	bad = good;
	bad.uaddr = fm_ptr_uaddr(hi->base + hi->size - FM_IOMMU_PAGE);
	bad.size = 2 * FM_IOMMU_PAGE;
	expect_nack(&D.d.m, "uaddr range past the region end", &bad,
			FM_IOTLB_MSG_SIZE, FM_IOTLB_MSG_SIZE);
	bad = good;
	bad.type = 0x55;
	expect_nack(&D.d.m, "unknown type", &bad, FM_IOTLB_MSG_SIZE,
			FM_IOTLB_MSG_SIZE);
	bad.type = 0;
	expect_nack(&D.d.m, "type 0", &bad, FM_IOTLB_MSG_SIZE, FM_IOTLB_MSG_SIZE);

	/* Nothing refused was installed; the good one still applies. */
	CU_ASSERT_EQUAL(fe_vring_stat(D.d.vid, FE_TXQ, "iotlb_entries"), e0);
	CU_ASSERT_EQUAL(fm_iotlb_msg(&D.d.m, &good), FM_OK);
	CU_ASSERT(traffic_ok(&D));

	/* Without IOMMU_PLATFORM negotiated there is no IOTLB. */
	memset(&plain, 0, sizeof(plain));
	fm_frontend_attach(&plain.m, -1);
	CU_ASSERT_FATAL(fe_dev_open(&plain, BI, NULL) == 0);
	good.uaddr = fm_ptr_uaddr(plain.m.mem.r[1].base);
	expect_nack(&plain.m, "IOTLB without IOMMU",
			&good, FM_IOTLB_MSG_SIZE, FM_IOTLB_MSG_SIZE);
	CU_ASSERT(fe_traffic_ok(&plain));
	CU_ASSERT(fe_dev_close(&plain, true));
}

static CU_TestInfo iotlb_tests[] = {
	{ "negotiation", test_negotiation },
	{ "rings_at_iovas", test_rings_at_iovas },
	{ "tx_miss_update", test_tx_miss_update },
	{ "rx_miss_held", test_rx_miss_held },
	{ "permission_rx_read_only", test_permission_rx_read_only },
	{ "permission_rx_read_only_alone", test_permission_rx_read_only_alone },
	{ "permission_tx_write_only", test_permission_tx_write_only },
	{ "permission_least_needed", test_permission_least_needed },
	{ "unanswered_miss", test_unanswered_miss },
	{ "straddle", test_straddle },
	{ "invalidate", test_invalidate },
	{ "invalidate_rings", test_invalidate_rings },
	{ "invalidate_concurrent_tx", test_invalidate_concurrent_tx },
	{ "invalidate_concurrent_rx", test_invalidate_concurrent_rx },
	{ "update_storm", test_update_storm },
	{ "malformed", test_malformed },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "iotlb", NULL, NULL, test_setup, test_teardown, iotlb_tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	int ret = 2;

	if (fe_init("iotlb") != 0)
		return 2;
	/* Read when the sockets are registered. */
	setenv("VHOST_IOTLB_MAX_ENTRIES", IOTLB_MAX_ENTRIES_STR, 1);
	BI = fe_backend_start("iommu", IOMMU_FLAGS);
	BW = fe_backend_start("iommu2", IOMMU_FLAGS);
	BP = fe_backend_start("plain", RTE_VHOST_USER_NET_STATS_ENABLE);
	if (BI != NULL && BW != NULL && BP != NULL)
		ret = fe_run(suites, argc, argv);
	fe_fini();
	return ret;
}
