// SPDX-License-Identifier: Apache-2.0
/*
 * Prometheus exporter: renders the metric store on request, served by
 * libmicrohttpd's own thread; the capture pipeline never waits for it.
 */
#include "export/prometheus.h"

#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "discovery.h"
#include "export/exporter.h"
#include "export/prom_web.h"
#include "model/metrics.h"
#include "model/dbmetrics.h"
#include "model/rpcmetrics.h"
#include "model/route.h"
#include "model/spanmetrics.h"
#include "model/netflow.h"
#include "probes.h"
#include "model/self_metrics.h"
#include "util/log.h"
#include "util/utf8.h"


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
			v = series_scheme_name(k);
			break;
		case LABEL_PROTOCOL_VERSION:
			v = span_http_version(k->http_minor - 1);
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

/* ---- span metrics and service graph (features application_span,
 * application_service_graph), named as Tempo's metrics-generator does ---- */

static void sm_labels(FILE *f, const struct sm_series *s, const char *host)
{
	char inst[320];

	fputs("service=", f);
	label_value(f, s->service ? s->service->name : "");
	if (s->service && s->service->namespace_[0]) {
		fputs(",service_namespace=", f);
		label_value(f, s->service->namespace_);
	}
	snprintf(inst, sizeof(inst), "%s:%u", host, s->pid);
	fputs(",service_instance_id=", f);
	label_value(f, inst);
	fputs(",span_name=", f);
	label_value(f, s->span_name);
	fprintf(f, ",span_kind=\"%s\",status_code=\"%s\"", spanmetrics__kind_name(s->kind),
		spanmetrics__status_name(s->status));
}

static void sg_labels(FILE *f, const struct sg_edge *e)
{
	fputs("client=", f);
	label_value(f, e->client);
	fputs(",server=", f);
	label_value(f, e->server);
	fputs(",connection_type=", f);
	label_value(f, e->connection_type);
}

/* name_bucket/_sum/_count of @h, the labels written by @labels(@arg). */
static void render_hist(FILE *f, const char *name, const struct histogram *h,
			void (*lab)(FILE *, const void *, const char *), const void *arg,
			const char *host)
{
	uint64_t cumulative = 0;

	for (int i = 0; i <= DURATION_BOUNDS; i++) {
		cumulative += h->bucket[i];
		fprintf(f, "%s_bucket{", name);
		lab(f, arg, host);
		fputs(",le=\"", f);
		if (i < DURATION_BOUNDS)
			bound(f, duration_bounds_s[i]);
		else
			fputs("+Inf", f);
		fprintf(f, "\"} %" PRIu64 "\n", cumulative);
	}
	fprintf(f, "%s_sum{", name);
	lab(f, arg, host);
	fprintf(f, "} %.9g\n%s_count{", h->sum, name);
	lab(f, arg, host);
	fprintf(f, "} %" PRIu64 "\n", h->count);
}

static void sm_lab(FILE *f, const void *arg, const char *host)
{
	sm_labels(f, arg, host);
}

static void sg_lab(FILE *f, const void *arg, const char *host)
{
	sg_labels(f, arg);
}

