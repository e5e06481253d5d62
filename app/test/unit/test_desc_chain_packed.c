/* SPDX-License-Identifier: BSD-3-Clause */

/* The packed-ring walker (desc_chain.c): lists of consecutive ring
 * descriptors, indirect tables, refused chains with the id and count
 * they are returned with, and the inline path against the general one.
 * Guest memory of ut_chain.h: two regions adjacent in guest physical
 * space (0..64K, 64K..128K), nothing from 128K up. The ring (255
 * entries: packed sizes need not be powers of two) is at 0. */

#include "ut_chain.h"

#define RING_SIZE 255
#define AV (1u << VRING_PACKED_DESC_F_AVAIL)	/* available, wrap 1 */
#define F_NEXT VRING_DESC_F_NEXT
#define F_W VRING_DESC_F_WRITE
#define F_IND VRING_DESC_F_INDIRECT

static void
set_pdesc(struct vring_packed_desc *table, uint32_t i, uint64_t addr,
	  uint32_t len, uint16_t id, uint16_t flags)
{
	table[i] = (struct vring_packed_desc){
		.addr = addr, .len = len, .id = id, .flags = flags,
	};
}

/* A ring descriptor, made available for wrap counter 1. */
static void
ring(uint32_t i, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags)
{
	set_pdesc(vq.desc_packed, i, addr, len, id, flags | AV);
}

static void
setup(void)
{
	ut_chain_setup("ut_packed", "ut-packed", 1ULL << VIRTIO_F_RING_PACKED);
	vq.desc_packed = g2h(0);
	vq.size = RING_SIZE;
}

static int
walk(uint16_t pos, enum vhost_chain_dir dir, uint16_t *nsegs,
     uint16_t max_segs, struct vhost_chain *c)
{
	return vhost_walk_chain_packed(dev, &vq, pos, dir, segs, nsegs,
				       max_segs, c);
}

/* Refused: error, no piece appended, counted, and returned to the guest
 * with the list's buffer id and descriptor count. */
static void
expect_bad(uint16_t pos, enum vhost_chain_dir dir, uint16_t id,
	   uint16_t ndesc, const char *what)
{
	uint64_t bad_before = vq.stats.v[VHOST_STAT_BAD_CHAINS];
	struct vhost_chain c = { .id = 0xdead, .ndesc = 0xdead };
	uint16_t nsegs;
	int ret;

	ut_chain_mark_segs(&nsegs);
	ret = walk(pos, dir, &nsegs, VHOST_MAX_PKT_SEGS, &c);
	ut_chain_check_refused(ret, nsegs, bad_before, what);
	if (c.id != id || c.ndesc != ndesc)
		fprintf(stderr, "\n  %s: returned as id %u ndesc %u, not %u %u\n",
			what, c.id, c.ndesc, id, ndesc);
	CU_ASSERT_EQUAL(c.id, id);
	CU_ASSERT_EQUAL(c.ndesc, ndesc);
}

static void
test_single(void)
{
	struct vhost_chain c;
	uint16_t nsegs = 0;

	ring(0, 0x1000, 100, 77, F_W);
	CU_ASSERT_EQUAL(walk(0, VHOST_CHAIN_DEVICE_WRITES, &nsegs, 8, &c), 0);
	CU_ASSERT_EQUAL(nsegs, 1);
	CU_ASSERT_EQUAL(c.head, 0);
	CU_ASSERT_EQUAL(c.id, 77);
	CU_ASSERT_EQUAL(c.ndesc, 1);
	CU_ASSERT_EQUAL(c.len, 100);
	check_seg(0, 0x1000, 100);

	/* Device-readable, with the used bit of the other wrap state: the
	 * ring bits do not matter to the walker. */
	set_pdesc(vq.desc_packed, 7, 0x2000, 60, 3,
		  1u << VRING_PACKED_DESC_F_USED);
	nsegs = 0;
	CU_ASSERT_EQUAL(walk(7, VHOST_CHAIN_DEVICE_READS, &nsegs, 8, &c), 0);
	CU_ASSERT_EQUAL(c.id, 3);
	check_seg(0, 0x2000, 60);
}

