/* SPDX-License-Identifier: MIT */
/*
 * The Hub's endpoints as typed operations: repo info, revisions, tree
 * listings with Link pagination, paths-info, HEAD on resolve, and ranged
 * reads that resume where a broken body stopped.
 */
#include "hub/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/digest.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/path.h"

#define MAX_PAGES 100000
#define REPOS_PER_PAGE 1000 /* the largest page the Hub serves for repo lists */
#define PATHS_PER_REQUEST 1000
#define MAX_PROGRESS_RESUMES 64

/* A same-origin API request, retried and redirected per the rules. */
struct api_call {
	const char *method;
	const char *url;
	const char *content_type; /* POST */
	const char *body;
	size_t body_len;
	struct buf *out;          /* the 2xx body */
	const struct hub_repo *repo;
	const char *path;         /* for messages */
	bool stop_at_offhost;     /* HEAD: report a CDN redirect, do not follow */
	/* picked up from any answer along the redirects */
	char repo_commit[64];
	char linked_etag[96];
	char linked_size[32];
};

/*
 * A call on a thread that set no deadline of its own gets op_timeout_ms:
 * every entry point below runs between call_begin() and call_end().
 */
static int64_t call_begin(struct hub_client *c)
{
	int64_t prev = hub_http_deadline();

	if (!prev)
		hub_deadline_set(hub_now_ms() + c->cfg.op_timeout_ms);
	return prev;
}

static int call_end(int64_t prev, int rc)
{
	hub_deadline_set(prev);
	return rc;
}

static int offline_error(struct hub_error *err)
{
	return hub_fail(err, -ENETDOWN, 0,
			"offline mode (HF_HUB_OFFLINE or --offline): this needs "
			"the network");
}

static int transport_error(struct hub_client *c, int rc,
			   const struct http_exchange *x, unsigned retries,
			   struct hub_error *err)
{
	char shown[256];

	hub_http_redact_url(x->url, shown, sizeof(shown));
	switch (rc) {
	case -EHOSTUNREACH:
		return hub_fail(err, rc, 0, "cannot connect to %s (endpoint %s): %s",
				shown, c->endpoint_shown, x->transport_error);
	case -ETIMEDOUT:
		return hub_fail(err, rc, 0, "timed out talking to %s after %u retries: %s",
				shown, retries, x->transport_error);
	case -ECANCELED:
		return hub_fail(err, rc, 0, "request to %s cancelled: %s", shown,
				x->transport_error);
	case -EPROTO:
		return hub_fail(err, rc, x->status, "invalid answer from %s: %s",
				shown, x->transport_error);
	default:
		return hub_fail(err, rc < 0 ? rc : -EIO, x->status,
				"transfer from %s failed after %u retries: %s", shown,
				retries, x->transport_error);
	}
}

static void pick_up_meta(struct api_call *call, const struct http_exchange *x)
{
	if (!call->repo_commit[0] && x->repo_commit[0])
		snprintf(call->repo_commit, sizeof(call->repo_commit), "%s", x->repo_commit);
	if (!call->linked_etag[0] && x->linked_etag[0])
		snprintf(call->linked_etag, sizeof(call->linked_etag), "%s", x->linked_etag);
	if (!call->linked_size[0] && x->linked_size[0])
		snprintf(call->linked_size, sizeof(call->linked_size), "%s", x->linked_size);
}

static int http_failure(struct hub_client *c, const struct api_call *call,
			const struct http_exchange *x, unsigned retries,
			long reset_secs, struct hub_error *err)
{
	char body_msg[HUB_MESSAGE_MAX];
	struct hub_http_failure f = {
		.status = x->status,
		.hub_code = x->error_code,
		.hub_message = x->error_message,
		.had_token = c->auth_header != NULL,
		.endpoint = c->endpoint_shown, /* shown to people: no password */
		.repo = call->repo,
		.path = call->path,
		.retries = retries,
		.reset_secs = reset_secs,
	};

	/* A 429 without Retry-After may still say when the limit resets. */
	if (x->status == 429 && reset_secs < 0)
		f.reset_secs = hub_parse_ratelimit_reset(x->ratelimit);
	if (!x->error_message[0]) {
		hub_json_error_message(buf_cstr(&x->error_body), x->error_body.len,
				       body_msg, sizeof(body_msg));
		f.hub_message = body_msg;
	}
	return hub_error_from_http(err, &f);
}

static bool is_redirect(const struct http_exchange *x)
{
	return x->status >= 300 && x->status < 400 && x->location[0];
}

/*
 * Follow the redirect @x answered, @hops having been followed before it:
 * its target into @url (@size bytes). The one place of the redirect
 * policy: at most HUB_MAX_REDIRECTS, and off the endpoint's origin *@auth
 * becomes false, as the token never leaves the endpoint. Returns 1 when
 * the target is off the origin, 0 when on it, -ELOOP when there were too
 * many, or -EPROTO (-ENOMEM) when the location is no valid URL.
 */
