/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: Git-LFS pointer files (util/lfs.c), as they arrive in a
 * clone or in place of content. What parses must say the same thing once
 * written back canonically, and must look like a pointer to the prefix
 * test that refuses stubs served as content.
 */
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "util/digest.h"
#include "util/lfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lfs_pointer p, again;
	char text[LFS_POINTER_MAX];
	size_t n;

	(void)lfs_pointer_prefix(data, size);
	if (lfs_pointer_parse(data, size, &p) < 0)
		return 0;
	FUZZ_CHECK(size > 0 && size <= LFS_POINTER_MAX);
	FUZZ_CHECK(lfs_pointer_prefix(data, size));
	FUZZ_CHECK(strlen(p.oid) == 64 && digest_is_hex(p.oid, 64));

	n = lfs_pointer_format(p.oid, p.size, text, sizeof(text));
	FUZZ_CHECK(n > 0);
	FUZZ_CHECK(lfs_pointer_parse(text, n, &again) == 0);
	FUZZ_CHECK(strcmp(again.oid, p.oid) == 0 && again.size == p.size);
	/* A pointer cut anywhere is no pointer. */
	FUZZ_CHECK(lfs_pointer_parse(text, n - 1, &again) < 0);
	return 0;
}
