// SPDX-License-Identifier: Apache-2.0
/*
 * The HTTP/2 decoder of the protocol seam, gRPC included. The kernel
 * (bpf/proto_http2.bpf.h) sends the frames of each read and write of an
 * HTTP/2 connection, header blocks and DATA lengths but no payload; here
 * they are followed per connection and direction:
 *
 * - header blocks (HEADERS or PUSH_PROMISE, then CONTINUATION) are put
 *   together and fed, every one and in order, to that direction's HPACK
 *   inflater (libnghttp2), which holds the dynamic table;
 * - a stream begins at its first HEADERS (the request: its direction says
 *   whether the traced process serves or calls), gathers the response
 *   status, gRPC status (trailers, or a Trailers-Only response) and body
 *   sizes from DATA lengths, and ends with the response's END_STREAM
 *   (one span), an RST_STREAM or a GOAWAY past it (an errored span), or
 *   the connection's end;
 * - a direction whose HPACK state is not certain (the connection was found
 *   mid-stream, frames were lost) decodes only what needs no dynamic table:
 *   literals and static-table entries. A name or value it cannot know stays
 *   unknown and is counted; a stream whose request names are unknown gives
 *   no span. Nothing is guessed;
 * - a connection upgraded from HTTP/1.1 (h2c, RFC 7540 3.2) begins with
 *   the transaction that upgraded it, whose request is stream 1's: its
 *   names come from the HTTP/1 request head, its response from HTTP/2
 *   frames like any other stream's.
 */
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decoder.h"
#include "decode/http1.h"
#include "model/streamlink.h"
#include "util/log.h"
#include "util/str.h"

#define H2_CONNS 256	      /* connections followed at once (least recent evicted) */
#define H2_STREAMS 128	      /* open streams per connection (oldest evicted) */
#define H2_BLOCK_MAX (64 << 10) /* a header block longer than this is not decoded */
#define H2_TRACEPARENT_MAX 64

enum {
	F_DATA = 0,
	F_HEADERS = 1,
	F_RST_STREAM = 3,
	F_PUSH_PROMISE = 5,
	F_GOAWAY = 7,
	F_CONTINUATION = 9,
};

#define FL_END_STREAM 0x1
#define FL_END_HEADERS 0x4
#define FL_PADDED 0x8
#define FL_PRIORITY 0x20

struct h2_stream {
	uint32_t id; /* 0: free slot */
	bool server; /* the request was read: the traced process answers it */
	bool req_known; /* the request's names were decoded */
	bool resp_headers; /* response headers seen (the next block is trailers) */
	bool grpc;
	uint32_t tid, resp_tid;
	uint64_t start_ns, req_end_ns; /* monotonic */
	char method[SPAN_METHOD_MAX];
	char path[SPAN_PATH_MAX];
	char authority[SPAN_HOST_MAX];
	char traceparent[H2_TRACEPARENT_MAX];
	int status;
	int grpc_status; /* -1: none */
	uint64_t req_body, resp_body;
	struct sonde_txn_ref parent; /* the kernel's reference at the request */
};

/* One direction of a connection: frames written (0) or read (1). */
struct h2_dir {
	nghttp2_hd_inflater *inflater;
	bool unknown;	    /* HPACK state not certain: literals only */
	/* the frame whose forwarded payload is being gathered */
	uint8_t ftype, fflags;
	uint32_t fstream, flen;
	uint32_t fwant;	    /* forwarded bytes expected in all */
	uint8_t *fbuf;
	size_t fhave, fcap;
	bool fopen;
	/* the header block being put together */
	uint8_t *block;
	size_t block_len, block_cap;
	uint32_t block_stream;
	uint8_t block_flags; /* of the HEADERS frame that began it */
	bool block_open, block_push;
};

struct h2_conn {
	uint64_t conn_id; /* 0: free */
	uint32_t pid;	  /* the process of its last event */
	uint64_t last_used;
	struct h2_dir dir[2];
	struct h2_stream *streams[H2_STREAMS]; /* open ones, allocated as they open */
	uint8_t tmpl[SONDE_TXN_EVENT_MIN_SIZE]; /* the last event's fixed part (ends, process) */
};

