// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of OTLP encoding: spans and metric series encoded, decoded
 * back with protobuf-c, and every field checked (ids, names, kinds,
 * attributes, status, resources, histograms). The end-to-end tests check
 * the same bytes with an independent decoder (OpenTelemetry JS).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "discovery.h"
#include "export/otlp_encode.h"
#include "model/metrics.h"
#include "model/dbmetrics.h"
#include "proto/metrics_service.pb-c.h"
#include "proto/trace_service.pb-c.h"
#include "version.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest trace_req;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest metrics_req;

static struct service shop = { .id = 1, .name = "shop", .namespace_ = "prod" };
static struct service billing = { .id = 2, .name = "billing" };

static const pb_kv *find(pb_kv **kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i]->key, key))
			return kv[i];
	return NULL;
}

static const char *str_attr(pb_kv **kv, size_t n, const char *key)
{
	const pb_kv *a = find(kv, n, key);

	if (!a)
		return NULL;
	assert_int_equal(a->value->value_case,
			 OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE);
	return a->value->string_value;
}

static int64_t int_attr(pb_kv **kv, size_t n, const char *key)
{
	const pb_kv *a = find(kv, n, key);

	assert_non_null(a);
	assert_int_equal(a->value->value_case,
			 OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE);
	return a->value->int_value;
}

static void base_init(struct otlp_resource_base *b)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->host_name, sizeof(b->host_name), "node-1");
}

static struct otlp_span_item server_item(void)
{
	struct otlp_span_item it;
	struct span *s = &it.span;

	memset(&it, 0, sizeof(it));
	s->kind = SPAN_KIND_SERVER;
	s->service = &shop;
	s->pid = 4242;
	s->start_ns = 1700000000123456789ull;
	s->end_ns = s->start_ns + 2500000;
	snprintf(s->method, sizeof(s->method), "POST");
	snprintf(s->path, sizeof(s->path), "/users/42");
	snprintf(s->route, sizeof(s->route), "/users/*");
	snprintf(s->host, sizeof(s->host), "shop.example:8080");
	s->status = 503;
	s->http_minor = 1;
	s->request_body_size = 17;
	s->response_body_size = 1234;
	snprintf(s->client.addr, sizeof(s->client.addr), "10.1.2.3");
	s->client.port = 51000;
	snprintf(s->server.addr, sizeof(s->server.addr), "10.1.2.4");
	s->server.port = 8080;
	for (int i = 0; i < 16; i++)
		s->trace_id[i] = 0xa0 + i;
	for (int i = 0; i < 8; i++) {
		s->span_id[i] = 0x10 + i;
		s->parent_span_id[i] = 0x20 + i;
	}
	s->trace_flags = 1;
	it.proc.service = &shop;
	it.proc.pid = 4242;
	snprintf(it.proc.exe, sizeof(it.proc.exe), "/usr/bin/python3.11");
	snprintf(it.proc.runtime, sizeof(it.proc.runtime), "python");
	return it;
}

static trace_req *round_trip(const struct otlp_resource_base *b, const struct otlp_span_item *items,
			     size_t n)
{
	struct otlp_buf buf;
	trace_req *req;

	assert_int_equal(otlp_encode_traces(b, items, n, &buf), 0);
	req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		NULL, buf.len, buf.data);
	assert_non_null(req);
	otlp_buf__free(&buf);
	return req;
}

