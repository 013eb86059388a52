/* SPDX-License-Identifier: MIT */
/* The adaptive window of transfers (hub/pace.c), on a clock the test moves. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "hub/pace.h"

static _Atomic int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return atomic_load(&fake_now);
}

static struct hub_pace *make(unsigned initial, unsigned max)
{
	struct hub_pace *p;

	atomic_store(&fake_now, 1000);
	assert_int_equal(hub_pace_new(&(struct hub_pace_opts){ .initial = initial, .max = max,
							       .epoch_ms = 100,
							       .clock_ms = fake_clock },
				      &p), 0);
	return p;
}

static unsigned window(struct hub_pace *p)
{
	struct hub_pace_stats s;

	hub_pace_stats(p, &s);
	return s.window;
}

/* Take every place the window has; the next one is refused at once. */
static unsigned fill(struct hub_pace *p)
{
	unsigned n = 0;

	while (hub_pace_acquire(p, 1) == 0) /* a deadline long past: never waits */
		n++;
	return n;
}

/*
 * One epoch of a link whose throughput is @rate(window) bytes per ms: the
 * window full, one window's worth of 1 MB transfers completed, in the
 * time that takes (at least 100 ms: the test's epoch).
 */
static void epoch(struct hub_pace *p, uint64_t (*rate)(unsigned))
{
	unsigned w = fill(p);
	int64_t ms = (int64_t)((uint64_t)w * 1000000 / rate(w));

	assert_int_equal(w, window(p));
	atomic_fetch_add(&fake_now, ms > 100 ? ms : 100);
	for (unsigned i = 0; i < w; i++)
		hub_pace_release(p, 1000000);
}

/* A link that gives 1 MB/s per stream up to 12 streams, then no more. */
static uint64_t link_12(unsigned w)
{
	return (uint64_t)(w < 12 ? w : 12) * 1000;
}

static void test_defaults_and_bounds(void **state)
{
	struct hub_pace *p;
	struct hub_pace_stats s;

	(void)state;
	assert_int_equal(hub_pace_new(NULL, &p), 0);
	hub_pace_stats(p, &s);
	assert_int_equal(s.window, 4);
	assert_int_equal(s.in_flight, 0);
	hub_pace_free(p);
	/* initial above the cap is the cap */
	p = make(50, 6);
	assert_int_equal(window(p), 6);
	assert_int_equal(fill(p), 6);
	hub_pace_stats(p, &s);
	assert_int_equal(s.in_flight, 6);
	hub_pace_free(p);
	hub_pace_free(NULL);
}

static void test_widens_while_throughput_grows(void **state)
{
	struct hub_pace *p = make(2, 64);
	struct hub_pace_stats s;
	unsigned seen_max = 0;

	(void)state;
	for (int i = 0; i < 40; i++) {
		epoch(p, link_12);
		if (window(p) > seen_max)
			seen_max = window(p);
	}
	/*
	 * Slow start: 2, 4, 8, 16 (better than 8), 32 (no better than 16: back
	 * to 16); then probes of +1, each taken back.
	 */
	hub_pace_stats(p, &s);
	assert_int_equal(seen_max, 32);
	assert_int_equal(s.peak_window, 32);
	assert_true(s.window >= 16 && s.window <= 17);
	assert_true(s.narrowed == 0);
	assert_int_equal(s.congestions, 0);
	hub_pace_free(p);
}

static void test_cap_holds(void **state)
{
	struct hub_pace *p = make(4, 6);

	(void)state;
	for (int i = 0; i < 10; i++)
		epoch(p, link_12);
	assert_int_equal(window(p), 6);
	hub_pace_free(p);
}

static void test_congestion_halves_once_and_holds(void **state)
{
	struct hub_pace *p = make(16, 32);
	struct hub_pace_stats s;

	(void)state;
	/* four answers of one burst: one cut */
	for (int i = 0; i < 4; i++)
		hub_pace_congestion(p, 2000);
	hub_pace_stats(p, &s);
	assert_int_equal(s.window, 8);
	assert_int_equal(s.congestions, 4);
	assert_int_equal(s.narrowed, 1);
	/* nothing starts during the Retry-After, even with room in the window */
	assert_int_equal(hub_pace_acquire(p, 1), -ETIMEDOUT);
	atomic_fetch_add(&fake_now, 1999);
	assert_int_equal(hub_pace_acquire(p, 1), -ETIMEDOUT);
	atomic_fetch_add(&fake_now, 1);
	assert_int_equal(fill(p), 8);
	/* a later push back cuts again, down to the minimum and no further */
	for (int i = 0; i < 6; i++) {
		atomic_fetch_add(&fake_now, 100);
		hub_pace_congestion(p, 0);
	}
	assert_int_equal(window(p), 1);
	hub_pace_free(p);
}

