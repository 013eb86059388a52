/* SPDX-License-Identifier: MIT */
#include "util/path.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool path_is_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and values past U+10FFFF. */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

bool path_component_is_safe(const char *name, size_t len)
{
	if (len == 0 || len > PATH_COMPONENT_MAX)
		return false;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		/* NUL and '/' split names; control bytes forge log lines. */
		if (c == '/' || c < 0x20 || c == 0x7f)
			return false;
	}
	return path_is_utf8(name, len);
}

int path_validate_repo_path(const char *path)
{
	size_t len;
	const char *p, *slash;

	if (!path)
		return -EINVAL;
	len = strlen(path);
	if (len == 0 || len > PATH_REPO_MAX)
		return -EINVAL;
	p = path;
	for (;;) {
		slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (!path_component_is_safe(p, n))
			return -EINVAL;
		if (!slash)
			return 0;
		p = slash + 1;
	}
}

int path_expand_user(const char *in, char *out, size_t size)
{
	const char *home = getenv("HOME");
	int n;

	if (in[0] == '~' && (in[1] == '\0' || in[1] == '/') && home && *home)
		n = snprintf(out, size, "%s%s", home, in + 1);
	else
		n = snprintf(out, size, "%s", in);
	return n >= 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

int path_user_cache_dir(const char *sub, char *out, size_t size)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int n;

	if (xdg && *xdg)
		n = snprintf(out, size, "%s/%s", xdg, sub);
	else if (home && *home)
		n = snprintf(out, size, "%s/.cache/%s", home, sub);
	else
		return -ENOENT;
	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}
