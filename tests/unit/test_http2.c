// SPDX-License-Identifier: Apache-2.0
/*
 * The HTTP/2 decoder (src/decode/http2.c) on crafted frame streams: the
 * kernel's events built here entry by entry, header blocks encoded by
 * nghttp2's HPACK deflater (a real encoder, dynamic table and Huffman
 * codes included), spans checked field by field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "decode/decoder.h"
#include "model/route.h"
#include "model/service.h"
#include "model/span.h"

#include "record_guard.h"

#define CONN 0x1234
#define MAX_SPANS 64

/* A side of a connection: the frames it sends, HPACK-encoded by it. */
struct peer {
	nghttp2_hd_deflater *deflater;
};

struct harness {
	void *state;
	struct sonde_config cfg;
	struct service svc;
	struct decode_ctx ctx;
	struct peer out, in; /* the traced process's writes, its reads */
	struct sonde_txn_event ev;
	size_t len;
	int lost;
	struct span spans[MAX_SPANS];
	struct decode_wants wants[MAX_SPANS];
	int nspans;
	uint64_t now;
};

static void on_span(void *arg, struct span *s, const struct decode_wants *w)
{
	struct harness *h = arg;

	assert_true(h->nspans < MAX_SPANS);
	h->wants[h->nspans] = *w;
	h->spans[h->nspans++] = *s;
}

static int setup(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	h->state = http2_decoder.state_new();
	assert_non_null(h->state);
	h->svc.routes = route_table__new(100);
	strcpy(h->svc.name, "svc");
	h->ctx.cfg = &h->cfg;
	h->ctx.service = &h->svc;
	assert_int_equal(nghttp2_hd_deflate_new(&h->out.deflater, 4096), 0);
	assert_int_equal(nghttp2_hd_deflate_new(&h->in.deflater, 4096), 0);
	h->now = 1000;
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct harness *h = *state;

	http2_decoder.state_free(h->state);
	route_table__free(h->svc.routes);
	nghttp2_hd_deflate_del(h->out.deflater);
	nghttp2_hd_deflate_del(h->in.deflater);
	free(h);
	return 0;
}

/* Start an event of the traced process: @inbound (read) or written. */
static void ev_begin(struct harness *h, bool inbound, uint8_t role)
{
	memset(&h->ev, 0, sizeof(h->ev));
	h->ev.hdr.kind = SONDE_EV_TXN;
	h->ev.hdr.tgid = 42;
	h->ev.tid = 43;
	h->ev.proto = SONDE_PROTO_HTTP2;
	h->ev.role = role;
	h->ev.conn_id = CONN;
	h->ev.flags = inbound ? SONDE_EVF_H2_INBOUND : 0;
	h->ev.start_ns = h->ev.end_ns = h->now;
	h->ev.local.family = h->ev.peer.family = 2;
	h->ev.local.addr[0] = h->ev.peer.addr[0] = 127;
	h->ev.local.addr[3] = h->ev.peer.addr[3] = 1;
	h->ev.local.port = role == SONDE_ROLE_SERVER ? 50051 : 40000;
	h->ev.peer.port = role == SONDE_ROLE_SERVER ? 40000 : 50051;
	h->len = 0;
	h->now += 1000;
}

/* An entry: a frame header (@len the frame's payload length) and a piece. */
static void entry(struct harness *h, uint8_t type, uint8_t flags, uint32_t stream, uint32_t len,
		  const uint8_t *piece, size_t n)
{
	uint8_t *p = h->ev.data + h->len;

	assert_true(h->len + SONDE_H2_ENTRY_HDR + n <= SONDE_DATA_CAP);
	p[0] = len >> 16;
	p[1] = len >> 8;
	p[2] = len;
	p[3] = type;
	p[4] = flags;
	p[5] = stream >> 24;
	p[6] = stream >> 16;
	p[7] = stream >> 8;
	p[8] = stream;
	p[9] = n >> 8;
	p[10] = n;
	if (n)
		memcpy(p + SONDE_H2_ENTRY_HDR, piece, n);
	h->len += SONDE_H2_ENTRY_HDR + n;
}

