// SPDX-License-Identifier: Apache-2.0
/*
 * OTLP encoding with protobuf-c. Every message of one request is
 * allocated from one arena and freed at once after packing; strings point
 * into the caller's spans and series, which outlive the call.
 */
#include "export/otlp_encode.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/http_method.h"
#include "model/route.h"
#include "model/dbmetrics.h"
#include "model/rpcmetrics.h"
#include "proto/metrics_service.pb-c.h"
#include "proto/trace_service.pb-c.h"
#include "util/utf8.h"
#include "version.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope pb_scope;
typedef Opentelemetry__Proto__Resource__V1__Resource pb_resource;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans pb_resource_spans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans pb_scope_spans;
typedef Opentelemetry__Proto__Trace__V1__Span pb_span;
typedef Opentelemetry__Proto__Trace__V1__Status pb_status;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest pb_trace_request;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics pb_resource_metrics;
typedef Opentelemetry__Proto__Metrics__V1__ScopeMetrics pb_scope_metrics;
typedef Opentelemetry__Proto__Metrics__V1__Metric pb_metric;
typedef Opentelemetry__Proto__Metrics__V1__Histogram pb_histogram;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint pb_point;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest pb_metrics_request;

#define SCOPE_NAME "sonde"
#define SPAN_FLAG_HAS_IS_REMOTE 0x100u
#define SPAN_FLAG_IS_REMOTE 0x200u

/* ---- arena ---- */

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	max_align_t data[];
};

struct arena {
	struct arena_chunk *head;
	bool failed; /* an allocation failed: the request is abandoned */
};

#define ARENA_CHUNK (64 * 1024)

static void *arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c = a->head;
	void *p;

	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (!c || c->size - c->used < n) {
		size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;

		c = malloc(sizeof(*c) + size);
		if (!c) {
			a->failed = true;
			return NULL;
		}
		c->next = a->head;
		c->used = 0;
		c->size = size;
		a->head = c;
	}
	p = (unsigned char *)c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

static void arena_free(struct arena *a)
{
	while (a->head) {
		struct arena_chunk *next = a->head->next;

		free(a->head);
		a->head = next;
	}
}

static char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *s;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	s = n < 0 ? NULL : arena_alloc(a, (size_t)n + 1);
	if (!s)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* ---- attributes ---- */

struct attrs {
	struct arena *a;
	pb_kv **kv;
	size_t n, cap;
};

static void attrs_init(struct attrs *b, struct arena *a, size_t cap)
{
	b->a = a;
	b->n = 0;
	b->kv = arena_alloc(a, cap * sizeof(*b->kv));
	b->cap = b->kv ? cap : 0;
}

/* Keys and string values must outlive the request (literals, the
 * caller's data or the arena). */
static pb_any *attr_add(struct attrs *b, const char *key)
{
	struct kv_any {
		pb_kv kv;
		pb_any any;
	} *e;

	if (b->n == b->cap || !key)
		return NULL;
	e = arena_alloc(b->a, sizeof(*e));
	if (!e)
		return NULL;
	e->kv = (pb_kv)OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
	e->any = (pb_any)OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
	e->kv.key = (char *)key;
	e->kv.value = &e->any;
	b->kv[b->n++] = &e->kv;
	return &e->any;
}

static void attr_str(struct attrs *b, const char *key, const char *value)
{
	pb_any *v;

	if (!value)
		return;
	/* OTLP strings must be UTF-8: the model's are; anything else (an
	 * executable's path, a configured attribute) is made so here. */
	if (!utf8_valid(value, strlen(value))) {
		size_t n = strlen(value), size = 3 * n + 1;
		char *fixed = arena_alloc(b->a, size);

		if (!fixed)
			return;
		utf8_sanitize(fixed, size, value, n);
		value = fixed;
	}
	v = attr_add(b, key);
	if (v) {
		v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
		v->string_value = (char *)value;
	}
}

static void attr_int(struct attrs *b, const char *key, int64_t value)
{
	pb_any *v = attr_add(b, key);

	if (v) {
		v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
		v->int_value = value;
	}
}

/* ---- resources ---- */

