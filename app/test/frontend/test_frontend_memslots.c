/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Memory slots (CONFIGURE_MEM_SLOTS): regions added and removed one at a
 * time with ADD_MEM_REG / REM_MEM_REG on a running device, as QEMU does
 * when DIMMs are hot-plugged. Hundreds of regions with traffic through
 * them, add/remove while a datapath thread polls, chains pointing into a
 * removed region, SET_MEM_TABLE and disconnect replacing an added set,
 * and every malformed variant (refused, nothing leaked, witness fine).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <rte_vhost.h>

#include "fe_log.h"
#include "fe_victim.h"
#include "test_memfd.h"

#define REQ_ADD_MEM_REG 37
#define REQ_REM_MEM_REG 38
#define PF_CONFIGURE_MEM_SLOTS 15
#define MAX_SLOTS 509
/* Regions the victim's SET_MEM_TABLE already holds (fm_config_default). */
#define BASE_REGIONS 2
#define XREG_SIZE (64u << 10)
#define XREG_GPA(i) (0x100000000ull + (uint64_t)(i) * 0x200000ull)
#define XTAG "fe-memslot"

/* A region the test adds: its own memfd, mapped on the frontend's side. */
struct xreg {
	int fd;
	uint8_t *base;
	uint64_t gpa;
	uint64_t size;
	uint64_t off;
};

struct mem_reg_msg {
	uint64_t padding;
	struct fm_wire_region r;
};

static struct xreg xr[MAX_SLOTS + 1];

static bool
xreg_make(struct xreg *x, uint64_t gpa, uint64_t size)
{
	void *base;

	x->fd = test_memfd_map(XTAG, size, 0, &base);
	x->base = base;
	if (x->fd < 0)
		return false;
	x->gpa = gpa;
	x->size = size;
	x->off = 0;
	return true;
}

static void
xreg_free(struct xreg *x)
{
	if (x->base != NULL)
		munmap(x->base, x->size);
	if (x->fd >= 0)
		close(x->fd);
	x->base = NULL;
	x->fd = -1;
}

static struct mem_reg_msg
xreg_msg(const struct xreg *x)
{
	return (struct mem_reg_msg){ .r = {
		.guest_phys_addr = x->gpa, .memory_size = x->size,
		.userspace_addr = fm_ptr_uaddr(x->base), .mmap_offset = x->off,
	} };
}

static int
add_reg(const struct xreg *x)
{
	struct mem_reg_msg m = xreg_msg(x);

	return fm_request(VM, REQ_ADD_MEM_REG, &m, sizeof(m), &x->fd, 1, NULL);
}

static int
rem_reg(const struct xreg *x)
{
	struct mem_reg_msg m = xreg_msg(x);

	return fm_request(VM, REQ_REM_MEM_REG, &m, sizeof(m), NULL, 0, NULL);
}

/* Turns CONFIGURE_MEM_SLOTS on for the victim (a second
 * SET_PROTOCOL_FEATURES: the shared victim set-up negotiates without it,
 * so the same programs still run against Debian's library). */
static bool
enable_slots(void)
{
	uint64_t offered = 0;

	if (fm_get_u64(VM, FM_REQ_GET_PROTOCOL_FEATURES, &offered) != FM_OK ||
	    !(offered & FM_BIT(PF_CONFIGURE_MEM_SLOTS)))
		return fe_fail("CONFIGURE_MEM_SLOTS not offered (0x%llx)",
				(unsigned long long)offered);
	VM->protocol |= FM_BIT(PF_CONFIGURE_MEM_SLOTS);
	return fm_set_u64(VM, FM_REQ_SET_PROTOCOL_FEATURES, VM->protocol) == FM_OK;
}

/* Backend regions now, as rte_vhost_get_mem_table shows them. */
static int
nregions(void)
{
	struct rte_vhost_memory *mem = NULL;
	int n;

	if (rte_vhost_get_mem_table(fe_victim.vid, &mem) != 0)
		return -1;
	n = (int)mem->nregions;
	free(mem);
	return n;
}

/* Mappings of XTAG memfds in this process (frontend's and backend's). */
static int
tag_mappings(void)
{
	return test_count_maps("memfd:" XTAG);
}

/* Posts one TX packet (header + bytes in one descriptor) in x. */
static int
post_tx_in(struct xreg *x, uint32_t len, uint32_t seed)
{
	struct fm_seg seg = { x->gpa, FM_NET_HDR_LEN + len, false };

	memset(x->base, 0, FM_NET_HDR_LEN);
	fe_packet(x->base + FM_NET_HDR_LEN, len, seed);
	return fm_vring_add_chain(&VM->vr[FE_TXQ], &seg, 1);
}

/* Dequeues exactly the packet post_tx_in(x, len, seed) posted. */
static bool
tx_arrives(uint32_t len, uint32_t seed, const char *what)
{
	uint8_t want[2048], got[2048];
	struct rte_mbuf *m = NULL;
	int n = fe_dequeue_wait(fe_victim.vid, &m, 1, 1, FE_WAIT_MS);
	bool ok;

	if (n != 1)
		return fe_fail("%s: %d packets dequeued", what, n);
	fe_packet(want, len, seed);
	ok = fe_mbuf_copy_out(m, got, sizeof(got)) == (int)len &&
		memcmp(want, got, len) == 0;
	rte_pktmbuf_free(m);
	return ok ? true : fe_fail("%s: wrong packet", what);
}

