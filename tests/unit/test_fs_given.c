/* SPDX-License-Identifier: MIT */
/*
 * What of an open file the kernel was given (fs/given.c): a block counts
 * as given whole only when every page of it was, however the ranges were
 * cut, and fs_given_passed() names each such block once, then once more
 * when FS_GIVEN_AGAIN_LAG more blocks have been named, never a block
 * given in part.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fs/fs_int.h"

#define BLOCK ((uint64_t)CACHE_BLOCK_SIZE)
#define CHUNK ((uint64_t)CACHE_CHUNK_SIZE)
#define PAGE ((uint64_t)FS_GIVEN_PAGE)
#define MIB_4K_SHORT ((UINT64_C(1) << 20) - PAGE)

static void test_small_files_are_not_tracked(void **state)
{
	struct fs_given g;
	uint32_t out[2 * FS_GIVEN_SCAN];

	(void)state;
	fs_given_init(&g, BLOCK);
	assert_int_equal(g.n_blocks, 0);
	fs_given_mark(&g, 0, BLOCK);
	assert_false(fs_given_whole(&g, 0));
	assert_int_equal(fs_given_passed(&g, BLOCK, out), 0);
	fs_given_free(&g);
}

static void test_whole_only_when_every_page_was_given(void **state)
{
	/* Three blocks, the last 100 KiB + 1 byte: 26 pages, one short. */
	uint64_t size = 2 * BLOCK + 100 * 1024 + 1;
	struct fs_given g;

	(void)state;
	fs_given_init(&g, size);
	assert_int_equal(g.n_blocks, 3);
	/*
	 * Block 0 in reads that meet at a page inside a chunk, as the kernel
	 * cuts a mapping's piece (4 KiB short of a MiB): whole. Before, with
	 * a bit per 64 KiB chunk, that chunk never was.
	 */
	fs_given_mark(&g, 0, MIB_4K_SHORT);
	fs_given_mark(&g, MIB_4K_SHORT, BLOCK - MIB_4K_SHORT - PAGE);
	assert_false(fs_given_whole(&g, 0)); /* its last page is missing */
	fs_given_mark(&g, BLOCK - PAGE, PAGE);
	assert_true(fs_given_whole(&g, 0));
	/* Reads that meet inside a page (not the kernel's): that page is not given. */
	fs_given_mark(&g, BLOCK, 3 * CHUNK + 100);
	fs_given_mark(&g, BLOCK + 3 * CHUNK + 100, BLOCK - 3 * CHUNK - 100);
	assert_false(fs_given_whole(&g, 1));
	fs_given_mark(&g, BLOCK + 3 * CHUNK, PAGE); /* the page itself */
	assert_true(fs_given_whole(&g, 1));
	fs_given_free(&g);
	fs_given_init(&g, size);
	/* Block 1 all but its last chunk. */
	fs_given_mark(&g, BLOCK, BLOCK - CHUNK);
	assert_false(fs_given_whole(&g, 1));
	/* A range across two blocks gives the ends of both. */
	fs_given_mark(&g, 2 * BLOCK - CHUNK, 2 * CHUNK);
	assert_true(fs_given_whole(&g, 1));
	assert_false(fs_given_whole(&g, 2));
	/* The short last page, given by a read to the end of the file. */
	fs_given_mark(&g, 2 * BLOCK + CHUNK, size - 2 * BLOCK - CHUNK);
	assert_true(fs_given_whole(&g, 2));
	/* Past the end, nothing; out of range, never whole. */
	fs_given_mark(&g, size, BLOCK);
	assert_false(fs_given_whole(&g, 3));
	fs_given_free(&g);
}

static void test_passed_names_whole_blocks_twice(void **state)
{
	uint64_t size = 40 * BLOCK;
	uint32_t out[2 * FS_GIVEN_SCAN], seen[40] = { 0 };
	struct fs_given g;
	size_t n;

	(void)state;
	fs_given_init(&g, size);
	/* A read ending inside block 5 that gave it only in part: nothing yet. */
	fs_given_mark(&g, 5 * BLOCK + CHUNK, BLOCK / 2);
	assert_int_equal(fs_given_passed(&g, 5 * BLOCK + CHUNK + BLOCK / 2, out), 0);
	/* A piece read whole, ending in the block after it: block 5 only. */
	fs_given_mark(&g, 5 * BLOCK - BLOCK / 8, BLOCK + BLOCK / 4);
	n = fs_given_passed(&g, 6 * BLOCK + BLOCK / 8, out);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 5);
	/* Named once: not again on the next read there. */
	assert_int_equal(fs_given_passed(&g, 6 * BLOCK + BLOCK / 8, out), 0);
	/* A reader in order through blocks 6..30, a read per block. */
	for (uint32_t k = 6; k <= 30; k++) {
		fs_given_mark(&g, (uint64_t)k * BLOCK, BLOCK);
		n = fs_given_passed(&g, (uint64_t)(k + 1) * BLOCK, out);
		for (size_t i = 0; i < n; i++)
			seen[out[i]]++;
	}
	/* Each named twice, the second time FS_GIVEN_AGAIN_LAG names later. */
	for (uint32_t k = 6; k <= 30; k++)
		assert_int_equal(seen[k], k + FS_GIVEN_AGAIN_LAG <= 30 ? 2 : 1);
	assert_int_equal(seen[5], 1); /* its second time: the first was above */
	/* A read far on that gives block 39 in part finds nothing new. */
	fs_given_mark(&g, 39 * BLOCK, CHUNK);
	assert_int_equal(fs_given_passed(&g, 39 * BLOCK + CHUNK, out), 0);
	fs_given_free(&g);
}

static void test_passed_looks_only_near_the_read(void **state)
{
	uint64_t size = 64 * BLOCK;
	uint32_t out[2 * FS_GIVEN_SCAN];
	struct fs_given g;

	(void)state;
	fs_given_init(&g, size);
	fs_given_mark(&g, 0, BLOCK); /* block 0 whole, never passed by a read near it */
	assert_int_equal(fs_given_passed(&g, 40 * BLOCK, out), 0);
	assert_int_equal(fs_given_passed(&g, FS_GIVEN_SCAN * BLOCK, out), 1);
	assert_int_equal(out[0], 0);
	fs_given_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_files_are_not_tracked),
		cmocka_unit_test(test_whole_only_when_every_page_was_given),
		cmocka_unit_test(test_passed_names_whole_blocks_twice),
		cmocka_unit_test(test_passed_looks_only_near_the_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
