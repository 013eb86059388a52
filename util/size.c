/* SPDX-License-Identifier: MIT */
#include "util/size.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };

void size_format(uint64_t bytes, char *out, size_t size)
{
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(out, size, "%llu B", (unsigned long long)bytes);
		return;
	}
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(out, size, "%.1f %s", v, units[u]);
}

int size_parse(const char *text, uint64_t *out)
{
	static const char *const suffixes = "KMGTP";
	double v, mult = 1;
	char *end;
	const char *s;

	if (!text || !*text || strchr(text, '-'))
		return -EINVAL;
	/*
	 * Digits, a point and digits, then a unit: strtod() alone took hex,
	 * hex floats and exponents ("0x10M", "0x1p20", "1e3M"), which no
	 * page documents (a helper's review).
	 */
	for (s = text; (*s >= '0' && *s <= '9') || *s == '.'; s++)
		;
	if (s == text || strchr(s, '.') || strspn(text, "0123456789") == 0)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if ((*p >= '0' && *p <= '9') || *p == '.')
			return -EINVAL; /* a digit after the unit began */
	}
	v = strtod(text, &end);
	if (end != s)
		return -EINVAL;
	if (end == text || !isfinite(v) || v < 0)
		return -EINVAL;
	while (*end == ' ')
		end++;
	if ((*end == 'B' || *end == 'b') && end[1] == '\0') {
		end++;
	} else if (*end) {
		s = strchr(suffixes, (*end >= 'a' ? *end - 32 : *end));
		if (!s || !*s)
			return -EINVAL;
		mult = pow(1024, (double)(s - suffixes + 1));
		end++;
		/* Accept K, KB, KiB (all binary: disks and caches count in 1024s). */
		if (strcasecmp(end, "ib") != 0 && strcasecmp(end, "b") != 0 && *end)
			return -EINVAL;
	}
	v *= mult;
	if (v >= 18446744073709551615.0)
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}
