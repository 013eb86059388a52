/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: listing files of the cache (cache/meta.c), read back from a
 * disk anyone with access to the cache may have written. The input is
 * decoded twice: as it is (the sha256 "end" line must match, which random
 * bytes never do) and re-sealed, its own "end" line (if any) replaced by a
 * correct one, so the fuzzer gets past the checksum to the header and
 * entry lines. The repo and commit a file must name are taken from its
 * own "repo" and "commit" lines, so real cache files are good seeds.
 * Every entry handed out must be one cache_listing_store() would accept.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "cache/meta.h"
#include "tests/fuzz/fuzz.h"
#include "util/digest.h"
#include "util/path.h"

#define END_LINE_LEN (4 + DIGEST_SHA256_HEX_LEN + 1) /* "end <hex>\n" */

/* Where the file claims to be stored: lines 2 and 3, when they fit. */
struct place {
	char repo[CACHE_REPO_KEY_MAX + 1];
	char commit[41];
};

static void copy_field(const char *line, size_t len, const char *key,
		       char *out, size_t size)
{
	size_t kl = strlen(key);

	if (len > kl && len - kl < size && memcmp(line, key, kl) == 0) {
		memcpy(out, line + kl, len - kl);
		out[len - kl] = '\0';
	}
}

static void find_place(const char *data, size_t len, struct place *pl)
{
	const char *p = data, *end = data + len;

	snprintf(pl->repo, sizeof(pl->repo), "model/hubfs-test/tiny-model");
	snprintf(pl->commit, sizeof(pl->commit), "%040d", 0);
	for (int i = 0; i < 3 && p < end; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (i == 1)
			copy_field(p, n, "repo ", pl->repo, sizeof(pl->repo));
		else if (i == 2)
			copy_field(p, n, "commit ", pl->commit, sizeof(pl->commit));
		p += n + 1;
	}
}


static bool lower_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return s[len] == '\0';
}

static int check_entry(void *ctx, const struct cache_file_entry *e)
{
	size_t *entries = ctx;

	FUZZ_CHECK(e->path && path_validate_repo_path(e->path) == 0);
	FUZZ_CHECK(lower_hex(e->oid, 40));
	FUZZ_CHECK(e->size <= INT64_MAX);
	if (e->is_dir)
		FUZZ_CHECK(e->size == 0 && !e->is_lfs);
	if (e->is_lfs)
		FUZZ_CHECK(lower_hex(e->lfs_sha256, 64));
	else
		FUZZ_CHECK(e->lfs_sha256[0] == '\0');
	(*entries)++;
	return 0;
}

static int stop_at_first(void *ctx, const struct cache_file_entry *e)
{
	(void)ctx;
	(void)e;
	return 42;
}

static void decode(const char *data, size_t len)
{
	struct place pl;
	size_t entries = 0;
	int rc;

	find_place(data, len, &pl);
	rc = cache_listing_parse(data, len, pl.repo, pl.commit, NULL, NULL);

	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);
	if (rc < 0)
		return;
	/* Known good: the second pass sees every entry, and a stop is passed on. */
	FUZZ_CHECK(cache_listing_parse(data, len, pl.repo, pl.commit, check_entry,
				       &entries) == 0);
	if (entries > 0)
		FUZZ_CHECK(cache_listing_parse(data, len, pl.repo, pl.commit,
					       stop_at_first, NULL) == 42);
	/* A file copied to another repo is corrupt there. */
	FUZZ_CHECK(cache_listing_parse(data, len, "model/hubfs-test/other",
				       pl.commit, NULL, NULL) == -EBADMSG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char hex[DIGEST_HEX_MAX];
	size_t body = size;
	char *sealed;

	decode((const char *)data, size);

	if (size >= END_LINE_LEN && data[size - 1] == '\n' &&
	    memcmp(data + size - END_LINE_LEN, "end ", 4) == 0)
		body = size - END_LINE_LEN;
	sealed = malloc(body + END_LINE_LEN);
	if (!sealed)
		return 0;
	memcpy(sealed, data, body);
	if (digest_hex(DIGEST_SHA256, data, body, hex) == 0) {
		memcpy(sealed + body, "end ", 4);
		memcpy(sealed + body + 4, hex, DIGEST_SHA256_HEX_LEN);
		sealed[body + END_LINE_LEN - 1] = '\n';
		decode(sealed, body + END_LINE_LEN);
	}
	free(sealed);
	return 0;
}
