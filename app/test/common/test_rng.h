/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef TEST_RNG_H
#define TEST_RNG_H

/*
 * splitmix64: small, and the same sequence everywhere for a seed, so a
 * failing randomized test can be replayed from the seed it prints.
 * Header-only, so that programs built outside meson (run_tsan.sh) use
 * the same code.
 */

#include <stdint.h>

/* The next number of the sequence whose state is *s. */
static inline uint64_t
test_splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

#endif /* TEST_RNG_H */
