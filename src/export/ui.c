// SPDX-License-Identifier: Apache-2.0
/* The live view: see ui.h. */
#include "export/ui.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "discovery.h"
#include "export/ui_assets.h"
#include "model/spanmetrics.h"
#include "runtime.h"
#include "util/log.h"
#include "util/str.h"

#define UI_SPANS_PER_TRACE 64
#define UI_LOG_BUCKETS 128 /* bucket i: durations up to 2^(i/4) µs */
#define UI_SLOTS 6	   /* the rate window: 6 slots of 10 s */
#define UI_SLOT_NS 10000000000ull
#define UI_SERVICES_MAX 256
#define UI_OPS_MAX 128
#define UI_HASH 1024

struct loghist {
	uint64_t count;
	uint32_t b[UI_LOG_BUCKETS];
};

struct ui_op {
	enum span_kind kind;
	char name[SM_NAME_MAX];
	char peer[SG_NODE_MAX]; /* clients: where they called */
	uint64_t count, errors;
	struct loghist h;
};

struct ui_slot {
	uint64_t epoch; /* monotonic ns / UI_SLOT_NS */
	uint64_t count, errors;
	struct loghist h;
};

struct ui_service {
	const struct service *svc;
	uint64_t first_ns;
	uint64_t requests, errors;	   /* server spans since start */
	uint64_t calls_out, calls_failed; /* client spans since start */
	struct ui_slot slots[UI_SLOTS];
	struct ui_op *ops;
	size_t nops;
	uint64_t ops_dropped;
};

struct ui_trace {
	bool used;
	uint8_t id[16];
	struct span *spans;
	uint32_t n, cap;
	uint32_t spans_dropped;
	int32_t hnext;
};

