/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the header of an on-disk block file (cache/block.c),
 * which the cache reads from a directory it does not trust. Whatever the
 * bytes, decoding must not crash or read out of bounds, and what it
 * accepts must be self-consistent (the checks the reader relies on).
 */
#include <stdlib.h>
#include <string.h>

#include "cache/cache_int.h"
#include "tests/fuzz/fuzz.h"
#include "util/crc32c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t head[CACHE_BLOCK_HEADER_ENCODED];
	struct cache_block_header h;

	if (size < CACHE_BLOCK_HEADER_ENCODED + 1)
		return 0;
	memcpy(head, data + 1, sizeof(head));
	/* Half the inputs get a correct header CRC, to reach the field checks. */
	if (data[0] & 1) {
		uint32_t crc = crc32c(0, head, 348);

		for (int i = 0; i < 4; i++)
			head[348 + i] = (uint8_t)(crc >> (8 * i));
	}
	if (cache_block_header_decode(head, &h) == 0) {
		/* Accepted: the geometry the reader trusts must hold. */
		FUZZ_CHECK(h.data_len <= CACHE_BLOCK_SIZE && h.n_chunks <= CACHE_CHUNKS_MAX);
		FUZZ_CHECK(h.n_chunks == (h.data_len + CACHE_CHUNK_SIZE - 1) / CACHE_CHUNK_SIZE);
		FUZZ_CHECK(h.header_size == cache_block_header_size(h.data_len));
	}
	return 0;
}