static const char *sdk_language(const char *runtime)
{
	/* telemetry.sdk.language names the traced program's language, as
	 * other eBPF instrumentations do; unknown (native) is left out. */
	static const char *const map[][2] = {
		{ "java", "java" }, { "python", "python" }, { "node", "nodejs" }, { "ruby", "ruby" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(runtime, map[i][0]))
			return map[i][1];
	return NULL;
}

struct detected {
	const char *key;
	const char *str; /* NULL: integer */
	int64_t num;
	bool configured; /* set by Sonde's own configuration: beats OTEL_RESOURCE_ATTRIBUTES */
};

static pb_resource *resource_new(struct arena *a, const struct otlp_resource_base *base,
				 const struct otlp_proc_info *p, bool with_pid)
{
	const struct service *svc = p->service;
	const char *exe_name = strrchr(p->exe, '/');
	struct detected d[16];
	size_t nd = 0;
	pb_resource *r = arena_alloc(a, sizeof(*r));
	struct attrs b;

	if (!r)
		return NULL;
	*r = (pb_resource)OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
	exe_name = exe_name ? exe_name + 1 : p->exe;
	d[nd++] = (struct detected){ "service.name", svc ? svc->name : "unknown_service", 0,
				     base->service_name_configured };
	if (svc && svc->namespace_[0])
		d[nd++] = (struct detected){ "service.namespace", svc->namespace_, 0, true };
	if (p->pid)
		d[nd++] = (struct detected){ "service.instance.id",
					     arena_printf(a, "%s:%u", base->host_name, p->pid), 0, false };
	d[nd++] = (struct detected){ "host.name", base->host_name, 0, false };
	if (with_pid && p->pid)
		d[nd++] = (struct detected){ "process.pid", NULL, p->pid, false };
	if (p->exe[0]) {
		d[nd++] = (struct detected){ "process.executable.name", exe_name, 0, false };
		d[nd++] = (struct detected){ "process.executable.path", p->exe, 0, false };
	}
	if (p->runtime[0])
		d[nd++] = (struct detected){ "process.runtime.name", p->runtime, 0, false };
	d[nd++] = (struct detected){ "telemetry.sdk.name", "sonde", 0, false };
	if (sdk_language(p->runtime))
		d[nd++] = (struct detected){ "telemetry.sdk.language", sdk_language(p->runtime), 0,
					     false };
	d[nd++] = (struct detected){ "telemetry.sdk.version", sonde_version, 0, false };
	d[nd++] = (struct detected){ "telemetry.distro.name", "sonde", 0, false };
	d[nd++] = (struct detected){ "telemetry.distro.version", sonde_version, 0, false };

	attrs_init(&b, a, nd + base->attributes.count);
	for (size_t i = 0; i < nd; i++) {
		const char *given = otlp_pairs__get(&base->attributes, d[i].key);

		if (given && !d[i].configured)
			attr_str(&b, d[i].key, given);
		else if (d[i].str)
			attr_str(&b, d[i].key, d[i].str);
		else
			attr_int(&b, d[i].key, d[i].num);
	}
	for (size_t i = 0; i < base->attributes.count; i++) {
		const struct otlp_pair *kv = &base->attributes.items[i];
		bool known = false;

		for (size_t j = 0; j < nd && !known; j++)
			known = !strcmp(kv->key, d[j].key);
		if (!known)
			attr_str(&b, kv->key, kv->value);
	}
	r->attributes = b.kv;
	r->n_attributes = b.n;
	return r;
}

static pb_scope *scope_new(struct arena *a)
{
	pb_scope *s = arena_alloc(a, sizeof(*s));

	if (s) {
		*s = (pb_scope)OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
		s->name = SCOPE_NAME;
		s->version = (char *)sonde_version;
	}
	return s;
}

/* ---- spans ---- */

bool otlp_span_is_error(const struct span *s)
{
	if (span_is_db(s))
		return span_db_failed(s);
	if (span_is_rpc(s))
		return span_rpc_failed(s);
	return s->status >= 500 || (s->kind == SPAN_KIND_CLIENT && s->status >= 400);
}

/* Host header "name:port" or "[v6]:port" into its parts; port 0 if absent. */
static void split_host(const char *host, char *addr, size_t addr_size, unsigned int *port)
{
	const char *colon;
	size_t len;

	*port = 0;
	if (host[0] == '[') {
		const char *close = strchr(host, ']');

		len = close ? (size_t)(close - host - 1) : strlen(host + 1);
		snprintf(addr, addr_size, "%.*s", (int)len, host + 1);
		if (close && close[1] == ':')
			*port = (unsigned int)strtoul(close + 2, NULL, 10);
		return;
	}
	colon = strrchr(host, ':');
	if (colon && strchr(host, ':') == colon) {
		*port = (unsigned int)strtoul(colon + 1, NULL, 10);
		len = colon - host;
	} else {
		len = strlen(host);
	}
	snprintf(addr, addr_size, "%.*s", (int)len, host);
}

/* The attributes the HTTP conventions had before they were stable
 * (semconv 1.20), which older collectors' pipelines and the seeds' queries
 * know. */
static void span_attrs_old(struct attrs *b, struct arena *a, const struct span *s,
			   const char *server_address, unsigned int server_port)
{
	bool server = s->kind == SPAN_KIND_SERVER;

	attr_str(b, "http.method", s->method);
	if (s->status > 0)
		attr_int(b, "http.status_code", s->status);
	attr_str(b, "http.scheme", s->tls ? "https" : "http");
	attr_str(b, "http.flavor", span_http_version(s->http_minor));
	attr_int(b, "http.request_content_length", (int64_t)s->request_body_size);
	attr_int(b, "http.response_content_length", (int64_t)s->response_body_size);
	if (server) {
		attr_str(b, "http.target", s->path);
		attr_str(b, "net.host.name", server_address);
		if (server_port)
			attr_int(b, "net.host.port", server_port);
		attr_str(b, "net.sock.peer.addr", s->client.addr);
		attr_int(b, "net.sock.peer.port", s->client.port);
	} else {
		bool v6 = !s->host[0] && strchr(s->server.addr, ':');

		attr_str(b, "http.url",
			 s->host[0] ? arena_printf(a, "http://%s%s", s->host, s->path)
				    : arena_printf(a, "http://%s%s%s:%u%s", v6 ? "[" : "", s->server.addr,
						   v6 ? "]" : "", s->server.port, s->path));
		attr_str(b, "net.peer.name", server_address);
		if (server_port)
			attr_int(b, "net.peer.port", server_port);
		attr_str(b, "net.sock.peer.addr", s->server.addr);
		attr_int(b, "net.sock.peer.port", s->server.port);
	}
}

/* A remote procedure call (gRPC): the OTel RPC conventions. */
static void span_attrs_rpc(struct attrs *b, struct arena *a, const struct span *s)
{
	bool server = s->kind == SPAN_KIND_SERVER;

	attr_str(b, "rpc.system", s->rpc.system);
	attr_str(b, "rpc.service", s->rpc.service);
	attr_str(b, "rpc.method", s->rpc.method);
	if (s->rpc.grpc_status >= 0)
		attr_int(b, "rpc.grpc.status_code", s->rpc.grpc_status);
	if (span_rpc_failed(s))
		attr_str(b, "error.type", s->rpc.grpc_status >= 0
						  ? arena_printf(a, "%d", s->rpc.grpc_status)
						  : "_OTHER");
	attr_str(b, "network.protocol.name", "http");
	attr_str(b, "network.protocol.version", span_http_version(s->http_minor));
	attr_str(b, "server.address", s->server.addr);
	attr_int(b, "server.port", s->server.port);
	if (server) {
		attr_str(b, "client.address", s->client.addr);
		attr_int(b, "client.port", s->client.port);
	}
	attr_str(b, "network.peer.address", server ? s->client.addr : s->server.addr);
	attr_int(b, "network.peer.port", server ? s->client.port : s->server.port);
}

/* A database client call: the OTel database conventions. */
static void span_attrs_db(struct attrs *b, const struct span *s)
{
	attr_str(b, "db.system.name", s->db.system);
	if (s->db.operation[0])
		attr_str(b, "db.operation.name", s->db.operation);
	if (s->db.collection[0])
		attr_str(b, "db.collection.name", s->db.collection);
	if (s->db.namespace_[0])
		attr_str(b, "db.namespace", s->db.namespace_);
	if (s->db.query[0])
		attr_str(b, "db.query.text", s->db.query);
	if (span_db_failed(s)) {
		attr_str(b, "error.type", s->db.status_code[0] ? s->db.status_code : "_OTHER");
		if (s->db.status_code[0])
			attr_str(b, "db.response.status_code", s->db.status_code);
	}
	attr_str(b, "server.address", s->server.addr);
	attr_int(b, "server.port", s->server.port);
	attr_str(b, "network.peer.address", s->server.addr);
	attr_int(b, "network.peer.port", s->server.port);
}

static void span_attrs(struct attrs *b, struct arena *a, const struct span *s, unsigned int conv)
{
	bool server = s->kind == SPAN_KIND_SERVER;
	char host_addr[SPAN_HOST_MAX];
	unsigned int host_port = 0;
	const char *server_address;
	unsigned int server_port;

	if (http_method_known(s->method)) {
		attr_str(b, "http.request.method", s->method);
	} else {
		attr_str(b, "http.request.method", "_OTHER");
		attr_str(b, "http.request.method_original", s->method);
	}
	if (s->host[0])
		split_host(s->host, host_addr, sizeof(host_addr), &host_port);
	server_address = s->host[0] ? arena_printf(a, "%s", host_addr) : s->server.addr;
	server_port = server ? (host_port ? host_port : s->server.port) : s->server.port;
	attr_str(b, "url.path", s->path);
	attr_str(b, "url.scheme", s->tls ? "https" : "http");
	if (server) {
		if (s->route[0])
			attr_str(b, "http.route", s->route);
	} else {
		bool v6 = !s->host[0] && strchr(s->server.addr, ':');

		attr_str(b, "url.full",
			 s->host[0] ? arena_printf(a, "http://%s%s", s->host, s->path)
				    : arena_printf(a, "http://%s%s%s:%u%s", v6 ? "[" : "", s->server.addr,
						   v6 ? "]" : "", s->server.port, s->path));
	}
	if (s->status > 0)
		attr_int(b, "http.response.status_code", s->status);
	if (otlp_span_is_error(s))
		attr_str(b, "error.type", arena_printf(a, "%d", s->status));
	attr_str(b, "server.address", server_address);
	if (server_port)
		attr_int(b, "server.port", server_port);
	if (server) {
		attr_str(b, "client.address", s->client.addr);
		attr_int(b, "client.port", s->client.port);
		attr_str(b, "network.peer.address", s->client.addr);
		attr_int(b, "network.peer.port", s->client.port);
	} else {
		attr_str(b, "network.peer.address", s->server.addr);
		attr_int(b, "network.peer.port", s->server.port);
	}
	attr_str(b, "network.protocol.name", "http");
	attr_str(b, "network.protocol.version", span_http_version(s->http_minor));
	attr_int(b, "http.request.body.size", (int64_t)s->request_body_size);
	attr_int(b, "http.response.body.size", (int64_t)s->response_body_size);
	if (conv & HTTP_CONV_OLD)
		span_attrs_old(b, a, s, server_address, server_port);
}

static pb_span *span_new(struct arena *a, const struct span *s, unsigned int conv)
{
	struct span_msgs {
		pb_span span;
		pb_status status;
		char name[SPAN_METHOD_MAX + SPAN_ROUTE_MAX + 2];
	} *m = arena_alloc(a, sizeof(*m));
	bool has_parent = false;
	struct attrs b;

	if (!m)
		return NULL;
	m->span = (pb_span)OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
	m->status = (pb_status)OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
	for (size_t i = 0; i < sizeof(s->parent_span_id); i++)
		has_parent |= s->parent_span_id[i] != 0;
	m->span.trace_id = (ProtobufCBinaryData){ sizeof(s->trace_id), (uint8_t *)s->trace_id };
	m->span.span_id = (ProtobufCBinaryData){ sizeof(s->span_id), (uint8_t *)s->span_id };
	if (has_parent)
		m->span.parent_span_id =
			(ProtobufCBinaryData){ sizeof(s->parent_span_id), (uint8_t *)s->parent_span_id };
	/* A server's parent came in the request: it is remote. A client's
	 * traceparent was written by the program itself: local. */
	m->span.flags = s->trace_flags | SPAN_FLAG_HAS_IS_REMOTE |
			(has_parent && s->kind == SPAN_KIND_SERVER ? SPAN_FLAG_IS_REMOTE : 0);
	span_name(s, m->name, sizeof(m->name));
	m->span.name = m->name;
	m->span.kind = s->kind == SPAN_KIND_SERVER
			       ? OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER
			       : OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
	m->span.start_time_unix_nano = s->start_ns;
	m->span.end_time_unix_nano = s->end_ns > s->start_ns ? s->end_ns : s->start_ns;
	attrs_init(&b, a, 40);
	if (span_is_db(s))
		span_attrs_db(&b, s);
	else if (span_is_rpc(s))
		span_attrs_rpc(&b, a, s);
	else
		span_attrs(&b, a, s, conv);
	m->span.attributes = b.kv;
	m->span.n_attributes = b.n;
	if (otlp_span_is_error(s))
		m->status.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
	if ((span_is_db(s) || span_is_rpc(s)) && s->error[0] && otlp_span_is_error(s))
		m->status.message = (char *)s->error;
	m->span.status = &m->status;
	return &m->span;
}

static int pack(const ProtobufCMessage *msg, struct otlp_buf *out)
{
	size_t len = protobuf_c_message_get_packed_size(msg);

	/* Never a zero-byte malloc: an empty request is valid protobuf. */
	out->data = malloc(len ? len : 1);
	if (!out->data)
		return -ENOMEM;
	out->len = protobuf_c_message_pack(msg, out->data);
	return 0;
}

void otlp_buf__free(struct otlp_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

int otlp_encode_traces(const struct otlp_resource_base *base, const struct otlp_span_item *items,
		       size_t n, struct otlp_buf *out)
{
	pb_trace_request req = OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
	struct arena a = { 0 };
	size_t *group = calloc(n ? n : 1, sizeof(*group)); /* item -> its resource's index */
	size_t *first = calloc(n ? n : 1, sizeof(*first)); /* resource -> its first item */
	size_t ngroups = 0;
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (!group || !first)
		goto out;
	/* One resource per process: group the spans by pid, in order. */
	for (size_t i = 0; i < n; i++) {
		size_t g = 0;

		while (g < ngroups && (items[first[g]].proc.pid != items[i].proc.pid ||
				       items[first[g]].proc.service != items[i].proc.service))
			g++;
		if (g == ngroups)
			first[ngroups++] = i;
		group[i] = g;
	}
	req.resource_spans = arena_alloc(&a, (ngroups ? ngroups : 1) * sizeof(*req.resource_spans));
	if (!req.resource_spans)
		goto out;
	for (size_t g = 0; g < ngroups; g++) {
		struct rs_msgs {
			pb_resource_spans rs;
			pb_scope_spans ss;
			pb_scope_spans *ss_list[1];
		} *m = arena_alloc(&a, sizeof(*m));
		size_t count = 0;

		if (!m)
			goto out;
		for (size_t i = first[g]; i < n; i++)
			count += group[i] == g;
		m->rs = (pb_resource_spans)OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
		m->ss = (pb_scope_spans)OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
		m->rs.resource = resource_new(&a, base, &items[first[g]].proc, true);
		m->ss.scope = scope_new(&a);
		m->ss.spans = arena_alloc(&a, count * sizeof(*m->ss.spans));
		if (!m->rs.resource || !m->ss.scope || !m->ss.spans)
			goto out;
		for (size_t i = first[g]; i < n; i++) {
			if (group[i] != g)
				continue;
			m->ss.spans[m->ss.n_spans] = span_new(&a, &items[i].span, base->span_conv);
			if (!m->ss.spans[m->ss.n_spans++])
				goto out;
		}
		m->ss_list[0] = &m->ss;
		m->rs.scope_spans = m->ss_list;
		m->rs.n_scope_spans = 1;
		req.resource_spans[req.n_resource_spans++] = &m->rs;
	}
	if (a.failed)
		goto out;
	rc = pack(&req.base, out);
out:
	arena_free(&a);
	free(group);
	free(first);
	return rc;
}

/* ---- metrics ---- */

typedef Opentelemetry__Proto__Metrics__V1__ExponentialHistogram pb_exp_histogram;
typedef Opentelemetry__Proto__Metrics__V1__Sum pb_sum;
typedef Opentelemetry__Proto__Metrics__V1__Gauge pb_gauge;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint pb_number_point;
typedef Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint pb_exp_point;
typedef Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint__Buckets pb_exp_buckets;

struct family {
	enum instrument instr;
	const char *description;
	const char *unit;
	const double *bounds;
	int nbounds;
};

/* The instruments of the Prometheus endpoint, with the semantic
 * conventions' names (model/metrics.c) and units. */
static const struct family families[INSTR__MAX] = {
	{ INSTR_SERVER_DURATION, "Duration of HTTP server requests.", "s", duration_bounds_s,
	  DURATION_BOUNDS },
	{ INSTR_SERVER_REQ_BODY, "Size of HTTP server request bodies.", "By", size_bounds_bytes,
	  SIZE_BOUNDS },
	{ INSTR_SERVER_RESP_BODY, "Size of HTTP server response bodies.", "By", size_bounds_bytes,
	  SIZE_BOUNDS },
	{ INSTR_CLIENT_DURATION, "Duration of HTTP client requests.", "s", duration_bounds_s,
	  DURATION_BOUNDS },
	{ INSTR_CLIENT_REQ_BODY, "Size of HTTP client request bodies.", "By", size_bounds_bytes,
	  SIZE_BOUNDS },
	{ INSTR_CLIENT_RESP_BODY, "Size of HTTP client response bodies.", "By", size_bounds_bytes,
	  SIZE_BOUNDS },
};

/* Data point attributes: the labels of @mask with their OTel names.
 * service.name and service.namespace are the resource's. */
/* A label's attribute name: the stable one, or the one before (semconv
 * 1.20), whose Prometheus forms the legacy names are (http_method,
 * http_status_code, http_target, net_peer_name, ...). */
static const char *label_attr(enum metric_label l, enum span_kind kind, bool old)
{
	static const char *const before[LABEL__MAX] = {
		[LABEL_METHOD] = "http.method",
		[LABEL_STATUS] = "http.status_code",
		[LABEL_ROUTE] = "http.target",
		[LABEL_SERVER_ADDRESS] = "net.peer.name",
		[LABEL_SERVER_PORT] = "net.peer.port",
		[LABEL_URL_SCHEME] = "http.scheme",
		[LABEL_PROTOCOL_VERSION] = "http.flavor",
	};

	if (!old || !before[l])
		return metric_labels[l].otel;
	if (l == LABEL_SERVER_PORT && kind == SPAN_KIND_SERVER)
		return "net.host.port";
	return before[l];
}

static void point_attrs(struct attrs *b, const struct series_key *k, label_mask mask, bool old)
{
	unsigned int port = k->kind == SPAN_KIND_SERVER ? k->local_port : k->peer_port;

	if (mask & LABEL_BIT(LABEL_METHOD))
		attr_str(b, label_attr(LABEL_METHOD, k->kind, old), k->method);
	if ((mask & LABEL_BIT(LABEL_STATUS)) && k->status > 0)
		attr_int(b, label_attr(LABEL_STATUS, k->kind, old), k->status);
	if ((mask & LABEL_BIT(LABEL_ROUTE)) && k->kind == SPAN_KIND_SERVER && k->route)
		attr_str(b, label_attr(LABEL_ROUTE, k->kind, old), k->route);
	if ((mask & LABEL_BIT(LABEL_SERVER_ADDRESS)) && k->kind == SPAN_KIND_CLIENT)
		attr_str(b, label_attr(LABEL_SERVER_ADDRESS, k->kind, old), k->peer);
	if ((mask & LABEL_BIT(LABEL_SERVER_PORT)) && port)
		attr_int(b, label_attr(LABEL_SERVER_PORT, k->kind, old), port);
	if (mask & LABEL_BIT(LABEL_URL_SCHEME))
		attr_str(b, label_attr(LABEL_URL_SCHEME, k->kind, old), series_scheme_name(k));
	if ((mask & LABEL_BIT(LABEL_PROTOCOL_VERSION)) && k->http_minor)
		attr_str(b, label_attr(LABEL_PROTOCOL_VERSION, k->kind, old),
			 span_http_version(k->http_minor - 1));
}

/* A histogram of the store as an OTLP explicit-bucket data point. */
static pb_point *histogram_point(struct arena *a, const struct histogram *h, const double *bounds,
				 int nbounds)
{
	pb_point *p = arena_alloc(a, sizeof(*p));

	if (!p)
		return NULL;
	*p = (pb_point)OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__INIT;
	p->count = h->count;
	p->has_sum_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__HAS_SUM_SUM;
	p->sum = h->sum;
	/* The store keeps per-bucket counts with a last +Inf bucket:
	 * OTLP's layout exactly. */
	p->bucket_counts = (uint64_t *)h->bucket;
	p->n_bucket_counts = (size_t)nbounds + 1;
	p->explicit_bounds = (double *)bounds;
	p->n_explicit_bounds = (size_t)nbounds;
	return p;
}

static pb_point *explicit_point(struct arena *a, const struct family *f, const struct series *s)
{
	return histogram_point(a, series_histogram(s, instruments[f->instr].hist), f->bounds,
			       f->nbounds);
}

static pb_exp_point *exponential_point(struct arena *a, const struct exp_histogram *h)
{
	struct exp_msgs {
		pb_exp_point point;
		pb_exp_buckets positive;
	} *m = arena_alloc(a, sizeof(*m));

	if (!m)
		return NULL;
	m->point = (pb_exp_point)OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT__INIT;
	m->positive = (pb_exp_buckets)
		OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT__BUCKETS__INIT;
	m->point.count = h->count;
	m->point.has_sum_case = OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT__HAS_SUM_SUM;
	m->point.sum = h->sum;
	m->point.scale = h->scale;
	m->point.zero_count = h->zero_count;
	if (h->count) {
		m->point.has_min_case =
			OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT__HAS_MIN_MIN;
		m->point.min = h->min;
		m->point.has_max_case =
			OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT__HAS_MAX_MAX;
		m->point.max = h->max;
	}
	m->positive.offset = h->offset;
	m->positive.bucket_counts = (uint64_t *)h->counts;
	m->positive.n_bucket_counts = h->len;
	m->point.positive = &m->positive;
	return &m->point;
}

/* An instrument's OTLP name in a generation of the conventions: the old
 * one is its legacy Prometheus name without the unit, with dots
 * (http_server_duration_seconds: http.server.duration), which a collector's
 * Prometheus exporter turns back into the seeds' names. */
static const char *instrument_name(struct arena *a, enum instrument i, bool old)
{
	const char *legacy = instruments[i].legacy;
	char *name;
	size_t len;

	if (!old || !legacy)
		return instruments[i].otel;
	name = arena_printf(a, "%s", legacy);
	if (!name)
		return instruments[i].otel;
	len = strlen(name);
	if (len > 8 && !strcmp(name + len - 8, "_seconds"))
		name[len - 8] = 0;
	else if (len > 6 && !strcmp(name + len - 6, "_bytes"))
		name[len - 6] = 0;
	for (char *p = name; *p; p++)
		if (*p == '_')
			*p = '.';
	return name;
}

static pb_metric *metric_new(struct arena *a, const struct family *f, const struct series *series,
			     size_t n, label_mask mask, bool exponential, const struct service *svc,
			     size_t count, uint64_t start_ns, uint64_t now_ns, bool old)
{
	struct metric_msgs {
		pb_metric metric;
		pb_histogram histogram;
		pb_exp_histogram exp;
	} *m = arena_alloc(a, sizeof(*m));
	enum series_histogram hist = instruments[f->instr].hist;
	const int cumulative =
		OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;

	if (!m)
		return NULL;
	m->metric = (pb_metric)OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
	m->histogram = (pb_histogram)OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM__INIT;
	m->exp = (pb_exp_histogram)OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM__INIT;
	m->metric.name = (char *)instrument_name(a, f->instr, old);
	m->metric.description = (char *)f->description;
	m->metric.unit = (char *)f->unit;
	if (exponential) {
		m->metric.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM;
		m->metric.exponential_histogram = &m->exp;
		m->exp.aggregation_temporality = cumulative;
		m->exp.data_points = arena_alloc(a, count * sizeof(*m->exp.data_points));
		if (!m->exp.data_points)
			return NULL;
	} else {
		m->metric.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
		m->metric.histogram = &m->histogram;
		m->histogram.aggregation_temporality = cumulative;
		m->histogram.data_points = arena_alloc(a, count * sizeof(*m->histogram.data_points));
		if (!m->histogram.data_points)
			return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct series *s = &series[i];
		struct attrs b;

		if (s->key.service != svc || s->key.kind != instruments[f->instr].kind)
			continue;
		attrs_init(&b, a, LABEL__MAX);
		point_attrs(&b, &s->key, mask, old);
		if (exponential) {
			pb_exp_point *p = s->exp[hist] ? exponential_point(a, s->exp[hist]) : NULL;

			if (!p)
				return NULL;
			p->start_time_unix_nano = start_ns;
			p->time_unix_nano = now_ns;
			p->attributes = b.kv;
			p->n_attributes = b.n;
			m->exp.data_points[m->exp.n_data_points++] = p;
		} else {
			pb_point *p = explicit_point(a, f, s);

			if (!p)
				return NULL;
			p->start_time_unix_nano = start_ns;
			p->time_unix_nano = now_ns;
			p->attributes = b.kv;
			p->n_attributes = b.n;
			m->histogram.data_points[m->histogram.n_data_points++] = p;
		}
	}
	return &m->metric;
}

/* Add @svc to @svcs (of @n) unless there. */
static void note_service(const struct service **svcs, size_t *n, const struct service *svc)
{
	for (size_t j = 0; j < *n; j++)
		if (svcs[j] == svc)
			return;
	svcs[(*n)++] = svc;
}

/* ---- Sonde's own metrics ---- */

/* The agent itself as a resource: the same host, the same overrides
 * (OTEL_RESOURCE_ATTRIBUTES), service.name "sonde" unless one is given. */
static pb_resource *self_resource_new(struct arena *a, const struct otlp_resource_base *base)
{
	static const struct service sonde = { .name = "sonde" };
	/* resource_new keeps pointers into it: it lives as long as the request. */
	struct otlp_proc_info *self = arena_alloc(a, sizeof(*self));
	ssize_t n;

	if (!self)
		return NULL;
	self->service = &sonde;
	self->pid = (uint32_t)getpid();
	n = readlink("/proc/self/exe", self->exe, sizeof(self->exe) - 1);
	self->exe[n > 0 ? n : 0] = '\0';
	return resource_new(a, base, self, true);
}

static pb_metric *self_metric_new(struct arena *a, const struct self_sample *v, size_t n,
				  uint64_t start_ns, uint64_t now_ns)
{
	struct self_msgs {
		pb_metric metric;
		pb_sum sum;
		pb_gauge gauge;
	} *m = arena_alloc(a, sizeof(*m));
	const struct self_metric *sm = v[0].metric;
	pb_number_point **points = arena_alloc(a, n * sizeof(*points));

	if (!m || !points)
		return NULL;
	m->metric = (pb_metric)OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
	m->metric.name = (char *)sm->otel;
	m->metric.description = (char *)sm->help;
	m->metric.unit = (char *)sm->unit;
	for (size_t i = 0; i < n; i++) {
		pb_number_point *p = arena_alloc(a, sizeof(*p));
		struct attrs b;

		if (!p)
			return NULL;
		*p = (pb_number_point)OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__INIT;
		attrs_init(&b, a, SELF_LABELS_MAX);
		for (int l = 0; l < sm->nlabels; l++)
			attr_str(&b, sm->otel_labels[l], v[i].values[l]);
		p->attributes = b.kv;
		p->n_attributes = b.n;
		if (sm->type == SELF_COUNTER)
			p->start_time_unix_nano = start_ns;
		p->time_unix_nano = now_ns;
		p->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
		p->as_int = (int64_t)v[i].value;
		points[i] = p;
	}
	if (sm->type == SELF_COUNTER) {
		m->sum = (pb_sum)OPENTELEMETRY__PROTO__METRICS__V1__SUM__INIT;
		m->sum.aggregation_temporality =
			OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
		m->sum.is_monotonic = true;
		m->sum.data_points = points;
		m->sum.n_data_points = n;
		m->metric.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
		m->metric.sum = &m->sum;
	} else {
		m->gauge = (pb_gauge)OPENTELEMETRY__PROTO__METRICS__V1__GAUGE__INIT;
		m->gauge.data_points = points;
		m->gauge.n_data_points = n;
		m->metric.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
		m->metric.gauge = &m->gauge;
	}
	return &m->metric;
}

/* One ResourceMetrics for the agent: a metric per run of samples of the
 * same self-metric (self_metrics__collect keeps them together). */
static pb_resource_metrics *self_resource_metrics(struct arena *a,
						  const struct otlp_resource_base *base,
						  const struct self_sample *v, size_t n,
						  uint64_t start_ns, uint64_t now_ns)
{
	struct self_rm {
		pb_resource_metrics rm;
		pb_scope_metrics sm;
		pb_scope_metrics *sm_list[1];
	} *m = arena_alloc(a, sizeof(*m));

	if (!m)
		return NULL;
	m->rm = (pb_resource_metrics)OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT;
	m->sm = (pb_scope_metrics)OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT;
	m->rm.resource = self_resource_new(a, base);
	m->sm.scope = scope_new(a);
	m->sm.metrics = arena_alloc(a, n * sizeof(*m->sm.metrics));
	if (!m->rm.resource || !m->sm.scope || !m->sm.metrics)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j < n && v[j].metric == v[i].metric)
			j++;
		m->sm.metrics[m->sm.n_metrics] = self_metric_new(a, v + i, j - i, start_ns, now_ns);
		if (!m->sm.metrics[m->sm.n_metrics++])
			return NULL;
		i = j;
	}
	m->sm_list[0] = &m->sm;
	m->rm.scope_metrics = m->sm_list;
	m->rm.n_scope_metrics = 1;
	return &m->rm;
}

