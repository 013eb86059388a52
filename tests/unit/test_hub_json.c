/* SPDX-License-Identifier: MIT */
/* JSON from the Hub: valid, invalid and hostile answers (hub/json.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hub/hub_int.h"
#include "util/log.h"

struct seen {
	size_t n;
	char paths[16][128];
	struct hub_entry last;
};

static int collect(void *ctx, const struct hub_entry *e)
{
	struct seen *s = ctx;

	if (s->n < 16)
		snprintf(s->paths[s->n], sizeof(s->paths[0]), "%s", e->path);
	s->last = *e;
	s->last.path = NULL; /* only valid during the call */
	s->n++;
	return 0;
}

static int parse(const char *text, struct seen *s, size_t *rejected)
{
	memset(s, 0, sizeof(*s));
	return hub_json_parse_entries(text, strlen(text), collect, s, rejected, NULL);
}

/* The real bert-base-uncased entries from hub-api.md 4.1. */
static void test_real_entries(void **state)
{
	static const char page[] =
		"[{\"type\":\"file\",\"oid\":\"dc08351d4dc0732d9c8af04070ced089b201ce2f\",\"size\":345,\"path\":\".gitattributes\"},\n"
		" {\"type\":\"file\",\"oid\":\"ba5d19791be1dd7992e33bd61f20207b0f7f50a5\",\"size\":440473133,\"path\":\"pytorch_model.bin\",\n"
		"  \"lfs\":{\"oid\":\"097417381d6c7230bd9e3557456d726de6e83245ec8b24f529f60198a67b203a\",\"size\":440473133,\"pointerSize\":134},\n"
		"  \"xetHash\":\"2d8408d3a894d02517d04956e2f7546ff08362594072f3527ce144b5212a3296\"},\n"
		" {\"type\":\"directory\",\"oid\":\"0123456789012345678901234567890123456789\",\"size\":0,\"path\":\"1/2\"}]\n";
	struct seen s;
	size_t rejected = 99;

	(void)state;
	assert_int_equal(parse(page, &s, &rejected), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(rejected, 0);
	assert_string_equal(s.paths[1], "pytorch_model.bin");
	assert_int_equal(s.last.type, HUB_ENTRY_DIR);
	assert_string_equal(s.paths[2], "1/2");
	/* Check the LFS entry in detail. */
	parse("[{\"type\":\"file\",\"oid\":\"ba5d19791be1dd7992e33bd61f20207b0f7f50a5\",\"size\":440473133,\"path\":\"pytorch_model.bin\","
	      "\"lfs\":{\"oid\":\"097417381d6c7230bd9e3557456d726de6e83245ec8b24f529f60198a67b203a\",\"size\":440473133,\"pointerSize\":134}}]",
	      &s, NULL);
	assert_true(s.last.is_lfs);
	assert_true(s.last.size == 440473133);
	assert_int_equal(s.last.lfs_pointer_size, 134);
	assert_string_equal(s.last.lfs_sha256,
			    "097417381d6c7230bd9e3557456d726de6e83245ec8b24f529f60198a67b203a");
	assert_string_equal(s.last.oid, "ba5d19791be1dd7992e33bd61f20207b0f7f50a5");
}

#define OID "\"oid\":\"dc08351d4dc0732d9c8af04070ced089b201ce2f\""

/* Each hostile entry is dropped; the good one beside it survives. */
static void test_hostile_entries(void **state)
{
	static const char *const hostile[] = {
		"{\"type\":\"file\"," OID ",\"size\":1,\"path\":\"../../etc/passwd\"}",
		"{\"type\":\"file\"," OID ",\"size\":1,\"path\":\"/etc/passwd\"}",
		"{\"type\":\"file\"," OID ",\"size\":1,\"path\":\"a/../../b\"}",
		"{\"type\":\"file\"," OID ",\"size\":1,\"path\":\"\"}",
		"{\"type\":\"file\"," OID ",\"size\":1,\"path\":\"a//b\"}",
		"{\"type\":\"file\"," OID ",\"size\":1,\"path\":\"nul\\u0000byte\"}",
		"{\"type\":\"file\"," OID ",\"size\":1,\"path\":\"new\\nline\"}",
		"{\"type\":\"file\"," OID ",\"size\":-1,\"path\":\"neg\"}",
		"{\"type\":\"file\"," OID ",\"size\":1e30,\"path\":\"float\"}",
		"{\"type\":\"file\"," OID ",\"size\":99999999999999999999999,\"path\":\"huge\"}",
		"{\"type\":\"file\"," OID ",\"size\":9223372036854775807,\"path\":\"int64max\"}",
		/* Past 1 TiB: no file on the Hub is, and its block table would cost 16 MiB. */
		"{\"type\":\"file\"," OID ",\"size\":1099511627777,\"path\":\"past-1-TiB\"}",
		"{\"type\":\"file\"," OID ",\"size\":\"12\",\"path\":\"string-size\"}",
		"{\"type\":\"file\"," OID ",\"path\":\"no-size\"}",
		"{\"type\":\"file\",\"oid\":\"xyz\",\"size\":1,\"path\":\"bad-oid\"}",
		"{\"type\":\"file\",\"oid\":\"DC08351D4DC0732D9C8AF04070CED089B201CE2F\",\"size\":1,\"path\":\"upper-oid\"}",
		"{\"type\":\"symlink\"," OID ",\"size\":1,\"path\":\"weird-type\"}",
		"{\"type\":7," OID ",\"size\":1,\"path\":\"int-type\"}",
		"{" OID ",\"size\":1,\"path\":\"no-type\"}",
		"{\"type\":\"file\"," OID ",\"size\":1,\"path\":[\"array\"]}",
		"{\"type\":\"file\"," OID ",\"size\":5,\"path\":\"lfs-size-mismatch\",\"lfs\":{\"oid\":\"097417381d6c7230bd9e3557456d726de6e83245ec8b24f529f60198a67b203a\",\"size\":6,\"pointerSize\":130}}",
		"{\"type\":\"file\"," OID ",\"size\":5,\"path\":\"lfs-bad-oid\",\"lfs\":{\"oid\":\"abc\",\"size\":5,\"pointerSize\":130}}",
		"{\"type\":\"file\"," OID ",\"size\":5,\"path\":\"lfs-not-object\",\"lfs\":\"yes\"}",
		"{\"type\":\"file\"," OID ",\"size\":5,\"path\":\"lfs-huge-pointer\",\"lfs\":{\"oid\":\"097417381d6c7230bd9e3557456d726de6e83245ec8b24f529f60198a67b203a\",\"size\":5,\"pointerSize\":999999}}",
		"{\"type\":\"directory\"," OID ",\"size\":0,\"path\":\"dir-with-lfs\",\"lfs\":{}}",
		"\"just a string\"",
		"[]",
		"{\"type\":\"file\"," OID ",\"size\":1,\"path\":\"bad-utf8-\xff\"}",
	};
	char page[2048];
	struct seen s;
	size_t rejected;

	(void)state;
	log_init("test", LOG_LVL_ERROR, false); /* the rejections are expected */
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		snprintf(page, sizeof(page),
			 "[%s,{\"type\":\"file\"," OID ",\"size\":3,\"path\":\"good.txt\"}]",
			 hostile[i]);
		assert_int_equal(parse(page, &s, &rejected), 0);
		if (s.n != 1 || strcmp(s.paths[0], "good.txt") != 0 || rejected != 1)
			fail_msg("case %zu not rejected: %s", i, hostile[i]);
	}
}

