// SPDX-License-Identifier: Apache-2.0
#include "pipeline.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "decode/http1.h"
#include "discovery.h"
#include "export/exporter.h"
#include "model/linker.h"
#include "model/metrics.h"
#include "model/route.h"
#include "model/route_pattern.h"
#include "probes.h"
#include "util/log.h"
#include "util/str.h"

#define MAX_EXPORTERS 8
#define PIPE_SLOTS 64
#define PIPE_DEPTH 7

struct pipelined_queue {
	uint64_t conn_id;
	int count, next;
	struct http1_request req[PIPE_DEPTH];
};

struct pipeline {
	struct sonde_runtime *rt;
	struct ring_buffer *rb;
	struct exporter exporters[MAX_EXPORTERS];
	int nexporters;
	struct linker *linker;
	struct pipelined_queue pipes[PIPE_SLOTS];
	/* Span and trace ids: unique and spread, not secret (W3C asks for
	 * random, not for unpredictable to an attacker): xoshiro256**, seeded
	 * from getrandom() and reseeded every IDGEN_RESEED draws. */
	uint64_t idgen[4];
	uint32_t idgen_left;
};

static uint64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

#define IDGEN_RESEED (1u << 20)

static uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t idgen_next(struct pipeline *p)
{
	uint64_t *s = p->idgen, r, t;

	if (p->idgen_left == 0) {
		uint64_t seed[4];

		if (getrandom(seed, sizeof(seed), 0) == (ssize_t)sizeof(seed)) {
			for (int i = 0; i < 4; i++)
				s[i] ^= seed[i];
		} else {
			log_warn("getrandom: %s", strerror(errno));
			s[0] ^= mono_now();
		}
		if (!(s[0] | s[1] | s[2] | s[3]))
			s[0] = 1; /* the one state xoshiro cannot leave */
		p->idgen_left = IDGEN_RESEED;
	}
	p->idgen_left--;
	r = rotl64(s[1] * 5, 7) * 9;
	t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return r;
}

/* @n random bytes, never all zero (an invalid id in W3C trace context). */
static void random_bytes(struct pipeline *p, uint8_t *out, size_t n)
{
	bool zero = true;

	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = idgen_next(p);
		size_t k = n - i < 8 ? n - i : 8;

		memcpy(out + i, &v, k);
	}
	for (size_t i = 0; i < n && zero; i++)
		zero = !out[i];
	if (zero)
		out[n - 1] = 1;
}

static void endpoint_from(const struct sonde_addr *a, struct span_endpoint *e)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	_Static_assert(sizeof(e->addr) >= 16, "room for a dotted quad");
	e->port = a->port;
	if (a->family == 2 /* AF_INET */)
		str_ipv4(a->addr, e->addr);
	else if (!memcmp(a->addr, v4mapped, sizeof(v4mapped)))
		str_ipv4(a->addr + 12, e->addr);
	else
		inet_ntop(AF_INET6, a->addr, e->addr, sizeof(e->addr));
}


/* The kernel's names for this transaction and the one it is part of. */
static void span_refs(const struct sonde_http_event *ev, struct span *s)
{
	s->self.conn_id = ev->conn_id;
	s->self.txn_seq = ev->txn_seq;
	if (ev->parent.link != SONDE_LINK_NONE) {
		s->parent.conn_id = ev->parent.conn_id;
		s->parent.txn_seq = ev->parent.txn_seq;
		s->parent_link = ev->parent.link;
	}
}

/* A client connection that never opened: a client span with the error. */
static int connect_failure_span(const struct sonde_http_event *ev, int64_t mono_to_real_ns,
				struct span *s)
{
	memset(s, 0, sizeof(*s));
	span_refs(ev, s);
	s->self.conn_id = 0; /* nothing can be its child */
	s->kind = SPAN_KIND_CLIENT;
	s->pid = ev->hdr.tgid;
	s->tid = ev->tid;
	s->start_ns = ev->start_ns + mono_to_real_ns;
	s->handler_start_ns = s->start_ns;
	s->end_ns = ev->end_ns + mono_to_real_ns;
	endpoint_from(&ev->local, &s->client);
	endpoint_from(&ev->peer, &s->server);
	if (ev->error)
		snprintf(s->error, sizeof(s->error), "connect: %s", strerror(ev->error));
	else
		snprintf(s->error, sizeof(s->error), "connect: closed before it completed");
	return 1;
}

