/* SPDX-License-Identifier: MIT */
/*
 * Logging for hubfs: one line per event, to stderr or to syslog.
 *
 * Global state: the sink and the threshold, set by main() and its option
 * parsing before any thread starts and read-only afterwards, except that
 * a daemon moves the sink from stderr to syslog once, with
 * log_use_syslog(), when it lets go of the terminal (threads may be
 * running then: the sink is atomic). Each message is written with a single
 * stdio call, so lines from several threads never interleave. Never pass a
 * token to these functions.
 */
#ifndef HUBFS_UTIL_LOG_H
#define HUBFS_UTIL_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/*
 * Set where messages go and which are kept. @ident prefixes stderr lines
 * and names the syslog identity. Call before starting threads.
 */
void log_init(const char *ident, enum log_level level, bool to_syslog);

/*
 * From now on, messages go to syslog: for a daemon about to close its
 * stderr. Safe while other threads log; the ones already writing finish
 * on stderr.
 */
void log_use_syslog(void);

/* Parse "error", "warn", "info" or "debug". Returns 0 or -EINVAL. */
int log_level_parse(const char *name, enum log_level *out);

bool log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)  log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_dbg(...)                                   \
	do {                                           \
		if (log_enabled(LOG_LVL_DEBUG))        \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)

#endif /* HUBFS_UTIL_LOG_H */
