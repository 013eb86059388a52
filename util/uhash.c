/* SPDX-License-Identifier: MIT */
#include "util/uhash.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "util/digest.h"

#define P ((UINT64_C(1) << 61) - 1)

/* Products of a 32-bit word and a key below 2^61 are below 2^93: 2^34 of them fit. */
__extension__ typedef unsigned __int128 u128;

/* @x mod p, for any @x below 2^128. */
static uint64_t reduce(u128 x)
{
	uint64_t s = ((uint64_t)x & P) + ((uint64_t)(x >> 61) & P) + (uint64_t)(x >> 122);

	s = (s & P) + (s >> 61);
	return s >= P ? s - P : s;
}

int uhash_key_init(struct uhash_key *k, const uint8_t secret[UHASH_SECRET])
{
	static const char label[] = "hubfs block stamp key";
	uint8_t in[UHASH_SECRET + sizeof(label) + 4], out[32];
	uint64_t *keys = k->word;
	const uint32_t n = UHASH_SPAN / 4 + UHASH_SPANS;
	_Static_assert(sizeof(struct uhash_key) == (UHASH_SPAN / 4 + UHASH_SPANS) * 8,
		       "the word and span keys lie in a row");

	memcpy(in, secret, UHASH_SECRET);
	memcpy(in + UHASH_SECRET, label, sizeof(label));
	/* Four keys from each sha256 of (secret, label, counter). */
	for (uint32_t i = 0; i < n; i += 4) {
		uint32_t ctr = htole32(i / 4);

		memcpy(in + UHASH_SECRET + sizeof(label), &ctr, 4);
		if (digest_sha256_raw(in, sizeof(in), out) < 0)
			return -EIO;
		for (uint32_t j = 0; j < 4 && i + j < n; j++) {
			uint64_t v;

			memcpy(&v, out + 8 * j, 8);
			v = le64toh(v) & P;
			keys[i + j] = v == P ? 0 : v;
		}
	}
	return 0;
}

static uint32_t word_at(const uint8_t *p)
{
	uint32_t w;

	memcpy(&w, p, 4);
	return le32toh(w);
}

uint64_t uhash_span_add(const struct uhash_key *k, uint64_t sum, uint32_t off,
			const void *data, size_t len)
{
	const uint8_t *p = data;
	u128 a0 = sum, a1 = 0, a2 = 0, a3 = 0;
	uint32_t at, end;

	/* Never a key past the span's (the callers keep to it; this keeps memory safe). */
	if (off > UHASH_SPAN)
		off = UHASH_SPAN;
	if (len > UHASH_SPAN - off)
		len = UHASH_SPAN - off;
	at = off;
	end = off + (uint32_t)len;

	/* Bytes before a word boundary: each in its lane of its word. */
	for (; at < end && at % 4; at++, p++)
		a0 += (u128)((uint64_t)*p << (8 * (at % 4))) * k->word[at / 4];
	/* Whole words, four lanes at once: the multiplies overlap. */
	for (; end - at >= 16; at += 16, p += 16) {
		const uint64_t *kw = &k->word[at / 4];

		a0 += (u128)word_at(p) * kw[0];
		a1 += (u128)word_at(p + 4) * kw[1];
		a2 += (u128)word_at(p + 8) * kw[2];
		a3 += (u128)word_at(p + 12) * kw[3];
	}
	for (; end - at >= 4; at += 4, p += 4)
		a0 += (u128)word_at(p) * k->word[at / 4];
	for (; at < end; at++, p++)
		a0 += (u128)((uint64_t)*p << (8 * (at % 4))) * k->word[at / 4];
	return reduce((u128)reduce(a0) + reduce(a1) + reduce(a2) + reduce(a3));
}

uint64_t uhash_combine(const struct uhash_key *k, const uint64_t *span_sums, uint32_t n)
{
	u128 a = 0;

	for (uint32_t j = 0; j < n && j < UHASH_SPANS; j++)
		a += reduce((u128)span_sums[j] * k->span[j]);
	return reduce(a);
}