static int follow_redirect(struct hub_client *c, const struct http_exchange *x,
			   unsigned hops, char *url, size_t size, bool *auth)
{
	bool same;
	int rc;

	if (hops >= HUB_MAX_REDIRECTS)
		return -ELOOP;
	rc = hub_http_resolve_location(c, x->url, x->location, url, size, &same);
	if (rc < 0)
		return rc;
	if (!same)
		*auth = false;
	return same ? 0 : 1;
}

/*
 * Run @call to completion. On success @x holds the last answer (a 2xx, or
 * the off-host redirect when stop_at_offhost). Returns 0 or -errno.
 */
static int api_call(struct hub_client *c, struct api_call *call,
		    struct http_exchange *x, struct hub_error *err)
{
	char url[HUB_MAX_URL];
	long reset_secs = -1;
	unsigned attempt;
	int rc = 0;

	for (attempt = 0;; attempt++) {
		bool auth = true, retry = false;
		const char *method = call->method;

		snprintf(url, sizeof(url), "%s", call->url);
		for (unsigned hops = 0;; hops++) {
			int hop;

			if (hub_http_exchange_init(x, method, url) < 0)
				return hub_fail(err, -EPROTO, 0, "URL too long");
			x->send_auth = auth;
			x->collect = call->out;
			if (strcmp(method, "POST") == 0) {
				x->content_type = call->content_type;
				x->body = call->body;
				x->body_len = call->body_len;
			}
			if (call->out)
				buf_reset(call->out);
			rc = hub_http_perform(c, x);
			if (rc < 0) {
				retry = hub_http_transport_is_retryable(rc, attempt);
				break;
			}
			pick_up_meta(call, x);
			if (!is_redirect(x))
				break;
			hop = follow_redirect(c, x, hops, url, sizeof(url), &auth);
			if (hop == -ELOOP)
				return hub_fail(err, -EPROTO, x->status,
						"too many redirects");
			if (hop < 0)
				return hub_fail(err, -EPROTO, x->status,
						"the Hub redirected to an invalid location");
			if (hop == 1 && call->stop_at_offhost)
				return 0;
			/* 301/302/303 turn a POST into a GET; 307/308 keep it. */
			if (x->status != 307 && x->status != 308)
				method = strcmp(method, "HEAD") == 0 ? "HEAD" : "GET";
			hub_http_exchange_release(x);
		}
		if (rc == 0 && x->status >= 200 && x->status < 300)
			return 0;
		if (rc == 0)
			retry = hub_http_status_is_retryable(x->status);
		if (!retry || attempt >= c->cfg.max_retries)
			break;
		if (hub_http_backoff(c, attempt, rc == 0 ? x : NULL, &reset_secs) < 0)
			break; /* the Hub asks us to wait longer than we accept */
		atomic_fetch_add(&c->n_retries, 1);
		hub_http_exchange_release(x);
	}
	if (rc < 0)
		return transport_error(c, rc, x, attempt, err);
	return http_failure(c, call, x, attempt, reset_secs, err);
}

/* "{endpoint}/api/{models|datasets|spaces}/{id}" into @b. */
static int api_base(struct hub_client *c, const struct hub_repo *repo,
		    struct buf *b)
{
	return buf_printf(b, "%s/api/%s/%s", c->cfg.endpoint,
			  hub_repo_api_segment(repo->type), repo->id);
}

static struct http_exchange *exchange_new(struct hub_error *err)
{
	struct http_exchange *x = calloc(1, sizeof(*x));

	if (!x) {
		hub_fail(err, -ENOMEM, 0, "out of memory");
		return NULL;
	}
	buf_init(&x->error_body, HUB_MAX_ERROR_BODY);
	return x;
}

static void exchange_free(struct http_exchange *x)
{
	if (x) {
		hub_http_exchange_release(x);
		free(x);
	}
}

/* GET a JSON document from @url into @out. */
static int get_json(struct hub_client *c, const struct hub_repo *repo,
		    const char *path, const char *url, struct buf *out,
		    struct http_exchange *x, struct hub_error *err)
{
	struct api_call call = {
		.method = "GET", .url = url, .out = out, .repo = repo, .path = path,
	};

	return api_call(c, &call, x, err);
}

/* A request on a repo's API: its exchange, its URL and the JSON answer. */
struct repo_request {
	struct http_exchange *x;
	struct buf url;  /* api_base() to start with */
	struct buf body;
};

static void repo_request_end(struct repo_request *rq)
{
	buf_release(&rq->url);
	buf_release(&rq->body);
	exchange_free(rq->x);
}

/*
 * Set up @rq for @repo. -errno with @err filled (offline, out of memory,
 * URL too long) and nothing to end, or 0: end it with repo_request_end().
 */