static void test_additive_after_congestion(void **state)
{
	struct hub_pace *p = make(8, 64);
	unsigned before;

	(void)state;
	hub_pace_congestion(p, 0);
	before = window(p);
	assert_int_equal(before, 4);
	/* after a push back, growth is +1 at a time, never doubling */
	for (int i = 0; i < 6; i++) {
		unsigned w = window(p);

		epoch(p, link_12);
		assert_true(window(p) <= w + 1);
	}
	assert_true(window(p) > before);
	hub_pace_free(p);
}

/*
 * An epoch that spans a Retry-After moved little, for nothing new started
 * in it. Compared with the next, it looked like growth, and the window
 * widened into the server's refusal again. It is not compared.
 */
static void test_hold_is_not_measured(void **state)
{
	struct hub_pace *p = make(8, 64);

	(void)state;
	assert_int_equal(fill(p), 8);
	hub_pace_congestion(p, 2000);
	assert_int_equal(window(p), 4);
	/* four refused move nothing; the four admitted end with the hold */
	for (int i = 0; i < 4; i++)
		hub_pace_release(p, 0);
	atomic_fetch_add(&fake_now, 2000);
	for (int i = 0; i < 4; i++)
		hub_pace_release(p, 1000000);
	epoch(p, link_12); /* twice the rate of the hold's epoch */
	assert_int_equal(window(p), 4);
	epoch(p, link_12);
	assert_int_equal(window(p), 4);
	hub_pace_free(p);
}

static uint64_t falling_rate = 100000;

static uint64_t link_falling(unsigned w)
{
	(void)w;
	return falling_rate;
}

static void test_narrows_when_throughput_falls(void **state)
{
	struct hub_pace *p = make(16, 16);

	(void)state;
	epoch(p, link_falling);
	epoch(p, link_falling);
	assert_int_equal(window(p), 16);
	falling_rate /= 2;
	epoch(p, link_falling);
	assert_int_equal(window(p), 12);
	hub_pace_free(p);
}

static void test_idle_window_is_not_judged(void **state)
{
	struct hub_pace *p = make(8, 64);

	(void)state;
	/* only 2 of 8 places used, many epochs: the window stays */
	for (int i = 0; i < 20; i++) {
		assert_int_equal(hub_pace_acquire(p, 0), 0);
		assert_int_equal(hub_pace_acquire(p, 0), 0);
		atomic_fetch_add(&fake_now, 100);
		for (int k = 0; k < 8; k++) {
			hub_pace_release(p, 1000);
			if (k < 6)
				assert_int_equal(hub_pace_acquire(p, 0), 0);
		}
	}
	assert_int_equal(window(p), 8);
	hub_pace_free(p);
}

/* ---- a consumer behind the transfers (hub_pace_backlog()) ---- */

/*
 * A window's worth of 1 MB transfers on a link that moves @rate(window)
 * bytes per ms in all, each release followed by the consumer's backlog:
 * @ready finished transfers waiting for it (the window's worth when
 * @ready is ~0u). Quicker than an epoch at a fast link's rates, as on
 * loopback, where the backlog grows within one.
 */
static void burst(struct hub_pace *p, uint64_t (*rate)(unsigned), unsigned ready)
{
	unsigned w = fill(p);

	assert_int_equal(w, window(p));
	atomic_fetch_add(&fake_now, (int64_t)((uint64_t)w * 1000000 / rate(w)));
	for (unsigned i = 0; i < w; i++) {
		hub_pace_release(p, 1000000);
		hub_pace_backlog(p, ready == ~0u ? w : ready);
	}
}

/* The CPU is the limit: 1 GB/s in all, however many transfers. */
static uint64_t cpu_bound(unsigned w)
{
	(void)w;
	return 1000000;
}

/* The link is: 64 MB/s a transfer, 1 GB/s at 16. */
static uint64_t per_stream(unsigned w)
{
	return (uint64_t)w * 64000;
}

/* A window's worth waiting after each of three bursts: 16, 8, 4, 2. */
static void backlog_to_two(struct hub_pace *p, uint64_t (*rate)(unsigned))
{
	burst(p, rate, ~0u);
	assert_int_equal(window(p), 8);
	burst(p, rate, ~0u);
	burst(p, rate, ~0u);
	assert_int_equal(window(p), 2);
}

static void test_backlog_narrows_to_two_and_holds(void **state)
{
	struct hub_pace *p = make(16, 32);
	struct hub_pace_stats s;

	(void)state;
	/* a backlog under the window says nothing */
	for (int i = 0; i < 30; i++)
		burst(p, cpu_bound, 3);
	assert_true(window(p) >= 16);
	hub_pace_free(p);

	p = make(16, 32);
	/* each cut after a window's worth ended */
	backlog_to_two(p, cpu_bound);
	/* as many bytes at 2 as at 16: kept; never below 2; no widening while it lasts */
	for (int i = 0; i < 200; i++)
		burst(p, cpu_bound, ~0u);
	hub_pace_stats(p, &s);
	assert_int_equal(s.window, 2);
	assert_int_equal(s.backlogs, 3);
	assert_int_equal(s.peak_window, 16);
	assert_int_equal(s.widened, 0);
	hub_pace_free(p);
}