int otlp_encode_metric_set(const struct otlp_resource_base *base, const struct otlp_metric_set *set,
			   const struct otlp_proc_info *procs, size_t nprocs, uint64_t start_ns,
			   uint64_t now_ns, struct otlp_buf *out, size_t *points)
{
	pb_metrics_request req =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
	const struct service **svcs;
	struct arena a = { 0 };
	size_t nsvcs = 0, total = 0;
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	*points = 0;
	for (int f = 0; f < INSTR__MAX; f++)
		total += set->n[f];
	svcs = calloc(total ? total : 1, sizeof(*svcs));
	if (!svcs)
		goto out;
	/* One resource per service, in the order the series came. */
	for (int f = 0; f < INSTR__MAX; f++)
		for (size_t i = 0; i < set->n[f]; i++)
			note_service(svcs, &nsvcs, set->series[f][i].key.service);
	req.resource_metrics = arena_alloc(&a, (nsvcs + 1) * sizeof(*req.resource_metrics));
	if (!req.resource_metrics)
		goto out;
	for (size_t j = 0; j < nsvcs; j++) {
		struct rm_msgs {
			pb_resource_metrics rm;
			pb_scope_metrics sm;
			pb_scope_metrics *sm_list[1];
			pb_metric *metrics[2 * INSTR__MAX]; /* stable and old names */
		} *m = arena_alloc(&a, sizeof(*m));
		struct otlp_proc_info anonymous = { .service = svcs[j] };
		const struct otlp_proc_info *proc = &anonymous;

		if (!m)
			goto out;
		for (size_t p = 0; p < nprocs; p++)
			if (procs[p].service == svcs[j])
				proc = &procs[p];
		m->rm = (pb_resource_metrics)OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT;
		m->sm = (pb_scope_metrics)OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT;
		/* Series add up every process of a service: no process.pid. */
		m->rm.resource = resource_new(&a, base, proc, false);
		m->sm.scope = scope_new(&a);
		if (!m->rm.resource || !m->sm.scope)
			goto out;
		m->sm.metrics = m->metrics;
		for (int f = 0; f < INSTR__MAX; f++) {
			const struct family *fam = &families[f];
			size_t count = 0;

			for (size_t i = 0; i < set->n[fam->instr]; i++)
				count += set->series[fam->instr][i].key.service == svcs[j] &&
					 set->series[fam->instr][i].key.kind == instruments[fam->instr].kind;
			if (!count)
				continue;
			for (int gen = 0; gen < 2; gen++) {
				bool old = gen == 1;
				unsigned int conv = base->metric_conv ? base->metric_conv
								       : HTTP_CONV_STABLE;

				if (!(conv & (old ? HTTP_CONV_OLD : HTTP_CONV_STABLE)) ||
				    (old && !instruments[fam->instr].legacy))
					continue;
				m->metrics[m->sm.n_metrics] = metric_new(
					&a, fam, set->series[fam->instr], set->n[fam->instr],
					set->labels[fam->instr], set->exponential, svcs[j], count,
					start_ns, now_ns, old);
				if (!m->metrics[m->sm.n_metrics++])
					goto out;
				*points += count;
			}
		}
		m->sm_list[0] = &m->sm;
		m->rm.scope_metrics = m->sm_list;
		m->rm.n_scope_metrics = 1;
		req.resource_metrics[req.n_resource_metrics++] = &m->rm;
	}
	if (set->nself) {
		pb_resource_metrics *rm = self_resource_metrics(&a, base, set->self, set->nself,
								start_ns, now_ns);

		if (!rm)
			goto out;
		req.resource_metrics[req.n_resource_metrics++] = rm;
		*points += set->nself;
	}
	if (a.failed)
		goto out;
	rc = pack(&req.base, out);
out:
	if (rc)
		*points = 0;
	arena_free(&a);
	free(svcs);
	return rc;
}

