/* SPDX-License-Identifier: MIT */
/*
 * The adaptive window of transfers in flight; hub/pace.h says what it
 * does and why. Here: one mutex, one condition variable for the waiters,
 * and a decision at the end of each epoch.
 */
#include "hub/pace.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/log.h"
#include "util/time.h"

#define PACE_GROW 1.10     /* more than this × the last epoch's rate: widen */
#define PACE_FALL 0.70     /* less than this: narrow */
#define PACE_FLAT_PROBE 5  /* flat epochs before a probe of +1 */
#define PACE_WAIT_STEP_MS 50
/* hub_pace_backlog() narrows to no less: one place for the consumer's thread, one fetching. */
#define PACE_BACKLOG_FLOOR 2
/*
 * What a transfer costs beside its bytes, in bytes: about what a link
 * moves in one round trip. Small files are then measured by how many
 * finished, big blocks by their bytes, and a few KiB more or less in an
 * epoch of small files is no "growth".
 */
#define PACE_TRANSFER_COST (64u << 10)
/*
 * The probe (opts.probe_ms): a transfer that received at least this much
 * from the network, this fast, and ended within probe_ms of the first
 * start, says the link is near. 400 MB/s is what two transfers need to
 * keep a consumer of about a GB/s busy. One that received less says
 * nothing either way (a small file, a file's short last block, a block
 * on disk, a failure): the next transfer probes in its turn.
 */
#define PACE_NEAR_BYTES (1u << 20)
#define PACE_NEAR_BYTES_PER_MS 400000u
#define PACE_NEAR_WINDOW 2

enum pace_change { PACE_KEPT, PACE_WIDENED, PACE_NARROWED };

/*
 * A thread waiting for a place. Places go in the order they were asked
 * for: a download's workers ask in block order, and a running hash needs
 * the blocks in that order (a block passed over again and again held the
 * hash, and so the end of a download, back by a third of a second).
 */
struct pace_waiter {
	struct pace_waiter *next;
	pthread_cond_t wake;       /* it may be its turn, or the pace closed */
	bool returning;            /* hub_pace_step_in(): goes before the others */
};

/*
 * A place taken (hub_pace_acquire(), not yet released): the server its
 * transfer asks (hub_pace_asking(); 0 until it says), and whether it
 * stepped out for a retry's wait. A thread holds at most one place at a
 * time in hubfs, so the place is the thread's own: @held says of which
 * pace, and the pace links it into its list of places while it is held.
 */
struct pace_place {
	struct pace_place *prev, *next; /* the pace's places; under its lock */
	uint32_t server;
	bool out;
	uint64_t received; /* from the network, this transfer; its own thread's only */
};

static _Thread_local struct hub_pace *held;
static _Thread_local struct pace_place place;

struct hub_pace {
	pthread_mutex_t lock;
	struct pace_waiter *first, *tail; /* waiting for a place, oldest first */
	struct pace_place *places;         /* taken, in no order */
	struct hub_pace_opts o;

	unsigned window, in_flight, waiting, peak_window;
	/*
	 * The probe: while probing, the window is 1 and probe_place, once
	 * taken, is the transfer that measures the link (a thread's place,
	 * compared by address only), started at probe_start; the probe ends
	 * at probe_until at the latest (the first start + probe_ms; 0: no
	 * transfer started yet).
	 */
	enum { PROBE_NONE, PROBE_ON, PROBE_DONE } probe;
	const struct pace_place *probe_place;
	int64_t probe_start, probe_until;
	bool near;                 /* the probe found a near link */
	unsigned before_widen;     /* the window before the last widening */
	bool slow_start;           /* doubling, until growth stops or a push back */
	bool closed;               /* hub_pace_close(): no place is given any more */
	enum pace_change last;
	unsigned flat;             /* flat epochs since the last change */
	int64_t hold_until, last_cut;

