/* SPDX-License-Identifier: MIT */
/*
 * A fixed xorshift64 stream for the unit tests, so that a failure is
 * reproducible: each test file that includes it has a stream of its own.
 */
#ifndef HUBFS_TESTS_RNG_H
#define HUBFS_TESTS_RNG_H

#include <stddef.h>
#include <stdint.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static inline void rng_seed(uint64_t seed)
{
	rng_state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static inline uint64_t rng_next(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static inline void rng_fill(void *out, size_t len)
{
	unsigned char *p = out;

	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(rng_next() >> 56);
}

#endif /* HUBFS_TESTS_RNG_H */
