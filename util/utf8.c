/* SPDX-License-Identifier: MIT */
#include "util/utf8.h"

size_t utf8_seq_len(const unsigned char *p)
{
	size_t n = p[0] < 0x80 ? 1 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 :
		   p[0] >= 0xc2 ? 2 : 0;

	if (n <= 1 || p[0] > 0xf4)
		return p[0] > 0xf4 ? 0 : n;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0; /* the NUL that ends @p too */
	}
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
		return 0;
	return n;
}
