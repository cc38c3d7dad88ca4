/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One connection as the kernel side follows it, whatever fed its bytes
 * (the socket tracepoints now, TLS uprobes later) and whatever protocol it
 * carries: the state lives in the socket's own storage (BPF_MAP_TYPE_SK_STORAGE),
 * so it is found from the struct sock whichever descriptor, process or
 * thread moved the bytes, and it is freed with the socket.
 *
 * This file holds the protocol-independent part: the state, the
 * transaction being assembled (a struct sonde_txn_event), how a transaction
 * begins, is emitted and reset, and where a syscall's bytes are in user
 * memory. Protocols (proto_<name>.bpf.h) classify and frame; protocols.bpf.h
 * is the registry that routes bytes to them.
 */
#ifndef SONDE_CONN_BPF_H
#define SONDE_CONN_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "sonde/abi.h"
#include "maps.bpf.h"
#include "sock.bpf.h"

enum conn_phase {
	PHASE_IDLE = 0,	    /* between transactions */
	PHASE_REQUEST = 1,  /* request bytes are flowing */
	PHASE_RESPONSE = 2, /* response bytes are flowing */
};

/* A server connection's other end, as far as the linker knows. */
enum peer_state {
	PEER_UNKNOWN = 0, /* not looked up yet */
	PEER_NONE = 1,	  /* no traced client at the other end when last looked */
	PEER_TRACED = 2,  /* a traced client's connection (client_tuples) */
};

enum conn_upgrade {
	UPGRADE_NONE = 0,
	UPGRADE_OTHER = 1, /* to a protocol not followed (WebSocket, ...): the connection is left */
	UPGRADE_H2C = 2,   /* to HTTP/2 in clear (RFC 7540 3.2): followed as HTTP/2 */
};

/* Per-connection state. `ev` is the transaction being assembled, emitted
 * as is when it completes; the rest drives the state machine. */
struct conn_state {
	struct sonde_txn_event ev;
	__u64 resp_expected; /* total response wire bytes, 0 when unknown */
	__u8 phase;	     /* enum conn_phase */
	__u8 chunked;	     /* response uses chunked transfer coding */
	__u8 probes_left;    /* chunks left to look at before giving up on classifying */
	__u8 counted;	     /* this server transaction is counted in flight */
	__u8 connecting;     /* client: SYN sent, not yet established */
	__u8 peer_state;     /* server: enum peer_state */
	__u8 thread_rule;    /* the process may link by thread: count requests per thread */
	__u8 ignored;	     /* no protocol recognised: later bytes are skipped */
	__u8 head_done;	     /* response head seen whole (or given up on) */
	__u8 finished;	     /* the connection ended: nothing more is emitted */
	__u8 upgrade;	     /* the response switches protocols (HTTP 101): enum conn_upgrade */
	__u8 held_dir;	     /* unclassified bytes held in ev.data: 1 read, 2 written */
	__u8 tls_ready;	     /* TLS: its plaintext state was made for this connection */
	__u8 _pad[3];
	/* server: the traced client's transaction after the one just emitted,
	 * the parent of a request pipelined behind it (0: none) */
	__u64 peer_next_conn;
	__u32 peer_next_seq;
	/* bytes after a 101's head in the I/O that ended it: h2c's first frames */
	__u32 upgrade_rest;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct conn_state);
} conns SEC(".maps");

#include "link.bpf.h"

/* How many chunks of a connection found mid-stream we look at before
 * deciding it carries no protocol we follow. */
#define MIDSTREAM_PROBES 4

/* The state of @sk, created (zeroed) when @create and absent. */
static __always_inline struct conn_state *conn_of(struct sock *sk, bool create)
{
	return bpf_sk_storage_get(&conns, sk, 0, create ? BPF_SK_STORAGE_GET_F_CREATE : 0);
}

/* Whether the process traced as @tgid may link by thread (not Go, not a
 * server seen answering on other threads): looked up when the connection's
 * process changes, not per transaction. */
