/* SPDX-License-Identifier: MIT */
/*
 * A repo pinned at one commit, with its whole listing: what the mount and
 * the commands that read files (download, verify, repair, cache) work on.
 * This is where hub/ and cache/ meet; it knows nothing of FUSE.
 *
 * Loading resolves the revision to a commit (a sha is its own commit; a
 * branch or tag asks the Hub, and the answer is remembered in the cache
 * for offline use) and takes the commit's listing from the cache, or from
 * the Hub once (then stores it: a commit's listing never changes). When
 * the Hub cannot be reached, or in offline mode, what the cache remembers
 * is used.
 *
 * Ownership: a snapshot is immutable after loading and reference-counted;
 * repo_snapshot_ref()/unref() are thread-safe.
 */
#ifndef HUBFS_REPO_SNAPSHOT_H
#define HUBFS_REPO_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"
#include "hub/hub.h"

/*
 * An entry index that names none: the parent of the root (and of a path
 * the listing put below a file), or the end of a list of children.
 */
#define REPO_NO_ENTRY UINT32_MAX

/* What snapshot loading and reads need; owned by the caller. */
struct repo_env {
	struct hub_client *hub;
	struct cache *cache;
	bool offline;
	const char *hf_hub_cache; /* huggingface_hub's cache to reuse blobs from, or NULL */
};

/*
 * huggingface_hub's cache directory: HF_HUB_CACHE, else
 * HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub (HF_HOME defaults to
 * ${XDG_CACHE_HOME:-~/.cache}/huggingface), with "~" and "$VAR" expanded
 * as the library expands them (pattern_expand_path()). 0, or -ENOENT when
 * it does not exist.
 */
int repo_hf_hub_cache_dir(char *out, size_t size);
/* The same path, whether it exists or not (to write there). 0 or -errno. */
int repo_hf_hub_cache_path(char *out, size_t size);
/*
 * "<hf_cache>/{type}s--ORG--NAME": huggingface_hub's repo_folder_name of
 * @repo's id, spelled as given (for a snapshot, its asked_id: the library
 * names the folder as its caller spelled the id). 0 or -ENAMETOOLONG.
 */
int repo_hf_repo_dir(const char *hf_cache, const struct hub_repo *repo, char *out,
		     size_t size);

struct repo_entry {
	char *path;           /* repo-relative; "" for the root */
	const char *name;     /* the last component, inside path */
	uint32_t parent;      /* index of the parent directory entry */
	uint32_t first_child; /* directories: first entry inside, or REPO_NO_ENTRY */
	uint32_t next_sibling; /* the next entry of the same directory, or REPO_NO_ENTRY */
	bool is_dir;
	bool is_lfs;
	uint64_t size;
	char oid[41];         /* git blob (files) or tree (dirs) sha1 */
	char sha256[65];      /* LFS files */
};

struct repo_table;

struct repo_snapshot {
	atomic_int refs;
	struct hub_repo repo;       /* canonical id; revision as asked ("" = default) */
	/*
	 * The id as the caller spelled it ("HubFS-Test/Tiny-Model"): what
	 * huggingface_hub names the repo's folder of its cache after, and
	 * looks it up by, whatever the Hub's spelling.
	 */
	char asked_id[HUB_REPO_ID_MAX + 1];
	char repo_key[HUB_REPO_ID_MAX + 16]; /* "model/ORG/NAME": the cache's name for it */
	char commit[41];
	int64_t commit_time;        /* unix seconds: the commit's date, or 0 */
	bool from_cache_only;       /* the Hub was not asked (offline, or unreachable) */
	bool gated;                 /* the Hub's info says so: its content needs a granted token */
	/*
	 * Set by a reader (fs/) once content of this commit came from the Hub:
	 * a gated repo's access is then known to be granted to this token.
	 */
	atomic_bool content_reached;
	struct repo_table *table;   /* owns entries: shared by the snapshots of one commit */
	struct repo_entry *entries; /* sorted by path; entries[0] is the root; read-only */
	size_t n_entries;
	uint64_t total_bytes;       /* sum of file sizes */
	size_t n_files;
	char hf_blobs[4096];        /* "<hf cache>/models--ORG--NAME/blobs" (asked_id), or "" */
};

/* Load @repo (its revision as asked). 0 or -errno with @err filled. */
int repo_snapshot_load(struct repo_env *env, const struct hub_repo *repo,
		       struct repo_snapshot **out, struct hub_error *err);

/*
 * Re-resolve @cur's revision: 0 with *@out NULL when it still names the
 * same commit (nothing else is read), or a new snapshot in *@out.
 */
int repo_snapshot_refresh(struct repo_env *env, const struct repo_snapshot *cur,
			  struct repo_snapshot **out, struct hub_error *err);

void repo_snapshot_ref(struct repo_snapshot *s);
void repo_snapshot_unref(struct repo_snapshot *s);

/* Commits whose entry tables this process holds now (every repo's), and their entries. */
void repo_tables_count(size_t *tables, size_t *entries);

/* Entry of @path ("" = root), or NULL. Binary search. */
const struct repo_entry *repo_snapshot_find(const struct repo_snapshot *s,
					    const char *path);

/* The cache key of a file entry. */
void repo_entry_key(const struct repo_entry *e, struct cache_key *key);

/*
 * A cache source that reads @path of @snap's commit from the Hub — or,
 * when huggingface_hub's cache already holds the file as a blob named by
 * the same hash, from that blob, once it has been hashed and found right
 * (it is only ever read). The struct must outlive every fetch made
 * through @out. A failure's reason (the Hub client's message) goes into
 * the cache_error for the caller to report.
 */
struct repo_source {
	struct hub_client *hub;
	const struct repo_snapshot *snap;
	const struct repo_entry *entry;
	/*
	 * When set, a fetch that goes to the network first takes a place in
	 * this window (hub/pace.h) and gives it back with the bytes it
	 * moved: read-ahead's, so that its concurrency follows the network.
	 * NULL after init: a reader's own fetch never waits for a place.
	 */
	struct hub_pace *pace;
};
void repo_source_init(struct repo_source *s, struct hub_client *hub,
		      const struct repo_snapshot *snap, const struct repo_entry *entry,
		      struct cache_source *out);

/* "model/ORG/NAME" for @repo into @out. */
int repo_key_format(const struct hub_repo *repo, char *out, size_t size);

#endif /* HUBFS_REPO_SNAPSHOT_H */
