/* SPDX-License-Identifier: MIT */
/* Byte counts for people: "39.3 MiB", and back from "10G" or "512MiB". */
#ifndef HUBFS_UTIL_SIZE_H
#define HUBFS_UTIL_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* "0 B", "999 B", "1.0 KiB", "39.3 MiB", ... into @out. */
void size_format(uint64_t bytes, char *out, size_t size);

/*
 * Parse "123", "10K", "1.5G", "512MiB", "2 GB" (binary multiples either
 * way: K = KiB = 1024). Returns 0 or -EINVAL (also on overflow).
 */
int size_parse(const char *text, uint64_t *out);

#endif /* HUBFS_UTIL_SIZE_H */