static int repo_request_begin(struct hub_client *c, const struct hub_repo *repo,
			      struct repo_request *rq, struct hub_error *err)
{
	int rc;

	if (c->cfg.offline)
		return offline_error(err);
	rq->x = exchange_new(err);
	if (!rq->x)
		return -ENOMEM;
	buf_init(&rq->url, HUB_MAX_URL - 1);
	buf_init(&rq->body, HUB_MAX_JSON_BYTES);
	rc = api_base(c, repo, &rq->url);
	if (rc < 0) {
		repo_request_end(rq);
		return hub_fail(err, rc, 0, "URL too long");
	}
	return 0;
}

static int repo_info_within(struct hub_client *c, const struct hub_repo *repo,
			    struct hub_repo_info *out, struct hub_error *err)
{
	struct repo_request rq;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = repo_request_begin(c, repo, &rq, err);
	if (rc < 0)
		return rc;
	if (repo->revision[0]) {
		rc = buf_append_str(&rq.url, "/revision/");
		if (rc == 0)
			rc = hub_url_escape(&rq.url, repo->revision, false);
	}
	/*
	 * Only what hub_json_parse_repo_info() reads: by default the Hub lists
	 * every file as a sibling (4.3 MB for 100,000 files, asked again at
	 * every --revision-ttl), and 40,000 short names were refused as too
	 * dense to be an answer. Spaces cannot be gated: expand=gated is a 400.
	 */
	if (rc == 0)
		rc = buf_printf(&rq.url, "?expand=sha&expand=lastModified&expand=private"
				"&expand=disabled&expand=tags%s",
				repo->type == HUB_REPO_SPACE ? "" : "&expand=gated");
	if (rc < 0)
		rc = hub_fail(err, rc, 0, "URL too long");
	else
		rc = get_json(c, repo, NULL, buf_cstr(&rq.url), &rq.body, rq.x, err);
	if (rc == 0)
		rc = hub_json_parse_repo_info(buf_cstr(&rq.body), rq.body.len, out, err);
	repo_request_end(&rq);
	return rc;
}

int hub_resolve_revision(struct hub_client *c, const struct hub_repo *repo,
			 char sha[HUB_OID_HEX + 1], struct hub_error *err)
{
	struct hub_repo_info info;
	int rc;

	if (digest_is_hex(repo->revision, HUB_OID_HEX)) {
		memcpy(sha, repo->revision, HUB_OID_HEX + 1);
		return 0;
	}
	rc = hub_repo_info(c, repo, &info, err);
	if (rc < 0)
		return rc;
	memcpy(sha, info.sha, HUB_OID_HEX + 1);
	hub_repo_info_release(&info);
	return 0;
}

/* Parses one page's body; returns 0 to go on, 1 when it has had enough, or -errno. */
typedef int (*page_fn)(void *ctx, const struct buf *body, struct hub_error *err);

/*
 * GET @first_url and every page its `Link: <…>; rel="next"` headers lead
 * to, handing each body to @parse, one page in memory at a time. The next
 * page gets our token, so it must be on the endpoint's own origin; a link
 * elsewhere, a link back to a page already fetched, or more than MAX_PAGES
 * pages is an invalid answer. The deadline is per page: each page that
 * arrives gives the next the time the first had, so that a listing of a
 * few hundred thousand files (hundreds of pages, a second each on the Hub)
 * ends when the Hub stops answering, not at --op-timeout whatever it does.
 * The mount lists on threads of their own, which its requests wait for
 * within their own deadlines; a caller whose deadline is hard
 * (hub_deadline_hard(): a mount's start) has it end the listing.
 * Returns 0 or -errno.
 */
static int get_pages(struct hub_client *c, const struct hub_repo *repo,
		     const char *path, const char *first_url, page_fn parse,
		     void *ctx, struct hub_error *err)
{
	struct http_exchange *x;
	struct buf body;
	char next[HUB_MAX_URL];
	/* A loop of links, seen with Brent's method: one earlier page to compare. */
	uint64_t looked_back = hash_fnv1a_str(HASH_FNV1A_START, first_url);
	unsigned since_look = 0, look_span = 1;
	int64_t per_page = hub_http_deadline_is_hard() ? 0 : hub_http_deadline() - hub_now_ms();
	int rc;

	if (strlen(first_url) >= sizeof(next))
		return hub_fail(err, -EINVAL, 0, "URL too long");
	x = exchange_new(err);
	if (!x)
		return -ENOMEM;
	buf_init(&body, HUB_MAX_JSON_BYTES);
	snprintf(next, sizeof(next), "%s", first_url);
	for (unsigned page = 0;; page++) {
		rc = get_json(c, repo, path, next, &body, x, err);
		if (rc < 0)
			break;
		rc = parse(ctx, &body, err);
		buf_release(&body);
		if (rc != 0) {
			rc = rc > 0 ? 0 : rc;
			break;
		}
		if (!x->link[0] || !hub_parse_link_next(x->link, next, sizeof(next)))
			break;
		uint64_t h = hash_fnv1a_str(HASH_FNV1A_START, next);

		if (!hub_http_is_same_origin(c, next) || strcmp(next, x->url) == 0 ||
		    h == looked_back || page + 1 >= MAX_PAGES) {
			rc = hub_fail(err, -EPROTO, 0,
				      "the Hub sent an invalid next-page link");
			break;
		}
		if (++since_look == look_span) {
			looked_back = h;
			since_look = 0;
			look_span *= 2;
		}
		if (per_page > 0 && hub_now_ms() + per_page > hub_http_deadline())
			hub_deadline_set(hub_now_ms() + per_page);
		hub_http_exchange_release(x);
	}
	buf_release(&body);
	exchange_free(x);
	return rc;
}

