/* SPDX-License-Identifier: MIT */
/*
 * Repo listings and resolved refs on disk: the metadata half of the
 * persistent cache, so that a repo can be browsed offline.
 *
 * Layout under the cache root. A repo key "TYPE/ORG/NAME" maps to the
 * directory "TYPE/ORG/NAME"; a legacy single-part key "TYPE/NAME" maps to
 * "TYPE/@/NAME". '@' can never be an ORG (it is not in [A-Za-z0-9_.-]), so
 * the two kinds of key never share a directory, and every repo directory
 * is exactly three levels below listings/ or refs/:
 *
 *   <root>/listings/<type>/<org or @>/<name>/<commit>.lst
 *   <root>/refs/<type>/<org or @>/<name>/<encoded revision>.ref
 *
 * A revision is encoded into one file name: bytes of [A-Za-z0-9_-] stay,
 * every other byte becomes "%XX" (upper-case hex), so "refs/pr/1" is
 * "refs%2Fpr%2F1.ref" and "v1.0" is "v1%2E0.ref". Encoding '.' keeps
 * ".", ".." and the ".tmp." marker of temporary files out of final names;
 * decoding accepts only this exact (canonical) spelling, so one revision
 * has one file. The encoded name may be at most REF_NAME_MAX bytes.
 *
 * A listing file ("count" and sizes in canonical decimal):
 *
 *   hubfs-listing 1\n
 *   repo <repo key>\n
 *   commit <40 lower hex>\n
 *   count <n>\n
 *   F <size> <oid> <lfs sha256 or -> <path>\n      (a file)
 *   D 0 <oid> - <path>\n                          (a directory)
 *   ...                                            (n entry lines)
 *   end <sha256, lower hex, of every byte before this line>\n
 *
 * The path is the rest of the line: it may hold spaces, '%', '#', but no
 * control character, so never a newline. The "repo" and "commit" lines
 * must name the file's own place, so a file copied elsewhere is corrupt.
 *
 * A ref file:
 *
 *   hubfs-ref 1\n
 *   commit <40 lower hex>\n
 *   resolved <unix seconds>\n
 *   crc <crc32c, 8 lower hex, of every byte before this line>\n
 *
 * Anything else (another magic or version, a bad checksum, a count that
 * does not match the lines, a field out of range, an unsafe path, a file
 * over its size cap, something that is not a regular file) is corrupt:
 * the reader gets -EBADMSG and the file is removed, so it is fetched
 * again. A listing is validated whole before its first entry is handed
 * out. Removal can race with a writer replacing the file with a good one;
 * the cost is one more fetch.
 *
 * Files are written with fileio_write_atomic(): a temporary
 * "<name>.tmp.<pid>.<n>" in the same directory, renamed. Not fsync'ed:
 * every file carries its CRC, so one that power loss damaged is corrupt
 * as above and fetched again; the fsyncs cost a small download an eighth
 * of its time on a quiet disk, seconds on a busy one (issue #13). The
 * walks below remove such files once their writer is dead. Directories
 * are created 0755 and files 0644, both less the umask.
 *
 * The walks open each level with O_NOFOLLOW, and files are checked to be
 * regular before they are read, so a symlink planted in the cache can
 * neither lead a walk (or a removal) out of the root nor make a reader
 * block on a FIFO.
 */
#include "cache/meta.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/crc32c.h"
#include "util/digest.h"
#include "util/fileio.h"
#include "util/path.h"

#define LISTINGS_DIR "listings"
#define REFS_DIR "refs"
#define COMMITS_DIR "commits" /* cache/commit.c */
#define LEGACY_ORG "@"

#define LISTING_MAGIC "hubfs-listing 1"
#define REF_MAGIC "hubfs-ref 1"
#define LISTING_SUFFIX ".lst"
#define REF_SUFFIX ".ref"

#define COMMIT_HEX 40
/*
 * The last line of a listing: "end ", the sha256 of every byte before it,
 * '\n'. A ref's is a CRC-32C line (util/crc32c.h).
 */
#define END_PREFIX "end "
#define TRAILER_PREFIX_LEN 4
#define END_LINE_LEN (TRAILER_PREFIX_LEN + DIGEST_SHA256_HEX_LEN + 1)
_Static_assert(sizeof(END_PREFIX) - 1 == TRAILER_PREFIX_LEN, "trailer prefix");
#define REF_MAX_BYTES 256

/*
 * The longest encoded revision: with ".ref" and the ".tmp.<pid>.<n>"
 * suffix of fileio_tmp_name() (at most 26 bytes) it must still fit in one
 * directory entry.
 */
#define REF_NAME_MAX (PATH_COMPONENT_MAX - 4 - 26)

/* No directory of ours holds this many names; more means junk. */
#define DIR_NAMES_MAX (1u << 20)

/* Attempts at a write that a concurrent forget keeps pruning the dir of. */
#define WRITE_TRIES 3

/* ============================ Names and keys ============================ */

static const char *const repo_types[] = { "model", "dataset", "space" };

struct repo_key {
	char type[8];
	char org[CACHE_REPO_PART_MAX + 1]; /* LEGACY_ORG for "TYPE/NAME" */
	char name[CACHE_REPO_PART_MAX + 1];
};