static __always_inline void conn_set_owner(struct conn_state *c, __u32 tgid)
{
	struct sonde_traced_proc *tp;

	if (c->ev.hdr.tgid == tgid && c->ev.conn_id)
		return;
	tp = bpf_map_lookup_elem(&traced, &tgid);
	c->ev.hdr.tgid = tgid;
	c->thread_rule = tp && !(tp->flags & SONDE_PROC_NO_THREAD_RULE);
}

/* A connection Sonde starts to follow: by accept or connect (role known,
 * @start_ns its time) or by its first bytes (role learnt from them). */
static __always_inline struct conn_state *conn_new(struct sock *sk, __u32 tgid, __u8 role,
						   __u64 start_ns)
{
	struct conn_state *c = conn_of(sk, true);

	if (!c) {
		counter_add(SONDE_CNT_CONN_MAP_FULL, 1);
		return NULL;
	}
	if (c->ev.conn_id)
		return c; /* already followed (a second accept/connect report) */
	c->ev.hdr.kind = SONDE_EV_TXN;
	conn_set_owner(c, tgid);
	c->ev.role = role;
	c->ev.conn_start_ns = start_ns;
	/* Unique enough to tell connections apart for the life of Sonde. */
	c->ev.conn_id = (bpf_ktime_get_ns() << 6 | bpf_get_smp_processor_id()) | 1;
	c->probes_left = MIDSTREAM_PROBES;
	c->ev.resp_body_len = SONDE_LEN_UNKNOWN;
	sock_read_addrs(sk, &c->ev.local, &c->ev.peer);
	return c;
}

static __always_inline void txn_reset(struct conn_state *c)
{
	c->phase = PHASE_IDLE;
	c->chunked = 0;
	c->head_done = 0;
	c->upgrade = 0;
	c->resp_expected = 0;
	c->ev.req_bytes = 0;
	c->ev.resp_bytes = 0;
	c->ev.req_len = 0;
	c->ev.resp_len = 0;
	c->ev.error = 0;
	c->ev.flags = 0;
	c->ev.resp_head_len = 0;
	c->ev.resp_body_len = SONDE_LEN_UNKNOWN;
	__builtin_memset(&c->ev.parent, 0, sizeof(c->ev.parent));
	c->ev.txn_seq++;
}

static __always_inline void txn_emit(struct conn_state *c, __u8 reason)
{
	__u64 size = (__u64)c->ev.req_len + c->ev.resp_len;

	if (c->ev.role == SONDE_ROLE_SERVER) {
		server_txn_end(c);
		c->peer_next_conn = c->ev.parent.link == SONDE_LINK_PEER ? c->ev.parent.conn_id : 0;
		c->peer_next_seq = c->ev.parent.txn_seq + 1;
	}
	c->ev.end_reason = reason;
	/* Only the valid part of the data, which comes last. */
	asm volatile("" : "+r"(size));
	if (size > SONDE_DATA_CAP)
		size = SONDE_DATA_CAP;
	size += SONDE_TXN_EVENT_MIN_SIZE;
#ifdef SONDE_ABLATE_EMIT
	/* `make bench-ablation` only (bench/ablate.py): the record is not written. */
	counter_add(SONDE_CNT_TXN_EMITTED, 1);
#else
	if (bpf_ringbuf_output(&events, &c->ev, size, ringbuf_flags(size)))
		counter_add(SONDE_CNT_RINGBUF_FULL, 1);
	else
		counter_add(SONDE_CNT_TXN_EMITTED, 1);
#endif
	txn_reset(c);
	if (c->ev.role == SONDE_ROLE_CLIENT)
		client_progress(c);
}

/* A transaction's first request bytes: who, when, and its parent. The
 * first request of a connection waited since the accept or connect. */
