// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of OTLP configuration: environment variables through the
 * config table into struct otlp_endpoint (endpoints, protocol inference,
 * per-signal overrides), header lists, and the trace samplers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "export/otlp_config.h"

/* Every variable the OTLP rows read, cleared before each case. */
static void clear_env(void)
{
	for (size_t i = 0; i < config_options_count; i++)
		for (int e = 0; e < CONFIG_ENV_MAX && config_options[i].env[e]; e++)
			unsetenv(config_options[i].env[e]);
}

/* Configure from "NAME=value" strings (NULL-terminated) as the agent does. */
static void configure(struct sonde_config *cfg, const char *const *vars)
{
	clear_env();
	for (; *vars; vars++) {
		char name[128];
		const char *eq = strchr(*vars, '=');

		snprintf(name, sizeof(name), "%.*s", (int)(eq - *vars), *vars);
		setenv(name, eq + 1, 1);
	}
	config__defaults(cfg);
	assert_int_equal(config__from_env(cfg, stderr), 0);
}

struct resolved {
	struct sonde_config cfg;
	struct otlp_endpoint ep[OTLP_SIGNAL__MAX];
};

static void resolve(struct resolved *r, const char *const *vars)
{
	char err[256];

	configure(&r->cfg, vars);
	for (int s = 0; s < OTLP_SIGNAL__MAX; s++) {
		err[0] = '\0';
		assert_int_equal(otlp_endpoint__resolve(&r->cfg, s, &r->ep[s], err, sizeof(err)), 0);
	}
}

static void release(struct resolved *r)
{
	for (int s = 0; s < OTLP_SIGNAL__MAX; s++)
		otlp_endpoint__free(&r->ep[s]);
	config__free(&r->cfg);
	clear_env();
}

static const struct config_option *row(const char *key)
{
	for (size_t i = 0; i < config_options_count; i++)
		if (!strcmp(config_options[i].key, key))
			return &config_options[i];
	fail_msg("no config row %s", key);
	return NULL;
}

/* The rows' choice lists are what the enums of otlp_config.h index. */
static void test_choices_match_enums(void **state)
{
	static const char *const protocol_keys[] = { "otel_export.protocol",
						     "otel_traces_export.protocol",
						     "otel_metrics_export.protocol" };
	static const char *const compression_keys[] = { "otel_export.compression",
							"otel_traces_export.compression",
							"otel_metrics_export.compression" };
	const struct config_option *s = row("otel_traces_export.sampler.name");

	for (size_t i = 0; i < 3; i++) {
		const struct config_option *p = row(protocol_keys[i]);
		const struct config_option *c = row(compression_keys[i]);

		assert_string_equal(p->choices[OTLP_PROTOCOL_UNSET], "");
		assert_string_equal(p->choices[OTLP_PROTOCOL_GRPC], "grpc");
		assert_string_equal(p->choices[OTLP_PROTOCOL_HTTP_PROTOBUF], "http/protobuf");
		assert_string_equal(p->choices[OTLP_PROTOCOL_HTTP_JSON], "http/json");
		assert_null(p->choices[OTLP_PROTOCOL_HTTP_JSON + 1]);
		assert_string_equal(c->choices[OTLP_COMPRESSION_NONE], "none");
		assert_string_equal(c->choices[OTLP_COMPRESSION_GZIP], "gzip");
		assert_null(c->choices[OTLP_COMPRESSION_GZIP + 1]);
	}
	assert_string_equal(s->choices[OTLP_SAMPLER_ALWAYS_ON], "always_on");
	assert_string_equal(s->choices[OTLP_SAMPLER_ALWAYS_OFF], "always_off");
	assert_string_equal(s->choices[OTLP_SAMPLER_TRACEIDRATIO], "traceidratio");
	assert_string_equal(s->choices[OTLP_SAMPLER_PARENTBASED_ALWAYS_ON], "parentbased_always_on");
	assert_string_equal(s->choices[OTLP_SAMPLER_PARENTBASED_ALWAYS_OFF], "parentbased_always_off");
	assert_string_equal(s->choices[OTLP_SAMPLER_PARENTBASED_TRACEIDRATIO],
			    "parentbased_traceidratio");
	assert_null(s->choices[OTLP_SAMPLER_PARENTBASED_TRACEIDRATIO + 1]);
}

