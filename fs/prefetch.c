/* SPDX-License-Identifier: MIT */
/*
 * Read-ahead: threads that fetch the blocks a sequential reader will want
 * next, so that several range requests are in flight while the
 * application consumes the current block, and that complete a file read
 * out of order (fs_prefetch_complete()). Best effort: a full queue drops
 * the request, a closed file its read-ahead not yet taken
 * (fs_prefetch_forget()), and a failed fetch is left for the reader to
 * meet (and report) itself.
 *
 * How many fetches run at once is an adaptive window (hub/pace.h), as in
 * `hubfs download`: it starts at prefetch_threads, widens while the
 * throughput grows (a distant Hub, a rate per connection), narrows when
 * it falls or the Hub answers 429/503, and never passes max_streams. A
 * fetch takes its place in the window only when it goes to the network
 * (repo_source.pace); a block already cached costs none.
 *
 * Workers: one more starts when work waits, none is idle and there are
 * fewer than the window, up to max_streams.
 *
 * A file whose Hub stalls must not take read-ahead from the others: a
 * file alone in the queue may have the whole window in flight, but while
 * another file's work waits, at most half of it (rounded up). A stalled
 * fetch ends at its deadline.
 *
 * Locking: pf->lock guards everything below it; it is not held while
 * fetching. The pace has its own lock and is never called under pf->lock;
 * the worker pool (util/workers.h) has its own too, taken after pf->lock.
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hub/pace.h"
#include "util/log.h"
#include "util/workers.h"

#define QUEUE_MAX 256
/*
 * The largest max_streams. Each fetch in flight costs a Hub connection and
 * its 256 KiB receive buffer; on loopback the window stays near its start
 * (the machine, not the network, is the limit), and eight readers of
 * eight files with a fixed 64 fetches peaked at 97 MiB (16: 77 MiB).
 */
#define PREFETCH_MAX_THREADS 64

struct job {
	struct repo_snapshot *snap;    /* a ref, so the entry stays valid */
	const struct repo_entry *entry;
	uint32_t index;
	uint32_t stride;             /* completing a file: then block index + stride; 0: no */
	const struct fs_handle *owner; /* the open file whose read queued it; never dereferenced */
	uint32_t rejects;            /* cache_object_rejects() when its file was opened */
};

struct fs_prefetch {
	struct fs *fs;
	pthread_mutex_t lock;
	pthread_cond_t wake;         /* a job arrived, a fetch ended, or stop */
	struct job q[QUEUE_MAX];
	size_t head, count;
	bool stop;
	struct workers *pool;        /* the threads (util/workers.h); its own lock */
	unsigned n_idle;             /* workers waiting for a job */
	struct hub_pace *pace;       /* the window; its own lock; constant pointer */
	unsigned first_window;       /* the pace's start after a probe that finds no near link */
	const struct repo_entry *fetching[PREFETCH_MAX_THREADS]; /* in flight; NULL: free */
};

static bool queue_job(struct fs *fs, const struct job *job);

/*
 * The window now: how many fetches may be on the network at once. While
 * the pace probes the link (hub/pace.h), the window it opens to without a
 * near answer: the fetches that wait for it wait in the pace, which opens
 * when the probe's time is up, not when its one fetch ends (at 30 ms and
 * 60 MB/s a connection, 100 ms later). When the probe finds a near link
 * instead, a file may hold more fetches than the window of 2 for as long
 * as those taken meanwhile take: one window's worth at most, once.
 */
static unsigned window(struct fs_prefetch *pf)
{
	struct hub_pace_stats st;

	hub_pace_stats(pf->pace, &st);
	if (st.probing)
		return pf->first_window;
	return st.window ? st.window : 1;
}

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

/* Does a fetch of a file other than @entry wait in the queue? */
static bool others_wait(const struct fs_prefetch *pf, const struct repo_entry *entry)
{
	for (size_t i = 0; i < pf->count; i++) {
		const struct job *j = &pf->q[(pf->head + i) % QUEUE_MAX];

		if (j->entry != entry)
			return true;
	}
	return false;
}

/* Take job @i of the queue into @out, closing the gap it leaves. */
static void take_at(struct fs_prefetch *pf, size_t i, struct job *out)
{
	*out = pf->q[(pf->head + i) % QUEUE_MAX];
	for (size_t k = i; k > 0; k--)
		pf->q[(pf->head + k) % QUEUE_MAX] = pf->q[(pf->head + k - 1) % QUEUE_MAX];
	pf->head = (pf->head + 1) % QUEUE_MAX;
	pf->count--;
}

/*
 * Take the oldest fetch whose file has room. False: none. @win: the
 * window, read before pf->lock was taken.
 */