int otlp_encode_metrics(const struct otlp_resource_base *base, const struct series *series,
			size_t n, const struct otlp_proc_info *procs, size_t nprocs, uint64_t start_ns,
			uint64_t now_ns, struct otlp_buf *out, size_t *points)
{
	struct otlp_metric_set set = { .exponential = false };

	for (int f = 0; f < INSTR__MAX; f++) {
		set.series[f] = series;
		set.n[f] = n;
		set.labels[f] = default_labels(instruments[f].kind);
	}
	return otlp_encode_metric_set(base, &set, procs, nprocs, start_ns, now_ns, out, points);
}

/* ---- span metrics and service graph (model/spanmetrics.h) ---- */

typedef Opentelemetry__Proto__Metrics__V1__Sum pb_sum;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint pb_number;

static pb_metric *sm_metric_new(struct arena *a, const char *name, const char *desc,
				const char *unit, bool histogram, size_t count)
{
	struct sm_msgs {
		pb_metric metric;
		pb_histogram histogram;
		pb_sum sum;
	} *m = arena_alloc(a, sizeof(*m));
	const int cumulative =
		OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;

	if (!m)
		return NULL;
	m->metric = (pb_metric)OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
	m->metric.name = (char *)name;
	m->metric.description = (char *)desc;
	m->metric.unit = (char *)unit;
	if (histogram) {
		m->histogram = (pb_histogram)OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM__INIT;
		m->histogram.aggregation_temporality = cumulative;
		m->histogram.data_points = arena_alloc(a, (count ? count : 1) * sizeof(void *));
		m->metric.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
		m->metric.histogram = &m->histogram;
		if (!m->histogram.data_points)
			return NULL;
	} else {
		m->sum = (pb_sum)OPENTELEMETRY__PROTO__METRICS__V1__SUM__INIT;
		m->sum.aggregation_temporality = cumulative;
		m->sum.is_monotonic = true;
		m->sum.data_points = arena_alloc(a, (count ? count : 1) * sizeof(void *));
		m->metric.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
		m->metric.sum = &m->sum;
		if (!m->sum.data_points)
			return NULL;
	}
	return &m->metric;
}

