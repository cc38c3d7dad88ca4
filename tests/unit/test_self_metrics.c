// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the self-metrics registry (model/self_metrics.c): what it
 * reads from the running agent, and that its two readers, the Prometheus
 * text renderer and the OTLP encoder (decoded back with protobuf-c), show
 * the same names, labels and values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "export/otlp_encode.h"
#include "export/prometheus.h"
#include "model/metrics.h"
#include "model/self_metrics.h"
#include "proto/metrics_service.pb-c.h"
#include "runtime.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Metrics__V1__Metric pb_metric;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint pb_number_point;

static struct service svc = { .id = 1, .name = "shop" };

struct fixture {
	struct sonde_config cfg;
	struct sonde_runtime rt;
	struct metric_store *store;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->store = metric_store__new();
	if (!f->store)
		return -1;
	f->cfg.metrics_naming = NAMING_OTEL;
	f->rt.cfg = &f->cfg;
	f->rt.metrics = f->store;
	atomic_store(&f->rt.spans_total, 5);
	atomic_store(&f->rt.instrumented, 2);
	atomic_store(&f->rt.user_loss[LOSS_LINK_OVERFLOW], 7);
	atomic_store(&f->rt.user_loss[LOSS_DECODE], 3);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	metric_store__free(f->store);
	free(f);
	return 0;
}

/* Two server spans of different methods: with a cap of one series, the
 * second is an overflow of every server instrument. */
static void overflow_one(struct metric_store *m)
{
	struct span s;

	memset(&s, 0, sizeof(s));
	s.kind = SPAN_KIND_SERVER;
	s.service = &svc;
	s.status = 200;
	s.end_ns = 1000000;
	metric_store__set_max_series(m, 1);
	snprintf(s.method, sizeof(s.method), "GET");
	metric_store__record(m, &s, "/a");
	snprintf(s.method, sizeof(s.method), "POST");
	metric_store__record(m, &s, "/a");
}

static const struct self_sample *sample(const struct self_sample *v, size_t n, const char *prom,
					const char *label)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].metric->prom, prom) &&
		    (!label || (v[i].metric->nlabels && !strcmp(v[i].values[0], label))))
			return &v[i];
	return NULL;
}

static void test_registry_names(void **state)
{
	for (size_t i = 0; i < self_metrics_count; i++) {
		const struct self_metric *m = &self_metrics[i];
		size_t len = strlen(m->prom);
		bool total = len > 6 && !strcmp(m->prom + len - 6, "_total");

		assert_true(!strncmp(m->prom, "sonde_", 6));
		assert_true(!strncmp(m->otel, "sonde.", 6));
		assert_false(strstr(m->otel, "total"));
		/* Prometheus: counters and only counters end in _total. */
		assert_int_equal(total, m->type == SELF_COUNTER);
		assert_non_null(m->unit);
		assert_non_null(m->help);
		assert_true(m->nlabels >= 0 && m->nlabels <= SELF_LABELS_MAX);
		for (int l = 0; l < m->nlabels; l++) {
			assert_non_null(m->labels[l]);
			assert_non_null(m->otel_labels[l]);
		}
		for (size_t j = 0; j < i; j++) {
			assert_string_not_equal(m->prom, self_metrics[j].prom);
			assert_string_not_equal(m->otel, self_metrics[j].otel);
		}
	}
}

static void test_collect_reads_the_agent(void **state)
{
	struct fixture *f = *state;
	struct self_sample *v;
	size_t n;
	const struct self_sample *s;

	overflow_one(f->store);
	assert_int_equal(self_metrics__collect(&f->rt, &v, &n), 0);
	s = sample(v, n, "sonde_spans_total", NULL);
	assert_non_null(s);
	assert_int_equal(s->value, 5);
	assert_int_equal(sample(v, n, "sonde_instrumented_processes", NULL)->value, 2);
	s = sample(v, n, "sonde_events_lost_total", "link_overflow");
	assert_non_null(s);
	assert_int_equal(s->value, 7);
	assert_int_equal(sample(v, n, "sonde_events_lost_total", "undecodable")->value, 3);
	/* No kernel side here: its counters read zero, but are there. */
	assert_int_equal(sample(v, n, "sonde_events_lost_total", "ringbuf_full")->value, 0);
	assert_null(sample(v, n, "sonde_events_lost_total", "emitted"));
	s = sample(v, n, "sonde_metric_series_overflow_total", "http_server_request_duration_seconds");
	assert_non_null(s);
	assert_int_equal(s->value, 1);
	assert_int_equal(
		sample(v, n, "sonde_metric_series_overflow_total", "http_client_request_duration_seconds")
			->value,
		0);
	/* No discovery: no per-service routes overflow point. */
	assert_null(sample(v, n, "sonde_routes_overflow_total", NULL));
	assert_int_equal(sample(v, n, "sonde_build_info", NULL)->value, 1);
	/* Points of one metric stay together, in registry order. */
	for (size_t i = 1; i < n; i++)
		assert_true(v[i].metric >= v[i - 1].metric);
	free(v);
}

static char *render(struct sonde_runtime *rt)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	prometheus__render_self(f, rt);
	fclose(f);
	return text;
}

