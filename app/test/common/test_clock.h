/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef TEST_CLOCK_H
#define TEST_CLOCK_H

/* The monotonic clock in milliseconds and microseconds, for deadlines
 * and durations in tests (header-only: the fuzz targets use it too). */

#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline uint64_t
test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline int64_t
test_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Milliseconds the calling thread has waited for a CPU so far (its
 * run queue time, /proc/thread-self/schedstat), rounded up; -1 if the
 * kernel does not tell. A bound on how long a call takes can leave out
 * what a loaded machine adds this way. */
static inline int64_t
test_thread_cpu_wait_ms(void)
{
	unsigned long long run_ns, wait_ns;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");
	int n;

	if (f == NULL)
		return -1;
	n = fscanf(f, "%llu %llu", &run_ns, &wait_ns);
	fclose(f);
	return n == 2 ? (int64_t)((wait_ns + 999999) / 1000000) : -1;
}

#endif /* TEST_CLOCK_H */