struct tree_pages {
	hub_entry_fn fn;
	void *ctx;
};

static int parse_tree_page(void *t_, const struct buf *body, struct hub_error *err)
{
	struct tree_pages *t = t_;
	size_t rejected;

	return hub_json_parse_entries(buf_cstr(body), body->len, t->fn, t->ctx,
				      &rejected, err);
}

static int list_tree_within(struct hub_client *c, const struct hub_repo *repo,
			    const char *path, bool recursive, hub_entry_fn fn, void *ctx,
			    struct hub_error *err)
{
	struct tree_pages t = { .fn = fn, .ctx = ctx };
	struct buf url;
	int rc;

	if (c->cfg.offline)
		return offline_error(err);
	if (path && *path && path_validate_repo_path(path) < 0)
		return hub_fail(err, -EINVAL, 0, "'%s' is not a valid repo path", path);
	buf_init(&url, HUB_MAX_URL - 1);
	rc = api_base(c, repo, &url);
	if (rc == 0)
		rc = buf_append_str(&url, "/tree/");
	if (rc == 0)
		rc = hub_url_escape(&url, hub_repo_revision(repo), false);
	if (rc == 0 && path && *path) {
		rc = buf_append_str(&url, "/");
		if (rc == 0)
			rc = hub_url_escape(&url, path, true);
	}
	if (rc == 0)
		rc = buf_printf(&url, "?recursive=%s&expand=false",
				recursive ? "true" : "false");
	if (rc < 0)
		rc = hub_fail(err, rc, 0, "URL too long");
	else
		rc = get_pages(c, repo, path, buf_cstr(&url), parse_tree_page, &t, err);
	buf_release(&url);
	return rc;
}

struct repo_pages {
	enum hub_repo_type type;
	const char *author;
	size_t left;           /* repos still wanted; SIZE_MAX: all */
	hub_repo_fn fn;
	void *ctx;
};

static int parse_repo_page(void *r_, const struct buf *body, struct hub_error *err)
{
	struct repo_pages *r = r_;
	size_t given = 0, rejected = 0;
	int rc;

	rc = hub_json_parse_repo_list(buf_cstr(body), body->len, r->type, r->author,
				      r->left, r->fn, r->ctx, &given, &rejected, err);
	if (rc < 0)
		return rc;
	if (r->left != SIZE_MAX)
		r->left -= given;
	return r->left == 0 ? 1 : 0;
}

static int list_repos_within(struct hub_client *c, enum hub_repo_type type,
			     const char *author, size_t max, hub_repo_fn fn, void *ctx,
			     struct hub_error *err)
{
	struct repo_pages r = {
		.type = type, .author = author, .left = max ? max : SIZE_MAX,
		.fn = fn, .ctx = ctx,
	};
	struct buf url;
	int rc;

	if (c->cfg.offline)
		return offline_error(err);
	if (!hub_repo_id_is_valid(author) || strchr(author, '/'))
		return hub_fail(err, -EINVAL, 0,
				"'%s' is not a valid user or organization name", author);
	buf_init(&url, HUB_MAX_URL - 1);
	/*
	 * Only the fields a listing shows; the Hub sends _id and id anyway.
	 * A page as large as the Hub serves, unless fewer are wanted.
	 */
	rc = buf_printf(&url, "%s/api/%s?author=", c->cfg.endpoint,
			hub_repo_api_segment(type));
	if (rc == 0)
		rc = hub_url_escape(&url, author, false);
	/* Spaces cannot be gated: the Hub refuses expand=gated for them (400). */
	if (rc == 0)
		rc = buf_printf(&url, "&limit=%zu&expand=private%s&expand=sha"
				"&expand=lastModified",
				max && max < REPOS_PER_PAGE ? max : REPOS_PER_PAGE,
				type == HUB_REPO_SPACE ? "" : "&expand=gated");
	if (rc < 0)
		rc = hub_fail(err, rc, 0, "URL too long");
	else
		rc = get_pages(c, NULL, NULL, buf_cstr(&url), parse_repo_page, &r, err);
	buf_release(&url);
	return rc;
}

