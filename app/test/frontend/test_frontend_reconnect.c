/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A backend restarted against a live frontend. The frontend keeps its
 * guest memory and rings; the library's socket is unregistered and
 * registered again (the application was relaunched); the frontend starts
 * the rings again with SET_VRING_BASE 0, as virtio-user with server=1
 * does (it does not track the backend's index). The library must resume
 * from the rings' used index, log one warning per ring, and move exactly
 * the packets that were not done: those the guest posted while no
 * backend was there, once each, in order.
 *
 * Also: the frontend's order NUM, BASE, ADDR (virtio-user) and NUM, ADDR,
 * BASE; a vIOMMU, where the rings become usable only once IOTLB updates
 * come (and a later re-translation of a running ring does not check
 * again); a used index that cannot be true (the base is kept, the
 * datapath's error is logged once, a ring restart recovers); a consistent
 * restart (nothing logged).
 *
 * Packed rings (no used index; the descriptors' flags tell): the right
 * base (nothing logged), a base a lap behind (the same index with the
 * other wrap counter) with and without chains outstanding, a base ahead
 * of the driver (resynchronised, one warning per ring), and a base inside
 * a chain (kept, with an error; a restart with the right base recovers).
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
#include "fm_iommu.h"

#define QSIZE 256
#define BUF_REGION 1
#define BUF_LEN 2048u
#define PKT_LEN 60u
/* First packet seeds of each direction, to tell packets apart. */
#define TX_SEED 1000000u
#define RX_SEED 2000000u
/* How long the datapath polls a ring it must refuse, to see that its
 * error is not repeated (the log rate limit is 250 ms). */
#define REFUSED_POLL_MS 1200

/* A frontend that outlives its backends. */
struct rdev {
	struct fe_dev d;
	struct fm_iommu io;
	struct fm_config cfg;
	bool iommu;
	bool client;		/* the library connects; the frontend listens */
	bool base_first;	/* NUM, BASE, ADDR (virtio-user) */
	bool packed;		/* VIRTIO_F_RING_PACKED */
	int lfd;
	const char *name;
	uint8_t *bufs[2];	/* per ring, QSIZE buffers of BUF_LEN */
	uint32_t posted[2];	/* TX packets / RX buffers the guest posted */
	uint32_t tx_got;	/* TX packets the host got */
	uint32_t rx_sent;	/* RX packets the host enqueued */
	uint32_t rx_got;	/* RX packets the guest got */
};

static struct rdev R;

static void
test_setup(void)
{
	memset(&R, 0, sizeof(R));
	fm_frontend_attach(&R.d.m, -1);
	fm_iommu_init(&R.io);
	R.d.vid = -1;
	R.lfd = -1;
}

static void
test_teardown(void)
{
	fe_dev_close(&R.d, true);
	fm_iommu_fini(&R.io);
	if (R.d.b != NULL)
		fe_backend_stop(R.d.b);
	if (R.lfd >= 0)
		close(R.lfd);
	R.d.b = NULL;
	R.lfd = -1;
}

static uint64_t
flags_of(const struct rdev *x)
{
	return RTE_VHOST_USER_NET_STATS_ENABLE |
		(x->iommu ? RTE_VHOST_USER_IOMMU_SUPPORT : 0) |
		(x->client ? RTE_VHOST_USER_CLIENT : 0);
}

/* Answers the misses waiting (with an IOMMU); false if the channel broke. */
static bool
serve(struct rdev *x, int wait_ms)
{
	return !x->iommu || fm_iommu_serve(&x->d.m, &x->io, wait_ms) >= 0;
}

/* Registers the backend and connects it to the frontend. */
static bool
backend_up(struct rdev *x)
{
	int sock;

	if (x->client) {
		char path[256];

		fe_sock_path(path, sizeof(path), x->name);
		/* Unregistering removed the path: listen again. */
		if (x->lfd >= 0)
			close(x->lfd);
		x->lfd = fm_listen(path);
		if (x->lfd < 0)
			return fe_fail("cannot listen at %s", path);
		x->d.b = fe_backend_register(x->name, flags_of(x));
		if (x->d.b == NULL || rte_vhost_driver_start(x->d.b->path) != 0)
			return fe_fail("cannot start the client backend");
		sock = fm_accept(x->lfd, FE_EVENT_MS);
	} else {
		x->d.b = fe_backend_start(x->name, flags_of(x));
		if (x->d.b == NULL)
			return fe_fail("cannot start the backend");
		sock = fm_connect(x->d.b->path, FE_WAIT_MS);
	}
	if (sock < 0)
		return fe_fail("no connection between frontend and backend");
	fm_frontend_reattach(&x->d.m, sock);
	return true;
}

/* Waits for new_device (answering misses); takes the vid. */
static bool
wait_running(struct rdev *x, int before)
{
	int64_t deadline = fm_now_ms() + FE_EVENT_MS;

	while (atomic_load(&x->d.b->ev.new_device) <= before) {
		if (fm_now_ms() >= deadline)
			return fe_fail("new_device did not come");
		if (!serve(x, 5))
			return fe_fail("request channel failed");
		if (!x->iommu)
			usleep(1000);
	}
	x->d.vid = atomic_load(&x->d.b->ev.vid);
	return true;
}

/* The ring's SET_VRING_ADDR payload. */
static void
ring_addr(const struct rdev *x, uint32_t i, struct vhost_vring_addr *a)
{
	if (x->iommu)
		fm_iommu_vring_addr(&x->d.m, &x->io, i, a);
	else
		fm_vring_addr_of(&x->d.m, i, a);
}

/* First start: a fresh guest, rings laid out, buffers allocated. */
static bool
rdev_open(struct rdev *x, const char *name, bool mergeable)
{
	int ret;

	x->name = name;
	fm_config_default(&x->cfg);
	if (!mergeable)
		x->cfg.features &= ~FM_BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (x->packed)
		x->cfg.features |= FM_BIT(VIRTIO_F_RING_PACKED);
	if (!backend_up(x))
		return false;
	if (x->iommu)
		ret = fm_iommu_handshake(&x->d.m, &x->io, &x->cfg);
	else
		ret = fm_handshake(&x->d.m, &x->cfg);
	if (ret != FM_OK)
		return fe_fail("handshake: %s", fm_result_name(ret));
	if (!wait_running(x, 0))
		return false;
	for (int r = 0; r < 2; r++) {
		x->bufs[r] = fm_mem_alloc(&x->d.m.mem, BUF_REGION,
				QSIZE * BUF_LEN, 4096);
		if (x->bufs[r] == NULL)
			return fe_fail("no room for buffers");
	}
	return true;
}

/*
 * The backend goes away and comes back (a new registration, so a new
 * device); the frontend keeps its rings and starts them again with these
 * bases. The device must start again.
 */
static bool
rdev_restart(struct rdev *x, const uint32_t base[2])
{
	int ret;

	fe_backend_stop(x->d.b);
	if (!fm_wait_closed(x->d.m.sock, FE_WAIT_MS))
		return fe_fail("the old connection did not close");
	if (!backend_up(x))
		return false;
	if (x->iommu) {
		ret = fm_iommu_negotiate(&x->d.m, x->cfg.features, x->cfg.protocol);
		if (ret == FM_OK)
			ret = fm_iommu_set_backend_req_fd(&x->d.m, &x->io);
	} else {
		ret = fm_negotiate(&x->d.m, x->cfg.features, x->cfg.protocol);
	}
	if (ret == FM_OK)
		ret = fm_set_mem_table(&x->d.m, &x->d.m.mem);
	for (uint32_t i = 0; i < 2 && ret == FM_OK; i++) {
		struct vhost_vring_addr a;

		ring_addr(x, i, &a);
		ret = fm_start_vring(&x->d.m, i, &a, base[i], x->base_first);
	}
	for (uint32_t i = 0; i < 2 && ret == FM_OK; i++)
		ret = fm_set_state(&x->d.m, FM_REQ_SET_VRING_ENABLE, i, 1);
	if (ret != FM_OK)
		return fe_fail("restart: %s", fm_result_name(ret));
	return wait_running(x, 0);
}

/* Buffer k of ring r: our pointer and the address the device gets. */
static uint64_t
buf_of(const struct rdev *x, int r, uint32_t k, uint8_t **p)
{
	const struct fm_region *reg = &x->d.m.mem.r[BUF_REGION];

	*p = x->bufs[r] + (size_t)(k % QSIZE) * BUF_LEN;
	if (x->iommu)
		return FM_IOVA_REGION(BUF_REGION) + (uint64_t)(*p - reg->base);
	return fm_ptr_gpa(&x->d.m.mem, *p);
}

/* The guest sends n packets (not yet taken by the host). */
static bool
post_tx(struct rdev *x, int n)
{
	struct fm_vring *vr = &x->d.m.vr[FE_TXQ];

	for (int i = 0; i < n; i++) {
		uint32_t k = x->posted[1]++;
		uint8_t *p;
		struct fm_seg s = { buf_of(x, 1, k, &p), FM_NET_HDR_LEN + PKT_LEN, false };

		memset(p, 0, FM_NET_HDR_LEN);
		fe_packet(p + FM_NET_HDR_LEN, PKT_LEN, TX_SEED + k);
		if (fm_vring_add_chain(vr, &s, 1) < 0)
			return fe_fail("cannot post TX packet %u", k);
	}
	fm_vring_kick(vr);
	return true;
}

/* The guest posts n receive buffers. */
static bool
post_rx(struct rdev *x, int n)
{
	for (int i = 0; i < n; i++) {
		uint32_t k = x->posted[0]++;
		uint8_t *p;
		struct fm_seg s = { buf_of(x, 0, k, &p), BUF_LEN, true };

		memset(p, FM_NET_POISON, BUF_LEN);
		if (fm_vring_add_chain(&x->d.m.vr[FE_RXQ], &s, 1) < 0)
			return fe_fail("cannot post RX buffer %u", k);
	}
	return true;
}

/* The host takes exactly n packets, the next ones the guest sent, in
 * order, and the guest gets each chain back once. */
static bool
host_tx(struct rdev *x, int n)
{
	static uint8_t want[PKT_LEN], got[PKT_LEN + 1];
	struct fm_vring *vr = &x->d.m.vr[FE_TXQ];
	int64_t deadline = fm_now_ms() + FE_EVENT_MS;
	struct rte_mbuf *mb[32];
	int left = n;

	while (left > 0) {
		int k = rte_vhost_dequeue_burst(x->d.vid, FE_TXQ, fe_pool, mb,
				(uint16_t)RTE_MIN(left, 32));
		bool ok = true;

		for (int i = 0; i < k; i++) {
			fe_packet(want, PKT_LEN, TX_SEED + x->tx_got);
			if (ok && (fe_mbuf_copy_out(mb[i], got, sizeof(got)) != (int)PKT_LEN ||
					memcmp(got, want, PKT_LEN) != 0))
				ok = fe_fail("host packet %u is not the guest's packet %u",
						x->tx_got, x->tx_got);
			x->tx_got++;
			rte_pktmbuf_free(mb[i]);
		}
		if (!ok)
			return false;
		left -= k;
		if (left > 0 && fm_now_ms() >= deadline)
			return fe_fail("host got %d of %d TX packets", n - left, n);
		if (k == 0 && !serve(x, 1))
			return fe_fail("request channel failed");
	}
	/* Nothing more: no chain may come twice. */
	if (rte_vhost_dequeue_burst(x->d.vid, FE_TXQ, fe_pool, mb, 1) != 0) {
		rte_pktmbuf_free(mb[0]);
		return fe_fail("host got a TX packet more than the %d sent", n);
	}
	for (int i = 0; i < n; i++) {
		struct vring_used_elem e;

		if (!fm_vring_pop_used(vr, &e, NULL))
			return fe_fail("guest got %d of %d TX chains back", i, n);
	}
	if (fm_vring_used_pending(vr) != 0)
		return fe_fail("guest got more TX chains back than %d", n);
	return true;
}

/* The host sends n packets; the guest gets exactly them, in order. */
static bool
host_rx(struct rdev *x, int n)
{
	static uint8_t want[PKT_LEN], got[BUF_LEN];
	struct fm_vring *vr = &x->d.m.vr[FE_RXQ];
	int64_t deadline = fm_now_ms() + FE_EVENT_MS;
	bool mrg = fe_dev_mergeable(&x->d);
	uint32_t end = x->rx_sent + (uint32_t)n;

	while (x->rx_got < end) {
		struct virtio_net_hdr_mrg_rxbuf hdr;
		int nbufs, len;

		if (x->rx_sent < end) {
			struct rte_mbuf *m;

			fe_packet(want, PKT_LEN, RX_SEED + x->rx_sent);
			m = fe_mbuf_make(want, PKT_LEN, 0);
			if (m == NULL)
				return fe_fail("no mbuf");
			if (rte_vhost_enqueue_burst(x->d.vid, FE_RXQ, &m, 1) == 1)
				x->rx_sent++;
			rte_pktmbuf_free(m);
		}
		if (fm_vring_used_pending(vr) == 0) {
			if (fm_now_ms() >= deadline)
				return fe_fail("guest got %u of %d RX packets",
						x->rx_got - (end - n), n);
			if (!serve(x, 1))
				return fe_fail("request channel failed");
			continue;
		}
		if (x->iommu)
			len = fm_iommu_net_recv(vr, &x->io, mrg, &hdr, got,
					sizeof(got), &nbufs);
		else
			len = fm_net_recv(vr, &x->d.m.mem, mrg, &hdr, got,
					sizeof(got), &nbufs);
		fe_packet(want, PKT_LEN, RX_SEED + x->rx_got);
		if (len != (int)PKT_LEN || memcmp(got, want, PKT_LEN) != 0)
			return fe_fail("guest RX packet %u: %d bytes, not the host's",
					x->rx_got, len);
		x->rx_got++;
	}
	if (fm_vring_used_pending(vr) != 0)
		return fe_fail("guest got more than %d RX packets", n);
	return true;
}

/* n packets each way, in rounds that fit the ring. */
static bool
traffic(struct rdev *x, int n)
{
	while (n > 0) {
		int k = RTE_MIN(n, 100);

		if (!post_tx(x, k) || !host_tx(x, k) || !post_rx(x, k) ||
				!host_rx(x, k))
			return false;
		n -= k;
	}
	return true;
}

/* The library's per-ring good_packets counter equals want. */
static bool
counted(const struct rdev *x, uint16_t q, int64_t want)
{
	int64_t v = fe_vring_stat(x->d.vid, q, "good_packets");

	if (v != want)
		return fe_fail("vring %u counted %lld packets, want %lld", q,
				(long long)v, (long long)want);
	return true;
}

static uint16_t
used_idx(const struct rdev *x, int q)
{
	return __atomic_load_n(&x->d.m.vr[q].used->idx, __ATOMIC_ACQUIRE);
}

static void
set_used_idx(struct rdev *x, int q, uint16_t v)
{
	__atomic_store_n(&x->d.m.vr[q].used->idx, v, __ATOMIC_RELEASE);
}

/*
 * The whole reconnect: 300 packets each way (used indexes at 300, beyond
 * the ring size, so a backend starting from 0 refuses the ring), then
 * while no backend runs the guest posts 5 TX packets and 7 RX buffers,
 * the backend comes back with base 0, and exactly those and 300 more
 * each way must move.
 */
static void
resync_case(struct rdev *x, const char *name, bool mergeable)
{
	static const uint32_t zero[2] = { 0, 0 };
	char re[160];
	size_t mark;

	CU_ASSERT_FATAL(rdev_open(x, name, mergeable));
	CU_ASSERT_FATAL(traffic(x, 300));
	CU_ASSERT_EQUAL(used_idx(x, FE_TXQ), 300);
	CU_ASSERT_EQUAL(used_idx(x, FE_RXQ), 300);
	CU_ASSERT_FATAL(post_tx(x, 5) && post_rx(x, 7));
	mark = fe_log_mark();
	CU_ASSERT_FATAL(rdev_restart(x, zero));
	/* One warning per ring, naming what was found and done. */
	snprintf(re, sizeof(re), "WARNING: .*vring 0: base 0 from the frontend, but the ring's used index is 300 \\(avail 307\\): resuming at 300");
	CU_ASSERT(fe_log_expect(mark, "RX ring warning", re));
	snprintf(re, sizeof(re), "WARNING: .*vring 1: base 0 from the frontend, but the ring's used index is 300 \\(avail 305\\): resuming at 300");
	CU_ASSERT(fe_log_expect(mark, "TX ring warning", re));
	/* What waited in the rings moves exactly once, then new traffic. */
	CU_ASSERT(host_tx(x, 5));
	CU_ASSERT(host_rx(x, 7));
	CU_ASSERT(traffic(x, 300));
	CU_ASSERT(counted(x, FE_TXQ, 305));
	CU_ASSERT(counted(x, FE_RXQ, 307));
	CU_ASSERT_EQUAL(fe_log_count(mark, "resuming at"), 2);
	CU_ASSERT_EQUAL(fe_log_count(mark, "ahead of|impossible"), 0);
}

/* The real setup: the library as a client of virtio-user's server. */
static void
test_resync_client_mode(void)
{
	R.client = true;
	resync_case(&R, "client", true);
}

/* virtio-user's order: the base is known before the ring is translated. */
static void
test_resync_base_first(void)
{
	R.base_first = true;
	resync_case(&R, "base-first", false);
}

/* Answers misses until none came for quiet_ms (bounded). */
static bool
serve_until_quiet(struct rdev *x, int quiet_ms)
{
	int64_t deadline = fm_now_ms() + FE_EVENT_MS;
	int answered = 0;

	while (fm_now_ms() < deadline) {
		int n = fm_iommu_serve(&x->d.m, &x->io, quiet_ms);

		if (n < 0)
			return fe_fail("request channel failed");
		answered += n;
		if (n == 0 && answered > 0)
			return true;
	}
	return fe_fail("misses did not stop (%d answered)", answered);
}

/*
 * With a vIOMMU the new backend's IOTLB is empty: the rings are usable
 * only once the updates for their misses come, and the check runs then.
 * Later, a running ring translated again (its mapping invalidated and
 * updated) is not checked again, even if the used index in memory says
 * something else meanwhile.
 */
static void
test_resync_iommu(void)
{
	uint16_t u;
	size_t mark;

	R.iommu = true;
	R.base_first = true;
	resync_case(&R, "iommu", true);
	CU_ASSERT_FATAL(!CU_get_number_of_failures());

	mark = fe_log_mark();
	u = used_idx(&R, FE_TXQ);
	set_used_idx(&R, FE_TXQ, (uint16_t)(u + 3));
	CU_ASSERT_FATAL(fm_iotlb_invalidate(&R.d.m, FM_IOVA_REGION(R.cfg.ring_region),
			R.cfg.regions[R.cfg.ring_region].size) == FM_OK);
	CU_ASSERT(serve_until_quiet(&R, 200));
	set_used_idx(&R, FE_TXQ, u);
	CU_ASSERT(traffic(&R, 50));
	CU_ASSERT_EQUAL(fe_log_count(mark, "resuming at|impossible"), 0);
}

/*
 * A used index more than a ring apart from the avail index is garbage:
 * the frontend's base is kept (an error says so). Here the base (0) is
 * impossible too, so the datapath refuses the ring, and says so once,
 * not every 250 ms. The frontend restarting the ring with a sane used
 * index recovers it.
 */
static void
test_used_index_impossible(void)
{
	static const uint32_t zero[2] = { 0, 0 };
	struct vhost_vring_addr a;
	uint32_t base;
	size_t mark;
	int before;

	CU_ASSERT_FATAL(rdev_open(&R, "impossible", true));
	CU_ASSERT_FATAL(traffic(&R, 300));
	CU_ASSERT_FATAL(post_tx(&R, 5));
	set_used_idx(&R, FE_TXQ, 305 + 10);
	mark = fe_log_mark();
	CU_ASSERT_FATAL(rdev_restart(&R, zero));
	CU_ASSERT(fe_log_expect(mark, "impossible used index",
			"ERR: .*vring 1: used index 315 is impossible with avail index 305 \\(ring size 256\\): keeping base 0"));
	CU_ASSERT_EQUAL(fe_dequeue_for(R.d.vid, REFUSED_POLL_MS), 0);
	CU_ASSERT_EQUAL(fe_log_count(mark, "vring 1: avail index 305 is 305 ahead of 0"), 1);

	/* The frontend repairs its ring and restarts it. */
	set_used_idx(&R, FE_TXQ, 300);
	mark = fe_log_mark();
	CU_ASSERT_FATAL(fm_get_vring_base(&R.d.m, FE_TXQ, &base) == FM_OK);
	CU_ASSERT_EQUAL(base, 0);
	before = atomic_load(&R.d.b->ev.new_device);
	ring_addr(&R, FE_TXQ, &a);
	CU_ASSERT_FATAL(fm_start_vring(&R.d.m, FE_TXQ, &a, 0, false) == FM_OK);
	CU_ASSERT_FATAL(fm_set_state(&R.d.m, FM_REQ_SET_VRING_ENABLE, FE_TXQ, 1) == FM_OK);
	CU_ASSERT_FATAL(wait_running(&R, before));
	CU_ASSERT(fe_log_expect(mark, "TX ring warning",
			"vring 1: base 0 from the frontend, but the ring's used index is 300 \\(avail 305\\)"));
	CU_ASSERT(host_tx(&R, 5));
	CU_ASSERT(traffic(&R, 50));
}

/* Garbage in the used index but a base that fits the ring: the base is
 * kept and the ring works from it. */
static void
test_garbage_used_index_good_base(void)
{
	static const uint32_t bases[2] = { 300, 300 };
	size_t mark;

	CU_ASSERT_FATAL(rdev_open(&R, "garbage", true));
	CU_ASSERT_FATAL(traffic(&R, 300));
	CU_ASSERT_FATAL(post_tx(&R, 5));
	set_used_idx(&R, FE_TXQ, 305 + 10);
	mark = fe_log_mark();
	CU_ASSERT_FATAL(rdev_restart(&R, bases));
	CU_ASSERT(fe_log_expect(mark, "impossible used index",
			"vring 1: used index 315 is impossible with avail index 305 \\(ring size 256\\): keeping base 300"));
	CU_ASSERT(host_tx(&R, 5));
	CU_ASSERT_EQUAL(used_idx(&R, FE_TXQ), 305);
	CU_ASSERT(traffic(&R, 50));
	CU_ASSERT_EQUAL(fe_log_count(mark, "resuming at|ahead of"), 0);
}

/* A frontend that knows the index (QEMU): nothing to say, nothing lost. */
static void
test_consistent_restart(void)
{
	static const uint32_t bases[2] = { 300, 300 };
	size_t mark;

	CU_ASSERT_FATAL(rdev_open(&R, "consistent", true));
	CU_ASSERT_FATAL(traffic(&R, 300));
	CU_ASSERT_FATAL(post_tx(&R, 5) && post_rx(&R, 7));
	mark = fe_log_mark();
	CU_ASSERT_FATAL(rdev_restart(&R, bases));
	CU_ASSERT(host_tx(&R, 5));
	CU_ASSERT(host_rx(&R, 7));
	CU_ASSERT(traffic(&R, 50));
	CU_ASSERT_EQUAL(fe_log_count(mark, "resuming at|impossible|ahead of"), 0);
}

/* Packed: where the device stands once the guest took back every used
 * chain, as SET_VRING_BASE carries it (wrap counter in bit 15), with the
 * wrap counter flipped if lap_off. */
static uint32_t
packed_base(const struct rdev *x, int q, bool lap_off)
{
	const struct fm_vring *vr = &x->d.m.vr[q];

	return vr->last_used | (uint32_t)(vr->used_wrap != lap_off) << 15;
}

/* Expects one warning for ring q: base resumed at the guest's used
 * position. */
static bool
packed_warned(const struct rdev *x, size_t mark, int q, uint32_t base,
		bool lap_off)
{
	const struct fm_vring *vr = &x->d.m.vr[q];
	char re[256];

	snprintf(re, sizeof(re), "WARNING: .*vring %d: packed base %u \\(wrap %u\\) from the frontend, but the ring's descriptors were used up to %u \\(wrap %u\\)%s: resuming there",
		q, base & 0x7fff, base >> 15, vr->last_used, vr->used_wrap,
		lap_off ? " \\(the base is a lap off\\)" : "");
	return fe_log_expect(mark, q == FE_TXQ ? "TX ring warning" :
			"RX ring warning", re);
}

/* The right base (QEMU's, or a frontend that tracked it): nothing to
 * say, and what waited moves. 300 packets each way wrap the 256-entry
 * rings once. */
static void
test_packed_right_base(void)
{
	uint32_t bases[2];
	size_t mark;

	R.packed = true;
	CU_ASSERT_FATAL(rdev_open(&R, "packed-right", true));
	CU_ASSERT_FATAL(traffic(&R, 300));
	CU_ASSERT_FATAL(post_tx(&R, 5) && post_rx(&R, 7));
	bases[FE_RXQ] = packed_base(&R, FE_RXQ, false);
	bases[FE_TXQ] = packed_base(&R, FE_TXQ, false);
	CU_ASSERT_EQUAL(bases[FE_TXQ], 300 - QSIZE);	/* 44, wrap 0 */
	mark = fe_log_mark();
	CU_ASSERT_FATAL(rdev_restart(&R, bases));
	CU_ASSERT(host_tx(&R, 5));
	CU_ASSERT(host_rx(&R, 7));
	CU_ASSERT(traffic(&R, 50));
	CU_ASSERT(counted(&R, FE_TXQ, 55));
	CU_ASSERT(counted(&R, FE_RXQ, 57));
	CU_ASSERT_EQUAL(fe_log_count(mark, "resuming|keeping|vring [01]: packed"), 0);
}

/*
 * The same index with the other wrap counter: the driver cannot be more
 * than a ring ahead of the device, so the base is a lap off, whatever
 * the descriptor at it shows. With chains outstanding (the driver ahead
 * of the device), then with none (the driver where the device is).
 */
static void
test_packed_base_lap_behind(void)
{
	uint32_t bases[2];
	size_t mark;

	R.packed = true;
	CU_ASSERT_FATAL(rdev_open(&R, "packed-lap", true));
	CU_ASSERT_FATAL(traffic(&R, 300));
	CU_ASSERT_FATAL(post_tx(&R, 5) && post_rx(&R, 7));
	bases[FE_RXQ] = packed_base(&R, FE_RXQ, true);
	bases[FE_TXQ] = packed_base(&R, FE_TXQ, true);
	mark = fe_log_mark();
	CU_ASSERT_FATAL(rdev_restart(&R, bases));
	CU_ASSERT(packed_warned(&R, mark, FE_RXQ, bases[FE_RXQ], true));
	CU_ASSERT(packed_warned(&R, mark, FE_TXQ, bases[FE_TXQ], true));
	CU_ASSERT(host_tx(&R, 5));
	CU_ASSERT(host_rx(&R, 7));
	CU_ASSERT(traffic(&R, 300));
	CU_ASSERT_EQUAL(fe_log_count(mark, "resuming there"), 2);
	CU_ASSERT_EQUAL(fe_log_count(mark, "ERR"), 0);

	/* Nothing outstanding: 605 descriptors each way so far. */
	bases[FE_RXQ] = packed_base(&R, FE_RXQ, true);
	bases[FE_TXQ] = packed_base(&R, FE_TXQ, true);
	mark = fe_log_mark();
	CU_ASSERT_FATAL(rdev_restart(&R, bases));
	CU_ASSERT(packed_warned(&R, mark, FE_RXQ, bases[FE_RXQ], false));
	CU_ASSERT(packed_warned(&R, mark, FE_TXQ, bases[FE_TXQ], false));
	CU_ASSERT(traffic(&R, 100));
	CU_ASSERT(counted(&R, FE_TXQ, 100));
	CU_ASSERT(counted(&R, FE_RXQ, 100));
	CU_ASSERT_EQUAL(fe_log_count(mark, "resuming there"), 2);
}

/* The guest sends one packet in two descriptors: header, then packet. */
static bool
post_tx_two_desc(struct rdev *x)
{
	uint32_t k = x->posted[1]++;
	uint8_t *p;
	uint64_t a = buf_of(x, 1, k, &p);
	struct fm_seg s[2] = {
		{ a, FM_NET_HDR_LEN, false },
		{ a + FM_NET_HDR_LEN, PKT_LEN, false },
	};

	memset(p, 0, FM_NET_HDR_LEN);
	fe_packet(p + FM_NET_HDR_LEN, PKT_LEN, TX_SEED + k);
	if (fm_vring_add_chain(&x->d.m.vr[FE_TXQ], s, 2) < 0)
		return fe_fail("cannot post TX packet %u", k);
	fm_vring_kick(&x->d.m.vr[FE_TXQ]);
	return true;
}

/*
 * Garbage bases. Ahead of the driver (by 56 in the same lap) cannot be
 * true either: resynchronised from the flags, as a lap off. Inside a
 * chain the driver made available: the ring cannot say where the device
 * stands, so the frontend's base is kept with an error; the frontend
 * restarting the ring with the right base recovers it.
 */
static void
test_packed_base_garbage(void)
{
	struct vhost_vring_addr a;
	uint32_t bases[2], base;
	size_t mark;
	int before;

	R.packed = true;
	CU_ASSERT_FATAL(rdev_open(&R, "packed-garbage", true));
	CU_ASSERT_FATAL(traffic(&R, 300));
	bases[FE_RXQ] = (packed_base(&R, FE_RXQ, false) + 56) & 0xffff;
	bases[FE_TXQ] = (packed_base(&R, FE_TXQ, false) + 56) & 0xffff;
	mark = fe_log_mark();
	CU_ASSERT_FATAL(rdev_restart(&R, bases));
	CU_ASSERT(packed_warned(&R, mark, FE_RXQ, bases[FE_RXQ], true));
	CU_ASSERT(packed_warned(&R, mark, FE_TXQ, bases[FE_TXQ], true));
	CU_ASSERT(traffic(&R, 50));

	/* A chain of two at 94, 95 (wrap 0); base 95 is inside it. */
	CU_ASSERT_FATAL(post_tx_two_desc(&R));
	bases[FE_RXQ] = packed_base(&R, FE_RXQ, false);
	bases[FE_TXQ] = packed_base(&R, FE_TXQ, false) + 1;
	CU_ASSERT_EQUAL(bases[FE_TXQ], 95);
	mark = fe_log_mark();
	CU_ASSERT_FATAL(rdev_restart(&R, bases));
	CU_ASSERT(fe_log_expect(mark, "TX ring error",
			"ERR: .*vring 1: packed base 95 \\(wrap 0\\) from the frontend disagrees with the ring \\(driver at 96, wrap 0\\): 95 \\(wrap 0\\) is inside a chain; keeping the frontend's base"));
	CU_ASSERT_EQUAL(fe_log_count(mark, "vring 0: packed|resuming"), 0);

	/* The frontend restarts the ring with the right base. */
	mark = fe_log_mark();
	CU_ASSERT_FATAL(fm_get_vring_base(&R.d.m, FE_TXQ, &base) == FM_OK);
	before = atomic_load(&R.d.b->ev.new_device);
	ring_addr(&R, FE_TXQ, &a);
	CU_ASSERT_FATAL(fm_start_vring(&R.d.m, FE_TXQ, &a,
			packed_base(&R, FE_TXQ, false), false) == FM_OK);
	CU_ASSERT_FATAL(fm_set_state(&R.d.m, FM_REQ_SET_VRING_ENABLE, FE_TXQ, 1) == FM_OK);
	CU_ASSERT_FATAL(wait_running(&R, before));
	CU_ASSERT(host_tx(&R, 1));
	CU_ASSERT(traffic(&R, 50));
	CU_ASSERT_EQUAL(fe_log_count(mark, "resuming|keeping"), 0);
}

static CU_TestInfo reconnect_tests[] = {
	{ "resync_client_mode", test_resync_client_mode },
	{ "resync_base_first", test_resync_base_first },
	{ "resync_iommu", test_resync_iommu },
	{ "used_index_impossible", test_used_index_impossible },
	{ "garbage_used_index_good_base", test_garbage_used_index_good_base },
	{ "consistent_restart", test_consistent_restart },
	{ "packed_right_base", test_packed_right_base },
	{ "packed_base_lap_behind", test_packed_base_lap_behind },
	{ "packed_base_garbage", test_packed_base_garbage },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "reconnect", NULL, NULL, test_setup, test_teardown, reconnect_tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	int ret;

	if (fe_init("reconnect") < 0)
		return 1;
	if (fe_log_capture_start() < 0) {
		fe_fini();
		return 1;
	}
	ret = fe_run(suites, argc, argv);
	fe_log_capture_stop();
	fe_fini();
	return ret;
}
