// SPDX-License-Identifier: Apache-2.0
/*
 * The HTTP/1 decoder of the protocol seam: a kernel transaction event
 * (request and response head prefixes, wire byte counts) into a span,
 * with the route of server spans and the requests a client or server
 * pipelined behind the first one, matched to the responses the kernel
 * reports as continuations. The byte-level parsing is in http1.c.
 */
#include <stdlib.h>
#include <string.h>

#include "decode/decoder.h"
#include "decode/http1.h"
#include "discovery.h"
#include "model/route.h"
#include "model/route_pattern.h"
#include "util/str.h"

#define PIPE_SLOTS 64

/* Requests read or written in one go with the first of a transaction,
 * waiting for the responses the kernel reports as pipelined continuations. */
struct pipelined_queue {
	uint64_t conn_id;
	int count, next;
	struct http1_request req[HTTP1_PIPELINE_MAX];
};

struct http1_state {
	struct pipelined_queue pipes[PIPE_SLOTS];
};

static struct pipelined_queue *pipe_slot(struct http1_state *st, uint64_t conn_id)
{
	return &st->pipes[(conn_id * 0x9E3779B97F4A7C15ull >> 58) % PIPE_SLOTS];
}

static void pipe_push(struct http1_state *st, const struct sonde_txn_event *ev)
{
	struct pipelined_queue *q = pipe_slot(st, ev->conn_id);
	const uint8_t *req = ev->data;
	const uint8_t *first = memmem(req, ev->req_len, " HTTP/1.", 8);
	int n;

	/* Cheap test first: a second request line needs a second version. */
	if (!first || !memmem(first + 8, ev->req_len - (first + 8 - req), " HTTP/1.", 8))
		return;
	n = http1_requests_after_first(req, ev->req_len, q->req, HTTP1_PIPELINE_MAX);
	if (n == 0)
		return;
	q->conn_id = ev->conn_id;
	q->count = n;
	q->next = 0;
}

static const struct http1_request *pipe_pop(struct http1_state *st, uint64_t conn_id)
{
	struct pipelined_queue *q = pipe_slot(st, conn_id);

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

void http_server_wants(const struct decode_ctx *ctx, struct span *s, struct decode_wants *wants)
{
	const char *route;

	if (route_patterns__match(&ctx->cfg->ignored_patterns, s->path)) {
		wants->span = ctx->cfg->ignore_mode == IGNORE_METRICS;
		wants->metrics = ctx->cfg->ignore_mode == IGNORE_TRACES;
	}
	route = server_route(ctx->cfg, ctx->service, s->path);
	str_copy(s->route, sizeof(s->route), route);
	wants->route = route;
}

static bool http1_fill(const struct sonde_txn_event *ev, int64_t mono_to_real_ns,
		       const struct http1_request *pipelined, struct span *s)
{
	struct http1_request parsed;
	const struct http1_request *req = pipelined ? pipelined : &parsed;
	struct http1_response resp;

	if (!pipelined && http1_parse_request(ev->data, ev->req_len, &parsed))
		return false;
	if (http1_parse_response(ev->data + ev->req_len, ev->resp_len, &resp))
		return false;
	/* Where the kernel framed the response, the prefix is its status line
	 * and the framing comes in the event. */
	if (ev->resp_head_len && !resp.head_len) {
		resp.head_len = ev->resp_head_len;
		resp.content_length = ev->resp_body_len == SONDE_LEN_UNKNOWN ? -1
									: (int64_t)ev->resp_body_len;
	}
	span_from_txn(ev, mono_to_real_ns, s);
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
	if (req->traceparent[0])
		span_take_traceparent(s, req->traceparent); /* all or nothing */
	return true;
}

static bool http1_decode(void *state, const struct sonde_txn_event *ev, const struct decode_ctx *ctx,
			 struct span *s, struct decode_wants *wants)
{
	struct http1_state *st = state;
	const struct http1_request *pipelined = NULL;

	if (ev->flags & SONDE_EVF_PIPELINED) {
		pipelined = pipe_pop(st, ev->conn_id);
		if (!pipelined)
			return false;
	}
	if (!http1_fill(ev, ctx->mono_to_real_ns, pipelined, s))
		return false;
	if (!pipelined)
		pipe_push(st, ev);
	wants->span = wants->metrics = true;
	if (s->kind == SPAN_KIND_SERVER)
		http_server_wants(ctx, s, wants);
	return true;
}

static void *http1_state_new(void)
{
	return calloc(1, sizeof(struct http1_state));
}

const struct decoder_ops http1_decoder = {
	.name = "http1",
	.state_new = http1_state_new,
	.state_free = free,
	.decode = http1_decode,
};