struct h2_state {
	struct h2_conn *conns[H2_CONNS];
	nghttp2_hd_inflater *literal; /* decodes single representations that touch no table */
	struct h2_conn *last;	      /* the connection of the last event: most often the next's */
	uint64_t clock;
	/* per decode_each call */
	uint64_t now_ns; /* the event's time (monotonic) */
	const struct decode_ctx *ctx;
	decode_emit_fn emit;
	void *emit_arg;
	int lost;
};

/* ---- state ---- */

static void dir_free(struct h2_dir *d)
{
	if (d->inflater)
		nghttp2_hd_inflate_del(d->inflater);
	free(d->fbuf);
	free(d->block);
	memset(d, 0, sizeof(*d));
}

static void stream_gone(struct h2_state *st, struct h2_conn *c, struct h2_stream *s, bool dropped);

/* Free @c; its open streams are given up on (told to st->ctx's stream
 * follower unless @st is NULL). */
static void conn_free(struct h2_state *st, struct h2_conn *c)
{
	if (!c)
		return;
	for (int i = 0; i < H2_STREAMS; i++) {
		if (st && c->streams[i])
			stream_gone(st, c, c->streams[i], true);
		free(c->streams[i]);
	}
	dir_free(&c->dir[0]);
	dir_free(&c->dir[1]);
	free(c);
}

static int dir_init(struct h2_dir *d, bool unknown)
{
	memset(d, 0, sizeof(*d));
	d->unknown = unknown;
	if (nghttp2_hd_inflate_new(&d->inflater))
		return -1;
	/* The table size the encoder may use is what the peer's SETTINGS
	 * allowed, which we do not follow: allow what any sane peer uses. */
	nghttp2_hd_inflate_change_table_size(d->inflater, 1 << 16);
	return 0;
}

static struct h2_conn *conn_find(struct h2_state *st, uint64_t conn_id, bool create, bool unknown)
{
	struct h2_conn **slot = NULL, *c;

	if (st->last && st->last->conn_id == conn_id) {
		st->last->last_used = ++st->clock;
		return st->last;
	}
	for (int i = 0; i < H2_CONNS; i++) {
		c = st->conns[i];
		if (c && c->conn_id == conn_id) {
			c->last_used = ++st->clock;
			st->last = c;
			return c;
		}
		/* a free slot, else the least recently used connection's */
		if (!slot || (*slot && (!c || c->last_used < (*slot)->last_used)))
			slot = &st->conns[i];
	}
	if (!create)
		return NULL;
	if (*slot) {
		st->lost++; /* its open streams are given up on */
		if (st->last == *slot)
			st->last = NULL;
		conn_free(st, *slot);
		*slot = NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c || dir_init(&c->dir[0], unknown) || dir_init(&c->dir[1], unknown)) {
		conn_free(NULL, c);
		return NULL;
	}
	c->conn_id = conn_id;
	c->last_used = ++st->clock;
	*slot = c;
	st->last = c;
	return c;
}

static struct h2_stream *stream_find(struct h2_conn *c, uint32_t id)
{
	for (int i = 0; i < H2_STREAMS; i++)
		if (c->streams[i] && c->streams[i]->id == id)
			return c->streams[i];
	return NULL;
}

/* A new stream's state; NULL when out of memory (counted). */
static struct h2_stream *stream_new(struct h2_state *st, struct h2_conn *c, uint32_t id)
{
	struct h2_stream **slot = NULL;

	for (int i = 0; i < H2_STREAMS && !slot; i++)
		if (!c->streams[i])
			slot = &c->streams[i];
	if (!slot) {
		/* Full: the oldest stream is given up on (counted). */
		slot = &c->streams[0];
		for (int i = 1; i < H2_STREAMS; i++)
			if (c->streams[i]->start_ns < (*slot)->start_ns)
				slot = &c->streams[i];
		stream_gone(st, c, *slot, true);
		free(*slot);
		*slot = NULL;
		st->lost++;
	}
	*slot = calloc(1, sizeof(**slot));
	if (!*slot) {
		st->lost++;
		return NULL;
	}
	(*slot)->id = id;
	(*slot)->grpc_status = -1;
	return *slot;
}

