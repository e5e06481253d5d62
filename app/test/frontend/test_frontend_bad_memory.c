/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Malformed memory descriptions: memory tables (counts, fds, sizes,
 * overflows, regions their file cannot back), dirty-log areas, and ring
 * addresses the table does not cover. Every case must be refused without
 * harm: see fe_victim.h for what is checked after each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "fe_victim.h"

/*
 * SET_MEM_TABLE whose size does not match its region count.
 * Debian's DPDK 22.11 fails: it never compares the size with nregions.
 */
static void
test_mem_table_size_mismatch(void)
{
	static const struct { uint32_t nregions; uint32_t size; } cases[] = {
		{ 2, 8 + 32 },       /* two regions announced, one sent */
		{ 1, 8 + 64 },       /* one announced, two sent */
		{ 1, 8 },            /* header only */
		{ 1, 8 + 32 - 1 },   /* one byte short */
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fm_wire_memory wire;
		int fds[FM_MAX_REGIONS];
		char name[96];
		int r;

		CU_ASSERT_FATAL(fe_victim_open(FE_NEGOTIATED));
		fm_mem_wire(&VM->mem, &wire, fds);
		wire.nregions = cases[i].nregions;
		snprintf(name, sizeof(name),
				"SET_MEM_TABLE nregions %u in %u bytes",
				cases[i].nregions, cases[i].size);
		r = fm_expect_refused(VM, FM_REQ_SET_MEM_TABLE, &wire,
				cases[i].size, cases[i].size, fds,
				(int)cases[i].nregions);
		if (r == FM_NACK && !fe_victim_recovers(name, true))
			CU_FAIL("no recovery after a refused table");
		fe_case_done(name, r);
	}
}

/* --- memory tables --- */

enum table_fault {
	T_TOO_MANY_REGIONS,
	T_FEWER_FDS,
	T_MORE_FDS,
	T_NO_FD,
	T_OFFSET_OVERFLOW,
	T_LARGER_THAN_FILE,
	T_FD_NOT_MAPPABLE,
	T_SIZE_ZERO,
	T_GPA_OVERFLOW,
	T_UADDR_OVERFLOW,
	T_COUNT,
};

static const char *const table_fault_names[T_COUNT] = {
	"nregions 9", "2 regions, 1 fd", "1 region, 2 fds", "1 region, no fd",
	"mmap_offset + size overflows", "region larger than its file",
	"fd cannot be mapped", "region size 0", "gpa + size overflows",
	"userspace_addr + size overflows",
};

/*
 * Debian's DPDK 22.11 fails: it accepts a region larger than its file
 * (any access past the file's end would raise SIGBUS in the backend) and
 * regions whose gpa or userspace_addr + size wrap around; when a region
 * is refused (offset overflow, fd not mappable, size 0) the fds of the
 * regions it had not mapped yet stay open (leak).
 */
