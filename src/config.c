// SPDX-License-Identifier: Apache-2.0
/* The configuration table and the parsers it drives. See config.h. */
#include "config.h"

#include "model/netflow.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OFF(field) offsetof(struct sonde_config, field)

static const char *const printer_names[] = { "", "disabled", "text", "json", NULL };
static const char *const naming_names[] = { "otel", "legacy", NULL };
static const char *const log_names[] = { "error", "warn", "info", "debug", NULL };
static const char *const unmatched_names[] = { "heuristic", "path", "wildcard", NULL };
static const char *const ignore_names[] = { "all", "traces", "metrics", NULL };

const struct config_option config_options[] = {
	{ "discovery.open_ports", CONFIG_PORTS, NULL,
	  { "SONDE_OPEN_PORT", "OPEN_PORT", "BEYLA_OPEN_PORT", "OTEL_EBPF_OPEN_PORT" },
	  OFF(open_ports), NULL,
	  "Instrument processes listening on these ports: 8080, lists and ranges (80,443,8000-8999)." },
	{ "discovery.exe_path_regexp", CONFIG_REGEX, NULL,
	  { "SONDE_EXECUTABLE_NAME", "EXECUTABLE_NAME", "BEYLA_EXECUTABLE_NAME",
	    "OTEL_EBPF_EXECUTABLE_NAME" },
	  OFF(exe_regex), NULL,
	  "Instrument processes whose executable path matches this extended regular expression." },
	{ "discovery.exe_path_glob", CONFIG_STRING, NULL,
	  { "SONDE_AUTO_TARGET_EXE", "OTEL_EBPF_AUTO_TARGET_EXE", "BEYLA_AUTO_TARGET_EXE" },
	  OFF(exe_glob), NULL,
	  "Instrument processes whose executable path matches this glob (*/java, /usr/sbin/nginx)." },
	{ "discovery.target_pids", CONFIG_PIDS, NULL, { "SONDE_TARGET_PID" }, OFF(target_pids), NULL,
	  "Instrument these process ids (comma-separated)." },
	{ "discovery.poll_interval", CONFIG_DURATION, "2s",
	  { "SONDE_DISCOVERY_INTERVAL", "BEYLA_DISCOVERY_POLL_INTERVAL" },
	  OFF(discovery_interval_ms), NULL,
	  "How often to rescan processes, besides reacting to exec and listen at once." },
	{ "service_name", CONFIG_STRING, NULL,
	  { "SONDE_SERVICE_NAME", "OTEL_EBPF_SERVICE_NAME", "BEYLA_SERVICE_NAME", "OTEL_SERVICE_NAME" },
	  OFF(service_name), NULL,
	  "Service name of the instrumented processes (default: derived from each process)." },
	{ "service_namespace", CONFIG_STRING, NULL,
	  { "SONDE_SERVICE_NAMESPACE", "OTEL_EBPF_SERVICE_NAMESPACE", "BEYLA_SERVICE_NAMESPACE" },
	  OFF(service_namespace), NULL, "Service namespace, added as service_namespace." },
	{ "trace_printer", CONFIG_ENUM, NULL,
	  { "SONDE_TRACE_PRINTER", "BEYLA_TRACE_PRINTER", "OTEL_EBPF_TRACE_PRINTER" },
	  OFF(trace_printer), printer_names,
	  "Print spans on stdout: text, json or disabled. Default: text when no other output is set." },
	{ "print_traces", CONFIG_BOOL, "false", { "PRINT_TRACES", "BEYLA_PRINT_TRACES" },
	  OFF(print_traces), NULL, "Seed-era switch: true is trace_printer=text." },
	{ "prometheus_export.port", CONFIG_PORT, "0",
	  { "SONDE_PROMETHEUS_PORT", "BEYLA_PROMETHEUS_PORT", "OTEL_EBPF_PROMETHEUS_PORT" },
	  OFF(prometheus_port), NULL, "Serve Prometheus metrics on this port (0: off)." },
	{ "prometheus_export.path", CONFIG_STRING, "/metrics",
	  { "SONDE_PROMETHEUS_PATH", "BEYLA_PROMETHEUS_PATH", "OTEL_EBPF_PROMETHEUS_PATH" },
	  OFF(prometheus_path), NULL, "HTTP path of the Prometheus endpoint." },
	{ "prometheus_export.address", CONFIG_STRING, NULL, { "SONDE_PROMETHEUS_ADDRESS" },
	  OFF(prometheus_address), NULL,
	  "Address the Prometheus endpoint listens on, e.g. 127.0.0.1 or ::1 (default: every "
	  "address, IPv6 and IPv4)." },
	{ "prometheus_export.web_config_file", CONFIG_STRING, NULL,
	  { "SONDE_PROMETHEUS_WEB_CONFIG_FILE" }, OFF(prometheus_web_config), NULL,
	  "TLS and basic auth of the Prometheus endpoint, in the Prometheus web.config.file format "
	  "(tls_server_config, basic_auth_users)." },
	{ "prometheus_export.max_connections", CONFIG_INT, "64",
	  { "SONDE_PROMETHEUS_MAX_CONNECTIONS" }, OFF(prometheus_max_conns), NULL,
	  "Connections the Prometheus endpoint holds at once; more wait in the kernel's queue." },
	{ "prometheus_export.max_connections_per_ip", CONFIG_INT, "8",
	  { "SONDE_PROMETHEUS_MAX_CONNECTIONS_PER_IP" }, OFF(prometheus_max_conns_per_ip), NULL,
	  "Connections from one client address at once; more are closed at once (0: no limit)." },
	{ "prometheus_export.connection_timeout", CONFIG_DURATION, "10s",
	  { "SONDE_PROMETHEUS_CONNECTION_TIMEOUT" }, OFF(prometheus_conn_timeout_ms), NULL,
	  "A Prometheus connection idle (or sending its request) this long is closed (whole seconds)." },
	{ "prometheus_export.naming", CONFIG_ENUM, "otel", { "SONDE_METRICS_NAMING" },
	  OFF(metrics_naming), naming_names,
	  "Metric names: otel (semantic conventions) or legacy (http_server_duration_seconds, ...)." },
	{ "routes.max_per_service", CONFIG_INT, "100", { "SONDE_ROUTE_CAP" }, OFF(route_cap), NULL,
	  "Distinct http_route values per service; the rest fold into \"/**\" and are counted." },
	{ "metrics.max_series_per_metric", CONFIG_INT, "10000", { "SONDE_MAX_SERIES_PER_METRIC" },
	  OFF(max_series), NULL,
	  "Series (label sets) per metric; observations of further ones are dropped and counted "
	  "(sonde_metric_series_overflow_total)." },
	{ "routes.patterns", CONFIG_LIST, NULL, { "SONDE_ROUTE_PATTERNS" }, OFF(route_patterns), NULL,
	  "Route patterns, /users/{id} or /users/:id; a matching path takes the pattern as http_route." },
	{ "routes.unmatched", CONFIG_ENUM, "heuristic", { "SONDE_ROUTE_UNMATCHED" }, OFF(route_unmatched),
	  unmatched_names,
	  "Route of paths no pattern matches: heuristic (ids become *), path (as is), wildcard (/**)." },
	{ "routes.ignored_patterns", CONFIG_LIST, NULL, { "SONDE_IGNORED_ROUTES" }, OFF(ignored_patterns),
	  NULL, "Paths to ignore (same pattern syntax; a trailing * matches any rest), e.g. /health." },
	{ "routes.ignore_mode", CONFIG_ENUM, "all", { "SONDE_IGNORE_MODE" }, OFF(ignore_mode), ignore_names,
	  "What ignored paths lose: all (spans and metrics), traces, or metrics." },
	{ "traces.link_wait", CONFIG_DURATION, "5s", { "SONDE_LINK_WAIT" }, OFF(link_wait_ms), NULL,
	  "Longest time a span waits for its parent (a caller's span completes after its callee's)." },
	{ "log_level", CONFIG_ENUM, "info", { "SONDE_LOG_LEVEL", "BEYLA_LOG_LEVEL", "OTEL_EBPF_LOG_LEVEL" },
	  OFF(log_level), log_names, "Log level on stderr: error, warn, info, debug." },
	{ "ebpf.wakeup_bytes", CONFIG_SIZE, "64K", { "SONDE_WAKEUP_BYTES" }, OFF(wakeup_bytes), NULL,
	  "Ring buffer bytes waiting before the kernel wakes Sonde (batches wake-ups)." },
	{ "ebpf.poll_interval", CONFIG_DURATION, "50ms", { "SONDE_POLL_INTERVAL" }, OFF(poll_ms), NULL,
	  "Longest time an event waits in the ring buffer when traffic is low." },
	{ "nice", CONFIG_INT, "10", { "SONDE_NICE" }, OFF(nice), NULL,
	  "Niceness Sonde runs at, 0 to 19: above 0 its threads yield the CPU to the traced "
	  "services and run as SCHED_BATCH (their wake-ups never preempt a service); the ring "
	  "buffer holds the events meanwhile, and any it cannot are counted as lost." },
	{ "ebpf.tls", CONFIG_BOOL, "true", { "SONDE_TLS" }, OFF(tls), NULL,
	  "Follow HTTPS: uprobes on the OpenSSL of traced processes (libssl, or linked in) "
	  "and on Go's crypto/tls." },
	/* OTLP export */
	/* Choice lists are indexed by the enums of export/otlp_config.h
	 * (tests/unit/test_otlp_config.c checks they agree). */
#define OTLP_PROTOCOLS ((const char *const[]){ "", "grpc", "http/protobuf", "http/json", NULL })
#define OTLP_COMPRESSIONS ((const char *const[]){ "", "none", "gzip", NULL })
	{ "otel_export.endpoint", CONFIG_STRING, NULL, { "OTEL_EXPORTER_OTLP_ENDPOINT" },
	  OFF(otlp_endpoint), NULL,
	  "OTLP endpoint of traces and metrics, e.g. http://collector:4318; HTTP adds /v1/traces, "
	  "/v1/metrics." },
	{ "otel_traces_export.endpoint", CONFIG_STRING, NULL,
	  { "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_ENDPOINT" }, OFF(otlp_traces_endpoint),
	  NULL, "OTLP endpoint of traces, used as given (http://collector:4318/v1/traces)." },
	{ "otel_metrics_export.endpoint", CONFIG_STRING, NULL, { "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" },
	  OFF(otlp_metrics_endpoint), NULL,
	  "OTLP endpoint of metrics, used as given (http://collector:4318/v1/metrics)." },
	{ "otel_export.protocol", CONFIG_ENUM, NULL, { "OTEL_EXPORTER_OTLP_PROTOCOL" }, OFF(otlp_protocol),
	  OTLP_PROTOCOLS,
	  "OTLP protocol; unset: grpc on port 4317, else http/protobuf. http/json: the "
	  "OTLP JSON encoding on the same paths." },
	{ "otel_traces_export.protocol", CONFIG_ENUM, NULL, { "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" },
	  OFF(otlp_traces_protocol), OTLP_PROTOCOLS, "OTLP protocol of traces (overrides the above)." },
	{ "otel_metrics_export.protocol", CONFIG_ENUM, NULL, { "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL" },
	  OFF(otlp_metrics_protocol), OTLP_PROTOCOLS, "OTLP protocol of metrics (overrides the above)." },
	{ "otel_export.headers", CONFIG_STRING, NULL, { "OTEL_EXPORTER_OTLP_HEADERS" }, OFF(otlp_headers),
	  NULL, "Headers (gRPC metadata) of every OTLP request: key=value,key2=value2, URL-encoded." },
	{ "otel_traces_export.headers", CONFIG_STRING, NULL, { "OTEL_EXPORTER_OTLP_TRACES_HEADERS" },
	  OFF(otlp_traces_headers), NULL, "Headers of trace requests (replace those above by key)." },
	{ "otel_metrics_export.headers", CONFIG_STRING, NULL, { "OTEL_EXPORTER_OTLP_METRICS_HEADERS" },
	  OFF(otlp_metrics_headers), NULL, "Headers of metric requests (replace those above by key)." },
	{ "otel_export.timeout", CONFIG_DURATION, "10s", { "OTEL_EXPORTER_OTLP_TIMEOUT" },
	  OFF(otlp_timeout_ms), NULL, "Time limit of one OTLP request (a bare number is milliseconds)." },
	{ "otel_traces_export.timeout", CONFIG_DURATION, NULL, { "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT" },
	  OFF(otlp_traces_timeout_ms), NULL, "Time limit of one trace request (default: the above)." },
	{ "otel_metrics_export.timeout", CONFIG_DURATION, NULL, { "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT" },
	  OFF(otlp_metrics_timeout_ms), NULL, "Time limit of one metric request (default: the above)." },
	{ "otel_export.compression", CONFIG_ENUM, NULL, { "OTEL_EXPORTER_OTLP_COMPRESSION" },
	  OFF(otlp_compression), OTLP_COMPRESSIONS, "Compression of OTLP requests: gzip or none." },
	{ "otel_traces_export.compression", CONFIG_ENUM, NULL, { "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION" },
	  OFF(otlp_traces_compression), OTLP_COMPRESSIONS, "Compression of trace requests." },
	{ "otel_metrics_export.compression", CONFIG_ENUM, NULL,
	  { "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION" }, OFF(otlp_metrics_compression), OTLP_COMPRESSIONS,
	  "Compression of metric requests." },
	{ "otel_export.certificate", CONFIG_STRING, NULL, { "OTEL_EXPORTER_OTLP_CERTIFICATE" },
	  OFF(otlp_certificate), NULL, "CA certificates (PEM file) that https endpoints are checked with." },
	{ "otel_traces_export.certificate", CONFIG_STRING, NULL, { "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE" },
	  OFF(otlp_traces_certificate), NULL, "CA certificates of the traces endpoint." },
	{ "otel_metrics_export.certificate", CONFIG_STRING, NULL,
	  { "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE" }, OFF(otlp_metrics_certificate), NULL,
	  "CA certificates of the metrics endpoint." },
	{ "otel_export.client_certificate", CONFIG_STRING, NULL,
	  { "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE" }, OFF(otlp_client_certificate), NULL,
	  "Client certificate (PEM file) Sonde presents to https endpoints that ask for one "
	  "(mutual TLS); with client_key." },
	{ "otel_traces_export.client_certificate", CONFIG_STRING, NULL,
	  { "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE" }, OFF(otlp_traces_client_certificate),
	  NULL, "Client certificate for the traces endpoint." },
	{ "otel_metrics_export.client_certificate", CONFIG_STRING, NULL,
	  { "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE" }, OFF(otlp_metrics_client_certificate),
	  NULL, "Client certificate for the metrics endpoint." },
	{ "otel_export.client_key", CONFIG_STRING, NULL, { "OTEL_EXPORTER_OTLP_CLIENT_KEY" },
	  OFF(otlp_client_key), NULL, "Private key (PEM file, unencrypted) of the client certificate." },
	{ "otel_traces_export.client_key", CONFIG_STRING, NULL,
	  { "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY" }, OFF(otlp_traces_client_key), NULL,
	  "Private key of the traces endpoint's client certificate." },
	{ "otel_metrics_export.client_key", CONFIG_STRING, NULL,
	  { "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY" }, OFF(otlp_metrics_client_key), NULL,
	  "Private key of the metrics endpoint's client certificate." },
	{ "otel_export.insecure", CONFIG_BOOL, "false", { "OTEL_EXPORTER_OTLP_INSECURE" },
	  OFF(otlp_insecure), NULL, "An endpoint given without a scheme is http:// (else https://)." },
	{ "otel_traces_export.exporter", CONFIG_STRING, NULL, { "OTEL_TRACES_EXPORTER" },
	  OFF(otlp_traces_exporter), NULL, "none: send no traces over OTLP even with an endpoint set." },
	{ "otel_metrics_export.exporter", CONFIG_STRING, NULL, { "OTEL_METRICS_EXPORTER" },
	  OFF(otlp_metrics_exporter), NULL, "none: send no metrics over OTLP even with an endpoint set." },
	{ "otel_metrics_export.interval", CONFIG_DURATION, "60s",
	  { "OTEL_METRIC_EXPORT_INTERVAL", "BEYLA_METRICS_INTERVAL", "OTEL_EBPF_METRICS_INTERVAL" },
	  OFF(otlp_metrics_interval_ms), NULL, "How often metrics are sent over OTLP." },
	{ "otel_export.resource_attributes", CONFIG_STRING, NULL, { "OTEL_RESOURCE_ATTRIBUTES" },
	  OFF(otlp_resource_attributes), NULL,
	  "Resource attributes added to OTLP data: key=value,key2=value2, URL-encoded." },
	{ "otel_traces_export.sampler.name", CONFIG_ENUM, "parentbased_always_on", { "OTEL_TRACES_SAMPLER" },
	  OFF(otlp_sampler),
	  ((const char *const[]){ "", "always_on", "always_off", "traceidratio", "parentbased_always_on",
				  "parentbased_always_off", "parentbased_traceidratio", NULL }),
	  "Which spans are sent over OTLP (metrics count every span)." },
	{ "otel_traces_export.sampler.arg", CONFIG_STRING, NULL, { "OTEL_TRACES_SAMPLER_ARG" },
	  OFF(otlp_sampler_arg), NULL, "Ratio of the traceidratio samplers, 0 to 1 (default 1)." },
	{ "otel_traces_export.batch.max_queue_size", CONFIG_INT, "2048", { "OTEL_BSP_MAX_QUEUE_SIZE" },
	  OFF(otlp_queue_size), NULL,
	  "Spans waiting to be sent; more are dropped and counted (sonde_export_dropped_total)." },
	{ "otel_traces_export.batch.max_export_batch_size", CONFIG_INT, "512",
	  { "OTEL_BSP_MAX_EXPORT_BATCH_SIZE" }, OFF(otlp_batch_size), NULL, "Spans per OTLP request." },
	{ "otel_traces_export.batch.schedule_delay", CONFIG_DURATION, "5s", { "OTEL_BSP_SCHEDULE_DELAY" },
	  OFF(otlp_batch_delay_ms), NULL, "Longest time a span waits for a full batch." },
	{ "otel_metrics_export.histogram_aggregation", CONFIG_ENUM, "explicit_bucket_histogram",
	  { "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION" },
	  OFF(otlp_histogram_aggregation),
	  ((const char *const[]){ "explicit_bucket_histogram", "base2_exponential_bucket_histogram",
				  NULL }),
	  "OTLP histograms: explicit_bucket_histogram (the Prometheus buckets) or "
	  "base2_exponential_bucket_histogram." },
	{ "otel_metrics_export.exponential_max_size", CONFIG_INT, "160",
	  { "SONDE_OTLP_EXPONENTIAL_MAX_SIZE" }, OFF(otlp_exp_max_size), NULL,
	  "Buckets of a base-2 exponential histogram (at least 2); a wider range lowers its scale." },
	{ "otel_metrics_export.exponential_max_scale", CONFIG_INT, "20",
	  { "SONDE_OTLP_EXPONENTIAL_MAX_SCALE" }, OFF(otlp_exp_max_scale), NULL,
	  "Starting (finest) scale of base-2 exponential histograms, 0 to 20." },
#undef OTLP_PROTOCOLS
#undef OTLP_COMPRESSIONS
	/* end of OTLP export */
	/* span metrics, service graph, live view */
	{ "prometheus_export.features", CONFIG_LIST, "application",
	  { "SONDE_PROMETHEUS_FEATURES", "BEYLA_PROMETHEUS_FEATURES", "OTEL_EBPF_PROMETHEUS_FEATURES" },
	  OFF(prom_features), NULL,
	  "Metric families on the Prometheus endpoint: application (RED histograms), "
	  "application_span (traces_spanmetrics_*), application_service_graph "
	  "(traces_service_graph_*), network (sonde_network_flow_bytes_total)." },
	{ "otel_metrics_export.features", CONFIG_LIST, "application",
	  { "SONDE_OTEL_METRICS_FEATURES", "OTEL_EBPF_OTEL_METRICS_FEATURES",
	    "OTEL_EBPF_OTEL_METRIC_FEATURES", "BEYLA_OTEL_METRICS_FEATURES",
	    "BEYLA_OTEL_METRIC_FEATURES" },
	  OFF(otlp_features), NULL, "Metric families sent over OTLP (same names as above)." },
	{ "otel_semconv_stability_opt_in", CONFIG_LIST, NULL, { "OTEL_SEMCONV_STABILITY_OPT_IN" },
	  OFF(semconv_opt_in), NULL,
	  "As in the OTel SDKs: http (stable HTTP conventions only, even in legacy naming) or "
	  "http/dup (stable and previous names side by side in OTLP spans and metrics)." },
	{ "metrics.span_metrics", CONFIG_BOOL, "false", { "SONDE_SPAN_METRICS" }, OFF(span_metrics),
	  NULL, "Add application_span to both features lists: span metrics as Tempo names them." },
	{ "db.query_text", CONFIG_BOOL, "false", { "SONDE_DB_QUERY_TEXT" }, OFF(db_query_text), NULL,
	  "Put db.query.text on database spans, string and number literals masked as ? (a query "
	  "can hold secrets even so: off by default)." },
	{ "metrics.service_graph", CONFIG_BOOL, "false", { "SONDE_SERVICE_GRAPH_METRICS" },
	  OFF(service_graph_metrics), NULL,
	  "Add application_service_graph to both features lists: service-graph metrics from "
	  "linked client/server spans." },
	{ "network.enable", CONFIG_BOOL, "false",
	  { "SONDE_NETWORK_METRICS", "BEYLA_NETWORK_METRICS", "OTEL_EBPF_NETWORK_METRICS" },
	  OFF(network_enable), NULL,
	  "Add network to both features lists: bytes of every TCP and UDP flow on the host "
	  "(sonde_network_flow_bytes_total)." },
	{ "network.cidrs", CONFIG_LIST, NULL,
	  { "SONDE_NETWORK_CIDRS", "BEYLA_NETWORK_CIDRS", "OTEL_EBPF_NETWORK_CIDRS" },
	  OFF(network_cidrs), NULL,
	  "CIDRs (10.0.0.0/8, fd00::/8) whose most specific one containing a flow's address is "
	  "its src_cidr/dst_cidr label." },
	{ "network.protocols", CONFIG_LIST, NULL,
	  { "SONDE_NETWORK_PROTOCOLS", "BEYLA_NETWORK_PROTOCOLS", "OTEL_EBPF_NETWORK_PROTOCOLS" },
	  OFF(network_protocols), NULL,
	  "Transport protocols whose flows are counted (Linux names: TCP, UDP, ...; Sonde counts "
	  "TCP and UDP flows); empty: all. TCP costs nothing per packet; UDP is counted per "
	  "packet, by programs that then run for every packet." },
	{ "network.exclude_protocols", CONFIG_LIST, NULL,
	  { "SONDE_NETWORK_EXCLUDE_PROTOCOLS", "BEYLA_NETWORK_EXCLUDE_PROTOCOLS",
	    "OTEL_EBPF_NETWORK_EXCLUDE_PROTOCOLS" },
	  OFF(network_exclude_protocols), NULL,
	  "Transport protocols whose flows are not counted (ignored when network.protocols is "
	  "set); e.g. UDP, to keep the per-packet programs off." },
	{ "ui.port", CONFIG_PORT, "0", { "SONDE_UI_PORT" }, OFF(ui_port), NULL,
	  "Serve the live view (web page: services, service graph, routes, recent traces) on "
	  "this port (0: off)." },
	{ "ui.address", CONFIG_STRING, "127.0.0.1", { "SONDE_UI_ADDRESS" }, OFF(ui_address), NULL,
	  "Address the live view listens on (numeric; :: or 0.0.0.0 for every address)." },
	{ "ui.max_traces", CONFIG_INT, "200", { "SONDE_UI_MAX_TRACES" }, OFF(ui_max_traces), NULL,
	  "Recent traces the live view keeps (at most 64 spans each); older ones are dropped "
	  "and counted." },
};

