// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the OTLP transport: gzip, gRPC framing, Retry-After and
 * status classification, then real OTLP/HTTP requests to a local
 * libmicrohttpd server (headers, compression, refusals, an unreachable
 * collector, time limits and the shutdown cut-off). gRPC over HTTP/2 is
 * covered by the end-to-end tests against a real gRPC server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "export/otlp_encode.h"
#include "export/otlp_transport.h"
#include "test_otlp_server.h"

static void test_gzip_round_trip(void **state)
{
	uint8_t in[5000], *gz, *back;
	size_t gz_len, back_len;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i % 17);
	assert_int_equal(otlp_gzip(in, sizeof(in), &gz, &gz_len), 0);
	assert_true(gz_len < sizeof(in) / 4);
	assert_int_equal(gz[0], 0x1f); /* gzip magic */
	assert_int_equal(gz[1], 0x8b);
	assert_int_equal(test_gunzip(gz, gz_len, &back, &back_len), 0);
	assert_int_equal(back_len, sizeof(in));
	assert_memory_equal(back, in, sizeof(in));
	free(gz);
	free(back);
	assert_int_equal(otlp_gzip(in, 0, &gz, &gz_len), 0);
	assert_true(gz_len > 0);
	free(gz);
}

static void test_grpc_frame(void **state)
{
	uint8_t p[5];

	otlp_grpc_frame(p, false, 0x01020304);
	assert_memory_equal(p, ((uint8_t[]){ 0, 1, 2, 3, 4 }), 5);
	otlp_grpc_frame(p, true, 5);
	assert_memory_equal(p, ((uint8_t[]){ 1, 0, 0, 0, 5 }), 5);
}

static void test_retry_after(void **state)
{
	time_t now = 1700000000;

	assert_int_equal(otlp_retry_after_ms("5", now), 5000);
	assert_int_equal(otlp_retry_after_ms(" 10 ", now), 10000);
	assert_int_equal(otlp_retry_after_ms("0", now), 0);
	assert_int_equal(otlp_retry_after_ms("999999", now), 86400000); /* capped at a day */
	assert_int_equal(otlp_retry_after_ms("soon", now), -1);
	assert_int_equal(otlp_retry_after_ms("5s", now), -1);
	/* 1700000000 is Tue, 14 Nov 2023 22:13:20 GMT. */
	assert_int_equal(otlp_retry_after_ms("Tue, 14 Nov 2023 22:13:50 GMT", now), 30000);
	assert_int_equal(otlp_retry_after_ms("Tue, 14 Nov 2023 22:00:00 GMT", now), 0);
}

static void test_classification(void **state)
{
	assert_int_equal(otlp_http_result(200), OTLP_SENT);
	assert_int_equal(otlp_http_result(202), OTLP_SENT);
	assert_int_equal(otlp_http_result(429), OTLP_RETRYABLE);
	assert_int_equal(otlp_http_result(502), OTLP_RETRYABLE);
	assert_int_equal(otlp_http_result(503), OTLP_RETRYABLE);
	assert_int_equal(otlp_http_result(504), OTLP_RETRYABLE);
	assert_int_equal(otlp_http_result(0), OTLP_RETRYABLE);
	assert_int_equal(otlp_http_result(400), OTLP_FAILED);
	assert_int_equal(otlp_http_result(401), OTLP_FAILED);
	assert_int_equal(otlp_http_result(404), OTLP_FAILED);
	assert_int_equal(otlp_http_result(500), OTLP_FAILED);
	assert_int_equal(otlp_grpc_result(0), OTLP_SENT);
	assert_int_equal(otlp_grpc_result(14), OTLP_RETRYABLE); /* UNAVAILABLE */
	assert_int_equal(otlp_grpc_result(8), OTLP_RETRYABLE);	/* RESOURCE_EXHAUSTED */
	assert_int_equal(otlp_grpc_result(4), OTLP_RETRYABLE);	/* DEADLINE_EXCEEDED */
	assert_int_equal(otlp_grpc_result(3), OTLP_FAILED);	/* INVALID_ARGUMENT */
	assert_int_equal(otlp_grpc_result(16), OTLP_FAILED);	/* UNAUTHENTICATED */
	assert_int_equal(otlp_grpc_result(12), OTLP_FAILED);	/* UNIMPLEMENTED */
	assert_int_equal(otlp_grpc_status_from_http(503), 14);
	assert_int_equal(otlp_grpc_status_from_http(429), 14);
	assert_int_equal(otlp_grpc_status_from_http(401), 16);
	assert_int_equal(otlp_grpc_status_from_http(404), 12);
	assert_int_equal(otlp_grpc_status_from_http(418), 2);
}

/* ---- against a server ---- */

struct fixture {
	struct test_server server;
	struct otlp_endpoint ep;
	struct otlp_buf body; /* three encoded spans */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct otlp_resource_base base = { .host_name = "h" };
	static struct service svc = { .name = "svc" };
	struct otlp_span_item items[3];

