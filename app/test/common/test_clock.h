/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef TEST_CLOCK_H
#define TEST_CLOCK_H

/* Milliseconds of the monotonic clock, for deadlines in tests
 * (header-only: the fuzz targets use it too). */

#include <stdint.h>
#include <time.h>

static inline uint64_t
test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif /* TEST_CLOCK_H */
