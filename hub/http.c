/* SPDX-License-Identifier: MIT */
/*
 * HTTP for the Hub client: a pool of libcurl easy handles (each keeps its
 * connections alive, so consecutive requests reuse them), one exchange at
 * a time per handle, strict header capture, and the retry clock.
 *
 * libcurl is told never to follow redirects and never to decompress: the
 * caller decides where the token may go, and byte offsets stay exact.
 *
 * Bounded time: each transfer gets libcurl's low-speed floor
 * (min_speed_bps over stall_timeout_ms, which a server dripping a byte a
 * second, in its headers or its body, cannot meet) and, as its overall
 * timeout, what is left of the calling thread's deadline; the backoff
 * between retries never sleeps past it either.
 */
#include "hub/http.h"

#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "hub/pace.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/time.h"

static int64_t now_secs(void)
{
	return time_mono_secs();
}

int64_t hub_now_ms(void)
{
	return time_mono_ms();
}

/* libcurl's timer may fire a little before our clock reaches the deadline. */
#define DEADLINE_SLACK_MS 100

#define RANGE_MAX 64 /* "first-last" of a Range header */

/*
 * Per thread, like errno: the deadline of the operation the thread is
 * working for. A parameter would have to cross the cache's source
 * callback, whose signature the cache owns.
 */
static _Thread_local int64_t thread_deadline_ms;

int64_t hub_deadline_set(int64_t at_ms)
{
	int64_t prev = thread_deadline_ms;

	thread_deadline_ms = at_ms;
	return prev;
}

static _Thread_local bool thread_deadline_hard;

bool hub_deadline_hard(bool hard)
{
	bool prev = thread_deadline_hard;

	thread_deadline_hard = hard;
	return prev;
}

bool hub_http_deadline_is_hard(void)
{
	return thread_deadline_hard;
}

int64_t hub_deadline_get(void)
{
	return thread_deadline_ms;
}

int64_t hub_http_deadline(void)
{
	return thread_deadline_ms;
}

void hub_client_cancel(struct hub_client *c)
{
	atomic_store(&c->cancelled, true);
}

/* libcurl calls this at least once a second, also while nothing arrives. */
static int on_progress(void *c_, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct hub_client *c = c_;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(&c->cancelled) ? 1 : 0; /* non-zero aborts */
}

int hub_http_exchange_init(struct http_exchange *x, const char *method,
			   const char *url)
{
	memset(x, 0, sizeof(*x));
	x->method = method;
	buf_init(&x->error_body, HUB_MAX_ERROR_BODY);
	if (strlen(url) >= sizeof(x->url))
		return -EPROTO;
	memcpy(x->url, url, strlen(url) + 1);
	return 0;
}

void hub_http_exchange_release(struct http_exchange *x)
{
	buf_release(&x->error_body);
}

/* Forget the previous answer's fields (a redirect or a 1xx came first). */
static void reset_answer(struct http_exchange *x)
{
	x->status = 0;
	x->has_content_length = false;
	x->content_length = 0;
	x->content_range[0] = x->location[0] = x->link[0] = '\0';
	x->repo_commit[0] = x->linked_etag[0] = x->linked_size[0] = '\0';
	x->etag[0] = x->error_code[0] = x->error_message[0] = '\0';
	x->ratelimit[0] = x->retry_after[0] = '\0';
	x->header_too_long = false;
	x->content_encoded = false;
	buf_reset(&x->error_body);
	x->body_bytes = 0;
}

/* Copy a header value, remembering when it did not fit. */
static void keep(struct http_exchange *x, char *field, size_t size,
		 const char *value, size_t len)
{
	if (len >= size) {
		x->header_too_long = true;
		len = 0;
	}
	memcpy(field, value, len);
	field[len] = '\0';
}

/*
 * keep() for a value only informative to the request at hand (an ETag, on
 * the CDN's answers; a rate limit's words): one that does not fit is
 * dropped, not a failure. A CDN's 100-byte ETag failed every read from it.
 */
