/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/helpers/rng.h"
#include "util/crc32c.h"
#include "util/uhash.h"

static struct uhash_key *key_from(uint8_t fill)
{
	uint8_t secret[UHASH_SECRET];
	struct uhash_key *k = malloc(sizeof(*k));

	assert_non_null(k);
	memset(secret, fill, sizeof(secret));
	assert_int_equal(uhash_key_init(k, secret), 0);
	return k;
}

/*
 * The definition, straight: polynomials over GF(2) of degree < 64 as bit
 * masks, multiplied bit by bit, reduced bit by bit modulo
 * x^64 + x^4 + x^3 + x + 1: the oracle for both of the library's paths.
 */
static uint64_t gf_mul(uint64_t a, uint64_t b)
{
	uint64_t r = 0;

	for (int i = 0; i < 64; i++) {
		if (b >> i & 1)
			r ^= a;
		/* a *= x, reduced */
		a = a >> 63 ? (a << 1) ^ 0x1b : a << 1;
	}
	return r;
}

static uint64_t ref_span(const struct uhash_key *k, const uint8_t *p, size_t len)
{
	uint64_t sum = 0;

	for (size_t w = 0; w * 8 < len; w++) {
		uint64_t word = 0;

		for (size_t b = 0; b < 8 && w * 8 + b < len; b++)
			word |= (uint64_t)p[w * 8 + b] << (8 * b);
		sum ^= gf_mul(word, k->word[w]);
	}
	return sum;
}

static void test_keys_come_from_the_secret(void **state)
{
	struct uhash_key *a = key_from(1), *b = key_from(1), *c = key_from(2);
	size_t same = 0;

	(void)state;
	/* processes sharing a secret share the key */
	assert_memory_equal(a->word, b->word, sizeof(a->word));
	assert_memory_equal(a->span, b->span, sizeof(a->span));
	for (size_t i = 0; i < UHASH_SPAN / 8; i++)
		same += a->word[i] == c->word[i];
	assert_true(same < 4); /* another secret, other keys */
	assert_true(a->word[0] != a->word[1] && a->span[0] != a->span[1]);
	free(a);
	free(b);
	free(c);
}

static void test_span_sum_is_the_definition(void **state)
{
	struct uhash_key *k = key_from(7);
	uint8_t *data = malloc(UHASH_SPAN);
	static const size_t lens[] = { 0, 1, 3, 4, 5, 15, 16, 17, 31, 32, 33, 1000, 4093,
				       UHASH_SPAN - 8 };

	(void)state;
	assert_non_null(data);
	rng_fill(data, UHASH_SPAN);
	/* Every path: 8 carry-less products at once, 2, and bit by bit (as the CPU allows). */
	for (int path = 0; path < 3; path++) {
		k->clmul512 = k->clmul512 && path == 0;
		k->clmul = k->clmul && path < 2;
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			assert_true(uhash_span_add(k, 0, 0, data, lens[i]) ==
				    ref_span(k, data, lens[i]));
			/* unaligned starts too */
			assert_true(uhash_span_add(k, 0, 3, data + 3, lens[i] / 2) ==
				    (ref_span(k, data, 3 + lens[i] / 2) ^ ref_span(k, data, 3)));
		}
	}
	memset(data, 0xff, UHASH_SPAN);
	assert_true(uhash_span_add(k, 0, 0, data, UHASH_SPAN) == ref_span(k, data, UHASH_SPAN));
	free(data);
	free(k);
}

