/* SPDX-License-Identifier: MIT */
/*
 * The metadata cache (cache/meta.c): listings and refs round trip, are
 * immutable or atomically replaced, refuse bad input, and treat every
 * file on disk as hostile. Each test runs in its own mkdtemp directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/meta.h"
#include "tests/helpers/scratch.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/digest.h"
#include "util/path.h"

#define REPO "model/hubfs-test/tiny"
#define REPO_DIR "listings/model/hubfs-test/tiny"
#define REFS_REPO_DIR "refs/model/hubfs-test/tiny"
#define C1 "0123456789abcdef0123456789abcdef01234567"
#define C2 "89abcdef0123456789abcdef0123456789abcdef"
#define C3 "fedcba9876543210fedcba9876543210fedcba98"
#define OID1 "dc08351d4dc0732d9c8af04070ced089b201ce2f"
#define OID2 "ba5d19791be1dd7992e33bd61f20207b0f7f50a5"
#define SHA1 "097417381d6c7230bd9e3557456d726de6e83245ec8b24f529f60198a67b203a"

/* ============================ Fixture and helpers ============================ */

struct fixture {
	char root[256];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	scratch_dir_make(f->root, sizeof(f->root), "hubfs-meta");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rc = scratch_dir_remove(f->root);

	free(f);
	return rc;
}

/* "<root>/<rel>" into a static buffer (one at a time is enough here). */
static const char *at(const struct fixture *f, const char *rel)
{
	static char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", f->root, rel);

	assert_true(n > 0 && (size_t)n < sizeof(path));
	return path;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void put_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* Write the listing file of REPO at C1 as these bytes. */
static void put_listing(const struct fixture *f, const void *data, size_t len)
{
	put_file(at(f, REPO_DIR "/" C1 ".lst"), data, len);
}

static void get_file(const char *path, struct buf *b)
{
	int fd = open(path, O_RDONLY);
	char chunk[4096];
	ssize_t n;

	assert_true(fd >= 0);
	buf_init(b, 64u << 20);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		assert_int_equal(buf_append(b, chunk, (size_t)n), 0);
	close(fd);
}

static void mkdirs(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0755);
			*p = '/';
		}
	}
	mkdir(tmp, 0755);
}

static struct cache_file_entry file_entry(const char *path, uint64_t size,
					  const char *oid, const char *lfs)
{
	struct cache_file_entry e;

	memset(&e, 0, sizeof(e));
	e.path = path;
	e.size = size;
	snprintf(e.oid, sizeof(e.oid), "%s", oid);
	if (lfs) {
		e.is_lfs = true;
		snprintf(e.lfs_sha256, sizeof(e.lfs_sha256), "%s", lfs);
	}
	return e;
}

static struct cache_file_entry dir_entry(const char *path, const char *oid)
{
	struct cache_file_entry e = file_entry(path, 0, oid, NULL);

	e.is_dir = true;
	return e;
}

/* What a load handed out, copied. */
struct seen {
	size_t n;
	size_t bad_paths; /* entries whose path failed validation */
	size_t stop_after; /* return stop_rc after this many (0: never) */
	int stop_rc;
	struct cache_file_entry e[64];
	char paths[64][256];
};

static int collect(void *ctx, const struct cache_file_entry *e)
{
	struct seen *s = ctx;

	if (!e->path || path_validate_repo_path(e->path) != 0)
		s->bad_paths++;
	if (s->n < 64) {
		s->e[s->n] = *e;
		snprintf(s->paths[s->n], sizeof(s->paths[0]), "%s",
			 e->path ? e->path : "");
		s->e[s->n].path = s->paths[s->n];
	}
	s->n++;
	if (s->stop_after && s->n == s->stop_after)
		return s->stop_rc;
	return 0;
}

static int load(const struct fixture *f, const char *repo, const char *commit,
		struct seen *s)
{
	memset(s, 0, sizeof(*s));
	return cache_listing_load(f->root, repo, commit, collect, s);
}

static void assert_entries_equal(const struct seen *s,
				 const struct cache_file_entry *want, size_t n)
{
	assert_int_equal(s->n, n);
	assert_int_equal(s->bad_paths, 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(s->e[i].is_dir, want[i].is_dir);
		assert_string_equal(s->e[i].path, want[i].path);
		assert_true(s->e[i].size == want[i].size);
		assert_string_equal(s->e[i].oid, want[i].oid);
		assert_int_equal(s->e[i].is_lfs, want[i].is_lfs);
		assert_string_equal(s->e[i].lfs_sha256, want[i].lfs_sha256);
	}
}

static const struct cache_file_entry *sample(size_t *n)
{
	static struct cache_file_entry e[10];

	e[0] = file_entry(".gitattributes", 345, OID1, NULL);
	e[1] = dir_entry("données", OID2);
	e[2] = file_entry("données/été.csv", 12, OID1, NULL);
	e[3] = file_entry("model.safetensors", 440473133, OID2, SHA1);
	e[4] = dir_entry("docs", OID1);
	e[5] = file_entry("docs/with space.txt", 0, OID2, NULL);
	e[6] = dir_entry("weird", OID2);
	e[7] = file_entry("weird/100%?#.txt", 7, OID1, NULL);
	e[8] = file_entry("weird/a:b,c - d.txt", INT64_MAX, OID1, SHA1);
	e[9] = file_entry("日本語 テスト.txt", 1, OID2, NULL);
	*n = 10;
	return e;
}

/* Write @body plus the "end <sha256>" line to the listing of REPO at C1. */
static void forge_listing(const struct fixture *f, const char *body)
{
	char hex[DIGEST_HEX_MAX];
	struct buf b;

	assert_int_equal(digest_hex(DIGEST_SHA256, body, strlen(body), hex), 0);
	buf_init(&b, 1u << 20);
	assert_int_equal(buf_printf(&b, "%send %s\n", body, hex), 0);
	mkdirs(at(f, REPO_DIR));
	put_listing(f, b.data, b.len);
	buf_release(&b);
}

/* Write @body plus the "crc <crc32c>" line as the ref "main" of REPO. */
static void forge_ref(const struct fixture *f, const char *body)
{
	char text[512];
	int n = snprintf(text, sizeof(text), "%scrc %08" PRIx32 "\n", body,
			 crc32c(0, body, strlen(body)));

	mkdirs(at(f, REFS_REPO_DIR));
	put_file(at(f, REFS_REPO_DIR "/main.ref"), text, (size_t)n);
}

/* ============================ Keys ============================ */

