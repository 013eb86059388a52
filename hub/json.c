/* SPDX-License-Identifier: MIT */
/*
 * JSON from the Hub → validated structs. json-c objects never leave this
 * file. Every field is checked for type, range and length; an entry that
 * fails is rejected with a logged reason and never becomes a file.
 */
#include "hub/hub_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "util/digest.h"
#include "util/log.h"
#include "util/path.h"

#define JSON_MAX_DEPTH 32
#define JSON_MAX_TAGS 1024
#define JSON_MAX_TAG_LEN 256

/*
 * A rejected entry is logged by name this many times per page, then only
 * counted: a page of a million bad entries wrote a million log lines.
 */
#define JSON_REJECTS_LOGGED 3

/*
 * json-c spends about 780 bytes on an empty object and 60 on a number:
 * a page of "[{},{},...]" took 260 times its size in memory (a 32 MiB
 * one would take 8.7 GB; a helper's review). The Hub's answers spend far
 * more text on each value (a tree entry is about 100 bytes for 5 values,
 * a language in a card about 5 for 1), so a document with more values
 * than one per 4 bytes, or more objects and arrays than one per 32, is
 * refused before it is parsed: at the largest size, what json-c then
 * makes stays within about twice what an honest page of it costs.
 */
static bool dense_beyond_reason(const char *text, size_t len)
{
	size_t values = 0, containers = 0;
	bool in_string = false, escaped = false;

	for (size_t i = 0; i < len; i++) {
		char ch = text[i];

		if (in_string) {
			if (escaped)
				escaped = false;
			else if (ch == '\\')
				escaped = true;
			else if (ch == '"')
				in_string = false;
			continue;
		}
		if (ch == '"')
			in_string = true;
		else if (ch == '{' || ch == '[')
			containers++, values++;
		else if (ch == ',')
			values++;
	}
	return values > len / 4 + 4096 || containers > len / 32 + 4096;
}

/* Parse exactly @len bytes as one JSON value; NULL on any error. */
static struct json_object *parse_all(const char *text, size_t len)
{
	struct json_tokener *tok;
	struct json_object *obj;

	if (len > HUB_MAX_JSON_BYTES || len > INT32_MAX)
		return NULL;
	if (dense_beyond_reason(text, len)) {
		log_warn("refused a JSON answer of %zu bytes: more values in it than any answer "
			 "of the Hub holds", len);
		return NULL;
	}
	tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (!tok)
		return NULL;
	obj = json_tokener_parse_ex(tok, text, (int)len);
	if (obj && json_tokener_get_error(tok) == json_tokener_success) {
		/* Only whitespace may follow the value. */
		for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
			if (!strchr(" \t\r\n", text[i])) {
				json_object_put(obj);
				obj = NULL;
				break;
			}
		}
	} else if (obj) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

static const char *get_string(struct json_object *o, const char *key,
			      size_t max_len)
{
	struct json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	/* An embedded NUL would make the C string lie about its length. */
	if ((size_t)json_object_get_string_len(v) != strlen(s) ||
	    strlen(s) > max_len)
		return NULL;
	return s;
}

/* A JSON integer in [0, max]; doubles, strings and negatives are refused. */
static int get_size(struct json_object *o, const char *key, uint64_t max,
		    uint64_t *out)
{
	struct json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -EPROTO;
	errno = 0;
	n = json_object_get_int64(v);
	if (n < 0 || (uint64_t)n > max || n == INT64_MAX)
		return -EPROTO;
	*out = (uint64_t)n;
	return 0;
}

static bool get_bool(struct json_object *o, const char *key, bool dflt)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_boolean))
		return dflt;
	return json_object_get_boolean(v);
}

