// SPDX-License-Identifier: Apache-2.0
/* OTLP JSON from protobuf-c messages. See otlp_json.h. */
#include "export/otlp_json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jbuf {
	char *data;
	size_t len, cap;
	bool failed;
};

static void put(struct jbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *grown;

		while (cap < b->len + n + 1)
			cap *= 2;
		grown = realloc(b->data, cap);
		if (!grown) {
			b->failed = true;
			return;
		}
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

static void puts_(struct jbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putf(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct jbuf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A JSON string: quotes, backslashes and control characters escaped; other
 * bytes (UTF-8) as they are. */
static void put_string(struct jbuf *b, const char *s, size_t n)
{
	size_t run = 0;

	put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(b, s + run, i - run);
		run = i + 1;
		if (c == '"')
			put(b, "\\\"", 2);
		else if (c == '\\')
			put(b, "\\\\", 2);
		else if (c == '\n')
			put(b, "\\n", 2);
		else if (c == '\r')
			put(b, "\\r", 2);
		else if (c == '\t')
			put(b, "\\t", 2);
		else
			putf(b, "\\u%04x", c);
	}
	put(b, s + run, n - run);
	put(b, "\"", 1);
}

/* The field's JSON name: lowerCamelCase of its proto name. */
static void put_key(struct jbuf *b, bool *first, const char *name)
{
	char out[128];
	size_t o = 0;
	bool up = false;

	for (const char *p = name; *p && o < sizeof(out) - 1; p++) {
		if (*p == '_') {
			up = true;
			continue;
		}
		out[o++] = up && *p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p;
		up = false;
	}
	out[o] = '\0';
	if (!*first)
		put(b, ",", 1);
	*first = false;
	put_string(b, out, o);
	put(b, ":", 1);
}

static void put_hex(struct jbuf *b, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[2];

	put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		tmp[0] = digits[p[i] >> 4];
		tmp[1] = digits[p[i] & 15];
		put(b, tmp, 2);
	}
	put(b, "\"", 1);
}

static void put_base64(struct jbuf *b, const uint8_t *p, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];

	put(b, "\"", 1);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);

		q[0] = t[v >> 18 & 63];
		q[1] = t[v >> 12 & 63];
		q[2] = i + 1 < n ? t[v >> 6 & 63] : '=';
		q[3] = i + 2 < n ? t[v & 63] : '=';
		put(b, q, 4);
	}
	put(b, "\"", 1);
}

/* Ids are hex in OTLP JSON; any other bytes field is base64 (proto JSON). */
static bool is_id(const char *name)
{
	return !strcmp(name, "trace_id") || !strcmp(name, "span_id") ||
	       !strcmp(name, "parent_span_id");
}

static void put_double(struct jbuf *b, double v)
{
	if (isnan(v))
		puts_(b, "\"NaN\"");
	else if (isinf(v))
		puts_(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	else
		putf(b, "%.17g", v);
}

static void put_message(struct jbuf *b, const ProtobufCMessage *m);

/* One value of field @f stored at @p. */
static void put_value(struct jbuf *b, const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		putf(b, "%" PRId32, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		putf(b, "%" PRIu32, *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		putf(b, "\"%" PRId64 "\"", *(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		putf(b, "\"%" PRIu64 "\"", *(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		put_double(b, *(const float *)p);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		put_double(b, *(const double *)p);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		puts_(b, *(const protobuf_c_boolean *)p ? "true" : "false");
		break;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;

		put_string(b, s ? s : "", s ? strlen(s) : 0);
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *d = p;

		if (is_id(f->name))
			put_hex(b, d->data, d->len);
		else
			put_base64(b, d->data, d->len);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;

		if (sub)
			put_message(b, sub);
		else
			puts_(b, "{}");
		break;
	}
	}
}

static size_t elem_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

/* Is a singular proto3 field at its default (left out of the JSON)? */
static bool is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;

		return !s || !*s;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return !*(void *const *)p;
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->len == 0;
	case PROTOBUF_C_TYPE_BOOL:
		return !*(const protobuf_c_boolean *)p;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)p == 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)p == 0;
	default:
		return elem_size(f->type) == 8 ? *(const uint64_t *)p == 0 : *(const uint32_t *)p == 0;
	}
}

static void put_message(struct jbuf *b, const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	bool first = true;

	put(b, "{", 1);
	for (unsigned int i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *member = (const char *)m + f->offset;
		const char *quantifier = (const char *)m + f->quantifier_offset;

		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)quantifier;
			const char *items = *(char *const *)member;

			if (!n)
				continue;
			put_key(b, &first, f->name);
			put(b, "[", 1);
			for (size_t k = 0; k < n; k++) {
				if (k)
					put(b, ",", 1);
				put_value(b, f, items + k * elem_size(f->type));
			}
			put(b, "]", 1);
			continue;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			if (*(const uint32_t *)quantifier != f->id)
				continue;
		} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
			/* proto3 "optional": a has_ flag, or a non-NULL pointer */
			if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
				if (!*(void *const *)member)
					continue;
			} else if (!*(const protobuf_c_boolean *)quantifier) {
				continue;
			}
		} else if (is_default(f, member)) {
			continue;
		}
		put_key(b, &first, f->name);
		put_value(b, f, member);
	}
	put(b, "}", 1);
}

int otlp_json_encode(const ProtobufCMessage *msg, struct otlp_buf *out)
{
	struct jbuf b = { 0 };

	put_message(&b, msg);
	if (b.failed) {
		free(b.data);
		return -ENOMEM;
	}
	out->data = (uint8_t *)b.data;
	out->len = b.len;
	return 0;
}

int otlp_json_from_packed(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
			  struct otlp_buf *out)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, data);
	int rc;

	if (!m)
		return -EINVAL;
	rc = otlp_json_encode(m, out);
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}
