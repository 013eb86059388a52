/* SPDX-License-Identifier: MIT */
/*
 * kill -9 at any moment leaves a cache that, after a restart, never serves
 * a wrong byte and loses at most the blocks in flight.
 *
 * The parent makes a cache directory and forks filling processes that
 * open it and fill a fixed set of objects (6 objects, 1-5 blocks each,
 * both algorithms, ~40 MiB) with cache_read, cache_fill, cache_prefetch
 * and cache_verify_object, from a deterministic in-memory source, forever.
 * The parent SIGKILLs them after a random delay (0-80 ms), then opens the
 * cache itself and checks it:
 *
 *   - no temporary file survived cache_open();
 *   - cache_usage() is exactly the block files on disk;
 *   - every block file on disk passes its CRCs and holds the right bytes;
 *   - every block a child reported as read or fetched before it died is
 *     still there, and every object it reported as verified (cache_fill
 *     returned 0) is still verified: only what was in flight is lost.
 *
 * Between rounds the parent evicts some objects so that the children keep
 * writing; every fifth round runs one child under a tight max_bytes, so
 * that kills also land in eviction (its blocks are not tracked: evicting
 * them is its right, and so is a read refused when its cap took blocks
 * before a hash did). A child that sees a wrong byte or an error exits
 * with a status instead of dying by the signal, and the test fails.
 *
 * After the last round: every object is read back in full and compared,
 * fetching exactly the blocks that were not on disk; cache_verify_object()
 * finds nothing wrong in any of them.
 *
 * The seed is printed; HUBFS_CRASH_SEED=<n> replays a run.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/cache.h"
#include "cache/cache_int.h"
#include "tests/helpers/mem_source.h"
#include "util/time.h"

#define MiB (UINT64_C(1) << 20)
#define BS ((uint64_t)CACHE_BLOCK_SIZE)
#define N_OBJS 6
#define MAX_BLOCKS 5
#define ROUNDS 25
#define MAX_DELAY_MS 80
#define LIMIT_EVERY 5                  /* every fifth round: one child, a limit */
#define LIMIT_BYTES (16 * MiB)

/* What a child reports, after the call that made it true returned. */
enum { EV_HAVE = 1, EV_VERIFIED = 2 };

struct event {
	uint8_t type;
	uint8_t obj;
	uint8_t block;
	uint8_t pad;
};

/* Child exit statuses (a child only ever ends by SIGKILL otherwise). */
enum {
	CHILD_OPEN_FAILED = 10,
	CHILD_WRONG_BYTES = 11,
	CHILD_READ_FAILED = 12,
	CHILD_FILL_FAILED = 13,
	CHILD_PREFETCH_FAILED = 14,
	CHILD_VERIFY_FAILED = 15,
	CHILD_SOURCE_MISUSED = 16,
};

struct crash {
	char dir[PATH_MAX];
	struct mem_source ms;
	struct mem_object *objs[N_OBJS];
	bool must_have[N_OBJS][MAX_BLOCKS];
	bool must_verified[N_OBJS];
	uint64_t rng;
	unsigned int events, kills;
};

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* ---- files ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int tree_tmps, tree_blocks;
static uint64_t tree_block_bytes;
static char tree_tmp_name[PATH_MAX];

static int count_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	const char *name = path + ftw->base;

	if (flag != FTW_F)
		return 0;
	if (strstr(name, ".tmp.")) {
		tree_tmps++;
		snprintf(tree_tmp_name, sizeof(tree_tmp_name), "%s", path);
	} else if (name[0] == 'b' && name[1] >= '0' && name[1] <= '9') {
		tree_blocks++;
		tree_block_bytes += (uint64_t)st->st_size;
	}
	return 0;
}

static void count_tree(const char *path)
{
	tree_tmps = tree_blocks = 0;
	tree_block_bytes = 0;
	tree_tmp_name[0] = '\0';
	nftw(path, count_one, 16, FTW_PHYS);
}

static void block_file(struct cache *c, const struct cache_key *key, uint32_t k,
		       char *out, size_t size)
{
	char dir[PATH_MAX];

	assert_int_equal(cache_object_dir(c, key, dir, sizeof(dir)), 0);
	assert_true((size_t)snprintf(out, size, "%s/b%u", dir, k) < size);
}

static uint32_t block_len(const struct cache_key *key, uint32_t k)
{
	uint64_t left = key->size - (uint64_t)k * BS;

	return left < BS ? (uint32_t)left : CACHE_BLOCK_SIZE;
}

/* ---- the filling process ---- */

static void report(int fd, uint8_t type, size_t obj, uint32_t block)
{
	struct event ev = { type, (uint8_t)obj, (uint8_t)block, 0 };

	/* 4 bytes: atomic on a pipe. A full pipe just blocks until the kill. */
	if (write(fd, &ev, sizeof(ev)) != (ssize_t)sizeof(ev))
		_exit(CHILD_SOURCE_MISUSED);
}

