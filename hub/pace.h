/* SPDX-License-Identifier: MIT */
/*
 * An adaptive window of transfers in flight (hub/pace.c): how many ranged
 * requests to keep going at once so that a slow, distant link is full but
 * a server that pushes back is listened to.
 *
 * The caller brackets each transfer with hub_pace_acquire() (waits for a
 * free place in the window) and hub_pace_release() (says how many bytes it
 * moved). Every epoch (at least epoch_ms, and at least one window's worth
 * of transfers) the pace compares the throughput of the epoch with the one
 * before, counting only epochs in which the window was full. Throughput
 * counts each transfer as its bytes + 64 KiB, so that many small files
 * are judged by how many finished:
 *
 *   - throughput grew by more than 10%: widen. Doubling at first (slow
 *     start), +1 an epoch once the server has pushed back or growth stopped;
 *   - it stayed within ±10% after a widening: the widening did not help,
 *     undo it and stop doubling; after 5 such flat epochs, probe +1;
 *   - it fell by more than 30%: narrow to 3/4;
 *   - hub_pace_backlog() (what consumes the transfers, one thread that
 *     hashes a file in order, has a window's worth waiting): halve, not
 *     below 2, each time a window's worth of transfers ended since the
 *     last change, and no widening in an epoch that saw it. Where the CPU
 *     is the limit (loopback, two cores), more transfers only took CPU
 *     from that thread, and a download ended with a second of hashing
 *     alone. The first full epoch after such narrowings judges them: a
 *     rate under 70% of the one before says the link was the limit after
 *     all (a transfer moves little on its own), so the window goes back
 *     and backlogs are ignored from then on. A push back (below) before
 *     that judgement ends it: what the server admitted stands;
 *   - hub_pace_congestion() (a 429 or 503, reported by hub/ itself): halve
 *     (once per epoch, not once per answer), and start nothing new until
 *     the Retry-After has passed. The refused transfers step out of the
 *     window while they wait to retry (hub_pace_step_out()), and as they
 *     do, the window becomes what the server admitted, the transfers
 *     still asking it (hub_pace_asking()), when that is less than the
 *     halving. Their retries come back through the window, ahead of new
 *     transfers, so a server that admits 4 sees 4 again, not every retry
 *     at once. An epoch that spans a Retry-After is not compared: nothing
 *     new started in it.
 *
 * The probe (opts.probe_ms, for a start wider than 2): the first transfer
 * goes alone, and the others wait for it, at most probe_ms. When it
 * receives at least 1 MiB from the network (hub_pace_received()) at 400
 * MB/s or more within that time, the link is near: the window starts at 2
 * and widens one at a time, not by doubling. A transfer that received
 * less (a small file, a block found on disk, a failure) says nothing
 * either way, and the next goes alone in its turn, within the same
 * probe_ms from the first start. On loopback, or a LAN mirror, a transfer
 * moves a block in a few milliseconds and two keep the consumer busy;
 * sixteen only take its CPU (a cold read of 1 GiB through the mount took
 * 1.10-1.20 s at a window of 16 against 1.01-1.03 at 2, on two cores). A
 * slower answer, a push back, or no answer within probe_ms opens the
 * window to its start: a distant link needs many transfers to hide its
 * latency, and learns no more than probe_ms late that it is one.
 *
 * The consumer (opts.consumed: how many bytes whatever takes the
 * transfers' bytes has taken so far; hubfs gives what its running hashes
 * took): a widening stands only when the consumer's rate grew too,
 * whenever both epochs compared saw it take something. On loopback more
 * transfers move more bytes while the hash and the reader, short of CPU,
 * take no more, and a near link's window crept from 2 to 10 over 8 GiB
 * read in one mount by probes of +1, each judged by the transfers alone.
 *
 * A pause is no slower link: while no place is taken or asked for (after
 * the first was), the epoch's clock, what it counts of the consumer, and
 * the probe's time stop, and they go on at the next hub_pace_acquire(). A reader that
 * paused for minutes inside an epoch had the window narrowed at every
 * pause, and on a link that rewards a wide window it stayed narrow; a
 * mount whose first file was small found its near link only if the next
 * read came within the probe's 10 ms.
 *
 * The window stays within [min, max]; max is the user's cap.
 *
 * Threads: every function may be called from any thread; one mutex guards
 * the state and no call holds it while waiting for the network. A thread
 * holds at most one place at a time, and gives it back before it ends.
 */
#ifndef HUBFS_HUB_PACE_H
#define HUBFS_HUB_PACE_H

#include <stdbool.h>
#include <stdint.h>

