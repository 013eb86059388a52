/* SPDX-License-Identifier: MIT */
/* Repo ids, revisions and URL encoding (hub/names.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "hub/hub_int.h"

static void test_repo_ids(void **state)
{
	static const char *const good[] = {
		"gpt2", "org/name", "hubfs-test/tiny-model", "A_b.c-d/E.f_g",
		"a/b", "x1/y2",
		/* 96 characters each, as huggingface_hub's REPO_ID_REGEX allows (193 in all) */
		("012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345/"
		 "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345"),
		("0123456789012345678901234567890123456789012345678/"
		 "01234567890123456789012345678901234567890123456"),
	};
	static const char *const bad[] = {
		"", "/", "org/", "/name", "a/b/c", "org/na me", "org/n@me",
		"-org/name", "org/name-", ".org/name", "org/name.",
		"org--x/name", "org/na..me", "org/name.git", "ørg/name",
		"org/name\n",
		/* a part of 97 */
		("x/"
		 "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123457"),
		("0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123457/x"),
		"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123457",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!hub_repo_id_is_valid(good[i]))
			fail_msg("refused a good id '%s'", good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (hub_repo_id_is_valid(bad[i]))
			fail_msg("accepted a bad id '%s'", bad[i]);
	}
}

static void test_parse_hffs_forms(void **state)
{
	struct hub_repo r;
	struct hub_error err = { 0 };

	(void)state;
	assert_int_equal(hub_repo_parse("org/model", HUB_REPO_MODEL, false, &r, &err), 0);
	assert_int_equal(r.type, HUB_REPO_MODEL);
	assert_string_equal(r.id, "org/model");
	assert_string_equal(r.revision, "");
	assert_string_equal(hub_repo_revision(&r), "main");

	assert_int_equal(hub_repo_parse("datasets/org/ds@v1.0", HUB_REPO_MODEL,
					false, &r, &err), 0);
	assert_int_equal(r.type, HUB_REPO_DATASET);
	assert_string_equal(r.id, "org/ds");
	assert_string_equal(r.revision, "v1.0");

	assert_int_equal(hub_repo_parse("spaces/org/app@refs%2Fpr%2F1",
					HUB_REPO_MODEL, false, &r, &err), 0);
	assert_int_equal(r.type, HUB_REPO_SPACE);
	assert_string_equal(r.revision, "refs/pr/1");

	/* Plain slashes in a revision are fine where no path follows. */
	assert_int_equal(hub_repo_parse("org/m@feature/long-context",
					HUB_REPO_MODEL, false, &r, &err), 0);
	assert_string_equal(r.revision, "feature/long-context");
	/* Dots inside names, '@' and non-ASCII letters are fine in git refs. */
	assert_int_equal(hub_repo_parse("org/m@v1.0.2-rc.1", HUB_REPO_MODEL, false, &r, &err), 0);
	assert_int_equal(hub_repo_parse("org/m@user@host", HUB_REPO_MODEL, false, &r, &err), 0);
	assert_string_equal(r.revision, "user@host");
	assert_int_equal(hub_repo_parse("org/m@r%C3%A9sum%C3%A9", HUB_REPO_MODEL, false, &r, &err),
			 0);
	assert_int_equal(hub_repo_parse("org/m@refs%2Fconvert%2Fparquet", HUB_REPO_MODEL, false, &r,
					&err),
			 0);

	/* --type dataset applies to a bare id, and must agree with a prefix. */
	assert_int_equal(hub_repo_parse("org/ds", HUB_REPO_DATASET, true, &r, &err), 0);
	assert_int_equal(r.type, HUB_REPO_DATASET);
	assert_int_equal(hub_repo_parse("spaces/org/x", HUB_REPO_DATASET, true,
					&r, &err), -EINVAL);
	assert_non_null(strstr(err.message, "--type"));
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"org/model@", "org/model@a%00b",
		"org/model@tab\there", "bad id", "org//x", "",
		/* Not git ref names (git check-ref-format): ".." would vanish from the URL. */
		"org/model@..", "org/model@%2E%2E", "org/model@.", "org/model@a/../b",
		"org/model@.hidden", "org/model@a/.b", "org/model@main~1", "org/model@a^",
		"org/model@a:b", "org/model@a b", "org/model@a*", "org/model@a?", "org/model@a[",
		"org/model@a\\b", "org/model@x.lock", "org/model@a/x.lock/b", "org/model@a@{1}",
		"org/model@@", "org/model@/a", "org/model@a/", "org/model@a//b", "org/model@a.",
	};
	struct hub_repo r;
	struct hub_error err = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (hub_repo_parse(bad[i], HUB_REPO_MODEL, false, &r, &err) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(err.code, -EINVAL);
		assert_true(strlen(err.message) > 0);
	}
}