static void test_broken_documents(void **state)
{
	static const char *const broken[] = {
		"", "{", "[", "[{\"type\":\"file\"", "{\"a\":1}", "null", "42",
		"[] trailing", "[]]", "\"str\"",
	};
	struct seen s;
	struct hub_error err = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		memset(&s, 0, sizeof(s));
		if (hub_json_parse_entries(broken[i], strlen(broken[i]), collect, &s,
					   NULL, &err) != -EPROTO)
			fail_msg("accepted broken page '%s'", broken[i]);
		assert_int_equal(s.n, 0);
	}
}

/* Nesting deeper than we allow is refused before it costs stack. */
static void test_deep_nesting(void **state)
{
	size_t depth = 10000;
	char *deep = malloc(2 * depth + 1);
	struct seen s;

	(void)state;
	memset(deep, '[', depth);
	memset(deep + depth, ']', depth);
	deep[2 * depth] = '\0';
	assert_int_equal(parse(deep, &s, NULL), -EPROTO);
	free(deep);
}

/*
 * Values packed closer than any answer of the Hub packs them are refused
 * before json-c makes them: a page of "{}" took 260 times its size in
 * memory, 786 MB for 3 MB. A real page as long is taken, and its rejected
 * entries are counted, not each logged.
 */
static void test_dense_documents(void **state)
{
	static const char *const units[] = { "{},", "[],", "1,", "\"\"," };
	size_t count = 200000;
	struct seen s;

	(void)state;
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		size_t ulen = strlen(units[u]);
		char *doc = malloc(count * ulen + 3);
		size_t at = 0;

		assert_non_null(doc);
		doc[at++] = '[';
		for (size_t i = 0; i < count; i++, at += ulen)
			memcpy(doc + at, units[u], ulen);
		doc[at - 1] = ']';
		doc[at] = '\0';
		assert_int_equal(parse(doc, &s, NULL), -EPROTO);
		assert_int_equal(s.n, 0);
		free(doc);
	}
	/* As many entries, each with its fields: taken, every one. */
	{
		static const char entry[] =
			"{\"type\":\"file\",\"oid\":\"0123456789012345678901234567890123456789\","
			"\"size\":5,\"path\":\"d/f\",\"lfs\":{\"oid\":\"%064d\",\"size\":5,"
			"\"pointerSize\":130}},";
		size_t n = 20000, elen = strlen(entry) - 5 + 64;
		char *doc = malloc(n * elen + 3);
		size_t at = 0, rejected = 0;

		assert_non_null(doc);
		doc[at++] = '[';
		for (size_t i = 0; i < n; i++)
			at += (size_t)snprintf(doc + at, n * elen + 3 - at, entry, (int)i);
		doc[at - 1] = ']';
		doc[at] = '\0';
		assert_int_equal(parse(doc, &s, &rejected), 0);
		assert_int_equal(s.n, n);
		assert_int_equal(rejected, 0);
		/* The same with a path that escapes: every one rejected, and counted. */
		for (char *p = strstr(doc, "d/f"); p; p = strstr(p + 3, "d/f"))
			memcpy(p, "../", 3);
		assert_int_equal(parse(doc, &s, &rejected), 0);
		assert_int_equal(s.n, 0);
		assert_int_equal(rejected, n);
		free(doc);
	}
}