static void keep_or_drop(char *field, size_t size, const char *value, size_t len)
{
	if (len >= size)
		len = 0;
	memcpy(field, value, len);
	field[len] = '\0';
}

/*
 * keep() for a value that goes into messages and logs: its control
 * characters dropped, for a terminal would act on them (an escape that
 * clears the screen, a line that forges a log entry).
 */
static void keep_printable(struct http_exchange *x, char *field, size_t size,
			   const char *value, size_t len)
{
	size_t n = 0;

	keep(x, field, size, value, len);
	for (char *p = field; *p; p++) {
		if ((unsigned char)*p >= 0x20 && *p != 0x7f)
			field[n++] = *p;
	}
	field[n] = '\0';
}

void hub_http_take_header(struct http_exchange *x, const char *data, size_t len)
{
	size_t name_len;
	const char *colon, *value, *end = data + len;

	if (len == 0 || data[0] == '\r' || data[0] == '\n') {
		x->in_headers = false; /* the blank line that ends an answer's headers */
		return;
	}
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		const char *sp = memchr(data, ' ', len);

		/*
		 * Only where an answer starts. libcurl passes a line of the
		 * headers that looks like one ("HTTP/1.1 206 x:") as a
		 * header: taken for a status, it made a 404's page the
		 * file's bytes of a range (a helper's review).
		 */
		if (x->in_headers) {
			x->header_too_long = true;
			return;
		}
		reset_answer(x);
		x->in_headers = true;
		/*
		 * "HTTP/1.1 206 Partial Content": exactly three digits. Not
		 * strtol(): libcurl's data has no NUL, and a line that ends in
		 * digits made it read past the buffer (found by fuzz_hub_headers).
		 * Anything else leaves status 0, which no caller takes for success.
		 */
		if (sp && end - sp > 3 && sp[1] >= '1' && sp[1] <= '5' &&
		    sp[2] >= '0' && sp[2] <= '9' && sp[3] >= '0' && sp[3] <= '9' &&
		    (end - sp == 4 || sp[4] == ' ' || sp[4] == '\r' || sp[4] == '\n'))
			x->status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
		return;
	}
	colon = memchr(data, ':', len);
	if (!colon)
		return;
	name_len = (size_t)(colon - data);
	value = colon + 1;
	while (value < end && (*value == ' ' || *value == '\t'))
		value++;
	while (end > value && (end[-1] == '\r' || end[-1] == '\n' ||
			       end[-1] == ' ' || end[-1] == '\t'))
		end--;
	len = (size_t)(end - value);

#define IS(name) (name_len == sizeof(name) - 1 && strncasecmp(data, name, name_len) == 0)
	if (IS("Content-Length")) {
		char tmp[24];

		keep(x, tmp, sizeof(tmp), value, len);
		if (hub_parse_u64(tmp, UINT64_MAX / 2, &x->content_length) == 0)
			x->has_content_length = true;
		else
			x->header_too_long = true; /* a malformed length */
	} else if (IS("Content-Range")) {
		keep(x, x->content_range, sizeof(x->content_range), value, len);
	} else if (IS("Location")) {
		keep(x, x->location, sizeof(x->location), value, len);
	} else if (IS("Link")) {
		keep(x, x->link, sizeof(x->link), value, len);
	} else if (IS("X-Repo-Commit")) {
		keep(x, x->repo_commit, sizeof(x->repo_commit), value, len);
	} else if (IS("X-Linked-Etag")) {
		keep(x, x->linked_etag, sizeof(x->linked_etag), value, len);
	} else if (IS("X-Linked-Size")) {
		keep(x, x->linked_size, sizeof(x->linked_size), value, len);
	} else if (IS("ETag")) {
		/* Dropped when too long: a HEAD then fails for want of one. */
		keep_or_drop(x->etag, sizeof(x->etag), value, len);
	} else if (IS("Content-Encoding")) {
		x->content_encoded = !(len == 8 && strncasecmp(value, "identity", 8) == 0);
	} else if (IS("X-Error-Code")) {
		keep_printable(x, x->error_code, sizeof(x->error_code), value, len);
	} else if (IS("X-Error-Message")) {
		/* Informative only: cut rather than fail. */
		if (len >= sizeof(x->error_message))
			len = sizeof(x->error_message) - 1;
		keep_printable(x, x->error_message, sizeof(x->error_message), value, len);
	} else if (IS("RateLimit")) {
		keep_or_drop(x->ratelimit, sizeof(x->ratelimit), value, len);
	} else if (IS("Retry-After")) {
		keep_or_drop(x->retry_after, sizeof(x->retry_after), value, len);
	}