static void
test_mem_table_bad(void)
{
	int f;

	for (f = 0; f < T_COUNT; f++) {
		/* Room for nine regions: the wire struct holds eight. */
		uint8_t buf[8 + 9 * sizeof(struct fm_wire_region)];
		struct fm_wire_memory *wire = (struct fm_wire_memory *)buf;
		struct fm_wire_region *reg = (struct fm_wire_region *)(buf + 8);
		int fds[FM_MAX_FDS];
		int nfds, k, extra = -1, r;
		uint32_t size;

		CU_ASSERT_FATAL(fe_victim_open(FE_NEGOTIATED));
		memset(buf, 0, sizeof(buf));
		fm_mem_wire(&VM->mem, wire, fds);
		nfds = (int)wire->nregions;
		switch (f) {
		case T_TOO_MANY_REGIONS:
			for (k = 2; k < 9; k++) {
				reg[k] = reg[0];
				reg[k].guest_phys_addr = (uint64_t)k << 32;
			}
			wire->nregions = 9;
			for (k = 2; k < FM_MAX_FDS; k++)
				fds[k] = fds[0];
			nfds = FM_MAX_FDS;
			break;
		case T_FEWER_FDS:
			nfds = 1;
			break;
		case T_MORE_FDS:
			wire->nregions = 1;
			break;
		case T_NO_FD:
			wire->nregions = 1;
			nfds = 0;
			break;
		case T_OFFSET_OVERFLOW:
			reg[0].mmap_offset = ~0ull - 4095;
			break;
		case T_LARGER_THAN_FILE:
			reg[0].memory_size *= 2;
			break;
		case T_FD_NOT_MAPPABLE:
			extra = eventfd(0, EFD_CLOEXEC);
			fds[0] = extra;
			break;
		case T_SIZE_ZERO:
			reg[0].memory_size = 0;
			break;
		case T_GPA_OVERFLOW:
			reg[1].guest_phys_addr = ~0ull - 4095;
			break;
		case T_UADDR_OVERFLOW:
			reg[1].userspace_addr = ~0ull - 4095;
			break;
		}
		size = 8 + (uint32_t)sizeof(*reg) * wire->nregions;
		r = fm_expect_refused(VM, FM_REQ_SET_MEM_TABLE, buf, size,
				size, fds, nfds);
		if (extra >= 0)
			close(extra);
		if (r == FM_NACK &&
				!fe_victim_recovers(table_fault_names[f], true))
			CU_FAIL("no recovery after a refused table");
		fe_case_done(table_fault_names[f], r);
	}
}

/*
 * SET_LOG_BASE whose area the fd cannot back: mapping it and then logging
 * would fault (SIGBUS) in the backend.
 * Debian's DPDK 22.11 fails: it maps a log larger than its file, or at an
 * offset past it, without checking the file size.
 */
static void
test_log_base_bad(void)
{
	static const struct {
		const char *name;
		uint64_t size, offset;
		int nfds;
		bool eventfd;
	} cases[] = {
		{ "SET_LOG_BASE larger than its file", 1ull << 30, 0, 1,
			false },
		{ "SET_LOG_BASE offset past its file", 4096, 1ull << 20, 1,
			false },
		{ "SET_LOG_BASE offset + size overflows", 8192, ~0ull - 4095, 1,
			false },
		{ "SET_LOG_BASE without fd", 4096, 0, 0, false },
		{ "SET_LOG_BASE with 2 fds", 4096, 0, 2, false },
		{ "SET_LOG_BASE fd cannot be mapped", 4096, 0, 1, true },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t payload[2] = { cases[i].size, cases[i].offset };
		int fds[2], k, r;

		CU_ASSERT_FATAL(fe_victim_open(FE_RUNNING));
		for (k = 0; k < cases[i].nfds; k++)
			fds[k] = fe_make_fd(cases[i].eventfd ?
					FE_FD_EVENT : FE_FD_MEM);
		r = fm_expect_refused(VM, FM_REQ_SET_LOG_BASE, payload,
				sizeof(payload), sizeof(payload), fds,
				cases[i].nfds);
		for (k = 0; k < cases[i].nfds; k++)
			close(fds[k]);
		if (r == FM_NACK && !fe_traffic_ok(&fe_victim))
			CU_FAIL("device broken after a refused log area");
		fe_case_done(cases[i].name, r);
	}
}

/* --- ring addresses --- */

enum ring_fault { R_DESC, R_AVAIL, R_USED, R_DESC_CROSSES_END,
	R_USED_CROSSES_END, R_COUNT };

static const char *const ring_fault_names[R_COUNT] = {
	"desc outside memory", "avail outside memory", "used outside memory",
	"desc table crosses region end", "used ring crosses region end",
};

/*
 * A region whose end is not where another region starts in the frontend's
 * address space (mmap may place them back to back), so that crossing its
 * end really leaves the table.
 */
static struct fm_region *
region_with_free_end(struct fm_mem *mem)
{
	int i, j;

	for (i = 0; i < mem->nregions; i++) {
		uint8_t *end = mem->r[i].base + mem->r[i].size;

		for (j = 0; j < mem->nregions; j++)
			if (mem->r[j].base == end)
				break;
		if (j == mem->nregions)
			return &mem->r[i];
	}
	return &mem->r[0];
}

