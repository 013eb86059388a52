/* SPDX-License-Identifier: MIT */
/*
 * What the commands share: the options that reach the Hub, turning a
 * negative errno into an exit code, and the one-line error report. The
 * terminal belongs to cli/: only these files print for people.
 */
#ifndef HUBFS_CLI_CLI_H
#define HUBFS_CLI_CLI_H

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "repo/snapshot.h"
#include "hub/hub.h"

/* Exit codes, documented in hubfs(1). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,      /* failed for another reason */
	CLI_EXIT_USAGE = 2,     /* bad command line or malformed name */
	CLI_EXIT_NOT_FOUND = 3, /* repo, revision or file does not exist */
	CLI_EXIT_ACCESS = 4,    /* private or gated: no access */
	CLI_EXIT_NETWORK = 5,   /* the Hub could not be reached or failed */
};

/* Options every Hub-facing command takes. Initialize with CLI_HUB_OPTS_INIT. */
#define CLI_HUB_OPTS_INIT { .ovr = { .max_retries = -1 } }
struct cli_hub_opts {
	struct hub_config_overrides ovr;
	enum hub_repo_type type;
	bool type_given;
};

/* getopt_long values of the shared options; commands use others. */
enum {
	CLI_OPT_ENDPOINT = 0x1000,
	CLI_OPT_TOKEN_FILE,
	CLI_OPT_TYPE,
	CLI_OPT_OFFLINE,
	CLI_OPT_JSON,
	CLI_OPT_LOG_LEVEL,
	CLI_OPT_CONNECT_TIMEOUT,
	CLI_OPT_STALL_TIMEOUT,
	CLI_OPT_RETRIES,
	CLI_OPT_MIN_SPEED,
	CLI_OPT_OP_TIMEOUT,
	CLI_OPT_BAD, /* cli_getopt(): a shared option's value is wrong */
};

#define CLI_HUB_LONGOPTS                                                 \
	{ "endpoint", required_argument, NULL, CLI_OPT_ENDPOINT },       \
	{ "token-file", required_argument, NULL, CLI_OPT_TOKEN_FILE },   \
	{ "type", required_argument, NULL, CLI_OPT_TYPE },               \
	{ "offline", no_argument, NULL, CLI_OPT_OFFLINE },               \
	{ "log-level", required_argument, NULL, CLI_OPT_LOG_LEVEL },     \
	{ "connect-timeout", required_argument, NULL, CLI_OPT_CONNECT_TIMEOUT }, \
	{ "stall-timeout", required_argument, NULL, CLI_OPT_STALL_TIMEOUT }, \
	{ "retries", required_argument, NULL, CLI_OPT_RETRIES },         \
	{ "min-speed", required_argument, NULL, CLI_OPT_MIN_SPEED },     \
	{ "op-timeout", required_argument, NULL, CLI_OPT_OP_TIMEOUT }

/* The help line every command taking CLI_HUB_LONGOPTS ends with. */
#define CLI_HUB_OPTS_HELP                                                \
	"  --connect-timeout SECS, --stall-timeout SECS, --min-speed BYTES/S,\n" \
	"  --op-timeout SECS, --retries N, --log-level LEVEL: as for mount\n"

/*
 * Handle one of the shared options. Returns 1 when @c was one (and was
 * fine), 0 when it is not a shared option, or -1 after printing an error.
 */
int cli_hub_opt(struct cli_hub_opts *o, int c, const char *arg);

/*
 * getopt_long() for a command whose @longopts hold CLI_HUB_LONGOPTS: the
 * shared options are stored in @o and skipped. Returns the next of the
 * command's own options, CLI_OPT_BAD after printing why a shared
 * option's value is wrong, or -1 at the end. Set optind = 1 first.
 */
int cli_getopt(struct cli_hub_opts *o, int argc, char **argv,
	       const char *shortopts, const struct option *longopts);

/* Load the configuration and make a client; prints the error itself. */
int cli_hub_connect(const struct cli_hub_opts *o, struct hub_config *cfg,
		    struct hub_client **client);

/* Parse a REPO[@REV] argument with the shared --type; prints errors. */
int cli_parse_repo(const struct cli_hub_opts *o, const char *spec,
		   struct hub_repo *repo);

/* "hubfs: <message>" on stderr and the exit code for @rc. */
int cli_report(int rc, const struct hub_error *err);
enum cli_exit cli_exit_code(int rc);