#undef IS
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *x_)
{
	hub_http_take_header(x_, data, size * nmemb);
	return size * nmemb;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *x_)
{
	struct http_exchange *x = x_;
	size_t len = size * nmemb;
	int rc;

	x->body_bytes += len;
	if (x->status < 200 || x->status >= 300) {
		/*
		 * An error body is only read for its message: its first
		 * HUB_MAX_ERROR_BODY bytes. The transfer then stops as one
		 * that had all it wanted, so the status still decides (a
		 * 503 with a big HTML page is retried, a 404 is ENOENT).
		 */
		size_t room = x->error_body.max_len - x->error_body.len;

		if (buf_append(&x->error_body, data, len < room ? len : room) < 0 || len >= room) {
			x->sink_rc = 1;
			return 0;
		}
		return len;
	}
	if (x->header_too_long) {
		x->sink_rc = -EPROTO;
		return 0;
	}
	if (x->sink) {
		rc = x->sink(x->sink_ctx, x->status, data, len);
		if (rc != 0) {
			x->sink_rc = rc;
			return 0; /* stops the transfer */
		}
		return len;
	}
	if (x->collect) {
		rc = buf_append(x->collect, data, len);
		if (rc < 0) {
			x->sink_rc = rc;
			return 0;
		}
	}
	return len;
}

/* The handle pool: take an idle handle, or make one. */
static CURL *take_handle(struct hub_client *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_len > 0)
		h = c->pool[--c->pool_len];
	pthread_mutex_unlock(&c->pool_lock);
	return h ? h : curl_easy_init();
}

static void give_back(struct hub_client *c, CURL *h)
{
	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_len < HUB_POOL_MAX) {
		c->pool[c->pool_len++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

static int errno_for_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return -ECONNRESET;
	default:
		return -EIO;
	}
}

bool hub_http_transport_is_retryable(int rc, unsigned attempt)
{
	if (rc == -ETIMEDOUT)
		return attempt < HUB_MAX_TIMEOUT_RETRIES;
	/*
	 * Not -EHOSTUNREACH: a refused connection or a name that does not
	 * resolve will not be different in a second, and the first access
	 * must fail fast (the cache then serves what it has).
	 */
	return rc == -ECONNRESET || rc == -EPROTO;
}

bool hub_http_status_is_retryable(long status)
{
	return status == 408 || status == 429 || status == 500 ||
	       status == 502 || status == 503 || status == 504;
}

void hub_http_redact_url(const char *url, char *out, size_t size)
{
	const char *scheme = strstr(url, "://");
	const char *host = scheme ? scheme + 3 : url;
	size_t authority = strcspn(host, "/?#"), n;
	const char *at = memrchr(host, '@', authority); /* a password may hold an @ */

	if (size == 0)
		return;
	out[0] = '\0';
	/* A user:password in the authority becomes "***". */
	if (at) {
		snprintf(out, size, "%.*s***", (int)(host - url), url);
		url = at;
	}
	n = strcspn(url, "?#"); /* a signed URL's query is a credential too */
	snprintf(out + strlen(out), size - strlen(out), "%.*s", (int)n, url);
}