static void test_server_span(void **state)
{
	struct otlp_resource_base b;
	struct otlp_span_item it = server_item();
	trace_req *req;
	Opentelemetry__Proto__Trace__V1__Span *s;
	Opentelemetry__Proto__Resource__V1__Resource *r;

	base_init(&b);
	req = round_trip(&b, &it, 1);
	assert_int_equal(req->n_resource_spans, 1);
	r = req->resource_spans[0]->resource;
	assert_string_equal(str_attr(r->attributes, r->n_attributes, "service.name"), "shop");
	assert_string_equal(str_attr(r->attributes, r->n_attributes, "service.namespace"), "prod");
	assert_string_equal(str_attr(r->attributes, r->n_attributes, "service.instance.id"),
			    "node-1:4242");
	assert_string_equal(str_attr(r->attributes, r->n_attributes, "host.name"), "node-1");
	assert_int_equal(int_attr(r->attributes, r->n_attributes, "process.pid"), 4242);
	assert_string_equal(str_attr(r->attributes, r->n_attributes, "process.executable.name"),
			    "python3.11");
	assert_string_equal(str_attr(r->attributes, r->n_attributes, "process.runtime.name"), "python");
	assert_string_equal(str_attr(r->attributes, r->n_attributes, "telemetry.sdk.name"), "sonde");
	assert_string_equal(str_attr(r->attributes, r->n_attributes, "telemetry.sdk.language"),
			    "python");
	assert_string_equal(str_attr(r->attributes, r->n_attributes, "telemetry.sdk.version"),
			    sonde_version);
	assert_string_equal(str_attr(r->attributes, r->n_attributes, "telemetry.distro.name"), "sonde");
	assert_int_equal(req->resource_spans[0]->n_scope_spans, 1);
	assert_string_equal(req->resource_spans[0]->scope_spans[0]->scope->name, "sonde");
	assert_int_equal(req->resource_spans[0]->scope_spans[0]->n_spans, 1);
	s = req->resource_spans[0]->scope_spans[0]->spans[0];
	assert_int_equal(s->trace_id.len, 16);
	assert_memory_equal(s->trace_id.data, it.span.trace_id, 16);
	assert_int_equal(s->span_id.len, 8);
	assert_memory_equal(s->span_id.data, it.span.span_id, 8);
	assert_int_equal(s->parent_span_id.len, 8);
	assert_memory_equal(s->parent_span_id.data, it.span.parent_span_id, 8);
	assert_int_equal(s->flags, 0x301); /* sampled, parent known to be remote */
	assert_string_equal(s->name, "POST /users/*");
	assert_int_equal(s->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
	assert_int_equal(s->start_time_unix_nano, it.span.start_ns);
	assert_int_equal(s->end_time_unix_nano, it.span.end_ns);
	assert_string_equal(str_attr(s->attributes, s->n_attributes, "http.request.method"), "POST");
	assert_string_equal(str_attr(s->attributes, s->n_attributes, "url.path"), "/users/42");
	assert_string_equal(str_attr(s->attributes, s->n_attributes, "url.scheme"), "http");
	assert_string_equal(str_attr(s->attributes, s->n_attributes, "http.route"), "/users/*");
	assert_int_equal(int_attr(s->attributes, s->n_attributes, "http.response.status_code"), 503);
	assert_string_equal(str_attr(s->attributes, s->n_attributes, "server.address"), "shop.example");
	assert_int_equal(int_attr(s->attributes, s->n_attributes, "server.port"), 8080);
	assert_string_equal(str_attr(s->attributes, s->n_attributes, "client.address"), "10.1.2.3");
	assert_int_equal(int_attr(s->attributes, s->n_attributes, "client.port"), 51000);
	assert_string_equal(str_attr(s->attributes, s->n_attributes, "network.protocol.version"),
			    "1.1");
	assert_int_equal(int_attr(s->attributes, s->n_attributes, "http.request.body.size"), 17);
	assert_int_equal(int_attr(s->attributes, s->n_attributes, "http.response.body.size"), 1234);
	assert_string_equal(str_attr(s->attributes, s->n_attributes, "error.type"), "503");
	assert_null(find(s->attributes, s->n_attributes, "url.full"));
	assert_non_null(s->status);
	assert_int_equal(s->status->code,
			 OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);
}

static void test_client_span_and_statuses(void **state)
{
	struct otlp_resource_base b;
	struct otlp_span_item items[4];
	trace_req *req;
	Opentelemetry__Proto__Trace__V1__ScopeSpans *ss;

	base_init(&b);
	for (int i = 0; i < 4; i++)
		items[i] = server_item();
	/* 0: a client span, 404, no Host header, IPv6 peer, HTTP/1.0, root. */
	items[0].span.kind = SPAN_KIND_CLIENT;
	items[0].span.status = 404;
	items[0].span.route[0] = '\0';
	items[0].span.host[0] = '\0';
	items[0].span.http_minor = 0;
	snprintf(items[0].span.method, sizeof(items[0].span.method), "GET");
	snprintf(items[0].span.server.addr, sizeof(items[0].span.server.addr), "::1");
	memset(items[0].span.parent_span_id, 0, 8);
	/* 1: a server 404 is not an error; 2: server 200; 3: a custom method. */
	items[1].span.status = 404;
	items[2].span.status = 200;
	snprintf(items[3].span.method, sizeof(items[3].span.method), "PURGE");
	items[3].span.status = 0;
	req = round_trip(&b, items, 4);
	assert_int_equal(req->n_resource_spans, 1); /* one process */
	ss = req->resource_spans[0]->scope_spans[0];
	assert_int_equal(ss->n_spans, 4);

	assert_string_equal(ss->spans[0]->name, "GET"); /* a client: no URL template */
	assert_int_equal(ss->spans[0]->kind,
			 OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT);
	assert_int_equal(ss->spans[0]->parent_span_id.len, 0);
	assert_int_equal(ss->spans[0]->flags, 0x101);
	assert_int_equal(ss->spans[0]->status->code,
			 OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
	assert_string_equal(str_attr(ss->spans[0]->attributes, ss->spans[0]->n_attributes, "url.full"),
			    "http://[::1]:8080/users/42");
	assert_string_equal(
		str_attr(ss->spans[0]->attributes, ss->spans[0]->n_attributes, "server.address"), "::1");
	assert_null(find(ss->spans[0]->attributes, ss->spans[0]->n_attributes, "http.route"));
	assert_null(find(ss->spans[0]->attributes, ss->spans[0]->n_attributes, "client.address"));
	assert_string_equal(str_attr(ss->spans[0]->attributes, ss->spans[0]->n_attributes,
				     "network.protocol.version"),
			    "1.0");

	assert_int_equal(ss->spans[1]->status->code,
			 OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_UNSET);
	assert_null(find(ss->spans[1]->attributes, ss->spans[1]->n_attributes, "error.type"));
	assert_int_equal(ss->spans[2]->status->code,
			 OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_UNSET);

	assert_string_equal(
		str_attr(ss->spans[3]->attributes, ss->spans[3]->n_attributes, "http.request.method"),
		"_OTHER");
	assert_string_equal(str_attr(ss->spans[3]->attributes, ss->spans[3]->n_attributes,
				     "http.request.method_original"),
			    "PURGE");
	assert_null(find(ss->spans[3]->attributes, ss->spans[3]->n_attributes,
			 "http.response.status_code"));
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);
}

static void test_resource_per_process_and_env_attributes(void **state)
{
	struct otlp_resource_base b;
	struct otlp_span_item items[3];
	trace_req *req;
	Opentelemetry__Proto__Resource__V1__Resource *r0, *r1;

	base_init(&b);
	assert_int_equal(otlp_pairs__parse(&b.attributes,
					   "deployment.environment=staging,host.name=override,"
					   "service.name=from-env",
					   "T"),
			 0);
	for (int i = 0; i < 3; i++)
		items[i] = server_item();
	items[1].span.pid = items[1].proc.pid = 7;
	items[1].span.service = items[1].proc.service = &billing;
	items[1].proc.exe[0] = items[1].proc.runtime[0] = '\0';
	req = round_trip(&b, items, 3);
	assert_int_equal(req->n_resource_spans, 2);
	assert_int_equal(req->resource_spans[0]->scope_spans[0]->n_spans, 2);
	assert_int_equal(req->resource_spans[1]->scope_spans[0]->n_spans, 1);
	r0 = req->resource_spans[0]->resource;
	r1 = req->resource_spans[1]->resource;
	/* Without a configured name, OTEL_RESOURCE_ATTRIBUTES' service.name wins. */
	assert_string_equal(str_attr(r0->attributes, r0->n_attributes, "service.name"), "from-env");
	assert_string_equal(str_attr(r0->attributes, r0->n_attributes, "host.name"), "override");
	assert_string_equal(str_attr(r0->attributes, r0->n_attributes, "deployment.environment"),
			    "staging");
	assert_int_equal(int_attr(r1->attributes, r1->n_attributes, "process.pid"), 7);
	assert_null(find(r1->attributes, r1->n_attributes, "process.executable.name"));
	assert_null(find(r1->attributes, r1->n_attributes, "telemetry.sdk.language"));
	assert_null(find(r1->attributes, r1->n_attributes, "service.namespace"));
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);

	/* A configured service name (OTEL_SERVICE_NAME) beats the attribute. */
	b.service_name_configured = true;
	req = round_trip(&b, items, 1);
	r0 = req->resource_spans[0]->resource;
	assert_string_equal(str_attr(r0->attributes, r0->n_attributes, "service.name"), "shop");
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);
	otlp_pairs__free(&b.attributes);
}

