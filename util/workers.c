/* SPDX-License-Identifier: MIT */
#include "util/workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct workers {
	workers_fn fn;
	void *ctx;
	pthread_mutex_t lock;
	unsigned max;          /* room in threads[]; constant */
	unsigned n;            /* started; guarded by lock */
	bool joining;          /* workers_join() has begun; guarded by lock */
	pthread_t threads[];   /* [0, n) are running or ended; guarded by lock */
};

static void *thread_main(void *w_)
{
	struct workers *w = w_;

	w->fn(w->ctx);
	return NULL;
}

/* Called with w->lock held. */
static int start_one(struct workers *w)
{
	if (w->joining)
		return -ECANCELED;
	if (w->n == w->max || pthread_create(&w->threads[w->n], NULL, thread_main, w) != 0)
		return -EAGAIN;
	w->n++;
	return 0;
}

int workers_start(unsigned n, unsigned max, workers_fn fn, void *ctx,
		  struct workers **out)
{
	struct workers *w = calloc(1, sizeof(*w) + max * sizeof(w->threads[0]));

	*out = NULL;
	if (!w)
		return -ENOMEM;
	w->fn = fn;
	w->ctx = ctx;
	w->max = max;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_lock(&w->lock);
	while (w->n < n && start_one(w) == 0)
		;
	n = w->n;
	pthread_mutex_unlock(&w->lock);
	*out = w;
	return (int)n;
}

int workers_grow(struct workers *w)
{
	int rc;

	pthread_mutex_lock(&w->lock);
	rc = start_one(w);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

unsigned workers_count(struct workers *w)
{
	unsigned n;

	pthread_mutex_lock(&w->lock);
	n = w->n;
	pthread_mutex_unlock(&w->lock);
	return n;
}

void workers_join(struct workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->joining = true; /* n is final from here */
	pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

unsigned workers_run(unsigned n, workers_fn fn, void *ctx)
{
	struct workers *w;
	int started = workers_start(n, n, fn, ctx, &w);

	if (started <= 0)
		fn(ctx); /* no thread to be had: run it on this one */
	workers_join(w);
	return started > 0 ? (unsigned)started : 0;
}