void hub_redact_url(const char *url, char *out, size_t size)
{
	hub_http_redact_url(url, out, size);
}

/*
 * What every request of @x on @h is: the URL, the method, the range, our
 * timeouts (@connect_ms, and @left_ms of the deadline when @deadline is
 * set), the callbacks. @errbuf and @range must live until the transfer ends.
 */
static void set_request_options(struct hub_client *c, CURL *h, struct http_exchange *x,
				long connect_ms, bool deadline, int64_t left_ms,
				char errbuf[CURL_ERROR_SIZE], char range[RANGE_MAX])
{
	long stall_secs = (c->cfg.stall_timeout_ms + 999) / 1000;

	curl_easy_setopt(h, CURLOPT_URL, x->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, HUB_USER_AGENT);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	/*
	 * Slower than min_speed_bps over a whole window of stall_secs is
	 * over: libcurl averages what arrived over the last seconds, so a
	 * trickle (one byte a second) fails this where "no byte at all"
	 * would not, and headers that do not come count as 0 bytes/s.
	 */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, c->cfg.min_speed_bps);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, stall_secs > 0 ? stall_secs : 1L);
	if (deadline)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left_ms);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);

	if (strcmp(x->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(x->method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, x->body ? x->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)x->body_len);
	}
	if (x->has_range) {
		snprintf(range, RANGE_MAX, "%llu-%llu",
			 (unsigned long long)x->range_first,
			 (unsigned long long)x->range_last);
		curl_easy_setopt(h, CURLOPT_RANGE, range);
	}
	/*
	 * Bodies of ranges go to disk as they arrive: a bigger receive buffer
	 * hands them over in fewer, larger pieces (16 KiB pieces cost a 1 GiB
	 * read 65,536 writes). Other requests keep curl's default.
	 */
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, x->has_range ? 256L * 1024 : (long)CURL_MAX_WRITE_SIZE);
}

/*
 * The request's own headers into *@headers (the caller frees them): the
 * token only to the endpoint's origin. 0 or -ENOMEM (only for the token,
 * which the request cannot do without).
 */
static int request_headers(struct hub_client *c, const struct http_exchange *x,
			   struct curl_slist **headers)
{
	struct curl_slist *tmp;

	/* No "Expect: 100-continue" round trip on POST. */
	tmp = curl_slist_append(*headers, "Expect:");
	if (tmp)
		*headers = tmp;
	if (x->content_type) {
		char ct[128];

		snprintf(ct, sizeof(ct), "Content-Type: %s", x->content_type);
		tmp = curl_slist_append(*headers, ct);
		if (tmp)
			*headers = tmp;
	}
	if (x->send_auth && c->auth_header && hub_http_is_same_origin(c, x->url)) {
		tmp = curl_slist_append(*headers, c->auth_header);
		if (!tmp)
			return -ENOMEM;
		*headers = tmp;
	}
	return 0;
}

/*
 * How the transfer ended (@cc), as 0 or -errno with x->transport_error
 * saying why for people. @deadline: the thread's, or 0.
 */
static int transfer_result(struct http_exchange *x, CURLcode cc, int64_t deadline,
			   const char *errbuf)
{
	int rc = 0;

	if (cc == CURLE_WRITE_ERROR && x->sink_rc == 1) {
		rc = 0; /* the sink had all it wanted */
	} else if (cc == CURLE_WRITE_ERROR && x->sink_rc < 0) {
		rc = x->sink_rc;
		snprintf(x->transport_error, sizeof(x->transport_error),
			 "the answer was refused: %s", strerror(-rc));
	} else if (cc != CURLE_OK) {
		rc = errno_for_curl(cc);
		if (rc == -ECANCELED)
			snprintf(x->transport_error, sizeof(x->transport_error),
				 "cancelled: the mount is ending");
		else if (rc == -ETIMEDOUT && deadline &&
			 hub_now_ms() >= deadline - DEADLINE_SLACK_MS)
			snprintf(x->transport_error, sizeof(x->transport_error),
				 "the operation's deadline passed: %.200s",
				 errbuf[0] ? errbuf : curl_easy_strerror(cc));
		else
			snprintf(x->transport_error, sizeof(x->transport_error), "%s",
				 errbuf[0] ? errbuf : curl_easy_strerror(cc));
	} else if (x->header_too_long) {
		rc = -EPROTO;
		snprintf(x->transport_error, sizeof(x->transport_error),
			 "a malformed or oversized header");
	}
	return rc;
}