static bool sm_add_count(struct arena *a, pb_metric *m, struct attrs *b, uint64_t v,
			 uint64_t start_ns, uint64_t now_ns)
{
	pb_number *p = arena_alloc(a, sizeof(*p));

	if (!p)
		return false;
	*p = (pb_number)OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__INIT;
	p->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
	p->as_int = (int64_t)v;
	p->start_time_unix_nano = start_ns;
	p->time_unix_nano = now_ns;
	p->attributes = b->kv;
	p->n_attributes = b->n;
	m->sum->data_points[m->sum->n_data_points++] = p;
	return true;
}

static bool sm_add_hist(struct arena *a, pb_metric *m, struct attrs *b, const struct histogram *h,
			uint64_t start_ns, uint64_t now_ns)
{
	pb_point *p = histogram_point(a, h, duration_bounds_s, DURATION_BOUNDS);

	if (!p)
		return false;
	p->start_time_unix_nano = start_ns;
	p->time_unix_nano = now_ns;
	p->attributes = b->kv;
	p->n_attributes = b->n;
	m->histogram->data_points[m->histogram->n_data_points++] = p;
	return true;
}

static void sm_attrs(struct attrs *b, struct arena *a, const struct sm_series *s,
		     const char *host)
{
	attrs_init(b, a, 6);
	attr_str(b, "service", s->service ? s->service->name : "");
	if (s->service && s->service->namespace_[0])
		attr_str(b, "service_namespace", s->service->namespace_);
	attr_str(b, "service_instance_id", arena_printf(a, "%s:%u", host, s->pid));
	attr_str(b, "span_name", s->span_name);
	attr_str(b, "span_kind", spanmetrics__kind_name(s->kind));
	attr_str(b, "status_code", spanmetrics__status_name(s->status));
}