/* A server stream is no longer in flight: ended, or @dropped (given up on). */
static void stream_gone(struct h2_state *st, struct h2_conn *c, struct h2_stream *s, bool dropped)
{
	struct txn_id id = { .conn_id = c->conn_id, .txn_seq = s->id };

	if (s->server && st->ctx && st->ctx->streams)
		streamlink__end(st->ctx->streams, c->pid, &id, st->now_ns, dropped);
}

/* Free the state of stream @s. */
static void stream_free(struct h2_state *st, struct h2_conn *c, struct h2_stream *s, bool dropped)
{
	stream_gone(st, c, s, dropped);
	for (int i = 0; i < H2_STREAMS; i++)
		if (c->streams[i] == s) {
			free(s);
			c->streams[i] = NULL;
			return;
		}
}

/* ---- spans ---- */

static const char *const rst_names[] = {
	"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
	"SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
	"CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
	"INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
};

/* The gRPC status a reset stream ends with (gRPC's HTTP/2 mapping). */
static int grpc_status_of_rst(uint32_t code)
{
	switch (code) {
	case 7: /* REFUSED_STREAM */
		return 14; /* UNAVAILABLE */
	case 8: /* CANCEL */
		return 1; /* CANCELLED */
	case 11: /* ENHANCE_YOUR_CALM */
		return 8; /* RESOURCE_EXHAUSTED */
	case 12: /* INADEQUATE_SECURITY */
		return 7; /* PERMISSION_DENIED */
	}
	return 13; /* INTERNAL */
}

/* gRPC's :path "/package.Service/Method" into its parts. */
static void grpc_names(const char *path, struct span_rpc *rpc)
{
	const char *p = path[0] == '/' ? path + 1 : path;
	const char *slash = strrchr(p, '/');

	if (!slash) {
		str_copy(rpc->service, sizeof(rpc->service), p);
		return;
	}
	str_copy_n(rpc->service, sizeof(rpc->service), p, slash - p);
	str_copy(rpc->method, sizeof(rpc->method), slash + 1);
}

/* The stream ends: its span (when its request was known), then its slot is free. */
static void stream_end(struct h2_state *st, struct h2_conn *c, struct h2_stream *s,
		       const struct sonde_txn_event *ev, const char *error)
{
	struct decode_wants wants = { .span = true, .metrics = true };
	struct sonde_txn_event t;
	struct span span;

	if (!s->req_known) {
		st->lost++;
		stream_free(st, c, s, false);
		return;
	}
	memcpy(&t, c->tmpl, SONDE_TXN_EVENT_MIN_SIZE);
	t.role = s->server ? SONDE_ROLE_SERVER : SONDE_ROLE_CLIENT;
	t.start_ns = s->start_ns;
	t.req_end_ns = s->req_end_ns ? s->req_end_ns : ev->start_ns;
	t.end_ns = ev->start_ns;
	t.tid = s->tid;
	t.resp_tid = s->resp_tid ? s->resp_tid : ev->tid;
	t.txn_seq = s->id;
	t.parent = s->parent;
	span_from_txn(&t, st->ctx->mono_to_real_ns, &span);
	if (s->parent.link == SONDE_LINK_PEER)
		span.parent.txn_seq = s->id; /* the client's same stream */
	str_copy(span.method, sizeof(span.method), s->method);
	str_copy(span.path, sizeof(span.path), s->path);
	str_copy(span.host, sizeof(span.host), s->authority);
	span.status = s->status;
	span.http_minor = SPAN_HTTP2;
	span.request_body_size = s->req_body;
	span.response_body_size = s->resp_body;
	if (error)
		str_copy(span.error, sizeof(span.error), error);
	if (s->traceparent[0])
		span_take_traceparent(&span, s->traceparent);
	if (s->grpc) {
		str_copy(span.rpc.system, sizeof(span.rpc.system), "grpc");
		grpc_names(s->path, &span.rpc);
		span.rpc.grpc_status = s->grpc_status;
	} else if (span.kind == SPAN_KIND_SERVER) {
		http_server_wants(st->ctx, &span, &wants);
	}
	stream_free(st, c, s, false);
	st->emit(st->emit_arg, &span, &wants);
}

