/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MySQL / MariaDB client protocol on the kernel side, client connections
 * only. The kernel frames, user space decodes (src/decode/mysql.c):
 * - the server's greeting (protocol 10, read by the client first) is a
 *   transaction of its own with no request: user space learns the server
 *   (MySQL or MariaDB) from its version string;
 * - otherwise a transaction is a command the client writes (COM_QUERY,
 *   COM_STMT_PREPARE, COM_STMT_EXECUTE, ..., or a handshake response) and
 *   what it reads back;
 * - the response ends: for one packet (OK 0x00, ERR 0xff, any packet of
 *   the handshake, a prepare with no parameters nor columns) at its
 *   length; for a result set at a read whose last bytes are its final EOF
 *   (or OK with 0xfe) packet without SERVER_MORE_RESULTS_EXISTS; else at
 *   the next command or the close.
 * Classified by bytes, not port: the greeting inbound, or a command packet
 * outbound (3-byte length, sequence 0, command byte).
 */
#ifndef SONDE_PROTO_MYSQL_BPF_H
#define SONDE_PROTO_MYSQL_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sonde/abi.h"

#define MYSQL_COM_QUIT 0x01
#define MYSQL_COM_QUERY 0x03
#define MYSQL_COM_STMT_PREPARE 0x16
#define MYSQL_COM_STMT_EXECUTE 0x17
#define MYSQL_COM_STMT_CLOSE 0x19
#define MYSQL_MORE_RESULTS 0x08

enum mysql_class {
	MYSQL_NOT = 0,
	MYSQL_GREETING = 1, /* server greeting, protocol 10 */
	MYSQL_COMMAND = 2,  /* a command packet from the client */
};

static __always_inline __u32 mysql_le24(const __u8 *p)
{
	return (__u32)p[0] | (__u32)p[1] << 8 | (__u32)p[2] << 16;
}

static __always_inline bool mysql_digit(__u8 b)
{
	return b >= '0' && b <= '9';
}

/* What the first bytes p[0..len) of a stream are (enum mysql_class). */
static __always_inline int mysql_classify(const __u8 *p, __u32 len)
{
	__u32 l;

	if (len < 6)
		return MYSQL_NOT;
	l = mysql_le24(p);
	if (p[3] != 0 || l < 2)
		return MYSQL_NOT;
	if (p[4] == 10)
		return l >= 30 && l <= 1024 && mysql_digit(p[5]) &&
				       (p[6] == '.' || mysql_digit(p[6]))
			       ? MYSQL_GREETING
			       : MYSQL_NOT;
	/* a command: the chunk holds the packet whole, or as much as we copy */
	if (4 + l != len && len < SONDE_REQ_CAP)
		return MYSQL_NOT;
	if (p[4] == MYSQL_COM_QUERY || p[4] == MYSQL_COM_STMT_PREPARE)
		return p[5] >= 0x09 && p[5] < 0x7f ? MYSQL_COMMAND : MYSQL_NOT;
	if (p[4] == MYSQL_COM_STMT_EXECUTE && l >= 10)
		return MYSQL_COMMAND;
	return MYSQL_NOT;
}

/*
 * Does a response whose first packet starts with h[0..13) (length,
 * sequence, payload) fit in that one packet? @cmd is the command it
 * answers (0 for a handshake packet). Return: the response's total length
 * when it is one packet, 0 when more packets follow.
 */
static __always_inline __u32 mysql_single_packet(const __u8 *h, __u8 cmd)
{
	__u32 total = 4 + mysql_le24(h);

	if (!cmd)
		return total; /* the handshake goes one packet at a time */
	if (h[4] == 0xff)
		return total;
	if (h[4] != 0x00)
		return 0; /* a result set */
	if (cmd == MYSQL_COM_STMT_PREPARE)
		/* OK of a prepare: columns then parameters definitions follow */
		return (h[9] | h[10] | h[11] | h[12]) ? 0 : total;
	return total;
}

/* Are the last bytes t[0..11) of a read the end of a result set: an EOF
 * packet (length 5) in t[2..11), or an OK packet with header 0xfe
 * (length 7, CLIENT_DEPRECATE_EOF) in t[0..11), with no more results? */
static __always_inline bool mysql_result_end(const __u8 *t, __u32 have)
{
	if (have >= 9 && t[2] == 5 && t[3] == 0 && t[4] == 0 && t[6] == 0xfe &&
	    !(t[9] & MYSQL_MORE_RESULTS))
		return true;
	if (have >= 11 && t[0] == 7 && t[1] == 0 && t[2] == 0 && t[4] == 0xfe &&
	    !(t[7] & MYSQL_MORE_RESULTS))
		return true;
	return false;
}

/* Is p[0..len) the client's SSL request (sequence 1, a 32-byte payload
 * with CLIENT_SSL)? TLS follows it on the connection. */
