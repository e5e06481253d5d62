/* SPDX-License-Identifier: BSD-3-Clause */

/* fuzz_iotlb: random UPDATE / INVALIDATE / lookup / flush sequences on
 * one struct vhost_iotlb (iotlb.c), checked against a reference model
 * after every operation.
 *
 * The model must cover the whole 64-bit IOVA space, including ranges
 * that end at 2^64-1 (the library's inclusive ends exist for them). It
 * does so with 2W+1 "cells": W single bytes at the bottom of the space,
 * W single bytes at the top, and one cell for the huge gap between.
 * Every operation starts and ends on a cell boundary, so every byte of
 * the gap is always mapped the same way as its first byte: one cell
 * is enough to describe it. Each cell records mapped / permission /
 * the uaddr of its first byte.
 *
 * The table may be created with a tiny capacity (eviction): then the
 * library only has to hold a subset of the model (an evicted mapping is
 * a miss later, never a wrong answer). Without evictions it must hold
 * exactly the model.
 *
 * Entry lifetimes (VHOST_IOTLB_MAX_AGE_US): an "age" operation moves
 * the table's clock and expiry horizon as vhost_iotlb_age() does. Each
 * cell remembers the clock of the update that mapped it. A cell mapped
 * before the horizon must miss; a younger one may miss only if the
 * library's entry is older (merged with or trimmed from an older
 * mapping: expiring early is safe), and no entry may be younger than
 * any part of it (that would keep a mapping alive too long). */

#include <errno.h>
#include <linux/vhost_types.h>

#include "fuzz_common.h"
#include "iotlb.h"

#define W 32			/* bytes modelled at each end of the space */
#define NCELLS (2 * W + 1)
#define GAP W			/* the cell for [W, 2^64 - W - 1] */

struct cell {
	bool mapped;
	uint8_t perm;
	uint64_t ubase;		/* uaddr of the cell's first byte */
	uint64_t stamp;		/* table clock when it was mapped */
};

static struct cell model[NCELLS];
static struct vhost_iotlb tlb;
/* False once the library evicted something: it then holds a subset. */
static bool model_exact;
static uint64_t evictions_seen;
/* Report adjacent entries that could have been merged (a missed
 * merge is not wrong, only slower). Off unless FUZZ_IOTLB_STRICT_MERGE
 * is set: the hashed-block IOTLB merges greedily, with the neighbour an
 * update touches, within VHOST_IOTLB_MERGE_SLOTS index blocks, and does
 * not re-merge what an invalidation left, so the fuzzer finds
 * mergeable pairs it leaves apart. */
static bool strict_merge;

static uint64_t
cell_first(unsigned int c)
{
	if (c <= GAP)
		return c;
	return (uint64_t)0 - (uint64_t)(NCELLS - c);	/* top W bytes */
}

static uint64_t
cell_last(unsigned int c)
{
	return c == GAP ? (uint64_t)0 - W - 1 : cell_first(c);
}

static unsigned int
cell_of(uint64_t iova)
{
	if (iova < W)
		return (unsigned int)iova;
	if (iova >= (uint64_t)0 - W)
		return NCELLS - (unsigned int)((uint64_t)0 - iova);
	return GAP;
}

/* The harness only builds ranges on cell boundaries; anything else is
 * a bug of this file, not of the library. */
static void
model_range(uint64_t iova, uint64_t last, unsigned int *c0, unsigned int *c1)
{
	*c0 = cell_of(iova);
	*c1 = cell_of(last);
	FZ_CHECK(cell_first(*c0) == iova && cell_last(*c1) == last && *c0 <= *c1,
		 "harness: range 0x%lx..0x%lx not on cells", iova, last);
}

static void
model_update(uint64_t iova, uint64_t size, uint64_t uaddr, uint8_t perm)
{
	unsigned int c0, c1;

	model_range(iova, iova + (size - 1), &c0, &c1);
	for (unsigned int c = c0; c <= c1; c++)
		model[c] = (struct cell){ .mapped = true, .perm = perm,
			.ubase = uaddr + (cell_first(c) - iova), .stamp = tlb.clock };
}

static void
model_invalidate(uint64_t iova, uint64_t last)
{
	unsigned int c0, c1;

	model_range(iova, last, &c0, &c1);
	for (unsigned int c = c0; c <= c1; c++)
		model[c].mapped = false;
}

/* Last IOVA of the longest run from q mapped with the same permission
 * and contiguous uaddrs (without wrapping past 2^64-1): how far one
 * lookup may reach at most. */
