/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/size.h"

static void test_format(void **state)
{
	char out[32];

	(void)state;
	size_format(0, out, sizeof(out));
	assert_string_equal(out, "0 B");
	size_format(1023, out, sizeof(out));
	assert_string_equal(out, "1023 B");
	size_format(1024, out, sizeof(out));
	assert_string_equal(out, "1.0 KiB");
	size_format(41177896, out, sizeof(out));
	assert_string_equal(out, "39.3 MiB");
	size_format(UINT64_MAX, out, sizeof(out));
	assert_string_equal(out, "16384.0 PiB");
}

static void test_parse(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(size_parse("123", &v), 0);
	assert_true(v == 123);
	assert_int_equal(size_parse("10K", &v), 0);
	assert_true(v == 10240);
	assert_int_equal(size_parse("1.5G", &v), 0);
	assert_true(v == 1610612736);
	assert_int_equal(size_parse("512MiB", &v), 0);
	assert_true(v == 536870912);
	assert_int_equal(size_parse("2 gb", &v), 0);
	assert_true(v == 2147483648);
	assert_int_equal(size_parse("100B", &v), 0);
	assert_true(v == 100);
	assert_int_equal(size_parse("", &v), -EINVAL);
	assert_int_equal(size_parse("-1", &v), -EINVAL);
	assert_int_equal(size_parse("1X", &v), -EINVAL);
	assert_int_equal(size_parse("1Kx", &v), -EINVAL);
	assert_int_equal(size_parse("nan", &v), -EINVAL);
	assert_int_equal(size_parse("99999999P", &v), -EINVAL);
	/* Only digits, a point, and a unit: strtod() took these as well. */
	assert_int_equal(size_parse("0x10M", &v), -EINVAL);
	assert_int_equal(size_parse("0x1p20", &v), -EINVAL);
	assert_int_equal(size_parse("1e3M", &v), -EINVAL);
	assert_int_equal(size_parse("1.2.3", &v), -EINVAL);
	assert_int_equal(size_parse(" 5", &v), -EINVAL);
	assert_int_equal(size_parse("inf", &v), -EINVAL);
	assert_int_equal(size_parse("5M1", &v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
