/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/digest.h"
#include "util/lfs.h"

/* bert-base-uncased@dd4bc8b2 pytorch_model.bin (hub-api.md 4.1, 8.1). */
#define OID "097417381d6c7230bd9e3557456d726de6e83245ec8b24f529f60198a67b203a"
#define V1 "version https://git-lfs.github.com/spec/v1\n"
#define PRE "version https://hawser.github.com/spec/v1\n"
#define OIDL "oid sha256:" OID "\n"
#define SIZEL "size 440473133\n"
#define OID_63 "097417381d6c7230bd9e3557456d726de6e83245ec8b24f529f60198a67b203"
#define OID_UPPER "097417381D6C7230BD9E3557456D726DE6E83245EC8B24F529F60198A67B203A"

static const char canonical[] = V1 OIDL SIZEL;

static int parse_str(const char *s, struct lfs_pointer *p)
{
	return lfs_pointer_parse(s, strlen(s), p);
}

static bool prefix_str(const char *s)
{
	return lfs_pointer_prefix(s, strlen(s));
}

static void test_parse_canonical(void **state)
{
	struct lfs_pointer p;

	(void)state;
	assert_int_equal(sizeof(canonical) - 1, 134); /* the tree's pointerSize */
	memset(&p, 0x55, sizeof(p));
	assert_int_equal(lfs_pointer_parse(canonical, 134, &p), 0);
	assert_string_equal(p.oid, OID);
	assert_int_equal(p.size, 440473133);
}

static void test_format_round_trip(void **state)
{
	struct lfs_pointer p;
	char text[LFS_POINTER_MAX];
	char hex[DIGEST_HEX_MAX];
	size_t n;

	(void)state;
	n = lfs_pointer_format(OID, 440473133, text, sizeof(text));
	assert_int_equal(n, 134);
	assert_int_equal(strlen(text), 134);
	assert_memory_equal(text, canonical, 134);
	/* The git blob sha1 of the pointer is the tree oid the Hub lists. */
	assert_int_equal(digest_git_blob_hex(text, n, hex), 0);
	assert_string_equal(hex, "ba5d19791be1dd7992e33bd61f20207b0f7f50a5");

	memset(&p, 0, sizeof(p));
	assert_int_equal(lfs_pointer_parse(text, n, &p), 0);
	assert_string_equal(p.oid, OID);
	assert_int_equal(p.size, 440473133);

	/* Extreme sizes survive the trip too. */
	n = lfs_pointer_format(OID, 0, text, sizeof(text));
	assert_int_equal(n, strlen(V1 OIDL "size 0\n"));
	assert_string_equal(text, V1 OIDL "size 0\n");
	assert_int_equal(lfs_pointer_parse(text, n, &p), 0);
	assert_int_equal(p.size, 0);
	n = lfs_pointer_format(OID, 9999999999999999999ull, text, sizeof(text));
	assert_string_equal(text, V1 OIDL "size 9999999999999999999\n");
	assert_int_equal(lfs_pointer_parse(text, n, &p), 0);
	assert_true(p.size == 9999999999999999999ull);
}

static void test_format_small_buffer_does_not_overflow(void **state)
{
	char text[64 + 8];

	(void)state;
	memset(text, '#', sizeof(text));
	lfs_pointer_format(OID, 440473133, text, 64);
	assert_int_equal(strlen(text), 63);
	assert_memory_equal(text, canonical, 63);
	for (size_t i = 64; i < sizeof(text); i++)
		assert_int_equal(text[i], '#');
}