const size_t config_options_count = sizeof(config_options) / sizeof(config_options[0]);

static const char *type_names[] = {
	[CONFIG_BOOL] = "bool",	      [CONFIG_INT] = "int",	  [CONFIG_PORT] = "port",
	[CONFIG_PORTS] = "ports",     [CONFIG_PIDS] = "pids",	  [CONFIG_STRING] = "string",
	[CONFIG_REGEX] = "regex",     [CONFIG_ENUM] = "enum",	  [CONFIG_DURATION] = "duration",
	[CONFIG_SIZE] = "size",	      [CONFIG_LIST] = "list",
};

static void *field(struct sonde_config *cfg, const struct config_option *opt)
{
	return (char *)cfg + opt->offset;
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Call @fn on each comma-separated item of @s, blanks trimmed and empty
 * items skipped; stop at the first error. */
static int split_items(const char *s, int (*fn)(char *item, void *ctx), void *ctx)
{
	char *copy = strdup(s), *save = NULL, *tok;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok && !err; tok = strtok_r(NULL, ",", &save)) {
		while (isspace((unsigned char)*tok))
			tok++;
		for (char *end = tok + strlen(tok); end > tok && isspace((unsigned char)end[-1]);)
			*--end = '\0';
		if (*tok)
			err = fn(tok, ctx);
	}
	free(copy);
	return err;
}

