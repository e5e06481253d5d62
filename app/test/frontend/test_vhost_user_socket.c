/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user over a real unix socket, control plane: handshake and the
 * rte_vhost_get_* view of it, ring stop/restart, memory table replacement,
 * ring enable/disable, feature changes, reconnection in server and client
 * mode, and several devices at once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <rte_vhost.h>

#include "fake_frontend.h"
#include "fe_connect_spy.h"
#include "fe_harness.h"
#include "fe_traffic.h"

/* A client-mode backend's interval between connection attempts (DPDK's
 * and ours, VHOST_RECONNECT_INTERVAL_MS). */
#define RECONNECT_INTERVAL_MS 1000

static struct fe_backend *B;      /* server mode, default flags */
static struct fe_backend *B2;     /* a second server-mode socket */
static struct fe_backend *BSTATS; /* with per-ring statistics */
/* Per-test state, released by teardown even when a test stops early. */
static struct fe_dev D, D2;
static struct fe_backend *TMPB;
static int LFD = -1;
/* The process's fds when the test began. */
static int SETUP_FDS;

/* Backends every suite uses; started once so any suite runs alone. */
static int
start_backends(void)
{
	B = fe_backend_start("sock0", 0);
	B2 = fe_backend_start("sock1", 0);
	BSTATS = fe_backend_start("stats", RTE_VHOST_USER_NET_STATS_ENABLE);
	return B != NULL && B2 != NULL && BSTATS != NULL ? 0 : -1;
}

static void
test_setup(void)
{
	fe_dev_init(&D);
	fe_dev_init(&D2);
	SETUP_FDS = test_count_fds();
}

static void
test_teardown(void)
{
	fe_dev_close(&D, true);
	fe_dev_close(&D2, true);
	if (TMPB != NULL)
		fe_backend_stop(TMPB);
	TMPB = NULL;
	if (LFD >= 0)
		close(LFD);
	LFD = -1;
	fe_connect_spy_watch("");
	/* destroy_device comes before the library closes the connection:
	 * the next test counts fds from after that. */
	fe_wait_fd_count(SETUP_FDS, FE_EVENT_MS);
}

/* --- handshake --- */

static void
test_handshake_new_device_once(void)
{
	struct fm_frontend *m = &D.m;
	struct fm_config cfg;
	uint64_t feat = 0, pf = 0, drv = 0;
	uint16_t mtu = 0;
	char ifname[256];
	int i, vid;

	fm_config_default(&cfg);
	fe_backend_reset_events(B);
	D.b = B;
	CU_ASSERT_FATAL(fm_frontend_connect(m, B->path) == 0);
	CU_ASSERT_FATAL(fm_negotiate(m, cfg.features, cfg.protocol) == FM_OK);
	/* GET_FEATURES and GET_PROTOCOL_FEATURES offer what the API says. */
	CU_ASSERT(rte_vhost_driver_get_features(B->path, &drv) == 0);
	CU_ASSERT_EQUAL(drv, m->offered_features);
	CU_ASSERT(rte_vhost_driver_get_protocol_features(B->path, &drv) == 0);
	CU_ASSERT_EQUAL(drv, m->offered_protocol);
	CU_ASSERT(m->queue_num >= 1);
	CU_ASSERT_EQUAL(fm_set_u64(m, FM_REQ_NET_SET_MTU, 1500), FM_OK);
	for (i = 0; i < cfg.nregions; i++)
		CU_ASSERT_FATAL(fm_mem_add_region(&m->mem, cfg.regions[i].gpa,
				cfg.regions[i].size,
				cfg.regions[i].mmap_offset) == i);
	CU_ASSERT_EQUAL(fm_set_mem_table(m, &m->mem), FM_OK);
	for (i = 0; i < 2; i++)
		CU_ASSERT_FATAL(fm_setup_vring(m, (uint32_t)i, 256, 0) == FM_OK);
	/* With PROTOCOL_FEATURES the rings start disabled. */
	CU_ASSERT(fe_stays_below(&B->ev.new_device, 1, FE_QUIET_MS));
	CU_ASSERT_EQUAL(fm_set_state(m, FM_REQ_SET_VRING_ENABLE, 0, 1), FM_OK);
	/* One ring of the first pair is not enough. */
	CU_ASSERT(fe_stays_below(&B->ev.new_device, 1, FE_QUIET_MS));
	CU_ASSERT_EQUAL(fm_set_state(m, FM_REQ_SET_VRING_ENABLE, 1, 1), FM_OK);
	CU_ASSERT_FATAL(fe_wait_at_least(&B->ev.new_device, 1, FE_EVENT_MS));
	D.vid = vid = atomic_load(&B->ev.vid);
	CU_ASSERT(fe_wait_vring_state(B, 0, 1, FE_EVENT_MS));
	CU_ASSERT(fe_wait_vring_state(B, 1, 1, FE_EVENT_MS));
	/* Exactly once, even when more messages follow. */
	CU_ASSERT_EQUAL(fm_set_state(m, FM_REQ_SET_VRING_ENABLE, 1, 1), FM_OK);
	CU_ASSERT_EQUAL(fm_set_u64(m, FM_REQ_NET_SET_MTU, 1500), FM_OK);
	CU_ASSERT(fe_stays_below(&B->ev.new_device, 2, FE_QUIET_MS));
	CU_ASSERT_EQUAL(atomic_load(&B->ev.destroy_device), 0);

	CU_ASSERT_EQUAL(rte_vhost_get_negotiated_features(vid, &feat), 0);
	CU_ASSERT_EQUAL(feat, m->features);
	CU_ASSERT_EQUAL(rte_vhost_get_negotiated_protocol_features(vid, &pf),
			0);
	CU_ASSERT_EQUAL(pf, m->protocol);
	CU_ASSERT_EQUAL(rte_vhost_get_vring_num(vid), 2);
	CU_ASSERT_EQUAL(atomic_load(&B->ev.nr_vring_at_new_device), 2);
	CU_ASSERT_EQUAL(rte_vhost_get_ifname(vid, ifname, sizeof(ifname)), 0);
	CU_ASSERT_STRING_EQUAL(ifname, B->path);
	CU_ASSERT_EQUAL(rte_vhost_get_mtu(vid, &mtu), 0);
	CU_ASSERT_EQUAL(mtu, 1500);
	CU_ASSERT(fe_traffic_ok(&D));
}

