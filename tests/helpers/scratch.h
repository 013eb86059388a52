/* SPDX-License-Identifier: MIT */
/*
 * Scratch directories and a gone process, for the unit tests. A failure
 * fails the calling cmocka test.
 */
#ifndef HUBFS_TESTS_SCRATCH_H
#define HUBFS_TESTS_SCRATCH_H

#include <stddef.h>
#include <sys/types.h>

/* A new empty directory "$TMPDIR/@name.XXXXXX" (no TMPDIR: /tmp) into @dir. */
void scratch_dir_make(char *dir, size_t size, const char *name);

/* Remove @dir and everything below it. 0, or -1 when something stayed. */
int scratch_dir_remove(const char *dir);

/* A pid that certainly belongs to no process: a child that has exited and been reaped. */
pid_t scratch_dead_pid(void);

#endif /* HUBFS_TESTS_SCRATCH_H */