static bool type_is_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof(repo_types) / sizeof(*repo_types); i++) {
		if (strlen(repo_types[i]) == len &&
		    memcmp(repo_types[i], s, len) == 0)
			return true;
	}
	return false;
}

static bool part_is_valid(const char *s, size_t len)
{
	if (len == 0 || len > CACHE_REPO_PART_MAX)
		return false;
	/* This also refuses "." and "..". */
	if (s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return false;
	}
	return true;
}

static int repo_key_parse(const char *repo, struct repo_key *k)
{
	const char *s1, *s2, *org, *name;
	size_t org_len, name_len;

	if (!repo || strnlen(repo, CACHE_REPO_KEY_MAX + 1) > CACHE_REPO_KEY_MAX)
		return -EINVAL;
	s1 = strchr(repo, '/');
	if (!s1 || !type_is_valid(repo, (size_t)(s1 - repo)))
		return -EINVAL;
	s2 = strchr(s1 + 1, '/');
	if (s2) {
		org = s1 + 1;
		org_len = (size_t)(s2 - org);
		name = s2 + 1;
		if (strchr(name, '/') || !part_is_valid(org, org_len))
			return -EINVAL;
	} else {
		org = LEGACY_ORG;
		org_len = strlen(LEGACY_ORG);
		name = s1 + 1;
	}
	name_len = strlen(name);
	if (!part_is_valid(name, name_len))
		return -EINVAL;
	memcpy(k->type, repo, (size_t)(s1 - repo));
	k->type[s1 - repo] = '\0';
	memcpy(k->org, org, org_len);
	k->org[org_len] = '\0';
	memcpy(k->name, name, name_len + 1);
	return 0;
}

bool cache_repo_key_is_valid(const char *repo)
{
	struct repo_key k;

	return repo_key_parse(repo, &k) == 0;
}

