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

/* The protocol whose request these first bytes are, or UNKNOWN. */
static __always_inline __u8 proto_classify(const __u8 *head, __u32 len)
{
	if (http1_classify(head, len))
		return SONDE_PROTO_HTTP1;
	return SONDE_PROTO_UNKNOWN;
}

/* Bytes of a classified connection, to its protocol. */
static __always_inline void proto_on_data(struct conn_state *c, struct call_args *a,
					  struct span_buf *s, __u64 n, bool request_dir, __u64 id)
{
	switch (c->ev.proto) {
	case SONDE_PROTO_HTTP1:
		http1_on_data(c, a, s, n, request_dir, id);
		break;
	}
}

/*
 * A connection whose protocol is not known yet (found mid-stream, or its
 * first bytes): learn the protocol and, when the connection was not seen
 * opening, the role from the first chunk that tells. A request read is a
 * server's, a request written a client's. After MIDSTREAM_PROBES chunks
 * that tell nothing, the connection is left alone.
 */
static __always_inline int conn_classify(struct conn_state *c, struct span_buf *s, bool inbound)
{
	__u8 head[8] = {};
	__u32 len = s->len < sizeof(head) ? s->len : sizeof(head);
	__u8 proto;

	if (len == sizeof(head) ? bpf_probe_read_user(head, sizeof(head), (void *)s->base)
				: (len == 0 || bpf_probe_read_user(head, len & 7, (void *)s->base)))
		len = 0;
	proto = proto_classify(head, len);
	if (proto != SONDE_PROTO_UNKNOWN) {
		c->ev.proto = proto;
		if (c->ev.role == SONDE_ROLE_UNKNOWN) {
			c->ev.role = inbound ? SONDE_ROLE_SERVER : SONDE_ROLE_CLIENT;
			if (!inbound)
				client_tuple_add(c);
		}
		return 0;
	}
	/* A piece too small to judge (a 1-byte read) is no evidence. The
	 * first request-direction bytes of a connection seen opening tell at
	 * once; one found mid-stream gets a few chunks. */
	if (len >= 4 && (--c->probes_left == 0 ||
			 (c->ev.role != SONDE_ROLE_UNKNOWN &&
			  (c->ev.role == SONDE_ROLE_SERVER) == inbound))) {
		counter_add(SONDE_CNT_NOT_HTTP, 1);
		c->ignored = 1;
	}
	return -1;
}

#endif /* SONDE_PROTOCOLS_BPF_H */