struct ui_state {
	struct sonde_runtime *rt;
	struct MHD_Daemon *daemon;
	pthread_mutex_t lock;
	struct ui_service services[UI_SERVICES_MAX];
	size_t nservices;
	uint64_t services_dropped;
	struct ui_trace *traces; /* ring, oldest at head */
	size_t max_traces, head, len;
	int32_t hash[UI_HASH];
	uint64_t traces_dropped, spans_dropped, spans_seen;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* ---- duration histograms ---- */

static int log_bucket(uint64_t ns)
{
	double us = ns / 1e3;
	int i;

	if (us <= 1)
		return 0;
	i = (int)ceil(4 * log2(us));
	return i < UI_LOG_BUCKETS ? i : UI_LOG_BUCKETS - 1;
}

static void loghist_add(struct loghist *h, uint64_t ns)
{
	h->b[log_bucket(ns)]++;
	h->count++;
}

static void loghist_merge(struct loghist *dst, const struct loghist *src)
{
	for (int i = 0; i < UI_LOG_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
}

/* The @q quantile in milliseconds, interpolated inside its bucket; -1 if empty. */
static double loghist_quantile_ms(const struct loghist *h, double q)
{
	double rank = q * h->count, seen = 0;

	if (!h->count)
		return -1;
	for (int i = 0; i < UI_LOG_BUCKETS; i++) {
		if (!h->b[i])
			continue;
		if (seen + h->b[i] >= rank) {
			double hi = exp2(i / 4.0), lo = i ? exp2((i - 1) / 4.0) : 0;

			return (lo + (hi - lo) * (rank - seen) / h->b[i]) / 1e3;
		}
		seen += h->b[i];
	}
	return exp2((UI_LOG_BUCKETS - 1) / 4.0) / 1e3;
}

/* ---- the model ---- */

static struct ui_service *service_of(struct ui_state *st, const struct service *svc,
				     uint64_t now_ns)
{
	struct ui_service *u;

	for (size_t i = 0; i < st->nservices; i++)
		if (st->services[i].svc == svc)
			return &st->services[i];
	if (st->nservices == UI_SERVICES_MAX) {
		st->services_dropped++;
		return NULL;
	}
	u = &st->services[st->nservices++];
	memset(u, 0, sizeof(*u));
	u->svc = svc;
	u->first_ns = now_ns;
	return u;
}

static void count_op(struct ui_service *u, const struct span *s, bool error)
{
	char name[SM_NAME_MAX], peer[SG_NODE_MAX] = "";
	struct ui_op *op = NULL;

	span_name(s, name, sizeof(name));
	if (s->kind == SPAN_KIND_CLIENT)
		spanmetrics__peer(s, peer, sizeof(peer));
	for (size_t i = 0; i < u->nops && !op; i++)
		if (u->ops[i].kind == s->kind && !strcmp(u->ops[i].name, name) &&
		    !strcmp(u->ops[i].peer, peer))
			op = &u->ops[i];
	if (!op) {
		if (u->nops == UI_OPS_MAX) {
			u->ops_dropped++;
			return;
		}
		if (!u->ops) {
			u->ops = calloc(UI_OPS_MAX, sizeof(*u->ops));
			if (!u->ops)
				return;
		}
		op = &u->ops[u->nops++];
		op->kind = s->kind;
		str_copy(op->name, sizeof(op->name), name);
		str_copy(op->peer, sizeof(op->peer), peer);
	}
	op->count++;
	op->errors += error;
	loghist_add(&op->h, span_duration_ns(s));
}

static size_t id_bucket(const uint8_t id[16])
{
	uint64_t h = 1469598103934665603ull;

	for (int i = 0; i < 16; i++)
		h = (h ^ id[i]) * 1099511628211ull;
	return h % UI_HASH;
}

static void trace_unhash(struct ui_state *st, struct ui_trace *t)
{
	int32_t *link = &st->hash[id_bucket(t->id)];
	int32_t self = (int32_t)(t - st->traces);

	while (*link >= 0) {
		if (*link == self) {
			*link = t->hnext;
			return;
		}
		link = &st->traces[*link].hnext;
	}
}

static struct ui_trace *trace_find(struct ui_state *st, const uint8_t id[16])
{
	for (int32_t i = st->hash[id_bucket(id)]; i >= 0; i = st->traces[i].hnext)
		if (!memcmp(st->traces[i].id, id, 16))
			return &st->traces[i];
	return NULL;
}

static struct ui_trace *trace_new(struct ui_state *st, const uint8_t id[16])
{
	struct ui_trace *t;
	size_t b = id_bucket(id);

	if (st->len == st->max_traces) {
		t = &st->traces[st->head];
		trace_unhash(st, t);
		free(t->spans);
		st->traces_dropped++;
		st->head = (st->head + 1) % st->max_traces;
		st->len--;
	}
	t = &st->traces[(st->head + st->len) % st->max_traces];
	st->len++;
	memset(t, 0, sizeof(*t));
	t->used = true;
	memcpy(t->id, id, 16);
	t->hnext = st->hash[b];
	st->hash[b] = (int32_t)(t - st->traces);
	return t;
}

static void trace_add(struct ui_state *st, const struct span *s)
{
	struct ui_trace *t = trace_find(st, s->trace_id);

	if (!t)
		t = trace_new(st, s->trace_id);
	if (t->n == UI_SPANS_PER_TRACE) {
		t->spans_dropped++;
		st->spans_dropped++;
		return;
	}
	if (t->n == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 4;
		struct span *v = realloc(t->spans, cap * sizeof(*v));

		if (!v) {
			st->spans_dropped++;
			return;
		}
		t->spans = v;
		t->cap = cap;
	}
	t->spans[t->n++] = *s;
}

void ui_state__add(struct ui_state *st, const struct span *s, uint64_t now_ns)
{
	bool error = spanmetrics__status(s) == SM_STATUS_ERROR;
	struct ui_service *u;

	pthread_mutex_lock(&st->lock);
	st->spans_seen++;
	u = service_of(st, s->service, now_ns);
	if (u) {
		if (s->kind == SPAN_KIND_SERVER) {
			uint64_t epoch = now_ns / UI_SLOT_NS;
			struct ui_slot *slot = &u->slots[epoch % UI_SLOTS];

			if (slot->epoch != epoch) {
				memset(slot, 0, sizeof(*slot));
				slot->epoch = epoch;
			}
			slot->count++;
			slot->errors += error;
			loghist_add(&slot->h, span_duration_ns(s));
			u->requests++;
			u->errors += error;
		} else {
			u->calls_out++;
			u->calls_failed += error;
		}
		count_op(u, s, error);
	}
	trace_add(st, s);
	pthread_mutex_unlock(&st->lock);
}

struct ui_state *ui_state__new(const struct sonde_config *cfg, struct sonde_runtime *rt)
{
	struct ui_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->rt = rt;
	st->max_traces = cfg->ui_max_traces > 0 ? (size_t)cfg->ui_max_traces : 1;
	st->traces = calloc(st->max_traces, sizeof(*st->traces));
	if (!st->traces) {
		free(st);
		return NULL;
	}
	for (int i = 0; i < UI_HASH; i++)
		st->hash[i] = -1;
	pthread_mutex_init(&st->lock, NULL);
	return st;
}

void ui_state__free(struct ui_state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->max_traces; i++)
		free(st->traces[i].spans);
	for (size_t i = 0; i < st->nservices; i++)
		free(st->services[i].ops);
	free(st->traces);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* ---- JSON ---- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else if (c == '<')
			fputs("\\u003c", f); /* never "</script>" in a page that inlines it */
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	if (v < 0 || !isfinite(v))
		fputs("null", f);
	else
		fprintf(f, "%.3f", v);
}

static void hex(FILE *f, const uint8_t *b, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", b[i]);
	fputc('"', f);
}

static const char *svc_name(const struct service *svc)
{
	return svc && svc->name[0] ? svc->name : "unknown_service";
}

void ui__overview_json(struct ui_state *st, FILE *f, uint64_t now_ns)
{
	uint64_t epoch = now_ns / UI_SLOT_NS;
	struct sg_edge *edges = NULL;
	size_t nedges = 0;

	if (st->rt && st->rt->spanmetrics && spanmetrics__edges(st->rt->spanmetrics, &edges, &nedges))
		nedges = 0;
	pthread_mutex_lock(&st->lock);
	fprintf(f, "{\"window_s\":%d,\"max_traces\":%zu,\"traces_kept\":%zu,\"traces_dropped\":%" PRIu64
		   ",\"spans_seen\":%" PRIu64 ",\"spans_dropped\":%" PRIu64 ",\"services\":[",
		UI_SLOTS * 10, st->max_traces, st->len, st->traces_dropped, st->spans_seen,
		st->spans_dropped);
	for (size_t i = 0; i < st->nservices; i++) {
		struct ui_service *u = &st->services[i];
		struct loghist h = { 0 };
		uint64_t count = 0, errors = 0;
		double window, age = (now_ns - u->first_ns) / 1e9;

		for (int k = 0; k < UI_SLOTS; k++) {
			const struct ui_slot *sl = &u->slots[k];

			if (sl->epoch + UI_SLOTS <= epoch || sl->epoch > epoch)
				continue;
			count += sl->count;
			errors += sl->errors;
			loghist_merge(&h, &sl->h);
		}
		/* The slots cover 50 to 60 s; less since the service was first seen. */
		window = (UI_SLOTS - 1) * 10.0 + (now_ns % UI_SLOT_NS) / 1e9;
		if (age < window)
			window = age;
		if (window < 1)
			window = 1;
		fprintf(f, "%s{\"name\":", i ? "," : "");
		json_str(f, svc_name(u->svc));
		fputs(",\"namespace\":", f);
		json_str(f, u->svc ? u->svc->namespace_ : "");
		fprintf(f, ",\"requests\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"calls_out\":%" PRIu64
			   ",\"calls_failed\":%" PRIu64 ",\"window_requests\":%" PRIu64 ",\"rate\":",
			u->requests, u->errors, u->calls_out, u->calls_failed, count);
		json_num(f, count / window);
		fputs(",\"error_ratio\":", f);
		json_num(f, count ? (double)errors / count : -1);
		fputs(",\"p50_ms\":", f);
		json_num(f, loghist_quantile_ms(&h, 0.50));
		fputs(",\"p95_ms\":", f);
		json_num(f, loghist_quantile_ms(&h, 0.95));
		fputs(",\"p99_ms\":", f);
		json_num(f, loghist_quantile_ms(&h, 0.99));
		fputc('}', f);
	}
	pthread_mutex_unlock(&st->lock);
	fputs("],\"edges\":[", f);
	for (size_t i = 0; i < nedges; i++) {
		const struct sg_edge *e = &edges[i];

		fprintf(f, "%s{\"client\":", i ? "," : "");
		json_str(f, e->client);
		fputs(",\"server\":", f);
		json_str(f, e->server);
		fputs(",\"connection_type\":", f);
		json_str(f, e->connection_type);
		fprintf(f, ",\"requests\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"server_mean_ms\":",
			e->total, e->failed);
		json_num(f, e->server_seconds.count ? e->server_seconds.sum * 1e3 /
							      e->server_seconds.count
						    : -1);
		fputs(",\"client_mean_ms\":", f);
		json_num(f, e->client_seconds.count ? e->client_seconds.sum * 1e3 /
							      e->client_seconds.count
						    : -1);
		fputc('}', f);
	}
	fputs("]}\n", f);
	free(edges);
}

void ui__service_json(struct ui_state *st, FILE *f, const char *name)
{
	bool found = false;

	pthread_mutex_lock(&st->lock);
	fputs("{\"name\":", f);
	json_str(f, name);
	fputs(",\"operations\":[", f);
	for (size_t i = 0; i < st->nservices && !found; i++) {
		struct ui_service *u = &st->services[i];

		if (strcmp(svc_name(u->svc), name))
			continue;
		found = true;
		for (size_t k = 0; k < u->nops; k++) {
			const struct ui_op *op = &u->ops[k];

			fprintf(f, "%s{\"kind\":\"%s\",\"name\":", k ? "," : "",
				op->kind == SPAN_KIND_SERVER ? "server" : "client");
			json_str(f, op->name);
			fputs(",\"peer\":", f);
			json_str(f, op->peer);
			fprintf(f, ",\"count\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"p50_ms\":",
				op->count, op->errors);
			json_num(f, loghist_quantile_ms(&op->h, 0.50));
			fputs(",\"p95_ms\":", f);
			json_num(f, loghist_quantile_ms(&op->h, 0.95));
			fputs(",\"p99_ms\":", f);
			json_num(f, loghist_quantile_ms(&op->h, 0.99));
			fputc('}', f);
		}
		fprintf(f, "],\"operations_dropped\":%" PRIu64, u->ops_dropped);
	}
	if (!found)
		fputs("],\"operations_dropped\":0", f);
	fprintf(f, ",\"found\":%s}\n", found ? "true" : "false");
	pthread_mutex_unlock(&st->lock);
}

static bool is_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* The span of @t with no parent in @t that starts first: the trace's root. */
static const struct span *trace_root(const struct ui_trace *t)
{
	const struct span *root = NULL;

	for (uint32_t i = 0; i < t->n; i++) {
		const struct span *s = &t->spans[i];
		bool has_parent = false;

		for (uint32_t j = 0; j < t->n && !is_zero(s->parent_span_id, 8) && !has_parent; j++)
			has_parent = !memcmp(t->spans[j].span_id, s->parent_span_id, 8);
		if (has_parent)
			continue;
		if (!root || s->start_ns < root->start_ns ||
		    (s->start_ns == root->start_ns && s->kind == SPAN_KIND_SERVER))
			root = s;
	}
	return root ? root : &t->spans[0];
}

static void trace_bounds(const struct ui_trace *t, uint64_t *start, uint64_t *end, bool *error)
{
	*start = UINT64_MAX;
	*end = 0;
	*error = false;
	for (uint32_t i = 0; i < t->n; i++) {
		const struct span *s = &t->spans[i];

		if (s->start_ns < *start)
			*start = s->start_ns;
		if (s->end_ns > *end)
			*end = s->end_ns;
		*error |= spanmetrics__status(s) == SM_STATUS_ERROR;
	}
	if (*end < *start)
		*end = *start;
}

static bool trace_has_service(const struct ui_trace *t, const char *service)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (!strcmp(svc_name(t->spans[i].service), service))
			return true;
	return false;
}

