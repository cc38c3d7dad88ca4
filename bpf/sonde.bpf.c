// SPDX-License-Identifier: Apache-2.0
/*
 * Sonde's kernel side: syscall tracepoints that follow the TCP connections
 * of traced processes and emit one ring-buffer event per completed HTTP/1.x
 * transaction, plus the process lifecycle events discovery needs.
 *
 * Everything happens at syscall exit, from the registers saved at entry:
 * one probe on the hot path, no per-call state between entry and exit.
 * Order of work: is the syscall one we follow (a switch), is the process
 * traced (a bit test), is the descriptor a known connection (one lookup),
 * and only then any copy. No kprobes or fentry: these run where only
 * tracepoints and uprobes do.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sonde/abi.h"
#include "maps.bpf.h"
#include "sock.bpf.h"
#include "http_frame.bpf.h"
#include "link.bpf.h"
#include "syscall_nr.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define EINPROGRESS 115
#define EALREADY 114
#define EISCONN 106
#define EINTR 4
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7
#define MSG_PEEK 2
#define SOL_SOCKET 1
#define SO_ERROR 4
#define MAX_IOV_SCAN 8
/* How many chunks of a connection found mid-stream we look at before
 * deciding it carries no HTTP/1 we can follow. */
#define MIDSTREAM_PROBES 4

/* ---- connection state ---- */

/* Deletes that keep fd_hint in step. */
static __always_inline void conns_del(struct conn_key *key)
{
	if (!bpf_map_delete_elem(&conns, key))
		fd_hint_add(key, -1);
}

static __always_inline void ignored_del(struct conn_key *key)
{
	if (!bpf_map_delete_elem(&ignored, key))
		fd_hint_add(key, -1);
}

static __always_inline void mark_ignored(struct conn_key *key)
{
	__u8 one = 1;

	fd_hint_add(key, 1);
	if (bpf_map_update_elem(&ignored, key, &one, BPF_ANY))
		fd_hint_add(key, -1);
	conns_del(key);
}

static __always_inline struct conn_state *conn_create(struct conn_key *key, struct sock *sk,
						      __u8 role, __u64 start_ns)
{
	__u32 zero = 0;
	struct conn_state *tmpl = bpf_map_lookup_elem(&conn_zero, &zero);
	struct conn_state *c;

	if (!tmpl)
		return NULL;
	fd_hint_add(key, 1);
	if (bpf_map_update_elem(&conns, key, tmpl, BPF_ANY)) {
		fd_hint_add(key, -1);
		counter_add(SONDE_CNT_CONN_MAP_FULL, 1);
		return NULL;
	}
	c = bpf_map_lookup_elem(&conns, key);
	if (!c)
		return NULL;
	c->ev.hdr.kind = SONDE_EV_HTTP;
	c->ev.hdr.tgid = key->tgid;
	c->ev.fd = key->fd;
	c->ev.role = role;
	c->ev.conn_start_ns = start_ns;
	c->sk = (__u64)sk;
	/* Unique enough to tell connections apart across descriptor reuse. */
	c->ev.conn_id = (bpf_ktime_get_ns() << 6 | bpf_get_smp_processor_id()) | 1;
	c->probes_left = MIDSTREAM_PROBES;
	{
		/* Go and processes seen answering on other threads never link
		 * by thread: their requests need not be counted per thread. */
		struct sonde_traced_proc *tp = bpf_map_lookup_elem(&traced, &key->tgid);

		c->thread_rule = tp && !(tp->flags & SONDE_PROC_NO_THREAD_RULE);
	}
	sock_read_addrs(sk, &c->ev.local, &c->ev.peer);
	if (role == SONDE_ROLE_CLIENT)
		client_tuple_add(key, c);
	ignored_del(key);
	return c;
}

static __always_inline void txn_reset(struct conn_state *c)
{
	c->phase = PHASE_IDLE;
	c->chunked = 0;
	c->resp_expected = 0;
	c->ev.req_bytes = 0;
	c->ev.resp_bytes = 0;
	c->ev.req_len = 0;
	c->ev.resp_len = 0;
	c->ev.error = 0;
	c->ev.flags = 0;
	__builtin_memset(&c->ev.parent, 0, sizeof(c->ev.parent));
	c->ev.txn_seq++;
}

