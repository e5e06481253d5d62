/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scenario 5: memory slots (CONFIGURE_MEM_SLOTS) churned under traffic.
 * The rings and most buffers stay in the two regions of the table; on
 * top, regions are added (ADD_MEM_REG, each its own memfd) and removed
 * (REM_MEM_REG) in batches, hundreds of rounds, once up to the 509-slot
 * limit, and now and then all at once by a SET_MEM_TABLE of the base
 * table (which replaces the added set). Half the TX packets are copied
 * into pages of the added regions, so the device reads from them; a
 * region is removed only once its packets came back (a removal with
 * chains in flight is test_frontend_memslots' case).
 *
 * At checkpoints the library's table, its mappings of the added memfds
 * and its fds follow the frontend's set exactly; at the end nothing was
 * lost either way, the device never stopped, and the scenario frame
 * checks fds and memory against the baseline.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <rte_vhost.h>

#include "churn.h"
#include "fault_env.h"
#include "fault_link.h"
#include "fe_harness.h"
#include "fe_traffic.h"
#include "fm_conn.h"
#include "test_memfd.h"

#define STREAM 0x35000000u
#define PF_CONFIGURE_MEM_SLOTS 15
#define REQ_ADD_MEM_REG 37
#define REQ_REM_MEM_REG 38
#define MAX_SLOTS 509
#define BASE_REGIONS 2			/* the table of fault_link */
#define MAX_ADDED (MAX_SLOTS - BASE_REGIONS)
#define SLOT_TAG "fault-slot"
#define SLOT_PAGES 8			/* bounce buffers per region */
#define SLOT_SIZE (SLOT_PAGES * 4096u)
#define SLOT_GPA0 (4ull << 30)		/* above fault_link's regions */
#define SLOT_STRIDE (1ull << 20)	/* holes between added regions */
#define SLOT_ROUNDS 400
#define SLOT_WARM_ROUNDS 20
#define BATCH_MAX 8
#define BUSY_WAIT_MS 3000

struct slot {
	uint8_t *base;		/* the frontend's mapping, NULL if not added */
	bool closing;		/* no new bounce buffers: removal pending */
	uint8_t busy;		/* bounce pages in flight (bitmap) */
	int pos;		/* in live[] */
};

struct slots_run {
	struct fault_link k;
	struct fault_guest_map map;
	struct slot s[MAX_ADDED];
	int live[MAX_ADDED];	/* indexes of added regions */
	int nlive;
	uint32_t rng;
	unsigned int adds, removes, replaced, refusals, bounced, checks;
	int most_live;
	int fds_per_region;
	unsigned int failures;
};

static void
fail(struct slots_run *r, const char *what, int i)
{
	if (r->failures++ < 10)
		fe_fail("mem_slots: %s (region %d)", what, i);
}

static uint64_t
slot_gpa(int i)
{
	return SLOT_GPA0 + (uint64_t)i * SLOT_STRIDE;
}

static struct fm_wire_region
slot_wire(const struct slots_run *r, int i)
{
	return (struct fm_wire_region){
		.guest_phys_addr = slot_gpa(i), .memory_size = SLOT_SIZE,
		.userspace_addr = fm_ptr_uaddr(r->s[i].base), .mmap_offset = 0,
	};
}

/* ADD_MEM_REG / REM_MEM_REG payload: padding, then one region. */
static int
mem_reg(struct slots_run *r, uint32_t req, const struct fm_wire_region *w,
		int fd)
{
	struct { uint64_t padding; struct fm_wire_region r; } msg = { 0, *w };

	return fm_request(&r->k.m, req, &msg, sizeof(msg), fd >= 0 ? &fd : NULL,
			fd >= 0 ? 1 : 0, NULL);
}

/* TX buffers: their GPA, or a copy in a page of an added region. */
static uint64_t
map_cb(void *ctx, uint8_t *p, uint32_t len, bool dev_writes)
{
	struct slots_run *r = ctx;
	struct slot *s;
	int i, pg;

	if (dev_writes || r->nlive == 0 || (fault_rand(&r->rng) & 1) ||
			len > 4096)
		return fm_ptr_gpa(&r->k.m.mem, p);
	i = r->live[fault_rand(&r->rng) % (uint32_t)r->nlive];
	s = &r->s[i];
	if (s->closing || s->busy == (1u << SLOT_PAGES) - 1)
		return fm_ptr_gpa(&r->k.m.mem, p);
	pg = __builtin_ctz(~(unsigned int)s->busy);
	s->busy |= (uint8_t)(1u << pg);
	memcpy(s->base + (size_t)pg * 4096, p, len);
	r->bounced++;
	return slot_gpa(i) + (uint64_t)pg * 4096;
}

static void
unmap_cb(void *ctx, uint64_t addr, uint32_t len)
{
	struct slots_run *r = ctx;
	uint64_t i = (addr - SLOT_GPA0) / SLOT_STRIDE;

	(void)len;
	if (addr < SLOT_GPA0 || i >= MAX_ADDED)
		return;
	r->s[i].busy &= (uint8_t)~(1u << ((addr - slot_gpa((int)i)) / 4096));
}

static bool
add_slot(struct slots_run *r, int i)
{
	struct slot *s = &r->s[i];
	struct fm_wire_region w;
	void *base;
	int fd = test_memfd_map(SLOT_TAG, SLOT_SIZE, 0, &base);
	int ret;

	s->base = base;
	if (fd < 0) {
		fail(r, "cannot make a region", i);
		return false;
	}
	w = slot_wire(r, i);
	ret = mem_reg(r, REQ_ADD_MEM_REG, &w, fd);
	/* The library has its own copy of the fd now, as with QEMU's
	 * memory backends the frontend keeps only its mapping. */
	close(fd);
	if (ret != FM_OK) {
		munmap(s->base, SLOT_SIZE);
		s->base = NULL;
		fail(r, "ADD_MEM_REG refused", i);
		return false;
	}
	s->closing = false;
	s->busy = 0;
	s->pos = r->nlive;
	r->live[r->nlive++] = i;
	if (r->nlive > r->most_live)
		r->most_live = r->nlive;
	r->adds++;
	return true;
}

/* Waits (traffic running) until no bounce buffer of a closing region is
 * in flight. */
static bool
settle(struct slots_run *r)
{
	int64_t deadline = fm_now_ms() + BUSY_WAIT_MS;
	bool busy;
	int j;

	do {
		busy = false;
		for (j = 0; j < r->nlive && !busy; j++)
			busy = r->s[r->live[j]].closing &&
				r->s[r->live[j]].busy != 0;
		if (!busy)
			return true;
		fault_link_pump(&r->k, 0);
	} while (fm_now_ms() < deadline);
	fail(r, "bounce buffers never came back", -1);
	return false;
}

static void
forget_slot(struct slots_run *r, int i)
{
	struct slot *s = &r->s[i];
	int last = r->live[--r->nlive];

	r->live[s->pos] = last;
	r->s[last].pos = s->pos;
	munmap(s->base, SLOT_SIZE);
	s->base = NULL;
	s->closing = false;
}

/* Removes n random regions (REM_MEM_REG), once their packets are back. */
static void
remove_some(struct slots_run *r, int n)
{
	int picked[MAX_ADDED];
	int k;

	if (n > r->nlive)
		n = r->nlive;
	for (k = 0; k < n; k++) {
		do
			picked[k] = r->live[fault_rand(&r->rng) %
				(uint32_t)r->nlive];
		while (r->s[picked[k]].closing);
		r->s[picked[k]].closing = true;
	}
	if (!settle(r))
		return;
	for (k = 0; k < n; k++) {
		struct fm_wire_region w = slot_wire(r, picked[k]);

		if (mem_reg(r, REQ_REM_MEM_REG, &w, -1) != FM_OK)
			fail(r, "REM_MEM_REG refused", picked[k]);
		forget_slot(r, picked[k]);
		r->removes++;
	}
}

/* SET_MEM_TABLE of the two base regions: the added set goes at once. */
static void
replace_all(struct slots_run *r)
{
	int j;

	for (j = 0; j < r->nlive; j++)
		r->s[r->live[j]].closing = true;
	if (!settle(r))
		return;
	if (fm_set_mem_table(&r->k.m, &r->k.m.mem) != FM_OK)
		fail(r, "SET_MEM_TABLE refused", -1);
	while (r->nlive > 0)
		forget_slot(r, r->live[0]);
	r->replaced++;
}

static int
free_index(struct slots_run *r)
{
	int i = (int)(fault_rand(&r->rng) % MAX_ADDED), n;

	for (n = 0; n < MAX_ADDED; n++, i = (i + 1) % MAX_ADDED)
		if (r->s[i].base == NULL)
			return i;
	return -1;
}

static int
tag_mappings(void)
{
	return test_count_maps("memfd:" SLOT_TAG);
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (d == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static int
lib_regions(struct slots_run *r)
{
	struct rte_vhost_memory *mem = NULL;
	int n;

	if (rte_vhost_get_mem_table(atomic_load(&r->k.port->ev.vid), &mem) != 0)
		return -1;
	n = (int)mem->nregions;
	free(mem);
	return n;
}

/*
 * The library holds exactly the frontend's set: its table, one mapping
 * of each added memfd (the frontend has the other) and fds_per_region
 * fds each (fds0: with none added). Unmapping may wait until no burst
 * can use a region, so the mappings are waited for, traffic running.
 */
static void
check_held(struct slots_run *r, int fds0, const char *when)
{
	int64_t deadline = fm_now_ms() + FE_EVENT_MS;
	int maps, fds;

	r->checks++;
	if (lib_regions(r) != BASE_REGIONS + r->nlive)
		fail(r, "library table differs", lib_regions(r));
	for (;;) {
		maps = tag_mappings();
		fds = count_fds();
		if ((maps == 2 * r->nlive && fds == fds0 +
				r->fds_per_region * r->nlive) ||
				fm_now_ms() >= deadline)
			break;
		fault_link_pump(&r->k, 1);
	}
	if (maps != 2 * r->nlive || fds != fds0 + r->fds_per_region * r->nlive) {
		if (r->failures++ < 10)
			fe_fail("mem_slots %s: %d regions added, %d memfd "
					"mappings (want %d), %d fds (want %d)",
					when, r->nlive, maps, 2 * r->nlive, fds,
					fds0 + r->fds_per_region * r->nlive);
	}
}

/* Once: every slot taken, traffic through many of them, the 510th
 * refused, as are a duplicate and an unknown removal; then back down. */
static void
fill_up(struct slots_run *r, int fds0)
{
	struct fm_wire_region w;
	int i, extra, fd;

	while (r->nlive < MAX_ADDED) {
		i = free_index(r);
		if (i < 0 || !add_slot(r, i))
			break;
		if (r->nlive % 64 == 0)
			fault_link_pump(&r->k, 0);
	}
	fault_link_pump(&r->k, 20);
	check_held(r, fds0, "all slots taken");
	/* The 510th region, on a new memfd: refused, fd not kept. */
	fd = test_memfd(SLOT_TAG "-x", SLOT_SIZE, 0);
	if (fd < 0) {
		fail(r, "cannot make the extra region", -1);
	} else {
		w = (struct fm_wire_region){ .guest_phys_addr = slot_gpa(
				MAX_ADDED), .memory_size = SLOT_SIZE,
				.userspace_addr = fm_ptr_uaddr(r->s[0].base) +
				(1ull << 40) };
		if (mem_reg(r, REQ_ADD_MEM_REG, &w, fd) != FM_NACK)
			fail(r, "the 510th region was not refused", -1);
		else
			r->refusals++;
	}
	if (fd >= 0)
		close(fd);
	/* A region removed twice: the second is an unknown region. */
	extra = r->live[fault_rand(&r->rng) % (uint32_t)r->nlive];
	r->s[extra].closing = true;
	if (settle(r)) {
		w = slot_wire(r, extra);
		if (mem_reg(r, REQ_REM_MEM_REG, &w, -1) != FM_OK)
			fail(r, "REM_MEM_REG refused", extra);
		r->removes++;
		if (mem_reg(r, REQ_REM_MEM_REG, &w, -1) != FM_NACK)
			fail(r, "removal of an unknown region not refused",
					extra);
		else
			r->refusals++;
		forget_slot(r, extra);
	}
	/* A duplicate of a live region (same GPA, new fd): refused. */
	i = r->live[0];
	fd = test_memfd(SLOT_TAG "-x", SLOT_SIZE, 0);
	if (fd >= 0) {
		w = slot_wire(r, i);
		if (mem_reg(r, REQ_ADD_MEM_REG, &w, fd) != FM_NACK)
			fail(r, "a duplicate region was not refused", i);
		else
			r->refusals++;
	}
	if (fd >= 0)
		close(fd);
	fault_link_pump(&r->k, 5);
	remove_some(r, r->nlive - 16);
}

static void
churn(struct slots_run *r, int rounds, int fds0)
{
	int n;

	for (n = 0; n < rounds; n++) {
		uint32_t x = fault_rand(&r->rng);
		int batch = 1 + (int)(x % BATCH_MAX);

		fault_link_pump(&r->k, (int)((x >> 8) % 2));
		if (n == rounds / 2) {
			fill_up(r, fds0);
		} else if (n % 50 == 49) {
			replace_all(r);
			check_held(r, fds0, "after SET_MEM_TABLE");
		} else if (r->nlive < 4 || (r->nlive < 64 && (x >> 12) & 1)) {
			while (batch-- > 0) {
				int i = free_index(r);

				if (i < 0 || !add_slot(r, i))
					break;
			}
		} else {
			remove_some(r, batch);
		}
		if (n % 16 == 15)
			check_held(r, fds0, "churning");
	}
	remove_some(r, r->nlive);
	check_held(r, fds0, "all removed");
}

static void
run(bool warm, bool packed)
{
	static const uint64_t none[2];
	const char *name = warm ? "mem_slots warm-up" :
		packed ? "mem_slots packed" : "mem_slots";
	struct slots_run *r = calloc(1, sizeof(*r));
	int rounds = warm ? SLOT_WARM_ROUNDS :
		(int)fault_env_long("FAULT_SLOT_ROUNDS", SLOT_ROUNDS);
	struct fault_port *p;
	uint64_t max = 0;
	int fds0, fd1, i;

	CU_ASSERT_FATAL(r != NULL);
	r->rng = fault_seed() ^ 0x5107u;
	CU_ASSERT_FATAL(fault_link_prepare(&r->k, "memslots",
			RTE_VHOST_USER_NET_STATS_ENABLE, STREAM) == 0);
	CU_ASSERT_FATAL(!packed || fault_link_packed(&r->k) == 0);
	r->map = (struct fault_guest_map){ map_cb, unmap_cb, r };
	r->k.g.map = &r->map;
	r->k.protocol = FM_BIT(PF_CONFIGURE_MEM_SLOTS);
	CU_ASSERT_FATAL(fault_link_start(&r->k, FM_BIT(VIRTIO_F_VERSION_1) |
			FM_BIT(VIRTIO_NET_F_MRG_RXBUF) |
			FM_BIT(FM_F_PROTOCOL_FEATURES)) == 0);
	p = r->k.port;
	CU_ASSERT(fm_get_u64(&r->k.m, FM_REQ_GET_MAX_MEM_SLOTS, &max) == FM_OK);
	CU_ASSERT_EQUAL(max, MAX_SLOTS);
	/* How many fds the library keeps per region (one, the region's
	 * memfd, with this library): measured, then held to. */
	fds0 = count_fds();
	i = free_index(r);
	CU_ASSERT_FATAL(i >= 0 && add_slot(r, i));
	fd1 = count_fds();
	r->fds_per_region = fd1 - fds0;
	CU_ASSERT(r->fds_per_region >= 0 && r->fds_per_region <= 1);
	/* The warm-up fills every slot too: the first fill leaves about
	 * 50 KiB more libc heap in use for good (measured: the same after
	 * 100 or 1200 rounds, so no leak per region). */
	churn(r, rounds, fds0);
	CU_ASSERT(fault_link_drain(&r->k));
	fault_link_check(&r->k, name, none, none);
	if (!warm) {
		printf("    %s: %d rounds, %u regions added, %u removed "
				"(REM_MEM_REG), %u sets replaced (SET_MEM_TABLE), "
				"at most %d added (%d slots), %u refusals, %u "
				"checkpoints, %d fd(s) per region; %u packets out "
				"(%u through added regions), %u in\n", name,
				rounds, r->adds, r->removes, r->replaced,
				r->most_live,
				r->most_live + BASE_REGIONS, r->refusals, r->checks,
				r->fds_per_region,
				atomic_load(&r->k.st.tx_posted), r->bounced,
				atomic_load(&r->k.st.rx_got));
		CU_ASSERT_EQUAL(r->most_live, MAX_ADDED);
		CU_ASSERT_EQUAL(r->refusals, 3);
		CU_ASSERT(r->bounced > 0);
		CU_ASSERT(r->replaced > 0);
	}
	CU_ASSERT_EQUAL(r->failures, 0);
	churn_check_device(p, 1, 0);
	fault_link_close(&r->k);
	CU_ASSERT_EQUAL(tag_mappings(), 0);
	free(r);
}

CHURN_TESTS(mem_slots, run)
