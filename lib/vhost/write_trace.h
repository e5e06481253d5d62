/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VHOST_WRITE_TRACE_H
#define VHOST_WRITE_TRACE_H

/* Debug trace of every guest memory write the backend makes, for
 * live-migration investigations: with VHOST_WRITE_TRACE=<file> in the
 * environment, each write is recorded with its guest physical address,
 * its length and whether it went into the dirty log, next to the
 * control messages that change logging or stop rings. Off (one
 * predictable branch per write) unless the variable is set.
 *
 * File lines:
 *   <ns> W <gpa hex> <len> <logged 0|1> <what> <vring>
 *   <ns> M <message name> <argument>
 * ns is CLOCK_MONOTONIC, comparable across the process's threads.
 * Used-ring writes are placed at the ring's logging address; with a
 * vIOMMU it is known only once the frontend asked for the ring to be
 * logged (before, gpa is the offset in the ring). Packed rings' used
 * descriptors and device event area are "used-ring" writes too, at
 * their guest physical addresses. */

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>

#include "vhost_device_types.h"

extern bool vhost_write_trace_on;

void vhost_write_trace_record(const struct vhost_virtqueue *vq, uint64_t gpa,
			      uint64_t len, bool logged, const char *what);
void vhost_write_trace_msg(const char *name, uint64_t arg);

static __rte_always_inline void
vhost_write_trace(const struct vhost_virtqueue *vq, uint64_t gpa,
		  uint64_t len, bool logged, const char *what)
{
	if (unlikely(vhost_write_trace_on))
		vhost_write_trace_record(vq, gpa, len, logged, what);
}

#endif /* VHOST_WRITE_TRACE_H */
