/* SPDX-License-Identifier: MIT */
/*
 * The metadata half of the persistent cache, for offline use: per commit,
 * the repo listing (immutable once stored); per revision name, the commit
 * it resolved to and when. (An object's meta file, DIR/objects/.../meta,
 * is another thing: cache_objmeta_* in cache/cache_int.h.)
 *
 * Everything lives in files under a cache directory ("root") that several
 * processes share (a mount and a download, say). There is no in-memory
 * state and no lock: every write is atomic (a temporary file renamed over
 * the final name), and every read treats the file as untrusted. A file
 * that fails validation is reported as -EBADMSG and removed, so that the
 * caller fetches it again; nothing read from disk reaches a callback
 * before the whole file has been checked. The format is described at the
 * top of meta.c and in docs/cache-format.md.
 *
 * Errors: every function returns 0 or a negative errno; in particular
 * -EINVAL for arguments that fail validation (nothing is written then),
 * -ENOENT when nothing is stored, -EBADMSG for a corrupt file, and
 * whatever the file system said (-ENOSPC, -EACCES, -EIO...).
 *
 * Locking: none needed. All functions may be called from any thread and
 * from several processes on the same root at once; the worst a race can
 * do is make a reader see -ENOENT for something being forgotten.
 *
 * Callbacks are called with no lock held and may call any function of
 * this module, including the forget function on the repo being listed.
 */
#ifndef HUBFS_CACHE_META_H
#define HUBFS_CACHE_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest listing file we write or read, and its largest entry count. */
#define CACHE_LISTING_MAX_BYTES (256u << 20)
#define CACHE_LISTING_MAX_ENTRIES (1u << 22)

/* One part of a repo key ("ORG" or "NAME"), and the whole key. */
#define CACHE_REPO_PART_MAX 96
#define CACHE_REPO_KEY_MAX (7 + 2 * (1 + CACHE_REPO_PART_MAX))

/* A revision name, in bytes (the Hub client's HUB_REVISION_MAX). */
#define CACHE_REVISION_MAX 255

/*
 * One entry of a repo listing at one commit. Valid only during a callback.
 * path: repo-relative, passes path_validate_repo_path().
 * size: the real size (LFS: the content's), at most INT64_MAX; 0 for dirs.
 * oid: git blob sha1 (files) or tree sha1 (dirs), 40 lower hex.
 * lfs_sha256: 64 lower hex when is_lfs, else "".
 */
struct cache_file_entry {
	bool is_dir;
	const char *path;
	uint64_t size;
	char oid[41];
	bool is_lfs;
	char lfs_sha256[65];
};

/*
 * Called once per entry. @e and the strings it points to belong to the
 * module and are valid only during the call: copy what you keep. A
 * non-zero return stops the walk and is returned to the caller as is.
 */
typedef int (*cache_entry_fn)(void *ctx, const struct cache_file_entry *e);

/*
 * Is @repo a repo key: "model/ORG/NAME", "dataset/ORG/NAME",
 * "space/ORG/NAME", or the legacy single-part "model/NAME" (also accepted
 * for the other two types, as the Hub client accepts "NAME" for any)?
 * Each part is 1 to CACHE_REPO_PART_MAX characters of [A-Za-z0-9_.-],
 * not "." or "..", and does not start with '.' or '-'.
 */
bool cache_repo_key_is_valid(const char *repo);

/*
 * Is @revision storable: 1 to CACHE_REVISION_MAX bytes, no control
 * characters? ('/' is fine: "refs/pr/1".) A valid revision can still be
 * refused with -ENAMETOOLONG by cache_ref_store() when its encoded file
 * name would be too long (see meta.c); callers then simply do not cache it.
 */
bool cache_revision_is_valid(const char *revision);

/*
 * Store the listing of @repo at @commit (40 lower hex), @n entries in the
 * order given (which is the order cache_listing_load() gives back).
 * Immutable: if a valid listing is already stored, return 0 without
 * writing; a corrupt one is replaced. Entries are checked first: a path
 * that fails path_validate_repo_path(), an oid that is not 40 lower hex,
 * a size above INT64_MAX, a directory with a size or an LFS hash, an LFS
 * file without a 64-hex sha256 or a non-LFS entry with one gives -EINVAL,
 * and nothing is written. Duplicate paths are not looked for.
 *
 * Returns 0, -EINVAL, -EFBIG (more than CACHE_LISTING_MAX_ENTRIES entries
 * or CACHE_LISTING_MAX_BYTES bytes), -ENAMETOOLONG (@root too long),
 * -ENOMEM, or the file system's -errno (-ENOSPC, -EACCES...).
 */
int cache_listing_store(const char *root, const char *repo, const char *commit,
			const struct cache_file_entry *entries, size_t n);

/*
 * Call @fn for every entry of the stored listing of @repo at @commit, in
 * stored order. The whole file is validated before the first call, so @fn
 * either sees every entry or none; every path it sees has passed
 * path_validate_repo_path().
 *
 * Returns 0, -EINVAL (bad arguments), -ENOENT when none is stored,
 * -EBADMSG when the file is corrupt (it is then removed), -ENOMEM, -EIO...,
 * or what @fn returned (non-zero stops).
 */
