/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The kill cycles: per lane a small state machine (idle, frontend
 * running, killed and exiting, library tearing down), all lanes advanced
 * by one loop so that deaths overlap; no step waits for another lane. See kill.h and test_fault_kill.c.
 */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <rte_vhost.h>

#include "fault_env.h"
#include "fe_harness.h"
#include "fe_traffic.h"
#include "fm_conn.h"
#include "kill.h"

void
kill_failure(struct totals *t, const struct lane *l, const char *what)
{
	if (t->failures++ < MAX_REPORTS)
		fe_fail("lane %d cycle %u (kill %s%s): %s", l->port->index,
				l->cycle, l->plan.kind == PLAN_STOP ? "at " :
				l->plan.kind == PLAN_RACE ? "in handshake" :
				"in traffic", l->plan.kind == PLAN_STOP ?
				fault_stop_name(l->plan.stop) : "", what);
}

static void
make_plan(struct lane *l, struct totals *t)
{
	struct plan *p = &l->plan;
	uint32_t r = fault_rand(&t->rng) % 100;

	memset(p, 0, sizeof(*p));
	/* After a frontend that died deaf, the next one must move
	 * packets; three deaths in four deaf, in a deaf mode. */
	if (l->after_deaf) {
		r = 99;
	} else if (l->mode->deaf && r < 75) {
		p->kind = PLAN_STOP;
		p->stop = FAULT_STOP_MISSES;
		p->deaf_after = 1 + fault_rand(&t->rng) % 40;
		return;
	}
	/* Half the deaths during traffic; the rest at every handshake
	 * state, or at a random moment of it (a handshake lasts a few
	 * hundred microseconds). */
	if (r < 40) {
		p->kind = PLAN_STOP;
		p->stop = 1 + (int)(fault_rand(&t->rng) %
				(FAULT_STOP_HANDSHAKE_NB - 1));
	} else if (r < 50) {
		p->kind = PLAN_RACE;
		p->delay_us = (int)(fault_rand(&t->rng) % 400);
	} else {
		p->kind = PLAN_TRAFFIC;
		p->g2h_target = 1 + fault_rand(&t->rng) % 200;
	}
}

static void
note_step(struct totals *t, int kind, int64_t since_us)
{
	int64_t ms = (test_now_us() - since_us) / 1000;

	if (ms > t->max_step_ms[kind])
		t->max_step_ms[kind] = ms;
}

/* Returns false if the cycle could not even start (counted failed). */
static bool
start_cycle(struct lane *l, uint32_t n, struct totals *t)
{
	/* Whose packets: lane and cycle, so a stale one is recognised. */
	struct fault_child_plan cp = {
		.stream = ((uint32_t)(l->port->index + 1) << 20) | n,
		.mergeable = n % 2 == 0,
		.iommu = l->mode->iommu,
		.slots = l->mode->slots,
		.packed = l->mode->packed,
	};

	int64_t t0 = test_now_us();

	l->cycle = n;
	make_plan(l, t);
	cp.stop = l->plan.kind == PLAN_STOP ? l->plan.stop : FAULT_STOP_NONE;
	cp.deaf_after = l->plan.deaf_after;
	if (fault_child_prepare(&l->child, l->port->path, l->listen_fd,
			&cp) < 0) {
		kill_failure(t, l, "cannot lay out the guest");
		fault_child_release(&l->child);
		return false;
	}
	fault_port_reset_traffic(l->port, cp.stream);
	l->conn_base = atomic_load(&l->port->ev.destroy_connection);
	l->dev_base = atomic_load(&l->port->ev.new_device);
	l->dev_packed = atomic_load(&l->port->packed_devices);
	l->reached_us = 0;
	l->started_ms = fm_now_ms();
	l->deadline_ms = l->started_ms + CYCLE_TIMEOUT_MS;
	if (fault_child_spawn(&l->child) < 0) {
		kill_failure(t, l, "fork failed");
		fault_child_release(&l->child);
		return false;
	}
	note_step(t, 0, t0);
	l->state = LANE_RUNNING;
	return true;
}