static void test_empty_and_large_batches(void **state)
{
	struct otlp_resource_base b;
	struct otlp_span_item *items = calloc(600, sizeof(*items));
	trace_req *req;
	size_t total = 0;

	base_init(&b);
	req = round_trip(&b, items, 0);
	assert_int_equal(req->n_resource_spans, 0);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);
	assert_non_null(items);
	for (int i = 0; i < 600; i++) {
		items[i] = server_item();
		items[i].span.pid = items[i].proc.pid = 100 + i % 7;
		items[i].span.span_id[0] = (uint8_t)i;
	}
	req = round_trip(&b, items, 600);
	assert_int_equal(req->n_resource_spans, 7);
	for (size_t g = 0; g < req->n_resource_spans; g++)
		total += req->resource_spans[g]->scope_spans[0]->n_spans;
	assert_int_equal(total, 600);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);
	free(items);
}

/* ---- metrics ---- */

static struct series make_series(enum span_kind kind, const struct service *svc, const char *method,
				 int status, const char *route, const char *peer, uint16_t port)
{
	struct series s;

	memset(&s, 0, sizeof(s));
	s.key.kind = kind;
	s.key.service = svc;
	snprintf(s.key.method, sizeof(s.key.method), "%s", method);
	s.key.status = status;
	s.key.route = route;
	snprintf(s.key.peer, sizeof(s.key.peer), "%s", peer ? peer : "");
	s.key.peer_port = port;
	return s;
}

static const Opentelemetry__Proto__Metrics__V1__Metric *
metric(const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm, const char *name)
{
	for (size_t i = 0; i < sm->n_metrics; i++)
		if (!strcmp(sm->metrics[i]->name, name))
			return sm->metrics[i];
	return NULL;
}

