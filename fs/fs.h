/* SPDX-License-Identifier: MIT */
/*
 * The FUSE driver: the Hub as a lazy, verified, read-only directory tree.
 *
 *   /ORG/NAME[@REV]/...             models
 *   /datasets/ORG/NAME[@REV]/...    datasets
 *   /spaces/ORG/NAME[@REV]/...      spaces
 *   /NAME@REV/...                   legacy single-part model ids
 *
 * (or one repo at the root with fs_options.repo). REV is a branch, a tag,
 * a commit sha or refs/pr/N, with '/' written %2F as in HfFileSystem.
 *
 * fs_run() owns the whole life of one mount: it creates the FUSE session,
 * mounts, serves requests until unmounted or signalled (SIGINT, SIGTERM,
 * SIGHUP unmount cleanly), and tears everything down again.
 */
#ifndef HUBFS_FS_FS_H
#define HUBFS_FS_FS_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/cache.h"
#include "hub/hub.h"

/*
 * Whether the cache's copy of what a reader was given whole leaves the
 * page cache (drop_behind() in fs/ops.c): the kernel holds the same bytes
 * in the mount's own pages.
 */
enum fs_drop_behind {
	FS_DROP_AUTO = 0, /* when memory has no room for both copies of the file, with room to spare */
	FS_DROP_ALWAYS,
	FS_DROP_NEVER,
};

struct fs_options {
	const char *mountpoint;     /* required */
	const char *fuse_options;   /* extra "-o" options, comma-separated, or NULL */
	bool foreground;            /* stay attached; otherwise daemonize */
	bool debug;                 /* libfuse's own request tracing */
	const char *repo;           /* mount this one repo at the root, or NULL */
	bool strict;                /* open() fetches and verifies the whole file */
	long revision_ttl_secs;     /* re-resolve branches after this long */
	long negative_ttl_secs;     /* remember failed lookups this long */
	unsigned prefetch_blocks;   /* how far sequential reads fetch ahead */
	unsigned prefetch_threads;  /* the read-ahead window at start (hub_pace's first window) */
	unsigned max_streams;       /* the window's cap: read-ahead fetches in flight, at most */
	enum fs_drop_behind drop_behind;
};

/* What the mount reads through; owned by the caller, outlives fs_run(). */
struct fs_deps {
	struct hub_client *hub;
	const struct hub_config *hub_config;
	struct cache *cache;
	const struct cache_options *cache_options; /* the cap, for status; may be NULL */
};

/*
 * Mount and serve until unmounted. Returns 0 after a clean unmount, or a
 * negative errno when the mount could not be set up (the reason is
 * logged).
 *
 * Without opts->foreground, fs_run() forks once the mount is made: the
 * calling process never returns from it but exits, 0 when the daemon
 * serves or 1 when it stopped first, and the daemon goes on in the child.
 * Log to stderr until then: the daemon itself moves the log to syslog
 * (log_use_syslog()) and stderr to /dev/null once it serves. Call with
 * no thread running.
 */
int fs_run(const struct fs_options *opts, const struct fs_deps *deps);

#endif /* HUBFS_FS_FS_H */
