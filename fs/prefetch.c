/* SPDX-License-Identifier: MIT */
/*
 * Read-ahead: a few threads that fetch the blocks a sequential reader
 * will want next, so that several range requests are in flight while the
 * application consumes the current block. Best effort: a full queue drops
 * the request, and a failed fetch is left for the reader to meet (and
 * report) itself.
 *
 * Locking: pf->lock guards the queue; it is not held while fetching.
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define QUEUE_MAX 256

struct job {
	struct fs_snapshot *snap;    /* a ref, so the entry stays valid; NULL: invalidate */
	const struct fs_entry *entry;
	uint32_t index;
	fuse_ino_t ino;              /* the inode to invalidate */
};

struct fs_prefetch {
	struct fs *fs;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job q[QUEUE_MAX];
	size_t head, count;
	bool stop;
	pthread_t *threads;
	unsigned n_threads;
};

static void *worker(void *pf_)
{
	struct fs_prefetch *pf = pf_;

	for (;;) {
		struct cache_error cerr = { { 0 } };
		struct cache_source src;
		struct fs_source source;
		struct cache_key key;
		struct job job;

		pthread_mutex_lock(&pf->lock);
		while (!pf->count && !pf->stop)
			pthread_cond_wait(&pf->wake, &pf->lock);
		if (pf->stop) {
			pthread_mutex_unlock(&pf->lock);
			return NULL;
		}
		job = pf->q[pf->head];
		pf->head = (pf->head + 1) % QUEUE_MAX;
		pf->count--;
		pthread_mutex_unlock(&pf->lock);

		if (!job.snap) {
			fuse_lowlevel_notify_inval_inode(pf->fs->se, job.ino, 0, 0);
			continue;
		}
		fs_entry_key(job.entry, &key);
		fs_source_init(&source, pf->fs->deps.hub, job.snap, job.entry, &src);
		if (cache_prefetch(pf->fs->deps.cache, &key, &src, job.index, &cerr) < 0)
			log_dbg("read-ahead of block %u of '%s' failed: %s", job.index,
				job.entry->path, cerr.message);
		fs_snapshot_unref(job.snap);
	}
}

int fs_prefetch_start(struct fs *fs, unsigned threads)
{
	struct fs_prefetch *pf = calloc(1, sizeof(*pf));

	if (!pf)
		return -ENOMEM;
	pf->fs = fs;
	pthread_mutex_init(&pf->lock, NULL);
	pthread_cond_init(&pf->wake, NULL);
	pf->threads = calloc(threads ? threads : 1, sizeof(*pf->threads));
	if (!pf->threads) {
		free(pf);
		return -ENOMEM;
	}
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
	for (unsigned i = 0; i < pf->n_threads; i++)
		pthread_join(pf->threads[i], NULL);
	while (pf->count) {
		if (pf->q[pf->head].snap)
			fs_snapshot_unref(pf->q[pf->head].snap);
		pf->head = (pf->head + 1) % QUEUE_MAX;
		pf->count--;
	}
	pthread_mutex_destroy(&pf->lock);
	pthread_cond_destroy(&pf->wake);
	free(pf->threads);
	free(pf);
	fs->prefetch = NULL;
}

void fs_prefetch_block(struct fs *fs, struct fs_handle *h, uint32_t index)
{
	struct fs_prefetch *pf = fs->prefetch;

	if (!pf || !pf->n_threads)
		return;
	pthread_mutex_lock(&pf->lock);
	if (pf->count < QUEUE_MAX && !pf->stop) {
		struct job *j = &pf->q[(pf->head + pf->count) % QUEUE_MAX];

		fs_snapshot_ref(h->snap);
		j->snap = h->snap;
		j->entry = h->entry;
		j->index = index;
		j->ino = 0;
		pf->count++;
		pthread_cond_signal(&pf->wake);
	}
	pthread_mutex_unlock(&pf->lock);
}

void fs_prefetch_invalidate(struct fs *fs, fuse_ino_t ino)
{
	struct fs_prefetch *pf = fs->prefetch;

	if (!pf || !pf->n_threads)
		return;
	pthread_mutex_lock(&pf->lock);
	/* This one is not optional: wait for room rather than drop it. */
	if (!pf->stop) {
		struct job *j = &pf->q[(pf->head + pf->count) % QUEUE_MAX];

		if (pf->count == QUEUE_MAX) {
			/* Replace the newest read-ahead; it was only a guess. */
			j = &pf->q[(pf->head + pf->count - 1) % QUEUE_MAX];
			if (j->snap)
				fs_snapshot_unref(j->snap);
			pf->count--;
		}
		memset(j, 0, sizeof(*j));
		j->ino = ino;
		pf->count++;
		pthread_cond_signal(&pf->wake);
	}
	pthread_mutex_unlock(&pf->lock);
}