static __always_inline void txn_emit(struct conn_state *c, __u8 reason)
{
	__u64 size = c->ev.req_len;

	if (c->ev.role == SONDE_ROLE_SERVER)
		server_txn_end(c);
	c->ev.end_reason = reason;
	/* Only the valid part of the request prefix, which comes last. */
	asm volatile("" : "+r"(size));
	if (size > SONDE_REQ_CAP)
		size = SONDE_REQ_CAP;
	size += SONDE_HTTP_EVENT_MIN_SIZE;
	if (bpf_ringbuf_output(&events, &c->ev, size, ringbuf_flags()))
		counter_add(SONDE_CNT_RINGBUF_FULL, 1);
	else
		counter_add(SONDE_CNT_TXN_EMITTED, 1);
	txn_reset(c);
}

static __always_inline void emit_connect_failure(struct conn_state *c, __u64 start_ns, __u32 error)
{
	__u64 id = bpf_get_current_pid_tgid();

	c->ev.tid = (__u32)id;
	c->ev.start_ns = start_ns;
	c->ev.req_end_ns = c->ev.end_ns = bpf_ktime_get_ns();
	c->ev.error = error;
	client_parent(&c->ev.parent, id >> 32, (__u32)id);
	txn_emit(c, SONDE_END_CONNECT_FAILED);
}

/* ---- where the bytes of one syscall are ---- */

struct span_buf {
	__u64 base; /* user address of the first (or only) segment */
	__u64 len;  /* its length, at most the syscall's result */
};

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

/* Do the last five bytes of the syscall's data read "0\r\n\r\n"? */
static __always_inline bool ends_chunked_body(struct call_args *a, __u64 n)
{
	__u8 tail[5] = {};
	__u64 base = 0, end = 0;

	if (a->kind == CALL_READ || a->kind == CALL_WRITE) {
		base = a->buf;
		end = n;
	} else if (a->kind != CALL_SENDFILE) {
		__u64 arr, cnt, seen = 0;
		struct iovec iov;

		if (iov_array(a, &arr, &cnt))
			return false;
		for (int i = 0; i < MAX_IOV_SCAN; i++) {
			if (i >= cnt)
				break;
			if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(arr + i * sizeof(iov))))
				return false;
			if (seen + iov.iov_len >= n) {
				base = (__u64)iov.iov_base;
				end = n - seen;
				break;
			}
			seen += iov.iov_len;
		}
	}
	if (end < 5 || bpf_probe_read_user(tail, 5, (void *)(base + end - 5)))
		return false;
	return tail[0] == '0' && tail[1] == '\r' && tail[2] == '\n' && tail[3] == '\r' &&
	       tail[4] == '\n';
}

static __always_inline __u16 copy_prefix(__u8 *dst, __u32 cap, struct span_buf *s)
{
	__u32 len = s->len < cap ? s->len : cap;

	if (len > cap) /* for the verifier: cap is a constant at every call */
		len = cap;
	if (len == 0 || bpf_probe_read_user(dst, len, (void *)s->base))
		return 0;
	return len;
}

/* Bytes of a request head we need before deciding it is HTTP. Go's server
 * reads the first byte of the next request on its own (a 1-byte read while
 * the handler runs), so a head may arrive in pieces. */
#define CLASSIFY_BYTES 8

/* Append the start of a further chunk to a head shorter than
 * CLASSIFY_BYTES. */
static __always_inline __u16 append_prefix(__u8 *dst, __u32 have, struct span_buf *s)
{
	__u32 off = have & (CLASSIFY_BYTES - 1);
	__u32 len = s->len < SONDE_REQ_CAP - CLASSIFY_BYTES ? s->len : SONDE_REQ_CAP - CLASSIFY_BYTES;

	asm volatile("" : "+r"(len));
	if (len > SONDE_REQ_CAP - CLASSIFY_BYTES)
		len = SONDE_REQ_CAP - CLASSIFY_BYTES;
	if (len == 0 || bpf_probe_read_user(dst + off, len, (void *)s->base))
		return 0;
	return len;
}