/*
 * Ring 0 gets addresses the memory table does not cover. The backend may
 * refuse SET_VRING_ADDR or the KICK that starts the ring (both asked with
 * NEED_REPLY), or close; the ring must never be used.
 * Debian's DPDK 22.11 fails: it acknowledges everything and just leaves
 * the ring unstarted; worse, with a used ring crossing the end of a
 * region it logs "failed to map used ring" yet starts the device (the
 * failed translation is left assigned), so the backend would write used
 * entries past its mapping.
 */
static void
test_ring_addr_outside_memory(void)
{
	/* Not in any region: a plain static buffer of the test. */
	static uint8_t elsewhere[65536] __attribute__((aligned(4096)));
	int f;

	for (f = 0; f < R_COUNT; f++) {
		const char *name = ring_fault_names[f];
		struct fm_region *r0;
		struct vhost_vring_addr a;
		int news, r, q;

		CU_ASSERT_FATAL(fe_victim_open(FE_MEMORY));
		r0 = region_with_free_end(&VM->mem);
		news = atomic_load(&fe_target->ev.new_device);
		fm_vring_addr_of(VM, 0, &a);
		switch (f) {
		case R_DESC:
			a.desc_user_addr = fm_ptr_uaddr(elsewhere);
			break;
		case R_AVAIL:
			a.avail_user_addr = fm_ptr_uaddr(elsewhere);
			break;
		case R_USED:
			a.used_user_addr = fm_ptr_uaddr(elsewhere);
			break;
		case R_DESC_CROSSES_END:
			a.desc_user_addr = fm_ptr_uaddr(r0->base + r0->size -
					16 * 128);
			break;
		case R_USED_CROSSES_END:
			a.used_user_addr = fm_ptr_uaddr(r0->base + r0->size -
					8);
			break;
		}
		r = fm_set_state(VM, FM_REQ_SET_VRING_NUM, 0, 256);
		if (r == FM_OK)
			r = fm_set_vring_addr(VM, &a);
		if (r == FM_OK)
			r = fm_set_state(VM, FM_REQ_SET_VRING_BASE, 0, 0);
		if (r == FM_OK)
			r = fm_set_vring_fd(VM, FM_REQ_SET_VRING_CALL, 0,
					VM->vr[0].call_fd);
		if (r == FM_OK)
			r = fm_set_vring_fd(VM, FM_REQ_SET_VRING_KICK, 0,
					VM->vr[0].kick_fd);
		/* Ring 1 is fine; enabling both would start the device. */
		if (r == FM_OK)
			r = fm_setup_vring(VM, 1, 256, 0);
		for (q = 0; q < 2 && r == FM_OK; q++)
			r = fm_set_state(VM, FM_REQ_SET_VRING_ENABLE,
					(uint32_t)q, 1);
		if (!fe_stays_below(&fe_target->ev.new_device, news + 1,
				FE_QUIET_MS)) {
			fe_fail("%s: new_device fired", name);
			CU_FAIL("device started on unmapped rings");
		}
		if (r == FM_NACK) {
			/* Fixing the ring makes the device work. */
			if (!fe_victim_recovers(name, false))
				CU_FAIL("no recovery after refused ring");
		}
		fe_case_done(name, r);
	}
}

static CU_TestInfo memory_tests[] = {
	{ "mem_table_size_mismatch", test_mem_table_size_mismatch },
	{ "mem_table_bad", test_mem_table_bad },
	{ "log_base_bad", test_log_base_bad },
	{ "ring_addr_outside_memory", test_ring_addr_outside_memory },
	{ "no_fd_leak", fe_test_no_fd_leak },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "memory", NULL, NULL, fe_victim_setup, fe_victim_teardown,
		memory_tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	return fe_victim_main("bad_memory", suites, argc, argv);
}
