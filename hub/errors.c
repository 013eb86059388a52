/* SPDX-License-Identifier: MIT */
/*
 * The error table: the one place where an HTTP failure becomes a negative
 * errno and a message that tells a person what to do next. The Hub's own
 * X-Error-Message is kept in the message.
 */
#include "hub/hub_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int hub_fail(struct hub_error *err, int code, long http_status,
	     const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	err->http_status = http_status;
	err->hub_code[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return code;
}

/* "model 'org/name'" or "dataset 'org/name'". */
static void describe_repo(const struct hub_http_failure *f, char *out,
			  size_t size)
{
	if (!f->repo) {
		snprintf(out, size, "the resource");
		return;
	}
	snprintf(out, size, "%s '%s'", hub_repo_type_name(f->repo->type),
		 f->repo->id);
}

/* The repo's web page: where a person accepts terms or asks for access. */
static void repo_page(const struct hub_http_failure *f, char *out,
		      size_t size)
{
	if (!f->repo) {
		snprintf(out, size, "%s", f->endpoint);
		return;
	}
	snprintf(out, size, "%s/%s%s", f->endpoint,
		 hub_repo_url_prefix(f->repo->type), f->repo->id);
}

int hub_error_from_http(struct hub_error *err,
			const struct hub_http_failure *f)
{
	char what[HUB_REPO_ID_MAX + 16], page[HUB_REPO_ID_MAX + 272], hub_said[HUB_MESSAGE_MAX / 2] = "";
	const char *code = f->hub_code ? f->hub_code : "";
	const char *rev = f->repo ? hub_repo_revision(f->repo) : "";
	int rc;

	describe_repo(f, what, sizeof(what));
	repo_page(f, page, sizeof(page));
	if (f->hub_message && *f->hub_message)
		snprintf(hub_said, sizeof(hub_said), " (Hub: %s)",
			 f->hub_message);

	if (strcmp(code, "RevisionNotFound") == 0) {
		rc = hub_fail(err, -ENOENT, f->status,
			      "revision '%s' not found in %s%s", rev, what,
			      hub_said);
	} else if (strcmp(code, "EntryNotFound") == 0) {
		rc = hub_fail(err, -ENOENT, f->status,
			      "'%s' not found in %s at '%s'",
			      f->path ? f->path : "", what, rev);
	} else if (strcmp(code, "GatedRepo") == 0) {
		if (!f->had_token)
			rc = hub_fail(err, -EACCES, f->status,
				      "%s is gated: log in (HF_TOKEN or "
				      "--token-file) and accept its terms at %s",
				      what, page);
		else
			rc = hub_fail(err, -EACCES, f->status,
				      "your token has no access to gated %s: "
				      "ask for access at %s%s",
				      what, page, hub_said);
	} else if (f->status == 401 && f->had_token &&
		   strstr(f->hub_message ? f->hub_message : "",
			  "Invalid credentials")) {
		rc = hub_fail(err, -EACCES, f->status,
			      "the Hub refused the token: invalid credentials "
			      "(check HF_TOKEN, HF_TOKEN_PATH or --token-file)");
	} else if (f->status == 401 || strcmp(code, "RepoNotFound") == 0 ||
		   f->status == 404) {
		/*
		 * The Hub answers 401 to an anonymous request for a repo that
		 * is missing or private alike; huggingface_hub reports both as
		 * not found, and so do we, saying how to log in.
		 */
		if (!f->had_token)
			rc = hub_fail(err, -ENOENT, f->status,
				      "%s not found, or private and you are not "
				      "logged in (log in: set HF_TOKEN or pass "
				      "--token-file)", what);
		else
			rc = hub_fail(err, -ENOENT, f->status,
				      "%s not found (or your token cannot see it)%s",
				      what, hub_said);
	} else if (f->status == 403 &&
		   strstr(f->hub_message ? f->hub_message : "", "disabled")) {
		rc = hub_fail(err, -EACCES, f->status,
			      "%s is disabled on the Hub: nobody can read it "
			      "(see %s)%s", what, page, hub_said);
	} else if (f->status == 403) {
		rc = hub_fail(err, -EACCES, f->status,
			      "access to %s denied%s", what, hub_said);
	} else if (f->status == 429) {
		if (f->reset_secs >= 0)
			rc = hub_fail(err, -EAGAIN, f->status,
				      "rate limited by the Hub; the quota resets "
				      "in %ld s (a token raises the limit)",
				      f->reset_secs);
		else
			rc = hub_fail(err, -EAGAIN, f->status,
				      "rate limited by the Hub after %u retries",
				      f->retries);
	} else if (f->status == 416) {
		rc = hub_fail(err, -EPROTO, f->status,
			      "the Hub says the range lies past the end of "
			      "'%s' (smaller than its listing said)",
			      f->path ? f->path : "");
	} else if (f->status == 400) {
		rc = hub_fail(err, -EINVAL, f->status,
			      "the Hub refused the request as invalid%s",
			      hub_said);
	} else if (f->status >= 500) {
		rc = hub_fail(err, -EIO, f->status,
			      "the Hub failed with HTTP %ld after %u retries%s",
			      f->status, f->retries, hub_said);
	} else {
		rc = hub_fail(err, -EIO, f->status,
			      "unexpected HTTP %ld from the Hub%s", f->status,
			      hub_said);
	}
	if (err)
		snprintf(err->hub_code, sizeof(err->hub_code), "%s", code);
	return rc;
}