static void test_metrics(void **state)
{
	struct otlp_resource_base b;
	struct series s[3];
	struct otlp_proc_info procs[1] = { { .service = &shop, .pid = 99, .exe = "/usr/bin/node",
					      .runtime = "node" } };
	struct otlp_buf buf;
	size_t points;
	metrics_req *req;
	const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm;
	const Opentelemetry__Proto__Metrics__V1__Metric *m;
	const Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p;
	Opentelemetry__Proto__Resource__V1__Resource *r;

	base_init(&b);
	s[0] = make_series(SPAN_KIND_SERVER, &shop, "GET", 200, "/users/*", NULL, 0);
	histogram_observe(&s[0].duration, duration_bounds_s, DURATION_BOUNDS, 0.003);
	histogram_observe(&s[0].duration, duration_bounds_s, DURATION_BOUNDS, 0.2);
	histogram_observe(&s[0].duration, duration_bounds_s, DURATION_BOUNDS, 30);
	histogram_observe(&s[0].req_body, size_bounds_bytes, SIZE_BOUNDS, 0);
	histogram_observe(&s[0].req_body, size_bounds_bytes, SIZE_BOUNDS, 0);
	histogram_observe(&s[0].req_body, size_bounds_bytes, SIZE_BOUNDS, 0);
	histogram_observe(&s[0].resp_body, size_bounds_bytes, SIZE_BOUNDS, 100);
	histogram_observe(&s[0].resp_body, size_bounds_bytes, SIZE_BOUNDS, 100);
	histogram_observe(&s[0].resp_body, size_bounds_bytes, SIZE_BOUNDS, 9000);
	s[1] = make_series(SPAN_KIND_CLIENT, &shop, "POST", 0, NULL, "api.example", 443);
	histogram_observe(&s[1].duration, duration_bounds_s, DURATION_BOUNDS, 0.01);
	s[2] = make_series(SPAN_KIND_SERVER, &billing, "GET", 500, "/pay", NULL, 0);
	histogram_observe(&s[2].duration, duration_bounds_s, DURATION_BOUNDS, 1);

	assert_int_equal(otlp_encode_metrics(&b, s, 3, procs, 1, 1000, 2000, &buf, &points), 0);
	assert_int_equal(points, 3 * 3); /* three histograms per series */
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, buf.len, buf.data);
	otlp_buf__free(&buf);
	assert_non_null(req);
	assert_int_equal(req->n_resource_metrics, 2);

	r = req->resource_metrics[0]->resource;
	assert_string_equal(str_attr(r->attributes, r->n_attributes, "service.name"), "shop");
	assert_string_equal(str_attr(r->attributes, r->n_attributes, "service.instance.id"),
			    "node-1:99");
	assert_string_equal(str_attr(r->attributes, r->n_attributes, "telemetry.sdk.language"),
			    "nodejs");
	assert_null(find(r->attributes, r->n_attributes, "process.pid"));
	sm = req->resource_metrics[0]->scope_metrics[0];
	assert_string_equal(sm->scope->name, "sonde");
	assert_int_equal(sm->n_metrics, 6);

	m = metric(sm, "http.server.request.duration");
	assert_non_null(m);
	assert_string_equal(m->unit, "s");
	assert_int_equal(m->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM);
	assert_int_equal(
		m->histogram->aggregation_temporality,
		OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
	assert_int_equal(m->histogram->n_data_points, 1);
	p = m->histogram->data_points[0];
	assert_int_equal(p->start_time_unix_nano, 1000);
	assert_int_equal(p->time_unix_nano, 2000);
	assert_int_equal(p->count, 3);
	assert_int_equal(p->has_sum_case,
			 OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__HAS_SUM_SUM);
	assert_true(p->sum > 30.2029 && p->sum < 30.2031);
	assert_int_equal(p->n_explicit_bounds, DURATION_BOUNDS);
	assert_int_equal(p->n_bucket_counts, DURATION_BOUNDS + 1);
	for (int i = 0; i < DURATION_BOUNDS; i++)
		assert_true(p->explicit_bounds[i] == duration_bounds_s[i]);
	assert_int_equal(p->bucket_counts[1], 1);  /* 0.003 in (0, 0.005] */
	assert_int_equal(p->bucket_counts[7], 1);  /* 0.2 in (0.1, 0.25] */
	assert_int_equal(p->bucket_counts[15], 1); /* 30 above 10 */
	assert_string_equal(str_attr(p->attributes, p->n_attributes, "http.request.method"), "GET");
	assert_int_equal(int_attr(p->attributes, p->n_attributes, "http.response.status_code"), 200);
	assert_string_equal(str_attr(p->attributes, p->n_attributes, "http.route"), "/users/*");
	assert_null(find(p->attributes, p->n_attributes, "server.address"));

	/* A zero sum is still sent: presence is explicit. */
	m = metric(sm, "http.server.request.body.size");
	assert_string_equal(m->unit, "By");
	p = m->histogram->data_points[0];
	assert_int_equal(p->has_sum_case,
			 OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__HAS_SUM_SUM);
	assert_true(p->sum == 0);
	assert_int_equal(p->n_bucket_counts, SIZE_BOUNDS + 1);
	assert_int_equal(p->bucket_counts[0], 3);
	m = metric(sm, "http.server.response.body.size");
	p = m->histogram->data_points[0];
	assert_int_equal(p->bucket_counts[3], 2);	    /* 100 in (64, 128] */
	assert_int_equal(p->bucket_counts[SIZE_BOUNDS], 1); /* 9000 above 8192 */

	m = metric(sm, "http.client.request.duration");
	assert_non_null(m);
	p = m->histogram->data_points[0];
	assert_string_equal(str_attr(p->attributes, p->n_attributes, "server.address"), "api.example");
	assert_int_equal(int_attr(p->attributes, p->n_attributes, "server.port"), 443);
	assert_null(find(p->attributes, p->n_attributes, "http.response.status_code"));
	assert_null(find(p->attributes, p->n_attributes, "http.route"));

	/* The second service: no process known, servers only. */
	r = req->resource_metrics[1]->resource;
	assert_string_equal(str_attr(r->attributes, r->n_attributes, "service.name"), "billing");
	assert_null(find(r->attributes, r->n_attributes, "service.instance.id"));
	sm = req->resource_metrics[1]->scope_metrics[0];
	assert_int_equal(sm->n_metrics, 3);
	assert_null(metric(sm, "http.client.request.duration"));
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(req,
												      NULL);

	/* Nothing recorded: an empty, valid request. */
	assert_int_equal(otlp_encode_metrics(&b, s, 0, NULL, 0, 1, 2, &buf, &points), 0);
	assert_int_equal(points, 0);
	assert_int_equal(buf.len, 0);
	otlp_buf__free(&buf);
}

