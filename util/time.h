/* SPDX-License-Identifier: MIT */
/*
 * Clock readings as plain integers: nanoseconds, milliseconds or seconds of
 * one clock (CLOCK_MONOTONIC for intervals, deadlines and TTLs,
 * CLOCK_REALTIME for wall time). Thread-safe.
 */
#ifndef HUBFS_UTIL_TIME_H
#define HUBFS_UTIL_TIME_H

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
int64_t time_mono_secs(void);

#endif /* HUBFS_UTIL_TIME_H */