bool cache_revision_is_valid(const char *revision)
{
	size_t len;

	if (!revision)
		return false;
	len = strnlen(revision, CACHE_REVISION_MAX + 1);
	if (len == 0 || len > CACHE_REVISION_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)revision[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* Exactly @len lower-case hex digits (no terminator looked at). */
static bool is_lower_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

/*
 * A fixed-size hex field of a caller's struct: reads at most @len + 1
 * bytes, so a field without its NUL is refused, not overrun.
 */
static bool hex_field_is_valid(const char *s, size_t len)
{
	return is_lower_hex(s, len) && s[len] == '\0';
}

static bool commit_is_valid(const char *commit)
{
	return commit && hex_field_is_valid(commit, COMMIT_HEX);
}

static bool root_is_valid(const char *root)
{
	return root && root[0] != '\0';
}

static int repo_dir_path(const char *root, const char *top,
			 const struct repo_key *k, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s/%s/%s/%s", root, top, k->type,
			 k->org, k->name);

	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

int cache_repo_dir(const char *root, const char *top, const char *repo,
		   char *out, size_t size)
{
	struct repo_key k;

	if (!root_is_valid(root) || repo_key_parse(repo, &k) < 0)
		return -EINVAL;
	return repo_dir_path(root, top, &k, out, size);
}

static int file_path(const char *dir, const char *stem, const char *suffix,
		     char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s%s", dir, stem, suffix);

	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

static bool is_raw_rev_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Encode @revision as a file-name stem into @out (REF_NAME_MAX + 1 bytes). */
static int ref_stem_encode(const char *revision, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (const char *p = revision; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (is_raw_rev_char(c)) {
			if (n + 1 > REF_NAME_MAX)
				return -ENAMETOOLONG;
			out[n++] = (char)c;
		} else {
			if (n + 3 > REF_NAME_MAX)
				return -ENAMETOOLONG;
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 0xf];
		}
	}
	out[n] = '\0';
	return 0;
}

static int upper_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The revision that file @name stands for, into @out
 * (CACHE_REVISION_MAX + 1 bytes). False unless @name is exactly what
 * ref_stem_encode() makes of a valid revision, plus ".ref".
 */
static bool ref_name_decode(const char *name, char *out)
{
	size_t len = strlen(name), stem, n = 0;

	if (len <= strlen(REF_SUFFIX) ||
	    strcmp(name + len - strlen(REF_SUFFIX), REF_SUFFIX) != 0)
		return false;
	stem = len - strlen(REF_SUFFIX);
	if (stem > REF_NAME_MAX)
		return false;
	for (size_t i = 0; i < stem;) {
		unsigned char c = (unsigned char)name[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= stem)
				return false;
			hi = upper_hex_value(name[i + 1]);
			lo = upper_hex_value(name[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			c = (unsigned char)(hi * 16 + lo);
			/* Another spelling of the same revision is not ours. */
			if (c == '\0' || is_raw_rev_char(c))
				return false;
			i += 3;
		} else if (is_raw_rev_char(c)) {
			i++;
		} else {
			return false;
		}
		if (n >= CACHE_REVISION_MAX)
			return false;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return cache_revision_is_valid(out);
}

/* The commit a listing file @name is for, if @name is "<commit>.lst". */
static bool listing_name_decode(const char *name, char commit[COMMIT_HEX + 1])
{
	if (strlen(name) != COMMIT_HEX + strlen(LISTING_SUFFIX) ||
	    !is_lower_hex(name, COMMIT_HEX) ||
	    strcmp(name + COMMIT_HEX, LISTING_SUFFIX) != 0)
		return false;
	memcpy(commit, name, COMMIT_HEX);
	commit[COMMIT_HEX] = '\0';
	return true;
}

/* ============================ Files ============================ */

/*
 * Read a whole metadata file of at most @max bytes. What is not a regular
 * file, or is too big, is not something we wrote: -EBADMSG.
 */
static int read_metadata_file(const char *path, size_t max, struct buf *b)
{
	struct stat st;
	int rc;

	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max)
		return -EBADMSG;
	rc = fileio_read_all(path, max, b);
	return rc == -EFBIG ? -EBADMSG : rc;
}

static int write_metadata_file(const char *dir, const char *path, const void *data,
			       size_t len)
{
	int rc = -ENOENT;

	/*
	 * A concurrent forget may remove the directory once it is empty,
	 * between fileio_mkdirs() and the rename: create it again and retry.
	 */
	for (int i = 0; i < WRITE_TRIES && rc == -ENOENT; i++) {
		rc = fileio_mkdirs(dir, 0755);
		if (rc == 0)
			rc = fileio_write_atomic(path, data, len, 0644, false);
	}
	return rc;
}

/* ============================ Line parsing ============================ */

struct cursor {
	const char *p;
	const char *end;
};

/* The next line, without its '\n'. False at the end or without a '\n'. */
static bool next_line(struct cursor *c, const char **line, size_t *len)
{
	const char *nl;

	if (c->p >= c->end)
		return false;
	nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
	if (!nl)
		return false;
	*line = c->p;
	*len = (size_t)(nl - c->p);
	c->p = nl + 1;
	return true;
}

static bool line_equals(const char *line, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(line, want, len) == 0;
}

/* Is the line "@key @value"? */
static bool line_is_field(const char *line, size_t len, const char *key,
			  const char *value)
{
	size_t kl = strlen(key), vl = strlen(value);

	return len == kl + 1 + vl && memcmp(line, key, kl) == 0 &&
	       line[kl] == ' ' && memcmp(line + kl + 1, value, vl) == 0;
}

/* The value of line "@key <value>", or NULL. */
static const char *field_value(const char *line, size_t len, const char *key,
			       size_t *value_len)
{
	size_t kl = strlen(key);

	if (len <= kl + 1 || memcmp(line, key, kl) != 0 || line[kl] != ' ')
		return NULL;
	*value_len = len - kl - 1;
	return line + kl + 1;
}

/* Canonical decimal (digits only, no leading zero) of @len bytes, <= @max. */
static bool parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		uint64_t d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (uint64_t)(s[i] - '0');
		if (v > max / 10)
			return false;
		v *= 10;
		if (d > max - v)
			return false;
		v += d;
	}
	*out = v;
	return true;
}

/* ============================ Listings ============================ */

static bool entry_is_valid(const struct cache_file_entry *e)
{
	if (!e->path || path_validate_repo_path(e->path) != 0)
		return false;
	if (!hex_field_is_valid(e->oid, COMMIT_HEX) || e->size > INT64_MAX)
		return false;
	if (e->is_dir && (e->size != 0 || e->is_lfs))
		return false;
	if (e->is_lfs)
		return hex_field_is_valid(e->lfs_sha256, DIGEST_SHA256_HEX_LEN);
	return e->lfs_sha256[0] == '\0';
}

/*
 * One entry line into @e; the path is copied into @path_buf
 * (PATH_REPO_MAX + 1 bytes), which @e->path then points to.
 */
static int parse_entry(const char *line, size_t len,
		       struct cache_file_entry *e, char *path_buf)
{
	const char *p = line, *end = line + len, *sp;
	size_t path_len;

	memset(e, 0, sizeof(*e));
	if (len < 2 || (p[0] != 'F' && p[0] != 'D') || p[1] != ' ')
		return -EBADMSG;
	e->is_dir = p[0] == 'D';
	p += 2;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (!sp || !parse_u64(p, (size_t)(sp - p), INT64_MAX, &e->size))
		return -EBADMSG;
	p = sp + 1;
	if (end - p < COMMIT_HEX + 1 || !is_lower_hex(p, COMMIT_HEX) ||
	    p[COMMIT_HEX] != ' ')
		return -EBADMSG;
	memcpy(e->oid, p, COMMIT_HEX);
	p += COMMIT_HEX + 1;
	if (end - p >= 2 && p[0] == '-' && p[1] == ' ') {
		p += 2;
	} else if (end - p >= DIGEST_SHA256_HEX_LEN + 1 &&
		   is_lower_hex(p, DIGEST_SHA256_HEX_LEN) &&
		   p[DIGEST_SHA256_HEX_LEN] == ' ') {
		e->is_lfs = true;
		memcpy(e->lfs_sha256, p, DIGEST_SHA256_HEX_LEN);
		p += DIGEST_SHA256_HEX_LEN + 1;
	} else {
		return -EBADMSG;
	}
	if (e->is_dir && (e->size != 0 || e->is_lfs))
		return -EBADMSG;
	path_len = (size_t)(end - p);
	/* An embedded NUL would make the C string lie about its length. */
	if (path_len == 0 || path_len > PATH_REPO_MAX ||
	    memchr(p, '\0', path_len))
		return -EBADMSG;
	memcpy(path_buf, p, path_len);
	path_buf[path_len] = '\0';
	if (path_validate_repo_path(path_buf) != 0)
		return -EBADMSG;
	e->path = path_buf;
	return 0;
}

/*
 * Check a listing file's bytes and, when @fn is given, hand out its
 * entries. Called first without @fn, so that a corrupt file is refused
 * before any entry of it reaches a caller.
 */
int cache_listing_parse(const char *data, size_t len, const char *repo,
			const char *commit, cache_entry_fn fn, void *ctx)
{
	char hex[DIGEST_HEX_MAX];
	char path_buf[PATH_REPO_MAX + 1];
	struct cache_file_entry e;
	struct cursor c;
	const char *line, *value;
	size_t line_len, value_len, body;
	uint64_t count;
	int rc;

	/* The last line carries the sha256 of everything before it. */
	if (len <= END_LINE_LEN)
		return -EBADMSG;
	body = len - END_LINE_LEN;
	if (data[body - 1] != '\n' ||
	    memcmp(data + body, END_PREFIX, TRAILER_PREFIX_LEN) != 0 ||
	    !is_lower_hex(data + body + TRAILER_PREFIX_LEN, DIGEST_SHA256_HEX_LEN) ||
	    data[len - 1] != '\n')
		return -EBADMSG;
	rc = digest_hex(DIGEST_SHA256, data, body, hex);
	if (rc < 0)
		return rc;
	if (memcmp(hex, data + body + TRAILER_PREFIX_LEN, DIGEST_SHA256_HEX_LEN) != 0)
		return -EBADMSG;

	c.p = data;
	c.end = data + body;
	if (!next_line(&c, &line, &line_len) ||
	    !line_equals(line, line_len, LISTING_MAGIC))
		return -EBADMSG;
	if (!next_line(&c, &line, &line_len) ||
	    !line_is_field(line, line_len, "repo", repo))
		return -EBADMSG;
	if (!next_line(&c, &line, &line_len) ||
	    !line_is_field(line, line_len, "commit", commit))
		return -EBADMSG;
	if (!next_line(&c, &line, &line_len))
		return -EBADMSG;
	value = field_value(line, line_len, "count", &value_len);
	if (!value ||
	    !parse_u64(value, value_len, CACHE_LISTING_MAX_ENTRIES, &count))
		return -EBADMSG;

	for (uint64_t i = 0; i < count; i++) {
		if (!next_line(&c, &line, &line_len))
			return -EBADMSG;
		rc = parse_entry(line, line_len, &e, path_buf);
		if (rc < 0)
			return rc;
		if (fn) {
			rc = fn(ctx, &e);
			if (rc != 0)
				return rc;
		}
	}
	/* More lines than the count said. */
	return c.p == c.end ? 0 : -EBADMSG;
}

/*
 * Read and validate the listing at @path into @b. A corrupt file is
 * removed. Returns 0, -ENOENT, -EBADMSG or -errno.
 */
static int read_listing(const char *path, const char *repo, const char *commit,
			struct buf *b)
{
	int rc = read_metadata_file(path, CACHE_LISTING_MAX_BYTES, b);

	if (rc == 0)
		rc = cache_listing_parse(buf_cstr(b), b->len, repo, commit,
					 NULL, NULL);
	if (rc == -EBADMSG)
		unlink(path);
	return rc;
}

static int format_listing(struct buf *b, const char *repo, const char *commit,
			  const struct cache_file_entry *entries, size_t n)
{
	char hex[DIGEST_HEX_MAX];
	int rc;

	rc = buf_printf(b, LISTING_MAGIC "\nrepo %s\ncommit %s\ncount %zu\n",
			repo, commit, n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct cache_file_entry *e = &entries[i];

		rc = buf_printf(b, "%c %" PRIu64 " %s %s %s\n",
				e->is_dir ? 'D' : 'F', e->size, e->oid,
				e->is_lfs ? e->lfs_sha256 : "-", e->path);
	}
	if (rc == 0)
		rc = digest_hex(DIGEST_SHA256, buf_cstr(b), b->len, hex);
	if (rc == 0)
		rc = buf_printf(b, END_PREFIX "%s\n", hex);
	return rc;
}

/*
 * The listing file of @repo at @commit, and its folder, each of PATH_MAX
 * bytes; -EINVAL when a name is not valid.
 */
static int listing_file_path(const char *root, const char *repo, const char *commit,
			     char *dir, char *path)
{
	struct repo_key k;
	int rc;

	if (!root_is_valid(root) || repo_key_parse(repo, &k) < 0 ||
	    !commit_is_valid(commit))
		return -EINVAL;
	rc = repo_dir_path(root, LISTINGS_DIR, &k, dir, PATH_MAX);
	if (rc == 0)
		rc = file_path(dir, commit, LISTING_SUFFIX, path, PATH_MAX);
	return rc;
}

int cache_listing_store(const char *root, const char *repo, const char *commit,
			const struct cache_file_entry *entries, size_t n)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct buf b;
	int rc;

	if (n > 0 && !entries)
		return -EINVAL;
	rc = listing_file_path(root, repo, commit, dir, path);
	if (rc < 0)
		return rc;
	if (n > CACHE_LISTING_MAX_ENTRIES)
		return -EFBIG;
	for (size_t i = 0; i < n; i++) {
		if (!entry_is_valid(&entries[i]))
			return -EINVAL;
	}

	buf_init(&b, CACHE_LISTING_MAX_BYTES);
	/* A listing never changes: keep a good one, replace a corrupt one. */
	rc = read_listing(path, repo, commit, &b);
	if (rc == -ENOENT || rc == -EBADMSG) {
		buf_reset(&b);
		rc = format_listing(&b, repo, commit, entries, n);
		if (rc == 0)
			rc = write_metadata_file(dir, path, buf_cstr(&b), b.len);
	}
	buf_release(&b);
	return rc;
}

