/* SPDX-License-Identifier: MIT */
/*
 * What every libFuzzer target of hubfs shares (tests/fuzz/): the entry
 * points libFuzzer calls, and FUZZ_CHECK, which turns a broken promise of
 * a parser (an invariant its header states) into a crash libFuzzer keeps.
 * The sanitizers catch memory errors and undefined behaviour by themselves.
 */
#ifndef HUBFS_TESTS_FUZZ_FUZZ_H
#define HUBFS_TESTS_FUZZ_FUZZ_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crc32c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",   \
				__FILE__, __LINE__, #cond);                \
			abort();                                           \
		}                                                          \
	} while (0)

#define FUZZ_CRC_LINE_LEN 13 /* "crc <8 hex>\n" */

/*
 * The cache's small text files (refs, commit dates) end in a "crc" line
 * over what comes before it, which random bytes never match. Calls
 * @decode on @data as it is, then resealed: its own "crc" line (if any)
 * replaced by a correct one, so that the fuzzer reaches the fields. A
 * body longer than @max is only decoded as it is.
 */
static inline void fuzz_decode_sealed(const uint8_t *data, size_t size, size_t max,
				      void (*decode)(const char *data, size_t len))
{
	size_t body = size;
	char *sealed;
	int n;

	decode((const char *)data, size);
	if (size >= FUZZ_CRC_LINE_LEN && data[size - 1] == '\n' &&
	    memcmp(data + size - FUZZ_CRC_LINE_LEN, "crc ", 4) == 0)
		body = size - FUZZ_CRC_LINE_LEN;
	if (body > max)
		return;
	sealed = malloc(body + FUZZ_CRC_LINE_LEN + 1);
	if (!sealed)
		return;
	memcpy(sealed, data, body);
	n = snprintf(sealed + body, FUZZ_CRC_LINE_LEN + 1, "crc %08" PRIx32 "\n",
		     crc32c(0, data, body));
	decode(sealed, body + (size_t)n);
	free(sealed);
}

#endif /* HUBFS_TESTS_FUZZ_FUZZ_H */
