/* SPDX-License-Identifier: MIT */
#include "util/time.h"

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