static uint64_t
model_run_last(uint64_t q)
{
	unsigned int c = cell_of(q);
	const struct cell *m = &model[c];
	uint64_t last = cell_last(c);

	for (unsigned int n = c + 1; n < NCELLS; n++) {
		uint64_t dist = cell_first(n) - cell_first(c);

		if (!model[n].mapped || model[n].perm != m->perm ||
		    dist > UINT64_MAX - m->ubase ||
		    model[n].ubase != m->ubase + dist)
			break;
		last = cell_last(n);
	}
	return last;
}

static const char *
res_name(enum vhost_iotlb_result r)
{
	return r == VHOST_IOTLB_LOOKUP_HIT ? "hit" :
		r == VHOST_IOTLB_LOOKUP_MISS ? "miss" : "denied";
}

static void
check_lookup(uint64_t q, uint8_t perm, uint64_t len_in)
{
	const struct cell *m = &model[cell_of(q)];
	uint64_t len = len_in, uaddr = 0xdeadbeef;
	enum vhost_iotlb_result r = vhost_iotlb_lookup(&tlb, q, &len, perm, &uaddr);
	bool expired = m->mapped && m->stamp < tlb.expire_before;
	bool allowed = m->mapped && (m->perm & perm) == perm;
	const struct vhost_iotlb_entry *e;

	if (r == VHOST_IOTLB_LOOKUP_HIT) {
		uint64_t avail, want;

		FZ_CHECK(allowed && !expired, "lookup 0x%lx perm %u: hit, model says %s",
			 q, perm, !m->mapped ? "unmapped" : expired ? "expired" : "no permission");
		FZ_CHECK(uaddr == m->ubase + (q - cell_first(cell_of(q))),
			 "lookup 0x%lx: uaddr 0x%lx, model 0x%lx", q, uaddr,
			 m->ubase + (q - cell_first(cell_of(q))));
		avail = model_run_last(q) - q;	/* bytes after q */
		if (len_in == 0) {
			FZ_CHECK(len == 0, "lookup 0x%lx len 0 -> %lu", q, len);
			return;
		}
		FZ_CHECK(len >= 1 && len <= len_in && len - 1 <= avail,
			 "lookup 0x%lx len %lu -> %lu, model allows %lu more",
			 q, len_in, len, avail);
		/* The lookup gives the whole rest of the entry holding q, up
		 * to len_in; whether neighbours that could merge did is
		 * check_table's (merges stop at VHOST_IOTLB_MERGE_SLOTS
		 * index blocks, so a run may span several entries). */
		e = vhost_iotlb_find(&tlb, q);
		FZ_CHECK(e != NULL, "lookup 0x%lx: hit without an entry", q);
		want = e->last - q;	/* bytes after q in the entry */
		want = len_in - 1 > want ? want + 1 : len_in;
		if (model_exact)
			FZ_CHECK(len == want, "lookup 0x%lx len %lu -> %lu, expected %lu (entry cut short?)",
				 q, len_in, len, want);
		return;
	}
	if (r == VHOST_IOTLB_LOOKUP_DENIED) {
		FZ_CHECK(m->mapped && !allowed && !expired, "lookup 0x%lx perm %u: denied, model says %s",
			 q, perm, !m->mapped ? "unmapped" : expired ? "expired" : "allowed");
		return;
	}
	/* A miss is wrong only if nothing was evicted, or the entry is
	 * older than the horizon (check_table: never younger than its
	 * cells). */
	if (!model_exact || !m->mapped || expired)
		return;
	e = vhost_iotlb_find(&tlb, q);
	FZ_CHECK(e != NULL && e->stamp < tlb.expire_before,
		 "lookup 0x%lx perm %u: %s, model has it mapped (perm %u, stamp %lu, horizon %lu)",
		 q, perm, res_name(r), m->perm, m->stamp, tlb.expire_before);
}

/* The array itself: sorted, disjoint, on cell boundaries, consistent
 * with the model, and (without evictions) covering all of it. */