int span_from_http_event(const struct sonde_http_event *ev, int64_t mono_to_real_ns,
			 const struct http1_request *pipelined, struct span *s)
{
	struct http1_request parsed;
	const struct http1_request *req = pipelined ? pipelined : &parsed;
	struct http1_response resp;
	bool server = ev->role == SONDE_ROLE_SERVER;

	if (ev->end_reason == SONDE_END_CONNECT_FAILED)
		return connect_failure_span(ev, mono_to_real_ns, s);
	if (!pipelined && http1_parse_request(ev->req, ev->req_len, &parsed))
		return 0;
	if (http1_parse_response(ev->resp, ev->resp_len, &resp))
		return 0;
	memset(s, 0, sizeof(*s));
	span_refs(ev, s);
	s->kind = server ? SPAN_KIND_SERVER : SPAN_KIND_CLIENT;
	s->pid = ev->hdr.tgid;
	s->tid = ev->tid;
	s->resp_tid = ev->resp_tid;
	s->start_ns = ev->start_ns + mono_to_real_ns;
	s->handler_start_ns = ev->req_end_ns + mono_to_real_ns;
	s->end_ns = ev->end_ns + mono_to_real_ns;
	str_copy(s->method, sizeof(s->method), req->method);
	str_copy(s->path, sizeof(s->path), req->path);
	str_copy(s->host, sizeof(s->host), req->host);
	s->status = resp.status;
	s->http_minor = req->http_minor;
	/* A request without Content-Length or chunked coding has no body
	 * (RFC 9112 6.3); bytes past its head belong to the next request. */
	if (req->content_length >= 0)
		s->request_body_size = req->content_length;
	else if (req->chunked && !pipelined)
		s->request_body_size = http1_body_size(ev->req_bytes, req->head_len, -1);
	s->response_body_size = http1_body_size(ev->resp_bytes, resp.head_len, resp.content_length);
	if (server) {
		endpoint_from(&ev->peer, &s->client);
		endpoint_from(&ev->local, &s->server);
	} else {
		endpoint_from(&ev->local, &s->client);
		endpoint_from(&ev->peer, &s->server);
	}
	span_sanitize(s);
	if (req->traceparent[0])
		span_take_traceparent(s, req->traceparent);
	return 1;
}

int http1_requests_after_first(const uint8_t *buf, size_t len, struct http1_request *out, int max)
{
	struct http1_request req;
	size_t off = 0;
	int n = 0;

	while (off < len && !http1_parse_request(buf + off, len - off, &req) && req.head_len) {
		off += req.head_len + (req.content_length > 0 ? (size_t)req.content_length : 0);
		if (req.chunked || off >= len || n == max)
			break;
		if (http1_parse_request(buf + off, len - off, &out[n]) || !out[n].head_len)
			break;
		n++;
	}
	return n;
}

/* Requests read in one go with the first of a transaction, waiting for the
 * responses the kernel reports as pipelined continuations. */
static struct pipelined_queue *pipe_slot(struct pipeline *p, uint64_t conn_id)
{
	return &p->pipes[(conn_id * 0x9E3779B97F4A7C15ull >> 58) % PIPE_SLOTS];
}

static void pipe_push(struct pipeline *p, uint64_t conn_id, const struct sonde_http_event *ev)
{
	struct pipelined_queue *q = pipe_slot(p, conn_id);
	const uint8_t *first = memmem(ev->req, ev->req_len, " HTTP/1.", 8);
	int n;

	/* Cheap test first: a second request line needs a second version. */
	if (!first || !memmem(first + 8, ev->req_len - (first + 8 - ev->req), " HTTP/1.", 8))
		return;
	n = http1_requests_after_first(ev->req, ev->req_len, q->req, PIPE_DEPTH);

	if (n == 0)
		return;
	q->conn_id = conn_id;
	q->count = n;
	q->next = 0;
}