static __always_inline void txn_begin(struct conn_state *c, __u64 id, __u64 now)
{
	__u32 tgid = id >> 32;

	conn_set_owner(c, tgid);
	c->phase = PHASE_REQUEST;
	c->ev.tid = (__u32)id;
	c->ev.start_ns = (c->ev.txn_seq == 0 && c->ev.conn_start_ns) ? c->ev.conn_start_ns : now;
	c->ev.req_end_ns = now;
	if (c->ev.role == SONDE_ROLE_SERVER)
		server_txn_begin(c);
	else
		client_parent(&c->ev.parent, tgid, c->ev.tid);
}

/* The response of the current transaction begins. */
static __always_inline void txn_respond(struct conn_state *c)
{
	c->phase = PHASE_RESPONSE;
	c->head_done = 0;
	c->ev.resp_len = 0;
	c->ev.resp_bytes = 0;
	c->ev.resp_head_len = 0;
	c->ev.resp_body_len = SONDE_LEN_UNKNOWN;
	if (c->ev.role == SONDE_ROLE_CLIENT)
		client_progress(c);
}

/* A client connection that never opened: a client span with the error. */
static __always_inline void conn_connect_failed(struct conn_state *c, struct sock *sk)
{
	c->ev.start_ns = c->ev.conn_start_ns;
	c->ev.req_end_ns = c->ev.end_ns = bpf_ktime_get_ns();
	c->ev.error = BPF_CORE_READ(sk, sk_err);
	/* The local end is known once the SYN went out; the peer stays set
	 * until the socket is disconnected, after this. */
	sock_read_addrs(sk, &c->ev.local, &c->ev.peer);
	txn_emit(c, SONDE_END_CONNECT_FAILED);
	c->finished = 1;
}

/* ---- where the bytes of one syscall are ---- */

/* A data syscall, from the registers saved at its entry: the tracepoints
 * fire inside it, so its arguments are still there. */
enum call_kind {
	CALL_NONE = 0,	  /* socket I/O with no user buffer we can read */
	CALL_READ,	  /* read, recvfrom: (fd, buf) */
	CALL_READV,	  /* readv: (fd, iov, iovcnt) */
	CALL_RECVMSG,	  /* recvmsg: (fd, msghdr) */
	CALL_WRITE,	  /* write, sendto: (fd, buf) */
	CALL_WRITEV,	  /* writev: (fd, iov, iovcnt) */
	CALL_SENDMSG,	  /* sendmsg: (fd, msghdr) */
	CALL_SENDFILE,	  /* sendfile, splice: bytes from a file, none in user memory */
};

struct call_args {
	__u64 buf; /* buffer, iovec array or msghdr, by kind */
	__u32 kind; /* enum call_kind */
	__u32 iovcnt;
};

/* The data syscall being handled. It goes through this map, not the
 * stack, so that its kind is a value the verifier does not know: checked
 * once for all kinds instead of once per kind a switch set. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct call_args);
} call_scratch SEC(".maps");

struct span_buf {
	__u64 base; /* user address of the first (or only) segment */
	__u64 len;  /* its length, at most the syscall's result */
};

#define MAX_IOV_SCAN 8

static __always_inline int iov_array(struct call_args *a, __u64 *iov, __u64 *cnt)
{
	struct user_msghdr msg;

	switch (a->kind) {
	case CALL_READV:
	case CALL_WRITEV:
		*iov = a->buf;
		*cnt = a->iovcnt;
		return 0;
	case CALL_RECVMSG:
	case CALL_SENDMSG:
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)a->buf))
			return -1;
		*iov = (__u64)msg.msg_iov;
		*cnt = msg.msg_iovlen;
		return 0;
	}
	return -1;
}

/* The first segment of the syscall's data. */
static __always_inline int first_segment(struct call_args *a, __u64 n, struct span_buf *s)
{
	struct iovec iov;
	__u64 arr, cnt;

	if (a->kind == CALL_READ || a->kind == CALL_WRITE) {
		s->base = a->buf;
		s->len = n;
		return 0;
	}
	if (iov_array(a, &arr, &cnt) || cnt == 0)
		return -1;
	if (bpf_probe_read_user(&iov, sizeof(iov), (void *)arr))
		return -1;
	s->base = (__u64)iov.iov_base;
	s->len = iov.iov_len < n ? iov.iov_len : n;
	return 0;
}

