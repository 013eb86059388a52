/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/digest.h"
#include "util/time.h"

static void test_known_vectors(void **state)
{
	char hex[DIGEST_HEX_MAX];

	(void)state;
	assert_int_equal(digest_hex(DIGEST_SHA256, "abc", 3, hex), 0);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
				 "b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(digest_hex(DIGEST_SHA1, "abc", 3, hex), 0);
	assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
}

/* `git hash-object` of an empty file and of "hello\n". */
static void test_git_blob(void **state)
{
	char hex[DIGEST_HEX_MAX];

	(void)state;
	assert_int_equal(digest_git_blob_hex("", 0, hex), 0);
	assert_string_equal(hex, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
	assert_int_equal(digest_git_blob_hex("hello\n", 6, hex), 0);
	assert_string_equal(hex, "ce013625030ba8dba906f756967f9e9ca394464a");
}

/*
 * The tree oid of bert-base-uncased's pytorch_model.bin is the git blob
 * sha1 of its LFS pointer (hub-api.md 8.1).
 */
static void test_lfs_pointer_oid_matches_hub(void **state)
{
	static const char pointer[] =
		"version https://git-lfs.github.com/spec/v1\n"
		"oid sha256:097417381d6c7230bd9e3557456d726de6e83245ec8b24f529f60198a67b203a\n"
		"size 440473133\n";
	char hex[DIGEST_HEX_MAX];

	(void)state;
	assert_int_equal(strlen(pointer), 134);
	assert_int_equal(digest_git_blob_hex(pointer, strlen(pointer), hex), 0);
	assert_string_equal(hex, "ba5d19791be1dd7992e33bd61f20207b0f7f50a5");
}

static void test_streaming_equals_one_shot(void **state)
{
	static const char text[] = "the quick brown fox jumps over the lazy dog";
	char a[DIGEST_HEX_MAX], b[DIGEST_HEX_MAX];
	struct digest d;

	(void)state;
	assert_int_equal(digest_init(&d, DIGEST_SHA256), 0);
	for (size_t i = 0; i < sizeof(text) - 1; i += 5) {
		size_t n = sizeof(text) - 1 - i < 5 ? sizeof(text) - 1 - i : 5;
		assert_int_equal(digest_update(&d, text + i, n), 0);
	}
	assert_int_equal(digest_final_hex(&d, a), 0);
	digest_release(&d);
	assert_int_equal(digest_hex(DIGEST_SHA256, text, sizeof(text) - 1, b), 0);
	assert_string_equal(a, b);
}

/*
 * A file hashed through a buffer smaller than the file, from the fd's
 * offset to its end, as the Hub names it: "hello\n" as a git blob
 * (`git hash-object`) and as an LFS file (sha256).
 */
static void test_hub_fd(void **state)
{
	char path[] = "/tmp/hubfs-test-digest.XXXXXX", hex[DIGEST_HEX_MAX], buf[4];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, "xxhello\n", 8), 8);
	assert_int_equal(lseek(fd, 2, SEEK_SET), 2);
	assert_int_equal(digest_hub_fd_hex(fd, false, 6, buf, sizeof(buf), hex), 0);
	assert_string_equal(hex, "ce013625030ba8dba906f756967f9e9ca394464a");
	assert_int_equal(lseek(fd, 2, SEEK_SET), 2);
	assert_int_equal(digest_hub_fd_hex(fd, true, 6, buf, sizeof(buf), hex), 0);
	assert_string_equal(hex, "5891b5b522d5df086d0ff0b110fbd9d2"
				 "1bb4fc7163af34d08286a2e846f6be03");
	close(fd);
	/* A read error is the read's errno, not a hash. */
	assert_int_equal(digest_hub_fd_hex(fd, true, 6, buf, sizeof(buf), hex), -EBADF);
}

/* The clock helpers agree with each other and with the units they name. */
static void test_time(void **state)
{
	struct timespec ts = { .tv_sec = 3, .tv_nsec = 5 };
	int64_t ns = time_ns(CLOCK_MONOTONIC), ms = time_mono_ms(), s = time_mono_secs();

	(void)state;
	assert_int_equal(time_ts_ns(&ts), 3000000005LL);
	assert_true(ns > 0 && ms >= ns / TIME_NS_PER_MS && s >= ns / TIME_NS_PER_SEC);
	assert_true(ms - ns / TIME_NS_PER_MS < 1000 && s - ns / TIME_NS_PER_SEC <= 1);
	assert_true(time_ns(CLOCK_REALTIME) / TIME_NS_PER_SEC >= (int64_t)time(NULL) - 1);
}

/* A wait on the monotonic clock lasts what it was asked, and no wait is 0. */
static void test_cond_wait(void **state)
{
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	int64_t t0, waited;

	(void)state;
	pthread_mutex_lock(&lock);
	t0 = time_mono_ms();
	assert_int_equal(time_cond_wait_ms(&cond, &lock, 30), ETIMEDOUT);
	waited = time_mono_ms() - t0;
	assert_true(waited >= 30 && waited < 5000);
	t0 = time_mono_ms();
	assert_int_equal(time_cond_wait_ms(&cond, &lock, 0), ETIMEDOUT);
	assert_int_equal(time_cond_wait_ms(&cond, &lock, -5), ETIMEDOUT);
	assert_true(time_mono_ms() - t0 < 1000);
	pthread_mutex_unlock(&lock);
}

static void test_is_hex(void **state)
{
	(void)state;
	assert_true(digest_is_hex("0123456789abcdef", 16));
	assert_false(digest_is_hex("0123456789ABCDEF", 16));
	assert_false(digest_is_hex("0123", 5));
	assert_false(digest_is_hex("01234", 4));
	assert_false(digest_is_hex("zz", 2));
	assert_false(digest_is_hex(NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_git_blob),
		cmocka_unit_test(test_lfs_pointer_oid_matches_hub),
		cmocka_unit_test(test_streaming_equals_one_shot),
		cmocka_unit_test(test_hub_fd),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_cond_wait),
		cmocka_unit_test(test_is_hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
