// SPDX-License-Identifier: Apache-2.0
#include "model/metrics.h"
#include "model/dbmetrics.h"
#include "model/rpcmetrics.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discovery.h"
#include "model/http_method.h"
#include "util/str.h"

/* OTel semantic-convention advice for http.*.request.duration. */
const double duration_bounds_s[DURATION_BOUNDS] = { 0,	  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
						     0.5, 0.75,	 1,    2.5,   5,    7.5,   10 };
const double size_bounds_bytes[SIZE_BOUNDS] = { 0, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192 };

#define KIND_BIT(k) ((label_mask)1 << (k))
#define BOTH_KINDS (KIND_BIT(SPAN_KIND_SERVER) | KIND_BIT(SPAN_KIND_CLIENT))

const struct metric_label_info metric_labels[LABEL__MAX] = {
	[LABEL_METHOD] = { "http_request_method", "http.request.method", "http_method", BOTH_KINDS },
	[LABEL_STATUS] = { "http_response_status_code", "http.response.status_code", "http_status_code",
			   BOTH_KINDS },
	[LABEL_ROUTE] = { "http_route", "http.route", "http_target", KIND_BIT(SPAN_KIND_SERVER) },
	[LABEL_SERVER_ADDRESS] = { "server_address", "server.address", "net_peer_name",
				   KIND_BIT(SPAN_KIND_CLIENT) },
	[LABEL_SERVER_PORT] = { "server_port", "server.port", "net_peer_port", BOTH_KINDS },
	[LABEL_URL_SCHEME] = { "url_scheme", "url.scheme", NULL, BOTH_KINDS },
	[LABEL_PROTOCOL_VERSION] = { "network_protocol_version", "network.protocol.version", NULL,
				     BOTH_KINDS },
	[LABEL_SERVICE_NAME] = { "service_name", "service.name", NULL, BOTH_KINDS },
	[LABEL_SERVICE_NAMESPACE] = { "service_namespace", "service.namespace", NULL, BOTH_KINDS },
};

const struct instrument_info instruments[INSTR__MAX] = {
	[INSTR_SERVER_DURATION] = { "http.server.request.duration",
				    "http_server_request_duration_seconds",
				    "http_server_duration_seconds", SPAN_KIND_SERVER, HIST_DURATION },
	[INSTR_SERVER_REQ_BODY] = { "http.server.request.body.size",
				    "http_server_request_body_size_bytes",
				    "http_server_request_size_bytes", SPAN_KIND_SERVER, HIST_REQ_BODY },
	[INSTR_SERVER_RESP_BODY] = { "http.server.response.body.size",
				     "http_server_response_body_size_bytes", NULL, SPAN_KIND_SERVER,
				     HIST_RESP_BODY },
	[INSTR_CLIENT_DURATION] = { "http.client.request.duration",
				    "http_client_request_duration_seconds",
				    "http_client_duration_seconds", SPAN_KIND_CLIENT, HIST_DURATION },
	[INSTR_CLIENT_REQ_BODY] = { "http.client.request.body.size",
				    "http_client_request_body_size_bytes",
				    "http_client_request_size_bytes", SPAN_KIND_CLIENT, HIST_REQ_BODY },
	[INSTR_CLIENT_RESP_BODY] = { "http.client.response.body.size",
				     "http_client_response_body_size_bytes", NULL, SPAN_KIND_CLIENT,
				     HIST_RESP_BODY },
};

#define STORE_BUCKETS 1024

struct metric_store {
	pthread_mutex_t lock;
	struct series *buckets[STORE_BUCKETS];
	struct series **order; /* creation order, for stable output */
	size_t count, cap;
	uint64_t spans;
	size_t max_series;		     /* per kind (each of its metrics has as many) */
	size_t kind_series[SPAN_KIND_CLIENT + 1]; /* series per kind */
	uint64_t overflowed[SPAN_KIND_CLIENT + 1]; /* observations dropped by max_series */
	bool keep_local_port; /* some selection includes server_port on server metrics */
	bool keep_version;    /* some selection includes network_protocol_version */
	bool keep_scheme;     /* some selection includes url_scheme */
	int exp_size, exp_scale; /* exponential histograms when exp_size > 0 */
	struct db_metrics *db; /* database client calls (model/dbmetrics.h) */
	struct rpc_metrics *rpc; /* RPCs: gRPC (model/rpcmetrics.h) */
};

