/* SPDX-License-Identifier: BSD-3-Clause */

/* The process-wide half of the ring gate (vq_gate.h): membarrier(). */

#include <errno.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <rte_common.h>

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