/* Takes every used element of ring q (packets the test checked itself). */
static void
pop_all(int q)
{
	struct vring_used_elem e;
	int waited = 0;

	/* The backend publishes used entries at the end of its burst. */
	while (fm_vring_used_pending(&VM->vr[q]) == 0 && waited++ < FE_WAIT_MS)
		usleep(1000);
	while (fm_vring_pop_used(&VM->vr[q], &e, NULL))
		;
}

/* Chains refused on ring q so far; -1 when the target keeps no per-ring
 * counters (they need RTE_VHOST_USER_NET_STATS_ENABLE, as in DPDK). */
static int64_t
refused_chains(int q)
{
	return fe_vring_stat(fe_victim.vid, (uint16_t)q, "invalid_descriptor_chains");
}

/* Mappings of XTAG memfds drop to n (the device is freed after
 * destroy_device). */
static bool
tag_mappings_drop_to(int n)
{
	for (int waited = 0; waited < FE_EVENT_MS / 10; waited++) {
		if (tag_mappings() <= n)
			return true;
		usleep(10000);
	}
	return tag_mappings() <= n;
}

static bool
open_with_slots(void)
{
	return fe_victim_open(FE_RUNNING) && enable_slots();
}

static void
close_case(const char *name)
{
	fe_dev_close(&fe_victim, true);
	fe_check_case_fds(name);
	CU_ASSERT(fe_witness_ok(name));
}

static void
test_max_slots(void)
{
	uint64_t n = 0;

	CU_ASSERT_FATAL(open_with_slots());
	CU_ASSERT_EQUAL(fm_get_u64(VM, FM_REQ_GET_MAX_MEM_SLOTS, &n), FM_OK);
	CU_ASSERT_EQUAL(n, MAX_SLOTS);
	printf("GET_MAX_MEM_SLOTS: %llu\n", (unsigned long long)n);
	close_case("GET_MAX_MEM_SLOTS");
}

/*
 * 507 added regions beside the table's 2: 509 in all. Packets through the
 * first, a middle and the last added region; the 510th is refused; every
 * region removed in a scattered order; the backend's mappings and fds go.
 */
static void
test_hundreds(void)
{
	const int nadd = MAX_SLOTS - BASE_REGIONS;
	struct xreg extra;
	struct timespec t0, t1;
	int maps0, i, k, bad = 0;
	double add_ms, rem_ms;

	CU_ASSERT_FATAL(open_with_slots());
	for (i = 0; i < nadd; i++)
		CU_ASSERT_FATAL(xreg_make(&xr[i], XREG_GPA(i), XREG_SIZE));
	maps0 = tag_mappings();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nadd; i++)
		bad += add_reg(&xr[i]) != FM_OK;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	add_ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(nregions(), MAX_SLOTS);
	CU_ASSERT_EQUAL(tag_mappings(), maps0 + nadd);

	for (k = 0; k < 3; k++) {
		int idx = k == 0 ? 0 : k == 1 ? nadd / 2 : nadd - 1;
		char what[64];

		snprintf(what, sizeof(what), "TX through added region %d", idx);
		CU_ASSERT(post_tx_in(&xr[idx], 200 + k, 7000 + k) >= 0);
		CU_ASSERT(tx_arrives(200 + k, 7000 + k, what));
		pop_all(FE_TXQ);
	}
	CU_ASSERT_FATAL(xreg_make(&extra, XREG_GPA(nadd), XREG_SIZE));
	CU_ASSERT_EQUAL(add_reg(&extra), FM_NACK);
	xreg_free(&extra);
	CU_ASSERT(fe_traffic_ok(&fe_victim));

	/* 7 is prime to 507 (3 * 13 * 13): every region once, scattered. */
	bad = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nadd; i++)
		bad += rem_reg(&xr[(i * 7) % nadd]) != FM_OK;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rem_ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(nregions(), BASE_REGIONS);
	CU_ASSERT_EQUAL(tag_mappings(), maps0);
	CU_ASSERT(fe_traffic_ok(&fe_victim));
	printf("%d regions added in %.1f ms, removed in %.1f ms (acked one by one)\n",
			nadd, add_ms, rem_ms);
	for (i = 0; i < nadd; i++)
		xreg_free(&xr[i]);
	close_case("509 regions");
}

/* The datapath thread of the traffic test. */
static atomic_bool poll_stop;
static atomic_int polled;
static uint64_t poll_max_ns;

static void *
poller(void *arg)
{
	(void)arg;
	while (!atomic_load(&poll_stop)) {
		struct rte_mbuf *m[32];
		struct timespec a, b;
		uint16_t n;
		uint64_t ns;

		clock_gettime(CLOCK_MONOTONIC, &a);
		n = rte_vhost_dequeue_burst(fe_victim.vid, FE_TXQ, fe_pool, m, 32);
		clock_gettime(CLOCK_MONOTONIC, &b);
		ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000u +
			(uint64_t)(b.tv_nsec - a.tv_nsec);
		if (ns > poll_max_ns)
			poll_max_ns = ns;
		rte_pktmbuf_free_bulk(m, n);
		atomic_fetch_add(&polled, n);
	}
	return NULL;
}

/* Table copies an application thread took meanwhile, and how many of
 * them had a region count no table ever had. */
static atomic_int table_reads, table_bad;

/* An application thread reading the table while regions come and go:
 * the copy must be one of the tables the frontend set, never a freed
 * one (ASan runs catch a read of the replaced table). */
