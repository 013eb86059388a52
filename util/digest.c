/* SPDX-License-Identifier: MIT */
#include "util/digest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

int digest_init(struct digest *d, enum digest_algo algo)
{
	const EVP_MD *md = algo == DIGEST_SHA1 ? EVP_sha1() : EVP_sha256();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	d->ctx = NULL;
	d->algo = algo;
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -EIO;
	}
	d->ctx = ctx;
	return 0;
}

int digest_init_git_blob(struct digest *d, uint64_t size)
{
	char header[32];
	int n, rc;

	rc = digest_init(d, DIGEST_SHA1);
	if (rc < 0)
		return rc;
	/* The header's NUL is part of what git hashes. */
	n = snprintf(header, sizeof(header), "blob %" PRIu64, size);
	return digest_update(d, header, (size_t)n + 1);
}

int digest_init_hub(struct digest *d, bool lfs, uint64_t size)
{
	return lfs ? digest_init(d, DIGEST_SHA256) : digest_init_git_blob(d, size);
}

int digest_update(struct digest *d, const void *data, size_t len)
{
	if (EVP_DigestUpdate(d->ctx, data, len) != 1)
		return -EIO;
	return 0;
}

int digest_final_hex(struct digest *d, char hex[DIGEST_HEX_MAX])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char raw[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(d->ctx, raw, &n) != 1)
		return -EIO;
	for (unsigned int i = 0; i < n; i++) {
		hex[2 * i] = digits[raw[i] >> 4];
		hex[2 * i + 1] = digits[raw[i] & 0xf];
	}
	hex[2 * n] = '\0';
	return 0;
}

void digest_release(struct digest *d)
{
	EVP_MD_CTX_free(d->ctx);
	d->ctx = NULL;
}

/* The rest of a one-shot hash: @rc is digest_init*()'s. Releases @d. */
static int digest_all_hex(struct digest *d, int rc, const void *data, size_t len,
			  char hex[DIGEST_HEX_MAX])
{
	if (rc == 0)
		rc = digest_update(d, data, len);
	if (rc == 0)
		rc = digest_final_hex(d, hex);
	digest_release(d);
	return rc;
}

int digest_hex(enum digest_algo algo, const void *data, size_t len,
	       char hex[DIGEST_HEX_MAX])
{
	struct digest d;

	return digest_all_hex(&d, digest_init(&d, algo), data, len, hex);
}

int digest_git_blob_hex(const void *data, size_t len, char hex[DIGEST_HEX_MAX])
{
	struct digest d;

	return digest_all_hex(&d, digest_init_git_blob(&d, len), data, len, hex);
}

int digest_sha256_raw(const void *data, size_t len, uint8_t out[32])
{
	return EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

uint64_t digest_sha256_u64(const void *data, size_t len)
{
	uint8_t raw[32];
	uint64_t v = 0;

	if (digest_sha256_raw(data, len, raw) < 0)
		return 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | raw[i];
	return v;
}

int digest_hub_fd_hex(int fd, bool lfs, uint64_t size, void *buf, size_t buf_size,
		      char hex[DIGEST_HEX_MAX])
{
	struct digest d;
	int rc = digest_init_hub(&d, lfs, size);

	for (; rc == 0;) {
		ssize_t n = read(fd, buf, buf_size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : 0;
			break;
		}
		rc = digest_update(&d, buf, (size_t)n);
		if (rc < 0)
			break;
	}
	if (rc == 0)
		rc = digest_final_hex(&d, hex);
	digest_release(&d);
	return rc;
}

bool digest_is_hex(const char *s, size_t len)
{
	if (!s || strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}
