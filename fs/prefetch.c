/* SPDX-License-Identifier: MIT */
/*
 * Read-ahead: threads that fetch the blocks a sequential reader will want
 * next, so that several range requests are in flight while the
 * application consumes the current block. Best effort: a full queue drops
 * the request, and a failed fetch is left for the reader to meet (and
 * report) itself.
 *
 * A file whose Hub stalls must not take read-ahead from the others: one
 * file has at most as many fetches in flight as the pool starts with
 * (prefetch_threads: all of them on one file when it is alone), and when work is
 * waiting and no worker is idle, another worker starts, up to
 * PREFETCH_MAX_THREADS. A stalled fetch ends at its deadline.
 *
 * Locking: pf->lock guards everything below it; it is not held while
 * fetching.
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define QUEUE_MAX 256
/*
 * Twice the default pool: a stalled file holds at most its share and the
 * rest go on. Each worker costs a Hub connection and its 256 KiB receive
 * buffer: with 64, eight cold readers of eight files ran 64 fetches at
 * once and the daemon peaked at 97 MiB (16: 77 MiB, and faster).
 */
#define PREFETCH_MAX_THREADS 16

struct job {
	struct repo_snapshot *snap;    /* a ref, so the entry stays valid; NULL: invalidate */
	const struct repo_entry *entry;
	uint32_t index;
	fuse_ino_t ino;              /* the inode to invalidate */
};

struct fs_prefetch {
	struct fs *fs;
	pthread_mutex_t lock;
	pthread_cond_t wake;         /* a job arrived, a fetch ended, or stop */
	struct job q[QUEUE_MAX];
	size_t head, count;
	bool stop;
	pthread_t threads[PREFETCH_MAX_THREADS];
	unsigned n_threads;
	unsigned n_idle;             /* workers waiting for a job */
	unsigned per_file_max;       /* fetches of one file in flight, at most; constant */
	const struct repo_entry *fetching[PREFETCH_MAX_THREADS]; /* in flight; NULL: free */
};

/* How many fetches of @entry's file are in flight. */
static unsigned in_flight(const struct fs_prefetch *pf, const struct repo_entry *entry)
{
	unsigned n = 0;

	for (unsigned i = 0; i < PREFETCH_MAX_THREADS; i++) {
		if (pf->fetching[i] == entry)
			n++;
	}
	return n;
}

/*
 * Take the oldest job that may run now (an invalidation always may; a
 * fetch when its file has room), closing the gap it leaves. False: none.
 */
static bool take_job(struct fs_prefetch *pf, struct job *out)
{
	for (size_t i = 0; i < pf->count; i++) {
		size_t at = (pf->head + i) % QUEUE_MAX;

		if (pf->q[at].snap && in_flight(pf, pf->q[at].entry) >= pf->per_file_max)
			continue;
		*out = pf->q[at];
		for (size_t k = i; k > 0; k--)
			pf->q[(pf->head + k) % QUEUE_MAX] = pf->q[(pf->head + k - 1) % QUEUE_MAX];
		pf->head = (pf->head + 1) % QUEUE_MAX;
		pf->count--;
		return true;
	}
	return false;
}

static void *worker(void *pf_)
{
	struct fs_prefetch *pf = pf_;

	for (;;) {
		struct cache_error cerr = { { 0 } };
		struct cache_source src;
		struct repo_source source;
		struct cache_key key;
		struct job job;
		unsigned slot = 0;
		int rc;

		pthread_mutex_lock(&pf->lock);
		pf->n_idle++;
		while (!pf->stop && !take_job(pf, &job))
			pthread_cond_wait(&pf->wake, &pf->lock);
		pf->n_idle--;
		if (pf->stop) {
			pthread_mutex_unlock(&pf->lock);
			return NULL;
		}
		if (job.snap) {
			while (pf->fetching[slot])
				slot++; /* a free slot exists: one per thread */
			pf->fetching[slot] = job.entry;
		}
		pthread_mutex_unlock(&pf->lock);

		if (!job.snap) {
			fuse_lowlevel_notify_inval_inode(pf->fs->se, job.ino, 0, 0);
			continue;
		}
		repo_entry_key(job.entry, &key);
		repo_source_init(&source, pf->fs->deps.hub, job.snap, job.entry, &src);
		source.streams = pf->fs->opts.prefetch_streams;
		atomic_fetch_add(&pf->fs->status.readahead_in_flight, 1);
		rc = cache_prefetch(pf->fs->deps.cache, &key, &src, job.index, &cerr);
		atomic_fetch_sub(&pf->fs->status.readahead_in_flight, 1);
		if (rc == -EBADMSG) {
			/*
			 * This fetch completed the object and it failed its hash.
			 * Its readers were served unverified blocks of it; a read
			 * that starts now would not learn of the failure from the
			 * cache (the object is simply gone): fail their files here.
			 */
			log_err("%s@%s:%s: refused: %s", job.snap->repo_key,
				job.snap->repo.revision[0] ? job.snap->repo.revision : "main",
				job.entry->path, cerr.message[0] ? cerr.message :
				"verification failed");
			fs_poison_object(pf->fs, &key);
		} else if (rc < 0) {
			log_dbg("read-ahead of block %u of '%s' failed: %s", job.index,
				job.entry->path, cerr.message);
		}
		pthread_mutex_lock(&pf->lock);
		pf->fetching[slot] = NULL;
		pthread_cond_broadcast(&pf->wake); /* its file may have room again */
		pthread_mutex_unlock(&pf->lock);
		repo_snapshot_unref(job.snap);
	}
}

