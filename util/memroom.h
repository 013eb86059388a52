/* SPDX-License-Identifier: MIT */
/*
 * How much more the page cache may take before the kernel has to take
 * some back (reclaim): what the mount asks before it lets go of the cache
 * files' pages behind a reader, which hold what the mount's own pages
 * hold (fs/ops.c, drop_behind()). Dropping them costs a read CPU on its
 * path; keeping them where memory is short evicts other pages, and in a
 * memory cgroup the reader's own.
 *
 * The room is the least of: the system's free memory (MemFree in
 * /proc/meminfo, less the zones' high watermarks in /proc/zoneinfo, which
 * kswapd reclaims towards; MemAvailable counts the page cache, and filling
 * that is what evicts other files' pages), and, in each memory cgroup that holds
 * this process, from its own up to the root, what its limit leaves (v2:
 * memory.max and memory.high against memory.current; v1:
 * memory.limit_in_bytes against memory.usage_in_bytes). A file that
 * cannot be read or parsed counts for nothing.
 *
 * Threads: thread-safe (no state).
 */
#ifndef HUBFS_UTIL_MEMROOM_H
#define HUBFS_UTIL_MEMROOM_H

#include <stdint.h>

/* Nothing could be read: no limit known. */
#define MEM_ROOM_UNKNOWN UINT64_MAX

/*
 * The room in bytes, or MEM_ROOM_UNKNOWN. @proc and @cgroup_root are
 * "/proc" and "/sys/fs/cgroup" (the tests give trees of their own): the
 * process's cgroups are read from @proc/self/cgroup, v1's memory
 * hierarchy is @cgroup_root/memory, v2's @cgroup_root itself or, on a
 * hybrid system, @cgroup_root/unified.
 */
uint64_t mem_room(const char *proc, const char *cgroup_root);

/*
 * The zones' high watermarks in bytes, from @proc/zoneinfo (0 when it
 * cannot be read), which mem_room() takes off the free memory. They move
 * only when an administrator or a memory hot-plug moves them (and for a
 * short boost after fragmentation), and zoneinfo is long where there are
 * many CPUs (each one's lists), each zone's lock taken to print it: a
 * caller that measures often reads them seldom, and gives them to
 * mem_room_under().
 */
uint64_t mem_reclaim_line(const char *proc);

/* mem_room() with the watermarks given (mem_reclaim_line()'s), not read. */
uint64_t mem_room_under(const char *proc, const char *cgroup_root, uint64_t reclaim_line);

#endif /* HUBFS_UTIL_MEMROOM_H */
