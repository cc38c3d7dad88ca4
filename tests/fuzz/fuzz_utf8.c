// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for util/utf8: whatever bytes come in, what comes out
 * is valid UTF-8 that fits its buffer, valid input is kept as it is, and
 * the escaped form has no control characters.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, \
				__LINE__);                                             \
			abort();                                                       \
		}                                                                      \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t n = strnlen(in, size), out_len, cap = size % 97 + 1;
	char *out = malloc(3 * size + 1), *small = malloc(cap), *esc = malloc(4 * size + 1);
	char *fix = malloc(n + 1);

	if (!out || !small || !esc || !fix)
		abort();
	out_len = utf8_sanitize(out, 3 * size + 1, in, size);
	CHECK(out_len == strlen(out));
	CHECK(utf8_valid(out, out_len));
	if (utf8_valid(in, n))
		CHECK(out_len == n && !memcmp(out, in, n));
	else
		CHECK(strstr(out, UTF8_REPLACEMENT) != NULL);
	/* into a buffer too small: still valid, a prefix of the full result */
	out_len = utf8_sanitize(small, cap, in, size);
	CHECK(out_len < cap && utf8_valid(small, out_len));
	CHECK(!memcmp(small, out, out_len));
	/* in place */
	memcpy(fix, in, n);
	fix[n] = '\0';
	utf8_fix(fix, n + 1);
	CHECK(utf8_valid(fix, strlen(fix)));
	/* escaped for a text line */
	out_len = utf8_escape(esc, 4 * size + 1, fix);
	CHECK(utf8_valid(esc, out_len));
	for (size_t i = 0; i < out_len; i++)
		CHECK((unsigned char)esc[i] >= 0x20 && esc[i] != 0x7f);
	free(out);
	free(small);
	free(esc);
	free(fix);
	return 0;
}