/* The head collected so far is not HTTP/1: forget the transaction, and the
 * connection too when these were its first bytes. */
static __always_inline void not_http(struct conn_state *c, struct conn_key *key)
{
	server_txn_end(c);
	if (c->ev.txn_seq == 0) {
		counter_add(SONDE_CNT_NOT_HTTP, 1);
		mark_ignored(key);
		return;
	}
	c->phase = PHASE_IDLE;
	c->ev.req_len = 0;
}

/* A connection we first see mid-stream (open before Sonde started, or
 * accepted before its process was traced): learn the role from the data. */
static __always_inline int learn_role(struct conn_state *c, struct conn_key *key,
				      struct span_buf *s, bool inbound)
{
	__u8 head[8] = {};
	__u32 len = s->len < sizeof(head) ? s->len : sizeof(head);

	if (len == sizeof(head) ? bpf_probe_read_user(head, sizeof(head), (void *)s->base)
				: (len == 0 || bpf_probe_read_user(head, len & 7, (void *)s->base)))
		len = 0;
	if (http_is_request(head, len)) {
		c->ev.role = inbound ? SONDE_ROLE_SERVER : SONDE_ROLE_CLIENT;
		if (!inbound)
			client_tuple_add(key, c);
		return 0;
	}
	/* A piece too small to judge (a 1-byte read) is no evidence. */
	if (len >= 4 && --c->probes_left == 0) {
		counter_add(SONDE_CNT_NOT_HTTP, 1);
		mark_ignored(key);
	}
	return -1;
}

static __always_inline void on_request_bytes(struct conn_state *c, struct conn_key *key,
					     struct span_buf *s, __u64 n, __u64 now)
{
	if (c->phase == PHASE_RESPONSE)
		txn_emit(c, SONDE_END_NEXT_REQUEST);
	if (c->phase == PHASE_REQUEST) {
		if (c->ev.req_len < CLASSIFY_BYTES) {
			c->ev.req_len += append_prefix(c->ev.req, c->ev.req_len, s);
			if (c->ev.req_len >= CLASSIFY_BYTES &&
			    !http_is_request(c->ev.req, c->ev.req_len)) {
				not_http(c, key);
				return;
			}
		}
		c->ev.req_bytes += n;
		c->ev.req_end_ns = now;
		return;
	}
	c->ev.req_len = copy_prefix(c->ev.req, SONDE_REQ_CAP, s);
	/* The first bytes of a transaction decide, once there are enough. */
	if (c->ev.req_len >= CLASSIFY_BYTES && !http_is_request(c->ev.req, c->ev.req_len)) {
		not_http(c, key);
		return;
	}
	c->phase = PHASE_REQUEST;
	c->ev.tid = (__u32)bpf_get_current_pid_tgid();
	if (c->ev.role == SONDE_ROLE_SERVER) {
		/* The first request of a connection waited since the accept. */
		c->ev.start_ns = (c->ev.txn_seq == 0 && c->ev.conn_start_ns) ? c->ev.conn_start_ns
									      : now;
		server_txn_begin(c);
	} else {
		/* Likewise a client's first request includes its connect. A
		 * later one starts when its first write returns: the exit
		 * probe is the only one, and that write's own time is a few
		 * microseconds on a local network. */
		c->ev.start_ns = (c->ev.txn_seq == 0 && c->ev.conn_start_ns) ? c->ev.conn_start_ns
									      : now;
		client_parent(&c->ev.parent, key->tgid, c->ev.tid);
	}
	c->ev.req_bytes = n;
	c->ev.req_end_ns = now;
}