static void test_parse_accepts(void **state)
{
	static const char *const good[] = {
		/* The pre-release version URL is read. */
		PRE OIDL SIZEL,
		V1 OIDL "size 0\n",
		V1 OIDL "size 9\n",
		V1 OIDL "size 1234567890123456789\n", /* 19 digits */
		/* Extension keys in sorted position: before "oid", after "size". */
		V1 "ext-0-foo sha256:" OID "\n" OIDL SIZEL,
		V1 "ext-0-foo x\next-1-bar y\n" OIDL SIZEL,
		V1 OIDL "oid.extra 1\n" SIZEL,
		V1 OIDL SIZEL "x-custom.1 value with spaces\n",
	};
	struct lfs_pointer p;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&p, 0, sizeof(p));
		if (parse_str(good[i], &p) != 0)
			fail_msg("refused a good pointer #%zu:\n%s", i, good[i]);
		assert_string_equal(p.oid, OID);
	}
	assert_int_equal(parse_str(V1 OIDL "size 1234567890123456789\n", &p), 0);
	assert_true(p.size == 1234567890123456789ull);
	assert_int_equal(parse_str(PRE OIDL SIZEL, &p), 0);
	assert_int_equal(p.size, 440473133);
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		/* Line ends. */
		V1 OIDL "size 440473133",		/* no trailing newline */
		"version https://git-lfs.github.com/spec/v1\r\n"
		"oid sha256:" OID "\r\n"
		"size 440473133\r\n",			/* CRLF */
		V1 OIDL "size 440473133\r\n",		/* one CR */
		"version https://git-lfs.github.com/spec/v1\r\n" OIDL SIZEL,
		V1 "\n" OIDL SIZEL,			/* empty line */
		V1 OIDL SIZEL "\n",
		/* Order and uniqueness. */
		V1 SIZEL OIDL,				/* size before oid */
		V1 OIDL OIDL SIZEL,			/* duplicated oid */
		V1 OIDL SIZEL SIZEL,			/* duplicated size */
		V1 OIDL "size 1\n" "size 2\n",
		OIDL V1 SIZEL,				/* version not first */
		OIDL SIZEL V1,
		V1 V1 OIDL SIZEL,			/* version twice, first */
		/* Missing keys. */
		V1 SIZEL,
		V1 OIDL,
		V1,
		OIDL SIZEL,
		/* Version. */
		"version https://git-lfs.github.com/spec/v2\n" OIDL SIZEL,
		"version https://git-lfs.github.com/spec/v1/\n" OIDL SIZEL,
		"version http://git-lfs.github.com/spec/v1\n" OIDL SIZEL,
		"version https://GIT-LFS.github.com/spec/v1\n" OIDL SIZEL,
		"version https://git-lfs.github.com/spec/v\n" OIDL SIZEL,
		"version  https://git-lfs.github.com/spec/v1\n" OIDL SIZEL,
		"Version https://git-lfs.github.com/spec/v1\n" OIDL SIZEL,
		" version https://git-lfs.github.com/spec/v1\n" OIDL SIZEL,
		"version\thttps://git-lfs.github.com/spec/v1\n" OIDL SIZEL,
		/* oid. */
		V1 "oid sha256:" OID_UPPER "\n" SIZEL,	/* upper-case hex */
		V1 "oid sha256:" OID_63 "A\n" SIZEL,	/* one upper-case digit */
		V1 "oid sha256:" OID_63 "\n" SIZEL,	/* short hex */
		V1 "oid sha256:" OID "0\n" SIZEL,	/* long hex */
		V1 "oid sha256:" OID_63 "g\n" SIZEL,	/* not hex */
		V1 "oid sha1:ba5d19791be1dd7992e33bd61f20207b0f7f50a5\n" SIZEL,
		V1 "oid sha1:" OID "\n" SIZEL,
		V1 "oid SHA256:" OID "\n" SIZEL,
		V1 "oid " OID "\n" SIZEL,
		V1 "oid sha256:\n" SIZEL,
		V1 "oid  sha256:" OID "\n" SIZEL,
		V1 "oid sha256:" OID " \n" SIZEL,
		/* size. */
		V1 OIDL "size 0440473133\n",		/* leading zero */
		V1 OIDL "size 00\n",
		V1 OIDL "size +440473133\n",		/* sign */
		V1 OIDL "size -1\n",
		V1 OIDL "size 44047313x\n",		/* non-digit */
		V1 OIDL "size 0x10\n",
		V1 OIDL "size 1e9\n",
		V1 OIDL "size 440 473 133\n",
		V1 OIDL "size 440473133 \n",
		V1 OIDL "size  440473133\n",
		V1 OIDL "size \n",
		V1 OIDL "size\n",
		V1 OIDL "size 12345678901234567890\n",	/* 20 digits */
		V1 OIDL "size 18446744073709551615\n",	/* UINT64_MAX, 20 digits */
		V1 OIDL "size 99999999999999999999999\n",
		/* Garbage after a valid pointer, not a key line. */
		V1 OIDL SIZEL "garbage",
		V1 OIDL SIZEL "garbage\n",
		V1 OIDL SIZEL " x\n",
		V1 OIDL SIZEL "\x89PNG\r\n\x1a\n",
		V1 OIDL SIZEL "\xff\xfe\xfd\xfc",
		/* Extension keys out of order or with bad characters. */
		V1 OIDL SIZEL "ext-0-foo x\n",		/* sorts before oid */
		V1 OIDL "ext-0-foo x\n" SIZEL,
		V1 "ext-1-bar y\next-0-foo x\n" OIDL SIZEL,
		V1 "ext-0-foo x\next-0-foo x\n" OIDL SIZEL,	/* duplicated */
		V1 "Ext-0-foo x\n" OIDL SIZEL,		/* upper case key */
		V1 "ext_0_foo x\n" OIDL SIZEL,		/* '_' not allowed */
		V1 OIDL SIZEL "zz\xc3\xa9 x\n",		/* non-ASCII key */
		/* Not pointers at all. */
		"",
		"version 1\n",
		"{\"version\": \"https://git-lfs.github.com/spec/v1\"}\n",
	};
	struct lfs_pointer p;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_str(bad[i], &p) != -EINVAL)
			fail_msg("accepted bad pointer #%zu:\n%s", i, bad[i]);
	}
}

