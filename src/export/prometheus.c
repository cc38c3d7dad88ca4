// SPDX-License-Identifier: Apache-2.0
/*
 * Prometheus exporter: renders the metric store on request, served by
 * libmicrohttpd's own thread; the capture pipeline never waits for it.
 */
#include "export/prometheus.h"

#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "discovery.h"
#include "export/exporter.h"
#include "export/otlp.h"
#include "model/metrics.h"
#include "model/route.h"
#include "probes.h"
#include "util/log.h"
#include "util/utf8.h"
#include "version.h"


/* One histogram family as rendered: name, help, bounds. */
struct family {
	const char *help;
	enum instrument instr;
	const double *bounds;
	int nbounds;
};

struct render_ctx {
	FILE *f;
	const struct family *fam;
	const char *name;
	bool legacy;
	label_mask labels; /* what the selections leave of the instrument's labels */
};

/* A label value: the text format escapes \\, \" and newlines, and must be
 * UTF-8 (strings in the model are; a byte that is not is written as U+FFFD
 * all the same, so one bad value cannot make a scrape unreadable). */
static void label_value(FILE *f, const char *v)
{
	size_t n = strlen(v);

	fputc('"', f);
	for (size_t i = 0; i < n;) {
		unsigned char c = v[i];
		size_t len = c < 0x80 ? 1 : utf8_seq_len((const unsigned char *)v + i, n - i);

		if (c == '\\' || c == '"')
			fputs(c == '\\' ? "\\\\" : "\\\"", f);
		else if (c == '\n')
			fputs("\\n", f);
		else if (!len)
			fputs(UTF8_REPLACEMENT, f);
		else
			fwrite(v + i, 1, len, f);
		i += len ? len : 1;
	}
	fputc('"', f);
}

static const char *label_name(enum metric_label l, enum span_kind kind, bool legacy)
{
	if (!legacy)
		return metric_labels[l].prom;
	if (l == LABEL_SERVER_PORT && kind == SPAN_KIND_SERVER)
		return "net_host_port";
	return metric_labels[l].legacy ? metric_labels[l].legacy : metric_labels[l].prom;
}

/* Returns whether any label was written. */
static bool labels(FILE *f, const struct series_key *k, label_mask mask, bool legacy)
{
	const struct service *svc = k->service;
	bool first = true;

	for (int l = 0; l < LABEL__MAX; l++) {
		char num[16];
		const char *v = NULL;

		if (!(mask & LABEL_BIT(l)))
			continue;
		switch ((enum metric_label)l) {
		case LABEL_METHOD:
			v = k->method;
			break;
		case LABEL_STATUS:
			snprintf(num, sizeof(num), "%d", k->status);
			v = num;
			break;
		case LABEL_ROUTE:
			v = k->route ? k->route : "";
			break;
		case LABEL_SERVER_ADDRESS:
			v = k->peer;
			break;
		case LABEL_SERVER_PORT:
			snprintf(num, sizeof(num), "%u",
				 k->kind == SPAN_KIND_SERVER ? k->local_port : k->peer_port);
			v = num;
			break;
		case LABEL_URL_SCHEME:
			v = "http";
			break;
		case LABEL_PROTOCOL_VERSION:
			v = k->http_minor == 1 ? "1.0" : "1.1";
			break;
		case LABEL_SERVICE_NAME:
			v = svc ? svc->name : "";
			break;
		case LABEL_SERVICE_NAMESPACE:
			/* Only services that have one. */
			v = svc && svc->namespace_[0] ? svc->namespace_ : NULL;
			break;
		case LABEL__MAX:
			break;
		}
		if (!v)
			continue;
		fprintf(f, "%s%s=", first ? "" : ",", label_name(l, k->kind, legacy));
		label_value(f, v);
		first = false;
	}
	return !first;
}

static void bound(FILE *f, double b)
{
	fprintf(f, "%g", b);
}

/* "name_suffix{labels": returns whether a label was written. */
static bool open_labels(const struct render_ctx *c, const struct series_key *k, const char *suffix)
{
	fprintf(c->f, "%s%s{", c->name, suffix);
	return labels(c->f, k, c->labels, c->legacy);
}

