/* SPDX-License-Identifier: MIT */
/*
 * Validation of paths that come from the Hub.
 *
 * A repo path becomes a directory entry in the mount and a file name under
 * --local-dir, so it must never be able to climb out of either: no empty,
 * "." or ".." component, no leading "/", no NUL, no control characters,
 * valid UTF-8, and bounded lengths. Names are otherwise kept as the Hub
 * spells them (spaces, '%', '?', '#', ':' and '\\' are legal on Linux).
 */
#ifndef HUBFS_UTIL_PATH_H
#define HUBFS_UTIL_PATH_H

#include <stdbool.h>
#include <stddef.h>

#define PATH_COMPONENT_MAX 255
#define PATH_REPO_MAX 4096

/* Is @name (@len bytes, not NUL-terminated) safe as one directory entry? */
bool path_component_is_safe(const char *name, size_t len);

/*
 * Is @path a safe repo-relative path: components separated by single '/',
 * each passing path_component_is_safe()? Returns 0 or -EINVAL.
 */
int path_validate_repo_path(const char *path);

/* Is @s (@len bytes) well-formed UTF-8 (no overlongs, no surrogates)? */
bool path_is_utf8(const char *s, size_t len);

/*
 * "${XDG_CACHE_HOME:-$HOME/.cache}/@sub" into @out: where per-user caches
 * live. Returns 0, -ENOENT (neither variable set) or -ENAMETOOLONG.
 */
int path_user_cache_dir(const char *sub, char *out, size_t size);

/*
 * @in with a leading "~" or "~/" made $HOME, as Python's
 * os.path.expanduser() does for the variables huggingface_hub reads
 * (HF_HOME="~/x"), into @out. 0 or -ENAMETOOLONG; without $HOME, @in as
 * it is.
 */
int path_expand_user(const char *in, char *out, size_t size);

#endif /* HUBFS_UTIL_PATH_H */
