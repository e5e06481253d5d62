/* SPDX-License-Identifier: BSD-3-Clause */

/* Memory tables built and shrunk one region at a time (ADD_MEM_REG /
 * REM_MEM_REG): every lookup right at 1..509 regions in both address
 * spaces, every refusal, nothing leaked; and the cost of one lookup at
 * 1, 8 and 509 regions, printed (not asserted: the machine is shared). */

#include <stdlib.h>
#include <time.h>

#include "mem_table.h"
#include "vhost_log.h"
#include "unit_common.h"

#define TAG "ut_memslots"
#define MAPS_TAG "memfd:" TAG
#define RSIZE 0x4000ULL

/* Region i: GPAs in a shuffled order with gaps, user addresses in the
 * reverse order of the GPAs, so both indexes are really sorted. */
static uint64_t r_gpa(unsigned int i) { return ((i * 211u) % 1021u) * 0x100000ULL + 0x1000; }
static uint64_t r_uaddr(unsigned int i) { return 0x7f0000000000ULL - r_gpa(i) * 4; }

static struct vhost_user_mem_region
reg(unsigned int i)
{
	return (struct vhost_user_mem_region){
		.guest_phys_addr = r_gpa(i), .memory_size = RSIZE,
		.userspace_addr = r_uaddr(i), .mmap_offset = 0,
	};
}

/* Adds region i to *mem (replacing it). */
static int
add(struct vhost_mem_table **mem, unsigned int i)
{
	struct vhost_user_mem_region r = reg(i);
	struct vhost_mem_table *next = NULL;
	int fd = ut_memfd(TAG, RSIZE);
	int ret;

	CU_ASSERT_FATAL(fd >= 0);
	ret = vhost_mem_table_add(*mem, &r, fd, &next, "ut");
	if (ret < 0) {
		close(fd);
		return ret;
	}
	vhost_mem_table_release(*mem);
	*mem = next;
	return 0;
}

static int
rem(struct vhost_mem_table **mem, unsigned int i)
{
	struct vhost_user_mem_region r = reg(i);
	struct vhost_mem_table *next = NULL;
	struct rte_vhost_mem_region gone;
	int ret = vhost_mem_table_remove(*mem, &r, &next, &gone, "ut");

	if (ret < 0)
		return ret;
	vhost_mem_region_unmap(&gone);
	vhost_mem_table_release(*mem);
	*mem = next;
	return 0;
}

/* Regions present: [0, n) minus those in gone[]. */
static bool
lookups_right(const struct vhost_mem_table *mem, unsigned int n, const bool *gone)
{
	for (unsigned int i = 0; i < n; i++) {
		const uint64_t offs[] = { 0, RSIZE / 2, RSIZE - 1 };

		for (unsigned int k = 0; k < RTE_DIM(offs); k++) {
			uint64_t len = 8, avail = 0;
			const struct rte_vhost_mem_region *r =
				vhost_mem_find_gpa(mem, r_gpa(i) + offs[k], &avail);
			const struct rte_vhost_mem_region *u =
				vhost_mem_find_uaddr(mem, r_uaddr(i) + offs[k], &avail);

			if (gone != NULL && gone[i]) {
				if (r != NULL || u != NULL)
					return false;
				continue;
			}
			if (r == NULL || r->guest_phys_addr != r_gpa(i) || u != r ||
			    avail != RSIZE - offs[k])
				return false;
			if (vhost_mem_gpa_to_hva(mem, r_gpa(i) + offs[k], &len) !=
			    r->host_user_addr + offs[k])
				return false;
		}
		/* Just past the end: a gap in both spaces. */
		uint64_t avail = 0;

		if (vhost_mem_find_gpa(mem, r_gpa(i) + RSIZE, &avail) != NULL ||
		    vhost_mem_find_uaddr(mem, r_uaddr(i) + RSIZE, &avail) != NULL)
			return false;
	}
	return true;
}

static void
test_grow_to_509_and_back(void)
{
	struct vhost_mem_table *mem = NULL;
	static bool gone[VHOST_MAX_MEM_SLOTS];
	int nfds = test_count_fds();
	unsigned int i;

	for (i = 0; i < VHOST_MAX_MEM_SLOTS; i++) {
		CU_ASSERT_EQUAL_FATAL(add(&mem, i), 0);
		if (i < 12 || i % 50 == 0)
			CU_ASSERT(lookups_right(mem, i + 1, NULL));
	}
	CU_ASSERT_EQUAL(mem->nregions, VHOST_MAX_MEM_SLOTS);
	CU_ASSERT(lookups_right(mem, VHOST_MAX_MEM_SLOTS, NULL));
	CU_ASSERT_EQUAL(test_count_maps(MAPS_TAG), VHOST_MAX_MEM_SLOTS);
	/* No slot left. */
	CU_ASSERT_EQUAL(add(&mem, VHOST_MAX_MEM_SLOTS), -ENOSPC);

	for (i = 0; i < VHOST_MAX_MEM_SLOTS; i++) {
		unsigned int k = (i * 13) % VHOST_MAX_MEM_SLOTS;

		CU_ASSERT_EQUAL_FATAL(rem(&mem, k), 0);
		gone[k] = true;
		CU_ASSERT_EQUAL(rem(&mem, k), -ENOENT);
		if (i % 50 == 0 || i > VHOST_MAX_MEM_SLOTS - 12)
			CU_ASSERT(mem == NULL || lookups_right(mem, VHOST_MAX_MEM_SLOTS, gone));
	}
	CU_ASSERT_PTR_NULL(mem);
	CU_ASSERT_EQUAL(test_count_maps(MAPS_TAG), 0);
	CU_ASSERT_EQUAL(test_count_fds(), nfds);
}