/*
 * A number for the server @url asks, for the pace's count of who asks
 * whom: FNV-1a of "scheme://authority", without case. Never 0.
 */
static uint32_t server_tag(const char *url)
{
	const char *scheme = strstr(url, "://");
	const char *end = scheme ? scheme + 3 + strcspn(scheme + 3, "/?#") : url;
	uint32_t h = 2166136261u;

	for (const char *p = url; p < end; p++) {
		h ^= (unsigned char)tolower((unsigned char)*p);
		h *= 16777619u;
	}
	return h ? h : 1;
}

int hub_http_perform(struct hub_client *c, struct http_exchange *x)
{
	struct curl_slist *headers = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", range[RANGE_MAX], shown[512];
	long connect_ms = c->cfg.connect_timeout_ms;
	int64_t deadline = thread_deadline_ms, left_ms = 0;
	CURLcode cc;
	CURL *h;
	int rc;

	reset_answer(x);
	x->in_headers = false;
	x->sink_rc = 0;
	x->transport_error[0] = '\0';
	if (atomic_load(&c->cancelled)) {
		snprintf(x->transport_error, sizeof(x->transport_error),
			 "cancelled: the mount is ending");
		return -ECANCELED;
	}
	if (deadline) {
		left_ms = deadline - hub_now_ms();
		if (left_ms <= 0) {
			snprintf(x->transport_error, sizeof(x->transport_error),
				 "the operation's deadline had passed before this request");
			return -ETIMEDOUT;
		}
		if (connect_ms > left_ms)
			connect_ms = (long)left_ms;
	}
	h = take_handle(c);
	if (!h)
		return -ENOMEM;
	curl_easy_reset(h);
	set_request_options(c, h, x, connect_ms, deadline != 0, left_ms, errbuf, range);
	rc = request_headers(c, x, &headers);
	if (rc < 0)
		goto out;
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

	if (c->pace)
		hub_pace_asking(c->pace, server_tag(x->url));
	atomic_fetch_add(&c->n_requests, 1);
	cc = curl_easy_perform(h);
	atomic_fetch_add(&c->n_body_bytes, x->body_bytes);
	if (c->pace)
		hub_pace_received(c->pace, x->body_bytes);
	rc = transfer_result(x, cc, deadline, errbuf);
	if (rc == 0 || x->status)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
	hub_http_count_answer(c, x->status, rc);
	if (log_enabled(LOG_LVL_DEBUG)) {
		hub_http_redact_url(x->url, shown, sizeof(shown));
		log_dbg("%s %s%s%s -> %ld, %llu bytes%s%s", x->method, shown,
			x->has_range ? " range " : "", x->has_range ? range : "",
			x->status, (unsigned long long)x->body_bytes,
			rc ? ": " : "", rc ? x->transport_error : "");
	}
out:
	curl_slist_free_all(headers);
	/* A handle whose transfer broke may hold a dead connection: drop it. */
	if (rc < 0 && rc != -EPROTO) {
		curl_easy_cleanup(h);
	} else {
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
		give_back(c, h);
	}
	return rc;
}

/* Origin of @url into @out: "scheme://host:port", lower case. */
static int url_origin(const char *url, char *out, size_t size)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	int rc = -EPROTO;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
		int n = snprintf(out, size, "%s://%s:%s", scheme, host, port);

		if (n > 0 && (size_t)n < size) {
			for (char *p = out; *p; p++) {
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p - 'A' + 'a');
			}
			rc = 0;
		}
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