static int add_port_range(char *item, void *ctx)
{
	struct port_ranges *out = ctx;
	char *dash = strchr(item, '-');
	uint64_t lo, hi;

	if (dash)
		*dash = '\0';
	if (parse_uint(item, 65535, &lo) || lo == 0 ||
	    (dash ? parse_uint(dash + 1, 65535, &hi) : (hi = lo, 0)) || hi < lo ||
	    out->count == PORT_RANGES_MAX)
		return -EINVAL;
	out->range[out->count].lo = lo;
	out->range[out->count].hi = hi;
	out->count++;
	return 0;
}

static int parse_ports(const char *s, struct port_ranges *out)
{
	out->count = 0;
	if (split_items(s, add_port_range, out) || out->count == 0)
		return -EINVAL;
	return 0;
}

static int add_pid(char *item, void *ctx)
{
	struct pid_list *out = ctx;
	uint64_t v;

	if (parse_uint(item, INT32_MAX, &v) || v == 0 || out->count == PID_LIST_MAX)
		return -EINVAL;
	out->pid[out->count++] = v;
	return 0;
}

static int parse_pids(const char *s, struct pid_list *out)
{
	out->count = 0;
	if (split_items(s, add_pid, out) || out->count == 0)
		return -EINVAL;
	return 0;
}

