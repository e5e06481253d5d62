/* SPDX-License-Identifier: BSD-3-Clause */

/* Device IOTLB cache (iotlb.c, iotlb.h): translations at the edges of
 * entries and of the 64-bit space, permissions, merging and splitting,
 * refused updates, the bound on entries with its eviction, and a long
 * randomized comparison against a byte-per-byte reference model. */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <linux/vhost_types.h>

#include "iotlb.h"
#include "test_rng.h"
#include "test_run.h"

#define RO VHOST_ACCESS_RO
#define WO VHOST_ACCESS_WO
#define RW VHOST_ACCESS_RW
#define PG 0x1000ULL
#define TOP (UINT64_MAX - PG + 1)	/* 2^64 - 4096: the last page */

#define HIT VHOST_IOTLB_LOOKUP_HIT
#define MISS VHOST_IOTLB_LOOKUP_MISS
#define DENIED VHOST_IOTLB_LOOKUP_DENIED

/* Frontend addresses used by the fixed tests: far apart, so that two of
 * them are never contiguous by accident. */
#define UA 0x7f0000100000ULL
#define UB 0x7f0000200000ULL
#define UC 0x7f0000300000ULL
#define UD 0x7f0000400000ULL

static struct vhost_iotlb tlb;

static void
setup(void)
{
	if (vhost_iotlb_init(&tlb, 64) != 0)
		abort();
}

static void
teardown(void)
{
	vhost_iotlb_fini(&tlb);
}

/* Start over with room for max entries. */
static void
reinit(uint32_t max)
{
	vhost_iotlb_fini(&tlb);
	CU_ASSERT_FATAL(vhost_iotlb_init(&tlb, max) == 0);
}

static const char *
res_name(enum vhost_iotlb_result r)
{
	switch (r) {
	case HIT: return "HIT";
	case MISS: return "MISS";
	case DENIED: return "DENIED";
	}
	return "?";
}

/* A failed check with a message built at run time, so that a failure
 * says which values were wrong (CUnit copies the string). */