static void test_backlog_undone_when_the_link_was_the_limit(void **state)
{
	struct hub_pace *p = make(16, 32);
	struct hub_pace_stats s;

	(void)state;
	backlog_to_two(p, per_stream);
	/* an epoch at 2 moves an eighth of what 16 did: back to 16, and no more of it */
	for (int i = 0; i < 20; i++)
		burst(p, per_stream, ~0u);
	hub_pace_stats(p, &s);
	assert_true(s.window >= 16);
	assert_int_equal(s.backlogs, 3);
	for (int i = 0; i < 100; i++)
		burst(p, per_stream, ~0u);
	hub_pace_stats(p, &s);
	assert_true(s.window >= 16);
	assert_int_equal(s.backlogs, 3);
	hub_pace_free(p);
}

static void test_pushback_outranks_the_backlog_judgement(void **state)
{
	struct hub_pace *p = make(16, 32);

	(void)state;
	backlog_to_two(p, per_stream);
	/*
	 * The server pushes back before the cuts are judged: what it
	 * admitted stands, and a slower epoch after it is no reason to
	 * give the window of before the cuts back.
	 */
	hub_pace_congestion(p, 0);
	assert_int_equal(window(p), 1);
	for (int i = 0; i < 20; i++) /* three epochs */
		burst(p, per_stream, 0);
	assert_true(window(p) < 8);
	hub_pace_free(p);
}

/* ---- threads: the window is never exceeded ---- */

struct crowd {
	struct hub_pace *p;
	atomic_int running, most;
};

static void *member(void *c_)
{
	struct crowd *c = c_;

	for (int i = 0; i < 200; i++) {
		int now;

		assert_int_equal(hub_pace_acquire(c->p, 0), 0);
		now = atomic_fetch_add(&c->running, 1) + 1;
		for (int m = atomic_load(&c->most); now > m;)
			if (atomic_compare_exchange_weak(&c->most, &m, now))
				break;
		usleep(50);
		atomic_fetch_sub(&c->running, 1);
		hub_pace_release(c->p, 4096);
	}
	return NULL;
}

static void test_threads_respect_window(void **state)
{
	struct crowd c = { 0 };
	pthread_t t[12];
	struct hub_pace_stats s;

	(void)state;
	assert_int_equal(hub_pace_new(&(struct hub_pace_opts){ .initial = 3, .max = 3 }, &c.p),
			 0);
	for (int i = 0; i < 12; i++)
		pthread_create(&t[i], NULL, member, &c);
	for (int i = 0; i < 12; i++)
		pthread_join(t[i], NULL);
	hub_pace_stats(c.p, &s);
	assert_true(atomic_load(&c.most) <= 3);
	assert_int_equal(s.in_flight, 0);
	assert_int_equal(s.bytes, 12u * 200 * 4096);
	hub_pace_free(c.p);
}

/* ---- places go first come, first served ---- */

struct queue_test {
	struct hub_pace *p;
	atomic_int next;    /* the order in which places were had */
	int order[5];       /* [i]: when thread i had its place; [4]: the barger */
};

struct queuer {
	struct queue_test *q;
	int id;
};

static void *queuer(void *arg)
{
	struct queuer *me = arg;

	assert_int_equal(hub_pace_acquire(me->q->p, 0), 0);
	me->q->order[me->id] = atomic_fetch_add(&me->q->next, 1);
	hub_pace_release(me->q->p, 1);
	return NULL;
}

static void wait_for_waiters(struct hub_pace *p, unsigned n)
{
	struct hub_pace_stats s;

	for (int i = 0; i < 5000; i++) {
		hub_pace_stats(p, &s);
		if (s.waiting == n)
			return;
		usleep(1000);
	}
	fail_msg("%u threads never queued", n);
}

/*
 * A place given back goes to the oldest waiter, never to a thread that
 * asks again at once: a download's workers ask in block order, and one
 * that came back for its next block used to overtake the others.
 */
