/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/helpers/rng.h"
#include "util/crc32c.h"

/*
 * The plain bit-at-a-time CRC-32C, straight from the definition: the
 * oracle both of the library's paths (SSE4.2 and tables) must match.
 */
static uint32_t ref_crc32c(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static void test_check_value(void **state)
{
	(void)state;
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(ref_crc32c(0, "123456789", 9), 0xe3069283u);
	/* Other common vectors. */
	assert_int_equal(crc32c(0, "a", 1), 0xc1d04330u);
	assert_int_equal(crc32c(0, "abc", 3), 0x364b3fb7u);
}

static void test_empty_input(void **state)
{
	static const char one = 'x';

	(void)state;
	assert_int_equal(crc32c(0, "", 0), 0);
	assert_int_equal(crc32c(0, &one, 0), 0);
	/* Extending by nothing leaves any running value alone. */
	assert_int_equal(crc32c(0xe3069283u, &one, 0), 0xe3069283u);
	assert_int_equal(crc32c(0xffffffffu, &one, 0), 0xffffffffu);
	assert_int_equal(crc32c(0x12345678u, &one, 0), 0x12345678u);
}

/* RFC 3720 (iSCSI) appendix B.4. */
static void test_rfc3720_vectors(void **state)
{
	/* The SCSI Read (10) command PDU of the same appendix. */
	static const unsigned char read10[48] = {
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
		0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	unsigned char b[32];

	(void)state;
	memset(b, 0, sizeof(b));
	assert_int_equal(crc32c(0, b, sizeof(b)), 0x8a9136aau);
	assert_int_equal(ref_crc32c(0, b, sizeof(b)), 0x8a9136aau);
	memset(b, 0xff, sizeof(b));
	assert_int_equal(crc32c(0, b, sizeof(b)), 0x62a8ab43u);
	assert_int_equal(ref_crc32c(0, b, sizeof(b)), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)i;
	assert_int_equal(crc32c(0, b, sizeof(b)), 0x46dd794eu);
	assert_int_equal(ref_crc32c(0, b, sizeof(b)), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)(31 - i);
	assert_int_equal(crc32c(0, b, sizeof(b)), 0x113fdb5cu);
	assert_int_equal(ref_crc32c(0, b, sizeof(b)), 0x113fdb5cu);
	assert_int_equal(crc32c(0, read10, sizeof(read10)), 0xd9963a56u);
	assert_int_equal(ref_crc32c(0, read10, sizeof(read10)), 0xd9963a56u);
}

static void test_incremental_equals_one_shot(void **state)
{
	unsigned char b[100];
	uint32_t whole;

	(void)state;
	rng_seed(1);
	rng_fill(b, sizeof(b));
	whole = crc32c(0, b, sizeof(b));
	assert_int_equal(whole, ref_crc32c(0, b, sizeof(b)));
	for (size_t k = 0; k <= sizeof(b); k++) {
		uint32_t c = crc32c(0, b, k);

		c = crc32c(c, b + k, sizeof(b) - k);
		if (c != whole)
			fail_msg("split at %zu: %08x != %08x", k, c, whole);
	}
	/* Three pieces, every pair of split points. */
	for (size_t i = 0; i <= sizeof(b); i += 3) {
		for (size_t j = i; j <= sizeof(b); j += 5) {
			uint32_t c = crc32c(0, b, i);

			c = crc32c(c, b + i, j - i);
			c = crc32c(c, b + j, sizeof(b) - j);
			if (c != whole)
				fail_msg("splits at %zu, %zu: %08x != %08x", i, j, c,
					 whole);
		}
	}
}

/* The accelerated path (or the tables) against the definition. */
static void test_matches_bitwise_reference(void **state)
{
	enum { MAX = 4096 + 64 };
	unsigned char *mem = malloc(MAX + 8);

	(void)state;
	assert_non_null(mem);
	rng_seed(2);
	rng_fill(mem, MAX + 8);
	/* Every length up to 300 at every alignment. */
	for (size_t off = 0; off < 8; off++) {
		for (size_t len = 0; len <= 300; len++) {
			uint32_t want = ref_crc32c(0, mem + off, len);
			uint32_t got = crc32c(0, mem + off, len);

			if (got != want)
				fail_msg("off %zu len %zu: %08x != %08x", off, len, got,
					 want);
		}
	}
	/* Longer, odd lengths, and a non-zero starting value. */
	for (size_t len = 301; len <= MAX; len += 97) {
		size_t off = len % 8;
		uint32_t seed = (uint32_t)rng_next();

		assert_int_equal(crc32c(0, mem + off, len), ref_crc32c(0, mem + off, len));
		assert_int_equal(crc32c(seed, mem + off, len),
				 ref_crc32c(seed, mem + off, len));
	}
	free(mem);
}

/* crc32c_chunks against crc32c piece by piece; no write past the end. */
static void check_chunks(const unsigned char *data, size_t len, size_t chunk)
{
	size_t n = len / chunk + (len % chunk != 0);
	uint32_t *out = malloc((n + 2) * sizeof(*out));

	assert_non_null(out);
	for (size_t i = 0; i < n + 2; i++)
		out[i] = 0xdeadbeefu;
	crc32c_chunks(data, len, chunk, out);
	for (size_t i = 0; i < n; i++) {
		size_t start = i * chunk;
		size_t piece = len - start < chunk ? len - start : chunk;
		uint32_t want = crc32c(0, data + start, piece);

		if (out[i] != want)
			fail_msg("len %zu chunk %zu piece %zu: %08x != %08x", len,
				 chunk, i, out[i], want);
	}
	if (out[n] != 0xdeadbeefu || out[n + 1] != 0xdeadbeefu)
		fail_msg("len %zu chunk %zu: wrote past %zu outputs", len, chunk, n);
	free(out);
}

static void test_chunks_match_per_piece(void **state)
{
	static const size_t chunks[] = { 1, 2, 3, 7, 8, 9, 16, 64, 100, 4096, 65536 };
	enum { MAX = 4 * 65536 + 65536 + 16 };
	unsigned char *mem = malloc(MAX);

	(void)state;
	assert_non_null(mem);
	rng_seed(3);
	rng_fill(mem, MAX);
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		size_t chunk = chunks[c];
		size_t lens[] = {
			0,
			1,
			chunk - 1,		/* less than one chunk (0 for chunk 1) */
			chunk,
			chunk + 1,
			2 * chunk + chunk / 2,	/* not a multiple */
			3 * chunk + 1,
			4 * chunk - 1,
			4 * chunk,		/* exactly one group of four */
			4 * chunk + 1,		/* four and one byte */
			5 * chunk,
			7 * chunk + 3,
			8 * chunk,
			9 * chunk - 1,
		};

		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			if (lens[l] + 7 > MAX)
				continue;
			/* Unaligned data: every offset 0..7. */
			for (size_t off = 0; off < 8; off++)
				check_chunks(mem + off, lens[l], chunk);
		}
	}
	/* Many small (len, chunk) pairs, exhaustively. */
	for (size_t chunk = 1; chunk <= 40; chunk++) {
		for (size_t len = 0; len <= 200; len += 1 + len / 16)
			check_chunks(mem + (len + chunk) % 8, len, chunk);
	}
	free(mem);
}

