/* SPDX-License-Identifier: MIT */
/* The page cache's room before reclaim: see memroom.h. */
#include "util/memroom.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fileio.h"

#define SMALL_FILE_MAX (64u << 10) /* meminfo is 1.5 KiB, a cgroup file a line */
#define ZONEINFO_MAX (4u << 20)    /* 5 KiB here; per-CPU lists grow it on big machines */
/* v1 writes "no limit" as the largest page multiple below 2^63. */
#define V1_NO_LIMIT (UINT64_C(1) << 62)

/*
 * @dir/@name's whole text, of @max bytes at most, NUL-terminated, into @b
 * (released by the caller, whatever the answer).
 */
static bool read_text(const char *dir, const char *name, size_t max, struct buf *b)
{
	char path[PATH_MAX];

	buf_init(b, max);
	return snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path) &&
	       fileio_read_all(path, max, b) == 0;
}

/* A decimal count at @p: digits, no sign or space, into *@out; *@end after it. */
static bool count_at(const char *p, const char **end, uint64_t *out)
{
	char *e;

	if (*p < '0' || *p > '9')
		return false;
	errno = 0;
	*out = strtoull(p, &e, 10);
	*end = e;
	return errno == 0;
}

/* A line's end: the newline, or the text's. */
static bool at_line_end(const char *p)
{
	return *p == '\n' || *p == '\0';
}

/*
 * A cgroup file of one value: a decimal count of bytes, or "max" (v2's
 * no limit: UINT64_MAX). False when it is missing or anything else.
 */
static bool read_value(const char *dir, const char *name, uint64_t *out)
{
	struct buf b;
	const char *t, *end;
	bool ok = false;

	if (read_text(dir, name, SMALL_FILE_MAX, &b)) {
		t = buf_cstr(&b);
		if (strncmp(t, "max", 3) == 0 && at_line_end(t + 3)) {
			*out = UINT64_MAX;
			ok = true;
		} else {
			ok = count_at(t, &end, out) && at_line_end(end);
		}
	}
	buf_release(&b);
	return ok;
}