__attribute__((format(printf, 2, 3)))
static void
fail_at(unsigned int line, const char *fmt, ...)
{
	char msg[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n  line %u: %s\n", line, msg);
	CU_assertImplementation(CU_FALSE, line, msg, __FILE__, "", CU_FALSE);
}

static void
expect_lookup(unsigned int line, uint64_t iova, uint64_t len, uint8_t perm,
	      enum vhost_iotlb_result want, uint64_t want_uaddr,
	      uint64_t want_len)
{
	uint64_t l = len, ua = 0;
	enum vhost_iotlb_result r;

	r = vhost_iotlb_lookup(&tlb, iova, &l, perm, &ua);
	if (r != want)
		fail_at(line, "lookup(0x%" PRIx64 ", len 0x%" PRIx64
			", perm %u) = %s, expected %s", iova, len, perm,
			res_name(r), res_name(want));
	else if (r == HIT && (ua != want_uaddr || l != want_len))
		fail_at(line, "lookup(0x%" PRIx64 ", len 0x%" PRIx64
			", perm %u) = uaddr 0x%" PRIx64 " len 0x%" PRIx64
			", expected uaddr 0x%" PRIx64 " len 0x%" PRIx64,
			iova, len, perm, ua, l, want_uaddr, want_len);
	else
		CU_PASS("lookup");
}

#define EXPECT_HIT(iova, len, perm, ua, l) \
	expect_lookup(__LINE__, iova, len, perm, HIT, ua, l)
#define EXPECT_MISS(iova) expect_lookup(__LINE__, iova, 1, RO, MISS, 0, 0)
#define EXPECT_DENIED(iova, perm) \
	expect_lookup(__LINE__, iova, 1, perm, DENIED, 0, 0)

static void
expect_update(unsigned int line, uint64_t iova, uint64_t size, uint64_t ua,
	      uint8_t perm, int want)
{
	int rc = vhost_iotlb_update(&tlb, iova, size, ua, perm);

	if (rc != want)
		fail_at(line, "update(0x%" PRIx64 ", size 0x%" PRIx64
			", uaddr 0x%" PRIx64 ", perm %u) = %d, expected %d",
			iova, size, ua, perm, rc, want);
	else
		CU_PASS("update");
}

#define UPDATE(iova, size, ua, perm) \
	expect_update(__LINE__, iova, size, ua, perm, 0)
#define UPDATE_EINVAL(iova, size, ua, perm) \
	expect_update(__LINE__, iova, size, ua, perm, -EINVAL)

static void
expect_invalidate(unsigned int line, uint64_t iova, uint64_t size,
		  uint32_t want)
{
	uint32_t n = vhost_iotlb_invalidate(&tlb, iova, size);

	if (n != want)
		fail_at(line, "invalidate(0x%" PRIx64 ", size 0x%" PRIx64
			") = %u, expected %u", iova, size, n, want);
	else
		CU_PASS("invalidate");
}

#define INVALIDATE(iova, size, want) \
	expect_invalidate(__LINE__, iova, size, want)

static void
expect_n(unsigned int line, uint32_t want)
{
	if (tlb.n != want)
		fail_at(line, "%u entries, expected %u", tlb.n, want);
	else
		CU_PASS("entries");
}

#define EXPECT_N(want) expect_n(__LINE__, want)

/* The entries in IOVA order (valid until the next call). */
static const struct vhost_iotlb_entry *
view(const struct vhost_iotlb *t)
{
	static struct vhost_iotlb_entry *buf;
	static uint32_t room;

	if (t->n > room) {
		free(buf);
		room = t->n * 2;
		buf = calloc(room, sizeof(*buf));
		if (buf == NULL)
			abort();
	}
	if (vhost_iotlb_snapshot(t, buf, room) != t->n)
		abort();	/* the tree and the count disagree */
	return buf;
}

/* The structural invariants: bounded, sorted, non-overlapping, valid
 * permissions, and no entry whose frontend range wraps (a translated
 * buffer must be addressable as [uaddr, uaddr + len)). */
static bool
well_formed_deep(const struct vhost_iotlb *t, char *why, size_t whylen,
		 bool deep)
{
	const struct vhost_iotlb_entry *te;

	if (t->n > t->max) {
		snprintf(why, whylen, "%u entries > max %u", t->n, t->max);
		return false;
	}
	/* The index, tree and retirement list agree (costs a walk of the
	 * whole hash table: not after every random operation). */
	if (deep && vhost_iotlb_check(t, why, whylen) != 0)
		return false;
	te = view(t);
	for (uint32_t i = 0; i < t->n; i++) {
		const struct vhost_iotlb_entry *e = &te[i];

		if (e->iova > e->last) {
			snprintf(why, whylen, "entry %u: iova 0x%" PRIx64
				 " > last 0x%" PRIx64, i, e->iova, e->last);
			return false;
		}
		if (e->perm == 0 || (e->perm & ~RW) != 0) {
			snprintf(why, whylen, "entry %u: perm %u", i, e->perm);
			return false;
		}
		if (e->uaddr + (e->last - e->iova) < e->uaddr) {
			snprintf(why, whylen, "entry %u [0x%" PRIx64 ", 0x%"
				 PRIx64 "]: uaddr range from 0x%" PRIx64
				 " wraps", i, e->iova, e->last, e->uaddr);
			return false;
		}
		if (i > 0 && te[i - 1].last >= e->iova) {
			snprintf(why, whylen, "entries %u and %u overlap or"
				 " are out of order", i - 1, i);
			return false;
		}
	}
	return true;
}

static bool
well_formed(const struct vhost_iotlb *t, char *why, size_t whylen)
{
	return well_formed_deep(t, why, whylen, true);
}

static void
check_wf(unsigned int line)
{
	char why[256];

	if (!well_formed(&tlb, why, sizeof(why)))
		fail_at(line, "table not well formed: %s", why);
	else
		CU_PASS("well formed");
}

#define CHECK_WF() check_wf(__LINE__)

/* A copy of the table, to prove that a refused call changed nothing:
 * the entries, and their retirement order. */
struct snapshot {
	uint32_t n;
	struct vhost_iotlb_entry e[64];
	uint64_t age_order[64];		/* iova, oldest first */
};

static void
take_ages(uint64_t *ages)
{
	uint32_t k = 0;

	for (uint32_t id = tlb.oldest; id != VHOST_IOTLB_NIL && k < 64;
	     id = tlb.node[id].newer)
		ages[k++] = tlb.e[id].iova;
}

static void
take(struct snapshot *s)
{
	CU_ASSERT_FATAL(tlb.n <= 64);
	s->n = tlb.n;
	memcpy(s->e, view(&tlb), tlb.n * sizeof(s->e[0]));
	take_ages(s->age_order);
}

static bool
same_as(const struct snapshot *s)
{
	const struct vhost_iotlb_entry *te = view(&tlb);
	uint64_t ages[64];

	if (s->n != tlb.n)
		return false;
	take_ages(ages);
	for (uint32_t i = 0; i < s->n; i++) {
		const struct vhost_iotlb_entry *a = &s->e[i], *b = &te[i];

		if (a->iova != b->iova || a->last != b->last ||
		    a->uaddr != b->uaddr || a->perm != b->perm ||
		    a->hva != b->hva || a->gpa != b->gpa ||
		    s->age_order[i] != ages[i])
			return false;
	}
	return true;
}

/* ---- translations ---------------------------------------------------- */

static void
test_insert_lookup(void)
{
	UPDATE(0x10000, 0x4000, UA, RW);
	EXPECT_N(1);
	EXPECT_HIT(0x10000, 16, RO, UA, 16);			/* first byte */
	EXPECT_HIT(0x12345, 16, RW, UA + 0x2345, 16);		/* middle */
	EXPECT_HIT(0x13fff, 16, WO, UA + 0x3fff, 1);		/* last byte */
	EXPECT_MISS(0x14000);					/* one past */
	EXPECT_MISS(0xffff);					/* one before */
	EXPECT_MISS(0);
	EXPECT_MISS(UINT64_MAX);
	CHECK_WF();
}

static void
test_length_clipping(void)
{
	UPDATE(0x10000, 0x4000, UA, RW);
	EXPECT_HIT(0x13f80, 0x100, RO, UA + 0x3f80, 0x80);	/* past end */
	EXPECT_HIT(0x13f80, 0x80, RO, UA + 0x3f80, 0x80);	/* to the end */
	EXPECT_HIT(0x13f80, 0x7f, RO, UA + 0x3f80, 0x7f);	/* inside */
	EXPECT_HIT(0x10000, 0x4000, RO, UA, 0x4000);
	EXPECT_HIT(0x10000, 0x4001, RO, UA, 0x4000);
	EXPECT_HIT(0x10000, UINT64_MAX, RO, UA, 0x4000);	/* no overflow */
	EXPECT_HIT(0x13fff, UINT64_MAX, RO, UA + 0x3fff, 1);
}

static void
test_permissions(void)
{
	static const uint8_t perms[] = { RO, WO, RW };

	/* One entry per permission, with gaps so that none merge. */
	for (unsigned int i = 0; i < 3; i++)
		UPDATE(0x10000 * (i + 1), PG, UA + 0x100000 * i, perms[i]);
	EXPECT_N(3);
	for (unsigned int i = 0; i < 3; i++) {
		for (unsigned int j = 0; j < 3; j++) {
			uint64_t iova = 0x10000 * (i + 1) + 0x10;
			bool ok = (perms[i] & perms[j]) == perms[j];

			if (ok)
				EXPECT_HIT(iova, 8, perms[j],
					   UA + 0x100000 * i + 0x10, 8);
			else
				EXPECT_DENIED(iova, perms[j]);
		}
	}
	/* A denied lookup at the last byte, and a miss right after it. */
	EXPECT_DENIED(0x10000 + PG - 1, WO);
	EXPECT_MISS(0x10000 + PG);
}

/* ---- merging ---------------------------------------------------------- */

static void
test_merge_left(void)
{
	/* Contiguous in IOVA and uaddr, same perm: one entry. */
	UPDATE(0, PG, UA, RW);
	UPDATE(PG, PG, UA + PG, RW);
	EXPECT_N(1);
	EXPECT_HIT(0, 2 * PG, RW, UA, 2 * PG);
	EXPECT_HIT(PG - 1, 2, RW, UA + PG - 1, 2);
	CHECK_WF();
}

static void
test_merge_right(void)
{
	/* The new range is just below the existing one. */
	UPDATE(PG, PG, UA + PG, RW);
	UPDATE(0, PG, UA, RW);
	EXPECT_N(1);
	EXPECT_HIT(0, 2 * PG, RW, UA, 2 * PG);
	CHECK_WF();
}

static void
test_no_merge_uaddr_gap(void)
{
	/* Contiguous IOVA, but not uaddr: two entries, each its own uaddr. */
	UPDATE(0, PG, UA, RW);
	UPDATE(PG, PG, UA + 2 * PG, RW);
	EXPECT_N(2);
	EXPECT_HIT(PG - 0x10, 0x20, RW, UA + PG - 0x10, 0x10);
	EXPECT_HIT(PG, 0x20, RW, UA + 2 * PG, 0x20);

	/* Same below an existing entry. */
	vhost_iotlb_flush(&tlb);
	UPDATE(PG, PG, UA + 2 * PG, RW);
	UPDATE(0, PG, UA, RW);
	EXPECT_N(2);
	EXPECT_HIT(PG - 0x10, 0x20, RW, UA + PG - 0x10, 0x10);
	EXPECT_HIT(PG, 0x20, RW, UA + 2 * PG, 0x20);
	CHECK_WF();
}

static void
test_no_merge_perm_left(void)
{
	/* Contiguous, different perm, new range above the old one. */
	UPDATE(0, PG, UA, RW);
	UPDATE(PG, PG, UA + PG, RO);
	EXPECT_N(2);
	EXPECT_HIT(0, 2 * PG, WO, UA, PG);
	EXPECT_DENIED(PG, WO);
	EXPECT_HIT(PG, PG, RO, UA + PG, PG);
	CHECK_WF();
}

static void
test_no_merge_perm_right(void)
{
	/* Contiguous, different perm, new range below the old one: the
	 * right neighbour's permission must be compared too. */
	UPDATE(PG, PG, UA + PG, RO);
	UPDATE(0, PG, UA, RW);
	EXPECT_N(2);
	EXPECT_HIT(0, 2 * PG, WO, UA, PG);	/* the new range is RW */
	EXPECT_DENIED(PG, WO);			/* the old one still RO */
	EXPECT_HIT(PG, PG, RO, UA + PG, PG);

	/* And the other way round: an RO range must not become RW. */
	vhost_iotlb_flush(&tlb);
	UPDATE(PG, PG, UA + PG, RW);
	UPDATE(0, PG, UA, RO);
	EXPECT_N(2);
	EXPECT_DENIED(0, WO);
	EXPECT_HIT(PG, PG, WO, UA + PG, PG);
	CHECK_WF();
}

static void
test_merge_both_sides(void)
{
	UPDATE(0, PG, UA, RW);
	UPDATE(2 * PG, PG, UA + 2 * PG, RW);
	EXPECT_N(2);
	UPDATE(PG, PG, UA + PG, RW);		/* fills the hole */
	EXPECT_N(1);
	EXPECT_HIT(0, UINT64_MAX, RW, UA, 3 * PG);
	EXPECT_HIT(2 * PG + 5, UINT64_MAX, RW, UA + 2 * PG + 5, PG - 5);
	EXPECT_MISS(3 * PG);
	CHECK_WF();

	/* The right one not contiguous in uaddr: only the left merges. */
	vhost_iotlb_flush(&tlb);
	UPDATE(0, PG, UA, RW);
	UPDATE(2 * PG, PG, UB, RW);
	UPDATE(PG, PG, UA + PG, RW);
	EXPECT_N(2);
	EXPECT_HIT(0, UINT64_MAX, RW, UA, 2 * PG);
	EXPECT_HIT(2 * PG, UINT64_MAX, RW, UB, PG);
	CHECK_WF();
}

static void
test_merge_both_sides_perm(void)
{
	/* Left RW, right RO, hole filled with RW contiguous in uaddr: the
	 * left may merge, the right must keep its own permission. */
	UPDATE(0, PG, UA, RW);
	UPDATE(2 * PG, PG, UA + 2 * PG, RO);
	UPDATE(PG, PG, UA + PG, RW);
	EXPECT_N(2);
	EXPECT_HIT(0, UINT64_MAX, RW, UA, 2 * PG);
	EXPECT_DENIED(2 * PG, WO);
	EXPECT_HIT(2 * PG, UINT64_MAX, RO, UA + 2 * PG, PG);
	CHECK_WF();
}

static void
test_merge_no_uaddr_wrap(void)
{
	/* Contiguous only modulo 2^64 in uaddr: merging would make an entry
	 * whose frontend range wraps, and a lookup would return a buffer
	 * [uaddr, uaddr + len) that runs past the top of the space. Each
	 * update alone is valid. */
	UPDATE(0, PG, TOP, RW);
	UPDATE(PG, PG, 0, RW);
	EXPECT_HIT(PG - 0x80, 0x100, RO, UINT64_MAX - 0x7f, 0x80);
	EXPECT_HIT(PG, 0x100, RO, 0, 0x100);
	CHECK_WF();

	/* The same, the new range below the old one. */
	vhost_iotlb_flush(&tlb);
	UPDATE(PG, PG, 0, RW);
	UPDATE(0, PG, TOP, RW);
	EXPECT_HIT(PG - 0x80, 0x100, RO, UINT64_MAX - 0x7f, 0x80);
	CHECK_WF();
}

static void
test_update_replaces(void)
{
	UPDATE(0, PG, UA, RW);
	UPDATE(2 * PG, PG, UB, RO);
	UPDATE(4 * PG, PG, UC, WO);
	/* [0x800, 0x4800): cuts the first, drops the second, cuts the third */
	UPDATE(0x800, 4 * PG, UD, RW);
	EXPECT_N(3);
	EXPECT_HIT(0, UINT64_MAX, RW, UA, 0x800);
	EXPECT_HIT(0x800, UINT64_MAX, RW, UD, 4 * PG);
	EXPECT_HIT(2 * PG, 1, WO, UD + 2 * PG - 0x800, 1);	/* was RO */
	EXPECT_HIT(0x4800, UINT64_MAX, WO, UC + 0x800, 0x800);
	EXPECT_DENIED(0x4800, RO);
	EXPECT_MISS(5 * PG);
	CHECK_WF();

	/* Exactly the same range: new uaddr and perm, still one entry. */
	vhost_iotlb_flush(&tlb);
	UPDATE(0, PG, UA, RW);
	UPDATE(0, PG, UB, RO);
	EXPECT_N(1);
	EXPECT_HIT(0, UINT64_MAX, RO, UB, PG);
	EXPECT_DENIED(0, WO);

	/* Strictly inside an entry: split around the new one. */
	vhost_iotlb_flush(&tlb);
	UPDATE(0, 4 * PG, UA, RW);
	UPDATE(PG, PG, UB, RO);
	EXPECT_N(3);
	EXPECT_HIT(0, UINT64_MAX, RW, UA, PG);
	EXPECT_HIT(PG, UINT64_MAX, RO, UB, PG);
	EXPECT_HIT(2 * PG, UINT64_MAX, RW, UA + 2 * PG, 2 * PG);
	CHECK_WF();
}

/* ---- invalidation ----------------------------------------------------- */

static void
test_invalidate_whole(void)
{
	UPDATE(0x10000, 4 * PG, UA, RW);
	INVALIDATE(0x10000, 4 * PG, 1);
	EXPECT_N(0);
	EXPECT_MISS(0x10000);
	EXPECT_MISS(0x13fff);
	/* A range larger than the entry on both sides. */
	UPDATE(0x10000, 4 * PG, UA, RW);
	INVALIDATE(0xf000, 6 * PG, 1);
	EXPECT_N(0);
	/* Nothing there. */
	INVALIDATE(0x10000, 4 * PG, 0);
}

static void
test_invalidate_head_tail(void)
{
	UPDATE(0x10000, 4 * PG, UA, RW);
	INVALIDATE(0x10000, PG, 1);				/* head */
	EXPECT_N(1);
	EXPECT_MISS(0x10fff);
	EXPECT_HIT(0x11000, UINT64_MAX, RW, UA + PG, 3 * PG);
	INVALIDATE(0x10800, PG, 1);		/* head, starting before */
	EXPECT_MISS(0x117ff);
	EXPECT_HIT(0x11800, UINT64_MAX, RW, UA + 0x1800, 0x2800);
	INVALIDATE(0x13000, PG, 1);				/* tail */
	EXPECT_MISS(0x13000);
	EXPECT_HIT(0x11800, UINT64_MAX, RW, UA + 0x1800, 0x1800);
	INVALIDATE(0x12fff, 16 * PG, 1);	/* tail, reaching past */
	EXPECT_MISS(0x12fff);
	EXPECT_HIT(0x12ffe, UINT64_MAX, RW, UA + 0x2ffe, 1);
	EXPECT_N(1);
	CHECK_WF();
}

static void
test_invalidate_middle(void)
{
	UPDATE(0x10000, 4 * PG, UA, RO);
	INVALIDATE(0x11000, PG, 1);
	EXPECT_N(2);
	EXPECT_HIT(0x10000, UINT64_MAX, RO, UA, PG);
	EXPECT_MISS(0x11000);
	EXPECT_MISS(0x11fff);
	EXPECT_HIT(0x12000, UINT64_MAX, RO, UA + 2 * PG, 2 * PG);
	EXPECT_DENIED(0x10000, WO);		/* both halves keep the perm */
	EXPECT_DENIED(0x13fff, WO);

	/* One byte out of the middle. */
	INVALIDATE(0x12001, 1, 1);
	EXPECT_N(3);
	EXPECT_HIT(0x12000, 16, RO, UA + 2 * PG, 1);
	EXPECT_MISS(0x12001);
	EXPECT_HIT(0x12002, 16, RO, UA + 0x2002, 16);
	EXPECT_HIT(0x12002, UINT64_MAX, RO, UA + 0x2002, 0x1ffe);
	CHECK_WF();
}

static void
test_invalidate_span(void)
{
	for (unsigned int i = 0; i < 4; i++)
		UPDATE(2 * PG * i, PG, UA + 0x100000 * i, RW);
	EXPECT_N(4);
	/* [0x800, 0x6800): tail of 0, all of 1 and 2, head of 3 */
	INVALIDATE(0x800, 6 * PG, 4);
	EXPECT_N(2);
	EXPECT_HIT(0, UINT64_MAX, RW, UA, 0x800);
	EXPECT_MISS(0x800);
	EXPECT_MISS(2 * PG);
	EXPECT_MISS(4 * PG);
	EXPECT_MISS(0x67ff);
	EXPECT_HIT(0x6800, UINT64_MAX, RW, UA + 0x300800, 0x800);
	CHECK_WF();
}

static void
test_invalidate_to_end(void)
{
	UPDATE(0x10000, PG, UA, RW);
	UPDATE(0x20000, PG, UB, RW);
	UPDATE(TOP, PG, UC, RW);
	/* iova + size - 1 wraps: everything from 0x18000 up goes. */
	INVALIDATE(0x18000, UINT64_MAX, 2);
	EXPECT_N(1);
	EXPECT_HIT(0x10000, 1, RW, UA, 1);
	EXPECT_MISS(0x20000);
	EXPECT_MISS(UINT64_MAX);

	/* Exactly to UINT64_MAX (no wrap), cutting the first in two. */
	UPDATE(TOP, PG, UC, RW);
	INVALIDATE(0x10800, UINT64_MAX - 0x10800 + 1, 2);
	EXPECT_N(1);
	EXPECT_HIT(0x10000, UINT64_MAX, RW, UA, 0x800);
	EXPECT_MISS(UINT64_MAX);

	/* From 0 with the largest size: the last byte of the space stays. */
	UPDATE(TOP, PG, UC, RW);
	INVALIDATE(0, UINT64_MAX, 2);
	EXPECT_N(1);
	EXPECT_HIT(UINT64_MAX, UINT64_MAX, RW, UC + PG - 1, 1);
	EXPECT_MISS(UINT64_MAX - 1);
	INVALIDATE(UINT64_MAX, 1, 1);
	EXPECT_N(0);
	CHECK_WF();
}

static void
test_invalidate_size0(void)
{
	struct snapshot s;

	UPDATE(0x10000, 4 * PG, UA, RW);
	UPDATE(0x20000, 4 * PG, UB, RO);
	take(&s);
	INVALIDATE(0x10000, 0, 0);
	INVALIDATE(0x11000, 0, 0);
	INVALIDATE(0, 0, 0);
	CU_ASSERT_TRUE(same_as(&s));
	EXPECT_HIT(0x11000, 1, RW, UA + PG, 1);
}

/* ---- refused updates -------------------------------------------------- */

static void
test_update_invalid(void)
{
	struct snapshot s;

	UPDATE(0x10000, 4 * PG, UA, RW);
	UPDATE(0x20000, 4 * PG, UB, RO);
	UPDATE(TOP, PG, UC, WO);
	take(&s);

	/* Each overlaps an existing entry: a refusal must not have
	 * invalidated it first. */
	UPDATE_EINVAL(0x10000, 0, UD, RW);			/* size 0 */
	UPDATE_EINVAL(0x10000, PG, UD, 0);			/* perm 0 */
	UPDATE_EINVAL(0x10000, PG, UD, 4);			/* perm > 3 */
	UPDATE_EINVAL(0x10000, PG, UD, 7);
	UPDATE_EINVAL(0x10000, PG, UD, 0x83);
	UPDATE_EINVAL(0x10000, PG, UD, 0xff);
	UPDATE_EINVAL(TOP + 1, PG, UD, RW);			/* iova wraps */
	UPDATE_EINVAL(UINT64_MAX, 2, UD, RW);
	UPDATE_EINVAL(0x20000, UINT64_MAX, UD, RW);
	UPDATE_EINVAL(0x20000, PG, UINT64_MAX - PG + 2, RW);	/* uaddr wraps */
	UPDATE_EINVAL(0x20000, 2, UINT64_MAX, RW);
	UPDATE_EINVAL(1, UINT64_MAX, 2, RW);
	CU_ASSERT_TRUE(same_as(&s));
	CHECK_WF();

	/* Both limits exactly reached are valid. */
	UPDATE(0x30000, PG, TOP, RW);				/* uaddr top */
	UPDATE(1, UINT64_MAX, 1, RW);				/* iova 1..max */
	EXPECT_N(1);
	EXPECT_HIT(UINT64_MAX, 4, RW, UINT64_MAX, 1);
	EXPECT_MISS(0);
}

/* ---- the top of the address space ------------------------------------- */

static void
test_top_of_space(void)
{
	UPDATE(TOP, PG, UC, RW);
	EXPECT_N(1);
	EXPECT_HIT(UINT64_MAX, 100, RW, UC + PG - 1, 1);
	EXPECT_HIT(UINT64_MAX, UINT64_MAX, RW, UC + PG - 1, 1);
	EXPECT_HIT(TOP, UINT64_MAX, RW, UC, PG);
	EXPECT_HIT(TOP + 0x800, PG, RO, UC + 0x800, 0x800);
	EXPECT_HIT(UINT64_MAX - 1, 2, RO, UC + PG - 2, 2);
	EXPECT_HIT(UINT64_MAX - 1, 3, RO, UC + PG - 2, 2);
	EXPECT_MISS(TOP - 1);
	EXPECT_MISS(0);

	/* A contiguous range below it merges into it. */
	UPDATE(TOP - PG, PG, UC - PG, RW);
	EXPECT_N(1);
	EXPECT_HIT(TOP - PG, UINT64_MAX, RW, UC - PG, 2 * PG);
	CHECK_WF();

	/* The whole space, built from two updates (one alone cannot say
	 * size 2^64). Together they would need more index blocks than a
	 * merge may re-index (VHOST_IOTLB_MERGE_SLOTS): two entries, each
	 * translating to its own end. */
	vhost_iotlb_flush(&tlb);
	UPDATE(0, UINT64_MAX, 0, RW);
	UPDATE(UINT64_MAX, 1, UINT64_MAX, RW);
	CU_ASSERT(vhost_iotlb_range_blocks(0, UINT64_MAX, VHOST_IOTLB_MERGE_SLOTS) >
		  VHOST_IOTLB_MERGE_SLOTS);
	EXPECT_N(2);
	EXPECT_HIT(0, UINT64_MAX, RO, 0, UINT64_MAX);
	EXPECT_HIT(5, UINT64_MAX, RO, 5, UINT64_MAX - 5);
	EXPECT_HIT(UINT64_MAX - 1, UINT64_MAX, RO, UINT64_MAX - 1, 1);
	EXPECT_HIT(UINT64_MAX, UINT64_MAX, RO, UINT64_MAX, 1);
	CHECK_WF();
	/* A hole in it. */
	INVALIDATE(PG, PG, 1);
	EXPECT_N(3);
	EXPECT_HIT(0, UINT64_MAX, RO, 0, PG);
	EXPECT_MISS(PG);
	EXPECT_HIT(2 * PG, UINT64_MAX, RO, 2 * PG, UINT64_MAX - 2 * PG);
	INVALIDATE(0, UINT64_MAX, 2);
	EXPECT_N(1);
	EXPECT_HIT(UINT64_MAX, UINT64_MAX, RO, UINT64_MAX, 1);
	CHECK_WF();

	/* Contiguous 4 KiB pages merge while the result needs at most
	 * VHOST_IOTLB_MERGE_SLOTS blocks: 64 pages from a 2 MiB boundary,
	 * then a new entry. */
	vhost_iotlb_flush(&tlb);
	for (uint64_t i = 0; i < 65; i++)
		UPDATE(0x200000 + i * PG, PG, UA + i * PG, RW);
	EXPECT_N(2);
	EXPECT_HIT(0x200000, UINT64_MAX, RW, UA, 64 * PG);
	EXPECT_HIT(0x200000 + 64 * PG, UINT64_MAX, RW, UA + 64 * PG, PG);
	/* A whole aligned 2 MiB page is one block: it merges with any
	 * 2 MiB neighbour. */
	vhost_iotlb_flush(&tlb);
	for (uint64_t i = 0; i < 16; i++)
		UPDATE(0x40000000 + i * 0x200000, 0x200000, UB + i * 0x200000, RW);
	EXPECT_N(1);
	EXPECT_HIT(0x40000000, UINT64_MAX, RW, UB, 16 * 0x200000);
	CHECK_WF();
}

/* ---- bounded size ----------------------------------------------------- */

static void
test_eviction(void)
{
	reinit(4);
	/* Five ranges with gaps between them: nothing merges. */
	for (unsigned int i = 0; i < 5; i++)
		UPDATE(2 * PG * i, PG, UA + 0x100000 * i, RW);
	EXPECT_N(4);
	CU_ASSERT_EQUAL(tlb.evictions, 1);
	EXPECT_MISS(0);					/* the oldest */
	for (unsigned int i = 1; i < 5; i++)
		EXPECT_HIT(2 * PG * i, UINT64_MAX, RW, UA + 0x100000 * i, PG);

	/* Mapping range 1 again makes it the newest: 2 goes next. */
	UPDATE(2 * PG, PG, UB, RW);
	CU_ASSERT_EQUAL(tlb.evictions, 1);
	UPDATE(10 * PG, PG, UC, RW);
	EXPECT_N(4);
	CU_ASSERT_EQUAL(tlb.evictions, 2);
	EXPECT_MISS(4 * PG);
	EXPECT_HIT(2 * PG, 1, RW, UB, 1);
	EXPECT_HIT(6 * PG, 1, RW, UA + 0x300000, 1);
	EXPECT_HIT(8 * PG, 1, RW, UA + 0x400000, 1);
	EXPECT_HIT(10 * PG, 1, RW, UC, 1);
	/* Then 3. */
	UPDATE(12 * PG, PG, UD, RW);
	CU_ASSERT_EQUAL(tlb.evictions, 3);
	EXPECT_MISS(6 * PG);
	EXPECT_HIT(8 * PG, 1, RW, UA + 0x400000, 1);
	CHECK_WF();

	/* With room for one entry, each insertion replaces the last. */
	reinit(1);
	UPDATE(0, PG, UA, RW);
	UPDATE(2 * PG, PG, UB, RW);
	EXPECT_N(1);
	EXPECT_MISS(0);
	EXPECT_HIT(2 * PG, 1, RW, UB, 1);
	CU_ASSERT_EQUAL(tlb.evictions, 1);
}

static void
test_split_when_full(void)
{
	reinit(4);
	for (unsigned int i = 0; i < 4; i++)
		UPDATE(8 * PG * i, 4 * PG, UA + 0x100000 * i, RW);
	EXPECT_N(4);
	/* A hole in the oldest entry needs a fifth slot: one entry goes,
	 * and what stays still translates right. */
	INVALIDATE(PG, PG, 1);
	EXPECT_N(4);
	CU_ASSERT_EQUAL(tlb.evictions, 1);
	EXPECT_MISS(PG);
	CHECK_WF();
	/* Holes in every entry, over and over: never more than max. */
	for (unsigned int k = 0; k < 64; k++) {
		uint64_t iova = 8 * PG * (k % 4) + 0x100 * (k % 32) + 0x80;

		UPDATE(8 * PG * (k % 4), 4 * PG, UA + 0x100000 * (k % 4), RW);
		INVALIDATE(iova, 0x10, 1);
		CU_ASSERT(tlb.n <= 4);
		EXPECT_MISS(iova);
		/* An update strictly inside an entry splits it too. */
		UPDATE(iova + 0x20, 0x10, UB, RO);
		CU_ASSERT(tlb.n <= 4);
		EXPECT_HIT(iova + 0x20, UINT64_MAX, RO, UB, 0x10);
		CHECK_WF();
	}
}

/* More than VHOST_IOTLB_MAX_PER_PAGE sub-page entries in one page: the
 * oldest of them goes, even when its slot is no longer the first of the
 * page's probe run (re-indexed after a trim, its age unchanged). */
static void
test_page_crowding_oldest(void)
{
	const uint64_t P = 0x40000000;
	uint64_t gen;

	for (unsigned int i = 0; i < VHOST_IOTLB_MAX_PER_PAGE; i++)
		UPDATE(P + 0x200 * i, 0x100, UA + 0x100000 * i, RW);
	EXPECT_N(VHOST_IOTLB_MAX_PER_PAGE);
	CU_ASSERT_EQUAL(tlb.page_evictions, 0);
	/* Trim the oldest: its slot goes to the end of the run, its age
	 * stays the oldest. */
	INVALIDATE(P + 0x80, 0x80, 1);
	EXPECT_HIT(P, 0x80, RW, UA, 0x80);
	/* A ninth entry in the page retires the oldest, not the first
	 * found (entry 1). */
	gen = tlb.gen;
	UPDATE(P + 0x100, 0x80, UB, RO);
	CU_ASSERT(tlb.gen != gen);
	CU_ASSERT_EQUAL(tlb.page_evictions, 1);
	CU_ASSERT_EQUAL(tlb.evictions, 1);
	EXPECT_N(VHOST_IOTLB_MAX_PER_PAGE);
	EXPECT_MISS(P);
	EXPECT_HIT(P + 0x100, 0x80, RO, UB, 0x80);
	for (unsigned int i = 1; i < VHOST_IOTLB_MAX_PER_PAGE; i++)
		EXPECT_HIT(P + 0x200 * i, 0x100, RW, UA + 0x100000 * i, 0x100);
	CHECK_WF();

	/* Mapped again, entry 1 becomes the newest: 2 goes next. */
	UPDATE(P + 0x200, 0x100, UA + 0x100000, RW);
	UPDATE(P + 0x180, 0x80, UC, RO);
	CU_ASSERT_EQUAL(tlb.page_evictions, 2);
	EXPECT_MISS(P + 0x400);
	EXPECT_HIT(P + 0x200, 0x100, RW, UA + 0x100000, 0x100);
	EXPECT_HIT(P + 0x100, 0x80, RO, UB, 0x80);
	EXPECT_HIT(P + 0x180, 0x80, RO, UC, 0x80);
	CHECK_WF();

	/* A hole splits the oldest (entry 3) in two parts as old as it
	 * was: the right part is a ninth entry and retires the left one,
	 * and the next entry retires the right one, before anything
	 * newer. */
	INVALIDATE(P + 0x640, 0x40, 1);
	CU_ASSERT_EQUAL(tlb.page_evictions, 3);
	EXPECT_N(VHOST_IOTLB_MAX_PER_PAGE);
	EXPECT_MISS(P + 0x600);
	EXPECT_HIT(P + 0x680, 0x80, RW, UA + 0x300080, 0x80);
	UPDATE(P + 0x400, 0x80, UD, RO);
	CU_ASSERT_EQUAL(tlb.page_evictions, 4);
	EXPECT_MISS(P + 0x680);
	EXPECT_HIT(P + 0x400, 0x80, RO, UD, 0x80);
	EXPECT_HIT(P + 0x800, 0x100, RW, UA + 0x400000, 0x100);
	CU_ASSERT_EQUAL(tlb.evictions, tlb.page_evictions);
	CHECK_WF();
}

/* ---- buffers across entries ------------------------------------------- */

/* Translate [iova, iova + len) as the datapath does: one lookup per
 * entry crossed. Returns the number of pieces, or -1 on a miss. */
static int
translate(uint64_t iova, uint64_t len, uint8_t perm, uint64_t *ua,
	  uint64_t *ln, int max)
{
	int n = 0;

	while (len > 0) {
		uint64_t l = len;

		if (n == max || vhost_iotlb_lookup(&tlb, iova, &l, perm,
						   &ua[n]) != HIT)
			return -1;
		ln[n++] = l;
		iova += l;
		len -= l;
	}
	return n;
}

static void
test_across_entries(void)
{
	uint64_t ua[4], ln[4];

	UPDATE(0, PG, UA, RW);
	UPDATE(PG, PG, UB, RO);			/* adjacent, not mergeable */
	UPDATE(2 * PG, PG, UB + PG, RO);	/* merges with the previous */
	EXPECT_N(2);

	CU_ASSERT_EQUAL_FATAL(translate(0xf00, 0x300, RO, ua, ln, 4), 2);
	CU_ASSERT_EQUAL(ua[0], UA + 0xf00);
	CU_ASSERT_EQUAL(ln[0], 0x100);
	CU_ASSERT_EQUAL(ua[1], UB);
	CU_ASSERT_EQUAL(ln[1], 0x200);

	/* Over the merged pair: one piece. */
	CU_ASSERT_EQUAL_FATAL(translate(PG + 0x10, PG, RO, ua, ln, 4), 1);
	CU_ASSERT_EQUAL(ua[0], UB + 0x10);
	CU_ASSERT_EQUAL(ln[0], PG);

	/* Running into an unmapped page fails on the second lookup. */
	CU_ASSERT_EQUAL(translate(2 * PG + 0xf00, 0x200, RO, ua, ln, 4), -1);
	/* Into a part without the permission, too. */
	CU_ASSERT_EQUAL(translate(0xf00, 0x200, RW, ua, ln, 4), -1);
}

/* ---- entries of a frontend range (a removed memory region) ------------- */

static void
test_find_remove_uaddr(void)
{
	uint32_t ids[4], n;
	uint64_t gen;

	/* Three entries apart in uaddr (no merge), one across a 2 MiB
	 * boundary of IOVA. */
	UPDATE(0x10000, PG, UA, RW);
	UPDATE(0x1ff000, 2 * PG, UA + 0x100000, RW);
	UPDATE(0x30000, PG, UA + 0x200000, RO);
	EXPECT_N(3);
	/* Ranges that touch the middle entry at either end, or miss it
	 * by one byte. */
	CU_ASSERT_EQUAL(vhost_iotlb_find_uaddr(&tlb, UA + 0x101fff, 1, ids, 4), 1);
	CU_ASSERT_EQUAL(vhost_iotlb_find_uaddr(&tlb, UA + 0xff000, 0x1001, ids, 4), 1);
	CU_ASSERT_EQUAL(vhost_iotlb_find_uaddr(&tlb, UA + 0x102000, 0xfe000, ids, 4), 0);
	CU_ASSERT_EQUAL(vhost_iotlb_find_uaddr(&tlb, UA + 0x1000, 0xff000, ids, 4), 0);
	CU_ASSERT_EQUAL(vhost_iotlb_find_uaddr(&tlb, UA, 0x200001, NULL, 0), 3);
	CU_ASSERT_EQUAL(vhost_iotlb_find_uaddr(&tlb, UA, 0x200001, ids, 1), 3);

	n = vhost_iotlb_find_uaddr(&tlb, UA + 0x100000, 0x100000, ids, 4);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	gen = tlb.gen;
	vhost_iotlb_remove(&tlb, ids, n);
	CU_ASSERT(tlb.gen != gen);
	EXPECT_N(2);
	EXPECT_MISS(0x1ff000);
	EXPECT_MISS(0x200fff);
	EXPECT_HIT(0x10000, 16, RW, UA, 16);
	EXPECT_HIT(0x30000, 16, RO, UA + 0x200000, 16);
	CHECK_WF();

	/* Nothing found: nothing changes, not even the generation. */
	gen = tlb.gen;
	vhost_iotlb_remove(&tlb, ids, 0);
	CU_ASSERT_EQUAL(tlb.gen, gen);
	n = vhost_iotlb_find_uaddr(&tlb, UA, 0x300000, ids, 4);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	vhost_iotlb_remove(&tlb, ids, n);
	EXPECT_N(0);
	CHECK_WF();
}

/* ---- the last-hit hint ------------------------------------------------ */

static void
test_hint(void)
{
	UPDATE(0, PG, UA, RW);
	UPDATE(2 * PG, PG, UB, RW);
	EXPECT_HIT(2 * PG + 5, 1, RW, UB + 5, 1);	/* hint: entry 1 */

	INVALIDATE(2 * PG, PG, 1);
	EXPECT_MISS(2 * PG + 5);
	EXPECT_HIT(5, 1, RW, UA + 5, 1);		/* hint: entry 0 */
	UPDATE(2 * PG, PG, UC, RO);
	EXPECT_HIT(2 * PG + 5, 1, RO, UC + 5, 1);

	/* An entry inserted before the hinted one shifts it. */
	EXPECT_HIT(2 * PG + 6, 1, RO, UC + 6, 1);
	UPDATE(PG, 0x10, UD, RW);
	EXPECT_HIT(PG + 1, 1, RW, UD + 1, 1);
	EXPECT_HIT(2 * PG + 6, 1, RO, UC + 6, 1);
	EXPECT_HIT(1, 1, RW, UA + 1, 1);

	/* The hinted entry replaced in part. */
	EXPECT_HIT(0x100, 1, RW, UA + 0x100, 1);
	UPDATE(0, 0x200, UB + 0x800, WO);
	EXPECT_HIT(0x100, 1, WO, UB + 0x900, 1);
	EXPECT_HIT(0x200, 1, RW, UA + 0x200, 1);
	/* Cut under it. */
	INVALIDATE(0x180, 0x100, 2);
	EXPECT_MISS(0x200);
	EXPECT_MISS(0x180);
	EXPECT_HIT(0x17f, 1, WO, UB + 0x97f, 1);
	/* Removed with everything else. */
	vhost_iotlb_flush(&tlb);
	EXPECT_MISS(0x17f);
	EXPECT_MISS(2 * PG + 6);
	CHECK_WF();

	/* The hinted entry evicted. */
	reinit(2);
	UPDATE(0, PG, UA, RW);
	UPDATE(2 * PG, PG, UB, RW);
	EXPECT_HIT(5, 1, RW, UA + 5, 1);
	UPDATE(4 * PG, PG, UC, RW);			/* evicts entry 0 */
	EXPECT_MISS(5);
	EXPECT_HIT(4 * PG, 1, RW, UC, 1);
	EXPECT_HIT(2 * PG, 1, RW, UB, 1);
}

/* ---- transparent huge pages for the lookup tables ---------------------- */

/* The VmFlags of the mapping holding p, from /proc/self/smaps ("" if
 * not found). */
static void
vm_flags_of(const void *p, char *flags, size_t len)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;

	flags[0] = '\0';
	CU_ASSERT_FATAL(f != NULL);
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi;
		char perms[8];

		/* A mapping's first line: "lo-hi perms ..."; no field line
		 * ("Key:   value") parses so. */
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3) {
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (in && strncmp(line, "VmFlags:", 8) == 0) {
			strncpy(flags, line + 8, len - 1);
			flags[len - 1] = '\0';
			break;
		}
	}
	fclose(f);
}