static void
check_table(void)
{
	static struct vhost_iotlb_entry te[2 * NCELLS + 8];
	unsigned int covered = 0, mapped = 0;
	char why[256];

	if (tlb.evictions != evictions_seen) {
		evictions_seen = tlb.evictions;
		model_exact = false;
	}
	FZ_CHECK(tlb.n <= tlb.max, "%u entries, max %u", tlb.n, tlb.max);
	FZ_CHECK(vhost_iotlb_check(&tlb, why, sizeof(why)) == 0, "structure: %s", why);
	FZ_CHECK(vhost_iotlb_snapshot(&tlb, te, RTE_DIM(te)) == tlb.n &&
		 tlb.n <= RTE_DIM(te), "%u entries in order, n %u", vhost_iotlb_snapshot(&tlb, te, 0), tlb.n);
	for (uint32_t i = 0; i < tlb.n; i++) {
		const struct vhost_iotlb_entry *e = &te[i];
		unsigned int c0, c1;

		FZ_CHECK(e->iova <= e->last, "entry %u: iova 0x%lx > last 0x%lx", i, e->iova, e->last);
		FZ_CHECK(i == 0 || te[i - 1].last < e->iova, "entries %u and %u overlap or are unsorted", i - 1, i);
		FZ_CHECK(e->perm >= 1 && e->perm <= VHOST_ACCESS_RW, "entry %u: perm %u", i, e->perm);
		FZ_CHECK(e->uaddr + (e->last - e->iova) >= e->uaddr, "entry %u: uaddr range wraps", i);
		model_range(e->iova, e->last, &c0, &c1);
		for (unsigned int c = c0; c <= c1; c++) {
			FZ_CHECK(model[c].mapped && model[c].perm == e->perm &&
				 model[c].ubase == e->uaddr + (cell_first(c) - e->iova),
				 "entry %u [0x%lx, 0x%lx] -> 0x%lx perm %u disagrees with the model at 0x%lx",
				 i, e->iova, e->last, e->uaddr, e->perm, cell_first(c));
			FZ_CHECK(e->stamp <= model[c].stamp,
				 "entry %u stamped %lu, younger than its part at 0x%lx mapped at %lu",
				 i, e->stamp, cell_first(c), model[c].stamp);
			covered++;
		}
		if (i > 0 && model_exact && strict_merge) {
			const struct vhost_iotlb_entry *l = &te[i - 1];
			uint64_t uend = l->uaddr + (l->last - l->iova);

			/* Neighbours that would need too many index blocks
			 * together are left apart (VHOST_IOTLB_MERGE_SLOTS). */
			FZ_CHECK(!(l->last + 1 == e->iova && l->perm == e->perm &&
				   uend != UINT64_MAX && uend + 1 == e->uaddr &&
				   vhost_iotlb_range_blocks(l->iova, e->last, VHOST_IOTLB_MERGE_SLOTS) <=
				   VHOST_IOTLB_MERGE_SLOTS),
				 "entries %u and %u are contiguous but not merged", i - 1, i);
		}
	}
	for (unsigned int c = 0; c < NCELLS; c++)
		mapped += model[c].mapped;
	FZ_CHECK(covered <= mapped, "entries cover %u cells, model maps %u", covered, mapped);
	FZ_CHECK(!model_exact || covered == mapped, "entries cover %u cells, model maps %u", covered, mapped);

	/* Every cell, every permission, unbounded length. The gap cell is
	 * probed at both ends and in the middle. */
	for (unsigned int c = 0; c < NCELLS; c++) {
		for (uint8_t perm = 1; perm <= VHOST_ACCESS_RW; perm++) {
			check_lookup(cell_first(c), perm, UINT64_MAX);
			if (c == GAP) {
				check_lookup(cell_last(c), perm, UINT64_MAX);
				check_lookup(1ULL << 63, perm, 1);
			}
		}
	}
}

/* An IOVA range from two cells, or a degenerate size. */
static void
decode_range(struct fz_in *in, uint64_t *iova, uint64_t *size)
{
	unsigned int a = fz_u8(in) % NCELLS, b = fz_u8(in) % NCELLS;
	uint8_t mode = fz_u8(in) % 8;

	if (a > b) {
		unsigned int t = a;

		a = b;
		b = t;
	}
	*iova = cell_first(a);
	if (mode == 6)
		*size = 0;
	else if (mode == 7)
		*size = UINT64_MAX;	/* wraps, unless iova < 2 */
	else
		*size = cell_last(b) - *iova + 1;	/* 0 for the whole space */
}

static void
op_update(struct fz_in *in)
{
	static const uint8_t perms[8] = { 1, 2, 3, 0, 7, 1, 2, 3 };
	uint64_t iova, size, uaddr, v;
	uint8_t perm, umode;
	bool valid;
	int ret;

	decode_range(in, &iova, &size);
	perm = perms[fz_u8(in) % 8];
	umode = fz_u8(in) % 4;
	v = fz_u16(in);
	switch (umode) {
	case 0: uaddr = v; break;
	case 1: uaddr = iova + v; break;		/* may wrap */
	case 2: uaddr = UINT64_MAX - v; break;		/* near the top */
	default: uaddr = iova + (v << 12); break;
	}
	valid = size != 0 && perm >= 1 && perm <= VHOST_ACCESS_RW &&
		iova + (size - 1) >= iova && uaddr + (size - 1) >= uaddr;
	ret = vhost_iotlb_update(&tlb, iova, size, uaddr, perm);
	FZ_CHECK(ret == (valid ? 0 : -EINVAL), "update iova 0x%lx size 0x%lx uaddr 0x%lx perm %u: %d",
		 iova, size, uaddr, perm, ret);
	/* A table of capacity 0 keeps nothing: like the model, if the
	 * model is not told either. */
	if (valid && tlb.max > 0)
		model_update(iova, size, uaddr, perm);
}