static void list_clear(struct route_patterns *l)
{
	for (unsigned int i = 0; i < l->count; i++)
		free(l->v[i]);
	l->count = 0;
}

static int add_list_item(char *item, void *ctx)
{
	struct route_patterns *l = ctx;

	if (l->count == ROUTE_PATTERNS_MAX || !(l->v[l->count] = strdup(item)))
		return -EINVAL;
	l->count++;
	return 0;
}

/* Appends the comma-separated items of @s (a YAML sequence calls this once
 * per item, so items may not contain commas there either). */
int config__list_append(struct route_patterns *l, const char *s)
{
	return split_items(s, add_list_item, l);
}

int parse_duration_ms(const char *s, uint64_t *out)
{
	char *end;
	double v;
	double scale;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	if (!strcmp(end, "") || !strcmp(end, "ms"))
		scale = 1;
	else if (!strcmp(end, "us") || !strcmp(end, "µs"))
		scale = 0.001;
	else if (!strcmp(end, "s"))
		scale = 1000;
	else if (!strcmp(end, "m"))
		scale = 60000;
	else if (!strcmp(end, "h"))
		scale = 3600000;
	else
		return -EINVAL;
	*out = (uint64_t)(v * scale + 0.5);
	return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "1", "yes", "on" };
	static const char *const no[] = { "false", "0", "no", "off", "" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!strcasecmp(s, yes[i]))
			return *out = true, 0;
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (!strcasecmp(s, no[i]))
			return *out = false, 0;
	return -EINVAL;
}