/* The chunk CRCs are also right by the definition, not just consistent. */
static void test_chunks_match_reference(void **state)
{
	enum { CHUNK = 1000, LEN = 8 * CHUNK + 17 }; /* 4 + 4 + a short one */
	unsigned char *mem = malloc(LEN + 8);
	uint32_t out[9];

	(void)state;
	assert_non_null(mem);
	rng_seed(4);
	rng_fill(mem, LEN + 8);
	for (size_t off = 0; off < 8; off += 3) {
		crc32c_chunks(mem + off, LEN, CHUNK, out);
		for (size_t i = 0; i < 9; i++) {
			size_t start = i * CHUNK;
			size_t piece = LEN - start < CHUNK ? LEN - start : CHUNK;

			assert_int_equal(out[i], ref_crc32c(0, mem + off + start, piece));
		}
	}
	/* Known values through the chunked path. */
	memset(mem, 0, 4 * 32);
	crc32c_chunks(mem, 4 * 32, 32, out);
	for (int i = 0; i < 4; i++)
		assert_int_equal(out[i], 0x8a9136aau);
	memcpy(mem, "123456789123456789123456789123456789", 36);
	crc32c_chunks(mem, 36, 9, out);
	for (int i = 0; i < 4; i++)
		assert_int_equal(out[i], 0xe3069283u);
	free(mem);
}