static int paths_info_within(struct hub_client *c, const struct hub_repo *repo,
			     const char *const *paths, size_t n, hub_entry_fn fn,
			     void *ctx, struct hub_error *err)
{
	struct repo_request rq;
	struct buf form;
	int rc;

	rc = repo_request_begin(c, repo, &rq, err);
	if (rc < 0)
		return rc;
	buf_init(&form, HUB_MAX_JSON_BYTES);
	rc = buf_append_str(&rq.url, "/paths-info/");
	if (rc == 0)
		rc = hub_url_escape(&rq.url, hub_repo_revision(repo), false);
	for (size_t i = 0; rc == 0 && i < n; i += PATHS_PER_REQUEST) {
		size_t end = i + PATHS_PER_REQUEST < n ? i + PATHS_PER_REQUEST : n;
		struct api_call call = {
			.method = "POST", .url = buf_cstr(&rq.url),
			.content_type = "application/x-www-form-urlencoded",
			.out = &rq.body, .repo = repo,
		};

		buf_reset(&form);
		for (size_t k = i; rc == 0 && k < end; k++) {
			if (path_validate_repo_path(paths[k]) < 0) {
				rc = hub_fail(err, -EINVAL, 0,
					      "'%s' is not a valid repo path", paths[k]);
				break;
			}
			rc = buf_append_str(&form, "paths=");
			if (rc == 0)
				rc = hub_url_escape(&form, paths[k], false);
			if (rc == 0)
				rc = buf_append_str(&form, "&");
		}
		if (rc == 0)
			rc = buf_append_str(&form, "expand=false");
		if (rc < 0)
			break;
		call.body = form.data;
		call.body_len = form.len;
		rc = api_call(c, &call, rq.x, err);
		if (rc == 0)
			rc = hub_json_parse_entries(buf_cstr(&rq.body), rq.body.len, fn,
						    ctx, NULL, err);
		hub_http_exchange_release(rq.x);
	}
	buf_release(&form);
	repo_request_end(&rq);
	return rc;
}

/* "{endpoint}/{prefix}{id}/resolve/{rev}/{path}" into @b. */
static int resolve_url(struct hub_client *c, const struct hub_repo *repo,
		       const char *path, struct buf *b)
{
	int rc = buf_printf(b, "%s/%s%s/resolve/", c->cfg.endpoint,
			    hub_repo_url_prefix(repo->type), repo->id);

	if (rc == 0)
		rc = hub_url_escape(b, hub_repo_revision(repo), false);
	if (rc == 0)
		rc = buf_append_str(b, "/");
	if (rc == 0)
		rc = hub_url_escape(b, path, true);
	return rc;
}

static int head_file_within(struct hub_client *c, const struct hub_repo *repo,
			    const char *path, struct hub_file_meta *out,
			    struct hub_error *err)
{
	struct api_call call = {
		.method = "HEAD", .repo = repo, .path = path,
		.stop_at_offhost = true,
	};
	struct http_exchange *x;
	struct buf url;
	const char *etag;
	int rc;

	memset(out, 0, sizeof(*out));
	if (c->cfg.offline)
		return offline_error(err);
	if (path_validate_repo_path(path) < 0)
		return hub_fail(err, -EINVAL, 0, "'%s' is not a valid repo path", path);
	x = exchange_new(err);
	if (!x)
		return -ENOMEM;
	buf_init(&url, HUB_MAX_URL - 1);
	rc = resolve_url(c, repo, path, &url);
	if (rc < 0) {
		rc = hub_fail(err, rc, 0, "URL too long");
		goto out;
	}
	call.url = buf_cstr(&url);
	rc = api_call(c, &call, x, err);
	if (rc < 0)
		goto out;
	rc = -EPROTO;
	if (!digest_is_hex(call.repo_commit, HUB_OID_HEX)) {
		hub_fail(err, rc, x->status, "the Hub sent no valid X-Repo-Commit for '%s'", path);
		goto out;
	}
	memcpy(out->commit, call.repo_commit, HUB_OID_HEX + 1);
	etag = call.linked_etag[0] ? call.linked_etag : x->etag;
	if (hub_normalize_etag(etag, out->etag, sizeof(out->etag)) < 0) {
		hub_fail(err, rc, x->status, "the Hub sent no valid ETag for '%s'", path);
		goto out;
	}
	if (call.linked_size[0]) {
		if (hub_parse_u64(call.linked_size, HUB_MAX_FILE_SIZE, &out->size) < 0) {
			hub_fail(err, rc, x->status, "invalid X-Linked-Size for '%s'", path);
			goto out;
		}
	} else if (x->status >= 200 && x->status < 300 && x->has_content_length &&
		   x->content_length <= HUB_MAX_FILE_SIZE) {
		/* A redirect's Content-Length is its own body's, never the file's. */
		out->size = x->content_length;
	} else {
		hub_fail(err, rc, x->status, "the Hub sent no size for '%s'", path);
		goto out;
	}
	out->is_lfs = x->status >= 300 && strlen(out->etag) == HUB_SHA256_HEX;
	hub_http_redact_url(x->status >= 300 ? x->location : x->url, out->location,
			    sizeof(out->location));
	rc = 0;
out:
	buf_release(&url);
	exchange_free(x);
	return rc;
}

