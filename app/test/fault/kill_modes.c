/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The kill runs (the table at the end): library as server, as client
 * (the frontends listen on a socket that outlives each of them), both on
 * split and on packed rings; as server with a vIOMMU guest, also with
 * most frontends killed while they leave misses unanswered, both on
 * split and on packed rings; and as
 * server and client with frontends that add their memory one region at
 * a time (CONFIGURE_MEM_SLOTS) and churn a spare region, on split and
 * on packed rings. Each is a
 * warm-up run (registration, one cycle per lane, teardown), the usage
 * baseline, then the real run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <rte_vhost.h>

#include "fault_env.h"
#include "fe_harness.h"
#include "fe_traffic.h"
#include "fm_conn.h"
#include "kill.h"

static bool
lanes_open(struct lane *lanes, int n, const struct kill_mode *mode)
{
	int i;

	for (i = 0; i < n; i++) {
		struct lane *l = &lanes[i];
		char name[32], path[256];
		uint64_t flags = RTE_VHOST_USER_NET_STATS_ENABLE;

		memset(l, 0, sizeof(*l));
		l->listen_fd = -1;
		l->mode = mode;
		if (fault_child_init(&l->child) < 0)
			return false;
		snprintf(name, sizeof(name), "%s%d", mode->test, i);
		if (mode->iommu)
			flags |= RTE_VHOST_USER_IOMMU_SUPPORT;
		if (mode->client) {
			/* The frontends' listening socket outlives each of
			 * them, as a socket passed down by a supervisor. */
			fe_sock_path(path, sizeof(path), name);
			l->listen_fd = fm_listen(path);
			if (l->listen_fd < 0)
				return false;
			flags |= RTE_VHOST_USER_CLIENT;
		}
		l->port = fault_port_start(name, flags);
		if (l->port == NULL)
			return false;
	}
	return true;
}

/* Unregisters and checks that every callback found its pair. */
static void
lanes_close(struct lane *lanes, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		struct lane *l = &lanes[i];
		struct fault_port *p = l->port;

		if (l->child.pid > 0)
			fault_child_kill(&l->child);
		fault_child_fini(&l->child);
		if (p != NULL) {
			CU_ASSERT_EQUAL(fault_port_stop(p), 0);
			CU_ASSERT_EQUAL(atomic_load(&p->ev.new_connection),
					atomic_load(&p->ev.destroy_connection));
			CU_ASSERT_EQUAL(atomic_load(&p->ev.new_device),
					atomic_load(&p->ev.destroy_device));
			CU_ASSERT_EQUAL(atomic_load(&p->refused), 0);
			if (atomic_load(&p->ev.new_device) !=
					atomic_load(&p->ev.destroy_device) ||
					atomic_load(&p->ev.new_connection) !=
					atomic_load(&p->ev.destroy_connection))
				fe_fail("lane %d: connections %d/%d devices "
						"%d/%d", i,
						atomic_load(&p->ev.new_connection),
						atomic_load(&p->ev.destroy_connection),
						atomic_load(&p->ev.new_device),
						atomic_load(&p->ev.destroy_device));
		}
		if (l->listen_fd >= 0) {
			close(l->listen_fd);
			unlink(p != NULL ? p->path : "");
		}
	}
}

static int
cmp_ms(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int64_t
median_ms(int64_t *v, int n)
{
	if (n == 0)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), cmp_ms);
	return v[n / 2];
}

static void
print_totals(const char *mode, const struct totals *t)
{
	int i;

	printf("    %s: %d cycles, %d devices started; parked and killed at:",
			mode, t->cycles, t->devices);
	for (i = 1; i < FAULT_STOP_NB; i++)
		printf(" %s %d", fault_stop_name(i), t->stops[i]);
	printf("; killed at a random moment of the handshake %d; during "
			"traffic %d (%d with the datapath mid-burst); died in "
			"phase:", t->plans[PLAN_RACE], t->plans[PLAN_TRAFFIC],
			t->mid_burst);
	for (i = 0; i < FAULT_PH_NB; i++)
		printf(" %s %d", fault_phase_name(i), t->killed_in[i]);
	printf("; longest cycle %lld ms, teardown %lld ms, frontend pause "
			"%u us, wait for an answer %u us (%d cycles with miss "
			"timeouts), test round %lld ms (fork %lld, audit %lld, "
			"release %lld), exit after SIGKILL %lld ms\n",
			(long long)t->max_cycle_ms,
			(long long)t->max_teardown_ms, t->max_gap_us,
			t->max_wait_us, t->slow, (long long)t->max_loop_ms,
			(long long)t->max_step_ms[0],
			(long long)t->max_step_ms[2],
			(long long)t->max_step_ms[3],
			(long long)t->max_step_ms[1]);
	printf("    %s: guest->host sent %llu = received %llu + dropped "
			"%llu + lost %llu; host->guest sent %llu = got %llu + "
			"lost %llu (of which held for IOTLB misses %llu, "
			"dropped %llu)\n",
			mode, (unsigned long long)t->g2h_sent,
			(unsigned long long)t->g2h_received,
			(unsigned long long)t->g2h_dropped,
			(unsigned long long)t->g2h_lost,
			(unsigned long long)t->h2g_sent,
			(unsigned long long)t->h2g_got,
			(unsigned long long)t->h2g_lost,
			(unsigned long long)t->held,
			(unsigned long long)t->h2g_dropped);
}