static void report_range(int fd, size_t i, uint64_t off, uint64_t len)
{
	for (uint64_t k = off / BS; k * BS < off + len; k++)
		report(fd, EV_HAVE, i, (uint32_t)k);
}

static _Noreturn void child_main(struct crash *cr, uint64_t seed, int fd,
				 uint64_t max_bytes)
{
	struct cache_options opts = { .dir = cr->dir, .max_bytes = max_bytes };
	struct cache_verify_report vr;
	struct cache *c;
	uint8_t *buf = malloc(5 * BS);
	uint64_t s = seed | 1;

	/* cmocka's handlers must not run the rest of the tests in a child. */
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	signal(SIGILL, SIG_DFL);
	signal(SIGFPE, SIG_DFL);
	signal(SIGABRT, SIG_DFL);
	if (!buf || cache_open(&opts, &c) < 0)
		_exit(CHILD_OPEN_FAILED);
	for (;;) {
		size_t i = (size_t)(rnd(&s) % N_OBJS);
		const struct mem_object *o = cr->objs[i];
		const struct cache_key *key = &o->key;
		struct cache_error err = { 0 };
		uint64_t off, len;
		ssize_t n;
		int rc;

		switch (rnd(&s) % 8) {
		case 0:
		case 1:
			if (cache_fill(c, key, &cr->ms.src, &err) != 0)
				_exit(CHILD_FILL_FAILED);
			report_range(fd, i, 0, key->size);
			report(fd, EV_VERIFIED, i, 0);
			break;
		case 2:
			off = 0;
			len = key->size;
			goto read;
		case 3:
		case 4:
		case 5:
			off = rnd(&s) % key->size;
			len = 1 + rnd(&s) % (2 * BS);
read:
			n = cache_read(c, key, &cr->ms.src, buf, (size_t)len, off, &err);
			if (len > key->size - off)
				len = key->size - off;
			/*
			 * Under its own tight cap, a child that has been served every
			 * chunk of an object whose blocks the cap took before a hash
			 * did is refused, as it should be (docs/cache-format.md,
			 * "Whatever the object's state"): nothing was handed out.
			 */
			if (n == -EBADMSG && max_bytes)
				break;
			if (n != (ssize_t)len)
				_exit(CHILD_READ_FAILED);
			if (memcmp(buf, o->data + off, (size_t)len) != 0)
				_exit(CHILD_WRONG_BYTES);
			report_range(fd, i, off, len);
			break;
		case 6: {
			uint32_t k = (uint32_t)(rnd(&s) % o->n_blocks);

			if (cache_prefetch(c, key, &cr->ms.src, k, &err) != 0)
				_exit(CHILD_PREFETCH_FAILED);
			report(fd, EV_HAVE, i, k);
			break;
		}
		default:
			rc = cache_verify_object(c, key, false, &vr);
			if (rc != 0 && rc != -ENOENT)
				_exit(CHILD_VERIFY_FAILED);
			break;
		}
		if (atomic_load(&cr->ms.bad_requests))
			_exit(CHILD_SOURCE_MISUSED);
	}
}

static const char *child_status(int status)
{
	static char msg[64];

	if (WIFSIGNALED(status))
		snprintf(msg, sizeof(msg), "signal %d", WTERMSIG(status));
	else
		snprintf(msg, sizeof(msg), "exit %d", WEXITSTATUS(status));
	return msg;
}

