/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded string copies for the per-span path, where snprintf("%s") cost
 * a fifth of Sonde's CPU: always NUL-terminated, truncating. */
#ifndef SONDE_UTIL_STR_H
#define SONDE_UTIL_STR_H

#include <string.h>

/* Copy at most @n bytes of @src (stopping at its NUL) into @dst of @size. */
static inline void str_copy_n(char *dst, size_t size, const char *src, size_t n)
{
	const char *end;

	if (size == 0)
		return;
	if (n > size - 1)
		n = size - 1;
	end = memchr(src, '\0', n);
	if (end)
		n = end - src;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static inline void str_copy(char *dst, size_t size, const char *src)
{
	str_copy_n(dst, size, src, size ? size - 1 : 0);
}

/* Dotted quad of the 4 bytes at @a into @out (16 bytes at least). glibc's
 * inet_ntop goes through sprintf, and there are two per span. */
static inline void str_ipv4(const unsigned char *a, char *out)
{
	for (int i = 0; i < 4; i++) {
		unsigned int v = a[i];

		if (v >= 100)
			*out++ = '0' + v / 100;
		if (v >= 10)
			*out++ = '0' + v / 10 % 10;
		*out++ = '0' + v % 10;
		*out++ = i < 3 ? '.' : '\0';
	}
}

#endif /* SONDE_UTIL_STR_H */
