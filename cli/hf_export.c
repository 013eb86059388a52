/* SPDX-License-Identifier: MIT */
/*
 * Write verified files into huggingface_hub's cache, in its own layout
 * (../shared/docs/hub-api.md §7), so that the library and everything built
 * on it (transformers' from_pretrained, datasets) find them with no
 * network at all:
 *
 *   HF_HUB_CACHE/{models,datasets,spaces}--ORG--NAME/
 *     blobs/<etag>                    the content: sha256 (LFS) or git blob sha1
 *     refs/<revision>                 the commit it resolved to (no newline)
 *     snapshots/<commit>/<path>       a relative symlink to ../../blobs/<etag>
 *
 * Every byte written comes from the verified cache (cache_read() of an
 * object that cache_fill() verified), through a temporary file renamed
 * into place; a blob already there is kept when its bytes hash right.
 * The layout is huggingface_hub's: blobs are copies, since the cache keeps
 * objects as checksummed blocks, not as plain files. Modes are the
 * library's too: 0666 and 0777 less the umask (a cache shared under
 * umask 002 stays writable by the group).
 */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/digest.h"
#include "util/fileio.h"
#include "util/iobuf.h"
#include "util/log.h"

/* ---- what killed runs left ---- */

/*
 * The stale temporary files of one folder, found when this process first
 * wrote there: a file written takes those of its own name away. Each
 * folder is read once: read per file, a folder of 100,000 files would cost
 * 10^10 names. stale_lock guards the tree and every folder in it.
 */
struct stale_dir {
	char *dir;    /* the folder's path: the key */
	char **names; /* stale temporary files in it, not removed yet */
	size_t n;
};

static pthread_mutex_t stale_lock = PTHREAD_MUTEX_INITIALIZER;
static void *stale_dirs; /* tsearch(3) tree of struct stale_dir, by dir */

static int by_dir(const void *a, const void *b)
{
	return strcmp(((const struct stale_dir *)a)->dir, ((const struct stale_dir *)b)->dir);
}

/* Folder @rel below @root, opened without following a link below @root. */
static int open_dir_beneath(const char *root, const char *rel)
{
	int fd = rel[0] ? fileio_open_beneath(root, rel, O_RDONLY | O_DIRECTORY) :
			  open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 && !rel[0] ? -errno : fd;
}

/* Read @d's folder (@root/@rel) for stale temporary files. 0 or -ENOMEM. */
static int find_stale(struct stale_dir *d, const char *root, const char *rel)
{
	int fd = open_dir_beneath(root, rel), rc = 0;
	struct dirent *de;
	DIR *dir;

	/* Missing (made by this run, if at all), a link, unreadable: nothing to take. */
	if (fd < 0)
		return 0;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return 0;
	}
	while (rc == 0 && (de = readdir(dir))) {
		size_t len;
		char **names;

		if (!fileio_is_stale_tmp_of_shape(de->d_name, &len))
			continue;
		names = realloc(d->names, (d->n + 1) * sizeof(*names));
		if (!names || !(names[d->n] = strdup(de->d_name)))
			rc = -ENOMEM;
		if (names)
			d->names = names;
		if (rc == 0)
			d->n++;
	}
	closedir(dir);
	return rc;
}

void cli_remove_stale_tmps(const char *root, const char *rel)
{
	const char *slash = strrchr(rel, '/'), *base = slash ? slash + 1 : rel;
	size_t base_len = strlen(base);
	struct stale_dir key, *d, **found;
	char dir[PATH_MAX], sub[PATH_MAX];

	snprintf(sub, sizeof(sub), "%.*s", slash ? (int)(slash - rel) : 0, rel);
	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", root, sub) >= sizeof(dir))
		return;
	key.dir = dir;
	pthread_mutex_lock(&stale_lock);
	found = tfind(&key, &stale_dirs, by_dir);
	if (!found) {
		d = calloc(1, sizeof(*d));
		if (d && (d->dir = strdup(dir)) && find_stale(d, root, sub) == 0 &&
		    (found = tsearch(d, &stale_dirs, by_dir)) && *found == d) {
			d = NULL;
		} else if (d) {
			/* Out of memory: nothing is removed, and the next file tries again. */
			for (size_t i = 0; i < d->n; i++)
				free(d->names[i]);
			free(d->names);
			free(d->dir);
			free(d);
			found = NULL;
		}
	}
	d = found ? *found : NULL;
	for (size_t i = 0; d && i < d->n;) {
		size_t len;
		int fd;

		/* "<base>.tmp.<pid>.<n>" of a writer still gone; unlinkat() follows no link. */
		if (strncmp(d->names[i], base, base_len) != 0 ||
		    !fileio_is_stale_tmp_of_shape(d->names[i], &len) || len != base_len) {
			i++;
			continue;
		}
		fd = open_dir_beneath(root, sub);
		if (fd >= 0) {
			if (unlinkat(fd, d->names[i], 0) == 0)
				log_info("%s/%s: removed, a temporary file a killed run left", dir,
					 d->names[i]);
			close(fd);
		}
		free(d->names[i]);
		d->names[i] = d->names[--d->n];
	}
	pthread_mutex_unlock(&stale_lock);
}