static void test_parse_rejects_nul(void **state)
{
	char ext_nul[] = V1 "ext-0-a x\0y\n" OIDL SIZEL;
	char text[sizeof(canonical)];
	struct lfs_pointer p;

	(void)state;
	/* A NUL anywhere, even where it would end a C string early. */
	for (size_t at = 0; at < 134; at++) {
		memcpy(text, canonical, sizeof(canonical));
		text[at] = '\0';
		if (lfs_pointer_parse(text, 134, &p) != -EINVAL)
			fail_msg("accepted a NUL at %zu", at);
	}
	/* The canonical text followed by its own terminator. */
	assert_int_equal(lfs_pointer_parse(canonical, 135, &p), -EINVAL);
	/* In a value nothing else looks at: an extension's. */
	assert_int_equal(lfs_pointer_parse(ext_nul, sizeof(ext_nul) - 1, &p), -EINVAL);
	ext_nul[sizeof(V1) - 1 + 9] = 'z'; /* the NUL, after "ext-0-a x" */
	assert_int_equal(lfs_pointer_parse(ext_nul, sizeof(ext_nul) - 1, &p), 0);
}

static void test_parse_rejects_empty_and_truncated(void **state)
{
	struct lfs_pointer p;

	(void)state;
	assert_int_equal(lfs_pointer_parse(canonical, 0, &p), -EINVAL);
	/* Every proper prefix of the canonical pointer is refused. */
	for (size_t n = 1; n < 134; n++) {
		if (lfs_pointer_parse(canonical, n, &p) != -EINVAL)
			fail_msg("accepted the first %zu bytes", n);
	}
}

