/* SPDX-License-Identifier: MIT */
/*
 * struct buf: a growable byte buffer with a mandatory size cap.
 *
 * Everything read from the network or from disk lands in a buf whose cap
 * says how much we are willing to hold, so hostile input ends in -EFBIG,
 * never in unbounded memory. The data is always NUL-terminated (the NUL
 * is not counted in len), so text can be used as a C string directly.
 *
 * Ownership: the caller owns the struct; buf_release() frees the data.
 * Not thread-safe: one owner at a time.
 */
#ifndef HUBFS_UTIL_BUF_H
#define HUBFS_UTIL_BUF_H

#include <stddef.h>

struct buf {
	char *data;     /* NULL until the first append; then NUL-terminated */
	size_t len;     /* bytes used, excluding the terminating NUL */
	size_t alloc;   /* bytes allocated */
	size_t max_len; /* appends that would exceed this fail with -EFBIG */
};

void buf_init(struct buf *b, size_t max_len);
void buf_release(struct buf *b);

/* Forget the contents but keep the allocation and the cap. */
void buf_reset(struct buf *b);

/*
 * Returns 0, -EFBIG past the cap, or -ENOMEM (buf_printf() also -EINVAL
 * for an output error of the format). On error @b is unchanged.
 */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The contents as a C string: "" for an empty buffer, never NULL. */
const char *buf_cstr(const struct buf *b);

/*
 * Hand the data to the caller, who must free() it; @b is left empty.
 * Returns NULL (and leaves @b alone) if the allocation fails.
 */
char *buf_detach(struct buf *b);

#endif /* HUBFS_UTIL_BUF_H */
