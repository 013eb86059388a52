/* SPDX-License-Identifier: MIT */
/*
 * Dropping the kernel's cached pages of an inode (FUSE_NOTIFY_INVAL_INODE)
 * from a thread of its own. A drop is asked for where it cannot be done:
 * in the read that found the problem, the kernel would wait for the page
 * locks of that very read. It must not wait behind anything else either:
 * the pages it drops are unverified (the end of a file read before its
 * verdict) or failed (content refused), and until they go another open of
 * the inode reads them without asking us. On the read-ahead's workers it
 * waited for a free one, which a stalled Hub held until its fetches'
 * deadline, and a queue full of them lost the rest.
 *
 * One pending drop per inode: a second one for the same inode widens the
 * first (to the whole file, unless both are ranges that meet), so the
 * list is never longer than the inodes with a drop pending, and no drop
 * is lost but for want of memory, which is logged. The thread can still
 * wait in the kernel for a page that a read in flight holds locked; that
 * read ends by its own deadline.
 *
 * Locking: iv->lock guards the list and stop; it is not held while the
 * kernel is called.
 */
#include "fs/fs_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

struct drop {
	struct drop *next;
	fuse_ino_t ino;
	off_t off, len;              /* len 0: every page of the inode */
};

struct fs_inval {
	struct fs *fs;
	pthread_mutex_t lock;
	pthread_cond_t wake;         /* a drop was asked for, or stop */
	struct drop *first, *last;   /* pending, oldest first */
	bool busy;                   /* a drop is in the kernel now */
	bool closed;                 /* no drop is taken any more (fs_inval_close()) */
	bool stop;
	pthread_t thread;
};

/* @d widened to cover [@off, @off + @len) as well (len 0: everything). */
static void widen(struct drop *d, off_t off, off_t len)
{
	off_t end;

	if (d->len == 0)
		return;
	if (len == 0 || off > d->off + d->len || d->off > off + len) {
		d->off = 0;
		d->len = 0; /* apart, or the whole file: the whole file */
		return;
	}
	end = off + len > d->off + d->len ? off + len : d->off + d->len;
	if (off < d->off)
		d->off = off;
	d->len = end - d->off;
}

static void *inval_main(void *iv_)
{
	struct fs_inval *iv = iv_;

	pthread_mutex_lock(&iv->lock);
	for (;;) {
		struct drop *d;

		while (!iv->stop && !iv->first)
			pthread_cond_wait(&iv->wake, &iv->lock);
		if (iv->stop)
			break;
		d = iv->first;
		iv->first = d->next;
		if (!iv->first)
			iv->last = NULL;
		iv->busy = true;
		pthread_mutex_unlock(&iv->lock);
		/* Fails only when the kernel no longer knows the inode, or at the unmount. */
		(void)fuse_lowlevel_notify_inval_inode(iv->fs->se, d->ino, d->off, d->len);
		free(d);
		pthread_mutex_lock(&iv->lock);
		iv->busy = false;
	}
	pthread_mutex_unlock(&iv->lock);
	return NULL;
}

int fs_inval_start(struct fs *fs)
{
	struct fs_inval *iv = calloc(1, sizeof(*iv));
	int rc;

	if (!iv)
		return -ENOMEM;
	iv->fs = fs;
	pthread_mutex_init(&iv->lock, NULL);
	pthread_cond_init(&iv->wake, NULL);
	rc = pthread_create(&iv->thread, NULL, inval_main, iv);
	if (rc != 0) {
		pthread_mutex_destroy(&iv->lock);
		pthread_cond_destroy(&iv->wake);
		free(iv);
		return -rc;
	}
	fs->inval = iv;
	return 0;
}

