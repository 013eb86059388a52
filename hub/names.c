/* SPDX-License-Identifier: MIT */
/*
 * Repo ids, revisions and URL encoding, as the Hub and HfFileSystem spell
 * them (hub-api.md 1.1-1.3).
 */
#include "hub/hub_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const type_names[] = {
	[HUB_REPO_MODEL] = "model",
	[HUB_REPO_DATASET] = "dataset",
	[HUB_REPO_SPACE] = "space",
};

const char *hub_repo_type_name(enum hub_repo_type type)
{
	return type_names[type];
}

int hub_repo_type_parse(const char *name, enum hub_repo_type *out)
{
	static const struct {
		const char *name;
		enum hub_repo_type type;
	} names[] = {
		{ "model", HUB_REPO_MODEL },     { "models", HUB_REPO_MODEL },
		{ "dataset", HUB_REPO_DATASET }, { "datasets", HUB_REPO_DATASET },
		{ "space", HUB_REPO_SPACE },     { "spaces", HUB_REPO_SPACE },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i].name) == 0) {
			*out = names[i].type;
			return 0;
		}
	}
	return -EINVAL;
}

const char *hub_repo_api_segment(enum hub_repo_type type)
{
	static const char *const seg[] = {
		[HUB_REPO_MODEL] = "models",
		[HUB_REPO_DATASET] = "datasets",
		[HUB_REPO_SPACE] = "spaces",
	};
	return seg[type];
}

const char *hub_repo_url_prefix(enum hub_repo_type type)
{
	static const char *const prefix[] = {
		[HUB_REPO_MODEL] = "",
		[HUB_REPO_DATASET] = "datasets/",
		[HUB_REPO_SPACE] = "spaces/",
	};
	return prefix[type];
}

const char *hub_repo_revision(const struct hub_repo *repo)
{
	return repo->revision[0] ? repo->revision : "main";
}

static bool is_id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* One part of an id: the rules of huggingface_hub's validate_repo_id. */
static bool id_part_is_valid(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_id_char(s[i]))
			return false;
		if (i > 0 && (s[i] == '-' || s[i] == '.') && s[i - 1] == s[i])
			return false; /* "--" and ".." */
	}
	if (s[0] == '-' || s[0] == '.' || s[len - 1] == '-' ||
	    s[len - 1] == '.')
		return false;
	return true;
}

bool hub_repo_id_is_valid(const char *id)
{
	size_t len = strlen(id);
	const char *slash = strchr(id, '/');

	if (len == 0 || len > HUB_REPO_ID_MAX)
		return false;
	/* As huggingface_hub's REPO_ID_REGEX: each part at most HUB_REPO_PART_MAX. */
	if (slash ? (size_t)(slash - id) > HUB_REPO_PART_MAX ||
			    len - (size_t)(slash - id) - 1 > HUB_REPO_PART_MAX
		  : len > HUB_REPO_PART_MAX)
		return false;
	if (len >= 4 && strcmp(id + len - 4, ".git") == 0)
		return false;
	if (!slash)
		return id_part_is_valid(id, len);
	if (strchr(slash + 1, '/'))
		return false;
	return id_part_is_valid(id, (size_t)(slash - id)) &&
	       id_part_is_valid(slash + 1, len - (size_t)(slash - id) - 1);
}

/*
 * A revision is a branch, a tag, a commit sha or refs/pr/N: all git ref
 * names, so git's rules apply (git check-ref-format). They matter here:
 * "..", "." or "a/../b" would be dropped from the URL on the way
 * (RFC 3986 dot segments), and the Hub would answer for the default
 * branch under a name that does not exist.
 */
bool hub_revision_is_valid(const char *rev)
{
	size_t len = strlen(rev);
	const char *component = rev;

	if (len == 0 || len > HUB_REVISION_MAX || strcmp(rev, "@") == 0 ||
	    strstr(rev, "..") || strstr(rev, "@{") || strstr(rev, "//") ||
	    rev[0] == '/' || rev[len - 1] == '/' || rev[len - 1] == '.')
		return false;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)rev[i];

		if (c == '/' || c == '\0') {
			size_t n = (size_t)(rev + i - component);

			/* No component begins with '.' or ends with ".lock". */
			if (component[0] == '.' ||
			    (n >= 5 && memcmp(rev + i - 5, ".lock", 5) == 0))
				return false;
			component = rev + i + 1;
			continue;
		}
		if (c < 0x20 || c == 0x7f || strchr(" ~^:?*[\\", c))
			return false;
	}
	return true;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode @in into @out (at most @size - 1 bytes), as HfFileSystem
 * does (urllib.parse.unquote): a '%' not followed by two hex digits is
 * itself ("100%", "50%off" are branch names git allows). 0 or -EINVAL (a
 * NUL, or too long).
 */