static int stop_after_one(void *ctx, const struct hub_entry *e)
{
	(void)e;
	(*(int *)ctx)++;
	return -ECANCELED;
}

static void test_callback_stops(void **state)
{
	static const char page[] =
		"[{\"type\":\"file\"," OID ",\"size\":1,\"path\":\"a\"},"
		"{\"type\":\"file\"," OID ",\"size\":1,\"path\":\"b\"}]";
	int calls = 0;

	(void)state;
	assert_int_equal(hub_json_parse_entries(page, strlen(page), stop_after_one,
						&calls, NULL, NULL), -ECANCELED);
	assert_int_equal(calls, 1);
}

static void test_repo_info(void **state)
{
	static const char good[] =
		"{\"_id\":\"63a3a6bf3618ae17d667acf2\",\"id\":\"akariasai/PopQA\",\"author\":\"akariasai\","
		"\"sha\":\"098765c79ea10a2cb19c828324e33281b8336ec0\",\"lastModified\":\"2022-12-22T01:01:20.000Z\","
		"\"private\":false,\"gated\":\"manual\",\"disabled\":false,\"tags\":[\"format:csv\",\"region:us\",7],"
		"\"siblings\":[{\"rfilename\":\".gitattributes\"}]}";
	struct hub_repo_info info;
	struct hub_error err = { 0 };

	(void)state;
	assert_int_equal(hub_json_parse_repo_info(good, strlen(good), &info, &err), 0);
	assert_string_equal(info.id, "akariasai/PopQA");
	assert_string_equal(info.sha, "098765c79ea10a2cb19c828324e33281b8336ec0");
	assert_string_equal(info.gated, "manual");
	assert_false(info.is_private);
	assert_int_equal(info.n_tags, 2); /* the number 7 is not a tag */
	assert_string_equal(info.tags[1], "region:us");
	hub_repo_info_release(&info);

	static const char *const bad[] = {
		"{\"id\":\"a/b\",\"sha\":\"short\"}",
		"{\"id\":\"a/b/c\",\"sha\":\"098765c79ea10a2cb19c828324e33281b8336ec0\"}",
		"{\"sha\":\"098765c79ea10a2cb19c828324e33281b8336ec0\"}",
		"{\"id\":7,\"sha\":\"098765c79ea10a2cb19c828324e33281b8336ec0\"}",
		"[1,2]", "{\"id\":\"a/b\",", "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (hub_json_parse_repo_info(bad[i], strlen(bad[i]), &info, &err) != -EPROTO)
			fail_msg("accepted bad info '%s'", bad[i]);
		assert_null(info.tags);
	}
}