static void *
table_reader(void *arg)
{
	const int lo = *(const int *)arg, hi = lo + 1;
	/* Paced: on two cores a spinning reader would starve the poller. */
	const struct timespec pace = { 0, 20000 };

	while (!atomic_load(&poll_stop)) {
		struct rte_vhost_memory *mem = NULL;

		nanosleep(&pace, NULL);

		if (rte_vhost_get_mem_table(fe_victim.vid, &mem) != 0) {
			atomic_fetch_add(&table_bad, 1);
			continue;
		}
		if ((int)mem->nregions < lo || (int)mem->nregions > hi)
			atomic_fetch_add(&table_bad, 1);
		for (uint32_t i = 0; i < mem->nregions; i++)
			if (mem->regions[i].size == 0 ||
			    mem->regions[i].host_user_addr == 0)
				atomic_fetch_add(&table_bad, 1);
		free(mem);
		atomic_fetch_add(&table_reads, 1);
	}
	return NULL;
}

/*
 * 200 rounds while a thread polls the TX ring: add a region, post a
 * packet in it and in a region of the table, wait until both came, then
 * remove the region. Regions 0..7 stay added meanwhile, so the table has
 * more than the scanned 8 regions and the search is used. A second
 * thread copies the table with rte_vhost_get_mem_table all along.
 */
static void
test_add_remove_under_traffic(void)
{
	const int rounds = 200, keep = 8, fewest = BASE_REGIONS + keep;
	pthread_t th, reader;
	int i, bad = 0, lost = 0;

	CU_ASSERT_FATAL(open_with_slots());
	for (i = 0; i < keep + 1; i++) {
		CU_ASSERT_FATAL(xreg_make(&xr[i], XREG_GPA(i), XREG_SIZE));
		if (i < keep) {
			CU_ASSERT_FATAL(add_reg(&xr[i]) == FM_OK);
		}
	}
	atomic_store(&poll_stop, false);
	atomic_store(&polled, 0);
	poll_max_ns = 0;
	atomic_store(&table_reads, 0);
	atomic_store(&table_bad, 0);
	CU_ASSERT_FATAL(pthread_create(&th, NULL, poller, NULL) == 0);
	CU_ASSERT_FATAL(pthread_create(&reader, NULL, table_reader,
				       (void *)&fewest) == 0);
	for (i = 0; i < rounds; i++) {
		struct xreg *x = &xr[keep];
		int want = atomic_load(&polled) + 2;
		struct vring_used_elem e;
		struct timespec t = { 0, 100000 };
		int64_t deadline;

		bad += add_reg(x) != FM_OK;
		post_tx_in(x, 60, (uint32_t)i);
		post_tx_in(&xr[i % keep], 60, (uint32_t)i);
		/* The poller is a thread too: on a loaded machine it may
		 * wait seconds for a CPU. */
		deadline = fm_now_ms() + FE_EVENT_MS;
		while (atomic_load(&polled) < want && fm_now_ms() < deadline)
			nanosleep(&t, NULL);
		lost += atomic_load(&polled) < want;
		while (fm_vring_pop_used(&VM->vr[FE_TXQ], &e, NULL))
			;
		bad += rem_reg(x) != FM_OK;
	}
	atomic_store(&poll_stop, true);
	pthread_join(th, NULL);
	pthread_join(reader, NULL);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(lost, 0);
	CU_ASSERT_EQUAL(atomic_load(&table_bad), 0);
	CU_ASSERT(atomic_load(&table_reads) > 0);
	CU_ASSERT_EQUAL(nregions(), BASE_REGIONS + keep);
	CU_ASSERT(refused_chains(FE_TXQ) <= 0);
	printf("%d add/remove rounds under traffic: %d packets, longest burst %.1f us, %d table copies\n",
			rounds, atomic_load(&polled), poll_max_ns / 1e3,
			atomic_load(&table_reads));
	CU_ASSERT(fe_traffic_ok(&fe_victim));
	for (i = 0; i < keep + 1; i++)
		xreg_free(&xr[i]);
	close_case("add/remove under traffic");
}

/*
 * How long the datapath stalls while regions come and go. A datapath
 * thread keeps the TX ring full (one 60-byte packet in a region that
 * stays) and dequeues bursts without pause; it records the gap between
 * consecutive bursts that took packets, and how long in a row bursts
 * came back empty although chains were waiting (the rings were held).
 * The control side adds and removes one region per round on a table of
 * tens or hundreds of regions and times each acked request. Figures are
 * printed, not asserted (the machine is shared): the same measurement
 * runs first with no request, as the floor of the machine.
 */
#define STALL_BUCKETS 32

struct stall_stats {
	uint64_t progress;		/* bursts that took packets */
	uint64_t hist[STALL_BUCKETS];	/* gaps by floor(log2(ns)) */
	uint64_t gap_max_ns;
	uint64_t held_max_ns;		/* longest run of empty bursts */
	uint64_t held_runs;
};

static atomic_bool stall_stop;
static struct stall_stats stall;
static struct xreg *stall_buf;

