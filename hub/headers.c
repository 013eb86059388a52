/* SPDX-License-Identifier: MIT */
/*
 * Parsers for the header values the client depends on. Every one is
 * strict: a value that does not parse is a protocol error, never a guess.
 */
#include "hub/hub_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/digest.h"

int hub_parse_u64(const char *value, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!value || !*value)
		return -EPROTO;
	for (const char *p = value; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EPROTO;
		if (v > (max - (uint64_t)(*p - '0')) / 10)
			return -EPROTO;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	return 0;
}

/* Parse decimal digits at *p up to @end; advances *p. */
static int parse_u64_span(const char **p, const char *end, uint64_t *out)
{
	char tmp[24];
	size_t n = 0;

	while (*p < end && **p >= '0' && **p <= '9') {
		if (n + 1 >= sizeof(tmp))
			return -EPROTO;
		tmp[n++] = *(*p)++;
	}
	tmp[n] = '\0';
	return hub_parse_u64(tmp, HUB_MAX_FILE_SIZE, out);
}

int hub_parse_content_range(const char *value, struct hub_content_range *out)
{
	const char *p = value, *end = value + strlen(value);

	memset(out, 0, sizeof(*out));
	if (strncasecmp(p, "bytes ", 6) != 0)
		return -EPROTO;
	p += 6;
	if (*p == '*') {
		out->unsatisfied = true;
		p++;
	} else {
		if (parse_u64_span(&p, end, &out->first) < 0 || *p++ != '-' ||
		    parse_u64_span(&p, end, &out->last) < 0 ||
		    out->last < out->first)
			return -EPROTO;
	}
	if (*p++ != '/')
		return -EPROTO;
	if (*p == '*' && !out->unsatisfied && p + 1 == end) {
		out->total = UINT64_MAX;
		return 0;
	}
	if (parse_u64_span(&p, end, &out->total) < 0 || p != end)
		return -EPROTO;
	if (!out->unsatisfied && out->last >= out->total)
		return -EPROTO;
	return 0;
}

int hub_parse_link_next(const char *value, char *out, size_t size)
{
	const char *p = value;

	/* Link: <u1>; rel="a", <u2>; rel="next" */
	while ((p = strchr(p, '<')) != NULL) {
		const char *close = strchr(p, '>');
		const char *params, *next_link;
		size_t len;

		if (!close)
			return 0;
		params = close + 1;
		next_link = strchr(params, '<');
		len = (size_t)(close - p - 1);
		for (const char *q = params; *q && (!next_link || q < next_link);
		     q++) {
			if (strncasecmp(q, "rel=\"next\"", 10) == 0 ||
			    (strncasecmp(q, "rel=next", 8) == 0 &&
			     (q[8] == '\0' || q[8] == ';' || q[8] == ',' ||
			      isspace((unsigned char)q[8])))) {
				if (len == 0 || len >= size)
					return 0;
				memcpy(out, p + 1, len);
				out[len] = '\0';
				return 1;
			}
		}
		p = close + 1;
	}
	return 0;
}

/* The value of @value's parameter named exactly @name (`"api";r=0;t=12`), or -1. */
static long ratelimit_param(const char *value, char name)
{
	const char *p = value;

	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (*p == ' ')
			p++;
		if (p[0] == name && p[1] == '=') {
			uint64_t n;
			char tmp[16];
			size_t len = strcspn(p + 2, ";, ");

			if (len == 0 || len >= sizeof(tmp))
				return -1;
			memcpy(tmp, p + 2, len);
			tmp[len] = '\0';
			if (hub_parse_u64(tmp, 86400 * 7, &n) < 0)
				return -1;
			return (long)n;
		}
	}
	return -1;
}

long hub_parse_ratelimit_reset(const char *value)
{
	/*
	 * Only a quota used up (r=0) resets at t, as huggingface_hub reads
	 * it: a 429 with requests left comes from another limit, and t (the
	 * window's end, minutes away) says nothing of when to try again.
	 */
	if (ratelimit_param(value, 'r') != 0)
		return -1;
	return ratelimit_param(value, 't');
}

int hub_normalize_etag(const char *value, char *out, size_t size)
{
	const char *p = value;
	size_t len;

	if (strncmp(p, "W/", 2) == 0)
		p += 2;
	len = strlen(p);
	if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
		p++;
		len -= 2;
	}
	if (len >= size || (len != HUB_OID_HEX && len != HUB_SHA256_HEX))
		return -EPROTO;
	memcpy(out, p, len);
	out[len] = '\0';
	if (!digest_is_hex(out, len))
		return -EPROTO;
	return 0;
}