static void
test_list(void)
{
	struct vhost_chain c;
	uint16_t nsegs = 1;

	/* Three descriptors; the buffer id is the last one's. */
	ring(10, 0x1000, 12, 0xffff, F_W | F_NEXT);
	ring(11, 0x2000, 200, 0xffff, F_W | F_NEXT);
	ring(12, R1_GPA - 50, 100, 9, F_W);
	ring(13, 0x3000, 1, 1, F_W);	/* not part of it */
	CU_ASSERT_EQUAL(walk(10, VHOST_CHAIN_DEVICE_WRITES, &nsegs, 16, &c), 0);
	CU_ASSERT_EQUAL(nsegs, 5);
	CU_ASSERT_EQUAL(c.nsegs, 4);
	CU_ASSERT_EQUAL(c.len, 312);
	CU_ASSERT_EQUAL(c.id, 9);
	CU_ASSERT_EQUAL(c.ndesc, 3);
	check_seg(1, 0x1000, 12);
	check_seg(2, 0x2000, 200);
	check_seg(3, R1_GPA - 50, 50);
	check_seg(4, R1_GPA, 50);
}

static void
test_list_wraps(void)
{
	struct vhost_chain c;
	uint16_t nsegs = 0;

	/* Positions 253, 254, 0, 1 of a 255-entry ring. */
	ring(253, 0x1000, 10, 0, F_NEXT);
	ring(254, 0x1100, 20, 0, F_NEXT);
	ring(0, 0x1200, 30, 0, F_NEXT);
	ring(1, 0x1300, 40, 5, 0);
	CU_ASSERT_EQUAL(walk(253, VHOST_CHAIN_DEVICE_READS, &nsegs, 16, &c), 0);
	CU_ASSERT_EQUAL(c.ndesc, 4);
	CU_ASSERT_EQUAL(c.id, 5);
	CU_ASSERT_EQUAL(c.len, 100);
	check_seg(0, 0x1000, 10);
	check_seg(2, 0x1200, 30);
	check_seg(3, 0x1300, 40);
}

static void
test_indirect(void)
{
	struct vring_packed_desc *t = g2h(0x8000);
	struct vhost_chain c;
	uint16_t nsegs = 0;

	/* Only WRITE counts in a table: NEXT and the ids are ignored. */
	set_pdesc(t, 0, 0x1000, 10, 0xaaaa, F_W | F_NEXT);
	set_pdesc(t, 1, 0x2000, 20, 0xbbbb, F_W);
	set_pdesc(t, 2, R1_GPA - 4, 8, 0, F_W | F_NEXT);
	ring(20, 0x8000, 3 * 16, 42, F_IND);
	CU_ASSERT_EQUAL(walk(20, VHOST_CHAIN_DEVICE_WRITES, &nsegs, 16, &c), 0);
	CU_ASSERT_EQUAL(c.id, 42);
	CU_ASSERT_EQUAL(c.ndesc, 1);
	CU_ASSERT_EQUAL(c.len, 38);
	CU_ASSERT_EQUAL(nsegs, 4);
	check_seg(0, 0x1000, 10);
	check_seg(1, 0x2000, 20);
	check_seg(2, R1_GPA - 4, 4);
	check_seg(3, R1_GPA, 4);

	/* A table across the two regions is gathered. */
	t = g2h(R1_GPA - 16);
	set_pdesc(t, 0, 0x1000, 5, 0, 0);
	t = g2h(R1_GPA);
	set_pdesc(t, 0, 0x3000, 6, 0, 0);
	ring(21, R1_GPA - 16, 32, 43, F_IND);
	nsegs = 0;
	CU_ASSERT_EQUAL(walk(21, VHOST_CHAIN_DEVICE_READS, &nsegs, 16, &c), 0);
	CU_ASSERT_EQUAL(c.len, 11);
	check_seg(1, 0x3000, 6);
}

