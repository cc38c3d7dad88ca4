// SPDX-License-Identifier: Apache-2.0
/*
 * Prometheus rendering of the metric store: names and labels in both
 * namings, cumulative buckets, escaping, and Prometheus's own parser
 * (`promtool check metrics`) accepting the output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "config.h"
#include "discovery.h"
#include "export/prometheus.h"
#include "model/metrics.h"
#include "runtime.h"

static struct service svc = { .id = 1, .name = "user-service", .namespace_ = "shop" };
static struct service odd = { .id = 2, .name = "we\"ird\\svc" };

static struct span make_span(const char *method, int status, double seconds, uint64_t req,
			     uint64_t resp)
{
	struct span s;

	memset(&s, 0, sizeof(s));
	s.kind = SPAN_KIND_SERVER;
	s.service = &svc;
	snprintf(s.method, sizeof(s.method), "%s", method);
	s.status = status;
	s.start_ns = 1000;
	s.end_ns = 1000 + (uint64_t)(seconds * 1e9);
	s.request_body_size = req;
	s.response_body_size = resp;
	return s;
}

static char *render(struct metric_store *m, int naming)
{
	struct sonde_config cfg;
	struct sonde_runtime rt;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	memset(&cfg, 0, sizeof(cfg));
	cfg.metrics_naming = naming;
	memset(&rt, 0, sizeof(rt));
	rt.cfg = &cfg;
	rt.metrics = m;
	atomic_store(&rt.spans_total, 3);
	prometheus__render(f, &rt);
	fclose(f);
	return buf;
}

static struct metric_store *sample_store(void)
{
	struct metric_store *m = metric_store__new();
	struct span a = make_span("GET", 200, 0.003, 0, 100);
	struct span b = make_span("GET", 200, 0.2, 0, 5000);
	struct span c = make_span("POST", 500, 12.0, 6, 0);

	metric_store__record(m, &a, "/users/*");
	metric_store__record(m, &b, "/users/*");
	metric_store__record(m, &c, "/post");
	c.service = &odd;
	metric_store__record(m, &c, "/x\"y");
	return m;
}

static void test_otel_names_and_buckets(void **state)
{
	struct metric_store *m = sample_store();
	char *out = render(m, NAMING_OTEL);

	assert_non_null(strstr(out, "# TYPE http_server_request_duration_seconds histogram\n"));
	/* 3 ms falls in le=0.005; 200 ms first in le=0.25; cumulative. */
	assert_non_null(strstr(out, "http_server_request_duration_seconds_bucket{http_request_method=\"GET\","
				    "http_response_status_code=\"200\",http_route=\"/users/*\","
				    "service_name=\"user-service\",service_namespace=\"shop\",le=\"0.005\"} 1\n"));
	assert_non_null(strstr(out, "http_server_request_duration_seconds_bucket{http_request_method=\"GET\","
				    "http_response_status_code=\"200\",http_route=\"/users/*\","
				    "service_name=\"user-service\",service_namespace=\"shop\",le=\"0.1\"} 1\n"));
	assert_non_null(strstr(out, "http_server_request_duration_seconds_bucket{http_request_method=\"GET\","
				    "http_response_status_code=\"200\",http_route=\"/users/*\","
				    "service_name=\"user-service\",service_namespace=\"shop\",le=\"0.25\"} 2\n"));
	assert_non_null(strstr(out, "http_server_request_duration_seconds_count{http_request_method=\"GET\","
				    "http_response_status_code=\"200\",http_route=\"/users/*\","
				    "service_name=\"user-service\",service_namespace=\"shop\"} 2\n"));
	/* 12 s is past the last bound: only +Inf holds it. */
	assert_non_null(strstr(out, "le=\"10\"} 0\n"));
	assert_non_null(strstr(out, "le=\"+Inf\"} 1\n"));
	assert_non_null(strstr(out, "# TYPE http_server_request_body_size_bytes histogram"));
	assert_non_null(strstr(out, "# TYPE http_server_response_body_size_bytes histogram"));
	/* 5000-byte body: le=4096 holds only the 100-byte one, le=8192 both. */
	assert_non_null(strstr(out, "http_server_response_body_size_bytes_bucket{http_request_method=\"GET\","
				    "http_response_status_code=\"200\",http_route=\"/users/*\","
				    "service_name=\"user-service\",service_namespace=\"shop\",le=\"4096\"} 1\n"));
	assert_non_null(strstr(out, "le=\"8192\"} 2\n"));
	/* Escaping of label values. */
	assert_non_null(strstr(out, "http_route=\"/x\\\"y\",service_name=\"we\\\"ird\\\\svc\""));
	assert_non_null(strstr(out, "sonde_spans_total 3\n"));
	assert_non_null(strstr(out, "sonde_build_info{version="));
	assert_null(strstr(out, "http_server_duration_seconds"));
	free(out);
	metric_store__free(m);
}

