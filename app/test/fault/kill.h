/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Scenario 1 (test_fault_kill), shared by kill_*.c: lanes of forked
 * frontends (fault_child.h) killed with SIGKILL at chosen points, each
 * death audited once the library has torn the connection down.
 */
#ifndef KILL_H
#define KILL_H

#include <stdbool.h>
#include <stdint.h>

#include <CUnit/CUnit.h>

#include "fault_child.h"
#include "fault_port.h"
#include "test_clock.h"

#define LANES 2
/* Cycles per mode (FAULT_KILL_CYCLES overrides). */
#define CYCLES 500
/* On a loaded machine a run stops starting cycles after this long
 * (FAULT_KILL_BUDGET_MS overrides, 0: never), scaled to the mode's
 * cycles but not below a third of it (deaf cycles are slow), once it
 * has done a fifth of them and reached every kill point its assertions
 * need: each meson test (two modes) then stays well inside its 300 s.
 * The vIOMMU suite took 47 s at load 3-5, 92 s at load 8-11, and
 * passed 300 s once at load 35-45 (doc/testing.md). */
#define KILL_BUDGET_MS 90000
#define MIN_BUDGET_DIV 3
#define MIN_CYCLES_DIV 5
/* Longest a frontend may take to reach its kill point before it counts
 * as stuck (measured at load 14-18: cycles of up to 2.3 s). */
#define CYCLE_TIMEOUT_MS 20000
/* Longest a killed frontend may take to exit. The kernel tears a
 * process down before it closes its fds, and on a busy machine that
 * waits for locks shared with other processes (up to 8.9 s seen). */
#define EXIT_TIMEOUT_MS 30000
/* How long a frontend stays stuck in the middle of a message: well past
 * the library's message timeout (VHOST_MSG_TIMEOUT_MS) and its IOTLB
 * miss timeout (500 ms). */
#define STUCK_MS 1500
/* Kills followed at once by unregistering (FAULT_UNREG_CYCLES). */
#define UNREG_CYCLES 200
/* Wait this long at most for the datapath to be in a burst on the
 * device before killing anyway. */
#define MID_BURST_SPIN_US 2000
/* A frontend that dies in the middle of a message must be seen at
 * once, not after the library's message timeout (VHOST_MSG_TIMEOUT_MS,
 * 2 s): the median of those teardowns stays far below it. (Not the
 * longest: on a shared machine one cycle may wait for a CPU that long.)
 */
#define MAX_HALF_MEDIAN_MS 500
#define MAX_HALF 1024
/* Diagnostics printed per run; every failure is counted. */
#define MAX_REPORTS 10
/* A miss may wait this long for the frontend's answer, from when the
 * library sent it until the answer is applied or the device is torn
 * down, before the library gives it up (VHOST_IOTLB_MISS_TIMEOUT_MS,
 * 500 ms, counted from the send, and not while the answer waits for
 * the library's event thread). The frontend's bound on that wait
 * (fault_child_shared.max_answer_us, or from its last serving round to
 * destroy_device) is on another clock than the library's timer: 10%
 * off for the difference. */
#define SLOW_FRONTEND_US 450000u
/* The library's bound on packets held for IOTLB misses per ring
 * (VHOST_MAX_HELD_PKTS, README of lib/vhost's limits). */
#define MAX_HELD 256
/* FAULT_STOP_MISSES: the longest a deaf frontend lives while waiting
 * for the library to hold packets, well inside the miss timeout. */
#define DEAF_WAIT_US 200000

/* One kind of kill run (kill_modes.c). */
struct kill_mode {
	const char *test;	/* CUnit name */
	const char *name;	/* in the report */
	bool client;		/* the library connects to the frontends */
	bool iommu;		/* guests behind a vIOMMU */
	bool slots;		/* memory added one region at a time */
	bool packed;		/* packed rings */
	/* Most deaths with IOTLB misses left pending (vIOMMU), each one
	 * followed by a frontend that must get traffic going. */
	bool deaf;
	int cycles_div;		/* FAULT_KILL_CYCLES divided by this */
};

/* Idle, frontend running, killed and not yet reaped, library tearing
 * down. */
enum lane_state { LANE_IDLE, LANE_RUNNING, LANE_DYING, LANE_CLEANUP };

