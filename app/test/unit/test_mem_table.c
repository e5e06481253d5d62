/* SPDX-License-Identifier: BSD-3-Clause */

/* Memory table (mem_table.c): mapping the frontend's regions and the
 * address translations built on them, and every table that must be
 * refused before anything is mapped. */

#include <malloc.h>
#include <stdlib.h>

#include "mem_table.h"
#include "vhost_log.h"
#include "unit_common.h"

#define TAG "ut_memtable"		/* memfd name, seen in /proc/self/maps */
#define MAPS_TAG "memfd:" TAG

/* Region i of a test table: gaps between regions in both address
 * spaces (so one past the end is unmapped), sizes and mmap offsets that
 * differ per region, offsets not page aligned (the library must add the
 * offset itself rather than rely on mmap's). */
static uint64_t reg_gpa(unsigned int i) { return 0x100000ULL * i + 0x1000; }
static uint64_t reg_uaddr(unsigned int i) { return 0x7f0000000000ULL + 0x1000000ULL * i; }
static uint64_t reg_size(unsigned int i) { return 0x8000 + 0x1000ULL * i; }
static uint64_t reg_off(unsigned int i) { return 0x1000ULL * i + 8 * i; }

static int fds[VHOST_MAX_MEM_REGIONS + 1];
static struct vhost_user_memory msg;

/* Fresh fds and a valid table of n regions, each file exactly as large
 * as offset + size. */
static void close_fds(void);

static void
make_table(unsigned int n)
{
	close_fds();
	memset(&msg, 0, sizeof(msg));
	msg.nregions = n;
	for (unsigned int i = 0; i < n; i++) {
		struct vhost_user_mem_region *r = &msg.regions[i];

		r->guest_phys_addr = reg_gpa(i);
		r->userspace_addr = reg_uaddr(i);
		r->memory_size = reg_size(i);
		r->mmap_offset = reg_off(i);
		fds[i] = ut_memfd(TAG, r->mmap_offset + r->memory_size);
		CU_ASSERT_FATAL(fds[i] >= 0);
	}
}

