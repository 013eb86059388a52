/* SPDX-License-Identifier: MIT */
/*
 * Snapshots: a revision resolved to a commit, and the commit's listing,
 * from the cache when it has them, from the Hub otherwise.
 */
#include "repo/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/commit.h"
#include "cache/meta.h"
#include "hub/pace.h"
#include "util/buf.h"
#include "util/digest.h"
#include "util/fileio.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/path.h"
#include "util/pattern.h"

int repo_key_format(const struct hub_repo *repo, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s", hub_repo_type_name(repo->type), repo->id);

	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

/* "2024-01-04T12:00:00.000Z" → unix seconds, or 0. */
static int64_t parse_iso_time(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return 0;
	return (int64_t)timegm(&tm);
}

static void hf_blob_dir(const char *hf_cache, const struct repo_snapshot *s, char *out,
			size_t size);

static bool is_network_error(int rc)
{
	return rc == -EHOSTUNREACH || rc == -ETIMEDOUT || rc == -ENETDOWN ||
	       rc == -EAGAIN || rc == -EIO || rc == -ECONNRESET;
}

/* ---- building the entry table ---- */

struct builder {
	struct repo_entry *entries;
	size_t n, cap;
	int rc;
};

static int add_entry(struct builder *b, const char *path, bool is_dir, bool is_lfs,
		     uint64_t size, const char *oid, const char *sha256)
{
	struct repo_entry *e;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct repo_entry *p = realloc(b->entries, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		b->entries = p;
		b->cap = cap;
	}
	e = &b->entries[b->n];
	memset(e, 0, sizeof(*e));
	e->path = strdup(path);
	if (!e->path)
		return -ENOMEM;
	e->is_dir = is_dir;
	e->is_lfs = is_lfs;
	e->size = is_dir ? 0 : size;
	snprintf(e->oid, sizeof(e->oid), "%s", oid ? oid : "");
	snprintf(e->sha256, sizeof(e->sha256), "%s", sha256 ? sha256 : "");
	b->n++;
	return 0;
}

static int from_cache_entry(void *b_, const struct cache_file_entry *e)
{
	struct builder *b = b_;

	return add_entry(b, e->path, e->is_dir, e->is_lfs, e->size, e->oid,
			 e->is_lfs ? e->lfs_sha256 : NULL);
}

static int from_hub_entry(void *b_, const struct hub_entry *e)
{
	struct builder *b = b_;

	return add_entry(b, e->path, e->type == HUB_ENTRY_DIR, e->is_lfs, e->size,
			 e->oid, e->is_lfs ? e->lfs_sha256 : NULL);
}

static int by_path(const void *a_, const void *b_)
{
	const struct repo_entry *a = a_, *b = b_;

	return strcmp(a->path, b->path);
}

/*
 * The table's order: by path, and a folder before a file of the same
 * path, so that which of the two a self-contradicting listing keeps does
 * not depend on qsort()'s whims (the file is dropped, and logged).
 */
static int by_path_folders_first(const void *a_, const void *b_)
{
	const struct repo_entry *a = a_, *b = b_;
	int c = strcmp(a->path, b->path);

	return c ? c : (int)b->is_dir - (int)a->is_dir;
}

/* The directory part of @path ("" for top-level names) into @out. */
static void parent_of(const char *path, char *out, size_t size)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (n >= size)
		n = size - 1;
	memcpy(out, path, n);
	out[n] = '\0';
}

static void free_entries(struct repo_entry *entries, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(entries[i].path);
	free(entries);
}

