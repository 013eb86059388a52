/* SPDX-License-Identifier: MIT */
/*
 * The Hugging Face Hub client: the only module that speaks HTTP and JSON.
 *
 * Everything else asks it questions and gets typed answers, or a negative
 * errno plus a struct hub_error whose message a person understands. All
 * input from the Hub (headers, JSON, sizes, paths) is bounded and
 * validated here; nothing invalid leaves this module.
 *
 * Threads: a struct hub_client may be used by many threads at once. It
 * keeps a pool of connections; no call holds a lock across network I/O.
 *
 * Errors (the one table, hub/errors.c), as huggingface_hub reports them:
 *   -ENOENT     RepoNotFound, RevisionNotFound, EntryNotFound, and an
 *               anonymous 401 ("not found, or private and you are not
 *               logged in": the message says how to log in)
 *   -EACCES     GatedRepo (not logged in, or not approved), a disabled
 *               repo, any other 403, a token the Hub refused (the
 *               message says how to get access)
 *   -EAGAIN     rate limit still exhausted after the retries
 *   -ETIMEDOUT  connect or stall timeout, a transfer slower than the
 *               floor, or the operation's deadline passed
 *   -EHOSTUNREACH  cannot connect to the Hub (refused, no route, unknown
 *               host): never retried, so it is known at once
 *   -ECANCELED  hub_client_cancel() was called (the mount is ending)
 *   -ENETDOWN   offline mode: no network use allowed
 *   -EPROTO     the Hub answered something invalid (JSON, headers, sizes)
 *   -EIO        other server failures (5xx after the retries, ...)
 *   -EINVAL     a bad argument (repo id, revision, path)
 *   -ENOMEM, -EFBIG  resource limits
 */
#ifndef HUBFS_HUB_HUB_H
#define HUBFS_HUB_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HUB_REPO_PART_MAX 96 /* an org's name, or a repo's */
#define HUB_REPO_ID_MAX (2 * HUB_REPO_PART_MAX + 1)
#define HUB_REVISION_MAX 255
#define HUB_OID_HEX 40    /* git sha1 */
#define HUB_SHA256_HEX 64 /* LFS oid */
#define HUB_MESSAGE_MAX 512

enum hub_repo_type {
	HUB_REPO_MODEL,
	HUB_REPO_DATASET,
	HUB_REPO_SPACE,
};

/* What went wrong, for people. Filled on failure, untouched on success. */
struct hub_error {
	int code;                      /* the negative errno also returned */
	long http_status;              /* 0 when no HTTP answer was had */
	char hub_code[32];             /* X-Error-Code, or "" */
	char message[HUB_MESSAGE_MAX]; /* one line; never holds a token */
};

