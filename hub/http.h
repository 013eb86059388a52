/* SPDX-License-Identifier: MIT */
/*
 * One HTTP exchange and the request loop around it (hub/http.c): the
 * pool of libcurl handles, timeouts, redirects with the token policy,
 * retries with backoff and jitter. Private to hub/.
 *
 * Token policy: the Authorization header is only ever attached by us, per
 * exchange, and only when the URL has the endpoint's own origin (scheme,
 * host and port). libcurl never follows a redirect by itself.
 */
#ifndef HUBFS_HUB_HTTP_H
#define HUBFS_HUB_HTTP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub/hub_int.h"

/*
 * Receives the body of a 2xx answer. Return 0 to go on, 1 when it has
 * all it wants (the transfer stops, not an error), or a negative errno.
 */
typedef int (*http_sink_fn)(void *ctx, long status, const char *data,
			    size_t len);

/* One request and its answer. Large: allocate it, do not put it on the stack. */
struct http_exchange {
	/* the request */
	const char *method;         /* "GET", "HEAD", "POST" */
	char url[HUB_MAX_URL];
	bool send_auth;             /* attach the token (same origin only) */
	const char *content_type;   /* POST */
	const char *body;
	size_t body_len;
	bool has_range;
	uint64_t range_first, range_last; /* inclusive */
	http_sink_fn sink;          /* 2xx body consumer, or NULL to collect */
	void *sink_ctx;
	struct buf *collect;        /* 2xx body when there is no sink */

	/* the answer (the last one, after any 1xx) */
	long status;
	bool has_content_length;
	uint64_t content_length;
	char content_range[128];
	char location[HUB_MAX_URL];
	char link[HUB_MAX_URL];
	char repo_commit[64];
	char linked_etag[96];
	char linked_size[32];
	char etag[96];
	char error_code[32];
	char error_message[HUB_MESSAGE_MAX];
	char ratelimit[128];
	char retry_after[32];
	bool header_too_long;       /* a header we keep did not fit, or one was malformed: -EPROTO */
	bool content_encoded;       /* a Content-Encoding other than identity: not the bytes stored */
	bool in_headers;            /* a status line began the headers, no blank line ended them */
	struct buf error_body;      /* body of a non-2xx answer, capped */
	int sink_rc;                /* < 0: the sink's error; 1: the sink had enough */
	uint64_t body_bytes;        /* body bytes of this answer */
	char transport_error[256];  /* libcurl's words when rc < 0 */
};

struct location_entry {
	char key[HUB_MAX_URL];      /* resolve URL of a pinned file */
	char url[HUB_MAX_URL];      /* where it redirected (signed CDN URL) */
	int64_t expires;            /* monotonic seconds */
};

/* Idle handles kept, each with its live connections: as many as transfers run at once. */
#define HUB_POOL_MAX 64
#define HUB_LOCATION_CACHE 64
/* Resolves in flight that others may wait for (hub_http_location_wait()). */
#define HUB_RESOLVING_MAX 64

struct hub_client {
	struct hub_config cfg;      /* own copies; the token is a secret */
	char origin[512];           /* "scheme://host:port" of the endpoint */
	char endpoint_shown[512];   /* the endpoint for messages: a user:password as "***" */
	char *auth_header;          /* "Authorization: Bearer ..." or NULL */

	pthread_mutex_t pool_lock;  /* protects pool and pool_len */
	void *pool[HUB_POOL_MAX];   /* idle CURL easy handles */
	size_t pool_len;

	pthread_mutex_t loc_lock;   /* protects locs, loc_next and resolving */
	pthread_cond_t loc_changed; /* a location was put, or a resolve let go */
	struct location_entry *locs; /* HUB_LOCATION_CACHE entries */
	size_t loc_next;
	uint64_t resolving[HUB_RESOLVING_MAX]; /* keys' hashes being resolved; 0 free */

	atomic_uint_fast64_t n_requests, n_retries, n_resumes, n_body_bytes;
	atomic_uint_fast64_t n_timeouts, n_transport_errors; /* see struct hub_stats */
	atomic_uint_fast64_t n_status[HUB_STATUS_SLOTS];
	atomic_bool cancelled;      /* hub_client_cancel(): every transfer ends */
	struct hub_pace *pace;      /* told of 429/503 (hub_client_set_pace), or NULL */
};

/* Prepare @x for a new request to @url (copied). 0 or -EPROTO (too long). */
int hub_http_exchange_init(struct http_exchange *x, const char *method,
			   const char *url);
