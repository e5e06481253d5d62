/* SPDX-License-Identifier: BSD-3-Clause */

/* VHOST_WRITE_TRACE: the backend's guest writes, for debugging
 * migration (see write_trace.h). */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "vhost_log.h"
#include "write_trace.h"

bool vhost_write_trace_on;
static FILE *trace_file;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

RTE_INIT(vhost_write_trace_init)
{
	const char *path = getenv("VHOST_WRITE_TRACE");

	if (path == NULL || *path == '\0')
		return;
	trace_file = fopen(path, "a");
	if (trace_file == NULL)
		return;
	/* Line buffered: the file is read while the process runs. */
	setvbuf(trace_file, NULL, _IOLBF, 0);
	vhost_write_trace_on = true;
}

void
vhost_write_trace_record(const struct vhost_virtqueue *vq, uint64_t gpa,
			 uint64_t len, bool logged, const char *what)
{
	/* stdio locks the stream: lines of several threads do not mix. */
	fprintf(trace_file, "%" PRIu64 " W %" PRIx64 " %" PRIu64 " %d %s %u\n",
		now_ns(), gpa, len, logged, what, vq->index);
}

void
vhost_write_trace_msg(const char *name, uint64_t arg)
{
	if (unlikely(vhost_write_trace_on))
		fprintf(trace_file, "%" PRIu64 " M %s 0x%" PRIx64 "\n", now_ns(),
			name, arg);
}
