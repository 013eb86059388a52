/* SPDX-License-Identifier: MIT */
/*
 * The FUSE driver: the Hub as a read-only directory tree.
 *
 * fs_run() owns the whole life of one mount: it creates the FUSE session,
 * mounts, serves requests until unmounted or signalled (SIGINT, SIGTERM,
 * SIGHUP unmount cleanly), and tears everything down again.
 */
#ifndef HUBFS_FS_FS_H
#define HUBFS_FS_FS_H

#include <stdbool.h>

struct fs_options {
	const char *mountpoint;   /* required */
	const char *fuse_options; /* extra "-o" options, comma-separated, or NULL */
	bool foreground;          /* stay attached; otherwise daemonize */
	bool debug;               /* libfuse's own request tracing */
};

/*
 * Mount and serve until unmounted. Returns 0 after a clean unmount, or a
 * negative errno when the mount could not be set up (the reason is
 * logged).
 */
int fs_run(const struct fs_options *opts);

#endif /* HUBFS_FS_FS_H */
