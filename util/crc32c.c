/* SPDX-License-Identifier: MIT */
#include "util/crc32c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define POLY 0x82f63b78u /* reflected Castagnoli polynomial */

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++) {
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
	}
}

/* Slicing-by-8 on the inverted register. */
static uint32_t sw_update(uint32_t c, const unsigned char *p, size_t len)
{
	pthread_once(&table_once, table_init);
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		v ^= c;
		c = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^
		    table[5][(v >> 16) & 0xff] ^ table[4][(v >> 24) & 0xff] ^
		    table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
		    table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ table[0][(c ^ *p++) & 0xff];
	return c;
}

#if defined(__x86_64__)
#define HAVE_HW 1

__attribute__((target("sse4.2"))) static uint32_t hw_update(uint32_t c,
							    const unsigned char *p,
							    size_t len)
{
	uint64_t c64 = c;

	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c64 = __builtin_ia32_crc32di(c64, v);
		p += 8;
		len -= 8;
	}
	c = (uint32_t)c64;
	while (len--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}

/* Four equal pieces at once: four independent dependency chains. */
__attribute__((target("sse4.2"))) static void hw_four(const unsigned char *p, size_t n,
						      uint32_t out[4])
{
	uint64_t a = ~0u, b = ~0u, c = ~0u, d = ~0u;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t va, vb, vc, vd;

		memcpy(&va, p + i, 8);
		memcpy(&vb, p + n + i, 8);
		memcpy(&vc, p + 2 * n + i, 8);
		memcpy(&vd, p + 3 * n + i, 8);
		a = __builtin_ia32_crc32di(a, va);
		b = __builtin_ia32_crc32di(b, vb);
		c = __builtin_ia32_crc32di(c, vc);
		d = __builtin_ia32_crc32di(d, vd);
	}
	out[0] = ~hw_update((uint32_t)a, p + i, n - i);
	out[1] = ~hw_update((uint32_t)b, p + n + i, n - i);
	out[2] = ~hw_update((uint32_t)c, p + 2 * n + i, n - i);
	out[3] = ~hw_update((uint32_t)d, p + 3 * n + i, n - i);
}

static bool have_hw(void)
{
	/* Threads may race to fill it in; they all write the same value. */
	static atomic_int cached = -1;
	int v = atomic_load_explicit(&cached, memory_order_relaxed);

	if (v < 0) {
		v = __builtin_cpu_supports("sse4.2") ? 1 : 0;
		atomic_store_explicit(&cached, v, memory_order_relaxed);
	}
	return v == 1;
}
#else
#define HAVE_HW 0
#endif

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

#if HAVE_HW
	if (have_hw())
		return ~hw_update(~crc, p, len);
#endif
	return ~sw_update(~crc, p, len);
}

void crc32c_chunks(const void *data, size_t len, size_t chunk, uint32_t *out)
{
	const unsigned char *p = data;
	size_t i = 0;

#if HAVE_HW
	if (have_hw()) {
		for (; i + 4 * chunk <= len; i += 4 * chunk, out += 4)
			hw_four(p + i, chunk, out);
	}
#endif
	for (; i < len; i += chunk)
		*out++ = crc32c(0, p + i, len - i < chunk ? len - i : chunk);
}

size_t crc32c_line_append(char *text, size_t len, size_t size)
{
	int n;

	if (len >= size)
		return 0;
	n = snprintf(text + len, size - len, "crc %08x\n", crc32c(0, text, len));
	return n == CRC32C_LINE_LEN && (size_t)n < size - len ? len + CRC32C_LINE_LEN : 0;
}

bool crc32c_line_check(const char *data, size_t len)
{
	size_t body = len - CRC32C_LINE_LEN;
	uint32_t crc = 0;

	if (len <= CRC32C_LINE_LEN || data[body - 1] != '\n' ||
	    memcmp(data + body, "crc ", 4) != 0 || data[len - 1] != '\n')
		return false;
	for (size_t i = body + 4; i < len - 1; i++) {
		char h = data[i];

		if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f')))
			return false; /* one spelling: lower-case hex */
		crc = crc << 4 | (uint32_t)(h <= '9' ? h - '0' : h - 'a' + 10);
	}
	return crc == crc32c(0, data, body);
}
