/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the header values the Hub client acts on (hub/headers.c):
 * Link (pagination), Content-Range (ranged reads), RateLimit (429 waits),
 * ETag and X-Linked-Etag, and the decimal of Content-Length and
 * X-Linked-Size. Each parser gets the input as one header value, as
 * libcurl hands it over: a C string, so it stops at the first NUL.
 */
#include <string.h>

#include "hub/hub_int.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = malloc(size + 1);
	uint64_t v;
	long secs;

	if (!value)
		return 0;
	memcpy(value, data, size);
	value[size] = '\0';

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
	free(value);
	return 0;
}
