/* SPDX-License-Identifier: MIT */
/* util/iobuf.h: reused mapped buffers, and the memory they give back. */
#include <pthread.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/iobuf.h"

#define MiB ((size_t)1 << 20)
#define MANY 32

/* Is [@p, @p + @len) mapped in this process? (mincore fails on unmapped pages.) */
static bool mapped(const void *p, size_t len)
{
	unsigned char vec[4 * MiB / 4096];

	return mincore((void *)p, len, vec) == 0;
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
	int still = 0;

	(void)state;
	for (int i = 0; i < MANY; i++) {
		bufs[i] = iobuf_alloc(4 * MiB);
		assert_non_null(bufs[i]);
		memset(bufs[i], i, 4 * MiB);
	}
	for (int i = 0; i < MANY; i++)
		iobuf_free(bufs[i], 4 * MiB);
	for (int i = 0; i < MANY; i++)
		still += mapped(bufs[i], 4 * MiB);
	if (still > IOBUF_KEEP)
		fail_msg("%d of %d freed 4 MiB buffers still mapped, at most %d may be", still,
			 MANY, IOBUF_KEEP);
	/* The spares are reused: taking them back maps nothing new. */
	for (int i = 0; i < still; i++) {
		uint8_t *b = iobuf_alloc(4 * MiB);
		bool known = false;

		for (int k = 0; k < MANY; k++)
			known |= b == bufs[k];
		assert_true(known);
		bufs[i] = b;
	}
	for (int i = 0; i < still; i++)
		iobuf_free(bufs[i], 4 * MiB);
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
