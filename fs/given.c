/* SPDX-License-Identifier: MIT */
/*
 * What of an open file the kernel was given: see struct fs_given in
 * fs_int.h. A bit per page, FS_GIVEN_WORDS words per block.
 */
#include <stdlib.h>

#include "fs/fs_int.h"

#define PAGES_PER_BLOCK (CACHE_BLOCK_SIZE / FS_GIVEN_PAGE)

_Static_assert(PAGES_PER_BLOCK == 64 * FS_GIVEN_WORDS,
	       "a block's pages are the bits of FS_GIVEN_WORDS words");

void fs_given_init(struct fs_given *g, uint64_t size)
{
	uint32_t blocks = cache_blocks_for(size);

	*g = (struct fs_given){ .size = size };
	if (blocks <= 1)
		return; /* nothing to push, and a small file's copy is small */
	g->pages = calloc((size_t)blocks * FS_GIVEN_WORDS, sizeof(*g->pages));
	g->let_go = calloc(blocks, sizeof(*g->let_go));
	if (!g->pages || !g->let_go) {
		fs_given_free(g); /* tracked nothing: every push goes, nothing drops */
		g->size = size;
		return;
	}
	g->n_blocks = blocks;
}

void fs_given_free(struct fs_given *g)
{
	free(g->pages);
	free(g->let_go);
	*g = (struct fs_given){ 0 };
}

void fs_given_mark(struct fs_given *g, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, first, last;

	if (!g->n_blocks || !len || off >= g->size)
		return;
	if (end >= g->size)
		end = g->size + FS_GIVEN_PAGE - 1; /* the file's last page, however short */
	/* Pages wholly inside [off, end): a part of one is not the page. */
	first = (off + FS_GIVEN_PAGE - 1) / FS_GIVEN_PAGE;
	last = end / FS_GIVEN_PAGE; /* exclusive */
	if (last > (uint64_t)g->n_blocks * PAGES_PER_BLOCK)
		last = (uint64_t)g->n_blocks * PAGES_PER_BLOCK;
	for (uint64_t p = first; p < last; p++)
		g->pages[p / 64] |= UINT64_C(1) << (p % 64);
}

bool fs_given_whole(const struct fs_given *g, uint32_t k)
{
	uint64_t start = (uint64_t)k * CACHE_BLOCK_SIZE, len;
	const uint64_t *w;
	uint32_t pages;

	if (k >= g->n_blocks)
		return false;
	len = g->size - start < CACHE_BLOCK_SIZE ? g->size - start : CACHE_BLOCK_SIZE;
	pages = (uint32_t)((len + FS_GIVEN_PAGE - 1) / FS_GIVEN_PAGE);
	w = &g->pages[(size_t)k * FS_GIVEN_WORDS];
	for (; pages >= 64; pages -= 64, w++) {
		if (*w != UINT64_MAX)
			return false;
	}
	return !pages || (*w & ((UINT64_C(1) << pages) - 1)) == (UINT64_C(1) << pages) - 1;
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