static void test_error_body(void **state)
{
	char out[64];
	const char *body = "{\"error\":\"Repository not found\\nX-Injected: 1\"}";

	(void)state;
	hub_json_error_message(body, strlen(body), out, sizeof(out));
	assert_string_equal(out, "Repository not foundX-Injected: 1");
	hub_json_error_message("<html>", 6, out, sizeof(out));
	assert_string_equal(out, "");
}

/* ---- namespace listings ---- */

struct repos_seen {
	size_t n;
	char ids[16][HUB_REPO_ID_MAX + 1];
	struct hub_repo_summary last;
	int stop_after;        /* return -EINTR on this call (1-based); 0: never */
};

static int collect_repo(void *ctx, const struct hub_repo_summary *r)
{
	struct repos_seen *s = ctx;

	if (s->n < 16)
		snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", r->id);
	s->last = *r;
	s->last.id = NULL; /* only valid during the call */
	s->n++;
	return s->stop_after && (int)s->n == s->stop_after ? -EINTR : 0;
}

static int parse_repos(const char *text, const char *author, size_t max,
		       struct repos_seen *s, size_t *given, size_t *rejected)
{
	int stop = s->stop_after;

	memset(s, 0, sizeof(*s));
	s->stop_after = stop;
	return hub_json_parse_repo_list(text, strlen(text), HUB_REPO_DATASET, author,
					max, collect_repo, s, given, rejected, NULL);
}

