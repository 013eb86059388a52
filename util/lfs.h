/* SPDX-License-Identifier: MIT */
/*
 * Git-LFS pointer files, parsed by the spec (git-lfs docs/spec.md):
 *
 *   version https://git-lfs.github.com/spec/v1\n
 *   oid sha256:<64 lower-case hex>\n
 *   size <decimal>\n
 *
 * "version" first, then keys in sorted order, each "key value\n", at most
 * 1024 bytes. The pre-release version URL is accepted when reading.
 */
#ifndef HUBFS_UTIL_LFS_H
#define HUBFS_UTIL_LFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LFS_POINTER_MAX 1024

struct lfs_pointer {
	char oid[65];   /* sha256 hex */
	uint64_t size;  /* the content's size */
};

/* Is all of @data (@len bytes) one valid pointer? 0 or -EINVAL. */
int lfs_pointer_parse(const void *data, size_t len, struct lfs_pointer *out);

/*
 * Does @data begin like a pointer ("version https://git-lfs..." line)?
 * For refusing content that is a stub even when it was cut or padded.
 */
bool lfs_pointer_prefix(const void *data, size_t len);

/* Write the canonical pointer text for (@oid, @size) into @out. Returns its
 * length, or 0 when @cap is too small. */
size_t lfs_pointer_format(const char *oid, uint64_t size, char *out, size_t cap);

#endif /* HUBFS_UTIL_LFS_H */
