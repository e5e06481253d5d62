/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scenario 2: the memory table replaced again and again while packets
 * flow both ways and buffers are in flight. Each SET_MEM_TABLE is a real
 * change:
 *  - renew: every region announced through a new fd (the same memory
 *    reopened), the data region also at a new address of the frontend;
 *  - hot-add: a third region on a new memfd; some TX packets are then
 *    copied into it (bounce buffers) so the device reads from it;
 *  - hot-remove: once no packet there is in flight, the table without
 *    it; the frontend then unmaps and closes it;
 *  - move rings: every region at a new address, then SET_VRING_ADDR of
 *    both rings in the new addresses (the rings are unusable in between).
 * After each reply, rte_vhost_get_mem_table must show the new table. At
 * the end nothing was lost, the device never stopped, and the rings that
 * went down (move rings) all came back.
 */
#include <fcntl.h>
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

#define STREAM 0x32000000u
#define HOT 2				/* index of the hot-plugged region */
#define HOT_GPA (2ull << 30)
#define HOT_SIZE (1u << 20)
#define HOT_SLOTS 64			/* bounce buffers, a page each */
#define MAX_HOT_WAIT_MS 1000

enum change { RENEW, HOT_ADD, HOT_REMOVE, MOVE_RINGS, NB_CHANGES };

static const char *const change_names[NB_CHANGES] = {
	"renew", "hot-add", "hot-remove", "move rings",
};

/* How region i is announced now: the frontend's own fd and mapping
 * (fd < 0), or a reopened fd and maybe an alias mapping of ours. */
struct view {
	int fd;
	uint8_t *base;
	bool own_base;	/* base is an alias mapping to unmap */
	size_t size;	/* of that mapping */
};

struct mem_run {
	struct fault_link k;
	struct fault_guest_map map;
	struct view v[FM_MAX_REGIONS];
	bool hot;
	bool bounce;
	uint64_t hot_busy;	/* bounce slots in flight */
	uint32_t rng;
	unsigned int changes[NB_CHANGES];
	unsigned int bounced;
	unsigned int failures;
};

static void
fail(struct mem_run *r, const char *what)
{
	if (r->failures++ < 10)
		fe_fail("mem_table: %s", what);
}

/* TX buffers: their GPA, or a copy in the hot region. */
static uint64_t
map_cb(void *ctx, uint8_t *p, uint32_t len, bool dev_writes)
{
	struct mem_run *r = ctx;
	struct fm_region *h = &r->k.m.mem.r[HOT];
	int i;

	if (dev_writes || !r->bounce || (fault_rand(&r->rng) & 1))
		return fm_ptr_gpa(&r->k.m.mem, p);
	for (i = 0; i < HOT_SLOTS; i++) {
		if (r->hot_busy & (1ull << i))
			continue;
		r->hot_busy |= 1ull << i;
		memcpy(h->base + (size_t)i * 4096, p, len);
		r->bounced++;
		return h->gpa + (uint64_t)i * 4096;
	}
	return fm_ptr_gpa(&r->k.m.mem, p);
}

static void
unmap_cb(void *ctx, uint64_t addr, uint32_t len)
{
	struct mem_run *r = ctx;

	(void)len;
	if (r->hot && addr >= HOT_GPA && addr < HOT_GPA + HOT_SIZE)
		r->hot_busy &= ~(1ull << ((addr - HOT_GPA) / 4096));
}

static void
view_drop(struct view *v)
{
	const struct view none = { -1, NULL, false, 0 };

	if (v->own_base)
		munmap(v->base, v->size);
	if (v->fd >= 0)
		close(v->fd);
	*v = none;
}

/* The table announced: each region through its view. */
static void
announced(const struct mem_run *r, struct fm_mem *out)
{
	int i;

	*out = r->k.m.mem;
	for (i = 0; i < out->nregions; i++) {
		if (r->v[i].fd >= 0)
			out->r[i].fd = r->v[i].fd;
		if (r->v[i].base != NULL)
			out->r[i].base = r->v[i].base;
	}
}