static void test_legacy_names(void **state)
{
	struct metric_store *m = sample_store();
	char *out = render(m, NAMING_LEGACY);

	assert_non_null(strstr(out, "http_server_duration_seconds_count{http_method=\"POST\","
				    "http_status_code=\"500\",http_target=\"/post\","
				    "service_name=\"user-service\",service_namespace=\"shop\"} 1\n"));
	assert_non_null(strstr(out, "http_server_request_size_bytes_sum{http_method=\"POST\""));
	assert_null(strstr(out, "http_server_request_duration_seconds"));
	free(out);
	metric_store__free(m);
}

static void select_labels(struct sonde_config *cfg, const char *metric, const char *const *include,
			  const char *const *exclude)
{
	struct attr_select *s = &cfg->attr_selects.v[cfg->attr_selects.count++];

	memset(s, 0, sizeof(*s));
	snprintf(s->metric, sizeof(s->metric), "%s", metric);
	for (; include && *include; include++)
		snprintf(s->include[s->n_include++], ATTR_NAME_LEN, "%s", *include);
	for (; exclude && *exclude; exclude++)
		snprintf(s->exclude[s->n_exclude++], ATTR_NAME_LEN, "%s", *exclude);
}

static char *render_with(struct metric_store *m, const struct sonde_config *cfg)
{
	struct sonde_runtime rt;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	memset(&rt, 0, sizeof(rt));
	rt.cfg = cfg;
	rt.metrics = m;
	prometheus__render(f, &rt);
	fclose(f);
	return buf;
}

