/* SPDX-License-Identifier: BSD-3-Clause */

/* The process-wide half of the ring gate (vq_gate.h): membarrier(), and
 * the control path's back-off while it waits. */

#include <errno.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>

#include "vhost_log.h"
#include "vq_gate.h"

bool vhost_gate_burst_fence = true;

static int
membarrier(int cmd)
{
	return (int)syscall(__NR_membarrier, cmd, 0, 0);
}

/* The expedited private barrier needs a registration of the process; if
 * the kernel or a seccomp filter refuses it, bursts fence instead. */
RTE_INIT(vhost_gate_setup)
{
	int cmds = membarrier(MEMBARRIER_CMD_QUERY);

	if (cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	    membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0)
		vhost_gate_burst_fence = false;
}

void
vhost_gate_sync(void)
{
	if (vhost_gate_burst_fence) {
		/* Bursts fence themselves: a fence here pairs with theirs. */
		rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
		return;
	}
	while (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
		if (errno == EINTR)
			continue;
		/* Registered at load, so this cannot fail; if it does,
		 * nothing else is safe: say so and stop. */
		VHOST_LOG(CRIT, "membarrier failed: %s", strerror(errno));
		rte_panic("vhost: membarrier failed\n");
	}
}

void
vhost_backoff_pause(struct vhost_backoff *b)
{
	uint64_t now = rte_get_timer_cycles();
	struct timespec ts;

	if (b->start == 0)
		b->start = now;
	if (b->sleep_us == 0 && now - b->start <
			rte_get_timer_hz() / 1000000 * VHOST_BACKOFF_SPIN_US) {
		rte_pause();
		return;
	}
	b->sleep_us = b->sleep_us == 0 ? VHOST_BACKOFF_SLEEP_MIN_US :
		RTE_MIN(b->sleep_us * 2, (uint32_t)VHOST_BACKOFF_SLEEP_MAX_US);
	ts.tv_sec = 0;
	ts.tv_nsec = (long)b->sleep_us * 1000;
	/* Interrupted: the caller looks again and comes back if need be. */
	nanosleep(&ts, NULL);
}
