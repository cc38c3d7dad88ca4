// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the OTLP exporter as the pipeline drives it (init,
 * export_span, destroy) against a local OTLP/HTTP server: spans and
 * metrics arrive; a down collector costs bounded memory and every span is
 * either sent or counted in sonde_export_dropped_total; Retry-After is
 * honoured; shutdown stays within its time budget even against a
 * collector that never answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "discovery.h"
#include "export/otlp.h"
#include "export/prometheus.h"
#include "model/metrics.h"
#include "runtime.h"
#include "test_otlp_server.h"

static struct service svc = { .id = 1, .name = "checkout" };

struct fixture {
	struct test_server server;
	struct sonde_config cfg;
	struct sonde_runtime rt;
	struct exporter e;
	bool started;
};

static uint64_t dropped_all(enum otlp_signal sig)
{
	uint64_t n = 0;

	for (int r = 0; r < OTLP_DROP__MAX; r++)
		n += otlp__dropped(sig, r);
	return n;
}

/* A counter from the Prometheus rendering, e.g. sonde_export_sent_total{signal="traces"}. */
static uint64_t rendered(const char *series)
{
	char *text = NULL, *at;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	uint64_t v = UINT64_MAX;

	prometheus__render_self(f, &(struct sonde_runtime){ 0 });
	fclose(f);
	at = strstr(text, series);
	if (at)
		v = strtoull(at + strlen(series), NULL, 10);
	free(text);
	return v;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	test_server_start(&f->server);
	config__defaults(&f->cfg);
	f->cfg.otlp_batch_delay_ms = 50;
	f->rt.cfg = &f->cfg;
	f->rt.metrics = metric_store__new();
	f->e.ops = &otlp_exporter;
	*state = f;
	return f->server.daemon && f->rt.metrics ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->started)
		otlp_exporter.destroy(&f->e);
	test_server_stop(&f->server);
	metric_store__free(f->rt.metrics);
	config__free(&f->cfg);
	free(f);
	return 0;
}

static void set_endpoint(char **field, const char *fmt, unsigned int port)
{
	char url[128];

	snprintf(url, sizeof(url), fmt, port);
	free(*field);
	*field = strdup(url);
}

static void start(struct fixture *f)
{
	assert_true(otlp_exporter.enabled(&f->cfg));
	assert_int_equal(otlp_exporter.init(&f->e, &f->cfg, &f->rt), 0);
	f->started = true;
}

static void stop(struct fixture *f)
{
	otlp_exporter.destroy(&f->e);
	f->started = false;
}

static struct span make_span(int i)
{
	struct span s;

	memset(&s, 0, sizeof(s));
	s.kind = SPAN_KIND_SERVER;
	s.service = &svc;
	s.pid = 1234;
	s.start_ns = 1700000000000000000ull + i;
	s.end_ns = s.start_ns + 1000000;
	snprintf(s.method, sizeof(s.method), "GET");
	snprintf(s.path, sizeof(s.path), "/item/%d", i);
	snprintf(s.route, sizeof(s.route), "/item/*");
	s.status = 200;
	s.trace_id[0] = s.span_id[0] = 1;
	s.trace_id[15] = (uint8_t)i;
	s.trace_flags = 1;
	return s;
}

static void export_spans(struct fixture *f, int n)
{
	for (int i = 0; i < n; i++) {
		struct span s = make_span(i);

		metric_store__record(f->rt.metrics, &s, "/item/*");
		otlp_exporter.export_span(&f->e, &s);
	}
}

static void test_not_enabled_without_endpoint(void **state)
{
	struct fixture *f = *state;

	assert_false(otlp_exporter.enabled(&f->cfg));
}

static void test_spans_arrive(void **state)
{
	struct fixture *f = *state;
	uint64_t sent = rendered("sonde_export_sent_total{signal=\"traces\"} ");

	set_endpoint(&f->cfg.otlp_traces_endpoint, "http://127.0.0.1:%u/v1/traces", f->server.port);
	f->cfg.otlp_batch_size = 4;
	start(f);
	export_spans(f, 10);
	/* 4 + 4 by size at once, the last 2 after the schedule delay. */
	assert_int_equal(test_server_wait(&f->server, &f->server.spans, 10, 5000), 10);
	assert_int_equal(test_server_get(&f->server, &f->server.points), 0); /* metrics off */
	stop(f);
	assert_int_equal(rendered("sonde_export_sent_total{signal=\"traces\"} "), sent + 10);
	assert_int_equal(f->server.requests, 3);
}

static void test_sampler_always_off(void **state)
{
	struct fixture *f = *state;

	set_endpoint(&f->cfg.otlp_traces_endpoint, "http://127.0.0.1:%u/v1/traces", f->server.port);
	f->cfg.otlp_sampler = OTLP_SAMPLER_ALWAYS_OFF;
	start(f);
	export_spans(f, 5);
	usleep(300000);
	stop(f);
	assert_int_equal(f->server.requests, 0);
}

static void test_metrics_arrive_and_final_export(void **state)
{
	struct fixture *f = *state;

	set_endpoint(&f->cfg.otlp_endpoint, "http://127.0.0.1:%u", f->server.port);
	f->cfg.otlp_metrics_interval_ms = 100;
	f->cfg.otlp_compression = OTLP_COMPRESSION_GZIP;
	start(f);
	export_spans(f, 3);
	/* One series, three histograms: 3 points per export. */
	assert_true(test_server_wait(&f->server, &f->server.points, 3, 5000) >= 3);
	assert_int_equal(test_server_wait(&f->server, &f->server.spans, 3, 5000), 3);
	assert_string_equal(f->server.content_encoding, "gzip");
	f->cfg.otlp_metrics_interval_ms = 60000;
	stop(f);
}