static void test_places_in_turn(void **state)
{
	struct queue_test q = { 0 };
	struct queuer who[4];
	pthread_t t[4];

	(void)state;
	assert_int_equal(hub_pace_new(&(struct hub_pace_opts){ .initial = 1, .max = 1 }, &q.p),
			 0);
	assert_int_equal(hub_pace_acquire(q.p, 0), 0);
	for (int i = 0; i < 4; i++) {
		who[i] = (struct queuer){ &q, i };
		assert_int_equal(pthread_create(&t[i], NULL, queuer, &who[i]), 0);
		wait_for_waiters(q.p, (unsigned)i + 1);
	}
	/* give the place back and ask again at once: the four come first */
	hub_pace_release(q.p, 1);
	assert_int_equal(hub_pace_acquire(q.p, 0), 0);
	q.order[4] = atomic_fetch_add(&q.next, 1);
	hub_pace_release(q.p, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 5; i++)
		assert_int_equal(q.order[i], i);
	hub_pace_free(q.p);
}

/* ---- a refused burst: the window becomes what was admitted ---- */

struct burst {
	struct hub_pace *p;
	atomic_int stepped_out, next, refuse, retry, finish_admitted, finish, finish_api;
	atomic_int waiting_after_newcomer; /* still waiting when the newcomer went */
};

struct transfer {
	struct burst *b;
	int id;
};

static void wait_flag(atomic_int *flag)
{
	while (!atomic_load(flag))
		usleep(1000);
}

enum { CDN = 7, API = 9 }; /* two servers, as hub/http.c names them */

/*
 * Threads 0-11 ask the CDN and are refused and retry; 12-15 ask it and
 * are admitted; 16-18 ask the API host meanwhile; 19 comes later.
 */
static void *transfer(void *arg)
{
	struct transfer *me = arg;
	struct burst *b = me->b;

	assert_int_equal(hub_pace_acquire(b->p, 0), 0);
	hub_pace_asking(b->p, me->id >= 16 && me->id < 19 ? API : CDN);
	if (me->id == 19) {
		struct hub_pace_stats s;

		/* every retry was before it in the queue: none waits any more */
		hub_pace_stats(b->p, &s);
		atomic_store(&b->waiting_after_newcomer, (int)s.waiting);
	} else if (me->id < 12) {
		wait_flag(&b->refuse);
		/* what hub/http.c's backoff does with a 429 */
		hub_pace_congestion(b->p, 1000);
		hub_pace_step_out(b->p);
		atomic_fetch_add(&b->stepped_out, 1);
		wait_flag(&b->retry);
		assert_int_equal(hub_pace_step_in(b->p, 0), 0);
		atomic_fetch_add(&b->next, 1);
		wait_flag(&b->finish);
	} else if (me->id >= 16) {
		wait_flag(&b->finish_api);
	} else {
		wait_flag(&b->finish_admitted);
	}
	hub_pace_release(b->p, 1000);
	return NULL;
}

static struct hub_pace_stats stats_when(struct hub_pace *p, unsigned in_flight,
					unsigned waiting)
{
	struct hub_pace_stats s;

	for (int i = 0; i < 5000; i++) {
		hub_pace_stats(p, &s);
		if (s.in_flight == in_flight && s.waiting == waiting)
			return s;
		usleep(1000);
	}
	fail_msg("never %u in flight and %u waiting (%u, %u)", in_flight, waiting,
		 s.in_flight, s.waiting);
	return s;
}

/*
 * A CDN that admits 4 of 16 at once: 12 answers of 429, while 3 small
 * files come from the API host. The window becomes 4 (not 9, a halving,
 * nor 7, all that was still in flight), the 12 wait for the Retry-After
 * out of it, and come back through it 4 at a time, before a transfer
 * that asked while they waited. Before, they kept their places and came
 * back all at once, and the CDN refused 8 of them again.
 */
static void test_refused_retries_come_back_through_window(void **state)
{
	struct burst b = { .waiting_after_newcomer = -1 };
	struct transfer who[20];
	struct hub_pace_stats s;
	pthread_t t[20];

	(void)state;
	b.p = make(19, 32);
	for (int i = 0; i < 19; i++) {
		who[i] = (struct transfer){ &b, i };
		assert_int_equal(pthread_create(&t[i], NULL, transfer, &who[i]), 0);
	}
	stats_when(b.p, 19, 0);
	atomic_store(&b.refuse, 1);
	while (atomic_load(&b.stepped_out) < 12)
		usleep(1000);
	s = stats_when(b.p, 7, 0);
	assert_int_equal(s.window, 4);
	/* the small files end during the Retry-After */
	atomic_store(&b.finish_api, 1);
	s = stats_when(b.p, 4, 0);
	assert_int_equal(s.window, 4);
	/* a newcomer asks during the Retry-After */
	who[19] = (struct transfer){ &b, 19 };
	assert_int_equal(pthread_create(&t[19], NULL, transfer, &who[19]), 0);
	stats_when(b.p, 4, 1);
	atomic_fetch_add(&fake_now, 1000);
	atomic_store(&b.retry, 1);
	/* the window is full of the admitted ones: every retry waits */
	s = stats_when(b.p, 4, 13);
	assert_int_equal(atomic_load(&b.next), 0);
	atomic_store(&b.finish_admitted, 1);
	/* four retries in their places, the other eight and the newcomer wait */
	s = stats_when(b.p, 4, 9);
	assert_int_equal(s.window, 4);
	/*
	 * Each counts itself just after it has its place: the pace may
	 * already show four in flight while the last is still on its way
	 * to the count (3 of 4 in 2 of 300 runs).
	 */
	for (int i = 0; i < 5000 && atomic_load(&b.next) < 4; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&b.next), 4);
	atomic_store(&b.finish, 1);
	for (int i = 0; i < 20; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&b.waiting_after_newcomer), 0);
	hub_pace_stats(b.p, &s);
	assert_int_equal(s.in_flight, 0);
	assert_true(s.window <= 5);
	hub_pace_free(b.p);
}