/* Fill @e from @o; on failure return a reason for the log. */
static const char *entry_from_json(struct json_object *o, struct hub_entry *e)
{
	const char *type, *path, *oid;
	struct json_object *lfs;

	memset(e, 0, sizeof(*e));
	if (!json_object_is_type(o, json_type_object))
		return "not an object";
	type = get_string(o, "type", 16);
	path = get_string(o, "path", PATH_REPO_MAX);
	oid = get_string(o, "oid", HUB_OID_HEX);
	if (!type)
		return "no type";
	if (strcmp(type, "file") == 0)
		e->type = HUB_ENTRY_FILE;
	else if (strcmp(type, "directory") == 0)
		e->type = HUB_ENTRY_DIR;
	else
		return "unknown type";
	if (!path)
		return "no path, or a path that is too long";
	if (path_validate_repo_path(path) < 0)
		return "unsafe path (empty, absolute, '.', '..', control "
		       "characters or invalid UTF-8)";
	e->path = path;
	if (!oid || !digest_is_hex(oid, HUB_OID_HEX))
		return "oid is not 40 hex digits";
	memcpy(e->oid, oid, HUB_OID_HEX + 1);
	if (get_size(o, "size", HUB_MAX_FILE_SIZE, &e->size) < 0)
		return "size is not a non-negative integer in range";
	if (e->type == HUB_ENTRY_DIR) {
		if (json_object_object_get_ex(o, "lfs", &lfs))
			return "a directory with lfs data";
		e->size = 0;
		return NULL;
	}
	if (!json_object_object_get_ex(o, "lfs", &lfs) ||
	    json_object_is_type(lfs, json_type_null))
		return NULL;
	if (!json_object_is_type(lfs, json_type_object))
		return "lfs is not an object";
	oid = get_string(lfs, "oid", HUB_SHA256_HEX);
	if (!oid || !digest_is_hex(oid, HUB_SHA256_HEX))
		return "lfs.oid is not 64 hex digits";
	{
		uint64_t lfs_size;

		if (get_size(lfs, "size", HUB_MAX_FILE_SIZE, &lfs_size) < 0)
			return "lfs.size is not a non-negative integer";
		if (lfs_size != e->size)
			return "lfs.size differs from size";
		if (get_size(lfs, "pointerSize", 1024, &e->lfs_pointer_size) < 0)
			return "lfs.pointerSize is not a small integer";
	}
	e->is_lfs = true;
	memcpy(e->lfs_sha256, oid, HUB_SHA256_HEX + 1);
	return NULL;
}

int hub_json_parse_entries(const char *text, size_t len, hub_entry_fn fn,
			   void *ctx, size_t *rejected, struct hub_error *err)
{
	struct json_object *arr = parse_all(text, len);
	size_t n, bad = 0;
	int rc = 0;

	if (!arr || !json_object_is_type(arr, json_type_array)) {
		json_object_put(arr);
		return hub_fail(err, -EPROTO, 0,
				"the Hub sent a listing that is not a JSON array");
	}
	n = json_object_array_length(arr);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		struct hub_entry e;
		const char *why = entry_from_json(o, &e);

		if (why) {
			const char *p = get_string(o, "path", 200);

			if (++bad > JSON_REJECTS_LOGGED)
				continue;
			/* Quote only a printable path: it came from outside. */
			log_warn("rejected a listing entry%s%s%s: %s",
				 p && path_validate_repo_path(p) == 0 ? " '" : "",
				 p && path_validate_repo_path(p) == 0 ? p : "",
				 p && path_validate_repo_path(p) == 0 ? "'" : "",
				 why);
			continue;
		}
		rc = fn(ctx, &e);
	}
	json_object_put(arr);
	if (bad > JSON_REJECTS_LOGGED)
		log_warn("rejected %zu more entries of that listing", bad - JSON_REJECTS_LOGGED);
	if (rejected)
		*rejected = bad;
	return rc;
}

void hub_repo_info_release(struct hub_repo_info *info)
{
	for (size_t i = 0; i < info->n_tags; i++)
		free(info->tags[i]);
	free(info->tags);
	info->tags = NULL;
	info->n_tags = 0;
}

int hub_json_parse_repo_info(const char *text, size_t len,
			     struct hub_repo_info *out, struct hub_error *err)
{
	struct json_object *o = parse_all(text, len), *gated, *tags;
	const char *id, *sha, *modified;
	int rc = -EPROTO;

