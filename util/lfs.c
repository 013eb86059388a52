/* SPDX-License-Identifier: MIT */
#include "util/lfs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/digest.h"

static const char spec_v1[] = "https://git-lfs.github.com/spec/v1";
static const char spec_pre[] = "https://hawser.github.com/spec/v1";

bool lfs_pointer_prefix(const void *data, size_t len)
{
	static const char head[] = "version https://git-lfs.github.com/spec/";
	static const char head_pre[] = "version https://hawser.github.com/spec/";

	return (len >= sizeof(head) - 1 && memcmp(data, head, sizeof(head) - 1) == 0) ||
	       (len >= sizeof(head_pre) - 1 &&
		memcmp(data, head_pre, sizeof(head_pre) - 1) == 0);
}

/* Take one "key value\n" line at *p; the key and value as spans. */
static int next_line(const char **p, const char *end, const char **key,
		     size_t *key_len, const char **val, size_t *val_len)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	const char *sp;

	if (!nl)
		return -EINVAL;
	sp = memchr(*p, ' ', (size_t)(nl - *p));
	if (!sp || sp == *p || sp + 1 == nl)
		return -EINVAL;
	*key = *p;
	*key_len = (size_t)(sp - *p);
	*val = sp + 1;
	*val_len = (size_t)(nl - sp - 1);
	*p = nl + 1;
	return 0;
}

static bool span_is(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

int lfs_pointer_parse(const void *data, size_t len, struct lfs_pointer *out)
{
	const char *p = data, *end = p + len, *key, *val, *prev_key = NULL;
	size_t key_len, val_len, prev_len = 0;
	bool have_oid = false, have_size = false;

	if (len == 0 || len > LFS_POINTER_MAX || memchr(data, '\0', len))
		return -EINVAL;
	if (next_line(&p, end, &key, &key_len, &val, &val_len) < 0 ||
	    !span_is(key, key_len, "version") ||
	    !(span_is(val, val_len, spec_v1) || span_is(val, val_len, spec_pre)))
		return -EINVAL;
	while (p < end) {
		if (next_line(&p, end, &key, &key_len, &val, &val_len) < 0)
			return -EINVAL;
		/* Keys after "version" are sorted and unique. */
		if (prev_key) {
			size_t n = key_len < prev_len ? key_len : prev_len;
			int cmp = memcmp(prev_key, key, n);

			if (cmp > 0 || (cmp == 0 && prev_len >= key_len))
				return -EINVAL;
		}
		prev_key = key;
		prev_len = key_len;
		if (span_is(key, key_len, "oid")) {
			if (val_len != 7 + 64 || memcmp(val, "sha256:", 7) != 0)
				return -EINVAL;
			memcpy(out->oid, val + 7, 64);
			out->oid[64] = '\0';
			if (!digest_is_hex(out->oid, 64))
				return -EINVAL;
			have_oid = true;
		} else if (span_is(key, key_len, "size")) {
			uint64_t v = 0;

			if (val_len == 0 || val_len > 19 || (val_len > 1 && val[0] == '0'))
				return -EINVAL;
			for (size_t i = 0; i < val_len; i++) {
				if (val[i] < '0' || val[i] > '9')
					return -EINVAL;
				v = v * 10 + (uint64_t)(val[i] - '0');
			}
			out->size = v;
			have_size = true;
		} else if (span_is(key, key_len, "version")) {
			return -EINVAL; /* only ever the first line */
		} else {
			/* Extension keys are allowed by the spec; keep going. */
			for (size_t i = 0; i < key_len; i++) {
				char c = key[i];

				if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
				      c == '.' || c == '-'))
					return -EINVAL;
			}
		}
	}
	return have_oid && have_size ? 0 : -EINVAL;
}

size_t lfs_pointer_format(const char *oid, uint64_t size, char *out, size_t cap)
{
	int n = snprintf(out, cap, "version %s\noid sha256:%s\nsize %llu\n", spec_v1,
			 oid, (unsigned long long)size);

	/* A pointer cut short is no pointer: say nothing was written. */
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
