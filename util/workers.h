/* SPDX-License-Identifier: MIT */
/*
 * A pool of threads that all run one function: the one way hubfs starts
 * worker threads (hubfs download's transfers, hubfs repair's fetches,
 * the mount's read-ahead).
 *
 * The pool owns the threads only. The work, its queue and its lock stay
 * with the caller: @fn is the whole worker loop, and it returns when the
 * caller's own state says there is nothing more to do (a counter past the
 * end, a stop flag set under the caller's lock). The pool never decides
 * that a thread should start: the caller asks for each one after the
 * first @n (workers_grow()), so it can grow when work waits and no worker
 * is idle, and keep the number under a cap it changes as it goes (an
 * adaptive window), up to the @max it gave at the start.
 *
 * Threads: workers_grow() and workers_count() may be called from any
 * thread, a worker included, and with the caller's own lock held: the
 * pool's fields are guarded by its own mutex, which is never held while
 * @fn runs, so the caller's lock always comes first. workers_join() is
 * called once, by a thread that is not a worker, after the caller told
 * @fn to return; from then on workers_grow() starts nothing.
 */
#ifndef HUBFS_UTIL_WORKERS_H
#define HUBFS_UTIL_WORKERS_H

typedef void (*workers_fn)(void *ctx);

struct workers;

/*
 * Start @n threads running @fn(@ctx), with room for @max in all (@n is
 * cut to @max). Returns how many started, which is fewer than @n when the
 * system refuses a thread (the pool works on with those), or -ENOMEM
 * with no pool. Whenever it returns >= 0, *@out is a pool to join.
 */
int workers_start(unsigned n, unsigned max, workers_fn fn, void *ctx,
		  struct workers **out);

/*
 * One more thread. 0, -EAGAIN when @max run already or the system refuses
 * a thread, -ECANCELED once workers_join() has begun.
 */
int workers_grow(struct workers *w);

/* How many threads were started, those whose @fn returned included. */
unsigned workers_count(struct workers *w);

/*
 * Wait for every thread's @fn to return, then free the pool. The caller
 * must have made @fn return first: the pool cannot stop a thread.
 * NULL is ignored.
 */
void workers_join(struct workers *w);

/*
 * The fixed-size case in one call: @fn(@ctx) on @n threads, waiting for
 * all of them. When not one thread can be had (or @n is 0), @fn runs once
 * on the calling thread instead, so the work is done either way. Returns
 * how many threads ran it: 0 means the calling thread did.
 */
unsigned workers_run(unsigned n, workers_fn fn, void *ctx);

#endif /* HUBFS_UTIL_WORKERS_H */