static void
op_invalidate(struct fz_in *in)
{
	uint64_t iova, size, last;
	unsigned int c0, c1, hit = 0;
	uint32_t n_before = tlb.n, ret;

	decode_range(in, &iova, &size);
	ret = vhost_iotlb_invalidate(&tlb, iova, size);
	if (size == 0) {
		FZ_CHECK(ret == 0, "invalidate of size 0 changed %u entries", ret);
		return;
	}
	last = iova + (size - 1);
	if (last < iova)
		last = UINT64_MAX;	/* "to the end" */
	model_range(iova, last, &c0, &c1);
	for (unsigned int c = c0; c <= c1; c++)
		hit += model[c].mapped;
	/* Entries changed: none if the model had nothing there (the
	 * library holds a subset), some if it had and nothing was lost. */
	FZ_CHECK(hit > 0 || ret == 0, "invalidate 0x%lx..0x%lx: %u entries changed in an unmapped range",
		 iova, last, ret);
	FZ_CHECK(!model_exact || hit == 0 || ret > 0, "invalidate 0x%lx..0x%lx: nothing changed, model had %u cells",
		 iova, last, hit);
	FZ_CHECK(ret <= n_before, "invalidate changed %u of %u entries", ret, n_before);
	model_invalidate(iova, last);
}

static void
op_lookup(struct fz_in *in)
{
	static const uint64_t lens[8] = { 0, 1, 2, 7, 64, 1ULL << 40, UINT64_MAX, 3 };
	unsigned int c = fz_u8(in) % NCELLS;
	uint8_t where = fz_u8(in), perm = 1 + fz_u8(in) % 3;
	uint64_t q = cell_first(c);

	if (c == GAP && where % 3 == 1)
		q = cell_last(c);
	else if (c == GAP && where % 3 == 2)
		q = 1ULL << 63;
	check_lookup(q, perm, lens[(where >> 2) % 8]);
	FZ_CHECK(vhost_iotlb_find(&tlb, q) == NULL ||
		 (vhost_iotlb_find(&tlb, q) >= tlb.e && vhost_iotlb_find(&tlb, q) < tlb.e + tlb.max),
		 "find returned an entry outside the table");
	/* The datapath's prefetch hint changes nothing. */
	if (tlb.levels != 0) {
		uint32_t hint = vhost_iotlb_prefetch_entry(&tlb,
			vhost_iotlb_prefetch_slot(&tlb, q));

		FZ_CHECK(vhost_iotlb_find_hinted(&tlb, q, hint) == vhost_iotlb_find(&tlb, q),
			 "hinted find of 0x%lx differs", q);
	}
}

/* What vhost_iotlb_age() does with the timer: the clock moves on, the
 * horizon follows at a distance (the lifetime). */
static void
op_age(struct fz_in *in)
{
	uint8_t tick = fz_u8(in), life = fz_u8(in);

	tlb.clock += tick;
	tlb.expire_before = tlb.clock > life ? tlb.clock - life : 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	strict_merge = getenv("FUZZ_IOTLB_STRICT_MERGE") != NULL;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Small capacities make evictions reachable in a short input. */
	static const uint32_t caps[8] = { 4096, 1, 2, 3, 4, 8, 16, 0 };
	struct fz_in in = { data, size };

	if (vhost_iotlb_init(&tlb, caps[fz_u8(&in) % 8]) != 0)
		abort();
	memset(model, 0, sizeof(model));
	model_exact = true;
	evictions_seen = 0;
	while (!fz_empty(&in)) {
		uint8_t op = fz_u8(&in);

		switch (op % 8) {
		case 0: case 1: case 2: case 3:
			op_update(&in);
			break;
		case 4: case 5:
			op_invalidate(&in);
			break;
		case 6:
			op_lookup(&in);
			break;
		default:
			if (op == 0xff) {
				/* Flushed, the library holds the model again. */
				vhost_iotlb_flush(&tlb);
				memset(model, 0, sizeof(model));
				model_exact = true;
				evictions_seen = tlb.evictions;
			} else if (op & 8) {
				op_age(&in);
			} else {
				op_lookup(&in);
			}
			break;
		}
		check_table();
	}
	vhost_iotlb_fini(&tlb);
	return 0;
}