/* At most 1024 bytes: an otherwise valid pointer at the limit and past it. */
static void test_parse_size_limit(void **state)
{
	char text[LFS_POINTER_MAX + 2];
	struct lfs_pointer p;
	size_t head = sizeof(canonical) - 1;
	size_t n;

	(void)state;
	/* canonical + "zz " + filler + "\n", 1024 bytes in all. */
	memcpy(text, canonical, head);
	memcpy(text + head, "zz ", 3);
	n = LFS_POINTER_MAX - head - 3 - 1;
	memset(text + head + 3, 'v', n);
	text[LFS_POINTER_MAX - 1] = '\n';
	assert_int_equal(lfs_pointer_parse(text, LFS_POINTER_MAX, &p), 0);
	assert_string_equal(p.oid, OID);
	/* One more byte of the value: 1025. */
	text[LFS_POINTER_MAX - 1] = 'v';
	text[LFS_POINTER_MAX] = '\n';
	assert_int_equal(lfs_pointer_parse(text, LFS_POINTER_MAX + 1, &p), -EINVAL);
}

/*
 * Regression test, fixed since (util/lfs.c, lfs_pointer_parse): a second "version" line after the
 * other keys is taken for an extension key, because "version" sorts after
 * "size". The spec has "version" only as the first key, and git-lfs
 * refuses this text ("extra line"). Expected -EINVAL; it used to give 0.
 */
static void test_parse_rejects_trailing_version(void **state)
{
	struct lfs_pointer p;

	(void)state;
	assert_int_equal(parse_str(V1 OIDL SIZEL V1, &p), -EINVAL);
	assert_int_equal(parse_str(V1 OIDL SIZEL
				   "version https://git-lfs.github.com/spec/v2\n", &p),
			 -EINVAL);
}

static void test_prefix(void **state)
{
	static const char head[] = "version https://git-lfs.github.com/spec/";
	static const char binary[] = { 0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0,
				       0, 0, 0, 0, 3, 0, 0x3e, 0, 1, 0, 0, 0,
				       0x50, 0x11, 0, 0, 0, 0, 0, 0, 0x40, 0, 0,
				       0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0 };
	char padded[4096];

	(void)state;
	/* A pointer, whole or cut after the version line. */
	assert_true(lfs_pointer_prefix(canonical, 134));
	assert_true(lfs_pointer_prefix(canonical, strlen(V1)));
	assert_true(lfs_pointer_prefix(canonical, strlen(V1) + 10));
	assert_true(lfs_pointer_prefix(PRE OIDL SIZEL, strlen(PRE OIDL SIZEL)));
	assert_true(lfs_pointer_prefix(PRE, strlen(PRE)));
	/* A pointer followed by data. */
	memset(padded, 0xa5, sizeof(padded));
	memcpy(padded, canonical, 134);
	assert_true(lfs_pointer_prefix(padded, sizeof(padded)));
	/* The shortest text that is still recognised, and one byte less. */
	assert_true(lfs_pointer_prefix(head, sizeof(head) - 1));
	assert_false(lfs_pointer_prefix(head, sizeof(head) - 2));

	assert_false(lfs_pointer_prefix("version 1\n", 10));
	assert_false(lfs_pointer_prefix(canonical, 10)); /* "version ht" */
	assert_false(lfs_pointer_prefix(canonical, 0));
	assert_false(lfs_pointer_prefix("", 0));
	assert_false(lfs_pointer_prefix(binary, sizeof(binary)));
	assert_false(prefix_str("{\"version\": \"https://git-lfs.github.com/spec/v1\"}"));
	assert_false(prefix_str("Version https://git-lfs.github.com/spec/v1\n"));
	assert_false(prefix_str(" version https://git-lfs.github.com/spec/v1\n"));
	assert_false(prefix_str("version https://git-lfs.github.com/"));
	assert_false(prefix_str("version https://example.com/spec/v1\n"));
	memset(padded, 0, sizeof(padded));
	assert_false(lfs_pointer_prefix(padded, sizeof(padded)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_canonical),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_format_small_buffer_does_not_overflow),
		cmocka_unit_test(test_parse_accepts),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_parse_rejects_nul),
		cmocka_unit_test(test_parse_rejects_empty_and_truncated),
		cmocka_unit_test(test_parse_size_limit),
		cmocka_unit_test(test_parse_rejects_trailing_version),
		cmocka_unit_test(test_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
