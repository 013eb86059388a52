/* SPDX-License-Identifier: MIT */
/* util/workers.h: the thread pool, in the shapes its callers use it. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "util/workers.h"

/* ---- a fixed number of threads over a shared counter (hubfs download) ---- */

#define ITEMS 1000

struct counter_work {
	atomic_size_t next;
	atomic_uint done[ITEMS];
	atomic_uint runs;       /* how many times fn was entered */
	atomic_bool on_caller;  /* fn ran on the thread that asked */
	pthread_t caller;
};

static void count_items(void *ctx)
{
	struct counter_work *cw = ctx;

	atomic_fetch_add(&cw->runs, 1);
	if (pthread_equal(pthread_self(), cw->caller))
		atomic_store(&cw->on_caller, true);
	for (;;) {
		size_t i = atomic_fetch_add(&cw->next, 1);

		if (i >= ITEMS)
			break;
		atomic_fetch_add(&cw->done[i], 1);
	}
}

static void assert_each_item_once(struct counter_work *cw)
{
	for (size_t i = 0; i < ITEMS; i++)
		assert_int_equal(atomic_load(&cw->done[i]), 1);
}

static void test_run_on_threads(void **state)
{
	static struct counter_work cw;

	(void)state;
	cw.caller = pthread_self();
	assert_int_equal(workers_run(4, count_items, &cw), 4);
	assert_int_equal(atomic_load(&cw.runs), 4);
	assert_false(atomic_load(&cw.on_caller));
	assert_each_item_once(&cw);
}

/* No thread asked for (or none to be had): the work is done all the same. */
static void test_run_on_caller(void **state)
{
	static struct counter_work cw;

	(void)state;
	cw.caller = pthread_self();
	assert_int_equal(workers_run(0, count_items, &cw), 0);
	assert_int_equal(atomic_load(&cw.runs), 1);
	assert_true(atomic_load(&cw.on_caller));
	assert_each_item_once(&cw);
}

/* ---- threads that wait on the caller's queue and lock (read-ahead) ---- */

struct queue_work {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	unsigned queued;        /* jobs waiting; guarded by lock */
	unsigned idle;          /* workers waiting for a job; guarded by lock */
	unsigned running;       /* workers inside fn; guarded by lock */
	bool stop;              /* guarded by lock */
	struct workers *pool;   /* set before any job is queued */
	unsigned cap;           /* the caller's own limit, below max */
	atomic_uint done;
	atomic_uint grown;
};

static void serve_queue(void *ctx)
{
	struct queue_work *q = ctx;
	struct timespec tick = { .tv_sec = 0, .tv_nsec = 100 * 1000 };

	pthread_mutex_lock(&q->lock);
	q->running++;
	for (;;) {
		q->idle++;
		while (!q->stop && !q->queued)
			pthread_cond_wait(&q->wake, &q->lock);
		q->idle--;
		if (q->stop)
			break;
		q->queued--;
		/* Work waits and no one is idle: the caller decides to grow. */
		if (q->queued && !q->idle && workers_count(q->pool) < q->cap &&
		    workers_grow(q->pool) == 0)
			atomic_fetch_add(&q->grown, 1);
		pthread_mutex_unlock(&q->lock);
		nanosleep(&tick, NULL);
		atomic_fetch_add(&q->done, 1);
		pthread_mutex_lock(&q->lock);
	}
	q->running--;
	pthread_mutex_unlock(&q->lock);
}

static void queue_init(struct queue_work *q, unsigned cap)
{
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->wake, NULL);
	q->cap = cap;
}

static void queue_stop(struct queue_work *q)
{
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_broadcast(&q->wake);
	pthread_mutex_unlock(&q->lock);
	workers_join(q->pool);
	assert_int_equal(q->running, 0);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->wake);
}

static void test_grow_when_work_waits(void **state)
{
	struct queue_work q = { 0 };

	(void)state;
	queue_init(&q, 3);
	pthread_mutex_lock(&q.lock);
	assert_int_equal(workers_start(1, 8, serve_queue, &q, &q.pool), 1);
	q.queued = 200;
	pthread_cond_broadcast(&q.wake);
	pthread_mutex_unlock(&q.lock);
	while (atomic_load(&q.done) < 200)
		sched_yield();
	/* The caller's cap held, though the pool had room for more. */
	assert_true(workers_count(q.pool) <= 3);
	assert_int_equal(workers_count(q.pool), 1 + atomic_load(&q.grown));
	queue_stop(&q);
}

static void test_grow_up_to_max(void **state)
{
	struct queue_work q = { 0 };

	(void)state;
	queue_init(&q, 0);
	/* @n is cut to @max. */
	assert_int_equal(workers_start(5, 3, serve_queue, &q, &q.pool), 3);
	assert_int_equal(workers_grow(q.pool), -EAGAIN);
	assert_int_equal(workers_count(q.pool), 3);
	queue_stop(&q);

	memset(&q, 0, sizeof(q));
	queue_init(&q, 0);
	assert_int_equal(workers_start(0, 2, serve_queue, &q, &q.pool), 0);
	assert_int_equal(workers_count(q.pool), 0);
	assert_int_equal(workers_grow(q.pool), 0);
	assert_int_equal(workers_grow(q.pool), 0);
	assert_int_equal(workers_grow(q.pool), -EAGAIN);
	assert_int_equal(workers_count(q.pool), 2);
	queue_stop(&q);
}

/* A pool with no threads is joined like any other; NULL is ignored. */
static void test_join_empty(void **state)
{
	struct workers *w;

	(void)state;
	assert_int_equal(workers_start(0, 0, count_items, NULL, &w), 0);
	assert_int_equal(workers_grow(w), -EAGAIN);
	workers_join(w);
	workers_join(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_on_threads),
		cmocka_unit_test(test_run_on_caller),
		cmocka_unit_test(test_grow_when_work_waits),
		cmocka_unit_test(test_grow_up_to_max),
		cmocka_unit_test(test_join_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
