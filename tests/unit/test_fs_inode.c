/* SPDX-License-Identifier: MIT */
/*
 * The mount's namespace and inode life cycle (fs/inode.c), without a
 * kernel: a cache holding one repo's listing, an offline fs, and the same
 * calls the FUSE callbacks make. Nodes must be freed when the kernel
 * forgets them (children holding their parents), names must never be
 * invented, and concurrent lookups and forgets must agree (TSan).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/meta.h"
#include "fs/fs_int.h"
#include "tests/helpers/scratch.h"

#define COMMIT "0123456789abcdef0123456789abcdef01234567"
#define WIDE 5000 /* files in big/ */

struct fx {
	char dir[PATH_MAX];
	struct cache *cache;
	struct hub_config hub_config;
	struct fs fs;
	size_t base; /* nodes of an fs nobody looked into */
};

/* The longest path a listing may hold (PATH_REPO_MAX): 17 names of 240 bytes. */
#define LONG_DEPTH 17
#define LONG_NAME 240

static void long_name(char *out, int level)
{
	memset(out, 'a' + level, LONG_NAME);
	out[LONG_NAME] = '\0';
}

static char *long_path(void)
{
	char *p = malloc(LONG_DEPTH * (LONG_NAME + 1));

	assert_non_null(p);
	for (int k = 0; k < LONG_DEPTH; k++) {
		long_name(p + k * (LONG_NAME + 1), k);
		p[k * (LONG_NAME + 1) + LONG_NAME] = k + 1 < LONG_DEPTH ? '/' : '\0';
	}
	assert_int_equal(strlen(p), 4096);
	return p;
}

static void store_repo(const char *root)
{
	size_t n = WIDE + 4, i = 0;
	struct cache_file_entry *e = calloc(n, sizeof(*e));
	char **paths = calloc(n, sizeof(*paths));

	assert_non_null(e);
	assert_non_null(paths);
	for (size_t k = 0; k < WIDE; k++) {
		assert_true(asprintf(&paths[i], "big/f%05zu.json", k) > 0);
		e[i].path = paths[i];
		e[i].size = k;
		snprintf(e[i].oid, sizeof(e[i].oid), "%040zx", k + 1);
		i++;
	}
	paths[i] = strdup("a.txt");
	paths[i + 1] = strdup("sub/x.bin");
	paths[i + 2] = strdup("sub/deeper/y.bin");
	paths[i + 3] = long_path();
	for (size_t k = i; k < n; k++) {
		e[k].path = paths[k];
		e[k].size = 10 * k;
		snprintf(e[k].oid, sizeof(e[k].oid), "%040zx", k + 100000);
	}
	assert_int_equal(cache_listing_store(root, "model/acme/wide", COMMIT, e, n), 0);
	assert_int_equal(cache_ref_store(root, "model/acme/wide", "main", COMMIT, 1), 0);
	for (size_t k = 0; k < n; k++)
		free(paths[k]);
	free(paths);
	free(e);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct cache_options opts = { 0 };

	assert_non_null(f);
	scratch_dir_make(f->dir, sizeof(f->dir), "test_fs_inode");
	opts.dir = f->dir;
	assert_int_equal(cache_open(&opts, &f->cache), 0);
	store_repo(f->dir);
	f->fs.opts.revision_ttl_secs = 60;
	f->fs.opts.negative_ttl_secs = 30;
	f->fs.deps.cache = f->cache;
	f->hub_config.op_timeout_ms = 10000;
	f->hub_config.offline = true;
	f->fs.deps.hub_config = &f->hub_config;
	pthread_mutex_init(&f->fs.helpers_lock, NULL);
	pthread_cond_init(&f->fs.helpers_done, NULL);
	f->fs.env.cache = f->cache;
	f->fs.env.offline = true; /* never a Hub request: everything from the cache */
	assert_int_equal(fs_table_init(&f->fs), 0);
	f->base = fs_node_count(&f->fs);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	fs_helpers_drain(&f->fs); /* loads on helper threads hold repo references */
	fs_table_release(&f->fs);
	pthread_mutex_destroy(&f->fs.helpers_lock);
	pthread_cond_destroy(&f->fs.helpers_done);
	cache_close(f->cache);
	scratch_dir_remove(f->dir);
	free(f);
	return 0;
}

static struct fs_node *root(struct fx *f)
{
	return fs_node_get(&f->fs, FUSE_ROOT_ID);
}

static struct fs_node *look(struct fx *f, struct fs_node *dir, const char *name)
{
	struct fs_node *n = NULL;

	assert_int_equal(fs_lookup(&f->fs, NULL, dir, name, &n), 0);
	assert_non_null(n);
	return n;
}

static int look_rc(struct fx *f, struct fs_node *dir, const char *name)
{
	struct fs_node *n = NULL;
	int rc = fs_lookup(&f->fs, NULL, dir, name, &n);

	if (rc == 0)
		fs_node_forget(&f->fs, n, 1);
	return rc;
}