struct hub_pace_opts {
	unsigned initial;   /* first window (default 4) */
	unsigned min;       /* the window never goes below (default 1) */
	unsigned max;       /* the user's cap (default 32) */
	unsigned epoch_ms;  /* shortest measuring epoch (default 200) */
	unsigned probe_ms;  /* the probe's time (above); 0: none, start at initial */
	/*
	 * What the consumer has taken so far, in bytes (above); NULL: none.
	 * Called under the pace's lock: it must take no lock itself.
	 */
	uint64_t (*consumed)(void *ctx);
	void *consumed_ctx;
	/* Monotonic milliseconds; NULL: CLOCK_MONOTONIC. For tests. */
	int64_t (*clock_ms)(void *ctx);
	void *clock_ctx;
};

struct hub_pace_stats {
	unsigned window;         /* the current window */
	unsigned in_flight;
	unsigned waiting;        /* in hub_pace_acquire() for a place */
	unsigned peak_window;    /* the largest window so far */
	bool probing;            /* the probe is not over: the window is 1 */
	bool probed;             /* it is over (false: none, or not over) */
	bool near;               /* the probe found a near link */
	uint64_t widened, narrowed, congestions; /* how often each happened */
	uint64_t backlogs;       /* narrowings by hub_pace_backlog() */
	uint64_t bytes;          /* as released */
};

/* The probe's time that hubfs download and the mount's read-ahead use. */
#define HUB_PACE_PROBE_MS 10

struct hub_pace;

/* @opts may be NULL (all defaults); zero fields take their default. */
int hub_pace_new(const struct hub_pace_opts *opts, struct hub_pace **out);
void hub_pace_free(struct hub_pace *p);

/*
 * Wait for a place in the window (and for any Retry-After to pass), then
 * take it; places go first come, first served. @deadline_ms is a
 * clock_ms() time, or 0 for none. Returns 0, -ETIMEDOUT when the deadline
 * came first, or -ECANCELED once the pace is closed (nothing taken either
 * way).
 */
int hub_pace_acquire(struct hub_pace *p, int64_t deadline_ms);

/*
 * For a user that is ending: every acquire, waiting or to come, fails
 * with -ECANCELED at once. Releases still count. Cannot be undone.
 */
void hub_pace_close(struct hub_pace *p);

/*
 * The transfer of this thread's place now asks @server (any number that
 * names a server, e.g. a hash of its origin; 0 is where places start):
 * what a 429 from it says is counted among the places asking it only.
 * hub/http.c says it before each request. Nothing unless this thread
 * holds a place of @p.
 */
void hub_pace_asking(struct hub_pace *p, uint32_t server);

/*
 * This thread's transfer received @bytes of a body from the network
 * (hub/http.c, after each request): what the probe judges. Nothing unless
 * this thread holds a place of @p.
 */
void hub_pace_received(struct hub_pace *p, uint64_t bytes);

/* Give the place back after a transfer that moved @bytes (0 if it failed). */
void hub_pace_release(struct hub_pace *p, uint64_t bytes);

/*
 * hub_pace_release() and hub_pace_acquire() in one, for a thread that
 * goes on to its next transfer at once: it keeps its place when the
 * window still has room for it, no Retry-After holds new transfers back
 * and no retry waits to come back (hub_pace_step_in()), ahead of the
 * threads waiting for one. Handing the place to a sleeping thread costs a
 * wake-up, and on a machine whose cores are busy, the scheduler's delay
 * before that thread runs: with a window of 2 and a consumer waiting for
 * each transfer, a download of 1 GiB took 0.96-1.02 s that way against
 * 0.75-0.89 with two threads.
 * Returns as hub_pace_acquire() does; on failure nothing is held.
 */
int hub_pace_next(struct hub_pace *p, uint64_t bytes, int64_t deadline_ms);

/*
 * For a transfer about to wait before a retry (hub/http.c's backoff):
 * give this thread's place back for the wait. Within an epoch of a 429 or
 * 503, the window also becomes what the server admitted (above). Does
 * nothing unless this thread holds a place of @p: the place a thread
 * takes with hub_pace_acquire() is its own until it releases it.
 */
void hub_pace_step_out(struct hub_pace *p);

/*
 * After that wait: take a place again, before the transfers that have
 * not started (this one started before them). Returns 0, -ETIMEDOUT or
 * -ECANCELED as hub_pace_acquire() does; the place counts as taken either
 * way, for the caller's hub_pace_release(). Nothing unless this thread
 * stepped out.
 */
int hub_pace_step_in(struct hub_pace *p, int64_t deadline_ms);

/*
 * The server pushed back (429, 503): halve the window and start nothing
 * new for @wait_ms (its Retry-After; 0 if it gave none).
 */
void hub_pace_congestion(struct hub_pace *p, int64_t wait_ms);

/*
 * What takes the transfers' bytes after them is behind: @ready finished
 * transfers wait for it (hubfs download: blocks on disk that the running
 * hash of their file could take now, cache_hash_backlog(), said after
 * each block). When that is the window or more, the window halves (above).
 */
void hub_pace_backlog(struct hub_pace *p, unsigned ready);

void hub_pace_stats(struct hub_pace *p, struct hub_pace_stats *out);

#endif /* HUBFS_HUB_PACE_H */
