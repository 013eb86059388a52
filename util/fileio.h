/* SPDX-License-Identifier: MIT */
/*
 * Small file helpers with the error discipline of the project: every
 * function returns 0 (or a count) or a negative errno, and never leaves a
 * half-written file under its final name. Every file written whole goes
 * through struct fileio_atomic.
 */
#ifndef HUBFS_UTIL_FILEIO_H
#define HUBFS_UTIL_FILEIO_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/buf.h"

/*
 * A file written in full under a temporary name in its final directory,
 * then put in place in one step: git's lockfile API (create, write,
 * commit, rollback), without the lock. Each writer of a path has its own
 * temporary file "<path>.tmp.<pid>.<n>" (fileio_tmp_name()); the last
 * commit wins. A crash leaves the old file or the new one, never a mix,
 * and at worst a temporary file that fileio_is_stale_tmp() tells is
 * stale.
 *
 *	struct fileio_atomic af;
 *	rc = fileio_atomic_open(&af, path, 0644, false);
 *	... write to af.fd (fileio_write_full, fileio_pwrite_full) ...
 *	rc = rc < 0 ? (fileio_atomic_rollback(&af), rc) : fileio_atomic_commit(&af);
 *
 * Every failing call but open rolls back: the temporary file is gone.
 * One owner: af.fd may be written by several threads, but the calls
 * below are not made from two at once.
 */
struct fileio_atomic {
	int fd;              /* the temporary file, open for reading back too; -1 once closed */
	bool sync;           /* fsync it before it is closed */
	char path[PATH_MAX]; /* the final name */
	char tmp[PATH_MAX];  /* the temporary name; "" when there is no such file */
};

/*
 * Create the temporary file for @path with @mode (never an existing
 * file). @sync: fsync it before it goes in place, for a file whose
 * durability is promised. 0 or -errno; on failure nothing exists, and a
 * rollback does nothing.
 */
int fileio_atomic_open(struct fileio_atomic *af, const char *path, int mode, bool sync);

/*
 * Every byte written: fsync (with sync) and close. The complete file
 * stays under af->tmp for a commit. 0 or -errno.
 */
int fileio_atomic_close(struct fileio_atomic *af);

/* Close if still open, then rename over af->path. 0 or -errno. */
int fileio_atomic_commit(struct fileio_atomic *af);

/*
 * Close if still open, then link under af->path, never replacing what
 * is there: -EEXIST then, and the temporary file stays (try again, or
 * roll back). 0 or -errno; on success the temporary name is gone.
 */
int fileio_atomic_commit_new(struct fileio_atomic *af);

/* Give up: close and remove the temporary file. A no-op once it is gone. */
void fileio_atomic_rollback(struct fileio_atomic *af);

/*
 * Write @len bytes to @path atomically with a struct fileio_atomic,
 * optionally fsync'ed. Returns 0 or -errno (-ENOSPC on a full disk).
 */
int fileio_write_atomic(const char *path, const void *data, size_t len,
			int mode, bool sync);

/* Make or replace symlink @path pointing at @target, atomically. 0 or -errno. */
int fileio_symlink_atomic(const char *target, const char *path);

/*
 * Open @path for reading, trusting nothing about it: a symlink is not
 * followed (-EBADMSG), a FIFO does not block, and anything but a regular
 * file is -EBADMSG. An open descriptor or -errno.
 */
int fileio_open_untrusted(const char *path);

/*
 * Read a whole file of at most @max_len bytes into @out. -EFBIG past it.
 * Opened with fileio_open_untrusted(), for files that something else may
 * have tampered with.
 */
int fileio_read_all(const char *path, size_t max_len, struct buf *out);

/* pread/write until done; short only at EOF (pread). Return bytes (pread), 0 or -errno. */
ssize_t fileio_pread_full(int fd, void *buf, size_t len, off_t off);
int fileio_write_full(int fd, const void *buf, size_t len);
int fileio_pwrite_full(int fd, const void *buf, size_t len, off_t off);

/*
 * Open @rel (components joined by '/', none empty, "." or "..") below
 * @root, following no link on the way: @root itself may be one (a cache
 * in ~/.cache on another disk), nothing below it may. @flags are for the
 * last component (O_NOFOLLOW and O_CLOEXEC added); every one before it
 * must be a directory. The fd, or -errno: -ELOOP where a link stands,
 * -ENOTDIR where a file stands on the way, -ENOENT where nothing does.
 */
int fileio_open_beneath(const char *root, const char *rel, int flags);

/*
 * mkdir -p of @rel (as fileio_open_beneath() takes it; "" makes nothing)
 * below the existing directory @root, with @mode for every level made,
 * following no link on the way: a destination that holds a link where a
 * directory of ours goes is refused (-ELOOP), not written through. 0 or
 * -errno (-ENOTDIR: a file stands there).
 */
int fileio_mkdirs_beneath(const char *root, const char *rel, int mode);

/* mkdir -p with @mode for every created level. 0 or -errno. */
int fileio_mkdirs(const char *path, int mode);

/* The temporary name of a struct fileio_atomic for @path, into @out. */
int fileio_tmp_name(const char *path, char *out, size_t size);

/* Is @name a temporary file (".tmp." in it) left by a dead process? */
bool fileio_is_stale_tmp(const char *name);

/*
 * Is @name exactly of fileio_tmp_name()'s shape, "<target>.tmp.<pid>.<n>"
 * (a <target> of one byte or more, pid and n in decimal), and is the
 * process it names gone? The length of <target> into *@target_len. Unlike
 * fileio_is_stale_tmp(), any other name is not one: for the folders of
 * others (a --local-dir, huggingface_hub's cache), where a kill -9 leaves
 * one and nothing else may go.
 */
bool fileio_is_stale_tmp_of_shape(const char *name, size_t *target_len);

#endif /* HUBFS_UTIL_FILEIO_H */