static const struct http1_request *pipe_pop(struct pipeline *p, uint64_t conn_id)
{
	struct pipelined_queue *q = pipe_slot(p, conn_id);

	if (q->conn_id != conn_id || q->next >= q->count)
		return NULL;
	return &q->req[q->next++];
}

/* The http_route of a server span: a configured pattern that matches, else
 * per routes.unmatched; every route passes the per-service cap. */
static const char *server_route(const struct sonde_config *cfg, const struct service *svc,
				const char *path)
{
	const char *pattern = route_patterns__match(&cfg->route_patterns, path);
	char raw[SPAN_ROUTE_MAX];

	if (pattern)
		return route_table__admit(svc->routes, pattern);
	switch (cfg->route_unmatched) {
	case UNMATCHED_WILDCARD:
		return ROUTE_OVERFLOW;
	case UNMATCHED_PATH:
		str_copy_n(raw, sizeof(raw), path, strcspn(path, "?#"));
		break;
	default:
		route_from_path(path, raw, sizeof(raw));
	}
	return route_table__admit(svc->routes, raw);
}

/* A span with its final ids, to every exporter. */
static void export_span(const struct span *s, void *arg)
{
	struct pipeline *p = arg;

	atomic_fetch_add(&p->rt->spans_total, 1);
	for (int e = 0; e < p->nexporters; e++)
		p->exporters[e].ops->export_span(&p->exporters[e], s);
}

static void process_http(struct pipeline *p, const struct sonde_http_event *ev)
{
	struct sonde_runtime *rt = p->rt;
	const struct proc_info *proc = discovery__lookup(rt->discovery, ev->hdr.tgid);
	const struct http1_request *pipelined = NULL;
	bool has_parent = false, want_span = true, want_metrics = true;
	const char *route = NULL;
	struct span span, *s = &span;

	if (!proc) {
		atomic_fetch_add(&rt->user_loss[LOSS_UNKNOWN_PROC], 1);
		return;
	}
	if (ev->flags & SONDE_EVF_PIPELINED) {
		pipelined = pipe_pop(p, ev->conn_id);
		if (!pipelined) {
			atomic_fetch_add(&rt->user_loss[LOSS_DECODE], 1);
			return;
		}
	}
	if (!span_from_http_event(ev, rt->mono_to_real_ns, pipelined, s)) {
		atomic_fetch_add(&rt->user_loss[LOSS_DECODE], 1);
		log_debug("undecodable event pid=%u fd=%u req_len=%u resp_len=%u", ev->hdr.tgid,
			  ev->fd, ev->req_len, ev->resp_len);
		return;
	}
	if (!pipelined)
		pipe_push(p, ev->conn_id, ev);
	s->service = proc->service;
	if (s->kind == SPAN_KIND_SERVER) {
		if (route_patterns__match(&rt->cfg->ignored_patterns, s->path)) {
			want_span = rt->cfg->ignore_mode == IGNORE_METRICS;
			want_metrics = rt->cfg->ignore_mode == IGNORE_TRACES;
		}
		route = server_route(rt->cfg, proc->service, s->path);
		str_copy(s->route, sizeof(s->route), route);
	}
	for (int b = 0; b < 8; b++)
		has_parent |= s->parent_span_id[b] != 0;
	if (!has_parent) {
		random_bytes(p, s->trace_id, sizeof(s->trace_id));
		s->trace_flags = 1;
	}
	random_bytes(p, s->span_id, sizeof(s->span_id));
	if (want_metrics)
		metric_store__record(rt->metrics, s, route);
	if (!want_span)
		return;
	s->remote_parent = has_parent;
	/* A server that answers on another thread than the one that read the
	 * request is asynchronous: the thread rule would mislead there. */
	if (s->kind == SPAN_KIND_SERVER && s->resp_tid && s->resp_tid != s->tid &&
	    linker__mark_async(p->linker, s->pid))
		discovery__no_thread_rule(rt->discovery, s->pid);
	linker__submit(p->linker, s, ev->end_ns, export_span, p);
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct pipeline *p = ctx;
	const struct sonde_event_header *hdr = data;
	const struct sonde_proc_event *pe = data;

	if (size < sizeof(*hdr))
		return 0;
	switch (hdr->kind) {
	case SONDE_EV_HTTP: {
		/* Records end after the request prefix's valid bytes. */
		struct sonde_http_event ev;

		if (size < SONDE_HTTP_EVENT_MIN_SIZE)
			break;
		if (size > sizeof(ev))
			size = sizeof(ev);
		memcpy(&ev, data, size);
		memset((char *)&ev + size, 0, sizeof(ev) - size);
		if (ev.req_len > size - SONDE_HTTP_EVENT_MIN_SIZE)
			ev.req_len = size - SONDE_HTTP_EVENT_MIN_SIZE;
		process_http(p, &ev);
		break;
	}
	case SONDE_EV_PROC_EXEC:
		discovery__check_pid(p->rt->discovery, hdr->tgid, true);
		break;
	case SONDE_EV_LISTEN:
		discovery__check_pid(p->rt->discovery, hdr->tgid, false);
		break;
	case SONDE_EV_PROC_FORK:
		if (size >= sizeof(*pe))
			discovery__on_fork(p->rt->discovery, hdr->tgid, pe->ppid);
		break;
	case SONDE_EV_PROC_EXIT:
		discovery__on_exit(p->rt->discovery, hdr->tgid);
		break;
	}
	atomic_store(&p->rt->instrumented, discovery__count(p->rt->discovery));
	return 0;
}