static bool
huge_advised(const void *p)
{
	char flags[512];

	vm_flags_of(p, flags, sizeof(flags));
	CU_ASSERT(flags[0] != '\0');
	return strstr(flags, " hg") != NULL;
}

static void
test_huge_tables(void)
{
	const uintptr_t huge = VHOST_IOTLB_HUGE_BYTES;

	/* 65536 entries: 4 MiB of entries, 2 MiB of slots; both start on
	 * a 2 MiB boundary and ask for huge pages, the tree does not. */
	reinit(65536);
	CU_ASSERT((uintptr_t)tlb.e % huge == 0);
	CU_ASSERT((uintptr_t)tlb.slot % huge == 0);
	CU_ASSERT(huge_advised(tlb.e));
	CU_ASSERT(huge_advised(tlb.slot));
	CU_ASSERT(!huge_advised(tlb.node));
	/* Mapped to their last byte, and working as ever. */
	CU_ASSERT(((volatile struct vhost_iotlb_entry *)tlb.e)[65535].iova == 0);
	CU_ASSERT(((volatile uint64_t *)tlb.slot)[tlb.slot_mask] == 0);
	UPDATE(0, PG, UA, RW);
	EXPECT_HIT(5, 1, RW, UA + 5, 1);
	CHECK_WF();

	/* 300000 entries: the entries end short of a 2 MiB multiple. */
	reinit(300000);
	CU_ASSERT((uintptr_t)tlb.e % huge == 0);
	CU_ASSERT(huge_advised(tlb.e));
	CU_ASSERT(huge_advised(&tlb.e[299999]));
	CU_ASSERT(((volatile struct vhost_iotlb_entry *)tlb.e)[299999].iova == 0);
	UPDATE(PG, PG, UB, RO);
	EXPECT_HIT(PG, 1, RO, UB, 1);
	CHECK_WF();

	/* A small table keeps 4 KiB pages: its memory grows page by page. */
	reinit(4096);
	CU_ASSERT(!huge_advised(tlb.e));
	CU_ASSERT(!huge_advised(tlb.slot));
}