static void
close_fds(void)
{
	for (unsigned int i = 0; i < RTE_DIM(fds); i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

static void
setup(void)
{
	for (unsigned int i = 0; i < RTE_DIM(fds); i++)
		fds[i] = -1;
	memset(&msg, 0, sizeof(msg));
}

static void
teardown(void)
{
	close_fds();
}

/* Every translation a region must answer, at its start and end. */
static void
check_region(const struct vhost_mem_table *mem, unsigned int i, int fd)
{
	const struct vhost_user_mem_region *m = &msg.regions[i];
	const struct rte_vhost_mem_region *r = &mem->regions[i];
	uint64_t len, hva, hva_end;
	uint8_t byte = 0;
	char buf[16] = { 0 };

	CU_ASSERT_EQUAL(r->guest_phys_addr, m->guest_phys_addr);
	CU_ASSERT_EQUAL(r->guest_user_addr, m->userspace_addr);
	CU_ASSERT_EQUAL(r->size, m->memory_size);
	CU_ASSERT_EQUAL(r->fd, fd);

	/* Start: full length available, and it is the file at mmap_offset
	 * (writes through the mapping reach the frontend's file). */
	len = 16;
	hva = vhost_mem_gpa_to_hva(mem, m->guest_phys_addr, &len);
	CU_ASSERT_FATAL(hva != 0);
	CU_ASSERT_EQUAL(len, 16);
	CU_ASSERT_EQUAL(hva, r->host_user_addr);
	memcpy((void *)(uintptr_t)hva, "region-start-000", 16);
	((char *)(uintptr_t)hva)[13] = (char)('0' + i);
	CU_ASSERT_EQUAL(pread(fd, buf, 16, (off_t)m->mmap_offset), 16);
	CU_ASSERT_EQUAL(memcmp(buf, "region-start-", 13), 0);
	CU_ASSERT_EQUAL(buf[13], '0' + i);

	len = 16;
	CU_ASSERT_EQUAL(vhost_mem_uaddr_to_hva(mem, m->userspace_addr, &len), hva);
	CU_ASSERT_EQUAL(len, 16);
	len = 1;
	CU_ASSERT_EQUAL(vhost_mem_uaddr_to_gpa(mem, m->userspace_addr + 5, &len),
			m->guest_phys_addr + 5);

	/* Last byte: one byte left, and it is the file's last byte. */
	len = 1;
	hva_end = vhost_mem_gpa_to_hva(mem, m->guest_phys_addr + m->memory_size - 1, &len);
	CU_ASSERT_EQUAL(hva_end, hva + m->memory_size - 1);
	CU_ASSERT_EQUAL(len, 1);
	*(volatile uint8_t *)(uintptr_t)hva_end = 0xa5;
	CU_ASSERT_EQUAL(pread(fd, &byte, 1, (off_t)(m->mmap_offset + m->memory_size - 1)), 1);
	CU_ASSERT_EQUAL(byte, 0xa5);
	len = 8;
	CU_ASSERT_EQUAL(vhost_mem_uaddr_to_hva(mem, m->userspace_addr + m->memory_size - 1, &len),
			hva_end);
	CU_ASSERT_EQUAL(len, 1);

	/* Clipping: 100 bytes asked 10 before the end. */
	len = 100;
	CU_ASSERT_EQUAL(vhost_mem_gpa_to_hva(mem, m->guest_phys_addr + m->memory_size - 10, &len),
			hva + m->memory_size - 10);
	CU_ASSERT_EQUAL(len, 10);
	len = 100;
	CU_ASSERT_NOT_EQUAL(vhost_mem_uaddr_to_hva(mem, m->userspace_addr + m->memory_size - 10, &len), 0);
	CU_ASSERT_EQUAL(len, 10);

	/* One past the end, and one before the start, are in the gaps. */
	len = 1;
	CU_ASSERT_EQUAL(vhost_mem_gpa_to_hva(mem, m->guest_phys_addr + m->memory_size, &len), 0);
	CU_ASSERT_EQUAL(len, 0);
	len = 1;
	CU_ASSERT_EQUAL(vhost_mem_gpa_to_hva(mem, m->guest_phys_addr - 1, &len), 0);
	CU_ASSERT_EQUAL(len, 0);
	len = 1;
	CU_ASSERT_EQUAL(vhost_mem_uaddr_to_hva(mem, m->userspace_addr + m->memory_size, &len), 0);
	CU_ASSERT_EQUAL(len, 0);
	len = 1;
	CU_ASSERT_EQUAL(vhost_mem_uaddr_to_gpa(mem, m->userspace_addr + m->memory_size, &len), 0);
	CU_ASSERT_EQUAL(len, 0);

	/* Whole-range lookups (rings): exactly the region, not a byte more. */
	CU_ASSERT_EQUAL(vhost_mem_uaddr_range(mem, m->userspace_addr, m->memory_size),
			(void *)(uintptr_t)hva);
	CU_ASSERT_PTR_NULL(vhost_mem_uaddr_range(mem, m->userspace_addr, m->memory_size + 1));
	CU_ASSERT_PTR_NULL(vhost_mem_uaddr_range(mem, m->userspace_addr + 1, m->memory_size));
}

static void
test_map_1_to_8_regions(void)
{
	for (unsigned int n = 1; n <= VHOST_MAX_MEM_REGIONS; n++) {
		struct vhost_mem_table *mem = NULL;

		make_table(n);
		CU_ASSERT_EQUAL_FATAL(vhost_mem_table_map(&msg, fds, &mem, "ut"), 0);
		CU_ASSERT_PTR_NOT_NULL_FATAL(mem);
		CU_ASSERT_EQUAL(mem->nregions, n);
		for (unsigned int i = 0; i < n; i++)
			check_region(mem, i, fds[i]);
		/* Addresses far from every region. */
		uint64_t len = 1;
		CU_ASSERT_EQUAL(vhost_mem_gpa_to_hva(mem, 0, &len), 0);
		len = 1;
		CU_ASSERT_EQUAL(vhost_mem_gpa_to_hva(mem, UINT64_MAX, &len), 0);
		CU_ASSERT_EQUAL(test_count_maps(MAPS_TAG), (int)n);

		/* The table owns the fds now: free closes them. */
		vhost_mem_table_free(mem);
		for (unsigned int i = 0; i < n; i++) {
			CU_ASSERT_FALSE(ut_fd_is_open(fds[i]));
			fds[i] = -1;
		}
		CU_ASSERT_EQUAL(test_count_maps(MAPS_TAG), 0);
	}
	vhost_mem_table_free(NULL);	/* documented as fine */
}

/* Regions that touch but do not overlap are one guest memory. */
static void
test_adjacent_regions_accepted(void)
{
	struct vhost_mem_table *mem = NULL;
	uint64_t len = 32;

	make_table(2);
	msg.regions[1].guest_phys_addr = reg_gpa(0) + reg_size(0);
	msg.regions[1].userspace_addr = reg_uaddr(0) + reg_size(0);
	CU_ASSERT_EQUAL_FATAL(vhost_mem_table_map(&msg, fds, &mem, "ut"), 0);
	/* A buffer across the boundary is clipped at the first region. */
	CU_ASSERT_EQUAL(vhost_mem_gpa_to_hva(mem, reg_gpa(0) + reg_size(0) - 16, &len),
			mem->regions[0].host_user_addr + reg_size(0) - 16);
	CU_ASSERT_EQUAL(len, 16);
	len = 32;
	CU_ASSERT_EQUAL(vhost_mem_gpa_to_hva(mem, reg_gpa(0) + reg_size(0), &len),
			mem->regions[1].host_user_addr);
	CU_ASSERT_EQUAL(len, 32);
	vhost_mem_table_free(mem);
	fds[0] = fds[1] = -1;
}

/* Map msg with fds and expect a refusal that leaves everything as it
 * was: no table, no mapping, every fd still open and ours. */
static void
expect_refused(const char *what)
{
	struct vhost_mem_table *mem = NULL;
	int nfds = test_count_fds();
	int ret;

	ret = vhost_mem_table_map(&msg, fds, &mem, what);
	CU_ASSERT(ret < 0);
	CU_ASSERT_PTR_NULL(mem);
	if (mem != NULL) {
		/* Accepted: don't let the free close fds we still check. */
		fprintf(stderr, "\n  accepted a bad table: %s\n", what);
		for (unsigned int i = 0; i < mem->nregions; i++)
			mem->regions[i].fd = dup(mem->regions[i].fd);
		vhost_mem_table_free(mem);
	}
	CU_ASSERT_EQUAL(test_count_fds(), nfds);
	CU_ASSERT_EQUAL(test_count_maps(MAPS_TAG), 0);
	for (unsigned int i = 0; i < RTE_DIM(fds); i++)
		CU_ASSERT(fds[i] < 0 || ut_fd_is_open(fds[i]));
}

static void
test_refuse_region_count(void)
{
	make_table(VHOST_MAX_MEM_REGIONS);
	msg.nregions = 0;
	expect_refused("0 regions");
	msg.nregions = VHOST_MAX_MEM_REGIONS + 1;
	expect_refused("9 regions");
	msg.nregions = UINT32_MAX;
	expect_refused("2^32-1 regions");
}

static void
test_refuse_zero_size(void)
{
	make_table(3);
	msg.regions[1].memory_size = 0;
	expect_refused("zero size");
}

static void
test_refuse_wrapping_ranges(void)
{
	make_table(2);
	msg.regions[1].guest_phys_addr = UINT64_MAX - 0xfff;
	expect_refused("gpa + size wraps");

	make_table(2);
	msg.regions[1].guest_phys_addr = UINT64_MAX - reg_size(1) + 1;
	expect_refused("gpa + size == 2^64");

	make_table(2);
	msg.regions[0].userspace_addr = UINT64_MAX - 0x10;
	expect_refused("uaddr + size wraps");

	make_table(2);
	msg.regions[1].mmap_offset = UINT64_MAX - 0x100;
	expect_refused("mmap_offset + size wraps");

	/* No wrap, but more than any address space can map. */
	make_table(1);
	msg.regions[0].memory_size = 1ULL << 63;
	expect_refused("size 2^63");
}

static void
test_refuse_overlaps(void)
{
	/* Last byte of region 0 is the first of region 1 (gpa only). */
	make_table(2);
	msg.regions[1].guest_phys_addr = reg_gpa(0) + reg_size(0) - 1;
	expect_refused("gpa overlap by one byte");

	/* Region 1 inside region 0. */
	make_table(2);
	msg.regions[1].guest_phys_addr = reg_gpa(0) + 0x1000;
	msg.regions[1].memory_size = 0x1000;
	expect_refused("gpa containment");

	/* Same gpa range twice. */
	make_table(2);
	msg.regions[1].guest_phys_addr = reg_gpa(0);
	expect_refused("identical gpa");

	/* Overlap in the frontend's address space only. */
	make_table(2);
	msg.regions[1].userspace_addr = reg_uaddr(0) + reg_size(0) - 1;
	expect_refused("uaddr overlap by one byte");

	/* Region 2 starts below region 0 and runs into it. */
	make_table(3);
	msg.regions[2].guest_phys_addr = reg_gpa(0) - 0x800;
	expect_refused("gpa overlap, regions 0 and 2");
	make_table(3);
	msg.regions[2].userspace_addr = reg_uaddr(0) - 0x800;
	expect_refused("uaddr overlap, regions 0 and 2");
}

/* A file shorter than what is mapped would SIGBUS at the first access
 * past its end: it must be refused when the table arrives. */
static void
test_refuse_short_file(void)
{
	make_table(2);
	CU_ASSERT_EQUAL_FATAL(ftruncate(fds[1], (off_t)(reg_off(1) + reg_size(1) - 1)), 0);
	expect_refused("file one byte short");

	make_table(2);
	msg.regions[0].mmap_offset = 0x1000;	/* file is reg_size(0) bytes */
	expect_refused("offset pushes region past the file end");

	make_table(1);
	msg.regions[0].memory_size = 1ULL << 40;
	expect_refused("1 TiB region on a small file");

	make_table(1);
	CU_ASSERT_EQUAL_FATAL(ftruncate(fds[0], 0), 0);
	expect_refused("empty file");
}

static void
test_refuse_non_regular_fd(void)
{
	int p[2];

	make_table(2);
	CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
	close(fds[1]);
	fds[1] = p[0];
	fds[2] = p[1];	/* closed by teardown */
	expect_refused("pipe");
	CU_ASSERT(ut_fd_is_open(p[1]));

	make_table(1);
	close(fds[0]);
	fds[0] = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CU_ASSERT_FATAL(fds[0] >= 0);
	expect_refused("directory");

	make_table(1);
	close(fds[0]);
	fds[0] = -1;
	expect_refused("fd -1");
}

/* The last of 8 regions is bad: the 7 mapped before it must be undone,
 * and repeated refusals must not grow the heap or the fd table. */
static void
test_refuse_late_region_no_leak(void)
{
	struct mallinfo2 before, after;
	int p[2], nfds;
	int level = rte_log_get_level((uint32_t)vhost_logtype);

	make_table(VHOST_MAX_MEM_REGIONS);
	CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
	close(fds[7]);
	fds[7] = p[0];
	fds[8] = p[1];
	expect_refused("8th region is a pipe");

	/* 64 more refusals, quietly, measured after 64 that warm up what
	 * is allocated once: logging, and glibc's per-thread cache, which
	 * keeps up to 7 freed chunks per size counted as in use (calloc
	 * bypasses it, so the first refusals each leave one there). A leak
	 * grows with every refusal; the caches do not. */
	nfds = test_count_fds();
	rte_log_set_level((uint32_t)vhost_logtype, RTE_LOG_EMERG);
	for (int round = 0; round < 2; round++) {
		if (round == 1)
			before = mallinfo2();
		for (int i = 0; i < 64; i++) {
			struct vhost_mem_table *mem = NULL;

			CU_ASSERT(vhost_mem_table_map(&msg, fds, &mem, "ut") < 0);
		}
	}
	after = mallinfo2();
	rte_log_set_level((uint32_t)vhost_logtype, (uint32_t)level);
	CU_ASSERT_EQUAL(after.uordblks, before.uordblks);
	CU_ASSERT_EQUAL(test_count_fds(), nfds);
	CU_ASSERT_EQUAL(test_count_maps(MAPS_TAG), 0);
}

static CU_TestInfo tests[] = {
	{ "map 1..8 regions, translations", test_map_1_to_8_regions },
	{ "adjacent regions accepted", test_adjacent_regions_accepted },
	{ "refuse 0 or 9 regions", test_refuse_region_count },
	{ "refuse zero size", test_refuse_zero_size },
	{ "refuse wrapping ranges", test_refuse_wrapping_ranges },
	{ "refuse overlapping regions", test_refuse_overlaps },
	{ "refuse fd smaller than offset+size", test_refuse_short_file },
	{ "refuse non-regular fd", test_refuse_non_regular_fd },
	{ "refusal after mapping leaks nothing", test_refuse_late_region_no_leak },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "mem_table", NULL, NULL, setup, teardown, tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	return ut_main(suites, argc, argv, 0);
}