static void describe_expected(const struct config_option *opt, char *err, size_t err_size,
			      const char *value)
{
	switch (opt->type) {
	case CONFIG_BOOL:
		snprintf(err, err_size, "'%s' is not a boolean (true or false)", value);
		break;
	case CONFIG_INT:
		snprintf(err, err_size, "'%s' is not a whole number", value);
		break;
	case CONFIG_PORT:
		snprintf(err, err_size, "'%s' is not a port (0 to 65535)", value);
		break;
	case CONFIG_PORTS:
		snprintf(err, err_size,
			 "'%s' is not a port list (1 to 65535, lists and ranges like 80,443,8000-8999)",
			 value);
		break;
	case CONFIG_PIDS:
		snprintf(err, err_size, "'%s' is not a list of process ids", value);
		break;
	case CONFIG_DURATION:
		snprintf(err, err_size, "'%s' is not a duration (like 500ms, 2s, 1m)", value);
		break;
	case CONFIG_SIZE:
		snprintf(err, err_size, "'%s' is not a size (like 65536, 64K, 1M)", value);
		break;
	case CONFIG_LIST:
		snprintf(err, err_size, "'%s': at most %d items", value, ROUTE_PATTERNS_MAX);
		break;
	case CONFIG_ENUM: {
		size_t n = 0;

		n += snprintf(err + n, err_size - n, "'%s' is not one of", value);
		for (const char *const *c = opt->choices; *c && n < err_size; c++)
			if (**c)
				n += snprintf(err + n, err_size - n, " %s", *c);
		break;
	}
	default:
		snprintf(err, err_size, "bad value '%s'", value);
	}
}