/* Every kill point was reached: the handshake's parking states (not
 * in a deaf mode, where they are rare), the deaf one (only there). */
static void
check_kill_points(const struct kill_mode *mode, const struct totals *t)
{
	int i;

	for (i = 1; !mode->deaf && i < FAULT_STOP_HANDSHAKE_NB; i++)
		CU_ASSERT(t->stops[i] > 0);
	if (!mode->deaf)
		return;
	printf("    %s: %d deaths with misses pending, %d with packets "
			"held, %d waited past %d ms\n", mode->name,
			t->stops[FAULT_STOP_MISSES], t->deaf_held, t->deaf_late,
			DEAF_WAIT_US / 1000);
	/* Most deaf deaths caught the library holding packets. */
	CU_ASSERT(t->stops[FAULT_STOP_MISSES] > 0 &&
			t->deaf_held * 2 > t->stops[FAULT_STOP_MISSES]);
	CU_ASSERT(t->held > 0);
}

static void
kill_scenario(const struct kill_mode *mode)
{
	int cycles = (int)fault_env_long("FAULT_KILL_CYCLES", CYCLES);
	struct kill_budget budget = {
		.ms = fault_env_long("FAULT_KILL_BUDGET_MS", KILL_BUDGET_MS),
	};
	struct lane lanes[LANES];
	struct totals warm, t;
	struct fault_usage base;
	int64_t half, t0;

	/* Fewer in some modes: the same kill points, and each program
	 * stays within its time on a loaded machine. */
	if (mode->cycles_div > 1 && cycles > 1)
		cycles /= mode->cycles_div;
	budget.ms = RTE_MAX(budget.ms * cycles / CYCLES,
			budget.ms / MIN_BUDGET_DIV);
	budget.min_cycles = RTE_MAX(cycles / MIN_CYCLES_DIV, 1);
	memset(&warm, 0, sizeof(warm));
	memset(&t, 0, sizeof(t));
	warm.rng = t.rng = fault_seed() ^ (mode->client ? 0xc11e47u :
			0x5e12e2u) ^ (mode->iommu ? 0x10u : 0) ^
		(mode->slots ? 0x20u : 0) ^ (mode->packed ? 0x40u : 0) ^
		(mode->deaf ? 0x80u : 0);
	fault_scenario_start(&base);

	/* Warm-up: a whole registration, cycle per lane and teardown, so
	 * that lazy allocations are made before the baseline. */
	CU_ASSERT_FATAL(lanes_open(lanes, LANES, mode));
	kill_run_cycles(lanes, LANES, LANES, NULL, &warm);
	lanes_close(lanes, LANES);
	CU_ASSERT_EQUAL(warm.failures, 0);
	fault_scenario_baseline(&base);

	CU_ASSERT_FATAL(lanes_open(lanes, LANES, mode));
	t0 = fm_now_ms();
	kill_run_cycles(lanes, LANES, cycles, &budget, &t);
	lanes_close(lanes, LANES);
	print_totals(mode->name, &t);
	if (t.cycles < cycles)
		printf("    %s: %d of %d cycles in %lld ms: stopped after the "
				"time budget (%lld ms; at least %d cycles and "
				"every kill point)\n", mode->name, t.cycles,
				cycles, (long long)(fm_now_ms() - t0),
				(long long)budget.ms, budget.min_cycles);
	CU_ASSERT_EQUAL(t.failures, 0);
	CU_ASSERT(t.cycles >= budget.min_cycles);
	/* Every kill point was really reached, and the traffic kills
	 * really caught the datapath at work. */
	check_kill_points(mode, &t);
	CU_ASSERT(t.plans[PLAN_RACE] > 0 || mode->deaf);
	CU_ASSERT(t.plans[PLAN_TRAFFIC] > 0 && t.mid_burst > 0);
	CU_ASSERT(t.g2h_received > 0 && t.h2g_got > 0);
	if (mode->slots) {
		printf("    %s: %llu ADD_MEM_REG/REM_MEM_REG acknowledged\n",
				mode->name, (unsigned long long)t.slot_ops);
		CU_ASSERT(t.slot_ops > (uint64_t)t.cycles);
	}
	/* (How many die with the frontend depends on timing: the library
	 * serves the rings of a dead frontend until it sees the socket
	 * close, so TX packets left in the ring are often still received.)
	 */
	half = median_ms(t.half_ms, t.nhalf);
	printf("    %s: teardown after a death in the middle of a message: "
			"median %lld ms over %d\n", mode->name, (long long)half,
			t.nhalf);
	CU_ASSERT((t.nhalf > 0 || mode->deaf) && half < MAX_HALF_MEDIAN_MS);
	fault_scenario_finish(mode->name, &base);
}

