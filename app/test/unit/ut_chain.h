/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef UT_CHAIN_H
#define UT_CHAIN_H

/* What the split and packed chain walker tests share: guest memory of two
 * regions adjacent in guest physical space (0..64K, 64K..128K), mapped
 * separately so that a buffer across 64K becomes two pieces; nothing is
 * mapped from 128K up. The ring is at guest address 0. */

#include "desc_chain.h"
#include "ut_device.h"

#define REG_SIZE 0x10000ULL
#define R1_GPA REG_SIZE			/* second region starts here */
#define GAP_GPA (2 * REG_SIZE)		/* first unmapped address */

static struct vhost_seg segs[VHOST_MAX_PKT_SEGS];

/* Each test's set-up: a fresh device named ifname with these features,
 * the two regions (memfds named name), no pieces. */
static inline void
ut_chain_setup(const char *name, const char *ifname, uint64_t features)
{
	ut_dev_reset(ifname, features);
	CU_ASSERT_EQUAL_FATAL(ut_map_regions(&dev->mem, name, 2, REG_SIZE,
					     dev->ifname), 0);
	memset(segs, 0, sizeof(segs));
}

static inline void
ut_chain_teardown(void)
{
	ut_dev_unmap();
	free(vq.indirect_copy);
	vq.indirect_copy = NULL;
}

/* main() of a chain walker test: one suite, name, on the hand-built
 * device (ut_device.h), each test after setup (which calls
 * ut_chain_setup()) and before ut_chain_teardown(); a stalled walk is
 * stopped after 20 s. */
static inline int
ut_chain_main(const char *name, void (*setup)(void), CU_TestInfo *tests,
	      int argc, char **argv)
{
	CU_SuiteInfo suites[] = {
		{ name, ut_dev_suite_init, ut_dev_suite_clean, setup,
		  ut_chain_teardown, tests },
		CU_SUITE_INFO_NULL,
	};

	return ut_main(suites, argc, argv, 20);
}

/* Piece i covers len bytes from gpa, at our address of gpa. */
static inline void
check_seg(unsigned int i, uint64_t gpa, uint32_t len)
{
	CU_ASSERT_EQUAL(segs[i].gpa, gpa);
	CU_ASSERT_EQUAL(segs[i].len, len);
	CU_ASSERT_PTR_EQUAL(segs[i].hva, g2h(gpa));
}

/* Before a walk that must be refused: two pieces the caller already
 * has, which the walk must leave alone. */
static inline void
ut_chain_mark_segs(uint16_t *nsegs)
{
	segs[0] = (struct vhost_seg){ .hva = (uint8_t *)1, .len = 11, .gpa = 111 };
	segs[1] = (struct vhost_seg){ .hva = (uint8_t *)2, .len = 22, .gpa = 222 };
	*nsegs = 2;
}

/* After it: an error, no piece appended (the caller's untouched), one
 * more bad chain counted than bad_before. */
static inline void
ut_chain_check_refused(int ret, uint16_t nsegs, uint64_t bad_before,
		       const char *what)
{
	if (ret >= 0)
		fprintf(stderr, "\n  accepted a bad chain: %s\n", what);
	CU_ASSERT(ret < 0);
	CU_ASSERT_EQUAL(nsegs, 2);
	CU_ASSERT_EQUAL(segs[0].len, 11);
	CU_ASSERT_EQUAL(segs[1].gpa, 222);
	CU_ASSERT_EQUAL(vq.stats.v[VHOST_STAT_BAD_CHAINS], bad_before + 1);
}

#endif /* UT_CHAIN_H */