int config__set(struct sonde_config *cfg, const struct config_option *opt, const char *value,
		char *err, size_t err_size)
{
	void *dst = field(cfg, opt);
	uint64_t u;
	int rc = 0;

	switch (opt->type) {
	case CONFIG_BOOL:
		rc = parse_bool(value, dst);
		break;
	case CONFIG_INT:
		rc = parse_uint(value, INT32_MAX, &u);
		if (!rc)
			*(int *)dst = u;
		break;
	case CONFIG_PORT:
		rc = parse_uint(value, 65535, &u);
		if (!rc)
			*(int *)dst = u;
		break;
	case CONFIG_PORTS:
		rc = parse_ports(value, dst);
		break;
	case CONFIG_PIDS:
		rc = parse_pids(value, dst);
		break;
	case CONFIG_REGEX: {
		regex_t re;
		const char *why_not;
		int rerr;

		if (config__regex_sane(value, &why_not)) {
			snprintf(err, err_size, "'%.64s' is refused as a regular expression: %s", value,
				 why_not);
			return -EINVAL;
		}
		rerr = regcomp(&re, value, REG_EXTENDED | REG_NOSUB);

		if (rerr) {
			char why[128];

			regerror(rerr, &re, why, sizeof(why));
			snprintf(err, err_size, "'%s' is not a valid regular expression: %s", value, why);
			return -EINVAL;
		}
		regfree(&re);
	}
		/* stored as text, compiled by its user */
		__attribute__((fallthrough));
	case CONFIG_STRING: {
		char *copy = strdup(value);

		if (!copy)
			return -ENOMEM;
		free(*(char **)dst);
		*(char **)dst = copy;
		break;
	}
	case CONFIG_ENUM:
		rc = -EINVAL;
		for (int i = 0; opt->choices[i]; i++) {
			if (*opt->choices[i] && !strcasecmp(value, opt->choices[i])) {
				*(int *)dst = i;
				rc = 0;
				break;
			}
		}
		break;
	case CONFIG_DURATION:
		rc = parse_duration_ms(value, dst);
		break;
	case CONFIG_SIZE:
		rc = parse_size(value, dst);
		break;
	case CONFIG_LIST:
		list_clear(dst);
		rc = config__list_append(dst, value);
		break;
	}
	if (rc)
		describe_expected(opt, err, err_size, value);
	return rc ? -EINVAL : 0;
}

void config__defaults(struct sonde_config *cfg)
{
	char err[256];

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < config_options_count; i++)
		if (config_options[i].def)
			/* Defaults are ours and valid: a failure here is a bug
			 * that the config unit test catches. */
			config__set(cfg, &config_options[i], config_options[i].def, err, sizeof(err));
	/* The default features lists ("application"), as config__finish resolves them. */
	config__features(&cfg->prom_features, &cfg->prom_feature_mask, err, sizeof(err));
	config__features(&cfg->otlp_features, &cfg->otlp_feature_mask, err, sizeof(err));
	config__http_conventions(cfg->metrics_naming, &cfg->semconv_opt_in, &cfg->otlp_span_conv,
				 &cfg->otlp_metric_conv);
}

int config__from_env(struct sonde_config *cfg, FILE *errf)
{
	char err[256];

	for (size_t i = 0; i < config_options_count; i++) {
		const struct config_option *opt = &config_options[i];

		for (int e = 0; e < CONFIG_ENV_MAX && opt->env[e]; e++) {
			const char *v = getenv(opt->env[e]);

			if (!v)
				continue;
			if (config__set(cfg, opt, v, err, sizeof(err))) {
				fprintf(errf, "sonde: bad environment variable %s: %s\n", opt->env[e], err);
				return -EINVAL;
			}
			break;
		}
	}
	return 0;
}

/* The IP protocol names of <linux/in.h>, as network.protocols takes them. */
static const char *const ip_protocol_names[] = {
	"IP",	   "ICMP",  "IGMP",  "IPIP",	"TCP",	 "EGP",	    "PUP",  "UDP",  "IDP",
	"TP",	   "DCCP",  "IPV6",  "RSVP",	"GRE",	 "ESP",	    "AH",   "MTP",  "BEETPH",
	"ENCAP",   "PIM",   "COMP",  "L2TP",	"SCTP",	 "UDPLITE", "MPLS", "ETHERNET", "RAW",
};

static int protocol_list_check(const struct route_patterns *l, const char *key, FILE *errf)
{
	for (unsigned int i = 0; i < l->count; i++) {
		bool known = false;

		for (size_t k = 0; k < sizeof(ip_protocol_names) / sizeof(ip_protocol_names[0]); k++)
			known |= !strcasecmp(l->v[i], ip_protocol_names[k]);
		if (!known) {
			fprintf(errf, "sonde: %s: '%s' is not an IP protocol name (TCP, UDP, ICMP, "
				      "SCTP, ...)\n", key, l->v[i]);
			return -EINVAL;
		}
	}
	return 0;
}

static bool protocol_listed(const struct route_patterns *l, const char *name)
{
	for (unsigned int i = 0; i < l->count; i++)
		if (!strcasecmp(l->v[i], name))
			return true;
	return false;
}

/* Which of the transports Sonde counts the two lists leave: protocols when
 * set, else all but exclude_protocols (Beyla's rule). */
static int network_protocols_finish(struct sonde_config *cfg, FILE *errf)
{
	const struct route_patterns *inc = &cfg->network_protocols;
	const struct route_patterns *exc = &cfg->network_exclude_protocols;

	if (protocol_list_check(inc, "network.protocols", errf) ||
	    protocol_list_check(exc, "network.exclude_protocols", errf))
		return -EINVAL;
	if (inc->count) {
		cfg->network_tcp = protocol_listed(inc, "TCP");
		cfg->network_udp = protocol_listed(inc, "UDP");
	} else {
		cfg->network_tcp = !protocol_listed(exc, "TCP");
		cfg->network_udp = !protocol_listed(exc, "UDP");
	}
	return 0;
}