/* The backend's view of the memory table is the frontend's memory. */
static void
test_handshake_mem_table_view(void)
{
	struct rte_vhost_memory *mem = NULL;
	struct fm_mem *fm = &D.m.mem;
	uint32_t i;
	int j;

	CU_ASSERT_FATAL(fe_dev_open(&D, B, NULL) == 0);
	CU_ASSERT_FATAL(rte_vhost_get_mem_table(D.vid, &mem) == 0);
	CU_ASSERT_EQUAL_FATAL(mem->nregions, (uint32_t)fm->nregions);
	for (j = 0; j < fm->nregions; j++) {
		struct fm_region *r = &fm->r[j];
		uint64_t len = 64;
		uint8_t *p;

		for (i = 0; i < mem->nregions; i++)
			if (mem->regions[i].guest_phys_addr == r->gpa)
				break;
		CU_ASSERT_FATAL(i < mem->nregions);
		CU_ASSERT_EQUAL(mem->regions[i].size, r->size);
		/* Shared memory: a byte the frontend writes is there (this
		 * also proves mmap_offset was honoured). */
		memset(r->base + 4096 + 100, 0x5a + j, 8);
		p = (uint8_t *)(uintptr_t)rte_vhost_va_from_guest_pa(mem,
				r->gpa + 4096 + 100, &len);
		CU_ASSERT_FATAL(p != NULL);
		CU_ASSERT_EQUAL(len, 64);
		CU_ASSERT_EQUAL(p[0], 0x5a + j);
		CU_ASSERT_EQUAL(p[7], 0x5a + j);
	}
	free(mem);
}

/* rte_vhost_get_vhost_vring shows the rings the frontend laid out. */
static void
test_handshake_vring_view(void)
{
	struct rte_vhost_vring vring;
	int q;

	CU_ASSERT_FATAL(fe_dev_open(&D, B, NULL) == 0);
	for (q = 0; q < 2; q++) {
		struct fm_vring *vr = &D.m.vr[q];

		memset(&vring, 0, sizeof(vring));
		CU_ASSERT_FATAL(rte_vhost_get_vhost_vring(D.vid, (uint16_t)q,
				&vring) == 0);
		CU_ASSERT_EQUAL(vring.size, vr->size);
		CU_ASSERT(vring.kickfd >= 0);
		CU_ASSERT(vring.callfd >= 0);
		CU_ASSERT_FATAL(vring.desc != NULL && vring.avail != NULL &&
				vring.used != NULL);
		vr->desc[7].addr = 0x1122334455667788ull + (uint64_t)q;
		CU_ASSERT_EQUAL(vring.desc[7].addr, vr->desc[7].addr);
		vr->avail->ring[3] = (uint16_t)(0xbeef + q);
		CU_ASSERT_EQUAL(vring.avail->ring[3], vr->avail->ring[3]);
		vr->desc[7].addr = 0;
		vr->avail->ring[3] = 0;
	}
}

/* Without PROTOCOL_FEATURES a ring is enabled by its kick fd. */
static void
test_handshake_without_protocol_features(void)
{
	struct fm_config cfg;
	uint64_t feat = 0;

	fm_config_default(&cfg);
	cfg.features &= ~FM_BIT(FM_F_PROTOCOL_FEATURES);
	cfg.protocol = 0;
	CU_ASSERT_FATAL(fe_dev_open(&D, B, &cfg) == 0);
	CU_ASSERT_EQUAL(rte_vhost_get_negotiated_features(D.vid, &feat), 0);
	CU_ASSERT_EQUAL(feat, cfg.features);
	CU_ASSERT(fe_traffic_ok(&D));
}