/* Legacy naming (the seeds' names over OTLP): old metric names and
 * attributes alone; with http/dup both generations side by side. */
static void test_metrics_old_conventions(void **state)
{
	struct otlp_resource_base b;
	struct series s[2];
	struct otlp_buf buf;
	size_t points;
	metrics_req *req;
	const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm;
	const Opentelemetry__Proto__Metrics__V1__Metric *m;
	const Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p;

	base_init(&b);
	b.metric_conv = HTTP_CONV_OLD;
	s[0] = make_series(SPAN_KIND_SERVER, &shop, "GET", 200, "/users/*", NULL, 0);
	histogram_observe(&s[0].duration, duration_bounds_s, DURATION_BOUNDS, 0.02);
	s[1] = make_series(SPAN_KIND_CLIENT, &shop, "POST", 201, NULL, "api.example", 443);
	histogram_observe(&s[1].duration, duration_bounds_s, DURATION_BOUNDS, 0.01);
	assert_int_equal(otlp_encode_metrics(&b, s, 2, NULL, 0, 1000, 2000, &buf, &points), 0);
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, buf.len, buf.data);
	otlp_buf__free(&buf);
	assert_non_null(req);
	sm = req->resource_metrics[0]->scope_metrics[0];
	/* Duration and request size have old names; response size had none. */
	assert_int_equal(sm->n_metrics, 4);
	assert_null(metric(sm, "http.server.request.duration"));
	m = metric(sm, "http.server.duration");
	assert_non_null(m);
	assert_string_equal(m->unit, "s"); /* a Prometheus exporter: http_server_duration_seconds */
	p = m->histogram->data_points[0];
	assert_int_equal(p->count, 1);
	assert_string_equal(str_attr(p->attributes, p->n_attributes, "http.method"), "GET");
	assert_int_equal(int_attr(p->attributes, p->n_attributes, "http.status_code"), 200);
	assert_string_equal(str_attr(p->attributes, p->n_attributes, "http.target"), "/users/*");
	assert_null(find(p->attributes, p->n_attributes, "http.request.method"));
	m = metric(sm, "http.server.request.size");
	assert_non_null(m);
	assert_string_equal(m->unit, "By");
	m = metric(sm, "http.client.duration");
	assert_non_null(m);
	p = m->histogram->data_points[0];
	assert_string_equal(str_attr(p->attributes, p->n_attributes, "net.peer.name"), "api.example");
	assert_int_equal(int_attr(p->attributes, p->n_attributes, "net.peer.port"), 443);
	assert_non_null(metric(sm, "http.client.request.size"));
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(req,
												      NULL);

	b.metric_conv = HTTP_CONV_OLD | HTTP_CONV_STABLE;
	assert_int_equal(otlp_encode_metrics(&b, s, 2, NULL, 0, 1000, 2000, &buf, &points), 0);
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, buf.len, buf.data);
	otlp_buf__free(&buf);
	sm = req->resource_metrics[0]->scope_metrics[0];
	assert_int_equal(sm->n_metrics, 6 + 4);
	assert_non_null(metric(sm, "http.server.request.duration"));
	assert_non_null(metric(sm, "http.server.duration"));
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(req,
												      NULL);
}