static __always_inline bool mysql_is_ssl_request(const __u8 *p, __u32 len)
{
	return len >= 9 && mysql_le24(p) == 32 && p[3] == 1 && (p[5] & 0x08);
}

#ifndef SONDE_PROTO_PARSERS_ONLY
#include "conn.bpf.h"

/* The client writes a command (or a handshake packet). */
__attribute__((noinline)) int mysql_request_bytes(struct conn_state *c, struct span_buf *s,
						   __u64 n, __u64 id, __u64 now)
{
	if (!c || !s)
		return 0;
	if (c->phase == PHASE_RESPONSE)
		txn_emit(c, SONDE_END_NEXT_REQUEST);
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
	if (mysql_is_ssl_request(c->ev.data, c->ev.req_len)) {
		c->ignored = 1; /* TLS from here on */
		c->ev.req_len = 0;
		return 0;
	}
	if (c->ev.req_len >= 5 && c->ev.data[3] == 0 &&
	    (c->ev.data[4] == MYSQL_COM_QUIT || c->ev.data[4] == MYSQL_COM_STMT_CLOSE)) {
		/* nothing answers these; a STMT_CLOSE is kept when a
		 * command follows in the same write (the decoder skips it) */
		if (c->ev.data[4] == MYSQL_COM_QUIT || n <= 9) {
			c->ev.req_len = 0;
			return 0;
		}
	}
	txn_begin(c, id, now);
	c->ev.req_bytes = n;
	c->ev.req_end_ns = now;
	return 0;
}

/* The client reads: the greeting, or the answer to its command. */
__attribute__((noinline)) int mysql_response_bytes(struct conn_state *c, struct call_args *a,
						    struct span_buf *s, __u64 n, __u64 id)
{
	__u8 h[16] = {}, t[16] = {};
	__u64 now;

	if (!c || !a || !s)
		return 0;
	now = bpf_ktime_get_ns();
	if (c->phase == PHASE_IDLE) {
		/* The greeting: a transaction with no request, for the decoder. */
		if (c->ev.txn_seq != 0 || !s->len || s->len < 13 ||
		    bpf_probe_read_user(h, 13, (void *)s->base) || mysql_classify(h, 13) != MYSQL_GREETING)
			return 0;
		txn_begin(c, id, now);
		c->ev.req_len = 0;
		c->ev.req_bytes = 0;
		txn_respond(c);
		c->ev.resp_bytes = n;
		c->ev.resp_tid = (__u32)id;
		c->ev.resp_len = append_resp(&c->ev, s);
		c->ev.end_ns = now;
		txn_emit(c, SONDE_END_FRAMED);
		return 0;
	}
	if (c->phase == PHASE_REQUEST) {
		__u8 cmd = 0;

		txn_respond(c);
		if (c->ev.req_len >= 5 && c->ev.data[3] == 0)
			cmd = c->ev.data[4];
		if (c->ev.req_len >= 5 && c->ev.data[3] == 0 && cmd == MYSQL_COM_STMT_CLOSE &&
		    c->ev.req_len >= 14 && c->ev.data[12] == 0)
			cmd = c->ev.data[13]; /* the command after a STMT_CLOSE */
		c->resp_expected = 0;
		/* bytes of the first packet not read stay 0: a packet shorter
		 * than 13 bytes is no prepare OK, whose payload has 12 */
		if ((s->len >= 13 && !bpf_probe_read_user(h, 13, (void *)s->base)) ||
		    (s->len >= 5 && s->len < 13 && !bpf_probe_read_user(h, 5, (void *)s->base)))
			c->resp_expected = mysql_single_packet(h, cmd);
	}
	c->ev.resp_bytes += n;
	c->ev.resp_tid = (__u32)id;
	if (s->len && c->ev.resp_len < SONDE_RESP_CAP)
		c->ev.resp_len += append_resp(&c->ev, s);
	c->ev.end_ns = now;
	if (c->resp_expected) {
		if (c->ev.resp_bytes >= c->resp_expected)
			txn_emit(c, SONDE_END_FRAMED);
		return 0;
	}
	if (n >= 11 && !read_tail(a, n, t, 11) && mysql_result_end(t, 11))
		txn_emit(c, SONDE_END_FRAMED);
	else if (n == 9 && !read_tail(a, n, t + 2, 9) && mysql_result_end(t, 9))
		txn_emit(c, SONDE_END_FRAMED);
	return 0;
}

static __always_inline void mysql_on_data(struct conn_state *c, struct call_args *a,
					  struct span_buf *s, __u64 n, bool request_dir, __u64 id)
{
	if (c->ev.role != SONDE_ROLE_CLIENT) {
		c->ignored = 1; /* a server's side: not followed */
		return;
	}
	if (request_dir)
		mysql_request_bytes(c, s, n, id, bpf_ktime_get_ns());
	else
		mysql_response_bytes(c, a, s, n, id);
}
#endif /* SONDE_PROTO_PARSERS_ONLY */

#endif /* SONDE_PROTO_MYSQL_BPF_H */