static void test_repo_keys(void **state)
{
	static const char *const good[] = {
		"model/org/name",
		"dataset/hubfs-test/data_1",
		"space/A.b-c/x",
		"model/gpt2",
		"model/a.b",
		"dataset/squad",
	};
	static const char *const bad[] = {
		"",
		"model",
		"model/",
		"model//x",
		"model/a/",
		"model/../x",
		"model/a/..",
		"model/./x",
		"model/a/b/c",
		"other/a/b",
		"models/a/b",
		"/model/a/b",
		"model/.hidden/x",
		"model/-dash/x",
		"model/a/-b",
		"model/a b/c",
		"model/a/b\n",
		"model/@/x",
		"model/a%2Fb",
		"model/é/x",
	};
	char longpart[CACHE_REPO_PART_MAX + 16];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!cache_repo_key_is_valid(good[i]))
			fail_msg("refused a good key: '%s'", good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cache_repo_key_is_valid(bad[i]))
			fail_msg("accepted a bad key: '%s'", bad[i]);
	}
	assert_false(cache_repo_key_is_valid(NULL));

	memcpy(longpart, "model/o/", 8);
	memset(longpart + 8, 'n', CACHE_REPO_PART_MAX);
	longpart[8 + CACHE_REPO_PART_MAX] = '\0';
	assert_true(cache_repo_key_is_valid(longpart));
	longpart[8 + CACHE_REPO_PART_MAX] = 'n';
	longpart[9 + CACHE_REPO_PART_MAX] = '\0';
	assert_false(cache_repo_key_is_valid(longpart));

	assert_true(cache_revision_is_valid("refs/pr/1"));
	assert_false(cache_revision_is_valid(""));
	assert_false(cache_revision_is_valid("a\tb"));
	assert_false(cache_revision_is_valid(NULL));
}

/* ============================ Listings ============================ */

static void test_listing_round_trip(void **state)
{
	struct fixture *f = *state;
	const struct cache_file_entry *e;
	struct seen s;
	struct stat st;
	mode_t mask = umask(0);
	size_t n;

	umask(mask);
	e = sample(&n);
	assert_int_equal(cache_listing_store(f->root, REPO, C1, e, n), 0);
	assert_int_equal(load(f, REPO, C1, &s), 0);
	assert_entries_equal(&s, e, n);

	/* Where the format document says, with the documented modes. */
	assert_int_equal(stat(at(f, REPO_DIR "/" C1 ".lst"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644 & ~mask);
	assert_int_equal(stat(at(f, REPO_DIR), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755 & ~mask);

	/* Another commit of the same repo is another listing. */
	assert_int_equal(load(f, REPO, C2, &s), -ENOENT);
	assert_int_equal(s.n, 0);
	assert_int_equal(cache_listing_store(f->root, REPO, C2, e + 2, 1), 0);
	assert_int_equal(load(f, REPO, C2, &s), 0);
	assert_entries_equal(&s, e + 2, 1);

	/* An empty repo is a listing too. */
	assert_int_equal(cache_listing_store(f->root, REPO, C3, NULL, 0), 0);
	assert_int_equal(load(f, REPO, C3, &s), 0);
	assert_int_equal(s.n, 0);
}

/* "model/gpt2" (legacy) and "model/gpt2/x" must not share a directory. */
static void test_listing_legacy_keys_do_not_collide(void **state)
{
	struct fixture *f = *state;
	struct cache_file_entry a = file_entry("a.txt", 1, OID1, NULL);
	struct cache_file_entry b = file_entry("b.txt", 2, OID2, NULL);
	struct seen s;

	assert_int_equal(cache_listing_store(f->root, "model/gpt2", C1, &a, 1), 0);
	assert_int_equal(cache_listing_store(f->root, "model/gpt2/x", C1, &b, 1), 0);
	assert_int_equal(cache_listing_store(f->root, "dataset/gpt2", C1, &b, 1), 0);
	assert_int_equal(load(f, "model/gpt2", C1, &s), 0);
	assert_entries_equal(&s, &a, 1);
	assert_int_equal(load(f, "model/gpt2/x", C1, &s), 0);
	assert_entries_equal(&s, &b, 1);
	assert_true(exists(at(f, "listings/model/@/gpt2/" C1 ".lst")));
	assert_true(exists(at(f, "listings/model/gpt2/x/" C1 ".lst")));

	assert_int_equal(cache_repo_forget(f->root, "model/gpt2", NULL), 0);
	assert_int_equal(load(f, "model/gpt2", C1, &s), -ENOENT);
	assert_int_equal(load(f, "model/gpt2/x", C1, &s), 0);
	assert_int_equal(load(f, "dataset/gpt2", C1, &s), 0);
}

static void test_listing_is_immutable(void **state)
{
	struct fixture *f = *state;
	const struct cache_file_entry *e;
	struct cache_file_entry other = file_entry("other.bin", 5, OID2, NULL);
	struct buf before, after;
	struct seen s;
	size_t n;

	e = sample(&n);
	assert_int_equal(cache_listing_store(f->root, REPO, C1, e, n), 0);
	get_file(at(f, REPO_DIR "/" C1 ".lst"), &before);
	assert_int_equal(cache_listing_store(f->root, REPO, C1, &other, 1), 0);
	get_file(at(f, REPO_DIR "/" C1 ".lst"), &after);
	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.data, after.data, before.len);
	assert_int_equal(load(f, REPO, C1, &s), 0);
	assert_entries_equal(&s, e, n);
	buf_release(&before);
	buf_release(&after);

	/* A corrupt listing is no reason to refuse a good one. */
	put_listing(f, "garbage\n", 8);
	assert_int_equal(cache_listing_store(f->root, REPO, C1, &other, 1), 0);
	assert_int_equal(load(f, REPO, C1, &s), 0);
	assert_entries_equal(&s, &other, 1);
}

/* Nothing at all may have been created under the root. */
static void assert_root_empty(const struct fixture *f)
{
	assert_false(exists(at(f, "listings")));
	assert_false(exists(at(f, "refs")));
}

static void test_listing_refuses_bad_input(void **state)
{
	struct fixture *f = *state;
	static const char *const bad_repos[] = {
		"model/../x", "model/a/b/c", "other/a/b", "model/", "", "model",
	};
	static const char *const bad_commits[] = {
		"0123456789ABCDEF0123456789abcdef01234567", /* upper case */
		"0123456789abcdef0123456789abcdef0123456",  /* 39 */
		"0123456789abcdef0123456789abcdef012345678", /* 41 */
		"0123456789abcdef0123456789abcdef0123456g",
		"",
	};
	static const char *const bad_paths[] = {
		"../x", "a//b", "", "/abs", "a/../b", "a/", "line\nbreak",
		"bad-utf8-\xff",
	};
	struct cache_file_entry good = file_entry("ok.txt", 1, OID1, NULL);
	struct cache_file_entry two[2];

	for (size_t i = 0; i < sizeof(bad_repos) / sizeof(bad_repos[0]); i++)
		assert_int_equal(cache_listing_store(f->root, bad_repos[i], C1,
						     &good, 1), -EINVAL);
	for (size_t i = 0; i < sizeof(bad_commits) / sizeof(bad_commits[0]); i++)
		assert_int_equal(cache_listing_store(f->root, REPO,
						     bad_commits[i], &good, 1),
				 -EINVAL);
	assert_int_equal(cache_listing_store(f->root, REPO, NULL, &good, 1), -EINVAL);
	assert_int_equal(cache_listing_store(f->root, NULL, C1, &good, 1), -EINVAL);
	assert_int_equal(cache_listing_store(NULL, REPO, C1, &good, 1), -EINVAL);
	assert_int_equal(cache_listing_store("", REPO, C1, &good, 1), -EINVAL);
	assert_int_equal(cache_listing_store(f->root, REPO, C1, NULL, 1), -EINVAL);

	/* One bad entry after a good one: nothing is written. */
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		two[0] = good;
		two[1] = file_entry(bad_paths[i], 1, OID1, NULL);
		assert_int_equal(cache_listing_store(f->root, REPO, C1, two, 2),
				 -EINVAL);
	}
	two[0] = good;
	two[1] = good;
	two[1].path = NULL;
	assert_int_equal(cache_listing_store(f->root, REPO, C1, two, 2), -EINVAL);

	/* LFS without its sha256, or with a bad one. */
	two[1] = file_entry("big.bin", 10, OID1, NULL);
	two[1].is_lfs = true;
	assert_int_equal(cache_listing_store(f->root, REPO, C1, two, 2), -EINVAL);
	two[1] = file_entry("big.bin", 10, OID1, SHA1);
	two[1].lfs_sha256[5] = 'G';
	assert_int_equal(cache_listing_store(f->root, REPO, C1, two, 2), -EINVAL);
	/* A sha256 on a non-LFS file. */
	two[1] = file_entry("big.bin", 10, OID1, SHA1);
	two[1].is_lfs = false;
	assert_int_equal(cache_listing_store(f->root, REPO, C1, two, 2), -EINVAL);
	/* A bad oid: short, upper case, without its NUL. */
	two[1] = file_entry("x", 1, "abc", NULL);
	assert_int_equal(cache_listing_store(f->root, REPO, C1, two, 2), -EINVAL);
	two[1] = file_entry("x", 1, "DC08351D4DC0732D9C8AF04070CED089B201CE2F", NULL);
	assert_int_equal(cache_listing_store(f->root, REPO, C1, two, 2), -EINVAL);
	two[1] = file_entry("x", 1, OID1, NULL);
	two[1].oid[40] = 'a';
	assert_int_equal(cache_listing_store(f->root, REPO, C1, two, 2), -EINVAL);
	/* Directories have no size and no LFS; sizes fit in off_t. */
	two[1] = dir_entry("d", OID1);
	two[1].size = 1;
	assert_int_equal(cache_listing_store(f->root, REPO, C1, two, 2), -EINVAL);
	two[1] = dir_entry("d", OID1);
	two[1].is_lfs = true;
	snprintf(two[1].lfs_sha256, sizeof(two[1].lfs_sha256), "%s", SHA1);
	assert_int_equal(cache_listing_store(f->root, REPO, C1, two, 2), -EINVAL);
	two[1] = file_entry("huge", (uint64_t)INT64_MAX + 1, OID1, NULL);
	assert_int_equal(cache_listing_store(f->root, REPO, C1, two, 2), -EINVAL);

	assert_root_empty(f);

	/* Loading checks its arguments the same way. */
	{
		struct seen s;

		assert_int_equal(load(f, "model/../x", C1, &s), -EINVAL);
		assert_int_equal(load(f, REPO, "abc", &s), -EINVAL);
		assert_int_equal(cache_listing_load(f->root, REPO, C1, NULL, NULL),
				 -EINVAL);
		assert_int_equal(load(f, REPO, C1, &s), -ENOENT);
	}
	assert_root_empty(f);
}

/* Load must fail with -EBADMSG, hand out nothing, and remove the file. */
static void assert_corrupt(const struct fixture *f, const char *what)
{
	struct seen s;
	int rc = load(f, REPO, C1, &s);

	if (rc != -EBADMSG)
		fail_msg("%s: load gave %d, not -EBADMSG", what, rc);
	if (s.n != 0)
		fail_msg("%s: %zu entries reached the callback", what, s.n);
	if (exists(at(f, REPO_DIR "/" C1 ".lst")))
		fail_msg("%s: the corrupt file was kept", what);
}

/* The listing file of these bytes is refused as corrupt (see assert_corrupt()). */
static void assert_corrupt_bytes(const struct fixture *f, const void *data, size_t len,
				 const char *what)
{
	put_listing(f, data, len);
	assert_corrupt(f, what);
}

static void store_sample(const struct fixture *f, struct buf *good)
{
	const struct cache_file_entry *e;
	size_t n;

	e = sample(&n);
	assert_int_equal(cache_listing_store(f->root, REPO, C1, e, n), 0);
	get_file(at(f, REPO_DIR "/" C1 ".lst"), good);
}

static void test_listing_truncated(void **state)
{
	struct fixture *f = *state;
	struct buf good;
	char what[64];

	store_sample(f, &good);
	/* Every possible length short of the whole file. */
	for (size_t len = 0; len < good.len; len++) {
		snprintf(what, sizeof(what), "truncated at %zu", len);
		assert_corrupt_bytes(f, good.data, len, what);
	}
	buf_release(&good);
}

static void test_listing_bit_flips(void **state)
{
	struct fixture *f = *state;
	struct buf good;
	char what[64];

	store_sample(f, &good);
	for (size_t off = 0; off < good.len; off++) {
		static const unsigned char flips[] = { 0x01, 0x20, 0x80 };

		for (size_t k = 0; k < sizeof(flips); k++) {
			snprintf(what, sizeof(what), "byte %zu ^ 0x%02x", off, flips[k]);
			good.data[off] = (char)(good.data[off] ^ flips[k]);
			assert_corrupt_bytes(f, good.data, good.len, what);
			good.data[off] = (char)(good.data[off] ^ flips[k]);
		}
	}
	/* The untouched bytes still load: the test itself is sound. */
	put_listing(f, good.data, good.len);
	{
		struct seen s;
		const struct cache_file_entry *e;
		size_t n;

		e = sample(&n);
		assert_int_equal(load(f, REPO, C1, &s), 0);
		assert_entries_equal(&s, e, n);
	}
	buf_release(&good);
}

static void test_listing_appended_junk(void **state)
{
	struct fixture *f = *state;
	static const char *const junk[] = { "x", "\n", "junk\n", "\0",
					    "F 1 " OID1 " - a\n" };
	struct buf good;

	store_sample(f, &good);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		struct buf b;

		buf_init(&b, 1u << 20);
		assert_int_equal(buf_append(&b, good.data, good.len), 0);
		assert_int_equal(buf_append(&b, junk[i], strlen(junk[i]) ? strlen(junk[i]) : 1), 0);
		assert_corrupt_bytes(f, b.data, b.len, "appended junk");
		buf_release(&b);
	}
	buf_release(&good);
}