	memset(out, 0, sizeof(*out));
	if (!o || !json_object_is_type(o, json_type_object)) {
		hub_fail(err, -EPROTO, 0, "the Hub sent repo info that is not a JSON object");
		goto out;
	}
	id = get_string(o, "id", HUB_REPO_ID_MAX);
	sha = get_string(o, "sha", HUB_OID_HEX);
	modified = get_string(o, "lastModified", sizeof(out->last_modified) - 1);
	if (!id || !hub_repo_id_is_valid(id)) {
		hub_fail(err, -EPROTO, 0, "repo info without a valid id");
		goto out;
	}
	if (!sha || !digest_is_hex(sha, HUB_OID_HEX)) {
		hub_fail(err, -EPROTO, 0, "repo info without a valid commit sha");
		goto out;
	}
	snprintf(out->id, sizeof(out->id), "%s", id);
	snprintf(out->sha, sizeof(out->sha), "%s", sha);
	snprintf(out->last_modified, sizeof(out->last_modified), "%s",
		 modified && path_is_utf8(modified, strlen(modified)) ? modified : "");
	out->is_private = get_bool(o, "private", false);
	out->disabled = get_bool(o, "disabled", false);
	if (json_object_object_get_ex(o, "gated", &gated) &&
	    json_object_is_type(gated, json_type_string)) {
		const char *g = json_object_get_string(gated);

		if (strcmp(g, "auto") == 0 || strcmp(g, "manual") == 0)
			snprintf(out->gated, sizeof(out->gated), "%s", g);
	}
	if (json_object_object_get_ex(o, "tags", &tags) &&
	    json_object_is_type(tags, json_type_array)) {
		size_t n = json_object_array_length(tags);

		if (n > JSON_MAX_TAGS)
			n = JSON_MAX_TAGS;
		out->tags = calloc(n ? n : 1, sizeof(*out->tags));
		if (!out->tags) {
			rc = hub_fail(err, -ENOMEM, 0, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			struct json_object *t = json_object_array_get_idx(tags, i);
			const char *s;

			if (!json_object_is_type(t, json_type_string))
				continue;
			s = json_object_get_string(t);
			if (strlen(s) > JSON_MAX_TAG_LEN ||
			    !path_is_utf8(s, strlen(s)))
				continue;
			out->tags[out->n_tags] = strdup(s);
			if (!out->tags[out->n_tags]) {
				rc = hub_fail(err, -ENOMEM, 0, "out of memory");
				goto out;
			}
			out->n_tags++;
		}
	}
	rc = 0;
out:
	if (rc < 0)
		hub_repo_info_release(out);
	json_object_put(o);
	return rc;
}

/* Days from 1970-01-01 to the proleptic Gregorian date y-m-d (Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Exactly @n decimal digits at @s, as a number; -1 if not. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int hub_parse_iso8601(const char *s, int64_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec;
	const char *p = s + 19;

	/* YYYY-MM-DDTHH:MM:SS[.fff…]Z: the form the Hub writes, nothing else. */
	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':')
		return -EPROTO;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return -EPROTO;
	if (*p == '.') {
		int n = 0;

		for (p++; *p >= '0' && *p <= '9'; p++)
			n++;
		if (n == 0 || n > 9)
			return -EPROTO;
	}
	if (strcmp(p, "Z") != 0)
		return -EPROTO;
	*out = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + sec;
	return 0;
}

/*
 * Fill @r from one repo object of a listing; on failure return a reason
 * for the log. Absent optional fields keep their "not listed" values, but
 * a field that is present with a wrong type or value rejects the repo:
 * the Hub sending nonsense is not the same as the Hub saying nothing.
 */
static const char *summary_from_json(struct json_object *o, const char *author,
				     struct hub_repo_summary *r)
{
	struct json_object *v;
	const char *id, *s;
	size_t alen = strlen(author);