	int64_t epoch_start;
	uint64_t epoch_bytes;
	unsigned epoch_done;
	bool epoch_full;           /* the window was the limit in this epoch */
	bool epoch_backlog;        /* hub_pace_backlog() saw a window's worth waiting */
	/*
	 * Narrowings for a backlog since the last judged epoch: the window
	 * before them and the rate then. The first full epoch after them
	 * keeps them, or, when it moved less than PACE_FALL of that rate
	 * (the link, not the consumer, was the limit), undoes them and
	 * turns them off for good (backlog_off).
	 */
	unsigned backlog_from;     /* 0: none to judge */
	double backlog_rate;       /* the rate before them */
	bool backlog_off;
	double prev_rate;          /* bytes/ms of the last full epoch, 0: none */
	uint64_t epoch_consumed;   /* opts.consumed() when the epoch began */
	double prev_consumed_rate; /* the consumer's bytes/ms then, 0: none or nothing taken */
	/*
	 * No place taken or asked for since idle_since (the consumer then at
	 * idle_consumed), after one was: the epoch's clock, what
	 * it counts of the consumer, and the probe's time stop until a place
	 * is asked for (end_idle()). A reader that pauses met no slower link:
	 * an epoch across a pause moved its bytes over minutes, and the window
	 * narrowed at every pause, for good on a link that rewards a wide one.
	 */
	bool idle;
	int64_t idle_since;
	uint64_t idle_consumed;

	uint64_t widened, narrowed, congestions, backlogs, bytes;
};

static int64_t mono_ms(void *ctx)
{
	(void)ctx;
	return time_mono_ms();
}

static int64_t now_ms(const struct hub_pace *p)
{
	return p->o.clock_ms(p->o.clock_ctx);
}

int hub_pace_new(const struct hub_pace_opts *opts, struct hub_pace **out)
{
	struct hub_pace *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return -ENOMEM;
	if (opts)
		p->o = *opts;
	if (!p->o.min)
		p->o.min = 1;
	if (!p->o.max)
		p->o.max = 32;
	if (p->o.max < p->o.min)
		p->o.max = p->o.min;
	if (!p->o.initial)
		p->o.initial = 4;
	if (p->o.initial < p->o.min)
		p->o.initial = p->o.min;
	if (p->o.initial > p->o.max)
		p->o.initial = p->o.max;
	if (!p->o.epoch_ms)
		p->o.epoch_ms = 200;
	if (!p->o.clock_ms)
		p->o.clock_ms = mono_ms;
	pthread_mutex_init(&p->lock, NULL);
	/* A probe only where the start it would change is wider than a near link's. */
	if (p->o.probe_ms && p->o.initial > PACE_NEAR_WINDOW)
		p->probe = PROBE_ON;
	p->window = p->peak_window = p->probe == PROBE_ON ? 1 : p->o.initial;
	p->slow_start = true;
	p->last_cut = INT64_MIN / 2;
	p->epoch_start = now_ms(p);
	if (p->o.consumed)
		p->epoch_consumed = p->o.consumed(p->o.consumed_ctx);
	/*
	 * Not idle at its creation: the first epoch runs from there, so that
	 * a mount's first read, whenever it comes, is judged at the end of
	 * its first window's worth of transfers, not 200 ms after it began
	 * (made idle here, a cold read at 30 ms took 30 ms longer).
	 */
	*out = p;
	return 0;
}