/*
 * Files with a correct checksum but wrong content: a hand edit, another
 * version, or a hostile file. Each must be refused as a whole.
 */
static void test_listing_forged(void **state)
{
	struct fixture *f = *state;
#define HEAD "repo " REPO "\ncommit " C1 "\n"
	static const struct {
		const char *what;
		const char *body;
	} cases[] = {
		{ "wrong magic", "hubfs-lsting 1\n" HEAD "count 0\n" },
		{ "wrong version", "hubfs-listing 2\n" HEAD "count 0\n" },
		{ "version 10", "hubfs-listing 10\n" HEAD "count 0\n" },
		{ "no magic", HEAD "count 0\n" },
		{ "other repo", "hubfs-listing 1\nrepo model/x/y\ncommit " C1 "\ncount 0\n" },
		{ "other commit", "hubfs-listing 1\nrepo " REPO "\ncommit " C2 "\ncount 0\n" },
		{ "count too high", "hubfs-listing 1\n" HEAD "count 2\nF 1 " OID1 " - a\n" },
		{ "count too low", "hubfs-listing 1\n" HEAD "count 1\nF 1 " OID1 " - a\nF 1 " OID1 " - b\n" },
		{ "count huge", "hubfs-listing 1\n" HEAD "count 99999999999999999999999\n" },
		{ "count past the cap", "hubfs-listing 1\n" HEAD "count 4194305\n" },
		{ "count negative", "hubfs-listing 1\n" HEAD "count -1\n" },
		{ "count leading zero", "hubfs-listing 1\n" HEAD "count 01\nF 1 " OID1 " - a\n" },
		{ "no count", "hubfs-listing 1\n" HEAD "F 1 " OID1 " - a\n" },
		{ "path ../", "hubfs-listing 1\n" HEAD "count 2\nF 1 " OID1 " - a\nF 1 " OID1 " - ../etc/passwd\n" },
		{ "path a/../../x", "hubfs-listing 1\n" HEAD "count 1\nF 1 " OID1 " - a/../../x\n" },
		{ "path a//b", "hubfs-listing 1\n" HEAD "count 1\nF 1 " OID1 " - a//b\n" },
		{ "path absolute", "hubfs-listing 1\n" HEAD "count 1\nF 1 " OID1 " - /etc/passwd\n" },
		{ "path empty", "hubfs-listing 1\n" HEAD "count 1\nF 1 " OID1 " - \n" },
		{ "path with CR", "hubfs-listing 1\n" HEAD "count 1\nF 1 " OID1 " - a\r\n" },
		{ "path bad UTF-8", "hubfs-listing 1\n" HEAD "count 1\nF 1 " OID1 " - a\xff\n" },
		{ "unknown kind", "hubfs-listing 1\n" HEAD "count 1\nL 1 " OID1 " - a\n" },
		{ "dir with size", "hubfs-listing 1\n" HEAD "count 1\nD 5 " OID1 " - a\n" },
		{ "dir with lfs", "hubfs-listing 1\n" HEAD "count 1\nD 0 " OID1 " " SHA1 " a\n" },
		{ "size leading zero", "hubfs-listing 1\n" HEAD "count 1\nF 01 " OID1 " - a\n" },
		{ "size signed", "hubfs-listing 1\n" HEAD "count 1\nF +1 " OID1 " - a\n" },
		{ "size past INT64_MAX", "hubfs-listing 1\n" HEAD "count 1\nF 9223372036854775808 " OID1 " - a\n" },
		{ "size overflow", "hubfs-listing 1\n" HEAD "count 1\nF 18446744073709551616 " OID1 " - a\n" },
		{ "oid upper case", "hubfs-listing 1\n" HEAD "count 1\nF 1 DC08351D4DC0732D9C8AF04070CED089B201CE2F - a\n" },
		{ "oid short", "hubfs-listing 1\n" HEAD "count 1\nF 1 dc08351d - a\n" },
		{ "lfs short", "hubfs-listing 1\n" HEAD "count 1\nF 1 " OID1 " 0974 a\n" },
		{ "two spaces", "hubfs-listing 1\n" HEAD "count 1\nF  1 " OID1 " - a\n" },
		{ "empty line", "hubfs-listing 1\n" HEAD "count 1\n\n" },
		{ "magic with CR", "hubfs-listing 1\r\n" HEAD "count 0\n" },
		{ "empty body", "" },
	};
	struct seen s;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		forge_listing(f, cases[i].body);
		assert_corrupt(f, cases[i].what);
	}

	/* The forging itself is right: a well-formed body loads. */
	forge_listing(f, "hubfs-listing 1\n" HEAD "count 2\nD 0 " OID1 " - a b\n"
			 "F 9223372036854775807 " OID2 " " SHA1 " a b/c%d#e\n");
	assert_int_equal(load(f, REPO, C1, &s), 0);
	assert_int_equal(s.n, 2);
	assert_true(s.e[0].is_dir);
	assert_string_equal(s.paths[0], "a b");
	assert_string_equal(s.paths[1], "a b/c%d#e");
	assert_true(s.e[1].size == INT64_MAX);
	assert_true(s.e[1].is_lfs);
	assert_string_equal(s.e[1].lfs_sha256, SHA1);

	/* An embedded NUL in a path. */
	{
		static const char body[] = "hubfs-listing 1\n" HEAD "count 1\nF 1 " OID1 " - a\0b\n";
		char hex[DIGEST_HEX_MAX];
		struct buf b;

		assert_int_equal(digest_hex(DIGEST_SHA256, body, sizeof(body) - 1, hex), 0);
		buf_init(&b, 4096);
		assert_int_equal(buf_append(&b, body, sizeof(body) - 1), 0);
		assert_int_equal(buf_printf(&b, "end %s\n", hex), 0);
		assert_corrupt_bytes(f, b.data, b.len, "NUL in a path");
		buf_release(&b);
	}
