// SPDX-License-Identifier: Apache-2.0
#include "model/traceparent.h"

#include <string.h>

/* One lowercase hex digit, or -1 (W3C: uppercase is invalid). */
static int lower_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* @n bytes from 2 * @n hex digits; false on a bad digit. */
static bool hex_bytes(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = lower_hex(s[2 * i]), lo = lower_hex(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

#define TP_LEN 55 /* "00-" 32 "-" 16 "-" 2 */

bool traceparent_parse(const char *v, size_t len, struct traceparent *out)
{
	struct traceparent tp;
	uint8_t version;

	if (!v)
		return false;
	while (len && (*v == ' ' || *v == '\t'))
		v++, len--;
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	if (len < TP_LEN || v[2] != '-' || v[35] != '-' || v[52] != '-')
		return false;
	if (!hex_bytes(v, &version, 1) || version == 0xff)
		return false;
	if (version == 0 ? len != TP_LEN : (len > TP_LEN && v[TP_LEN] != '-'))
		return false;
	if (!hex_bytes(v + 3, tp.trace_id, 16) || !hex_bytes(v + 36, tp.parent_id, 8) ||
	    !hex_bytes(v + 53, &tp.flags, 1))
		return false;
	if (all_zero(tp.trace_id, 16) || all_zero(tp.parent_id, 8))
		return false;
	*out = tp;
	return true;
}