/* A thread that holds no place of the pace neither steps out nor in. */
static void test_step_out_needs_a_place(void **state)
{
	struct hub_pace *p = make(2, 2);
	struct hub_pace_stats s;

	(void)state;
	hub_pace_step_out(p);
	assert_int_equal(hub_pace_step_in(p, 1), 0);
	assert_int_equal(hub_pace_acquire(p, 0), 0);
	hub_pace_step_out(p);
	hub_pace_step_out(p); /* once only */
	hub_pace_stats(p, &s);
	assert_int_equal(s.in_flight, 0);
	assert_int_equal(hub_pace_step_in(p, 0), 0);
	hub_pace_release(p, 1);
	hub_pace_step_out(p); /* released: nothing */
	hub_pace_stats(p, &s);
	assert_int_equal(s.in_flight, 0);
	hub_pace_free(p);
}

/* ---- the probe: a near link starts narrow (opts.probe_ms) ---- */

static struct hub_pace *make_probing(unsigned initial, unsigned max)
{
	struct hub_pace *p;

	atomic_store(&fake_now, 1000);
	assert_int_equal(hub_pace_new(&(struct hub_pace_opts){ .initial = initial, .max = max,
							       .epoch_ms = 100, .probe_ms = 10,
							       .clock_ms = fake_clock },
				      &p), 0);
	return p;
}

/*
 * The first transfer goes alone; 4 MiB in 3 ms (1.4 GB/s) is a near link:
 * the window starts at 2, not 16, and widens one at a time on a link that
 * rewards it. Without a probe, it would have doubled.
 */
static void test_probe_finds_a_near_link(void **state)
{
	struct hub_pace *p = make_probing(16, 32);
	struct hub_pace_stats s;

	(void)state;
	hub_pace_stats(p, &s);
	assert_true(s.probing);
	assert_int_equal(s.window, 1);
	assert_int_equal(hub_pace_acquire(p, 0), 0);
	assert_int_equal(hub_pace_acquire(p, 1), -ETIMEDOUT); /* the probe goes alone */
	atomic_fetch_add(&fake_now, 3);
	hub_pace_received(p, 4u << 20); /* what hub/http.c says of its answers */
	hub_pace_release(p, 4u << 20);
	hub_pace_stats(p, &s);
	assert_false(s.probing);
	assert_true(s.near);
	assert_int_equal(s.window, 2);
	for (int i = 0; i < 12; i++) {
		unsigned w = window(p);

		epoch(p, link_12);
		assert_true(window(p) <= w + 1);
	}
	assert_true(window(p) > 2);
	hub_pace_free(p);
}

/*
 * One probe's transfer that moved @bytes, @received of them from the
 * network, in @ms: the window it leaves (0: near, 1: still probing).
 */
static unsigned probe_once(uint64_t bytes, uint64_t received, int64_t ms)
{
	struct hub_pace *p = make_probing(16, 32);
	struct hub_pace_stats s;

	assert_int_equal(hub_pace_acquire(p, 0), 0);
	atomic_fetch_add(&fake_now, ms);
	hub_pace_received(p, received);
	hub_pace_release(p, bytes);
	hub_pace_stats(p, &s);
	assert_true(s.probing == (s.window == 1));
	hub_pace_free(p);
	return s.near ? 0 : s.window;
}

/*
 * A block that took longer than the probe, or one too slow for its size,
 * is no near link: the window opens to its start. A transfer that
 * received less than 1 MiB from the network (a short last block, a small
 * file, a block a download found on disk, a failure) says nothing: the
 * next one probes, within the probe's time from the first.
 */