/* A one-bit error anywhere in a 64 KiB chunk changes that chunk's CRC only. */
static void test_bit_flip_detected(void **state)
{
	enum { CHUNK = 65536, N = 5 };
	static const size_t fixed[] = { 0, 1, 7, 8, 9, 63, 64, 4095, 4096, 32767,
					 32768, 65528, 65534, 65535 };
	unsigned char *mem = malloc((size_t)CHUNK * N);
	uint32_t base[N], got[N];

	(void)state;
	assert_non_null(mem);
	rng_seed(5);
	rng_fill(mem, (size_t)CHUNK * N);
	crc32c_chunks(mem, (size_t)CHUNK * N, CHUNK, base);
	for (int i = 0; i < N; i++)
		assert_int_equal(base[i], crc32c(0, mem + (size_t)i * CHUNK, CHUNK));
	for (size_t s = 0; s < 200; s++) {
		size_t pos = s < sizeof(fixed) / sizeof(fixed[0]) ?
				     fixed[s] :
				     (size_t)(rng_next() % CHUNK);
		/* Chunks 0..3 go through the four-at-once path, 4 alone. */
		size_t which = s % N;
		size_t at = which * CHUNK + pos;
		unsigned char bit = (unsigned char)(1u << (s % 8));

		mem[at] ^= bit;
		crc32c_chunks(mem, (size_t)CHUNK * N, CHUNK, got);
		for (size_t i = 0; i < N; i++) {
			if (i == which && got[i] == base[i])
				fail_msg("flip at %zu bit %u not detected", at, bit);
			if (i != which && got[i] != base[i])
				fail_msg("flip at %zu changed chunk %zu", at, i);
		}
		assert_int_equal(got[which], crc32c(0, mem + which * CHUNK, CHUNK));
		mem[at] ^= bit;
	}
	free(mem);
}

/*
 * The trailer line of the cache's small text files: what append writes,
 * check takes, spelt as the files have always been, and nothing else.
 */
static void test_crc_line_round_trip_and_refusals(void **state)
{
	static const char body[] = "hubfs-commit 1\ndate 1700000000\n";
	const size_t n = sizeof(body) - 1, len = n + CRC32C_LINE_LEN;
	char text[128], want[32], copy[128];

	(void)state;
	memcpy(text, body, n);
	assert_int_equal(crc32c_line_append(text, n, sizeof(text)), len);
	/* The spelling the files on disk already have. */
	snprintf(want, sizeof(want), "crc %08x\n", ref_crc32c(0, body, n));
	assert_string_equal(text + n, want);
	assert_true(crc32c_line_check(text, len));

	/* Any byte changed, the body's or the line's, is refused. */
	for (size_t i = 0; i < len; i++) {
		memcpy(copy, text, len);
		copy[i] ^= 0x01;
		if (crc32c_line_check(copy, len))
			fail_msg("a change at byte %zu was taken", i);
	}
	/* Upper-case hex is another spelling of the same CRC: refused. */
	memcpy(copy, text, len);
	for (size_t i = n + 4; i < len - 1; i++)
		copy[i] = (char)(copy[i] >= 'a' ? copy[i] - 'a' + 'A' : copy[i]);
	if (memcmp(copy, text, len) != 0)
		assert_false(crc32c_line_check(copy, len));
	/* Cut short anywhere, or with no line at all. */
	for (size_t cut = 0; cut < len; cut++)
		assert_false(crc32c_line_check(text, cut));
	/* The body must end a line: "xcrc ..." is not a last line. */
	memcpy(copy, "x", 1);
	assert_int_equal(crc32c_line_append(copy, 1, sizeof(copy)), 1 + CRC32C_LINE_LEN);
	assert_false(crc32c_line_check(copy, 1 + CRC32C_LINE_LEN));
	/* No room: nothing claimed written (the NUL needs a byte too). */
	memcpy(copy, body, n);
	assert_int_equal(crc32c_line_append(copy, n, n + CRC32C_LINE_LEN), 0);
	assert_int_equal(crc32c_line_append(copy, n, n), 0);
	assert_int_equal(crc32c_line_append(copy, n, n + CRC32C_LINE_LEN + 1), len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_value),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_rfc3720_vectors),
		cmocka_unit_test(test_incremental_equals_one_shot),
		cmocka_unit_test(test_matches_bitwise_reference),
		cmocka_unit_test(test_chunks_match_per_piece),
		cmocka_unit_test(test_chunks_match_reference),
		cmocka_unit_test(test_bit_flip_detected),
		cmocka_unit_test(test_crc_line_round_trip_and_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