#undef HEAD
}

/* Symlinks, directories and FIFOs where a listing should be. */
static void test_listing_not_a_regular_file(void **state)
{
	struct fixture *f = *state;
	const struct cache_file_entry *e;
	struct seen s;
	char elsewhere[PATH_MAX];
	size_t n;

	e = sample(&n);
	/* A valid listing reached through a symlink is still refused. */
	assert_int_equal(cache_listing_store(f->root, REPO, C1, e, n), 0);
	snprintf(elsewhere, sizeof(elsewhere), "%s/outside.lst", f->root);
	assert_int_equal(rename(at(f, REPO_DIR "/" C1 ".lst"), elsewhere), 0);
	assert_int_equal(symlink(elsewhere, at(f, REPO_DIR "/" C1 ".lst")), 0);
	assert_corrupt(f, "symlink");
	assert_true(exists(elsewhere)); /* only the link went */

	/* A FIFO must not block the reader. */
	assert_int_equal(mkfifo(at(f, REPO_DIR "/" C1 ".lst"), 0644), 0);
	assert_corrupt(f, "fifo");

	/* A file over the cap is refused without being read. */
	{
		int fd = open(at(f, REPO_DIR "/" C1 ".lst"), O_WRONLY | O_CREAT, 0644);

		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (off_t)CACHE_LISTING_MAX_BYTES + 1), 0);
		close(fd);
		assert_corrupt(f, "over the cap");
	}

	/* A directory cannot be removed, but is no listing either. */
	assert_int_equal(mkdir(at(f, REPO_DIR "/" C1 ".lst"), 0755), 0);
	assert_int_equal(load(f, REPO, C1, &s), -EBADMSG);
	assert_int_equal(s.n, 0);
}

static void test_listing_callback_stops(void **state)
{
	struct fixture *f = *state;
	const struct cache_file_entry *e;
	struct seen s;
	size_t n;

	e = sample(&n);
	assert_int_equal(cache_listing_store(f->root, REPO, C1, e, n), 0);

	memset(&s, 0, sizeof(s));
	s.stop_after = 3;
	s.stop_rc = 42;
	assert_int_equal(cache_listing_load(f->root, REPO, C1, collect, &s), 42);
	assert_int_equal(s.n, 3);

	/* A callback's own -EBADMSG is not the file's fault. */
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	s.stop_rc = -EBADMSG;
	assert_int_equal(cache_listing_load(f->root, REPO, C1, collect, &s),
			 -EBADMSG);
	assert_int_equal(s.n, 1);
	assert_int_equal(load(f, REPO, C1, &s), 0);
	assert_entries_equal(&s, e, n);
}

static int count_entry(void *ctx, const struct cache_file_entry *e)
{
	size_t *n = ctx;

	if (path_validate_repo_path(e->path) != 0 || strlen(e->oid) != 40)
		return -1;
	(*n)++;
	return 0;
}