struct pipeline *pipeline__new(struct sonde_runtime *rt)
{
	struct pipeline *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->rt = rt;
	p->linker = linker__new(4096, 1 << 16, rt->cfg->link_wait_ms * 1000000ull);
	if (!p->linker) {
		free(p);
		return NULL;
	}
	p->rb = ring_buffer__new(probes__events_map_fd(rt->probes), on_event, p, NULL);
	if (!p->rb) {
		log_error("cannot open the ring buffer: %s", strerror(errno));
		linker__free(p->linker);
		free(p);
		return NULL;
	}
	for (int i = 0; exporter_registry[i]; i++) {
		const struct exporter_ops *ops = exporter_registry[i];
		struct exporter *e = &p->exporters[p->nexporters];

		if (!ops->enabled(rt->cfg))
			continue;
		e->ops = ops;
		if (ops->init(e, rt->cfg, rt)) {
			log_error("exporter %s failed to start", ops->name);
			pipeline__free(p);
			return NULL;
		}
		p->nexporters++;
	}
	return p;
}

int pipeline__poll(struct pipeline *p, int timeout_ms)
{
	int n = ring_buffer__poll(p->rb, timeout_ms);

	if (n < 0 && n != -EINTR)
		return n;
	/* Wake-ups are batched: whatever is below the threshold is read here. */
	ring_buffer__consume(p->rb);
	linker__expire(p->linker, mono_now(), export_span, p);
	return 0;
}

void pipeline__drain(struct pipeline *p)
{
	linker__flush(p->linker, export_span, p);
}

void pipeline__flush(struct pipeline *p)
{
	for (int e = 0; e < p->nexporters; e++)
		if (p->exporters[e].ops->flush)
			p->exporters[e].ops->flush(&p->exporters[e]);
}

void pipeline__free(struct pipeline *p)
{
	if (!p)
		return;
	for (int e = 0; e < p->nexporters; e++)
		p->exporters[e].ops->destroy(&p->exporters[e]);
	ring_buffer__free(p->rb);
	linker__free(p->linker);
	free(p);
}

const char *const user_loss_names[LOSS__MAX] = {
	[LOSS_DECODE] = "undecodable",
	[LOSS_UNKNOWN_PROC] = "unknown_process",
};
