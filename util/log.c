/* SPDX-License-Identifier: MIT */
#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static const char *log_ident = "hubfs";
static enum log_level log_threshold = LOG_LVL_INFO;
static atomic_bool log_to_syslog;

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void log_init(const char *ident, enum log_level level, bool to_syslog)
{
	log_ident = ident ? ident : "hubfs";
	log_threshold = level;
	if (to_syslog)
		openlog(log_ident, LOG_PID, LOG_DAEMON);
	atomic_store(&log_to_syslog, to_syslog);
}

void log_use_syslog(void)
{
	if (!atomic_load(&log_to_syslog)) {
		openlog(log_ident, LOG_PID, LOG_DAEMON);
		atomic_store(&log_to_syslog, true);
	}
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	     i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcmp(name, "warning") == 0) {
		*out = LOG_LVL_WARN;
		return 0;
	}
	return -EINVAL;
}

bool log_enabled(enum log_level level)
{
	return level <= log_threshold;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int syslog_prio[] = {
		[LOG_LVL_ERROR] = LOG_ERR,
		[LOG_LVL_WARN] = LOG_WARNING,
		[LOG_LVL_INFO] = LOG_INFO,
		[LOG_LVL_DEBUG] = LOG_DEBUG,
	};
	char line[2048];
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);

	if (atomic_load_explicit(&log_to_syslog, memory_order_relaxed)) {
		syslog(syslog_prio[level], "%s", line);
		return;
	}
	/* One fprintf per line: stdio locks the stream, lines never mix. */
	fprintf(stderr, "%s: %s: %s\n", log_ident, level_names[level], line);
}
