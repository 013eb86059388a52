/* SPDX-License-Identifier: MIT */
/*
 * The snapshot layer (repo/snapshot.c) without a Hub: names (the cache's
 * repo key, huggingface_hub's folder names and cache directory), a
 * snapshot loaded offline from what a cache remembers (the entry table:
 * sorted, implicit folders added, duplicates and paths below a file
 * dropped, children linked), entry lookup and keys, reads served from a
 * right huggingface_hub blob, and references taken and dropped from many
 * threads at once (TSan).
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/meta.h"
#include "repo/snapshot.h"
#include "util/fileio.h"

#define COMMIT "0123456789abcdef0123456789abcdef01234567"
#define OTHER_COMMIT "89abcdef0123456789abcdef0123456789abcdef"
#define HELLO_OID "ce013625030ba8dba906f756967f9e9ca394464a" /* "hello\n" */
#define LFS_SHA "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"

struct fx {
	char dir[PATH_MAX];
	char hf[PATH_MAX + 8];
	struct cache *cache;
	struct repo_env env;
	struct hub_repo repo;
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/*
 * The listing as the Hub could send it: out of order, "d" listed and also
 * implied, "x/y" only implied, and "a.txt/z" below a file.
 */
static void store_listing(const char *root, const char *commit)
{
	struct cache_file_entry e[] = {
		{ .path = "x/y/deep.bin", .size = 7, .oid = "1111111111111111111111111111111111111111" },
		{ .path = "a.txt", .size = 6, .oid = HELLO_OID },
		{ .path = "d", .is_dir = true, .oid = "2222222222222222222222222222222222222222" },
		{ .path = "d/m.safetensors", .size = 6, .is_lfs = true,
		  .oid = "3333333333333333333333333333333333333333", .lfs_sha256 = LFS_SHA },
		{ .path = "a.txt/z", .size = 1, .oid = "4444444444444444444444444444444444444444" },
		{ .path = "d/b.json", .size = 2, .oid = "5555555555555555555555555555555555555555" },
	};

	assert_int_equal(cache_listing_store(root, "model/org/name", commit, e,
					     sizeof(e) / sizeof(e[0])), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct cache_options opts = { 0 };

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/hubfs-test-snapshot.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	opts.dir = f->dir;
	if (cache_open(&opts, &f->cache) < 0)
		return -1;
	store_listing(f->dir, COMMIT);
	assert_int_equal(cache_ref_store(f->dir, "model/org/name", "main", COMMIT, 1), 0);
	snprintf(f->hf, sizeof(f->hf), "%s/hf", f->dir);
	f->env = (struct repo_env){ .hub = NULL, .cache = f->cache, .offline = true };
	f->repo = (struct hub_repo){ .type = HUB_REPO_MODEL, .id = "org/name" };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cache_close(f->cache);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void test_repo_key(void **state)
{
	struct hub_repo r = { .type = HUB_REPO_DATASET, .id = "org/set" };
	char out[32];

	(void)state;
	assert_int_equal(repo_key_format(&r, out, sizeof(out)), 0);
	assert_string_equal(out, "dataset/org/set");
	r.type = HUB_REPO_SPACE;
	snprintf(r.id, sizeof(r.id), "legacy");
	assert_int_equal(repo_key_format(&r, out, sizeof(out)), 0);
	assert_string_equal(out, "space/legacy");
	assert_int_equal(repo_key_format(&r, out, 12), -ENAMETOOLONG); /* "space/legacy" is 12 */
}

/* huggingface_hub's repo_folder_name: every '/' of the id becomes "--". */
static void test_hf_repo_dir(void **state)
{
	struct hub_repo r = { .type = HUB_REPO_MODEL, .id = "org/name" };
	char out[64] = "untouched";

	(void)state;
	assert_int_equal(repo_hf_repo_dir("/c", &r, out, sizeof(out)), 0);
	assert_string_equal(out, "/c/models--org--name");
	r.type = HUB_REPO_DATASET;
	snprintf(r.id, sizeof(r.id), "solo");
	assert_int_equal(repo_hf_repo_dir("/c", &r, out, sizeof(out)), 0);
	assert_string_equal(out, "/c/datasets--solo");
	/* Exactly full: "/c/datasets--solo" is 17 bytes and its NUL. */
	assert_int_equal(repo_hf_repo_dir("/c", &r, out, 18), 0);
	snprintf(out, sizeof(out), "untouched");
	assert_int_equal(repo_hf_repo_dir("/c", &r, out, 17), -ENAMETOOLONG);
	assert_string_equal(out, "untouched");
}

/* HF_HUB_CACHE, then HUGGINGFACE_HUB_CACHE, then $HF_HOME/hub. */
static void test_hf_hub_cache_dir(void **state)
{
	struct fx *f = *state;
	char out[PATH_MAX], want[PATH_MAX + 16];

	setenv("HF_HOME", f->dir, 1);
	setenv("HUGGINGFACE_HUB_CACHE", "/nonexistent/legacy", 1);
	setenv("HF_HUB_CACHE", f->hf, 1);
	assert_int_equal(repo_hf_hub_cache_path(out, sizeof(out)), 0);
	assert_string_equal(out, f->hf);
	assert_int_equal(repo_hf_hub_cache_dir(out, sizeof(out)), -ENOENT); /* not made yet */
	assert_int_equal(mkdir(f->hf, 0700), 0);
	assert_int_equal(repo_hf_hub_cache_dir(out, sizeof(out)), 0);
	unsetenv("HF_HUB_CACHE");
	assert_int_equal(repo_hf_hub_cache_path(out, sizeof(out)), 0);
	assert_string_equal(out, "/nonexistent/legacy");
	assert_int_equal(repo_hf_hub_cache_dir(out, sizeof(out)), -ENOENT);
	unsetenv("HUGGINGFACE_HUB_CACHE");
	snprintf(want, sizeof(want), "%s/hub", f->dir);
	assert_int_equal(repo_hf_hub_cache_path(out, sizeof(out)), 0);
	assert_string_equal(out, want);
	assert_int_equal(repo_hf_hub_cache_path(out, 8), -ENAMETOOLONG);
	unsetenv("HF_HOME");
}

static const char *child_names(const struct repo_snapshot *s, const struct repo_entry *dir,
			       char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (uint32_t i = dir->first_child; i != REPO_NO_ENTRY; i = s->entries[i].next_sibling) {
		assert_true(i < s->n_entries);
		assert_ptr_equal(&s->entries[s->entries[i].parent], dir);
		n += (size_t)snprintf(out + n, size - n, "%s%s", n ? " " : "",
				      s->entries[i].name);
		assert_true(n < size);
	}
	return out;
}

/* Offline, the branch resolves to the commit the cache remembers. */
static void test_load_offline_table(void **state)
{
	struct fx *f = *state;
	struct hub_error err = { 0 };
	struct repo_snapshot *s = NULL;
	const struct repo_entry *e;
	char names[256];

	assert_int_equal(repo_snapshot_load(&f->env, &f->repo, &s, &err), 0);
	assert_non_null(s);
	assert_string_equal(s->commit, COMMIT);
	assert_string_equal(s->repo_key, "model/org/name");
	assert_true(s->from_cache_only);
	assert_string_equal(s->hf_blobs, "");
	/* The root, the 6 listed (a.txt/z kept, but unlinked), and x, x/y implied. */
	assert_int_equal(s->n_entries, 9);
	assert_string_equal(s->entries[0].path, "");
	for (size_t i = 1; i < s->n_entries; i++)
		assert_true(strcmp(s->entries[i - 1].path, s->entries[i].path) < 0);
	assert_string_equal(child_names(s, &s->entries[0], names, sizeof(names)), "a.txt d x");
	e = repo_snapshot_find(s, "d");
	assert_non_null(e);
	assert_true(e->is_dir);
	assert_string_equal(e->oid, "2222222222222222222222222222222222222222"); /* listed */
	assert_string_equal(child_names(s, e, names, sizeof(names)), "b.json m.safetensors");
	e = repo_snapshot_find(s, "x/y");
	assert_non_null(e);
	assert_true(e->is_dir);
	assert_string_equal(e->oid, ""); /* implied */
	assert_string_equal(child_names(s, e, names, sizeof(names)), "deep.bin");
	e = repo_snapshot_find(s, "a.txt/z");
	assert_non_null(e);
	assert_int_equal(e->parent, REPO_NO_ENTRY); /* below a file: never reachable */
	assert_string_equal(child_names(s, repo_snapshot_find(s, "a.txt"), names,
					sizeof(names)), "");
	/* Files reachable: a.txt, d/b.json, d/m.safetensors, x/y/deep.bin. */
	assert_int_equal(s->n_files, 4);
	assert_int_equal(s->total_bytes, 6 + 2 + 6 + 7);
	assert_null(repo_snapshot_find(s, "x/y/"));
	assert_null(repo_snapshot_find(s, "missing"));
	assert_null(repo_snapshot_find(s, "D"));
	repo_snapshot_unref(s);
}

static void test_entry_key(void **state)
{
	struct fx *f = *state;
	struct hub_error err = { 0 };
	struct repo_snapshot *s = NULL;
	struct cache_key k;

	assert_int_equal(repo_snapshot_load(&f->env, &f->repo, &s, &err), 0);
	repo_entry_key(repo_snapshot_find(s, "d/m.safetensors"), &k);
	assert_int_equal(k.algo, CACHE_ALGO_SHA256);
	assert_string_equal(k.hash, LFS_SHA);
	assert_int_equal(k.size, 6);
	repo_entry_key(repo_snapshot_find(s, "a.txt"), &k);
	assert_int_equal(k.algo, CACHE_ALGO_GIT_SHA1);
	assert_string_equal(k.hash, HELLO_OID);
	assert_int_equal(k.size, 6);
	repo_snapshot_unref(s);
}

/* A sha is its own commit; an unknown one, or an unknown branch, fails offline. */
static void test_load_pinned_and_unknown(void **state)
{
	struct fx *f = *state;
	struct hub_error err = { 0 };
	struct repo_snapshot *s = NULL, *next = NULL;
	struct hub_repo r = f->repo;

	snprintf(r.revision, sizeof(r.revision), "%s", COMMIT);
	assert_int_equal(repo_snapshot_load(&f->env, &r, &s, &err), 0);
	assert_string_equal(s->commit, COMMIT);
	assert_false(s->from_cache_only); /* nothing to ask the Hub */
	/* The same commit again: nothing new. */
	assert_int_equal(repo_snapshot_refresh(&f->env, s, &next, &err), 0);
	assert_null(next);
	repo_snapshot_unref(s);

	snprintf(r.revision, sizeof(r.revision), "%s", OTHER_COMMIT);
	s = (struct repo_snapshot *)&err; /* must be reset */
	assert_int_equal(repo_snapshot_load(&f->env, &r, &s, &err), -ENETDOWN);
	assert_null(s);
	assert_non_null(strstr(err.message, "no listing"));

	memset(&err, 0, sizeof(err));
	snprintf(r.revision, sizeof(r.revision), "dev");
	assert_int_equal(repo_snapshot_load(&f->env, &r, &s, &err), -ENETDOWN);
	assert_non_null(strstr(err.message, "never seen this revision"));

	/* The branch moved (the cache says so): refresh gives the new commit. */
	store_listing(f->dir, OTHER_COMMIT);
	assert_int_equal(repo_snapshot_load(&f->env, &f->repo, &s, &err), 0);
	assert_int_equal(cache_ref_store(f->dir, "model/org/name", "main", OTHER_COMMIT, 2), 0);
	assert_int_equal(repo_snapshot_refresh(&f->env, s, &next, &err), 0);
	assert_non_null(next);
	assert_string_equal(next->commit, OTHER_COMMIT);
	repo_snapshot_unref(next);
	repo_snapshot_unref(s);
}

/*
 * Two names of one commit (a branch and the sha) share one entry table,
 * which outlives the first snapshot let go and goes with the last.
 */
static void test_one_table_per_commit(void **state)
{
	struct fx *f = *state;
	struct hub_error err = { 0 };
	struct repo_snapshot *by_branch = NULL, *by_sha = NULL, *again = NULL;
	struct hub_repo r = f->repo;

	assert_int_equal(repo_snapshot_load(&f->env, &f->repo, &by_branch, &err), 0);
	snprintf(r.revision, sizeof(r.revision), "%s", COMMIT);
	assert_int_equal(repo_snapshot_load(&f->env, &r, &by_sha, &err), 0);
	assert_ptr_not_equal(by_branch, by_sha);
	assert_ptr_equal(by_branch->entries, by_sha->entries);
	assert_int_equal(by_branch->n_entries, by_sha->n_entries);
	assert_string_equal(by_sha->repo.revision, COMMIT);
	assert_string_equal(by_branch->repo.revision, "");
	repo_snapshot_unref(by_branch);
	/* Still whole for the other name (ASan would see a use after free). */
	assert_non_null(repo_snapshot_find(by_sha, "d/m.safetensors"));
	assert_int_equal(by_sha->n_files, 4);
	repo_snapshot_unref(by_sha);
	/* Gone with the last: a new load builds it again. */
	assert_int_equal(repo_snapshot_load(&f->env, &f->repo, &again, &err), 0);
	assert_non_null(repo_snapshot_find(again, "a.txt"));
	repo_snapshot_unref(again);
}

/*
 * A right blob in huggingface_hub's cache serves reads with no Hub at all
 * (the source's Hub client is NULL: asking it would crash).
 */
static void test_read_from_hf_blob(void **state)
{
	struct fx *f = *state;
	struct hub_error err = { 0 };
	struct cache_error cerr = { 0 };
	struct repo_snapshot *s = NULL;
	struct repo_source src;
	struct cache_source cs;
	struct cache_key k;
	char blobs[PATH_MAX + 64], path[PATH_MAX + 128], out[8] = "";

	snprintf(blobs, sizeof(blobs), "%s/models--org--name/blobs", f->hf);
	assert_int_equal(fileio_mkdirs(blobs, 0700), 0);
	snprintf(path, sizeof(path), "%s/%s", blobs, HELLO_OID);
	assert_int_equal(fileio_write_atomic(path, "hello\n", 6, 0600, false), 0);
	f->env.hf_hub_cache = f->hf;
	assert_int_equal(repo_snapshot_load(&f->env, &f->repo, &s, &err), 0);
	assert_string_equal(s->hf_blobs, blobs);
	repo_source_init(&src, NULL, s, repo_snapshot_find(s, "a.txt"), &cs);
	repo_entry_key(src.entry, &k);
	assert_int_equal(cs.fetch(cs.ctx, &k, 1, 3, out, &cerr), 0);
	assert_memory_equal(out, "ell", 3);
	assert_int_equal(cs.fetch(cs.ctx, &k, 0, 6, out, &cerr), 0);
	assert_memory_equal(out, "hello\n", 6);
	repo_snapshot_unref(s);
}

#define REF_THREADS 4
#define REF_ROUNDS 20000

static void *ref_unref(void *s_)
{
	struct repo_snapshot *s = s_;

	for (int i = 0; i < REF_ROUNDS; i++) {
		repo_snapshot_ref(s);
		repo_snapshot_ref(s);
		repo_snapshot_unref(s);
		repo_snapshot_unref(s);
	}
	repo_snapshot_unref(s); /* the reference the thread was given */
	return NULL;
}

/* References from many threads: the count ends where it began. */
static void test_refs_threads(void **state)
{
	struct fx *f = *state;
	struct hub_error err = { 0 };
	struct repo_snapshot *s = NULL;
	pthread_t t[REF_THREADS];

	assert_int_equal(repo_snapshot_load(&f->env, &f->repo, &s, &err), 0);
	for (int i = 0; i < REF_THREADS; i++) {
		repo_snapshot_ref(s);
		assert_int_equal(pthread_create(&t[i], NULL, ref_unref, s), 0);
	}
	for (int i = 0; i < REF_THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(atomic_load(&s->refs), 1);
	repo_snapshot_unref(s); /* the last one frees it (ASan: no leak) */
}

/*
 * A blob of huggingface_hub's cache checked good in one repo's folder
 * vouches for no other file: org/other's blob of the same name and size
 * holds other bytes, and is checked, and refused (a helper's review: it
 * was read unchecked, the verdict being kept by the hash alone).
 */
static void test_hf_blob_verdict_is_per_file(void **state)
{
	struct fx *f = *state;
	struct hub_error err = { 0 };
	struct cache_error cerr = { 0 };
	struct repo_snapshot *s1 = NULL, *s2 = NULL;
	struct hub_repo r2 = f->repo;
	struct repo_source src1, src2;
	struct cache_source cs1, cs2;
	struct cache_key k;
	char blobs[PATH_MAX + 64], path[PATH_MAX + 128], out[8] = "";
	struct cache_file_entry e[] = {
		{ .path = "a.txt", .size = 6, .oid = HELLO_OID },
	};
	static char nowhere[] = "http://127.0.0.1:9";
	struct hub_config offline = { .endpoint = nowhere, .offline = true, .op_timeout_ms = 1000 };
	struct hub_client *hub = NULL;

	assert_int_equal(hub_client_new(&offline, &hub), 0);
	assert_int_equal(cache_listing_store(f->dir, "model/org/other", COMMIT, e, 1), 0);
	assert_int_equal(cache_ref_store(f->dir, "model/org/other", "main", COMMIT, 1), 0);
	snprintf(r2.id, sizeof(r2.id), "org/other");
	snprintf(blobs, sizeof(blobs), "%s/models--org--name/blobs", f->hf);
	assert_int_equal(fileio_mkdirs(blobs, 0700), 0);
	snprintf(path, sizeof(path), "%s/%s", blobs, HELLO_OID);
	assert_int_equal(fileio_write_atomic(path, "hello\n", 6, 0600, false), 0);
	snprintf(blobs, sizeof(blobs), "%s/models--org--other/blobs", f->hf);
	assert_int_equal(fileio_mkdirs(blobs, 0700), 0);
	snprintf(path, sizeof(path), "%s/%s", blobs, HELLO_OID);
	assert_int_equal(fileio_write_atomic(path, "EVIL!\n", 6, 0600, false), 0);
	f->env.hf_hub_cache = f->hf;
	assert_int_equal(repo_snapshot_load(&f->env, &f->repo, &s1, &err), 0);
	assert_int_equal(repo_snapshot_load(&f->env, &r2, &s2, &err), 0);
	repo_source_init(&src1, NULL, s1, repo_snapshot_find(s1, "a.txt"), &cs1);
	repo_entry_key(src1.entry, &k);
	assert_int_equal(cs1.fetch(cs1.ctx, &k, 0, 6, out, &cerr), 0);
	assert_memory_equal(out, "hello\n", 6);
	memset(out, 0, sizeof(out));
	repo_source_init(&src2, hub, s2, repo_snapshot_find(s2, "a.txt"), &cs2);
	/* Not from the wrong blob: from the Hub, offline here. */
	assert_true(cs2.fetch(cs2.ctx, &k, 0, 6, out, &cerr) < 0);
	assert_null(memmem(out, sizeof(out), "EVIL", 4));
	repo_snapshot_unref(s1);
	repo_snapshot_unref(s2);
	hub_client_free(hub);
}

/*
 * A file below a folder that is itself below a file ('a' a file, and
 * 'a/b/c'): out of the tree, and not counted: a download fetched it, and
 * the totals counted it (a helper's review).
 */
static void test_below_an_ignored_folder_is_ignored(void **state)
{
	struct fx *f = *state;
	struct hub_error err = { 0 };
	struct repo_snapshot *s = NULL;
	struct hub_repo r = f->repo;
	struct cache_file_entry le[] = {
		{ .path = "a", .size = 6, .oid = HELLO_OID },
		{ .path = "a/b/c", .size = 1000000, .oid = "4444444444444444444444444444444444444444" },
	};

	assert_int_equal(cache_listing_store(f->dir, "model/org/name", OTHER_COMMIT, le, 2), 0);
	snprintf(r.revision, sizeof(r.revision), "%s", OTHER_COMMIT);
	assert_int_equal(repo_snapshot_load(&f->env, &r, &s, &err), 0);
	assert_int_equal(s->n_files, 1);
	assert_int_equal(s->total_bytes, 6);
	assert_int_equal(repo_snapshot_find(s, "a/b/c")->parent, REPO_NO_ENTRY);
	repo_snapshot_unref(s);
}

/* A listing of @n files @depth folders deep, one chain for all (@distinct: one each). */
static int load_deep(struct fx *f, size_t n, int depth, bool distinct, const char *commit,
		     struct repo_snapshot **s)
{
	struct cache_file_entry *e = calloc(n, sizeof(*e));
	char *paths = malloc(n * 4100);
	struct hub_error err = { 0 };
	struct hub_repo r = f->repo;

	assert_non_null(e);
	assert_non_null(paths);
	for (size_t i = 0; i < n; i++) {
		char *p = paths + i * 4100;
		size_t k = distinct ? (size_t)snprintf(p, 4100, "d%zu/", i) : 0;

		for (int d = 0; d < depth; d++) {
			p[k++] = 'a';
			p[k++] = '/';
		}
		snprintf(p + k, 4100 - k, "f%05zu", i);
		e[i].path = p;
		e[i].size = 1;
		memcpy(e[i].oid, HELLO_OID, 41);
	}
	assert_int_equal(cache_listing_store(f->dir, "model/org/name", commit, e, n), 0);
	free(e);
	free(paths);
	snprintf(r.revision, sizeof(r.revision), "%s", commit);
	return repo_snapshot_load(&f->env, &r, s, &err);
}

/*
 * Folders implied by deep paths are made once each: 100 files 2,040
 * folders down one chain make 2,141 entries, and took 443 MB to build
 * (each file added its whole chain, duplicates dropped after the sort; a
 * helper's review). A crafted listing of distinct deep chains, which
 * would imply a thousand times its own bytes, is refused.
 */
static void test_implied_folders_are_bounded(void **state)
{
	struct fx *f = *state;
	struct repo_snapshot *s = NULL;

	assert_int_equal(load_deep(f, 100, 2040, false, "cccccccccccccccccccccccccccccccccccccccc", &s), 0);
	assert_int_equal(s->n_entries, 100 + 2040 + 1);
	assert_int_equal(s->n_files, 100);
	repo_snapshot_unref(s);
	s = NULL;
	assert_int_equal(load_deep(f, 100, 1000, true, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &s),
			 -EPROTO);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repo_key),
		cmocka_unit_test(test_hf_repo_dir),
		cmocka_unit_test_setup_teardown(test_hf_hub_cache_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_offline_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entry_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_pinned_and_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_table_per_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_from_hf_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refs_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hf_blob_verdict_is_per_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_below_an_ignored_folder_is_ignored, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_implied_folders_are_bounded, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