/* 100,000 entries round trip (the size of the largest Hub repos). */
static void test_listing_large(void **state)
{
	struct fixture *f = *state;
	const size_t n = 100000;
	struct cache_file_entry *e = calloc(n, sizeof(*e));
	char (*paths)[32] = calloc(n, sizeof(*paths));
	size_t seen = 0;

	assert_non_null(e);
	assert_non_null(paths);
	for (size_t i = 0; i < n; i++) {
		snprintf(paths[i], sizeof(paths[i]), "shard-%06zu/part %zu.bin",
			 i / 1000, i);
		e[i] = file_entry(paths[i], i * 7919, i % 2 ? OID1 : OID2,
				  i % 3 ? NULL : SHA1);
	}
	assert_int_equal(cache_listing_store(f->root, REPO, C1, e, n), 0);
	assert_int_equal(cache_listing_load(f->root, REPO, C1, count_entry, &seen), 0);
	assert_int_equal(seen, n);
	free(paths);
	free(e);
}

/* ============================ Refs ============================ */

static void test_ref_round_trip(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *revision;
		const char *file; /* as documented in the format */
	} revs[] = {
		{ "main", "main.ref" },
		{ "feature/long-context", "feature%2Flong-context.ref" },
		{ "refs/pr/1", "refs%2Fpr%2F1.ref" },
		{ "v1.0", "v1%2E0.ref" },
		{ C3, C3 ".ref" },
		{ "été", "%C3%A9t%C3%A9.ref" },
		{ "a b%c", "a%20b%25c.ref" },
		{ "..", "%2E%2E.ref" },
		{ "x.tmp.1.2", "x%2Etmp%2E1%2E2.ref" },
	};
	char commit[41];
	int64_t resolved;
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(revs) / sizeof(revs[0]); i++) {
		assert_int_equal(cache_ref_store(f->root, REPO, revs[i].revision,
						 i % 2 ? C1 : C2,
						 (int64_t)(1700000000 + i)), 0);
		snprintf(path, sizeof(path), REFS_REPO_DIR "/%s", revs[i].file);
		if (!exists(at(f, path)))
			fail_msg("no file '%s' for '%s'", path, revs[i].revision);
	}
	for (size_t i = 0; i < sizeof(revs) / sizeof(revs[0]); i++) {
		assert_int_equal(cache_ref_load(f->root, REPO, revs[i].revision,
						commit, &resolved), 0);
		assert_string_equal(commit, i % 2 ? C1 : C2);
		assert_true(resolved == (int64_t)(1700000000 + i));
	}

	/* Overwrite: the new value wins, resolved_at may be NULL. */
	assert_int_equal(cache_ref_store(f->root, REPO, "main", C3, INT64_MAX), 0);
	assert_int_equal(cache_ref_load(f->root, REPO, "main", commit, &resolved), 0);
	assert_string_equal(commit, C3);
	assert_true(resolved == INT64_MAX);
	assert_int_equal(cache_ref_store(f->root, REPO, "main", C1, 0), 0);
	assert_int_equal(cache_ref_load(f->root, REPO, "main", commit, NULL), 0);
	assert_string_equal(commit, C1);

	/* Other repos, other types, legacy ids are separate. */
	assert_int_equal(cache_ref_load(f->root, "dataset/hubfs-test/tiny", "main",
					commit, NULL), -ENOENT);
	assert_int_equal(cache_ref_load(f->root, REPO, "dev", commit, NULL), -ENOENT);
	assert_int_equal(cache_ref_store(f->root, "model/gpt2", "main", C2, 5), 0);
	assert_true(exists(at(f, "refs/model/@/gpt2/main.ref")));
}

static void test_ref_refuses_bad_input(void **state)
{
	struct fixture *f = *state;
	char long_rev[CACHE_REVISION_MAX + 2];
	char slashes[101];
	char commit[41] = "untouched";
	int64_t t = 7;

	memset(long_rev, 'a', sizeof(long_rev) - 1);
	long_rev[sizeof(long_rev) - 1] = '\0';
	memset(slashes, '/', sizeof(slashes) - 1);
	slashes[sizeof(slashes) - 1] = '\0';

	assert_int_equal(cache_ref_store(f->root, REPO, "", C1, 1), -EINVAL);
	assert_int_equal(cache_ref_store(f->root, REPO, NULL, C1, 1), -EINVAL);
	assert_int_equal(cache_ref_store(f->root, REPO, "a\nb", C1, 1), -EINVAL);
	assert_int_equal(cache_ref_store(f->root, REPO, "a\x7f", C1, 1), -EINVAL);
	assert_int_equal(cache_ref_store(f->root, REPO, long_rev, C1, 1), -EINVAL);
	/* Valid, but 300 bytes once encoded: not cacheable. */
	assert_int_equal(cache_ref_store(f->root, REPO, slashes, C1, 1), -ENAMETOOLONG);
	assert_int_equal(cache_ref_store(f->root, REPO, "main", "abc", 1), -EINVAL);
	assert_int_equal(cache_ref_store(f->root, REPO, "main", NULL, 1), -EINVAL);
	assert_int_equal(cache_ref_store(f->root, REPO, "main", C1, -1), -EINVAL);
	assert_int_equal(cache_ref_store(f->root, "model/a/b/c", "main", C1, 1), -EINVAL);
	assert_int_equal(cache_ref_store(NULL, REPO, "main", C1, 1), -EINVAL);
	assert_int_equal(cache_ref_load(f->root, REPO, "main", NULL, &t), -EINVAL);
	assert_int_equal(cache_ref_load(f->root, "other/a/b", "main", commit, &t), -EINVAL);
	assert_int_equal(cache_ref_load(f->root, REPO, "main", commit, &t), -ENOENT);
	assert_string_equal(commit, "untouched");
	assert_true(t == 7);
	assert_root_empty(f);
}

static void assert_ref_corrupt(const struct fixture *f, const char *what)
{
	char commit[41] = "untouched";
	int64_t t = 7;
	int rc = cache_ref_load(f->root, REPO, "main", commit, &t);

	if (rc != -EBADMSG)
		fail_msg("%s: load gave %d, not -EBADMSG", what, rc);
	if (strcmp(commit, "untouched") != 0 || t != 7)
		fail_msg("%s: the outputs were written", what);
	if (exists(at(f, REFS_REPO_DIR "/main.ref")))
		fail_msg("%s: the corrupt file was kept", what);
}

