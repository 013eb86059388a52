/* SPDX-License-Identifier: MIT */
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ssize_t fileio_pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* write() until done or, at @off >= 0, pwrite() from @off. 0 or -errno. */
static int write_all(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		const char *p = (const char *)buf + done;
		ssize_t n = off < 0 ? write(fd, p, len - done) :
				      pwrite(fd, p, len - done, off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

int fileio_write_full(int fd, const void *buf, size_t len)
{
	return write_all(fd, buf, len, -1);
}

int fileio_pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	return off < 0 ? -EINVAL : write_all(fd, buf, len, off);
}

/*
 * "<path>.tmp.<pid>.<counter>": unique per process and call, and the pid
 * lets a later process tell whether the writer is gone.
 */
int fileio_tmp_name(const char *path, char *out, size_t size)
{
	static atomic_uint counter;
	int n = snprintf(out, size, "%s.tmp.%ld.%u", path, (long)getpid(),
			 atomic_fetch_add(&counter, 1));

	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

/* Is process @pid (1..INT_MAX) gone, and not this one? */
static bool pid_is_gone(long pid)
{
	return pid != (long)getpid() && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

bool fileio_is_stale_tmp(const char *name)
{
	const char *p = NULL;
	char *end;
	long pid;

	/* The last ".tmp.": the target's own name may contain one too. */
	for (const char *q = strstr(name, ".tmp."); q; q = strstr(q + 1, ".tmp."))
		p = q;
	if (!p)
		return false;
	pid = strtol(p + 5, &end, 10);
	if (end == p + 5 || *end != '.' || pid <= 0 || pid > INT_MAX)
		return true; /* not ours in form: junk */
	return pid_is_gone(pid);
}

/* Digits (at most @max) ending just before @end, from @start on: their first, or NULL. */
static const char *digits_before(const char *start, const char *end, size_t max)
{
	const char *p = end;

	while (p > start && (size_t)(end - p) < max && p[-1] >= '0' && p[-1] <= '9')
		p--;
	return p < end && (p == start || p[-1] < '0' || p[-1] > '9') ? p : NULL;
}

bool fileio_is_stale_tmp_of_shape(const char *name, size_t *target_len)
{
	const char *end = name + strlen(name), *n, *pid;
	long v;

	n = digits_before(name, end, 10);
	if (!n || n == name || n[-1] != '.')
		return false;
	pid = digits_before(name, n - 1, 10);
	if (!pid || (size_t)(pid - name) < 6 || memcmp(pid - 5, ".tmp.", 5) != 0)
		return false;
	v = strtol(pid, NULL, 10);
	if (v <= 0 || v > INT_MAX)
		return false;
	*target_len = (size_t)(pid - 5 - name);
	return pid_is_gone(v);
}

int fileio_atomic_open(struct fileio_atomic *af, const char *path, int mode, bool sync)
{
	size_t len = strlen(path);
	int rc;

	af->fd = -1;
	af->sync = sync;
	af->tmp[0] = '\0';
	if (len >= sizeof(af->path))
		return -ENAMETOOLONG;
	memcpy(af->path, path, len + 1);
	rc = fileio_tmp_name(path, af->tmp, sizeof(af->tmp));
	if (rc < 0) {
		af->tmp[0] = '\0';
		return rc;
	}
	af->fd = open(af->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (af->fd < 0) {
		af->tmp[0] = '\0';
		return -errno;
	}
	return 0;
}

int fileio_atomic_close(struct fileio_atomic *af)
{
	int rc = 0;

	if (af->fd < 0)
		return af->tmp[0] ? 0 : -EBADF;
	if (af->sync && fsync(af->fd) < 0)
		rc = -errno;
	if (close(af->fd) < 0 && rc == 0)
		rc = -errno;
	af->fd = -1;
	if (rc < 0)
		fileio_atomic_rollback(af);
	return rc;
}

int fileio_atomic_commit(struct fileio_atomic *af)
{
	int rc = fileio_atomic_close(af);

	if (rc == 0 && rename(af->tmp, af->path) < 0) {
		rc = -errno;
		fileio_atomic_rollback(af);
	}
	af->tmp[0] = '\0';
	return rc;
}

int fileio_atomic_commit_new(struct fileio_atomic *af)
{
	int rc = fileio_atomic_close(af);

	if (rc < 0)
		return rc;
	if (link(af->tmp, af->path) < 0)
		return -errno; /* -EEXIST included: the temporary file stays */
	fileio_atomic_rollback(af); /* the file now lives under its final name */
	return 0;
}

void fileio_atomic_rollback(struct fileio_atomic *af)
{
	if (af->fd >= 0) {
		close(af->fd);
		af->fd = -1;
	}
	if (af->tmp[0]) {
		unlink(af->tmp);
		af->tmp[0] = '\0';
	}
}

int fileio_write_atomic(const char *path, const void *data, size_t len,
			int mode, bool sync)
{
	struct fileio_atomic af;
	int rc = fileio_atomic_open(&af, path, mode, sync);

	if (rc < 0)
		return rc;
	rc = fileio_write_full(af.fd, data, len);
	if (rc < 0) {
		fileio_atomic_rollback(&af);
		return rc;
	}
	return fileio_atomic_commit(&af);
}

int fileio_symlink_atomic(const char *target, const char *path)
{
	char tmp[PATH_MAX];
	int rc = fileio_tmp_name(path, tmp, sizeof(tmp));

	if (rc < 0)
		return rc;
	if (symlink(target, tmp) < 0)
		return -errno;
	if (rename(tmp, path) < 0) {
		rc = -errno;
		unlink(tmp);
	}
	return rc;
}

int fileio_open_untrusted(const char *path)
{
	struct stat st;
	int rc, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0)
		return errno == ELOOP ? -EBADMSG : -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EBADMSG;
	else
		return fd;
	close(fd);
	return rc;
}

int fileio_read_all(const char *path, size_t max_len, struct buf *out)
{
	char chunk[65536];
	int fd = fileio_open_untrusted(path), rc = 0;

	if (fd < 0)
		return fd;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		if ((size_t)n > max_len - out->len) {
			rc = -EFBIG;
			break;
		}
		rc = buf_append(out, chunk, (size_t)n);
		if (rc < 0)
			break;
	}
	close(fd);
	return rc;
}

/*
 * fileio_open_beneath(), and fileio_mkdirs_beneath() when @mode >= 0:
 * every component of @rel made a directory (mkdirat) before it is opened.
 */
static int walk_beneath(const char *root, const char *rel, int flags, int mode)
{
	char part[NAME_MAX + 1];
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (const char *p = rel;;) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		struct stat st;
		int next;

		if (len == 0 || len > NAME_MAX || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.')) {
			close(fd);
			return -EINVAL;
		}
		memcpy(part, p, len);
		part[len] = '\0';
		if (mode >= 0 && mkdirat(fd, part, (mode_t)mode) < 0 && errno != EEXIST) {
			next = -errno;
			close(fd);
			return next;
		}
		next = end || mode >= 0 ?
			       openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) :
			       openat(fd, part, flags | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			next = -errno;
			/* O_DIRECTORY says ENOTDIR for a link too: say which. */
			if (next == -ENOTDIR && fstatat(fd, part, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				next = -ELOOP;
		}
		close(fd);
		if (next < 0 || !end)
			return next;
		fd = next;
		p = end + 1;
	}
}

int fileio_open_beneath(const char *root, const char *rel, int flags)
{
	return walk_beneath(root, rel, flags, -1);
}

int fileio_mkdirs_beneath(const char *root, const char *rel, int mode)
{
	int fd;

	if (!*rel)
		return 0;
	fd = walk_beneath(root, rel, 0, mode);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int fileio_mkdirs(const char *path, int mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, (mode_t)mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, (mode_t)mode) < 0) {
		struct stat st;

		if (errno != EEXIST)
			return -errno;
		/* Something is there: it must be a directory. */
		if (stat(tmp, &st) < 0)
			return -errno;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
	}
	return 0;
}