int config__finish(struct sonde_config *cfg, FILE *errf)
{
	if (cfg->trace_printer == PRINTER_UNSET) {
		if (cfg->print_traces) {
			cfg->trace_printer = PRINTER_TEXT;
		} else if (!cfg->prometheus_port && !cfg->otlp_endpoint && !cfg->otlp_traces_endpoint &&
			   !cfg->otlp_metrics_endpoint && !cfg->ui_port) {
			cfg->trace_printer = PRINTER_TEXT;
			fprintf(errf, "sonde: no output configured (SONDE_PROMETHEUS_PORT, "
				      "OTEL_EXPORTER_OTLP_ENDPOINT, SONDE_TRACE_PRINTER): printing "
				      "traces on stdout\n");
		} else {
			cfg->trace_printer = PRINTER_DISABLED;
		}
	}
	if (cfg->open_ports.count || cfg->exe_regex || cfg->exe_glob || cfg->target_pids.count) {
		/* Selectors from the environment (or top-level keys) replace the
		 * file's include lists; its exclusions still apply. */
		struct selector global = {
			.ports = cfg->open_ports,
			.pids = cfg->target_pids,
		};
		unsigned int kept = 0;

		for (unsigned int i = 0; i < cfg->selectors.count; i++) {
			if (cfg->selectors.v[i].exclude && kept < SELECTORS_MAX - 1)
				cfg->selectors.v[kept++] = cfg->selectors.v[i];
			else
				selector__free(&cfg->selectors.v[i]);
		}
		global.exe_regex = cfg->exe_regex ? strdup(cfg->exe_regex) : NULL;
		global.exe_glob = cfg->exe_glob ? strdup(cfg->exe_glob) : NULL;
		cfg->selectors.v[kept++] = global;
		cfg->selectors.count = kept;
	}
	bool any_include = false;

	for (unsigned int i = 0; i < cfg->selectors.count; i++)
		any_include |= !cfg->selectors.v[i].exclude;
	if (!any_include) {
		fprintf(errf, "sonde: nothing to instrument: set OPEN_PORT (or SONDE_OPEN_PORT), "
			      "EXECUTABLE_NAME, OTEL_EBPF_AUTO_TARGET_EXE or SONDE_TARGET_PID, or "
			      "discovery.services in a configuration file\n");
		return -EINVAL;
	}
	if (cfg->prometheus_max_conns < 1) {
		fprintf(errf, "sonde: SONDE_PROMETHEUS_MAX_CONNECTIONS must be at least 1\n");
		return -EINVAL;
	}
	if (cfg->route_cap < 1) {
		fprintf(errf, "sonde: SONDE_ROUTE_CAP must be at least 1\n");
		return -EINVAL;
	}
	if (cfg->max_series < 1) {
		fprintf(errf, "sonde: SONDE_MAX_SERIES_PER_METRIC must be at least 1\n");
		return -EINVAL;
	}
	if (cfg->poll_ms < 1)
		cfg->poll_ms = 1;
	if (cfg->nice > 19) {
		fprintf(errf, "sonde: SONDE_NICE must be 0 to 19\n");
		return -EINVAL;
	}
	{
		char err[256];

		if (config__features(&cfg->prom_features, &cfg->prom_feature_mask, err,
				     sizeof(err))) {
			fprintf(errf, "sonde: prometheus_export.features: %s\n", err);
			return -EINVAL;
		}
		if (config__features(&cfg->otlp_features, &cfg->otlp_feature_mask, err,
				     sizeof(err))) {
			fprintf(errf, "sonde: otel_metrics_export.features: %s\n", err);
			return -EINVAL;
		}
	}
	config__http_conventions(cfg->metrics_naming, &cfg->semconv_opt_in, &cfg->otlp_span_conv,
				 &cfg->otlp_metric_conv);
	cfg->prom_no_application = !(cfg->prom_feature_mask & FEATURE_BIT(FEATURE_APPLICATION));
	cfg->otlp_no_application = !(cfg->otlp_feature_mask & FEATURE_BIT(FEATURE_APPLICATION));
	if (cfg->span_metrics) {
		cfg->prom_feature_mask |= FEATURE_BIT(FEATURE_SPAN);
		cfg->otlp_feature_mask |= FEATURE_BIT(FEATURE_SPAN);
	}
	if (cfg->service_graph_metrics) {
		cfg->prom_feature_mask |= FEATURE_BIT(FEATURE_SERVICE_GRAPH);
		cfg->otlp_feature_mask |= FEATURE_BIT(FEATURE_SERVICE_GRAPH);
	}
	if (cfg->network_enable) {
		cfg->prom_feature_mask |= FEATURE_BIT(FEATURE_NETWORK);
		cfg->otlp_feature_mask |= FEATURE_BIT(FEATURE_NETWORK);
	}
	for (unsigned int i = 0; i < cfg->network_cidrs.count; i++) {
		struct netflow_cidr c;

		if (netflow_cidr_parse(cfg->network_cidrs.v[i], &c)) {
			fprintf(errf, "sonde: network.cidrs: '%s' is not a CIDR (10.0.0.0/8, "
				      "fd00::/8)\n", cfg->network_cidrs.v[i]);
			return -EINVAL;
		}
	}
	if (network_protocols_finish(cfg, errf))
		return -EINVAL;
	if (cfg->ui_max_traces < 1) {
		fprintf(errf, "sonde: SONDE_UI_MAX_TRACES must be at least 1\n");
		return -EINVAL;
	}
	return 0;
}

int config__regex_sane(const char *re, const char **why)
{
	size_t len = strlen(re);
	int run = 0, total = 0;
	bool escaped = false;

	if (len > 512) {
		*why = "longer than 512 bytes";
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		char c = re[i];
		bool quantifier = !escaped && (c == '*' || c == '+' || c == '?' || c == '{');

		if (quantifier) {
			if (++run > 1) {
				*why = "stacked repetitions (like \"a++\") make it explode when compiled";
				return -EINVAL;
			}
			if (++total > 32) {
				*why = "more than 32 repetitions";
				return -EINVAL;
			}
			if (c == '{') { /* {n,m} is one repetition, its bounds small */
				unsigned long bound = 0;

				while (i + 1 < len && re[i + 1] != '}') {
					i++;
					if (re[i] >= '0' && re[i] <= '9')
						bound = bound * 10 + (re[i] - '0');
					else
						bound = 0;
					if (bound > 100) {
						*why = "a repetition count above 100";
						return -EINVAL;
					}
				}
				if (i + 1 < len)
					i++;
			}
		} else {
			run = 0;
		}
		escaped = !escaped && c == '\\';
	}
	return 0;
}