/* Pieces of any length, in any order, add up to the whole: the writer's chunks arrive so. */
static void test_pieces_in_any_order_make_the_same_sum(void **state)
{
	struct uhash_key *k = key_from(3);
	uint8_t *data = malloc(UHASH_SPAN);
	uint64_t whole;

	(void)state;
	assert_non_null(data);
	rng_fill(data, UHASH_SPAN);
	whole = uhash_span_add(k, 0, 0, data, UHASH_SPAN);
	for (int round = 0; round < 20; round++) {
		uint32_t cut[9], n = 0;
		uint64_t sum = 0;

		cut[n++] = 0;
		for (int i = 0; i < 7; i++)
			cut[n++] = (uint32_t)(rng_next() % UHASH_SPAN);
		cut[n++] = UHASH_SPAN;
		for (uint32_t i = 1; i < n; i++) /* sorted: pieces [cut[i-1], cut[i]) */
			for (uint32_t j = i; j > 0 && cut[j] < cut[j - 1]; j--) {
				uint32_t t = cut[j];

				cut[j] = cut[j - 1];
				cut[j - 1] = t;
			}
		for (uint32_t i = n - 1; i > 0; i--) /* last piece first */
			sum = uhash_span_add(k, sum, cut[i - 1], data + cut[i - 1],
					     cut[i] - cut[i - 1]);
		assert_true(sum == whole);
	}
	free(data);
	free(k);
}

/*
 * What a CRC cannot see, the sum does: a change that keeps the span's
 * CRC-32C (the CRC is affine, so adding any two messages' differences of
 * equal CRC change does), and any single byte changed.
 */
static void test_a_change_that_keeps_the_crc_changes_the_sum(void **state)
{
	struct uhash_key *k = key_from(9);
	uint8_t *a = malloc(UHASH_SPAN), *b = malloc(UHASH_SPAN);
	uint64_t sum_a;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	rng_fill(a, UHASH_SPAN);
	sum_a = uhash_span_add(k, 0, 0, a, UHASH_SPAN);
	/*
	 * The CRC's change is linear in the bits changed, and a change that is
	 * the generator polynomial times any power of x leaves it as it was.
	 * In the reflected CRC-32C the first bit on the wire (bit 0 of byte 0)
	 * is the highest power: bit @t after @at carries x^(32 - t) of it.
	 */
	memcpy(b, a, UHASH_SPAN);
	for (int t = 0; t <= 32; t++) {
		uint32_t pos = 1000 * 8 + (uint32_t)t;

		if (UINT64_C(0x11edc6f41) >> (32 - t) & 1)
			b[pos / 8] ^= (uint8_t)(1u << (pos % 8));
	}
	assert_int_not_equal(memcmp(a, b, UHASH_SPAN), 0);
	assert_int_equal(crc32c(0, a, UHASH_SPAN), crc32c(0, b, UHASH_SPAN));
	assert_true(uhash_span_add(k, 0, 0, b, UHASH_SPAN) != sum_a);
	for (int i = 0; i < 200; i++) {
		uint32_t at = (uint32_t)(rng_next() % UHASH_SPAN);

		memcpy(b, a, UHASH_SPAN);
		b[at] ^= (uint8_t)(1 + rng_next() % 255);
		assert_true(uhash_span_add(k, 0, 0, b, UHASH_SPAN) != sum_a);
	}
	free(a);
	free(b);
	free(k);
}

/* Spans keep their places: two swapped spans are another string. */
static void test_spans_keep_their_places(void **state)
{
	struct uhash_key *k = key_from(5);
	uint64_t sums[4] = { 11, 22, 33, 44 }, swapped[4] = { 22, 11, 33, 44 };

	(void)state;
	assert_true(uhash_combine(k, sums, 4) != uhash_combine(k, swapped, 4));
	assert_true(uhash_combine(k, sums, 4) == (gf_mul(11, k->span[0]) ^ gf_mul(22, k->span[1]) ^
						  gf_mul(33, k->span[2]) ^ gf_mul(44, k->span[3])));
	assert_true(uhash_combine(k, sums, 3) != uhash_combine(k, sums, 4));
	free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_come_from_the_secret),
		cmocka_unit_test(test_span_sum_is_the_definition),
		cmocka_unit_test(test_pieces_in_any_order_make_the_same_sum),
		cmocka_unit_test(test_a_change_that_keeps_the_crc_changes_the_sum),
		cmocka_unit_test(test_spans_keep_their_places),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