/* Free what fs->inval holds, its thread joined. */
static void fs_inval_free(struct fs *fs)
{
	struct fs_inval *iv = fs->inval;

	/* The mount is gone, and its inodes' pages with it. */
	while (iv->first) {
		struct drop *d = iv->first;

		iv->first = d->next;
		free(d);
	}
	pthread_mutex_destroy(&iv->lock);
	pthread_cond_destroy(&iv->wake);
	free(iv);
	fs->inval = NULL;
}

/* How long the stop waits for a drop the kernel holds up (see below). */
#define INVAL_STOP_WAIT_MS 1000

void fs_inval_stop(struct fs *fs)
{
	struct fs_inval *iv = fs->inval;
	struct timespec until;

	if (!iv)
		return;
	pthread_mutex_lock(&iv->lock);
	iv->stop = true;
	pthread_cond_signal(&iv->wake);
	pthread_mutex_unlock(&iv->lock);
	/*
	 * A drop in the kernel waits for the page locks of reads queued there.
	 * On a signal the queue was closed empty before the loop ended
	 * (fs_inval_close()), and after it the drainer answers what is still
	 * queued (signals.c); a READ libfuse lost as its loop ended is only
	 * aborted once every descriptor of the connection is closed. So the
	 * wait is bounded, and past it the thread is joined after the unmount
	 * (fs_inval_finish()).
	 */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += INVAL_STOP_WAIT_MS / 1000;
	if (pthread_timedjoin_np(iv->thread, NULL, &until) != 0) {
		log_info("the kernel holds up a drop of pages; joined after the unmount");
		return;
	}
	fs_inval_free(fs);
}

void fs_inval_finish(struct fs *fs)
{
	if (!fs->inval)
		return;
	pthread_join(fs->inval->thread, NULL);
	fs_inval_free(fs);
}

bool fs_inval_close(struct fs *fs, bool force)
{
	struct fs_inval *iv = fs->inval;
	struct drop *unsent = NULL;
	bool idle;

	if (!iv)
		return true;
	pthread_mutex_lock(&iv->lock);
	idle = !iv->first && !iv->busy;
	if (idle || force)
		iv->closed = true;
	if (force) {
		/*
		 * Not sent after the loop, which answers the READs a drop may
		 * wait on, has ended: such a drop would hold the thread (and
		 * the connection) for good. The mount's pages go with it.
		 */
		unsent = iv->first;
		iv->first = iv->last = NULL;
	}
	pthread_mutex_unlock(&iv->lock);
	while (unsent) {
		struct drop *d = unsent;

		unsent = d->next;
		free(d);
	}
	return idle;
}

void fs_inval_range(struct fs *fs, fuse_ino_t ino, off_t off, off_t len)
{
	struct fs_inval *iv = fs->inval;
	struct drop *d;

	if (!iv)
		return;
	if (len < 0 || off < 0) {
		off = 0;
		len = 0;
	}
	pthread_mutex_lock(&iv->lock);
	/*
	 * Not once closed, as the loop ends on a signal: a drop that meets a
	 * page of a READ lost then (libfuse cancels its workers in their
	 * read) waits in the kernel, holding the connection open, for good.
	 * Checked under the lock that the close takes once the queue is empty.
	 */
	if (iv->closed) {
		pthread_mutex_unlock(&iv->lock);
		return;
	}
	for (d = iv->first; d; d = d->next) {
		if (d->ino == ino) {
			widen(d, off, len);
			pthread_mutex_unlock(&iv->lock);
			return;
		}
	}
	d = malloc(sizeof(*d));
	if (d) {
		*d = (struct drop){ .ino = ino, .off = off, .len = len };
		if (iv->last)
			iv->last->next = d;
		else
			iv->first = d;
		iv->last = d;
		pthread_cond_signal(&iv->wake);
	}
	pthread_mutex_unlock(&iv->lock);
	if (!d)
		log_err("out of memory: the kernel keeps pages of inode %llu that should go",
			(unsigned long long)ino);
}

void fs_inval(struct fs *fs, fuse_ino_t ino)
{
	fs_inval_range(fs, ino, 0, 0);
}