/* ---- base-2 exponential histograms ---- */

/* floor(i / 2^c), for negative @i too. */
static int32_t shift_down(int32_t i, int c)
{
	return i >= 0 ? i >> c : -((-(i + 1)) >> c) - 1;
}

int32_t exp_index(double v, int scale)
{
	int e;
	double frac = frexp(v, &e); /* v = frac * 2^e, frac in [0.5, 1) */

	/* Buckets are upper-inclusive: 2^k is the last value of bucket
	 * k*2^scale - 1. Powers of two are computed exactly, never by log. */
	if (frac == 0.5) {
		if (scale >= 0)
			return (int32_t)(e - 1) * ((int32_t)1 << scale) - 1;
		return shift_down(e - 2, -scale);
	}
	if (scale <= 0)
		return shift_down(e - 1, -scale);
	/* v = 2^(e-1) * m, m in (1, 2): the whole part of log2 exactly, the
	 * fraction by log2(m) which is precise to far below 2^-20. */
	return (int32_t)(e - 1) * ((int32_t)1 << scale) +
	       (int32_t)ceil(ldexp(log2(2 * frac), scale)) - 1;
}

struct exp_histogram *exp_histogram__new(int max_size, int max_scale)
{
	struct exp_histogram *h;

	if (max_size < 2)
		max_size = 2;
	h = calloc(1, sizeof(*h) + (size_t)max_size * sizeof(h->counts[0]));
	if (!h)
		return NULL;
	h->cap = (uint32_t)max_size;
	h->scale = max_scale;
	return h;
}

struct exp_histogram *exp_histogram__copy(const struct exp_histogram *h)
{
	size_t size = sizeof(*h) + (size_t)h->cap * sizeof(h->counts[0]);
	struct exp_histogram *c = malloc(size);

	if (c)
		memcpy(c, h, size);
	return c;
}

/* Lower the scale by @c: bucket i becomes i >> c. Entries only move left,
 * so one forward pass is enough. */
static void exp_downscale(struct exp_histogram *h, int c)
{
	int32_t offset = shift_down(h->offset, c);

	if (c <= 0)
		return;
	h->scale -= c;
	if (!h->len) {
		h->offset = 0;
		return;
	}
	for (uint32_t k = 0; k < h->len; k++) {
		uint32_t j = (uint32_t)(shift_down(h->offset + (int32_t)k, c) - offset);
		uint64_t n = h->counts[k];

		h->counts[k] = 0;
		h->counts[j] += n;
	}
	h->len = (uint32_t)(shift_down(h->offset + (int32_t)h->len - 1, c) - offset) + 1;
	h->offset = offset;
}

/* The smallest scale change making [lo, hi] fit in @cap buckets. */
static int exp_change_needed(int32_t lo, int32_t hi, uint32_t cap, int scale)
{
	int c = 0;

	while (scale - c > EXP_SCALE_MIN &&
	       (int64_t)shift_down(hi, c) - shift_down(lo, c) + 1 > (int64_t)cap)
		c++;
	return c;
}

/* Add @n to bucket @idx, which the window can take (see exp_change_needed). */
static void exp_add(struct exp_histogram *h, int32_t idx, uint64_t n)
{
	if (!h->len) {
		h->offset = idx;
		h->len = 1;
		h->counts[0] = n;
		return;
	}
	if (idx < h->offset) {
		uint32_t grow = (uint32_t)(h->offset - idx);

		memmove(h->counts + grow, h->counts, h->len * sizeof(h->counts[0]));
		memset(h->counts, 0, grow * sizeof(h->counts[0]));
		h->offset = idx;
		h->len += grow;
	} else if (idx >= h->offset + (int32_t)h->len) {
		uint32_t len = (uint32_t)(idx - h->offset) + 1;

		memset(h->counts + h->len, 0, (len - h->len) * sizeof(h->counts[0]));
		h->len = len;
	}
	h->counts[idx - h->offset] += n;
}