int cli_copy_object(struct cache *cache, const struct cache_key *key,
		    const struct cache_source *src, const char *path)
{
	struct cache_error cerr = { 0 };
	struct fileio_atomic af;
	uint8_t *buf = NULL;
	uint64_t off = 0;
	int rc;

	/*
	 * Held from the fill to the last read: should the blocks go between
	 * reads (a cap), what comes back is held to the bytes hashed.
	 */
	rc = cache_object_hold(cache, key);
	if (rc < 0)
		return rc;
	/* Not one byte before the whole object has matched its hash. */
	rc = cache_fill(cache, key, src, &cerr);
	buf = rc == 0 ? iobuf_alloc(CACHE_BLOCK_SIZE) : NULL;
	if (rc == 0 && !buf)
		rc = -ENOMEM;
	if (rc < 0) {
		cache_object_release(cache, key);
		return rc;
	}
	/* 0666 less the umask, as huggingface_hub writes both (cli.h). */
	rc = fileio_atomic_open(&af, path, 0666, false); /* no fsync: cli.h says why */
	while (rc == 0 && off < key->size) {
		ssize_t n = cache_read(cache, key, src, buf, CACHE_BLOCK_SIZE, off, &cerr);

		if (n <= 0) {
			rc = n < 0 ? (int)n : -EIO;
			break;
		}
		rc = fileio_write_full(af.fd, buf, (size_t)n);
		off += (uint64_t)n;
	}
	if (rc == 0)
		rc = fileio_atomic_commit(&af);
	else
		fileio_atomic_rollback(&af);
	iobuf_free(buf, CACHE_BLOCK_SIZE);
	cache_object_release(cache, key);
	return rc;
}

bool cli_file_holds(const char *path, const struct cache_key *key)
{
	char hex[DIGEST_HEX_MAX], buf[1 << 16];
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != key->size)
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	rc = digest_hub_fd_hex(fd, key->algo == CACHE_ALGO_SHA256, key->size, buf, sizeof(buf),
			       hex);
	close(fd);
	return rc == 0 && strcmp(hex, key->hash) == 0;
}

/*
 * The blob of @key, copied out of the verified cache unless already there
 * with its bytes: a blob of the right size is hashed first, for a damaged
 * one would be what huggingface_hub loads, offline too.
 */
static int put_blob(struct cache *cache, const struct cache_key *key,
		    const struct cache_source *src, const char *repo_dir, const char *blob)
{
	char rel[80];

	snprintf(rel, sizeof(rel), "blobs/%s", key->hash);
	cli_remove_stale_tmps(repo_dir, rel);
	if (cli_file_holds(blob, key))
		return 0;
	return cli_copy_object(cache, key, src, blob);
}

/* @link (made or replaced atomically) pointing at @target. */
static int put_symlink(const char *target, const char *link)
{
	char have[PATH_MAX];
	ssize_t n = readlink(link, have, sizeof(have) - 1);

	if (n >= 0) {
		have[n] = '\0';
		if (strcmp(have, target) == 0)
			return 0;
	}
	return fileio_symlink_atomic(target, link);
}