/* ---- randomized comparison with a reference model --------------------- */

/* The model: each byte of a small IOVA window, its permission (0 when
 * unmapped) and uaddr - iova. Slow and obviously right. */
#define R_PAGES 64
#define R_SPACE (R_PAGES * PG)

static uint8_t m_perm[R_SPACE];
static uint64_t m_delta[R_SPACE];
static uint64_t m_base;

static uint64_t rng;

static uint64_t
rnd(void)
{
	return test_splitmix64(&rng);
}

static uint64_t
rnd_below(uint64_t n)
{
	return rnd() % n;
}

/* The last operations, printed when a check fails. */
#define LOG_LEN 16
static char op_log[LOG_LEN][128];
static uint64_t op_count;

__attribute__((format(printf, 1, 2)))
static void
log_op(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(op_log[op_count % LOG_LEN], sizeof(op_log[0]), fmt, ap);
	va_end(ap);
}

static void
dump_log(void)
{
	uint64_t first = op_count >= LOG_LEN ? op_count - LOG_LEN + 1 : 0;

	fprintf(stderr, "  last operations (model window 0x%" PRIx64
		"+0x%" PRIx64 "):\n", m_base, (uint64_t)R_SPACE);
	for (uint64_t i = first; i <= op_count; i++)
		fprintf(stderr, "    #%" PRIu64 " %s\n", i,
			op_log[i % LOG_LEN]);
	const struct vhost_iotlb_entry *te = view(&tlb);

	fprintf(stderr, "  table (%u entries):\n", tlb.n);
	for (uint32_t i = 0; i < tlb.n && i < 32; i++)
		fprintf(stderr, "    [0x%" PRIx64 ", 0x%" PRIx64 "] -> 0x%"
			PRIx64 " perm %u\n", te[i].iova, te[i].last,
			te[i].uaddr, te[i].perm);
}