static void sg_attrs(struct attrs *b, struct arena *a, const struct sg_edge *e)
{
	attrs_init(b, a, 3);
	attr_str(b, "client", e->client);
	attr_str(b, "server", e->server);
	attr_str(b, "connection_type", e->connection_type);
}

int otlp_encode_spanmetrics(const struct otlp_resource_base *base, const struct sm_series *sm,
			    size_t nsm, const struct sg_edge *edges, size_t nedges, bool span,
			    bool graph, uint64_t start_ns, uint64_t now_ns, struct otlp_buf *out,
			    size_t *points)
{
	pb_metrics_request req =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
	struct rm_msgs {
		pb_resource_metrics rm;
		pb_resource_metrics *rm_list[1];
		pb_scope_metrics sm;
		pb_scope_metrics *sm_list[1];
		pb_metric *metrics[7];
	} *m;
	struct service generator = { .name = "sonde" };
	struct otlp_proc_info proc = { .service = &generator };
	struct arena a = { 0 };
	size_t nserver = 0, nclient = 0;
	pb_metric *calls = NULL, *latency = NULL, *size = NULL;
	pb_metric *total = NULL, *failed = NULL, *srv = NULL, *cli = NULL;
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	*points = 0;
	m = arena_alloc(&a, sizeof(*m));
	if (!m)
		goto out;
	m->rm = (pb_resource_metrics)OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT;
	m->sm = (pb_scope_metrics)OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT;
	m->rm.resource = resource_new(&a, base, &proc, false);
	m->sm.scope = scope_new(&a);
	if (!m->rm.resource || !m->sm.scope)
		goto out;
	for (size_t i = 0; i < nedges; i++) {
		nserver += edges[i].server_seconds.count > 0;
		nclient += edges[i].client_seconds.count > 0;
	}
	if (span && nsm) {
		calls = sm_metric_new(&a, "traces_spanmetrics_calls_total",
				      "Spans, by service, span name, kind and status.", "1", false, nsm);
		latency = sm_metric_new(&a, "traces_spanmetrics_latency", "Span durations.", "s", true,
					nsm);
		size = sm_metric_new(&a, "traces_spanmetrics_size_total",
				     "Request body bytes of the spans.", "By", false, nsm);
		if (!calls || !latency || !size)
			goto out;
		m->metrics[m->sm.n_metrics++] = calls;
		m->metrics[m->sm.n_metrics++] = latency;
		m->metrics[m->sm.n_metrics++] = size;
	}
	if (graph && nedges) {
		total = sm_metric_new(&a, "traces_service_graph_request_total",
				      "Requests between two services.", "1", false, nedges);
		failed = sm_metric_new(&a, "traces_service_graph_request_failed_total",
				       "Failed requests between two services.", "1", false, nedges);
		if (!total || !failed)
			goto out;
		m->metrics[m->sm.n_metrics++] = total;
		m->metrics[m->sm.n_metrics++] = failed;
		if (nserver) {
			srv = sm_metric_new(&a, "traces_service_graph_request_server",
					    "Server-side durations of the requests between two services.",
					    "s", true, nserver);
			if (!srv)
				goto out;
			m->metrics[m->sm.n_metrics++] = srv;
		}
		if (nclient) {
			cli = sm_metric_new(&a, "traces_service_graph_request_client",
					    "Client-side durations of the requests between two services.",
					    "s", true, nclient);
			if (!cli)
				goto out;
			m->metrics[m->sm.n_metrics++] = cli;
		}
	}
	for (size_t i = 0; calls && i < nsm; i++) {
		struct attrs b;

		sm_attrs(&b, &a, &sm[i], base->host_name);
		if (!sm_add_count(&a, calls, &b, sm[i].latency.count, start_ns, now_ns) ||
		    !sm_add_hist(&a, latency, &b, &sm[i].latency, start_ns, now_ns) ||
		    !sm_add_count(&a, size, &b, sm[i].size_total, start_ns, now_ns))
			goto out;
		*points += 3;
	}
	for (size_t i = 0; total && i < nedges; i++) {
		struct attrs b;

		sg_attrs(&b, &a, &edges[i]);
		if (!sm_add_count(&a, total, &b, edges[i].total, start_ns, now_ns) ||
		    !sm_add_count(&a, failed, &b, edges[i].failed, start_ns, now_ns))
			goto out;
		*points += 2;
		if (srv && edges[i].server_seconds.count) {
			if (!sm_add_hist(&a, srv, &b, &edges[i].server_seconds, start_ns, now_ns))
				goto out;
			++*points;
		}
		if (cli && edges[i].client_seconds.count) {
			if (!sm_add_hist(&a, cli, &b, &edges[i].client_seconds, start_ns, now_ns))
				goto out;
			++*points;
		}
	}
	m->sm.metrics = m->metrics;
	m->sm_list[0] = &m->sm;
	m->rm.scope_metrics = m->sm_list;
	m->rm.n_scope_metrics = 1;
	m->rm_list[0] = &m->rm;
	req.resource_metrics = m->rm_list;
	req.n_resource_metrics = m->sm.n_metrics ? 1 : 0;
	if (a.failed)
		goto out;
	rc = pack(&req.base, out);
out:
	if (rc)
		*points = 0;
	arena_free(&a);
	return rc;
}

