/* SPDX-License-Identifier: MIT */
/*
 * FNV-1a, 64 bits: for in-memory tables and fingerprints (the inode and
 * object tables, a block's content stamp, a resolve in flight), never for
 * anything an adversary may choose to collide.
 */
#ifndef HUBFS_UTIL_HASH_H
#define HUBFS_UTIL_HASH_H

#include <stdint.h>

#define HASH_FNV1A_START UINT64_C(1469598103934665603)

/* Fold @v (a byte, or a wider word taken whole) into @h. */
static inline uint64_t hash_fnv1a(uint64_t h, uint64_t v)
{
	return (h ^ v) * UINT64_C(1099511628211);
}

/* Fold the bytes of the string @s into @h. */
static inline uint64_t hash_fnv1a_str(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = hash_fnv1a(h, (unsigned char)*s);
	return h;
}

#endif /* HUBFS_UTIL_HASH_H */