static void render_span_metrics(FILE *f, struct sonde_runtime *rt)
{
	struct sm_series *v;
	size_t n;
	char host[256] = "localhost";

	if (spanmetrics__series(rt->spanmetrics, &v, &n)) {
		log_warn("Prometheus: out of memory copying span metrics");
		return;
	}
	gethostname(host, sizeof(host) - 1);
	fputs("# HELP traces_spanmetrics_calls_total Spans, by service, span name, kind and status.\n"
	      "# TYPE traces_spanmetrics_calls_total counter\n", f);
	for (size_t i = 0; i < n; i++) {
		fputs("traces_spanmetrics_calls_total{", f);
		sm_labels(f, &v[i], host);
		fprintf(f, "} %" PRIu64 "\n", v[i].latency.count);
	}
	fputs("# HELP traces_spanmetrics_latency Span durations, in seconds.\n"
	      "# TYPE traces_spanmetrics_latency histogram\n", f);
	for (size_t i = 0; i < n; i++)
		render_hist(f, "traces_spanmetrics_latency", &v[i].latency, sm_lab, &v[i], host);
	fputs("# HELP traces_spanmetrics_size_total Request body bytes of the spans.\n"
	      "# TYPE traces_spanmetrics_size_total counter\n", f);
	for (size_t i = 0; i < n; i++) {
		fputs("traces_spanmetrics_size_total{", f);
		sm_labels(f, &v[i], host);
		fprintf(f, "} %" PRIu64 "\n", v[i].size_total);
	}
	free(v);
}

static void render_service_graph(FILE *f, struct sonde_runtime *rt)
{
	struct sg_edge *v;
	size_t n;

	if (spanmetrics__edges(rt->spanmetrics, &v, &n)) {
		log_warn("Prometheus: out of memory copying the service graph");
		return;
	}
	fputs("# HELP traces_service_graph_request_total Requests between two services.\n"
	      "# TYPE traces_service_graph_request_total counter\n", f);
	for (size_t i = 0; i < n; i++) {
		fputs("traces_service_graph_request_total{", f);
		sg_labels(f, &v[i]);
		fprintf(f, "} %" PRIu64 "\n", v[i].total);
	}
	fputs("# HELP traces_service_graph_request_failed_total Failed requests between two "
	      "services.\n# TYPE traces_service_graph_request_failed_total counter\n", f);
	for (size_t i = 0; i < n; i++) {
		fputs("traces_service_graph_request_failed_total{", f);
		sg_labels(f, &v[i]);
		fprintf(f, "} %" PRIu64 "\n", v[i].failed);
	}
	fputs("# HELP traces_service_graph_request_server_seconds Server-side durations of the "
	      "requests between two services.\n"
	      "# TYPE traces_service_graph_request_server_seconds histogram\n", f);
	for (size_t i = 0; i < n; i++)
		if (v[i].server_seconds.count)
			render_hist(f, "traces_service_graph_request_server_seconds",
				    &v[i].server_seconds, sg_lab, &v[i], NULL);
	fputs("# HELP traces_service_graph_request_client_seconds Client-side durations of the "
	      "requests between two services.\n"
	      "# TYPE traces_service_graph_request_client_seconds histogram\n", f);
	for (size_t i = 0; i < n; i++)
		if (v[i].client_seconds.count)
			render_hist(f, "traces_service_graph_request_client_seconds",
				    &v[i].client_seconds, sg_lab, &v[i], NULL);
	free(v);
}

static void render_netflow(FILE *f, struct sonde_runtime *rt)
{
	unsigned int keep = netflow_label_mask(&rt->cfg->attr_selects);
	struct netflow_series *v;
	size_t n;

	fputs("# HELP " NETFLOW_METRIC_PROM " Transport payload bytes of TCP and UDP flows, by "
	      "source, destination, direction and transport.\n"
	      "# TYPE " NETFLOW_METRIC_PROM " counter\n", f);
	if (netflow_store__collect(rt->netflow, keep, &v, &n)) {
		log_warn("Prometheus: out of memory collecting network flows");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		bool first = true;

		fputs(NETFLOW_METRIC_PROM "{", f);
		for (int l = 0; l < NF__MAX; l++) {
			if (!(keep & (1u << l)))
				continue;
			fprintf(f, "%s%s=", first ? "" : ",", netflow_labels[l].prom);
			label_value(f, v[i].label[l]);
			first = false;
		}
		fprintf(f, "} %" PRIu64 "\n", v[i].bytes);
	}
	free(v);
}

/* Sonde's own metrics: the registry every metrics exporter walks. */
struct self_ctx {
	FILE *f;
	const struct self_metric *m;
};

