/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: commit-date files of the cache (cache/commit.c), which give
 * files their modification time offline. Decoded as they are, and with a
 * correct "crc" line in place of its own so the fuzzer reaches the date. What decodes
 * must be exactly the bytes cache_commit_time_format() writes for it.
 */
#include <string.h>

#include "cache/commit.h"
#include "tests/fuzz/fuzz.h"

static void decode(const char *data, size_t len)
{
	char canonical[CACHE_COMMIT_FILE_MAX];
	int64_t t = -1;
	size_t n;

	if (cache_commit_time_parse(data, len, &t) < 0) {
		FUZZ_CHECK(t == -1);
		return;
	}
	FUZZ_CHECK(t >= 0);
	n = cache_commit_time_format(t, canonical, sizeof(canonical));
	FUZZ_CHECK(n > 0);
	/* One date, one spelling: anything else would be a second reading. */
	FUZZ_CHECK(n == len && memcmp(canonical, data, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decode_sealed(data, size, CACHE_COMMIT_FILE_MAX, decode);
	return 0;
}