/* The library's table is the one just sent. */
static bool
table_shown(struct mem_run *r, const struct fm_mem *sent)
{
	struct rte_vhost_memory *mem = NULL;
	bool ok;
	int i;

	if (rte_vhost_get_mem_table(atomic_load(&r->k.port->ev.vid), &mem) != 0)
		return false;
	ok = mem->nregions == (uint32_t)sent->nregions;
	for (i = 0; ok && i < sent->nregions; i++)
		ok = mem->regions[i].guest_phys_addr == sent->r[i].gpa &&
			mem->regions[i].size == sent->r[i].size &&
			mem->regions[i].guest_user_addr ==
			fm_ptr_uaddr(sent->r[i].base);
	free(mem);
	return ok;
}

/*
 * Announces every region through a new fd; regions in moved also at a
 * new address. Old fds and aliases go once the library replied.
 */
static bool
renew(struct mem_run *r, unsigned int moved)
{
	struct view old[FM_MAX_REGIONS];
	struct fm_mem sent;
	char path[64];
	int i;

	memcpy(old, r->v, sizeof(old));
	for (i = r->k.m.mem.nregions; i < FM_MAX_REGIONS; i++)
		old[i] = (struct view){ -1, NULL, false, 0 };
	for (i = 0; i < r->k.m.mem.nregions; i++) {
		const struct fm_region *g = &r->k.m.mem.r[i];
		struct view *v = &r->v[i];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", g->fd);
		v->fd = open(path, O_RDWR | O_CLOEXEC);
		v->own_base = false;
		if (v->fd >= 0 && (moved & (1u << i))) {
			v->base = mmap(NULL, g->size, PROT_READ | PROT_WRITE,
					MAP_SHARED, v->fd, (off_t)g->mmap_offset);
			v->own_base = v->base != MAP_FAILED;
			v->size = g->size;
			if (v->base == MAP_FAILED)
				v->base = NULL;
		} else {
			/* Same address as announced last time. */
			v->base = old[i].base;
			v->own_base = old[i].own_base;
			v->size = old[i].size;
			old[i].own_base = false;
		}
		if (v->fd < 0 || ((moved & (1u << i)) && !v->own_base)) {
			fail(r, "cannot reopen guest memory");
			return false;
		}
	}
	announced(r, &sent);
	if (fm_set_mem_table(&r->k.m, &sent) != FM_OK)
		fail(r, "SET_MEM_TABLE refused");
	else if (!table_shown(r, &sent))
		fail(r, "rte_vhost_get_mem_table does not show the new table");
	for (i = 0; i < FM_MAX_REGIONS; i++)
		view_drop(&old[i]);
	return true;
}

/* Ring addresses in the address region 0 is announced at now. */
static void
move_rings(struct mem_run *r)
{
	uint64_t shift = r->v[0].base == NULL ? 0 :
		fm_ptr_uaddr(r->v[0].base) - fm_ptr_uaddr(r->k.m.mem.r[0].base);
	uint32_t q;

	for (q = 0; q < 2; q++) {
		struct vhost_vring_addr a;

		fm_vring_addr_of(&r->k.m, q, &a);
		a.desc_user_addr += shift;
		a.avail_user_addr += shift;
		a.used_user_addr += shift;
		if (fm_set_vring_addr(&r->k.m, &a) != FM_OK)
			fail(r, "SET_VRING_ADDR refused");
	}
}

static void
hot_add(struct mem_run *r)
{
	struct fm_mem sent;

	if (fm_mem_add_region(&r->k.m.mem, HOT_GPA, HOT_SIZE, 0) != HOT) {
		fail(r, "cannot add a region");
		return;
	}
	r->hot = true;
	announced(r, &sent);
	if (fm_set_mem_table(&r->k.m, &sent) != FM_OK)
		fail(r, "SET_MEM_TABLE with a new region refused");
	else if (!table_shown(r, &sent))
		fail(r, "the new region is not in the library's table");
	r->bounce = true;
}

