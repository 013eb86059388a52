/* SPDX-License-Identifier: MIT */
#include "util/time.h"

#include <errno.h>

int64_t time_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return time_ts_ns(&ts);
}

int64_t time_mono_ms(void)
{
	return time_ns(CLOCK_MONOTONIC) / TIME_NS_PER_MS;
}

int64_t time_mono_secs(void)
{
	return time_ns(CLOCK_MONOTONIC) / TIME_NS_PER_SEC;
}

int time_cond_wait_ms(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t ms)
{
	int64_t until = time_ns(CLOCK_MONOTONIC) + (ms > 0 ? ms : 0) * TIME_NS_PER_MS;
	struct timespec ts = { .tv_sec = until / TIME_NS_PER_SEC,
			       .tv_nsec = until % TIME_NS_PER_SEC };
	int rc = pthread_cond_clockwait(cond, lock, CLOCK_MONOTONIC, &ts);

	return rc == ETIMEDOUT ? ETIMEDOUT : 0;
}

long time_secs_to_ms(double secs)
{
	long ms = (long)(secs * 1000);

	return ms > 0 ? ms : 1;
}
