/* SPDX-License-Identifier: MIT */
/*
 * Small file helpers with the error discipline of the project: every
 * function returns 0 (or a count) or a negative errno, and never leaves a
 * half-written file under its final name.
 */
#ifndef HUBFS_UTIL_FILEIO_H
#define HUBFS_UTIL_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/buf.h"

/*
 * Write @len bytes to @path atomically: a temporary file in the same
 * directory, written in full, optionally fsync'ed, then renamed over
 * @path. A crash leaves either the old file or the new one, never a mix;
 * at worst a stray "<path>.tmp.*" file that fileio_remove_stale_tmp()
 * cleans. Returns 0 or -errno (-ENOSPC on a full disk).
 */
int fileio_write_atomic(const char *path, const void *data, size_t len,
			int mode, bool sync);

/*
 * Read a whole file of at most @max_len bytes into @out. -EFBIG past it.
 * Made for files that something else may have tampered with: a symlink
 * is not followed, a FIFO does not block, and anything but a regular
 * file (directories included) is -EBADMSG.
 */
int fileio_read_all(const char *path, size_t max_len, struct buf *out);

/* pread/write until done; short only at EOF (pread). Return bytes (pread), 0 or -errno. */
ssize_t fileio_pread_full(int fd, void *buf, size_t len, off_t off);
int fileio_write_full(int fd, const void *buf, size_t len);
int fileio_pwrite_full(int fd, const void *buf, size_t len, off_t off);

/* mkdir -p with @mode for every created level. 0 or -errno. */
int fileio_mkdirs(const char *path, int mode);

/* The temporary name fileio_write_atomic() uses for @path, into @out. */
int fileio_tmp_name(const char *path, char *out, size_t size);

/* Is @name a temporary file (".tmp." in it) left by a dead process? */
bool fileio_is_stale_tmp(const char *name);

#endif /* HUBFS_UTIL_FILEIO_H */
