/* SPDX-License-Identifier: Apache-2.0 */
/*
 * W3C Trace Context "traceparent" header, version 00 and the forward
 * compatible rules for later versions:
 *   version "-" trace-id "-" parent-id "-" trace-flags
 *   2 hex    -  32 hex    -  16 hex     -  2 hex
 * Lowercase hex only; version ff, an all-zero trace id or parent id are
 * invalid; version 00 is exactly 55 characters; a later version may be
 * longer, with "-" right after the flags. Header values come from whoever
 * sends the request: a value that is not valid as a whole is ignored as a
 * whole (the span then starts a trace of its own).
 */
#ifndef SONDE_MODEL_TRACEPARENT_H
#define SONDE_MODEL_TRACEPARENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct traceparent {
	uint8_t trace_id[16];
	uint8_t parent_id[8];
	uint8_t flags;
};

/**
 * traceparent_parse() - parse the @len bytes of @v (leading and trailing
 * blanks, spaces or tabs, are allowed as in any header value).
 * Return: true with @out filled when the whole value is valid; false with
 * @out untouched otherwise.
 */
bool traceparent_parse(const char *v, size_t len, struct traceparent *out);

#endif /* SONDE_MODEL_TRACEPARENT_H */