/* Make room for buckets [lo, hi] (at the current scale) beside what is there. */
static void exp_fit(struct exp_histogram *h, int32_t lo, int32_t hi)
{
	if (h->len) {
		if (h->offset < lo)
			lo = h->offset;
		if (h->offset + (int32_t)h->len - 1 > hi)
			hi = h->offset + (int32_t)h->len - 1;
	}
	exp_downscale(h, exp_change_needed(lo, hi, h->cap, h->scale));
}

static void exp_minmax(struct exp_histogram *h, double lo, double hi, bool first)
{
	if (first || lo < h->min)
		h->min = lo;
	if (first || hi > h->max)
		h->max = hi;
}

void exp_histogram__observe(struct exp_histogram *h, double v)
{
	int32_t idx;
	int scale;

	if (!(v > 0))
		v = 0;
	exp_minmax(h, v, v, h->count == 0);
	h->count++;
	h->sum += v;
	if (v == 0) {
		h->zero_count++;
		return;
	}
	idx = exp_index(v, h->scale);
	scale = h->scale;
	exp_fit(h, idx, idx);
	exp_add(h, shift_down(idx, scale - h->scale), 1);
}

void exp_histogram__merge(struct exp_histogram *dst, const struct exp_histogram *src)
{
	int32_t lo, hi;
	int c;

	if (!src->count)
		return;
	exp_minmax(dst, src->min, src->max, dst->count == 0);
	dst->count += src->count;
	dst->zero_count += src->zero_count;
	dst->sum += src->sum;
	if (!src->len)
		return;
	if (dst->scale > src->scale)
		exp_downscale(dst, dst->scale - src->scale);
	/* src's window at dst's scale, then room for it. */
	c = src->scale - dst->scale;
	lo = shift_down(src->offset, c);
	hi = shift_down(src->offset + (int32_t)src->len - 1, c);
	exp_fit(dst, lo, hi);
	c = src->scale - dst->scale;
	for (uint32_t k = 0; k < src->len; k++)
		if (src->counts[k])
			exp_add(dst, shift_down(src->offset + (int32_t)k, c), src->counts[k]);
}

/* ---- labels and their selection ---- */

label_mask default_labels(enum span_kind kind)
{
	label_mask common = LABEL_BIT(LABEL_METHOD) | LABEL_BIT(LABEL_STATUS) |
			    LABEL_BIT(LABEL_SERVICE_NAME) | LABEL_BIT(LABEL_SERVICE_NAMESPACE);

	if (kind == SPAN_KIND_SERVER)
		return common | LABEL_BIT(LABEL_ROUTE);
	return common | LABEL_BIT(LABEL_SERVER_ADDRESS) | LABEL_BIT(LABEL_SERVER_PORT);
}

static bool glob(const char *pattern, const char *name)
{
	return name && !fnmatch(pattern, name, 0);
}

bool metric_label_matches(enum metric_label l, const char *pattern)
{
	const struct metric_label_info *i = &metric_labels[l];

	return glob(pattern, i->prom) || glob(pattern, i->otel) || glob(pattern, i->legacy);
}

bool instrument_matches(enum instrument i, const char *pattern)
{
	const struct instrument_info *in = &instruments[i];
	char underscored[64];

	/* http.server.request.duration is also http_server_request_duration. */
	snprintf(underscored, sizeof(underscored), "%s", in->otel);
	for (char *p = underscored; *p; p++)
		if (*p == '.')
			*p = '_';
	return glob(pattern, in->prom) || glob(pattern, in->otel) || glob(pattern, in->legacy) ||
	       glob(pattern, underscored);
}

static label_mask matching_labels(const char (*names)[ATTR_NAME_LEN], unsigned int n,
				  enum span_kind kind)
{
	label_mask m = 0;

	for (unsigned int j = 0; j < n; j++)
		for (int l = 0; l < LABEL__MAX; l++)
			if ((metric_labels[l].kinds & KIND_BIT(kind)) &&
			    metric_label_matches(l, names[j]))
				m |= LABEL_BIT(l);
	return m;
}

label_mask instrument_labels(const struct attr_selects *sel, enum instrument instr)
{
	enum span_kind kind = instruments[instr].kind;
	label_mask included = 0, excluded = 0;

	for (unsigned int i = 0; sel && i < sel->count; i++) {
		const struct attr_select *s = &sel->v[i];

		if (!instrument_matches(instr, s->metric))
			continue;
		included |= matching_labels(s->include, s->n_include, kind);
		excluded |= matching_labels(s->exclude, s->n_exclude, kind);
	}
	return (default_labels(kind) | included) & ~excluded;
}