static void
test_refusals(void)
{
	struct vhost_mem_table *mem = NULL, *next = NULL;
	int nfds = test_count_fds();
	int fd = ut_memfd(TAG, 4 * RSIZE);
	struct vhost_user_mem_region r;

	CU_ASSERT_EQUAL_FATAL(add(&mem, 0), 0);
	CU_ASSERT_EQUAL(add(&mem, 0), -EEXIST);
	struct {
		const char *what;
		uint64_t gpa, size, uaddr, off;
	} cases[] = {
		{ "size 0", 0x40000000, 0, 0x10000000, 0 },
		{ "gpa wraps", ~0ULL - 0xfff, RSIZE, 0x10000000, 0 },
		{ "uaddr wraps", 0x40000000, RSIZE, ~0ULL - 0xfff, 0 },
		{ "offset wraps", 0x40000000, RSIZE, 0x10000000, ~0ULL - 0xfff },
		{ "gpa unaligned", 0x40000200, RSIZE, 0x10000000, 0 },
		{ "uaddr unaligned", 0x40000000, RSIZE, 0x10000200, 0 },
		{ "size unaligned", 0x40000000, RSIZE - 0x200, 0x10000000, 0 },
		{ "offset unaligned", 0x40000000, RSIZE, 0x10000000, 0x200 },
		{ "larger than file", 0x40000000, 8 * RSIZE, 0x10000000, 0 },
		{ "gpa overlaps", r_gpa(0) + 0x1000, RSIZE, 0x10000000, 0 },
		{ "uaddr overlaps", 0x40000000, RSIZE, r_uaddr(0) - 0x1000, 0 },
		{ "same gpa, other uaddr", r_gpa(0), RSIZE, 0x10000000, 0 },
	};
	for (unsigned int i = 0; i < RTE_DIM(cases); i++) {
		r = (struct vhost_user_mem_region){ cases[i].gpa, cases[i].size,
			cases[i].uaddr, cases[i].off };
		if (vhost_mem_table_add(mem, &r, fd, &next, "ut") == 0) {
			printf("accepted: %s\n", cases[i].what);
			CU_FAIL("bad region accepted");
		}
	}
	/* Removal must match GPA, uaddr and size. */
	r = reg(0);
	r.memory_size -= 0x1000;
	struct rte_vhost_mem_region gone;

	CU_ASSERT_EQUAL(vhost_mem_table_remove(mem, &r, &next, &gone, "ut"), -ENOENT);
	r = reg(0);
	r.userspace_addr += 0x1000;
	CU_ASSERT_EQUAL(vhost_mem_table_remove(mem, &r, &next, &gone, "ut"), -ENOENT);
	CU_ASSERT_EQUAL(vhost_mem_table_remove(NULL, &r, &next, &gone, "ut"), -ENOENT);
	close(fd);
	CU_ASSERT_EQUAL(rem(&mem, 0), 0);
	CU_ASSERT_EQUAL(test_count_fds(), nfds);
	CU_ASSERT_EQUAL(test_count_maps(MAPS_TAG), 0);
}

/* ns per lookup of random addresses inside the table's regions, in
 * this thread's CPU time (the machine is shared: wall time would count
 * other processes). */
static double
time_lookups(const struct vhost_mem_table *mem, unsigned int n, bool linear)
{
	enum { N = 2000000 };
	static uint64_t addr[4096];
	struct timespec a, b;
	uint64_t sum = 0, x = 12345;

	for (unsigned int i = 0; i < RTE_DIM(addr); i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		addr[i] = r_gpa((unsigned int)((x >> 33) % n)) + (x >> 20) % RSIZE;
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	for (unsigned int i = 0; i < N; i++) {
		uint64_t g = addr[i & (RTE_DIM(addr) - 1)];

		if (linear) {
			for (uint32_t k = 0; k < mem->nregions; k++)
				if (g - mem->regions[k].guest_phys_addr < mem->regions[k].size) {
					sum += k;
					break;
				}
		} else {
			sum += (uint64_t)vhost_mem_lookup(mem, true, g);
		}
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	CU_ASSERT(sum != UINT64_MAX);	/* keeps the loop */
	return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / N;
}

static void
test_lookup_cost(void)
{
	struct vhost_mem_table *mem = NULL;
	unsigned int i;

	for (i = 0; i < VHOST_MAX_MEM_SLOTS; i++) {
		CU_ASSERT_EQUAL_FATAL(add(&mem, i), 0);
		if (i + 1 == 1 || i + 1 == 8 || i + 1 == 64 || i + 1 == VHOST_MAX_MEM_SLOTS)
			printf("\nMEMSLOT-LOOKUP regions=%u ns=%.1f%s", i + 1,
				time_lookups(mem, i + 1, false),
				i + 1 > VHOST_MEM_LINEAR_MAX ? " (binary search)" : " (scan)");
	}
	printf("\nMEMSLOT-LOOKUP regions=%u ns=%.1f (linear scan, for comparison)\n",
		VHOST_MAX_MEM_SLOTS, time_lookups(mem, VHOST_MAX_MEM_SLOTS, true));
	vhost_mem_table_free(mem);
	CU_ASSERT_EQUAL(test_count_maps(MAPS_TAG), 0);
}

static CU_TestInfo tests[] = {
	{ "grow to 509 regions and back", test_grow_to_509_and_back },
	{ "refusals", test_refusals },
	{ "lookup cost at 1, 8, 64, 509 regions", test_lookup_cost },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "mem_slots", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	return ut_main(suites, argc, argv, 0);
}