static void test_probe_opens_to_the_start_otherwise(void **state)
{
	struct hub_pace *p;
	struct hub_pace_stats s;

	(void)state;
	assert_int_equal(probe_once(4u << 20, 4u << 20, 3), 0);   /* near, as above */
	assert_int_equal(probe_once(4u << 20, 4u << 20, 11), 16); /* past probe_ms */
	assert_int_equal(probe_once(2u << 20, 2u << 20, 8), 16);  /* 262 MB/s */
	assert_int_equal(probe_once(4u << 20, 0, 3), 1);          /* found on disk */
	assert_int_equal(probe_once(0, 300, 1), 1);               /* it failed */
	assert_int_equal(probe_once(100u << 10, 100u << 10, 1), 1); /* a small file */

	p = make_probing(16, 32);
	assert_int_equal(hub_pace_acquire(p, 0), 0);
	atomic_fetch_add(&fake_now, 1);
	hub_pace_received(p, 100u << 10);
	hub_pace_release(p, 100u << 10);
	hub_pace_stats(p, &s);
	assert_true(s.probing);
	assert_int_equal(s.window, 1);
	/* the next transfer probes, kept by the same thread: 4 MiB in 3 ms */
	assert_int_equal(hub_pace_acquire(p, 0), 0);
	hub_pace_received(p, 100u << 10);
	assert_int_equal(hub_pace_next(p, 100u << 10, 0), 0);
	atomic_fetch_add(&fake_now, 3);
	hub_pace_received(p, 4u << 20);
	hub_pace_release(p, 4u << 20);
	hub_pace_stats(p, &s);
	assert_true(s.near);
	assert_int_equal(s.window, 2);
	hub_pace_free(p);

	/* small ones until the probe's time from the first is up: not near */
	p = make_probing(16, 32);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(hub_pace_acquire(p, 0), 0);
		atomic_fetch_add(&fake_now, 2);
		hub_pace_received(p, 100u << 10);
		hub_pace_release(p, 100u << 10);
	}
	hub_pace_stats(p, &s);
	assert_false(s.probing);
	assert_false(s.near);
	assert_int_equal(s.window, 16);
	hub_pace_free(p);
}

struct prober {
	struct hub_pace *p;
	atomic_int got;  /* 1: it has its place */
};

static void *wait_for_place(void *arg)
{
	struct prober *w = arg;

	assert_int_equal(hub_pace_acquire(w->p, 0), 0);
	atomic_store(&w->got, 1);
	hub_pace_release(w->p, 1000);
	return NULL;
}

/*
 * The probe's transfer still runs when probe_ms is up: the link is not
 * near, and the window opens to its start then, without waiting for it
 * (at 30 ms a block takes 100 ms). A push back during the probe ends it
 * the same way and halves from the start.
 */
static void test_probe_time_is_bounded(void **state)
{
	struct hub_pace *p = make_probing(16, 32);
	struct prober w = { .p = p };
	struct hub_pace_stats s;
	pthread_t t;

	(void)state;
	assert_int_equal(hub_pace_acquire(p, 0), 0);
	pthread_create(&t, NULL, wait_for_place, &w);
	wait_for_waiters(p, 1);
	atomic_fetch_add(&fake_now, 9);
	usleep(20000);
	assert_int_equal(atomic_load(&w.got), 0); /* within probe_ms: it waits */
	atomic_fetch_add(&fake_now, 1);
	pthread_join(t, NULL); /* it had its place, the probe still running */
	hub_pace_stats(p, &s);
	assert_false(s.probing);
	assert_false(s.near);
	assert_int_equal(s.window, 16);
	assert_int_equal(s.in_flight, 1);
	atomic_fetch_add(&fake_now, 90);
	hub_pace_release(p, 4u << 20); /* the probe's transfer, long after: no change */
	assert_int_equal(window(p), 16);
	hub_pace_free(p);

	p = make_probing(16, 32);
	assert_int_equal(hub_pace_acquire(p, 0), 0);
	hub_pace_congestion(p, 0);
	hub_pace_stats(p, &s);
	assert_false(s.probing);
	assert_int_equal(s.window, 8);
	hub_pace_release(p, 0);
	hub_pace_free(p);

	/* a start of 2 or less has nothing to probe */
	p = make_probing(2, 32);
	hub_pace_stats(p, &s);
	assert_false(s.probing);
	assert_int_equal(s.window, 2);
	hub_pace_free(p);
}

/* ---- hub_pace_next(): a thread keeps its place for its next transfer ---- */

struct returner {
	struct hub_pace *p;
	atomic_int stepped_out, go, back;
};

static void *step_out_and_back(void *arg)
{
	struct returner *r = arg;

	assert_int_equal(hub_pace_acquire(r->p, 0), 0);
	hub_pace_step_out(r->p);
	atomic_store(&r->stepped_out, 1);
	wait_flag(&r->go);
	assert_int_equal(hub_pace_step_in(r->p, 0), 0);
	atomic_store(&r->back, 1);
	hub_pace_release(r->p, 1000);
	return NULL;
}

/*
 * With others waiting, the thread that ends a transfer keeps its place
 * for the next (no hand-off to a sleeping thread), and counts the bytes;
 * not when the window narrowed under it, nor ahead of a retry that waits
 * to come back.
 */
