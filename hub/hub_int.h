/* SPDX-License-Identifier: MIT */
/*
 * Declarations shared by the files of hub/. Nothing outside hub/ includes
 * this header; libcurl and json-c types never appear in it.
 */
#ifndef HUBFS_HUB_HUB_INT_H
#define HUBFS_HUB_HUB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub/hub.h"
#include "util/buf.h"

#define HUB_USER_AGENT "hubfs/" HUBFS_VERSION
#define HUB_MAX_REDIRECTS 5
#define HUB_MAX_JSON_BYTES (32u << 20)   /* one page or one info answer */
#define HUB_MAX_ERROR_BODY (64u << 10)   /* an error answer's body */
#define HUB_MAX_URL 8192
/*
 * 1 TiB: sizes past it are lies. The Hub's largest files are tens of GB,
 * and the cache keeps 64 bytes of state per 4 MiB block of an object it
 * reads: 16 MiB at this size, 4 GiB at 2^48.
 */
#define HUB_MAX_FILE_SIZE (UINT64_C(1) << 40)

/* ---- errors.c ---- */


/* Everything the error table needs to know about a failed answer. */
struct hub_http_failure {
	long status;
	const char *hub_code;     /* X-Error-Code, "" when absent */
	const char *hub_message;  /* X-Error-Message or the JSON "error", "" */
	bool had_token;
	const char *endpoint;
	const struct hub_repo *repo;
	const char *path;         /* the file or folder asked for, or NULL */
	unsigned retries;         /* how many retries were spent */
	long reset_secs;          /* 429: when the quota resets, or -1 */
};

/* The one table that turns an HTTP failure into a negative errno. */
int hub_error_from_http(struct hub_error *err,
			const struct hub_http_failure *f);

/* ---- names.c ---- */

/* "models", "datasets", "spaces": the API path segment. */
const char *hub_repo_api_segment(enum hub_repo_type type);

/*
 * Append @s percent-encoded: everything but [A-Za-z0-9_.~-] (and '/' when
 * @keep_slash) becomes %XX. Returns 0 or a buf error.
 */
int hub_url_escape(struct buf *out, const char *s, bool keep_slash);

/* ---- json.c ---- */

/*
 * Parse a tree or paths-info page (a JSON array) and call @fn for each
 * valid entry. Invalid entries are skipped and counted in @rejected
 * (may be NULL) with the reason logged. Returns 0, -EPROTO for a page
 * that is not a JSON array, or what @fn returned.
 */
int hub_json_parse_entries(const char *text, size_t len, hub_entry_fn fn,
			   void *ctx, size_t *rejected,
			   struct hub_error *err);

int hub_json_parse_repo_info(const char *text, size_t len,
			     struct hub_repo_info *out, struct hub_error *err);

/*
 * Parse one page of a repo listing (a JSON array) for namespace @author
 * and call @fn for each valid repo, at most @max times. Repos with an
 * invalid id, outside @author, or with a field of the wrong type or value
 * are skipped, counted in @rejected and logged. @delivered (may be NULL)
 * gets the number of calls. Returns 0, -EPROTO for a page that is not a
 * JSON array, or what @fn returned.
 */
int hub_json_parse_repo_list(const char *text, size_t len,
			     enum hub_repo_type type, const char *author,
			     size_t max, hub_repo_fn fn, void *ctx,
			     size_t *delivered, size_t *rejected,
			     struct hub_error *err);

/* "2024-01-03T00:00:00.000Z" (UTC, fraction optional) to unix seconds. 0 or -EPROTO. */
int hub_parse_iso8601(const char *s, int64_t *out);

/* The "error" string of an error body, copied into @out ("" if none). */
void hub_json_error_message(const char *text, size_t len, char *out,
			    size_t size);

/* ---- headers.c: header values, validated ---- */

/* From `Link: <url>; rel="next", ...`: the next URL into @out. 1 found, 0 none. */
int hub_parse_link_next(const char *value, char *out, size_t size);

/* `bytes a-b/total` (total may be '*'), or `bytes *` + `/total`. 0 or -EPROTO. */
struct hub_content_range {
	bool unsatisfied;  /* bytes * / total (a 416) */
	uint64_t first, last;
	uint64_t total;    /* UINT64_MAX when '*' */
};
int hub_parse_content_range(const char *value, struct hub_content_range *out);

/* `"api";r=0;t=12`: when a quota used up (r=0) resets, t= in seconds; else -1. */
long hub_parse_ratelimit_reset(const char *value);

/* Strip W/ and quotes from an ETag into @out; 0, or -EPROTO if not hex. */
int hub_normalize_etag(const char *value, char *out, size_t size);

/* A non-negative decimal that fits in @max. 0 or -EPROTO. */
int hub_parse_u64(const char *value, uint64_t max, uint64_t *out);

#endif /* HUBFS_HUB_HUB_INT_H */