/* Two queue pairs: the second pair works once enabled. */
static void
test_handshake_two_queue_pairs(void)
{
	struct fm_config cfg;
	int q;

	fm_config_default(&cfg);
	cfg.nvrings = 4;
	CU_ASSERT_FATAL(fe_dev_open(&D, B, &cfg) == 0);
	CU_ASSERT(D.m.queue_num >= 2);
	for (q = 0; q < 4; q++)
		CU_ASSERT(fe_wait_vring_state(B, q, 1, FE_EVENT_MS));
	CU_ASSERT_EQUAL(rte_vhost_get_vring_num(D.vid), 4);
	CU_ASSERT(fe_rx_check_q(&D, 1, 300, 11));
	CU_ASSERT(fe_tx_check_q(&D, 1, 300, 12, FM_TX_ONE_DESC, 0));
	CU_ASSERT(fe_traffic_ok(&D));
}

static void
test_vring_stats(void)
{
	int i;

	CU_ASSERT_FATAL(fe_dev_open(&D, BSTATS, NULL) == 0);
	CU_ASSERT(rte_vhost_vring_stats_get_names(D.vid, 0, NULL, 0) > 0);
	CU_ASSERT_EQUAL(rte_vhost_vring_stats_reset(D.vid, 0), 0);
	CU_ASSERT_EQUAL(rte_vhost_vring_stats_reset(D.vid, 1), 0);
	for (i = 0; i < 3; i++)
		CU_ASSERT(fe_rx_check(&D, 100, (uint32_t)i));
	for (i = 0; i < 2; i++)
		CU_ASSERT(fe_tx_check(&D, 200, (uint32_t)i, FM_TX_ONE_DESC, 0));
	CU_ASSERT_EQUAL(fe_vring_stat(D.vid, 0, "_good_packets"), 3);
	CU_ASSERT_EQUAL(fe_vring_stat(D.vid, 0, "_good_bytes"), 300);
	CU_ASSERT_EQUAL(fe_vring_stat(D.vid, 1, "_good_packets"), 2);
	CU_ASSERT_EQUAL(fe_vring_stat(D.vid, 1, "_good_bytes"), 400);
	CU_ASSERT_EQUAL(rte_vhost_vring_stats_reset(D.vid, 0), 0);
	CU_ASSERT_EQUAL(fe_vring_stat(D.vid, 0, "_good_packets"), 0);
	/* A socket registered without the flag has no statistics. */
	CU_ASSERT_FATAL(fe_dev_open(&D2, B, NULL) == 0);
	CU_ASSERT(rte_vhost_vring_stats_get_names(D2.vid, 0, NULL, 0) < 0);
}