void config__http_conventions(int naming, const struct route_patterns *opt_in,
			      unsigned int *span_conv, unsigned int *metric_conv)
{
	bool dup = false, stable_only = false;

	for (unsigned int i = 0; i < opt_in->count; i++) {
		dup |= !strcasecmp(opt_in->v[i], "http/dup");
		stable_only |= !strcasecmp(opt_in->v[i], "http");
	}
	if (dup) {
		*span_conv = *metric_conv = HTTP_CONV_STABLE | HTTP_CONV_OLD;
	} else if (stable_only || naming != NAMING_LEGACY) {
		*span_conv = *metric_conv = HTTP_CONV_STABLE;
	} else {
		*span_conv = HTTP_CONV_STABLE | HTTP_CONV_OLD;
		*metric_conv = HTTP_CONV_OLD;
	}
}

const char *const metric_feature_names[FEATURE__MAX] = {
	[FEATURE_APPLICATION] = "application",
	[FEATURE_SPAN] = "application_span",
	[FEATURE_SERVICE_GRAPH] = "application_service_graph",
	[FEATURE_NETWORK] = "network",
};

int config__features(const struct route_patterns *list, unsigned int *mask, char *err,
		     size_t err_size)
{
	*mask = 0;
	for (unsigned int i = 0; i < list->count; i++) {
		const char *v = list->v[i];
		int f;

		for (f = 0; f < FEATURE__MAX; f++)
			if (!strcasecmp(v, metric_feature_names[f]))
				break;
		if (f < FEATURE__MAX) {
			*mask |= FEATURE_BIT(f);
			continue;
		}
		if (!strcasecmp(v, "network_inter_zone")) {
			snprintf(err, err_size,
				 "'%s': inter-zone metrics are not supported by Sonde yet; remove it", v);
			return -EINVAL;
		}
		snprintf(err, err_size,
			 "'%s' is not a feature (application, application_span, "
			 "application_service_graph, network)", v);
		return -EINVAL;
	}
	return 0;
}

void selector__free(struct selector *s)
{
	free(s->name);
	free(s->namespace_);
	free(s->exe_regex);
	free(s->exe_glob);
	memset(s, 0, sizeof(*s));
}

void config__free(struct sonde_config *cfg)
{
	for (unsigned int i = 0; i < cfg->selectors.count; i++)
		selector__free(&cfg->selectors.v[i]);
	cfg->selectors.count = 0;
	list_clear(&cfg->route_patterns);
	list_clear(&cfg->ignored_patterns);
	list_clear(&cfg->prom_features);
	list_clear(&cfg->otlp_features);
	list_clear(&cfg->semconv_opt_in);
	list_clear(&cfg->network_cidrs);
	list_clear(&cfg->network_protocols);
	list_clear(&cfg->network_exclude_protocols);
	for (size_t i = 0; i < config_options_count; i++) {
		const struct config_option *opt = &config_options[i];

		if (opt->type == CONFIG_STRING || opt->type == CONFIG_REGEX) {
			free(*(char **)field(cfg, opt));
			*(char **)field(cfg, opt) = NULL;
		}
	}
}

static void print_env_list(FILE *f, const struct config_option *opt, const char *sep,
			   const char *quote)
{
	for (int e = 0; e < CONFIG_ENV_MAX && opt->env[e]; e++)
		fprintf(f, "%s%s%s%s", e ? sep : "", quote, opt->env[e], quote);
}

static void print_choices(FILE *f, const struct config_option *opt)
{
	if (opt->type != CONFIG_ENUM)
		return;
	fprintf(f, " (");
	for (int i = 0, n = 0; opt->choices[i]; i++)
		if (*opt->choices[i])
			fprintf(f, "%s%s", n++ ? "|" : "", opt->choices[i]);
	fprintf(f, ")");
}

void config__print_help(FILE *f)
{
	fprintf(f, "Usage: sonde [--config FILE] [--print-config] [--check-config FILE]\n"
		   "             [--tls-hooks FILE] [--help] [--help-markdown] [--version]\n\n"
		   "Zero-code HTTP traces and RED metrics for processes on this host, from eBPF.\n"
		   "Run as root. Configured by a YAML file (--config, or SONDE_CONFIG_PATH,\n"
		   "OTEL_EBPF_CONFIG_PATH, BEYLA_CONFIG_PATH) and by environment variables, which\n"
		   "win over the file (the first variable listed for an option wins):\n\n");
	for (size_t i = 0; i < config_options_count; i++) {
		const struct config_option *opt = &config_options[i];

		fprintf(f, "  ");
		print_env_list(f, opt, ", ", "");
		fprintf(f, "\n      %s [%s%s%s", opt->help, type_names[opt->type],
			opt->def ? ", default " : "", opt->def ? opt->def : "");
		fprintf(f, "]");
		print_choices(f, opt);
		fprintf(f, "\n      YAML key: %s\n", opt->key);
	}
}

void config__print_markdown(FILE *f)
{
	fprintf(f, "| YAML key | environment variables | type | default | description |\n"
		   "|---|---|---|---|---|\n");
	for (size_t i = 0; i < config_options_count; i++) {
		const struct config_option *opt = &config_options[i];

		fprintf(f, "| `%s` | ", opt->key);
		print_env_list(f, opt, ", ", "`");
		fprintf(f, " | %s", type_names[opt->type]);
		print_choices(f, opt);
		fprintf(f, " | %s%s%s | %s |\n", opt->def && *opt->def ? "`" : "",
			opt->def ? opt->def : "", opt->def && *opt->def ? "`" : "", opt->help);
	}
}

bool port_ranges__contains(const struct port_ranges *p, uint16_t port)
{
	for (unsigned int i = 0; i < p->count; i++)
		if (port >= p->range[i].lo && port <= p->range[i].hi)
			return true;
	return false;
}
