/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "util/path.h"

static void test_good_paths(void **state)
{
	static const char *const good[] = {
		"config.json",
		"data/train/part-00/shard-0001.jsonl",
		"docs/with space.txt",
		"données/été.csv",
		"日本語/テスト.txt",
		"weird/100%?#.txt",
		"weird/a:b,c.txt",
		"folder/..\\..\\..\\file", /* a plain name on POSIX */
		".gitattributes",
		"...",
		"a/.hidden/b",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (path_validate_repo_path(good[i]) != 0)
			fail_msg("refused a good path: '%s'", good[i]);
	}
}

static void test_hostile_paths(void **state)
{
	static const char *const bad[] = {
		"",
		"/etc/passwd",
		"..",
		"../x",
		"a/../../x",
		"a/..",
		"./a",
		"a/./b",
		"a//b",
		"a/",
		"line\nbreak",
		"tab\there",
		"del\x7f",
		"bad-utf8-\xff",
		"overlong-\xc0\xaf",
		"surrogate-\xed\xa0\x80",
		"truncated-\xe6\x97",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (path_validate_repo_path(bad[i]) != -EINVAL)
			fail_msg("accepted a hostile path: '%s'", bad[i]);
	}
	assert_int_equal(path_validate_repo_path(NULL), -EINVAL);
}

static void test_length_limits(void **state)
{
	char name[PATH_COMPONENT_MAX + 2];
	char path[PATH_REPO_MAX + 2];

	(void)state;
	memset(name, 'a', sizeof(name));
	assert_true(path_component_is_safe(name, PATH_COMPONENT_MAX));
	assert_false(path_component_is_safe(name, PATH_COMPONENT_MAX + 1));

	/* A long path of short components: at the limit, then one past. */
	for (size_t i = 0; i < sizeof(path) - 1; i++)
		path[i] = i % 2 ? '/' : 'x';
	path[PATH_REPO_MAX - 1] = 'x';
	path[PATH_REPO_MAX] = '\0';
	assert_int_equal(path_validate_repo_path(path), 0);
	path[PATH_REPO_MAX] = '/';
	path[PATH_REPO_MAX + 1] = '\0';
	assert_int_equal(path_validate_repo_path(path), -EINVAL);
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(path_is_utf8("plain", 5));
	assert_true(path_is_utf8("\xf0\x9f\x98\x80", 4)); /* U+1F600 */
	assert_false(path_is_utf8("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(path_is_utf8("\x80", 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_paths),
		cmocka_unit_test(test_hostile_paths),
		cmocka_unit_test(test_length_limits),
		cmocka_unit_test(test_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