/* ---- ranged reads ---- */

/* The connection's fault, as opposed to an error of the reader's own. */
static bool is_transport_failure(int rc)
{
	return rc == -ETIMEDOUT || rc == -ECONNRESET || rc == -EPROTO ||
	       rc == -EHOSTUNREACH || rc == -ECANCELED;
}

struct range_read {
	uint64_t want_first;   /* absolute offset of the next byte we need */
	uint64_t want_last;    /* absolute offset of the last byte we need */
	uint64_t file_size;    /* UINT64_MAX when unknown */
	uint64_t skip;         /* bytes of a 200 body to drop before want_first */
	uint64_t answer_last;  /* the last byte the answer says it holds (UINT64_MAX: unsaid) */
	bool checked;          /* the answer's headers were validated */
	struct http_exchange *x;
	hub_write_fn fn;
	void *ctx;
	const char *why;       /* what was wrong with the answer */
	struct hub_client *c;
	const char *resolving; /* the resolve this thread was let make, not yet let go */
};

/* Let others waiting for this file's resolve go (hub_http_location_wait()). */
static void range_resolved(struct range_read *r)
{
	if (r->resolving) {
		hub_http_location_release(r->c, r->resolving);
		r->resolving = NULL;
	}
}

/* Validate a 200/206 answer against what we asked, before any byte is used. */
static int check_range_answer(struct range_read *r, long status)
{
	struct http_exchange *x = r->x;
	struct hub_content_range cr;

	/*
	 * libcurl decodes nothing here (no Accept-Encoding is sent): a body a
	 * mirror compressed anyway is not the file's bytes at those offsets.
	 */
	if (x->content_encoded) {
		r->why = "a Content-Encoding (a compressed body is not the file's bytes)";
		return -EPROTO;
	}
	/* Not a 203's or a 204's body, whatever its length. */
	if (status != 200 && status != 206) {
		r->why = "a success other than 200 or 206 to a Range request";
		return -EPROTO;
	}
	if (status == 206) {
		if (hub_parse_content_range(x->content_range, &cr) < 0 || cr.unsatisfied) {
			r->why = "a 206 without a valid Content-Range";
			return -EPROTO;
		}
		if (cr.first != r->want_first || cr.last > r->want_last) {
			r->why = "a Content-Range other than the range asked";
			return -EPROTO;
		}
		if (r->file_size != UINT64_MAX && cr.total != r->file_size) {
			r->why = "a file size that differs from the listing";
			return -EPROTO;
		}
		if (x->has_content_length && x->content_length != cr.last - cr.first + 1) {
			r->why = "a Content-Length that contradicts Content-Range";
			return -EPROTO;
		}
		r->skip = 0;
		r->answer_last = cr.last;
	} else {
		/* 200 to a Range request: the whole file; cut out our part. */
		if (x->has_content_length && r->file_size != UINT64_MAX &&
		    x->content_length != r->file_size) {
			r->why = "a file size that differs from the listing";
			return -EPROTO;
		}
		r->skip = r->want_first;
		r->answer_last = r->file_size != UINT64_MAX && r->file_size > 0 ? r->file_size - 1 :
			         UINT64_MAX;
	}
	r->checked = true;
	return 0;
}

static int range_sink(void *r_, long status, const char *data, size_t len)
{
	struct range_read *r = r_;
	int rc;

	/* Answered without a redirect: nothing to wait for. */
	range_resolved(r);
	if (!r->checked) {
		rc = check_range_answer(r, status);
		if (rc < 0)
			return rc;
	}
	if (r->skip) {
		size_t n = r->skip < len ? (size_t)r->skip : len;

		r->skip -= n;
		data += n;
		len -= n;
	}
	if (len == 0)
		return 0;
	/*
	 * Without a Content-Length (chunked), nothing else bounds the body:
	 * bytes past the range it named, or past the file's end, are not the
	 * file's bytes at those offsets.
	 */
	if (r->answer_last != UINT64_MAX &&
	    (r->want_first > r->answer_last || len > r->answer_last - r->want_first + 1)) {
		r->why = status == 206 ? "more bytes than its Content-Range holds"
				       : "more bytes than the file has";
		return -EPROTO;
	}
	if (len > r->want_last - r->want_first + 1) {
		if (status == 206) {
			r->why = "more bytes than the range asked";
			return -EPROTO;
		}
		len = (size_t)(r->want_last - r->want_first + 1);
	}
	rc = r->fn(r->ctx, data, len);
	if (rc < 0)
		return rc;
	r->want_first += len;
	/*
	 * A 206 ends with our last byte: let libcurl finish it, so that the
	 * connection stays open for the next range. Stopping a transfer
	 * closes it. A 200 (the whole file) is stopped once we have our part.
	 */
	return r->want_first > r->want_last && status != 206 ? 1 : 0;
}

