/* SPDX-License-Identifier: MIT */
/*
 * Waiting for the Hub on behalf of a FUSE request, so that the request
 * always ends: when its work is done, when the kernel interrupts it (the
 * caller got a signal), when its deadline passes, or when the mount ends.
 *
 * The work that may take long (a repo's listing, a block's fetch) runs on
 * a helper thread of its own; the request's thread only waits, in short
 * slices, and can answer EINTR or time out while the helper goes on (a
 * read does not even wait: its helper answers it, read_park() in ops.c). A
 * helper whose request left finishes its work anyway, into the cache and
 * the repo table, for the next reader: fetches are never cancelled by an
 * interrupt, only bounded by their own deadline. Helpers are started on
 * demand, one per piece of work, so that no pool can run dry; each one
 * is bounded in time by the Hub client's limits, and their number by
 * HELPERS_MAX. A request that finds no helper to be had (the cap, or a
 * pids limit such as systemd's TasksMax) waits for one, interruptibly:
 * the work never runs on the request's own thread, where a signal could
 * not end it.
 *
 * Locking: fs->helpers_lock guards fs->n_helpers only; fs->helpers_max
 * is set before any request comes (fs_helpers_size()).
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "util/log.h"
#include "util/time.h"

#define WAIT_SLICE_MS 50 /* how late an interrupt may be noticed */
/*
 * A request waits a little longer than the work it started may take, so
 * that the work's own error (which says what was slow, and where) is
 * normally the one reported.
 */
#define WAIT_GRACE_MS FS_WAIT_GRACE_MS
/*
 * Helper threads at once, at most: what stalled fetches abandoned by
 * their requests can pile up to. Each costs ~20 KiB of memory and a
 * stack's address space. A read waiting for the Hub holds one: at 512,
 * 1,000 direct readers of a stalled file left a read of a cached file,
 * which needs a helper to check blocks another process stored, waiting
 * 52 s for one.
 * Fewer where open files are short (fs_helpers_size()).
 */
#define HELPERS_MAX 4096
/*
 * A helper fetching a block may hold three descriptors: its transfer's
 * connection, the pooled handle's idle one to the API host, and the block
 * file. This many are kept for everything else: the pool's 64 handles and
 * their connections, the read-ahead's streams and block files, the FUSE
 * workers' splice pipes, the cache and the log.
 */
#define FDS_PER_HELPER 3
#define FDS_KEPT 512
#define HELPERS_MIN 64

void fs_helpers_size(struct fs *fs)
{
	struct rlimit rl;
	uint64_t room;

	fs->helpers_max = HELPERS_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	/*
	 * The soft limit is often 1,024 (a shell's, systemd's default)
	 * under a hard one of 524,288: 4,096 helpers, each on a block of its
	 * own, would run out of descriptors, the cached reads beside them
	 * too (EMFILE). Raise it to the hard limit, as systemd advises
	 * programs that need more to do; where that fails, fit under it.
	 */
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
		struct rlimit raised = { rl.rlim_max, rl.rlim_max };

		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl = raised;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return;
	room = rl.rlim_cur > FDS_KEPT ? (rl.rlim_cur - FDS_KEPT) / FDS_PER_HELPER : 0;
	if (room < HELPERS_MAX)
		fs->helpers_max = room > HELPERS_MIN ? (unsigned)room : HELPERS_MIN;
	if (fs->helpers_max < HELPERS_MAX)
		log_info("up to %u helper threads at once: %llu open files allowed",
			 fs->helpers_max, (unsigned long long)rl.rlim_cur);
}

void fs_wait_init(struct fs_wait *w, struct fs *fs, fuse_req_t req)
{
	w->req = req;
	w->deadline_ms = hub_now_ms() + fs->deps.hub_config->op_timeout_ms + WAIT_GRACE_MS;
}