static void test_escape(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(hub_url_escape(&b, "refs/pr/1", false), 0);
	assert_string_equal(buf_cstr(&b), "refs%2Fpr%2F1");
	buf_reset(&b);
	/* huggingface_hub's awful-filename case (hub-api.md 1.3). */
	assert_int_equal(hub_url_escape(&b, "subfolder/to?/awful?filename%you:should,never.give", true), 0);
	assert_string_equal(buf_cstr(&b),
			    "subfolder/to%3F/awful%3Ffilename%25you%3Ashould%2Cnever.give");
	buf_reset(&b);
	assert_int_equal(hub_url_escape(&b, "données/été #1.csv", true), 0);
	assert_string_equal(buf_cstr(&b), "donn%C3%A9es/%C3%A9t%C3%A9%20%231.csv");
	buf_reset(&b);
	assert_int_equal(hub_url_escape(&b, "a b~c_d.e-f", false), 0);
	assert_string_equal(buf_cstr(&b), "a%20b~c_d.e-f");
	buf_release(&b);
}

static void test_format_roundtrip(void **state)
{
	struct hub_repo r, back;
	struct hub_error err = { 0 };
	char text[256];

	(void)state;
	assert_int_equal(hub_repo_parse("datasets/org/ds@refs/pr/7", HUB_REPO_MODEL,
					false, &r, &err), 0);
	assert_int_equal(hub_repo_format(&r, text, sizeof(text)), 0);
	assert_string_equal(text, "datasets/org/ds@refs%2Fpr%2F7");
	assert_int_equal(hub_repo_parse(text, HUB_REPO_MODEL, false, &back, &err), 0);
	assert_string_equal(back.revision, "refs/pr/7");
	assert_int_equal(back.type, HUB_REPO_DATASET);
	/* Too small an output is an error, not a silent cut. */
	assert_int_equal(hub_repo_format(&r, text, 8), -EFBIG);
	/*
	 * A '%' in a branch's name is escaped, so that the text parses back
	 * to that branch: "a%2Fb" came back as "a/b", another branch, and
	 * "100%" as no revision at all (a helper's review).
	 */
	static const char *const revisions[] = { "a%2Fb", "100%", "50%off", "a%%b" };
	for (size_t i = 0; i < sizeof(revisions) / sizeof(revisions[0]); i++) {
		snprintf(r.revision, sizeof(r.revision), "%s", revisions[i]);
		assert_int_equal(hub_repo_format(&r, text, sizeof(text)), 0);
		assert_int_equal(hub_repo_parse(text, HUB_REPO_MODEL, false, &back, &err), 0);
		assert_string_equal(back.revision, revisions[i]);
	}
	/* As HfFileSystem (unquote): a '%' that starts no escape is itself. */
	assert_int_equal(hub_repo_parse("org/m@100%", HUB_REPO_MODEL, false, &back, &err), 0);
	assert_string_equal(back.revision, "100%");
	assert_int_equal(hub_repo_parse("org/m@bad%2", HUB_REPO_MODEL, false, &back, &err), 0);
	assert_string_equal(back.revision, "bad%2");
	assert_int_equal(hub_repo_parse("org/m@%zz%41", HUB_REPO_MODEL, false, &back, &err), 0);
	assert_string_equal(back.revision, "%zzA");
}

static void test_types(void **state)
{
	enum hub_repo_type t;

	(void)state;
	assert_int_equal(hub_repo_type_parse("datasets", &t), 0);
	assert_int_equal(t, HUB_REPO_DATASET);
	assert_int_equal(hub_repo_type_parse("space", &t), 0);
	assert_int_equal(t, HUB_REPO_SPACE);
	assert_int_equal(hub_repo_type_parse("kernel", &t), -EINVAL);
	assert_string_equal(hub_repo_api_segment(HUB_REPO_MODEL), "models");
	assert_string_equal(hub_repo_url_prefix(HUB_REPO_MODEL), "");
	assert_string_equal(hub_repo_url_prefix(HUB_REPO_SPACE), "spaces/");
}

/* URLs shown to people never carry a password or a signature. */
static void test_redact_url(void **state)
{
	static const char *const cases[][2] = {
		{ "http://127.0.0.1:8080", "http://127.0.0.1:8080" },
		{ "https://user:s3cret@mirror.example/hub", "https://***@mirror.example/hub" },
		{ "https://u:p@ss@mirror.example", "https://***@mirror.example" },
		{ "https://cdn.example/x/y?Signature=abc&Expires=1", "https://cdn.example/x/y" },
		{ "https://u:p@h/p?q=1#f", "https://***@h/p" },
		{ "https://h/path@with-at?x", "https://h/path@with-at" },
		{ "", "" },
	};
	char out[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hub_redact_url(cases[i][0], out, sizeof(out));
		assert_string_equal(out, cases[i][1]);
	}
	/* Cut to the buffer, never past it, and never a password. */
	hub_redact_url("https://user:s3cret@mirror.example/hub", out, 12);
	assert_string_equal(out, "https://***");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repo_ids),
		cmocka_unit_test(test_redact_url),
		cmocka_unit_test(test_parse_hffs_forms),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_format_roundtrip),
		cmocka_unit_test(test_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