/* A whole walk, then its forgets: every node goes, and the snapshot with them. */
static void test_forget_frees_everything(void **state)
{
	struct fx *f = *state;
	struct fs_node *org, *repo, *big;
	struct repo_snapshot *snap;
	uint32_t idx, c;
	size_t n = 0;

	assert_int_equal(f->base, 3); /* the root, datasets, spaces */
	org = look(f, root(f), "acme");
	repo = look(f, org, "wide");
	big = look(f, repo, "big");
	assert_int_equal(fs_node_snapshot(&f->fs, NULL, big, &snap, &idx), 0);
	/* What readdirplus does: a lookup per entry. */
	for (c = snap->entries[idx].first_child; c != REPO_NO_ENTRY; c = snap->entries[c].next_sibling) {
		struct fs_node *e = fs_entry_lookup(&f->fs, big, snap, c);

		assert_non_null(e);
		n++;
	}
	assert_int_equal(n, WIDE);
	assert_int_equal(fs_node_count(&f->fs), f->base + 3 + WIDE);
	/* The kernel forgets the files, then the folders. */
	for (c = snap->entries[idx].first_child; c != REPO_NO_ENTRY; c = snap->entries[c].next_sibling) {
		struct fs_node *e = fs_entry_lookup(&f->fs, big, snap, c);

		fs_node_forget(&f->fs, e, 2);
	}
	assert_int_equal(fs_node_count(&f->fs), f->base + 3);
	fs_node_forget(&f->fs, big, 1);
	fs_node_forget(&f->fs, repo, 1);
	fs_node_forget(&f->fs, org, 1);
	assert_int_equal(fs_node_count(&f->fs), f->base);
	/*
	 * Ours is the last reference once the repo node let go of it and the
	 * helper that loaded it ended: it drops its hold on the repo just
	 * after waking the lookup.
	 */
	fs_helpers_drain(&f->fs);
	assert_int_equal(atomic_load(&snap->refs), 1);
	repo_snapshot_unref(snap);
}

/* Forgotten out of order, a folder stays while a child holds it. */
static void test_child_holds_parent(void **state)
{
	struct fx *f = *state;
	struct fs_node *org = look(f, root(f), "acme");
	struct fs_node *repo = look(f, org, "wide");
	struct fs_node *sub = look(f, repo, "sub");
	struct fs_node *deeper = look(f, sub, "deeper");
	struct fs_node *y = look(f, deeper, "y.bin");
	fuse_ino_t sub_ino = sub->ino;
	struct stat st;
	double timeout;

	fs_node_forget(&f->fs, org, 1);
	fs_node_forget(&f->fs, repo, 1);
	fs_node_forget(&f->fs, sub, 1);
	fs_node_forget(&f->fs, deeper, 1);
	assert_int_equal(fs_node_count(&f->fs), f->base + 5);
	assert_ptr_equal(fs_node_get(&f->fs, sub_ino), sub);
	assert_int_equal(fs_node_stat(&f->fs, NULL, y, &st, &timeout), 0);
	assert_int_equal(st.st_size, 10 * (WIDE + 2));
	assert_int_equal(st.st_blocks, (10 * (WIDE + 2) + 511) / 512);
	fs_node_forget(&f->fs, y, 1);
	assert_int_equal(fs_node_count(&f->fs), f->base);
	assert_null(fs_node_get(&f->fs, sub_ino));
}

/*
 * One name, one node while known; a new node id, never reused, after --
 * but the same number for stat, which comes from the path and content.
 */
static void test_inode_numbers(void **state)
{
	struct fx *f = *state;
	struct fs_node *org = look(f, root(f), "acme");
	struct fs_node *a = look(f, org, "wide"), *b = look(f, org, "wide");
	fuse_ino_t first = a->ino;
	uint64_t shown = a->st_ino;
	struct stat st;
	double timeout;

	assert_ptr_equal(a, b);
	assert_int_equal(shown, fs_child_ino(fs_child_ino(FUSE_ROOT_ID, "acme", NULL, 0), "wide", NULL, 0));
	assert_true(shown > FUSE_ROOT_ID);
	fs_node_forget(&f->fs, a, 2);
	a = look(f, org, "wide");
	assert_true(a->ino > first);
	assert_int_equal(a->st_ino, shown);
	assert_int_equal(fs_node_stat(&f->fs, NULL, a, &st, &timeout), 0);
	assert_int_equal(st.st_ino, shown);
	/* A file's number follows its content; "ab"+"c" is not "a"+"bc". */
	assert_true(fs_child_ino(shown, "x.bin", "aa", 0) != fs_child_ino(shown, "x.bin", "ab", 0));
	assert_true(fs_child_ino(shown, "x.bin", NULL, 0) != fs_child_ino(shown, "x.bi", "n", 0));
	assert_true(fs_child_ino(shown, "x.bin", NULL, 0) != fs_child_ino(shown + 1, "x.bin", NULL, 0));
	/* Content refused: the inode made after it has another number. */
	assert_true(fs_child_ino(shown, "x.bin", "aa", 0) != fs_child_ino(shown, "x.bin", "aa", 1));
	fs_node_forget(&f->fs, a, 1);
	fs_node_forget(&f->fs, org, 1);
	assert_int_equal(fs_node_count(&f->fs), f->base);
}