/* Bytes [iova, last] of the model window, clipped to it. Returns false
 * when they do not meet. */
static bool
model_clip(uint64_t iova, uint64_t last, uint64_t *from, uint64_t *to)
{
	uint64_t wlast = m_base + (R_SPACE - 1);

	if (last < m_base || iova > wlast)
		return false;
	*from = (iova < m_base ? m_base : iova) - m_base;
	*to = (last > wlast ? wlast : last) - m_base;
	return true;
}

static void
model_set(uint64_t iova, uint64_t last, uint64_t uaddr, uint8_t perm)
{
	uint64_t from, to;

	if (!model_clip(iova, last, &from, &to))
		return;
	memset(&m_perm[from], perm, to - from + 1);
	for (uint64_t k = from; k <= to; k++)
		m_delta[k] = uaddr - iova;
}

/* A range inside the window: page granular or byte granular. */
static void
rand_range(uint64_t *iova, uint64_t *size)
{
	uint64_t off, len;

	if (rnd_below(2) == 0) {
		off = rnd_below(R_PAGES) * PG;
		len = (1 + rnd_below(8)) * PG;
	} else {
		off = rnd_below(R_SPACE);
		len = rnd_below(4) == 0 ? 1 + rnd_below(16) :
			1 + rnd_below(3 * PG);
	}
	if (len > R_SPACE - off)
		len = R_SPACE - off;
	*iova = m_base + off;
	*size = len;
}