int cache_listing_load(const char *root, const char *repo, const char *commit,
		       cache_entry_fn fn, void *ctx)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct buf b;
	int rc;

	if (!fn)
		return -EINVAL;
	rc = listing_file_path(root, repo, commit, dir, path);
	if (rc < 0)
		return rc;

	buf_init(&b, CACHE_LISTING_MAX_BYTES);
	rc = read_listing(path, repo, commit, &b);
	/* The bytes are known good now; only @fn can stop the second pass. */
	if (rc == 0)
		rc = cache_listing_parse(buf_cstr(&b), b.len, repo, commit, fn, ctx);
	buf_release(&b);
	return rc;
}

/* ============================ Refs ============================ */

static int ref_file_path(const char *root, const struct repo_key *k,
			 const char *revision, char *dir, char *path,
			 size_t size)
{
	char stem[REF_NAME_MAX + 1];
	int rc;

	rc = ref_stem_encode(revision, stem);
	if (rc == 0)
		rc = repo_dir_path(root, REFS_DIR, k, dir, size);
	if (rc == 0)
		rc = file_path(dir, stem, REF_SUFFIX, path, size);
	return rc;
}

int cache_ref_parse(const char *data, size_t len, char commit[41],
		    int64_t *resolved_at)
{
	struct cursor c;
	const char *line, *value;
	size_t line_len, value_len, body;
	uint64_t at;

	if (!crc32c_line_check(data, len))
		return -EBADMSG;
	body = len - CRC32C_LINE_LEN;

	c.p = data;
	c.end = data + body;
	if (!next_line(&c, &line, &line_len) ||
	    !line_equals(line, line_len, REF_MAGIC))
		return -EBADMSG;
	if (!next_line(&c, &line, &line_len))
		return -EBADMSG;
	value = field_value(line, line_len, "commit", &value_len);
	if (!value || value_len != COMMIT_HEX ||
	    !is_lower_hex(value, COMMIT_HEX))
		return -EBADMSG;
	memcpy(commit, value, COMMIT_HEX);
	commit[COMMIT_HEX] = '\0';
	if (!next_line(&c, &line, &line_len))
		return -EBADMSG;
	value = field_value(line, line_len, "resolved", &value_len);
	if (!value || !parse_u64(value, value_len, INT64_MAX, &at) ||
	    c.p != c.end)
		return -EBADMSG;
	*resolved_at = (int64_t)at;
	return 0;
}