static void self_point(void *arg, const char *const *values, uint64_t value)
{
	const struct self_ctx *c = arg;

	fputs(c->m->prom, c->f);
	for (int i = 0; i < c->m->nlabels; i++) {
		fprintf(c->f, "%s%s=", i ? "," : "{", c->m->labels[i]);
		label_value(c->f, values[i]);
	}
	fprintf(c->f, "%s %" PRIu64 "\n", c->m->nlabels ? "}" : "", value);
}

void prometheus__render_self(FILE *f, const struct sonde_runtime *rt)
{
	for (size_t i = 0; i < self_metrics_count; i++) {
		struct self_ctx c = { .f = f, .m = &self_metrics[i] };

		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", c.m->prom, c.m->help, c.m->prom,
			c.m->type == SELF_COUNTER ? "counter" : "gauge");
		c.m->read(rt, self_point, &c);
	}
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

static void db_lab(FILE *f, const void *arg, const char *host)
{
	const struct db_series *s = arg;

	fputs("db_system_name=", f);
	label_value(f, s->system);
	fputs(",db_operation_name=", f);
	label_value(f, s->operation);
	fputs(",db_collection_name=", f);
	label_value(f, s->collection);
	fputs(",error_type=", f);
	label_value(f, s->error_type);
	fputs(",service_name=", f);
	label_value(f, s->service ? s->service->name : "");
	if (s->service && s->service->namespace_[0]) {
		fputs(",service_namespace=", f);
		label_value(f, s->service->namespace_);
	}
}

/* db_client_operation_duration_seconds: database client calls. */
static void render_db(FILE *f, struct sonde_runtime *rt)
{
	struct db_series *v;
	size_t n;

	if (db_metrics__series(metric_store__db(rt->metrics), &v, &n)) {
		log_warn("Prometheus: out of memory copying database metrics");
		return;
	}
	if (n)
		fputs("# HELP db_client_operation_duration_seconds Duration of database client "
		      "operations.\n# TYPE db_client_operation_duration_seconds histogram\n", f);
	for (size_t i = 0; i < n; i++)
		render_hist(f, "db_client_operation_duration_seconds", &v[i].duration, db_lab, &v[i],
			    NULL);
	free(v);
}

static void rpc_lab(FILE *f, const void *arg, const char *host)
{
	const struct rpc_series *s = arg;

	fputs("rpc_system=", f);
	label_value(f, s->key.system);
	fputs(",rpc_service=", f);
	label_value(f, s->key.rpc_service);
	fputs(",rpc_method=", f);
	label_value(f, s->key.method);
	if (s->key.grpc_status >= 0)
		fprintf(f, ",rpc_grpc_status_code=\"%d\"", s->key.grpc_status);
	fputs(",service_name=", f);
	label_value(f, s->key.service ? s->key.service->name : "");
	if (s->key.service && s->key.service->namespace_[0]) {
		fputs(",service_namespace=", f);
		label_value(f, s->key.service->namespace_);
	}
}

/* rpc_server_duration_seconds, rpc_client_duration_seconds: gRPC calls. */
static void render_rpc(FILE *f, struct sonde_runtime *rt)
{
	static const struct {
		enum span_kind kind;
		const char *name, *help;
	} fams[] = {
		{ SPAN_KIND_SERVER, "rpc_server_duration_seconds", "Duration of RPCs served." },
		{ SPAN_KIND_CLIENT, "rpc_client_duration_seconds", "Duration of RPCs made." },
	};
	struct rpc_series *v;
	size_t n;

	if (rpc_metrics__series(metric_store__rpc(rt->metrics), &v, &n)) {
		log_warn("Prometheus: out of memory copying RPC metrics");
		return;
	}
	for (size_t j = 0; j < sizeof(fams) / sizeof(fams[0]); j++) {
		bool head = false;

		for (size_t i = 0; i < n; i++) {
			if (v[i].key.kind != fams[j].kind)
				continue;
			if (!head)
				fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", fams[j].name,
					fams[j].help, fams[j].name);
			head = true;
			render_hist(f, fams[j].name, &v[i].duration, rpc_lab, &v[i], NULL);
		}
	}
	free(v);
}