/* Mostly one of four linear maps of the window, so that neighbouring
 * updates are often contiguous in uaddr and merge; sometimes anywhere. */
static uint64_t
rand_uaddr(uint64_t iova)
{
	if (rnd_below(10) < 7)
		return 0x7f0000000000ULL + 0x10000000ULL * rnd_below(4) +
			(iova - m_base);
	return (rnd() & 0x7ffffffff000ULL) |
		(rnd_below(2) ? rnd_below(PG) : 0);
}

static uint8_t
rand_perm(void)
{
	static const uint8_t p[] = { RW, RW, RW, RW, RO, RO, WO, WO };

	return p[rnd_below(8)];
}

/* The table against the model: every entry translates as the model
 * does, every gap is unmapped in the model and, when the table cannot
 * have evicted, every mapped byte is in some entry. */
static bool
state_matches(bool complete, char *why, size_t whylen)
{
	const struct vhost_iotlb_entry *te = view(&tlb);
	uint64_t pos = 0;

	for (uint32_t i = 0; i < tlb.n; i++) {
		const struct vhost_iotlb_entry *e = &te[i];
		uint64_t from, to;

		if (!model_clip(e->iova, e->last, &from, &to) ||
		    e->iova < m_base || to != e->last - m_base) {
			snprintf(why, whylen, "entry %u [0x%" PRIx64 ", 0x%"
				 PRIx64 "] outside the window", i, e->iova,
				 e->last);
			return false;
		}
		for (uint64_t k = pos; complete && k < from; k++)
			if (m_perm[k] != 0) {
				snprintf(why, whylen, "iova 0x%" PRIx64
					 " mapped in the model, in no entry",
					 m_base + k);
				return false;
			}
		for (uint64_t k = from; k <= to; k++)
			if (m_perm[k] != e->perm ||
			    m_delta[k] != e->uaddr - e->iova) {
				snprintf(why, whylen, "entry %u [0x%" PRIx64
					 ", 0x%" PRIx64 "] -> 0x%" PRIx64
					 " perm %u, but the model maps iova 0x%"
					 PRIx64 " to 0x%" PRIx64 " perm %u",
					 i, e->iova, e->last, e->uaddr,
					 e->perm, m_base + k,
					 m_base + k + m_delta[k], m_perm[k]);
				return false;
			}
		pos = to + 1;
	}
	for (uint64_t k = pos; complete && k < R_SPACE; k++)
		if (m_perm[k] != 0) {
			snprintf(why, whylen, "iova 0x%" PRIx64
				 " mapped in the model, in no entry",
				 m_base + k);
			return false;
		}
	return true;
}