bool hub_http_is_same_origin(struct hub_client *c, const char *url)
{
	char origin[sizeof(c->origin)];

	return url_origin(url, origin, sizeof(origin)) == 0 &&
	       strcmp(origin, c->origin) == 0;
}

int hub_http_resolve_location(struct hub_client *c, const char *base,
			      const char *location, char *out, size_t size,
			      bool *same_origin)
{
	CURLU *u = curl_url();
	char *full = NULL;
	int rc = -EPROTO;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, location, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK &&
	    strlen(full) < size &&
	    (strncmp(full, "http://", 7) == 0 || strncmp(full, "https://", 8) == 0)) {
		memcpy(out, full, strlen(full) + 1);
		rc = 0;
	}
	curl_free(full);
	curl_url_cleanup(u);
	if (rc == 0)
		*same_origin = hub_http_is_same_origin(c, out);
	return rc;
}

/* Sleep @ms in short steps, so that a cancel ends the wait. */
static void sleep_ms(struct hub_client *c, long ms)
{
	while (ms > 0 && !atomic_load(&c->cancelled)) {
		long step = ms < 100 ? ms : 100;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = step * 1000000L };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		ms -= step;
	}
}

int hub_http_backoff(struct hub_client *c, unsigned attempt,
		     const struct http_exchange *x, long *reset_secs)
{
	long wait_ms, cap = c->cfg.retry_base_ms * 16;
	long secs = -1;
	bool too_long;
	uint64_t ra;

	*reset_secs = -1;
	if (x && x->status == 429) {
		secs = hub_parse_ratelimit_reset(x->ratelimit);
		if (secs < 0 && hub_parse_u64(x->retry_after, 86400, &ra) == 0)
			secs = (long)ra;
	} else if (x && x->status == 503 && hub_parse_u64(x->retry_after, 86400, &ra) == 0) {
		secs = (long)ra; /* a CDN edge that sheds load says when, too */
	}
	if (secs >= 0) {
		if (x->status == 429)
			*reset_secs = secs;
		/* The window ends after t seconds; huggingface_hub waits t + 1. */
		wait_ms = (secs + 1) * 1000;
	} else {
		/* Exponential, capped, and jittered so clients do not march in step. */
		wait_ms = c->cfg.retry_base_ms << (attempt < 10 ? attempt : 10);
		if (wait_ms > cap)
			wait_ms = cap;
		wait_ms = wait_ms / 2 + (long)arc4random_uniform((uint32_t)(wait_ms / 2 + 1));
	}
	too_long = secs >= 0 && secs * 1000 > c->cfg.max_retry_wait_ms;
	/*
	 * The others sharing the link narrow their window, and start nothing
	 * new for as long as this retry waits: what they started in between
	 * would take the places the server has for the retries. Not for a
	 * wait this request does not make: it fails at once, and so do the
	 * others at their first answer, instead of sitting out a reset that
	 * may be a day away (a download's transfers waited for all of it).
	 */
	if (c->pace && x && (x->status == 429 || x->status == 503))
		hub_pace_congestion(c->pace, secs >= 0 && !too_long ? wait_ms : 0);
	if (too_long)
		return -EAGAIN;
	/* A retry that could only start after the deadline is not worth a wait. */
	if (thread_deadline_ms && hub_now_ms() + wait_ms >= thread_deadline_ms)
		return -ETIMEDOUT;
	/* The wait leaves the window: the others, or this retry, use it after. */
	if (c->pace)
		hub_pace_step_out(c->pace);
	sleep_ms(c, wait_ms);
	/* Cancelled: not back into the window, whose hold may outlast the wait. */
	if (atomic_load(&c->cancelled))
		return -ECANCELED; /* a place stepped out is given back as such */
	if (c->pace && hub_pace_step_in(c->pace, thread_deadline_ms) < 0)
		return atomic_load(&c->cancelled) ? -ECANCELED : -ETIMEDOUT;
	return 0;
}