static void
test_bad_chains(void)
{
	struct vring_packed_desc *t = g2h(0x8000);

	/* Each refused chain still says which buffer and how many ring
	 * descriptors it takes, from its last descriptor. */
	ring(30, 0x8000, 16, 1, F_IND | F_NEXT);
	ring(31, 0x1000, 10, 2, 0);
	expect_bad(30, VHOST_CHAIN_DEVICE_READS, 2, 2, "indirect with NEXT");

	ring(32, 0x1000, 10, 0, F_NEXT);
	ring(33, 0x8000, 16, 3, F_IND);
	expect_bad(32, VHOST_CHAIN_DEVICE_READS, 3, 2, "indirect after a direct one");

	ring(34, 0x8000, 0, 4, F_IND);
	expect_bad(34, VHOST_CHAIN_DEVICE_READS, 4, 1, "empty indirect table");
	ring(34, 0x8000, 24, 4, F_IND);
	expect_bad(34, VHOST_CHAIN_DEVICE_READS, 4, 1, "indirect length not 16n");
	ring(34, 0x8000, (VHOST_MAX_RING_SIZE + 1) * 16, 4, F_IND);
	expect_bad(34, VHOST_CHAIN_DEVICE_READS, 4, 1, "indirect table too big");
	ring(34, GAP_GPA, 16, 4, F_IND);
	expect_bad(34, VHOST_CHAIN_DEVICE_READS, 4, 1, "indirect table unmapped");
	ring(34, UINT64_MAX - 7, 16, 4, F_IND);
	expect_bad(34, VHOST_CHAIN_DEVICE_READS, 4, 1, "indirect table wraps");
	/* A readable element in a table the device writes: refused. The
	 * other way round is DPDK virtio's packed Tx table (WRITE preset
	 * on its header element): read, never written, so accepted. */
	set_pdesc(t, 0, 0x1000, 10, 0, F_W);
	set_pdesc(t, 1, 0x1000, 10, 0, 0);
	ring(34, 0x8000, 32, 4, F_IND);
	expect_bad(34, VHOST_CHAIN_DEVICE_WRITES, 4, 1, "readable element in an Rx table");
	set_pdesc(t, 0, 0x1000, 10, 0, 0);
	set_pdesc(t, 1, 0x2000, 20, 0, F_W);
	{
		struct vhost_chain c;
		uint16_t nsegs = 0;

		CU_ASSERT_EQUAL(walk(34, VHOST_CHAIN_DEVICE_READS, &nsegs, 16, &c), 0);
		CU_ASSERT_EQUAL(nsegs, 2);
		CU_ASSERT_EQUAL(c.len, 30);
		check_seg(0, 0x1000, 10);
		check_seg(1, 0x2000, 20);
	}
	set_pdesc(t, 1, GAP_GPA, 10, 0, 0);
	expect_bad(34, VHOST_CHAIN_DEVICE_READS, 4, 1, "unmapped buffer in a table");

	/* Bad first descriptor of three: the walk still finds the end. */
	ring(40, GAP_GPA - 5, 10, 0, F_NEXT);
	ring(41, 0x1000, 10, 0, F_NEXT);
	ring(42, 0x1000, 10, 6, 0);
	expect_bad(40, VHOST_CHAIN_DEVICE_READS, 6, 3, "buffer runs off memory");
	ring(40, 0x1000, 10, 0, F_NEXT | F_W);
	expect_bad(40, VHOST_CHAIN_DEVICE_READS, 6, 3, "writable in a Tx chain");
	expect_bad(40, VHOST_CHAIN_DEVICE_WRITES, 6, 3, "readable in an Rx chain");
	ring(40, UINT64_MAX - 3, 10, 0, F_NEXT);
	expect_bad(40, VHOST_CHAIN_DEVICE_READS, 6, 3, "address wraps");

	/* Over the packet limit. */
	ring(50, 0x1000, UINT32_MAX, 0, F_NEXT);
	ring(51, 0x1000, UINT32_MAX, 7, 0);
	expect_bad(50, VHOST_CHAIN_DEVICE_READS, 7, 2, "oversized");
}

static void
test_unterminated(void)
{
	/* Every descriptor says NEXT: the list is refused as the whole
	 * ring, after reading it once (no endless walk). */
	for (uint32_t i = 0; i < RING_SIZE; i++)
		ring(i, 0x1000, 1, (uint16_t)i, F_NEXT);
	expect_bad(100, VHOST_CHAIN_DEVICE_READS, 99, RING_SIZE, "unterminated list");
}

static void
test_too_many_pieces(void)
{
	struct vhost_chain c;
	uint16_t nsegs = 0;

	ring(60, 0x1000, 1, 0, F_NEXT);
	ring(61, 0x1000, 1, 0, F_NEXT);
	ring(62, 0x1000, 1, 8, 0);
	CU_ASSERT_EQUAL(walk(60, VHOST_CHAIN_DEVICE_READS, &nsegs, 2, &c), -E2BIG);
	CU_ASSERT_EQUAL(nsegs, 0);
	CU_ASSERT_EQUAL(c.id, 8);
	CU_ASSERT_EQUAL(c.ndesc, 3);
}