/* A deaf frontend's device has a miss pending and packets held for the
 * guest (taken by enqueue, neither written nor dropped yet). */
static bool
misses_held(const struct lane *l)
{
	struct fault_port *p = l->port;
	int vid = atomic_load(&p->ev.vid);
	uint32_t h2g = atomic_load(&p->h2g_sent);
	int64_t good = fe_vring_stat(vid, 0, "_good_packets");
	int64_t drop = fe_vring_stat(vid, 0, "_dropped_packets");

	return fe_vring_stat(vid, 0, "_iotlb_pending") > 0 && good >= 0 &&
		drop >= 0 && h2g > (uint64_t)(good + drop);
}

/* True once it is time to kill. */
static bool
kill_due(struct lane *l)
{
	struct fault_port *p = l->port;
	struct fault_child_shared *sh = l->child.sh;
	int64_t t0;

	switch (l->plan.kind) {
	case PLAN_STOP:
		if (atomic_load(&sh->parked) != l->plan.stop)
			return false;
		return l->plan.stop != FAULT_STOP_MISSES || misses_held(l) ||
			test_now_us() - atomic_load(&sh->deaf_since_us) >=
			DEAF_WAIT_US;
	case PLAN_RACE:
		if (atomic_load(&sh->st.phase) < FAULT_PH_CONNECTED)
			return false;
		if (l->reached_us == 0)
			l->reached_us = test_now_us();
		return test_now_us() - l->reached_us >= l->plan.delay_us;
	default:
		if (atomic_load(&p->g2h_received) < l->plan.g2h_target)
			return false;
		/* Catch the datapath inside a burst on this very device,
		 * with packets of the frontend still in the ring. */
		t0 = test_now_us();
		while (!(atomic_load(&p->in_burst) &&
				fault_child_g2h_published(&l->child) !=
				fault_child_used(&l->child, 1)) &&
				test_now_us() - t0 < MID_BURST_SPIN_US)
			;
		return true;
	}
}

/* The frontend is gone (its fds closed): the library's turn. */
static void
to_cleanup(struct lane *l)
{
	l->gone_ms = fm_now_ms();
	l->deadline_ms = l->gone_ms + FE_EVENT_MS;
	l->state = LANE_CLEANUP;
}

static void
running_step(struct lane *l, struct totals *t)
{
	struct fault_child_shared *sh = l->child.sh;
	int status;

	if (fault_child_ended(&l->child, &status)) {
		char why[128];

		snprintf(why, sizeof(why), "frontend gave up in %s: %s (%d)",
				fault_phase_name(atomic_load(&sh->failed_phase)),
				fm_result_name(atomic_load(&sh->failed_result)),
				atomic_load(&sh->failed_result));
		kill_failure(t, l, why);
		to_cleanup(l);
		return;
	}
	/* Stuck only if its kill point is still not reached: this loop
	 * may itself not have come round for a while. */
	if (!kill_due(l)) {
		if (fm_now_ms() < l->deadline_ms)
			return;
		kill_failure(t, l, "stuck before its kill point");
	}
	l->mid_burst = atomic_load(&l->port->in_burst);
	l->killed_us = test_now_us();
	/* Reaped in dying_step: on a busy machine the kernel may take
	 * seconds to tear a process down, and the other lanes go on
	 * meanwhile. */
	kill(l->child.pid, SIGKILL);
	l->deadline_ms = fm_now_ms() + EXIT_TIMEOUT_MS;
	l->state = LANE_DYING;
}

/* Killed: wait for it to be gone, its sockets closed. */
static void
dying_step(struct lane *l, struct totals *t)
{
	int status;

	if (!fault_child_ended(&l->child, &status)) {
		if (fm_now_ms() < l->deadline_ms)
			return;
		kill_failure(t, l, "frontend did not exit after SIGKILL");
		status = fault_child_kill(&l->child);
	}
	note_step(t, 1, l->killed_us);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		kill_failure(t, l, "frontend did not die of SIGKILL");
	to_cleanup(l);
}

