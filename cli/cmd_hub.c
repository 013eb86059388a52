/* SPDX-License-Identifier: MIT */
/*
 * `hubfs ls` and `hubfs info`: a repo's files and facts, or a namespace's
 * repos, on a terminal, straight from the Hub API (the Python toolkit's
 * list_repo_files, list_models(author=) and model_info). Offline, from
 * what the cache remembers: the revision's commit and its listing, as
 * `download --offline` reads them, and the repos it holds listings of.
 */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"
#include "cache/commit.h"
#include "cache/meta.h"
#include "util/size.h"

struct ls_ctx {
	bool long_format;
	bool human;
	size_t count;
};

static int print_entry(void *ctx_, const struct hub_entry *e)
{
	struct ls_ctx *ctx = ctx_;
	char size[32];

	ctx->count++;
	if (!ctx->long_format) {
		printf("%s%s\n", e->path, e->type == HUB_ENTRY_DIR ? "/" : "");
		return 0;
	}
	if (ctx->human)
		size_format(e->size, size, sizeof(size));
	else
		snprintf(size, sizeof(size), "%" PRIu64, e->size);
	if (e->type == HUB_ENTRY_DIR)
		printf("%12s  %-3s  %-64s  %s/\n", "-", "dir", "-", e->path);
	else
		printf("%12s  %-3s  %-64s  %s\n", size, e->is_lfs ? "lfs" : "git",
		       e->is_lfs ? e->lfs_sha256 : e->oid, e->path);
	return 0;
}