static __always_inline void on_response_bytes(struct conn_state *c, struct conn_key *key,
					      struct call_args *a, struct span_buf *s, __u64 n)
{
	if (c->phase == PHASE_IDLE) {
		/* A response with no new request: the answer to a request that
		 * was pipelined behind the previous one (either role). */
		if (c->ev.role == SONDE_ROLE_UNKNOWN || c->ev.txn_seq == 0)
			return;
		c->ev.req_len = 0;
		c->ev.req_bytes = 0;
		c->ev.flags = SONDE_EVF_PIPELINED;
		c->ev.start_ns = c->ev.req_end_ns; /* it arrived with the previous one */
		c->phase = PHASE_REQUEST;
	}
	if (c->phase == PHASE_REQUEST) {
		struct http_frame f = {};
		__u32 status;

		/* A short head never confirmed as HTTP (a tiny non-HTTP message). */
		if (!(c->ev.flags & SONDE_EVF_PIPELINED) && !http_is_request(c->ev.req, c->ev.req_len)) {
			not_http(c, key);
			return;
		}

		c->ev.resp_len = copy_prefix(c->ev.resp, SONDE_RESP_CAP, s);
		status = http_response_status(c->ev.resp, c->ev.resp_len);
		if (status >= 100 && status < 200 && status != 101)
			return; /* interim (100 Continue): the real response follows */
		c->phase = PHASE_RESPONSE;
		c->ev.resp_bytes = n;
		http_frame_head(c->ev.resp, c->ev.resp_len, &f);
		if (f.head_len) {
			bool head_req = c->ev.req[0] == 'H' && c->ev.req[1] == 'E';

			if (head_req || status == 204 || status == 304)
				c->resp_expected = f.head_len;
			else if (f.has_length)
				c->resp_expected = f.head_len + f.content_length;
		}
		c->chunked = f.chunked;
	} else {
		c->ev.resp_bytes += n;
	}
	c->ev.resp_tid = (__u32)bpf_get_current_pid_tgid();
	/* The clock only when this write may be the response's last: a
	 * framed response still short of its length is not done. */
	if (c->resp_expected && c->ev.resp_bytes < c->resp_expected)
		return;
	c->ev.end_ns = bpf_ktime_get_ns();
	if (c->resp_expected)
		txn_emit(c, SONDE_END_FRAMED);
	else if (c->chunked && ends_chunked_body(a, n))
		txn_emit(c, SONDE_END_CHUNKED);
}

/* ---- exit side ---- */

static __always_inline int on_data(struct call_args *a, __u32 tgid, long ret)
{
	struct conn_key key = { .tgid = tgid, .fd = a->fd };
	struct span_buf s = {};
	struct conn_state *c;
	bool inbound = a->kind == CALL_READ || a->kind == CALL_READV || a->kind == CALL_RECVMSG;
	bool request_dir, known;

	known = fd_maybe_known(&key);
	c = known ? bpf_map_lookup_elem(&conns, &key) : NULL;
	if (!c) {
		struct sock *sk;

		if (known && bpf_map_lookup_elem(&ignored, &key))
			return 0;
		sk = fd_to_tcp_sock(a->fd);
		if (!sk) {
			mark_ignored(&key);
			return 0;
		}
		c = conn_create(&key, sk, SONDE_ROLE_UNKNOWN, 0);
		if (!c)
			return 0;
	}
	c->connecting = 0; /* bytes moved: the connection is open */
	if (a->kind != CALL_SENDFILE && first_segment(a, ret, &s))
		return 0;
	if (c->ev.role == SONDE_ROLE_UNKNOWN && learn_role(c, &key, &s, inbound))
		return 0;
	request_dir = (c->ev.role == SONDE_ROLE_SERVER) == inbound;
	if (request_dir)
		on_request_bytes(c, &key, &s, ret, bpf_ktime_get_ns());
	else
		on_response_bytes(c, &key, a, &s, ret);
	return 0;
}