/* Spans in legacy naming: the old attribute names beside the stable ones. */
static void test_span_old_attributes(void **state)
{
	struct otlp_resource_base b;
	struct otlp_span_item it = server_item();
	trace_req *req;
	const Opentelemetry__Proto__Trace__V1__Span *sp;

	base_init(&b);
	req = round_trip(&b, &it, 1);
	sp = req->resource_spans[0]->scope_spans[0]->spans[0];
	assert_null(find(sp->attributes, sp->n_attributes, "http.method"));
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
												  NULL);
	b.span_conv = HTTP_CONV_STABLE | HTTP_CONV_OLD;
	req = round_trip(&b, &it, 1);
	sp = req->resource_spans[0]->scope_spans[0]->spans[0];
	assert_string_equal(str_attr(sp->attributes, sp->n_attributes, "http.method"), "POST");
	assert_string_equal(str_attr(sp->attributes, sp->n_attributes, "http.request.method"), "POST");
	assert_int_equal(int_attr(sp->attributes, sp->n_attributes, "http.status_code"), 503);
	assert_int_equal(int_attr(sp->attributes, sp->n_attributes, "http.response.status_code"), 503);
	assert_string_equal(str_attr(sp->attributes, sp->n_attributes, "http.target"), "/users/42");
	assert_string_equal(str_attr(sp->attributes, sp->n_attributes, "http.flavor"), "1.1");
	assert_string_equal(str_attr(sp->attributes, sp->n_attributes, "net.host.name"),
			    "shop.example");
	assert_string_equal(str_attr(sp->attributes, sp->n_attributes, "net.sock.peer.addr"),
			    "10.1.2.3");
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
												  NULL);
}

/* A span of TLS plaintext: url.scheme (and the old http.scheme) say https. */
static void test_https_span(void **state)
{
	struct otlp_resource_base b;
	struct otlp_span_item it = server_item();
	trace_req *req;
	const Opentelemetry__Proto__Trace__V1__Span *sp;

	base_init(&b);
	b.span_conv = HTTP_CONV_STABLE | HTTP_CONV_OLD;
	it.span.tls = true;
	req = round_trip(&b, &it, 1);
	sp = req->resource_spans[0]->scope_spans[0]->spans[0];
	assert_string_equal(str_attr(sp->attributes, sp->n_attributes, "url.scheme"), "https");
	assert_string_equal(str_attr(sp->attributes, sp->n_attributes, "http.scheme"), "https");
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
												  NULL);
}