static bool take_job(struct fs_prefetch *pf, unsigned win, struct job *out)
{
	for (size_t i = 0; i < pf->count; i++) {
		const struct job *j = &pf->q[(pf->head + i) % QUEUE_MAX];
		unsigned cap = others_wait(pf, j->entry) ? (win + 1) / 2 : win;

		if (in_flight(pf, j->entry) < cap) {
			take_at(pf, i, out);
			return true;
		}
	}
	return false;
}

/*
 * Fetch the block of @job, unless its content was refused since the file
 * was opened (-ECANCELED): that open is failed (fs_op_read()), and a new
 * one plans its own read-ahead. Fetched anyway, the block would only take
 * the room of those the next reader needs under a cap.
 */
static int fetch_job(struct fs_prefetch *pf, const struct job *job)
{
	struct cache_error cerr = { 0 };
	struct cache_source src;
	struct repo_source source;
	struct cache_key key;
	int64_t prev;
	int rc;

	repo_entry_key(job->entry, &key);
	if (cache_object_rejects(pf->fs->deps.cache, &key) != job->rejects)
		return -ECANCELED;
	repo_source_init(&source, pf->fs->deps.hub, job->snap, job->entry, &src);
	source.pace = pf->pace;
	atomic_fetch_add(&pf->fs->status.readahead_in_flight, 1);
	/* Its own deadline: the wait for a place in the window counts. */
	prev = hub_deadline_set(hub_now_ms() + pf->fs->deps.hub_config->op_timeout_ms);
	rc = cache_prefetch(pf->fs->deps.cache, &key, &src, job->index, &cerr);
	hub_deadline_set(prev);
	atomic_fetch_sub(&pf->fs->status.readahead_in_flight, 1);
	if (rc == -EBADMSG) {
		/*
		 * This fetch completed the object and it failed its hash,
		 * or its block came back with other bytes than readers
		 * were served before (cache/cache.c, note_block()).
		 * Its readers were served unverified blocks of it; a read
		 * that starts now would not learn of the failure from the
		 * cache (the object is simply gone): fail their files here.
		 */
		fs_refuse_object(pf->fs, job->snap, job->entry, &key, cerr.message);
	} else if (rc < 0) {
		log_dbg("read-ahead of block %u of '%s' failed: %s", job->index,
			job->entry->path, cerr.message);
	}
	return rc;
}

static void worker(void *pf_)
{
	struct fs_prefetch *pf = pf_;

	for (;;) {
		unsigned win = window(pf);
		unsigned slot = 0;
		struct job job;
		int rc;

		pthread_mutex_lock(&pf->lock);
		pf->n_idle++;
		while (!pf->stop && !take_job(pf, win, &job)) {
			pthread_cond_wait(&pf->wake, &pf->lock);
			/* The window changes as fetches end: read it again. */
			pthread_mutex_unlock(&pf->lock);
			win = window(pf);
			pthread_mutex_lock(&pf->lock);
		}
		pf->n_idle--;
		if (pf->stop) {
			pthread_mutex_unlock(&pf->lock);
			return;
		}
		while (pf->fetching[slot])
			slot++; /* a free slot exists: one per thread */
		pf->fetching[slot] = job.entry;
		pthread_mutex_unlock(&pf->lock);

		rc = fetch_job(pf, &job);
		pthread_mutex_lock(&pf->lock);
		pf->fetching[slot] = NULL;
		pthread_cond_broadcast(&pf->wake); /* its file may have room again */
		pthread_mutex_unlock(&pf->lock);
		/*
		 * Completing a file: the block a stride on takes this one's
		 * place. A failure ends it: the reader meets it on its own.
		 */
		if (job.stride && rc == 0 &&
		    job.index + job.stride < cache_blocks_for(job.entry->size)) {
			job.index += job.stride;
			if (queue_job(pf->fs, &job))
				continue; /* the queue has the snapshot ref now */
		}
		repo_snapshot_unref(job.snap);
	}
}

/*
 * Another worker when work waits, none is idle and there are fewer than
 * the window @win. Called with pf->lock held.
 */
static void grow(struct fs_prefetch *pf, unsigned win)
{
	if (pf->n_idle > 0 || workers_count(pf->pool) >= win || pf->stop)
		return;
	(void)workers_grow(pf->pool); /* at max_streams, or refused: those there go on */
}