/* The peer named in a connect() call's sockaddr (user memory). */
static __always_inline void peer_from_sockaddr(struct sonde_addr *peer, __u64 uaddr)
{
	struct sockaddr_in6 sa = {};

	if (!uaddr || bpf_probe_read_user(&sa, sizeof(sa), (void *)uaddr))
		return;
	peer->family = sa.sin6_family;
	peer->port = bpf_ntohs(sa.sin6_port);
	if (sa.sin6_family == SONDE_AF_INET)
		__builtin_memcpy(peer->addr, &((struct sockaddr_in *)&sa)->sin_addr, 4);
	else if (sa.sin6_family == SONDE_AF_INET6)
		__builtin_memcpy(peer->addr, &sa.sin6_addr, 16);
}

/* A client connection that never opened is a client span with an error.
 * The span starts at the connect's exit: there is no entry probe, so a
 * blocking connect's own wait is not in it (a non-blocking one's is: it
 * runs between this exit and the outcome). */
static __always_inline void connect_failed(struct conn_key *key, struct conn_state *c,
					   __u32 error)
{
	emit_connect_failure(c, c->ev.conn_start_ns, error);
	client_tuple_del(c);
	conns_del(key);
}

static __always_inline int on_accept(__u32 tgid, long ret)
{
	struct conn_key key = { .tgid = tgid, .fd = ret };
	struct conn_state *c;
	struct sock *sk;

	if (ret < 0)
		return 0;
	sk = fd_to_tcp_sock(key.fd);
	if (!sk) {
		mark_ignored(&key);
		return 0;
	}
	/* The number's previous connection, if its close has not reached our
	 * probe yet (another thread accepted first, Go does): let go of what
	 * it holds elsewhere; a response still open on it is counted lost. */
	c = fd_maybe_known(&key) ? bpf_map_lookup_elem(&conns, &key) : NULL;
	if (c) {
		if (c->phase != PHASE_IDLE)
			counter_add(SONDE_CNT_INCOMPLETE, 1);
		server_txn_end(c);
		if (c->ev.role == SONDE_ROLE_CLIENT)
			client_tuple_del(c);
	}
	conn_create(&key, sk, SONDE_ROLE_SERVER, bpf_ktime_get_ns());
	return 0;
}

/* connect() results that leave the attempt going: non-blocking, or
 * interrupted (the kernel carries on; a retry says EALREADY or EISCONN). */
static __always_inline bool connect_pending(long ret)
{
	return ret == -EINPROGRESS || ret == -EALREADY || ret == -EINTR ||
	       (ret <= -512 && ret >= -516); /* ERESTART*, seen before the restart */
}

static __always_inline int on_connect(__u32 tgid, __u32 fd, __u64 uaddr, long ret)
{
	struct conn_key key = { .tgid = tgid, .fd = fd };
	struct conn_state *c;
	struct sock *sk;
	bool known;

	sk = fd_to_tcp_sock(fd);
	if (!sk) {
		mark_ignored(&key);
		return 0;
	}
	/* A second connect() on the same socket (a retry, a check) goes on
	 * with the connection already followed. */
	c = fd_maybe_known(&key) ? bpf_map_lookup_elem(&conns, &key) : NULL;
	known = c && c->sk == (__u64)sk && c->ev.role == SONDE_ROLE_CLIENT;
	if (!known) {
		if (ret == -EISCONN)
			return 0; /* connected before we looked: its first bytes will tell */
		c = conn_create(&key, sk, SONDE_ROLE_CLIENT, bpf_ktime_get_ns());
		if (!c)
			return 0;
		c->connecting = 1;
	}
	if (ret == 0 || ret == -EISCONN) {
		c->connecting = 0;
		return 0;
	}
	if (connect_pending(ret) || !c->connecting || c->ev.txn_seq)
		return 0; /* still going, or an error about a connection already open */
	/* A socket whose connect failed has forgotten its peer. */
	if (!known)
		peer_from_sockaddr(&c->ev.peer, uaddr);
	connect_failed(&key, c, -ret);
	return 0;
}

/* getsockopt(SO_ERROR): how runtimes learn the outcome of a non-blocking
 * connect (Go, libuv, the JDK, CPython, curl). Non-zero: it failed. */