/* True when the cycle is over. */
static bool
cleanup_step(struct lane *l, struct totals *t)
{
	struct fault_port *p = l->port;
	bool connected = atomic_load(&l->child.sh->st.phase) >=
		FAULT_PH_CONNECTED;
	int want = l->conn_base + (connected ? 1 : 0);
	bool quiet = atomic_load(&p->ev.destroy_connection) >= want &&
		atomic_load(&p->ev.new_device) == atomic_load(&p->ev.destroy_device);
	int64_t ms, t0;

	if (!quiet && fm_now_ms() < l->deadline_ms)
		return false;
	t0 = test_now_us();
	if (!quiet)
		kill_failure(t, l, "the library did not tear the connection down");
	else
		kill_audit(l, t);
	note_step(t, 2, t0);
	/* A dead peer is seen at once, even in the middle of a message
	 * (not after VHOST_MSG_TIMEOUT_MS). */
	ms = fm_now_ms() - l->gone_ms;
	if (ms > t->max_teardown_ms)
		t->max_teardown_ms = ms;
	if (l->plan.kind == PLAN_STOP &&
			l->plan.stop == FAULT_STOP_HALF_MESSAGE &&
			t->nhalf < MAX_HALF)
		t->half_ms[t->nhalf++] = ms;
	t0 = test_now_us();
	fault_child_release(&l->child);
	note_step(t, 3, t0);
	l->after_deaf = l->plan.kind == PLAN_STOP &&
		l->plan.stop == FAULT_STOP_MISSES;
	ms = fm_now_ms() - l->started_ms;
	if (ms > t->max_cycle_ms)
		t->max_cycle_ms = ms;
	t->cycles++;
	l->state = LANE_IDLE;
	return true;
}

bool
kill_points_reached(const struct kill_mode *mode, const struct totals *t)
{
	int i;

	if (t->plans[PLAN_TRAFFIC] == 0 || t->mid_burst == 0 ||
			t->g2h_received == 0 || t->h2g_got == 0)
		return false;
	if (mode->slots && t->slot_ops <= (uint64_t)t->cycles)
		return false;
	if (mode->deaf)
		return t->held > 0 && t->stops[FAULT_STOP_MISSES] > 0 &&
			t->deaf_held * 2 > t->stops[FAULT_STOP_MISSES];
	for (i = 1; i < FAULT_STOP_HANDSHAKE_NB; i++)
		if (t->stops[i] == 0)
			return false;
	return t->plans[PLAN_RACE] > 0 && t->nhalf > 0;
}

void
kill_run_cycles(struct lane *lanes, int n, int cycles,
		const struct kill_budget *budget, struct totals *t)
{
	int started = 0, finished = 0, i;
	int64_t start = fm_now_ms(), last = start;

	while (finished < cycles) {
		bool precise = false;
		int64_t now = fm_now_ms();

		/* A long round of this loop delays every kill and every
		 * teardown it measures. */
		if (now - last > t->max_loop_ms)
			t->max_loop_ms = now - last;
		last = now;
		/* Out of time: finish the cycles under way, start no more. */
		if (budget != NULL && budget->ms > 0 && started < cycles &&
				now - start >= budget->ms &&
				t->cycles >= budget->min_cycles &&
				kill_points_reached(lanes[0].mode, t))
			cycles = started;

		for (i = 0; i < n; i++) {
			struct lane *l = &lanes[i];

			if (l->state == LANE_IDLE && started < cycles)
				finished += !start_cycle(l, (uint32_t)started++,
						t);
			else if (l->state == LANE_RUNNING)
				running_step(l, t);
			else if (l->state == LANE_DYING)
				dying_step(l, t);
			else if (l->state == LANE_CLEANUP)
				finished += cleanup_step(l, t);
			precise |= l->state == LANE_RUNNING &&
				l->plan.kind == PLAN_RACE;
		}
		/* A handshake step lasts tens of microseconds: a sleep
		 * would miss it. */
		if (precise)
			sched_yield();
		else
			usleep(20);
	}
}
