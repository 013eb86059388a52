/* SPDX-License-Identifier: MIT */
/*
 * Buffers for block-sized I/O (a cache block, a FUSE read), mapped from
 * the kernel and reused through a short free list.
 *
 * Why not malloc: glibc serves each thread from its own arena, and an
 * arena keeps what was freed in it (its trim threshold grows with the
 * largest buffer freed). A mount whose fetches and reads run on dozens of
 * threads kept 4 MiB buffers in every arena they touched: a 1 GiB cold
 * read peaked at 68 MiB of RSS, 44 MiB with a single arena. Here the
 * memory held is the buffers in use plus at most IOBUF_KEEP spare ones.
 *
 * Small requests (below IOBUF_MIN) are plain malloc. Contents of a new
 * buffer are undefined. Threads: every function is thread-safe.
 */
#ifndef HUBFS_UTIL_IOBUF_H
#define HUBFS_UTIL_IOBUF_H

#include <stddef.h>

#define IOBUF_MIN (128u << 10)
#define IOBUF_KEEP 8 /* spare buffers kept for reuse, at most */

/* A buffer of at least @size bytes, or NULL. Free with iobuf_free(@size). */
void *iobuf_alloc(size_t size);

/* Give back @buf, allocated with the same @size. NULL is ignored. */
void iobuf_free(void *buf, size_t size);

#endif /* HUBFS_UTIL_IOBUF_H */