static __always_inline int on_so_error(__u32 tgid, __u32 fd, __u64 uval)
{
	struct conn_key key = { .tgid = tgid, .fd = fd };
	struct conn_state *c = bpf_map_lookup_elem(&conns, &key);
	int err = 0;

	if (!c || !c->connecting || bpf_probe_read_user(&err, sizeof(err), (void *)uval))
		return 0;
	if (err == 0) {
		/* Go's poller may wake early and read 0 while the handshake
		 * is still on: only an established socket has connected. */
		struct sock *sk = (struct sock *)c->sk;

		if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_ESTABLISHED)
			c->connecting = 0;
	} else if (err != EINPROGRESS && err != EALREADY && err != EINTR) {
		c->connecting = 0;
		connect_failed(&key, c, err);
	}
	return 0;
}

/* A connection ends (its descriptor closed, or reused before the close
 * reached us): what it still holds is emitted or counted. */
static __always_inline void conn_finish(struct conn_state *c)
{
	if (c->phase == PHASE_RESPONSE) {
		txn_emit(c, SONDE_END_CLOSE);
	} else if (c->phase == PHASE_REQUEST) {
		server_txn_end(c);
		/* A short head never confirmed as HTTP was not a request. */
		counter_add(http_is_request(c->ev.req, c->ev.req_len) ? SONDE_CNT_INCOMPLETE
								       : SONDE_CNT_NOT_HTTP,
			    1);
	} else if (c->ev.role == SONDE_ROLE_UNKNOWN) {
		counter_add(SONDE_CNT_NOT_HTTP, 1); /* never recognised */
	} else if (c->connecting && c->ev.txn_seq == 0) {
		/* A non-blocking connect whose outcome was never read, closed
		 * while the handshake had not completed (a timeout). The
		 * socket itself is still there: its release comes after this
		 * probe. */
		struct sock *sk = (struct sock *)c->sk;
		int state = BPF_CORE_READ(sk, __sk_common.skc_state);

		if (state == TCP_SYN_SENT || state == TCP_CLOSE)
			emit_connect_failure(c, c->ev.conn_start_ns, BPF_CORE_READ(sk, sk_err));
	}
	if (c->ev.role == SONDE_ROLE_CLIENT)
		client_tuple_del(c);
}

/* At the exit of close(): the descriptor is gone, its state goes too,
 * unless another thread already got the number for a new connection
 * (same descriptor, another socket) and its state is what we find. */
static __always_inline int on_close(__u32 tgid, __u32 fd)
{
	struct conn_key key = { .tgid = tgid, .fd = fd };
	struct conn_state *c;

	if (!fd_maybe_known(&key))
		return 0; /* never looked at: a file, a pipe, a socket unused since */
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c) {
		ignored_del(&key);
		return 0;
	}
	if (c->sk && c->sk == (__u64)fd_to_tcp_sock(fd))
		return 0;
	conn_finish(c);
	conns_del(&key);
	return 0;
}

/* ---- process lifecycle, for discovery ---- */

static __always_inline void proc_event(__u32 kind, __u32 tgid, __u32 ppid)
{
	struct sonde_proc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		counter_add(SONDE_CNT_PROC_EVENT_LOST, 1);
		return;
	}
	e->hdr.kind = kind;
	e->hdr.tgid = tgid;
	e->ppid = ppid;
	e->_pad = 0;
	bpf_ringbuf_submit(e, ringbuf_flags());
}

SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	proc_event(SONDE_EV_PROC_EXEC, bpf_get_current_pid_tgid() >> 32, 0);
	return 0;
}

/* Children of traced processes (pre-fork servers: gunicorn, nginx workers)
 * are traced from their first syscall, before user space hears of them. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid;
	__u32 ctgid = child->tgid;
	struct sonde_traced_proc *tp;

	if (child->pid != ctgid || !is_traced(ptgid)) /* a new thread, same process */
		return 0;
	tp = bpf_map_lookup_elem(&traced, &ptgid);
	if (!tp)
		return 0;
	if (bpf_map_update_elem(&traced, &ctgid, tp, BPF_ANY))
		return 0; /* the map is full: not traced */
	traced_bit_set(ctgid);
	proc_event(SONDE_EV_PROC_FORK, ctgid, ptgid);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int on_exit_proc(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	if ((__u32)id != tgid || !is_traced(tgid))
		return 0;
	traced_bit_clear(tgid);
	bpf_map_delete_elem(&traced, &tgid);
	proc_event(SONDE_EV_PROC_EXIT, tgid, 0);
	return 0;
}

