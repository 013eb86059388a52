/* SPDX-License-Identifier: MIT */
#include "util/uhash.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86_CLMUL 1
#endif

#include "util/digest.h"

int uhash_key_init(struct uhash_key *k, const uint8_t secret[UHASH_SECRET])
{
	static const char label[] = "hubfs block stamp key";
	uint8_t in[UHASH_SECRET + sizeof(label) + 4], out[32];
	const uint32_t n_word = UHASH_SPAN / 8, n = n_word + UHASH_SPANS;

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
			if (i + j < n_word)
				k->word[i + j] = le64toh(v);
			else
				k->span[i + j - n_word] = le64toh(v);
		}
	}
	{
		static const char id_label[] = "hubfs block stamp key id";
		uint8_t id_in[UHASH_SECRET + sizeof(id_label)];

		memcpy(id_in, secret, UHASH_SECRET);
		memcpy(id_in + UHASH_SECRET, id_label, sizeof(id_label));
		if (digest_sha256_raw(id_in, sizeof(id_in), out) < 0)
			return -EIO;
		memcpy(&k->id, out, 8);
		k->id = le64toh(k->id) ? le64toh(k->id) : 1;
	}
#ifdef HAVE_X86_CLMUL
	k->clmul = __builtin_cpu_supports("pclmul");
	k->clmul512 = k->clmul && __builtin_cpu_supports("avx512f") &&
		      __builtin_cpu_supports("vpclmulqdq");
#else
	k->clmul = k->clmul512 = false;
#endif
	return 0;
}

/* hi * x^64 + lo, modulo x^64 + x^4 + x^3 + x + 1. */
static uint64_t reduce(uint64_t hi, uint64_t lo)
{
	/* x^64 = x^4 + x^3 + x + 1: hi times that, and what spills past bit 63 once more. */
	uint64_t over = hi >> 63 ^ hi >> 61 ^ hi >> 60;

	lo ^= hi ^ hi << 1 ^ hi << 3 ^ hi << 4;
	return lo ^ over ^ over << 1 ^ over << 3 ^ over << 4;
}

/* *@hi:*@lo += @a * @b, carry-less, a bit at a time: the definition. */
static void clmul_soft(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
	for (int i = 0; i < 64; i++) {
		if (b >> i & 1) {
			*lo ^= a << i;
			if (i)
				*hi ^= a >> (64 - i);
		}
	}
}

static uint64_t word_at(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return le64toh(w);
}

#ifdef HAVE_X86_CLMUL
/* The words of [@at, @end) (8-aligned, whole words) at @p, summed with PCLMULQDQ. */
__attribute__((target("pclmul,sse2"))) static void
words_clmul(const struct uhash_key *k, uint32_t at, uint32_t end, const uint8_t *p,
	    uint64_t *hi, uint64_t *lo)
{
	__m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;

	/* Four products at once: their latencies overlap. Little-endian lanes, as defined. */
	for (; end - at >= 32; at += 32, p += 32) {
		const uint64_t *kw = &k->word[at / 8];
		__m128i m01 = _mm_loadu_si128((const __m128i *)p);
		__m128i m23 = _mm_loadu_si128((const __m128i *)(p + 16));
		__m128i k01 = _mm_loadu_si128((const __m128i *)kw);
		__m128i k23 = _mm_loadu_si128((const __m128i *)(kw + 2));

		a0 = _mm_xor_si128(a0, _mm_clmulepi64_si128(m01, k01, 0x00));
		a1 = _mm_xor_si128(a1, _mm_clmulepi64_si128(m01, k01, 0x11));
		a2 = _mm_xor_si128(a2, _mm_clmulepi64_si128(m23, k23, 0x00));
		a3 = _mm_xor_si128(a3, _mm_clmulepi64_si128(m23, k23, 0x11));
	}
	for (; at < end; at += 8, p += 8) {
		__m128i m = _mm_cvtsi64_si128((long long)word_at(p));
		__m128i kk = _mm_cvtsi64_si128((long long)k->word[at / 8]);

		a0 = _mm_xor_si128(a0, _mm_clmulepi64_si128(m, kk, 0x00));
	}
	a0 = _mm_xor_si128(_mm_xor_si128(a0, a1), _mm_xor_si128(a2, a3));
	*lo ^= (uint64_t)_mm_cvtsi128_si64(a0);
	*hi ^= (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(a0, a0));
}

/* The same, 64 bytes at a time with VPCLMULQDQ on 512-bit registers (8 products an instruction pair). */
__attribute__((target("avx512f,vpclmulqdq"))) static void
words_clmul512(const struct uhash_key *k, uint32_t at, uint32_t end, const uint8_t *p,
	       uint64_t *hi, uint64_t *lo)
{
	__m512i a0 = _mm512_setzero_si512(), a1 = a0;
	__m128i sum;
	uint32_t whole = at + (end - at) / 64 * 64;

	for (; at < whole; at += 64, p += 64) {
		__m512i m = _mm512_loadu_si512((const void *)p);
		__m512i kk = _mm512_loadu_si512((const void *)&k->word[at / 8]);

		a0 = _mm512_xor_si512(a0, _mm512_clmulepi64_epi128(m, kk, 0x00));
		a1 = _mm512_xor_si512(a1, _mm512_clmulepi64_epi128(m, kk, 0x11));
	}
	a0 = _mm512_xor_si512(a0, a1);
	sum = _mm_xor_si128(_mm_xor_si128(_mm512_extracti32x4_epi32(a0, 0),
					  _mm512_extracti32x4_epi32(a0, 1)),
			    _mm_xor_si128(_mm512_extracti32x4_epi32(a0, 2),
					  _mm512_extracti32x4_epi32(a0, 3)));
	*lo ^= (uint64_t)_mm_cvtsi128_si64(sum);
	*hi ^= (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(sum, sum));
	if (at < end)
		words_clmul(k, at, end, p, hi, lo);
}
#endif

uint64_t uhash_span_add(const struct uhash_key *k, uint64_t sum, uint32_t off,
			const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t hi = 0, lo = sum;
	uint32_t at, end, words_end;

	/* Never a key past the span's (the callers keep to it; this keeps memory safe). */
	if (off > UHASH_SPAN)
		off = UHASH_SPAN;
	if (len > UHASH_SPAN - off)
		len = UHASH_SPAN - off;
	at = off;
	end = off + (uint32_t)len;
	/* Bytes before a word boundary, and after the last whole word: each in its lane. */
	for (; at < end && at % 8; at++, p++)
		clmul_soft((uint64_t)*p << (8 * (at % 8)), k->word[at / 8], &hi, &lo);
	words_end = at + (end - at) / 8 * 8;
#ifdef HAVE_X86_CLMUL
	if (k->clmul) {
		if (k->clmul512)
			words_clmul512(k, at, words_end, p, &hi, &lo);
		else
			words_clmul(k, at, words_end, p, &hi, &lo);
		p += words_end - at;
		at = words_end;
	}
#endif
	for (; at < words_end; at += 8, p += 8)
		clmul_soft(word_at(p), k->word[at / 8], &hi, &lo);
	for (; at < end; at++, p++)
		clmul_soft((uint64_t)*p << (8 * (at % 8)), k->word[at / 8], &hi, &lo);
	return reduce(hi, lo);
}

uint64_t uhash_combine(const struct uhash_key *k, const uint64_t *span_sums, uint32_t n)
{
	uint64_t hi = 0, lo = 0;

	for (uint32_t j = 0; j < n && j < UHASH_SPANS; j++)
		clmul_soft(span_sums[j], k->span[j], &hi, &lo);
	return reduce(hi, lo);
}
