// SPDX-License-Identifier: Apache-2.0
#include "util/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp, min;

	if (n == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07, min = 0x10000;
	else
		return 0; /* a continuation byte, 0xc0/0xc1 (overlong) or 0xf5.. */
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t len;

		if (p[i] < 0x80) {
			i++;
			continue;
		}
		len = utf8_seq_len(p + i, n - i);
		if (!len)
			return false;
		i += len;
	}
	return true;
}

size_t utf8_sanitize(char *dst, size_t size, const char *src, size_t n)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t out = 0;

	if (size == 0)
		return 0;
	for (size_t i = 0; i < n && p[i];) {
		size_t len = p[i] < 0x80 ? 1 : utf8_seq_len(p + i, n - i);
		const char *from = len ? src + i : UTF8_REPLACEMENT;
		size_t put = len ? len : sizeof(UTF8_REPLACEMENT) - 1;

		if (out + put > size - 1)
			break;
		memcpy(dst + out, from, put);
		out += put;
		i += len ? len : 1;
	}
	dst[out] = '\0';
	return out;
}

bool utf8_fix(char *buf, size_t size)
{
	size_t n;
	char *copy;

	if (size == 0)
		return false;
	n = strnlen(buf, size);
	if (n == size) { /* not terminated: the last byte goes */
		buf[--n] = '\0';
		if (utf8_valid(buf, n))
			return true;
	} else if (utf8_valid(buf, n)) {
		return false;
	}
	copy = malloc(n + 1);
	if (!copy) {
		/* No room to rebuild it: cut it before its first invalid byte. */
		size_t i = 0;

		while (i < n) {
			size_t len = utf8_seq_len((unsigned char *)buf + i, n - i);

			if (!len)
				break;
			i += len;
		}
		buf[i] = '\0';
		return true;
	}
	memcpy(copy, buf, n + 1);
	utf8_sanitize(buf, size, copy, n);
	free(copy);
	return true;
}

/* The escaped form of the character at @s (@n bytes left) in @tmp (8 bytes
 * at least); sets *@used to the bytes it stands for. */
static size_t escape_one(const unsigned char *s, size_t n, char *tmp, size_t *used)
{
	static const char digits[] = "0123456789abcdef";
	size_t len = s[0] < 0x80 ? 1 : utf8_seq_len(s, n);
	size_t out = 0;

	if (len == 0) {
		*used = 1;
		goto hex;
	}
	*used = len;
	if (len == 1 && (s[0] < 0x20 || s[0] == 0x7f))
		goto hex;
	if (len == 1 && s[0] == '\\') {
		tmp[0] = tmp[1] = '\\';
		return 2;
	}
	if (len == 2 && s[0] == 0xc2 && s[1] < 0xa0) { /* U+0080..U+009F */
		for (size_t i = 0; i < 2; i++) {
			tmp[out++] = '\\';
			tmp[out++] = 'x';
			tmp[out++] = digits[s[i] >> 4];
			tmp[out++] = digits[s[i] & 15];
		}
		return out;
	}
	memcpy(tmp, s, len);
	return len;
hex:
	tmp[0] = '\\';
	tmp[1] = 'x';
	tmp[2] = digits[s[0] >> 4];
	tmp[3] = digits[s[0] & 15];
	return 4;
}

void utf8_put_escaped(FILE *f, const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n;) {
		char tmp[8];
		size_t used, len = escape_one((const unsigned char *)s + i, n - i, tmp, &used);

		fwrite(tmp, 1, len, f);
		i += used;
	}
}

size_t utf8_escape(char *dst, size_t size, const char *s)
{
	size_t n = strlen(s), out = 0;

	if (size == 0)
		return 0;
	for (size_t i = 0; i < n;) {
		char tmp[8];
		size_t used, len = escape_one((const unsigned char *)s + i, n - i, tmp, &used);

		if (out + len > size - 1)
			break;
		memcpy(dst + out, tmp, len);
		out += len;
		i += used;
	}
	dst[out] = '\0';
	return out;
}
