/* SPDX-License-Identifier: MIT */
/*
 * Python's string rules as huggingface_hub applies them, where hubfs must
 * choose what the library chooses: the globs of snapshot_download()'s
 * allow_patterns and ignore_patterns (fnmatch.fnmatchcase()), and the
 * expansion of the paths it reads from the environment
 * (os.path.expandvars(os.path.expanduser())).
 */
#ifndef HUBFS_UTIL_PATTERN_H
#define HUBFS_UTIL_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A glob of huggingface_hub's allow_patterns and ignore_patterns, compiled:
 * what snapshot_download() and filter_repo_objects() match, and how.
 *
 * The pattern and the path have '\' made '/' first, and a pattern ending
 * in '/' gets a '*'. Then fnmatch.fnmatchcase(): '*' is any run of
 * characters, '/' included, '?' one character (a code point of UTF-8; a
 * byte that starts no sequence counts as one, as Python's surrogateescape
 * has it), '[seq]' and '[!seq]' with ranges, ']' first in a set is itself,
 * a '[' that no ']' closes is itself; no escapes, no POSIX classes
 * ("[[:alpha:]]" is the set "[:alph" then "]"), and case counts. Python's
 * own quirks in sets go with it: '^' does not negate, and a reversed range
 * ("z-a") takes its two ends out of the set.
 */
struct pattern_hf;

/* Compile @pattern into *@out. 0 or -ENOMEM. */
int pattern_hf_compile(const char *pattern, struct pattern_hf **out);
/* Does repo path @path match @p? */
bool pattern_hf_match(const struct pattern_hf *p, const char *path);
void pattern_hf_free(struct pattern_hf *p);

/*
 * @in as huggingface_hub expands HF_HOME, HF_HUB_CACHE and HF_TOKEN_PATH,
 * into @out: a leading "~" made $HOME (path_expand_user()), then each
 * "$NAME" (NAME of [A-Za-z0-9_]) and "${ANY}" (anything but '}') that
 * names a variable of the environment replaced by its value, not expanded
 * again; one that names none is left as it is (os.path.expandvars()).
 * 0 or -ENAMETOOLONG.
 */
int pattern_expand_path(const char *in, char *out, size_t size);

#endif /* HUBFS_UTIL_PATTERN_H */