/* Fork @n fillers, kill each after its delay, take in what they reported. */
static void run_round(struct crash *cr, int round, int n, uint64_t max_bytes,
		      bool track)
{
	pid_t pid[2];
	int fds[2][2];
	unsigned int delay[2];
	bool failed = false;
	char why[128] = "";

	for (int j = 0; j < n; j++) {
		delay[j] = (unsigned int)(rnd(&cr->rng) % (MAX_DELAY_MS + 1));
		assert_int_equal(pipe(fds[j]), 0);
		pid[j] = fork();
		assert_true(pid[j] >= 0);
		if (pid[j] == 0) {
			close(fds[j][0]);
			child_main(cr, cr->rng + (uint64_t)j * 7919, fds[j][1], max_bytes);
		}
		close(fds[j][1]);
	}
	/* Kill them in the order of their delays. */
	for (unsigned int elapsed = 0, left = (unsigned int)n; left > 0;) {
		unsigned int next = UINT_MAX;

		for (int j = 0; j < n; j++) {
			if (pid[j] > 0 && delay[j] < next)
				next = delay[j];
		}
		if (next > elapsed) {
			struct timespec ts = { 0, (long)(next - elapsed) * 1000000L };

			nanosleep(&ts, NULL);
			elapsed = next;
		}
		for (int j = 0; j < n; j++) {
			int status;

			if (pid[j] <= 0 || delay[j] != next)
				continue;
			kill(pid[j], SIGKILL);
			if (waitpid(pid[j], &status, 0) != pid[j])
				status = -1;
			if (!failed && (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)) {
				failed = true;
				snprintf(why, sizeof(why), "filler %d ended with %s", j,
					 child_status(status));
			}
			pid[j] = 0;
			cr->kills++;
			left--;
		}
	}
	/* Every child is reaped before anything can fail. */
	if (failed)
		fail_msg("round %d: %s, not by the kill (10 open, 11 wrong bytes, 12 read, "
			 "13 fill, 14 prefetch, 15 verify, 16 source)", round, why);
	for (int j = 0; j < n; j++) {
		struct event ev;

		while (read(fds[j][0], &ev, sizeof(ev)) == (ssize_t)sizeof(ev)) {
			cr->events++;
			if (!track)
				continue;
			assert_true(ev.obj < N_OBJS && ev.block < MAX_BLOCKS);
			if (ev.type == EV_HAVE)
				cr->must_have[ev.obj][ev.block] = true;
			else if (ev.type == EV_VERIFIED)
				cr->must_verified[ev.obj] = true;
		}
		close(fds[j][0]);
	}
}

/* ---- the checks after a kill ---- */

/* Open and check the directory; returns the open cache. */
static struct cache *check_cache(struct crash *cr, int round, bool track,
				 uint32_t *present)
{
	struct cache_options opts = { .dir = cr->dir };
	struct cache_usage u;
	struct cache *c;
	uint8_t *buf = malloc(BS);

	assert_non_null(buf);
	assert_int_equal(cache_open(&opts, &c), 0);
	count_tree(cr->dir);
	if (tree_tmps)
		fail_msg("round %d: %d temporary files after cache_open(), e.g. %s", round,
			 tree_tmps, tree_tmp_name);
	cache_usage(c, &u);
	if (u.bytes != tree_block_bytes || u.blocks != (uint64_t)tree_blocks)
		fail_msg("round %d: usage says %llu bytes in %llu blocks, the disk has "
			 "%llu bytes in %d block files", round, (unsigned long long)u.bytes,
			 (unsigned long long)u.blocks, (unsigned long long)tree_block_bytes,
			 tree_blocks);
	*present = 0;
	for (size_t i = 0; i < N_OBJS; i++) {
		const struct mem_object *o = cr->objs[i];
		struct cache_object_info info;
		uint32_t here = 0;

		for (uint32_t k = 0; k < o->n_blocks; k++) {
			uint32_t len = block_len(&o->key, k);
			char path[PATH_MAX];
			struct stat st;
			int rc;

			block_file(c, &o->key, k, path, sizeof(path));
			if (stat(path, &st) < 0) {
				if (track && cr->must_have[i][k])
					fail_msg("round %d: block %u of object %zu was "
						 "reported stored before the kill, and is "
						 "gone", round, k, i);
				if (!track)
					cr->must_have[i][k] = false;
				continue;
			}
			rc = cache_block_read(path, &o->key, k, 0, len, buf, NULL, NULL);
			if (rc != 0)
				fail_msg("round %d: block %u of object %zu is on disk but "
					 "unreadable: %d", round, k, i, rc);
			if (memcmp(buf, o->data + (uint64_t)k * BS, len) != 0)
				fail_msg("round %d: block %u of object %zu passes its CRCs "
					 "but holds wrong bytes", round, k, i);
			if (!track)
				cr->must_have[i][k] = true;
			here++;
		}
		cache_object_info(c, &o->key, &info);
		assert_int_equal(info.blocks_present, here);
		if (info.verified && here != o->n_blocks)
			fail_msg("round %d: object %zu is verified with %u of %u blocks",
				 round, i, here, o->n_blocks);
		if (track && cr->must_verified[i] && !info.verified)
			fail_msg("round %d: object %zu was verified before the kill and "
				 "is not any more (%u of %u blocks)", round, i, here,
				 o->n_blocks);
		if (!track)
			cr->must_verified[i] = info.verified;
		*present += here;
	}
	free(buf);
	return c;
}

/* Evict some objects so that the next fillers have work. */
static void make_room(struct crash *cr, struct cache *c, uint32_t present)
{
	uint32_t total = 0;
	int n;

	for (size_t i = 0; i < N_OBJS; i++)
		total += cr->objs[i]->n_blocks;
	n = present == total ? 3 : (int)(rnd(&cr->rng) % 2);
	while (n-- > 0) {
		size_t i = (size_t)(rnd(&cr->rng) % N_OBJS);
		int rc = cache_evict_object(c, &cr->objs[i]->key);

		assert_true(rc == 0 || rc == -ENOENT);
		memset(cr->must_have[i], 0, sizeof(cr->must_have[i]));
		cr->must_verified[i] = false;
	}
}