/* The last bytes of the syscall's data: @want (at most 15) bytes ending at byte @n. */
static __always_inline int read_tail(struct call_args *a, __u64 n, __u8 *dst, __u32 want)
{
	__u64 base = 0, end = 0;

	if (a->kind == CALL_READ || a->kind == CALL_WRITE) {
		base = a->buf;
		end = n;
	} else if (a->kind != CALL_SENDFILE && a->kind != CALL_NONE) {
		__u64 arr, cnt, seen = 0;
		struct iovec iov;

		if (iov_array(a, &arr, &cnt))
			return -1;
		for (int i = 0; i < MAX_IOV_SCAN; i++) {
			if (i >= cnt)
				break;
			if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(arr + i * sizeof(iov))))
				return -1;
			if (seen + iov.iov_len >= n) {
				base = (__u64)iov.iov_base;
				end = n - seen;
				break;
			}
			seen += iov.iov_len;
		}
	}
	if (end < want || want > 15 || bpf_probe_read_user(dst, want & 15, (void *)(base + end - want)))
		return -1;
	return 0;
}

/* One rung of append_data(): at an offset below SONDE_DATA_CAP - @lim, copy
 * at most @lim bytes, so that both bounds are constants the verifier sees. */
#define APPEND_RUNG(lim)                                                               \
	if (off < SONDE_DATA_CAP - (lim)) {                                            \
		if (len > (lim))                                                       \
			len = (lim);                                                   \
		asm volatile("" : "+r"(len));                                          \
		if (len > (lim) || len == 0 ||                                         \
		    bpf_probe_read_user(ev->data + off, len, (void *)s->base))         \
			return 0;                                                      \
		return len;                                                            \
	}

/*
 * Copy the start of @s into the event's data at @off, at most @room bytes.
 * The data ends the map value: nothing follows it for the verifier to allow
 * a copy past it, so the length is bounded by rungs (half the data, then a
 * quarter, ...): a copy at an offset below half the data (every request
 * prefix, and a response prefix after a request shorter than half) may
 * take all it needs; later pieces of a head come in smaller bites, and the
 * last 16 bytes are never filled.
 */
static __always_inline __u16 append_data(struct sonde_txn_event *ev, __u64 off, __u64 room,
					 struct span_buf *s)
{
	__u64 len = s->len < room ? s->len : room;

	asm volatile("" : "+r"(off));
	APPEND_RUNG(SONDE_DATA_CAP / 2)
	APPEND_RUNG(SONDE_DATA_CAP / 4)
	APPEND_RUNG(SONDE_DATA_CAP / 8)
	APPEND_RUNG(SONDE_DATA_CAP / 16)
	APPEND_RUNG(SONDE_DATA_CAP / 32)
	APPEND_RUNG(16)
	return 0;
}

/* Append to the request prefix (at the start of the data). */
static __always_inline __u16 append_req(struct sonde_txn_event *ev, struct span_buf *s)
{
	if (ev->req_len >= SONDE_REQ_CAP || ev->resp_len)
		return 0;
	return append_data(ev, ev->req_len, SONDE_REQ_CAP - ev->req_len, s);
}

/* The first bytes of a transaction's request, from offset 0. */
static __always_inline __u16 copy_req(struct sonde_txn_event *ev, struct span_buf *s)
{
	ev->resp_len = 0;
	return append_data(ev, 0, SONDE_REQ_CAP, s);
}

/* Append to the response prefix (right after the request prefix). */
static __always_inline __u16 append_resp(struct sonde_txn_event *ev, struct span_buf *s)
{
	__u32 req = ev->req_len, resp = ev->resp_len;

	if (req > SONDE_REQ_CAP || resp >= SONDE_RESP_CAP)
		return 0;
	return append_data(ev, req + resp, SONDE_RESP_CAP - resp, s);
}

#endif /* SONDE_CONN_BPF_H */
