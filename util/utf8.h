/* SPDX-License-Identifier: MIT */
/*
 * UTF-8, for what hubfs writes where UTF-8 is required (JSON, Prometheus
 * labels) from strings that need not be (paths are bytes).
 */
#ifndef HUBFS_UTIL_UTF8_H
#define HUBFS_UTIL_UTF8_H

#include <stddef.h>

/*
 * The length of the well-formed UTF-8 sequence that starts at @p (RFC
 * 3629: no overlong forms, no surrogates, nothing past U+10FFFF), or 0.
 * @p is NUL-terminated; a sequence cut by the NUL is not well formed.
 */
size_t utf8_seq_len(const unsigned char *p);

/* U+FFFD, what a byte that starts no sequence becomes where bytes cannot go. */
#define UTF8_REPLACEMENT "\xef\xbf\xbd"

#endif /* HUBFS_UTIL_UTF8_H */
