/* SPDX-License-Identifier: MIT */
/*
 * Commit-date files (cache/commit.c): a date round trips through the disk,
 * and the decoder takes exactly the bytes the writer makes, nothing else
 * (found by tests/fuzz/fuzz_cache_commit: the old sscanf() reading took
 * other spellings of a file and clamped a date past INT64_MAX).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/commit.h"
#include "util/crc32c.h"

#define REPO "model/hubfs-test/tiny"
#define C1 "0123456789abcdef0123456789abcdef01234567"

/* @body followed by its correct "crc" line, into @out; the length. */
static size_t seal(const char *body, char *out, size_t size)
{
	size_t n = strlen(body);
	int m = snprintf(out, size, "%scrc %08" PRIx32 "\n", body,
			 crc32c(0, body, n));

	assert_true(m > 0 && (size_t)m < size);
	return (size_t)m;
}

static void assert_refused(const char *body)
{
	char text[CACHE_COMMIT_FILE_MAX + 32];
	int64_t t = -7;
	size_t n = seal(body, text, sizeof(text));

	assert_int_equal(cache_commit_time_parse(text, n, &t), -EBADMSG);
	assert_int_equal(t, -7); /* left alone */
}

static void test_format_and_parse(void **state)
{
	char text[CACHE_COMMIT_FILE_MAX];
	int64_t t = -1;
	size_t n;

	(void)state;
	n = cache_commit_time_format(1704369600, text, sizeof(text));
	assert_string_equal(text, "hubfs-commit 1\ndate 1704369600\ncrc d2dca777\n");
	assert_int_equal(cache_commit_time_parse(text, n, &t), 0);
	assert_int_equal(t, 1704369600);
	n = cache_commit_time_format(0, text, sizeof(text));
	assert_int_equal(cache_commit_time_parse(text, n, &t), 0);
	assert_int_equal(t, 0);
	n = cache_commit_time_format(INT64_MAX, text, sizeof(text));
	assert_int_equal(cache_commit_time_parse(text, n, &t), 0);
	assert_true(t == INT64_MAX);
	assert_int_equal(cache_commit_time_format(-1, text, sizeof(text)), 0);
	assert_int_equal(cache_commit_time_format(5, text, 10), 0);
}

/* The input fuzz_cache_commit crashed on: a space moved off the magic. */
static void test_fuzz_crash_magic_without_space(void **state)
{
	static const char crash[] = "hubfs-commit1 \ndate 1704369600\ncrc d2dca777\n";
	int64_t t = -7;

	(void)state;
	assert_int_equal(cache_commit_time_parse(crash, sizeof(crash) - 1, &t), -EBADMSG);
	assert_int_equal(t, -7);
	/* The same shuffle with a correct crc line. */
	assert_refused("hubfs-commit1 \ndate 1704369600\n");
}

static void test_other_spellings_refused(void **state)
{
	(void)state;
	assert_refused("hubfs-commit  1\ndate 1\n");
	assert_refused("hubfs-commit 1\n date 1\n");
	assert_refused("hubfs-commit 1\ndate  1\n");
	assert_refused("hubfs-commit 1\ndate +1\n");
	assert_refused("hubfs-commit 1\ndate -1\n");
	assert_refused("hubfs-commit 1\ndate 01\n");
	assert_refused("hubfs-commit 1\ndate 1 \n");
	assert_refused("hubfs-commit 1\r\ndate 1\n");
	assert_refused("hubfs-commit 1\ndate \n");
	assert_refused("hubfs-commit 2\ndate 1\n");
	/* Past INT64_MAX: sscanf() made it INT64_MAX. */
	assert_refused("hubfs-commit 1\ndate 9223372036854775808\n");
	assert_refused("hubfs-commit 1\ndate 99999999999999999999\n");
}

static void test_damage_refused(void **state)
{
	char text[CACHE_COMMIT_FILE_MAX + 32];
	int64_t t;
	size_t n;

	(void)state;
	n = seal("hubfs-commit 1\ndate 1704369600\n", text, sizeof(text));
	for (size_t cut = 0; cut < n; cut++)
		assert_int_equal(cache_commit_time_parse(text, cut, &t), -EBADMSG);
	text[n] = '\0'; /* a NUL after the crc line is junk too */
	assert_int_equal(cache_commit_time_parse(text, n + 1, &t), -EBADMSG);
	text[n - 2] = 'A'; /* upper-case hex is not what we write */
	assert_int_equal(cache_commit_time_parse(text, n, &t), -EBADMSG);
	n = seal("hubfs-commit 1\ndate 1704369600\n", text, sizeof(text));
	text[21] ^= 1; /* a flipped digit: the crc no longer matches */
	assert_int_equal(cache_commit_time_parse(text, n, &t), -EBADMSG);
}

static void test_store_and_load(void **state)
{
	char root[] = "/tmp/hubfs-commit-XXXXXX", path[512], cmd[600];
	int64_t t = 0;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(root));
	assert_int_equal(cache_commit_time_load(root, REPO, C1, &t), -ENOENT);
	assert_int_equal(cache_commit_time_store(root, REPO, C1, 1704369600), 0);
	assert_int_equal(cache_commit_time_load(root, REPO, C1, &t), 0);
	assert_int_equal(t, 1704369600);
	/* A file of another spelling is corrupt: refused and removed. */
	snprintf(path, sizeof(path), "%s/commits/model/hubfs-test/tiny/" C1, root);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("hubfs-commit1 \ndate 1704369600\ncrc d2dca777\n", f);
	fclose(f);
	assert_int_equal(cache_commit_time_load(root, REPO, C1, &t), -EBADMSG);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_and_parse),
		cmocka_unit_test(test_fuzz_crash_magic_without_space),
		cmocka_unit_test(test_other_spellings_refused),
		cmocka_unit_test(test_damage_refused),
		cmocka_unit_test(test_store_and_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
