// SPDX-License-Identifier: Apache-2.0
/* The self-metrics registry (see self_metrics.h). */
#include "model/self_metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discovery.h"
#include "export/otlp.h"
#include "export/printer.h"
#include "model/metrics.h"
#include "model/netflow.h"
#include "model/route.h"
#include "model/spanmetrics.h"
#include "probes.h"
#include "version.h"

static uint64_t kernel(const struct sonde_runtime *rt, enum sonde_counter id)
{
	return rt->probes ? probes__counter(rt->probes, id) : 0;
}

static void one(self_point_fn point, void *arg, uint64_t v)
{
	point(arg, NULL, v);
}

static void read_instrumented(const struct sonde_runtime *rt, self_point_fn point, void *arg)
{
	one(point, arg, atomic_load(&((struct sonde_runtime *)rt)->instrumented));
}

static void read_spans(const struct sonde_runtime *rt, self_point_fn point, void *arg)
{
	one(point, arg, atomic_load(&((struct sonde_runtime *)rt)->spans_total));
}

/* Kernel losses, then user-space ones, by reason. */
static void read_lost(const struct sonde_runtime *rt, self_point_fn point, void *arg)
{
	for (int i = 0; i < SONDE_CNT__MAX; i++) {
		if (i == SONDE_CNT_TXN_EMITTED || i == SONDE_CNT_NOT_HTTP ||
		    i == SONDE_CNT_INCOMPLETE || i == SONDE_CNT_TLS_CONN)
			continue; /* not losses: metrics of their own */
		point(arg, &kernel_counter_names[i], kernel(rt, i));
	}
	for (int i = 0; i < LOSS__MAX; i++)
		point(arg, &user_loss_names[i],
		      atomic_load(&((struct sonde_runtime *)rt)->user_loss[i]));
	if (rt->netflow) {
		/* network metrics: new flows the kernel's table had no room for */
		const char *v = "flow_map_full";

		point(arg, &v, netflow_store__kernel_lost(rt->netflow));
	}
}

static void read_kernel_txns(const struct sonde_runtime *rt, self_point_fn point, void *arg)
{
	one(point, arg, kernel(rt, SONDE_CNT_TXN_EMITTED));
}

/* A request whose connection closed before any response (the client gave
 * up, the server died): nothing Sonde lost, and no span to make. */
static void read_incomplete(const struct sonde_runtime *rt, self_point_fn point, void *arg)
{
	one(point, arg, kernel(rt, SONDE_CNT_INCOMPLETE));
}

static void read_skipped(const struct sonde_runtime *rt, self_point_fn point, void *arg)
{
	one(point, arg, kernel(rt, SONDE_CNT_NOT_HTTP));
}

static void read_tls_conns(const struct sonde_runtime *rt, self_point_fn point, void *arg)
{
	one(point, arg, kernel(rt, SONDE_CNT_TLS_CONN));
}

static void read_routes_overflow(const struct sonde_runtime *rt, self_point_fn point, void *arg)
{
	const struct service *svc;

	if (!rt->discovery)
		return;
	/* Services are only ever added, by the pipeline thread; reading the
	 * count first keeps us within initialised entries. */
	for (unsigned int i = 0; (svc = discovery__service_at(rt->discovery, i)); i++) {
		const char *v = svc->name;

		point(arg, &v, route_table__overflowed(svc->routes));
	}
}

static void read_series_overflow(const struct sonde_runtime *rt, self_point_fn point, void *arg)
{
	bool legacy = rt->cfg && rt->cfg->metrics_naming == NAMING_LEGACY;

	if (!rt->metrics)
		return;
	for (int i = 0; i < INSTR__MAX; i++) {
		const char *name = legacy ? instruments[i].legacy : instruments[i].prom;

		if (name)
			point(arg, &name, metric_store__overflowed(rt->metrics, instruments[i].kind));
	}
	if (rt->spanmetrics && rt->cfg) {
		static const char *const span_names[] = { "traces_spanmetrics_calls_total",
							  "traces_spanmetrics_latency",
							  "traces_spanmetrics_size_total" };
		static const char *const graph_names[] = {
			"traces_service_graph_request_total",
			"traces_service_graph_request_failed_total",
			"traces_service_graph_request_server_seconds",
			"traces_service_graph_request_client_seconds"
		};
		unsigned int mask = rt->cfg->prom_feature_mask | rt->cfg->otlp_feature_mask;

		for (size_t i = 0; (mask & FEATURE_BIT(FEATURE_SPAN)) && i < 3; i++)
			point(arg, &span_names[i],
			      spanmetrics__overflowed(rt->spanmetrics, SM_TABLE_SPAN));
		for (size_t i = 0; (mask & FEATURE_BIT(FEATURE_SERVICE_GRAPH)) && i < 4; i++)
			point(arg, &graph_names[i],
			      spanmetrics__overflowed(rt->spanmetrics, SM_TABLE_GRAPH));
	}
	if (rt->netflow) {
		const char *v = NETFLOW_METRIC_PROM;

		point(arg, &v, netflow_store__overflowed(rt->netflow));
	}
}

static void read_build(const struct sonde_runtime *rt, self_point_fn point, void *arg)
{
	const char *v = sonde_version;

	point(arg, &v, 1);
}