/* A process that starts listening may now match an open-port selector. */
static __always_inline void on_listen(long ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (ret == 0 && !is_traced(tgid))
		proc_event(SONDE_EV_LISTEN, tgid, 0);
}

/* ---- the syscall probe ---- */

/*
 * Every syscall of every process passes here once the probe is attached,
 * so the ones we do not follow leave at the switch, and those of untraced
 * processes at the bit test. A BTF-typed raw tracepoint (tp_btf) is called
 * with the saved user registers: no per-event record is built, and the
 * syscall's arguments are still there at exit. No entry probe at all: an
 * attached program costs every syscall in the system, even an empty one.
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	struct call_args a = {}, *args;
	__u32 tgid, zero = 0;

	switch (SYSCALL_NR(regs)) {
	case NR_read:
		a.kind = CALL_READ;
		break;
	case NR_recvfrom:
		/* A peek leaves the bytes for the next read: count them then. */
		if (PT_REGS_PARM4_SYSCALL(regs) & MSG_PEEK)
			return 0;
		a.kind = CALL_READ;
		break;
	case NR_readv:
		a.kind = CALL_READV;
		break;
	case NR_recvmsg:
		if (PT_REGS_PARM3_SYSCALL(regs) & MSG_PEEK)
			return 0;
		a.kind = CALL_RECVMSG;
		break;
	case NR_write:
	case NR_sendto:
		a.kind = CALL_WRITE;
		break;
	case NR_writev:
		a.kind = CALL_WRITEV;
		break;
	case NR_sendmsg:
		a.kind = CALL_SENDMSG;
		break;
	case NR_sendfile:
		a.kind = CALL_SENDFILE;
		break;
	case NR_accept:
	case NR_accept4:
		tgid = bpf_get_current_pid_tgid() >> 32;
		return is_traced(tgid) ? on_accept(tgid, ret) : 0;
	case NR_connect:
		tgid = bpf_get_current_pid_tgid() >> 32;
		if (!is_traced(tgid))
			return 0;
		return on_connect(tgid, PT_REGS_PARM1_SYSCALL(regs), PT_REGS_PARM2_SYSCALL(regs), ret);
	case NR_getsockopt:
		if (ret != 0 || PT_REGS_PARM2_SYSCALL(regs) != SOL_SOCKET ||
		    PT_REGS_PARM3_SYSCALL(regs) != SO_ERROR)
			return 0;
		tgid = bpf_get_current_pid_tgid() >> 32;
		if (!is_traced(tgid))
			return 0;
		return on_so_error(tgid, PT_REGS_PARM1_SYSCALL(regs), PT_REGS_PARM4_SYSCALL(regs));
	case NR_close:
		tgid = bpf_get_current_pid_tgid() >> 32;
		return is_traced(tgid) ? on_close(tgid, PT_REGS_PARM1_SYSCALL(regs)) : 0;
	case NR_listen:
		on_listen(ret);
		return 0;
	default:
		return 0;
	}
	/* A data syscall: nothing moved, nothing to see. */
	if (ret <= 0)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (!is_traced(tgid))
		return 0;
	a.fd = PT_REGS_PARM1_SYSCALL(regs);
	a.buf = PT_REGS_PARM2_SYSCALL(regs);
	if (a.kind == CALL_READV || a.kind == CALL_WRITEV)
		a.iovcnt = PT_REGS_PARM3_SYSCALL(regs);
	args = bpf_map_lookup_elem(&call_scratch, &zero);
	if (!args)
		return 0;
	*args = a;
	return on_data(args, tgid, ret);
}
