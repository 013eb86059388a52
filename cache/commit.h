/* SPDX-License-Identifier: MIT */
/*
 * What the cache remembers of a commit besides its listing: its date, so
 * that files keep their modification time offline. One small file per
 * commit, written atomically, validated when read (docs/cache-format.md).
 */
#ifndef HUBFS_CACHE_COMMIT_H
#define HUBFS_CACHE_COMMIT_H

#include <stdint.h>

/* Remember that @commit of @repo ("model/ORG/NAME") is dated @unix_time. */
int cache_commit_time_store(const char *root, const char *repo,
			    const char *commit, int64_t unix_time);

/* 0 with *@unix_time set, -ENOENT, -EBADMSG (removed), -EINVAL or -errno. */
int cache_commit_time_load(const char *root, const char *repo,
			   const char *commit, int64_t *unix_time);

#endif /* HUBFS_CACHE_COMMIT_H */