static void read_export_dropped(const struct sonde_runtime *rt, self_point_fn point, void *arg)
{
	for (int s = 0; s < OTLP_SIGNAL__MAX; s++)
		for (int r = 0; r < OTLP_DROP__MAX; r++) {
			const char *v[3] = { "otlp", otlp_signal_names[s], otlp_drop_reason_names[r] };

			point(arg, v, otlp__dropped(s, r));
		}
	for (int r = 0; r < PRINTER_DROP__MAX; r++) {
		const char *v[3] = { "printer", "traces", printer_drop_names[r] };

		point(arg, v, printer__dropped(r));
	}
}

static void read_export_sent(const struct sonde_runtime *rt, self_point_fn point, void *arg)
{
	for (int s = 0; s < OTLP_SIGNAL__MAX; s++)
		point(arg, &otlp_signal_names[s], otlp__sent(s));
}

static void read_export_failed(const struct sonde_runtime *rt, self_point_fn point, void *arg)
{
	for (int s = 0; s < OTLP_SIGNAL__MAX; s++)
		point(arg, &otlp_signal_names[s], otlp__failed_requests(s));
}

/* In the order of the Prometheus exposition. */
const struct self_metric self_metrics[] = {
	{ "sonde_instrumented_processes", "sonde.instrumented.processes",
	  "Processes Sonde traces now.", "{process}", SELF_GAUGE, 0, { 0 }, { 0 },
	  read_instrumented },
	{ "sonde_spans_total", "sonde.spans", "Spans produced.", "{span}", SELF_COUNTER, 0, { 0 },
	  { 0 }, read_spans },
	{ "sonde_events_lost_total", "sonde.events.lost", "Events or transactions lost, by reason.",
	  "{event}", SELF_COUNTER, 1, { "reason" }, { "reason" }, read_lost },
	{ "sonde_kernel_transactions_total", "sonde.kernel.transactions",
	  "Transactions the kernel side emitted.", "{transaction}", SELF_COUNTER, 0, { 0 }, { 0 },
	  read_kernel_txns },
	{ "sonde_transactions_incomplete_total", "sonde.transactions.incomplete",
	  "Requests whose connection closed before any response (no span).", "{transaction}",
	  SELF_COUNTER, 0, { 0 }, { 0 }, read_incomplete },
	{ "sonde_connections_skipped_total", "sonde.connections.skipped",
	  "Connections whose first bytes were not HTTP/1.", "{connection}", SELF_COUNTER, 0, { 0 },
	  { 0 }, read_skipped },
	{ "sonde_tls_connections_total", "sonde.tls.connections",
	  "Connections whose first bytes were TLS: their plaintext is followed by uprobes.",
	  "{connection}", SELF_COUNTER, 0, { 0 }, { 0 }, read_tls_conns },
	{ "sonde_routes_overflow_total", "sonde.routes.overflow",
	  "Spans whose route was folded into \"" ROUTE_OVERFLOW "\" by the per-service cap.",
	  "{span}", SELF_COUNTER, 1, { "service_name" }, { "service.name" }, read_routes_overflow },
	{ "sonde_metric_series_overflow_total", "sonde.metric.series.overflow",
	  "Observations dropped from a metric because it had reached "
	  "metrics.max_series_per_metric series.",
	  "{observation}", SELF_COUNTER, 1, { "metric" }, { "metric" }, read_series_overflow },
	/* Not unit "1": Prometheus' OTLP translation would add _ratio to a gauge of
	 * unit 1, and sonde_build_info would reach a collector's Prometheus as
	 * sonde_build_info_ratio (tests/e2e/test_lab_002.py). */
	{ "sonde_build_info", "sonde.build.info", "Sonde's version.", "{build}", SELF_GAUGE, 1,
	  { "version" }, { "version" }, read_build },
	{ "sonde_export_dropped_total", "sonde.export.dropped",
	  "Spans and metric data points an exporter dropped, by exporter, signal and reason.",
	  "{item}", SELF_COUNTER, 3, { "exporter", "signal", "reason" },
	  { "exporter", "signal", "reason" }, read_export_dropped },
	{ "sonde_export_sent_total", "sonde.export.sent",
	  "Spans and metric data points the OTLP collector accepted.", "{item}", SELF_COUNTER, 1,
	  { "signal" }, { "signal" }, read_export_sent },
	{ "sonde_export_failed_requests_total", "sonde.export.failed_requests",
	  "OTLP requests that failed and were retried or dropped.", "{request}", SELF_COUNTER, 1,
	  { "signal" }, { "signal" }, read_export_failed },
};

const size_t self_metrics_count = sizeof(self_metrics) / sizeof(self_metrics[0]);

struct collector {
	const struct self_metric *metric;
	struct self_sample *v;
	size_t n, cap;
	bool failed;
};

static void collect_point(void *arg, const char *const *values, uint64_t value)
{
	struct collector *c = arg;
	struct self_sample *s;

	if (c->failed)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		struct self_sample *grown = realloc(c->v, cap * sizeof(*grown));

		if (!grown) {
			c->failed = true;
			return;
		}
		c->v = grown;
		c->cap = cap;
	}
	s = &c->v[c->n++];
	memset(s, 0, sizeof(*s));
	s->metric = c->metric;
	s->value = value;
	for (int i = 0; i < c->metric->nlabels; i++)
		snprintf(s->values[i], sizeof(s->values[i]), "%s", values[i]);
}

int self_metrics__collect(const struct sonde_runtime *rt, struct self_sample **out, size_t *n)
{
	struct collector c = { 0 };

	for (size_t i = 0; i < self_metrics_count; i++) {
		c.metric = &self_metrics[i];
		self_metrics[i].read(rt, collect_point, &c);
	}
	if (c.failed) {
		free(c.v);
		return -ENOMEM;
	}
	*out = c.v;
	*n = c.n;
	return 0;
}
