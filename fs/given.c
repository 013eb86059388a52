/* SPDX-License-Identifier: MIT */
/*
 * What of an open file the kernel was given: see struct fs_given in
 * fs_int.h. One word per block, a bit per 64 KiB chunk.
 */
#include <stdlib.h>

#include "fs/fs_int.h"

_Static_assert(CACHE_BLOCK_SIZE / CACHE_CHUNK_SIZE == 64,
	       "a block's chunks are the bits of one uint64_t");

void fs_given_init(struct fs_given *g, uint64_t size)
{
	uint32_t blocks = cache_blocks_for(size);

	*g = (struct fs_given){ .size = size };
	if (blocks <= 1)
		return; /* nothing to push, and a small file's copy is small */
	g->chunks = calloc(blocks, sizeof(*g->chunks));
	g->let_go = calloc(blocks, sizeof(*g->let_go));
	if (!g->chunks || !g->let_go) {
		fs_given_free(g); /* tracked nothing: every push goes, nothing drops */
		g->size = size;
		return;
	}
	g->n_blocks = blocks;
}

void fs_given_free(struct fs_given *g)
{
	free(g->chunks);
	free(g->let_go);
	*g = (struct fs_given){ 0 };
}

/* The bits of block @k's chunks: all 64, or fewer for the file's last block. */
static uint64_t block_mask(const struct fs_given *g, uint32_t k)
{
	uint64_t start = (uint64_t)k * CACHE_BLOCK_SIZE;
	uint64_t len = g->size - start < CACHE_BLOCK_SIZE ? g->size - start : CACHE_BLOCK_SIZE;
	uint32_t chunks = (uint32_t)((len + CACHE_CHUNK_SIZE - 1) / CACHE_CHUNK_SIZE);

	return chunks == 64 ? UINT64_MAX : (UINT64_C(1) << chunks) - 1;
}

void fs_given_mark(struct fs_given *g, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, first, last;

	if (!g->n_blocks || !len || off >= g->size)
		return;
	if (end >= g->size)
		end = g->size + CACHE_CHUNK_SIZE - 1; /* the file's last chunk, however short */
	/* Chunks wholly inside [off, end): a part of one is not the chunk. */
	first = (off + CACHE_CHUNK_SIZE - 1) / CACHE_CHUNK_SIZE;
	last = end / CACHE_CHUNK_SIZE; /* exclusive */
	for (uint64_t c = first; c < last; c++) {
		uint32_t k = (uint32_t)(c / 64);

		if (k >= g->n_blocks)
			break;
		g->chunks[k] |= UINT64_C(1) << (c % 64);
	}
}

bool fs_given_whole(const struct fs_given *g, uint32_t k)
{
	uint64_t mask;

	if (k >= g->n_blocks)
		return false;
	mask = block_mask(g, k);
	return (g->chunks[k] & mask) == mask;
}

size_t fs_given_passed(struct fs_given *g, uint64_t end, uint32_t *out)
{
	uint32_t hi, lo;
	size_t n = 0;

	if (!g->n_blocks || !end)
		return 0;
	/* Up to the block the read ended in: a read may complete its own. */
	hi = end >= g->size ? g->n_blocks : (uint32_t)((end - 1) / CACHE_BLOCK_SIZE) + 1;
	lo = hi > FS_GIVEN_SCAN ? hi - FS_GIVEN_SCAN : 0;
	for (uint32_t k = lo; k < hi; k++) {
		uint32_t *slot = &g->again[g->n_again % FS_GIVEN_AGAIN_LAG];

		if (g->let_go[k] || !fs_given_whole(g, k))
			continue;
		g->let_go[k] = 1;
		out[n++] = k;
		if (g->n_again >= FS_GIVEN_AGAIN_LAG)
			out[n++] = *slot;
		*slot = k;
		g->n_again++;
	}
	return n;
}
