/* SPDX-License-Identifier: MIT */
/*
 * <root>/commits/<type>/<org or @>/<name>/<commit> (cache_repo_dir()): "hubfs-commit 1\ndate <unix>\n"
 * followed by "crc <crc32c of the preceding bytes, 8 hex>\n".
 */
#include "cache/commit.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/meta.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/digest.h"
#include "util/fileio.h"

static int commit_path(const char *root, const char *repo, const char *commit,
		       char *dir, size_t dir_size, char *path, size_t path_size)
{
	int n;

	if (!digest_is_hex(commit, 40))
		return -EINVAL;
	n = cache_repo_dir(root, "commits", repo, dir, dir_size);
	if (n < 0)
		return n;
	n = snprintf(path, path_size, "%s/%s", dir, commit);
	return n > 0 && (size_t)n < path_size ? 0 : -ENAMETOOLONG;
}

size_t cache_commit_time_format(int64_t unix_time, char *out, size_t size)
{
	int n;

	if (unix_time < 0)
		return 0;
	n = snprintf(out, size, "hubfs-commit 1\ndate %" PRId64 "\n", unix_time);
	if (n < 0 || (size_t)n >= size)
		return 0;
	return crc32c_line_append(out, (size_t)n, size);
}

/* Exactly "hubfs-commit 1\ndate <canonical decimal>\ncrc <8 lower hex>\n". */
int cache_commit_time_parse(const char *data, size_t len, int64_t *unix_time)
{
	static const char head[] = "hubfs-commit 1\ndate ";
	const size_t head_len = sizeof(head) - 1;
	size_t body, digits;
	uint64_t t = 0;

	/* The smallest file has one digit; the crc covers all before its line. */
	if (len > CACHE_COMMIT_FILE_MAX || len < head_len + 2 + CRC32C_LINE_LEN ||
	    memcmp(data, head, head_len) != 0 || !crc32c_line_check(data, len))
		return -EBADMSG;
	body = len - CRC32C_LINE_LEN;
	/*
	 * One spelling per date: no sign, space or leading zero (sscanf()
	 * took all three, and any whitespace for the magic's space and
	 * newlines), and nothing past INT64_MAX (sscanf() clamped it).
	 */
	digits = body - 1 - head_len;
	if (digits > 1 && data[head_len] == '0')
		return -EBADMSG;
	for (size_t i = 0; i < digits; i++) {
		char c = data[head_len + i];

		if (c < '0' || c > '9' ||
		    t > ((uint64_t)INT64_MAX - (uint64_t)(c - '0')) / 10)
			return -EBADMSG;
		t = t * 10 + (uint64_t)(c - '0');
	}
	*unix_time = (int64_t)t;
	return 0;
}

int cache_commit_time_store(const char *root, const char *repo,
			    const char *commit, int64_t unix_time)
{
	char dir[PATH_MAX], path[PATH_MAX], text[128];
	size_t n;
	int rc;

	rc = commit_path(root, repo, commit, dir, sizeof(dir), path, sizeof(path));
	if (rc < 0 || unix_time < 0)
		return rc < 0 ? rc : -EINVAL;
	n = cache_commit_time_format(unix_time, text, sizeof(text));
	if (n == 0)
		return -EINVAL;
	rc = fileio_mkdirs(dir, 0755);
	if (rc == 0)
		rc = fileio_write_atomic(path, text, n, 0644, false);
	return rc;
}

int cache_commit_time_load(const char *root, const char *repo,
			   const char *commit, int64_t *unix_time)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct buf b;
	int rc;

	rc = commit_path(root, repo, commit, dir, sizeof(dir), path, sizeof(path));
	if (rc < 0)
		return rc;
	buf_init(&b, CACHE_COMMIT_FILE_MAX);
	rc = fileio_read_all(path, CACHE_COMMIT_FILE_MAX, &b);
	if (rc < 0) {
		buf_release(&b);
		return rc == -EFBIG ? -EBADMSG : rc;
	}
	rc = cache_commit_time_parse(buf_cstr(&b), b.len, unix_time);
	buf_release(&b);
	if (rc == -EBADMSG)
		unlink(path);
	return rc;
}