static void test_nothing_configured(void **state)
{
	struct resolved r;

	resolve(&r, (const char *const[]){ NULL });
	assert_false(r.ep[OTLP_TRACES].enabled);
	assert_false(r.ep[OTLP_METRICS].enabled);
	assert_int_equal(r.cfg.otlp_metrics_interval_ms, 60000);
	assert_int_equal(r.cfg.otlp_timeout_ms, 10000);
	assert_int_equal(r.cfg.otlp_sampler, OTLP_SAMPLER_PARENTBASED_ALWAYS_ON);
	release(&r);
}

static void test_base_http_endpoint(void **state)
{
	struct resolved r;

	resolve(&r, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318", NULL });
	assert_true(r.ep[OTLP_TRACES].enabled);
	assert_string_equal(r.ep[OTLP_TRACES].url, "http://collector:4318/v1/traces");
	assert_string_equal(r.ep[OTLP_METRICS].url, "http://collector:4318/v1/metrics");
	assert_int_equal(r.ep[OTLP_TRACES].protocol, OTLP_PROTOCOL_HTTP_PROTOBUF);
	assert_true(r.ep[OTLP_TRACES].protocol_inferred);
	assert_non_null(strstr(r.ep[OTLP_TRACES].note, "http/protobuf inferred from port 4318"));
	assert_false(r.ep[OTLP_TRACES].tls);
	assert_false(r.ep[OTLP_TRACES].gzip);
	assert_int_equal(r.ep[OTLP_TRACES].timeout_ms, 10000);
	assert_null(r.ep[OTLP_TRACES].ca_file);
	release(&r);

	/* A trailing slash is not doubled. */
	resolve(&r, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318/", NULL });
	assert_string_equal(r.ep[OTLP_TRACES].url, "http://collector:4318/v1/traces");
	release(&r);
}

static void test_grpc_inferred_from_4317(void **state)
{
	struct resolved r;

	resolve(&r, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4317", NULL });
	assert_int_equal(r.ep[OTLP_TRACES].protocol, OTLP_PROTOCOL_GRPC);
	assert_true(r.ep[OTLP_TRACES].protocol_inferred);
	assert_non_null(strstr(r.ep[OTLP_TRACES].note, "grpc inferred from port 4317"));
	assert_string_equal(r.ep[OTLP_TRACES].url,
			    "http://otel-collector:4317/opentelemetry.proto.collector.trace.v1.TraceService/Export");
	assert_string_equal(
		r.ep[OTLP_METRICS].url,
		"http://otel-collector:4317/opentelemetry.proto.collector.metrics.v1.MetricsService/Export");
	release(&r);

	/* Explicit grpc: the endpoint's own path is not part of the method. */
	resolve(&r, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=https://gw.example:443/otlp",
					   "OTEL_EXPORTER_OTLP_PROTOCOL=grpc", NULL });
	assert_false(r.ep[OTLP_TRACES].protocol_inferred);
	assert_true(r.ep[OTLP_TRACES].tls);
	assert_string_equal(r.ep[OTLP_TRACES].url,
			    "https://gw.example:443/opentelemetry.proto.collector.trace.v1.TraceService/Export");
	release(&r);
}

static void test_grafana_cloud_example(void **state)
{
	struct resolved r;

	resolve(&r, (const char *const[]){
			    "OTEL_EXPORTER_OTLP_ENDPOINT=https://otlp-gateway-prod-eu-west-0.grafana.net/otlp",
			    "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
			    "OTEL_EXPORTER_OTLP_HEADERS=Authorization=Basic%20MTIzNDU2OmdsY19leUo=",
			    NULL });
	assert_string_equal(r.ep[OTLP_TRACES].url,
			    "https://otlp-gateway-prod-eu-west-0.grafana.net/otlp/v1/traces");
	assert_string_equal(r.ep[OTLP_METRICS].url,
			    "https://otlp-gateway-prod-eu-west-0.grafana.net/otlp/v1/metrics");
	assert_true(r.ep[OTLP_TRACES].tls);
	assert_int_equal(r.ep[OTLP_TRACES].port, 443);
	assert_false(r.ep[OTLP_TRACES].protocol_inferred);
	assert_string_equal(r.ep[OTLP_TRACES].note, "");
	assert_int_equal(r.ep[OTLP_TRACES].headers.count, 1);
	assert_string_equal(otlp_pairs__get(&r.ep[OTLP_METRICS].headers, "authorization"),
			    "Basic MTIzNDU2OmdsY19leUo=");
	release(&r);
}

static void test_per_signal_endpoints(void **state)
{
	struct resolved r;

	/* Per-signal endpoints are used as given; the other signal keeps the base. */
	resolve(&r, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=http://base:4318",
					   "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://t:9999/custom/path",
					   NULL });
	assert_string_equal(r.ep[OTLP_TRACES].url, "http://t:9999/custom/path");
	assert_string_equal(r.ep[OTLP_METRICS].url, "http://base:4318/v1/metrics");
	release(&r);

	/* The seed-era variable is the traces endpoint; metrics stay off. */
	resolve(&r, (const char *const[]){ "OTEL_TRACES_ENDPOINT=http://old:4318/v1/traces", NULL });
	assert_true(r.ep[OTLP_TRACES].enabled);
	assert_string_equal(r.ep[OTLP_TRACES].url, "http://old:4318/v1/traces");
	assert_false(r.ep[OTLP_METRICS].enabled);
	release(&r);

	/* The standard name wins over the seed-era one. */
	resolve(&r, (const char *const[]){ "OTEL_TRACES_ENDPOINT=http://old:4318/v1/traces",
					   "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://new:4318/v1/traces",
					   NULL });
	assert_string_equal(r.ep[OTLP_TRACES].url, "http://new:4318/v1/traces");
	release(&r);

	/* A per-signal gRPC endpoint still gets the method path. */
	resolve(&r, (const char *const[]){ "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=http://m:4317", NULL });
	assert_false(r.ep[OTLP_TRACES].enabled);
	assert_int_equal(r.ep[OTLP_METRICS].protocol, OTLP_PROTOCOL_GRPC);
	assert_string_equal(r.ep[OTLP_METRICS].url,
			    "http://m:4317/opentelemetry.proto.collector.metrics.v1.MetricsService/Export");
	release(&r);
}

static void test_per_signal_settings_win(void **state)
{
	struct resolved r;

	resolve(&r, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4317",
					   "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
					   "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=http/protobuf",
					   "OTEL_EXPORTER_OTLP_COMPRESSION=gzip",
					   "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION=none",
					   "OTEL_EXPORTER_OTLP_TIMEOUT=2500",
					   "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT=700",
					   "OTEL_EXPORTER_OTLP_CERTIFICATE=/etc/base.pem",
					   "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE=/etc/traces.pem",
					   "OTEL_EXPORTER_OTLP_HEADERS=a=1,b=2",
					   "OTEL_EXPORTER_OTLP_TRACES_HEADERS=B=3,c=4",
					   NULL });
	assert_int_equal(r.ep[OTLP_TRACES].protocol, OTLP_PROTOCOL_GRPC);
	assert_int_equal(r.ep[OTLP_METRICS].protocol, OTLP_PROTOCOL_HTTP_PROTOBUF);
	assert_string_equal(r.ep[OTLP_METRICS].url, "http://c:4317/v1/metrics");
	assert_false(r.ep[OTLP_TRACES].gzip);
	assert_true(r.ep[OTLP_METRICS].gzip);
	assert_int_equal(r.ep[OTLP_TRACES].timeout_ms, 2500);
	assert_int_equal(r.ep[OTLP_METRICS].timeout_ms, 700);
	assert_string_equal(r.ep[OTLP_TRACES].ca_file, "/etc/traces.pem");
	assert_string_equal(r.ep[OTLP_METRICS].ca_file, "/etc/base.pem");
	/* Signal headers replace base ones of the same name, case-insensitively. */
	assert_int_equal(r.ep[OTLP_TRACES].headers.count, 3);
	assert_string_equal(otlp_pairs__get(&r.ep[OTLP_TRACES].headers, "a"), "1");
	assert_string_equal(otlp_pairs__get(&r.ep[OTLP_TRACES].headers, "b"), "3");
	assert_string_equal(otlp_pairs__get(&r.ep[OTLP_TRACES].headers, "c"), "4");
	assert_int_equal(r.ep[OTLP_METRICS].headers.count, 2);
	assert_string_equal(otlp_pairs__get(&r.ep[OTLP_METRICS].headers, "b"), "2");
	release(&r);
}

