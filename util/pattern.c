/* SPDX-License-Identifier: MIT */
/*
 * fnmatch.fnmatchcase() as Python 3 has it (Lib/fnmatch.py: translate()
 * makes a regular expression of the pattern), on code points: glibc's
 * fnmatch() differs in every corner huggingface_hub's users can reach
 * ('?' is a byte to it, '[^c]' negates, '[[:alpha:]]' is a class, '\'
 * escapes), so a --include chose other files than snapshot_download().
 */
#include "util/pattern.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/path.h"
#include "util/utf8.h"

enum tok_kind {
	TOK_CHAR, /* one code point */
	TOK_ANY,  /* '?', or a set that takes everything ("[!]" of Python's) */
	TOK_STAR, /* '*' (runs of them are one) */
	TOK_SET,  /* [...]: ranges[first .. first + n) */
	TOK_NONE, /* a set that takes nothing (a reversed range alone) */
};

struct cp_range {
	uint32_t lo, hi;
};

struct tok {
	enum tok_kind kind;
	bool negate;     /* TOK_SET: [!...] */
	uint32_t cp;     /* TOK_CHAR */
	size_t first, n; /* TOK_SET */
};

struct pattern_hf {
	struct tok *toks;
	size_t n_toks;
	struct cp_range *ranges;
	size_t n_ranges;
};

/*
 * The code point at @s (not its end) into *@cp, and its length in bytes:
 * a byte that starts no well-formed sequence is one, U+DC80..U+DCFF as
 * Python's surrogateescape decodes it; '\' is '/' (filter_repo_objects()
 * normalizes both the patterns and the paths).
 */