static uint64_t
now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *
stall_poller(void *arg)
{
	struct fm_vring *vr = &VM->vr[FE_TXQ];
	struct fm_seg seg = { stall_buf->gpa, FM_NET_HDR_LEN + 60, false };
	uint64_t last = 0, run_start = 0;

	(void)arg;
	memset(stall_buf->base, 0, FM_NET_HDR_LEN);
	fe_packet(stall_buf->base + FM_NET_HDR_LEN, 60, 1);
	while (!atomic_load_explicit(&stall_stop, memory_order_relaxed)) {
		struct rte_mbuf *m[32];
		struct vring_used_elem e;
		uint64_t t;
		uint16_t n;

		while (fm_vring_pop_used(vr, &e, NULL))
			;
		while (fm_vring_add_chain(vr, &seg, 1) >= 0)
			;
		n = rte_vhost_dequeue_burst(fe_victim.vid, FE_TXQ, fe_pool, m, 32);
		t = now_ns();
		if (n == 0) {
			if (run_start == 0)
				run_start = t;
			continue;
		}
		rte_pktmbuf_free_bulk(m, n);
		if (run_start != 0) {
			uint64_t held = t - run_start;

			stall.held_runs++;
			if (held > stall.held_max_ns)
				stall.held_max_ns = held;
			run_start = 0;
		}
		if (last != 0) {
			uint64_t gap = t - last;
			int b = 63 - __builtin_clzll(gap | 1);

			stall.hist[b < STALL_BUCKETS ? b : STALL_BUCKETS - 1]++;
			if (gap > stall.gap_max_ns)
				stall.gap_max_ns = gap;
		}
		stall.progress++;
		last = t;
	}
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Upper bound (ns) of the bucket holding the q-quantile of the gaps. */
static uint64_t
stall_quantile(const struct stall_stats *s, double q)
{
	uint64_t total = 0, acc = 0;

	for (int b = 0; b < STALL_BUCKETS; b++)
		total += s->hist[b];
	for (int b = 0; b < STALL_BUCKETS; b++) {
		acc += s->hist[b];
		if (total != 0 && acc >= q * (double)total)
			return 2ull << b;
	}
	return 0;
}

static void
stall_print(const char *what, const struct stall_stats *s)
{
	uint64_t over[4] = { 0 };	/* gaps >= 16, 64, 256, 1024 us */

	for (int b = 0; b < STALL_BUCKETS; b++) {
		uint64_t lo = 1ull << b;

		for (int k = 0; k < 4; k++)
			over[k] += lo >= (16000ull << (2 * k)) ? s->hist[b] : 0;
	}
	printf("MEMSLOT-STALL %s: bursts %llu, gap p50 < %.1f us, p99 < %.1f us, "
			"p99.9 < %.1f us, max %.1f us; gaps >= 16/64/256/1024 us: "
			"%llu/%llu/%llu/%llu; empty runs %llu, longest %.1f us\n", what,
			(unsigned long long)s->progress, stall_quantile(s, 0.5) / 1e3,
			stall_quantile(s, 0.99) / 1e3, stall_quantile(s, 0.999) / 1e3,
			s->gap_max_ns / 1e3, (unsigned long long)over[0],
			(unsigned long long)over[1], (unsigned long long)over[2],
			(unsigned long long)over[3], (unsigned long long)s->held_runs,
			s->held_max_ns / 1e3);
}

/* One measurement: rounds add/remove pairs (0: sleeps for ms instead). */
static void
stall_run(const char *what, int rounds, struct xreg *x, int ms)
{
	static uint64_t rtt[2][1000];
	pthread_t th;
	int bad = 0;

	memset(&stall, 0, sizeof(stall));
	atomic_store(&stall_stop, false);
	CU_ASSERT_FATAL(pthread_create(&th, NULL, stall_poller, NULL) == 0);
	if (rounds == 0) {
		struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

		nanosleep(&t, NULL);
	}
	for (int i = 0; i < rounds && i < 1000; i++) {
		uint64_t a = now_ns();

		bad += add_reg(x) != FM_OK;
		rtt[0][i] = now_ns() - a;
		a = now_ns();
		bad += rem_reg(x) != FM_OK;
		rtt[1][i] = now_ns() - a;
	}
	atomic_store(&stall_stop, true);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(bad, 0);
	stall_print(what, &stall);
	for (int k = 0; k < 2 && rounds > 0; k++) {
		qsort(rtt[k], (size_t)rounds, sizeof(rtt[k][0]), cmp_u64);
		printf("MEMSLOT-STALL %s: %s acked in p50 %.1f us, p99 %.1f us, max %.1f us\n",
				what, k == 0 ? "ADD_MEM_REG" : "REM_MEM_REG",
				rtt[k][rounds / 2] / 1e3, rtt[k][rounds * 99 / 100] / 1e3,
				rtt[k][rounds - 1] / 1e3);
	}
}

static void
test_stall(void)
{
	const int sizes[] = { 30, 500 };
	const int rounds = 300;
	int i;

	CU_ASSERT_FATAL(open_with_slots());
	/* Slot 0 holds the packets and stays; the last one comes and goes. */
	for (i = 0; i < 502; i++)
		CU_ASSERT_FATAL(xreg_make(&xr[i], XREG_GPA(i), XREG_SIZE));
	stall_buf = &xr[0];
	CU_ASSERT_FATAL(add_reg(&xr[0]) == FM_OK);
	stall_run("quiet, 3 regions", 0, NULL, 500);
	i = 1;
	for (size_t k = 0; k < RTE_DIM(sizes); k++) {
		char what[64];

		for (; i < sizes[k]; i++)
			CU_ASSERT_FATAL(add_reg(&xr[i]) == FM_OK);
		snprintf(what, sizeof(what), "%d regions", BASE_REGIONS + sizes[k]);
		stall_run(what, rounds, &xr[501], 0);
		snprintf(what, sizeof(what), "quiet, %d regions", BASE_REGIONS + sizes[k]);
		stall_run(what, 0, NULL, 500);
	}
	CU_ASSERT_EQUAL(nregions(), BASE_REGIONS + sizes[RTE_DIM(sizes) - 1]);
	CU_ASSERT(refused_chains(FE_TXQ) <= 0);
	for (i = 0; i < sizes[RTE_DIM(sizes) - 1]; i++)
		CU_ASSERT(rem_reg(&xr[i]) == FM_OK);
	while (fm_vring_pop_used(&VM->vr[FE_TXQ], &(struct vring_used_elem){ 0 }, NULL))
		;
	for (i = 0; i < 502; i++)
		xreg_free(&xr[i]);
	close_case("datapath stall while regions come and go");
}

/* The REM/ADD payload of one of the SET_MEM_TABLE regions. */
static struct mem_reg_msg
table_reg_msg(int k)
{
	const struct fm_region *r = &VM->mem.r[k];

	return (struct mem_reg_msg){ .r = {
		.guest_phys_addr = r->gpa, .memory_size = r->size,
		.userspace_addr = fm_ptr_uaddr(r->base), .mmap_offset = r->mmap_offset,
	} };
}

/*
 * Regions of SET_MEM_TABLE removed and added back one by one. Removing
 * the region of the rings holds the rings (they cannot be found any
 * more, and say so); removing the last region leaves no table; adding
 * the regions back finds the rings again, with the rings held, and the
 * device passes traffic from where it was.
 */
static void
test_rings_region_removed(void)
{
	struct mem_reg_msg m;
	struct rte_mbuf *pkt = NULL;
	size_t mark;

	CU_ASSERT_FATAL(open_with_slots());
	CU_ASSERT_FATAL(fe_traffic_ok(&fe_victim));
	mark = fe_log_mark();
	m = table_reg_msg(0);	/* the rings' region (fm_config_default) */
	CU_ASSERT_EQUAL(fm_request(VM, REQ_REM_MEM_REG, &m, sizeof(m), NULL, 0, NULL), FM_OK);
	CU_ASSERT(fe_log_expect(mark, "rings of a removed region",
			"vring 1 is not in the new memory table"));
	CU_ASSERT_EQUAL(rte_vhost_dequeue_burst(fe_victim.vid, FE_TXQ, fe_pool, &pkt, 1), 0);
	m = table_reg_msg(1);
	CU_ASSERT_EQUAL(fm_request(VM, REQ_REM_MEM_REG, &m, sizeof(m), NULL, 0, NULL), FM_OK);
	CU_ASSERT_EQUAL(nregions(), -1);
	CU_ASSERT_EQUAL(fe_log_count(mark, "vring [01] is not in the new memory table"), 4);

	for (int k = 1; k >= 0; k--) {
		m = table_reg_msg(k);
		CU_ASSERT_EQUAL(fm_request(VM, REQ_ADD_MEM_REG, &m, sizeof(m),
				&VM->mem.r[k].fd, 1, NULL), FM_OK);
	}
	CU_ASSERT_EQUAL(nregions(), BASE_REGIONS);
	CU_ASSERT(fe_traffic_ok(&fe_victim));
	printf("rings' region removed and added back: traffic %s\n",
			fe_traffic_ok(&fe_victim) ? "flows" : "broken");
	close_case("rings' region removed");
}

/*
 * Chains posted into a region, then the region removed before the
 * backend ran: the TX chain comes back with length 0 and is counted; the
 * RX buffer is not written (the frontend still maps it and checks).
 */
static void
test_remove_with_chains(void)
{
	struct xreg *x = &xr[0];
	struct rte_mbuf *m = NULL;
	struct vring_used_elem e;
	struct fm_seg rx = { 0, 1024, true };
	int64_t inval0;
	uint8_t pkt[128];
	int head, k, n;

	CU_ASSERT_FATAL(open_with_slots());
	CU_ASSERT_FATAL(xreg_make(x, XREG_GPA(0), XREG_SIZE));
	CU_ASSERT_FATAL(add_reg(x) == FM_OK);
	inval0 = refused_chains(FE_TXQ);

	head = post_tx_in(x, 100, 1);
	CU_ASSERT_FATAL(head >= 0);
	memset(x->base + 4096, FM_NET_POISON, 1024);
	rx.addr = x->gpa + 4096;
	CU_ASSERT_FATAL(fm_vring_add_chain(&VM->vr[FE_RXQ], &rx, 1) >= 0);
	CU_ASSERT_FATAL(rem_reg(x) == FM_OK);

	n = rte_vhost_dequeue_burst(fe_victim.vid, FE_TXQ, fe_pool, &m, 1);
	CU_ASSERT_EQUAL(n, 0);
	if (n > 0)
		rte_pktmbuf_free(m);
	CU_ASSERT(fm_vring_pop_used(&VM->vr[FE_TXQ], &e, NULL));
	CU_ASSERT_EQUAL(e.id, (uint32_t)head);
	CU_ASSERT_EQUAL(e.len, 0);
	if (inval0 >= 0)
		CU_ASSERT_EQUAL(refused_chains(FE_TXQ), inval0 + 1);

	fe_packet(pkt, sizeof(pkt), 3);
	m = fe_mbuf_make(pkt, sizeof(pkt), 0);
	CU_ASSERT_FATAL(m != NULL);
	n = rte_vhost_enqueue_burst(fe_victim.vid, FE_RXQ, &m, 1);
	if (n == 0)
		rte_pktmbuf_free(m);
	for (k = 0; k < 1024; k++)
		if (x->base[4096 + k] != FM_NET_POISON)
			break;
	CU_ASSERT_EQUAL(k, 1024);
	CU_ASSERT(fm_vring_pop_used(&VM->vr[FE_RXQ], &e, NULL));
	CU_ASSERT_EQUAL(e.len, 0);
	printf("removed region: TX chain used len %u, RX buffer untouched: %s\n",
			e.len, k == 1024 ? "yes" : "no");
	CU_ASSERT(fe_traffic_ok(&fe_victim));
	xreg_free(x);
	close_case("chains into a removed region");
}

static bool
page_dirty(const uint8_t *log, uint64_t gpa)
{
	uint64_t page = gpa / 4096;

	return (log[page / 8] >> (page % 8)) & 1;
}

/* Pages of [gpa, gpa + size) marked in the log. */
static int
dirty_pages(const uint8_t *log, uint64_t gpa, uint64_t size)
{
	int n = 0;

	for (uint64_t a = gpa; a < gpa + size; a += 4096)
		n += page_dirty(log, a);
	return n;
}

/* One packet enqueued into a one-buffer RX chain at gpa: the used
 * length (0: refused) and the buffer's bytes past the header checked
 * against the packet (in buf, the frontend's view of that memory). */
static uint32_t
rx_one_at(uint64_t gpa, const uint8_t *buf, uint32_t seed, bool *data_ok)
{
	struct fm_seg rx = { gpa, 1024, true };
	struct vring_used_elem e = { 0 };
	struct rte_mbuf *m;
	uint8_t pkt[200];
	int n;

	fe_packet(pkt, sizeof(pkt), seed);
	if (fm_vring_add_chain(&VM->vr[FE_RXQ], &rx, 1) < 0)
		return UINT32_MAX;
	m = fe_mbuf_make(pkt, sizeof(pkt), 0);
	if (m == NULL)
		return UINT32_MAX;
	n = rte_vhost_enqueue_burst(fe_victim.vid, FE_RXQ, &m, 1);
	if (n == 0)
		rte_pktmbuf_free(m);
	if (!fm_vring_pop_used(&VM->vr[FE_RXQ], &e, NULL))
		return UINT32_MAX;
	*data_ok = e.len >= sizeof(pkt) &&
		memcmp(buf + (e.len - sizeof(pkt)), pkt, sizeof(pkt)) == 0;
	return e.len;
}

/*
 * Dirty logging follows the set of regions: a packet received into an
 * added region marks its page (and no other page of the region); once
 * the region is removed, a buffer there is refused and nothing in its
 * range is marked; a new region added at the same GPAs (other memory)
 * takes the packets and the marks.
 */
static void
test_dirty_log_follows_slots(void)
{
	struct xreg *x = &xr[0], *z = &xr[1];
	uint64_t log_size, f0;
	uint8_t *log;
	uint32_t len;
	bool data_ok = false;
	int d[3];

	CU_ASSERT_FATAL(open_with_slots());
	CU_ASSERT_FATAL(VM->offered_features & FM_BIT(VHOST_F_LOG_ALL));
	CU_ASSERT_FATAL(xreg_make(x, XREG_GPA(0), XREG_SIZE));
	CU_ASSERT_FATAL(xreg_make(z, XREG_GPA(0), XREG_SIZE));
	CU_ASSERT_FATAL(add_reg(x) == FM_OK);

	/* One bit per page up to the end of the added region. */
	log_size = RTE_ALIGN_CEIL((x->gpa + x->size) / 4096 / 8 + 1, 4096);
	log = fe_log_start(VM, log_size, &f0);

	/* Into page 1 of the added region. */
	memset(log, 0, log_size);
	len = rx_one_at(x->gpa + 4096, x->base + 4096, 11, &data_ok);
	CU_ASSERT(len > 0 && len != UINT32_MAX);
	CU_ASSERT(data_ok);
	CU_ASSERT(page_dirty(log, x->gpa + 4096));
	d[0] = dirty_pages(log, x->gpa, x->size);
	CU_ASSERT_EQUAL(d[0], 1);

	/* Removed: refused, nothing of its range marked. */
	CU_ASSERT_FATAL(rem_reg(x) == FM_OK);
	memset(log, 0, log_size);
	memset(x->base + 8192, FM_NET_POISON, 1024);
	len = rx_one_at(x->gpa + 8192, x->base + 8192, 12, &data_ok);
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT_EQUAL(x->base[8192], FM_NET_POISON);
	d[1] = dirty_pages(log, x->gpa, x->size);
	CU_ASSERT_EQUAL(d[1], 0);

	/* Other memory at the same GPAs: its page is written and marked. */
	CU_ASSERT_FATAL(add_reg(z) == FM_OK);
	memset(log, 0, log_size);
	len = rx_one_at(z->gpa + 3 * 4096, z->base + 3 * 4096, 13, &data_ok);
	CU_ASSERT(len > 0 && len != UINT32_MAX);
	CU_ASSERT(data_ok);
	CU_ASSERT_EQUAL(x->base[3 * 4096], 0);
	CU_ASSERT(page_dirty(log, z->gpa + 3 * 4096));
	d[2] = dirty_pages(log, z->gpa, z->size);
	CU_ASSERT_EQUAL(d[2], 1);
	printf("dirty log: pages marked in the region's range: added %d, "
			"removed %d, other memory added at its GPAs %d\n", d[0], d[1], d[2]);

	CU_ASSERT_EQUAL(fm_set_u64(VM, FM_REQ_SET_FEATURES, f0), FM_OK);
	CU_ASSERT(fe_traffic_ok(&fe_victim));
	munmap(log, log_size);
	xreg_free(x);
	xreg_free(z);
	close_case("dirty log follows the regions");
}

/* SET_MEM_TABLE after ADD_MEM_REG replaces the whole set; so does a new
 * connection (the regions of the old one are unmapped with it). */
static void
test_replace_whole_set(void)
{
	struct fm_mem *mem = &VM->mem;
	int maps0, i;

	CU_ASSERT_FATAL(open_with_slots());
	for (i = 0; i < 20; i++)
		CU_ASSERT_FATAL(xreg_make(&xr[i], XREG_GPA(i), XREG_SIZE));
	maps0 = tag_mappings();
	for (i = 0; i < 20; i++)
		CU_ASSERT(add_reg(&xr[i]) == FM_OK);
	CU_ASSERT_EQUAL(nregions(), BASE_REGIONS + 20);
	CU_ASSERT_EQUAL(fm_set_mem_table(VM, mem), FM_OK);
	CU_ASSERT_EQUAL(nregions(), BASE_REGIONS);
	CU_ASSERT_EQUAL(tag_mappings(), maps0);
	CU_ASSERT(fe_traffic_ok(&fe_victim));
	/* Added again, then the connection goes: all unmapped. */
	for (i = 0; i < 20; i++)
		CU_ASSERT(add_reg(&xr[i]) == FM_OK);
	CU_ASSERT_EQUAL(tag_mappings(), maps0 + 20);
	fe_dev_close(&fe_victim, true);
	CU_ASSERT(tag_mappings_drop_to(maps0));
	for (i = 0; i < 20; i++)
		xreg_free(&xr[i]);
	fe_check_case_fds("SET_MEM_TABLE/disconnect after ADD_MEM_REG");
	CU_ASSERT(fe_witness_ok("replace"));
}

/* An fd sent with REM_MEM_REG (older QEMU) is accepted and closed. */
static void
test_rem_with_fd(void)
{
	struct mem_reg_msg m;

	CU_ASSERT_FATAL(open_with_slots());
	CU_ASSERT_FATAL(xreg_make(&xr[0], XREG_GPA(0), XREG_SIZE));
	CU_ASSERT_FATAL(add_reg(&xr[0]) == FM_OK);
	m = xreg_msg(&xr[0]);
	CU_ASSERT_EQUAL(fm_request(VM, REQ_REM_MEM_REG, &m, sizeof(m), &xr[0].fd, 1,
			NULL), FM_OK);
	CU_ASSERT_EQUAL(nregions(), BASE_REGIONS);
	xreg_free(&xr[0]);
	close_case("REM_MEM_REG with an fd");
}

/* --- malformed --- */

enum bad {
	B_NOT_NEGOTIATED, B_MAX_NOT_NEGOTIATED, B_NO_FD, B_TWO_FDS,
	B_SHORT, B_LONG, B_SIZE_ZERO, B_GPA_OVERFLOW, B_UADDR_OVERFLOW,
	B_OFFSET_OVERFLOW, B_GPA_UNALIGNED, B_UADDR_UNALIGNED,
	B_SIZE_UNALIGNED, B_OFFSET_UNALIGNED, B_LARGER_THAN_FILE,
	B_EVENTFD, B_OVERLAP_GPA, B_OVERLAP_UADDR, B_OVERLAP_TABLE,
	B_DUPLICATE, B_REM_UNKNOWN, B_REM_TWICE, B_REM_TWO_FDS, B_REM_SHORT,
	B_REM_SIZE_DIFFERS, B_MAX_WITH_PAYLOAD, B_COUNT,
};

static const char *const bad_names[B_COUNT] = {
	"ADD_MEM_REG without CONFIGURE_MEM_SLOTS",
	"GET_MAX_MEM_SLOTS without CONFIGURE_MEM_SLOTS",
	"ADD_MEM_REG without fd", "ADD_MEM_REG with 2 fds",
	"ADD_MEM_REG payload 32 bytes", "ADD_MEM_REG payload 48 bytes",
	"ADD_MEM_REG size 0", "ADD_MEM_REG gpa + size overflows",
	"ADD_MEM_REG uaddr + size overflows",
	"ADD_MEM_REG offset + size overflows",
	"ADD_MEM_REG gpa not page aligned", "ADD_MEM_REG uaddr not page aligned",
	"ADD_MEM_REG size not page aligned",
	"ADD_MEM_REG offset not page aligned",
	"ADD_MEM_REG larger than its file", "ADD_MEM_REG fd is an eventfd",
	"ADD_MEM_REG overlaps an added region (gpa)",
	"ADD_MEM_REG overlaps an added region (uaddr)",
	"ADD_MEM_REG overlaps a SET_MEM_TABLE region",
	"ADD_MEM_REG duplicate", "REM_MEM_REG unknown region",
	"REM_MEM_REG twice", "REM_MEM_REG with 2 fds",
	"REM_MEM_REG payload 32 bytes", "REM_MEM_REG size differs",
	"GET_MAX_MEM_SLOTS with payload",
};

static void
test_malformed(void)
{
	for (int b = 0; b < B_COUNT; b++) {
		struct xreg *x = &xr[0], *y = &xr[1];
		struct mem_reg_msg m;
		uint8_t wire[sizeof(m) + 16];
		uint32_t size = sizeof(m);
		uint32_t req = REQ_ADD_MEM_REG;
		int fds[2], nfds = 1, extra = -1, r;

		bool plain = b == B_NOT_NEGOTIATED || b == B_MAX_NOT_NEGOTIATED;

		CU_ASSERT_FATAL(plain ? fe_victim_open(FE_RUNNING) : open_with_slots());
		CU_ASSERT_FATAL(xreg_make(x, XREG_GPA(0), 4 * XREG_SIZE));
		CU_ASSERT_FATAL(xreg_make(y, XREG_GPA(8), XREG_SIZE));
		m = xreg_msg(x);
		fds[0] = x->fd;
		fds[1] = y->fd;
		switch (b) {
		case B_MAX_NOT_NEGOTIATED:
		case B_MAX_WITH_PAYLOAD:
			req = FM_REQ_GET_MAX_MEM_SLOTS;
			nfds = 0;
			size = b == B_MAX_WITH_PAYLOAD ? 8 : 0;
			break;
		case B_NO_FD: nfds = 0; break;
		case B_TWO_FDS: nfds = 2; break;
		case B_SHORT: size = 32; break;
		case B_LONG: size = 48; break;
		case B_SIZE_ZERO: m.r.memory_size = 0; break;
		case B_GPA_OVERFLOW: m.r.guest_phys_addr = ~0ull - 4095; break;
		case B_UADDR_OVERFLOW: m.r.userspace_addr = ~0ull - 4095; break;
		case B_OFFSET_OVERFLOW: m.r.mmap_offset = ~0ull - 4095; break;
		case B_GPA_UNALIGNED: m.r.guest_phys_addr += 512; break;
		case B_UADDR_UNALIGNED: m.r.userspace_addr += 512; break;
		case B_SIZE_UNALIGNED: m.r.memory_size -= 512; break;
		case B_OFFSET_UNALIGNED:
			m.r.mmap_offset = 512;
			m.r.memory_size = XREG_SIZE;
			break;
		case B_LARGER_THAN_FILE: m.r.memory_size *= 2; break;
		case B_EVENTFD:
			extra = eventfd(0, EFD_CLOEXEC);
			fds[0] = extra;
			break;
		case B_OVERLAP_GPA:
		case B_OVERLAP_UADDR:
		case B_DUPLICATE:
			CU_ASSERT_FATAL(add_reg(x) == FM_OK);
			if (b == B_OVERLAP_GPA) {
				/* y's own memory, at a GPA inside x. */
				m = xreg_msg(y);
				m.r.guest_phys_addr = x->gpa + XREG_SIZE;
				fds[0] = y->fd;
			} else if (b == B_OVERLAP_UADDR) {
				/* x's memory again (second half), elsewhere. */
				m.r.guest_phys_addr = XREG_GPA(100);
				m.r.userspace_addr += 2 * XREG_SIZE;
				m.r.memory_size = 2 * XREG_SIZE;
				m.r.mmap_offset = 2 * XREG_SIZE;
			}
			break;
		case B_OVERLAP_TABLE:
			m.r.guest_phys_addr = VM->mem.r[0].gpa;
			break;
		case B_REM_UNKNOWN:
			req = REQ_REM_MEM_REG;
			nfds = 0;
			break;
		case B_REM_TWICE:
		case B_REM_TWO_FDS:
		case B_REM_SHORT:
		case B_REM_SIZE_DIFFERS:
			CU_ASSERT_FATAL(add_reg(x) == FM_OK);
			if (b == B_REM_TWICE) {
				CU_ASSERT_FATAL(rem_reg(x) == FM_OK);
			}
			req = REQ_REM_MEM_REG;
			nfds = b == B_REM_TWO_FDS ? 2 : 0;
			if (b == B_REM_SHORT)
				size = 32;
			if (b == B_REM_SIZE_DIFFERS)
				m.r.memory_size -= 4096;
			break;
		}
		/* Sent from a buffer with room past the region: the "too
		 * long" variant claims 8 bytes more than the message has. */
		memset(wire, 0, sizeof(wire));
		memcpy(wire, &m, sizeof(m));
		r = fm_expect_refused(VM, req, wire, size, size, fds, nfds);
		if (extra >= 0)
			close(extra);
		/* A conflicting or unknown region is the frontend's mistake,
		 * not a broken connection: an error reply, and the
		 * connection goes on. */
		if ((b == B_OVERLAP_GPA || b == B_OVERLAP_UADDR || b == B_OVERLAP_TABLE ||
		     b == B_DUPLICATE || b == B_REM_UNKNOWN || b == B_REM_TWICE ||
		     b == B_REM_SIZE_DIFFERS) && r != FM_NACK)
			CU_ASSERT(fe_fail("%s: %s, not an error reply", bad_names[b],
					fm_result_name(r)));
		if (r == FM_NACK && !fe_traffic_ok(&fe_victim))
			CU_FAIL("device broken after a refused region");
		xreg_free(x);
		xreg_free(y);
		fe_case_done(bad_names[b], r);
	}
}

static CU_TestInfo slot_tests[] = {
	{ "max_slots", test_max_slots },
	{ "hundreds", test_hundreds },
	{ "add_remove_under_traffic", test_add_remove_under_traffic },
	{ "stall", test_stall },
	{ "rings_region_removed", test_rings_region_removed },
	{ "remove_with_chains", test_remove_with_chains },
	{ "dirty_log_follows_slots", test_dirty_log_follows_slots },
	{ "replace_whole_set", test_replace_whole_set },
	{ "rem_with_fd", test_rem_with_fd },
	{ "malformed", test_malformed },
	{ "no_fd_leak", fe_test_no_fd_leak },
	CU_TEST_INFO_NULL,
};

/* After EAL init, which sets the log stream. */
static int
slots_suite_init(void)
{
	return fe_log_capture_start() < 0 ? -1 : 0;
}

static CU_SuiteInfo suites[] = {
	{ "memslots", slots_suite_init, NULL, fe_victim_setup, fe_victim_teardown,
		slot_tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	struct rlimit rl;

	/* 509 regions: the backend holds an fd for each, the frontend too. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (size_t i = 0; i < RTE_DIM(xr); i++)
		xr[i].fd = -1;
	return fe_victim_main("memslots", suites, argc, argv);
}