/* A redirect's X-Linked-Size must be the size the listing gave (if it gave one). */
static int check_linked_size(const struct http_exchange *x, uint64_t file_size,
			     const char *path, struct hub_error *err)
{
	uint64_t linked;

	if (!x->linked_size[0] || file_size == UINT64_MAX)
		return 0;
	if (hub_parse_u64(x->linked_size, HUB_MAX_FILE_SIZE, &linked) < 0 ||
	    linked != file_size)
		return hub_fail(err, -EPROTO, x->status,
				"the Hub says '%s' has %s bytes, its listing said %llu",
				path, x->linked_size, (unsigned long long)file_size);
	return 0;
}

/*
 * An attempt that left bytes of the range missing: say why in *@rc (a
 * short 2xx body becomes -EPROTO) and x->transport_error, and whether
 * another attempt may do better. A remembered location (@from_cache) of
 * @key_url that did not serve is forgotten.
 */
static bool range_attempt_retryable(struct hub_client *c, const struct range_read *r,
				    const char *key_url, bool from_cache,
				    unsigned attempt, int *rc)
{
	struct http_exchange *x = r->x;
	bool retry;

	if (*rc == 0 && x->status >= 200 && x->status < 300) {
		/* The body ended early but cleanly: a short answer. */
		*rc = -EPROTO;
		snprintf(x->transport_error, sizeof(x->transport_error),
			 "%s", r->why ? r->why : "a body shorter than the range asked");
	} else if (*rc == -EPROTO && r->why) {
		snprintf(x->transport_error, sizeof(x->transport_error), "%s", r->why);
	}
	if (*rc < 0) {
		retry = hub_http_transport_is_retryable(*rc, attempt);
	} else if (from_cache && (x->status == 403 || x->status == 404 ||
				  x->status == 410)) {
		/* A signed URL that expired or was revoked: resolve again. */
		hub_http_location_drop(c, key_url);
		retry = true;
	} else {
		retry = hub_http_status_is_retryable(x->status);
	}
	if (from_cache && !retry)
		hub_http_location_drop(c, key_url);
	return retry;
}

static int read_range_within(struct hub_client *c, const struct hub_repo *repo,
			     const char *path, uint64_t offset, uint64_t len,
			     uint64_t file_size, hub_write_fn fn, void *ctx,
			     struct hub_error *err)
{
	struct api_call meta = { .repo = repo, .path = path };
	struct range_read r = { .file_size = file_size, .fn = fn, .ctx = ctx, .c = c };
	struct http_exchange *x = NULL;
	unsigned attempt = 0, progress_resumes = 0;
	char target[HUB_MAX_URL];
	bool resolved_again = false;
	long reset_secs = -1;
	struct buf key;
	int rc = 0;

	if (len == 0)
		return 0;
	if (c->cfg.offline)
		return offline_error(err);
	if (path_validate_repo_path(path) < 0)
		return hub_fail(err, -EINVAL, 0, "'%s' is not a valid repo path", path);
	if (offset > UINT64_MAX - len ||
	    (file_size != UINT64_MAX && offset + len > file_size))
		return hub_fail(err, -EINVAL, 0, "range past the end of '%s'", path);
	r.want_first = offset;
	r.want_last = offset + len - 1;
	buf_init(&key, HUB_MAX_URL - 1);
	if (resolve_url(c, repo, path, &key) < 0) {
		rc = hub_fail(err, -EINVAL, 0, "URL too long");
		goto out;
	}
	x = exchange_new(err);
	if (!x) {
		rc = -ENOMEM;
		goto out;
	}
	meta.url = buf_cstr(&key);

