/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PostgreSQL (protocol 3.0) on the kernel side, client connections only.
 * The kernel frames, user space decodes (src/decode/postgres.c):
 * - a transaction is what the client writes (a simple 'Q', or an extended
 *   batch Parse/Bind/Describe/Execute/Sync, the StartupMessage) up to the
 *   first answer, then what it reads;
 * - it ends at the read whose last six bytes are ReadyForQuery ('Z',
 *   length 5, status I/T/E), else at the next request or the close;
 * - an SSLRequest/GSSENCRequest answered 'S'/'G' makes the connection TLS
 *   or GSS encrypted: it is left alone; answered 'N', nothing is emitted
 *   and the StartupMessage follows in clear.
 * Classified by bytes, not port: a StartupMessage (length, 196608), an
 * encryption request (length 8, 80877103 or 80877104), or for connections
 * found mid-stream a frontend message ('Q', 'P', 'B') of plausible length.
 */
#ifndef SONDE_PROTO_POSTGRES_BPF_H
#define SONDE_PROTO_POSTGRES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sonde/abi.h"

#define PG_PROTO_V3 196608u
#define PG_SSL_REQUEST 80877103u
#define PG_GSS_REQUEST 80877104u
#define PG_MSG_MAX (1u << 24)

enum pg_class {
	PG_NOT = 0,
	PG_STARTUP = 1,	    /* StartupMessage, protocol 3.0 */
	PG_ENCRYPT_REQ = 2, /* SSLRequest or GSSENCRequest */
	PG_MESSAGE = 3,	    /* a frontend message (mid-stream) */
};

static __always_inline __u32 pg_be32(const __u8 *p)
{
	return (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
}

/* Whether @b may start a frontend message that follows another one. */
static __always_inline bool pg_frontend_type(__u8 b)
{
	return b == 'B' || b == 'C' || b == 'D' || b == 'E' || b == 'H' || b == 'P' ||
	       b == 'Q' || b == 'S';
}

/* What the first bytes p[0..len) of a client's stream are (enum pg_class).
 * p is readable up to SONDE_REQ_CAP bytes. */
static __always_inline int pg_classify(const __u8 *p, __u32 len)
{
	__u32 l, code;

	if (len < 6)
		return PG_NOT;
	if (len >= 8) {
		l = pg_be32(p);
		code = pg_be32(p + 4);
		if (l == 8 && (code == PG_SSL_REQUEST || code == PG_GSS_REQUEST))
			return len == 8 ? PG_ENCRYPT_REQ : PG_NOT;
		if (code == PG_PROTO_V3 && l > 8 && l <= 10000 && (len == l || len >= 256))
			return PG_STARTUP;
	}
	if (p[0] != 'Q' && p[0] != 'P' && p[0] != 'B')
		return PG_NOT;
	l = pg_be32(p + 1);
	if (l < 5 || l >= PG_MSG_MAX)
		return PG_NOT;
	if (p[0] == 'Q') {
		/* text, NUL-terminated at its end */
		if (p[5] < 0x09 || p[5] >= 0x7f)
			return PG_NOT;
		if (l < len)
			return p[l & (SONDE_REQ_CAP - 1)] == 0 ? PG_MESSAGE : PG_NOT;
		return len >= 64 ? PG_MESSAGE : PG_NOT;
	}
	/* Parse, Bind: another message follows, or the chunk ends there */
	if (l + 1 < len)
		return pg_frontend_type(p[(l + 1) & (SONDE_REQ_CAP - 1)]) ? PG_MESSAGE : PG_NOT;
	if (l + 1 == len)
		return PG_MESSAGE;
	return len >= 64 ? PG_MESSAGE : PG_NOT;
}

/* Is t[0..6) a ReadyForQuery message? */
static __always_inline bool pg_ready_for_query(const __u8 *t)
{
	return t[0] == 'Z' && t[1] == 0 && t[2] == 0 && t[3] == 0 && t[4] == 5 &&
	       (t[5] == 'I' || t[5] == 'T' || t[5] == 'E');
}

#ifndef SONDE_PROTO_PARSERS_ONLY
#include "conn.bpf.h"

static __always_inline bool pg_is_encrypt_request(const struct sonde_txn_event *ev)
{
	return ev->req_len == 8 && ev->data[0] == 0 && ev->data[3] == 8 && ev->data[4] == 0x04 &&
	       ev->data[5] == 0xd2 && ev->data[6] == 0x16 && (ev->data[7] == 0x2f || ev->data[7] == 0x30);
}

/* The client writes: a transaction's request, in as many writes as it takes. */
__attribute__((noinline)) int pg_request_bytes(struct conn_state *c, struct span_buf *s, __u64 n,
						__u64 id, __u64 now)
{
	if (!c || !s)
		return 0;
	if (c->phase == PHASE_RESPONSE)
		txn_emit(c, SONDE_END_NEXT_REQUEST); /* ReadyForQuery not seen (auth exchange) */
	if (c->phase == PHASE_REQUEST) {
		if (s->len)
			c->ev.req_len += append_req(&c->ev, s);
		c->ev.req_bytes += n;
		c->ev.req_end_ns = now;
		return 0;
	}
	if (!s->len)
		return 0;
	c->ev.req_len = copy_req(&c->ev, s);
	if (c->ev.req_len && c->ev.data[0] == 'X') {
		c->ev.req_len = 0; /* Terminate: nothing answers it */
		return 0;
	}
	txn_begin(c, id, now);
	c->ev.req_bytes = n;
	c->ev.req_end_ns = now;
	return 0;
}

/* The client reads: the answer, up to ReadyForQuery. */
__attribute__((noinline)) int pg_response_bytes(struct conn_state *c, struct call_args *a,
						 struct span_buf *s, __u64 n, __u64 id)
{
	__u8 t[16] = {};

	if (!c || !a || !s)
		return 0;
	if (c->phase == PHASE_IDLE)
		return 0; /* notices and notifications between transactions */
	if (c->phase == PHASE_REQUEST)
		txn_respond(c);
	c->ev.resp_bytes += n;
	c->ev.resp_tid = (__u32)id;
	if (s->len && c->ev.resp_len < SONDE_RESP_CAP)
		c->ev.resp_len += append_resp(&c->ev, s);
	c->ev.end_ns = bpf_ktime_get_ns();
	if (pg_is_encrypt_request(&c->ev)) {
		/* One byte: 'S' (TLS) or 'G' (GSS) follows, or 'N' (in clear). */
		if (c->ev.resp_len && c->ev.data[8] != 'N')
			c->ignored = 1;
		txn_reset(c);
		return 0;
	}
	if (n >= 6 && !read_tail(a, n, t, 6) && pg_ready_for_query(t))
		txn_emit(c, SONDE_END_FRAMED);
	return 0;
}

static __always_inline void pg_on_data(struct conn_state *c, struct call_args *a,
				       struct span_buf *s, __u64 n, bool request_dir, __u64 id)
{
	if (c->ev.role != SONDE_ROLE_CLIENT) {
		c->ignored = 1; /* a server's side: not followed */
		return;
	}
	if (request_dir)
		pg_request_bytes(c, s, n, id, bpf_ktime_get_ns());
	else
		pg_response_bytes(c, a, s, n, id);
}
#endif /* SONDE_PROTO_PARSERS_ONLY */

#endif /* SONDE_PROTO_POSTGRES_BPF_H */