static uint64_t least(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* What a limit leaves over a use: 0 once it is reached. */
static uint64_t left(uint64_t limit, uint64_t used)
{
	return limit > used ? limit - used : 0;
}

/* The room under one cgroup directory's own limits, v2's or v1's. */
static uint64_t cgroup_dir_room(const char *dir)
{
	uint64_t max, high, current, limit, usage;

	if (read_value(dir, "memory.current", &current)) {
		limit = UINT64_MAX;
		if (read_value(dir, "memory.max", &max))
			limit = least(limit, max);
		if (read_value(dir, "memory.high", &high))
			limit = least(limit, high);
		return limit == UINT64_MAX ? MEM_ROOM_UNKNOWN : left(limit, current);
	}
	if (read_value(dir, "memory.limit_in_bytes", &limit) &&
	    read_value(dir, "memory.usage_in_bytes", &usage) && limit < V1_NO_LIMIT)
		return left(limit, usage);
	return MEM_ROOM_UNKNOWN;
}

/* Absolute, and no component "." or "..": nothing that could lead out of a base. */
static bool path_stays_below(const char *path)
{
	if (path[0] != '/')
		return false;
	for (const char *c = path; c; c = strchr(c + 1, '/')) {
		size_t n = strcspn(c + 1, "/");

		if ((n == 1 && c[1] == '.') || (n == 2 && c[1] == '.' && c[2] == '.'))
			return false;
	}
	return true;
}

/*
 * The least room under @base@path and each directory above it up to
 * @base: a cgroup's limit binds every cgroup below it. @path is the
 * kernel's; one that could lead out of @base is not walked.
 */
static uint64_t cgroup_path_room(const char *base, const char *path)
{
	char dir[PATH_MAX];
	uint64_t room = MEM_ROOM_UNKNOWN;
	size_t base_len = strlen(base), len;
	char *slash;

	if (!path_stays_below(path) ||
	    snprintf(dir, sizeof(dir), "%s%s", base, path) >= (int)sizeof(dir))
		return MEM_ROOM_UNKNOWN;
	for (;;) {
		len = strlen(dir);
		while (len > base_len && dir[len - 1] == '/')
			dir[--len] = '\0'; /* the root's "/" */
		room = least(room, cgroup_dir_room(dir));
		if (len <= base_len)
			return room;
		slash = strrchr(dir + base_len, '/');
		if (!slash)
			return room;
		*slash = '\0';
	}
}

/*
 * Free memory under the zones' high watermarks is what kswapd reclaims
 * towards, so it is no room. Each zone has a line "high N" (pages); the
 * per-CPU lists' "high:" lines are not it.
 */
uint64_t mem_reclaim_line(const char *proc)
{
	uint64_t pages = 0, n;
	const char *line, *next, *end;
	struct buf b;
	long page;

	if (read_text(proc, "zoneinfo", ZONEINFO_MAX, &b)) {
		for (line = buf_cstr(&b); line; line = next) {
			next = strchr(line, '\n');
			next = next ? next + 1 : NULL;
			line += strspn(line, " \t");
			if (strncmp(line, "high ", 5) != 0)
				continue;
			line += 5 + strspn(line + 5, " ");
			if (count_at(line, &end, &n) && at_line_end(end) &&
			    n <= (UINT64_MAX >> 20) - pages)
				pages += n;
		}
	}
	buf_release(&b);
	page = sysconf(_SC_PAGESIZE);
	return pages * (uint64_t)(page > 0 ? page : 4096);
}

/* MemFree, in bytes, from @proc/meminfo. */
static uint64_t free_memory(const char *proc)
{
	uint64_t kib = 0;
	const char *text, *line, *end;
	struct buf b;
	bool found = false;

	if (read_text(proc, "meminfo", SMALL_FILE_MAX, &b)) {
		text = buf_cstr(&b);
		line = strncmp(text, "MemFree:", 8) == 0 ? text : strstr(text, "\nMemFree:");
		if (line) {
			line += (*line == '\n') + 8;
			line += strspn(line, " ");
			found = count_at(line, &end, &kib) && strncmp(end, " kB", 3) == 0 &&
				kib <= UINT64_MAX / 1024;
		}
	}
	buf_release(&b);
	return found ? kib * 1024 : MEM_ROOM_UNKNOWN;
}

uint64_t mem_room(const char *proc, const char *cgroup_root)
{
	return mem_room_under(proc, cgroup_root, mem_reclaim_line(proc));
}

uint64_t mem_room_under(const char *proc, const char *cgroup_root, uint64_t reclaim_line)
{
	char base[PATH_MAX];
	uint64_t room = free_memory(proc);
	struct buf b;
	char *line, *next, *controllers, *cg;

	if (room != MEM_ROOM_UNKNOWN)
		room = room > reclaim_line ? room - reclaim_line : 0;

	if (!read_text(proc, "self/cgroup", SMALL_FILE_MAX, &b) || !b.data) {
		buf_release(&b);
		return room;
	}
	/* "ID:CONTROLLERS:PATH" per line; v2's is "0::PATH". */
	for (line = b.data; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		controllers = strchr(line, ':');
		cg = controllers ? strchr(controllers + 1, ':') : NULL;
		if (!cg)
			continue;
		*cg++ = '\0';
		controllers++;
		if (*controllers == '\0') {
			/* v2: mounted at the root, or beside v1 as "unified" */
			room = least(room, cgroup_path_room(cgroup_root, cg));
			if (snprintf(base, sizeof(base), "%s/unified", cgroup_root) < (int)sizeof(base))
				room = least(room, cgroup_path_room(base, cg));
		} else {
			for (char *c = controllers, *save = NULL, *name;
			     (name = strtok_r(c, ",", &save)); c = NULL) {
				if (strcmp(name, "memory") == 0 &&
				    snprintf(base, sizeof(base), "%s/memory", cgroup_root) <
					    (int)sizeof(base))
					room = least(room, cgroup_path_room(base, cg));
			}
		}
	}
	buf_release(&b);
	return room;
}
