/* SPDX-License-Identifier: BSD-3-Clause */

/* Descriptor chain walker (desc_chain.c) and the piece cursor, on a
 * device and a virtqueue built by hand over the two-region guest memory
 * of ut_chain.h (0..64K, 64K..128K, nothing from 128K up). */

#include "vhost_user.h"
#include "vring_stats.h"
#include "ut_chain.h"

#define RING_SIZE 256

static void
set_desc(struct vring_desc *table, uint16_t i, uint64_t addr, uint32_t len,
	 uint16_t flags, uint16_t next)
{
	table[i].addr = addr;
	table[i].len = len;
	table[i].flags = flags;
	table[i].next = next;
}

/* A descriptor of the ring's own table (at guest address 0). */
static void
ring_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	set_desc(vq.desc, i, addr, len, flags, next);
}

static void
setup(void)
{
	ut_chain_setup("ut_desc", "ut-desc", 0);
	vq.desc = g2h(0);
	vq.size = RING_SIZE;
}

static int
walk(uint16_t head, enum vhost_chain_dir dir, uint16_t *nsegs,
     uint16_t max_segs, struct vhost_chain *c)
{
	return vhost_walk_chain(dev, &vq, head, dir, segs, nsegs, max_segs, c);
}

/* The chain must be refused: error, no piece appended (the caller's
 * earlier pieces untouched), one more bad chain counted. */
static void
expect_bad(uint16_t head, enum vhost_chain_dir dir, uint16_t max_segs,
	   const char *what)
{
	uint64_t bad_before = vq.stats.v[VHOST_STAT_BAD_CHAINS];
	struct vhost_chain c = { .head = 0xdead };
	uint16_t nsegs;
	int ret;

	ut_chain_mark_segs(&nsegs);
	ret = walk(head, dir, &nsegs, max_segs, &c);
	ut_chain_check_refused(ret, nsegs, bad_before, what);
	/* The counter applications read as invalid_descriptor_chains. */
	CU_ASSERT_STRING_EQUAL(vhost_vq_stat_names[VHOST_STAT_BAD_CHAINS],
			       "invalid_descriptor_chains");
}

static void
test_single(void)
{
	struct vhost_chain c;
	uint16_t nsegs = 0;

	ring_desc(0, 0x1000, 100, VRING_DESC_F_WRITE, 0);
	CU_ASSERT_EQUAL_FATAL(walk(0, VHOST_CHAIN_DEVICE_WRITES, &nsegs, 8, &c), 0);
	CU_ASSERT_EQUAL(nsegs, 1);
	CU_ASSERT_EQUAL(c.head, 0);
	CU_ASSERT_EQUAL(c.nsegs, 1);
	CU_ASSERT_EQUAL(c.len, 100);
	check_seg(0, 0x1000, 100);

	/* The same in the other direction, from the last ring slot and in
	 * the second region. */
	nsegs = 0;
	ring_desc(RING_SIZE - 1, R1_GPA + 0x2000, 60, 0, 0);
	CU_ASSERT_EQUAL_FATAL(walk(RING_SIZE - 1, VHOST_CHAIN_DEVICE_READS, &nsegs, 8, &c), 0);
	CU_ASSERT_EQUAL(c.head, RING_SIZE - 1);
	CU_ASSERT_EQUAL(c.len, 60);
	check_seg(0, R1_GPA + 0x2000, 60);
	CU_ASSERT_EQUAL(vq.stats.v[VHOST_STAT_BAD_CHAINS], 0);
}

static void
test_chain_of_several(void)
{
	struct vhost_chain c;
	uint16_t nsegs = 3;	/* pieces of earlier chains come first */

	ring_desc(5, 0x1000, 12, VRING_DESC_F_NEXT, 9);
	ring_desc(9, R1_GPA + 0x100, 1500, VRING_DESC_F_NEXT, 2);
	ring_desc(2, 0x3000, 1, VRING_DESC_F_NEXT, 200);
	ring_desc(200, 0x5000, 4096, 0, 7);	/* next ignored: no NEXT flag */
	CU_ASSERT_EQUAL_FATAL(walk(5, VHOST_CHAIN_DEVICE_READS, &nsegs, 16, &c), 0);
	CU_ASSERT_EQUAL(nsegs, 7);
	CU_ASSERT_EQUAL(c.head, 5);
	CU_ASSERT_EQUAL(c.nsegs, 4);
	CU_ASSERT_EQUAL(c.len, 12 + 1500 + 1 + 4096);
	check_seg(3, 0x1000, 12);
	check_seg(4, R1_GPA + 0x100, 1500);
	check_seg(5, 0x3000, 1);
	check_seg(6, 0x5000, 4096);
}

/* GPA-contiguous across two regions: two pieces, each in its own
 * mapping. */