/* One repo of a namespace listing; @long_format_ points to a bool (-l). */
static int print_repo(void *long_format_, const struct hub_repo_summary *r)
{
	const bool *long_format = long_format_;
	const char *prefix = hub_repo_url_prefix(r->type);

	if (*long_format) {
		char when[32] = "-";
		time_t t = (time_t)r->last_modified;
		struct tm tm;

		if (r->last_modified && gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
		printf("%-40s  %-16s  %-7s  %-6s  %s%s\n", r->sha[0] ? r->sha : "-", when,
		       r->is_private ? "private" : "public", r->gated[0] ? r->gated : "-",
		       prefix, r->id);
		return 0;
	}
	printf("%s%s%s", prefix, r->id, r->is_private ? "  (private)" : "");
	if (r->gated[0])
		printf("  (gated: %s)", r->gated);
	printf("\n");
	return 0;
}

/*
 * Is @spec a namespace ("ORG", "datasets/ORG", "spaces/ORG") rather than
 * a repo? A name with no '/NAME' and no '@REV' is one; a legacy
 * single-part repo id is named with its revision ("gpt2@main"), as in
 * the mount. Fills @type and @author (at most HUB_REPO_ID_MAX bytes).
 * A prefix that contradicts --type is no namespace either: the repo
 * parser then reports the contradiction.
 */
static bool parse_namespace(const struct cli_hub_opts *o, const char *spec,
			    enum hub_repo_type *type, char *author, size_t size)
{
	const char *name = spec;

	*type = o->type;
	if (strncmp(spec, "datasets/", 9) == 0) {
		*type = HUB_REPO_DATASET;
		name += 9;
	} else if (strncmp(spec, "spaces/", 7) == 0) {
		*type = HUB_REPO_SPACE;
		name += 7;
	}
	if (strchr(name, '/') || strchr(name, '@') || strlen(name) >= size ||
	    (o->type_given && *type != o->type))
		return false;
	snprintf(author, size, "%s", name);
	return true;
}

/* ---- offline: what the cache remembers ---- */

/* A snapshot's entry as the Hub client lists it, for print_entry(). */
static int print_snapshot_entry(struct ls_ctx *ctx, const struct repo_entry *e)
{
	struct hub_entry he = { .type = e->is_dir ? HUB_ENTRY_DIR : HUB_ENTRY_FILE,
				.path = e->path, .size = e->size, .is_lfs = e->is_lfs };

	snprintf(he.oid, sizeof(he.oid), "%s", e->oid);
	snprintf(he.lfs_sha256, sizeof(he.lfs_sha256), "%s", e->sha256);
	return print_entry(ctx, &he);
}

/*
 * `ls REPO [PATH]` from the cache's listing of the commit the cache
 * remembers for the revision: the folder's entries, everything below it
 * (-R), or the file itself. Exit code.
 */
static int ls_cached(const struct cli_hub_opts *o, const char *spec, const char *cache_dir,
		     const char *path, bool recursive, bool as_folder, struct ls_ctx *ctx)
{
	struct repo_snapshot *snap;
	const struct repo_entry *at;
	struct repo_env env;
	struct hub_config cfg;
	int rc = cli_snapshot_open(o, spec, cache_dir, &env, &cfg, &snap);

	if (rc)
		return rc;
	at = repo_snapshot_find(snap, path);
	if (at && at->parent == REPO_NO_ENTRY && at != snap->entries)
		at = NULL; /* an entry the listing contradicts (below a file) */
	if (!at || (as_folder && !at->is_dir)) {
		fprintf(stderr, "hubfs: %s@%.12s: '%s' not found (in the cache's listing: "
			"offline)\n", snap->repo_key, snap->commit, path);
		rc = CLI_EXIT_NOT_FOUND;
	} else if (!at->is_dir) {
		print_snapshot_entry(ctx, at);
	} else if (!recursive) {
		for (uint32_t i = at->first_child; i != REPO_NO_ENTRY; i = snap->entries[i].next_sibling)
			print_snapshot_entry(ctx, &snap->entries[i]);
	} else {
		/*
		 * In path order, after the folder; not all together: "docs.txt"
		 * sorts between "docs" and "docs/a".
		 */
		size_t len = strlen(path);

		for (size_t i = (size_t)(at - snap->entries) + 1; i < snap->n_entries; i++) {
			const struct repo_entry *e = &snap->entries[i];

			if (e->parent != REPO_NO_ENTRY &&
			    (!len || (strncmp(e->path, path, len) == 0 && e->path[len] == '/')))
				print_snapshot_entry(ctx, e);
		}
	}
	if (fflush(stdout) != 0 && rc == 0)
		rc = cli_report(-EIO, NULL);
	cli_snapshot_close(&env, &cfg, snap);
	return rc;
}

struct cached_repos {
	enum hub_repo_type type;
	bool long_format;
	const char *root;
	char last[CACHE_REPO_KEY_MAX + 1]; /* listings come sorted: one line per repo */
	size_t count;
};

/*
 * One repo the cache holds a listing of, once (for `ls ORG` offline); with
 * -l, the commit and date it remembers for "main", and "-" for whether it
 * is private or gated, which it does not keep.
 */
static int print_cached_repo(void *ctx_, const char *repo_key, const char *commit)
{
	struct cached_repos *ctx = ctx_;
	const char *id = strchr(repo_key, '/');
	char main_commit[41] = "-", when[32] = "-";
	int64_t t = 0;

	(void)commit;
	if (!id || strcmp(repo_key, ctx->last) == 0)
		return 0;
	snprintf(ctx->last, sizeof(ctx->last), "%s", repo_key);
	ctx->count++;
	if (!ctx->long_format) {
		printf("%s%s\n", hub_repo_url_prefix(ctx->type), id + 1);
		return 0;
	}
	if (cache_ref_load(ctx->root, repo_key, "main", main_commit, NULL) == 0 &&
	    cache_commit_time_load(ctx->root, repo_key, main_commit, &t) == 0 && t > 0) {
		time_t tt = (time_t)t;
		struct tm tm;

		if (gmtime_r(&tt, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	}
	printf("%-40s  %-16s  %-7s  %-6s  %s%s\n", main_commit, when, "-", "-",
	       hub_repo_url_prefix(ctx->type), id + 1);
	return 0;
}

/* `ls ORG` offline: the repos of @author whose listings the cache holds. Exit code. */
static int ls_namespace_cached(enum hub_repo_type type, const char *author,
			       const char *cache_dir, bool long_format)
{
	struct cached_repos ctx = { .type = type, .long_format = long_format };
	char root[4096];
	int rc = 0;

	if (cache_dir)
		snprintf(root, sizeof(root), "%s", cache_dir);
	else
		rc = cache_default_dir(root, sizeof(root));
	ctx.root = root;
	if (rc == 0)
		rc = cache_listings_each_under(root, hub_repo_type_name(type), author,
					       print_cached_repo, &ctx);
	if (rc == -ENOENT)
		rc = 0;
	if (rc == 0 && fflush(stdout) != 0)
		rc = -EIO;
	if (rc < 0)
		return cli_report(rc, NULL);
	if (ctx.count == 0) {
		fprintf(stderr, "hubfs: offline, and the cache holds no repo of '%s'\n", author);
		return CLI_EXIT_NETWORK;
	}
	return CLI_EXIT_OK;
}

static void ls_usage(FILE *out)
{
	fprintf(out,
		"usage: hubfs ls REPO[@REV] [PATH] [-R] [-l] [-h]\n"
		"       hubfs ls [datasets/|spaces/]ORG [-l]\n"
		"  REPO is ORG/NAME, datasets/ORG/NAME or spaces/ORG/NAME;\n"
		"  ORG alone lists its repos (a legacy repo id: NAME@REV)\n"
		"  -R, --recursive   list everything below PATH\n"
		"  -l, --long        size, lfs or git, hash (sha256 or git sha1);\n"
		"                    for ORG: commit, last modified, private, gated\n"
		"  -h, --human       sizes as 1.5 MiB (with -l)\n"
		"  --type TYPE       model, dataset or space\n"
		"  --offline         from the cache alone (also HF_HUB_OFFLINE=1): the listing\n"
		"                    of the commit it remembers, the repos it holds\n"
		"  --cache-dir DIR   that cache (offline)\n"
		"  --endpoint URL, --token-file FILE\n"
		CLI_HUB_OPTS_HELP);
}

static int ls_namespace(const struct cli_hub_opts *o, enum hub_repo_type type,
			const char *author, const char *cache_dir, bool long_format)
{
	struct hub_error err = { 0 };
	struct hub_client *client = NULL;
	struct hub_config cfg;
	int rc;

	rc = cli_hub_connect(o, &cfg, &client);
	if (rc)
		return rc;
	if (cfg.offline) {
		hub_client_free(client);
		hub_config_release(&cfg);
		return ls_namespace_cached(type, author, cache_dir, long_format);
	}
	rc = hub_list_repos(client, type, author, 0, print_repo, &long_format, &err);
	if (fflush(stdout) != 0 && rc == 0)
		rc = -EIO;
	hub_client_free(client);
	hub_config_release(&cfg);
	return rc < 0 ? cli_report(rc, &err) : CLI_EXIT_OK;
}

int cmd_ls(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "recursive", no_argument, NULL, 'R' },
		{ "long", no_argument, NULL, 'l' },
		{ "human", no_argument, NULL, 'h' },
		{ "cache-dir", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'H' },
		CLI_HUB_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct cli_hub_opts o = CLI_HUB_OPTS_INIT;
	struct ls_ctx ctx = { 0 };
	struct hub_error err = { 0 };
	struct hub_client *client = NULL;
	struct hub_config cfg;
	struct hub_repo repo;
	bool recursive = false;
	const char *path = "", *cache_dir = NULL;
	char path_buf[4096];
	bool as_folder = false; /* named with a trailing '/' */
	int c, rc;

	optind = 1;
	while ((c = cli_getopt(&o, argc, argv, "Rlh", longopts)) != -1) {
		switch (c) {
		case 'R':
			recursive = true;
			break;
		case 'l':
			ctx.long_format = true;
			break;
		case 'h':
			ctx.human = true;
			break;
		case 'C':
			cache_dir = optarg;
			break;
		case 'H':
			ls_usage(stdout);
			return CLI_EXIT_OK;
		case CLI_OPT_BAD:
			return CLI_EXIT_USAGE;
		default:
			ls_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc || argc - optind > 2) {
		ls_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	{
		enum hub_repo_type type;
		char author[HUB_REPO_ID_MAX + 1];

		if (parse_namespace(&o, argv[optind], &type, author, sizeof(author))) {
			if (argc - optind != 1 || recursive) {
				fprintf(stderr, "hubfs: '%s' is a namespace: it has repos, "
					"not paths (-R and PATH need ORG/NAME)\n", argv[optind]);
				return CLI_EXIT_USAGE;
			}
			return ls_namespace(&o, type, author, cache_dir, ctx.long_format);
		}
	}
	rc = cli_parse_repo(&o, argv[optind], &repo);
	if (rc)
		return rc;
	if (argc - optind == 2) {
		const char *arg = argv[optind + 1];
		size_t n;

		while (*arg == '/')
			arg++;
		/* "data/", as ls itself prints folders, names the folder. */
		n = strlen(arg);
		while (n && arg[n - 1] == '/') {
			n--;
			as_folder = true;
		}
		if (n >= sizeof(path_buf)) {
			fprintf(stderr, "hubfs: path too long\n");
			return CLI_EXIT_USAGE;
		}
		memcpy(path_buf, arg, n);
		path_buf[n] = '\0';
		path = path_buf;
	}
	rc = cli_hub_connect(&o, &cfg, &client);
	if (rc)
		return rc;
	if (cfg.offline) {
		hub_client_free(client);
		hub_config_release(&cfg);
		return ls_cached(&o, argv[optind], cache_dir, path, recursive, as_folder, &ctx);
	}
	rc = hub_list_tree(client, &repo, path, recursive, print_entry, &ctx, &err);
	if (rc == -ENOENT && path[0] && !as_folder) {
		/* A file: listed by itself, as ls(1) does (with -R too). */
		struct hub_error err2 = { 0 };

		if (hub_paths_info(client, &repo, &path, 1, print_entry, &ctx, &err2) == 0 &&
		    ctx.count > 0)
			rc = 0;
	}
	if (fflush(stdout) != 0 && rc == 0)
		rc = -EIO;
	hub_client_free(client);
	hub_config_release(&cfg);
	return rc < 0 ? cli_report(rc, &err) : CLI_EXIT_OK;
}

struct totals {
	uint64_t files, lfs_files, bytes;
};

static int add_entry(void *t_, const struct hub_entry *e)
{
	struct totals *t = t_;

	if (e->type != HUB_ENTRY_FILE)
		return 0;
	t->files++;
	t->lfs_files += e->is_lfs;
	t->bytes += e->size;
	return 0;
}

static void info_usage(FILE *out)
{
	fprintf(out,
		"usage: hubfs info REPO[@REV] [--json]\n"
		"  id, commit, last modified, tags, private/gated, number of files\n"
		"  and total size (what a full download fetches)\n"
		"  --offline         from the cache alone (also HF_HUB_OFFLINE=1): the commit\n"
		"                    it remembers, its date, files and size (not tags,\n"
		"                    private or gated: those it does not keep)\n"
		"  --cache-dir DIR   that cache (offline)\n"
		"  --type TYPE, --endpoint URL, --token-file FILE\n"
		CLI_HUB_OPTS_HELP);
}

static void print_info_text(const struct hub_repo *repo,
			    const struct hub_repo_info *info,
			    const struct totals *t, const char *endpoint)
{
	char size[32];

	size_format(t->bytes, size, sizeof(size));
	printf("repo:          %s (%s)\n", info->id, hub_repo_type_name(repo->type));
	printf("revision:      %s\n", hub_repo_revision(repo));
	printf("commit:        %s\n", info->sha);
	printf("last modified: %s\n", info->last_modified[0] ? info->last_modified : "-");
	printf("private:       %s\n", info->is_private ? "yes" : "no");
	if (info->gated[0])
		printf("gated:         %s (accept the terms at %s/%s%s)\n", info->gated,
		       endpoint, hub_repo_url_prefix(repo->type), info->id);
	else
		printf("gated:         no\n");
	printf("tags:          ");
	for (size_t i = 0; i < info->n_tags; i++)
		printf("%s%s", i ? ", " : "", info->tags[i]);
	printf("%s\n", info->n_tags ? "" : "-");
	printf("files:         %" PRIu64 " (%" PRIu64 " in LFS)\n", t->files,
	       t->lfs_files);
	printf("total size:    %s (%" PRIu64 " bytes)\n", size, t->bytes);
}

static void print_info_json(const struct hub_repo *repo,
			    const struct hub_repo_info *info,
			    const struct totals *t)
{
	printf("{\"id\": ");
	cli_json_string(stdout, info->id);
	printf(", \"type\": \"%s\", \"revision\": ", hub_repo_type_name(repo->type));
	cli_json_string(stdout, hub_repo_revision(repo));
	printf(", \"sha\": \"%s\", \"last_modified\": ", info->sha);
	cli_json_string(stdout, info->last_modified);
	printf(", \"private\": %s, \"gated\": ", info->is_private ? "true" : "false");
	if (info->gated[0])
		cli_json_string(stdout, info->gated);
	else
		printf("false");
	printf(", \"tags\": [");
	for (size_t i = 0; i < info->n_tags; i++) {
		printf("%s", i ? ", " : "");
		cli_json_string(stdout, info->tags[i]);
	}
	printf("], \"files\": %" PRIu64 ", \"lfs_files\": %" PRIu64
	       ", \"total_size\": %" PRIu64 "}\n",
	       t->files, t->lfs_files, t->bytes);
}

/*
 * `info` offline: what the cache remembers of the revision (its commit,
 * the commit's date and listing), with "-" (null in JSON) for what it
 * does not keep. Exit code.
 */
static int info_cached(const struct cli_hub_opts *o, const char *spec, const char *cache_dir,
		       bool json)
{
	struct repo_snapshot *snap;
	struct repo_env env;
	struct hub_config cfg;
	struct totals t = { 0 };
	char when[40] = "";
	int rc = cli_snapshot_open(o, spec, cache_dir, &env, &cfg, &snap);

	if (rc)
		return rc;
	for (size_t i = 0; i < snap->n_entries; i++) {
		const struct repo_entry *e = &snap->entries[i];

		if (!e->is_dir && e->parent != REPO_NO_ENTRY) {
			t.files++;
			t.lfs_files += e->is_lfs;
			t.bytes += e->size;
		}
	}
	if (snap->commit_time > 0) {
		time_t tt = (time_t)snap->commit_time;
		struct tm tm;

		/* The Hub's own form of it. */
		if (gmtime_r(&tt, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	}
	if (json) {
		printf("{\"id\": ");
		cli_json_string(stdout, snap->repo.id);
		printf(", \"type\": \"%s\", \"revision\": ", hub_repo_type_name(snap->repo.type));
		cli_json_string(stdout, hub_repo_revision(&snap->repo));
		printf(", \"sha\": \"%s\", \"last_modified\": ", snap->commit);
		if (when[0])
			cli_json_string(stdout, when);
		else
			printf("null");
		printf(", \"private\": null, \"gated\": null, \"tags\": null, \"files\": %" PRIu64
		       ", \"lfs_files\": %" PRIu64 ", \"total_size\": %" PRIu64
		       ", \"offline\": true}\n", t.files, t.lfs_files, t.bytes);
	} else {
		char size[32];

		size_format(t.bytes, size, sizeof(size));
		printf("repo:          %s (%s)\n", snap->repo.id, hub_repo_type_name(snap->repo.type));
		printf("revision:      %s\n", hub_repo_revision(&snap->repo));
		printf("commit:        %s\n", snap->commit);
		printf("last modified: %s\n", when[0] ? when : "-");
		printf("private:       - (offline: the cache does not keep it)\n");
		printf("gated:         -\n");
		printf("tags:          -\n");
		printf("files:         %" PRIu64 " (%" PRIu64 " in LFS)\n", t.files, t.lfs_files);
		printf("total size:    %s (%" PRIu64 " bytes)\n", size, t.bytes);
	}
	if (fflush(stdout) != 0)
		rc = cli_report(-EIO, NULL);
	cli_snapshot_close(&env, &cfg, snap);
	return rc;
}

int cmd_info(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, CLI_OPT_JSON },
		{ "cache-dir", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'H' },
		CLI_HUB_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct cli_hub_opts o = CLI_HUB_OPTS_INIT;
	struct hub_error err = { 0 };
	struct hub_client *client = NULL;
	struct hub_repo_info info = { 0 };
	struct totals t = { 0 };
	struct hub_config cfg;
	struct hub_repo repo, pinned;
	const char *cache_dir = NULL;
	bool json = false;
	int c, rc;

	optind = 1;
	while ((c = cli_getopt(&o, argc, argv, "", longopts)) != -1) {
		if (c == CLI_OPT_BAD) {
			return CLI_EXIT_USAGE;
		} else if (c == CLI_OPT_JSON) {
			json = true;
		} else if (c == 'C') {
			cache_dir = optarg;
		} else if (c == 'H') {
			info_usage(stdout);
			return CLI_EXIT_OK;
		} else {
			info_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		info_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	rc = cli_parse_repo(&o, argv[optind], &repo);
	if (rc)
		return rc;
	rc = cli_hub_connect(&o, &cfg, &client);
	if (rc)
		return rc;
	if (cfg.offline) {
		hub_client_free(client);
		hub_config_release(&cfg);
		return info_cached(&o, argv[optind], cache_dir, json);
	}
	rc = hub_repo_info(client, &repo, &info, &err);
	if (rc == 0) {
		/* Count the files of exactly the commit the info describes. */
		pinned = repo;
		snprintf(pinned.revision, sizeof(pinned.revision), "%s", info.sha);
		rc = hub_list_tree(client, &pinned, "", true, add_entry, &t, &err);
	}
	if (rc == 0) {
		if (json)
			print_info_json(&repo, &info, &t);
		else
			print_info_text(&repo, &info, &t, cfg.endpoint);
	}
	hub_repo_info_release(&info);
	hub_client_free(client);
	hub_config_release(&cfg);
	return rc < 0 ? cli_report(rc, &err) : CLI_EXIT_OK;
}