void hub_http_exchange_release(struct http_exchange *x);

/*
 * Send @x and read its answer. Returns 0 when an HTTP answer arrived
 * (whatever its status; also when the sink stopped it early), or a
 * negative errno for a transport failure: -EHOSTUNREACH (connect),
 * -ETIMEDOUT (connect, too slow, or the thread's deadline), -ECONNRESET
 * (broken off), -ECANCELED (hub_client_cancel), -EIO, or the sink's own
 * error. The transport words are in x->transport_error.
 */
int hub_http_perform(struct hub_client *c, struct http_exchange *x);

/*
 * Take one header line of an answer into @x, as libcurl hands it over
 * (@len bytes, "Name: value\r\n", not NUL-terminated; a status line
 * starts a new answer). Only the headers listed in struct http_exchange
 * are kept; one that does not fit sets header_too_long. Exposed for the
 * fuzz target.
 */
void hub_http_take_header(struct http_exchange *x, const char *data, size_t len);

/*
 * Would another attempt help, after @attempt (0-based) failed with @rc?
 * A timeout (too slow, a stall) is tried once more, on a fresh
 * connection: a server that drips or stalls usually does so again, and
 * each try costs a whole low-speed window.
 */
#define HUB_MAX_TIMEOUT_RETRIES 1
bool hub_http_transport_is_retryable(int rc, unsigned attempt);
bool hub_http_status_is_retryable(long status);

/*
 * Resolve @location against @base into @out and say whether it has the
 * endpoint's origin. 0 or -EPROTO.
 */
int hub_http_resolve_location(struct hub_client *c, const char *base,
			      const char *location, char *out, size_t size,
			      bool *same_origin);

/*
 * Count how one exchange ended, for hub_client_stats(): its status when
 * an answer came, else a timeout or another transport error (@rc).
 */
void hub_http_count_answer(struct hub_client *c, long status, int rc);

/* Does @url have the endpoint's origin? */
bool hub_http_is_same_origin(struct hub_client *c, const char *url);

/*
 * Sleep before retry @attempt (0-based) of an answer @x (may be NULL).
 * Honours `RateLimit ... t=` and a numeric Retry-After on 429 (and a
 * Retry-After on 503), and tells
 * the client's pace of a 429 or 503 first. Returns 0,
 * or -EAGAIN when the wait asked for is longer than we accept (then
 * *@reset_secs says how long), -ETIMEDOUT when the retry would start
 * after the thread's deadline, -ECANCELED after hub_client_cancel().
 */
int hub_http_backoff(struct hub_client *c, unsigned attempt,
		     const struct http_exchange *x, long *reset_secs);

/* The calling thread's deadline (hub_now_ms() time), or 0. */
int64_t hub_http_deadline(void);
/* hub_deadline_hard()'s value on this thread. */
bool hub_http_deadline_is_hard(void);

/* Copy @url without its query into @out, for messages and logs. */
void hub_http_redact_url(const char *url, char *out, size_t size);

/*
 * When the signed CDN URL @url (a Location the Hub sent) stops working,
 * on the monotonic clock of the location cache: its Expires= minus a
 * margin, at most 10 minutes from now. Exposed for the fuzz target.
 */
int64_t hub_http_location_expiry(const char *url);

/* Location cache of pinned files' CDN URLs. */
bool hub_http_location_get(struct hub_client *c, const char *key, char *out,
			   size_t size);
/*
 * hub_http_location_get(), and when the location is not known while
 * another thread of this client is resolving @key now, wait for that
 * (until this thread's deadline, at most HUB_RESOLVE_WAIT_MS) and look
 * again: the transfers of one file start with one resolve, not one each,
 * and the Hub counts resolves against a quota (docs/architecture.md).
 * When it is still unknown, *@claimed says whether this thread is now the
 * one resolving it (never after a wait: then the waiters go on together):
 * it then calls hub_http_location_release() as soon as the answer's
 * headers are in (the location put, or a direct answer), or the attempt
 * failed.
 */
bool hub_http_location_wait(struct hub_client *c, const char *key, char *out,
			    size_t size, bool *claimed);
void hub_http_location_release(struct hub_client *c, const char *key);
void hub_http_location_put(struct hub_client *c, const char *key,
			   const char *url);
void hub_http_location_drop(struct hub_client *c, const char *key);

#endif /* HUBFS_HUB_HTTP_H */