static void test_repo_list(void **state)
{
	/* The shape the Hub answers /api/datasets?author=org&expand=… with. */
	static const char page[] =
		"[{\"_id\":\"63a3a6bf3618ae17d667acf2\",\"id\":\"org/public\",\"private\":false,"
		"\"gated\":false,\"sha\":\"098765c79ea10a2cb19c828324e33281b8336ec0\","
		"\"lastModified\":\"2022-12-22T01:01:20.000Z\",\"likes\":45},\n"
		" {\"_id\":\"63a3a6bf3618ae17d667acf3\",\"id\":\"org/secret\",\"private\":true,"
		"\"gated\":\"manual\"},\n"
		" {\"id\":\"Org/Cased\",\"gated\":\"auto\",\"lastModified\":\"1970-01-01T00:00:01Z\"}]";
	struct repos_seen s = { 0 };
	size_t given = 99, rejected = 99;

	(void)state;
	assert_int_equal(parse_repos(page, "org", SIZE_MAX, &s, &given, &rejected), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(given, 3);
	assert_int_equal(rejected, 0);
	assert_string_equal(s.ids[0], "org/public");
	assert_string_equal(s.ids[1], "org/secret");
	assert_string_equal(s.ids[2], "Org/Cased");
	assert_int_equal(s.last.type, HUB_REPO_DATASET);
	assert_string_equal(s.last.gated, "auto");
	assert_false(s.last.is_private);
	assert_string_equal(s.last.sha, "");
	assert_int_equal(s.last.last_modified, 1);

	/* The first one in detail: every field filled. */
	s.stop_after = 0;
	assert_int_equal(parse_repos(page, "org", 1, &s, &given, &rejected), 0);
	assert_int_equal(given, 1);
	assert_string_equal(s.last.sha, "098765c79ea10a2cb19c828324e33281b8336ec0");
	assert_int_equal(s.last.last_modified, 1671670880);
	assert_string_equal(s.last.gated, "");

	/* The second: private and gated manually, nothing else listed. */
	s.stop_after = 2;
	assert_int_equal(parse_repos(page, "org", SIZE_MAX, &s, &given, &rejected), -EINTR);
	assert_int_equal(given, 2);
	assert_true(s.last.is_private);
	assert_string_equal(s.last.gated, "manual");
	assert_int_equal(s.last.last_modified, 0);

	/* An empty namespace is an empty array. */
	s.stop_after = 0;
	assert_int_equal(parse_repos("[]", "org", SIZE_MAX, &s, &given, &rejected), 0);
	assert_int_equal(given, 0);
	assert_int_equal(s.n, 0);
	/* max = 0 here means none: hub_list_repos turns "all" into SIZE_MAX. */
	assert_int_equal(parse_repos(page, "org", 0, &s, &given, &rejected), 0);
	assert_int_equal(s.n, 0);
}

static void test_repo_list_hostile(void **state)
{
	static const char *const bad[] = {
		"7",
		"{\"id\":\"org/a\"}",                                   /* not an array */
		"\"org/a\"",
		"[{\"id\":\"org/a\"}",                                  /* truncated */
		"[{\"id\":\"org/a\"}] x",                               /* trailing junk */
		"",
	};
	static const char *const rejected_repos[] = {
		"[1]",
		"[null]",
		"[[\"org/a\"]]",
		"[{}]",
		"[{\"id\":7}]",
		"[{\"id\":\"other/a\"}]",                               /* another namespace */
		"[{\"id\":\"organisation/a\"}]",                        /* a longer name, same prefix */
		"[{\"id\":\"org\"}]",                                   /* no name */
		"[{\"id\":\"org/\"}]",
		"[{\"id\":\"org/a/b\"}]",
		"[{\"id\":\"org/../x\"}]",
		"[{\"id\":\"org/a..b\"}]",
		"[{\"id\":\"org/a.git\"}]",
		"[{\"id\":\"org/a\\u0000b\"}]",                         /* embedded NUL */
		"[{\"id\":\"org/a\\nb\"}]",
		"[{\"id\":\"org/\\u00e9t\\u00e9\"}]",                   /* not [A-Za-z0-9_.-] */
		"[{\"id\":\"org/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}]", /* a name of 97 */
		"[{\"id\":\"org/a\",\"private\":\"yes\"}]",
		"[{\"id\":\"org/a\",\"private\":1}]",
		"[{\"id\":\"org/a\",\"gated\":true}]",
		"[{\"id\":\"org/a\",\"gated\":\"sometimes\"}]",
		"[{\"id\":\"org/a\",\"gated\":\"manual-and-then-some\"}]",
		"[{\"id\":\"org/a\",\"gated\":null}]",
		"[{\"id\":\"org/a\",\"sha\":\"abc\"}]",
		"[{\"id\":\"org/a\",\"sha\":\"098765c79ea10a2cb19c828324e33281b8336ec0a\"}]",
		"[{\"id\":\"org/a\",\"sha\":\"098765C79EA10A2CB19C828324E33281B8336EC0\"}]",
		"[{\"id\":\"org/a\",\"sha\":40}]",
		"[{\"id\":\"org/a\",\"lastModified\":\"yesterday\"}]",
		"[{\"id\":\"org/a\",\"lastModified\":1671670880}]",
		"[{\"id\":\"org/a\",\"lastModified\":\"2022-13-01T00:00:00.000Z\"}]",
		"[{\"id\":\"org/a\",\"lastModified\":\"2022-02-30T00:00:00.000Z\"}]",
		"[{\"id\":\"org/a\",\"lastModified\":\"2022-12-22T01:01:20.000+02:00\"}]",
		"[{\"id\":\"org/a\",\"lastModified\":\"2022-12-22T01:01:20.Z\"}]",
		"[{\"id\":\"org/a\",\"lastModified\":\"1969-12-31T23:59:59.000Z\"}]",
		"[{\"id\":\"org/a\",\"lastModified\":\"2022-12-22 01:01:20Z\"}]",
	};
	struct repos_seen s = { 0 };
	size_t given, rejected;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_repos(bad[i], "org", SIZE_MAX, &s, &given, &rejected) != -EPROTO)
			fail_msg("accepted bad listing '%s'", bad[i]);
		assert_int_equal(s.n, 0);
	}
	for (size_t i = 0; i < sizeof(rejected_repos) / sizeof(rejected_repos[0]); i++) {
		rejected = 0;
		if (parse_repos(rejected_repos[i], "org", SIZE_MAX, &s, &given, &rejected) != 0 ||
		    s.n != 0 || given != 0 || rejected != 1)
			fail_msg("did not reject '%s' (calls %zu, rejected %zu)",
				 rejected_repos[i], s.n, rejected);
	}
	/* A bad repo does not hide the good ones around it. */
	assert_int_equal(parse_repos("[{\"id\":\"org/a\"},{\"id\":\"x/y\"},{\"id\":\"org/b\"}]",
				     "org", SIZE_MAX, &s, &given, &rejected), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(rejected, 1);
	assert_string_equal(s.ids[1], "org/b");
}

