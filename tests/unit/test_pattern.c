/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/pattern.h"

/*
 * What huggingface_hub (1.x, Python 3.11) answers, generated with
 *   list(filter_repo_objects([path], allow_patterns=[pattern]))
 * for each pair (the bytes that start no UTF-8 sequence were passed as
 * Python's surrogateescape decodes them). glibc's fnmatch() answered
 * otherwise for "donn?es/...", "日本語/???.txt" and "...[éa]t..." (one
 * file each), "[^c]..." (negated), "[[:alpha:]]..." (a class) and
 * "extra\weights.dat".
 */
static const struct {
	const char *pattern, *path;
	bool match;
} python[] = {
	{ "a/b", "a/b", true },
	{ "a/b", "config.json", false },
	{ "a/b", "dir/", false },
	{ "a/b", "a\\b", true },
	{ "a\\b", "a/b", true },
	{ "a\\b", "config.json", false },
	{ "a\\b", "readme.md", false },
	{ "a\\b", "a\\b", true },
	{ "?", "\xff", true },
	{ "?", "\xc3", true },
	{ "?", "config.json", false },
	{ "?", "b.txt", false },
	{ "?", "日", true },
	{ "??", "\xc3", false },
	{ "??", "\xff\xfe", true },
	{ "??", "]x", true },
	{ "??", "!x", true },
	{ "??", "README.md", false },
	{ "[\xff]", "\xff", true },
	{ "[\xff]", "config.json", false },
	{ "[\xff]", "données/a.txt", false },
	{ "*.json", "\xff\xfe", false },
	{ "*.json", "config.json", true },
	{ "*.json", "dir/", false },
	{ "*.json", "q/r/s.json", true },
	{ "donn?es/*", "\xc3", false },
	{ "donn?es/*", "données/a.txt", true },
	{ "donn?es/*", "日本語/abc.txt", false },
	{ "日本語/???.txt", "日本語/abc.txt", true },
	{ "日本語/???.txt", "日本語/abcd.txt", false },
	{ "日本語/???.txt", "q/r/s.json", false },
	{ "*/[éa]t*", "extra/weights.dat", false },
	{ "*/[éa]t*", "x/ét.txt", true },
	{ "*/[éa]t*", "x/at.txt", true },
	{ "*/[éa]t*", "c.txt", false },
	{ "[^c]*", "\xff\xfe", false },
	{ "[^c]*", "config.json", true },
	{ "[^c]*", "c.txt", true },
	{ "[^c]*", "^c.txt", true },
	{ "[^c]*", "a]", false },
	{ "[!c]*", "\xff\xfe", true },
	{ "[!c]*", "config.json", false },
	{ "[!c]*", "model.safetensors", true },
	{ "[!c]*", "c.txt", false },
	{ "[!c]*", "b.txt", true },
	{ "[[:alpha:]]*", "a]", true },
	{ "[[:alpha:]]*", "readme.md", false },
	{ "[[:alpha:]]*", "é", false },
	{ "[[:alpha:]]", "x/ét.txt", false },
	{ "[[:alpha:]]", "b.txt", false },
	{ "[[:alpha:]]", "a]", true },
	{ "extra\\weights.dat", "model.safetensors", false },
	{ "extra\\weights.dat", "extra/weights.dat", true },
	{ "extra\\weights.dat", "a]", false },
	{ "extra\\", "extra/weights.dat", true },
	{ "extra\\", "extra/sub/deep.bin", true },
	{ "extra\\", "a]", false },
	{ "extra\\", "é", false },
	{ "extra/", "extra/weights.dat", true },
	{ "extra/", "extra/sub/deep.bin", true },
	{ "extra/", "x/at.txt", false },
	{ "extra/", ".hidden", false },
	{ "extra", "日本語/abc.txt", false },
	{ "extra", ":a]", false },
	{ "*", "\xc3", true },
	{ "*", "dir/", true },
	{ "*", "e", true },
	{ "**", "config.json", true },
	{ "**", "a]", true },
	{ "**", ":a]", true },
	{ "???", "b.txt", false },
	{ "???", "a&b", true },
	{ "???", ".hidden", false },
	{ "???", "a\\b", true },
	{ "???", "a-b", true },
	{ "*/*", "extra/weights.dat", true },
	{ "*/*", "日本語/abc.txt", true },
	{ "*/*", "README.md", false },
	{ "*/*", "a\\b", true },
	{ "*/*", "a-b", false },
	{ "[]x]*", "x/ét.txt", true },
	{ "[]x]*", "x/at.txt", true },
	{ "[]x]*", "]x", true },
	{ "[]x]*", "a&b", false },
	{ "[]x]*", "dir/", false },
	{ "[!]]*", "]x", false },
	{ "[!]]*", "[x", true },
	{ "[!]]*", "a]", true },
	{ "[!]]*", "a\\b", true },
	{ "[a-c]*", "a/b", true },
	{ "[a-c]*", "extra/sub/deep.bin", false },
	{ "[a-c]*", "^c.txt", false },
	{ "[a-c]*", "b.txt", true },
	{ "[a-c]*", "a&b", true },
	{ "[c-a]*", "extra/sub/deep.bin", false },
	{ "[c-a]*", "e", false },
	{ "[c-a!]*", "\xff\xfe", true },
	{ "[c-a!]*", "c.txt", true },
	{ "[c-a!]*", "!x", true },
	{ "[z-a]", "données/a.txt", false },
	{ "[z-a]", "b.txt", false },
	{ "[!z-a]", "\xc3", true },
	{ "[!z-a]", "config.json", false },
	{ "[!z-a]", "extra/sub/deep.bin", false },
	{ "[!z-a]", "e", true },
	{ "[!z-a]", "日", true },
	{ "[bz-ac]", "a&b", false },
	{ "[bz-ac]", ".hidden", false },
	{ "[a-]*", "^c.txt", false },
	{ "[a-]*", "-x", true },
	{ "[a-]*", "a]", true },
	{ "[a-]*", "a\\b", true },
	{ "[a-]*", "e", false },
	{ "[-a]*", "x/at.txt", false },
	{ "[-a]*", "a]", true },
	{ "[-a]*", "readme.md", false },
	{ "[-a]*", "a&b", true },
	{ "[-a]*", "a\\b", true },
	{ "[!-a]*", "a/b", false },
	{ "[!-a]*", "model.safetensors", true },
	{ "[!-a]*", "données/a.txt", true },
	{ "[!-a]*", "c.txt", true },
	{ "[!-a]*", "-x", false },
	{ "[a-c-e]", "a/b", false },
	{ "[a-c-e]", "^c.txt", false },
	{ "[a-c-e]", "e", true },
	{ "[--0]*", "]x", false },
	{ "[--0]*", "-x", true },
	{ "[--0]*", "[x", false },
	{ "[--0]*", ".hidden", true },
	{ "[", "a/b", false },
	{ "[", "日本語/abc.txt", false },
	{ "[a", "README.md", false },
	{ "[a", "dir/", false },
	{ "[!", "données/a.txt", false },
	{ "[!", "a]", false },
	{ "[]", "\xff\xfe", false },
	{ "[]", "日", false },
	{ "[!]", "a&b", false },
	{ "[!]", "a\\b", false },
	{ "[]]", "extra/weights.dat", false },
	{ "[]]", "a&b", false },
	{ "*[", "a&b", false },
	{ "*[", "é", false },
	{ "a[]b", "\xff\xfe", false },
	{ "a[]b", "x/at.txt", false },
	{ "[x", "c.txt", false },
	{ "[x", "[x", true },
	{ "[x", "a\\b", false },
	{ "\\[x", "extra/sub/deep.bin", false },
	{ "\\[x", "日本語/abcd.txt", false },
	{ "README.MD", "\xff\xfe", false },
	{ "README.MD", ":a]", false },
	{ "readme.*", "a/b", false },
	{ "readme.*", "日本語/abc.txt", false },
	{ "readme.*", "readme.md", true },
	{ "a&b", "\xff", false },
	{ "a&b", "README.md", false },
	{ "a&b", "a&b", true },
	{ "[&]*", "config.json", false },
	{ "[&]*", "c.txt", false },
	{ "[a&&b]*", "日本語/abc.txt", false },
	{ "[a&&b]*", "b.txt", true },
	{ "[a&&b]*", "README.md", false },
	{ "[a&&b]*", "a&b", true },
	{ "[a&&b]*", "a\\b", true },
	{ "*.[jb]*", "\xff\xfe", false },
	{ "*.[jb]*", "config.json", true },
	{ "*.[jb]*", "extra/sub/deep.bin", true },
	{ "*.[jb]*", "q/r/s.json", true },
	{ "*.[jb]*", "é", false },
	{ "q/*", "q/r/s.json", true },
	{ "q/*", "é", false },
	{ "q/*", "e", false },
	{ "q/", "model.safetensors", false },
	{ "q/", "[x", false },
	{ "q/", "q/r/s.json", true },
	{ "*/s.json", "extra/weights.dat", false },
	{ "*/s.json", ":a]", false },
	{ "*/s.json", "q/r/s.json", true },
	{ "*.js?n", "\xff", false },
	{ "*.js?n", "config.json", true },
	{ "*.js?n", "x/ét.txt", false },
	{ "*.js?n", "q/r/s.json", true },
	{ ".*", "日本語/abc.txt", false },
	{ ".*", "README.md", false },
	{ ".*", ".hidden", true },
	{ "[.]*", "model.safetensors", false },
	{ "[.]*", "[x", false },
	{ "[.]*", ".hidden", true },
	{ "?[!a-z]*", "x/ét.txt", true },
	{ "?[!a-z]*", "[x", false },
	{ "?[!a-z]*", "a&b", true },
	{ "?[!a-z]*", "a\\b", true },
	{ "?[!a-z]*", "é", false },
	{ "[é]", "^c.txt", false },
	{ "[é]", "[:a]", false },
	{ "[é]", "é", true },
	{ "[e-é]", "x/at.txt", false },
	{ "[e-é]", "b.txt", false },
	{ "[e-é]", "é", true },
	{ "[e-é]", "e", true },
	{ "[日]", "x/at.txt", false },
	{ "[日]", "^c.txt", false },
	{ "[日]", "日", true },
	{ "[!日]", "a/b", false },
	{ "[!日]", "\xff", true },
	{ "[!日]", "\xc3", true },
	{ "[!日]", "q/r/s.json", false },
	{ "[!日]", "e", true },
	{ "[^]*", "^c.txt", true },
	{ "[^]*", "-x", false },
	{ "[^]*", "e", false },
	{ "[!^]*", "x/at.txt", true },
	{ "[!^]*", "^c.txt", false },
	{ "[!^]*", "README.md", true },
	{ "[!^]*", "a\\b", true },
	{ "[]-a]*", "a/b", true },
	{ "[]-a]*", "config.json", false },
	{ "[]-a]*", "données/a.txt", false },
	{ "[]-a]*", "^c.txt", true },
	{ "[]-a]*", "]x", true },
	{ "[!]-a]*", "extra/sub/deep.bin", true },
	{ "[!]-a]*", "x/ét.txt", true },
	{ "[!]-a]*", "^c.txt", false },
	{ "[!]-a]*", "!x", true },
	{ "[!]-a]*", "a]", false },
	{ "[a-b-c]", "a/b", false },
	{ "[a-b-c]", "é", false },
	{ "a-b", "model.safetensors", false },
	{ "a-b", "extra/sub/deep.bin", false },
	{ "a-b", "a-b", true },
	{ "[z-a-]", "x/at.txt", false },
	{ "[z-a-]", "readme.md", false },
	{ "[b-a-]", "x/ét.txt", false },
	{ "[b-a-]", "é", false },
	{ "*\\*", "extra/weights.dat", true },
	{ "*\\*", "日本語/abcd.txt", true },
	{ "*\\*", "x/ét.txt", true },
	{ "*\\*", "a]", false },
	{ "*\\*", "[:a]", false },
};