static void render_series(const struct series *s, void *arg)
{
	const struct render_ctx *c = arg;
	const struct histogram *h = series_histogram(s, instruments[c->fam->instr].hist);
	uint64_t cumulative = 0;

	if (s->key.kind != instruments[c->fam->instr].kind)
		return;
	for (int i = 0; i <= c->fam->nbounds; i++) {
		cumulative += h->bucket[i];
		fputs(open_labels(c, &s->key, "_bucket") ? ",le=\"" : "le=\"", c->f);
		if (i < c->fam->nbounds)
			bound(c->f, c->fam->bounds[i]);
		else
			fputs("+Inf", c->f);
		fprintf(c->f, "\"} %" PRIu64 "\n", cumulative);
	}
	open_labels(c, &s->key, "_sum");
	fprintf(c->f, "} %.9g\n", h->sum);
	open_labels(c, &s->key, "_count");
	fprintf(c->f, "} %" PRIu64 "\n", h->count);
}

static const struct family otel_families[] = {
	{ "Duration of HTTP server requests.", INSTR_SERVER_DURATION, duration_bounds_s,
	  DURATION_BOUNDS },
	{ "Size of HTTP server request bodies.", INSTR_SERVER_REQ_BODY, size_bounds_bytes,
	  SIZE_BOUNDS },
	{ "Size of HTTP server response bodies.", INSTR_SERVER_RESP_BODY, size_bounds_bytes,
	  SIZE_BOUNDS },
	{ "Duration of HTTP client requests.", INSTR_CLIENT_DURATION, duration_bounds_s,
	  DURATION_BOUNDS },
	{ "Size of HTTP client request bodies.", INSTR_CLIENT_REQ_BODY, size_bounds_bytes,
	  SIZE_BOUNDS },
	{ "Size of HTTP client response bodies.", INSTR_CLIENT_RESP_BODY, size_bounds_bytes,
	  SIZE_BOUNDS },
};

/* Legacy naming has no response body histograms (instruments[].legacy NULL). */

static void render_self(FILE *f, struct sonde_runtime *rt)
{
	fprintf(f, "# HELP sonde_instrumented_processes Processes Sonde traces now.\n"
		   "# TYPE sonde_instrumented_processes gauge\n"
		   "sonde_instrumented_processes %u\n",
		atomic_load(&rt->instrumented));
	fprintf(f, "# HELP sonde_spans_total Spans produced.\n# TYPE sonde_spans_total counter\n"
		   "sonde_spans_total %" PRIu64 "\n",
		(uint64_t)atomic_load(&rt->spans_total));
	fputs("# HELP sonde_events_lost_total Events or transactions lost, by reason.\n"
	      "# TYPE sonde_events_lost_total counter\n", f);
	for (int i = 0; i < SONDE_CNT__MAX; i++) {
		if (i == SONDE_CNT_TXN_EMITTED || i == SONDE_CNT_NOT_HTTP)
			continue; /* not losses: exported below */
		fprintf(f, "sonde_events_lost_total{reason=\"%s\"} %" PRIu64 "\n",
			kernel_counter_names[i], rt->probes ? probes__counter(rt->probes, i) : 0);
	}
	for (int i = 0; i < LOSS__MAX; i++)
		fprintf(f, "sonde_events_lost_total{reason=\"%s\"} %" PRIu64 "\n", user_loss_names[i],
			(uint64_t)atomic_load(&rt->user_loss[i]));
	fprintf(f, "# HELP sonde_kernel_transactions_total Transactions the kernel side emitted.\n"
		   "# TYPE sonde_kernel_transactions_total counter\n"
		   "sonde_kernel_transactions_total %" PRIu64 "\n",
		rt->probes ? probes__counter(rt->probes, SONDE_CNT_TXN_EMITTED) : 0);
	fprintf(f, "# HELP sonde_connections_skipped_total Connections whose first bytes were not "
		   "HTTP/1.\n# TYPE sonde_connections_skipped_total counter\n"
		   "sonde_connections_skipped_total %" PRIu64 "\n",
		rt->probes ? probes__counter(rt->probes, SONDE_CNT_NOT_HTTP) : 0);
	if (rt->discovery) {
		const struct service *svc;

		fputs("# HELP sonde_routes_overflow_total Spans whose route was folded into \"" ROUTE_OVERFLOW
		      "\" by the per-service cap.\n# TYPE sonde_routes_overflow_total counter\n", f);
		/* Services are only ever added, by the pipeline thread; reading
		 * the count first keeps us within initialised entries. */
		for (unsigned int i = 0; (svc = discovery__service_at(rt->discovery, i)); i++) {
			fputs("sonde_routes_overflow_total{service_name=", f);
			label_value(f, svc->name);
			fprintf(f, "} %" PRIu64 "\n", route_table__overflowed(svc->routes));
		}
	}
	if (rt->metrics) {
		bool legacy = rt->cfg->metrics_naming == NAMING_LEGACY;

		fputs("# HELP sonde_metric_series_overflow_total Observations dropped from a metric "
		      "because it had reached metrics.max_series_per_metric series.\n"
		      "# TYPE sonde_metric_series_overflow_total counter\n", f);
		for (int i = 0; i < INSTR__MAX; i++) {
			const char *name = legacy ? instruments[i].legacy : instruments[i].prom;

			if (!name)
				continue;
			fprintf(f, "sonde_metric_series_overflow_total{metric=\"%s\"} %" PRIu64 "\n",
				name, metric_store__overflowed(rt->metrics, instruments[i].kind));
		}
	}
	fprintf(f, "# HELP sonde_build_info Sonde's version.\n# TYPE sonde_build_info gauge\n"
		   "sonde_build_info{version=\"%s\"} 1\n", sonde_version);
	otlp__render_prometheus(f);
}

