/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device IOTLB tests (test_frontend_iotlb.c): the paths through the
 * IOTLB. Negotiation, rings at IOVAs (misses, the device waits), misses
 * on both directions without losing packets.
 */
#include "iotlb_dev.h"
#include "test_memfd.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

/* --- negotiation --- */

void
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

/* --- rings at IOVAs --- */

void
test_rings_at_iovas(void)
{
	struct vhost_iotlb_msg miss[128];
	struct ring_part parts[6];
	struct fm_config cfg;
	int before = atomic_load(&BI->ev.new_device);
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
	n = fm_iommu_await_misses(&D.io, miss, 128, FE_EVENT_MS, 100,
			FE_WAIT_MS);
	CU_ASSERT_FATAL(n > 0 && n <= 128);
	first = n;
	/* Nothing mapped: the device must not start. */
	CU_ASSERT(fe_stays_below(&BI->ev.new_device, before + 1, 150));

	/* Answer page by page, as QEMU does with 4K IOMMU pages: a part
	 * spanning two pages misses again on the second. */
	D.io.answer_size = FM_IOMMU_PAGE;
	total = n;
	i = 0;
	deadline = fm_now_ms() + FE_EVENT_MS;
	while (atomic_load(&BI->ev.new_device) <= before &&
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
	CU_ASSERT_FATAL(atomic_load(&BI->ev.new_device) > before);
	D.d.vid = atomic_load(&BI->ev.vid);
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

/* --- guest -> host: miss, update, progress --- */

void
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
	int64_t start;
	int head[3] = { -1, -1, -1 }, n, i, k, total = 0;
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
	/* Polls while the miss waits, for at most 150 ms from the first:
	 * the library gives an unanswered miss up after
	 * VHOST_IOTLB_MISS_TIMEOUT_MS (500), and on a loaded machine 60
	 * polls may take longer than that. */
	start = fm_now_ms();
	for (i = 0; i < 60; i++) {
		/* At least one poll: it sends the miss. */
		bool late = i > 0 && fm_now_ms() - start > 150;

		/* More chains in the same page while the miss is pending;
		 * if time is short, all of them now and no more polls. */
		for (k = 1; k < 3; k++) {
			if (head[k] >= 0 || (!late && i != 10 * k))
				continue;
			head[k] = post_tx(&D, P + 1024 * (uint64_t)k, pkt[k],
					len[k]);
			CU_ASSERT_FATAL(head[k] >= 0);
			fm_vring_kick(vr);
		}
		if (late)
			break;
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
	n = dequeue_serving(&D, mb, 3, 8, FE_EVENT_MS);
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

/* --- host -> guest: miss, packets held, update completes them --- */

void
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
	CU_ASSERT(wait_used(&D, FE_RXQ, N, FE_EVENT_MS));
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

/*
 * Held packets are judged stale by the time they waited while someone
 * tried to deliver them, not by the time no thread ran. The event thread
 * (the only one trying here: the test makes no burst) is kept in a
 * callback for 1.3 s, longer than the 1 s after which held packets are
 * dropped; meanwhile the frontend maps the buffers and takes the mapping
 * back. When the thread runs again, the first retry misses afresh: the
 * packets must stay held for that new miss, and arrive once it is
 * answered, none dropped.
 */
void
test_rx_held_over_stall(void)
{
	enum { N = 4, STALL_MS = 1300 };
	static uint8_t pkt[N][512], got[2048];
	const uint64_t Q = IOVA_TEST(19);
	struct vhost_iotlb_msg miss[16], msg;
	struct vhost_vring_state off = { .index = FE_TXQ, .num = 0 };
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct test_recorder *ev;
	struct rte_mbuf *mb[N];
	struct fm_vring *vr;
	int64_t dropped;
	uint8_t *area;
	int i, n, nbufs, events;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	ev = &D.d.b->ev;
	vr = &D.d.m.vr[FE_RXQ];
	area = guest_map(Q, N, VHOST_ACCESS_RW);
	for (i = 0; i < N; i++) {
		CU_ASSERT_FATAL(post_rx(&D, Q + FM_IOMMU_PAGE * (uint64_t)i,
				2048) >= 0);
		fe_packet(pkt[i], 200 + (uint32_t)i, 61 + (uint32_t)i);
		mb[i] = fe_mbuf_make(pkt[i], 200 + (uint32_t)i, 0);
		CU_ASSERT_FATAL(mb[i] != NULL);
	}
	dropped = fe_vring_stat(D.d.vid, FE_RXQ, "dropped_packets");
	CU_ASSERT_EQUAL(rte_vhost_enqueue_burst(D.d.vid, FE_RXQ, mb, N), N);
	for (i = 0; i < N; i++)
		rte_pktmbuf_free(mb[i]);
	n = fm_iommu_collect_misses(&D.io, miss, 16, 100, FE_WAIT_MS);
	CU_ASSERT_FATAL(n >= 1);

	/* Keep the event thread away, then queue the mapping and its
	 * removal behind the callback: it reads both in one go. */
	events = atomic_load(&ev->vring_events);
	atomic_store(&ev->vring_stall_ms, STALL_MS);
	CU_ASSERT_FATAL(fm_send(D.d.m.sock, FM_REQ_SET_VRING_ENABLE,
			FM_FLAG_VERSION, sizeof(off), &off, sizeof(off),
			NULL, 0) == 0);
	CU_ASSERT_FATAL(fe_wait_at_least(&ev->vring_stalls, 1, FE_EVENT_MS));
	memset(&msg, 0, sizeof(msg));
	msg.iova = Q;
	msg.size = FM_IOMMU_PAGE * N;
	msg.uaddr = fm_ptr_uaddr(area);
	msg.perm = VHOST_ACCESS_RW;
	msg.type = VHOST_IOTLB_UPDATE;
	CU_ASSERT_FATAL(fm_send(D.d.m.sock, FM_REQ_IOTLB_MSG, FM_FLAG_VERSION,
			FM_IOTLB_MSG_SIZE, &msg, sizeof(msg), NULL, 0) == 0);
	msg.type = VHOST_IOTLB_INVALIDATE;
	msg.uaddr = 0;
	msg.perm = 0;
	CU_ASSERT_FATAL(fm_send(D.d.m.sock, FM_REQ_IOTLB_MSG, FM_FLAG_VERSION,
			FM_IOTLB_MSG_SIZE, &msg, sizeof(msg), NULL, 0) == 0);
	CU_ASSERT(fe_wait_at_least(&ev->vring_events, events + 1,
			STALL_MS + FE_EVENT_MS));
	atomic_store(&ev->vring_stall_ms, 0);

	/* The event thread's retry after the stall asks again (it may
	 * still wait for a CPU); answer it. */
	n = fm_iommu_await_misses(&D.io, miss, 16, FE_EVENT_MS, 100,
			FE_WAIT_MS);
	CU_ASSERT(n >= 1);
	for (i = 0; i < n && i < 16; i++)
		CU_ASSERT_EQUAL(fm_iommu_answer(&D.d.m, &D.io, &miss[i]), FM_OK);
	CU_ASSERT(wait_used(&D, FE_RXQ, N, FE_EVENT_MS));
	for (i = 0; i < N && fm_vring_used_pending(vr) > 0; i++) {
		n = fm_iommu_net_recv(vr, &D.io, true, &hdr, got, sizeof(got),
				&nbufs);
		CU_ASSERT(n == 200 + i && memcmp(got, pkt[i], (size_t)n) == 0);
	}
	CU_ASSERT_EQUAL(i, N);
	CU_ASSERT_EQUAL(fe_vring_stat(D.d.vid, FE_RXQ, "dropped_packets"),
			dropped);
}

/* --- memory slots: the IOTLB follows the regions --- */

#define PF_CONFIGURE_MEM_SLOTS 15
#define REQ_ADD_MEM_REG 37
#define REQ_REM_MEM_REG 38

/*
 * IOTLB entries point into the regions present. An update for memory
 * the backend does not map is refused; once the region is added with
 * ADD_MEM_REG the same update is taken and a packet the guest put there
 * is read through it. After REM_MEM_REG the entry is gone: the update is
 * refused again, and a chain at that IOVA misses, the guest's answer (the
 * old mapping) is refused, and the chain comes back unread (length 0).
 */
/* A packet of seed on the TX ring at iova, kicked: its head. */
static int
kick_packet(uint8_t *pkt, uint32_t len, uint32_t seed, uint64_t iova)
{
	int head;

	fe_packet(pkt, len, seed);
	head = post_tx(&D, iova, pkt, len);
	CU_ASSERT_FATAL(head >= 0);
	fm_vring_kick(&D.d.m.vr[FE_TXQ]);
	return head;
}

void
test_mem_slots(void)
{
	const uint64_t P = IOVA_TEST(9), size = 64 << 10;
	struct {
		uint64_t padding;
		struct fm_wire_region r;
	} reg;
	struct fm_vring *tx;
	struct rte_mbuf *mb[4];
	struct vring_used_elem e = { 0 };
	uint8_t pkt[300], *base;
	void *mapped;
	int64_t deadline;
	int fd, head, n, total = 0;

	CU_ASSERT_FATAL(iodev_open(&D, BI) == 0);
	tx = &D.d.m.vr[FE_TXQ];
	CU_ASSERT_FATAL(D.d.m.offered_protocol & FM_BIT(PF_CONFIGURE_MEM_SLOTS));
	D.d.m.protocol |= FM_BIT(PF_CONFIGURE_MEM_SLOTS);
	CU_ASSERT_FATAL(fm_set_u64(&D.d.m, FM_REQ_SET_PROTOCOL_FEATURES,
			D.d.m.protocol) == FM_OK);
	fd = test_memfd_map("fe-iotlb-slot", size, 0, &mapped);
	CU_ASSERT_FATAL(fd >= 0);
	base = mapped;
	CU_ASSERT_FATAL(base != NULL);
	memset(&reg, 0, sizeof(reg));
	reg.r.guest_phys_addr = 0x100000000ull;
	reg.r.memory_size = size;
	reg.r.userspace_addr = fm_ptr_uaddr(base);
	CU_ASSERT_FATAL(fm_iommu_map(&D.io, P, base, size, VHOST_ACCESS_RW) == 0);

	CU_ASSERT_EQUAL(fm_iotlb_update(&D.d.m, P, size, reg.r.userspace_addr,
			VHOST_ACCESS_RW), FM_NACK);
	CU_ASSERT_EQUAL(fm_request(&D.d.m, REQ_ADD_MEM_REG, &reg, sizeof(reg),
			&fd, 1, NULL), FM_OK);
	CU_ASSERT_EQUAL(fm_iotlb_update(&D.d.m, P, size, reg.r.userspace_addr,
			VHOST_ACCESS_RW), FM_OK);
	head = kick_packet(pkt, sizeof(pkt), 91, P + 4096);
	expect_tx_one(pkt, sizeof(pkt), (uint32_t)head);

	CU_ASSERT_EQUAL(fm_request(&D.d.m, REQ_REM_MEM_REG, &reg, sizeof(reg),
			NULL, 0, NULL), FM_OK);
	CU_ASSERT_EQUAL(fm_iotlb_update(&D.d.m, P, size, reg.r.userspace_addr,
			VHOST_ACCESS_RW), FM_NACK);
	head = kick_packet(pkt, sizeof(pkt), 92, P + 8192);
	deadline = fm_now_ms() + FE_EVENT_MS;
	while (fm_vring_used_pending(tx) == 0 && fm_now_ms() < deadline) {
		n = rte_vhost_dequeue_burst(D.d.vid, FE_TXQ, fe_pool, mb, 4);
		total += n;
		while (n > 0)
			rte_pktmbuf_free(mb[--n]);
		fm_iommu_serve(&D.d.m, &D.io, 1);	/* refused: ignored */
	}
	CU_ASSERT_EQUAL(total, 0);
	CU_ASSERT(fm_vring_pop_used(tx, &e, NULL));
	CU_ASSERT_EQUAL(e.id, (uint32_t)head);
	CU_ASSERT_EQUAL(e.len, 0);
	printf("IOTLB after REM_MEM_REG: update refused, chain returned with length %u\n",
			e.len);
	fm_iommu_unmap(&D.io, P, size);
	CU_ASSERT(traffic_ok(&D));
	munmap(base, size);
	close(fd);
}