/* One lookup checked against the model; a miss of a mapped byte is
 * allowed only when the table may have evicted it. *next is where a
 * sequential reader would look next. */
/* The hint the datapath's prefetch would give for iova. */
static uint32_t
prefetch_hint(uint64_t iova)
{
	if (tlb.levels == 0)
		return VHOST_IOTLB_NIL;
	return vhost_iotlb_prefetch_entry(&tlb, vhost_iotlb_prefetch_slot(&tlb, iova));
}

/* Lookups whose own hint named the entry holding the IOVA. */
static uint64_t hints_used;

/* A hinted lookup gives exactly what the plain one gives, whatever the
 * valid hint: none, the prefetch's for iova, or the prefetch's for the
 * IOVA of the lookup before (an entry that rarely holds iova), while
 * the table has not changed since. */
static bool
hinted_agrees(uint64_t iova, uint64_t len, uint8_t perm)
{
	static uint32_t prev_hint = VHOST_IOTLB_NIL;
	static uint64_t prev_gen;
	const uint32_t own = prefetch_hint(iova);
	const uint32_t hints[3] = {
		VHOST_IOTLB_NIL, own,
		prev_gen == tlb.gen ? prev_hint : VHOST_IOTLB_NIL,
	};
	const struct vhost_iotlb_entry *e = NULL;
	uint64_t l = len;
	enum vhost_iotlb_result r;
	bool same = true;

	r = vhost_iotlb_lookup_at(&tlb, iova, &l, perm, tlb.expire_before, &e);
	for (int i = 0; i < 3; i++) {
		const struct vhost_iotlb_entry *eh = NULL;
		uint64_t lh = len;
		enum vhost_iotlb_result rh;

		rh = vhost_iotlb_lookup_hinted(&tlb, iova, &lh, perm,
					       tlb.expire_before, hints[i], &eh);
		same = same && rh == r && lh == l && (r != HIT || eh == e) &&
		       vhost_iotlb_find_hinted(&tlb, iova, hints[i]) ==
		       vhost_iotlb_find(&tlb, iova);
	}
	if (own != VHOST_IOTLB_NIL && vhost_iotlb_find(&tlb, iova) == &tlb.e[own])
		hints_used++;
	prev_hint = own;
	prev_gen = tlb.gen;
	return same;
}

static bool
check_lookup(uint64_t iova, uint64_t len, uint8_t perm, bool may_miss,
	     uint64_t *next, char *why, size_t whylen)
{
	uint64_t l = len, ua = 0, off = iova - m_base, avail, want;
	uint8_t mp = off < R_SPACE ? m_perm[off] : 0;
	enum vhost_iotlb_result r;
	const struct vhost_iotlb_entry *e;

	if (!hinted_agrees(iova, len, perm)) {
		snprintf(why, whylen, "lookup(0x%" PRIx64 ", len 0x%" PRIx64
			 ", perm %u): a hinted lookup disagrees", iova, len, perm);
		return false;
	}
	r = vhost_iotlb_lookup(&tlb, iova, &l, perm, &ua);
	snprintf(why, whylen, "lookup(0x%" PRIx64 ", len 0x%" PRIx64
		 ", perm %u) = %s uaddr 0x%" PRIx64 " len 0x%" PRIx64
		 "; model: perm %u uaddr 0x%" PRIx64, iova, len, perm,
		 res_name(r), ua, l, mp, mp ? iova + m_delta[off] : 0);
	*next = iova + 1;
	if (mp == 0)
		return r == MISS;
	if (r == MISS)
		return may_miss;
	if ((mp & perm) != perm)
		return r == DENIED;
	if (r != HIT || ua != iova + m_delta[off] || l == 0 || l > len)
		return false;
	/* Every byte of the returned buffer translates the same way. */
	if (l - 1 > R_SPACE - 1 - off)
		return false;
	for (uint64_t k = 1; k < l; k++)
		if (m_perm[off + k] != mp || m_delta[off + k] != m_delta[off])
			return false;
	/* And the buffer ends exactly where the entry used ends. */
	e = vhost_iotlb_find(&tlb, iova);
	if (e == NULL)
		return false;
	avail = e->last - iova;
	want = len - 1 > avail ? avail + 1 : len;
	*next = iova + l;
	return l == want;
}

struct rstats {
	uint64_t updates, refused, invalidates, flushes;
	uint64_t hits, misses, denied;
};

/* ops random operations over the window at base, with room for max
 * entries (evicting unless max is large). Stops at the first mismatch. */
/* May a mapped byte miss? When the table may be full, or once an entry
 * was evicted for crowding a page. */
static bool
lossy(bool may_evict)
{
	return may_evict || tlb.evictions != 0;
}

