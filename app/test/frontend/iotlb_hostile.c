/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device IOTLB tests (test_frontend_iotlb.c): a frontend that does not
 * play along. Misses never answered, an update storm against the IOTLB
 * bound, malformed IOTLB messages.
 */
#include "iotlb_dev.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <CUnit/CUnit.h>
#include <rte_log.h>

/* --- a miss never answered --- */

void
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
	while (fm_now_ms() - t0 < FE_EVENT_MS) {
		n = rte_vhost_dequeue_burst(D.d.vid, FE_TXQ, fe_pool, mb, 4);
		total += n;
		while (n > 0)
			rte_pktmbuf_free(mb[--n]);
		if (elapsed < 0 && fm_vring_used_pending(tx) > 0)
			elapsed = fm_now_ms() - t0;
		/* Returned, and the witness checked a few times meanwhile
		 * (a loaded machine makes fewer rounds in the same time). */
		if (elapsed >= 0 && witness_ok + witness_bad >= 5)
			break;
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

/* --- an answer that waits for the library's event thread --- */

/* The event thread, stuck in an application callback until released
 * (another socket's new_connection): as if it were not scheduled. */
static atomic_int cb_entered, cb_release;

static int
blocking_new_connection(int vid)
{
	int64_t t0 = fm_now_ms();

	(void)vid;
	atomic_store(&cb_entered, 1);
	/* Bounded, so that a failing test cannot hang the program. */
	while (!atomic_load(&cb_release) && fm_now_ms() - t0 < 10000)
		usleep(1000);
	return 0;
}

static const struct rte_vhost_device_ops blocking_ops = {
	.new_connection = blocking_new_connection,
};

void
test_answer_unread(void)
{
	static uint8_t pkt[200];
	const uint64_t P = IOVA_TEST(7);
	struct vhost_iotlb_msg miss[8], up;
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct fm_vring *vr;
	struct rte_mbuf *mb[4];
	struct vring_used_elem e;
	const struct fm_iommu_map *mp;
	char path[sizeof(un.sun_path)];
	int64_t t0;
	int head, n, total = 0, fd;
	bool returned = false;

	atomic_store(&cb_entered, 0);
	atomic_store(&cb_release, 0);
	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	vr = &D.d.m.vr[FE_TXQ];
	guest_map(P, 1, VHOST_ACCESS_RO);
	fe_packet(pkt, sizeof(pkt), 71);
	head = post_tx(&D, P, pkt, sizeof(pkt));
	CU_ASSERT_FATAL(head >= 0);
	fm_vring_kick(vr);
	/* The miss goes out. */
	t0 = fm_now_ms();
	n = 0;
	while (n == 0 && fm_now_ms() - t0 < FE_WAIT_MS) {
		total += rte_vhost_dequeue_burst(D.d.vid, FE_TXQ, fe_pool, mb,
				4);
		n = fm_iommu_collect_misses(&D.io, miss, 8, 0, 0);
	}
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(FM_PAGE_OF(miss[0].iova), P);

	/* The library's event thread gets stuck elsewhere... */
	fe_sock_path(path, sizeof(path), "blocking");
	CU_ASSERT_FATAL(rte_vhost_driver_register(path, 0) == 0);
	CU_ASSERT_FATAL(rte_vhost_driver_callback_register(path,
			&blocking_ops) == 0);
	CU_ASSERT_FATAL(rte_vhost_driver_start(path) == 0);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(fd >= 0);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0);
	CU_ASSERT_FATAL(fe_wait_at_least(&cb_entered, 1, FE_EVENT_MS));

	/* ...while the frontend answers at once (not waiting for an ack),
	 * and the datapath keeps asking for much longer than the miss
	 * timeout. The answer is there: the miss is not given up. */
	mp = fm_iommu_lookup(&D.io, miss[0].iova);
	CU_ASSERT_FATAL(mp != NULL);
	memset(&up, 0, sizeof(up));
	up.iova = mp->iova;
	up.size = mp->size;
	up.uaddr = fm_ptr_uaddr(mp->ptr);
	up.perm = mp->perm;
	up.type = VHOST_IOTLB_UPDATE;
	CU_ASSERT_EQUAL_FATAL(fm_request_flags(&D.d.m, FM_REQ_IOTLB_MSG,
			FM_FLAG_VERSION, &up, FM_IOTLB_MSG_SIZE, NULL, 0,
			NULL), FM_OK);
	t0 = fm_now_ms();
	while (fm_now_ms() - t0 < IOTLB_MISS_TIMEOUT_MS * 2) {
		n = rte_vhost_dequeue_burst(D.d.vid, FE_TXQ, fe_pool, mb, 4);
		total += n;
		while (n > 0)
			rte_pktmbuf_free(mb[--n]);
		if (fm_vring_used_pending(vr) > 0) {
			returned = true;
			break;
		}
		usleep(1000);
	}
	CU_ASSERT_FALSE(returned);	/* dropped as unanswered */
	CU_ASSERT_EQUAL(total, 0);
	CU_ASSERT_EQUAL(fe_vring_stat(D.d.vid, FE_TXQ, "iotlb_miss_timeouts"),
			0);

	/* Once the event thread runs again, the packet goes through. */
	atomic_store(&cb_release, 1);
	n = dequeue_serving(&D, mb, 1, 4, FE_EVENT_MS);
	CU_ASSERT_EQUAL(n, 1);
	if (n >= 1)
		CU_ASSERT(mbuf_is(mb[0], pkt, sizeof(pkt)));
	while (n > 0)
		rte_pktmbuf_free(mb[--n]);
	CU_ASSERT(fm_vring_pop_used(vr, &e, NULL) && e.id == (uint32_t)head);
	CU_ASSERT_EQUAL(fe_vring_stat(D.d.vid, FE_TXQ, "iotlb_miss_timeouts"),
			0);
	close(fd);
	CU_ASSERT(rte_vhost_driver_unregister(path) == 0);
	CU_ASSERT(traffic_ok(&D));
}

/* --- update storm --- */

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

void
test_update_storm(void)
{
	/* 61 times the bound: enough to show it holds (each UPDATE is a
	 * round trip through the socket; a million took 122 s at load 8). */
	enum { STORM = 250000, BATCH = 200, RUN = 64 };
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
	/* 250000 entries of 116 bytes would be 28 MB; the bound for
	 * 4096 entries is 464 KiB (vhost_iotlb_mem_bytes, doc/iotlb.md),
	 * allocated by the first updates and touched as entries are made.
	 * 1 MiB of slack above it is for the rest of the process (this
	 * run grew 336 KiB). */
	CU_ASSERT(rss0 > 0 && rss1 - rss0 < 464 + 1024);
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
	/* Polls while the miss waits: stop well before the library gives
	 * it up (VHOST_IOTLB_MISS_TIMEOUT_MS), however loaded the machine. */
	t0 = fm_now_ms();
	for (i = 0; i < 10 && (i == 0 || fm_now_ms() - t0 < 150); i++) {
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
	n = dequeue_serving(&D, mb, 1, 4, FE_EVENT_MS);
	CU_ASSERT_EQUAL(n, 1);
	if (n >= 1)
		CU_ASSERT(mbuf_is(mb[0], pkt, 300));
	while (n > 0)
		rte_pktmbuf_free(mb[--n]);
	CU_ASSERT(fm_vring_pop_used(&D.d.m.vr[FE_TXQ], &e, NULL));
	CU_ASSERT(traffic_ok(&D));
}

/* --- malformed IOTLB messages --- */

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

void
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