/* Base-2 exponential histograms and selected attributes, decoded back. */
static void test_metrics_exponential(void **state)
{
	typedef Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint exp_point;
	struct otlp_resource_base b;
	struct series s[2];
	struct otlp_metric_set set = { .exponential = true };
	struct otlp_buf buf;
	size_t points;
	metrics_req *req;
	const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm;
	const Opentelemetry__Proto__Metrics__V1__Metric *m;
	const exp_point *p;
	const double values[] = { 0.001, 0.002, 0.5, 3, 0 };
	const struct exp_histogram *h;

	base_init(&b);
	s[0] = make_series(SPAN_KIND_SERVER, &shop, "GET", 200, "/users/*", NULL, 0);
	s[0].key.local_port = 8080;
	s[0].key.http_minor = 1; /* HTTP/1.0 */
	s[1] = make_series(SPAN_KIND_CLIENT, &shop, "POST", 201, NULL, "api.example", 443);
	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < HIST__MAX; k++) {
			s[i].exp[k] = exp_histogram__new(160, 20);
			assert_non_null(s[i].exp[k]);
		}
	}
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		histogram_observe(&s[0].duration, duration_bounds_s, DURATION_BOUNDS, values[i]);
		exp_histogram__observe(s[0].exp[HIST_DURATION], values[i]);
	}
	exp_histogram__observe(s[0].exp[HIST_REQ_BODY], 0);
	exp_histogram__observe(s[0].exp[HIST_RESP_BODY], 1024);
	exp_histogram__observe(s[1].exp[HIST_DURATION], 0.25);
	h = s[0].exp[HIST_DURATION];
	for (int f = 0; f < INSTR__MAX; f++) {
		set.series[f] = s;
		set.n[f] = 2;
		set.labels[f] = default_labels(instruments[f].kind);
	}
	/* The server duration: no route, but the port and the version. */
	set.labels[INSTR_SERVER_DURATION] = (set.labels[INSTR_SERVER_DURATION] & ~LABEL_BIT(LABEL_ROUTE)) |
					     LABEL_BIT(LABEL_SERVER_PORT) | LABEL_BIT(LABEL_URL_SCHEME) |
					     LABEL_BIT(LABEL_PROTOCOL_VERSION);

	assert_int_equal(otlp_encode_metric_set(&b, &set, NULL, 0, 1000, 2000, &buf, &points), 0);
	assert_int_equal(points, 6);
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, buf.len, buf.data);
	otlp_buf__free(&buf);
	assert_non_null(req);
	assert_int_equal(req->n_resource_metrics, 1);
	sm = req->resource_metrics[0]->scope_metrics[0];
	assert_int_equal(sm->n_metrics, 6);

	m = metric(sm, "http.server.request.duration");
	assert_non_null(m);
	assert_int_equal(m->data_case,
			 OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM);
	assert_int_equal(
		m->exponential_histogram->aggregation_temporality,
		OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
	assert_int_equal(m->exponential_histogram->n_data_points, 1);
	p = m->exponential_histogram->data_points[0];
	assert_int_equal(p->start_time_unix_nano, 1000);
	assert_int_equal(p->time_unix_nano, 2000);
	assert_int_equal(p->count, 5);
	assert_int_equal(p->zero_count, 1);
	assert_int_equal(p->has_sum_case,
			 OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT__HAS_SUM_SUM);
	assert_true(fabs(p->sum - 3.503) < 1e-9);
	assert_int_equal(p->has_min_case,
			 OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT__HAS_MIN_MIN);
	assert_true(p->min == 0);
	assert_int_equal(p->has_max_case,
			 OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT__HAS_MAX_MAX);
	assert_true(p->max == 3);
	/* The store's buckets as they are: scale, offset and counts. */
	assert_int_equal(p->scale, h->scale);
	assert_true(p->scale < 20 && p->scale > 0);
	assert_non_null(p->positive);
	assert_int_equal(p->positive->offset, h->offset);
	assert_int_equal(p->positive->n_bucket_counts, h->len);
	assert_memory_equal(p->positive->bucket_counts, h->counts, h->len * sizeof(uint64_t));
	assert_int_equal(p->positive->bucket_counts[exp_index(0.001, p->scale) - p->positive->offset], 1);
	assert_int_equal(p->positive->bucket_counts[exp_index(3, p->scale) - p->positive->offset], 1);
	assert_null(p->negative);
	assert_string_equal(str_attr(p->attributes, p->n_attributes, "http.request.method"), "GET");
	assert_int_equal(int_attr(p->attributes, p->n_attributes, "http.response.status_code"), 200);
	assert_null(find(p->attributes, p->n_attributes, "http.route"));
	assert_int_equal(int_attr(p->attributes, p->n_attributes, "server.port"), 8080);
	assert_string_equal(str_attr(p->attributes, p->n_attributes, "url.scheme"), "http");
	assert_string_equal(str_attr(p->attributes, p->n_attributes, "network.protocol.version"),
			    "1.0");

	/* Zero only: no positive buckets, the zero count holds it. */
	m = metric(sm, "http.server.request.body.size");
	p = m->exponential_histogram->data_points[0];
	assert_int_equal(p->count, 1);
	assert_int_equal(p->zero_count, 1);
	assert_true(p->positive == NULL || p->positive->n_bucket_counts == 0);
	assert_string_equal(str_attr(p->attributes, p->n_attributes, "http.route"), "/users/*");
	assert_null(find(p->attributes, p->n_attributes, "server.port"));
	/* 1024 = 2^10 closes bucket 10 * 2^20 - 1 at scale 20. */
	m = metric(sm, "http.server.response.body.size");
	p = m->exponential_histogram->data_points[0];
	assert_int_equal(p->scale, 20);
	assert_int_equal(p->positive->offset, 10 * (1 << 20) - 1);
	assert_int_equal(p->positive->n_bucket_counts, 1);

	m = metric(sm, "http.client.request.duration");
	p = m->exponential_histogram->data_points[0];
	assert_int_equal(p->count, 1);
	assert_int_equal(p->positive->offset, -2 * (1 << 20) - 1); /* 0.25 = 2^-2 */
	assert_string_equal(str_attr(p->attributes, p->n_attributes, "server.address"), "api.example");
	assert_int_equal(int_attr(p->attributes, p->n_attributes, "server.port"), 443);
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(req,
												      NULL);
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < HIST__MAX; k++)
			free(s[i].exp[k]);
}

static void test_span_name(void **state)
{
	struct span s;
	char name[200];

	memset(&s, 0, sizeof(s));
	s.kind = SPAN_KIND_SERVER;
	snprintf(s.method, sizeof(s.method), "GET");
	span_name(&s, name, sizeof(name));
	assert_string_equal(name, "GET");
	snprintf(s.route, sizeof(s.route), "/");
	span_name(&s, name, sizeof(name));
	assert_string_equal(name, "GET /");
	s.kind = SPAN_KIND_CLIENT;
	s.route[0] = '\0';
	snprintf(s.path, sizeof(s.path), "/orders/123456/items");
	span_name(&s, name, sizeof(name));
	assert_string_equal(name, "GET"); /* a client: the method alone (no URL template) */
	/* a method outside the known set is "HTTP" in the name (semconv) */
	snprintf(s.method, sizeof(s.method), "POSTX0001");
	span_name(&s, name, sizeof(name));
	assert_string_equal(name, "HTTP");
}

/* A database client call: the OTel database conventions, its name, the
 * error from the server; none of the HTTP attributes. */
