/* SPDX-License-Identifier: MIT */
/* Well-formed UTF-8 (util/utf8.c), for JSON and Prometheus labels made of paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "util/utf8.h"

static void test_sequences(void **state)
{
	static const struct {
		const char *s;
		size_t len;
	} cases[] = {
		{ "a", 1 },
		{ "\xc3\xa9", 2 },          /* é */
		{ "\xe2\x82\xac", 3 },      /* € */
		{ "\xf0\x9f\x98\x80", 4 },  /* an emoji */
		{ "\xff", 0 },              /* never in UTF-8 */
		{ "\x80", 0 },              /* a continuation alone */
		{ "\xc3", 0 },              /* cut by the end */
		{ "\xc3x", 0 },             /* cut by another byte */
		{ "\xc0\xaf", 0 },          /* overlong '/' */
		{ "\xe0\x80\xaf", 0 },      /* overlong too */
		{ "\xed\xa0\x80", 0 },      /* a surrogate */
		{ "\xf4\x90\x80\x80", 0 },  /* past U+10FFFF */
		{ "\xf5\x80\x80\x80", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(utf8_seq_len((const unsigned char *)cases[i].s), cases[i].len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequences),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
