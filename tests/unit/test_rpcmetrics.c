// SPDX-License-Identifier: Apache-2.0
/*
 * The RPC metrics' store (src/model/rpcmetrics.c) as metric_store__record
 * feeds it, and what every exporter asks of an RPC span: its name, its
 * error status by the OTel gRPC rules (src/model/span.c), the span metrics'
 * name and status (src/model/spanmetrics.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/metrics.h"
#include "model/rpcmetrics.h"
#include "model/service.h"
#include "model/spanmetrics.h"

static struct service svc = { .name = "svc" };

static struct span rpc(enum span_kind kind, const char *method, int status, uint64_t ms)
{
	struct span s;

	memset(&s, 0, sizeof(s));
	s.kind = kind;
	s.service = &svc;
	s.proto = SONDE_PROTO_HTTP2;
	s.http_minor = SPAN_HTTP2;
	strcpy(s.method, "POST");
	snprintf(s.path, sizeof(s.path), "/pkg.Svc/%s", method);
	strcpy(s.rpc.system, "grpc");
	strcpy(s.rpc.service, "pkg.Svc");
	snprintf(s.rpc.method, sizeof(s.rpc.method), "%s", method);
	s.rpc.grpc_status = status;
	s.start_ns = 1000000000;
	s.end_ns = s.start_ns + ms * 1000000;
	return s;
}

static void test_store_counts_by_kind_method_status(void **state)
{
	struct metric_store *m = metric_store__new();
	struct rpc_series *v;
	size_t n;
	struct span a = rpc(SPAN_KIND_SERVER, "Get", 0, 5), b = rpc(SPAN_KIND_SERVER, "Get", 5, 7),
		    c = rpc(SPAN_KIND_CLIENT, "Get", 0, 9);

	assert_non_null(m);
	metric_store__record(m, &a, NULL);
	metric_store__record(m, &a, NULL);
	metric_store__record(m, &b, NULL);
	metric_store__record(m, &c, NULL);
	assert_int_equal(rpc_metrics__series(metric_store__rpc(m), &v, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(v[0].key.kind, SPAN_KIND_SERVER);
	assert_int_equal(v[0].key.grpc_status, 0);
	assert_int_equal(v[0].duration.count, 2);
	assert_true(v[0].duration.sum > 0.0099 && v[0].duration.sum < 0.0101);
	assert_int_equal(v[1].key.grpc_status, 5);
	assert_int_equal(v[1].duration.count, 1);
	assert_int_equal(v[2].key.kind, SPAN_KIND_CLIENT);
	assert_string_equal(v[2].key.rpc_service, "pkg.Svc");
	assert_string_equal(v[2].key.method, "Get");
	free(v);
	/* RPCs are not HTTP requests in the metrics */
	assert_int_equal(metric_store__series(m, SPAN_KIND_SERVER), 0);
	assert_int_equal(metric_store__series(m, SPAN_KIND_CLIENT), 0);
	metric_store__free(m);
}

static void test_store_cap(void **state)
{
	struct metric_store *m = metric_store__new();
	struct rpc_series *v;
	size_t n;
	char name[16];

	metric_store__set_max_series(m, 3);
	for (int i = 0; i < 5; i++) {
		struct span s;

		snprintf(name, sizeof(name), "M%d", i);
		s = rpc(SPAN_KIND_SERVER, name, 0, 1);
		metric_store__record(m, &s, NULL);
	}
	assert_int_equal(rpc_metrics__series(metric_store__rpc(m), &v, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(rpc_metrics__overflowed(metric_store__rpc(m)), 2);
	free(v);
	metric_store__free(m);
}

static void test_names_and_status_rules(void **state)
{
	/* server: only UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL,
	 * UNAVAILABLE, DATA_LOSS; client: anything but OK; no status: always */
	static const int server_errors[] = { 2, 4, 12, 13, 14, 15 };
	char out[128];

	for (int code = -1; code <= 16; code++) {
		struct span s = rpc(SPAN_KIND_SERVER, "Get", code, 1);
		struct span c = rpc(SPAN_KIND_CLIENT, "Get", code, 1);
		bool want = code < 0;

		for (size_t i = 0; i < sizeof(server_errors) / sizeof(server_errors[0]); i++)
			want |= code == server_errors[i];
		assert_int_equal(span_rpc_failed(&s), want);
		assert_int_equal(span_rpc_failed(&c), code != 0);
		assert_int_equal(spanmetrics__status(&s) == SM_STATUS_ERROR, want);
	}
	{
		struct span s = rpc(SPAN_KIND_SERVER, "Get", 0, 1);

		span_rpc_name(&s, out, sizeof(out));
		assert_string_equal(out, "pkg.Svc/Get");
		span_name(&s, out, sizeof(out));
		assert_string_equal(out, "pkg.Svc/Get");
		assert_string_equal(span_http_version(s.http_minor), "2");
		assert_string_equal(span_http_version(1), "1.1");
		assert_string_equal(span_http_version(0), "1.0");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_counts_by_kind_method_status),
		cmocka_unit_test(test_store_cap),
		cmocka_unit_test(test_names_and_status_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