void prometheus__render(FILE *f, struct sonde_runtime *rt)
{
	bool legacy = rt->cfg->metrics_naming == NAMING_LEGACY;
	unsigned int features = rt->cfg->prom_feature_mask;

	for (size_t i = 0; !rt->cfg->prom_no_application &&
			   i < sizeof(otel_families) / sizeof(otel_families[0]);
	     i++)
		render_family(f, rt, &otel_families[i], legacy);
	if (!rt->cfg->prom_no_application) {
		render_db(f, rt);
		render_rpc(f, rt);
	}
	if (rt->spanmetrics && (features & FEATURE_BIT(FEATURE_SPAN)))
		render_span_metrics(f, rt);
	if (rt->spanmetrics && (features & FEATURE_BIT(FEATURE_SERVICE_GRAPH)))
		render_service_graph(f, rt);
	if (rt->netflow && (features & FEATURE_BIT(FEATURE_NETWORK)))
		render_netflow(f, rt);
	prometheus__render_self(f, rt);
}

/* ---- the HTTP endpoint ---- */

struct prom_state {
	struct MHD_Daemon *daemon;
	struct sonde_runtime *rt;
	struct prom_web web;
	bool have_web;
};

static enum MHD_Result queue_static(struct MHD_Connection *conn, unsigned int code, const char *text)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
								    MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
	ret = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Basic auth per basic_auth_users: 401 with a challenge when it fails. */
static bool authorized(struct prom_state *st, struct MHD_Connection *conn, enum MHD_Result *ret)
{
	static const char denied[] = "unauthorized\n";
	struct MHD_Response *resp;
	char *pass = NULL, *user;
	bool ok;

	if (!st->have_web || !prom_web__needs_auth(&st->web))
		return true;
	user = MHD_basic_auth_get_username_password(conn, &pass);
	ok = prom_web__authorized(&st->web, user, pass);
	if (pass) {
		explicit_bzero(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user)
		MHD_free(user);
	if (ok)
		return true;
	resp = MHD_create_response_from_buffer(sizeof(denied) - 1, (void *)denied,
					       MHD_RESPMEM_PERSISTENT);
	*ret = resp ? MHD_queue_basic_auth_fail_response(conn, "sonde", resp) : MHD_NO;
	if (resp)
		MHD_destroy_response(resp);
	return false;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
			     const char *method, const char *version, const char *upload_data,
			     size_t *upload_data_size, void **req_cls)
{
	struct prom_state *st = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret = MHD_NO;
	char *body = NULL;
	size_t len = 0;
	FILE *f;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return queue_static(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (*upload_data_size)
		return MHD_NO; /* a GET with a body */
	if (!authorized(st, conn, &ret))
		return ret;
	if (strcmp(url, st->rt->cfg->prometheus_path))
		return queue_static(conn, MHD_HTTP_NOT_FOUND,
				    "not found: metrics are at the configured path\n");
	f = open_memstream(&body, &len);
	if (!f)
		return MHD_NO;
	prometheus__render(f, st->rt);
	fclose(f);
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static bool prom_enabled(const struct sonde_config *cfg)
{
	return cfg->prometheus_port > 0;
}

/*
 * One libmicrohttpd thread waits on epoll, so no descriptor number limit
 * applies (select() broke past 1,024). Connections are bounded in total and
 * per client address; one that stays idle or half-sent past the timeout is
 * closed. Without an address it listens on every IPv6 and IPv4 address
 * (dual stack), falling back to IPv4 alone where IPv6 is off.
 */
static struct MHD_Daemon *start_daemon(struct prom_state *st, const struct sonde_config *cfg,
				       const struct sockaddr_storage *addr, bool dual)
{
	unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	unsigned int timeout_s = (cfg->prometheus_conn_timeout_ms + 999) / 1000;
	struct MHD_OptionItem opts[8];
	int n = 0;

	if (!timeout_s)
		timeout_s = 1;
	if (dual) {
		flags |= MHD_USE_DUAL_STACK;
		addr = NULL; /* the port alone: MHD binds [::] with IPv4 mapped */
	}
	else if (addr && addr->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, cfg->prometheus_max_conns,
					     NULL };
	if (cfg->prometheus_max_conns_per_ip > 0)
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_PER_IP_CONNECTION_LIMIT,
						     cfg->prometheus_max_conns_per_ip, NULL };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, NULL };
	if (addr)
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, (void *)addr };
	if (st->have_web && st->web.cert_pem) {
		flags |= MHD_USE_TLS;
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, st->web.cert_pem };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, st->web.key_pem };
		if (st->web.priorities)
			opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
							     st->web.priorities };
	}
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	return MHD_start_daemon(flags, cfg->prometheus_port, NULL, NULL, serve, st,
				MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
}

