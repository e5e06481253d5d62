/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef UNIT_COMMON_H
#define UNIT_COMMON_H

/* Helpers shared by the unit tests of lib/vhost: guest memory backed by
 * memfds, fd and mapping accounting (test_res.h: to prove refusals leak
 * nothing); main() is ut_main(), on the CUnit runner test_run()
 * (test_run.h). Everything is static: each test is one file. */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <rte_log.h>

#include "mem_table.h"
#include "test_clock.h"
#include "test_memfd.h"
#include "test_res.h"
#include "test_run.h"
#include "vhost_device.h"

/* A memfd of size bytes (sparse: costs nothing until touched). The name
 * shows in /proc/self/maps as "/memfd:<name>", which test_count_maps()
 * can look for. */
static inline int
ut_memfd(const char *name, uint64_t size)
{
	return test_memfd(name, size, 0);
}

/* Guest memory of n regions of size bytes each, one memfd each: region
 * i at guest address i * size, our frontend's address (i + 1) << 32.
 * Each memfd is asserted; returns vhost_mem_table_map()'s result (the
 * table owns the fds). */
static inline int
ut_map_regions(struct vhost_mem_table **mem, const char *name,
	       uint32_t n, uint64_t size, const char *ifname)
{
	struct vhost_user_memory m = { .nregions = n };
	int fds[VHOST_MAX_MEM_REGIONS];

	if (n == 0 || n > VHOST_MAX_MEM_REGIONS)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		m.regions[i].guest_phys_addr = size * (uint64_t)i;
		m.regions[i].userspace_addr = 0x100000000ULL * (uint64_t)(i + 1);
		m.regions[i].memory_size = size;
		fds[i] = ut_memfd(name, size);
		CU_ASSERT_FATAL(fds[i] >= 0);
	}
	return vhost_mem_table_map(&m, fds, mem, ifname);
}

/* Whether two walks produced the same n pieces. Field by field: the
 * padding after len is whatever each walker's stores left there. */
static inline bool
ut_segs_equal(const struct vhost_seg *a, const struct vhost_seg *b,
	      uint16_t n)
{
	for (uint16_t i = 0; i < n; i++)
		if (a[i].hva != b[i].hva || a[i].len != b[i].len ||
		    a[i].gpa != b[i].gpa)
			return false;
	return true;
}

static inline bool
ut_fd_is_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) != -1;
}

/*
 * main() of a unit test: runs suites (test_run()) with the library's
 * INFO logs off: it logs each region it maps and each chain it refuses,
 * noise in tests that do hundreds (ERR still shows). With alarm_s > 0, a
 * test that hangs (a walker looping forever) fails the run after
 * alarm_s seconds instead of stalling it.
 */
static inline int
ut_main(CU_SuiteInfo *suites, int argc, char **argv, unsigned int alarm_s)
{
	if (alarm_s > 0)
		alarm(alarm_s);
	rte_log_set_level_pattern("lib.vhost", RTE_LOG_NOTICE);
	return test_run(suites, argc, argv);
}

#endif /* UNIT_COMMON_H */