void hub_pace_free(struct hub_pace *p)
{
	if (!p)
		return;
	if (held == p)
		held = NULL; /* a place its owner never gave back (tests) */
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* The oldest waiter checks whether it may go now. Called with p->lock held. */
static void wake_first(struct hub_pace *p)
{
	if (p->first)
		pthread_cond_signal(&p->first->wake);
}

static void set_window(struct hub_pace *p, unsigned w)
{
	if (w < p->o.min)
		w = p->o.min;
	if (w > p->o.max)
		w = p->o.max;
	if (w > p->window)
		wake_first(p);
	p->window = w;
	if (w > p->peak_window)
		p->peak_window = w;
}

static void widen(struct hub_pace *p)
{
	if (p->window >= p->o.max) {
		p->last = PACE_KEPT; /* nothing to take back */
		return;
	}
	p->before_widen = p->window;
	set_window(p, p->slow_start ? p->window * 2 : p->window + 1);
	p->last = PACE_WIDENED;
	p->widened++;
}

static void narrow(struct hub_pace *p, unsigned w)
{
	p->slow_start = false;
	if (w < p->window)
		p->narrowed++;
	set_window(p, w);
	p->last = PACE_NARROWED;
}

static void new_epoch(struct hub_pace *p, int64_t now);

/*
 * The probe is over: a near link starts at PACE_NEAR_WINDOW and widens one
 * at a time (more transfers there mostly take CPU from the consumer);
 * any other at the caller's start, as without a probe.
 */
static void end_probe(struct hub_pace *p, bool near, int64_t now, const char *why)
{
	log_info("transfers: %u at once to start: %s", near ? PACE_NEAR_WINDOW : p->o.initial, why);
	p->probe = PROBE_DONE;
	p->probe_place = NULL;
	p->near = near;
	if (near) {
		p->slow_start = false;
		set_window(p, PACE_NEAR_WINDOW);
		new_epoch(p, now); /* the probe's time is no epoch of this window */
	} else {
		/*
		 * The epoch goes on: as without a probe, the first one ends
		 * with a window's worth of transfers, and slow start doubles
		 * then (a new epoch here put that 200 ms later, and a cold
		 * read at 30 ms took 50 ms longer).
		 */
		set_window(p, p->o.initial);
	}
	wake_first(p);
}

/* This thread's place, just taken, measures the link if none does. Under the lock. */
static void probe_take(struct hub_pace *p)
{
	if (p->probe != PROBE_ON || p->probe_place)
		return;
	p->probe_place = &place;
	p->probe_start = now_ms(p);
	if (!p->probe_until)
		p->probe_until = p->probe_start + (int64_t)p->o.probe_ms;
}

/*
 * The probe's transfer ended at @now having received @bytes from the
 * network (hub_pace_received()), not what its caller moved: a block a
 * download found on disk moved 4 MiB in a few ms whatever the link.
 * Under the lock.
 */
static void probe_ended(struct hub_pace *p, uint64_t bytes, int64_t now)
{
	int64_t took = now - p->probe_start > 0 ? now - p->probe_start : 1;
	char why[96];
	bool near;

	if (bytes < PACE_NEAR_BYTES && now < p->probe_until) {
		/* Too little to say (a small file, a block on disk, a failure): the next one probes. */
		p->probe_place = NULL;
		return;
	}
	near = bytes >= PACE_NEAR_BYTES && now <= p->probe_until &&
	       bytes >= (uint64_t)took * PACE_NEAR_BYTES_PER_MS;
	snprintf(why, sizeof(why), "a transfer received %llu KiB in %lld ms%s",
		 (unsigned long long)(bytes >> 10), (long long)took, near ? ", a near link" : "");
	end_probe(p, near, now, why);
}

/* The probe's time is up with no answer: not a near link. */
static void probe_timeout(struct hub_pace *p, int64_t now)
{
	if (p->probe == PROBE_ON && p->probe_until && now >= p->probe_until)
		end_probe(p, false, now, "no transfer ended within the probe's time");
}

static void new_epoch(struct hub_pace *p, int64_t now)
{
	if (p->o.consumed)
		p->epoch_consumed = p->o.consumed(p->o.consumed_ctx);
	p->epoch_start = now;
	p->epoch_bytes = 0;
	p->epoch_done = 0;
	p->epoch_full = p->in_flight >= p->window || p->waiting > 0;
	p->epoch_backlog = false;
}

/* Called under the lock after each release: decide once the epoch is over. */
static void end_epoch(struct hub_pace *p, int64_t now)
{
	int64_t dt = now - p->epoch_start;
	double rate, ratio, growth, consumed_rate = 0;

	/* While probing, the epoch runs on: the probe's answer decides. */
	if (p->probe == PROBE_ON || dt < (int64_t)p->o.epoch_ms || p->epoch_done < p->window)
		return;
	rate = (double)p->epoch_bytes / (double)dt;
	if (p->o.consumed)
		consumed_rate = (double)(p->o.consumed(p->o.consumed_ctx) - p->epoch_consumed) /
				(double)dt;
	if (p->epoch_start < p->hold_until) {
		/*
		 * Nothing new started during a Retry-After: a rate that spans
		 * one says nothing of the link, and compared with the next it
		 * looked like growth (a widening into the server's refusal).
		 */
		p->prev_rate = 0;
		p->last = PACE_KEPT;
		new_epoch(p, now);
		return;
	}
	if (p->backlog_from) {
		if (p->epoch_full && rate < PACE_FALL * p->backlog_rate) {
			set_window(p, p->backlog_from);
			p->backlog_off = true;
			p->epoch_backlog = false;
		}
		p->backlog_from = 0;
	}
	if (p->epoch_backlog) {
		/*
		 * The consumer, not the link, was the limit: the rate says
		 * nothing of the link, and a narrower window that moved more
		 * bytes (it left the consumer more CPU) is no call to widen.
		 */
		p->prev_rate = 0;
		p->last = PACE_KEPT;
		new_epoch(p, now);
		return;
	}
	if (!p->epoch_full) {
		/* The callers could not fill the window: it says nothing about it. */
		p->prev_rate = 0;
		p->last = PACE_KEPT;
		new_epoch(p, now);
		return;
	}
	if (p->prev_rate <= 0) {
		if (p->slow_start)
			widen(p);
		p->prev_rate = rate;
		p->prev_consumed_rate = consumed_rate;
		new_epoch(p, now);
		return;
	}
	ratio = rate / p->prev_rate;
	/* A widening must have helped the consumer too, when it took anything in both. */
	growth = ratio;
	if (consumed_rate > 0 && p->prev_consumed_rate > 0 &&
	    consumed_rate / p->prev_consumed_rate < growth)
		growth = consumed_rate / p->prev_consumed_rate;
	if (growth > PACE_GROW) {
		p->flat = 0;
		widen(p);
	} else if (ratio < PACE_FALL) {
		p->flat = 0;
		narrow(p, p->window - p->window / 4);
	} else if (p->last == PACE_WIDENED) {
		/* More transfers moved no more bytes, or the consumer took no more: take them back. */
		p->slow_start = false;
		p->flat = 0;
		set_window(p, p->before_widen);
		p->last = PACE_KEPT;
	} else if (p->slow_start || ++p->flat >= PACE_FLAT_PROBE) {
		p->flat = 0;
		widen(p); /* probe: has the link got room again? */
	} else {
		p->last = PACE_KEPT;
	}
	p->prev_rate = rate;
	p->prev_consumed_rate = consumed_rate;
	new_epoch(p, now);
}

/* Nothing taken, out of the window or asked for from @now on: the clocks stop. Under the lock. */
static void maybe_idle(struct hub_pace *p, int64_t now)
{
	if (p->idle || p->places || p->waiting || p->in_flight)
		return;
	p->idle = true;
	p->idle_since = now;
	if (p->o.consumed)
		p->idle_consumed = p->o.consumed(p->o.consumed_ctx);
}

/* A place is asked for: the clocks go on from where they stopped. Under the lock. */
static void end_idle(struct hub_pace *p, int64_t now)
{
	int64_t gap = now - p->idle_since;

	if (!p->idle)
		return;
	p->idle = false;
	if (gap <= 0)
		return;
	p->epoch_start += gap;
	if (p->probe == PROBE_ON && p->probe_until)
		p->probe_until += gap;
	if (p->o.consumed)
		p->epoch_consumed += p->o.consumed(p->o.consumed_ctx) - p->idle_consumed;
}

static void leave_queue(struct hub_pace *p, struct pace_waiter *self)
{
	struct pace_waiter **at = &p->first, *prev = NULL;

	while (*at != self) {
		prev = *at;
		at = &(*at)->next;
	}
	*at = self->next;
	if (p->tail == self)
		p->tail = prev;
}

/*
 * Queue @self (at the end, or after the other returning transfers when
 * @self->returning) and wait for its turn. Called with p->lock held;
 * takes the place on success.
 */
static int wait_turn(struct hub_pace *p, struct pace_waiter *self, int64_t deadline_ms)
{
	int rc = 0;

	if (self->returning) {
		struct pace_waiter **at = &p->first;

		while (*at && (*at)->returning)
			at = &(*at)->next;
		self->next = *at;
		*at = self;
		if (!self->next)
			p->tail = self;
	} else {
		if (p->tail)
			p->tail->next = self;
		else
			p->first = self;
		p->tail = self;
	}
	end_idle(p, now_ms(p));
	p->waiting++;
	for (;;) {
		int64_t now = now_ms(p), wait = PACE_WAIT_STEP_MS;

		probe_timeout(p, now);
		if (p->closed) {
			rc = -ECANCELED;
			break;
		}
		if (p->first == self && p->in_flight < p->window && now >= p->hold_until)
			break;
		if (deadline_ms && now >= deadline_ms) {
			rc = -ETIMEDOUT;
			break;
		}
		if (p->in_flight >= p->window)
			p->epoch_full = true;
		if (now < p->hold_until && p->hold_until - now < wait)
			wait = p->hold_until - now;
		if (p->probe == PROBE_ON && p->probe_until && p->probe_until - now < wait)
			wait = p->probe_until - now;
		if (deadline_ms && deadline_ms - now < wait)
			wait = deadline_ms - now;
		/*
		 * Short steps, checked against our own clock (a test's fake
		 * one): our turn wakes us at once, a hold or a deadline
		 * within a step.
		 */
		time_cond_wait_ms(&self->wake, &p->lock, wait > 0 ? wait : 1);
	}
	leave_queue(p, self);
	p->waiting--;
	if (rc == 0) {
		p->in_flight++;
		if (p->in_flight >= p->window)
			p->epoch_full = true;
	} else {
		maybe_idle(p, now_ms(p));
	}
	wake_first(p); /* the next in line: a place may be left for it too */
	return rc;
}

/* Wait for a place and take it as this thread's. Called with p->lock held. */
static int acquire_locked(struct hub_pace *p, int64_t deadline_ms)
{
	struct pace_waiter self = { .next = NULL };
	int rc;

	pthread_cond_init(&self.wake, NULL);
	rc = wait_turn(p, &self, deadline_ms);
	pthread_cond_destroy(&self.wake);
	if (rc == 0 && !held) {
		/* This thread's place joins the pace's list (one at a time). */
		place = (struct pace_place){ .next = p->places };
		if (p->places)
			p->places->prev = &place;
		p->places = &place;
		held = p;
		probe_take(p);
	}
	return rc;
}

int hub_pace_acquire(struct hub_pace *p, int64_t deadline_ms)
{
	int rc;

	pthread_mutex_lock(&p->lock);
	rc = acquire_locked(p, deadline_ms);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void hub_pace_received(struct hub_pace *p, uint64_t bytes)
{
	if (held == p)
		place.received += bytes; /* this thread's own: no lock */
}

void hub_pace_asking(struct hub_pace *p, uint32_t server)
{
	if (held != p)
		return;
	pthread_mutex_lock(&p->lock); /* step-outs of others count the places */
	place.server = server;
	pthread_mutex_unlock(&p->lock);
}

/* The places asking @server and not waiting out of the window. Under the lock. */
static unsigned serving(const struct hub_pace *p, uint32_t server)
{
	unsigned n = 0;

	for (const struct pace_place *at = p->places; at; at = at->next)
		n += at->server == server && !at->out;
	return n;
}

void hub_pace_step_out(struct hub_pace *p)
{
	int64_t now;

	if (held != p || place.out)
		return;
	pthread_mutex_lock(&p->lock);
	place.out = true;
	if (p->in_flight)
		p->in_flight--;
	now = now_ms(p);
	/*
	 * After a cut, and for as long as its Retry-After holds, the places
	 * still asking the server that refused this one are what it admitted:
	 * the refused step out one by one as their answers come. The window
	 * becomes that when it is less than the halving. Not every transfer
	 * still in flight: small files from the Hub's API host are, as the
	 * CDN refuses blocks, and counted, they let the retries be refused
	 * again (3 more 429s in one CI run).
	 */
	if (now - p->last_cut < (int64_t)p->o.epoch_ms || now < p->hold_until) {
		unsigned admitted = serving(p, place.server);

		if (admitted < p->window)
			narrow(p, admitted);
	}
	wake_first(p);
	pthread_mutex_unlock(&p->lock);
}

int hub_pace_step_in(struct hub_pace *p, int64_t deadline_ms)
{
	struct pace_waiter self = { .next = NULL, .returning = true };
	int rc;

	if (held != p || !place.out)
		return 0;
	pthread_cond_init(&self.wake, NULL);
	pthread_mutex_lock(&p->lock);
	rc = wait_turn(p, &self, deadline_ms);
	if (rc < 0)
		p->in_flight++; /* counted anyway: the caller releases it */
	place.out = false;
	pthread_mutex_unlock(&p->lock);
	pthread_cond_destroy(&self.wake);
	return rc;
}

/* Does this thread's place measure the link? Under the lock. */
static bool probing_here(const struct hub_pace *p)
{
	return held == p && p->probe == PROBE_ON && p->probe_place == &place;
}

/*
 * A transfer of @bytes ended: count it, and judge the epoch. Under the
 * lock. Before the probe's verdict: a near link's epoch starts after the
 * probe, without its bytes.
 */
static void count_transfer(struct hub_pace *p, uint64_t bytes, int64_t now)
{
	p->epoch_bytes += bytes + PACE_TRANSFER_COST;
	p->epoch_done++;
	p->bytes += bytes;
	end_epoch(p, now);
}

/* This thread's place leaves the window, if it holds one. Under the lock. */
static void give_back(struct hub_pace *p)
{
	bool out = false;

	if (held == p) {
		out = place.out;
		if (place.prev)
			place.prev->next = place.next;
		else
			p->places = place.next;
		if (place.next)
			place.next->prev = place.prev;
		held = NULL;
	}
	if (p->in_flight && !out) /* a place out of the window was given back already */
		p->in_flight--;
	wake_first(p);
}

void hub_pace_release(struct hub_pace *p, uint64_t bytes)
{
	bool probe;
	int64_t now;

	pthread_mutex_lock(&p->lock);
	now = now_ms(p);
	probe = probing_here(p);
	/* Out of the window first: a new epoch counts only the places still in it. */
	give_back(p);
	count_transfer(p, bytes, now);
	if (probe && p->probe == PROBE_ON)
		probe_ended(p, place.received, now);
	maybe_idle(p, now);
	pthread_mutex_unlock(&p->lock);
}

int hub_pace_next(struct hub_pace *p, uint64_t bytes, int64_t deadline_ms)
{
	int64_t now;
	int rc;

	pthread_mutex_lock(&p->lock);
	now = now_ms(p);
	count_transfer(p, bytes, now);
	if (probing_here(p))
		probe_ended(p, place.received, now);
	if (held == p && !place.out && !p->closed && p->in_flight <= p->window &&
	    now >= p->hold_until && !(p->first && p->first->returning)) {
		/* Kept: the window has it, no Retry-After holds, no retry waits to come back. */
		place.server = 0;
		place.received = 0;
		probe_take(p);
		if (p->in_flight >= p->window || p->waiting > 0)
			p->epoch_full = true;
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	give_back(p);
	rc = acquire_locked(p, deadline_ms);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void hub_pace_close(struct hub_pace *p)
{
	pthread_mutex_lock(&p->lock);
	p->closed = true;
	for (struct pace_waiter *w = p->first; w; w = w->next)
		pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&p->lock);
}

void hub_pace_congestion(struct hub_pace *p, int64_t wait_ms)
{
	int64_t now;

	pthread_mutex_lock(&p->lock);
	now = now_ms(p);
	p->congestions++;
	if (p->probe == PROBE_ON)
		end_probe(p, false, now, "the server pushed back"); /* halved from the start */
	if (wait_ms > 0 && now + wait_ms > p->hold_until)
		p->hold_until = now + wait_ms;
	/* The answers of one burst arrive together: one cut for them all. */
	if (now - p->last_cut >= (int64_t)p->o.epoch_ms) {
		p->last_cut = now;
		narrow(p, p->window / 2);
		p->flat = 0;
		p->prev_rate = 0; /* a rate measured before the cut compares with nothing */
		/*
		 * Nor do narrowings for a backlog still to be judged: the
		 * slower epochs after a push back would give their window back.
		 */
		p->backlog_from = 0;
		new_epoch(p, now);
	}
	pthread_mutex_unlock(&p->lock);
}

void hub_pace_backlog(struct hub_pace *p, unsigned ready)
{
	int64_t now;

	pthread_mutex_lock(&p->lock);
	if (!ready || ready < p->window || p->backlog_off)
		goto out;
	p->epoch_backlog = true;
	/*
	 * Once a window's worth of transfers ended since the last change:
	 * those started before it say nothing of it.
	 */
	if (p->window <= PACE_BACKLOG_FLOOR || p->epoch_done < p->window)
		goto out;
	now = now_ms(p);
	if (!p->backlog_from) {
		/* What the judgement compares with: the last epoch, or this one so far. */
		p->backlog_rate = p->prev_rate > 0 ? p->prev_rate
				  : (double)p->epoch_bytes / (double)(now - p->epoch_start + 1);
		if (p->backlog_rate <= 0)
			goto out;
		p->backlog_from = p->window;
	}
	p->backlogs++;
	narrow(p, p->window / 2 > PACE_BACKLOG_FLOOR ? p->window / 2 : PACE_BACKLOG_FLOOR);
	p->flat = 0;
	new_epoch(p, now);
	p->epoch_backlog = true;
out:
	pthread_mutex_unlock(&p->lock);
}

void hub_pace_stats(struct hub_pace *p, struct hub_pace_stats *out)
{
	pthread_mutex_lock(&p->lock);
	out->window = p->window;
	out->in_flight = p->in_flight;
	out->waiting = p->waiting;
	out->peak_window = p->peak_window;
	out->probing = p->probe == PROBE_ON;
	out->probed = p->probe == PROBE_DONE;
	out->near = p->near;
	out->widened = p->widened;
	out->narrowed = p->narrowed;
	out->congestions = p->congestions;
	out->backlogs = p->backlogs;
	out->bytes = p->bytes;
	pthread_mutex_unlock(&p->lock);
}
