/* SPDX-License-Identifier: MIT */
/*
 * CRC-32C (Castagnoli), the per-chunk checksum of cache blocks.
 *
 * Hardware (SSE4.2 crc32) when the CPU has it, a table otherwise; both
 * give the standard value (crc32c("123456789") == 0xe3069283).
 */
#ifndef HUBFS_UTIL_CRC32C_H
#define HUBFS_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend @crc (0 to start) over @len bytes. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

/*
 * The CRC of each @chunk-byte piece of @data (the last may be shorter)
 * into out[0 .. ceil(len / chunk) - 1]. Several pieces are computed at
 * once, which is about three times faster than one after another.
 */
void crc32c_chunks(const void *data, size_t len, size_t chunk, uint32_t *out);

/*
 * Copy @len bytes from @src to @dst and compute the per-chunk CRCs as
 * crc32c_chunks() does, in one pass: the data is read once, which makes
 * checking it nearly free next to the copy itself.
 */
void crc32c_copy_chunks(void *dst, const void *src, size_t len, size_t chunk,
			uint32_t *out);

#endif /* HUBFS_UTIL_CRC32C_H */