/* Read the ref at @path. A corrupt file is removed. */
static int read_ref(const char *path, char commit[41], int64_t *resolved_at)
{
	char found[COMMIT_HEX + 1] = "";
	int64_t at = 0;
	struct buf b;
	int rc;

	buf_init(&b, REF_MAX_BYTES);
	rc = read_metadata_file(path, REF_MAX_BYTES, &b);
	if (rc == 0)
		rc = cache_ref_parse(buf_cstr(&b), b.len, found, &at);
	if (rc == -EBADMSG)
		unlink(path);
	buf_release(&b);
	if (rc < 0)
		return rc;
	memcpy(commit, found, sizeof(found));
	if (resolved_at)
		*resolved_at = at;
	return 0;
}

int cache_ref_store(const char *root, const char *repo, const char *revision,
		    const char *commit, int64_t resolved_at)
{
	char dir[PATH_MAX], path[PATH_MAX];
	char text[REF_MAX_BYTES];
	struct repo_key k;
	size_t len;
	int rc, n;

	if (!root_is_valid(root) || repo_key_parse(repo, &k) < 0 ||
	    !cache_revision_is_valid(revision) || !commit_is_valid(commit) ||
	    resolved_at < 0)
		return -EINVAL;
	rc = ref_file_path(root, &k, revision, dir, path, sizeof(path));
	if (rc < 0)
		return rc;
	n = snprintf(text, sizeof(text),
		     REF_MAGIC "\ncommit %s\nresolved %" PRId64 "\n", commit,
		     resolved_at);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -EINVAL;
	len = crc32c_line_append(text, (size_t)n, sizeof(text));
	if (!len)
		return -EINVAL;
	return write_metadata_file(dir, path, text, len);
}

int cache_ref_load(const char *root, const char *repo, const char *revision,
		   char commit[41], int64_t *resolved_at)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct repo_key k;
	int rc;

	if (!root_is_valid(root) || repo_key_parse(repo, &k) < 0 ||
	    !cache_revision_is_valid(revision) || !commit)
		return -EINVAL;
	rc = ref_file_path(root, &k, revision, dir, path, sizeof(path));
	if (rc < 0)
		return rc;
	return read_ref(path, commit, resolved_at);
}