/* ---- duration histograms of their own: database calls, RPCs ---- */

/* Up to two duration metrics (one per kind of series) from a store's
 * series, one resource per service as the RED metrics. */
struct duration_family {
	size_t n; /* series */
	const struct service *(*service)(const void *v, size_t i);
	const struct histogram *(*hist)(const void *v, size_t i);
	int (*metric)(const void *v, size_t i); /* which of names[] counts series i */
	void (*attrs)(struct attrs *b, struct arena *a, const void *v, size_t i);
	const char *names[2], *descs[2];
	int nmetrics;
};

static int encode_durations(const struct otlp_resource_base *base, const struct duration_family *fam,
			    const void *v, const struct otlp_proc_info *procs, size_t nprocs,
			    uint64_t start_ns, uint64_t now_ns, struct otlp_buf *out, size_t *points)
{
	pb_metrics_request req =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
	size_t n = fam->n;
	const struct service **svcs = calloc(n ? n : 1, sizeof(*svcs));
	struct arena a = { 0 };
	size_t nsvcs = 0;
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	*points = 0;
	if (!svcs)
		goto out;
	for (size_t i = 0; i < n; i++)
		note_service(svcs, &nsvcs, fam->service(v, i));
	req.resource_metrics = arena_alloc(&a, (nsvcs ? nsvcs : 1) * sizeof(*req.resource_metrics));
	if (!req.resource_metrics)
		goto out;
	for (size_t j = 0; j < nsvcs; j++) {
		struct rm_msgs {
			pb_resource_metrics rm;
			pb_scope_metrics sm;
			pb_scope_metrics *sm_list[1];
			pb_metric *metrics[2];
		} *m = arena_alloc(&a, sizeof(*m));
		struct otlp_proc_info anonymous = { .service = svcs[j] };
		const struct otlp_proc_info *proc = &anonymous;
		size_t count[2] = { 0, 0 };

		if (!m)
			goto out;
		for (size_t p = 0; p < nprocs; p++)
			if (procs[p].service == svcs[j])
				proc = &procs[p];
		for (size_t i = 0; i < n; i++)
			if (fam->service(v, i) == svcs[j])
				count[fam->metric(v, i) & 1]++;
		m->rm = (pb_resource_metrics)OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT;
		m->sm = (pb_scope_metrics)OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT;
		m->rm.resource = resource_new(&a, base, proc, false);
		m->sm.scope = scope_new(&a);
		if (!m->rm.resource || !m->sm.scope)
			goto out;
		m->sm.metrics = m->metrics;
		for (int f = 0; f < fam->nmetrics; f++) {
			pb_metric *dur;

			if (!count[f])
				continue;
			dur = sm_metric_new(&a, fam->names[f], fam->descs[f], "s", true, count[f]);
			if (!dur)
				goto out;
			for (size_t i = 0; i < n; i++) {
				struct attrs b;

				if (fam->service(v, i) != svcs[j] || fam->metric(v, i) != f)
					continue;
				attrs_init(&b, &a, 4);
				fam->attrs(&b, &a, v, i);
				if (!sm_add_hist(&a, dur, &b, fam->hist(v, i), start_ns, now_ns))
					goto out;
				++*points;
			}
			m->metrics[m->sm.n_metrics++] = dur;
		}
		m->sm_list[0] = &m->sm;
		m->rm.scope_metrics = m->sm_list;
		m->rm.n_scope_metrics = 1;
		req.resource_metrics[req.n_resource_metrics++] = &m->rm;
	}
	if (a.failed)
		goto out;
	rc = pack(&req.base, out);
out:
	if (rc)
		*points = 0;
	arena_free(&a);
	free(svcs);
	return rc;
}