/* Copy @key's unexpired location into @out; an expired one is forgotten. loc_lock held. */
static bool location_find(struct hub_client *c, const char *key, char *out, size_t size)
{
	int64_t now = now_secs();

	for (size_t i = 0; i < HUB_LOCATION_CACHE; i++) {
		struct location_entry *e = &c->locs[i];

		if (e->key[0] && strcmp(e->key, key) == 0) {
			if (e->expires > now && strlen(e->url) < size) {
				memcpy(out, e->url, strlen(e->url) + 1);
				return true;
			}
			e->key[0] = '\0';
			return false;
		}
	}
	return false;
}

bool hub_http_location_get(struct hub_client *c, const char *key, char *out,
			   size_t size)
{
	bool found;

	pthread_mutex_lock(&c->loc_lock);
	found = location_find(c, key, out, size);
	pthread_mutex_unlock(&c->loc_lock);
	return found;
}

/* Never 0 (a free slot of c->resolving): FNV-1a of @key. */
static uint64_t key_hash(const char *key)
{
	uint64_t h = hash_fnv1a_str(HASH_FNV1A_START, key);

	return h ? h : 1;
}

/* The slot of c->resolving holding @h, or -1. Lock held. */
static int resolving_slot(const struct hub_client *c, uint64_t h)
{
	for (int i = 0; i < HUB_RESOLVING_MAX; i++) {
		if (c->resolving[i] == h)
			return i;
	}
	return -1;
}

#define HUB_RESOLVE_WAIT_MS 10000

bool hub_http_location_wait(struct hub_client *c, const char *key, char *out,
			    size_t size, bool *claimed)
{
	int64_t until = hub_now_ms() + HUB_RESOLVE_WAIT_MS;
	uint64_t h = key_hash(key);
	bool waited = false;
	int free_slot;

	*claimed = false;
	if (thread_deadline_ms && thread_deadline_ms < until)
		until = thread_deadline_ms;
	pthread_mutex_lock(&c->loc_lock);
	for (;;) {
		int64_t now;

		/*
		 * Looked up under the lock that the check below takes: a resolve
		 * that put its location and let go in between would be made again.
		 */
		if (location_find(c, key, out, size)) {
			pthread_mutex_unlock(&c->loc_lock);
			return true;
		}
		if (resolving_slot(c, h) < 0) {
			/*
			 * Nobody is: this thread resolves it, if there is room to
			 * say so. Not after a wait: the one waited for found no
			 * location to keep (a direct answer, a same-host redirect,
			 * a failure), and the waiters go on together, as they
			 * would have without the wait, not one after another.
			 */
			free_slot = waited ? -1 : resolving_slot(c, 0);
			if (free_slot >= 0) {
				c->resolving[free_slot] = h;
				*claimed = true;
			}
			pthread_mutex_unlock(&c->loc_lock);
			return false;
		}
		now = hub_now_ms();
		if (now >= until || atomic_load(&c->cancelled)) {
			pthread_mutex_unlock(&c->loc_lock);
			return false; /* waited enough: resolve it ourselves */
		}
		/* In slices, so that a cancel is seen: it does not signal. */
		time_cond_wait_ms(&c->loc_changed, &c->loc_lock, until - now < 100 ? until - now : 100);
		waited = true;
	}
}

void hub_http_location_release(struct hub_client *c, const char *key)
{
	int i;

	pthread_mutex_lock(&c->loc_lock);
	i = resolving_slot(c, key_hash(key));
	if (i >= 0)
		c->resolving[i] = 0;
	pthread_cond_broadcast(&c->loc_changed);
	pthread_mutex_unlock(&c->loc_lock);
}