	if (!f)
		return -1;
	test_server_start(&f->server);
	if (!f->server.daemon)
		return -1;
	f->ep.enabled = true;
	f->ep.signal = OTLP_TRACES;
	f->ep.protocol = OTLP_PROTOCOL_HTTP_PROTOBUF;
	f->ep.timeout_ms = 5000;
	snprintf(f->ep.url, sizeof(f->ep.url), "http://127.0.0.1:%u/v1/traces", f->server.port);
	memset(items, 0, sizeof(items));
	for (int i = 0; i < 3; i++) {
		items[i].span.kind = SPAN_KIND_SERVER;
		items[i].span.service = items[i].proc.service = &svc;
		snprintf(items[i].span.method, sizeof(items[i].span.method), "GET");
		items[i].span.trace_id[0] = items[i].span.span_id[0] = 1;
	}
	if (otlp_encode_traces(&base, items, 3, &f->body))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	test_server_stop(&f->server);
	otlp_endpoint__free(&f->ep);
	otlp_buf__free(&f->body);
	free(f);
	return 0;
}

static void send_once(struct fixture *f, struct otlp_response *r, uint64_t timeout_ms,
		      const _Atomic uint64_t *give_up)
{
	struct otlp_transport *t = otlp_transport__new(&f->ep);

	assert_non_null(t);
	otlp_transport__send(t, f->body.data, f->body.len, timeout_ms, give_up, r);
	otlp_transport__free(t);
}

static void test_http_sent_with_headers(void **state)
{
	struct fixture *f = *state;
	struct otlp_response r;

	assert_int_equal(otlp_pairs__parse(&f->ep.headers, "Authorization=Bearer%20t0k3n,x-team=a", "T"),
			 0);
	send_once(f, &r, 5000, NULL);
	assert_int_equal(r.result, OTLP_SENT);
	assert_int_equal(r.http_status, 200);
	assert_int_equal(test_server_get(&f->server, &f->server.spans), 3);
	assert_string_equal(f->server.url, "/v1/traces");
	assert_string_equal(f->server.content_type, "application/x-protobuf");
	assert_string_equal(f->server.content_encoding, "");
	assert_string_equal(f->server.authorization, "Bearer t0k3n");
}

static void test_http_gzip(void **state)
{
	struct fixture *f = *state;
	struct otlp_response r;
	struct otlp_transport *t;

	f->ep.gzip = true;
	t = otlp_transport__new(&f->ep);
	/* Twice on one transport: the connection is reused. */
	for (int i = 0; i < 2; i++) {
		otlp_transport__send(t, f->body.data, f->body.len, 5000, NULL, &r);
		assert_int_equal(r.result, OTLP_SENT);
	}
	otlp_transport__free(t);
	assert_string_equal(f->server.content_encoding, "gzip");
	assert_int_equal(test_server_get(&f->server, &f->server.spans), 6);
}

static void test_http_refusals(void **state)
{
	struct fixture *f = *state;
	struct otlp_response r;

	f->server.fail_first = UINT32_MAX;
	f->server.status = 503;
	f->server.retry_after = "3";
	send_once(f, &r, 5000, NULL);
	assert_int_equal(r.result, OTLP_RETRYABLE);
	assert_int_equal(r.http_status, 503);
	assert_int_equal(r.retry_after_ms, 3000);
	f->server.status = 429;
	f->server.retry_after = NULL;
	send_once(f, &r, 5000, NULL);
	assert_int_equal(r.result, OTLP_RETRYABLE);
	assert_int_equal(r.retry_after_ms, -1);
	f->server.status = 400;
	send_once(f, &r, 5000, NULL);
	assert_int_equal(r.result, OTLP_FAILED);
	assert_non_null(strstr(r.message, "400"));
	assert_int_equal(test_server_get(&f->server, &f->server.spans), 0);
}

static void test_unreachable_collector(void **state)
{
	struct fixture *f = *state;
	struct otlp_response r;

	snprintf(f->ep.url, sizeof(f->ep.url), "http://127.0.0.1:%u/v1/traces", test_closed_port());
	send_once(f, &r, 2000, NULL);
	assert_int_equal(r.result, OTLP_RETRYABLE);
	assert_int_equal(r.http_status, 0);
	assert_true(r.message[0] != '\0');
}

static void test_time_limits(void **state)
{
	struct fixture *f = *state;
	struct otlp_response r;
	_Atomic uint64_t give_up;
	struct timespec now;
	uint64_t t0;

	/* The request's own time limit. */
	f->server.delay_ms = 1500;
	t0 = test_mono_ms();
	send_once(f, &r, 200, NULL);
	assert_int_equal(r.result, OTLP_RETRYABLE);
	assert_true(test_mono_ms() - t0 < 1000);
	/* The shutdown cut-off: abandoned at give_up, whatever the time limit. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	atomic_store(&give_up, (uint64_t)now.tv_sec * 1000000000ull + now.tv_nsec + 300000000ull);
	t0 = test_mono_ms();
	send_once(f, &r, 10000, &give_up);
	assert_int_equal(r.result, OTLP_RETRYABLE);
	assert_string_equal(r.message, "abandoned at shutdown");
	assert_true(test_mono_ms() - t0 < 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gzip_round_trip),
		cmocka_unit_test(test_grpc_frame),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_classification),
		cmocka_unit_test_setup_teardown(test_http_sent_with_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_gzip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreachable_collector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_limits, setup, teardown),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