int cli_hf_export_file(const char *repo_dir, const struct repo_snapshot *snap,
		       const struct repo_entry *e, struct cache *cache,
		       const struct cache_source *src)
{
	char blob[PATH_MAX], link[PATH_MAX], dir[PATH_MAX], target[PATH_MAX];
	struct cache_key key;
	size_t depth = 0, used;
	const char *slash;
	int rc;

	repo_entry_key(e, &key);
	if (snprintf(dir, sizeof(dir), "%s/blobs", repo_dir) >= (int)sizeof(dir) ||
	    snprintf(blob, sizeof(blob), "%s/%s", dir, key.hash) >= (int)sizeof(blob) ||
	    snprintf(link, sizeof(link), "%s/snapshots/%s/%s", repo_dir, snap->commit,
		     e->path) >= (int)sizeof(link))
		return -ENAMETOOLONG;
	/* Below the repo's folder, no link is followed on the way (fileio_mkdirs_beneath()). */
	rc = fileio_mkdirs(repo_dir, 0777);
	if (rc == 0)
		rc = fileio_mkdirs_beneath(repo_dir, "blobs", 0777);
	if (rc == 0)
		rc = put_blob(cache, &key, src, repo_dir, blob);
	if (rc < 0)
		return rc;
	/* snapshots/<commit>/a/b/f -> ../../../../blobs/<etag> (paths are validated). */
	for (const char *p = e->path; *p; p++)
		depth += *p == '/';
	used = 0;
	for (size_t i = 0; i < depth + 2; i++)
		used += (size_t)snprintf(target + used, sizeof(target) - used, "../");
	if (snprintf(target + used, sizeof(target) - used, "blobs/%s", key.hash) >=
	    (int)(sizeof(target) - used))
		return -ENAMETOOLONG;
	slash = strrchr(e->path, '/');
	if (snprintf(dir, sizeof(dir), "snapshots/%s%s%.*s", snap->commit, slash ? "/" : "",
		     slash ? (int)(slash - e->path) : 0, e->path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	rc = fileio_mkdirs_beneath(repo_dir, dir, 0777);
	if (rc < 0)
		return rc;
	cli_remove_stale_tmps(repo_dir, link + strlen(repo_dir) + 1);
	return put_symlink(target, link);
}

int cli_hf_export_ref(const char *repo_dir, const struct repo_snapshot *snap)
{
	const char *rev = hub_repo_revision(&snap->repo);
	char path[PATH_MAX], dir[PATH_MAX];
	const char *slash;
	int rc;

	/* huggingface_hub keeps no ref for a commit named by its sha. */
	if (strcmp(rev, snap->commit) == 0)
		return 0;
	if (snprintf(path, sizeof(path), "%s/refs/%s", repo_dir, rev) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	/* "refs/pr/1" is refs/refs/pr/1, as the library writes it; never outside. */
	if (strstr(rev, "..") || rev[0] == '/')
		return -EINVAL;
	slash = strrchr(rev, '/');
	snprintf(dir, sizeof(dir), "refs%s%.*s", slash ? "/" : "", slash ? (int)(slash - rev) : 0,
		 rev);
	/*
	 * A commit only remembered (offline, or the Hub unreachable) does not
	 * replace another the ref names: huggingface_hub writes a ref only when
	 * it has just resolved it, so that one may well be newer, and replacing
	 * it rolled an offline from_pretrained() back to the older files.
	 */
	if (snap->from_cache_only) {
		char have[64];
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		ssize_t n = fd >= 0 ? read(fd, have, sizeof(have) - 1) : -1;

		if (fd >= 0)
			close(fd);
		if (n > 0) {
			have[n] = '\0';
			have[strcspn(have, "\n")] = '\0';
			if (strcmp(have, snap->commit) != 0) {
				log_warn("hf cache: %s names %s, not %.12s that the cache remembers "
					 "for '%s': left as it is (the Hub was not asked)",
					 path, have[0] ? have : "nothing", snap->commit, rev);
				return 0;
			}
		}
	}
	rc = fileio_mkdirs(repo_dir, 0777);
	if (rc == 0)
		rc = fileio_mkdirs_beneath(repo_dir, dir, 0777);
	if (rc < 0)
		return rc;
	cli_remove_stale_tmps(repo_dir, path + strlen(repo_dir) + 1);
	return fileio_write_atomic(path, snap->commit, strlen(snap->commit), 0666, false);
}