/* ---- the store ---- */

struct metric_store *metric_store__new(void)
{
	struct metric_store *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->db = db_metrics__new();
	m->rpc = rpc_metrics__new();
	if (!m->db || !m->rpc) {
		db_metrics__free(m->db);
		rpc_metrics__free(m->rpc);
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->max_series = METRIC_SERIES_MAX_DEFAULT;
	return m;
}

struct db_metrics *metric_store__db(struct metric_store *m)
{
	return m->db;
}

struct rpc_metrics *metric_store__rpc(struct metric_store *m)
{
	return m->rpc;
}

static void series_free_exp(struct series *s)
{
	for (int h = 0; h < HIST__MAX; h++) {
		free(s->exp[h]);
		s->exp[h] = NULL;
	}
}

void metric_store__free(struct metric_store *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->count; i++) {
		series_free_exp(m->order[i]);
		free(m->order[i]);
	}
	free(m->order);
	db_metrics__free(m->db);
	rpc_metrics__free(m->rpc);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void metric_store__configure(struct metric_store *m, const struct sonde_config *cfg)
{
	pthread_mutex_lock(&m->lock);
	if (cfg->max_series > 0)
		m->max_series = cfg->max_series;
	for (int i = 0; i < INSTR__MAX; i++) {
		label_mask l = instrument_labels(&cfg->attr_selects, i);

		if (instruments[i].kind == SPAN_KIND_SERVER && (l & LABEL_BIT(LABEL_SERVER_PORT)))
			m->keep_local_port = true;
		if (l & LABEL_BIT(LABEL_PROTOCOL_VERSION))
			m->keep_version = true;
		if (l & LABEL_BIT(LABEL_URL_SCHEME))
			m->keep_scheme = true;
	}
	pthread_mutex_unlock(&m->lock);
}

int metric_store__enable_exponential(struct metric_store *m, int max_size, int max_scale)
{
	if (max_size < 2 || max_scale > EXP_SCALE_MAX || max_scale < EXP_SCALE_MIN)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	m->exp_size = max_size;
	m->exp_scale = max_scale;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

label_mask metric_store__key_labels(struct metric_store *m, enum span_kind kind)
{
	label_mask l = default_labels(kind);

	pthread_mutex_lock(&m->lock);
	if (m->keep_local_port && kind == SPAN_KIND_SERVER)
		l |= LABEL_BIT(LABEL_SERVER_PORT);
	if (m->keep_version)
		l |= LABEL_BIT(LABEL_PROTOCOL_VERSION);
	if (m->keep_scheme)
		l |= LABEL_BIT(LABEL_URL_SCHEME);
	pthread_mutex_unlock(&m->lock);
	return l;
}

const struct histogram *series_histogram(const struct series *s, enum series_histogram h)
{
	switch (h) {
	case HIST_REQ_BODY:
		return &s->req_body;
	case HIST_RESP_BODY:
		return &s->resp_body;
	default:
		return &s->duration;
	}
}

void histogram_observe(struct histogram *h, const double *bounds, int n, double v)
{
	int i = 0;

	while (i < n && v > bounds[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum += v;
}

static void histogram_add(struct histogram *dst, const struct histogram *src)
{
	dst->count += src->count;
	dst->sum += src->sum;
	for (int i = 0; i <= DURATION_BOUNDS; i++)
		dst->bucket[i] += src->bucket[i];
}

#define FNV_OFFSET 1469598103934665603ull
#define FNV_PRIME 1099511628211ull

static uint64_t mix(uint64_t h, const void *ptr, size_t len)
{
	const unsigned char *p = ptr;

	h ^= len;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * FNV_PRIME;
	return h;
}

static uint64_t key_hash(const struct series_key *k)
{
	uint64_t h = FNV_OFFSET;

	h = mix(h, &k->kind, sizeof(k->kind));
	h = mix(h, &k->service, sizeof(k->service));
	h = mix(h, k->method, strlen(k->method));
	h = mix(h, &k->status, sizeof(k->status));
	h = mix(h, &k->route, sizeof(k->route));
	h = mix(h, k->peer, strlen(k->peer));
	h = mix(h, &k->peer_port, sizeof(k->peer_port));
	h = mix(h, &k->local_port, sizeof(k->local_port));
	h = mix(h, &k->scheme, sizeof(k->scheme));
	return mix(h, &k->http_minor, sizeof(k->http_minor));
}

static bool key_equal(const struct series_key *a, const struct series_key *b)
{
	return a->kind == b->kind && a->service == b->service && a->status == b->status &&
	       a->route == b->route && a->peer_port == b->peer_port &&
	       a->local_port == b->local_port && a->http_minor == b->http_minor &&
	       a->scheme == b->scheme && !strcmp(a->method, b->method) && !strcmp(a->peer, b->peer);
}

static struct series *series_get(struct metric_store *m, const struct series_key *k)
{
	size_t b = key_hash(k) % STORE_BUCKETS;
	struct series *s;

	for (s = m->buckets[b]; s; s = s->next)
		if (key_equal(&s->key, k))
			return s;
	if (m->kind_series[k->kind] >= m->max_series) {
		m->overflowed[k->kind]++;
		return NULL;
	}
	if (m->count == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct series **grown = realloc(m->order, cap * sizeof(*grown));

		if (!grown)
			return NULL;
		m->order = grown;
		m->cap = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	for (int h = 0; m->exp_size && h < HIST__MAX; h++) {
		s->exp[h] = exp_histogram__new(m->exp_size, m->exp_scale);
		if (!s->exp[h]) {
			series_free_exp(s);
			free(s);
			return NULL;
		}
	}
	s->key = *k;
	s->next = m->buckets[b];
	m->buckets[b] = s;
	m->order[m->count++] = s;
	m->kind_series[k->kind]++;
	return s;
}

/* The host a client named, without its port: "api:8080" -> "api",
 * "[::1]:80" -> "::1". */
static void host_without_port(const char *host, char *out, size_t size)
{
	const char *colon = strrchr(host, ':');

	if (host[0] == '[') {
		const char *end = strchr(host, ']');

		str_copy_n(out, size, host + 1, end ? (size_t)(end - host - 1) : strlen(host + 1));
	} else if (colon && colon == strchr(host, ':')) {
		str_copy_n(out, size, host, colon - host);
	} else {
		str_copy(out, size, host);
	}
}

void metric_store__record(struct metric_store *m, const struct span *sp, const char *route)
{
	struct series_key k;
	struct series *s;
	double v[HIST__MAX];

	if (span_is_db(sp) || span_is_rpc(sp)) {
		if (span_is_db(sp))
			db_metrics__record(m->db, sp);
		else
			rpc_metrics__record(m->rpc, sp);
		pthread_mutex_lock(&m->lock);
		m->spans++;
		pthread_mutex_unlock(&m->lock);
		return;
	}
	memset(&k, 0, sizeof(k));
	k.kind = sp->kind;
	k.service = sp->service;
	str_copy(k.method, sizeof(k.method), http_method_semconv(sp->method));
	k.status = sp->status;
	if (sp->kind == SPAN_KIND_SERVER) {
		k.route = route;
	} else {
		if (sp->host[0])
			host_without_port(sp->host, k.peer, sizeof(k.peer));
		else
			str_copy(k.peer, sizeof(k.peer), sp->server.addr);
		k.peer_port = sp->server.port;
	}
	v[HIST_DURATION] = span_duration_ns(sp) / 1e9;
	v[HIST_REQ_BODY] = (double)sp->request_body_size;
	v[HIST_RESP_BODY] = (double)sp->response_body_size;
	pthread_mutex_lock(&m->lock);
	if (m->keep_local_port && sp->kind == SPAN_KIND_SERVER)
		k.local_port = sp->server.port;
	if (m->keep_version)
		k.http_minor = 1 + sp->http_minor; /* 3: HTTP/2 (SPAN_HTTP2) */
	if (m->keep_scheme)
		k.scheme = sp->tls ? SERIES_SCHEME_HTTPS : SERIES_SCHEME_HTTP;
	s = series_get(m, &k);
	if (s) {
		histogram_observe(&s->duration, duration_bounds_s, DURATION_BOUNDS, v[HIST_DURATION]);
		histogram_observe(&s->req_body, size_bounds_bytes, SIZE_BOUNDS, v[HIST_REQ_BODY]);
		histogram_observe(&s->resp_body, size_bounds_bytes, SIZE_BOUNDS, v[HIST_RESP_BODY]);
		for (int h = 0; h < HIST__MAX; h++)
			if (s->exp[h])
				exp_histogram__observe(s->exp[h], v[h]);
	}
	m->spans++;
	pthread_mutex_unlock(&m->lock);
}

void metric_store__foreach(struct metric_store *m, void (*fn)(const struct series *, void *),
			   void *arg)
{
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->count; i++)
		fn(m->order[i], arg);
	pthread_mutex_unlock(&m->lock);
}

void metric_store__set_max_series(struct metric_store *m, size_t max)
{
	pthread_mutex_lock(&m->lock);
	m->max_series = max ? max : 1;
	pthread_mutex_unlock(&m->lock);
	db_metrics__set_max_series(m->db, max ? max : 1);
	rpc_metrics__set_max_series(m->rpc, max ? max : 1);
}

uint64_t metric_store__overflowed(struct metric_store *m, enum span_kind kind)
{
	uint64_t n = 0;

	pthread_mutex_lock(&m->lock);
	if (kind == SPAN_KIND_SERVER || kind == SPAN_KIND_CLIENT)
		n = m->overflowed[kind];
	pthread_mutex_unlock(&m->lock);
	return n;
}

size_t metric_store__series(struct metric_store *m, enum span_kind kind)
{
	size_t n = 0;

	pthread_mutex_lock(&m->lock);
	if (kind == SPAN_KIND_SERVER || kind == SPAN_KIND_CLIENT)
		n = m->kind_series[kind];
	pthread_mutex_unlock(&m->lock);
	return n;
}

uint64_t metric_store__spans(struct metric_store *m)
{
	uint64_t n;

	pthread_mutex_lock(&m->lock);
	n = m->spans;
	pthread_mutex_unlock(&m->lock);
	return n;
}

/* ---- merging series that differ only by dropped labels ---- */

static const char *svc_name(const struct series_key *k)
{
	return k->service ? k->service->name : "";
}

static const char *svc_namespace(const struct series_key *k)
{
	return k->service ? k->service->namespace_ : "";
}

static const char *route_of(const struct series_key *k)
{
	return k->route ? k->route : "";
}

static uint64_t masked_hash(const struct series_key *k, label_mask keep)
{
	uint64_t h = mix(FNV_OFFSET, &k->kind, sizeof(k->kind));

	if (keep & LABEL_BIT(LABEL_METHOD))
		h = mix(h, k->method, strlen(k->method));
	if (keep & LABEL_BIT(LABEL_STATUS))
		h = mix(h, &k->status, sizeof(k->status));
	if (keep & LABEL_BIT(LABEL_ROUTE))
		h = mix(h, route_of(k), strlen(route_of(k)));
	if (keep & LABEL_BIT(LABEL_SERVER_ADDRESS))
		h = mix(h, k->peer, strlen(k->peer));
	if (keep & LABEL_BIT(LABEL_SERVER_PORT)) {
		h = mix(h, &k->peer_port, sizeof(k->peer_port));
		h = mix(h, &k->local_port, sizeof(k->local_port));
	}
	if (keep & LABEL_BIT(LABEL_PROTOCOL_VERSION))
		h = mix(h, &k->http_minor, sizeof(k->http_minor));
	if (keep & LABEL_BIT(LABEL_URL_SCHEME))
		h = mix(h, &k->scheme, sizeof(k->scheme));
	if (keep & LABEL_BIT(LABEL_SERVICE_NAME))
		h = mix(h, svc_name(k), strlen(svc_name(k)));
	if (keep & LABEL_BIT(LABEL_SERVICE_NAMESPACE))
		h = mix(h, svc_namespace(k), strlen(svc_namespace(k)));
	return h;
}

/* Equal on every label of @keep, compared by value: routes are interned
 * per service, so two services' "/users" are different pointers. */
static bool masked_equal(const struct series_key *a, const struct series_key *b, label_mask keep)
{
	return a->kind == b->kind &&
	       (!(keep & LABEL_BIT(LABEL_METHOD)) || !strcmp(a->method, b->method)) &&
	       (!(keep & LABEL_BIT(LABEL_STATUS)) || a->status == b->status) &&
	       (!(keep & LABEL_BIT(LABEL_ROUTE)) || !strcmp(route_of(a), route_of(b))) &&
	       (!(keep & LABEL_BIT(LABEL_SERVER_ADDRESS)) || !strcmp(a->peer, b->peer)) &&
	       (!(keep & LABEL_BIT(LABEL_SERVER_PORT)) ||
		(a->peer_port == b->peer_port && a->local_port == b->local_port)) &&
	       (!(keep & LABEL_BIT(LABEL_PROTOCOL_VERSION)) || a->http_minor == b->http_minor) &&
	       (!(keep & LABEL_BIT(LABEL_URL_SCHEME)) || a->scheme == b->scheme) &&
	       (!(keep & LABEL_BIT(LABEL_SERVICE_NAME)) || !strcmp(svc_name(a), svc_name(b))) &&
	       (!(keep & LABEL_BIT(LABEL_SERVICE_NAMESPACE)) ||
		!strcmp(svc_namespace(a), svc_namespace(b)));
}

struct merger {
	struct series *out;
	size_t n;
	size_t *slots; /* open addressing: index + 1 into out, 0 free */
	size_t mask;
	enum span_kind kind;
	label_mask keep;
	bool failed;
};

static int merger_init(struct merger *g, size_t most, enum span_kind kind, label_mask keep)
{
	size_t size = 16;

	while (size < 2 * most)
		size *= 2;
	memset(g, 0, sizeof(*g));
	g->out = calloc(most ? most : 1, sizeof(*g->out));
	g->slots = calloc(size, sizeof(*g->slots));
	g->mask = size - 1;
	g->kind = kind;
	g->keep = keep;
	if (!g->out || !g->slots) {
		free(g->out);
		free(g->slots);
		return -ENOMEM;
	}
	return 0;
}

static void merger_add(struct merger *g, const struct series *s)
{
	size_t i;
	struct series *d;

	if (g->failed || (g->kind && s->key.kind != g->kind))
		return;
	for (i = masked_hash(&s->key, g->keep) & g->mask; g->slots[i]; i = (i + 1) & g->mask) {
		d = &g->out[g->slots[i] - 1];
		if (!masked_equal(&d->key, &s->key, g->keep))
			continue;
		histogram_add(&d->duration, &s->duration);
		histogram_add(&d->req_body, &s->req_body);
		histogram_add(&d->resp_body, &s->resp_body);
		for (int h = 0; h < HIST__MAX; h++) {
			if (d->exp[h] && s->exp[h])
				exp_histogram__merge(d->exp[h], s->exp[h]);
		}
		return;
	}
	d = &g->out[g->n];
	*d = *s;
	d->next = NULL;
	for (int h = 0; h < HIST__MAX; h++) {
		d->exp[h] = s->exp[h] ? exp_histogram__copy(s->exp[h]) : NULL;
		if (s->exp[h] && !d->exp[h]) {
			series_free_exp(d);
			g->failed = true;
			return;
		}
	}
	g->slots[i] = ++g->n;
}

static int merger_finish(struct merger *g, struct series **out, size_t *n)
{
	free(g->slots);
	if (g->failed) {
		series__free_all(g->out, g->n);
		*out = NULL;
		*n = 0;
		return -ENOMEM;
	}
	*out = g->out;
	*n = g->n;
	return 0;
}

int metric_store__collect(struct metric_store *m, enum span_kind kind, label_mask keep,
			  struct series **out, size_t *n)
{
	struct merger g;
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = merger_init(&g, m->count, kind, keep);
	if (!rc) {
		for (size_t i = 0; i < m->count; i++)
			merger_add(&g, m->order[i]);
		rc = merger_finish(&g, out, n);
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int series_merge(const struct series *in, size_t n_in, enum span_kind kind, label_mask keep,
		 struct series **out, size_t *n)
{
	struct merger g;

	if (merger_init(&g, n_in, kind, keep))
		return -ENOMEM;
	for (size_t i = 0; i < n_in; i++)
		merger_add(&g, &in[i]);
	return merger_finish(&g, out, n);
}

void series__free_all(struct series *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		series_free_exp(&v[i]);
	free(v);
}