int cache_listing_load(const char *root, const char *repo, const char *commit,
		       cache_entry_fn fn, void *ctx);

/*
 * Remember that @revision of @repo resolved to @commit (40 lower hex) at
 * @resolved_at (unix seconds, >= 0). Overwrites atomically.
 *
 * Returns 0, -EINVAL, -ENAMETOOLONG (the encoded revision does not fit in
 * one file name), or the file system's -errno.
 */
int cache_ref_store(const char *root, const char *repo, const char *revision,
		    const char *commit, int64_t resolved_at);

/*
 * What cache_ref_store() remembered for @revision of @repo: the commit
 * into @commit (NUL-terminated) and the time into @resolved_at (may be
 * NULL). Both are left alone on error.
 *
 * Returns 0, -EINVAL, -ENAMETOOLONG, -ENOENT when nothing is stored,
 * -EBADMSG when the file is corrupt (it is then removed), or -errno.
 */
int cache_ref_load(const char *root, const char *repo, const char *revision,
		   char commit[41], int64_t *resolved_at);

/*
 * The decoders behind the two loaders above, on a file's @len bytes
 * (untrusted: no terminator needed, any byte may be anything). Exposed
 * for the fuzz targets; nothing is read from or written to disk.
 *
 * cache_listing_parse(): the listing of @repo at @commit; returns 0,
 * -EBADMSG, -ENOMEM, or what @fn returned. With @fn NULL it only checks;
 * with @fn it calls @fn for each entry as it goes, so check first.
 *
 * cache_ref_parse(): 0 with @commit (41 bytes) and *@resolved_at set, or
 * -EBADMSG; @commit may have been written even then.
 */
int cache_listing_parse(const char *data, size_t len, const char *repo,
			const char *commit, cache_entry_fn fn, void *ctx);
int cache_ref_parse(const char *data, size_t len, char commit[41],
		    int64_t *resolved_at);

/* Called once per stored listing; non-zero stops the walk and is returned. */
typedef int (*cache_listing_fn)(void *ctx, const char *repo,
				const char *commit);

/*
 * Call @fn for every stored listing (repo, commit), in a stable order:
 * sorted by type, org directory ('@' for legacy ids), name, then commit.
 * Only names are looked at: a listing found here can still turn out
 * corrupt when loaded. Junk is skipped (names that are not ours,
 * symlinks, invalid repo keys); temporary files whose writer is dead
 * (fileio_is_stale_tmp()) are removed on the way.
 *
 * Returns 0 (also when nothing was ever stored), what @fn returned, or
 * -errno (-ENOMEM, -EACCES...).
 */
int cache_listings_each(const char *root, cache_listing_fn fn, void *ctx);

/*
 * The same, for the listings of one type ("model", "dataset", "space")
 * only, or of one org of it (@org: "@" for legacy ids): the walk opens
 * just that folder, so it costs what is under it, not the whole cache's.
 * @org needs @type; @type NULL is every listing.
 */
int cache_listings_each_under(const char *root, const char *type, const char *org,
			      cache_listing_fn fn, void *ctx);

/* Called once per stored ref; non-zero stops the walk and is returned. */
typedef int (*cache_ref_fn)(void *ctx, const char *repo, const char *revision,
			    const char *commit, int64_t resolved_at);

/*
 * Call @fn for every stored ref of @repo, or of every repo when @repo is
 * NULL: repos in the order of cache_listings_each(), then refs sorted by
 * encoded file name (see meta.c). Each ref file is read and validated
 * before @fn sees it: a corrupt one is removed and skipped. Junk names are
 * skipped and stale temporary files removed, as by cache_listings_each().
 *
 * Returns 0, -EINVAL (@repo given but not a valid key), what @fn
 * returned, or -errno.
 */
int cache_refs_each(const char *root, const char *repo, cache_ref_fn fn,
		    void *ctx);

/*
 * Forget @revision of @repo: its ref, and the listing of the commit it
 * pointed to unless another ref of the repo still points there; a
 * @revision that names no ref but is a commit's 40 hex digits forgets that
 * commit's listing on the same terms. With
 * @revision NULL, forget every ref and every listing of @repo. Emptied
 * directories are removed. A corrupt ref is removed as well (its listing,
 * if any, is then left for a later forget of the whole repo).
 *
 * Returns 0, -ENOENT when there was nothing to forget, -EINVAL, or -errno.
 */
int cache_repo_forget(const char *root, const char *repo, const char *revision);

/*
 * The directory of @repo under <root>/<top> ("listings", "refs",
 * "commits"): legacy single-part ids map to the fixed ORG "@", so the two
 * kinds of key never share a directory. 0, -EINVAL or -ENAMETOOLONG.
 */
int cache_repo_dir(const char *root, const char *top, const char *repo,
		   char *out, size_t size);

#endif /* HUBFS_CACHE_META_H */