static void
hot_remove(struct mem_run *r)
{
	struct fm_region *h = &r->k.m.mem.r[HOT];
	int64_t deadline = fm_now_ms() + MAX_HOT_WAIT_MS;
	struct fm_mem sent;

	/* No packet may still be there when the region goes. */
	r->bounce = false;
	while (r->hot_busy != 0 && fm_now_ms() < deadline)
		fault_link_pump(&r->k, 0);
	if (r->hot_busy != 0) {
		fail(r, "bounce buffers never came back");
		return;
	}
	announced(r, &sent);
	sent.nregions = HOT;
	if (fm_set_mem_table(&r->k.m, &sent) != FM_OK)
		fail(r, "SET_MEM_TABLE without the region refused");
	else if (!table_shown(r, &sent))
		fail(r, "the removed region is still in the library's table");
	view_drop(&r->v[HOT]);
	munmap(h->base, h->size);
	close(h->fd);
	h->fd = -1;
	h->base = NULL;
	r->k.m.mem.nregions = HOT;
	r->hot = false;
}

static void
churn(struct mem_run *r, int ms)
{
	int64_t end = fm_now_ms() + ms;
	unsigned int n = 0;

	while (fm_now_ms() < end) {
		enum change c;

		fault_link_pump(&r->k, (int)(fault_rand(&r->rng) % 2));
		/* Renewals most of the time; the rings move every 8th. */
		if (++n % 8 == 0)
			c = MOVE_RINGS;
		else if (n % 8 == 3)
			c = r->hot ? HOT_REMOVE : HOT_ADD;
		else
			c = RENEW;
		r->changes[c]++;
		if (c == HOT_ADD)
			hot_add(r);
		else if (c == HOT_REMOVE)
			hot_remove(r);
		else if (renew(r, c == MOVE_RINGS ? 0xffu : ~1u) &&
				c == MOVE_RINGS)
			move_rings(r);
	}
	if (r->hot)
		hot_remove(r);
}

static void
release_views(struct mem_run *r)
{
	int i;

	for (i = 0; i < FM_MAX_REGIONS; i++)
		view_drop(&r->v[i]);
}

static void
run(bool warm, bool packed)
{
	static const uint64_t none[2];
	const char *name = warm ? "mem_table warm-up" :
		packed ? "mem_table packed" : "mem_table";
	struct mem_run *r = calloc(1, sizeof(*r));
	struct fault_port *p;
	int i;

	CU_ASSERT_FATAL(r != NULL);
	for (i = 0; i < FM_MAX_REGIONS; i++)
		view_drop(&r->v[i]);
	r->rng = fault_seed() ^ 0x3e3a7u;
	CU_ASSERT_FATAL(fault_link_prepare(&r->k, "memtable",
			RTE_VHOST_USER_NET_STATS_ENABLE, STREAM) == 0);
	CU_ASSERT_FATAL(!packed || fault_link_packed(&r->k) == 0);
	r->map = (struct fault_guest_map){ map_cb, unmap_cb, r };
	r->k.g.map = &r->map;
	CU_ASSERT_FATAL(fault_link_start(&r->k, FM_BIT(VIRTIO_F_VERSION_1) |
			FM_BIT(VIRTIO_NET_F_MRG_RXBUF) |
			FM_BIT(FM_F_PROTOCOL_FEATURES)) == 0);
	p = r->k.port;
	churn(r, churn_ms(warm));
	CU_ASSERT(fault_link_drain(&r->k));
	fault_link_check(&r->k, name, none, none);
	if (!warm) {
		printf("    %s: %u packets out (%u through hot-added "
				"regions), %u in; tables:", name,
				atomic_load(&r->k.st.tx_posted), r->bounced,
				atomic_load(&r->k.st.rx_got));
		for (i = 0; i < NB_CHANGES; i++)
			printf(" %s %u", change_names[i], r->changes[i]);
		printf("; ring down/up events %d/%d\n",
				atomic_load(&p->ev.vring_down),
				atomic_load(&p->ev.vring_up));
		for (i = 0; i < NB_CHANGES; i++)
			CU_ASSERT(r->changes[i] > 0);
		CU_ASSERT(r->bounced > 0);
	}
	CU_ASSERT_EQUAL(r->failures, 0);
	/* The device ran throughout; rings that moved came back. */
	churn_check_device(p, 1, 0);
	CU_ASSERT_EQUAL(atomic_load(&p->ev.vring_up) -
			atomic_load(&p->ev.vring_down), 2);
	/* The library maps what it got on its own: the frontend may drop
	 * its views first, as a frontend that dies does. */
	release_views(r);
	fault_link_close(&r->k);
	free(r);
}

CHURN_TESTS(mem_table, run)
