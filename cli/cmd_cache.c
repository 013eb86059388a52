/* SPDX-License-Identifier: MIT */
/*
 * `hubfs cache ls | verify | evict | prune`: look after the shared cache.
 */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/meta.h"
#include "repo/snapshot.h"
#include "util/size.h"

int cli_cache_open(const char *dir_opt, struct cache_options *opts,
		   struct cache **out)
{
	static char dir[4096];
	int rc;

	if (dir_opt)
		snprintf(dir, sizeof(dir), "%s", dir_opt);
	else if (cache_default_dir(dir, sizeof(dir)) < 0) {
		fprintf(stderr, "hubfs: no cache directory: set --cache-dir or HUBFS_CACHE_DIR\n");
		return CLI_EXIT_USAGE;
	}
	opts->dir = dir;
	rc = cache_open(opts, out);
	if (rc == -EPROTO) {
		fprintf(stderr, "hubfs: '%s' holds a cache of another format; "
			"use another --cache-dir\n", dir);
		return CLI_EXIT_FAIL;
	}
	if (rc == -ENOTEMPTY) {
		fprintf(stderr, "hubfs: '%s' is not empty and is not a hubfs cache (no "
			"'hubfs-cache' marker in it): name an empty or new directory\n", dir);
		return CLI_EXIT_USAGE;
	}
	if (rc < 0) {
		fprintf(stderr, "hubfs: cannot open the cache '%s': %s\n", dir,
			strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	return 0;
}

/* ---- cache ls ---- */

struct ls_row {
	char repo[HUB_REPO_ID_MAX + 16];
	char commit[41];
	char revisions[512];
	uint64_t files, size, cached;
	uint64_t verified, partial;
};

struct ls_state {
	struct cache *cache;
	struct ls_row *rows;
	size_t n, cap;
	struct ls_row *cur;
};

static int add_listing(void *st_, const char *repo, const char *commit)
{
	struct ls_state *st = st_;

	if (st->n == st->cap) {
		size_t cap = st->cap ? 2 * st->cap : 16;
		struct ls_row *p = realloc(st->rows, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		st->rows = p;
		st->cap = cap;
	}
	memset(&st->rows[st->n], 0, sizeof(st->rows[0]));
	snprintf(st->rows[st->n].repo, sizeof(st->rows[0].repo), "%s", repo);
	snprintf(st->rows[st->n].commit, sizeof(st->rows[0].commit), "%s", commit);
	st->n++;
	return 0;
}

/* The cache's key of a listing's file @e. */
static void entry_key(const struct cache_file_entry *e, struct cache_key *key)
{
	struct repo_entry fe = { .is_lfs = e->is_lfs, .size = e->size };

	memcpy(fe.oid, e->oid, sizeof(fe.oid));
	memcpy(fe.sha256, e->lfs_sha256, sizeof(fe.sha256));
	repo_entry_key(&fe, key);
}

static int count_entry(void *st_, const struct cache_file_entry *e)
{
	struct ls_state *st = st_;
	struct cache_object_info info;
	struct cache_key key;

	if (e->is_dir)
		return 0;
	entry_key(e, &key);
	cache_object_info(st->cache, &key, &info);
	st->cur->files++;
	st->cur->size += e->size;
	st->cur->cached += info.cached_bytes;
	if (info.verified)
		st->cur->verified++;
	else if (info.blocks_present)
		st->cur->partial++;
	return 0;
}

static int add_revision(void *st_, const char *repo, const char *rev,
			const char *commit, int64_t at)
{
	struct ls_state *st = st_;

	(void)at;
	for (size_t i = 0; i < st->n; i++) {
		struct ls_row *r = &st->rows[i];
		size_t used = strlen(r->revisions);

		if (strcmp(r->repo, repo) == 0 && strcmp(r->commit, commit) == 0)
			snprintf(r->revisions + used, sizeof(r->revisions) - used,
				 "%s%s", used ? "," : "", rev);
	}
	return 0;
}

static int cache_ls(struct cache *c, bool json)
{
	struct ls_state st = { .cache = c };
	struct cache_usage u;
	char a[32], b[32], total[32], files[24];
	int rc;

	rc = cache_listings_each(cache_dir(c), add_listing, &st);
	if (rc == 0)
		rc = cache_refs_each(cache_dir(c), NULL, add_revision, &st);
	for (size_t i = 0; rc == 0 && i < st.n; i++) {
		st.cur = &st.rows[i];
		if (cache_listing_load(cache_dir(c), st.cur->repo, st.cur->commit,
				       count_entry, &st) < 0)
			st.cur->files = UINT64_MAX; /* unreadable: said below */
	}
	if (rc < 0) {
		free(st.rows);
		fprintf(stderr, "hubfs: cannot list the cache: %s\n", strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	cache_usage(c, &u);
	if (json) {
		/* Escaped: a '"' or '\\' in the directory's name broke the document. */
		fputs("{\"dir\": ", stdout);
		cli_json_string(stdout, cache_dir(c));
		printf(", \"bytes\": %" PRIu64 ", \"objects\": %" PRIu64 ", \"repos\": [", u.bytes,
		       u.objects);
	} else {
		printf("%-40s %-20s %-8s %7s %23s  %s\n", "REPO", "REVISIONS", "COMMIT",
		       "FILES", "CACHED / SIZE", "STATE");
	}
	for (size_t i = 0; i < st.n; i++) {
		struct ls_row *r = &st.rows[i];
		const char *state = r->files == UINT64_MAX ? "unreadable" :
				    r->verified == r->files ? "verified" :
				    r->verified + r->partial ? "partial" : "listed";

		if (json) {
			printf("%s{\"repo\": \"%s\", \"commit\": \"%s\", \"revisions\": ",
			       i ? ", " : "", r->repo, r->commit);
			cli_json_string(stdout, r->revisions);
			if (r->files == UINT64_MAX)
				printf(", \"files\": null");
			else
				printf(", \"files\": %" PRIu64, r->files);
			printf(", \"size\": %" PRIu64 ", \"cached\": %" PRIu64
			       ", \"verified_files\": %" PRIu64
			       ", \"partial_files\": %" PRIu64 ", \"state\": \"%s\"}",
			       r->size, r->cached, r->verified, r->partial, state);
			continue;
		}
		size_format(r->cached, a, sizeof(a));
		size_format(r->size, b, sizeof(b));
		if (r->files == UINT64_MAX)
			snprintf(files, sizeof(files), "-");
		else
			snprintf(files, sizeof(files), "%" PRIu64, r->files);
		printf("%-40s %-20s %.7s  %7s %10s / %10s  %s", r->repo,
		       r->revisions[0] ? r->revisions : "-", r->commit, files, a, b, state);
		if (r->partial || (r->verified && r->verified != r->files))
			printf(" (%" PRIu64 " verified, %" PRIu64 " partial)", r->verified,
			       r->partial);
		printf("\n");
	}
	size_format(u.bytes, total, sizeof(total));
	if (json)
		printf("]}\n");
	else
		printf("total: %s in %" PRIu64 " objects at %s\n", total, u.objects,
		       cache_dir(c));
	free(st.rows);
	return CLI_EXIT_OK;
}

/* ---- cache verify ---- */

struct verify_state {
	struct cache *cache;
	bool repair;
	uint64_t objects, bad, blocks_bad;
};

/*
 * The files of the cached listings whose content is @key, a few: an
 * object's hash alone told the user nothing of what it was.
 */
#define USERS_SHOWN 5

struct users_ctx {
	const char *root, *repo, *commit;
	const struct cache_key *key;
	unsigned shown;
};

static int user_entry(void *ctx_, const struct cache_file_entry *e)
{
	struct users_ctx *u = ctx_;
	struct cache_key key;

	if (e->is_dir || u->shown >= USERS_SHOWN)
		return 0;
	entry_key(e, &key);
	if (key.algo == u->key->algo && strcmp(key.hash, u->key->hash) == 0) {
		printf("  the content of %s@%.12s: %s\n", u->repo, u->commit, e->path);
		u->shown++;
	}
	return 0;
}

static int user_listing(void *ctx_, const char *repo, const char *commit)
{
	struct users_ctx *u = ctx_;

	u->repo = repo;
	u->commit = commit;
	cache_listing_load(u->root, repo, commit, user_entry, u);
	return u->shown >= USERS_SHOWN;
}

static void print_users(struct cache *c, const struct cache_key *key)
{
	struct users_ctx u = { .root = cache_dir(c), .key = key };

	cache_listings_each(u.root, user_listing, &u);
}

static int verify_one(void *st_, const struct cache_key *key,
		      const struct cache_object_info *info)
{
	struct verify_state *st = st_;
	struct cache_verify_report rep;
	int rc;

	(void)info;
	st->objects++;
	rc = cache_verify_object(st->cache, key, st->repair, &rep);
	if (rc == 0)
		return 0;
	st->bad++;
	st->blocks_bad += rep.blocks_corrupt;
	if (rc != -EBADMSG)
		printf("%s: cannot check: %s\n", key->hash, strerror(-rc));
	else if (rep.blocks_corrupt)
		printf("%s: %u of %u blocks corrupt%s\n", key->hash, rep.blocks_corrupt,
		       rep.blocks_checked, st->repair ? ": dropped" : "");
	else
		printf("%s: content does not match its hash%s\n", key->hash,
		       st->repair ? ": discarded" : "");
	print_users(st->cache, key);
	return 0;
}

/* ---- cache evict ---- */

struct key_set {
	struct cache_key *keys;
	size_t n, cap;
	const char *skip_repo; /* collect from every repo but this one */
};

static int collect_key(void *set_, const struct cache_file_entry *e)
{
	struct key_set *set = set_;

	if (e->is_dir)
		return 0;
	if (set->n == set->cap) {
		size_t cap = set->cap ? 2 * set->cap : 256;
		struct cache_key *p = realloc(set->keys, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		set->keys = p;
		set->cap = cap;
	}
	entry_key(e, &set->keys[set->n++]);
	return 0;
}

/*
 * Listings of @repo (at @commit only, when set) feed @mine; every other
 * listing feeds @others: an object both need is kept.
 */
struct split_ctx {
	const char *root;
	const char *repo;
	const char *commit;
	struct key_set *mine, *others;
	bool found;
};

static int split_listing(void *ctx_, const char *repo, const char *commit)
{
	struct split_ctx *ctx = ctx_;
	bool is_mine = strcmp(repo, ctx->repo) == 0 &&
		       (!ctx->commit || strcmp(commit, ctx->commit) == 0);

	if (is_mine)
		ctx->found = true;
	cache_listing_load(ctx->root, repo, commit, collect_key,
			   is_mine ? ctx->mine : ctx->others);
	return 0;
}

/* Does a ref other than @ctx->revision point at @ctx->commit? */
struct other_ref {
	const char *revision, *commit;
	bool found;
};

static int find_other_ref(void *ctx_, const char *repo, const char *revision,
			  const char *commit, int64_t resolved_at)
{
	struct other_ref *ctx = ctx_;

	(void)repo;
	(void)resolved_at;
	if (strcmp(revision, ctx->revision) != 0 && strcmp(commit, ctx->commit) == 0)
		ctx->found = true;
	return 0;
}

static int key_cmp(const void *a_, const void *b_)
{
	const struct cache_key *a = a_, *b = b_;

	if (a->algo != b->algo)
		return a->algo < b->algo ? -1 : 1;
	return strcmp(a->hash, b->hash);
}

/* @set sorted by key_cmp(): a lookup is a search, not a scan (a repo of
 * 100,000 files beside another took 10^10 comparisons). */
static bool in_set(const struct key_set *set, const struct cache_key *key)
{
	return set->n && bsearch(key, set->keys, set->n, sizeof(*key), key_cmp);
}

static int evict_any_object(void *c_, const struct cache_key *key,
			    const struct cache_object_info *info)
{
	(void)info;
	cache_evict_object(c_, key);
	return 0;
}

static int forget_listing(void *root_, const char *repo, const char *commit)
{
	(void)commit;
	cache_repo_forget(root_, repo, NULL);
	return 0;
}

static int cache_evict(struct cache *c, const char *spec, bool all)
{
	const char *root = cache_dir(c);
	struct key_set mine = { 0 }, others = { 0 };
	struct cache_usage before, after;
	struct cli_hub_opts o = CLI_HUB_OPTS_INIT;
	struct split_ctx split = { .root = root, .mine = &mine, .others = &others };
	struct hub_repo repo;
	char key[HUB_REPO_ID_MAX + 16], commit[41], freed[32];
	uint64_t evicted = 0, shared = 0;
	int rc;

	cache_usage(c, &before);
	if (all) {
		cache_each_object(c, evict_any_object, c);
		cache_listings_each(root, forget_listing, (void *)root);
		cache_usage(c, &after);
		size_format(before.bytes - after.bytes, freed, sizeof(freed));
		printf("evicted everything: %s freed\n", freed);
		return CLI_EXIT_OK;
	}
	rc = cli_parse_repo(&o, spec, &repo);
	if (rc)
		return rc;
	repo_key_format(&repo, key, sizeof(key));
	split.repo = key;
	if (repo.revision[0]) {
		if (cache_ref_load(root, key, repo.revision, commit, NULL) < 0) {
			/* Not a remembered name: maybe a commit itself. */
			commit[0] = '\0';
			if (strlen(repo.revision) == 40)
				memcpy(commit, repo.revision, sizeof(commit));
		}
		split.commit = commit;
	}
	rc = cache_listings_each(root, split_listing, &split);
	if (rc == 0 && !split.found) {
		fprintf(stderr, "hubfs: the cache holds nothing of '%s'\n", spec);
		rc = CLI_EXIT_NOT_FOUND;
		goto out;
	}
	/*
	 * Another ref of the repo at the same commit (main and v1.0 at one
	 * commit share one listing) still wants every file of it: only the
	 * ref goes. They were evicted, with no word of it, before (a
	 * helper's review).
	 */
	if (rc == 0 && repo.revision[0] && commit[0]) {
		struct other_ref other = { .revision = repo.revision, .commit = commit };

		cache_refs_each(root, key, find_other_ref, &other);
		if (other.found) {
			shared += mine.n;
			mine.n = 0;
		}
	}
	if (others.n)
		qsort(others.keys, others.n, sizeof(*others.keys), key_cmp);
	for (size_t i = 0; rc == 0 && i < mine.n; i++) {
		if (in_set(&others, &mine.keys[i]))
			shared++;
		else if (cache_evict_object(c, &mine.keys[i]) == 0)
			evicted++;
	}
	if (rc < 0) {
		fprintf(stderr, "hubfs: cannot evict '%s': %s\n", spec, strerror(-rc));
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	cache_repo_forget(root, key, repo.revision[0] ? repo.revision : NULL);
	cache_usage(c, &after);
	size_format(before.bytes - after.bytes, freed, sizeof(freed));
	printf("evicted %" PRIu64 " files of %s: %s freed", evicted, spec, freed);
	if (shared)
		printf(" (%" PRIu64 " kept: other repos or revisions use them)", shared);
	printf("\n");
	rc = CLI_EXIT_OK;
out:
	free(mine.keys);
	free(others.keys);
	return rc;
}

static void cache_usage_text(FILE *out)
{
	fprintf(out,
		"usage: hubfs cache ls [--json]\n"
		"       hubfs cache verify [--repair]\n"
		"       hubfs cache evict REPO[@REV] | --all\n"
		"       hubfs cache prune --max-size SIZE\n"
		"       hubfs cache export REPO[@REV] [--include GLOB] [--exclude GLOB]\n"
		"                    (into huggingface_hub's cache, from this one only)\n"
		"  --cache-dir DIR   the cache (default: HUBFS_CACHE_DIR, else\n"
		"                    ${XDG_CACHE_HOME:-~/.cache}/hubfs)\n");
}

int cmd_cache(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cache-dir", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "repair", no_argument, NULL, 'r' },
		{ "all", no_argument, NULL, 'a' },
		{ "max-size", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cache_options opts = { 0 };
	struct cache *c = NULL;
	const char *dir = NULL, *sub, *max_size = NULL;
	bool json = false, repair = false, all = false;
	int ch, rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cache_usage_text(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	sub = argv[1];
	/*
	 * export: what the cache holds of a repo (read through the mount, say)
	 * into huggingface_hub's cache. That is a download that may not use
	 * the network: the revision and the listing come from the cache too,
	 * and a file the cache does not hold fails with its name.
	 */
	if (strcmp(sub, "export") == 0) {
		static char download[] = "download", hf_cache[] = "--hf-cache",
			    cache_only[] = "--cache-only";
		char **args;
		int n = 0, status;

		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
				cache_usage_text(stdout);
				return CLI_EXIT_OK;
			}
		}
		args = calloc((size_t)argc + 2, sizeof(*args)); /* every argument, however many */
		if (!args)
			return cli_report(-ENOMEM, NULL);
		args[n++] = download;
		for (int i = 2; i < argc; i++)
			args[n++] = argv[i];
		args[n++] = hf_cache;
		args[n++] = cache_only;
		args[n] = NULL;
		status = cmd_download(n, args);
		free(args);
		return status;
	}
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'C': dir = optarg; break;
		case 'j': json = true; break;
		case 'r': repair = true; break;
		case 'a': all = true; break;
		case 'm': max_size = optarg; break;
		case 'h': cache_usage_text(stdout); return CLI_EXIT_OK;
		default: cache_usage_text(stderr); return CLI_EXIT_USAGE;
		}
	}
	rc = cli_cache_open(dir, &opts, &c);
	if (rc)
		return rc;
	if (strcmp(sub, "ls") == 0 && optind == argc) {
		rc = cache_ls(c, json);
	} else if (strcmp(sub, "verify") == 0 && optind == argc) {
		struct verify_state st = { .cache = c, .repair = repair };
		struct cache_stats cs;

		/* What opening the cache already removed was found damaged too. */
		cache_stats(c, &cs);
		if (cs.dropped_at_open)
			printf("%" PRIu64 " damaged file%s removed when the cache was opened "
			       "(wrong size, or not a block of its object): fetched again when read\n",
			       cs.dropped_at_open, cs.dropped_at_open == 1 ? "" : "s");
		rc = cache_each_object(c, verify_one, &st);
		printf("%" PRIu64 " objects checked, %" PRIu64 " with problems%s\n",
		       st.objects, st.bad, st.bad && repair ? " (repaired: fetched again on next use)" : "");
		st.bad += cs.dropped_at_open;
		rc = rc < 0 ? CLI_EXIT_FAIL : st.bad && !repair ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	} else if (strcmp(sub, "evict") == 0 && (all ? optind == argc : optind == argc - 1)) {
		rc = cache_evict(c, all ? NULL : argv[optind], all);
	} else if (strcmp(sub, "prune") == 0 && max_size && optind == argc) {
		uint64_t limit, freed = 0;
		char a[32], b[32];

		if (size_parse(max_size, &limit) < 0) {
			fprintf(stderr, "hubfs: '%s' is not a size (e.g. 10G, 500M)\n", max_size);
			rc = CLI_EXIT_USAGE;
		} else {
			struct cache_usage u;

			cache_prune(c, limit, &freed);
			cache_usage(c, &u);
			size_format(freed, a, sizeof(a));
			size_format(u.bytes, b, sizeof(b));
			printf("pruned %s; the cache now holds %s\n", a, b);
			rc = CLI_EXIT_OK;
		}
	} else {
		cache_usage_text(stderr);
		rc = CLI_EXIT_USAGE;
	}
	cache_close(c);
	return rc;
}