static void test_exporter_selection(void **state)
{
	struct resolved r;

	resolve(&r, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318",
					   "OTEL_TRACES_EXPORTER=none",
					   "OTEL_METRICS_EXPORTER=prometheus,otlp", NULL });
	assert_false(r.ep[OTLP_TRACES].enabled);
	assert_true(r.ep[OTLP_METRICS].enabled);
	release(&r);
	resolve(&r, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318",
					   "OTEL_METRICS_EXPORTER=prometheus", NULL });
	assert_true(r.ep[OTLP_TRACES].enabled);
	assert_false(r.ep[OTLP_METRICS].enabled);
	release(&r);
}

/* Mutual TLS: the signal's own certificate and key, else the base pair;
 * a certificate without its key (or the reverse) is refused by name. */
static void test_client_certificates(void **state)
{
	struct resolved r;
	struct sonde_config cfg;
	struct otlp_endpoint ep;
	char err[256] = "";

	resolve(&r, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=https://c:4318",
					   "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=/etc/me.pem",
					   "OTEL_EXPORTER_OTLP_CLIENT_KEY=/etc/me.key",
					   "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE=/etc/m.pem",
					   "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY=/etc/m.key", NULL });
	assert_string_equal(r.ep[OTLP_TRACES].cert_file, "/etc/me.pem");
	assert_string_equal(r.ep[OTLP_TRACES].key_file, "/etc/me.key");
	assert_string_equal(r.ep[OTLP_METRICS].cert_file, "/etc/m.pem");
	assert_string_equal(r.ep[OTLP_METRICS].key_file, "/etc/m.key");
	release(&r);

	resolve(&r, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=https://c:4318", NULL });
	assert_null(r.ep[OTLP_TRACES].cert_file);
	assert_null(r.ep[OTLP_TRACES].key_file);
	release(&r);

	/* http://: accepted, and said to be unused. */
	resolve(&r, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318",
					   "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=/etc/me.pem",
					   "OTEL_EXPORTER_OTLP_CLIENT_KEY=/etc/me.key", NULL });
	assert_non_null(strstr(r.ep[OTLP_TRACES].note, "client certificate not used"));
	release(&r);

	configure(&cfg, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=https://c:4318",
					       "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=/etc/me.pem", NULL });
	assert_int_equal(otlp_endpoint__resolve(&cfg, OTLP_TRACES, &ep, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "OTEL_EXPORTER_OTLP_CLIENT_KEY"));
	otlp_endpoint__free(&ep);
	config__free(&cfg);
	clear_env();

	/* A signal's own key with the base certificate is not a pair. */
	configure(&cfg, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=https://c:4318",
					       "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=/etc/me.pem",
					       "OTEL_EXPORTER_OTLP_CLIENT_KEY=/etc/me.key",
					       "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY=/etc/t.key", NULL });
	assert_int_equal(otlp_endpoint__resolve(&cfg, OTLP_TRACES, &ep, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE"));
	otlp_endpoint__free(&ep);
	assert_int_equal(otlp_endpoint__resolve(&cfg, OTLP_METRICS, &ep, err, sizeof(err)), 0);
	assert_string_equal(ep.key_file, "/etc/me.key");
	otlp_endpoint__free(&ep);
	config__free(&cfg);
	clear_env();
}

static void test_scheme_rules(void **state)
{
	struct resolved r;
	struct sonde_config cfg;
	struct otlp_endpoint ep;
	char err[256] = "";

	/* No scheme: https, unless OTEL_EXPORTER_OTLP_INSECURE. */
	resolve(&r, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=collector:4317", NULL });
	assert_true(r.ep[OTLP_TRACES].tls);
	assert_string_equal(r.ep[OTLP_TRACES].url,
			    "https://collector:4317/opentelemetry.proto.collector.trace.v1.TraceService/Export");
	release(&r);
	resolve(&r, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318",
					   "OTEL_EXPORTER_OTLP_INSECURE=true", NULL });
	assert_false(r.ep[OTLP_TRACES].tls);
	assert_string_equal(r.ep[OTLP_TRACES].url, "http://collector:4318/v1/traces");
	release(&r);
	/* IPv6 literal. */
	resolve(&r, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=http://[::1]:4318", NULL });
	assert_string_equal(r.ep[OTLP_TRACES].url, "http://[::1]:4318/v1/traces");
	release(&r);

	configure(&cfg, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=ftp://c:21", NULL });
	assert_int_equal(otlp_endpoint__resolve(&cfg, OTLP_TRACES, &ep, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "http or https"));
	config__free(&cfg);
	clear_env();
}

static void test_http_json_is_its_own_protocol(void **state)
{
	struct resolved r;

	resolve(&r, (const char *const[]){ "OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318",
					   "OTEL_EXPORTER_OTLP_PROTOCOL=http/json", NULL });
	assert_int_equal(r.ep[OTLP_TRACES].protocol, OTLP_PROTOCOL_HTTP_JSON);
	/* the same paths as http/protobuf */
	assert_string_equal(r.ep[OTLP_TRACES].url, "http://c:4318/v1/traces");
	assert_string_equal(r.ep[OTLP_METRICS].url, "http://c:4318/v1/metrics");
	release(&r);
}

static void test_bad_values_are_refused(void **state)
{
	struct sonde_config cfg;

	clear_env();
	setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "udp", 1);
	config__defaults(&cfg);
	assert_int_equal(config__from_env(&cfg, stderr), -EINVAL);
	config__free(&cfg);
	clear_env();
	setenv("OTEL_TRACES_SAMPLER", "jaeger_remote", 1);
	config__defaults(&cfg);
	assert_int_equal(config__from_env(&cfg, stderr), -EINVAL);
	config__free(&cfg);
	clear_env();
}

static void test_pairs(void **state)
{
	struct otlp_pairs p = { 0 };

	assert_int_equal(otlp_pairs__parse(&p, " a = 1 ,b=two%20words, Api-Key=x%3Dy%2Cz ", "T"), 0);
	assert_int_equal(p.count, 3);
	assert_string_equal(otlp_pairs__get(&p, "a"), "1");
	assert_string_equal(otlp_pairs__get(&p, "B"), "two words");
	assert_string_equal(otlp_pairs__get(&p, "api-key"), "x=y,z");
	/* '+' and '=' stay: base64 credentials need them. */
	assert_int_equal(otlp_pairs__parse(&p, "Authorization=Basic%20ab+c/d==", "T"), 0);
	assert_string_equal(otlp_pairs__get(&p, "authorization"), "Basic ab+c/d==");
	/* Malformed entries are skipped, the rest kept. */
	assert_int_equal(otlp_pairs__parse(&p, "novalue,=x,bad key=1,k=%zz,ok=1,,", "T"), -EINVAL);
	assert_string_equal(otlp_pairs__get(&p, "ok"), "1");
	assert_null(otlp_pairs__get(&p, "novalue"));
	assert_null(otlp_pairs__get(&p, "k"));
	assert_null(otlp_pairs__get(&p, "bad key"));
	/* No header injection through a decoded newline. */
	assert_int_equal(otlp_pairs__parse(&p, "evil=a%0d%0aX-Injected: 1", "T"), -EINVAL);
	assert_null(otlp_pairs__get(&p, "evil"));
	/* Empty values are allowed; a later value replaces. */
	assert_int_equal(otlp_pairs__parse(&p, "a=,a=3", "T"), 0);
	assert_string_equal(otlp_pairs__get(&p, "a"), "3");
	assert_int_equal(otlp_pairs__parse(&p, NULL, "T"), 0);
	assert_int_equal(otlp_pairs__parse(&p, "", "T"), 0);
	otlp_pairs__free(&p);
	assert_int_equal(p.count, 0);
}

static void test_percent_decode(void **state)
{
	char out[8];

	assert_int_equal(otlp_percent_decode("a%41b", 5, out, sizeof(out)), 3);
	assert_string_equal(out, "aAb");
	assert_int_equal(otlp_percent_decode("%2", 2, out, sizeof(out)), -EINVAL);
	assert_int_equal(otlp_percent_decode("%", 1, out, sizeof(out)), -EINVAL);
	assert_int_equal(otlp_percent_decode("%G1", 3, out, sizeof(out)), -EINVAL);
	assert_int_equal(otlp_percent_decode("12345678", 8, out, sizeof(out)), -EINVAL);
	assert_int_equal(otlp_percent_decode("1234567", 7, out, sizeof(out)), 7);
	assert_int_equal(otlp_percent_decode("", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

/* ---- sampler ---- */

static void set_trace(struct span *s, uint64_t low)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 8; i++) {
		s->trace_id[i] = 0xab;
		s->trace_id[15 - i] = (uint8_t)(low >> (8 * i));
	}
}

static void test_sampler_fixed(void **state)
{
	struct otlp_sampler on, off, pb_on, pb_off;
	struct span s;

	otlp_sampler__init(&on, OTLP_SAMPLER_ALWAYS_ON, NULL);
	otlp_sampler__init(&off, OTLP_SAMPLER_ALWAYS_OFF, NULL);
	otlp_sampler__init(&pb_on, OTLP_SAMPLER_PARENTBASED_ALWAYS_ON, NULL);
	otlp_sampler__init(&pb_off, OTLP_SAMPLER_PARENTBASED_ALWAYS_OFF, NULL);
	set_trace(&s, 42);
	s.trace_flags = 1; /* the pipeline marks roots sampled */
	assert_true(otlp_sampler__sample(&on, &s));
	assert_false(otlp_sampler__sample(&off, &s));
	assert_true(otlp_sampler__sample(&pb_on, &s));
	assert_false(otlp_sampler__sample(&pb_off, &s));
	/* A parent that was not sampled: parent-based kinds follow it. */
	s.parent_span_id[7] = 1;
	s.trace_flags = 0;
	assert_true(otlp_sampler__sample(&on, &s));
	assert_false(otlp_sampler__sample(&pb_on, &s));
	assert_false(otlp_sampler__sample(&pb_off, &s));
	s.trace_flags = 1;
	assert_true(otlp_sampler__sample(&pb_on, &s));
	assert_true(otlp_sampler__sample(&pb_off, &s));
}

static void test_sampler_ratio(void **state)
{
	struct otlp_sampler zero, one, half, bad, pb_tenth;
	uint64_t x = 88172645463325252ull;
	struct span s;
	int kept = 0;

	otlp_sampler__init(&zero, OTLP_SAMPLER_TRACEIDRATIO, "0");
	otlp_sampler__init(&one, OTLP_SAMPLER_TRACEIDRATIO, "1");
	otlp_sampler__init(&half, OTLP_SAMPLER_TRACEIDRATIO, "0.5");
	otlp_sampler__init(&bad, OTLP_SAMPLER_TRACEIDRATIO, "lots");
	otlp_sampler__init(&pb_tenth, OTLP_SAMPLER_PARENTBASED_TRACEIDRATIO, "0.1");
	assert_true(bad.ratio == 1.0);
	/* The decision is on the trace id's last 8 bytes. */
	set_trace(&s, 0);
	assert_false(otlp_sampler__sample(&zero, &s));
	assert_true(otlp_sampler__sample(&one, &s));
	assert_true(otlp_sampler__sample(&half, &s));
	set_trace(&s, UINT64_MAX);
	assert_true(otlp_sampler__sample(&one, &s));
	assert_false(otlp_sampler__sample(&half, &s));
	assert_true(otlp_sampler__sample(&bad, &s));
	/* About half of random ids (xorshift, deterministic). */
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		set_trace(&s, x);
		kept += otlp_sampler__sample(&half, &s);
	}
	assert_in_range(kept, 9500, 10500);
	/* Parent-based ratio: the parent decides when there is one. */
	set_trace(&s, UINT64_MAX);
	assert_false(otlp_sampler__sample(&pb_tenth, &s));
	s.parent_span_id[0] = 9;
	s.trace_flags = 1;
	assert_true(otlp_sampler__sample(&pb_tenth, &s));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_choices_match_enums),
		cmocka_unit_test(test_nothing_configured),
		cmocka_unit_test(test_base_http_endpoint),
		cmocka_unit_test(test_grpc_inferred_from_4317),
		cmocka_unit_test(test_grafana_cloud_example),
		cmocka_unit_test(test_per_signal_endpoints),
		cmocka_unit_test(test_per_signal_settings_win),
		cmocka_unit_test(test_exporter_selection),
		cmocka_unit_test(test_scheme_rules),
		cmocka_unit_test(test_client_certificates),
		cmocka_unit_test(test_http_json_is_its_own_protocol),
		cmocka_unit_test(test_bad_values_are_refused),
		cmocka_unit_test(test_pairs),
		cmocka_unit_test(test_percent_decode),
		cmocka_unit_test(test_sampler_fixed),
		cmocka_unit_test(test_sampler_ratio),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