/* ---- header blocks ---- */

/* One header field of stream @s, from a request block or a response one. */
static void on_field(struct h2_stream *s, bool request, const char *name, size_t nlen,
		     const char *value, size_t vlen)
{
#define IS(lit) (nlen == sizeof(lit) - 1 && !memcmp(name, lit, nlen))
	if (request) {
		if (IS(":method"))
			str_copy_n(s->method, sizeof(s->method), value, vlen);
		else if (IS(":path"))
			str_copy_n(s->path, sizeof(s->path), value, strcspn(value, "?#") < vlen
									   ? strcspn(value, "?#")
									   : vlen);
		else if (IS(":authority"))
			str_copy_n(s->authority, sizeof(s->authority), value, vlen);
		else if (IS("content-type"))
			s->grpc = vlen >= 16 && !memcmp(value, "application/grpc", 16);
		else if (IS("traceparent"))
			str_copy_n(s->traceparent, sizeof(s->traceparent), value, vlen);
		return;
	}
	if (IS(":status")) {
		int v = 0;

		for (size_t i = 0; i < vlen && i < 3 && value[i] >= '0' && value[i] <= '9'; i++)
			v = v * 10 + value[i] - '0';
		s->status = v;
	} else if (IS("grpc-status")) {
		int v = 0;

		for (size_t i = 0; i < vlen && i < 3 && value[i] >= '0' && value[i] <= '9'; i++)
			v = v * 10 + value[i] - '0';
		if (vlen)
			s->grpc_status = v;
	}
#undef IS
}

/* An HPACK integer of @prefix bits at *p; -1 when malformed or too big. */
static int64_t hpack_int(const uint8_t **p, const uint8_t *end, int prefix)
{
	uint64_t max = (1u << prefix) - 1, v;
	int shift = 0;

	if (*p >= end)
		return -1;
	v = **p & max;
	(*p)++;
	if (v < max)
		return v;
	while (*p < end && shift <= 28) {
		uint8_t b = *(*p)++;

		v += (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			return v;
	}
	return -1;
}

/* Skip an HPACK string at *p; -1 when it runs past @end. */
static int hpack_skip_string(const uint8_t **p, const uint8_t *end)
{
	int64_t n = hpack_int(p, end, 7);

	if (n < 0 || n > end - *p)
		return -1;
	*p += n;
	return 0;
}

/* Decode one table-free representation @rep with the literal inflater and
 * give its field to @s. Return: 0, or -1 when it does not decode. */
static int literal_field(struct h2_state *st, struct h2_stream *s, bool request, const uint8_t *rep,
			 size_t len)
{
	size_t off = 0;
	int rc = -1;

	while (off < len) {
		nghttp2_nv nv;
		int flags = 0;
		ssize_t n = nghttp2_hd_inflate_hd2(st->literal, &nv, &flags, rep + off, len - off, 1);

		if (n < 0)
			break;
		off += n;
		if (flags & NGHTTP2_HD_INFLATE_EMIT) {
			on_field(s, request, (const char *)nv.name, nv.namelen, (const char *)nv.value,
				 nv.valuelen);
			rc = 0;
		}
		if (flags & NGHTTP2_HD_INFLATE_FINAL)
			break;
		if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && n == 0)
			break;
	}
	nghttp2_hd_inflate_end_headers(st->literal);
	if (off < len && rc == 0)
		rc = -1;
	return rc;
}

/*
 * A header block of a direction whose dynamic table is not known: every
 * representation that needs no table (static-table entries, literals) is
 * decoded by rewriting it as one that is not indexed; the others, and
 * names from the dynamic table, are unknown. Return: how many fields were
 * unknown (a :method or :path among them makes the request unknown).
 */