/* ============================ Walks ============================ */

struct names {
	char **v;
	size_t n;
	size_t alloc;
};

static void names_release(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	ns->v = NULL;
	ns->n = 0;
	ns->alloc = 0;
}

static int cmp_names(const void *a_, const void *b_)
{
	const char *const *a = a_;
	const char *const *b = b_;

	return strcmp(*a, *b);
}

/*
 * The names in directory @dirfd, sorted, without "." and "..". The list
 * is taken before any callback runs, so callbacks may remove files.
 */
static int list_names(int dirfd, struct names *ns)
{
	DIR *d;
	int fd, rc = 0;

	memset(ns, 0, sizeof(*ns));
	/* A fresh open file description: @dirfd's position stays put. */
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	for (;;) {
		struct dirent *de;
		char *name;

		errno = 0;
		de = readdir(d);
		if (!de) {
			rc = errno ? -errno : 0;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (ns->n == DIR_NAMES_MAX) {
			rc = -EFBIG;
			break;
		}
		if (ns->n == ns->alloc) {
			size_t alloc = ns->alloc ? ns->alloc * 2 : 16;
			char **v = realloc(ns->v, alloc * sizeof(*v));

			if (!v) {
				rc = -ENOMEM;
				break;
			}
			ns->v = v;
			ns->alloc = alloc;
		}
		name = strdup(de->d_name);
		if (!name) {
			rc = -ENOMEM;
			break;
		}
		ns->v[ns->n++] = name;
	}
	closedir(d);
	if (rc < 0)
		names_release(ns);
	else if (ns->n > 1)
		qsort(ns->v, ns->n, sizeof(ns->v[0]), cmp_names);
	return rc;
}

/* Open sub-directory @name of @dirfd without following a symlink. */
static int open_subdir(int dirfd, const char *name)
{
	int fd = openat(dirfd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* Errors that mean "this is not one of our directories": skip it. */
static bool is_junk_error(int rc)
{
	return rc == -ENOENT || rc == -ENOTDIR || rc == -ELOOP;
}

static bool is_regular_file(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode);
}

/* Remove @name if it is a temporary file whose writer is gone. */
static void remove_if_stale(int dirfd, const char *name)
{
	struct stat st;

	if (!fileio_is_stale_tmp(name))
		return;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISDIR(st.st_mode))
		unlinkat(dirfd, name, 0);
}

/*
 * Called for the directory of one repo: @repo is its key, @dir its path
 * and @dirfd an open descriptor of it. Non-zero stops the walk.
 */
typedef int (*leaf_fn)(void *arg, const char *repo, const char *dir,
		       int dirfd);

struct walk {
	const char *root;
	const char *top; /* LISTINGS_DIR or REFS_DIR */
	leaf_fn leaf;
	void *arg;
	const char *parts[3]; /* type, org, name of the directories open */
};

/* Walk level @depth (0 types, 1 orgs, 2 names) of the tree under @dirfd. */
static int walk_level(struct walk *w, int dirfd, int depth)
{
	struct names ns;
	int rc;

	rc = list_names(dirfd, &ns);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < ns.n && rc == 0; i++) {
		const char *name = ns.v[i];
		size_t len = strlen(name);
		char repo[CACHE_REPO_KEY_MAX + 1];
		char dir[PATH_MAX];
		int fd, n;

		if (depth == 0 && !type_is_valid(name, len))
			continue;
		if (depth == 1 && strcmp(name, LEGACY_ORG) != 0 &&
		    !part_is_valid(name, len))
			continue;
		if (depth == 2 && !part_is_valid(name, len))
			continue;
		fd = open_subdir(dirfd, name);
		if (fd < 0) {
			if (!is_junk_error(fd))
				rc = fd;
			continue;
		}
		w->parts[depth] = name;
		if (depth < 2) {
			rc = walk_level(w, fd, depth + 1);
			close(fd);
			continue;
		}
		if (strcmp(w->parts[1], LEGACY_ORG) == 0)
			n = snprintf(repo, sizeof(repo), "%s/%s", w->parts[0],
				     name);
		else
			n = snprintf(repo, sizeof(repo), "%s/%s/%s",
				     w->parts[0], w->parts[1], name);
		if (n > 0 && (size_t)n < sizeof(repo) &&
		    cache_repo_key_is_valid(repo)) {
			n = snprintf(dir, sizeof(dir), "%s/%s/%s/%s/%s",
				     w->root, w->top, w->parts[0], w->parts[1],
				     name);
			if (n > 0 && (size_t)n < sizeof(dir))
				rc = w->leaf(w->arg, repo, dir, fd);
			else
				rc = -ENAMETOOLONG;
		}
		close(fd);
	}
	names_release(&ns);
	return rc;
}

/*
 * Open @root/@top/@parts[0]/.../@parts[@n - 1] into *@fd: the root itself
 * may well be a symlink (~/.cache); below it no link is followed, not
 * @top either. 0, 1 when one of them does not exist (nothing stored
 * there), or -errno.
 */
