/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"

static void test_empty_is_empty_string(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 16);
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(b.len, 0);
	buf_release(&b);
}

static void test_append_and_terminate(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(buf_append(&b, "abc", 3), 0);
	assert_int_equal(buf_append_str(&b, "def"), 0);
	assert_int_equal(buf_printf(&b, "-%d-%s", 42, "x"), 0);
	assert_string_equal(buf_cstr(&b), "abcdef-42-x");
	assert_int_equal(b.len, 11);
	buf_reset(&b);
	assert_string_equal(buf_cstr(&b), "");
	buf_release(&b);
}

static void test_cap_is_enforced_and_buffer_unchanged(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 5);
	assert_int_equal(buf_append(&b, "12345", 5), 0);
	assert_int_equal(buf_append(&b, "6", 1), -EFBIG);
	assert_int_equal(buf_printf(&b, "%s", "x"), -EFBIG);
	assert_string_equal(buf_cstr(&b), "12345");
	buf_release(&b);

	/* A length that would overflow size_t is refused, not wrapped. */
	buf_init(&b, (size_t)-1);
	assert_int_equal(buf_append(&b, "a", 1), 0);
	assert_int_equal(buf_append(&b, "b", (size_t)-1), -EFBIG);
	buf_release(&b);
}

static void test_grows_past_initial_allocation(void **state)
{
	struct buf b;
	char chunk[1000];

	(void)state;
	memset(chunk, 'z', sizeof(chunk));
	buf_init(&b, 1 << 20);
	for (int i = 0; i < 100; i++)
		assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(b.len, 100000);
	assert_int_equal(strlen(buf_cstr(&b)), 100000);
	buf_release(&b);
}

static void test_detach(void **state)
{
	struct buf b;
	char *s;

	(void)state;
	buf_init(&b, 64);
	s = buf_detach(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(buf_append_str(&b, "kept"), 0);
	s = buf_detach(&b);
	assert_string_equal(s, "kept");
	assert_int_equal(b.len, 0);
	assert_null(b.data);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_is_empty_string),
		cmocka_unit_test(test_append_and_terminate),
		cmocka_unit_test(test_cap_is_enforced_and_buffer_unchanged),
		cmocka_unit_test(test_grows_past_initial_allocation),
		cmocka_unit_test(test_detach),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