	while (r.want_first <= r.want_last) {
		uint64_t before = r.want_first;
		bool from_cache, claimed, retry = false, auth = true;

		from_cache = hub_http_location_wait(c, meta.url, target, sizeof(target), &claimed);
		r.resolving = claimed ? meta.url : NULL;
		if (!from_cache)
			snprintf(target, sizeof(target), "%s", meta.url);
		auth = !from_cache;
		for (unsigned hops = 0;; hops++) {
			int hop;

			hub_http_exchange_release(x);
			if (hub_http_exchange_init(x, "GET", target) < 0) {
				rc = hub_fail(err, -EPROTO, 0, "URL too long");
				goto out;
			}
			x->send_auth = auth;
			x->has_range = true;
			x->range_first = r.want_first;
			x->range_last = r.want_last;
			x->sink = range_sink;
			x->sink_ctx = &r;
			r.x = x;
			r.checked = false;
			r.why = NULL;
			rc = hub_http_perform(c, x);
			if (rc < 0 || !is_redirect(x))
				break;
			pick_up_meta(&meta, x);
			rc = check_linked_size(x, file_size, path, err);
			if (rc < 0)
				goto out;
			hop = follow_redirect(c, x, hops, target, sizeof(target), &auth);
			if (hop < 0) {
				rc = hub_fail(err, -EPROTO, x->status,
					      "bad or too many redirects for '%s'", path);
				goto out;
			}
			/*
			 * The CDN's URL is remembered; so is a 302 on the origin: an
			 * LFS file's signed CDN URL that a caching mirror rewrote
			 * onto itself (docs/deploy.md), or every block costs a
			 * resolve request that a token keeps the mirror from caching.
			 */
			if (hop == 1 || x->status == 302)
				hub_http_location_put(c, meta.url, target);
			range_resolved(&r);
		}
		range_resolved(&r); /* the attempt failed before an answer */
		if (r.want_first > r.want_last)
			break; /* everything arrived, whatever came after */
		retry = range_attempt_retryable(c, &r, meta.url, from_cache, attempt, &rc);
		if (r.want_first > before) {
			/* Data arrived: resume from there, the retry count starts over. */
			atomic_fetch_add(&c->n_resumes, 1);
			if (++progress_resumes <= MAX_PROGRESS_RESUMES && retry) {
				attempt = 0;
				continue;
			}
		}
		/*
		 * A remembered link the CDN refused (revoked, or a clock that
		 * disagrees with its Expires) was forgotten: resolving it again
		 * is no retry of a failure, and waits for nothing, once.
		 */
		if (retry && rc == 0 && from_cache && !resolved_again &&
		    (x->status == 403 || x->status == 404 || x->status == 410)) {
			resolved_again = true;
			continue;
		}
		if (!retry || attempt >= c->cfg.max_retries)
			break;
		if (hub_http_backoff(c, attempt, rc == 0 ? x : NULL, &reset_secs) < 0)
			break;
		attempt++;
		atomic_fetch_add(&c->n_retries, 1);
	}
	if (r.want_first > r.want_last)
		rc = 0;
	else if (rc < 0 && (is_transport_failure(rc) || x->sink_rc >= 0))
		rc = transport_error(c, rc, x, attempt, err); /* libcurl's words say why */
	else if (rc < 0) /* the reader's own error: pass it through */
		hub_fail(err, rc, 0, "reading '%s' stopped: %s", path, strerror(-rc));
	else
		rc = http_failure(c, &meta, x, attempt, reset_secs, err);
out:
	range_resolved(&r); /* before the key it names goes */
	buf_release(&key);
	exchange_free(x);
	return rc;
}

/* ---- the entry points, each within its deadline ---- */

int hub_repo_info(struct hub_client *c, const struct hub_repo *repo,
		  struct hub_repo_info *out, struct hub_error *err)
{
	int64_t prev = call_begin(c);

	return call_end(prev, repo_info_within(c, repo, out, err));
}

int hub_list_repos(struct hub_client *c, enum hub_repo_type type,
		   const char *author, size_t max, hub_repo_fn fn, void *ctx,
		   struct hub_error *err)
{
	int64_t prev = call_begin(c);

	return call_end(prev, list_repos_within(c, type, author, max, fn, ctx, err));
}

int hub_list_tree(struct hub_client *c, const struct hub_repo *repo,
		  const char *path, bool recursive, hub_entry_fn fn, void *ctx,
		  struct hub_error *err)
{
	int64_t prev = call_begin(c);

	return call_end(prev, list_tree_within(c, repo, path, recursive, fn, ctx, err));
}

int hub_paths_info(struct hub_client *c, const struct hub_repo *repo,
		   const char *const *paths, size_t n, hub_entry_fn fn,
		   void *ctx, struct hub_error *err)
{
	int64_t prev = call_begin(c);

	return call_end(prev, paths_info_within(c, repo, paths, n, fn, ctx, err));
}

int hub_head_file(struct hub_client *c, const struct hub_repo *repo,
		  const char *path, struct hub_file_meta *out,
		  struct hub_error *err)
{
	int64_t prev = call_begin(c);

	return call_end(prev, head_file_within(c, repo, path, out, err));
}

int hub_read_range(struct hub_client *c, const struct hub_repo *repo,
		   const char *path, uint64_t offset, uint64_t len,
		   uint64_t file_size, hub_write_fn fn, void *ctx,
		   struct hub_error *err)
{
	int64_t prev = call_begin(c);

	return call_end(prev, read_range_within(c, repo, path, offset, len, file_size,
						fn, ctx, err));
}