/* Where and when to kill. */
enum plan_kind {
	PLAN_STOP,	/* the frontend parks at a handshake state */
	PLAN_RACE,	/* a moment into the handshake, no parking */
	PLAN_TRAFFIC,	/* after some packets, with the datapath in a burst */
	PLAN_NB
};

struct plan {
	enum plan_kind kind;
	int stop;		/* PLAN_STOP: enum fault_stop */
	int delay_us;		/* PLAN_RACE: after connecting */
	uint32_t g2h_target;	/* PLAN_TRAFFIC: after this many packets */
	unsigned int deaf_after;	/* FAULT_STOP_MISSES: traffic steps */
};

struct lane {
	struct fault_port *port;
	struct fault_child child;
	int listen_fd;		/* client mode: the frontends' socket */
	const struct kill_mode *mode;
	bool after_deaf;	/* the last frontend died deaf to misses */
	enum lane_state state;
	uint32_t cycle;
	int conn_base;		/* destroy_connection before the cycle */
	int dev_base;		/* new_device before the cycle */
	int dev_packed;		/* packed_devices before the cycle */
	struct plan plan;
	int64_t reached_us;
	int64_t killed_us;	/* SIGKILL sent */
	int64_t gone_ms;	/* reaped: its fds closed */
	int64_t started_ms;
	int64_t deadline_ms;
	bool mid_burst;
};

struct totals {
	int cycles;
	int plans[PLAN_NB];
	int stops[FAULT_STOP_NB];	/* kills at each parking state */
	int killed_in[FAULT_PH_NB];	/* phase the frontend died in */
	int mid_burst;			/* traffic kills inside a burst */
	int devices;
	uint64_t g2h_sent, g2h_received, g2h_lost;
	uint64_t h2g_sent, h2g_got, h2g_lost;
	uint64_t held, h2g_dropped;	/* IOMMU: of those lost */
	int failures;
	int64_t max_cycle_ms;
	int64_t max_teardown_ms;	/* from its exit to the last callback */
	unsigned int max_gap_us;	/* a frontend's longest pause */
	unsigned int max_wait_us;	/* longest a miss could wait for
					 * its frontend (kill_audit) */
	int slow;			/* cycles with miss timeouts */
	uint64_t g2h_dropped;		/* IOMMU: after miss timeouts */
	int64_t max_loop_ms;		/* the test's own longest round */
	/* Its longest steps: lay out and fork, [1] SIGKILL to reaped
	 * (not a step of the loop: other lanes go on meanwhile), audit,
	 * release (a long round shows which). */
	int64_t max_step_ms[4];
	uint64_t slot_ops;		/* ADD/REM_MEM_REG acknowledged */
	int deaf_held;			/* deaf deaths, packets held */
	int deaf_late;			/* deaf, killed after the wait */
	/* Teardowns of frontends killed in the middle of a message. */
	int64_t half_ms[MAX_HALF];
	int nhalf;
	uint32_t rng;			/* the plans' choices */
};

/* Counts a failure of lane l's cycle and prints the first few. */
void kill_failure(struct totals *t, const struct lane *l, const char *what);

/* When a run may stop short of its cycles. */
struct kill_budget {
	int64_t ms;		/* from the run's start; 0: never */
	int min_cycles;		/* done at least, whatever the time */
};

/* Runs cycles cycles on n lanes at once, or fewer as budget allows
 * (NULL: all of them) (kill_cycles.c). */
void kill_run_cycles(struct lane *lanes, int n, int cycles,
		const struct kill_budget *budget, struct totals *t);

/* True once t has reached every kill point mode's checks assert. */
bool kill_points_reached(const struct kill_mode *mode,
		const struct totals *t);

/* The checks after one death (kill_audit.c). */
void kill_audit(struct lane *l, struct totals *t);

/* The tests (kill_modes.c, kill_boundary.c). The suites of kill runs,
 * one per group of modes, each a test program run of its own. */
extern CU_TestInfo kill_split_tests[], kill_packed_tests[],
	kill_iommu_tests[], kill_packed_iommu_tests[], kill_slots_tests[],
	kill_packed_slots_tests[];
void test_kill_then_unregister(void);
void test_kill_client_backlog_full(void);
void test_kill_stuck_half_message(void);

#endif /* KILL_H */