static const struct service *db_service(const void *v, size_t i)
{
	return ((const struct db_series *)v)[i].service;
}

static const struct histogram *db_hist(const void *v, size_t i)
{
	return &((const struct db_series *)v)[i].duration;
}

static int db_metric(const void *v, size_t i)
{
	return 0;
}

static void db_attrs(struct attrs *b, struct arena *a, const void *v, size_t i)
{
	const struct db_series *s = &((const struct db_series *)v)[i];

	attr_str(b, "db.system.name", s->system);
	if (s->operation[0])
		attr_str(b, "db.operation.name", s->operation);
	if (s->collection[0])
		attr_str(b, "db.collection.name", s->collection);
	if (s->error_type[0])
		attr_str(b, "error.type", s->error_type);
}

int otlp_encode_dbmetrics(const struct otlp_resource_base *base, const struct db_series *v, size_t n,
			  const struct otlp_proc_info *procs, size_t nprocs, uint64_t start_ns,
			  uint64_t now_ns, struct otlp_buf *out, size_t *points)
{
	const struct duration_family fam = {
		.n = n, .service = db_service, .hist = db_hist, .metric = db_metric, .attrs = db_attrs,
		.names = { "db.client.operation.duration" },
		.descs = { "Duration of database client operations." },
		.nmetrics = 1,
	};

	return encode_durations(base, &fam, v, procs, nprocs, start_ns, now_ns, out, points);
}

static const struct service *rpc_service(const void *v, size_t i)
{
	return ((const struct rpc_series *)v)[i].key.service;
}

static const struct histogram *rpc_hist(const void *v, size_t i)
{
	return &((const struct rpc_series *)v)[i].duration;
}

static int rpc_metric(const void *v, size_t i)
{
	return ((const struct rpc_series *)v)[i].key.kind == SPAN_KIND_CLIENT;
}

static void rpc_attrs(struct attrs *b, struct arena *a, const void *v, size_t i)
{
	const struct rpc_series *s = &((const struct rpc_series *)v)[i];

	attr_str(b, "rpc.system", s->key.system);
	attr_str(b, "rpc.service", s->key.rpc_service);
	attr_str(b, "rpc.method", s->key.method);
	if (s->key.grpc_status >= 0)
		attr_int(b, "rpc.grpc.status_code", s->key.grpc_status);
}

int otlp_encode_rpcmetrics(const struct otlp_resource_base *base, const struct rpc_series *v,
			   size_t n, const struct otlp_proc_info *procs, size_t nprocs,
			   uint64_t start_ns, uint64_t now_ns, struct otlp_buf *out, size_t *points)
{
	const struct duration_family fam = {
		.n = n, .service = rpc_service, .hist = rpc_hist, .metric = rpc_metric,
		.attrs = rpc_attrs,
		.names = { "rpc.server.duration", "rpc.client.duration" },
		.descs = { "Duration of RPCs served.", "Duration of RPCs made." },
		.nmetrics = 2,
	};

	return encode_durations(base, &fam, v, procs, nprocs, start_ns, now_ns, out, points);
}

/* ---- network flow bytes (model/netflow.h) ---- */

int otlp_encode_netflow(const struct otlp_resource_base *base, const struct netflow_series *v,
			size_t n, unsigned int keep, uint64_t start_ns, uint64_t now_ns,
			struct otlp_buf *out, size_t *points)
{
	pb_metrics_request req =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
	struct rm_msgs {
		pb_resource_metrics rm;
		pb_resource_metrics *rm_list[1];
		pb_scope_metrics sm;
		pb_scope_metrics *sm_list[1];
		pb_metric *metrics[1];
	} *m;
	struct service generator = { .name = "sonde" };
	struct otlp_proc_info proc = { .service = &generator };
	struct arena a = { 0 };
	pb_metric *bytes;
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	*points = 0;
	m = arena_alloc(&a, sizeof(*m));
	if (!m)
		goto out;
	m->rm = (pb_resource_metrics)OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT;
	m->sm = (pb_scope_metrics)OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT;
	m->rm.resource = resource_new(&a, base, &proc, false);
	m->sm.scope = scope_new(&a);
	bytes = sm_metric_new(&a, NETFLOW_METRIC_OTEL,
			      "Transport payload bytes of TCP and UDP flows, by source, "
			      "destination, direction and transport.",
			      "By", false, n);
	if (!m->rm.resource || !m->sm.scope || !bytes)
		goto out;
	m->metrics[m->sm.n_metrics++] = bytes;
	for (size_t i = 0; i < n; i++) {
		struct attrs b;

		attrs_init(&b, &a, NF__MAX);
		for (int l = 0; l < NF__MAX; l++)
			if (keep & (1u << l))
				attr_str(&b, netflow_labels[l].otel, v[i].label[l]);
		if (!sm_add_count(&a, bytes, &b, v[i].bytes, start_ns, now_ns))
			goto out;
		++*points;
	}
	m->sm.metrics = m->metrics;
	m->sm_list[0] = &m->sm;
	m->rm.scope_metrics = m->sm_list;
	m->rm.n_scope_metrics = 1;
	m->rm_list[0] = &m->rm;
	req.resource_metrics = m->rm_list;
	req.n_resource_metrics = n ? 1 : 0;
	if (a.failed)
		goto out;
	rc = pack(&req.base, out);
out:
	if (rc)
		*points = 0;
	arena_free(&a);
	return rc;
}