/* With H2_SEED_DIR set, every test's events are written there as one
 * input of tests/fuzz/fuzz_http2.c (its seeds in tests/fuzz/seeds). */
static void seed_write(struct harness *h)
{
	static int test_no = -1;
	static const void *last;
	const char *dir = getenv("H2_SEED_DIR");
	char path[512];
	uint8_t head[3];
	FILE *f;

	if (!dir)
		return;
	if (last != h) {
		last = h;
		test_no++;
	}
	snprintf(path, sizeof(path), "%s/unit-%02d", dir, test_no);
	f = fopen(path, "ab");
	if (!f)
		return;
	head[0] = (h->ev.flags & SONDE_EVF_H2_INBOUND ? 1 : 0) | (h->ev.flags & SONDE_EVF_H2_GAP ? 2 : 0) |
		  (h->ev.flags & SONDE_EVF_H2_CLOSE ? 4 : 0) |
		  (h->ev.role == SONDE_ROLE_CLIENT ? 16 : 0);
	head[1] = h->len >> 8;
	head[2] = h->len;
	fwrite(head, 1, 3, f);
	fwrite(h->ev.data, 1, h->len, f);
	fclose(f);
}

static void ev_send(struct harness *h)
{
	seed_write(h);
	h->ev.req_len = h->len;
	h->lost += http2_decoder.decode_each(h->state, record_at_guard(&h->ev), &h->ctx, on_span, h);
}

/* A header block of @n "name", "value" pairs, encoded by @p. */
static size_t hpack(struct peer *p, uint8_t *out, size_t cap, const char *const *kv, int n)
{
	nghttp2_nv nv[16];
	ssize_t len;

	for (int i = 0; i < n; i++) {
		nv[i].name = (uint8_t *)kv[2 * i];
		nv[i].namelen = strlen(kv[2 * i]);
		nv[i].value = (uint8_t *)kv[2 * i + 1];
		nv[i].valuelen = strlen(kv[2 * i + 1]);
		nv[i].flags = NGHTTP2_NV_FLAG_NONE;
	}
	len = nghttp2_hd_deflate_hd(p->deflater, out, cap, nv, n);
	assert_true(len > 0);
	return len;
}

#define HEADERS(h, peer, flags, stream, ...)                                                  \
	do {                                                                                   \
		static const char *const kv_[] = { __VA_ARGS__ };                              \
		uint8_t blk_[512];                                                             \
		size_t n_ = hpack(peer, blk_, sizeof(blk_), kv_, sizeof(kv_) / sizeof(kv_[0]) / 2); \
		entry(h, 1, (flags) | 0x4, stream, n_, blk_, n_);                              \
	} while (0)

