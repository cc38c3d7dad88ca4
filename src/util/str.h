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

#endif /* SONDE_UTIL_STR_H */