static int prom_init(struct exporter *e, const struct sonde_config *cfg, struct sonde_runtime *rt)
{
	struct prom_state *st = calloc(1, sizeof(*st));
	struct sockaddr_storage addr;
	const char *shown = "[::]";
	bool tls;
	char err[512];

	if (!st)
		return -ENOMEM;
	if (rt->metrics)
		metric_store__configure(rt->metrics, cfg);
	st->rt = rt;
	if (cfg->prometheus_web_config && *cfg->prometheus_web_config) {
		/* Checked at start (prom_web__check); read again here. */
		if (prom_web__load(cfg->prometheus_web_config, &st->web, err, sizeof(err))) {
			log_error("Prometheus web config file %s: %s", cfg->prometheus_web_config, err);
			free(st);
			return -EINVAL;
		}
		st->have_web = true;
	}
	tls = st->have_web && st->web.cert_pem;
	if (cfg->prometheus_address && *cfg->prometheus_address) {
		if (prom_web__parse_address(cfg->prometheus_address, cfg->prometheus_port, &addr,
					    &(socklen_t){ 0 }, err, sizeof(err))) {
			log_error("SONDE_PROMETHEUS_ADDRESS: %s", err);
			goto fail;
		}
		shown = cfg->prometheus_address;
		/* "::" is every address, as in Go's listeners: IPv4 too. */
		st->daemon = start_daemon(st, cfg, &addr,
					  addr.ss_family == AF_INET6 &&
						  IN6_IS_ADDR_UNSPECIFIED(
							  &((struct sockaddr_in6 *)&addr)->sin6_addr));
	} else {
		st->daemon = start_daemon(st, cfg, NULL, true);
		if (!st->daemon) {
			shown = "0.0.0.0";
			st->daemon = start_daemon(st, cfg, NULL, false);
		}
	}
	if (!st->daemon) {
		log_error("cannot serve Prometheus metrics on %s port %d (in use?)", shown,
			  cfg->prometheus_port);
		goto fail;
	}
	log_info("Prometheus metrics on %s://%s%s%s:%d%s%s", tls ? "https" : "http",
		 strchr(shown, ':') && shown[0] != '[' ? "[" : "", shown,
		 strchr(shown, ':') && shown[0] != '[' ? "]" : "", cfg->prometheus_port,
		 cfg->prometheus_path,
		 st->have_web && prom_web__needs_auth(&st->web) ? " (basic auth)" : "");
	e->state = st;
	return 0;
fail:
	if (st->have_web)
		prom_web__free(&st->web);
	free(st);
	return -EADDRINUSE;
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
	if (st->have_web)
		prom_web__free(&st->web);
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
