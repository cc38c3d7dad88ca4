// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the traceparent parser: any header value is
 * survived, and an accepted one is valid as a whole (its canonical form,
 * rebuilt from the parsed fields, is what was sent).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/traceparent.h"

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, \
				__LINE__);                                             \
			abort();                                                       \
		}                                                                      \
	} while (0)

static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct traceparent tp, before;
	const char *v = (const char *)data;
	char canon[55];
	bool zero = true;

	memset(&tp, 0x5a, sizeof(tp));
	before = tp;
	if (!traceparent_parse(v, size, &tp)) {
		CHECK(!memcmp(&tp, &before, sizeof(tp))); /* nothing half-filled */
		return 0;
	}
	while (size && (*v == ' ' || *v == '\t'))
		v++, size--;
	while (size && (v[size - 1] == ' ' || v[size - 1] == '\t'))
		size--;
	CHECK(size >= 55);
	CHECK(!(v[0] == 'f' && v[1] == 'f'));
	CHECK(size == 55 || (v[0] != '0' || v[1] != '0'));
	memcpy(canon, v, 3);
	hex(tp.trace_id, 16, canon + 3);
	canon[35] = '-';
	hex(tp.parent_id, 8, canon + 36);
	canon[52] = '-';
	hex(&tp.flags, 1, canon + 53);
	CHECK(!memcmp(canon, v, 55));
	for (int i = 0; i < 16; i++)
		zero &= !tp.trace_id[i];
	CHECK(!zero);
	zero = true;
	for (int i = 0; i < 8; i++)
		zero &= !tp.parent_id[i];
	CHECK(!zero);
	return 0;
}
