/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the headers of the Hub's answers. Two passes per input:
 *
 * 1. the value parsers the client acts on (hub/headers.c): Link
 *    (pagination), Content-Range (ranged reads), RateLimit (429 waits),
 *    ETag and X-Linked-Etag, and the decimal of Content-Length and
 *    X-Linked-Size, each on the input as one value (a C string, as the
 *    client keeps them);
 * 2. the header lines themselves (hub_http_take_header() in hub/http.c): the
 *    input cut into lines at '\n', each handed over as libcurl does, not
 *    NUL-terminated (in a buffer of exactly its size, so a read past it is
 *    an ASan report), then the kept values through the parsers of pass 1;
 *    and the Expires= of a Location, which the location cache reads.
 */
#include <string.h>

#include "hub/http.h"
#include "tests/fuzz/fuzz.h"
#include "util/digest.h"

/* The largest value the client keeps (its Link and Location fields). */
#define VALUE_MAX HUB_MAX_URL

static void check_link(const char *value, size_t size)
{
	char out[VALUE_MAX];
	int found;

	FUZZ_CHECK(size <= sizeof(out));
	memset(out, 'x', sizeof(out));
	found = hub_parse_link_next(value, out, size);
	FUZZ_CHECK(found == 0 || found == 1);
	if (found) {
		size_t n = strnlen(out, size);

		/* A URL that fits, whole, and that stood between '<' and '>'. */
		FUZZ_CHECK(n > 0 && n < size);
		FUZZ_CHECK(!strchr(out, '>'));
		FUZZ_CHECK(strstr(value, out) != NULL);
	}
}

static void check_content_range(const char *value)
{
	struct hub_content_range cr;

	if (hub_parse_content_range(value, &cr) < 0)
		return;
	if (cr.unsatisfied) {
		FUZZ_CHECK(cr.total <= HUB_MAX_FILE_SIZE);
		return;
	}
	FUZZ_CHECK(cr.first <= cr.last);
	FUZZ_CHECK(cr.total == UINT64_MAX ||
		   (cr.last < cr.total && cr.total <= HUB_MAX_FILE_SIZE));
}

static void check_etag(const char *value)
{
	char out[96];
	size_t n;

	if (hub_normalize_etag(value, out, sizeof(out)) < 0)
		return;
	n = strlen(out);
	FUZZ_CHECK(n == HUB_OID_HEX || n == HUB_SHA256_HEX);
	FUZZ_CHECK(digest_is_hex(out, n));
}

static void check_values(const char *value)
{
	uint64_t v;
	long secs;

	check_link(value, VALUE_MAX);
	check_link(value, 16); /* a URL longer than the room is refused */
	check_link(value, 1);
	check_content_range(value);
	check_etag(value);
	secs = hub_parse_ratelimit_reset(value);
	FUZZ_CHECK(secs >= -1 && secs <= 86400 * 7);
	if (hub_parse_u64(value, HUB_MAX_FILE_SIZE, &v) == 0)
		FUZZ_CHECK(v <= HUB_MAX_FILE_SIZE);
	if (hub_parse_u64(value, UINT64_MAX, &v) == 0)
		FUZZ_CHECK(value[0] >= '0' && value[0] <= '9');
}

/* Each kept header is a C string inside its field. */
#define CHECK_FIELD(x, f) FUZZ_CHECK(strnlen((x)->f, sizeof((x)->f)) < sizeof((x)->f))

static void take_lines(const uint8_t *data, size_t size)
{
	static struct http_exchange *x; /* large: made once, reused */
	const uint8_t *p = data, *end = data + size;

	if (!x) {
		x = calloc(1, sizeof(*x));
		if (!x)
			return;
		buf_init(&x->error_body, HUB_MAX_ERROR_BODY);
	}
	hub_http_take_header(x, "HTTP/1.1 200 OK\r\n", 17); /* a fresh answer */
	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		char *line = malloc(n ? n : 1);

		if (!line)
			return;
		memcpy(line, p, n);
		hub_http_take_header(x, line, n);
		free(line);
		p += n;
	}
	CHECK_FIELD(x, content_range);
	CHECK_FIELD(x, location);
	CHECK_FIELD(x, link);
	CHECK_FIELD(x, repo_commit);
	CHECK_FIELD(x, linked_etag);
	CHECK_FIELD(x, linked_size);
	CHECK_FIELD(x, etag);
	CHECK_FIELD(x, error_code);
	CHECK_FIELD(x, error_message);
	CHECK_FIELD(x, ratelimit);
	CHECK_FIELD(x, retry_after);
	FUZZ_CHECK(!x->has_content_length || x->content_length <= UINT64_MAX / 2);
	check_values(x->content_range);
	check_values(x->link);
	check_values(x->linked_etag);
	check_values(x->etag);
	check_values(x->linked_size);
	check_values(x->ratelimit);
	(void)hub_http_location_expiry(x->location);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = malloc(size + 1);

	if (!value)
		return 0;
	memcpy(value, data, size);
	value[size] = '\0';
	check_values(value);
	(void)hub_http_location_expiry(value);
	free(value);
	take_lines(data, size);
	return 0;
}