int fs_prefetch_start(struct fs *fs, unsigned threads, unsigned max_streams)
{
	struct fs_prefetch *pf = calloc(1, sizeof(*pf));
	int rc;

	if (!pf)
		return -ENOMEM;
	if (max_streams < 1 || max_streams > PREFETCH_MAX_THREADS)
		max_streams = max_streams < 1 ? 1 : PREFETCH_MAX_THREADS;
	if (threads > max_streams)
		threads = max_streams;
	rc = hub_pace_new(&(struct hub_pace_opts){ .initial = threads ? threads : 1,
						   .max = max_streams,
						   .probe_ms = HUB_PACE_PROBE_MS,
						   /*
						    * The window's consumer: the running hashes. A
						    * reader's bytes would not do: pushes put most
						    * of a sequential read into the page cache,
						    * where its reads never reach the daemon.
						    */
						   .consumed = cache_hashed_bytes,
						   .consumed_ctx = fs->deps.cache }, &pf->pace);
	if (rc < 0) {
		free(pf);
		return rc;
	}
	pf->first_window = threads ? threads : 1;
	/* A 429 or 503 to any of the mount's requests narrows the window. */
	hub_client_set_pace(fs->deps.hub, pf->pace);
	pf->fs = fs;
	pthread_mutex_init(&pf->lock, NULL);
	pthread_cond_init(&pf->wake, NULL);
	/* fetching[] has a slot per worker: at most max_streams of them. */
	rc = workers_start(threads, max_streams, worker, pf, &pf->pool);
	if (rc < 0) {
		hub_client_set_pace(fs->deps.hub, NULL);
		hub_pace_free(pf->pace);
		pthread_mutex_destroy(&pf->lock);
		pthread_cond_destroy(&pf->wake);
		free(pf);
		return rc;
	}
	fs->prefetch = pf;
	return 0;
}

void fs_prefetch_cancel(struct fs *fs)
{
	if (fs->prefetch)
		hub_pace_close(fs->prefetch->pace);
}

void fs_prefetch_stop(struct fs *fs)
{
	struct fs_prefetch *pf = fs->prefetch;

	if (!pf)
		return;
	hub_pace_close(pf->pace); /* a worker waiting for a place gives up now */
	pthread_mutex_lock(&pf->lock);
	pf->stop = true;
	pthread_cond_broadcast(&pf->wake);
	pthread_mutex_unlock(&pf->lock);
	workers_join(pf->pool); /* stop is set: every worker returns */
	hub_client_set_pace(pf->fs->deps.hub, NULL);
	hub_pace_free(pf->pace);
	while (pf->count) {
		repo_snapshot_unref(pf->q[pf->head].snap);
		pf->head = (pf->head + 1) % QUEUE_MAX;
		pf->count--;
	}
	pthread_mutex_destroy(&pf->lock);
	pthread_cond_destroy(&pf->wake);
	free(pf);
	fs->prefetch = NULL;
}

/*
 * Queue @job: a guess, dropped when the queue is full. False when it was
 * not queued (no read-ahead, stopping, full).
 */
static bool queue_job(struct fs *fs, const struct job *job)
{
	struct fs_prefetch *pf = fs->prefetch;
	bool queued = false;
	unsigned win;

	if (!pf)
		return false;
	win = window(pf); /* before pf->lock: the two are never held together */
	pthread_mutex_lock(&pf->lock);
	if (workers_count(pf->pool) && !pf->stop && pf->count < QUEUE_MAX) {
		pf->q[(pf->head + pf->count) % QUEUE_MAX] = *job;
		pf->count++;
		/* Broadcast: the worker woken first may find this job's file full. */
		pthread_cond_broadcast(&pf->wake);
		grow(pf, win);
		queued = true;
	}
	pthread_mutex_unlock(&pf->lock);
	return queued;
}

static void queue_block(struct fs *fs, struct fs_handle *h, uint32_t index, uint32_t stride)
{
	struct job job = { .snap = h->snap, .entry = h->entry, .index = index,
			   .stride = stride, .owner = h, .rejects = h->rejects_at_open };

	repo_snapshot_ref(h->snap); /* the queue's */
	if (!queue_job(fs, &job))
		repo_snapshot_unref(h->snap);
}

void fs_prefetch_block(struct fs *fs, struct fs_handle *h, uint32_t index)
{
	queue_block(fs, h, index, 0);
}

void fs_prefetch_complete(struct fs *fs, struct fs_handle *h, uint32_t from, uint32_t stride)
{
	uint32_t blocks = cache_blocks_for(h->entry->size);

	for (uint32_t k = from; k < blocks && k - from < stride; k++)
		queue_block(fs, h, k, stride);
}

void fs_prefetch_forget(struct fs *fs, const struct fs_handle *h)
{
	struct fs_prefetch *pf = fs->prefetch;
	size_t kept = 0;

	if (!pf)
		return;
	pthread_mutex_lock(&pf->lock);
	for (size_t i = 0; i < pf->count; i++) {
		struct job *j = &pf->q[(pf->head + i) % QUEUE_MAX];

		if (j->owner == h && !j->stride) {
			repo_snapshot_unref(j->snap);
			continue;
		}
		pf->q[(pf->head + kept++) % QUEUE_MAX] = *j;
	}
	pf->count = kept;
	pthread_mutex_unlock(&pf->lock);
}

unsigned fs_prefetch_window(struct fs *fs)
{
	return fs->prefetch ? window(fs->prefetch) : 0;
}

void fs_prefetch_pace_stats(struct fs *fs, struct hub_pace_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (fs->prefetch)
		hub_pace_stats(fs->prefetch->pace, out);
}