static void
test_buffer_across_regions(void)
{
	struct vhost_chain c;
	uint16_t nsegs = 0;

	ring_desc(1, R1_GPA - 100, 300, VRING_DESC_F_WRITE, 0);
	CU_ASSERT_EQUAL_FATAL(walk(1, VHOST_CHAIN_DEVICE_WRITES, &nsegs, 8, &c), 0);
	CU_ASSERT_EQUAL(nsegs, 2);
	CU_ASSERT_EQUAL(c.len, 300);
	check_seg(0, R1_GPA - 100, 100);
	check_seg(1, R1_GPA, 200);
	CU_ASSERT_PTR_EQUAL(segs[1].hva, (uint8_t *)(uintptr_t)dev->mem->regions[1].host_user_addr);

	/* Whole second region from its first byte: one piece. */
	nsegs = 0;
	ring_desc(1, R1_GPA, REG_SIZE, VRING_DESC_F_WRITE, 0);
	CU_ASSERT_EQUAL_FATAL(walk(1, VHOST_CHAIN_DEVICE_WRITES, &nsegs, 8, &c), 0);
	CU_ASSERT_EQUAL(nsegs, 1);
	check_seg(0, R1_GPA, REG_SIZE);
}

static void
test_zero_length_descriptors(void)
{
	struct vhost_chain c;
	uint16_t nsegs = 0;

	ring_desc(0, 0x1000, 0, VRING_DESC_F_NEXT, 1);
	ring_desc(1, 0x2000, 50, VRING_DESC_F_NEXT, 2);
	ring_desc(2, 0x3000, 0, 0, 0);
	CU_ASSERT_EQUAL_FATAL(walk(0, VHOST_CHAIN_DEVICE_READS, &nsegs, 8, &c), 0);
	CU_ASSERT_EQUAL(nsegs, 1);
	CU_ASSERT_EQUAL(c.nsegs, 1);
	CU_ASSERT_EQUAL(c.len, 50);
	check_seg(0, 0x2000, 50);

	/* An empty chain is valid and has no piece, even at an address
	 * outside guest memory (nothing will be accessed). */
	nsegs = 0;
	ring_desc(3, GAP_GPA + 0x1000, 0, 0, 0);
	CU_ASSERT_EQUAL_FATAL(walk(3, VHOST_CHAIN_DEVICE_READS, &nsegs, 8, &c), 0);
	CU_ASSERT_EQUAL(nsegs, 0);
	CU_ASSERT_EQUAL(c.len, 0);
}