static const char TRACEPARENT[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/* One unary gRPC call served: request read, response and trailers written. */
static void serve_unary(struct harness *h, uint32_t stream, const char *status, bool trace)
{
	ev_begin(h, true, SONDE_ROLE_SERVER);
	if (trace)
		HEADERS(h, &h->in, 0, stream, ":method", "POST", ":scheme", "http", ":path",
			"/pkg.v1.Greeter/SayHello", ":authority", "localhost:50051", "content-type",
			"application/grpc", "te", "trailers", "traceparent", TRACEPARENT);
	else
		HEADERS(h, &h->in, 0, stream, ":method", "POST", ":scheme", "http", ":path",
			"/pkg.v1.Greeter/SayHello", ":authority", "localhost:50051", "content-type",
			"application/grpc", "te", "trailers");
	entry(h, 0, 0x1, stream, 12, NULL, 0);
	ev_send(h);
	ev_begin(h, false, SONDE_ROLE_SERVER);
	HEADERS(h, &h->out, 0, stream, ":status", "200", "content-type", "application/grpc");
	entry(h, 0, 0, stream, 20, NULL, 0);
	{
		static char st[8];
		const char *kv[] = { "grpc-status", st, "grpc-message", "x" };
		uint8_t blk[128];
		size_t n;

		snprintf(st, sizeof(st), "%s", status);
		n = hpack(&h->out, blk, sizeof(blk), kv, 2);
		entry(h, 1, 0x5, stream, n, blk, n);
	}
	ev_send(h);
}

static void test_grpc_unary_server(void **state)
{
	struct harness *h = *state;
	struct span *s;
	char name[128];

	serve_unary(h, 1, "0", true);
	assert_int_equal(h->nspans, 1);
	s = &h->spans[0];
	assert_int_equal(s->kind, SPAN_KIND_SERVER);
	assert_string_equal(s->method, "POST");
	assert_string_equal(s->path, "/pkg.v1.Greeter/SayHello");
	assert_string_equal(s->host, "localhost:50051");
	assert_int_equal(s->status, 200);
	assert_int_equal(s->http_minor, SPAN_HTTP2);
	assert_true(span_is_rpc(s));
	assert_string_equal(s->rpc.system, "grpc");
	assert_string_equal(s->rpc.service, "pkg.v1.Greeter");
	assert_string_equal(s->rpc.method, "SayHello");
	assert_int_equal(s->rpc.grpc_status, 0);
	assert_false(span_rpc_failed(s));
	span_rpc_name(s, name, sizeof(name));
	assert_string_equal(name, "pkg.v1.Greeter/SayHello");
	assert_int_equal(s->request_body_size, 12);
	assert_int_equal(s->response_body_size, 20);
	assert_int_equal(s->self.conn_id, CONN);
	assert_int_equal(s->self.txn_seq, 1);
	/* the incoming traceparent joins the trace */
	assert_int_equal(s->trace_id[0], 0x0a);
	assert_int_equal(s->parent_span_id[0], 0xb7);
	assert_true(s->end_ns > s->start_ns);
	assert_int_equal(h->lost, 0);

	/* the second call on the connection: everything from the dynamic table */
	serve_unary(h, 3, "5", false);
	assert_int_equal(h->nspans, 2);
	s = &h->spans[1];
	assert_string_equal(s->path, "/pkg.v1.Greeter/SayHello");
	assert_int_equal(s->rpc.grpc_status, 5);
	assert_false(span_rpc_failed(s)); /* NOT_FOUND: the caller's problem */
	assert_int_equal(s->parent_span_id[0], 0);
	serve_unary(h, 5, "13", false);
	assert_true(span_rpc_failed(&h->spans[2])); /* INTERNAL */
	assert_int_equal(h->lost, 0);
}

/* Three streams interleaved on one connection, ending out of order. */
static void test_multiplexed_streams(void **state)
{
	struct harness *h = *state;

	ev_begin(h, true, SONDE_ROLE_SERVER);
	HEADERS(h, &h->in, 0x1, 1, ":method", "GET", ":scheme", "http", ":path", "/a?x=1",
		":authority", "h");
	HEADERS(h, &h->in, 0x1, 3, ":method", "GET", ":scheme", "http", ":path", "/b",
		":authority", "h");
	HEADERS(h, &h->in, 0, 5, ":method", "POST", ":scheme", "http", ":path", "/c",
		":authority", "h");
	ev_send(h);
	ev_begin(h, true, SONDE_ROLE_SERVER);
	entry(h, 0, 0, 5, 100, NULL, 0);
	entry(h, 0, 0x1, 5, 50, NULL, 0);
	ev_send(h);
	ev_begin(h, false, SONDE_ROLE_SERVER);
	HEADERS(h, &h->out, 0, 3, ":status", "404");
	HEADERS(h, &h->out, 0x1, 5, ":status", "201");
	entry(h, 0, 0, 3, 7, NULL, 0);
	ev_send(h);
	assert_int_equal(h->nspans, 1);
	assert_string_equal(h->spans[0].path, "/c");
	assert_int_equal(h->spans[0].status, 201);
	assert_int_equal(h->spans[0].request_body_size, 150);
	ev_begin(h, false, SONDE_ROLE_SERVER);
	entry(h, 0, 0x1, 3, 0, NULL, 0);
	HEADERS(h, &h->out, 0, 1, ":status", "200");
	entry(h, 0, 0x1, 1, 1000, NULL, 0);
	ev_send(h);
	assert_int_equal(h->nspans, 3);
	assert_string_equal(h->spans[1].path, "/b");
	assert_int_equal(h->spans[1].status, 404);
	assert_int_equal(h->spans[1].response_body_size, 7);
	assert_string_equal(h->spans[2].path, "/a"); /* without the query */
	assert_int_equal(h->spans[2].status, 200);
	assert_int_equal(h->spans[2].response_body_size, 1000);
	assert_false(span_is_rpc(&h->spans[2]));
	/* plain HTTP/2 server spans get a route like HTTP/1's */
	assert_string_equal(h->spans[2].route, "/a");
	assert_non_null(h->wants[2].route);
	assert_int_equal(h->lost, 0);
}

/* A header block in a HEADERS frame and a CONTINUATION, each split across
 * two reads (the kernel's piece entries). */
static void test_split_header_block(void **state)
{
	struct harness *h = *state;
	static const char *const kv[] = { ":method", "POST", ":scheme", "http", ":path",
					  "/split.Service/Method", ":authority", "example",
					  "content-type", "application/grpc+proto" };
	uint8_t blk[256];
	size_t n = hpack(&h->in, blk, sizeof(blk), kv, 5), a = n / 3, b = 2 * n / 3;

	ev_begin(h, true, SONDE_ROLE_SERVER);
	entry(h, 1, 0x0, 1, b, blk, a / 2); /* HEADERS without END_HEADERS, first bytes */
	ev_send(h);
	ev_begin(h, true, SONDE_ROLE_SERVER);
	entry(h, SONDE_H2_PIECE, 0, 0, 0, blk + a / 2, b - a / 2);
	entry(h, 9, 0x4, 1, n - b, blk + b, 3); /* CONTINUATION, END_HEADERS */
	ev_send(h);
	ev_begin(h, true, SONDE_ROLE_SERVER);
	entry(h, SONDE_H2_PIECE, 0, 0, 0, blk + b + 3, n - b - 3);
	entry(h, 0, 0x1, 1, 5, NULL, 0);
	ev_send(h);
	ev_begin(h, false, SONDE_ROLE_SERVER);
	HEADERS(h, &h->out, 0x1, 1, ":status", "200", "content-type", "application/grpc",
		"grpc-status", "12");
	ev_send(h);
	assert_int_equal(h->nspans, 1);
	assert_string_equal(h->spans[0].rpc.service, "split.Service");
	assert_string_equal(h->spans[0].rpc.method, "Method");
	assert_int_equal(h->spans[0].rpc.grpc_status, 12); /* Trailers-Only */
	assert_true(span_rpc_failed(&h->spans[0]));
	assert_int_equal(h->lost, 0);
}

/* The client's side: RST_STREAM by the client (a cancel), a GOAWAY, the
 * connection's end; every one an errored span, client rules. */
static void test_client_resets(void **state)
{
	struct harness *h = *state;
	uint8_t cancel[4] = { 0, 0, 0, 8 }, goaway[8] = { 0, 0, 0, 3, 0, 0, 0, 0 };

	ev_begin(h, false, SONDE_ROLE_CLIENT);
	for (uint32_t id = 1; id <= 7; id += 2)
		HEADERS(h, &h->out, 0, id, ":method", "POST", ":scheme", "http", ":path",
			"/s.S/M", ":authority", "server", "content-type", "application/grpc");
	entry(h, 0, 0x1, 1, 10, NULL, 0);
	entry(h, 3, 0, 1, 4, cancel, 4); /* the client cancels stream 1 */
	ev_send(h);
	assert_int_equal(h->nspans, 1);
	assert_int_equal(h->spans[0].kind, SPAN_KIND_CLIENT);
	assert_int_equal(h->spans[0].rpc.grpc_status, 1); /* CANCELLED */
	assert_true(span_rpc_failed(&h->spans[0]));
	assert_string_equal(h->spans[0].error, "RST_STREAM CANCEL");
	ev_begin(h, true, SONDE_ROLE_CLIENT);
	HEADERS(h, &h->in, 0x1, 3, ":status", "200", "content-type", "application/grpc",
		"grpc-status", "0");
	entry(h, 7, 0, 0, 8, goaway, 8); /* streams above 3 will never be answered */
	ev_send(h);
	assert_int_equal(h->nspans, 4);
	assert_int_equal(h->spans[1].self.txn_seq, 3);
	assert_int_equal(h->spans[1].rpc.grpc_status, 0);
	assert_false(span_rpc_failed(&h->spans[1]));
	for (int i = 2; i < 4; i++) {
		assert_string_equal(h->spans[i].error, "GOAWAY");
		assert_int_equal(h->spans[i].rpc.grpc_status, 14);
		assert_true(span_rpc_failed(&h->spans[i]));
	}
	/* a new stream, then the connection ends */
	ev_begin(h, false, SONDE_ROLE_CLIENT);
	HEADERS(h, &h->out, 0x1, 9, ":method", "GET", ":scheme", "http", ":path", "/x",
		":authority", "server");
	ev_send(h);
	ev_begin(h, false, SONDE_ROLE_CLIENT);
	h->ev.flags = SONDE_EVF_H2_CLOSE;
	ev_send(h);
	assert_int_equal(h->nspans, 5);
	assert_string_equal(h->spans[4].error, "connection closed");
	assert_string_equal(h->spans[4].path, "/x");
	assert_int_equal(h->lost, 0);
}

/*
 * Frames lost in the reading direction: the dynamic table is not known
 * from there. Names that come from it are never guessed (the stream is
 * counted, no span); literals and the static table still decode.
 */
static void test_gap_decodes_literals_only(void **state)
{
	struct harness *h = *state;
	uint8_t blk[256];
	size_t n;

	serve_unary(h, 1, "0", false); /* fills both dynamic tables */
	assert_int_equal(h->nspans, 1);
	/* A gap, then a request whose :path is the dynamic table's newest
	 * entry (0xbe, index 62): :method POST and :scheme http from the
	 * static table. The decoder's table has an entry 62 of its own: a
	 * guess would name the call after it. */
	ev_begin(h, true, SONDE_ROLE_SERVER);
	h->ev.flags |= SONDE_EVF_H2_GAP;
	blk[0] = 0x83;
	blk[1] = 0x86;
	blk[2] = 0xbe;
	n = 3;
	entry(h, 1, 0x5, 3, n, blk, n);
	ev_send(h);
	ev_begin(h, false, SONDE_ROLE_SERVER);
	HEADERS(h, &h->out, 0x1, 3, ":status", "200", "grpc-status", "0");
	ev_send(h);
	assert_int_equal(h->nspans, 1); /* no span with a guessed name */
	assert_int_equal(h->lost, 1);	/* counted */
	/* a request of literals only: decoded even so */
	ev_begin(h, true, SONDE_ROLE_SERVER);
	{
		nghttp2_nv nv[] = {
			{ (uint8_t *)":method", (uint8_t *)"GET", 7, 3, NGHTTP2_NV_FLAG_NO_INDEX },
			{ (uint8_t *)":path", (uint8_t *)"/literal/path", 5, 13, NGHTTP2_NV_FLAG_NO_INDEX },
			{ (uint8_t *)"x-new-name", (uint8_t *)"v", 10, 1, NGHTTP2_NV_FLAG_NO_INDEX },
		};

		n = nghttp2_hd_deflate_hd(h->in.deflater, blk, sizeof(blk), nv, 3);
	}
	entry(h, 1, 0x5, 5, n, blk, n);
	ev_send(h);
	ev_begin(h, false, SONDE_ROLE_SERVER);
	{
		nghttp2_nv nv[] = { { (uint8_t *)":status", (uint8_t *)"204", 7, 3,
				      NGHTTP2_NV_FLAG_NO_INDEX } };

		n = nghttp2_hd_deflate_hd(h->out.deflater, blk, sizeof(blk), nv, 1);
	}
	entry(h, 1, 0x5, 5, n, blk, n);
	ev_send(h);
	assert_int_equal(h->nspans, 2);
	assert_string_equal(h->spans[1].method, "GET");
	assert_string_equal(h->spans[1].path, "/literal/path");
	assert_int_equal(h->spans[1].status, 204);
}

/* The kernel lost a connection's frames: its open streams are dropped and
 * counted, not reported as errors that did not happen. */
static void test_framing_lost(void **state)
{
	struct harness *h = *state;

	ev_begin(h, true, SONDE_ROLE_SERVER);
	HEADERS(h, &h->in, 0x1, 1, ":method", "GET", ":scheme", "http", ":path", "/a",
		":authority", "h");
	HEADERS(h, &h->in, 0x1, 3, ":method", "GET", ":scheme", "http", ":path", "/b",
		":authority", "h");
	ev_send(h);
	ev_begin(h, false, SONDE_ROLE_SERVER);
	h->ev.flags = SONDE_EVF_H2_CLOSE | SONDE_EVF_H2_GAP;
	ev_send(h);
	assert_int_equal(h->nspans, 0);
	assert_int_equal(h->lost, 2);
	/* the connection's real end, later: nothing more */
	ev_begin(h, false, SONDE_ROLE_SERVER);
	h->ev.flags = SONDE_EVF_H2_CLOSE;
	ev_send(h);
	assert_int_equal(h->nspans, 0);
	assert_int_equal(h->lost, 2);
}

/* Bytes that are not what the kernel sends: no crash, no span, counted. */
static void test_malformed_entries(void **state)
{
	struct harness *h = *state;
	uint8_t junk[40];

	memset(junk, 0xff, sizeof(junk));
	ev_begin(h, true, SONDE_ROLE_SERVER);
	entry(h, 1, 0x5, 1, 40, junk, 40); /* HEADERS of garbage */
	entry(h, 9, 0x4, 7, 4, junk, 4);   /* CONTINUATION with no block open */
	entry(h, 3, 0, 99, 4, junk, 2);	   /* RST_STREAM of an unknown stream */
	entry(h, SONDE_H2_PIECE, 0, 0, 0, junk, 5);
	h->ev.data[h->len++] = 0x00; /* a truncated entry */
	ev_send(h);
	ev_begin(h, false, SONDE_ROLE_SERVER);
	entry(h, 1, 0x5, 1, 10, junk, 10);
	ev_send(h);
	assert_int_equal(h->nspans, 0);
	assert_true(h->lost >= 1);
}

/* The HTTP/1.1 transaction that upgraded the connection to h2c, as the
 * kernel sends it: the request prefix, then the 101's status line. */
static void upgrade_event(struct harness *h, uint8_t role, const char *request)
{
	static const char status[] = "HTTP/1.1 101 Switching Protocols\r\n";

	ev_begin(h, false, role);
	h->ev.flags = SONDE_EVF_H2_UPGRADE;
	h->ev.start_ns = 500;
	h->ev.req_end_ns = 600;
	h->ev.req_bytes = strlen(request);
	memcpy(h->ev.data, request, strlen(request));
	memcpy(h->ev.data + strlen(request), status, strlen(status));
	h->ev.resp_len = strlen(status);
	h->ev.req_len = strlen(request);
	h->lost += http2_decoder.decode_each(h->state, record_at_guard(&h->ev), &h->ctx, on_span, h);
}

static const char UPGRADE_GET[] = "GET /hello?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
				  "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
				  "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";

/* A server upgraded to h2c: stream 1 is the HTTP/1.1 request, answered in
 * HTTP/2; the next streams are HTTP/2 from the start. */
static void test_h2c_upgrade_server(void **state)
{
	struct harness *h = *state;
	struct span *s;

	upgrade_event(h, SONDE_ROLE_SERVER, UPGRADE_GET);
	assert_int_equal(h->nspans, 0);
	ev_begin(h, true, SONDE_ROLE_SERVER); /* the client's SETTINGS after its preface */
	entry(h, 4, 0, 0, 12, NULL, 0);
	ev_send(h);
	ev_begin(h, false, SONDE_ROLE_SERVER);
	entry(h, 4, 0, 0, 6, NULL, 0);
	HEADERS(h, &h->out, 0, 1, ":status", "200", "content-type", "text/plain");
	entry(h, 0, 0x1, 1, 6, NULL, 0);
	ev_send(h);
	assert_int_equal(h->nspans, 1);
	s = &h->spans[0];
	assert_int_equal(s->kind, SPAN_KIND_SERVER);
	assert_string_equal(s->method, "GET");
	assert_string_equal(s->path, "/hello");
	assert_string_equal(s->host, "127.0.0.1:8080");
	assert_int_equal(s->status, 200);
	assert_int_equal(s->http_minor, SPAN_HTTP2);
	assert_int_equal(s->request_body_size, 0);
	assert_int_equal(s->response_body_size, 6);
	assert_int_equal(s->self.txn_seq, 1);
	assert_int_equal(s->start_ns - h->ctx.mono_to_real_ns, 500);
	assert_false(span_is_rpc(s));
	assert_string_equal(s->route, "/hello");

	/* stream 3, in HTTP/2 from its first frame */
	ev_begin(h, true, SONDE_ROLE_SERVER);
	HEADERS(h, &h->in, 0, 3, ":method", "POST", ":scheme", "http", ":path", "/post",
		":authority", "127.0.0.1:8080");
	entry(h, 0, 0x1, 3, 42, NULL, 0);
	ev_send(h);
	ev_begin(h, false, SONDE_ROLE_SERVER);
	HEADERS(h, &h->out, 0x1, 3, ":status", "404");
	ev_send(h);
	assert_int_equal(h->nspans, 2);
	s = &h->spans[1];
	assert_string_equal(s->method, "POST");
	assert_string_equal(s->path, "/post");
	assert_int_equal(s->status, 404);
	assert_int_equal(s->request_body_size, 42);
	assert_int_equal(h->lost, 0);
}

/* A client that upgraded: its request (with a body and a traceparent)
 * written in HTTP/1.1, the response read in HTTP/2; a connection closed
 * before its answer ends it in error. */
static void test_h2c_upgrade_client(void **state)
{
	struct harness *h = *state;
	struct span *s;

	upgrade_event(h, SONDE_ROLE_CLIENT,
		      "POST /api HTTP/1.1\r\nHost: example\r\nContent-Length: 5\r\n"
		      "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
		      "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
		      "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\nhello");
	ev_begin(h, true, SONDE_ROLE_CLIENT);
	HEADERS(h, &h->in, 0, 1, ":status", "201");
	entry(h, 0, 0x1, 1, 3, NULL, 0);
	ev_send(h);
	assert_int_equal(h->nspans, 1);
	s = &h->spans[0];
	assert_int_equal(s->kind, SPAN_KIND_CLIENT);
	assert_string_equal(s->method, "POST");
	assert_string_equal(s->path, "/api");
	assert_int_equal(s->status, 201);
	assert_int_equal(s->request_body_size, 5);
	assert_int_equal(s->response_body_size, 3);
	assert_int_equal(s->trace_id[0], 0x0a);

	/* a second connection: upgraded, then closed unanswered */
	ev_begin(h, false, SONDE_ROLE_CLIENT);
	upgrade_event(h, SONDE_ROLE_CLIENT, UPGRADE_GET);
	ev_begin(h, false, SONDE_ROLE_CLIENT);
	h->ev.flags = SONDE_EVF_H2_CLOSE;
	ev_send(h);
	assert_int_equal(h->nspans, 2);
	assert_string_equal(h->spans[1].path, "/hello");
	assert_string_equal(h->spans[1].error, "connection closed");
	assert_int_equal(h->lost, 0);
}

/* An upgrade event whose request is not HTTP/1: no stream, counted. */
static void test_h2c_upgrade_malformed(void **state)
{
	struct harness *h = *state;

	upgrade_event(h, SONDE_ROLE_SERVER, "\x16\x03\x01 not a request\r\n\r\n");
	assert_int_equal(h->lost, 1);
	upgrade_event(h, SONDE_ROLE_SERVER, "");
	assert_int_equal(h->lost, 2);
	ev_begin(h, false, SONDE_ROLE_SERVER);
	HEADERS(h, &h->out, 0x1, 1, ":status", "200");
	ev_send(h);
	assert_int_equal(h->nspans, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_grpc_unary_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiplexed_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_header_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_resets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gap_decodes_literals_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_framing_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2c_upgrade_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2c_upgrade_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2c_upgrade_malformed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