void ui__traces_json(struct ui_state *st, FILE *f, const char *service, const char *status,
		     double min_ms, double max_ms, int limit)
{
	int shown = 0;
	size_t matched = 0;

	if (limit <= 0 || limit > 1000)
		limit = 50;
	pthread_mutex_lock(&st->lock);
	fputs("{\"traces\":[", f);
	/* Newest first. */
	for (size_t k = st->len; k-- > 0;) {
		const struct ui_trace *t = &st->traces[(st->head + k) % st->max_traces];
		const struct span *root;
		uint64_t start, end;
		bool error;
		double ms;
		char name[SM_NAME_MAX];

		if (!t->used || !t->n)
			continue;
		trace_bounds(t, &start, &end, &error);
		ms = (end - start) / 1e6;
		if (service && *service && !trace_has_service(t, service))
			continue;
		if (status && !strcmp(status, "error") && !error)
			continue;
		if (status && !strcmp(status, "ok") && error)
			continue;
		if (ms < min_ms || (max_ms > 0 && ms > max_ms))
			continue;
		matched++;
		if (shown >= limit)
			continue;
		root = trace_root(t);
		span_name(root, name, sizeof(name));
		fprintf(f, "%s{\"trace_id\":", shown++ ? "," : "");
		hex(f, t->id, 16);
		fputs(",\"root_service\":", f);
		json_str(f, svc_name(root->service));
		fputs(",\"root_name\":", f);
		json_str(f, name);
		fputs(",\"root_path\":", f);
		json_str(f, root->path);
		fprintf(f, ",\"start_ms\":%.3f,\"duration_ms\":%.3f,\"spans\":%u,\"spans_dropped\":%u"
			   ",\"error\":%s,\"status\":%d,\"services\":[",
			start / 1e6, ms, t->n, t->spans_dropped, error ? "true" : "false", root->status);
		for (uint32_t i = 0, n = 0; i < t->n; i++) {
			const char *sn = svc_name(t->spans[i].service);
			bool seen = false;

			for (uint32_t j = 0; j < i && !seen; j++)
				seen = !strcmp(svc_name(t->spans[j].service), sn);
			if (seen)
				continue;
			fputs(n++ ? "," : "", f);
			json_str(f, sn);
		}
		fputs("]}", f);
	}
	fprintf(f, "],\"matched\":%zu,\"kept\":%zu,\"dropped\":%" PRIu64 "}\n", matched, st->len,
		st->traces_dropped);
	pthread_mutex_unlock(&st->lock);
}