/* Fill @err (may be NULL) with @code and a message, and return @code. */
int hub_fail(struct hub_error *err, int code, long http_status,
	     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- configuration (hub/config.c) ---- */

struct hub_config {
	char *endpoint;            /* "scheme://host[:port][/prefix]", no '/' at the end */
	char *token;               /* NULL: anonymous. Never logged, never sent off-host */
	const char *token_source;  /* where the token came from, for messages */
	bool offline;              /* no network use at all */
	const char *endpoint_source; /* "--endpoint", "HF_ENDPOINT" or "the default" */
	long connect_timeout_ms;   /* per connection attempt */
	long stall_timeout_ms;     /* the low-speed window (ms) */
	long min_speed_bps;        /* fewer bytes/s than this over a window: too slow */
	long op_timeout_ms;        /* one operation (a FUSE request, a command's
				    * call) with all its retries and redirects */
	unsigned max_retries;      /* after the first attempt */
	long max_retry_wait_ms;    /* the longest single wait we accept (429 reset) */
	long retry_base_ms;        /* first backoff; doubles per retry, with jitter */
};

/* What the command line says; NULL / false fields defer to the environment. */
struct hub_config_overrides {
	const char *endpoint;    /* --endpoint */
	const char *token_file;  /* --token-file */
	bool offline;            /* --offline */
	long connect_timeout_ms; /* --connect-timeout; 0: unset */
	long stall_timeout_ms;   /* --stall-timeout; 0: unset */
	long min_speed_bps;      /* --min-speed; 0: unset */
	long op_timeout_ms;      /* --op-timeout; 0: unset */
	int max_retries;         /* --retries; -1: unset */
};

/*
 * Build the configuration: endpoint from --endpoint, HF_ENDPOINT, else
 * https://huggingface.co; token from --token-file, HF_TOKEN, the file at
 * HF_TOKEN_PATH, else $HF_HOME/token (HF_HOME defaults to
 * ${XDG_CACHE_HOME:-~/.cache}/huggingface); HF_HUB_OFFLINE=1 (or true, yes,
 * on) means offline. Timeouts from --connect-timeout / --stall-timeout /
 * --op-timeout, else HUBFS_CONNECT_TIMEOUT, HUBFS_STALL_TIMEOUT and
 * HUBFS_OP_TIMEOUT (seconds); the speed floor from --min-speed, else
 * HUBFS_MIN_SPEED (bytes per second); retries from --retries, else
 * HUBFS_MAX_RETRIES.
 * Returns 0, or -EINVAL (bad endpoint, unreadable token file, a token
 * with characters no header may carry) with @err filled.
 * Ownership: release with hub_config_release().
 */
int hub_config_load(struct hub_config *cfg,
		    const struct hub_config_overrides *ovr,
		    struct hub_error *err);
void hub_config_release(struct hub_config *cfg);

/* ---- names (hub/names.c) ---- */

struct hub_repo {
	enum hub_repo_type type;
	char id[HUB_REPO_ID_MAX + 1];             /* "org/name" or legacy "name" */
	char revision[HUB_REVISION_MAX + 1];      /* decoded; "" = default branch */
};

/* "model", "dataset", "space". */
const char *hub_repo_type_name(enum hub_repo_type type);
/* Accepts the singular and plural names. Returns 0 or -EINVAL. */
int hub_repo_type_parse(const char *name, enum hub_repo_type *out);

/* Is @id a repo id the Hub accepts: "name" or "org/name", [A-Za-z0-9_.-],
 * at most 96 characters each, no leading/trailing '-' or '.', no "--" or
 * "..", not ending in ".git"? */
bool hub_repo_id_is_valid(const char *id);

/* Is @rev a revision we can name: 1..255 bytes, no control characters? */
bool hub_revision_is_valid(const char *rev);

/*
 * Parse "[datasets/|spaces/]ID[@REV]" as HfFileSystem writes it. REV is
 * percent-decoded ("refs%2Fpr%2F1" is refs/pr/1) and may also be written
 * with plain slashes. @type_hint is used when there is no prefix;
 * @type_forced (non-NULL) must agree with a prefix. Returns 0 or -EINVAL.
 */
int hub_repo_parse(const char *spec, enum hub_repo_type type_hint,
		   bool type_forced, struct hub_repo *out,
		   struct hub_error *err);

/* "", "datasets/", "spaces/": the prefix of file and web-page URLs. */
const char *hub_repo_url_prefix(enum hub_repo_type type);

/* The revision to put in URLs: the repo's, or "main" when none. */
const char *hub_repo_revision(const struct hub_repo *repo);

struct buf;
/* Append @path percent-encoded per segment, as in resolve URLs. */
int hub_url_escape_path(struct buf *out, const char *path);

/* "datasets/org/name@rev" (the revision %-encoded when it has a '/'). */
int hub_repo_format(const struct hub_repo *repo, char *out, size_t size);

/* ---- entries and answers (hub/json.c) ---- */

enum hub_entry_type {
	HUB_ENTRY_FILE,
	HUB_ENTRY_DIR,
};

/* One tree or paths-info entry, validated. Valid only during the callback. */
struct hub_entry {
	enum hub_entry_type type;
	const char *path;                 /* repo-relative, passed path_validate_repo_path() */
	uint64_t size;                    /* real size (LFS: the content's), 0 for dirs */
	char oid[HUB_OID_HEX + 1];        /* git blob / tree sha1 */
	bool is_lfs;
	char lfs_sha256[HUB_SHA256_HEX + 1]; /* when is_lfs */
	uint64_t lfs_pointer_size;           /* when is_lfs */
};

/* Return 0 to go on, or a negative errno to stop the listing with it. */
typedef int (*hub_entry_fn)(void *ctx, const struct hub_entry *entry);

struct hub_repo_info {
	char id[HUB_REPO_ID_MAX + 1];
	char sha[HUB_OID_HEX + 1];  /* the commit the revision resolved to */
	char last_modified[40];     /* ISO-8601, as the Hub wrote it */
	bool is_private;
	char gated[8];              /* "", "auto" or "manual" */
	bool disabled;
	char **tags;                /* owned; n_tags strings */
	size_t n_tags;
};

void hub_repo_info_release(struct hub_repo_info *info);

/* ---- the client (hub/client.c, hub/api.c) ---- */

struct hub_client;

/*
 * Ownership: the client copies what it needs from @cfg. Call
 * hub_global_init() once in main() before any client is made.
 */
int hub_global_init(void);
void hub_global_cleanup(void);
int hub_client_new(const struct hub_config *cfg, struct hub_client **out);
void hub_client_free(struct hub_client *client);

/*
 * Tell @pace (hub/pace.h; NULL: none) of every 429 and 503 this client
 * gets, with its Retry-After, so that the callers' window of transfers
 * narrows. Set it before the threads start; the caller frees it after
 * the client.
 */
struct hub_pace;
void hub_client_set_pace(struct hub_client *client, struct hub_pace *pace);

/*
 * Bounded time. Every request ends: a connection attempt after
 * connect_timeout_ms; a transfer that moves fewer than min_speed_bps
 * bytes per second (headers included) over stall_timeout_ms; and every
 * call below (with its retries, redirects, resumed bodies and backoff
 * waits) by its deadline. That deadline is the calling thread's, set with
 * hub_deadline_set() (the mount sets one per FUSE request); a thread
 * that set none gets op_timeout_ms per call.
 */

/* Monotonic milliseconds, the clock deadlines are measured on. */
int64_t hub_now_ms(void);

/*
 * Give the calling thread's Hub calls the deadline @at_ms (hub_now_ms()
 * time; 0: none, each call gets op_timeout_ms). Returns the previous
 * value, to restore. Threads: affects the calling thread only.
 */
int64_t hub_deadline_set(int64_t at_ms);

/*
 * Whether the calling thread's deadline is hard: a listing in pages then
 * ends by it, where it otherwise gives each page that arrives the time the
 * first had (a mount's start, which a service manager waits for). Returns
 * the previous value, to restore. Affects the calling thread only.
 */
bool hub_deadline_hard(bool hard);

/*
 * @url as it may be shown to people (logs, xattrs, status): a user:password
 * becomes "***" and the query (a signed URL's signature) is dropped.
 */
void hub_redact_url(const char *url, char *out, size_t size);

/* The calling thread's deadline (0: none), to hand to a thread it starts. */
int64_t hub_deadline_get(void);

/*
 * End every transfer of @client within about a second and make new ones
 * fail with -ECANCELED: for a mount that is ending. Thread-safe; cannot
 * be undone.
 */
void hub_client_cancel(struct hub_client *client);

/* Repo info at the repo's revision (or the default branch). */
int hub_repo_info(struct hub_client *client, const struct hub_repo *repo,
		  struct hub_repo_info *out, struct hub_error *err);

/* The commit a revision stands for (a 40-hex sha passes through untouched). */
int hub_resolve_revision(struct hub_client *client,
			 const struct hub_repo *repo,
			 char sha[HUB_OID_HEX + 1], struct hub_error *err);

/*
 * List @path ("" = the root) at @repo's revision, one level or
 * recursively, calling @fn per entry in the Hub's order. Pages are fetched
 * one at a time and freed before the next. Invalid entries are skipped
 * and logged; they never reach @fn.
 */
int hub_list_tree(struct hub_client *client, const struct hub_repo *repo,
		  const char *path, bool recursive, hub_entry_fn fn, void *ctx,
		  struct hub_error *err);

/* Entries for @n explicit paths; missing paths are simply not reported. */
int hub_paths_info(struct hub_client *client, const struct hub_repo *repo,
		   const char *const *paths, size_t n, hub_entry_fn fn,
		   void *ctx, struct hub_error *err);

/* What a HEAD on resolve tells about one file. */
struct hub_file_meta {
	uint64_t size;               /* X-Linked-Size, else Content-Length */
	char etag[HUB_SHA256_HEX + 1]; /* sha256 (LFS) or git blob sha1 */
	char commit[HUB_OID_HEX + 1];  /* X-Repo-Commit */
	bool is_lfs;                 /* redirected off-host with X-Linked-Etag */
	char location[1024];         /* where the bytes are; query stripped */
};

int hub_head_file(struct hub_client *client, const struct hub_repo *repo,
		  const char *path, struct hub_file_meta *out,
		  struct hub_error *err);

/* Receives body bytes in order. Return 0, or a negative errno to stop. */
typedef int (*hub_write_fn)(void *ctx, const void *data, size_t len);

/*
 * Fetch exactly bytes [@offset, @offset + @len) of @path and hand them to
 * @fn, in order, each byte once. @file_size (from the listing; UINT64_MAX
 * when unknown) is checked against Content-Range and X-Linked-Size. A
 * body broken off mid-way resumes with a Range from where it stopped; a
 * Range answered with 200 is cut to the range. Redirects to another host
 * never carry the token.
 */
int hub_read_range(struct hub_client *client, const struct hub_repo *repo,
		   const char *path, uint64_t offset, uint64_t len,
		   uint64_t file_size, hub_write_fn fn, void *ctx,
		   struct hub_error *err);

/* One repo of a namespace listing. Valid only during the callback. */
struct hub_repo_summary {
	enum hub_repo_type type;
	const char *id;               /* "org/name", passed hub_repo_id_is_valid() */
	bool is_private;
	char gated[8];                /* "", "auto" or "manual" */
	char sha[HUB_OID_HEX + 1];    /* the default branch's commit, "" when not listed */
	int64_t last_modified;        /* unix seconds, 0 when not listed */
};

/* Return 0 to go on, or a negative errno to stop with it. */
typedef int (*hub_repo_fn)(void *ctx, const struct hub_repo_summary *repo);

/*
 * The repos of namespace @author ("org" or "user") of @type, in the Hub's
 * order, page by page (each page freed before the next). @max: stop after
 * this many (0: all); max = 1 answers "does this namespace have any repo".
 * Repos whose id is invalid or not under @author are skipped and logged.
 * Private repos are listed only when the client's token can read them.
 * Returns 0 or -errno (the table above); -EINVAL for an invalid @author.
 */
int hub_list_repos(struct hub_client *client, enum hub_repo_type type,
		   const char *author, size_t max, hub_repo_fn fn, void *ctx,
		   struct hub_error *err);

/* Answers are counted by status code from HUB_STATUS_MIN to HUB_STATUS_MAX. */
#define HUB_STATUS_MIN 100
#define HUB_STATUS_MAX 599
#define HUB_STATUS_SLOTS (HUB_STATUS_MAX - HUB_STATUS_MIN + 1)

/* Counters since the client was made, for `hubfs status`, tests and benchmarks. */
struct hub_stats {
	uint64_t requests;   /* HTTP requests sent, retries included */
	uint64_t retries;
	uint64_t resumes;    /* bodies resumed with a Range */
	uint64_t bytes_body; /* body bytes received */
	uint64_t timeouts;   /* requests that ended in a timeout */
	uint64_t transport_errors; /* others that failed: refused, reset, a bad answer */
	/* status lines by code, [status - HUB_STATUS_MIN]; a body broken off
	 * after one counts here and as a timeout or transport error too */
	uint64_t by_status[HUB_STATUS_SLOTS];
};
void hub_client_stats(struct hub_client *client, struct hub_stats *out);

#endif /* HUBFS_HUB_HUB_H */
