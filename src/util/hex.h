/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SONDE_UTIL_HEX_H
#define SONDE_UTIL_HEX_H

/* Value of one hexadecimal digit, or -1. */
static inline int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif /* SONDE_UTIL_HEX_H */