/* Write @s as a JSON string literal (quoted, escaped). */
void cli_json_string(FILE *out, const char *s);

int cmd_ls(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_download(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_repair(int argc, char **argv);
int cmd_status(int argc, char **argv);

struct cache;
struct cache_options;

/*
 * Everything a command needs to read @spec's files: the cache, a Hub
 * client, huggingface_hub's cache for reuse, and the snapshot. Prints the
 * error itself; 0 or an exit code. Release with cli_snapshot_close().
 */
int cli_snapshot_open(const struct cli_hub_opts *o, const char *spec,
		      const char *cache_dir_opt, struct repo_env *env,
		      struct hub_config *cfg, struct repo_snapshot **snap);
void cli_snapshot_close(struct repo_env *env, struct hub_config *cfg,
			struct repo_snapshot *snap);

/*
 * huggingface_hub's cache (hf_export.c): put file @e of @snap, verified
 * through @cache (fetched by @src if it must), as blobs/<etag> and its
 * snapshots/<commit>/<path> link under @repo_dir (repo_hf_repo_dir()); and
 * refs/<revision>. 0 or -errno.
 */
int cli_hf_export_file(const char *repo_dir, const struct repo_snapshot *snap,
		       const struct repo_entry *e, struct cache *cache,
		       const struct cache_source *src);
int cli_hf_export_ref(const char *repo_dir, const struct repo_snapshot *snap);

/*
 * Write object @key, verified whole first (cache_fill()), to @path through
 * a temporary file renamed into place (not fsync'ed: a crash leaves the
 * old file or none, and the next run checks what is there), mode 0666
 * less the umask. The one way the commands copy content out of the cache.
 * 0 or -errno.
 */
int cli_copy_object(struct cache *cache, const struct cache_key *key,
		    const struct cache_source *src, const char *path);
/*
 * Before a file is written to @root/@rel: remove the temporary files
 * "<rel>.tmp.<pid>.<n>" that a run killed while writing it left beside it
 * (their pid is gone; fileio_is_stale_tmp_of_shape()), and nothing else.
 * No link below @root is followed. Each folder is read once per process.
 */
void cli_remove_stale_tmps(const char *root, const char *rel);
/*
 * Does the regular file @path (not followed if a link) hold exactly the
 * bytes of object @key? Read and hashed whole: sha256 or git blob sha1.
 */
bool cli_file_holds(const char *path, const struct cache_key *key);
/*
 * Giving up on a Hub that answers nothing (download, repair). Each
 * transfer alone is bounded by --op-timeout, but one by one, 16 at once,
 * 3,065 files took ~96 minutes to fail against a stalled Hub. Once a whole
 * window passed with nothing received and every transfer that ended in it
 * failing for the network, the command gives up. Threads: every function
 * is thread-safe; lock guards since_ms, progress_seen and why (written
 * once, before gave_up is set).
 */
struct cli_silence {
	int64_t window_ms;
	pthread_mutex_t lock;
	int64_t since_ms;          /* time_mono_ms() since which nothing came... */
	uint64_t progress_seen;    /* ...the caller's progress count then */
	atomic_bool gave_up;
	char why[700];
};
void cli_silence_init(struct cli_silence *s, int64_t window_ms);
/* The transfers begin now, @progress so far: the window starts here, not at init. */
void cli_silence_start(struct cli_silence *s, uint64_t progress);
void cli_silence_destroy(struct cli_silence *s);
/*
 * A transfer failed with @rc (@detail) while the caller's @progress (a
 * count that grows with what is received: bytes, blocks) had that value.
 * A failure other than the network's (a refusal of one file, the disk) is
 * no silence. Progress since the last call starts the window over; a
 * failure is needed to end it, so a window held shut by a Retry-After is
 * waited out. True the one time it gives up: the caller cancels what is
 * still in flight (hub_client_cancel()) and reports s->why.
 */
bool cli_silence_failed(struct cli_silence *s, uint64_t progress, int rc, const char *detail);
static inline bool cli_silence_gave_up(const struct cli_silence *s)
{
	return atomic_load(&s->gave_up);
}

/* Open the cache at @dir_opt (or the default); prints errors. 0 or an exit code. */
int cli_cache_open(const char *dir_opt, struct cache_options *opts,
		   struct cache **out);

#endif /* HUBFS_CLI_CLI_H */
