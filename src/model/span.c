// SPDX-License-Identifier: Apache-2.0
#include "model/span.h"

#include <string.h>

#include "model/traceparent.h"
#include "util/utf8.h"

void span_sanitize(struct span *s)
{
	utf8_fix(s->method, sizeof(s->method));
	utf8_fix(s->path, sizeof(s->path));
	utf8_fix(s->route, sizeof(s->route));
	utf8_fix(s->host, sizeof(s->host));
	utf8_fix(s->error, sizeof(s->error));
}

bool span_take_traceparent(struct span *s, const char *value)
{
	struct traceparent tp;

	if (!traceparent_parse(value, strlen(value), &tp))
		return false;
	memcpy(s->trace_id, tp.trace_id, sizeof(s->trace_id));
	memcpy(s->parent_span_id, tp.parent_id, sizeof(s->parent_span_id));
	s->trace_flags = tp.flags;
	return true;
}