static void test_kill9_at_random_points(void **state)
{
	static const struct {
		enum cache_algo algo;
		uint64_t size;
	} shapes[N_OBJS] = {
		{ CACHE_ALGO_SHA256, 4 * BS + 3 * MiB },   /* 5 blocks */
		{ CACHE_ALGO_GIT_SHA1, 2 * BS + 1 },       /* 3, the last 1 byte */
		{ CACHE_ALGO_SHA256, BS },                 /* exactly 1 */
		{ CACHE_ALGO_GIT_SHA1, 100 },              /* 1, small */
		{ CACHE_ALGO_SHA256, BS + BS / 2 },        /* 2 */
		{ CACHE_ALGO_GIT_SHA1, 3 * MiB },          /* 1 */
	};
	struct crash *cr = calloc(1, sizeof(*cr));
	const char *env = getenv("HUBFS_CRASH_SEED");
	const char *tmp = getenv("TMPDIR");
	struct cache_options opts = { 0 };
	struct cache *c;
	uint64_t seed;
	uint32_t present, total = 0;
	int64_t t0;

	(void)state;
	assert_non_null(cr);
	t0 = time_ns(CLOCK_MONOTONIC);
	seed = env && *env ? strtoull(env, NULL, 10) :
			     (uint64_t)time(NULL) ^ (uint64_t)getpid() << 16;
	cr->rng = seed * 0x9e3779b97f4a7c15ull + 1;
	snprintf(cr->dir, sizeof(cr->dir), "%s/hubfs-test-crash.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(cr->dir));
	print_message("crash test seed %llu (HUBFS_CRASH_SEED=%llu replays its delays "
		      "and operations) in %s (kept on failure)\n",
		      (unsigned long long)seed, (unsigned long long)seed, cr->dir);
	mem_source_init(&cr->ms);
	for (size_t i = 0; i < N_OBJS; i++) {
		cr->objs[i] = mem_source_add(&cr->ms, shapes[i].algo, shapes[i].size, 1000 + i);
		total += cr->objs[i]->n_blocks;
	}
	/* The directory and its marker exist before any child runs. */
	opts.dir = cr->dir;
	assert_int_equal(cache_open(&opts, &c), 0);
	cache_close(c);

	for (int round = 0; round < ROUNDS; round++) {
		bool limited = round % LIMIT_EVERY == LIMIT_EVERY - 1;

		run_round(cr, round, limited ? 1 : 2, limited ? LIMIT_BYTES : 0, !limited);
		c = check_cache(cr, round, !limited, &present);
		if (round < ROUNDS - 1)
			make_room(cr, c, present);
		cache_close(c);
	}

	/* Everything back, against the manifest. */
	mem_source_reset_counts(&cr->ms);
	c = check_cache(cr, ROUNDS, true, &present);
	for (size_t i = 0; i < N_OBJS; i++) {
		const struct mem_object *o = cr->objs[i];
		uint8_t *buf = malloc((size_t)o->key.size);
		struct cache_error err = { 0 };
		struct cache_verify_report r;
		struct cache_object_info info;
		ssize_t n;

		assert_non_null(buf);
		n = cache_read(c, &o->key, &cr->ms.src, buf, (size_t)o->key.size, 0, &err);
		if (n != (ssize_t)o->key.size)
			fail_msg("object %zu: read %zd of %llu (%s)", i, n,
				 (unsigned long long)o->key.size, err.message);
		if (memcmp(buf, o->data, (size_t)o->key.size) != 0)
			fail_msg("object %zu: a wrong byte was served after the crashes", i);
		cache_object_info(c, &o->key, &info);
		assert_true(info.verified);
		assert_int_equal(cache_verify_object(c, &o->key, false, &r), 0);
		assert_int_equal(r.blocks_corrupt, 0);
		assert_int_equal(r.blocks_checked, o->n_blocks);
		assert_true(r.complete);
		assert_true(r.hash_ok);
		free(buf);
	}
	/* The blocks that were on disk were used: only the others were fetched. */
	assert_int_equal(mem_source_fetches(&cr->ms), total - present);
	assert_int_equal(atomic_load(&cr->ms.bad_requests), 0);
	cache_close(c);

	print_message("%d rounds, %u processes killed, %u reports of stored blocks "
		      "or verified objects, %u of %u blocks on disk at the end, %.1f s\n",
		      ROUNDS, cr->kills,
		      cr->events, present, total,
		      (double)(time_ns(CLOCK_MONOTONIC) - t0) / TIME_NS_PER_SEC);
	nftw(cr->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	mem_source_release(&cr->ms);
	free(cr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill9_at_random_points),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