static int open_parts(const char *root, const char *top, const char *const *parts, int n,
		      int *fd)
{
	*fd = fileio_open_beneath(root, top, O_RDONLY | O_DIRECTORY);
	for (int depth = 0; depth < n && *fd >= 0; depth++) {
		int sub = open_subdir(*fd, parts[depth]);

		close(*fd);
		*fd = sub;
	}
	if (*fd < 0)
		return is_junk_error(*fd) ? 1 : *fd;
	return 0;
}

/*
 * Call @leaf for the directory of @repo under @top, or for that of every
 * repo when @repo is NULL. Directories that do not exist are no error.
 */
static int walk_repos(const char *root, const char *top, const char *repo,
		      leaf_fn leaf, void *arg)
{
	struct walk w = { .root = root, .top = top, .leaf = leaf, .arg = arg };
	char path[PATH_MAX];
	struct repo_key k;
	int fd, rc;

	if (!repo) {
		rc = open_parts(root, top, NULL, 0, &fd);
		if (rc != 0)
			return rc < 0 ? rc : 0; /* nothing stored */
		rc = walk_level(&w, fd, 0);
		close(fd);
		return rc;
	}
	rc = repo_key_parse(repo, &k);
	if (rc == 0)
		rc = repo_dir_path(root, top, &k, path, sizeof(path));
	if (rc == 0)
		rc = open_parts(root, top, (const char *const[]){ k.type, k.org, k.name }, 3, &fd);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	rc = leaf(arg, repo, path, fd);
	close(fd);
	return rc;
}

struct listings_each_ctx {
	cache_listing_fn fn;
	void *ctx;
};

static int listings_leaf(void *arg_, const char *repo, const char *dir,
			 int dirfd)
{
	struct listings_each_ctx *arg = arg_;
	char commit[COMMIT_HEX + 1];
	struct names ns;
	int rc;

	(void)dir;
	rc = list_names(dirfd, &ns);
	for (size_t i = 0; i < ns.n && rc == 0; i++) {
		if (listing_name_decode(ns.v[i], commit)) {
			if (is_regular_file(dirfd, ns.v[i]))
				rc = arg->fn(arg->ctx, repo, commit);
		} else {
			remove_if_stale(dirfd, ns.v[i]);
		}
	}
	names_release(&ns);
	return rc;
}

int cache_listings_each(const char *root, cache_listing_fn fn, void *ctx)
{
	return cache_listings_each_under(root, NULL, NULL, fn, ctx);
}

int cache_listings_each_under(const char *root, const char *type, const char *org,
			      cache_listing_fn fn, void *ctx)
{
	struct listings_each_ctx arg = { .fn = fn, .ctx = ctx };
	struct walk w = { .root = root, .top = LISTINGS_DIR, .leaf = listings_leaf,
			  .arg = &arg, .parts = { type, org } };
	int fd, depth = !type ? 0 : !org ? 1 : 2, rc;

	if (!root_is_valid(root) || !fn || (org && !type))
		return -EINVAL;
	if (type && (!type_is_valid(type, strlen(type)) ||
		     (org && strcmp(org, LEGACY_ORG) != 0 && !part_is_valid(org, strlen(org)))))
		return 0; /* no such directory is ours */
	/* Down to the folder asked for; then the walk from there. */
	rc = open_parts(root, LISTINGS_DIR, w.parts, depth, &fd);
	if (rc != 0)
		return rc < 0 ? rc : 0; /* nothing stored */
	rc = walk_level(&w, fd, depth);
	close(fd);
	return rc;
}

struct refs_each_ctx {
	cache_ref_fn fn;
	void *ctx;
};

static int refs_leaf(void *arg_, const char *repo, const char *dir, int dirfd)
{
	struct refs_each_ctx *arg = arg_;
	char revision[CACHE_REVISION_MAX + 1];
	char commit[COMMIT_HEX + 1];
	char path[PATH_MAX];
	struct names ns;
	int64_t at;
	int rc;

	rc = list_names(dirfd, &ns);
	for (size_t i = 0; i < ns.n && rc == 0; i++) {
		if (!ref_name_decode(ns.v[i], revision)) {
			remove_if_stale(dirfd, ns.v[i]);
			continue;
		}
		rc = file_path(dir, ns.v[i], "", path, sizeof(path));
		if (rc == 0)
			rc = read_ref(path, commit, &at);
		/* Corrupt (and now removed), or forgotten meanwhile. */
		if (rc == -EBADMSG || rc == -ENOENT) {
			rc = 0;
			continue;
		}
		if (rc == 0)
			rc = arg->fn(arg->ctx, repo, revision, commit, at);
	}
	names_release(&ns);
	return rc;
}

int cache_refs_each(const char *root, const char *repo, cache_ref_fn fn,
		    void *ctx)
{
	struct refs_each_ctx arg = { .fn = fn, .ctx = ctx };

	if (!root_is_valid(root) || !fn ||
	    (repo && !cache_repo_key_is_valid(repo)))
		return -EINVAL;
	return walk_repos(root, REFS_DIR, repo, refs_leaf, &arg);
}

/* ============================ Forgetting ============================ */