static void test_down_collector_bounded_and_counted(void **state)
{
	struct fixture *f = *state;
	uint64_t before = dropped_all(OTLP_TRACES);
	uint64_t full = otlp__dropped(OTLP_TRACES, OTLP_DROP_QUEUE_FULL);
	uint64_t t0;

	set_endpoint(&f->cfg.otlp_traces_endpoint, "http://127.0.0.1:%u/v1/traces", test_closed_port());
	f->cfg.otlp_queue_size = 8;
	f->cfg.otlp_batch_size = 4;
	start(f);
	export_spans(f, 100);
	/* At most the queue and one batch in the sender's hands are kept. */
	assert_true(otlp__dropped(OTLP_TRACES, OTLP_DROP_QUEUE_FULL) - full >= 100 - 8 - 4);
	usleep(1200000); /* a few retries */
	assert_true(rendered("sonde_export_failed_requests_total{signal=\"traces\"} ") >= 2);
	t0 = test_mono_ms();
	stop(f);
	assert_true(test_mono_ms() - t0 < 2500);
	/* Every span is accounted for: nothing was sent, all were dropped. */
	assert_int_equal(dropped_all(OTLP_TRACES) - before, 100);
}

static void test_retry_after_honoured(void **state)
{
	struct fixture *f = *state;
	uint64_t t0;

	set_endpoint(&f->cfg.otlp_traces_endpoint, "http://127.0.0.1:%u/v1/traces", f->server.port);
	f->server.status = 429;
	f->server.retry_after = "1";
	f->server.fail_first = 1;
	start(f);
	t0 = test_mono_ms();
	export_spans(f, 2);
	assert_int_equal(test_server_wait(&f->server, &f->server.spans, 2, 5000), 2);
	/* Retry-After: 1 s, less at most a quarter of jitter. */
	assert_true(test_mono_ms() - t0 >= 700);
	assert_int_equal(f->server.requests, 2);
	stop(f);
}

static void test_rejected_data_is_dropped(void **state)
{
	struct fixture *f = *state;
	uint64_t rejected = otlp__dropped(OTLP_TRACES, OTLP_DROP_REJECTED);

	set_endpoint(&f->cfg.otlp_traces_endpoint, "http://127.0.0.1:%u/v1/traces", f->server.port);
	f->server.status = 400;
	f->server.fail_first = 1;
	start(f);
	export_spans(f, 3);
	for (int i = 0; i < 250 && otlp__dropped(OTLP_TRACES, OTLP_DROP_REJECTED) == rejected; i++)
		usleep(20000);
	assert_int_equal(otlp__dropped(OTLP_TRACES, OTLP_DROP_REJECTED) - rejected, 3);
	assert_int_equal(f->server.requests, 1); /* not retried */
	stop(f);
}

static void test_shutdown_bounded_by_silent_collector(void **state)
{
	struct fixture *f = *state;
	uint64_t shutdown = otlp__dropped(OTLP_TRACES, OTLP_DROP_SHUTDOWN);
	uint64_t t0;

	set_endpoint(&f->cfg.otlp_endpoint, "http://127.0.0.1:%u", f->server.port);
	f->cfg.otlp_metrics_interval_ms = 100;
	f->server.delay_ms = 4000; /* answers too late for anyone */
	start(f);
	export_spans(f, 5);
	usleep(300000); /* both threads are now waiting for an answer */
	t0 = test_mono_ms();
	stop(f);
	assert_true(test_mono_ms() - t0 < 2200);
	assert_int_equal(otlp__dropped(OTLP_TRACES, OTLP_DROP_SHUTDOWN) - shutdown, 5);
}

static void test_prometheus_rendering(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	prometheus__render_self(f, &(struct sonde_runtime){ 0 });
	fclose(f);
	assert_non_null(strstr(text, "# TYPE sonde_export_dropped_total counter\n"));
	assert_non_null(strstr(text, "sonde_export_dropped_total{exporter=\"otlp\",signal=\"traces\",reason=\"queue_full\"} "));
	assert_non_null(strstr(text, "sonde_export_dropped_total{exporter=\"otlp\",signal=\"metrics\",reason=\"shutdown\"} "));
	assert_non_null(strstr(text, "sonde_export_sent_total{signal=\"metrics\"} "));
	/* The printer's drops are the same family: one HELP and TYPE for both. */
	assert_non_null(strstr(text, "sonde_export_dropped_total{exporter=\"printer\",signal=\"traces\",reason=\"queue_full\"} "));
	assert_null(strstr(strstr(text, "# TYPE sonde_export_dropped_total") + 1,
			   "# TYPE sonde_export_dropped_total"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_not_enabled_without_endpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spans_arrive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sampler_always_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_arrive_and_final_export, setup, teardown),
		cmocka_unit_test_setup_teardown(test_down_collector_bounded_and_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_after_honoured, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejected_data_is_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_bounded_by_silent_collector, setup, teardown),
		cmocka_unit_test(test_prometheus_rendering),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