static int percent_decode(const char *in, char *out, size_t size)
{
	size_t n = 0;

	for (const char *p = in; *p; p++) {
		char c = *p;

		if (c == '%') {
			int hi = p[1] ? hex_value(p[1]) : -1;
			int lo = hi >= 0 && p[2] ? hex_value(p[2]) : -1;

			if (hi >= 0 && lo >= 0) {
				c = (char)(hi * 16 + lo);
				if (c == '\0')
					return -EINVAL;
				p += 2;
			}
		}
		if (n + 1 >= size)
			return -EINVAL;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

int hub_repo_parse(const char *spec, enum hub_repo_type type_hint,
		   bool type_forced, struct hub_repo *out,
		   struct hub_error *err)
{
	enum hub_repo_type type = type_hint;
	const char *id = spec, *at;
	size_t id_len;

	memset(out, 0, sizeof(*out));
	if (strncmp(spec, "datasets/", 9) == 0) {
		type = HUB_REPO_DATASET;
		id += 9;
	} else if (strncmp(spec, "spaces/", 7) == 0) {
		type = HUB_REPO_SPACE;
		id += 7;
	}
	if (type_forced && id != spec && type != type_hint)
		return hub_fail(err, -EINVAL, 0,
				"'%s' names a %s, but --type says %s", spec,
				hub_repo_type_name(type),
				hub_repo_type_name(type_hint));
	at = strchr(id, '@');
	id_len = at ? (size_t)(at - id) : strlen(id);
	if (id_len > HUB_REPO_ID_MAX)
		return hub_fail(err, -EINVAL, 0, "repo id is too long (max %d)",
				HUB_REPO_ID_MAX);
	memcpy(out->id, id, id_len);
	out->id[id_len] = '\0';
	if (!hub_repo_id_is_valid(out->id))
		return hub_fail(err, -EINVAL, 0,
				"'%s' is not a valid repo id (want ORG/NAME: "
				"letters, digits, '-', '_', '.')",
				out->id);
	out->type = type;
	if (at) {
		if (percent_decode(at + 1, out->revision,
				   sizeof(out->revision)) < 0 ||
		    !hub_revision_is_valid(out->revision))
			return hub_fail(err, -EINVAL, 0,
					"'%s' is not a valid revision", at + 1);
	}
	return 0;
}

int hub_repo_format(const struct hub_repo *repo, char *out, size_t size)
{
	struct buf b;
	int rc;

	buf_init(&b, size ? size - 1 : 0);
	rc = buf_printf(&b, "%s%s", hub_repo_url_prefix(repo->type), repo->id);
	if (rc == 0 && repo->revision[0]) {
		rc = buf_append_str(&b, "@");
		/*
		 * Escaped wherever parsing would read it otherwise: a '/' would
		 * start a path, and a '%' would be decoded again (branch "a%2Fb"
		 * came back as branch "a/b", another one; a helper's review).
		 */
		if (rc == 0 && strpbrk(repo->revision, "/%"))
			rc = hub_url_escape(&b, repo->revision, false);
		else if (rc == 0)
			rc = buf_append_str(&b, repo->revision);
	}
	if (rc == 0 && size)
		memcpy(out, buf_cstr(&b), b.len + 1);
	buf_release(&b);
	return rc;
}

int hub_url_escape(struct buf *out, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		int rc;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		    c == '~' || c == '-' || (keep_slash && c == '/')) {
			rc = buf_append(out, p, 1);
		} else {
			char esc[3] = { '%', hex[c >> 4], hex[c & 0xf] };

			rc = buf_append(out, esc, 3);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

int hub_url_escape_path(struct buf *out, const char *path)
{
	return hub_url_escape(out, path, true);
}
