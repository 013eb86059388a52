/* SPDX-License-Identifier: MIT */
/*
 * What every libFuzzer target of hubfs shares (tests/fuzz/): the entry
 * points libFuzzer calls, and FUZZ_CHECK, which turns a broken promise of
 * a parser (an invariant its header states) into a crash libFuzzer keeps.
 * The sanitizers catch memory errors and undefined behaviour by themselves.
 */
#ifndef HUBFS_TESTS_FUZZ_FUZZ_H
#define HUBFS_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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

#endif /* HUBFS_TESTS_FUZZ_FUZZ_H */