static void test_ref_corrupt(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *what;
		const char *body;
	} forged[] = {
		{ "wrong magic", "hubfs-rev 1\ncommit " C1 "\nresolved 5\n" },
		{ "wrong version", "hubfs-ref 2\ncommit " C1 "\nresolved 5\n" },
		{ "commit upper case", "hubfs-ref 1\ncommit 0123456789ABCDEF0123456789abcdef01234567\nresolved 5\n" },
		{ "commit short", "hubfs-ref 1\ncommit 0123\nresolved 5\n" },
		{ "negative time", "hubfs-ref 1\ncommit " C1 "\nresolved -5\n" },
		{ "time leading zero", "hubfs-ref 1\ncommit " C1 "\nresolved 05\n" },
		{ "time overflow", "hubfs-ref 1\ncommit " C1 "\nresolved 9223372036854775808\n" },
		{ "extra line", "hubfs-ref 1\ncommit " C1 "\nresolved 5\nextra 1\n" },
		{ "missing line", "hubfs-ref 1\ncommit " C1 "\n" },
		{ "swapped lines", "hubfs-ref 1\nresolved 5\ncommit " C1 "\n" },
		{ "empty body", "" },
	};
	struct buf good;
	char what[64];

	assert_int_equal(cache_ref_store(f->root, REPO, "main", C1, 1700000000), 0);
	get_file(at(f, REFS_REPO_DIR "/main.ref"), &good);
	for (size_t len = 0; len < good.len; len++) {
		put_file(at(f, REFS_REPO_DIR "/main.ref"), good.data, len);
		snprintf(what, sizeof(what), "truncated at %zu", len);
		assert_ref_corrupt(f, what);
	}
	for (size_t off = 0; off < good.len; off++) {
		good.data[off] = (char)(good.data[off] ^ 0x04);
		put_file(at(f, REFS_REPO_DIR "/main.ref"), good.data, good.len);
		good.data[off] = (char)(good.data[off] ^ 0x04);
		snprintf(what, sizeof(what), "byte %zu flipped", off);
		assert_ref_corrupt(f, what);
	}
	assert_int_equal(buf_append(&good, "x\n", 2), 0);
	put_file(at(f, REFS_REPO_DIR "/main.ref"), good.data, good.len);
	assert_ref_corrupt(f, "appended junk");
	buf_release(&good);

	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		forge_ref(f, forged[i].body);
		assert_ref_corrupt(f, forged[i].what);
	}
	/* The forging itself is right. */
	forge_ref(f, "hubfs-ref 1\ncommit " C2 "\nresolved 0\n");
	{
		char commit[41];
		int64_t t = 1;

		assert_int_equal(cache_ref_load(f->root, REPO, "main", commit, &t), 0);
		assert_string_equal(commit, C2);
		assert_true(t == 0);
	}

	/* A store replaces a corrupt ref. */
	put_file(at(f, REFS_REPO_DIR "/main.ref"), "junk", 4);
	assert_int_equal(cache_ref_store(f->root, REPO, "main", C3, 9), 0);
	{
		char commit[41];

		assert_int_equal(cache_ref_load(f->root, REPO, "main", commit, NULL), 0);
		assert_string_equal(commit, C3);
	}
}

/* ============================ Walks ============================ */

struct pairs {
	size_t n;
	char v[32][300];
	size_t stop_after;
	int stop_rc;
};

static int add_listing(void *ctx, const char *repo, const char *commit)
{
	struct pairs *p = ctx;

	if (p->n < 32)
		snprintf(p->v[p->n], sizeof(p->v[0]), "%s@%s", repo, commit);
	p->n++;
	return p->stop_after && p->n == p->stop_after ? p->stop_rc : 0;
}

static int add_ref(void *ctx, const char *repo, const char *revision,
		   const char *commit, int64_t resolved_at)
{
	struct pairs *p = ctx;

	if (p->n < 32)
		snprintf(p->v[p->n], sizeof(p->v[0]), "%s:%s=%.6s/%" PRId64,
			 repo, revision, commit, resolved_at);
	p->n++;
	return p->stop_after && p->n == p->stop_after ? p->stop_rc : 0;
}

static bool has(const struct pairs *p, const char *want)
{
	for (size_t i = 0; i < p->n && i < 32; i++) {
		if (strcmp(p->v[i], want) == 0)
			return true;
	}
	return false;
}

static void test_listings_each(void **state)
{
	struct fixture *f = *state;
	struct cache_file_entry e = file_entry("a", 1, OID1, NULL);
	char name[PATH_MAX], outside[PATH_MAX];
	char stale[PATH_MAX], live[PATH_MAX];
	struct pairs p;

	memset(&p, 0, sizeof(p));
	assert_int_equal(cache_listings_each(f->root, add_listing, &p), 0);
	assert_int_equal(p.n, 0);

	assert_int_equal(cache_listing_store(f->root, REPO, C1, &e, 1), 0);
	assert_int_equal(cache_listing_store(f->root, REPO, C2, &e, 1), 0);
	assert_int_equal(cache_listing_store(f->root, "model/gpt2", C3, &e, 1), 0);
	assert_int_equal(cache_listing_store(f->root, "dataset/org/data", C1, &e, 1), 0);
	assert_int_equal(cache_listing_store(f->root, "space/org/app", C2, &e, 1), 0);

	/* Junk of every kind, which must be skipped. */
	put_file(at(f, REPO_DIR "/README"), "x", 1);
	put_file(at(f, REPO_DIR "/abc.lst"), "x", 1);
	put_file(at(f, REPO_DIR "/0123456789ABCDEF0123456789abcdef01234567.lst"), "x", 1);
	put_file(at(f, REPO_DIR "/" C3 ".lst.bak"), "x", 1);
	mkdirs(at(f, REPO_DIR "/" C3 ".lst"));
	mkdirs(at(f, "listings/other/org/name"));
	put_file(at(f, "listings/other/org/name/" C1 ".lst"), "x", 1);
	mkdirs(at(f, "listings/model/.hidden/name"));
	put_file(at(f, "listings/model/.hidden/name/" C1 ".lst"), "x", 1);
	mkdirs(at(f, "listings/model/org/name/extra"));
	put_file(at(f, "listings/model/org/name/extra/" C1 ".lst"), "x", 1);
	put_file(at(f, "listings/model/stray-file"), "x", 1);
	/* A symlinked repo directory pointing out of the cache. */
	snprintf(outside, sizeof(outside), "%s/outside", f->root);
	mkdirs(outside);
	snprintf(name, sizeof(name), "%s/outside/" C1 ".lst", f->root);
	put_file(name, "x", 1);
	mkdirs(at(f, "listings/model/evil"));
	assert_int_equal(symlink(outside, at(f, "listings/model/evil/link")), 0);
	/* Temporary files: one of a dead writer, one of a live one. */
	snprintf(stale, sizeof(stale), "%s/" REPO_DIR "/" C3 ".lst.tmp.%ld.0",
		 f->root, (long)scratch_dead_pid());
	put_file(stale, "half", 4);
	snprintf(live, sizeof(live), "%s/" REPO_DIR "/" C3 ".lst.tmp.%ld.7",
		 f->root, (long)getpid());
	put_file(live, "half", 4);

	memset(&p, 0, sizeof(p));
	assert_int_equal(cache_listings_each(f->root, add_listing, &p), 0);
	assert_int_equal(p.n, 5);
	/* Sorted by type, org ('@' for legacy ids), name, then commit. */
	assert_string_equal(p.v[0], "dataset/org/data@" C1);
	assert_string_equal(p.v[1], "model/gpt2@" C3);
	assert_string_equal(p.v[2], REPO "@" C1);
	assert_string_equal(p.v[3], REPO "@" C2);
	assert_string_equal(p.v[4], "space/org/app@" C2);

	assert_false(exists(stale));
	assert_true(exists(live));
	assert_true(exists(at(f, REPO_DIR "/README")));
	assert_true(exists(name));

	/* A non-zero return stops the walk and comes back. */
	memset(&p, 0, sizeof(p));
	p.stop_after = 2;
	p.stop_rc = 7;
	assert_int_equal(cache_listings_each(f->root, add_listing, &p), 7);
	assert_int_equal(p.n, 2);

	assert_int_equal(cache_listings_each(NULL, add_listing, &p), -EINVAL);
	assert_int_equal(cache_listings_each(f->root, NULL, &p), -EINVAL);

	/* One type, or one org of it: only what is under that folder. */
	assert_int_equal(cache_listing_store(f->root, "model/org/other", C1, &e, 1), 0);
	memset(&p, 0, sizeof(p));
	assert_int_equal(cache_listings_each_under(f->root, "model", "hubfs-test", add_listing,
						   &p), 0);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.v[0], REPO "@" C1);
	assert_string_equal(p.v[1], REPO "@" C2);
	memset(&p, 0, sizeof(p));
	assert_int_equal(cache_listings_each_under(f->root, "model", NULL, add_listing, &p), 0);
	assert_int_equal(p.n, 4);
	assert_true(has(&p, "model/gpt2@" C3) && has(&p, "model/org/other@" C1));
	memset(&p, 0, sizeof(p));
	assert_int_equal(cache_listings_each_under(f->root, "model", "@", add_listing, &p), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.v[0], "model/gpt2@" C3);
	memset(&p, 0, sizeof(p));
	assert_int_equal(cache_listings_each_under(f->root, "dataset", "org", add_listing, &p),
			 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.v[0], "dataset/org/data@" C1);
	/* Nothing there, not ours, or a way out: nothing, no error. */
	memset(&p, 0, sizeof(p));
	assert_int_equal(cache_listings_each_under(f->root, "model", "nobody", add_listing, &p),
			 0);
	assert_int_equal(cache_listings_each_under(f->root, "other", "org", add_listing, &p), 0);
	assert_int_equal(cache_listings_each_under(f->root, "model", "..", add_listing, &p), 0);
	assert_int_equal(cache_listings_each_under(f->root, "model", ".hidden", add_listing, &p),
			 0);
	assert_int_equal(cache_listings_each_under(f->root, "model", "evil", add_listing, &p), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(cache_listings_each_under(f->root, NULL, "org", add_listing, &p), -EINVAL);
}