static void test_iso8601(void **state)
{
	int64_t t = -1;

	(void)state;
	assert_int_equal(hub_parse_iso8601("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(hub_parse_iso8601("2024-02-29T23:59:59.999Z", &t), 0);
	assert_int_equal(t, 1709251199);
	assert_int_equal(hub_parse_iso8601("2000-03-01T00:00:00.000000000Z", &t), 0);
	assert_int_equal(t, 951868800);
	assert_int_equal(hub_parse_iso8601("9999-12-31T23:59:59Z", &t), 0);
	assert_int_equal(t, INT64_C(253402300799));
	assert_int_equal(hub_parse_iso8601("2024-01-01T00:00:00.0000000000Z", &t), -EPROTO);
	assert_int_equal(hub_parse_iso8601("2024-01-01T24:00:00Z", &t), -EPROTO);
	assert_int_equal(hub_parse_iso8601("2024-01-01T00:60:00Z", &t), -EPROTO);
	assert_int_equal(hub_parse_iso8601("2024-00-01T00:00:00Z", &t), -EPROTO);
	assert_int_equal(hub_parse_iso8601("2024-01-00T00:00:00Z", &t), -EPROTO);
	assert_int_equal(hub_parse_iso8601("+024-01-01T00:00:00Z", &t), -EPROTO);
	assert_int_equal(hub_parse_iso8601("2024-01-01T00:00:00", &t), -EPROTO);
	assert_int_equal(hub_parse_iso8601("2024-01-01T00:00:00Zjunk", &t), -EPROTO);
	assert_int_equal(hub_parse_iso8601("", &t), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_entries),
		cmocka_unit_test(test_hostile_entries),
		cmocka_unit_test(test_broken_documents),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_dense_documents),
		cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_repo_info),
		cmocka_unit_test(test_error_body),
		cmocka_unit_test(test_repo_list),
		cmocka_unit_test(test_repo_list_hostile),
		cmocka_unit_test(test_iso8601),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
