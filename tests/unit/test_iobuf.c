/* SPDX-License-Identifier: MIT */
/* util/iobuf.h: reused mapped buffers, and the memory they give back. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/iobuf.h"

#define MiB ((size_t)1 << 20)
#define MANY 32

/* Resident bytes of this process now. */
static size_t resident(void)
{
	unsigned long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu %lu", &pages, &rss), 2);
	fclose(f);
	return rss * (size_t)sysconf(_SC_PAGESIZE);
}

static void test_sizes_are_usable(void **state)
{
	static const size_t sizes[] = { 0, 1, 4096, IOBUF_MIN - 1, IOBUF_MIN,
					MiB - 1, MiB, MiB + 1, 4 * MiB };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *b = iobuf_alloc(sizes[i]);

		assert_non_null(b);
		memset(b, 0xa5, sizes[i]);
		if (sizes[i])
			assert_int_equal(b[sizes[i] - 1], 0xa5);
		iobuf_free(b, sizes[i]);
	}
	iobuf_free(NULL, MiB);
}

/* A freed buffer is the next one of its size: no new mapping per read. */
static void test_reuse(void **state)
{
	void *a, *b;

	(void)state;
	a = iobuf_alloc(4 * MiB);
	assert_non_null(a);
	iobuf_free(a, 4 * MiB);
	b = iobuf_alloc(4 * MiB - 5); /* rounds to the same size */
	assert_ptr_equal(a, b);
	iobuf_free(b, 4 * MiB - 5);
}

/* What is freed past IOBUF_KEEP spares goes back to the kernel. */
static void test_memory_is_given_back(void **state)
{
	uint8_t *bufs[MANY];
	size_t before, peak, after;

	(void)state;
	before = resident();
	for (int i = 0; i < MANY; i++) {
		bufs[i] = iobuf_alloc(4 * MiB);
		assert_non_null(bufs[i]);
		memset(bufs[i], i, 4 * MiB);
	}
	peak = resident();
	assert_true(peak >= before + (MANY - 1) * 4 * MiB);
	for (int i = 0; i < MANY; i++)
		iobuf_free(bufs[i], 4 * MiB);
	after = resident();
	if (after > before + (IOBUF_KEEP + 1) * 4 * MiB)
		fail_msg("%zu MiB still resident after freeing, %zu before, %zu at the peak",
			 after / MiB, before / MiB, peak / MiB);
}

static void *churn(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200; i++) {
		size_t size = (size_t)(i % 5 + 1) * MiB;
		uint8_t *b = iobuf_alloc(size);

		assert_non_null(b);
		b[0] = b[size - 1] = (uint8_t)i;
		iobuf_free(b, size);
	}
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t t[8];

	(void)state;
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn, NULL), 0);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes_are_usable),
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_memory_is_given_back),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