/* One-descriptor shapes near the edge of the inline path: the same
 * result from vhost_walk_chain_packed() and the general walker. */
static void
test_fast_path_matches_general(void)
{
	static const struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags;
	} shapes[] = {
		{ 0x1000, 64, F_W }, { 0x1000, 64, 0 }, { R1_GPA - 1, 1, F_W },
		{ R1_GPA - 1, 2, F_W }, { GAP_GPA - 64, 64, 0 },
		{ GAP_GPA - 63, 64, 0 }, { GAP_GPA, 1, F_W }, { 0x1000, 0, F_W },
		{ 0x1000, UINT32_MAX, 0 }, { UINT64_MAX, 1, 0 },
		{ 0x1000, 64, F_NEXT }, { 0x8000, 16, F_IND },
		{ 0x1000, 64, 0x10 | F_W }, { 0x1000, 64, 1u << VRING_PACKED_DESC_F_USED },
	};
	struct vring_packed_desc *t = g2h(0x8000);

	set_pdesc(t, 0, 0x2000, 10, 0, F_W);
	ring(71, 0x3000, 8, 99, F_W);	/* ends the NEXT shape */
	for (unsigned int s = 0; s < RTE_DIM(shapes); s++) {
		for (int d = 0; d < 2; d++) {
			enum vhost_chain_dir dir = d ? VHOST_CHAIN_DEVICE_WRITES :
						       VHOST_CHAIN_DEVICE_READS;
			struct vhost_chain c1 = { 0 }, c2 = { 0 };
			struct vhost_seg s1[4], s2[4];
			uint64_t bad0 = vq.stats.v[VHOST_STAT_BAD_CHAINS], bad1;
			uint16_t n1 = 0, n2 = 0;
			int r1, r2;

			ring(70, shapes[s].addr, shapes[s].len, 31, shapes[s].flags);
			r1 = vhost_walk_chain_packed(dev, &vq, 70, dir, s1, &n1, 4, &c1);
			bad1 = vq.stats.v[VHOST_STAT_BAD_CHAINS];
			r2 = vhost_walk_chain_packed_general(dev, &vq, 70, dir, s2,
							     &n2, 4, &c2);
			CU_ASSERT_EQUAL(r1, r2);
			CU_ASSERT_EQUAL(n1, n2);
			CU_ASSERT_EQUAL(bad1 - bad0,
					vq.stats.v[VHOST_STAT_BAD_CHAINS] - bad1);
			CU_ASSERT_EQUAL(c1.id, c2.id);
			CU_ASSERT_EQUAL(c1.ndesc, c2.ndesc);
			if (r1 == 0 && r2 == 0) {
				CU_ASSERT_EQUAL(c1.len, c2.len);
				CU_ASSERT_EQUAL(c1.nsegs, c2.nsegs);
				CU_ASSERT(ut_segs_equal(s1, s2, n1));
			}
		}
	}
}

/* The split walker is unchanged by the packed one: it reports its head
 * as the chain's id, one ring entry taken. */
static void
test_split_ids(void)
{
	struct vring_desc *d = g2h(0);
	struct vhost_chain c;
	uint16_t nsegs = 0;

	vq.desc = d;
	d[5] = (struct vring_desc){ .addr = 0x1000, .len = 8, .flags = 0 };
	CU_ASSERT_EQUAL(vhost_walk_chain(dev, &vq, 5, VHOST_CHAIN_DEVICE_READS,
					 segs, &nsegs, 4, &c), 0);
	CU_ASSERT_EQUAL(c.id, 5);
	CU_ASSERT_EQUAL(c.ndesc, 1);
}

static CU_TestInfo tests[] = {
	{ "single descriptor", test_single },
	{ "list of three, id in the last", test_list },
	{ "list across the ring's end (size 255)", test_list_wraps },
	{ "indirect tables", test_indirect },
	{ "bad chains keep id and count", test_bad_chains },
	{ "unterminated list", test_unterminated },
	{ "more pieces than max_segs", test_too_many_pieces },
	{ "inline fast path = general walker", test_fast_path_matches_general },
	{ "split walker ids", test_split_ids },
	CU_TEST_INFO_NULL,
};

int
main(int argc, char **argv)
{
	return ut_chain_main("desc_chain_packed", setup, tests, argc, argv);
}