/* Remove the repo's directories once empty; a non-empty one stays. */
static void prune_repo_dirs(const char *root, const struct repo_key *k)
{
	static const char *const tops[] = { LISTINGS_DIR, REFS_DIR, COMMITS_DIR };
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
		if (repo_dir_path(root, tops[i], k, path, sizeof(path)) < 0)
			continue;
		rmdir(path);
		*strrchr(path, '/') = '\0';
		rmdir(path);
	}
}

static int points_to(void *ctx, const char *repo, const char *revision,
		     const char *commit, int64_t resolved_at)
{
	(void)repo;
	(void)revision;
	(void)resolved_at;
	return strcmp(commit, ctx) == 0 ? 1 : 0;
}

struct forget_ctx {
	bool refs;      /* the refs directory, else the listings one */
	size_t removed; /* files of ours removed */
};

static int forget_leaf(void *arg_, const char *repo, const char *dir,
		       int dirfd)
{
	struct forget_ctx *arg = arg_;
	char revision[CACHE_REVISION_MAX + 1];
	char commit[COMMIT_HEX + 1];
	struct names ns;
	int rc;

	(void)repo;
	(void)dir;
	rc = list_names(dirfd, &ns);
	for (size_t i = 0; i < ns.n && rc == 0; i++) {
		bool ours = arg->refs ? ref_name_decode(ns.v[i], revision) :
					listing_name_decode(ns.v[i], commit);

		if (!ours) {
			remove_if_stale(dirfd, ns.v[i]);
			continue;
		}
		if (unlinkat(dirfd, ns.v[i], 0) == 0)
			arg->removed++;
		else if (errno != ENOENT && errno != EISDIR && errno != EPERM)
			rc = -errno;
	}
	names_release(&ns);
	return rc;
}

static int forget_revision(const char *root, const char *repo,
			   const struct repo_key *k, const char *revision)
{
	char dir[PATH_MAX], path[PATH_MAX];
	char commit[COMMIT_HEX + 1];
	int rc;

	rc = ref_file_path(root, k, revision, dir, path, sizeof(path));
	if (rc == 0)
		rc = read_ref(path, commit, NULL);
	if (rc == -EBADMSG)
		return 0; /* read_ref() removed it; its commit is unknown */
	if (rc == -ENOENT && commit_is_valid(revision)) {
		/* No ref of that name: the commit itself (REPO@<sha>). */
		memcpy(commit, revision, sizeof(commit));
	} else if (rc < 0) {
		return rc;
	} else if (unlink(path) < 0 && errno != ENOENT) {
		return -errno;
	}

	/* Keep the listing while another ref of the repo points at it. */
	rc = walk_repos(root, REFS_DIR, repo, refs_leaf,
			&(struct refs_each_ctx){ .fn = points_to,
						 .ctx = commit });
	if (rc < 0)
		return rc;
	if (rc == 0) {
		rc = repo_dir_path(root, LISTINGS_DIR, k, dir, sizeof(dir));
		if (rc == 0)
			rc = file_path(dir, commit, LISTING_SUFFIX, path,
				       sizeof(path));
		if (rc < 0)
			return rc;
		/* Nothing at all under a commit named by itself: -ENOENT. */
		if (unlink(path) < 0 && (errno != ENOENT || strcmp(commit, revision) == 0))
			return -errno;
		/* The commit's date goes with its listing. */
		if (repo_dir_path(root, COMMITS_DIR, k, dir, sizeof(dir)) == 0 &&
		    file_path(dir, commit, "", path, sizeof(path)) == 0)
			unlink(path);
	}
	return 0;
}

/* Every commit date of a repo (cache/commit.c's files: named by commit). */
static void forget_commit_dates(const char *root, const struct repo_key *k)
{
	char rel[PATH_MAX];
	struct names ns;
	int dirfd, n;

	/* No link followed on the way: every name in it goes. */
	n = snprintf(rel, sizeof(rel), "%s/%s/%s/%s", COMMITS_DIR, k->type, k->org, k->name);
	if (n < 0 || (size_t)n >= sizeof(rel))
		return;
	dirfd = fileio_open_beneath(root, rel, O_RDONLY | O_DIRECTORY);
	if (dirfd < 0)
		return;
	if (list_names(dirfd, &ns) == 0) {
		for (size_t i = 0; i < ns.n; i++)
			unlinkat(dirfd, ns.v[i], 0);
		names_release(&ns);
	}
	close(dirfd);
}

int cache_repo_forget(const char *root, const char *repo, const char *revision)
{
	struct forget_ctx refs = { .refs = true };
	struct forget_ctx listings = { .refs = false };
	struct repo_key k;
	int rc;

	if (!root_is_valid(root) || repo_key_parse(repo, &k) < 0 ||
	    (revision && !cache_revision_is_valid(revision)))
		return -EINVAL;
	if (revision) {
		rc = forget_revision(root, repo, &k, revision);
	} else {
		rc = walk_repos(root, REFS_DIR, repo, forget_leaf, &refs);
		if (rc == 0)
			rc = walk_repos(root, LISTINGS_DIR, repo, forget_leaf,
					&listings);
		if (rc == 0)
			forget_commit_dates(root, &k);
		if (rc == 0 && refs.removed + listings.removed == 0)
			rc = -ENOENT;
	}
	if (rc != -EINVAL && rc != -ENAMETOOLONG)
		prune_repo_dirs(root, &k);
	return rc;
}