static size_t next_cp(const char *s, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = utf8_seq_len(p);

	switch (n) {
	case 1:
		*cp = p[0] == '\\' ? '/' : p[0];
		return 1;
	case 2:
		*cp = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
		return 2;
	case 3:
		*cp = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
		return 3;
	case 4:
		*cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
		      (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
		return 4;
	default:
		*cp = 0xdc00u + p[0];
		return 1;
	}
}

/*
 * The set of @pat[@i, @j) (what stands between '[' and ']'), as
 * translate() builds it: the hyphens that make ranges are found from the
 * second character (the third after a '!'), each range's end skipped
 * before the next is looked for; a hyphen last is itself; a reversed
 * range takes its two ends out with it ("[bz-ac]" is "[bc]"), right to
 * left. What is left is read as re reads a class: '!' first negates, a
 * character, a range hyphen and a character make a range. @del,
 * @range_at and @left are scratch of the pattern's length.
 */
static void compile_set(struct pattern_hf *p, const uint32_t *pat, size_t i, size_t j,
			bool *del, bool *range_at, size_t *left)
{
	struct tok *t = &p->toks[p->n_toks++];
	size_t n_left = 0, x = 0;

	memset(del + i, 0, (j - i) * sizeof(*del));
	memset(range_at + i, 0, (j - i) * sizeof(*range_at));
	for (size_t k = pat[i] == '!' ? i + 2 : i + 1; k < j; k++) {
		if (pat[k] == '-') {
			range_at[k] = true;
			k += 2; /* the range's end is no hyphen of a range */
		}
	}
	if (range_at[j - 1])
		range_at[j - 1] = false; /* "[a-]": 'a' and '-' */
	/* Reversed ranges, right to left: the two ends go with the hyphen. */
	for (size_t h = j; h-- > i;) {
		size_t a = h, b = h + 1;

		if (!range_at[h])
			continue;
		while (a > i && del[a - 1])
			a--;
		while (b < j && del[b])
			b++;
		if (a == i || b == j)
			continue; /* an end missing: translate() never leaves one so */
		if (pat[a - 1] > pat[b]) {
			del[a - 1] = del[h] = del[b] = true;
			range_at[h] = false;
		}
	}
	for (size_t k = i; k < j; k++) {
		if (!del[k])
			left[n_left++] = k;
	}
	/* Empty takes nothing, "!" alone everything (translate()'s "(?!)" and "."). */
	if (n_left == 0) {
		t->kind = TOK_NONE;
		return;
	}
	if (pat[left[0]] == '!' && !range_at[left[0]]) {
		if (n_left == 1) {
			t->kind = TOK_ANY;
			return;
		}
		t->negate = true;
		x = 1;
	}
	t->kind = TOK_SET;
	t->first = p->n_ranges;
	while (x < n_left) {
		uint32_t lo = pat[left[x]], hi; /* a range hyphen first is a '-' */

		x++;
		if (x < n_left && range_at[left[x]]) {
			if (x + 1 == n_left) {
				/* "c-" last: 'c' and '-', as re reads "[c-]". */
				p->ranges[p->n_ranges++] = (struct cp_range){ lo, lo };
				p->ranges[p->n_ranges++] = (struct cp_range){ '-', '-' };
				break;
			}
			hi = pat[left[x + 1]];
			x += 2;
			/* re would refuse a reversed one; none is left by now. */
			if (lo <= hi)
				p->ranges[p->n_ranges++] = (struct cp_range){ lo, hi };
			continue;
		}
		p->ranges[p->n_ranges++] = (struct cp_range){ lo, lo };
	}
	t->n = p->n_ranges - t->first;
}

int pattern_hf_compile(const char *pattern, struct pattern_hf **out)
{
	size_t len = strlen(pattern), n = 0;
	struct pattern_hf *p = calloc(1, sizeof(*p));
	uint32_t *pat = calloc(len + 2, sizeof(*pat));
	bool *scratch = calloc(2 * (len + 2), sizeof(*scratch));
	size_t *left = calloc(len + 2, sizeof(*left));

	*out = NULL;
	if (p) {
		p->toks = calloc(len + 2, sizeof(*p->toks));
		p->ranges = calloc(2 * (len + 2), sizeof(*p->ranges));
	}
	if (!p || !pat || !scratch || !left || !p->toks || !p->ranges) {
		free(pat);
		free(scratch);
		free(left);
		pattern_hf_free(p);
		return -ENOMEM;
	}
	for (const char *s = pattern; *s;)
		s += next_cp(s, &pat[n++]);
	/* "dir/" is everything below dir (_add_wildcard_to_directories()). */
	if (n && pat[n - 1] == '/')
		pat[n++] = '*';
	for (size_t i = 0; i < n;) {
		uint32_t c = pat[i++];

		if (c == '*') {
			if (!p->n_toks || p->toks[p->n_toks - 1].kind != TOK_STAR)
				p->toks[p->n_toks++].kind = TOK_STAR;
		} else if (c == '?') {
			p->toks[p->n_toks++].kind = TOK_ANY;
		} else if (c == '[') {
			size_t j = i;

			if (j < n && pat[j] == '!')
				j++;
			if (j < n && pat[j] == ']')
				j++;
			while (j < n && pat[j] != ']')
				j++;
			if (j >= n) {
				p->toks[p->n_toks++] = (struct tok){ .kind = TOK_CHAR, .cp = '[' };
			} else {
				compile_set(p, pat, i, j, scratch, scratch + len + 2, left);
				i = j + 1;
			}
		} else {
			p->toks[p->n_toks++] = (struct tok){ .kind = TOK_CHAR, .cp = c };
		}
	}
	free(pat);
	free(scratch);
	free(left);
	*out = p;
	return 0;
}

static bool tok_takes(const struct pattern_hf *p, const struct tok *t, uint32_t c)
{
	bool in = false;

	switch (t->kind) {
	case TOK_CHAR:
		return c == t->cp;
	case TOK_ANY:
		return true;
	case TOK_SET:
		for (size_t i = t->first; i < t->first + t->n && !in; i++)
			in = p->ranges[i].lo <= c && c <= p->ranges[i].hi;
		return in != t->negate;
	default:
		return false;
	}
}

/*
 * The usual glob walk: on a mismatch the last '*' takes one character
 * more. Every other token takes exactly one, so the leftmost fit of what
 * follows a '*' is the one to take (translate() says the same with its
 * atomic groups), and no path costs more than its length times the
 * pattern's.
 */
bool pattern_hf_match(const struct pattern_hf *p, const char *path)
{
	const char *s = path, *star_s = NULL;
	size_t ti = 0, star = SIZE_MAX;

	while (*s) {
		uint32_t c;
		size_t n;

		if (ti < p->n_toks && p->toks[ti].kind == TOK_STAR) {
			star = ti++;
			star_s = s;
			continue;
		}
		n = next_cp(s, &c);
		if (ti < p->n_toks && tok_takes(p, &p->toks[ti], c)) {
			ti++;
			s += n;
			continue;
		}
		if (star == SIZE_MAX)
			return false;
		star_s += next_cp(star_s, &c);
		s = star_s;
		ti = star + 1;
	}
	while (ti < p->n_toks && p->toks[ti].kind == TOK_STAR)
		ti++;
	return ti == p->n_toks;
}

void pattern_hf_free(struct pattern_hf *p)
{
	if (!p)
		return;
	free(p->toks);
	free(p->ranges);
	free(p);
}

/* ---- os.path.expandvars() ---- */

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

int pattern_expand_path(const char *in, char *out, size_t size)
{
	char user[4096], name[4096];
	size_t used = 0;
	int rc = path_expand_user(in, user, sizeof(user));

	if (rc < 0)
		return rc;
	for (const char *s = user; *s;) {
		const char *value = NULL, *end = s + 1;
		size_t n;

		if (*s == '$' && s[1] == '{' && strchr(s + 2, '}')) {
			const char *close = strchr(s + 2, '}');

			n = (size_t)(close - (s + 2));
			end = close + 1;
			if (n < sizeof(name)) {
				memcpy(name, s + 2, n);
				name[n] = '\0';
				/* Python's environ has no name with '=' (it splits there). */
				value = n && !strchr(name, '=') ? getenv(name) : NULL;
			}
		} else if (*s == '$' && is_name_char(s[1])) {
			for (end = s + 1; is_name_char(*end); end++)
				;
			n = (size_t)(end - (s + 1));
			if (n < sizeof(name)) {
				memcpy(name, s + 1, n);
				name[n] = '\0';
				value = getenv(name);
			}
		}
		/* A variable that is not set: the text stays as it was. */
		if (!value) {
			value = s;
			n = (size_t)(end - s);
		} else {
			n = strlen(value);
		}
		if (used + n >= size)
			return -ENAMETOOLONG;
		memcpy(out + used, value, n);
		used += n;
		s = end;
	}
	if (used >= size)
		return -ENAMETOOLONG;
	out[used] = '\0';
	return 0;
}