static void test_db_span(void **state)
{
	struct otlp_resource_base b;
	struct otlp_span_item it = server_item();
	struct span *sp = &it.span;
	Opentelemetry__Proto__Trace__V1__Span *s;
	trace_req *req;

	base_init(&b);
	sp->kind = SPAN_KIND_CLIENT;
	sp->proto = SONDE_PROTO_POSTGRES;
	sp->status = 0;
	snprintf(sp->db.system, sizeof(sp->db.system), "postgresql");
	snprintf(sp->db.operation, sizeof(sp->db.operation), "SELECT");
	snprintf(sp->db.collection, sizeof(sp->db.collection), "users");
	snprintf(sp->db.namespace_, sizeof(sp->db.namespace_), "shopdb");
	snprintf(sp->db.status_code, sizeof(sp->db.status_code), "42P01");
	snprintf(sp->error, sizeof(sp->error), "relation \"users\" does not exist");
	sp->server.port = 5432;
	req = round_trip(&b, &it, 1);
	s = req->resource_spans[0]->scope_spans[0]->spans[0];
	assert_string_equal(s->name, "SELECT users");
	assert_int_equal(s->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT);
	assert_string_equal(str_attr(s->attributes, s->n_attributes, "db.system.name"), "postgresql");
	assert_string_equal(str_attr(s->attributes, s->n_attributes, "db.operation.name"), "SELECT");
	assert_string_equal(str_attr(s->attributes, s->n_attributes, "db.collection.name"), "users");
	assert_string_equal(str_attr(s->attributes, s->n_attributes, "db.namespace"), "shopdb");
	assert_string_equal(str_attr(s->attributes, s->n_attributes, "error.type"), "42P01");
	assert_string_equal(str_attr(s->attributes, s->n_attributes, "db.response.status_code"),
			    "42P01");
	assert_string_equal(str_attr(s->attributes, s->n_attributes, "server.address"), "10.1.2.4");
	assert_int_equal(int_attr(s->attributes, s->n_attributes, "server.port"), 5432);
	assert_null(find(s->attributes, s->n_attributes, "http.request.method"));
	assert_null(find(s->attributes, s->n_attributes, "db.query.text")); /* not asked for */
	assert_int_equal(s->status->code,
			 OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
	assert_string_equal(s->status->message, "relation \"users\" does not exist");
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
												  NULL);
	/* success: no error attributes, status unset */
	sp->db.status_code[0] = sp->error[0] = '\0';
	snprintf(sp->db.query, sizeof(sp->db.query), "SELECT * FROM users WHERE id = ?");
	req = round_trip(&b, &it, 1);
	s = req->resource_spans[0]->scope_spans[0]->spans[0];
	assert_null(find(s->attributes, s->n_attributes, "error.type"));
	assert_string_equal(str_attr(s->attributes, s->n_attributes, "db.query.text"),
			    "SELECT * FROM users WHERE id = ?");
	assert_int_equal(s->status->code,
			 OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_UNSET);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
												  NULL);
}

static void test_db_metrics(void **state)
{
	struct otlp_resource_base b;
	struct db_series v[3];
	struct otlp_buf buf;
	size_t points;
	metrics_req *req;
	const Opentelemetry__Proto__Metrics__V1__Metric *m;

	base_init(&b);
	memset(v, 0, sizeof(v));
	for (int i = 0; i < 3; i++) {
		v[i].service = i == 2 ? &billing : &shop;
		snprintf(v[i].system, sizeof(v[i].system), "mariadb");
		snprintf(v[i].operation, sizeof(v[i].operation), "SELECT");
		histogram_observe(&v[i].duration, duration_bounds_s, DURATION_BOUNDS, 0.003 * (i + 1));
	}
	snprintf(v[0].collection, sizeof(v[0].collection), "users");
	snprintf(v[1].error_type, sizeof(v[1].error_type), "1146");
	assert_int_equal(otlp_encode_dbmetrics(&b, v, 3, NULL, 0, 1, 2, &buf, &points), 0);
	assert_int_equal(points, 3);
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, buf.len, buf.data);
	otlp_buf__free(&buf);
	assert_non_null(req);
	assert_int_equal(req->n_resource_metrics, 2); /* one per service */
	m = metric(req->resource_metrics[0]->scope_metrics[0], "db.client.operation.duration");
	assert_non_null(m);
	assert_string_equal(m->unit, "s");
	assert_int_equal(m->histogram->n_data_points, 2);
	{
		Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p = m->histogram->data_points[0];

		assert_int_equal(p->count, 1);
		assert_int_equal(p->n_explicit_bounds, DURATION_BOUNDS);
		assert_string_equal(str_attr(p->attributes, p->n_attributes, "db.system.name"), "mariadb");
		assert_string_equal(str_attr(p->attributes, p->n_attributes, "db.collection.name"), "users");
		assert_null(find(p->attributes, p->n_attributes, "error.type"));
		p = m->histogram->data_points[1];
		assert_string_equal(str_attr(p->attributes, p->n_attributes, "error.type"), "1146");
		assert_null(find(p->attributes, p->n_attributes, "db.collection.name"));
	}
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_span),
		cmocka_unit_test(test_client_span_and_statuses),
		cmocka_unit_test(test_resource_per_process_and_env_attributes),
		cmocka_unit_test(test_empty_and_large_batches),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_metrics_old_conventions),
		cmocka_unit_test(test_span_old_attributes),
		cmocka_unit_test(test_https_span),
		cmocka_unit_test(test_metrics_exponential),
		cmocka_unit_test(test_span_name),
		cmocka_unit_test(test_db_span),
		cmocka_unit_test(test_db_metrics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