static void test_next_keeps_the_place(void **state)
{
	struct hub_pace *p = make(1, 1);
	struct prober w = { .p = p };
	struct returner r = { 0 };
	struct hub_pace_stats s;
	pthread_t t;

	(void)state;
	assert_int_equal(hub_pace_acquire(p, 0), 0);
	pthread_create(&t, NULL, wait_for_place, &w);
	wait_for_waiters(p, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(hub_pace_next(p, 1000, 0), 0); /* given away, the waiter had it */
	hub_pace_stats(p, &s);
	assert_int_equal(s.in_flight, 1);
	assert_int_equal(s.waiting, 1);
	assert_int_equal(s.bytes, 3000);
	assert_int_equal(atomic_load(&w.got), 0);
	hub_pace_release(p, 0);
	pthread_join(t, NULL);
	assert_int_equal(atomic_load(&w.got), 1);
	hub_pace_free(p);

	/* the window narrowed under it: the place goes */
	p = make(2, 2);
	assert_int_equal(hub_pace_acquire(p, 0), 0);
	assert_int_equal(hub_pace_acquire(p, 0), 0); /* another transfer's place */
	hub_pace_congestion(p, 0);
	assert_int_equal(window(p), 1);
	assert_int_equal(hub_pace_next(p, 1000, 1), -ETIMEDOUT);
	hub_pace_stats(p, &s);
	assert_int_equal(s.in_flight, 1);
	hub_pace_release(p, 0);
	hub_pace_free(p);

	/* a retry waiting to come back goes first */
	p = make(2, 2);
	r.p = p;
	assert_int_equal(hub_pace_acquire(p, 0), 0);
	pthread_create(&t, NULL, step_out_and_back, &r);
	wait_flag(&r.stepped_out);
	assert_int_equal(hub_pace_acquire(p, 0), 0); /* the window full again */
	atomic_store(&r.go, 1);
	wait_for_waiters(p, 1);
	assert_int_equal(hub_pace_next(p, 1000, 1), -ETIMEDOUT);
	pthread_join(t, NULL);
	assert_int_equal(atomic_load(&r.back), 1);
	hub_pace_release(p, 0);
	hub_pace_stats(p, &s);
	assert_int_equal(s.in_flight, 0);
	hub_pace_free(p);
}

/* ---- the consumer (opts.consumed): a widening must help it too ---- */

static _Atomic uint64_t fake_consumed;

static uint64_t fake_consumer(void *ctx)
{
	(void)ctx;
	return atomic_load(&fake_consumed);
}

static struct hub_pace *make_consuming(unsigned initial, unsigned max)
{
	struct hub_pace *p;

	atomic_store(&fake_now, 1000);
	atomic_store(&fake_consumed, 0);
	assert_int_equal(hub_pace_new(&(struct hub_pace_opts){ .initial = initial, .max = max,
							       .epoch_ms = 100,
							       .clock_ms = fake_clock,
							       .consumed = fake_consumer },
				      &p), 0);
	return p;
}

/* epoch(), with a consumer that takes @taken(window) bytes per ms meanwhile. */
static void epoch_consumed(struct hub_pace *p, uint64_t (*rate)(unsigned),
			   uint64_t (*taken)(unsigned))
{
	unsigned w = fill(p);
	int64_t ms = (int64_t)((uint64_t)w * 1000000 / rate(w));

	if (ms < 100)
		ms = 100;
	atomic_fetch_add(&fake_now, ms);
	atomic_fetch_add(&fake_consumed, taken(w) * (uint64_t)ms);
	for (unsigned i = 0; i < w; i++)
		hub_pace_release(p, 1000000);
}

/* A consumer short of CPU: it takes 3 MB/s whatever the window. */
static uint64_t consumer_flat(unsigned w)
{
	(void)w;
	return 3000;
}

/* One that takes what the link brings. */
static uint64_t consumer_follows(unsigned w)
{
	return link_12(w);
}

/*
 * The transfers move more with each place on loopback, but the consumer
 * takes no more: the window stays where it started, its probes of +1
 * taken back, where judged by the transfers alone it crept up to the
 * link's 12 (test_widens_while_throughput_grows). A consumer that takes
 * what comes lets it widen as before; one that took nothing in an epoch
 * says nothing.
 */
static void test_widening_must_help_the_consumer(void **state)
{
	struct hub_pace *p = make_consuming(4, 64);
	struct hub_pace_stats s;

	(void)state;
	for (int i = 0; i < 40; i++) {
		epoch_consumed(p, link_12, consumer_flat);
		assert_true(window(p) <= 8); /* slow start's first doubling, taken back */
	}
	assert_true(window(p) <= 5);
	hub_pace_stats(p, &s);
	assert_int_equal(s.peak_window, 8);
	hub_pace_free(p);

	p = make_consuming(2, 64);
	for (int i = 0; i < 40; i++)
		epoch_consumed(p, link_12, consumer_follows);
	hub_pace_stats(p, &s);
	assert_int_equal(s.peak_window, 32);
	assert_true(s.window >= 16 && s.window <= 17);
	hub_pace_free(p);

	/* nothing consumed (no running hash): the transfers alone judge */
	p = make_consuming(2, 64);
	for (int i = 0; i < 40; i++)
		epoch(p, link_12);
	hub_pace_stats(p, &s);
	assert_int_equal(s.peak_window, 32);
	hub_pace_free(p);
}

/* ---- a pause: nothing in flight or asked for stops the clocks ---- */

/*
 * A reader on a link that rewards a wide window pauses four times for
 * ten minutes. Each pause falls in the epoch that began as the last one
 * ended; it ends with the first window of transfers after the pause,
 * which moved its bytes in 100 ms of transfers, not in ten minutes: no
 * narrowing. Before, each pause narrowed the window by a quarter, and the
 * +1 probes after it, judged against the epochs before, were taken back:
 * it stayed at 12.
 */
static void test_pauses_are_no_fall(void **state)
{
	struct hub_pace *p = make(16, 16);
	struct hub_pace_stats s;

	(void)state;
	for (int i = 0; i < 3; i++)
		epoch(p, per_stream);
	for (int pause = 0; pause < 4; pause++) {
		atomic_fetch_add(&fake_now, 600000);
		for (int i = 0; i < 30; i++)
			epoch(p, per_stream);
		hub_pace_stats(p, &s);
		assert_int_equal(s.narrowed, 0);
		assert_int_equal(s.window, 16);
	}
	hub_pace_free(p);
}

/*
 * The probe's time is the transfers' too: a mount's first file, small,
 * hands the probe on, and the reader comes back for the weights a minute
 * later. The probe goes on with them and finds the near link; before, the
 * probe's 10 ms had long passed, and the window opened to 16.
 */
static void test_probe_waits_through_a_pause(void **state)
{
	struct hub_pace *p = make_probing(16, 32);
	struct hub_pace_stats s;

	(void)state;
	atomic_fetch_add(&fake_now, 60000); /* mounted a minute before the first read */
	assert_int_equal(hub_pace_acquire(p, 0), 0);
	atomic_fetch_add(&fake_now, 2);
	hub_pace_received(p, 2000); /* config.json */
	hub_pace_release(p, 2000);
	atomic_fetch_add(&fake_now, 60000);
	assert_int_equal(hub_pace_acquire(p, 0), 0);
	hub_pace_stats(p, &s);
	assert_true(s.probing);
	assert_int_equal(s.window, 1);
	atomic_fetch_add(&fake_now, 3);
	hub_pace_received(p, 4u << 20);
	hub_pace_release(p, 4u << 20);
	hub_pace_stats(p, &s);
	assert_true(s.near);
	assert_int_equal(s.window, 2);

	/* The probe's time is still the transfers' 10 ms: a slow first block is far. */
	hub_pace_free(p);
	p = make_probing(16, 32);
	assert_int_equal(hub_pace_acquire(p, 0), 0);
	atomic_fetch_add(&fake_now, 11);
	hub_pace_received(p, 4u << 20);
	hub_pace_release(p, 4u << 20);
	hub_pace_stats(p, &s);
	assert_false(s.near);
	assert_int_equal(s.window, 16);
	hub_pace_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_bounds),
		cmocka_unit_test(test_widens_while_throughput_grows),
		cmocka_unit_test(test_cap_holds),
		cmocka_unit_test(test_congestion_halves_once_and_holds),
		cmocka_unit_test(test_additive_after_congestion),
		cmocka_unit_test(test_hold_is_not_measured),
		cmocka_unit_test(test_narrows_when_throughput_falls),
		cmocka_unit_test(test_idle_window_is_not_judged),
		cmocka_unit_test(test_backlog_narrows_to_two_and_holds),
		cmocka_unit_test(test_backlog_undone_when_the_link_was_the_limit),
		cmocka_unit_test(test_pushback_outranks_the_backlog_judgement),
		cmocka_unit_test(test_threads_respect_window),
		cmocka_unit_test(test_places_in_turn),
		cmocka_unit_test(test_refused_retries_come_back_through_window),
		cmocka_unit_test(test_step_out_needs_a_place),
		cmocka_unit_test(test_probe_finds_a_near_link),
		cmocka_unit_test(test_probe_opens_to_the_start_otherwise),
		cmocka_unit_test(test_probe_time_is_bounded),
		cmocka_unit_test(test_next_keeps_the_place),
		cmocka_unit_test(test_widening_must_help_the_consumer),
		cmocka_unit_test(test_pauses_are_no_fall),
		cmocka_unit_test(test_probe_waits_through_a_pause),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