static void render_family(FILE *f, struct sonde_runtime *rt, const struct family *fam, bool legacy)
{
	const struct instrument_info *in = &instruments[fam->instr];
	struct render_ctx c = {
		.f = f,
		.fam = fam,
		.name = legacy ? in->legacy : in->prom,
		.legacy = legacy,
		.labels = instrument_labels(&rt->cfg->attr_selects, fam->instr),
	};
	struct series *merged;
	size_t n;

	if (!c.name)
		return;
	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", c.name, fam->help, c.name);
	if (!rt->metrics)
		return;
	/* Labels dropped by a selection: add up the series they told apart. */
	if (metric_store__key_labels(rt->metrics, in->kind) & ~c.labels) {
		if (metric_store__collect(rt->metrics, in->kind, c.labels, &merged, &n)) {
			log_warn("Prometheus: out of memory merging %s", c.name);
			return;
		}
		for (size_t i = 0; i < n; i++)
			render_series(&merged[i], &c);
		series__free_all(merged, n);
		return;
	}
	metric_store__foreach(rt->metrics, render_series, &c);
}

void prometheus__render(FILE *f, struct sonde_runtime *rt)
{
	bool legacy = rt->cfg->metrics_naming == NAMING_LEGACY;

	for (size_t i = 0; i < sizeof(otel_families) / sizeof(otel_families[0]); i++)
		render_family(f, rt, &otel_families[i], legacy);
	render_self(f, rt);
}

/* ---- the HTTP endpoint ---- */

struct prom_state {
	struct MHD_Daemon *daemon;
	struct sonde_runtime *rt;
};

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
			     const char *method, const char *version, const char *upload_data,
			     size_t *upload_data_size, void **req_cls)
{
	struct prom_state *st = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *body = NULL;
	size_t len = 0;
	FILE *f;
	unsigned int code = MHD_HTTP_OK;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return MHD_NO;
	if (strcmp(url, st->rt->cfg->prometheus_path)) {
		static const char missing[] = "not found: metrics are at the configured path\n";

		resp = MHD_create_response_from_buffer(sizeof(missing) - 1, (void *)missing,
						       MHD_RESPMEM_PERSISTENT);
		code = MHD_HTTP_NOT_FOUND;
	} else {
		f = open_memstream(&body, &len);
		if (!f)
			return MHD_NO;
		prometheus__render(f, st->rt);
		fclose(f);
		resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
		if (resp)
			MHD_add_response_header(resp, "Content-Type",
						"text/plain; version=0.0.4; charset=utf-8");
	}
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

static bool prom_enabled(const struct sonde_config *cfg)
{
	return cfg->prometheus_port > 0;
}

static int prom_init(struct exporter *e, const struct sonde_config *cfg, struct sonde_runtime *rt)
{
	struct prom_state *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	if (rt->metrics)
		metric_store__configure(rt->metrics, cfg);
	st->rt = rt;
	st->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
				      cfg->prometheus_port, NULL, NULL, serve, st,
				      MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!st->daemon) {
		log_error("cannot serve Prometheus metrics on port %d (in use?)", cfg->prometheus_port);
		free(st);
		return -EADDRINUSE;
	}
	log_info("Prometheus metrics on http://0.0.0.0:%d%s", cfg->prometheus_port,
		 cfg->prometheus_path);
	e->state = st;
	return 0;
}

static enum exporter_status prom_export(struct exporter *e, const struct span *s)
{
	return EXPORT_OK; /* the store already counted it; rendered on scrape */
}

static void prom_destroy(struct exporter *e)
{
	struct prom_state *st = e->state;

	if (!st)
		return;
	MHD_stop_daemon(st->daemon);
	free(st);
}

const struct exporter_ops prometheus_exporter = {
	.name = "prometheus",
	.enabled = prom_enabled,
	.init = prom_init,
	.export_span = prom_export,
	.flush = NULL,
	.destroy = prom_destroy,
};
