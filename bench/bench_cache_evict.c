/* SPDX-License-Identifier: MIT */
/*
 * What one eviction costs, against how much is cached (issue #11: with
 * 100,000 blocks cached, evicting one must cost <= 50 us on average, and
 * not grow with the cache). Fills a fresh cache with N one-block objects
 * of 100 bytes, reopens it (the scan orders the LRU list by file time),
 * then prunes a tenth of it and reports the time per evicted block. Runs
 * for each N given (default: 1000 and 100000) side by side.
 *
 *   bench_cache_evict [DIR] [N...]
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "util/digest.h"

struct one {
	char data[100];
};

static int fetch(void *ctx, const struct cache_key *key, uint64_t offset, size_t len,
		 void *out, struct cache_error *err)
{
	const struct one *o = ctx;

	(void)key;
	(void)err;
	if (offset + len > sizeof(o->data))
		return -EINVAL;
	memcpy(out, o->data + offset, len);
	return 0;
}

/* Up to 1000 block files, for the plain-unlink comparison. */
static char *victims[1000];
static int n_victims;

static int take_block(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	if (flag == FTW_F && path[ftw->base] == 'b' && n_victims < 1000)
		victims[n_victims++] = strdup(path);
	return n_victims >= 1000;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(const char *top, unsigned long n)
{
	struct cache_options opts = { 0 };
	struct cache_usage u;
	struct cache *c;
	struct one one;
	struct cache_source src = { .fetch = fetch, .ctx = &one };
	char dir[4096];
	uint64_t freed = 0, before;
	double t0, t1, t2, t3;

	snprintf(dir, sizeof(dir), "%s/evict-%lu", top, n);
	opts.dir = dir;
	if (cache_open(&opts, &c) != 0)
		return 1;
	t0 = now();
	for (unsigned long i = 0; i < n; i++) {
		struct cache_key key = { .algo = CACHE_ALGO_SHA256, .size = sizeof(one.data) };
		struct cache_error err = { 0 };

		memset(one.data, 0, sizeof(one.data));
		snprintf(one.data, sizeof(one.data), "object %lu", i);
		if (digest_hex(DIGEST_SHA256, one.data, sizeof(one.data), key.hash) < 0 ||
		    cache_fill(c, &key, &src, &err) != 0) {
			fprintf(stderr, "fill %lu: %s\n", i, err.message);
			return 1;
		}
	}
	cache_close(c);
	t1 = now();
	if (cache_open(&opts, &c) != 0)
		return 1;
	cache_usage(c, &u);
	before = u.bytes;
	t2 = now();
	cache_prune(c, before - before / 10, &freed);
	t2 = now() - t2;
	cache_usage(c, &u);
	cache_close(c);
	/* What the filesystem alone takes: unlink of other block files of the same tree. */
	n_victims = 0;
	nftw(dir, take_block, 16, FTW_PHYS);
	t3 = now();
	for (int i = 0; i < n_victims; i++) {
		unlink(victims[i]);
		free(victims[i]);
	}
	t3 = (now() - t3) * 1e6 / (n_victims ? n_victims : 1);
	printf("%8lu blocks cached (filled in %.1f s): pruned %llu blocks in %.3f s, "
	       "%.1f us per evicted block (a plain unlink there: %.1f us)\n", n, t1 - t0,
	       (unsigned long long)(n - u.blocks), t2,
	       t2 * 1e6 / (double)(n - u.blocks ? n - u.blocks : 1), t3);
	return 0;
}

int main(int argc, char **argv)
{
	char top[] = "/tmp/hubfs-bench-evict.XXXXXX";
	const char *dir = argc > 1 ? argv[1] : NULL;
	unsigned long sizes[8] = { 1000, 100000 };
	int n_sizes = 2, rc = 0;

	if (!dir && !mkdtemp(top))
		return 1;
	if (argc > 2) {
		n_sizes = 0;
		for (int i = 2; i < argc && n_sizes < 8; i++)
			sizes[n_sizes++] = strtoul(argv[i], NULL, 10);
	}
	for (int i = 0; i < n_sizes && rc == 0; i++)
		rc = run(dir ? dir : top, sizes[i]);
	printf("goal: <= 50 us per evicted block with 100000 cached, whatever the size\n");
	if (!dir) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
		rc |= system(cmd) != 0;
	}
	return rc;
}
