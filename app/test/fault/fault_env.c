/* SPDX-License-Identifier: BSD-3-Clause */
/* The shared frame of the fault programs: see fault_env.h. */
#include "fault_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_mempool.h>
#include <rte_vhost.h>

#include "fault_datapath.h"
#include "fault_port.h"
#include "fault_witness.h"
#include "fe_harness.h"
#include "fm_conn.h"

/* The witness's run before the first scenario. */
#define WARM_UP_MS 200

static int64_t scenario_t0;
static int strays_at_start;

uint32_t
fault_rand(uint32_t *state)
{
	/* xorshift32: enough to vary kill points and message mixes. */
	uint32_t x = *state != 0 ? *state : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

long
fault_env_long(const char *var, long def)
{
	const char *v = getenv(var);

	return v != NULL && *v != '\0' ? strtol(v, NULL, 0) : def;
}

uint32_t
fault_seed(void)
{
	return (uint32_t)fault_env_long("FAULT_SEED", 0x5eed1234);
}

void
fault_scenario_start(struct fault_usage *base)
{
	scenario_t0 = fm_now_ms();
	strays_at_start = fault_port_strays();
	fault_usage_take(base);
	CU_ASSERT_EQUAL(fault_witness_run(), 0);
}

void
fault_scenario_baseline(struct fault_usage *base)
{
	/* What the warm-up closed must be closed before counting. */
	fe_wait_fd_count(base->fds, FE_EVENT_MS);
	fault_usage_take(base);
}

/* Every mbuf is back in the pool: the witness is drained (the datapath
 * drops what it built ahead once a port stops sending), nothing else
 * runs, so one missing was kept by the library. */
static void
check_pool(const char *name)
{
	unsigned int avail, size = fe_pool->size;
	int64_t deadline = fm_now_ms() + FE_EVENT_MS;

	while ((avail = rte_mempool_avail_count(fe_pool)) != size &&
			fm_now_ms() < deadline)
		fault_datapath_settle();
	printf("    %s: mbufs in the pool %u of %u\n", name, avail, size);
	CU_ASSERT_EQUAL(avail, size);
}

void
fault_scenario_finish(const char *name, const struct fault_usage *base)
{
	fault_witness_check(name);
	check_pool(name);
	fault_usage_check(base, name);
	CU_ASSERT_EQUAL(fault_port_strays(), strays_at_start);
	printf("    %s: %.1f s\n", name,
			(double)(fm_now_ms() - scenario_t0) / 1000.0);
}

int
fault_main(const char *name, CU_SuiteInfo *suites, int argc, char **argv)
{
	int64_t t0 = fm_now_ms();
	int ret = 2, i;

	/* Per-message debug logs would swamp the output (and the time)
	 * of hundreds of connections. */
	setenv("FE_LOG_LEVEL", "warning", 0);
	if (fe_init(name) != 0)
		return 2;
	fault_unpin();
	fault_prefault_pool();
	if (fault_datapath_start() == 0 && fault_witness_open() == 0) {
		fault_witness_warm_up(WARM_UP_MS);
		ret = fe_run(suites, argc, argv);
	} else {
		fprintf(stderr, "%s: set-up failed\n", name);
	}
	fault_witness_close();
	fault_datapath_stop();
	for (i = 0; i < fault_port_count(); i++)
		if (fault_port_at(i)->used)
			fault_port_stop(fault_port_at(i));
	/* fe_fini() also removes EAL's runtime directory. */
	fe_fini();
	printf("%s: %.1f s in all\n", name, (double)(fm_now_ms() - t0) / 1000.0);
	return ret;
}