static bool listed(struct fx *f, struct fs_node *dir, const char *name)
{
	struct fs_names l;
	bool found = false;

	assert_int_equal(fs_virtual_list(&f->fs, NULL, dir, &l), 0);
	for (size_t i = 0; i < l.n; i++) {
		found |= strcmp(l.v[i], name) == 0;
		if (i)
			assert_true(strcmp(l.v[i - 1], l.v[i]) < 0); /* sorted, once */
	}
	fs_names_release(&l);
	return found;
}

/* Names that do not exist are ENOENT and appear in no listing. */
static void test_invent_nothing(void **state)
{
	struct fx *f = *state;
	struct fs_node *org;

	assert_int_equal(look_rc(f, root(f), "ghostorg-qq"), -ENOENT);
	assert_int_equal(look_rc(f, root(f), "HEAD"), -ENOENT);
	assert_int_equal(look_rc(f, root(f), ".git"), -ENOENT);
	assert_int_equal(look_rc(f, root(f), "datasets"), 0);
	assert_int_equal(fs_node_count(&f->fs), f->base);
	assert_false(listed(f, root(f), "ghostorg-qq"));
	assert_false(listed(f, root(f), "HEAD"));
	assert_true(listed(f, root(f), "acme"));
	assert_true(listed(f, root(f), "datasets"));
	org = look(f, root(f), "acme");
	assert_int_equal(look_rc(f, org, "typo-repo"), -ENOENT);
	assert_false(listed(f, org, "typo-repo"));
	assert_true(listed(f, org, "wide"));
	assert_int_equal(look_rc(f, org, "wide"), 0);
	fs_node_forget(&f->fs, org, 1);
	assert_int_equal(fs_node_count(&f->fs), f->base);
}

/*
 * A file at the longest path a listing may hold is found as it is listed:
 * its lookup built the path in a buffer a byte short (ENAMETOOLONG).
 */
static void test_longest_path(void **state)
{
	struct fx *f = *state;
	struct fs_node *nodes[LONG_DEPTH + 2];
	char name[LONG_NAME + 1];
	int n = 0;

	nodes[n++] = look(f, root(f), "acme");
	nodes[n++] = look(f, nodes[0], "wide");
	char *want = long_path();
	const struct repo_entry *e;

	for (int k = 0; k < LONG_DEPTH; k++) {
		long_name(name, k);
		nodes[n] = look(f, nodes[n - 1], name);
		n++;
	}
	assert_int_equal(nodes[n - 1]->kind, NODE_ENTRY);
	e = &nodes[n - 1]->snap->entries[nodes[n - 1]->entry];
	assert_false(e->is_dir);
	assert_string_equal(e->path, want);
	free(want);
	while (n > 0)
		fs_node_forget(&f->fs, nodes[--n], 1);
	assert_int_equal(fs_node_count(&f->fs), f->base);
}

/* Lookups and forgets of the same names from many threads agree. */
struct walker {
	struct fx *f;
	int rounds;
};

static void *walk(void *p)
{
	struct walker *w = p;
	struct fx *f = w->f;

	for (int i = 0; i < w->rounds; i++) {
		struct fs_node *org = NULL, *repo = NULL, *sub = NULL, *x = NULL;

		if (fs_lookup(&f->fs, NULL, root(f), "acme", &org) != 0 ||
		    fs_lookup(&f->fs, NULL, org, "wide", &repo) != 0 ||
		    fs_lookup(&f->fs, NULL, repo, "sub", &sub) != 0 ||
		    fs_lookup(&f->fs, NULL, sub, "x.bin", &x) != 0)
			abort();
		fs_node_forget(&f->fs, org, 1);
		fs_node_forget(&f->fs, repo, 1);
		fs_node_forget(&f->fs, sub, 1);
		fs_node_forget(&f->fs, x, 1);
	}
	return NULL;
}

static void test_concurrent_lookup_forget(void **state)
{
	struct fx *f = *state;
	struct walker w = { f, 300 };
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, walk, &w), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(fs_node_count(&f->fs), f->base);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_forget_frees_everything),
		T(test_child_holds_parent),
		T(test_inode_numbers),
		T(test_invent_nothing),
		T(test_longest_path),
		T(test_concurrent_lookup_forget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