static int decode_literals(struct h2_state *st, struct h2_stream *s, bool request,
			   const uint8_t *in, size_t len, bool *names_known)
{
	const uint8_t *p = in, *end = in + len;
	int unknown = 0;
	uint8_t rep[16];

	*names_known = true;
	while (p < end) {
		const uint8_t *start = p;
		uint8_t b = *p;
		int64_t idx;

		if (b & 0x80) { /* indexed field */
			idx = hpack_int(&p, end, 7);
			if (idx < 0)
				goto broken;
			if (idx >= 1 && idx <= 61)
				literal_field(st, s, request, start, p - start);
			else
				unknown++;
			continue;
		}
		if ((b & 0xe0) == 0x20) { /* dynamic table size update */
			if (hpack_int(&p, end, 5) < 0)
				goto broken;
			continue;
		}
		idx = hpack_int(&p, end, (b & 0xc0) == 0x40 ? 6 : 4);
		if (idx < 0)
			goto broken;
		if (idx == 0) {
			const uint8_t *name = p;

			if (hpack_skip_string(&p, end))
				goto broken;
			if (hpack_skip_string(&p, end))
				goto broken;
			/* as "literal without indexing, new name" */
			{
				size_t n = p - name;
				uint8_t *buf = malloc(n + 1);

				if (!buf)
					goto broken;
				buf[0] = 0x00;
				memcpy(buf + 1, name, n);
				if (literal_field(st, s, request, buf, n + 1))
					unknown++;
				free(buf);
			}
			continue;
		}
		{
			const uint8_t *value = p;
			size_t n, hlen;
			uint8_t *buf;

			if (hpack_skip_string(&p, end))
				goto broken;
			if (idx > 61) {
				unknown++; /* a name from the dynamic table */
				continue;
			}
			/* as "literal without indexing, indexed name" (4-bit prefix) */
			if (idx < 15) {
				rep[0] = idx;
				hlen = 1;
			} else {
				rep[0] = 0x0f;
				rep[1] = idx - 15;
				hlen = 2;
			}
			n = p - value;
			buf = malloc(hlen + n);
			if (!buf)
				goto broken;
			memcpy(buf, rep, hlen);
			memcpy(buf + hlen, value, n);
			if (literal_field(st, s, request, buf, hlen + n))
				unknown++;
			free(buf);
		}
	}
	if (request && (!s->method[0] || !s->path[0]))
		*names_known = false;
	return unknown;
broken:
	*names_known = false;
	return unknown + 1;
}

/* Feed a whole header block to @d's inflater. Return: 0, or -1 when the
 * block does not decode (the direction's table is no longer known). */
static int decode_block(struct h2_dir *d, struct h2_stream *s, bool request, const uint8_t *in,
			size_t len)
{
	for (;;) {
		nghttp2_nv nv;
		int flags = 0;
		ssize_t n = nghttp2_hd_inflate_hd2(d->inflater, &nv, &flags, in, len, 1);

		if (n < 0)
			return -1;
		in += n;
		len -= n;
		if ((flags & NGHTTP2_HD_INFLATE_EMIT) && s)
			on_field(s, request, (const char *)nv.name, nv.namelen,
				 (const char *)nv.value, nv.valuelen);
		if (flags & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(d->inflater);
			return 0;
		}
		if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && len == 0)
			return -1;
	}
}

/* A whole header block of direction @inbound on stream @id. */
static void on_block(struct h2_state *st, struct h2_conn *c, bool inbound, struct h2_dir *d,
		     const struct sonde_txn_event *ev)
{
	uint32_t id = d->block_stream;
	struct h2_stream *s = d->block_push ? NULL : stream_find(c, id);
	static const uint8_t empty[1];
	const uint8_t *block = d->block_len ? d->block : empty; /* an empty block has no buffer */
	struct h2_stream scratch, push;
	bool request = false, names_known = true;

	if (!d->block_push && !s) {
		/* The first HEADERS of a stream: its request. */
		s = stream_new(st, c, id);
		if (!s) {
			s = &scratch; /* out of memory: decoded, not kept */
			memset(s, 0, sizeof(*s));
		}
		s->server = inbound;
		s->start_ns = ev->start_ns;
		s->tid = ev->tid;
		s->parent = ev->parent;
		request = true;
	} else if (s) {
		request = s->server == inbound; /* request trailers: nothing we use */
		if (request) {
			memset(&scratch, 0, sizeof(scratch));
			s = &scratch;
		}
	}
	if (d->unknown) {
		if (!s) { /* a push promise: nothing of it is used */
			memset(&push, 0, sizeof(push));
			s = &push;
		}
		decode_literals(st, s, request, block, d->block_len, &names_known);
	} else if (decode_block(d, s, request, block, d->block_len)) {
		log_debug("http2: HPACK block does not decode");
		d->unknown = true;
		names_known = false;
	}
	if (!s || s == &scratch || s == &push)
		goto done;
	if (request) {
		s->req_known = names_known;
		if (s->server && st->ctx->streams) {
			struct txn_id self = { .conn_id = c->conn_id, .txn_seq = id };

			streamlink__begin(st->ctx->streams, c->pid, &self, s->tid, s->start_ns,
					  names_known);
		}
		if (d->block_flags & FL_END_STREAM)
			s->req_end_ns = ev->start_ns;
	} else {
		s->resp_headers = true;
		s->resp_tid = ev->tid;
		if (d->block_flags & FL_END_STREAM)
			stream_end(st, c, s, ev, NULL);
	}
done:
	d->block_open = false;
	d->block_len = 0;
}