static bool isxdigit_ascii(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int parse_hex_id(const char *s, uint8_t out[16])
{
	if (!s || strlen(s) != 32)
		return -EINVAL;
	for (int i = 0; i < 16; i++) {
		unsigned int v;
		char two[3] = { s[2 * i], s[2 * i + 1], 0 };
		char *end;

		v = (unsigned int)strtoul(two, &end, 16);
		if (*end || !isxdigit_ascii(two[0]) || !isxdigit_ascii(two[1]))
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static void attr_s(FILE *f, bool *first, const char *k, const char *v)
{
	if (!v || !*v)
		return;
	fputs(*first ? "" : ",", f);
	*first = false;
	json_str(f, k);
	fputc(':', f);
	json_str(f, v);
}

static void attr_i(FILE *f, bool *first, const char *k, int64_t v)
{
	fputs(*first ? "" : ",", f);
	*first = false;
	json_str(f, k);
	fprintf(f, ":%" PRId64, v);
}

bool ui__trace_json(struct ui_state *st, FILE *f, const char *id_hex)
{
	const struct ui_trace *t;
	uint8_t id[16];
	uint64_t start, end;
	bool error;

	if (parse_hex_id(id_hex, id))
		return false;
	pthread_mutex_lock(&st->lock);
	t = trace_find(st, id);
	if (!t || !t->n) {
		pthread_mutex_unlock(&st->lock);
		return false;
	}
	trace_bounds(t, &start, &end, &error);
	fputs("{\"trace_id\":", f);
	hex(f, t->id, 16);
	fprintf(f, ",\"start_ms\":%.3f,\"duration_ms\":%.3f,\"error\":%s,\"spans_dropped\":%u,"
		   "\"spans\":[",
		start / 1e6, (end - start) / 1e6, error ? "true" : "false", t->spans_dropped);
	for (uint32_t i = 0; i < t->n; i++) {
		const struct span *s = &t->spans[i];
		char name[SM_NAME_MAX], ep[SPAN_ADDR_MAX + 8];
		enum sm_status status = spanmetrics__status(s);
		bool first = true;

		span_name(s, name, sizeof(name));
		fprintf(f, "%s{\"span_id\":", i ? "," : "");
		hex(f, s->span_id, 8);
		fputs(",\"parent_span_id\":", f);
		if (is_zero(s->parent_span_id, 8))
			fputs("\"\"", f);
		else
			hex(f, s->parent_span_id, 8);
		fprintf(f, ",\"kind\":\"%s\",\"service\":",
			s->kind == SPAN_KIND_SERVER ? "server" : "client");
		json_str(f, svc_name(s->service));
		fputs(",\"name\":", f);
		json_str(f, name);
		fprintf(f, ",\"offset_ms\":%.3f,\"duration_ms\":%.3f,\"status\":\"%s\",\"attributes\":{",
			(s->start_ns - start) / 1e6, span_duration_ns(s) / 1e6,
			status == SM_STATUS_ERROR ? "error" : "unset");
		attr_s(f, &first, "http.request.method", s->method);
		attr_s(f, &first, "url.path", s->path);
		if (s->kind == SPAN_KIND_SERVER)
			attr_s(f, &first, "http.route", s->route);
		if (s->status > 0)
			attr_i(f, &first, "http.response.status_code", s->status);
		attr_s(f, &first, "server.address", s->host[0] ? s->host : s->server.addr);
		snprintf(ep, sizeof(ep), "%s:%u", s->client.addr, s->client.port);
		attr_s(f, &first, "client", ep);
		snprintf(ep, sizeof(ep), "%s:%u", s->server.addr, s->server.port);
		attr_s(f, &first, "server", ep);
		attr_i(f, &first, "http.request.body.size", (int64_t)s->request_body_size);
		attr_i(f, &first, "http.response.body.size", (int64_t)s->response_body_size);
		attr_i(f, &first, "process.pid", s->pid);
		attr_i(f, &first, "thread.id", s->tid);
		attr_s(f, &first, "error", s->error);
		fputs("}}", f);
	}
	fputs("]}\n", f);
	pthread_mutex_unlock(&st->lock);
	return true;
}

/* ---- HTTP ---- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int code, const char *type,
			     void *data, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, mode);
	enum MHD_Result ret;

	if (!resp) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(data);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	/* Nothing but this origin: no script, style or request elsewhere. */
	MHD_add_response_header(resp, "Content-Security-Policy",
				"default-src 'self'; img-src 'self' data:; base-uri 'none'; "
				"form-action 'self'; frame-ancestors 'none'");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int code, const char *text)
{
	return reply(conn, code, "text/plain; charset=utf-8", (void *)text, strlen(text),
		     MHD_RESPMEM_PERSISTENT);
}

static const char *arg(struct MHD_Connection *conn, const char *key)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

static double arg_num(struct MHD_Connection *conn, const char *key)
{
	const char *v = arg(conn, key);

	return v && *v ? strtod(v, NULL) : 0;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
			     const char *method, const char *version, const char *upload_data,
			     size_t *upload_data_size, void **req_cls)
{
	struct ui_state *st = cls;
	char *body = NULL;
	size_t len = 0;
	FILE *f;
	bool found = true;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (*upload_data_size)
		return MHD_NO;
	if (strncmp(url, "/api/", 5)) {
		const char *path = strcmp(url, "/") ? url : "/index.html";

		for (const struct ui_asset *a = ui_assets; a->path; a++)
			if (!strcmp(a->path, path))
				return reply(conn, MHD_HTTP_OK, a->content_type, (void *)a->data,
					     a->len, MHD_RESPMEM_PERSISTENT);
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	}
	f = open_memstream(&body, &len);
	if (!f)
		return MHD_NO;
	if (!strcmp(url, "/api/overview")) {
		ui__overview_json(st, f, mono_ns());
	} else if (!strcmp(url, "/api/service")) {
		ui__service_json(st, f, arg(conn, "name") ? arg(conn, "name") : "");
	} else if (!strcmp(url, "/api/traces")) {
		ui__traces_json(st, f, arg(conn, "service"), arg(conn, "status"),
				arg_num(conn, "min_ms"), arg_num(conn, "max_ms"),
				(int)arg_num(conn, "limit"));
	} else if (!strcmp(url, "/api/trace")) {
		found = ui__trace_json(st, f, arg(conn, "id"));
	} else {
		found = false;
	}
	fclose(f);
	if (!found) {
		free(body);
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	}
	return reply(conn, MHD_HTTP_OK, "application/json", body, len, MHD_RESPMEM_MUST_FREE);
}

static bool ui_enabled(const struct sonde_config *cfg)
{
	return cfg->ui_port > 0;
}

static int ui_init(struct exporter *e, const struct sonde_config *cfg, struct sonde_runtime *rt)
{
	struct ui_state *st = ui_state__new(cfg, rt);
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	const char *addr = cfg->ui_address && *cfg->ui_address ? cfg->ui_address : "127.0.0.1";
	unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	char bare[64];

	if (!st)
		return -ENOMEM;
	/* "[::1]" as well as "::1". */
	str_copy(bare, sizeof(bare), addr[0] == '[' ? addr + 1 : addr);
	if (strchr(bare, ']'))
		*strchr(bare, ']') = '\0';
	if (inet_pton(AF_INET, bare, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(cfg->ui_port);
	} else if (inet_pton(AF_INET6, bare, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(cfg->ui_port);
		flags |= MHD_USE_IPv6;
		if (IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr))
			flags |= MHD_USE_DUAL_STACK;
	} else {
		log_error("SONDE_UI_ADDRESS: '%s' is not a numeric IPv4 or IPv6 address", addr);
		ui_state__free(st);
		return -EINVAL;
	}
	st->daemon = MHD_start_daemon(flags, cfg->ui_port, NULL, NULL, serve, st,
				      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				      MHD_OPTION_CONNECTION_LIMIT, 32u,
				      MHD_OPTION_PER_IP_CONNECTION_LIMIT, 16u,
				      MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!st->daemon) {
		log_error("cannot serve the live view on %s port %d (in use?)", addr, cfg->ui_port);
		ui_state__free(st);
		return -EADDRINUSE;
	}
	log_info("live view on http://%s%s%s:%d/", strchr(bare, ':') ? "[" : "", bare,
		 strchr(bare, ':') ? "]" : "", cfg->ui_port);
	e->state = st;
	return 0;
}

static enum exporter_status ui_export(struct exporter *e, const struct span *s)
{
	ui_state__add(e->state, s, mono_ns());
	return EXPORT_OK;
}

static void ui_destroy(struct exporter *e)
{
	struct ui_state *st = e->state;

	if (!st)
		return;
	MHD_stop_daemon(st->daemon);
	ui_state__free(st);
}

const struct exporter_ops ui_exporter = {
	.name = "ui",
	.enabled = ui_enabled,
	.init = ui_init,
	.export_span = ui_export,
	.flush = NULL,
	.destroy = ui_destroy,
};
