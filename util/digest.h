/* SPDX-License-Identifier: MIT */
/*
 * Streaming SHA-1 and SHA-256, and the Hub's own content hashes.
 *
 * The Hub names an LFS file by the sha256 of its content and a regular
 * file by its git blob sha1: sha1("blob <size>\0" + content). These are
 * the hashes a file is verified against. The only file that includes
 * OpenSSL is digest.c.
 *
 * Ownership: the caller owns struct digest; digest_release() frees it
 * (also after digest_final_hex()). Not thread-safe per object.
 */
#ifndef HUBFS_UTIL_DIGEST_H
#define HUBFS_UTIL_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum digest_algo {
	DIGEST_SHA1,
	DIGEST_SHA256,
};

#define DIGEST_SHA1_HEX_LEN 40
#define DIGEST_SHA256_HEX_LEN 64
#define DIGEST_HEX_MAX (DIGEST_SHA256_HEX_LEN + 1)

struct digest {
	void *ctx; /* EVP_MD_CTX, owned */
	enum digest_algo algo;
};

/* Returns 0 or -ENOMEM / -EIO. */
int digest_init(struct digest *d, enum digest_algo algo);

/* A sha1 primed with the git blob header for a blob of @size bytes. */
int digest_init_git_blob(struct digest *d, uint64_t size);

/*
 * Start the Hub's hash of a file of @size bytes: sha256 for an LFS file
 * (@lfs), else its git blob sha1.
 */
int digest_init_hub(struct digest *d, bool lfs, uint64_t size);

int digest_update(struct digest *d, const void *data, size_t len);

/* Finish and write lower-case hex plus NUL into @hex. */
int digest_final_hex(struct digest *d, char hex[DIGEST_HEX_MAX]);

void digest_release(struct digest *d);

/* One-shot helpers. */
int digest_hex(enum digest_algo algo, const void *data, size_t len,
	       char hex[DIGEST_HEX_MAX]);
int digest_git_blob_hex(const void *data, size_t len,
			char hex[DIGEST_HEX_MAX]);

/*
 * The Hub's hash (digest_init_hub()) of everything @fd reads from its
 * offset to the end, through the caller's @buf of @buf_size bytes.
 * 0, or -errno of the read, or a digest error.
 */
int digest_hub_fd_hex(int fd, bool lfs, uint64_t size, void *buf, size_t buf_size,
		      char hex[DIGEST_HEX_MAX]);

/* The sha256 of @data, raw. 0 or -EIO. */
int digest_sha256_raw(const void *data, size_t len, uint8_t out[32]);

/*
 * The first 8 bytes of the sha256 of @data, as a number (big-endian):
 * for numbers that must stay the same from run to run and that names an
 * adversary chooses must not collide (inode numbers). 0 if OpenSSL fails.
 */
uint64_t digest_sha256_u64(const void *data, size_t len);

/* True when @s is exactly @len lower-case hex digits. */
bool digest_is_hex(const char *s, size_t len);

#endif /* HUBFS_UTIL_DIGEST_H */
