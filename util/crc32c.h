/* SPDX-License-Identifier: MIT */
/*
 * CRC-32C (Castagnoli), the per-chunk checksum of cache blocks.
 *
 * Hardware (SSE4.2 crc32) when the CPU has it, a table otherwise; both
 * give the standard value (crc32c("123456789") == 0xe3069283).
 */
#ifndef HUBFS_UTIL_CRC32C_H
#define HUBFS_UTIL_CRC32C_H

#include <stdbool.h>
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
 * The last line of the cache's small text files (a ref, a commit's date,
 * the stamp key): "crc <8 lower hex>\n", the CRC-32C of every byte
 * before it, which end a line of their own.
 */
#define CRC32C_LINE_LEN 13

/*
 * Append that line to @text[0, @len), NUL-terminated, in @size bytes.
 * Returns the new length, or 0 when it does not fit.
 */
size_t crc32c_line_append(char *text, size_t len, size_t size);

/*
 * Whether @data[0, @len) ends in that line, spelt exactly so, after a
 * newline, with the CRC of the bytes before it. Its body is then the
 * first @len - CRC32C_LINE_LEN bytes.
 */
bool crc32c_line_check(const char *data, size_t len);

#endif /* HUBFS_UTIL_CRC32C_H */