static void test_refs_each(void **state)
{
	struct fixture *f = *state;
	char stale[PATH_MAX];
	struct buf good;
	struct pairs p;

	memset(&p, 0, sizeof(p));
	assert_int_equal(cache_refs_each(f->root, NULL, add_ref, &p), 0);
	assert_int_equal(cache_refs_each(f->root, REPO, add_ref, &p), 0);
	assert_int_equal(p.n, 0);

	assert_int_equal(cache_ref_store(f->root, REPO, "main", C1, 10), 0);
	assert_int_equal(cache_ref_store(f->root, REPO, "refs/pr/1", C2, 11), 0);
	assert_int_equal(cache_ref_store(f->root, REPO, "v1.0", C1, 12), 0);
	assert_int_equal(cache_ref_store(f->root, "model/gpt2", "main", C3, 13), 0);
	assert_int_equal(cache_ref_store(f->root, "dataset/org/data", "été", C2, 14), 0);

	/*
	 * Junk: other spellings of stored revisions (with good contents, so
	 * only the name gives them away), bad names, a corrupt ref, a stale
	 * temporary file.
	 */
	get_file(at(f, REFS_REPO_DIR "/main.ref"), &good);
	put_file(at(f, REFS_REPO_DIR "/v1.0.ref"), good.data, good.len);
	put_file(at(f, REFS_REPO_DIR "/%6Dain.ref"), good.data, good.len);
	put_file(at(f, REFS_REPO_DIR "/refs%2fpr%2f1.ref"), good.data, good.len);
	put_file(at(f, REFS_REPO_DIR "/bad%2.ref"), good.data, good.len);
	put_file(at(f, REFS_REPO_DIR "/nul%00.ref"), good.data, good.len);
	put_file(at(f, REFS_REPO_DIR "/tab%09.ref"), good.data, good.len);
	put_file(at(f, REFS_REPO_DIR "/.ref"), good.data, good.len);
	put_file(at(f, REFS_REPO_DIR "/main.ref~"), good.data, good.len);
	buf_release(&good);
	put_file(at(f, REFS_REPO_DIR "/dev.ref"), "corrupt\n", 8);
	mkdirs(at(f, REFS_REPO_DIR "/sub.ref"));
	snprintf(stale, sizeof(stale), "%s/" REFS_REPO_DIR "/main.ref.tmp.%ld.3",
		 f->root, (long)scratch_dead_pid());
	put_file(stale, "half", 4);

	memset(&p, 0, sizeof(p));
	assert_int_equal(cache_refs_each(f->root, NULL, add_ref, &p), 0);
	assert_int_equal(p.n, 5);
	assert_string_equal(p.v[0], "dataset/org/data:été=89abcd/14");
	assert_string_equal(p.v[1], "model/gpt2:main=fedcba/13");
	assert_true(has(&p, REPO ":main=012345/10"));
	assert_true(has(&p, REPO ":refs/pr/1=89abcd/11"));
	assert_true(has(&p, REPO ":v1.0=012345/12"));
	assert_false(exists(stale));
	assert_false(exists(at(f, REFS_REPO_DIR "/dev.ref"))); /* corrupt: gone */
	assert_true(exists(at(f, REFS_REPO_DIR "/v1.0.ref")));  /* not ours: left */
	assert_true(exists(at(f, REFS_REPO_DIR "/%6Dain.ref")));

	memset(&p, 0, sizeof(p));
	assert_int_equal(cache_refs_each(f->root, REPO, add_ref, &p), 0);
	assert_int_equal(p.n, 3);
	memset(&p, 0, sizeof(p));
	assert_int_equal(cache_refs_each(f->root, "model/gpt2", add_ref, &p), 0);
	assert_int_equal(p.n, 1);
	memset(&p, 0, sizeof(p));
	assert_int_equal(cache_refs_each(f->root, "model/none/here", add_ref, &p), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(cache_refs_each(f->root, "model/a/b/c", add_ref, &p), -EINVAL);

	memset(&p, 0, sizeof(p));
	p.stop_after = 1;
	p.stop_rc = -EIO;
	assert_int_equal(cache_refs_each(f->root, NULL, add_ref, &p), -EIO);
	assert_int_equal(p.n, 1);
}

/* ============================ Forgetting ============================ */

static void test_forget_revision(void **state)
{
	struct fixture *f = *state;
	struct cache_file_entry e = file_entry("a", 1, OID1, NULL);
	char commit[41];
	struct seen s;

	assert_int_equal(cache_listing_store(f->root, REPO, C1, &e, 1), 0);
	assert_int_equal(cache_listing_store(f->root, REPO, C2, &e, 1), 0);
	assert_int_equal(cache_ref_store(f->root, REPO, "main", C1, 1), 0);
	assert_int_equal(cache_ref_store(f->root, REPO, "v1.0", C1, 2), 0);
	assert_int_equal(cache_ref_store(f->root, REPO, "feature/x", C2, 3), 0);

	/* The only ref of C2: its listing goes with it. */
	assert_int_equal(cache_repo_forget(f->root, REPO, "feature/x"), 0);
	assert_int_equal(cache_ref_load(f->root, REPO, "feature/x", commit, NULL), -ENOENT);
	assert_int_equal(load(f, REPO, C2, &s), -ENOENT);

	/* C1 is shared by two refs: it survives forgetting one. */
	assert_int_equal(cache_repo_forget(f->root, REPO, "main"), 0);
	assert_int_equal(cache_ref_load(f->root, REPO, "main", commit, NULL), -ENOENT);
	assert_int_equal(load(f, REPO, C1, &s), 0);
	assert_int_equal(cache_ref_load(f->root, REPO, "v1.0", commit, NULL), 0);

	/* Nothing left to forget for that revision. */
	assert_int_equal(cache_repo_forget(f->root, REPO, "main"), -ENOENT);

	/* The last one: listing and emptied directories go. */
	assert_int_equal(cache_repo_forget(f->root, REPO, "v1.0"), 0);
	assert_int_equal(load(f, REPO, C1, &s), -ENOENT);
	assert_false(exists(at(f, REPO_DIR)));
	assert_false(exists(at(f, REFS_REPO_DIR)));
	assert_false(exists(at(f, "refs/model/hubfs-test")));

	/* A corrupt ref is forgotten too. */
	assert_int_equal(cache_ref_store(f->root, REPO, "main", C1, 1), 0);
	put_file(at(f, REFS_REPO_DIR "/main.ref"), "junk", 4);
	assert_int_equal(cache_repo_forget(f->root, REPO, "main"), 0);
	assert_false(exists(at(f, REFS_REPO_DIR "/main.ref")));

	assert_int_equal(cache_repo_forget(f->root, "model/../x", "main"), -EINVAL);
	assert_int_equal(cache_repo_forget(f->root, REPO, ""), -EINVAL);
}

static void test_forget_repo(void **state)
{
	struct fixture *f = *state;
	struct cache_file_entry e = file_entry("a", 1, OID1, NULL);
	char commit[41];
	struct pairs p;
	struct seen s;

	assert_int_equal(cache_repo_forget(f->root, REPO, NULL), -ENOENT);
	assert_int_equal(cache_listing_store(f->root, REPO, C1, &e, 1), 0);
	assert_int_equal(cache_listing_store(f->root, REPO, C2, &e, 1), 0);
	assert_int_equal(cache_ref_store(f->root, REPO, "main", C1, 1), 0);
	assert_int_equal(cache_ref_store(f->root, REPO, "refs/pr/1", C2, 1), 0);
	assert_int_equal(cache_listing_store(f->root, "model/hubfs-test/other", C1, &e, 1), 0);
	assert_int_equal(cache_ref_store(f->root, "model/hubfs-test/other", "main", C1, 1), 0);

	assert_int_equal(cache_repo_forget(f->root, REPO, NULL), 0);
	assert_int_equal(load(f, REPO, C1, &s), -ENOENT);
	assert_int_equal(load(f, REPO, C2, &s), -ENOENT);
	assert_int_equal(cache_ref_load(f->root, REPO, "main", commit, NULL), -ENOENT);
	assert_false(exists(at(f, REPO_DIR)));
	assert_false(exists(at(f, REFS_REPO_DIR)));

	/* The neighbour in the same org is untouched. */
	assert_int_equal(load(f, "model/hubfs-test/other", C1, &s), 0);
	memset(&p, 0, sizeof(p));
	assert_int_equal(cache_refs_each(f->root, NULL, add_ref, &p), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.v[0], "model/hubfs-test/other:main=012345/1");

	assert_int_equal(cache_repo_forget(f->root, REPO, NULL), -ENOENT);
}

/*
 * Forgetting a repo follows no link in the cache: `hubfs cache evict`
 * removed every file of an outside directory that a link at
 * commits/model/hubfs-test led to (a helper's review), and a link at
 * refs/ led the walk of the refs out of the root.
 */
static void test_forget_follows_no_link(void **state)
{
	struct fixture *f = *state;
	struct cache_file_entry e = file_entry("a", 1, OID1, NULL);
	char outside[PATH_MAX], path[PATH_MAX];

	assert_true(snprintf(outside, sizeof(outside), "%.3000s-outside", f->root) > 0);
	mkdirs(outside);
	snprintf(path, sizeof(path), "%.3000s/tiny", outside);
	mkdirs(path);
	snprintf(path, sizeof(path), "%.3000s/tiny/thesis.tex", outside);
	put_file(path, "x", 1);
	snprintf(path, sizeof(path), "%.3000s/model/hubfs-test/tiny", outside);
	mkdirs(path);
	snprintf(path, sizeof(path), "%.3000s/model/hubfs-test/tiny/main.ref", outside);
	put_file(path, "x", 1);

	assert_int_equal(cache_listing_store(f->root, REPO, C1, &e, 1), 0);
	mkdirs(at(f, "commits/model"));
	assert_int_equal(symlink(outside, at(f, "commits/model/hubfs-test")), 0);
	assert_int_equal(symlink(outside, at(f, "refs")), 0);
	(void)cache_repo_forget(f->root, REPO, NULL);
	snprintf(path, sizeof(path), "%.3000s/tiny/thesis.tex", outside);
	assert_true(exists(path));
	snprintf(path, sizeof(path), "%.3000s/model/hubfs-test/tiny/main.ref", outside);
	assert_true(exists(path));
	assert_false(exists(at(f, REPO_DIR))); /* what is the cache's goes */
	assert_int_equal(unlink(at(f, "refs")), 0);
	assert_int_equal(unlink(at(f, "commits/model/hubfs-test")), 0);
	snprintf(path, sizeof(path), "rm -rf '%.3000s'", outside);
	assert_int_equal(system(path), 0);
}

/* A walk's callback may forget what it is being shown. */
static int forget_each(void *ctx, const char *repo, const char *commit)
{
	const char *root = ctx;

	(void)commit;
	return cache_repo_forget(root, repo, NULL) == 0 ? 0 : -1;
}

static void test_forget_from_callback(void **state)
{
	struct fixture *f = *state;
	struct cache_file_entry e = file_entry("a", 1, OID1, NULL);
	struct pairs p;

	assert_int_equal(cache_listing_store(f->root, "model/a/b", C1, &e, 1), 0);
	assert_int_equal(cache_listing_store(f->root, "model/a/c", C1, &e, 1), 0);
	assert_int_equal(cache_listings_each(f->root, forget_each, f->root), 0);
	memset(&p, 0, sizeof(p));
	assert_int_equal(cache_listings_each(f->root, add_listing, &p), 0);
	assert_int_equal(p.n, 0);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repo_keys),
		TEST(test_listing_round_trip),
		TEST(test_listing_legacy_keys_do_not_collide),
		TEST(test_listing_is_immutable),
		TEST(test_listing_refuses_bad_input),
		TEST(test_listing_truncated),
		TEST(test_listing_bit_flips),
		TEST(test_listing_appended_junk),
		TEST(test_listing_forged),
		TEST(test_listing_not_a_regular_file),
		TEST(test_listing_callback_stops),
		TEST(test_listing_large),
		TEST(test_ref_round_trip),
		TEST(test_ref_refuses_bad_input),
		TEST(test_ref_corrupt),
		TEST(test_listings_each),
		TEST(test_refs_each),
		TEST(test_forget_revision),
		TEST(test_forget_follows_no_link),
		TEST(test_forget_repo),
		TEST(test_forget_from_callback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