/*
 * The value of the query parameter named exactly @name in @url, copied
 * into @out (at most @size - 1 bytes), or NULL. A name that merely ends
 * with it (X-Amz-Expires for Expires) is another parameter.
 */
static const char *query_param(const char *url, const char *name, char *out, size_t size)
{
	const char *p = url + strcspn(url, "?#");
	size_t name_len = strlen(name);

	if (*p != '?')
		return NULL; /* no query, or only in the fragment */

	while (p && *p && *p != '#') {
		const char *start = p + 1, *end = start + strcspn(start, "&#");

		if ((size_t)(end - start) > name_len && strncmp(start, name, name_len) == 0 &&
		    start[name_len] == '=') {
			size_t len = (size_t)(end - start) - name_len - 1;

			if (len >= size)
				return NULL;
			memcpy(out, start + name_len + 1, len);
			out[len] = '\0';
			return out;
		}
		p = *end == '&' ? end : NULL;
	}
	return NULL;
}

/* Seconds since the epoch of an AWS signature's X-Amz-Date (20250701T120000Z), or -1. */
static long long amz_date(const char *s)
{
	struct tm tm = { 0 };
	const char *end;

	if (strlen(s) != 16)
		return -1;
	end = strptime(s, "%Y%m%dT%H%M%SZ", &tm);
	return end && !*end ? (long long)timegm(&tm) : -1;
}

int64_t hub_http_location_expiry(const char *url)
{
	char value[64];
	long long now = (long long)time(NULL), expires = LLONG_MAX;
	int64_t ttl = 600;

	/* The URL came from outside: strtoll() may give LLONG_MIN or MAX. */
	if (query_param(url, "Expires", value, sizeof(value)))
		expires = strtoll(value, NULL, 10);
	/* An S3-style signature: signed at X-Amz-Date, for X-Amz-Expires seconds. */
	if (query_param(url, "X-Amz-Date", value, sizeof(value))) {
		long long signed_at = amz_date(value), lasts;

		if (query_param(url, "X-Amz-Expires", value, sizeof(value)) && signed_at >= 0) {
			lasts = strtoll(value, NULL, 10);
			if (lasts >= 0 && lasts < INT32_MAX && signed_at + lasts < expires)
				expires = signed_at + lasts;
		}
	}
	if (expires != LLONG_MAX) {
		if (expires <= now + 60)
			ttl = 0; /* expired, or about to: not worth keeping */
		else if (expires - now - 60 < ttl)
			ttl = expires - now - 60;
	}
	return now_secs() + ttl;
}

void hub_http_location_put(struct hub_client *c, const char *key, const char *url)
{
	int64_t expires = hub_http_location_expiry(url);
	struct location_entry *e;

	if (strlen(key) >= sizeof(e->key) || strlen(url) >= sizeof(e->url) ||
	    expires <= now_secs())
		return;
	pthread_mutex_lock(&c->loc_lock);
	e = NULL;
	for (size_t i = 0; i < HUB_LOCATION_CACHE && !e; i++) {
		if (strcmp(c->locs[i].key, key) == 0)
			e = &c->locs[i]; /* one entry per key: replace it */
	}
	if (!e) {
		e = &c->locs[c->loc_next];
		c->loc_next = (c->loc_next + 1) % HUB_LOCATION_CACHE;
	}
	memcpy(e->key, key, strlen(key) + 1);
	memcpy(e->url, url, strlen(url) + 1);
	e->expires = expires;
	pthread_cond_broadcast(&c->loc_changed);
	pthread_mutex_unlock(&c->loc_lock);
}

void hub_http_location_drop(struct hub_client *c, const char *key)
{
	pthread_mutex_lock(&c->loc_lock);
	for (size_t i = 0; i < HUB_LOCATION_CACHE; i++) {
		if (strcmp(c->locs[i].key, key) == 0)
			c->locs[i].key[0] = '\0';
	}
	pthread_mutex_unlock(&c->loc_lock);
}