/* Is @dir @path itself, or one of its folders? */
static bool dir_holds(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	return strncmp(dir, path, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/*
 * Sort, add the root and any directory the listing left implicit, drop
 * duplicates and entries under a file, and link every entry to its parent.
 */
static int finish_table(struct repo_snapshot *s, struct builder *b)
{
	char dir[4096], prev[4096] = "";
	size_t out = 0, n_listed = b->n, implied = 0;
	uint64_t listed_bytes = 0, implied_bytes = 0;
	int rc;

	/*
	 * Directories only implied by their files' paths, each made once: in
	 * path order a folder's descendants come together, so a file needs
	 * only the folders that the one before it did not. Each used to add
	 * its whole chain (duplicates dropped after the sort), and 100 files
	 * 2,040 folders deep, a 414 KB listing, took 443 MB (a helper's
	 * review). What a listing may imply is bounded too: a crafted one of
	 * distinct deep chains still would.
	 */
	qsort(b->entries, n_listed, sizeof(*b->entries), by_path);
	for (size_t i = 0; i < n_listed; i++)
		listed_bytes += strlen(b->entries[i].path) + 1;
	rc = add_entry(b, "", true, false, 0, "", NULL);
	for (size_t i = 0; rc == 0 && i < n_listed; i++) {
		parent_of(b->entries[i].path, dir, sizeof(dir));
		for (char cur[4096]; rc == 0 && dir[0] && !dir_holds(dir, prev);) {
			implied_bytes += strlen(dir) + 1;
			if (++implied > 2 * n_listed + 65536 ||
			    implied_bytes > 2 * listed_bytes + (64u << 20)) {
				log_warn("snapshot %s@%s: the listing implies more folders than its "
					 "files' paths could hold; refused", s->repo_key, s->commit);
				return -EPROTO;
			}
			rc = add_entry(b, dir, true, false, 0, "", NULL);
			memcpy(cur, dir, sizeof(cur));
			parent_of(cur, dir, sizeof(dir));
		}
		parent_of(b->entries[i].path, prev, sizeof(prev));
	}
	if (rc < 0)
		return rc;
	qsort(b->entries, b->n, sizeof(*b->entries), by_path_folders_first);
	for (size_t i = 0; i < b->n; i++) {
		struct repo_entry *e = &b->entries[i];

		if (out > 0 && strcmp(b->entries[out - 1].path, e->path) == 0) {
			/* Keep the listing's own entry over a synthesized one. */
			if (b->entries[out - 1].oid[0] == '\0' && e->oid[0]) {
				free(b->entries[out - 1].path);
				b->entries[out - 1] = *e;
			} else {
				if (e->oid[0] && !e->is_dir)
					log_warn("snapshot %s@%s: '%s' is listed as a folder and "
						 "a file; the file is ignored", s->repo_key,
						 s->commit, e->path);
				free(e->path);
			}
			continue;
		}
		b->entries[out++] = *e;
	}
	b->n = out;
	/* What the duplicates and the doubling left unused: held for the commit's life. */
	{
		struct repo_entry *fit = realloc(b->entries, (b->n ? b->n : 1) * sizeof(*fit));

		if (fit) {
			b->entries = fit;
			b->cap = b->n;
		}
	}
	for (size_t i = 0; i < b->n; i++) {
		struct repo_entry *e = &b->entries[i];
		const char *slash = strrchr(e->path, '/');
		struct repo_entry key = { .path = dir };
		const struct repo_entry *p;

		e->name = slash ? slash + 1 : e->path;
		e->parent = REPO_NO_ENTRY;
		if (i == 0)
			continue; /* the root */
		parent_of(e->path, dir, sizeof(dir));
		p = bsearch(&key, b->entries, b->n, sizeof(*b->entries), by_path);
		if (!p || !p->is_dir) {
			/* A path below a file: the listing contradicts itself. */
			log_warn("snapshot %s@%s: '%s' lies below a file; ignored",
				 s->repo_key, s->commit, e->path);
			continue;
		}
		/*
		 * Below a folder that is itself ignored: out of the tree too,
		 * and not counted (sorted, a parent is linked before its
		 * children). Counted, a download fetched a/b/c of a listing
		 * where 'a' is a file (a helper's review).
		 */
		if (p != b->entries && p->parent == REPO_NO_ENTRY)
			continue;
		e->parent = (uint32_t)(p - b->entries);
		if (!e->is_dir) {
			s->n_files++;
			s->total_bytes += e->size;
		}
	}
	/* Children lists, in path order (entries are sorted, so append works). */
	for (size_t i = 0; i < b->n; i++)
		b->entries[i].first_child = b->entries[i].next_sibling = REPO_NO_ENTRY;
	{
		uint32_t *last = malloc(b->n * sizeof(*last));

		if (!last)
			return -ENOMEM;
		for (size_t i = 0; i < b->n; i++)
			last[i] = REPO_NO_ENTRY;
		for (size_t i = 1; i < b->n; i++) {
			uint32_t p = b->entries[i].parent;

			if (p == REPO_NO_ENTRY)
				continue;
			if (last[p] == REPO_NO_ENTRY)
				b->entries[p].first_child = (uint32_t)i;
			else
				b->entries[last[p]].next_sibling = (uint32_t)i;
			last[p] = (uint32_t)i;
		}
		free(last);
	}
	s->entries = b->entries;
	s->n_entries = b->n;
	b->entries = NULL;
	return 0;
}

/* Keep a listing fetched from the Hub; failing to is not fatal. */
static int store_listing(const char *root, const struct repo_snapshot *s,
			 const struct builder *b)
{
	struct cache_file_entry *ce = calloc(b->n ? b->n : 1, sizeof(*ce));
	int rc;

	if (!ce)
		return -ENOMEM;
	for (size_t i = 0; i < b->n; i++) {
		const struct repo_entry *e = &b->entries[i];

		ce[i].is_dir = e->is_dir;
		ce[i].path = e->path;
		ce[i].size = e->size;
		ce[i].is_lfs = e->is_lfs;
		memcpy(ce[i].oid, e->oid, sizeof(ce[i].oid));
		memcpy(ce[i].lfs_sha256, e->sha256, sizeof(ce[i].lfs_sha256));
	}
	rc = cache_listing_store(root, s->repo_key, s->commit, ce, b->n);
	if (rc < 0)
		log_warn("%s@%s: cannot keep the listing in the cache: %s",
			 s->repo_key, s->commit, strerror(-rc));
	free(ce);
	return 0;
}

/* ---- entry tables, one per commit of a repo in this process ---- */

/*
 * Every snapshot of one commit shares its entry table: repo@main,
 * repo@v1.0 and repo@<sha> naming one commit are one table, not three
 * (a 100,000-file dataset's costs the daemon about 46 MB). The tables are immutable
 * once built. tables_lock guards the list and every table's refs.
 */
struct repo_table {
	struct repo_table *next;
	unsigned refs;
	char repo_key[HUB_REPO_ID_MAX + 16];
	char commit[41];
	struct repo_entry *entries;
	size_t n_entries;
	uint64_t total_bytes;
	size_t n_files;
};

static pthread_mutex_t tables_lock = PTHREAD_MUTEX_INITIALIZER;
static struct repo_table *tables;

static void use_table(struct repo_snapshot *s, struct repo_table *t)
{
	s->table = t;
	s->entries = t->entries;
	s->n_entries = t->n_entries;
	s->total_bytes = t->total_bytes;
	s->n_files = t->n_files;
}

/* @s's commit's table, when a snapshot of it is alive here: @s takes a ref. */
static bool find_table(struct repo_snapshot *s)
{
	struct repo_table *t;

	pthread_mutex_lock(&tables_lock);
	for (t = tables; t; t = t->next)
		if (strcmp(t->commit, s->commit) == 0 && strcmp(t->repo_key, s->repo_key) == 0)
			break;
	if (t)
		t->refs++;
	pthread_mutex_unlock(&tables_lock);
	if (t)
		use_table(s, t);
	return t != NULL;
}

/*
 * Share the table @s just built, or, when another thread published one of
 * the same commit meanwhile, use that and free @s's own.
 */
static int publish_table(struct repo_snapshot *s)
{
	struct repo_table *t = calloc(1, sizeof(*t)), *old;

	if (!t)
		return -ENOMEM;
	snprintf(t->repo_key, sizeof(t->repo_key), "%s", s->repo_key);
	memcpy(t->commit, s->commit, sizeof(t->commit));
	t->entries = s->entries;
	t->n_entries = s->n_entries;
	t->total_bytes = s->total_bytes;
	t->n_files = s->n_files;
	t->refs = 1;
	pthread_mutex_lock(&tables_lock);
	for (old = tables; old; old = old->next)
		if (strcmp(old->commit, t->commit) == 0 && strcmp(old->repo_key, t->repo_key) == 0)
			break;
	if (old) {
		old->refs++;
	} else {
		t->next = tables;
		tables = t;
	}
	pthread_mutex_unlock(&tables_lock);
	if (old) {
		free_entries(t->entries, t->n_entries);
		free(t);
		t = old;
	}
	use_table(s, t);
	return 0;
}

static void put_table(struct repo_table *t)
{
	bool last = false;

	if (!t)
		return;
	pthread_mutex_lock(&tables_lock);
	if (--t->refs == 0) {
		for (struct repo_table **p = &tables; *p; p = &(*p)->next) {
			if (*p == t) {
				*p = t->next;
				break;
			}
		}
		last = true;
	}
	pthread_mutex_unlock(&tables_lock);
	if (last) {
		free_entries(t->entries, t->n_entries);
		free(t);
	}
}

void repo_tables_count(size_t *n_tables, size_t *n_entries)
{
	*n_tables = *n_entries = 0;
	pthread_mutex_lock(&tables_lock);
	for (const struct repo_table *t = tables; t; t = t->next) {
		(*n_tables)++;
		*n_entries += t->n_entries;
	}
	pthread_mutex_unlock(&tables_lock);
}

/* ---- loading ---- */

static int resolve_commit(struct repo_env *env, struct repo_snapshot *s,
			  struct hub_error *err)
{
	const char *rev = hub_repo_revision(&s->repo);
	const char *root = cache_dir(env->cache);
	struct hub_repo_info info;
	int64_t at;
	int rc = -ENETDOWN;

	if (digest_is_hex(s->repo.revision, HUB_OID_HEX)) {
		memcpy(s->commit, s->repo.revision, sizeof(s->commit));
		/*
		 * A commit needs no resolve, but the id may be spelled otherwise
		 * than on the Hub ("Org/Name"), which answers for it all the
		 * same: the listing would be stored, and the mount would show a
		 * folder, under a name the Hub does not have. One question
		 * gives its spelling, and the commit's date (the files' mtime:
		 * without it they would show 1970); an unreachable Hub leaves
		 * the spelling asked and the date the cache remembers.
		 */
		if (env->offline)
			return 0;
		rc = hub_repo_info(env->hub, &s->repo, &info, err);
		if (rc < 0)
			return is_network_error(rc) ? 0 : rc;
		snprintf(s->repo.id, sizeof(s->repo.id), "%s", info.id);
		repo_key_format(&s->repo, s->repo_key, sizeof(s->repo_key));
		s->commit_time = parse_iso_time(info.last_modified);
		s->gated = info.gated[0] != '\0';
		hub_repo_info_release(&info);
		if (s->commit_time)
			cache_commit_time_store(root, s->repo_key, s->commit, s->commit_time);
		return 0;
	}
	if (!env->offline) {
		rc = hub_repo_info(env->hub, &s->repo, &info, err);
		if (rc == 0) {
			snprintf(s->commit, sizeof(s->commit), "%s", info.sha);
			s->commit_time = parse_iso_time(info.last_modified);
			/* The Hub's spelling of the id is the canonical one. */
			snprintf(s->repo.id, sizeof(s->repo.id), "%s", info.id);
			repo_key_format(&s->repo, s->repo_key, sizeof(s->repo_key));
			s->gated = info.gated[0] != '\0';
			hub_repo_info_release(&info);
			cache_ref_store(root, s->repo_key, rev, s->commit, (int64_t)time(NULL));
			cache_commit_time_store(root, s->repo_key, s->commit, s->commit_time);
			return 0;
		}
		if (!is_network_error(rc))
			return rc;
	}
	if (cache_ref_load(root, s->repo_key, rev, s->commit, &at) < 0) {
		if (env->offline)
			return hub_fail(err, -ENETDOWN, 0, "%s@%s: the cache has never seen "
					"this revision, and the Hub may not be asked (offline "
					"mode, or cache export)", s->repo_key, rev);
		return rc; /* the Hub's own error says it best */
	}
	if (!env->offline)
		log_warn("%s@%s: the Hub is unreachable (%s); using the commit the cache "
			 "remembers", s->repo_key, rev, err ? err->message : strerror(-rc));
	s->from_cache_only = true;
	return 0;
}

static int load(struct repo_env *env, const struct hub_repo *repo,
		const char *known_commit, struct repo_snapshot **out,
		struct hub_error *err)
{
	struct repo_snapshot *s = calloc(1, sizeof(*s));
	const char *root = cache_dir(env->cache);
	struct builder b = { 0 };
	int rc;

	*out = NULL;
	if (!s)
		return hub_fail(err, -ENOMEM, 0, "out of memory");
	atomic_init(&s->refs, 1);
	atomic_init(&s->content_reached, false);
	s->repo = *repo;
	memcpy(s->asked_id, repo->id, sizeof(s->asked_id));
	rc = repo_key_format(&s->repo, s->repo_key, sizeof(s->repo_key));
	if (rc == 0)
		rc = resolve_commit(env, s, err);
	if (rc < 0)
		goto fail;
	if (known_commit && strcmp(known_commit, s->commit) == 0) {
		free(s); /* unchanged: the caller keeps what it has */
		return 0;
	}
	if (!s->commit_time)
		cache_commit_time_load(root, s->repo_key, s->commit, &s->commit_time);
	if (env->hf_hub_cache)
		hf_blob_dir(env->hf_hub_cache, s, s->hf_blobs, sizeof(s->hf_blobs));
	if (find_table(s)) {
		*out = s; /* another name of a commit already here */
		return 0;
	}

	rc = cache_listing_load(root, s->repo_key, s->commit, from_cache_entry, &b);
	if (rc == -ENOENT || rc == -EBADMSG) {
		struct hub_repo pinned = s->repo;

		free_entries(b.entries, b.n);
		memset(&b, 0, sizeof(b));
		if (env->offline) {
			rc = hub_fail(err, -ENETDOWN, 0,
				      "%s@%s: offline mode and the cache holds no listing of it",
				      s->repo_key, s->commit);
			goto fail;
		}
		snprintf(pinned.revision, sizeof(pinned.revision), "%s", s->commit);
		rc = hub_list_tree(env->hub, &pinned, "", true, from_hub_entry, &b, err);
		if (rc == 0)
			rc = store_listing(root, s, &b);
	}
	if (rc < 0)
		goto fail;
	rc = finish_table(s, &b);
	if (rc == 0 && (rc = publish_table(s)) < 0)
		free_entries(s->entries, s->n_entries);
	if (rc < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	free_entries(b.entries, b.n);
	free(s);
	if (err && !err->message[0])
		hub_fail(err, rc, 0, "%s: %s", repo->id, strerror(-rc));
	return rc;
}

int repo_snapshot_load(struct repo_env *env, const struct hub_repo *repo,
		       struct repo_snapshot **out, struct hub_error *err)
{
	return load(env, repo, NULL, out, err);
}

int repo_snapshot_refresh(struct repo_env *env, const struct repo_snapshot *cur,
			  struct repo_snapshot **out, struct hub_error *err)
{
	return load(env, &cur->repo, cur->commit, out, err);
}

void repo_snapshot_ref(struct repo_snapshot *s)
{
	atomic_fetch_add(&s->refs, 1);
}

void repo_snapshot_unref(struct repo_snapshot *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	put_table(s->table);
	free(s);
}

const struct repo_entry *repo_snapshot_find(const struct repo_snapshot *s, const char *path)
{
	struct repo_entry key = { .path = (char *)path };

	return bsearch(&key, s->entries, s->n_entries, sizeof(*s->entries), by_path);
}

void repo_entry_key(const struct repo_entry *e, struct cache_key *key)
{
	memset(key, 0, sizeof(*key));
	key->size = e->size;
	if (e->is_lfs) {
		key->algo = CACHE_ALGO_SHA256;
		snprintf(key->hash, sizeof(key->hash), "%s", e->sha256);
	} else {
		key->algo = CACHE_ALGO_GIT_SHA1;
		snprintf(key->hash, sizeof(key->hash), "%s", e->oid);
	}
}

/* ---- huggingface_hub's cache ---- */

int repo_hf_hub_cache_path(char *out, size_t size)
{
	const char *v = getenv("HF_HUB_CACHE"), *legacy = getenv("HUGGINGFACE_HUB_CACHE");
	const char *home = getenv("HF_HOME");
	char expanded[PATH_MAX], joined[PATH_MAX];
	int rc;

	/*
	 * "~" and then "$VAR", "${VAR}", as huggingface_hub's constants.py
	 * (os.path.expandvars(os.path.expanduser())), which expands HF_HOME,
	 * then the hub folder in it again.
	 */
	if (v && *v)
		return pattern_expand_path(v, out, size);
	if (legacy && *legacy)
		return pattern_expand_path(legacy, out, size);
	if (home && *home)
		rc = pattern_expand_path(home, expanded, sizeof(expanded));
	else
		rc = path_user_cache_dir("huggingface", joined, sizeof(joined)) < 0 ? -ENOENT :
		     pattern_expand_path(joined, expanded, sizeof(expanded));
	if (rc < 0)
		return rc;
	if ((size_t)snprintf(joined, sizeof(joined), "%s/hub", expanded) >= sizeof(joined))
		return -ENAMETOOLONG;
	return pattern_expand_path(joined, out, size);
}

int repo_hf_hub_cache_dir(char *out, size_t size)
{
	struct stat st;
	int rc = repo_hf_hub_cache_path(out, size);

	if (rc < 0)
		return rc;
	return stat(out, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -ENOENT;
}

int repo_hf_repo_dir(const char *hf_cache, const struct hub_repo *repo, char *out,
		     size_t size)
{
	struct buf b;
	int rc;

	buf_init(&b, size - 1);
	rc = buf_printf(&b, "%s/%ss--", hf_cache, hub_repo_type_name(repo->type));
	for (const char *p = repo->id; rc == 0 && *p; p++)
		rc = buf_append_str(&b, *p == '/' ? "--" : (char[]){ *p, '\0' });
	if (rc == 0)
		memcpy(out, buf_cstr(&b), b.len + 1);
	buf_release(&b);
	return rc < 0 ? -ENAMETOOLONG : 0;
}

/* "<cache>/{type}s--ORG--NAME/blobs" of @s's id as asked, or "" when it does not fit. */
static void hf_blob_dir(const char *hf_cache, const struct repo_snapshot *s, char *out,
			size_t size)
{
	struct hub_repo asked = s->repo;
	char dir[4096];

	memcpy(asked.id, s->asked_id, sizeof(asked.id));
	if (repo_hf_repo_dir(hf_cache, &asked, dir, sizeof(dir)) < 0 ||
	    (size_t)snprintf(out, size, "%s/blobs", dir) >= size)
		out[0] = '\0';
}

/*
 * What we found out about huggingface_hub's blobs in this process: each is
 * hashed once before its first use, and a wrong one is never used. A
 * verdict is about one file: the hash it was checked against, and the
 * file's device, inode, size and modification time. Keyed by the hash
 * alone, one repo's blob checked good vouched for another repo's blob of
 * that name, which was then read unchecked (a helper's review); a blob
 * rewritten in place is checked again.
 *
 * One check per file: the fetches of its other blocks wait for its verdict
 * (HF_CHECKING), and verdicts are kept for every file seen. With neither,
 * the blocks of a 200 MiB blob, fetched at once, each hashed all of it (16
 * times, 1.8 CPU-seconds where the network took 0.24 s), and a ring of 256
 * verdicts forgot the first of 300 files before its second block came.
 */
enum hf_state { HF_UNKNOWN, HF_CHECKING, HF_GOOD, HF_BAD };

struct hf_file {
	char hash[65];
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_ns;
};

struct hf_verdict {
	struct hf_verdict *next; /* in its bucket */
	struct hf_file file;
	enum hf_state state;
};

/*
 * A table by device and inode (not by the hash, which a repo's author
 * chooses), never shrunk: one entry per blob file this process looked at.
 * hf_lock guards it and every verdict; hf_decided is signalled when a
 * check ends.
 */
static pthread_mutex_t hf_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hf_decided = PTHREAD_COND_INITIALIZER;
static struct hf_verdict **hf_buckets;
static size_t hf_n_buckets, hf_n_verdicts;

static void hf_file_of(struct hf_file *f, const char *hash, const struct stat *st)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->hash, sizeof(f->hash), "%s", hash);
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->size = st->st_size;
	f->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* The same file, unchanged since its verdict? */
static bool hf_same(const struct hf_file *a, const struct hf_file *b)
{
	return strcmp(a->hash, b->hash) == 0 && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime_ns == b->mtime_ns;
}

static size_t hf_bucket(dev_t dev, ino_t ino, size_t n_buckets)
{
	return (size_t)(hash_fnv1a(hash_fnv1a(HASH_FNV1A_START, (uint64_t)dev), (uint64_t)ino) %
			n_buckets);
}

/* The verdict of file @f (by device, inode and hash), made if new; NULL: no memory. */
static struct hf_verdict *hf_verdict_get(const struct hf_file *f)
{
	struct hf_verdict *v;

	if (hf_n_buckets) {
		for (v = hf_buckets[hf_bucket(f->dev, f->ino, hf_n_buckets)]; v; v = v->next) {
			if (v->file.dev == f->dev && v->file.ino == f->ino &&
			    strcmp(v->file.hash, f->hash) == 0)
				return v;
		}
	}
	if (hf_n_verdicts >= hf_n_buckets) {
		size_t n = hf_n_buckets ? 2 * hf_n_buckets : 64;
		struct hf_verdict **b = calloc(n, sizeof(*b));

		if (!b)
			return NULL;
		for (size_t i = 0; i < hf_n_buckets; i++) {
			while ((v = hf_buckets[i])) {
				size_t k = hf_bucket(v->file.dev, v->file.ino, n);

				hf_buckets[i] = v->next;
				v->next = b[k];
				b[k] = v;
			}
		}
		free(hf_buckets);
		hf_buckets = b;
		hf_n_buckets = n;
	}
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->file = *f;
	v->state = HF_UNKNOWN;
	v->next = hf_buckets[hf_bucket(f->dev, f->ino, hf_n_buckets)];
	hf_buckets[hf_bucket(f->dev, f->ino, hf_n_buckets)] = v;
	hf_n_verdicts++;
	return v;
}

/*
 * Hash the whole blob open at @fd (@st its stat): is it the object @key
 * names? HF_UNKNOWN when it could not tell (no memory).
 */
static enum hf_state hf_check(int fd, const struct stat *st, const struct cache_key *key)
{
	char hex[DIGEST_HEX_MAX];
	uint8_t *buf;
	int rc;

	if (!S_ISREG(st->st_mode) || (uint64_t)st->st_size != key->size)
		return HF_BAD;
	buf = malloc(1 << 20);
	if (!buf)
		return HF_UNKNOWN;
	rc = digest_hub_fd_hex(fd, key->algo == CACHE_ALGO_SHA256, key->size, buf, 1 << 20, hex);
	free(buf);
	return rc == 0 && strcmp(hex, key->hash) == 0 ? HF_GOOD : HF_BAD;
}

/*
 * The verdict on the blob open at @fd (@st its stat) for @key: the one
 * kept, the one a check in flight comes to (waited for), or this thread's
 * own check. *@checked says which it was: the check's thread logs it.
 */
static enum hf_state hf_verdict(int fd, const struct stat *st, const struct cache_key *key,
				bool *checked)
{
	struct hf_verdict *v;
	struct hf_file f;
	enum hf_state verdict;

	*checked = false;
	hf_file_of(&f, key->hash, st);
	pthread_mutex_lock(&hf_lock);
	for (;;) {
		v = hf_verdict_get(&f);
		if (!v || v->state != HF_CHECKING)
			break;
		pthread_cond_wait(&hf_decided, &hf_lock);
	}
	if (v && v->state != HF_UNKNOWN && hf_same(&v->file, &f)) {
		verdict = v->state;
		pthread_mutex_unlock(&hf_lock);
		return verdict;
	}
	/* New, undecided, or changed since its verdict: this thread checks it. */
	if (v) {
		v->file = f;
		v->state = HF_CHECKING;
	}
	pthread_mutex_unlock(&hf_lock);
	verdict = hf_check(fd, st, key);
	*checked = verdict != HF_UNKNOWN;
	if (v) {
		pthread_mutex_lock(&hf_lock);
		v->state = verdict;
		pthread_cond_broadcast(&hf_decided);
		pthread_mutex_unlock(&hf_lock);
	}
	return verdict;
}

/* Bytes from huggingface_hub's blob of @key to @sink, if it has a right one. */
static int read_hf_blob(const struct repo_source *s, const struct cache_key *key,
			uint64_t offset, size_t len, cache_sink_fn sink, void *sink_ctx)
{
	size_t piece = 256u << 10, done = 0;
	char path[4400];
	struct stat fst;
	enum hf_state st;
	bool checked;
	uint8_t *buf;
	int fd, rc = 0;

	if (!s->snap->hf_blobs[0])
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/%s", s->snap->hf_blobs, key->hash);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	if (fstat(fd, &fst) < 0) {
		close(fd);
		return -ENOENT;
	}
	st = hf_verdict(fd, &fst, key, &checked);
	if (checked && st == HF_GOOD)
		log_info("%s: reusing '%s' from the huggingface_hub cache (hash checked)",
			 s->snap->repo_key, s->entry->path);
	else if (checked)
		log_warn("%s: ignoring '%s' in the huggingface_hub cache: it is not the "
			 "content it is named after", s->snap->repo_key, path);
	if (st != HF_GOOD) {
		close(fd);
		return -ENOENT;
	}
	buf = malloc(piece);
	if (!buf)
		rc = -ENOMEM;
	while (rc == 0 && done < len) {
		size_t want = len - done < piece ? len - done : piece;
		ssize_t n = fileio_pread_full(fd, buf, want, (off_t)(offset + done));

		/* Short: the blob changed under us; the Hub has the bytes. */
		rc = n == (ssize_t)want ? sink(sink_ctx, done, buf, want) : -ENOENT;
		done += want;
	}
	free(buf);
	close(fd);
	return rc;
}

/* ---- the source ---- */

/* Hands a range's bytes, in order, to a cache sink at their offset. */
struct sink_stream {
	cache_sink_fn sink;
	void *sink_ctx;
	uint64_t at;                 /* offset within the range of the next byte */
};

static int to_sink(void *ctx_, const void *data, size_t len)
{
	struct sink_stream *st = ctx_;
	int rc = st->sink(st->sink_ctx, st->at, data, len);

	st->at += len;
	return rc;
}

static int source_fetch_stream(void *s_, const struct cache_key *key, uint64_t offset,
			       size_t len, cache_sink_fn sink, void *sink_ctx,
			       struct cache_error *cerr)
{
	struct repo_source *s = s_;
	struct hub_repo pinned = s->snap->repo;
	struct hub_error err = { 0 };
	struct sink_stream st;
	int rc;

	if (read_hf_blob(s, key, offset, len, sink, sink_ctx) == 0)
		return 0;
	/* The commit, never the branch: the bytes must match the listing. */
	snprintf(pinned.revision, sizeof(pinned.revision), "%s", s->snap->commit);
	if (s->pace) {
		rc = hub_pace_acquire(s->pace, hub_deadline_get());
		if (rc < 0) {
			if (cerr)
				snprintf(cerr->message, sizeof(cerr->message),
					 "no place in the read-ahead window before the deadline");
			return rc;
		}
	}
	st = (struct sink_stream){ .sink = sink, .sink_ctx = sink_ctx };
	rc = hub_read_range(s->hub, &pinned, s->entry->path, offset, len, key->size, to_sink,
			    &st, &err);
	if (s->pace)
		hub_pace_release(s->pace, rc < 0 ? 0 : len);
	/* The caller logs it once, with the repo, revision and file. */
	if (rc < 0 && cerr)
		snprintf(cerr->message, sizeof(cerr->message), "%s", err.message);
	return rc;
}

static int to_buffer(void *out, uint64_t offset, const void *data, size_t len)
{
	memcpy((uint8_t *)out + offset, data, len);
	return 0;
}

static int source_fetch(void *s_, const struct cache_key *key, uint64_t offset,
			size_t len, void *out, struct cache_error *cerr)
{
	return source_fetch_stream(s_, key, offset, len, to_buffer, out, cerr);
}

void repo_source_init(struct repo_source *s, struct hub_client *hub,
		      const struct repo_snapshot *snap, const struct repo_entry *entry,
		      struct cache_source *out)
{
	s->hub = hub;
	s->snap = snap;
	s->entry = entry;
	s->pace = NULL;
	out->fetch = source_fetch;
	out->fetch_stream = source_fetch_stream;
	out->ctx = s;
}
