/* SPDX-License-Identifier: MIT */
/*
 * Clock readings as plain integers: nanoseconds, milliseconds or seconds of
 * one clock (CLOCK_MONOTONIC for intervals, deadlines and TTLs,
 * CLOCK_REALTIME for wall time). Thread-safe.
 */
#ifndef HUBFS_UTIL_TIME_H
#define HUBFS_UTIL_TIME_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define TIME_NS_PER_SEC 1000000000LL
#define TIME_NS_PER_MS 1000000LL

/* @ts (a clock reading, or a file time such as st_mtim) in nanoseconds. */
static inline int64_t time_ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * TIME_NS_PER_SEC + ts->tv_nsec;
}

/* Now on @clock, in nanoseconds. */
int64_t time_ns(clockid_t clock);

/* Now on CLOCK_MONOTONIC, in milliseconds and in whole seconds. */
int64_t time_mono_ms(void);
/*
 * @secs (> 0) in milliseconds, at least 1: a timeout under a millisecond
 * made 0, which libcurl reads as its own default (300 s for a connection)
 * and our options as "not given".
 */
long time_secs_to_ms(double secs);
int64_t time_mono_secs(void);

/*
 * Wait on @cond, @lock held, for at most @ms milliseconds of
 * CLOCK_MONOTONIC. Not pthread_cond_timedwait(): its deadline is on the
 * wall clock, which a step (NTP, a VM resumed; a CI run saw 20 s) ends
 * early or, stepped back, stretches by the whole step, and a reader
 * whose interrupt is checked between waits would hang that long.
 * Returns 0 (woken, maybe spuriously) or ETIMEDOUT.
 */
int time_cond_wait_ms(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t ms);

#endif /* HUBFS_UTIL_TIME_H */