/*
 * The modes, grouped by suite below (each suite a test program run of
 * its own, so that each stays far from its timeout). Memory slot and
 * packed modes run half the cycles (the same kill points), the deaf one
 * a fifth (most of its deaths wait for the library to hold packets).
 */
enum {
	M_SERVER, M_CLIENT, M_PACKED_SERVER, M_PACKED_CLIENT, M_IOMMU,
	M_IOMMU_DEAF, M_PACKED_IOMMU, M_PACKED_IOMMU_DEAF, M_SLOTS_SERVER,
	M_SLOTS_CLIENT, M_PACKED_SLOTS_SERVER, M_PACKED_SLOTS_CLIENT,
};

static const struct kill_mode modes[] = {
	/* test, name, client, iommu, slots, packed, deaf, cycles_div */
	[M_SERVER] = { "srv", "server mode",
		false, false, false, false, false, 1 },
	[M_CLIENT] = { "cli", "client mode",
		true, false, false, false, false, 1 },
	[M_PACKED_SERVER] = { "srv-packed", "packed server mode",
		false, false, false, true, false, 2 },
	[M_PACKED_CLIENT] = { "cli-packed", "packed client mode",
		true, false, false, true, false, 2 },
	[M_IOMMU] = { "srv-iommu", "IOMMU server mode",
		false, true, false, false, false, 1 },
	[M_IOMMU_DEAF] = { "srv-deaf", "IOMMU misses pending",
		false, true, false, false, true, 5 },
	[M_PACKED_IOMMU] = { "srv-packed-iommu", "packed IOMMU server mode",
		false, true, false, true, false, 2 },
	[M_PACKED_IOMMU_DEAF] = { "srv-packed-deaf",
		"packed IOMMU misses pending",
		false, true, false, true, true, 5 },
	[M_SLOTS_SERVER] = { "srv-slots", "memory slots server mode",
		false, false, true, false, false, 2 },
	[M_SLOTS_CLIENT] = { "cli-slots", "memory slots client mode",
		true, false, true, false, false, 2 },
	[M_PACKED_SLOTS_SERVER] = { "srv-packed-slots",
		"packed memory slots server mode",
		false, false, true, true, false, 2 },
	[M_PACKED_SLOTS_CLIENT] = { "cli-packed-slots",
		"packed memory slots client mode",
		true, false, true, true, false, 2 },
};

/* CUnit tests take no argument: one small function per mode. */
#define MODE_TEST(m) static void test_##m(void) { kill_scenario(&modes[m]); }
MODE_TEST(M_SERVER)
MODE_TEST(M_CLIENT)
MODE_TEST(M_PACKED_SERVER)
MODE_TEST(M_PACKED_CLIENT)
MODE_TEST(M_IOMMU)
MODE_TEST(M_IOMMU_DEAF)
MODE_TEST(M_PACKED_IOMMU)
MODE_TEST(M_PACKED_IOMMU_DEAF)
MODE_TEST(M_SLOTS_SERVER)
MODE_TEST(M_SLOTS_CLIENT)
MODE_TEST(M_PACKED_SLOTS_SERVER)
MODE_TEST(M_PACKED_SLOTS_CLIENT)

CU_TestInfo kill_split_tests[] = {
	{ "server_mode", test_M_SERVER },
	{ "client_mode", test_M_CLIENT },
	CU_TEST_INFO_NULL,
};

CU_TestInfo kill_packed_tests[] = {
	{ "server_mode", test_M_PACKED_SERVER },
	{ "client_mode", test_M_PACKED_CLIENT },
	CU_TEST_INFO_NULL,
};

CU_TestInfo kill_iommu_tests[] = {
	{ "server_mode", test_M_IOMMU },
	{ "misses_pending", test_M_IOMMU_DEAF },
	CU_TEST_INFO_NULL,
};

CU_TestInfo kill_packed_iommu_tests[] = {
	{ "server_mode", test_M_PACKED_IOMMU },
	{ "misses_pending", test_M_PACKED_IOMMU_DEAF },
	CU_TEST_INFO_NULL,
};

CU_TestInfo kill_slots_tests[] = {
	{ "server_mode", test_M_SLOTS_SERVER },
	{ "client_mode", test_M_SLOTS_CLIENT },
	CU_TEST_INFO_NULL,
};

CU_TestInfo kill_packed_slots_tests[] = {
	{ "server_mode", test_M_PACKED_SLOTS_SERVER },
	{ "client_mode", test_M_PACKED_SLOTS_CLIENT },
	CU_TEST_INFO_NULL,
};
