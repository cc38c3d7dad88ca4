// SPDX-License-Identifier: Apache-2.0
/* OTLP JSON written from protobuf-c messages (src/export/otlp_json.c):
 * the specification's field names, hex ids, integer enums, 64-bit integers
 * as strings, defaults left out, escaping, oneofs and proto3 optionals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "export/otlp_json.h"
#include "proto/metrics.pb-c.h"
#include "proto/trace.pb-c.h"

static char *json_of(const ProtobufCMessage *m)
{
	struct otlp_buf out;
	char *s;

	assert_int_equal(otlp_json_encode(m, &out), 0);
	s = malloc(out.len + 1);
	assert_non_null(s);
	memcpy(s, out.data, out.len);
	s[out.len] = '\0';
	otlp_buf__free(&out);
	return s;
}

static void test_span(void **state)
{
	Opentelemetry__Proto__Trace__V1__Span span = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
	Opentelemetry__Proto__Common__V1__KeyValue kv[2] = {
		OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT,
		OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT,
	};
	Opentelemetry__Proto__Common__V1__AnyValue v[2] = {
		OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
		OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
	};
	Opentelemetry__Proto__Common__V1__KeyValue *attrs[2] = { &kv[0], &kv[1] };
	uint8_t trace_id[16], span_id[8] = { 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 0xff };
	char *s;

	for (int i = 0; i < 16; i++)
		trace_id[i] = (uint8_t)(i * 17);
	span.trace_id = (ProtobufCBinaryData){ sizeof(trace_id), trace_id };
	span.span_id = (ProtobufCBinaryData){ sizeof(span_id), span_id };
	span.name = "GET /a\"b\\c\n\x01";
	span.kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
	span.start_time_unix_nano = 1763820000123456789ull;
	kv[0].key = "http.request.method";
	kv[0].value = &v[0];
	v[0].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	v[0].string_value = "GET";
	kv[1].key = "http.response.status_code";
	kv[1].value = &v[1];
	v[1].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
	v[1].int_value = 404;
	span.n_attributes = 2;
	span.attributes = attrs;

	s = json_of(&span.base);
	/* parent_span_id, end time, flags, status...: defaults, left out */
	assert_string_equal(s,
			    "{\"traceId\":\"00112233445566778899aabbccddeeff\","
			    "\"spanId\":\"deadbeef000102ff\","
			    "\"name\":\"GET /a\\\"b\\\\c\\n\\u0001\","
			    "\"kind\":2,"
			    "\"startTimeUnixNano\":\"1763820000123456789\","
			    "\"attributes\":["
			    "{\"key\":\"http.request.method\",\"value\":{\"stringValue\":\"GET\"}},"
			    "{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"404\"}}]}");
	free(s);
}

static void test_histogram_point(void **state)
{
	Opentelemetry__Proto__Metrics__V1__HistogramDataPoint p =
		OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__INIT;
	uint64_t counts[3] = { 1, 0, 2 };
	double bounds[2] = { 0.005, 0.25 };
	char *s;

	p.count = 3;
	p.n_bucket_counts = 3;
	p.bucket_counts = counts;
	p.n_explicit_bounds = 2;
	p.explicit_bounds = bounds;
	s = json_of(&p.base);
	/* no sum set: the proto3 optional is left out */
	assert_string_equal(s, "{\"count\":\"3\",\"bucketCounts\":[\"1\",\"0\",\"2\"],"
			       "\"explicitBounds\":[0.0050000000000000001,0.25]}");
	free(s);
	p.has_sum_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__HAS_SUM_SUM;
	p.sum = 0; /* set, even to zero: written */
	s = json_of(&p.base);
	assert_non_null(strstr(s, "\"count\":\"3\",\"sum\":0,"));
	free(s);
}

/* The transport's path: protobuf bytes in, the same message as JSON out. */
static void test_from_packed(void **state)
{
	Opentelemetry__Proto__Trace__V1__Span span = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
	uint8_t buf[256], id[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct otlp_buf out;
	size_t n;

	span.span_id = (ProtobufCBinaryData){ sizeof(id), id };
	span.name = "x";
	n = protobuf_c_message_pack(&span.base, buf);
	assert_int_equal(otlp_json_from_packed(&opentelemetry__proto__trace__v1__span__descriptor, buf,
					       n, &out), 0);
	assert_int_equal(out.len, strlen("{\"spanId\":\"0102030405060708\",\"name\":\"x\"}"));
	assert_memory_equal(out.data, "{\"spanId\":\"0102030405060708\",\"name\":\"x\"}", out.len);
	otlp_buf__free(&out);
	/* not a message of that type: refused, nothing written */
	assert_int_equal(otlp_json_from_packed(&opentelemetry__proto__trace__v1__span__descriptor,
					       (const uint8_t *)"\xff\xff\xff", 3, &out), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_span),
		cmocka_unit_test(test_histogram_point),
		cmocka_unit_test(test_from_packed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