int fs_wait_check(struct fs *fs, const struct fs_wait *w)
{
	/*
	 * libfuse joins its workers before the session loop returns: a
	 * request still waiting then would hold the unmount up until its
	 * work ended. Once the session has exited, nobody reads the answer.
	 */
	if (fs_ending(fs))
		return -ECANCELED;
	if (!w)
		return 0;
	if (w->req && fuse_req_interrupted(w->req))
		return -EINTR;
	if (hub_now_ms() >= w->deadline_ms)
		return -ETIMEDOUT;
	return 0;
}

int fs_wait_slice(struct fs *fs, const struct fs_wait *w, pthread_cond_t *cond,
		  pthread_mutex_t *lock)
{
	time_cond_wait_ms(cond, lock, WAIT_SLICE_MS);
	return fs_wait_check(fs, w);
}

/* fs->helpers_max, or HELPERS_MAX where it was never sized (a test's fs). */
static unsigned helpers_cap(const struct fs *fs)
{
	return fs->helpers_max ? fs->helpers_max : HELPERS_MAX;
}

struct helper {
	struct fs *fs;
	void (*fn)(struct fs *fs, void *arg);
	void *arg;
};

static void *helper_main(void *h_)
{
	struct helper h = *(struct helper *)h_;

	free(h_);
	h.fn(h.fs, h.arg);
	pthread_mutex_lock(&h.fs->helpers_lock);
	h.fs->n_helpers--;
	pthread_cond_broadcast(&h.fs->helpers_done);
	pthread_mutex_unlock(&h.fs->helpers_lock);
	return NULL;
}

/* One helper for @fn(@arg), if one can be had now: 0, or -errno. */
static int helper_start(struct fs *fs, void (*fn)(struct fs *fs, void *arg), void *arg)
{
	struct helper *h;
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	pthread_mutex_lock(&fs->helpers_lock);
	if (fs->n_helpers >= helpers_cap(fs)) {
		pthread_mutex_unlock(&fs->helpers_lock);
		return -EBUSY; /* pthread_create() says EAGAIN for a pids limit */
	}
	fs->n_helpers++;
	pthread_mutex_unlock(&fs->helpers_lock);
	h = malloc(sizeof(*h));
	rc = h ? 0 : ENOMEM;
	if (h) {
		h->fs = fs;
		h->fn = fn;
		h->arg = arg;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&tid, &attr, helper_main, h);
		pthread_attr_destroy(&attr);
	}
	if (rc != 0) {
		free(h);
		pthread_mutex_lock(&fs->helpers_lock);
		fs->n_helpers--;
		pthread_cond_broadcast(&fs->helpers_done);
		pthread_mutex_unlock(&fs->helpers_lock);
		return -rc;
	}
	return 0;
}

int fs_helper_try(struct fs *fs, void (*fn)(struct fs *fs, void *arg), void *arg)
{
	return helper_start(fs, fn, arg);
}

int fs_helper_run(struct fs *fs, const struct fs_wait *w,
		  void (*fn)(struct fs *fs, void *arg), void *arg)
{
	bool logged = false;
	int rc;

	for (;;) {
		rc = helper_start(fs, fn, arg);
		if (rc == 0)
			return 0;
		if (!w) {
			fn(fs, arg); /* a thread of ours: nobody to interrupt it */
			return 0;
		}
		pthread_mutex_lock(&fs->helpers_lock);
		if (!logged) {
			log_warn("no helper thread to be had (%s, %u running); the request "
				 "waits for one", rc == -EBUSY ? "at the cap" : strerror(-rc),
				 fs->n_helpers);
			logged = true;
		}
		/* A helper that ended since helper_start() has broadcast already. */
		if (rc == -EBUSY && fs->n_helpers < helpers_cap(fs))
			rc = fs_wait_check(fs, w);
		else
			rc = fs_wait_slice(fs, w, &fs->helpers_done, &fs->helpers_lock);
		pthread_mutex_unlock(&fs->helpers_lock);
		if (rc < 0)
			return rc;
	}
}

void fs_helpers_drain(struct fs *fs)
{
	pthread_mutex_lock(&fs->helpers_lock);
	while (fs->n_helpers > 0)
		pthread_cond_wait(&fs->helpers_done, &fs->helpers_lock);
	pthread_mutex_unlock(&fs->helpers_lock);
}