static void
random_run(uint64_t base, uint32_t max, uint64_t ops, bool may_evict)
{
	struct rstats st = { 0 };
	uint64_t next = base;
	char why[512];

	reinit(max);
	m_base = base;
	memset(m_perm, 0, sizeof(m_perm));
	memset(m_delta, 0, sizeof(m_delta));

	for (op_count = 0; op_count < ops; op_count++) {
		uint64_t r = rnd_below(100), iova, size, ua, last;
		bool ok = true;

		if (r < 40) {
			uint8_t perm = rand_perm();
			int want = 0, rc;

			rand_range(&iova, &size);
			ua = rand_uaddr(iova);
			/* A few refused updates, with the table unchanged. */
			switch (rnd_below(40)) {
			case 0: size = 0; want = -EINVAL; break;
			case 1: perm = (uint8_t)(4 + rnd_below(252));
				want = -EINVAL; break;
			case 2: if (size > 1) {
					ua = UINT64_MAX - rnd_below(size - 1);
					want = -EINVAL;
				}
				break;
			default: break;
			}
			log_op("update(0x%" PRIx64 ", 0x%" PRIx64 ", 0x%"
			       PRIx64 ", %u)", iova, size, ua, perm);
			rc = vhost_iotlb_update(&tlb, iova, size, ua, perm);
			if (rc != want) {
				snprintf(why, sizeof(why), "update = %d,"
					 " expected %d", rc, want);
				ok = false;
			} else if (rc == 0) {
				model_set(iova, iova + size - 1, ua, perm);
				st.updates++;
			} else {
				st.refused++;
			}
		} else if (r < 55 && rnd_below(100) != 0) {
			uint32_t want = 0, got;

			rand_range(&iova, &size);
			switch (rnd_below(20)) {
			case 0: size = 0; break;
			case 1: size = UINT64_MAX - rnd_below(PG); break;
			case 2: iova -= rnd_below(2 * PG); break;
			default: break;
			}
			last = iova + (size - 1);
			if (last < iova)
				last = UINT64_MAX;
			/* Expected count: the entries the range touches. */
			const struct vhost_iotlb_entry *te = view(&tlb);

			for (uint32_t i = 0; size > 0 && i < tlb.n; i++)
				if (te[i].iova <= last && te[i].last >= iova)
					want++;
			log_op("invalidate(0x%" PRIx64 ", 0x%" PRIx64 ")",
			       iova, size);
			got = vhost_iotlb_invalidate(&tlb, iova, size);
			if (got != want) {
				snprintf(why, sizeof(why), "invalidate = %u,"
					 " expected %u", got, want);
				ok = false;
			}
			if (size > 0)
				model_set(iova, last, 0, 0);
			st.invalidates++;
		} else if (r < 55) {
			log_op("flush");
			vhost_iotlb_flush(&tlb);
			memset(m_perm, 0, sizeof(m_perm));
			st.flushes++;
		} else {
			uint64_t len, k = rnd_below(10);
			uint8_t perm = (uint8_t)(1 + rnd_below(3));

			/* Anywhere near the window, where the previous
			 * lookup stopped (the hint's case), or at an edge
			 * of an entry. */
			if (k < 5 || (k >= 8 && tlb.n == 0))
				iova = base - 2 * PG + rnd_below(R_SPACE + 4 * PG);
			else if (k < 8)
				iova = next;
			else {
				const struct vhost_iotlb_entry *e =
					&view(&tlb)[rnd_below(tlb.n)];
				uint64_t c[4] = { e->iova, e->last,
						  e->iova - 1, e->last + 1 };

				iova = c[rnd_below(4)];
			}
			k = rnd_below(10);
			len = k == 0 ? 1 : k == 1 ? UINT64_MAX :
				1 + rnd_below(4 * PG);
			log_op("lookup(0x%" PRIx64 ", 0x%" PRIx64 ", %u)",
			       iova, len, perm);
			ok = check_lookup(iova, len, perm, lossy(may_evict), &next,
					  why, sizeof(why));
			if (ok) {
				uint64_t l = len, u;
				enum vhost_iotlb_result res;

				res = vhost_iotlb_lookup(&tlb, iova, &l,
							 perm, &u);
				st.hits += res == HIT;
				st.misses += res == MISS;
				st.denied += res == DENIED;
			}
		}

		if (ok && !well_formed_deep(&tlb, why, sizeof(why),
					    op_count % 256 == 0 || op_count == ops - 1))
			ok = false;
		/* With room, only sub-page entries crowding one page are
		 * evicted (VHOST_IOTLB_MAX_PER_PAGE). */
		if (ok && !may_evict && tlb.evictions != tlb.page_evictions) {
			snprintf(why, sizeof(why), "evicted with max %u", max);
			ok = false;
		}
		if (ok && (op_count % 64 == 0 || op_count == ops - 1) &&
		    !state_matches(!lossy(may_evict), why, sizeof(why)))
			ok = false;
		if (!ok) {
			fail_at(__LINE__, "random op #%" PRIu64 ": %s",
				op_count, why);
			dump_log();
			return;
		}
	}
	printf("\n    base 0x%" PRIx64 " max %u: %" PRIu64 " ops: %" PRIu64
	       " updates (%" PRIu64 " refused), %" PRIu64 " invalidates, %"
	       PRIu64 " flushes, lookups %" PRIu64 " hit / %" PRIu64
	       " miss / %" PRIu64 " denied, %" PRIu64 " evictions (%" PRIu64
	       " for crowding a page) ",
	       base, max, ops, st.updates, st.refused, st.invalidates,
	       st.flushes, st.hits, st.misses, st.denied, tlb.evictions,
	       tlb.page_evictions);
	CU_PASS("random run");
	if (may_evict)
		CU_ASSERT(tlb.evictions > 0);
}

static uint64_t seed = 0x5eed10b1ab1e2024ULL;

static void
test_random_differential(void)
{
	rng = seed;
	/* Low in the space, then the last window below 2^64: ranges that
	 * end at UINT64_MAX and lookups that wrap past it. */
	random_run(0x40000000, 1u << 16, 200000, false);
	random_run(0 - (uint64_t)R_SPACE, 1u << 16, 100000, false);
	/* The hinted lookups compared took the hint's shortcut too. */
	printf("\n    %" PRIu64 " lookups through their prefetch hint ", hints_used);
	CU_ASSERT(hints_used > 10000);
}

static void
test_random_eviction(void)
{
	/* Small table: lookups may miss, but a hit or a denial must still
	 * agree with the model. */
	rng = seed ^ 0xe71c7ULL;
	random_run(0x40000000, 8, 50000, true);
}

/* ---- runner ----------------------------------------------------------- */

static CU_TestInfo tests[] = {
	{ "insert and lookup", test_insert_lookup },
	{ "entries of a frontend range found and removed", test_find_remove_uaddr },
	{ "length clipping", test_length_clipping },
	{ "permissions", test_permissions },
	{ "merge with left neighbour", test_merge_left },
	{ "merge with right neighbour", test_merge_right },
	{ "no merge: uaddr not contiguous", test_no_merge_uaddr_gap },
	{ "no merge: perm differs (left)", test_no_merge_perm_left },
	{ "no merge: perm differs (right)", test_no_merge_perm_right },
	{ "merge on both sides", test_merge_both_sides },
	{ "merge on both sides, right perm differs",
		test_merge_both_sides_perm },
	{ "no merge across uaddr wrap", test_merge_no_uaddr_wrap },
	{ "update replaces overlapped entries", test_update_replaces },
	{ "invalidate whole entry", test_invalidate_whole },
	{ "invalidate head and tail", test_invalidate_head_tail },
	{ "invalidate middle (split)", test_invalidate_middle },
	{ "invalidate spanning entries", test_invalidate_span },
	{ "invalidate to the end of the space", test_invalidate_to_end },
	{ "invalidate size 0", test_invalidate_size0 },
	{ "refused updates", test_update_invalid },
	{ "top of the address space", test_top_of_space },
	{ "eviction of the oldest", test_eviction },
	{ "split when full stays bounded", test_split_when_full },
	{ "crowded page retires its oldest entry", test_page_crowding_oldest },
	{ "buffer across entries", test_across_entries },
	{ "last-hit hint", test_hint },
	{ "lookup tables ask for huge pages", test_huge_tables },
	{ "random vs reference model", test_random_differential },
	{ "random with eviction", test_random_eviction },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "iotlb", NULL, NULL, setup, teardown, tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	const char *s = getenv("IOTLB_SEED");

	/* A failing seed can be replayed: IOTLB_SEED=0x... or argv[1]. */
	if (argc > 1)
		s = argv[1];
	if (s != NULL)
		seed = strtoull(s, NULL, 0);
	printf("iotlb random seed: 0x%" PRIx64 " (IOTLB_SEED=... replays)\n",
	       seed);

	/* argv[1] is the seed here, not a suite. */
	return test_run(suites, 1, argv);
}
