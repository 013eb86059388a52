/* SPDX-License-Identifier: MIT */
/*
 * mem_room() against trees of its own: a /proc (meminfo, self/cgroup) and
 * a /sys/fs/cgroup of each kind the kernel mounts (v1's memory hierarchy,
 * v2 alone, v2 beside v1 as "unified"), with limits at several levels.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/helpers/scratch.h"
#include "util/fileio.h"
#include "util/memroom.h"

#define MIB (UINT64_C(1) << 20)
#define V1_UNLIMITED "9223372036854771712\n" /* what v1 writes for no limit */

struct tree {
	char dir[256];
	char proc[512];
	char cgroup[512];
};

static int setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	scratch_dir_make(t->dir, sizeof(t->dir), "hubfs-test-memroom");
	snprintf(t->proc, sizeof(t->proc), "%s/proc", t->dir);
	snprintf(t->cgroup, sizeof(t->cgroup), "%s/cgroup", t->dir);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tree *t = *state;

	scratch_dir_remove(t->dir);
	free(t);
	return 0;
}

/* Write @text at @root/@rel, its directories made. */
static void put(const char *root, const char *rel, const char *text)
{
	char path[PATH_MAX * 2], dir[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(fileio_mkdirs(dir, 0755), 0);
	assert_int_equal(fileio_write_atomic(path, text, strlen(text), 0644, false), 0);
}

static void meminfo(const struct tree *t, uint64_t free_kib)
{
	char text[256];

	snprintf(text, sizeof(text),
		 "MemTotal:       24683772 kB\nMemFree:        %llu kB\n"
		 "MemAvailable:   23015240 kB\nCached:          7460544 kB\n",
		 (unsigned long long)free_kib);
	put(t->proc, "meminfo", text);
}

static void test_free_memory_alone(void **state)
{
	struct tree *t = *state;

	assert_int_equal(mem_room(t->proc, t->cgroup), MEM_ROOM_UNKNOWN); /* nothing at all */
	meminfo(t, 4096);
	assert_int_equal(mem_room(t->proc, t->cgroup), 4 * MIB);
	/* MemFree first in the file counts too; MemAvailable is not it. */
	put(t->proc, "meminfo", "MemFree: 2048 kB\nMemAvailable: 999999 kB\n");
	assert_int_equal(mem_room(t->proc, t->cgroup), 2 * MIB);
	put(t->proc, "meminfo", "MemAvailable:   23015240 kB\n");
	assert_int_equal(mem_room(t->proc, t->cgroup), MEM_ROOM_UNKNOWN);
}

/*
 * Free memory under the zones' high watermarks is what kswapd reclaims
 * towards: no room. The per-CPU lists' "high:" lines are not watermarks.
 */
static void test_watermarks_are_no_room(void **state)
{
	struct tree *t = *state;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	meminfo(t, 1024 * 1024); /* 1 GiB */
	put(t->proc, "zoneinfo",
	    "Node 0, zone      DMA\n  per-node stats\n      nr_inactive_anon 3\n"
	    "  pages free     3840\n        boost    0\n        min      10\n"
	    "        low      13\n        high     16\n        spanned  4095\n"
	    "  pagesets\n    cpu: 0\n              count: 0\n              high:  999999\n"
	    "Node 0, zone   Normal\n  pages free     100\n        min      14769\n"
	    "        low      20163\n        high     25552\n"
	    "  pagesets\n    cpu: 0\n              count: 10\n              high:  999999\n");
	assert_int_equal(mem_room(t->proc, t->cgroup), 1024 * MIB - (16 + 25552) * page);
	/* Read apart, and given: mem_room_under() takes the line it is given. */
	assert_int_equal(mem_reclaim_line(t->proc), (16 + 25552) * page);
	assert_int_equal(mem_room_under(t->proc, t->cgroup, 0), 1024 * MIB);
	assert_int_equal(mem_room_under(t->proc, t->cgroup, 8 * page), 1024 * MIB - 8 * page);
	/* Free memory under them: none, not a wrapped count. */
	meminfo(t, 1024);
	assert_int_equal(mem_room(t->proc, t->cgroup), 0);
	/* A line that is not one number counts for nothing. */
	meminfo(t, 1024 * 1024);
	put(t->proc, "zoneinfo", "        high     12x\n        high\n        high     -3\n");
	assert_int_equal(mem_room(t->proc, t->cgroup), 1024 * MIB);
}

/* v1: the limit of the process's cgroup, and a tighter one above it, bind. */
static void test_v1_limits_up_the_hierarchy(void **state)
{
	struct tree *t = *state;

	meminfo(t, 16 * 1024 * 1024); /* 16 GiB free */
	put(t->proc, "self/cgroup", "9:name=systemd:/\n5:devices:/\n4:cpu,memory:/jobs/train\n0::/\n");
	put(t->cgroup, "memory/memory.limit_in_bytes", V1_UNLIMITED);
	put(t->cgroup, "memory/memory.usage_in_bytes", "7677030400\n");
	put(t->cgroup, "memory/jobs/memory.limit_in_bytes", V1_UNLIMITED);
	put(t->cgroup, "memory/jobs/memory.usage_in_bytes", "100\n");
	put(t->cgroup, "memory/jobs/train/memory.limit_in_bytes", "1677721600\n"); /* 1,600 MiB */
	put(t->cgroup, "memory/jobs/train/memory.usage_in_bytes", "524288000\n");  /* 500 MiB */
	assert_int_equal(mem_room(t->proc, t->cgroup), 1100 * MIB);
	/* A parent's limit binds its children. */
	put(t->cgroup, "memory/jobs/memory.limit_in_bytes", "1073741824\n");
	put(t->cgroup, "memory/jobs/memory.usage_in_bytes", "943718400\n");
	assert_int_equal(mem_room(t->proc, t->cgroup), 124 * MIB);
	/* Over the limit: no room, not a wrapped count. */
	put(t->cgroup, "memory/jobs/memory.usage_in_bytes", "2000000000\n");
	assert_int_equal(mem_room(t->proc, t->cgroup), 0);
	/* The free memory binds when it is the least. */
	put(t->cgroup, "memory/jobs/memory.limit_in_bytes", V1_UNLIMITED);
	meminfo(t, 1024);
	assert_int_equal(mem_room(t->proc, t->cgroup), MIB);
}

/* v2, alone and beside v1: memory.max and memory.high against memory.current. */
static void test_v2_max_and_high(void **state)
{
	struct tree *t = *state;

	meminfo(t, 16 * 1024 * 1024);
	put(t->proc, "self/cgroup", "0::/user.slice/job\n");
	put(t->cgroup, "user.slice/job/memory.current", "104857600\n"); /* 100 MiB */
	put(t->cgroup, "user.slice/job/memory.max", "max\n");
	put(t->cgroup, "user.slice/job/memory.high", "max\n");
	assert_int_equal(mem_room(t->proc, t->cgroup), 16 * 1024 * MIB); /* no limit */
	put(t->cgroup, "user.slice/job/memory.max", "1073741824\n");
	assert_int_equal(mem_room(t->proc, t->cgroup), 924 * MIB);
	put(t->cgroup, "user.slice/job/memory.high", "524288000\n");
	assert_int_equal(mem_room(t->proc, t->cgroup), 400 * MIB);
	put(t->cgroup, "user.slice/memory.current", "0\n");
	put(t->cgroup, "user.slice/memory.max", "209715200\n");
	assert_int_equal(mem_room(t->proc, t->cgroup), 200 * MIB);

	/* The same tree under "unified", as v2 sits beside v1. */
	char from[PATH_MAX * 2], to[PATH_MAX * 2];

	snprintf(from, sizeof(from), "%s/user.slice", t->cgroup);
	snprintf(to, sizeof(to), "%s/unified", t->cgroup);
	assert_int_equal(fileio_mkdirs(to, 0755), 0);
	snprintf(to, sizeof(to), "%s/unified/user.slice", t->cgroup);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(mem_room(t->proc, t->cgroup), 200 * MIB);
}

/* What the files may hold that is not a limit counts for nothing. */
static void test_bad_values_count_for_nothing(void **state)
{
	struct tree *t = *state;

	meminfo(t, 1024 * 1024); /* 1 GiB */
	put(t->proc, "self/cgroup", "4:memory:/a\n0::/b\n");
	put(t->cgroup, "memory/a/memory.limit_in_bytes", "12abc\n");
	put(t->cgroup, "memory/a/memory.usage_in_bytes", "1\n");
	put(t->cgroup, "b/memory.current", "-5\n");
	put(t->cgroup, "b/memory.max", "1\n");
	assert_int_equal(mem_room(t->proc, t->cgroup), 1024 * MIB);
	put(t->cgroup, "memory/a/memory.limit_in_bytes", "99999999999999999999999\n"); /* ERANGE */
	assert_int_equal(mem_room(t->proc, t->cgroup), 1024 * MIB);
	/* A path that would climb out of the tree is not walked... */
	put(t->proc, "self/cgroup", "4:memory:/../../x\n");
	put(t->dir, "x/memory.limit_in_bytes", "1\n");
	put(t->dir, "x/memory.usage_in_bytes", "1\n");
	assert_int_equal(mem_room(t->proc, t->cgroup), 1024 * MIB);
	put(t->proc, "self/cgroup", "4:memory:/a/./..\n");
	assert_int_equal(mem_room(t->proc, t->cgroup), 1024 * MIB);
	/* ...but a cgroup whose name starts with a dot is one like any. */
	put(t->proc, "self/cgroup", "4:memory:/.job/..x\n");
	put(t->cgroup, "memory/.job/..x/memory.limit_in_bytes", "104857600\n");
	put(t->cgroup, "memory/.job/..x/memory.usage_in_bytes", "0\n");
	assert_int_equal(mem_room(t->proc, t->cgroup), 100 * MIB);
	/* Lines with no path, and a missing file, are skipped. */
	put(t->proc, "self/cgroup", "garbage\n4:memory\n\n");
	assert_int_equal(mem_room(t->proc, t->cgroup), 1024 * MIB);
}

/* This machine's own: every Linux has a meminfo to read. */
static void test_this_machine(void **state)
{
	(void)state;
	assert_true(mem_room("/proc", "/sys/fs/cgroup") != MEM_ROOM_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_free_memory_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watermarks_are_no_room, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v1_limits_up_the_hierarchy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_max_and_high, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_values_count_for_nothing, setup, teardown),
		cmocka_unit_test(test_this_machine),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