static void
test_indirect(void)
{
	struct vring_desc *t = g2h(0x2000);
	struct vhost_chain c;
	uint16_t nsegs = 0;

	/* Three entries chained out of order: 0 -> 2 -> 1. The ring's
	 * descriptor carries only INDIRECT (no WRITE) as Linux does it. */
	set_desc(t, 0, 0x4000, 10, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	set_desc(t, 2, R1_GPA - 4, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, 0x6000, 30, VRING_DESC_F_WRITE, 0);
	ring_desc(17, 0x2000, 3 * sizeof(struct vring_desc), VRING_DESC_F_INDIRECT, 0);
	CU_ASSERT_EQUAL_FATAL(walk(17, VHOST_CHAIN_DEVICE_WRITES, &nsegs, 8, &c), 0);
	CU_ASSERT_EQUAL(c.head, 17);
	CU_ASSERT_EQUAL(c.len, 48);
	CU_ASSERT_EQUAL(nsegs, 4);
	check_seg(0, 0x4000, 10);
	check_seg(1, R1_GPA - 4, 4);
	check_seg(2, R1_GPA, 4);
	check_seg(3, 0x6000, 30);

	/* The device must ignore WRITE on the indirect descriptor itself
	 * (virtio 1.1, 2.6.5.3.2): a Tx chain through one is valid. */
	nsegs = 0;
	set_desc(t, 0, 0x4000, 10, VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, 0x6000, 30, 0, 0);
	ring_desc(18, 0x2000, 2 * sizeof(struct vring_desc),
		  VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	CU_ASSERT_EQUAL_FATAL(walk(18, VHOST_CHAIN_DEVICE_READS, &nsegs, 8, &c), 0);
	CU_ASSERT_EQUAL(c.len, 40);
	CU_ASSERT_EQUAL(nsegs, 2);
}

/* An indirect table across the two regions is not contiguous in our
 * address space: the walker must gather it, and read it right. */
static void
test_indirect_across_regions(void)
{
	const uint64_t tgpa = R1_GPA - 2 * sizeof(struct vring_desc);
	struct vhost_chain c;
	uint16_t nsegs = 0;
	struct vring_desc d[4];

	set_desc(d, 0, 0x1000, 1, VRING_DESC_F_NEXT, 1);
	set_desc(d, 1, 0x2000, 2, VRING_DESC_F_NEXT, 2);
	set_desc(d, 2, R1_GPA + 0x3000, 3, VRING_DESC_F_NEXT, 3);
	set_desc(d, 3, R1_GPA + 0x4000, 4, 0, 0);
	/* Entries 0-1 at the end of region 0, 2-3 at the start of region 1. */
	memcpy(g2h(tgpa), &d[0], 2 * sizeof(d[0]));
	memcpy(g2h(R1_GPA), &d[2], 2 * sizeof(d[0]));
	ring_desc(4, tgpa, sizeof(d), VRING_DESC_F_INDIRECT, 0);
	CU_ASSERT_EQUAL_FATAL(walk(4, VHOST_CHAIN_DEVICE_READS, &nsegs, 8, &c), 0);
	CU_ASSERT_EQUAL(nsegs, 4);
	CU_ASSERT_EQUAL(c.len, 10);
	check_seg(0, 0x1000, 1);
	check_seg(1, 0x2000, 2);
	check_seg(2, R1_GPA + 0x3000, 3);
	check_seg(3, R1_GPA + 0x4000, 4);

	/* Running off the end of guest memory is not gatherable. */
	ring_desc(5, GAP_GPA - sizeof(d[0]), 2 * sizeof(d[0]), VRING_DESC_F_INDIRECT, 0);
	set_desc(g2h(GAP_GPA - sizeof(d[0])), 0, 0x1000, 1, 0, 0);
	expect_bad(5, VHOST_CHAIN_DEVICE_READS, 8, "indirect table past memory end");
}

static void
test_bad_indices(void)
{
	ring_desc(0, 0x1000, 10, 0, 0);
	expect_bad(RING_SIZE, VHOST_CHAIN_DEVICE_READS, 8, "head == size");
	expect_bad(UINT16_MAX, VHOST_CHAIN_DEVICE_READS, 8, "head 65535");

	ring_desc(1, 0x1000, 10, VRING_DESC_F_NEXT, RING_SIZE);
	expect_bad(1, VHOST_CHAIN_DEVICE_READS, 8, "next == size");

	/* Inside an indirect table, next is bounded by the table. */
	set_desc(g2h(0x2000), 0, 0x1000, 10, VRING_DESC_F_NEXT, 2);
	set_desc(g2h(0x2000), 1, 0x1000, 10, 0, 0);
	ring_desc(2, 0x2000, 2 * sizeof(struct vring_desc), VRING_DESC_F_INDIRECT, 0);
	expect_bad(2, VHOST_CHAIN_DEVICE_READS, 8, "indirect next == table size");
}

static void
test_loops(void)
{
	/* Zero-length loops add no piece: only a loop check stops them. */
	ring_desc(3, 0x1000, 0, VRING_DESC_F_NEXT, 4);
	ring_desc(4, 0x1000, 0, VRING_DESC_F_NEXT, 3);
	expect_bad(3, VHOST_CHAIN_DEVICE_READS, VHOST_MAX_PKT_SEGS, "a -> b -> a");

	ring_desc(7, 0x1000, 0, VRING_DESC_F_NEXT, 7);
	expect_bad(7, VHOST_CHAIN_DEVICE_READS, VHOST_MAX_PKT_SEGS, "self loop");

	ring_desc(8, 0x1000, 64, VRING_DESC_F_NEXT, 8);
	expect_bad(8, VHOST_CHAIN_DEVICE_READS, VHOST_MAX_PKT_SEGS, "self loop with data");

	/* Loop inside an indirect table. */
	set_desc(g2h(0x2000), 0, 0x1000, 0, VRING_DESC_F_NEXT, 1);
	set_desc(g2h(0x2000), 1, 0x1000, 0, VRING_DESC_F_NEXT, 0);
	ring_desc(9, 0x2000, 2 * sizeof(struct vring_desc), VRING_DESC_F_INDIRECT, 0);
	expect_bad(9, VHOST_CHAIN_DEVICE_READS, VHOST_MAX_PKT_SEGS, "indirect loop");
}

static void
test_bad_indirect(void)
{
	struct vring_desc *t = g2h(0x2000);

	set_desc(t, 0, 0x1000, 10, VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, 0x3000, 2 * sizeof(struct vring_desc), VRING_DESC_F_INDIRECT, 0);
	set_desc(g2h(0x3000), 0, 0x1000, 10, 0, 0);
	set_desc(g2h(0x3000), 1, 0x1000, 10, 0, 0);
	ring_desc(0, 0x2000, 2 * sizeof(struct vring_desc), VRING_DESC_F_INDIRECT, 0);
	expect_bad(0, VHOST_CHAIN_DEVICE_READS, 8, "nested indirect");

	set_desc(t, 0, 0x1000, 10, 0, 0);
	ring_desc(1, 0x2000, sizeof(struct vring_desc),
		  VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 2);
	ring_desc(2, 0x1000, 10, 0, 0);
	expect_bad(1, VHOST_CHAIN_DEVICE_READS, 8, "indirect with NEXT");

	ring_desc(3, 0x2000, 0, VRING_DESC_F_INDIRECT, 0);
	expect_bad(3, VHOST_CHAIN_DEVICE_READS, 8, "indirect length 0");

	ring_desc(4, 0x2000, 24, VRING_DESC_F_INDIRECT, 0);
	expect_bad(4, VHOST_CHAIN_DEVICE_READS, 8, "indirect length 24");

	ring_desc(5, 0x2000, 15, VRING_DESC_F_INDIRECT, 0);
	expect_bad(5, VHOST_CHAIN_DEVICE_READS, 8, "indirect length 15");

	ring_desc(6, GAP_GPA + 0x1000, 16, VRING_DESC_F_INDIRECT, 0);
	expect_bad(6, VHOST_CHAIN_DEVICE_READS, 8, "indirect table not in memory");

	/* Bigger than any table may be (and than guest memory). */
	ring_desc(7, 0x2000, 0xfffffff0, VRING_DESC_F_INDIRECT, 0);
	expect_bad(7, VHOST_CHAIN_DEVICE_READS, 8, "indirect length 4G-16");
}

static void
test_bad_addresses(void)
{
	ring_desc(0, GAP_GPA + 0x1000, 16, 0, 0);
	expect_bad(0, VHOST_CHAIN_DEVICE_READS, 8, "buffer not in memory");

	/* Starts in memory, ends in the gap: the first piece translates,
	 * the chain is still refused whole. */
	ring_desc(1, GAP_GPA - 0x100, 0x200, 0, 0);
	expect_bad(1, VHOST_CHAIN_DEVICE_READS, 8, "buffer runs past memory end");

	/* A good descriptor then a bad one. */
	ring_desc(2, 0x1000, 10, VRING_DESC_F_NEXT, 3);
	ring_desc(3, UINT64_MAX - 0x1000, 16, 0, 0);
	expect_bad(2, VHOST_CHAIN_DEVICE_READS, 8, "second buffer not in memory");

	ring_desc(4, UINT64_MAX - 15, 32, 0, 0);
	expect_bad(4, VHOST_CHAIN_DEVICE_READS, 8, "addr + len wraps");

	ring_desc(5, UINT64_MAX, 2, 0, 0);
	expect_bad(5, VHOST_CHAIN_DEVICE_READS, 8, "addr 2^64-1 + 2 wraps");
}

static void
test_wrong_direction(void)
{
	ring_desc(0, 0x1000, 10, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	ring_desc(1, 0x2000, 10, 0, 0);
	expect_bad(0, VHOST_CHAIN_DEVICE_WRITES, 8, "readable in an Rx chain");
	expect_bad(0, VHOST_CHAIN_DEVICE_READS, 8, "writable in a Tx chain");
	expect_bad(1, VHOST_CHAIN_DEVICE_WRITES, 8, "single readable in an Rx chain");

	/* The same inside an indirect table. */
	set_desc(g2h(0x2000), 0, 0x1000, 10, VRING_DESC_F_NEXT, 1);
	set_desc(g2h(0x2000), 1, 0x1000, 10, VRING_DESC_F_WRITE, 0);
	ring_desc(2, 0x2000, 2 * sizeof(struct vring_desc), VRING_DESC_F_INDIRECT, 0);
	expect_bad(2, VHOST_CHAIN_DEVICE_READS, 8, "indirect: writable in a Tx chain");
	expect_bad(2, VHOST_CHAIN_DEVICE_WRITES, 8, "indirect: readable in an Rx chain");
}

static void
test_too_many_pieces(void)
{
	struct vhost_chain c;
	uint16_t nsegs = 0;

	for (uint16_t i = 0; i < 4; i++)
		ring_desc(i, 0x1000 * (i + 1), 8, i < 3 ? VRING_DESC_F_NEXT : 0, i + 1);
	/* Exactly enough room passes... */
	CU_ASSERT_EQUAL(walk(0, VHOST_CHAIN_DEVICE_READS, &nsegs, 4, &c), 0);
	CU_ASSERT_EQUAL(nsegs, 4);
	/* ...one piece less does not. */
	expect_bad(0, VHOST_CHAIN_DEVICE_READS, 5, "4 pieces after 2, max 5");
	expect_bad(0, VHOST_CHAIN_DEVICE_READS, 2, "4 pieces after 2, max 2");

	/* One descriptor, two pieces (across regions), room for one. */
	ring_desc(10, R1_GPA - 8, 16, 0, 0);
	expect_bad(10, VHOST_CHAIN_DEVICE_READS, 3, "split buffer, room for 1");
	nsegs = 2;
	CU_ASSERT_EQUAL(walk(10, VHOST_CHAIN_DEVICE_READS, &nsegs, 4, &c), 0);
	CU_ASSERT_EQUAL(nsegs, 4);
}

/* A chain may not describe more bytes than the largest mergeable
 * packet: the same 64 KiB buffer 100 times is refused. */
static void
test_oversized_chain(void)
{
	struct vhost_chain c;
	uint16_t nsegs = 0;

	for (uint16_t i = 0; i < 100; i++)
		ring_desc(i, 0, (uint32_t)REG_SIZE, VRING_DESC_F_NEXT, i + 1);
	ring_desc(15, 0, (uint32_t)REG_SIZE, 0, 0);
	CU_ASSERT_EQUAL(walk(0, VHOST_CHAIN_DEVICE_READS, &nsegs, VHOST_MAX_PKT_SEGS, &c), 0);
	CU_ASSERT_EQUAL(c.len, 16 * REG_SIZE);
	ring_desc(15, 0, (uint32_t)REG_SIZE, VRING_DESC_F_NEXT, 16);
	ring_desc(99, 0, (uint32_t)REG_SIZE, 0, 0);
	expect_bad(0, VHOST_CHAIN_DEVICE_READS, VHOST_MAX_PKT_SEGS, "6.5 MB chain");
}

/* Walk head with the datapath's entry point and with the general walker
 * alone: same result, same pieces, same chain, same bad-chain count.
 * Each walk starts with no miss pending: a miss is new to both. */
static void
expect_same_walk(uint16_t head, enum vhost_chain_dir dir, uint16_t max_segs,
		 const char *what)
{
	struct vhost_seg fast[4], general[4];
	struct vhost_chain cf = { 0 }, cg = { 0 };
	uint16_t nf = 1, ng = 1;
	uint64_t bad0, bad_fast, bad_general;
	int rf, rg;

	memset(fast, 0xa5, sizeof(fast));
	memset(general, 0xa5, sizeof(general));
	bad0 = vq.stats.v[VHOST_STAT_BAD_CHAINS];
	vq.nb_pending = vq.nb_unsent = 0;
	rf = vhost_walk_chain(dev, &vq, head, dir, fast, &nf, max_segs, &cf);
	bad_fast = vq.stats.v[VHOST_STAT_BAD_CHAINS] - bad0;
	bad0 = vq.stats.v[VHOST_STAT_BAD_CHAINS];
	vq.nb_pending = vq.nb_unsent = 0;
	rg = vhost_walk_chain_general(dev, &vq, head, dir, general, &ng,
				      max_segs, &cg);
	bad_general = vq.stats.v[VHOST_STAT_BAD_CHAINS] - bad0;
	if (rf != rg || nf != ng || bad_fast != bad_general ||
	    !ut_segs_equal(fast, general, nf) ||
	    (rf == 0 && memcmp(&cf, &cg, sizeof(cf)) != 0))
		fprintf(stderr, "\n    fast path and general walker differ: %s "
			"(ret %d/%d, pieces %u/%u)\n", what, rf, rg, nf, ng);
	CU_ASSERT_EQUAL(rf, rg);
	CU_ASSERT_EQUAL(nf, ng);
	CU_ASSERT_EQUAL(bad_fast, bad_general);
	CU_ASSERT(nf != ng || ut_segs_equal(fast, general, nf));
	if (rf == 0)
		CU_ASSERT_EQUAL(memcmp(&cf, &cg, sizeof(cf)), 0);
}

/* vhost_walk_chain() does one-descriptor chains inline and leaves every
 * other shape to the general walker: each shape near the edge of the
 * inline one gives exactly the general walker's answer. */
static void
test_fast_path_matches_general(void)
{
	static const struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags;
		const char *what;
	} shapes[] = {
		{ 0x1000, 100, 0, "inside the first region" },
		{ R1_GPA + 0x20, 1500, 0, "inside the second region" },
		{ R1_GPA - 8, 16, 0, "across the two regions (two pieces)" },
		{ R1_GPA - 1, 1, 0, "last byte of the first region" },
		{ GAP_GPA - 0x100, 0x200, 0, "runs past memory" },
		{ GAP_GPA + 0x1000, 64, 0, "not in memory" },
		{ 0x1000, 0, 0, "zero length" },
		{ UINT64_MAX - 15, 32, 0, "addr + len wraps" },
		{ 0, (uint32_t)(2 * REG_SIZE), 0, "all of memory" },
		{ 0, 0xffffffff, 0, "4 GiB, past the chain bound" },
		{ 0x1000, 100, VRING_DESC_F_NEXT, "with a next descriptor" },
		{ 0x2000, 2 * sizeof(struct vring_desc), VRING_DESC_F_INDIRECT,
		  "indirect" },
		{ 0x1000, 100, 0x8000, "unknown flag bit" },
	};
	const enum vhost_chain_dir dirs[] = { VHOST_CHAIN_DEVICE_READS,
					      VHOST_CHAIN_DEVICE_WRITES };

	set_desc(g2h(0x2000), 0, 0x3000, 10, VRING_DESC_F_NEXT, 1);
	set_desc(g2h(0x2000), 1, 0x3100, 20, 0, 0);
	ring_desc(1, 0x4000, 30, 0, 0);
	for (unsigned int d = 0; d < RTE_DIM(dirs); d++) {
		const uint16_t write = dirs[d] == VHOST_CHAIN_DEVICE_WRITES ?
			VRING_DESC_F_WRITE : 0;

		for (unsigned int i = 0; i < RTE_DIM(shapes); i++) {
			uint16_t flags = shapes[i].flags;

			/* Both directions, right and wrong. */
			ring_desc(0, shapes[i].addr, shapes[i].len, flags | write, 1);
			expect_same_walk(0, dirs[d], 4, shapes[i].what);
			ring_desc(0, shapes[i].addr, shapes[i].len,
				  flags | (write ^ VRING_DESC_F_WRITE), 1);
			expect_same_walk(0, dirs[d], 4, shapes[i].what);
			/* No room left for a piece. */
			ring_desc(0, shapes[i].addr, shapes[i].len, flags | write, 1);
			expect_same_walk(0, dirs[d], 1, shapes[i].what);
		}
	}
	/* A head outside the ring. */
	expect_same_walk(RING_SIZE, VHOST_CHAIN_DEVICE_READS, 4, "head = ring size");
}

/* Two-descriptor chains are inline too (vhost_walk_two): the second
 * descriptor in every shape near the edge of the inline one, after a
 * head that is fine, gives exactly the general walker's answer; with an
 * IOMMU, a miss or a refusal at either buffer as well. */
static void
test_fast_path_two_matches_general(void)
{
	static const struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags;
		uint16_t next;		/* of the head */
		const char *what;
	} second[] = {
		{ 0x3000, 200, 0, 1, "inside the first region" },
		{ R1_GPA + 0x40, 1500, 0, 1, "inside the second region" },
		{ R1_GPA - 8, 16, 0, 1, "across the two regions" },
		{ GAP_GPA - 0x100, 0x200, 0, 1, "runs past memory" },
		{ GAP_GPA + 0x1000, 64, 0, 1, "not in memory" },
		{ 0x3000, 0, 0, 1, "zero length" },
		{ UINT64_MAX - 15, 32, 0, 1, "addr + len wraps" },
		{ 0, 0xffffffff, 0, 1, "4 GiB, past the chain bound" },
		{ 0x3000, 200, VRING_DESC_F_NEXT, 1, "a third descriptor" },
		{ 0x2000, 2 * sizeof(struct vring_desc), VRING_DESC_F_INDIRECT, 1,
		  "indirect" },
		{ 0x3000, 200, 0x8000, 1, "unknown flag bit" },
		{ 0x3000, 200, 0, 0, "next is the head" },
		{ 0x3000, 200, 0, RING_SIZE, "next outside the ring" },
	};
	const enum vhost_chain_dir dirs[] = { VHOST_CHAIN_DEVICE_READS,
					      VHOST_CHAIN_DEVICE_WRITES };
	const uint64_t iova = 0x7000000, r0 = 0x100000000ULL;

	set_desc(g2h(0x2000), 0, 0x3000, 10, 0, 0);
	for (unsigned int d = 0; d < RTE_DIM(dirs); d++) {
		const uint16_t write = dirs[d] == VHOST_CHAIN_DEVICE_WRITES ?
			VRING_DESC_F_WRITE : 0;

		for (unsigned int i = 0; i < RTE_DIM(second); i++) {
			ring_desc(0, 0x1000, 100, VRING_DESC_F_NEXT | write,
				  second[i].next);
			/* Both directions, right and wrong. */
			ring_desc(1, second[i].addr, second[i].len,
				  second[i].flags | write, 0);
			for (uint16_t max = 1; max <= 3; max++)
				expect_same_walk(0, dirs[d], max, second[i].what);
			ring_desc(1, second[i].addr, second[i].len,
				  second[i].flags | (write ^ VRING_DESC_F_WRITE), 0);
			expect_same_walk(0, dirs[d], 4, second[i].what);
		}
		/* A head that is not inline-able either. */
		ring_desc(0, 0x1000, 0, VRING_DESC_F_NEXT | write, 1);
		ring_desc(1, 0x3000, 200, write, 0);
		expect_same_walk(0, dirs[d], 4, "empty head");
		ring_desc(0, R1_GPA - 8, 16, VRING_DESC_F_NEXT | write, 1);
		expect_same_walk(0, dirs[d], 4, "head across the two regions");
	}

	/* With an IOMMU: two pages mapped apart, read-write and
	 * read-only; a third not mapped. */
	dev->features |= 1ULL << VIRTIO_F_ACCESS_PLATFORM;
	CU_ASSERT_EQUAL_FATAL(vhost_iotlb_init(&dev->iotlb, 16), 0);
	CU_ASSERT_EQUAL(vhost_iotlb_map_mem(dev, iova, 0x1000, r0 + 0x5000,
					    VHOST_ACCESS_RW), 0);
	CU_ASSERT_EQUAL(vhost_iotlb_map_mem(dev, iova + 0x4000, 0x1000, r0 + 0x1000,
					    VHOST_ACCESS_RO), 0);
	for (unsigned int d = 0; d < RTE_DIM(dirs); d++) {
		const uint16_t write = dirs[d] == VHOST_CHAIN_DEVICE_WRITES ?
			VRING_DESC_F_WRITE : 0;
		const uint64_t pages[] = { iova, iova + 0x4000, iova + 0x8000 };

		for (unsigned int i = 0; i < RTE_DIM(pages); i++)
			for (unsigned int j = 0; j < RTE_DIM(pages); j++) {
				ring_desc(0, pages[i] + 0xf00, 0x100,
					  VRING_DESC_F_NEXT | write, 1);
				ring_desc(1, pages[j], 0x80, write, 0);
				expect_same_walk(0, dirs[d], 4, "iommu");
				/* The second buffer runs into the next page. */
				ring_desc(1, pages[j] + 0xfc0, 0x80, write, 0);
				expect_same_walk(0, dirs[d], 4, "iommu, page end");
			}
	}
	vhost_iotlb_fini(&dev->iotlb);
	vq.nb_pending = 0;
	vq.nb_unsent = 0;
	dev->features &= ~(1ULL << VIRTIO_F_ACCESS_PLATFORM);
}

/* With an IOMMU, a translation leaves the IOTLB entry it came from
 * cached in the ring (each entry lies in one memory region, with our
 * and the guest physical address worked out when it was mapped). Every
 * IOTLB change and a new memory table must make the next translation
 * look again: never a stale address, never past the region. */
static void
test_iova_cache_follows_iotlb(void)
{
	const uint64_t iova = 0x7000000;
	const uint64_t r0 = 0x100000000ULL, r1 = 0x200000000ULL;	/* uaddrs */
	struct rte_vhost_mem_region saved;
	struct vhost_chain c;
	uint16_t nsegs;

	dev->features |= 1ULL << VIRTIO_F_ACCESS_PLATFORM;
	CU_ASSERT_EQUAL_FATAL(vhost_iotlb_init(&dev->iotlb, 16), 0);
	/* Beyond region 0 in the frontend's space there is nothing shared:
	 * such an update is refused whole. */
	CU_ASSERT_EQUAL(vhost_iotlb_map_mem(dev, iova, 2 * REG_SIZE, r0,
					    VHOST_ACCESS_RW), -EFAULT);
	CU_ASSERT_EQUAL(dev->iotlb.n, 0);
	/* 128K of IOVA: region 0, then region 1 (not contiguous for us). */
	CU_ASSERT_EQUAL(vhost_iotlb_map_mem(dev, iova, REG_SIZE, r0,
					    VHOST_ACCESS_RW), 0);
	CU_ASSERT_EQUAL(vhost_iotlb_map_mem(dev, iova + REG_SIZE, REG_SIZE, r1,
					    VHOST_ACCESS_RW), 0);
	CU_ASSERT_EQUAL(dev->iotlb.n, 2);

	ring_desc(0, iova + 0x100, 64, 0, 0);
	nsegs = 0;
	CU_ASSERT_EQUAL_FATAL(walk(0, VHOST_CHAIN_DEVICE_READS, &nsegs, 4, &c), 0);
	check_seg(0, 0x100, 64);
	/* Cached now: the next buffer in the range; a buffer running past
	 * region 0's end is cut there and goes on in region 1. */
	ring_desc(1, iova + 0x8000, 64, VRING_DESC_F_WRITE, 0);
	nsegs = 0;
	CU_ASSERT_EQUAL_FATAL(walk(1, VHOST_CHAIN_DEVICE_WRITES, &nsegs, 4, &c), 0);
	check_seg(0, 0x8000, 64);
	ring_desc(2, iova + REG_SIZE - 16, 32, 0, 0);
	nsegs = 0;
	CU_ASSERT_EQUAL_FATAL(walk(2, VHOST_CHAIN_DEVICE_READS, &nsegs, 4, &c), 0);
	CU_ASSERT_EQUAL(nsegs, 2);
	check_seg(0, REG_SIZE - 16, 16);
	check_seg(1, R1_GPA, 16);

	/* Invalidated: the page misses (asked for), it does not hit. */
	vhost_iotlb_invalidate(&dev->iotlb, iova + 0x8000, 0x1000);
	nsegs = 0;
	CU_ASSERT_EQUAL(walk(1, VHOST_CHAIN_DEVICE_WRITES, &nsegs, 4, &c), -EAGAIN);
	CU_ASSERT_EQUAL(nsegs, 0);
	CU_ASSERT(vq.nb_pending > 0);
	nsegs = 0;
	CU_ASSERT_EQUAL(walk(0, VHOST_CHAIN_DEVICE_READS, &nsegs, 4, &c), 0);
	check_seg(0, 0x100, 64);

	/* Remapped read-only onto region 1: the new address, and no write. */
	CU_ASSERT_EQUAL(vhost_iotlb_map_mem(dev, iova, 0x1000, r1,
					    VHOST_ACCESS_RO), 0);
	nsegs = 0;
	CU_ASSERT_EQUAL_FATAL(walk(0, VHOST_CHAIN_DEVICE_READS, &nsegs, 4, &c), 0);
	check_seg(0, R1_GPA + 0x100, 64);
	ring_desc(3, iova + 0x200, 64, VRING_DESC_F_WRITE, 0);
	expect_bad(3, VHOST_CHAIN_DEVICE_WRITES, 8, "write through a read-only mapping");

	/* Flushed: everything misses. */
	vhost_iotlb_flush(&dev->iotlb);
	nsegs = 0;
	CU_ASSERT_EQUAL(walk(0, VHOST_CHAIN_DEVICE_READS, &nsegs, 4, &c), -EAGAIN);

	/* A new memory table (here: region 0 gone) drops the entries in it
	 * and the cached translation: a miss, never the old address. */
	CU_ASSERT_EQUAL(vhost_iotlb_map_mem(dev, iova, REG_SIZE, r0,
					    VHOST_ACCESS_RW), 0);
	CU_ASSERT_EQUAL(vhost_iotlb_map_mem(dev, iova + REG_SIZE, 0x1000, r1,
					    VHOST_ACCESS_RW), 0);
	/* As the UPDATE handler: the miss after the flush is answered. */
	vhost_iotlb_resolve_pending(&vq, iova, REG_SIZE, VHOST_ACCESS_RW);
	nsegs = 0;
	CU_ASSERT_EQUAL_FATAL(walk(0, VHOST_CHAIN_DEVICE_READS, &nsegs, 4, &c), 0);
	saved = dev->mem->regions[0];
	dev->mem->nregions = 1;
	dev->mem->regions[0] = dev->mem->regions[1];
	vhost_iotlb_mem_table_changed(dev);
	CU_ASSERT_EQUAL(dev->iotlb.n, 1);	/* region 1's entry stays */
	nsegs = 0;
	CU_ASSERT_EQUAL(walk(0, VHOST_CHAIN_DEVICE_READS, &nsegs, 4, &c), -EAGAIN);
	ring_desc(4, iova + REG_SIZE + 0x10, 64, 0, 0);
	nsegs = 0;
	CU_ASSERT_EQUAL_FATAL(walk(4, VHOST_CHAIN_DEVICE_READS, &nsegs, 4, &c), 0);
	check_seg(0, R1_GPA + 0x10, 64);
	dev->mem->regions[0] = saved;
	dev->mem->nregions = 2;

	vhost_iotlb_fini(&dev->iotlb);
	vq.nb_pending = 0;
	vq.nb_unsent = 0;
	dev->features = 0;
}

static void
test_cursor(void)
{
	uint8_t a[3], b[5], cc[4], out[16];
	struct vhost_seg s[5] = {
		{ .hva = NULL, .len = 0 },	/* skipped by init */
		{ .hva = a, .len = sizeof(a) },
		{ .hva = NULL, .len = 0 },	/* skipped in the middle */
		{ .hva = b, .len = sizeof(b) },
		{ .hva = cc, .len = sizeof(cc) },
	};
	struct vhost_seg_cursor cur;

	vhost_cursor_init(&cur, s, 5);
	CU_ASSERT_PTR_EQUAL(cur.seg, &s[1]);
	CU_ASSERT_EQUAL(vhost_cursor_write(&cur, "AB", 2), 2);
	CU_ASSERT_EQUAL(vhost_cursor_write(&cur, "CDEFGHIJKLMNOPQ", 15), 10);
	CU_ASSERT_EQUAL(memcmp(a, "ABC", 3), 0);
	CU_ASSERT_EQUAL(memcmp(b, "DEFGH", 5), 0);
	CU_ASSERT_EQUAL(memcmp(cc, "IJKL", 4), 0);
	CU_ASSERT_EQUAL(vhost_cursor_write(&cur, "X", 1), 0);

	memset(out, 0, sizeof(out));
	vhost_cursor_init(&cur, s, 5);
	CU_ASSERT_EQUAL(vhost_cursor_read(&cur, out, 4), 4);
	CU_ASSERT_EQUAL(vhost_cursor_read(&cur, out + 4, 4), 4);
	CU_ASSERT_EQUAL(vhost_cursor_read(&cur, out + 8, 8), 4);
	CU_ASSERT_STRING_EQUAL((char *)out, "ABCDEFGHIJKL");
	CU_ASSERT_EQUAL(vhost_cursor_read(&cur, out, 1), 0);

	/* No pieces at all. */
	vhost_cursor_init(&cur, s, 0);
	CU_ASSERT_EQUAL(vhost_cursor_write(&cur, "X", 1), 0);
}

/* Cursor over a walked chain: bytes land in guest memory on both sides
 * of the region boundary, and read back the same. */
static void
test_cursor_on_chain(void)
{
	uint8_t data[300], back[300];
	struct vhost_seg_cursor cur;
	struct vhost_chain c;
	uint16_t nsegs = 0;

	for (unsigned int i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	ring_desc(0, 0x800, 20, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	ring_desc(1, R1_GPA - 100, 280, VRING_DESC_F_WRITE, 0);
	CU_ASSERT_EQUAL_FATAL(walk(0, VHOST_CHAIN_DEVICE_WRITES, &nsegs, 8, &c), 0);
	CU_ASSERT_EQUAL_FATAL(nsegs, 3);
	vhost_cursor_init(&cur, segs, nsegs);
	CU_ASSERT_EQUAL(vhost_cursor_write(&cur, data, sizeof(data)), 300);
	CU_ASSERT_EQUAL(memcmp(g2h(0x800), data, 20), 0);
	CU_ASSERT_EQUAL(memcmp(g2h(R1_GPA - 100), data + 20, 100), 0);
	CU_ASSERT_EQUAL(memcmp(g2h(R1_GPA), data + 120, 180), 0);
	vhost_cursor_init(&cur, segs, nsegs);
	CU_ASSERT_EQUAL(vhost_cursor_read(&cur, back, sizeof(back)), 300);
	CU_ASSERT_EQUAL(memcmp(back, data, sizeof(data)), 0);
}

static CU_TestInfo tests[] = {
	{ "single descriptor", test_single },
	{ "chain of several", test_chain_of_several },
	{ "buffer across two regions", test_buffer_across_regions },
	{ "zero-length descriptors", test_zero_length_descriptors },
	{ "indirect table", test_indirect },
	{ "indirect table across regions", test_indirect_across_regions },
	{ "bad head / next index", test_bad_indices },
	{ "loops", test_loops },
	{ "bad indirect descriptors", test_bad_indirect },
	{ "bad buffer addresses", test_bad_addresses },
	{ "wrong direction", test_wrong_direction },
	{ "more pieces than max_segs", test_too_many_pieces },
	{ "oversized chain", test_oversized_chain },
	{ "inline fast path = general walker", test_fast_path_matches_general },
	{ "inline two-descriptor path = general walker",
		test_fast_path_two_matches_general },
	{ "IOVA translation cache follows the IOTLB", test_iova_cache_follows_iotlb },
	{ "cursor over pieces", test_cursor },
	{ "cursor over a walked chain", test_cursor_on_chain },
	CU_TEST_INFO_NULL,
};

int
main(int argc, char **argv)
{
	return ut_chain_main("desc_chain", setup, tests, argc, argv);
}
