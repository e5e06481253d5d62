/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A small deterministic fuzz of the control plane: random requests on
 * running devices. Nothing is asserted about the answers, only that the
 * process survives, the witness device keeps working and no fd leaks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "fe_victim.h"

/* --- fuzz --- */

/* xorshift64: deterministic, so a failure can be replayed by its seed. */
static uint64_t fuzz_state;

static uint64_t
fuzz_next(void)
{
	fuzz_state ^= fuzz_state << 13;
	fuzz_state ^= fuzz_state >> 7;
	fuzz_state ^= fuzz_state << 17;
	return fuzz_state;
}

/* Requests the fuzz leaves out: they may legitimately allocate as much
 * memory as the payload asks (inflight areas) or need userfaultfd. */
static bool
fuzz_skipped(uint32_t req)
{
	return req == 28 || req == 29 || req == 30 || req == 31 || req == 32;
}

/*
 * Random requests with plausible framing (the header's size is always
 * the payload sent) on running devices: the process must survive, the
 * witness must keep working and nothing may leak.
 * Debian's DPDK 22.11 survives but leaks fds (see
 * ring_index_out_of_range_with_fd); set FE_FUZZ_SEED to vary the run.
 */
static void
test_fuzz(void)
{
	const char *env = getenv("FE_FUZZ_SEED");
	int iterations = 400, i, reconnects = 0;
	static uint8_t payload[512];

	/* One case for the whole run: leaks of every victim count. */
	fe_case_begin();
	fuzz_state = env != NULL ? strtoull(env, NULL, 0) : 0x5eedf00dull;
	printf("    fuzz seed 0x%llx\n", (unsigned long long)fuzz_state);
	CU_ASSERT_FATAL(fe_victim_connect(FE_RUNNING));
	for (i = 0; i < iterations; i++) {
		static const uint32_t sizes[] = { 0, 8, 8, 8, 8, 16, 32, 40,
			40, 264 };
		uint64_t r = fuzz_next();
		uint32_t req = 1 + (uint32_t)(r % 42), size, k;
		int fds[2], nfds = (int)((r >> 8) % 4) % 3, ret;
		static struct fm_msg msg;

		if (fuzz_skipped(req))
			continue;
		size = (r >> 12) % 8 == 0 ? (uint32_t)((r >> 16) % 300) :
			sizes[(r >> 16) % 10];
		for (k = 0; k < size; k += 8) {
			uint64_t v = fuzz_next();

			/* Often small numbers: ring indexes, sizes, flags. */
			if (v % 3 == 0)
				v %= 4;
			else if (v % 3 == 1)
				v = VM->offered_features & v;
			memcpy(payload + k, &v, sizeof(v));
		}
		for (k = 0; k < (uint32_t)nfds; k++)
			fds[k] = fe_make_fd(fuzz_next() % 2 ?
					FE_FD_EVENT : FE_FD_MEM);
		ret = fm_send(VM->sock, req,
				FM_FLAG_VERSION | FM_FLAG_NEED_REPLY, size,
				payload, size, fds, nfds);
		for (k = 0; k < (uint32_t)nfds; k++)
			close(fds[k]);
		if (ret == 0) {
			ret = fm_recv(VM->sock, &msg, 300);
			if (ret > 0)
				fm_msg_close_fds(&msg);
		}
		if (ret <= 0) {
			/* Closed, or out of step: start a fresh device. */
			fe_dev_close(&fe_victim, false);
			reconnects++;
			CU_ASSERT_FATAL(fe_victim_connect(FE_RUNNING));
		}
		if (i % 100 == 99)
			CU_ASSERT(fe_witness_ok("fuzz"));
	}
	printf("    fuzz: %d requests, %d reconnects\n", iterations,
			reconnects);
	fe_dev_close(&fe_victim, false);
	fe_check_case_fds("fuzz");
	CU_ASSERT(fe_witness_ok("fuzz"));
}

static CU_TestInfo fuzz_tests[] = {
	{ "random_requests", test_fuzz },
	{ "no_fd_leak", fe_test_no_fd_leak },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "fuzz", NULL, NULL, fe_victim_setup, fe_victim_teardown,
		fuzz_tests },
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	return fe_victim_main("fuzz", suites, argc, argv);
}
