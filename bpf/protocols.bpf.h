/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The protocol registry of the kernel side: which protocol a connection's
 * first bytes announce, and where its later bytes go. A protocol lives in
 * its own header (proto_<name>.bpf.h: classify, frame, its state machine
 * over conn.bpf.h) and takes one line in each function below; nothing else
 * in the capture path knows protocols.
 */
#ifndef SONDE_PROTOCOLS_BPF_H
#define SONDE_PROTOCOLS_BPF_H

#include "conn.bpf.h"
#include "proto_http1.bpf.h"
#include "proto_postgres.bpf.h"
#include "proto_mysql.bpf.h"
#include "proto_tls.bpf.h"
#include "proto_http2.bpf.h"

/* The protocol whose request these first bytes are, or UNKNOWN. */
static __always_inline __u8 proto_classify(const __u8 *head, __u32 len)
{
	if (tls_classify(head, len) || tls_appdata(head, len))
		return SONDE_PROTO_TLS;
	if (h2_is_preface(head, len))
		return SONDE_PROTO_HTTP2;
	if (http1_classify(head, len))
		return SONDE_PROTO_HTTP1;
	if (pg_classify(head, len))
		return SONDE_PROTO_POSTGRES;
	if (mysql_classify(head, len))
		return SONDE_PROTO_MYSQL;
	if (h2_frames_plausible(head, len)) /* the weakest evidence: last */
		return SONDE_PROTO_HTTP2;
	return SONDE_PROTO_UNKNOWN;
}

/* Bytes of a classified connection, to its protocol. */
static __always_inline void proto_on_data(struct conn_state *c, struct call_args *a,
					  struct span_buf *s, __u64 n, bool request_dir, __u64 id)
{
	if (c->ev.proto == SONDE_PROTO_HTTP1) {
		http1_on_data(c, a, s, n, request_dir, id);
		if (c->ev.proto != SONDE_PROTO_HTTP2)
			return;
		/* A 101 to h2c ended in these bytes: the rest of them are frames. */
		h2_on_upgrade(c, n - c->upgrade_rest);
	}
	switch (c->ev.proto) {
	case SONDE_PROTO_POSTGRES:
		pg_on_data(c, a, s, n, request_dir, id);
		break;
	case SONDE_PROTO_MYSQL:
		mysql_on_data(c, a, s, n, request_dir, id);
		break;
	case SONDE_PROTO_HTTP2:
		h2_on_data(c, a, s, n, request_dir, id);
		break;
	}
}

/* A protocol whose socket bytes are not framed here: TLS, whose
 * plaintext comes from uprobes (tls.bpf.h). */
static __always_inline bool proto_is_opaque(__u8 proto)
{
	return proto == SONDE_PROTO_TLS;
}

/* Does the first message of @proto (at @head) say which end sent it? A
 * request does; a TLS application-data record (a connection found open)
 * does not: its plaintext will. */
static __always_inline bool proto_tells_role(__u8 proto, const __u8 *head, __u32 len)
{
	return !(proto == SONDE_PROTO_TLS && tls_appdata(head, len));
}

/* A classified connection ended. */
static __always_inline void proto_on_close(struct conn_state *c)
{
	if (c->ev.proto == SONDE_PROTO_HTTP2)
		h2_on_close(c);
}

/* Bytes that a classifier needs before it may say no. */
#define CLASSIFY_MIN 8

/*
 * A connection whose protocol is not known yet (found mid-stream, or its
 * first bytes): learn the protocol and, when the connection was not seen
 * opening, the role from the first bytes that tell. A request read is a
 * server's, a request written a client's. A head may come in pieces (a
 * client writing it a few bytes at a time, Go's 1-byte read): pieces in
 * one direction are held in the request prefix until there are enough to
 * judge. After MIDSTREAM_PROBES chunks that tell nothing (one, for the
 * first request bytes of a connection seen opening) it is left alone.
 *
 * Return: 0 when classified and this chunk is the protocol's to handle,
 * 1 when classified from held bytes (the transaction is begun here: the
 * chunk is in it), -1 when not classified.
 */
static __always_inline int conn_classify(struct conn_state *c, struct span_buf *s, bool inbound,
					 __u64 n, __u64 id)
{
	__u8 dir = inbound ? 1 : 2;
	bool held;
	__u8 proto;

	if (!s->len)
		return -1;
	if (c->held_dir != dir || !c->ev.req_len) {
		c->ev.req_len = copy_req(&c->ev, s);
		c->ev.req_bytes = n;
		c->held_dir = dir;
		held = false;
	} else {
		c->ev.req_len += append_req(&c->ev, s);
		c->ev.req_bytes += n;
		held = true;
	}
	proto = proto_classify(c->ev.data, c->ev.req_len);
	if (proto != SONDE_PROTO_UNKNOWN) {
		c->ev.proto = proto;
		c->held_dir = 0;
		if (c->ev.role == SONDE_ROLE_UNKNOWN &&
		    proto_tells_role(proto, c->ev.data, c->ev.req_len)) {
			c->ev.role = inbound ? SONDE_ROLE_SERVER : SONDE_ROLE_CLIENT;
			if (!inbound)
				client_tuple_add(c);
		}
		if (proto == SONDE_PROTO_HTTP2) {
			/* No transactions: every I/O from here is walked, this one too. */
			bool taken = h2_on_classified(c, inbound, held ? c->ev.req_bytes - n : 0);

			c->ev.req_len = 0;
			c->ev.req_bytes = 0;
			if (taken)
				return 0;
			c->ev.proto = SONDE_PROTO_UNKNOWN;
			return -1;
		}
		if (!held || proto_is_opaque(proto)) {
			c->ev.req_len = 0; /* the protocol takes the chunk as it came */
			c->ev.req_bytes = 0;
			return 0;
		}
		if ((c->ev.role == SONDE_ROLE_SERVER) != inbound) {
			c->ev.req_len = 0; /* a request going the wrong way: wait for one */
			c->ev.req_bytes = 0;
			return -1;
		}
		txn_begin(c, id, bpf_ktime_get_ns());
		return 1;
	}
	if (c->ev.req_len < CLASSIFY_MIN)
		return -1; /* too few bytes to judge: no evidence yet */
	c->ev.req_len = 0;
	c->held_dir = 0;
	if (--c->probes_left == 0 ||
	    (c->ev.role != SONDE_ROLE_UNKNOWN && (c->ev.role == SONDE_ROLE_SERVER) == inbound)) {
		counter_add(SONDE_CNT_NOT_HTTP, 1);
		c->ignored = 1;
	}
	return -1;
}

#endif /* SONDE_PROTOCOLS_BPF_H */