static bool match(const char *pattern, const char *path)
{
	struct pattern_hf *p;
	bool m;

	assert_int_equal(pattern_hf_compile(pattern, &p), 0);
	m = pattern_hf_match(p, path);
	pattern_hf_free(p);
	return m;
}

static void test_as_python(void **state)
{
	size_t wrong = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(python) / sizeof(python[0]); i++) {
		if (match(python[i].pattern, python[i].path) != python[i].match) {
			print_error("'%s' on '%s': %s, Python says %s\n", python[i].pattern,
				    python[i].path, python[i].match ? "no match" : "a match",
				    python[i].match ? "a match" : "none");
			wrong++;
		}
	}
	assert_int_equal(wrong, 0);
}

/* A pattern and a path long enough to hurt a walk that backtracks without bound. */
static void test_no_blowup(void **state)
{
	char pat[256], path[4097];
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(pat + n, sizeof(pat) - n, "*a");
	snprintf(pat + n, sizeof(pat) - n, "*b");
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_false(match(pat, path));
	path[sizeof(path) - 2] = 'b';
	assert_true(match(pat, path));
}

/* os.path.expandvars(os.path.expanduser(s)), as Python computed it. */
static void test_expand_path(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "$HUBFS_T_A/x", "/a/x" },
		{ "${HUBFS_T_A}x", "/ax" },
		{ "$HUBFS_T_Ax", "$HUBFS_T_Ax" },
		{ "$HUBFS_T_UNSET/x", "$HUBFS_T_UNSET/x" },
		{ "${HUBFS_T_UNSET}/x", "${HUBFS_T_UNSET}/x" },
		{ "$", "$" },
		{ "a$", "a$" },
		{ "$/x", "$/x" },
		{ "${", "${" },
		{ "${HUBFS_T_A", "${HUBFS_T_A" },
		{ "${}", "${}" },
		{ "$HUBFS_T_EMPTY/x", "/x" },
		{ "~/$HUBFS_T_A", "/home/u//a" },
		{ "~$HUBFS_T_A", "~/a" },
		{ "$HUBFS_T_D/x", "$HUBFS_T_A/x" }, /* a value is not expanded again */
		{ "a$HUBFS_T_A$HUBFS_T_A", "a/a/a" },
		{ "${HUBFS_T_A}${HUBFS_T_A}", "/a/a" },
		{ "$$HUBFS_T_A", "$/a" },
		{ "${HUBFS_T_A}}", "/a}" },
		{ "$HUBFS_T_9", "nine" },
		{ "${HUBFS_T_A}/${HUBFS_T_UNSET", "/a/${HUBFS_T_UNSET" },
		{ "$HOME/.cache", "/home/u/.cache" },
		{ "~", "/home/u" },
		{ "/no/vars", "/no/vars" },
		{ "$HUBFS-T_A", "$HUBFS-T_A" },
		{ "${HUBFS_T_A/x}", "${HUBFS_T_A/x}" },
	};
	char out[64], small[4];

	(void)state;
	setenv("HOME", "/home/u", 1);
	setenv("HUBFS_T_A", "/a", 1);
	setenv("HUBFS_T_EMPTY", "", 1);
	setenv("HUBFS_T_D", "$HUBFS_T_A", 1);
	setenv("HUBFS_T_9", "nine", 1);
	unsetenv("HUBFS_T_UNSET");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(pattern_expand_path(cases[i].in, out, sizeof(out)), 0);
		assert_string_equal(out, cases[i].out);
	}
	assert_int_equal(pattern_expand_path("$HUBFS_T_A/x", small, sizeof(small)),
			 -ENAMETOOLONG);
	assert_int_equal(pattern_expand_path("abc", small, sizeof(small)), 0);
	assert_int_equal(pattern_expand_path("abcd", small, sizeof(small)), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_as_python),
		cmocka_unit_test(test_no_blowup),
		cmocka_unit_test(test_expand_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