/* attributes.select: an excluded label merges series, included ones appear. */
static void test_selected_labels(void **state)
{
	static const char *const inc[] = { "server_port", "url_*", "network_protocol_version", NULL };
	static const char *const exc[] = { "http_route", NULL };
	static const char *const no_ns[] = { "service_namespace", NULL };
	static const char *const all[] = { "*", NULL };
	struct sonde_config cfg;
	struct metric_store *m = metric_store__new();
	struct span a = make_span("GET", 200, 0.003, 0, 100);
	struct span b = make_span("GET", 200, 0.2, 0, 100);
	struct span c = make_span("GET", 404, 0.02, 0, 10);
	char *out;

	memset(&cfg, 0, sizeof(cfg));
	select_labels(&cfg, "http_server_request_duration_seconds", inc, exc);
	select_labels(&cfg, "http.server.*.body.size", NULL, no_ns);
	metric_store__configure(m, &cfg);
	a.server.port = b.server.port = c.server.port = 8080;
	a.http_minor = b.http_minor = c.http_minor = 1;
	metric_store__record(m, &a, "/users/*");
	metric_store__record(m, &b, "/orders/*");
	metric_store__record(m, &c, "/orders/*");
	out = render_with(m, &cfg);
	/* Two routes, one series: buckets and counts add up. */
	assert_non_null(strstr(out, "http_server_request_duration_seconds_count{http_request_method=\"GET\","
				    "http_response_status_code=\"200\",server_port=\"8080\","
				    "url_scheme=\"http\",network_protocol_version=\"1.1\","
				    "service_name=\"user-service\",service_namespace=\"shop\"} 2\n"));
	assert_non_null(strstr(out, "http_server_request_duration_seconds_bucket{http_request_method=\"GET\","
				    "http_response_status_code=\"200\",server_port=\"8080\","
				    "url_scheme=\"http\",network_protocol_version=\"1.1\","
				    "service_name=\"user-service\",service_namespace=\"shop\","
				    "le=\"0.005\"} 1\n"));
	assert_non_null(strstr(out, "http_server_request_duration_seconds_count{http_request_method=\"GET\","
				    "http_response_status_code=\"404\",server_port=\"8080\","));
	assert_null(strstr(out, "http_server_request_duration_seconds_count{http_request_method=\"GET\","
				 "http_response_status_code=\"200\",http_route"));
	/* Other metrics keep their routes, without the selected extras. */
	assert_non_null(strstr(out, "http_server_request_body_size_bytes_count{http_request_method=\"GET\","
				    "http_response_status_code=\"200\",http_route=\"/users/*\","
				    "service_name=\"user-service\"} 1\n"));
	assert_non_null(strstr(out, "http_server_response_body_size_bytes_count{http_request_method=\"GET\","
				    "http_response_status_code=\"200\",http_route=\"/orders/*\","
				    "service_name=\"user-service\"} 1\n"));
	free(out);

	/* Every label dropped: one series per metric, still valid text. */
	memset(&cfg, 0, sizeof(cfg));
	select_labels(&cfg, "*", NULL, all);
	out = render_with(m, &cfg);
	assert_non_null(strstr(out, "http_server_request_duration_seconds_count{} 3\n"));
	assert_non_null(strstr(out, "http_server_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
	free(out);
	metric_store__free(m);
}

/* Prometheus's own parser must accept what we serve. */
static void test_promtool_accepts(void **state)
{
	const char *names[] = { "otel", "legacy" };

	for (int naming = NAMING_OTEL; naming <= NAMING_LEGACY; naming++) {
		struct metric_store *m = sample_store();
		char *out = render(m, naming);
		char report[4096] = "";
		FILE *p;
		size_t n;
		int status;

		if (system("command -v promtool >/dev/null 2>&1") != 0)
			fail_msg("promtool not found: install Debian's prometheus package");
		p = popen("promtool check metrics > /tmp/sonde-promtool.out 2>&1", "w");
		assert_non_null(p);
		fputs(out, p);
		status = pclose(p);
		p = fopen("/tmp/sonde-promtool.out", "r");
		assert_non_null(p);
		n = fread(report, 1, sizeof(report) - 1, p);
		report[n] = '\0';
		fclose(p);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("promtool rejected the %s output: %s", names[naming], report);
		free(out);
		metric_store__free(m);
	}
}

static int promtool_check(const char *out, char *report, size_t size)
{
	FILE *p;
	size_t n;
	int status;

	if (system("command -v promtool >/dev/null 2>&1") != 0)
		fail_msg("promtool not found: install Debian's prometheus package");
	p = popen("promtool check metrics > /tmp/sonde-promtool-hostile.out 2>&1", "w");
	assert_non_null(p);
	fputs(out, p);
	status = pclose(p);
	p = fopen("/tmp/sonde-promtool-hostile.out", "r");
	assert_non_null(p);
	n = fread(report, 1, size - 1, p);
	report[n] = '\0';
	fclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Label values that are not UTF-8 (the model sanitizes strings; this is the
 * exporter's own guard), quotes, backslashes and newlines: promtool still
 * reads the whole exposition, and the series cap's counter is there. */
static void test_hostile_labels_and_overflow(void **state)
{
	static struct service bad = { .id = 3, .name = "svc\nwith\xff\"newline\n" };
	struct metric_store *m = metric_store__new();
	struct span a = make_span("GET", 200, 0.01, 0, 0);
	char report[4096] = "";
	char *out;

	metric_store__set_max_series(m, 3);
	a.service = &bad;
	metric_store__record(m, &a, "/caf\xe9/\xff\"q\\x");
	metric_store__record(m, &a, "/a");
	metric_store__record(m, &a, "/b");
	metric_store__record(m, &a, "/c");
	metric_store__record(m, &a, "/d");
	out = render(m, NAMING_OTEL);
	if (promtool_check(out, report, sizeof(report)) != 0)
		fail_msg("promtool rejected: %s\n%s", report, out);
	assert_non_null(strstr(out, "http_route=\"/caf\xef\xbf\xbd/\xef\xbf\xbd\\\"q\\\\x\""));
	assert_non_null(strstr(out, "service_name=\"svc\\nwith\xef\xbf\xbd\\\"newline\\n\""));
	assert_non_null(strstr(out, "# TYPE sonde_metric_series_overflow_total counter\n"));
	assert_non_null(strstr(out, "sonde_metric_series_overflow_total{metric=\""
				    "http_server_request_duration_seconds\"} 2\n"));
	assert_non_null(strstr(out, "sonde_metric_series_overflow_total{metric=\""
				    "http_client_request_duration_seconds\"} 0\n"));
	free(out);
	out = render(m, NAMING_LEGACY);
	assert_non_null(strstr(out, "sonde_metric_series_overflow_total{metric=\""
				    "http_server_duration_seconds\"} 2\n"));
	free(out);
	metric_store__free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_otel_names_and_buckets),
		cmocka_unit_test(test_legacy_names),
		cmocka_unit_test(test_promtool_accepts),
		cmocka_unit_test(test_selected_labels),
		cmocka_unit_test(test_hostile_labels_and_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