/* Another worker when work waits and none is idle. Called with pf->lock held. */
static void grow(struct fs_prefetch *pf)
{
	if (pf->n_idle > 0 || pf->n_threads >= PREFETCH_MAX_THREADS || pf->stop)
		return;
	if (pthread_create(&pf->threads[pf->n_threads], NULL, worker, pf) == 0)
		pf->n_threads++;
}

int fs_prefetch_start(struct fs *fs, unsigned threads)
{
	struct fs_prefetch *pf = calloc(1, sizeof(*pf));

	if (!pf)
		return -ENOMEM;
	pf->fs = fs;
	pthread_mutex_init(&pf->lock, NULL);
	pthread_cond_init(&pf->wake, NULL);
	if (threads > PREFETCH_MAX_THREADS)
		threads = PREFETCH_MAX_THREADS;
	pf->per_file_max = threads ? threads : 1;
	for (unsigned i = 0; i < threads; i++) {
		if (pthread_create(&pf->threads[i], NULL, worker, pf) != 0)
			break;
		pf->n_threads++;
	}
	fs->prefetch = pf;
	return 0;
}

void fs_prefetch_stop(struct fs *fs)
{
	struct fs_prefetch *pf = fs->prefetch;

	if (!pf)
		return;
	pthread_mutex_lock(&pf->lock);
	pf->stop = true;
	pthread_cond_broadcast(&pf->wake);
	pthread_mutex_unlock(&pf->lock);
	/* No worker starts once stop is set: n_threads is final. */
	for (unsigned i = 0; i < pf->n_threads; i++)
		pthread_join(pf->threads[i], NULL);
	while (pf->count) {
		if (pf->q[pf->head].snap)
			repo_snapshot_unref(pf->q[pf->head].snap);
		pf->head = (pf->head + 1) % QUEUE_MAX;
		pf->count--;
	}
	pthread_mutex_destroy(&pf->lock);
	pthread_cond_destroy(&pf->wake);
	free(pf);
	fs->prefetch = NULL;
}

void fs_prefetch_block(struct fs *fs, struct fs_handle *h, uint32_t index)
{
	struct fs_prefetch *pf = fs->prefetch;

	if (!pf)
		return;
	pthread_mutex_lock(&pf->lock);
	if (pf->n_threads && pf->count < QUEUE_MAX && !pf->stop) {
		struct job *j = &pf->q[(pf->head + pf->count) % QUEUE_MAX];

		repo_snapshot_ref(h->snap);
		j->snap = h->snap;
		j->entry = h->entry;
		j->index = index;
		j->ino = 0;
		pf->count++;
		/* Broadcast: the worker woken first may find this file full. */
		pthread_cond_broadcast(&pf->wake);
		grow(pf);
	}
	pthread_mutex_unlock(&pf->lock);
}

void fs_prefetch_invalidate(struct fs *fs, fuse_ino_t ino)
{
	struct fs_prefetch *pf = fs->prefetch;

	if (!pf)
		return;
	pthread_mutex_lock(&pf->lock);
	/* This one is not optional: wait for room rather than drop it. */
	if (pf->n_threads && !pf->stop) {
		struct job *j = &pf->q[(pf->head + pf->count) % QUEUE_MAX];

		if (pf->count == QUEUE_MAX) {
			/* Replace the newest read-ahead; it was only a guess. */
			j = &pf->q[(pf->head + pf->count - 1) % QUEUE_MAX];
			if (j->snap)
				repo_snapshot_unref(j->snap);
			pf->count--;
		}
		memset(j, 0, sizeof(*j));
		j->ino = ino;
		pf->count++;
		pthread_cond_broadcast(&pf->wake);
		grow(pf);
	}
	pthread_mutex_unlock(&pf->lock);
}