static int buf_append(uint8_t **buf, size_t *len, size_t *cap, const uint8_t *p, size_t n,
		      size_t max)
{
	if (!n)
		return 0;
	if (*len + n > max)
		return -1;
	if (*len + n > *cap) {
		size_t ncap = *cap ? *cap : 256;
		uint8_t *b;

		while (ncap < *len + n)
			ncap *= 2;
		b = realloc(*buf, ncap);
		if (!b)
			return -1;
		*buf = b;
		*cap = ncap;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
	return 0;
}

/* The direction lost bytes of its header blocks: literals only from here. */
#define dir_lost(d, line) dir_lost_at(d, line)
static void dir_lost_at(struct h2_dir *d, int line)
{
	if (!d->unknown)
		log_debug("http2: header state lost (http2.c:%d)", line);
	d->unknown = true;
	d->block_open = false;
	d->block_len = 0;
}

/* ---- frames ---- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A frame whose forwarded payload is all here. */
static void on_frame(struct h2_state *st, struct h2_conn *c, bool inbound,
		     const struct sonde_txn_event *ev)
{
	struct h2_dir *d = &c->dir[inbound];
	const uint8_t *p = d->fbuf;
	size_t n = d->fhave;
	struct h2_stream *s;

	switch (d->ftype) {
	case F_DATA:
		s = stream_find(c, d->fstream);
		if (!s)
			return;
		if (s->server == inbound) {
			s->req_body += d->flen;
			if (d->fflags & FL_END_STREAM)
				s->req_end_ns = ev->start_ns;
		} else {
			s->resp_body += d->flen;
			s->resp_tid = ev->tid;
			if (d->fflags & FL_END_STREAM)
				stream_end(st, c, s, ev, NULL);
		}
		return;
	case F_HEADERS:
	case F_PUSH_PROMISE: {
		size_t pad = 0, skip = 0;

		if (d->block_open)
			dir_lost(d, 635); /* a block cut short */
		if (d->fflags & FL_PADDED) {
			if (n < 1)
				goto bad;
			pad = p[0];
			skip = 1;
		}
		if (d->ftype == F_HEADERS && (d->fflags & FL_PRIORITY))
			skip += 5;
		if (d->ftype == F_PUSH_PROMISE)
			skip += 4;
		if (skip + pad > n)
			goto bad;
		d->block_len = 0;
		d->block_open = true;
		d->block_push = d->ftype == F_PUSH_PROMISE;
		d->block_stream = d->fstream;
		d->block_flags = d->fflags;
		if (n > skip + pad && buf_append(&d->block, &d->block_len, &d->block_cap, p + skip,
						 n - skip - pad, H2_BLOCK_MAX))
			goto bad;
		break;
	}
	case F_CONTINUATION:
		if (!d->block_open || d->block_stream != d->fstream)
			goto bad;
		if (buf_append(&d->block, &d->block_len, &d->block_cap, p, n, H2_BLOCK_MAX))
			goto bad;
		break;
	case F_RST_STREAM: {
		uint32_t code = n >= 4 ? be32(p) : 2;
		char why[48];

		s = stream_find(c, d->fstream);
		if (!s)
			return;
		snprintf(why, sizeof(why), "RST_STREAM %s",
			 code < sizeof(rst_names) / sizeof(rst_names[0]) ? rst_names[code] : "unknown");
		if (s->grpc_status < 0)
			s->grpc_status = grpc_status_of_rst(code);
		stream_end(st, c, s, ev, why);
		return;
	}
	case F_GOAWAY: {
		uint32_t last = n >= 4 ? be32(p) & 0x7fffffff : 0;

		/* Streams past the last one the sender will process never will. */
		for (int i = 0; i < H2_STREAMS; i++) {
			s = c->streams[i];
			if (s && s->id > last) {
				if (s->grpc_status < 0)
					s->grpc_status = 14; /* UNAVAILABLE */
				stream_end(st, c, s, ev, "GOAWAY");
			}
		}
		return;
	}
	default:
		return;
	}
	if ((d->fflags & FL_END_HEADERS) && d->block_open)
		on_block(st, c, inbound, d, ev);
	return;
bad:
	dir_lost(d, 699);
}

/* Bytes of a frame's payload that the kernel forwards. */
static uint32_t forwarded_len(uint8_t type, uint32_t len)
{
	switch (type) {
	case F_HEADERS:
	case F_PUSH_PROMISE:
	case F_CONTINUATION:
		return len;
	case F_RST_STREAM:
		return len < 4 ? len : 4;
	case F_GOAWAY:
		return len < 8 ? len : 8;
	}
	return 0;
}

/* The entries of one event, in order. */
static void on_entries(struct h2_state *st, struct h2_conn *c, bool inbound,
		       const struct sonde_txn_event *ev)
{
	struct h2_dir *d = &c->dir[inbound];
	const uint8_t *p = ev->data, *end = ev->data + ev->req_len;

	while (end - p >= SONDE_H2_ENTRY_HDR) {
		uint32_t len = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
		uint8_t type = p[3];
		uint32_t piece = (uint32_t)p[9] << 8 | p[10];


		p += SONDE_H2_ENTRY_HDR;
		if (piece > end - p) {
			dir_lost(d, 733);
			return;
		}
		if (type == SONDE_H2_PIECE) {
			if (!d->fopen || d->fhave + piece > d->fwant) {
				dir_lost(d, 738);
				d->fopen = false;
			} else if (!buf_append(&d->fbuf, &d->fhave, &d->fcap, p, piece,
					       H2_BLOCK_MAX)) {
				if (d->fhave == d->fwant) {
					d->fopen = false;
					on_frame(st, c, inbound, ev);
				}
			} else {
				dir_lost(d, 747);
				d->fopen = false;
			}
			p += piece;
			continue;
		}
		if (d->fopen)
			dir_lost(d, 754); /* the last frame's payload never came whole */
		d->ftype = type;
		d->fflags = p[-7];
		d->fstream = be32(p - 6) & 0x7fffffff;
		d->flen = len;
		d->fwant = forwarded_len(type, len);
		d->fhave = 0;
		d->fopen = true;
		if (piece > d->fwant || buf_append(&d->fbuf, &d->fhave, &d->fcap, p, piece,
						   H2_BLOCK_MAX)) {
			dir_lost(d, 764);
			d->fopen = false;
		} else if (d->fhave == d->fwant) {
			d->fopen = false;
			on_frame(st, c, inbound, ev);
		}
		p += piece;
	}
	if (p != end)
		dir_lost(d, 773);
}

/* The connection ended: what is still open ends with it, in error; or
 * the kernel lost its frames (@lost): what is open is dropped, counted. */
static void conn_close(struct h2_state *st, struct h2_conn *c, const struct sonde_txn_event *ev,
		       bool lost)
{
	for (int i = 0; i < H2_STREAMS; i++) {
		if (!c->streams[i])
			continue;
		if (lost) {
			st->lost++;
			stream_free(st, c, c->streams[i], true);
		} else {
			stream_end(st, c, c->streams[i], ev, "connection closed");
		}
	}
	for (int i = 0; i < H2_CONNS; i++)
		if (st->conns[i] == c)
			st->conns[i] = NULL;
	if (st->last == c)
		st->last = NULL;
	conn_free(st, c);
}

/* The HTTP/1.1 request that upgraded the connection to h2c (its 101 in
 * the same event): stream 1, its request whole, its response to come. */
static void on_upgrade(struct h2_state *st, struct h2_conn *c, const struct sonde_txn_event *ev)
{
	size_t len = ev->req_len < SONDE_REQ_CAP ? ev->req_len : SONDE_REQ_CAP;
	struct http1_request req;
	struct h2_stream *s;

	if (http1_parse_request(ev->data, len, &req)) {
		st->lost++;
		return;
	}
	s = stream_find(c, 1);
	if (!s)
		s = stream_new(st, c, 1);
	if (!s)
		return;
	s->server = ev->role == SONDE_ROLE_SERVER;
	s->req_known = true;
	s->start_ns = ev->start_ns;
	s->req_end_ns = ev->req_end_ns;
	s->tid = ev->tid;
	s->parent = ev->parent;
	str_copy(s->method, sizeof(s->method), req.method);
	str_copy(s->path, sizeof(s->path), req.path);
	str_copy(s->authority, sizeof(s->authority), req.host);
	str_copy(s->traceparent, sizeof(s->traceparent), req.traceparent);
	/* A body only with a length or chunked coding (RFC 9112 6.3). */
	if (req.content_length >= 0)
		s->req_body = req.content_length;
	else if (req.chunked)
		s->req_body = http1_body_size(ev->req_bytes, req.head_len, -1);
	/* Served like any stream: calls made meanwhile may be its children. */
	if (s->server && st->ctx->streams) {
		struct txn_id self = { .conn_id = c->conn_id, .txn_seq = 1 };

		streamlink__begin(st->ctx->streams, c->pid, &self, s->tid, s->start_ns, true);
	}
}

static int http2_decode_each(void *state, const struct sonde_txn_event *ev,
			     const struct decode_ctx *ctx, decode_emit_fn emit, void *arg)
{
	struct h2_state *st = state;
	bool inbound = ev->flags & SONDE_EVF_H2_INBOUND;
	struct h2_conn *c;

	st->ctx = ctx;
	st->now_ns = ev->start_ns;
	st->emit = emit;
	st->emit_arg = arg;
	st->lost = 0;
	if (ev->flags & SONDE_EVF_H2_CLOSE) {
		c = conn_find(st, ev->conn_id, false, false);
		if (c) {
			memcpy(c->tmpl, ev, SONDE_TXN_EVENT_MIN_SIZE);
			c->pid = ev->hdr.tgid;
			conn_close(st, c, ev, ev->flags & SONDE_EVF_H2_GAP);
		}
		return st->lost;
	}
	/* A connection first heard of with a gap was found mid-stream. */
	c = conn_find(st, ev->conn_id, true, ev->flags & SONDE_EVF_H2_GAP);
	if (!c)
		return 1;
	memcpy(c->tmpl, ev, SONDE_TXN_EVENT_MIN_SIZE);
	c->pid = ev->hdr.tgid;
	if (ev->flags & SONDE_EVF_H2_UPGRADE) {
		on_upgrade(st, c, ev);
		return st->lost;
	}
	if (ev->flags & SONDE_EVF_H2_GAP)
		dir_lost(&c->dir[inbound], 0);
	on_entries(st, c, inbound, ev);
	return st->lost;
}

static void *http2_state_new(void)
{
	struct h2_state *st = calloc(1, sizeof(*st));

	if (st && nghttp2_hd_inflate_new(&st->literal)) {
		free(st);
		return NULL;
	}
	return st;
}

static void http2_state_free(void *state)
{
	struct h2_state *st = state;

	if (!st)
		return;
	for (int i = 0; i < H2_CONNS; i++)
		conn_free(NULL, st->conns[i]);
	nghttp2_hd_inflate_del(st->literal);
	free(st);
}

const struct decoder_ops http2_decoder = {
	.name = "http2",
	.state_new = http2_state_new,
	.state_free = http2_state_free,
	.decode_each = http2_decode_each,
};
