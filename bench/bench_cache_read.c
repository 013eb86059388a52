/* SPDX-License-Identifier: MIT */
/*
 * bench_cache_read: a fully cached object read through the cache API vs
 * the same bytes read with plain pread() from a file on the same disk.
 *
 *   bench_cache_read [--size MiB] [--rounds N] [--cold] DIR
 *
 * Fills an object of --size MiB (default 1024) into a cache in DIR, writes
 * the same bytes to DIR/plain, then reads both in 4 MiB requests, taking
 * turns (A B A B ...) so that a noisy machine hurts both alike, and prints
 * the throughput of each and their ratio (median of the rounds). With
 * --cold, both are dropped from the page cache before every round
 * (posix_fadvise DONTNEED), so the disk is measured too.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "util/digest.h"
#include "util/fileio.h"

#define REQ (4u << 20)

static uint8_t *content;
static uint64_t content_size;

static int mem_fetch(void *ctx, const struct cache_key *key, uint64_t off,
		     size_t len, void *out, struct cache_error *err)
{
	(void)ctx;
	(void)err;
	(void)key;
	memcpy(out, content + off, len);
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void drop_file(const char *path)
{
	int fd = open(path, O_RDONLY);

	if (fd >= 0) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

static void drop_all(const char *dir, const struct cache_key *key)
{
	char path[PATH_MAX];
	uint32_t n = cache_blocks_for(key->size);

	for (uint32_t k = 0; k < n; k++) {
		snprintf(path, sizeof(path), "%s/cache/objects/sha256/%.2s/%s/b%u", dir,
			 key->hash, key->hash, k);
		drop_file(path);
	}
	snprintf(path, sizeof(path), "%s/plain", dir);
	drop_file(path);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "cold", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct cache_source src = { .fetch = mem_fetch };
	struct cache_options opts = { 0 };
	struct cache_key key = { .algo = CACHE_ALGO_SHA256 };
	struct cache_error cerr = { 0 };
	char path[PATH_MAX], cdir[PATH_MAX];
	double t_cache[64], t_plain[64];
	int rounds = 5, opt, fd;
	bool cold = false;
	struct cache *c;
	uint8_t *buf;

	content_size = 1024ull << 20;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt == 's')
			content_size = strtoull(optarg, NULL, 10) << 20;
		else if (opt == 'r')
			rounds = (int)strtol(optarg, NULL, 10);
		else if (opt == 'c')
			cold = true;
		else
			return 2;
	}
	if (optind != argc - 1 || rounds < 1 || rounds > 64 || !content_size) {
		fprintf(stderr, "usage: bench_cache_read [--size MiB] [--rounds N] [--cold] DIR\n");
		return 2;
	}
	content = malloc(content_size);
	buf = malloc(REQ);
	if (!content || !buf)
		return 1;
	srand(7);
	for (uint64_t i = 0; i < content_size; i += 4096) {
		int v = rand();

		memset(content + i, v & 0xff, 4096);
		memcpy(content + i, &v, sizeof(v));
	}
	digest_hex(DIGEST_SHA256, content, content_size, key.hash);
	key.size = content_size;

	snprintf(cdir, sizeof(cdir), "%s/cache", argv[optind]);
	opts.dir = cdir;
	if (cache_open(&opts, &c) < 0 || cache_fill(c, &key, &src, &cerr) < 0) {
		fprintf(stderr, "bench: cannot fill the cache: %s\n", cerr.message);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/plain", argv[optind]);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || fileio_write_full(fd, content, content_size) < 0)
		return 1;
	free(content);
	content = NULL;

	for (int r = 0; r < rounds; r++) {
		double t0;

		if (cold)
			drop_all(argv[optind], &key);
		t0 = now();
		for (uint64_t off = 0; off < content_size; off += REQ) {
			if (cache_read(c, &key, &src, buf, REQ, off, &cerr) <= 0) {
				fprintf(stderr, "bench: cache_read failed: %s\n", cerr.message);
				return 1;
			}
		}
		t_cache[r] = now() - t0;
		if (cold)
			drop_all(argv[optind], &key);
		t0 = now();
		for (uint64_t off = 0; off < content_size; off += REQ) {
			if (fileio_pread_full(fd, buf, REQ, (off_t)off) <= 0)
				return 1;
		}
		t_plain[r] = now() - t0;
	}
	qsort(t_cache, (size_t)rounds, sizeof(double), cmp_double);
	qsort(t_plain, (size_t)rounds, sizeof(double), cmp_double);
	{
		double mib = (double)content_size / (1 << 20);
		double a = mib / t_cache[rounds / 2], b = mib / t_plain[rounds / 2];

		printf("object %.0f MiB, %d rounds, %s page cache\n", mib, rounds,
		       cold ? "cold" : "warm");
		printf("cache_read: %8.0f MiB/s (median)\n", a);
		printf("pread:      %8.0f MiB/s (median)\n", b);
		printf("ratio:      %8.2f (goal >= 0.80)\n", a / b);
	}
	close(fd);
	cache_close(c);
	free(buf);
	return 0;
}
