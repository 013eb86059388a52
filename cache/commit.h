/* SPDX-License-Identifier: MIT */
/*
 * What the cache remembers of a commit besides its listing: its date, so
 * that files keep their modification time offline. One small file per
 * commit, written atomically, validated when read (docs/cache-format.md).
 */
#ifndef HUBFS_CACHE_COMMIT_H
#define HUBFS_CACHE_COMMIT_H

#include <stddef.h>
#include <stdint.h>

/* The largest commit-date file there is; a bigger one is corrupt. */
#define CACHE_COMMIT_FILE_MAX 256

/* Remember that @commit of @repo ("model/ORG/NAME") is dated @unix_time. */
int cache_commit_time_store(const char *root, const char *repo,
			    const char *commit, int64_t unix_time);

/*
 * The bytes of a commit-date file for @unix_time (>= 0) into @out: their
 * length, or 0 when @size is too small.
 */
size_t cache_commit_time_format(int64_t unix_time, char *out, size_t size);

/*
 * Decode the @len bytes of a commit-date file (untrusted: no terminator
 * needed). 0 with *@unix_time set, or -EBADMSG; *@unix_time is left alone
 * then. Exposed for the fuzz target; the loader below uses it.
 */
int cache_commit_time_parse(const char *data, size_t len, int64_t *unix_time);

/* 0 with *@unix_time set, -ENOENT, -EBADMSG (removed), -EINVAL or -errno. */
int cache_commit_time_load(const char *root, const char *repo,
			   const char *commit, int64_t *unix_time);

#endif /* HUBFS_CACHE_COMMIT_H */