	r->id = NULL;
	r->is_private = false;
	r->gated[0] = r->sha[0] = '\0';
	r->last_modified = 0;
	if (!json_object_is_type(o, json_type_object))
		return "not an object";
	id = get_string(o, "id", HUB_REPO_ID_MAX);
	if (!id || !hub_repo_id_is_valid(id))
		return "no id, or an invalid repo id";
	/* Case-insensitive, as the Hub matches ids; but it must be this namespace. */
	if (strncasecmp(id, author, alen) != 0 || id[alen] != '/')
		return "a repo outside the namespace asked for";
	r->id = id;
	if (json_object_object_get_ex(o, "private", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			return "private is not a boolean";
		r->is_private = json_object_get_boolean(v);
	}
	if (json_object_object_get_ex(o, "gated", &v)) {
		if (json_object_is_type(v, json_type_boolean)) {
			if (json_object_get_boolean(v))
				return "gated is true, not \"auto\" or \"manual\"";
		} else {
			s = get_string(o, "gated", 6);
			if (!s || (strcmp(s, "auto") != 0 && strcmp(s, "manual") != 0))
				return "gated is not false, \"auto\" or \"manual\"";
			snprintf(r->gated, sizeof(r->gated), "%s", s);
		}
	}
	if (json_object_object_get_ex(o, "sha", &v)) {
		s = get_string(o, "sha", HUB_OID_HEX);
		if (!s || !digest_is_hex(s, HUB_OID_HEX))
			return "sha is not 40 hex digits";
		memcpy(r->sha, s, HUB_OID_HEX + 1);
	}
	if (json_object_object_get_ex(o, "lastModified", &v)) {
		s = get_string(o, "lastModified", 40);
		if (!s || hub_parse_iso8601(s, &r->last_modified) < 0)
			return "lastModified is not an ISO-8601 UTC time";
	}
	return NULL;
}

int hub_json_parse_repo_list(const char *text, size_t len,
			     enum hub_repo_type type, const char *author,
			     size_t max, hub_repo_fn fn, void *ctx,
			     size_t *delivered, size_t *rejected,
			     struct hub_error *err)
{
	struct json_object *arr = parse_all(text, len);
	size_t n, bad = 0, given = 0;
	int rc = 0;

	if (!arr || !json_object_is_type(arr, json_type_array)) {
		json_object_put(arr);
		return hub_fail(err, -EPROTO, 0,
				"the Hub sent a repo listing that is not a JSON array");
	}
	n = json_object_array_length(arr);
	for (size_t i = 0; i < n && rc == 0 && given < max; i++) {
		struct hub_repo_summary r = { .type = type };
		const char *why = summary_from_json(json_object_array_get_idx(arr, i),
						    author, &r);

		if (why) {
			const char *id = get_string(json_object_array_get_idx(arr, i),
						    "id", HUB_REPO_ID_MAX);

			if (++bad > JSON_REJECTS_LOGGED)
				continue;
			/* Quote only an id that is safe to print: it came from outside. */
			log_warn("rejected a repo of the listing of '%s'%s%s%s: %s", author,
				 id && hub_repo_id_is_valid(id) ? " '" : "",
				 id && hub_repo_id_is_valid(id) ? id : "",
				 id && hub_repo_id_is_valid(id) ? "'" : "", why);
			continue;
		}
		given++;
		rc = fn(ctx, &r);
	}
	json_object_put(arr);
	if (bad > JSON_REJECTS_LOGGED)
		log_warn("rejected %zu more repos of the listing of '%s'", bad - JSON_REJECTS_LOGGED,
			 author);
	if (delivered)
		*delivered = given;
	if (rejected)
		*rejected = bad;
	return rc;
}

void hub_json_error_message(const char *text, size_t len, char *out,
			    size_t size)
{
	struct json_object *o = parse_all(text, len);
	const char *msg = NULL;

	out[0] = '\0';
	if (o && json_object_is_type(o, json_type_object))
		msg = get_string(o, "error", 400);
	/* Keep only printable text: it is going into a log line. */
	if (msg) {
		size_t n = 0;

		for (const char *p = msg; *p && n + 1 < size; p++) {
			if ((unsigned char)*p >= 0x20 && *p != 0x7f)
				out[n++] = *p;
		}
		out[n] = '\0';
	}
	json_object_put(o);
}
