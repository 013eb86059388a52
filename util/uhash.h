/* SPDX-License-Identifier: MIT */
/*
 * A keyed universal hash of byte strings, for a cache block's content
 * stamp: two different strings of one length get the same sum with
 * probability at most 2^-63 for a key the sender of the bytes does not
 * know, whatever the two strings are (a collision of each level, 2^-64). A CRC gives no such bound: anyone
 * can change bytes and keep it.
 *
 * The arithmetic is in GF(2^64) (carry-less products reduced modulo
 * x^64 + x^4 + x^3 + x + 1). A string is cut into spans of UHASH_SPAN
 * bytes (a cache chunk). A span's sum is the sum of w[i] * k[i] over its
 * little-endian 64-bit words (the last one padded with zeros), each word
 * position with a key of its own; a string's is the sum of s[j] * c[j]
 * over its spans' sums s[j], each span position with a key of its own.
 * Both are linear, so a span's bytes may be added in pieces of any
 * length, in any order (uhash_span_add()). With the CPU's carry-less
 * multiply (x86 PCLMULQDQ) 40-49 GB/s from cache on AVX-512; a bit at a time
 * elsewhere, the same sums far slower.
 *
 * Ownership: struct uhash_key is plain memory (64.5 KiB), read-only after
 * uhash_key_init(), shared by any number of threads.
 */
#ifndef HUBFS_UTIL_UHASH_H
#define HUBFS_UTIL_UHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UHASH_SPAN (64u << 10) /* bytes a span's word keys cover */
#define UHASH_SPANS 64u        /* spans a string may have */
#define UHASH_SECRET 32        /* bytes of secret a key is made from */

struct uhash_key {
	uint64_t word[UHASH_SPAN / 8];
	uint64_t span[UHASH_SPANS];
	uint64_t id; /* names the key (never 0), not a part of it: sha256 of the secret, labelled apart */
	/* The CPU multiplies carry-less, 2 / 8 at once (set by uhash_key_init(); tests clear them). */
	bool clmul, clmul512;
};

/*
 * The key that @secret stands for: every key word is taken from a
 * sha256 of the secret and the word's number. 0, or -EIO (OpenSSL).
 */
int uhash_key_init(struct uhash_key *k, const uint8_t secret[UHASH_SECRET]);

/*
 * @sum (a span's sum so far; 0 to start) with the @len bytes at @p added
 * as the span's bytes [@off, @off + @len), which must lie in the span.
 */
uint64_t uhash_span_add(const struct uhash_key *k, uint64_t sum, uint32_t off,
			const void *p, size_t len);

/* The string's sum from its @n span sums (@n <= UHASH_SPANS). */
uint64_t uhash_combine(const struct uhash_key *k, const uint64_t *span_sums, uint32_t n);

#endif /* HUBFS_UTIL_UHASH_H */