static bool
all_zero(const uint8_t *p, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* --- lifecycle --- */

/* Re-sends a ring's setup with a base, as QEMU does after a stop. */
static void
resume_vring(struct fm_frontend *m, uint32_t q, uint32_t base)
{
	struct vhost_vring_addr a;

	fm_vring_addr_of(m, q, &a);
	CU_ASSERT_EQUAL(fm_set_state(m, FM_REQ_SET_VRING_NUM, q,
			m->vr[q].size), FM_OK);
	CU_ASSERT_EQUAL(fm_set_vring_addr(m, &a), FM_OK);
	CU_ASSERT_EQUAL(fm_set_state(m, FM_REQ_SET_VRING_BASE, q, base), FM_OK);
	CU_ASSERT_EQUAL(fm_set_vring_fd(m, FM_REQ_SET_VRING_CALL, q,
			m->vr[q].call_fd), FM_OK);
	CU_ASSERT_EQUAL(fm_set_vring_fd(m, FM_REQ_SET_VRING_KICK, q,
			m->vr[q].kick_fd), FM_OK);
	CU_ASSERT_EQUAL(fm_set_state(m, FM_REQ_SET_VRING_ENABLE, q, 1), FM_OK);
}

static void
test_get_vring_base_stops_device(void)
{
	uint32_t base0 = 0, base1 = 0;
	int destroys, news, i;

	CU_ASSERT_FATAL(fe_dev_open(&D, B, NULL) == 0);
	for (i = 0; i < 3; i++)
		CU_ASSERT(fe_rx_check(&D, 100, (uint32_t)i));
	for (i = 0; i < 2; i++)
		CU_ASSERT(fe_tx_check(&D, 100, (uint32_t)i, FM_TX_ONE_DESC, 0));
	destroys = atomic_load(&B->ev.destroy_device);
	CU_ASSERT_EQUAL(fm_get_vring_base(&D.m, 0, &base0), FM_OK);
	CU_ASSERT_EQUAL(base0, 3);
	CU_ASSERT(fe_wait_at_least(&B->ev.destroy_device, destroys + 1,
			FE_EVENT_MS));
	CU_ASSERT_EQUAL(fm_get_vring_base(&D.m, 1, &base1), FM_OK);
	CU_ASSERT_EQUAL(base1, 2);
	CU_ASSERT(fe_stays_below(&B->ev.destroy_device, destroys + 2,
			FE_QUIET_MS));
	/* Resume from where the rings stopped: a new device, same memory. */
	news = atomic_load(&B->ev.new_device);
	resume_vring(&D.m, 0, base0);
	resume_vring(&D.m, 1, base1);
	CU_ASSERT_FATAL(fe_wait_at_least(&B->ev.new_device, news + 1,
			FE_EVENT_MS));
	D.vid = atomic_load(&B->ev.vid);
	CU_ASSERT(fe_traffic_ok(&D));
	CU_ASSERT(fe_stays_below(&B->ev.new_device, news + 2, FE_QUIET_MS));
}

static uint32_t
mem_table_regions(int vid)
{
	struct rte_vhost_memory *mem = NULL;
	uint32_t n;

	if (rte_vhost_get_mem_table(vid, &mem) != 0)
		return 0;
	n = mem->nregions;
	free(mem);
	return n;
}

static void
test_mem_table_replaced_while_running(void)
{
	struct fm_mem view;
	int r2;

	CU_ASSERT_FATAL(fe_dev_open(&D, B, NULL) == 0);
	CU_ASSERT(fe_traffic_ok(&D));
	/* Hot-plug: the old regions stay, a third one comes. */
	r2 = fm_mem_add_region(&D.m.mem, 2ull << 30, 4u << 20, 8192);
	CU_ASSERT_FATAL(r2 == 2);
	CU_ASSERT_EQUAL_FATAL(fm_set_mem_table(&D.m, &D.m.mem), FM_OK);
	CU_ASSERT_EQUAL(mem_table_regions(D.vid), 3);
	for (D.buf_region = 0; D.buf_region < 3; D.buf_region++)
		CU_ASSERT(fe_traffic_ok(&D));
	/* Unplug region 1; the rings live in region 0. */
	view = D.m.mem;
	view.r[1] = view.r[2];
	view.nregions = 2;
	CU_ASSERT_EQUAL_FATAL(fm_set_mem_table(&D.m, &view), FM_OK);
	CU_ASSERT_EQUAL(mem_table_regions(D.vid), 2);
	D.buf_region = 0;
	CU_ASSERT(fe_traffic_ok(&D));
	D.buf_region = 2;
	CU_ASSERT(fe_traffic_ok(&D));
	D.buf_region = 0;
}

/* The application side of the stress test: dequeues and checks order. */
struct stress {
	int vid;
	atomic_bool stop;
	atomic_uint got;
	atomic_uint bad;
};

#define STRESS_LEN 256u
#define STRESS_BUFS 128

static void
stress_packet(uint8_t *buf, uint32_t seq)
{
	fe_packet(buf, STRESS_LEN, seq);
	memcpy(buf + 14, &seq, sizeof(seq));
}

static void *
stress_app(void *arg)
{
	struct stress *s = arg;
	uint8_t want[STRESS_LEN], got[STRESS_LEN];
	uint32_t seq = 0;

	while (!atomic_load(&s->stop)) {
		struct rte_mbuf *pkts[32];
		uint16_t n = rte_vhost_dequeue_burst(s->vid, FE_TXQ, fe_pool,
				pkts, 32);
		uint16_t i;

		for (i = 0; i < n; i++) {
			stress_packet(want, seq++);
			if (fe_mbuf_copy_out(pkts[i], got, sizeof(got)) !=
					(int)STRESS_LEN ||
					memcmp(want, got, STRESS_LEN) != 0)
				atomic_fetch_add(&s->bad, 1);
			rte_pktmbuf_free(pkts[i]);
		}
		atomic_fetch_add(&s->got, n);
	}
	return NULL;
}

/*
 * The memory table changes again and again while another thread
 * dequeues: the backend must never touch a mapping it is replacing.
 */
static void
test_mem_table_replaced_under_traffic(void)
{
	struct fm_vring *vr;
	struct fm_mem small;
	struct stress s = { .vid = -1 };
	uint8_t *bufs[STRESS_BUFS];
	int head_buf[1024];
	int free_bufs[STRESS_BUFS], nfree = 0;
	uint32_t sent = 0;
	unsigned int tables = 0, table_fail = 0;
	pthread_t th;
	int64_t start, end;
	int i;

	CU_ASSERT_FATAL(fe_dev_open(&D, B, NULL) == 0);
	vr = &D.m.vr[FE_TXQ];
	CU_ASSERT_FATAL(fm_mem_add_region(&D.m.mem, 2ull << 30, 1u << 20, 0)
			== 2);
	small = D.m.mem;
	small.nregions = 2;
	for (i = 0; i < STRESS_BUFS; i++) {
		/* Packets in both regions that stay in every table. */
		bufs[i] = fm_mem_alloc(&D.m.mem, i % 2,
				FM_NET_HDR_LEN + STRESS_LEN, 64);
		CU_ASSERT_FATAL(bufs[i] != NULL);
		free_bufs[nfree++] = i;
	}
	s.vid = D.vid;
	CU_ASSERT_FATAL(pthread_create(&th, NULL, stress_app, &s) == 0);
	/* 1.5 s of churn, and at least 10 tables. */
	start = fm_now_ms();
	while (fe_more_rounds(start, 1500, tables, 10)) {
		struct vring_used_elem e;
		int k;

		while (fm_vring_pop_used(vr, &e, NULL))
			if (e.id < 1024)
				free_bufs[nfree++] = head_buf[e.id];
		for (k = 0; k < 16 && nfree > 0; k++) {
			int b = free_bufs[--nfree];
			struct fm_seg seg = {
				fm_ptr_gpa(&D.m.mem, bufs[b]),
				FM_NET_HDR_LEN + STRESS_LEN, false
			};
			int head;

			stress_packet(bufs[b] + FM_NET_HDR_LEN, sent);
			head = fm_vring_add_chain(vr, &seg, 1);
			if (head < 0) {
				free_bufs[nfree++] = b;
				break;
			}
			head_buf[head] = b;
			sent++;
		}
		fm_vring_kick(vr);
		/* Alternate tables so each one is a real change. */
		if (fm_set_mem_table(&D.m, tables % 2 ? &small : &D.m.mem) !=
				FM_OK)
			table_fail++;
		tables++;
	}
	end = fm_now_ms() + FE_EVENT_MS;
	while (atomic_load(&s.got) < sent && fm_now_ms() < end)
		usleep(1000);
	atomic_store(&s.stop, true);
	pthread_join(th, NULL);
	{
		struct vring_used_elem e;

		while (fm_vring_pop_used(vr, &e, NULL))
			;
	}
	printf("    stress: %u packets, %u tables\n", sent, tables);
	CU_ASSERT(tables >= 10);
	CU_ASSERT_EQUAL(table_fail, 0);
	CU_ASSERT_EQUAL(atomic_load(&s.got), sent);
	CU_ASSERT_EQUAL(atomic_load(&s.bad), 0);
	CU_ASSERT(fe_traffic_ok(&D));
}

static void
test_vring_enable_disable(void)
{
	struct vring_used_elem e;
	struct rte_mbuf *mb[4];
	uint8_t pkt[100];
	int n, head;

	CU_ASSERT_FATAL(fe_dev_open(&D, B, NULL) == 0);
	CU_ASSERT(fe_wait_vring_state(B, 1, 1, FE_EVENT_MS));
	fe_backend_reset_events(B);
	CU_ASSERT_EQUAL(fm_set_state(&D.m, FM_REQ_SET_VRING_ENABLE, 1, 0),
			FM_OK);
	CU_ASSERT(fe_wait_vring_state(B, 1, 0, FE_EVENT_MS));
	/* A disabled ring is not processed. */
	fe_packet(pkt, sizeof(pkt), 9);
	head = fm_net_post_tx(&D.m.vr[FE_TXQ], &D.m.mem, 0, pkt, sizeof(pkt),
			FM_TX_ONE_DESC, 0);
	CU_ASSERT_FATAL(head >= 0);
	n = fe_dequeue_wait(D.vid, mb, 1, 4, 200);
	CU_ASSERT_EQUAL(n, 0);
	while (n > 0)
		rte_pktmbuf_free(mb[--n]);
	CU_ASSERT_EQUAL(fm_set_state(&D.m, FM_REQ_SET_VRING_ENABLE, 1, 1),
			FM_OK);
	CU_ASSERT(fe_wait_vring_state(B, 1, 1, FE_EVENT_MS));
	CU_ASSERT_EQUAL(atomic_load(&B->ev.vring_changes[1]), 2);
	n = fe_dequeue_wait(D.vid, mb, 1, 4, 1000);
	CU_ASSERT_EQUAL(n, 1);
	while (n > 0)
		rte_pktmbuf_free(mb[--n]);
	CU_ASSERT(fm_vring_pop_used(&D.m.vr[FE_TXQ], &e, NULL));
	CU_ASSERT_EQUAL(e.id, (uint32_t)head);
	/* The RX ring too. */
	CU_ASSERT_EQUAL(fm_set_state(&D.m, FM_REQ_SET_VRING_ENABLE, 0, 0),
			FM_OK);
	CU_ASSERT(fe_wait_vring_state(B, 0, 0, FE_EVENT_MS));
	CU_ASSERT_EQUAL(fm_set_state(&D.m, FM_REQ_SET_VRING_ENABLE, 0, 1),
			FM_OK);
	CU_ASSERT(fe_wait_vring_state(B, 0, 1, FE_EVENT_MS));
	CU_ASSERT_EQUAL(atomic_load(&B->ev.destroy_device), 0);
	CU_ASSERT(fe_traffic_ok(&D));
}

/* VHOST_F_LOG_ALL may change while running (migration starts/ends). */
static void
test_features_changed_log_all(void)
{
	uint64_t f0, feat = 0;

	CU_ASSERT_FATAL(fe_dev_open(&D, B, NULL) == 0);
	CU_ASSERT_FATAL(D.m.offered_features & FM_BIT(VHOST_F_LOG_ALL));
	f0 = D.m.features;
	fe_backend_reset_events(B);
	CU_ASSERT_EQUAL(fm_set_u64(&D.m, FM_REQ_SET_FEATURES,
			f0 | FM_BIT(VHOST_F_LOG_ALL)), FM_OK);
	CU_ASSERT(fe_wait_at_least(&B->ev.features_changed, 1, FE_EVENT_MS));
	CU_ASSERT_EQUAL(atomic_load(&B->ev.features), f0 | FM_BIT(VHOST_F_LOG_ALL));
	CU_ASSERT_EQUAL(rte_vhost_get_negotiated_features(D.vid, &feat), 0);
	CU_ASSERT_EQUAL(feat, f0 | FM_BIT(VHOST_F_LOG_ALL));
	/* No log area was given: logging must simply not happen. */
	CU_ASSERT(fe_traffic_ok(&D));
	CU_ASSERT_EQUAL(fm_set_u64(&D.m, FM_REQ_SET_FEATURES, f0), FM_OK);
	CU_ASSERT(fe_wait_at_least(&B->ev.features_changed, 2, FE_EVENT_MS));
	CU_ASSERT_EQUAL(atomic_load(&B->ev.features), f0);
	CU_ASSERT_EQUAL(atomic_load(&B->ev.destroy_device), 0);
	CU_ASSERT(fe_traffic_ok(&D));
}

static bool
page_dirty(const uint8_t *log, uint64_t gpa)
{
	uint64_t page = gpa / 4096;

	return (log[page / 8] >> (page % 8)) & 1;
}

/*
 * Live migration: with a log area and VHOST_F_LOG_ALL, every guest page
 * the backend writes (RX buffers, used rings) is marked in the bitmap
 * (one bit per 4 KiB of guest-physical space).
 */
static void
test_dirty_log(void)
{
	struct fm_config cfg;
	struct vhost_vring_addr a;
	uint64_t log_size, f0;
	uint8_t *log, *buf;
	uint8_t pkt[300];
	int q, head, nbufs;
	struct virtio_net_hdr_mrg_rxbuf hdr;
	uint8_t got[2048];

	fm_config_default(&cfg);
	cfg.protocol |= FM_BIT(FM_PF_LOG_SHMFD);
	CU_ASSERT_FATAL(fe_dev_open(&D, B, &cfg) == 0);
	/* Enough bits for the highest guest address in use. */
	log_size = ((cfg.regions[1].gpa + cfg.regions[1].size) / 4096 + 7) / 8;
	log = fe_log_start(&D.m, log_size, &f0);
	/* As QEMU does when migration starts: log the used rings too. */
	for (q = 0; q < 2; q++) {
		fm_vring_addr_of(&D.m, (uint32_t)q, &a);
		a.flags = 1u << VHOST_VRING_F_LOG;
		a.log_guest_addr = fm_ptr_gpa(&D.m.mem, D.m.vr[q].used);
		CU_ASSERT_EQUAL(fm_set_vring_addr(&D.m, &a), FM_OK);
	}
	memset(log, 0, log_size);
	/* An RX buffer in region 1, a page away from anything else. */
	buf = fm_mem_alloc(&D.m.mem, 1, 8192, 4096);
	CU_ASSERT_FATAL(buf != NULL);
	buf += 4096;
	{
		struct fm_seg seg = { fm_ptr_gpa(&D.m.mem, buf), 2048, true };

		head = fm_vring_add_chain(&D.m.vr[FE_RXQ], &seg, 1);
		CU_ASSERT_FATAL(head >= 0);
	}
	fe_packet(pkt, sizeof(pkt), 5);
	{
		struct rte_mbuf *m = fe_mbuf_make(pkt, sizeof(pkt), 0);

		CU_ASSERT_FATAL(m != NULL);
		CU_ASSERT_EQUAL(rte_vhost_enqueue_burst(D.vid, FE_RXQ, &m, 1), 1);
		rte_pktmbuf_free(m);
	}
	CU_ASSERT_EQUAL(fm_net_recv(&D.m.vr[FE_RXQ], &D.m.mem, true, &hdr, got,
			sizeof(got), &nbufs), (int)sizeof(pkt));
	CU_ASSERT(page_dirty(log, fm_ptr_gpa(&D.m.mem, buf)));
	CU_ASSERT(page_dirty(log, fm_ptr_gpa(&D.m.mem, D.m.vr[FE_RXQ].used)));
	/* The page before the buffer was not written. */
	CU_ASSERT(!page_dirty(log, fm_ptr_gpa(&D.m.mem, buf) - 4096));
	/* TX writes only the used ring. */
	CU_ASSERT(fe_tx_check(&D, 100, 6, FM_TX_ONE_DESC, 0));
	CU_ASSERT(page_dirty(log, fm_ptr_gpa(&D.m.mem, D.m.vr[FE_TXQ].used)));
	/* Migration over: no more logging. */
	CU_ASSERT_EQUAL(fm_set_u64(&D.m, FM_REQ_SET_FEATURES, f0), FM_OK);
	memset(log, 0, log_size);
	CU_ASSERT(fe_traffic_ok(&D));
	CU_ASSERT(all_zero(log, log_size));
	munmap(log, log_size);
}

/* Unregistering a socket with a live device tears the device down. */
static void
test_unregister_while_connected(void)
{
	int base = test_count_fds();

	TMPB = fe_backend_start("unreg", 0);
	CU_ASSERT_FATAL(TMPB != NULL);
	CU_ASSERT_FATAL(fe_dev_open(&D, TMPB, NULL) == 0);
	CU_ASSERT(fe_traffic_ok(&D));
	CU_ASSERT_EQUAL(fe_backend_stop(TMPB), 0);
	/* Synchronous, as in DPDK: once unregister returns, the application
	 * may free what its callbacks use. */
	CU_ASSERT_EQUAL(atomic_load(&TMPB->ev.destroy_device), 1);
	CU_ASSERT(fm_wait_closed(D.m.sock, FE_EVENT_MS));
	TMPB = NULL;
	fm_frontend_close(&D.m);
	CU_ASSERT(fe_wait_fd_count(base, FE_EVENT_MS) <= base);
}

/* --- reconnection --- */

static void
test_server_reconnect_cycles(void)
{
	int base, i, news, destroys;

	base = test_count_fds();
	news = atomic_load(&B->ev.new_device);
	destroys = atomic_load(&B->ev.destroy_device);
	for (i = 0; i < 4; i++) {
		CU_ASSERT_FATAL(fe_dev_open(&D, B, NULL) == 0);
		CU_ASSERT(fe_traffic_ok(&D));
		CU_ASSERT(fe_dev_close(&D, true));
		CU_ASSERT(fe_wait_fd_count(base, FE_EVENT_MS) <= base);
	}
	CU_ASSERT_EQUAL(atomic_load(&B->ev.new_device), news + 4);
	CU_ASSERT_EQUAL(atomic_load(&B->ev.destroy_device), destroys + 4);
}

/* The frontend listens (LFD), then the client-mode backend `name`
 * (RTE_VHOST_USER_CLIENT | flags) starts (TMPB). */
static void
listen_then_start_client(const char *name, uint64_t flags)
{
	char path[256];

	fe_sock_path(path, sizeof(path), name);
	LFD = fm_listen(path);
	CU_ASSERT_FATAL(LFD >= 0);
	TMPB = fe_backend_register(name, RTE_VHOST_USER_CLIENT | flags);
	CU_ASSERT_FATAL(TMPB != NULL);
	CU_ASSERT_FATAL(rte_vhost_driver_start(TMPB->path) == 0);
}

static void
test_client_mode_reconnects(void)
{
	int i;

	listen_then_start_client("client", 0);
	for (i = 0; i < 3; i++) {
		int s = fm_accept(LFD, FE_EVENT_MS);

		CU_ASSERT_FATAL(s >= 0);
		CU_ASSERT_FATAL(fe_dev_open_sock(&D, TMPB, s, NULL) == 0);
		CU_ASSERT(fe_traffic_ok(&D));
		CU_ASSERT(fe_dev_close(&D, true));
	}
	CU_ASSERT_EQUAL(atomic_load(&TMPB->ev.new_device), 3);
}

/* With NO_RECONNECT the backend does not connect again after the
 * frontend closed. The absence is watched until the thread that would
 * reconnect has shown it went round after the close: a second client
 * backend with nothing listening ("client-marker") failed twice more, each
 * attempt on a later round of that thread, however busy the machine. */
static void
test_client_mode_no_reconnect(void)
{
	struct fe_backend *marker;
	char path[256];
	int s, n0;

	fe_sock_path(path, sizeof(path), "client-marker");
	fe_connect_spy_watch(path);
	marker = fe_backend_register("client-marker", RTE_VHOST_USER_CLIENT);
	CU_ASSERT_FATAL(marker != NULL);
	CU_ASSERT_FATAL(rte_vhost_driver_start(marker->path) == 0);
	listen_then_start_client("client-noreco", RTE_VHOST_USER_NO_RECONNECT);
	s = fm_accept(LFD, FE_EVENT_MS);
	CU_ASSERT_FATAL(s >= 0);
	CU_ASSERT_FATAL(fe_dev_open_sock(&D, TMPB, s, NULL) == 0);
	CU_ASSERT(fe_traffic_ok(&D));
	CU_ASSERT(fe_dev_close(&D, true));
	CU_ASSERT(fe_wait_at_least(&TMPB->ev.destroy_connection, 1,
			FE_EVENT_MS));
	n0 = fe_connect_spy_failed();
	CU_ASSERT(fe_connect_spy_wait_failed(n0 + 2,
			2 * RECONNECT_INTERVAL_MS + FE_EVENT_MS));
	s = fm_accept(LFD, 0);
	CU_ASSERT(s < 0);
	if (s >= 0)
		close(s);
	CU_ASSERT_EQUAL(fe_backend_stop(marker), 0);
}

/* The backend starts first and keeps trying until the frontend listens:
 * the frontend listens once the library's client has failed twice, in
 * rte_vhost_driver_start and again later on its own (connect() calls
 * counted, fe_connect_spy.h). */
static void
test_client_mode_frontend_late(void)
{
	char path[256];
	int s;

	fe_sock_path(path, sizeof(path), "client-late");
	fe_connect_spy_watch(path);
	TMPB = fe_backend_register("client-late", RTE_VHOST_USER_CLIENT);
	CU_ASSERT_FATAL(TMPB != NULL);
	CU_ASSERT_FATAL(rte_vhost_driver_start(TMPB->path) == 0);
	CU_ASSERT_EQUAL(fe_connect_spy_failed(), 1);
	/* The retries are the event thread's, one per interval. */
	CU_ASSERT_FATAL(fe_connect_spy_wait_failed(2,
			RECONNECT_INTERVAL_MS + FE_EVENT_MS));
	LFD = fm_listen(path);
	CU_ASSERT_FATAL(LFD >= 0);
	s = fm_accept(LFD, RECONNECT_INTERVAL_MS + FE_EVENT_MS);
	CU_ASSERT_FATAL(s >= 0);
	CU_ASSERT_FATAL(fe_dev_open_sock(&D, TMPB, s, NULL) == 0);
	CU_ASSERT(fe_traffic_ok(&D));
}

/* --- several devices --- */

static void
test_two_sockets(void)
{
	int d1, d2;

	CU_ASSERT_FATAL(fe_dev_open(&D, B, NULL) == 0);
	CU_ASSERT_FATAL(fe_dev_open(&D2, B2, NULL) == 0);
	CU_ASSERT(D.vid != D2.vid);
	CU_ASSERT(fe_rx_check(&D, 200, 1));
	CU_ASSERT(fe_rx_check(&D2, 300, 2));
	CU_ASSERT(fe_tx_check(&D2, 400, 3, FM_TX_CHAINED, 100));
	CU_ASSERT(fe_tx_check(&D, 500, 4, FM_TX_INDIRECT, 128));
	d1 = atomic_load(&B->ev.destroy_device);
	d2 = atomic_load(&B2->ev.destroy_device);
	CU_ASSERT(fe_dev_close(&D, true));
	CU_ASSERT_EQUAL(atomic_load(&B->ev.destroy_device), d1 + 1);
	CU_ASSERT_EQUAL(atomic_load(&B2->ev.destroy_device), d2);
	CU_ASSERT(fe_traffic_ok(&D2));
}

static CU_TestInfo handshake_tests[] = {
	{ "new_device_once", test_handshake_new_device_once },
	{ "mem_table_view", test_handshake_mem_table_view },
	{ "vring_view", test_handshake_vring_view },
	{ "without_protocol_features", test_handshake_without_protocol_features },
	{ "two_queue_pairs", test_handshake_two_queue_pairs },
	{ "vring_stats", test_vring_stats },
	CU_TEST_INFO_NULL,
};

static CU_TestInfo lifecycle_tests[] = {
	{ "get_vring_base_stops_device", test_get_vring_base_stops_device },
	{ "mem_table_replaced_while_running",
		test_mem_table_replaced_while_running },
	{ "mem_table_replaced_under_traffic",
		test_mem_table_replaced_under_traffic },
	{ "vring_enable_disable", test_vring_enable_disable },
	{ "features_changed_log_all", test_features_changed_log_all },
	{ "dirty_log", test_dirty_log },
	{ "unregister_while_connected", test_unregister_while_connected },
	CU_TEST_INFO_NULL,
};

static CU_TestInfo reconnect_tests[] = {
	{ "server_reconnect_cycles", test_server_reconnect_cycles },
	{ "client_mode_reconnects", test_client_mode_reconnects },
	{ "client_mode_no_reconnect", test_client_mode_no_reconnect },
	{ "client_mode_frontend_late", test_client_mode_frontend_late },
	{ "two_sockets", test_two_sockets },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "handshake", NULL, NULL, test_setup, test_teardown,
		handshake_tests },
	{ "lifecycle", NULL, NULL, test_setup, test_teardown, lifecycle_tests },
	{ "reconnect", NULL, NULL, test_setup, test_teardown, reconnect_tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	int ret;

	if (fe_init("socket") != 0)
		return 2;
	ret = start_backends() == 0 ? fe_run(suites, argc, argv) : 2;
	fe_fini();
	return ret;
}
