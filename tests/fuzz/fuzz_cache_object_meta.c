/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: an object's meta file (cache/block.c), read from a
 * cache directory that is not trusted. Decoding must not crash, leak or
 * read out of bounds; what it accepts must be self-consistent: a verified
 * meta names exactly one write id per block, an unverified one none.
 */
#include <stdlib.h>
#include <string.h>

#include "cache/cache_int.h"
#include "tests/fuzz/fuzz.h"
#include "util/crc32c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cache_objmeta m;
	uint8_t *buf;
	int rc;

	if (size < 1 + 4)
		return 0;
	/* Half the inputs get a correct trailing CRC, to reach the field checks. */
	buf = malloc(size - 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	if (data[0] & 1) {
		uint32_t crc = crc32c(0, buf, size - 5);

		for (int i = 0; i < 4; i++)
			buf[size - 5 + i] = (uint8_t)(crc >> (8 * i));
	}
	rc = cache_objmeta_decode(buf, size - 1, &m);
	free(buf);
	if (rc != 0)
		return 0;
	FUZZ_CHECK(m.block_size == CACHE_BLOCK_SIZE && m.object_size <= CACHE_MAX_OBJECT_SIZE);
	FUZZ_CHECK(m.algo == CACHE_ALGO_SHA256 || m.algo == CACHE_ALGO_GIT_SHA1);
	FUZZ_CHECK(m.n_ids == (m.verified ? cache_blocks_for(m.object_size) : 0));
	FUZZ_CHECK(!m.n_ids || m.ids);
	cache_objmeta_release(&m);
	return 0;
}