static void test_prometheus_rendering(void **state)
{
	struct fixture *f = *state;
	char *text;

	overflow_one(f->store);
	text = render(&f->rt);
	assert_non_null(strstr(text, "# TYPE sonde_instrumented_processes gauge\n"
				     "sonde_instrumented_processes 2\n"));
	assert_non_null(strstr(text, "# HELP sonde_spans_total Spans produced.\n"
				     "# TYPE sonde_spans_total counter\nsonde_spans_total 5\n"));
	assert_non_null(strstr(text, "sonde_events_lost_total{reason=\"link_overflow\"} 7\n"));
	assert_non_null(strstr(text, "sonde_events_lost_total{reason=\"undecodable\"} 3\n"));
	assert_non_null(strstr(text, "sonde_metric_series_overflow_total{metric="
				     "\"http_server_request_duration_seconds\"} 1\n"));
	assert_non_null(strstr(text, "sonde_export_dropped_total{exporter=\"otlp\",signal=\"traces\","
				     "reason=\"queue_full\"} 0\n"));
	assert_non_null(strstr(text, "sonde_export_dropped_total{exporter=\"printer\","
				     "signal=\"traces\",reason=\"queue_full\"} 0\n"));
	assert_non_null(strstr(text, "# TYPE sonde_build_info gauge\nsonde_build_info{version=\""));
	free(text);

	/* Legacy naming names the metric by its legacy name. */
	f->cfg.metrics_naming = NAMING_LEGACY;
	text = render(&f->rt);
	assert_non_null(strstr(text, "sonde_metric_series_overflow_total{metric="
				     "\"http_server_duration_seconds\"} 1\n"));
	free(text);
}

static const pb_metric *find_metric(Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm,
				    const char *name)
{
	for (size_t i = 0; i < sm->n_metrics; i++)
		if (!strcmp(sm->metrics[i]->name, name))
			return sm->metrics[i];
	return NULL;
}

static const char *attr(pb_kv **kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(kv[i]->key, key)) {
			assert_int_equal(kv[i]->value->value_case,
					 OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE);
			return kv[i]->value->string_value;
		}
	return NULL;
}

/* The OTLP encoding of the same samples: one resource for Sonde, a Sum per
 * counter and a Gauge per gauge, attributes for labels. */
static void test_otlp_encoding(void **state)
{
	struct fixture *f = *state;
	struct otlp_resource_base base;
	struct otlp_metric_set set = { .exponential = false };
	struct self_sample *v;
	struct otlp_buf buf;
	size_t n, points, lost = 0;
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *req;
	Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm;
	Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm;
	const pb_metric *m;
	bool seen_link = false;

	memset(&base, 0, sizeof(base));
	snprintf(base.host_name, sizeof(base.host_name), "node-1");
	overflow_one(f->store);
	assert_int_equal(self_metrics__collect(&f->rt, &v, &n), 0);
	set.self = v;
	set.nself = n;
	assert_int_equal(otlp_encode_metric_set(&base, &set, NULL, 0, 1000, 2000, &buf, &points), 0);
	assert_int_equal(points, n);
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, buf.len, buf.data);
	otlp_buf__free(&buf);
	assert_non_null(req);
	assert_int_equal(req->n_resource_metrics, 1);
	rm = req->resource_metrics[0];
	assert_string_equal(attr(rm->resource->attributes, rm->resource->n_attributes, "service.name"),
			    "sonde");
	assert_string_equal(attr(rm->resource->attributes, rm->resource->n_attributes, "host.name"),
			    "node-1");
	sm = rm->scope_metrics[0];
	assert_int_equal(sm->n_metrics, self_metrics_count - 1); /* no routes overflow points */

	m = find_metric(sm, "sonde.spans");
	assert_non_null(m);
	assert_int_equal(m->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM);
	assert_true(m->sum->is_monotonic);
	assert_int_equal(
		m->sum->aggregation_temporality,
		OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
	assert_string_equal(m->unit, "{span}");
	assert_int_equal(m->sum->n_data_points, 1);
	assert_int_equal(m->sum->data_points[0]->value_case,
			 OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT);
	assert_int_equal(m->sum->data_points[0]->as_int, 5);
	assert_int_equal(m->sum->data_points[0]->start_time_unix_nano, 1000);
	assert_int_equal(m->sum->data_points[0]->time_unix_nano, 2000);

	m = find_metric(sm, "sonde.instrumented.processes");
	assert_non_null(m);
	assert_int_equal(m->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE);
	assert_int_equal(m->gauge->n_data_points, 1);
	assert_int_equal(m->gauge->data_points[0]->as_int, 2);

	m = find_metric(sm, "sonde.events.lost");
	assert_non_null(m);
	for (size_t i = 0; i < m->sum->n_data_points; i++) {
		const pb_number_point *p = m->sum->data_points[i];
		const char *reason = attr(p->attributes, p->n_attributes, "reason");

		assert_non_null(reason);
		if (!strcmp(reason, "link_overflow")) {
			assert_int_equal(p->as_int, 7);
			seen_link = true;
		}
		lost++;
	}
	assert_true(seen_link);
	for (size_t i = 0; i < n; i++)
		lost -= !strcmp(v[i].metric->prom, "sonde_events_lost_total");
	assert_int_equal(lost, 0);

	m = find_metric(sm, "sonde.metric.series.overflow");
	assert_non_null(m);
	for (size_t i = 0; i < m->sum->n_data_points; i++) {
		const pb_number_point *p = m->sum->data_points[i];

		if (!strcmp(attr(p->attributes, p->n_attributes, "metric"),
			    "http_server_request_duration_seconds"))
			assert_int_equal(p->as_int, 1);
	}
	m = find_metric(sm, "sonde.export.dropped");
	assert_non_null(m);
	assert_non_null(attr(m->sum->data_points[0]->attributes,
			     m->sum->data_points[0]->n_attributes, "signal"));
	assert_non_null(attr(m->sum->data_points[0]->attributes,
			     m->sum->data_points[0]->n_attributes, "reason"));

	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry_names),
		cmocka_unit_test_setup_teardown(test_collect_reads_the_agent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prometheus_rendering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_otlp_encoding, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
