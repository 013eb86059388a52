/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: ref files of the cache (cache/meta.c): which commit a
 * branch or tag resolved to, and when. Decoded as they are, and with a
 * correct "crc" line in place of its own so the fuzzer reaches the fields. What
 * decodes must be exactly the bytes cache_ref_store() writes for it.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "cache/meta.h"
#include "tests/fuzz/fuzz.h"
#include "util/crc32c.h"

#define REF_FILE_MAX 256

static void decode(const char *data, size_t len)
{
	char commit[41], canonical[REF_FILE_MAX];
	int64_t at = -1;
	int n;

	if (cache_ref_parse(data, len, commit, &at) < 0)
		return;
	FUZZ_CHECK(strlen(commit) == 40 && at >= 0);
	n = snprintf(canonical, sizeof(canonical),
		     "hubfs-ref 1\ncommit %s\nresolved %" PRId64 "\n", commit, at);
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(canonical) - FUZZ_CRC_LINE_LEN);
	n += snprintf(canonical + n, sizeof(canonical) - (size_t)n,
		      "crc %08" PRIx32 "\n", crc32c(0, canonical, (size_t)n));
	/* One ref, one spelling: anything else would be a second reading. */
	FUZZ_CHECK((size_t)n == len && memcmp(canonical, data, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_decode_sealed(data, size, REF_FILE_MAX, decode);
	return 0;
}
