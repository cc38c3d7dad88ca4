/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS plaintext into the protocol seam. A socket whose first bytes were a
 * ClientHello (proto_tls.bpf.h) keeps its socket-storage state only to say
 * "TLS: skip the ciphertext"; the plaintext that TLS libraries hand to or
 * take from the application (OpenSSL's SSL_read/SSL_write uprobes here,
 * Go's crypto/tls elsewhere) goes into a second struct conn_state, the
 * same state machine HTTP/1 and every protocol use over socket bytes, so
 * any protocol works over TLS unchanged.
 *
 * That second state lives in an LRU hash keyed by the socket's address,
 * not in socket storage: uprobe programs (BPF_PROG_TYPE_KPROBE) may not
 * call bpf_sk_storage_get. Both the uprobes and the socket tracepoints
 * reach it; it is created when the socket hooks first see the TLS socket
 * (copying the connection's identity: id, role, ends, opening time, so
 * links by tuple name the plaintext's transactions) and finished and
 * deleted when the socket closes (inet_sock_set_state).
 *
 * Which socket a library call's plaintext belongs to:
 *  - the socket I/O the same thread does inside the call (a library that
 *    owns the descriptor: nginx, Python, curl): the call's entry leaves
 *    {ssl, buffer} per thread, the socket hook that sees a TLS socket with
 *    such a call in progress ties the SSL object to that socket;
 *  - else the SSL object's last tie;
 *  - else the socket of the thread's last TLS socket I/O (memory BIOs, as
 *    Node.js uses: the socket read comes just before SSL_read, on the same
 *    thread), which then becomes the SSL object's tie. Recorded only for
 *    TLS sockets, so plaintext traffic pays nothing for it.
 */
#ifndef SONDE_TLS_BPF_H
#define SONDE_TLS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "sonde/abi.h"
#include "maps.bpf.h"
#include "sock.bpf.h"
#include "conn.bpf.h"
#include "protocols.bpf.h"

/* TLS connections followed at once (the LRU's size: each holds a
 * struct conn_state, about 1.2 KiB, preallocated). */
#define SONDE_MAX_TLS_CONNS 4096
#define TLS_TCP_CLOSE 7

/* Whether TLS plaintext is followed at all (ebpf.tls): when not, a TLS
 * socket is only counted, and no plaintext state is made for it. */
const volatile bool tls_enabled = true;

/* The plaintext side of a TLS socket. */
struct tls_conn {
	struct conn_state c;
	__u64 ssl;  /* the library object last tied to the socket, 0: none */
	__u32 tgid; /* ... in this process */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_TLS_CONNS);
	__type(key, __u64); /* struct sock * */
	__type(value, struct tls_conn);
} tls_conns SEC(".maps");

/* Zeroes to create a tls_conn from: never written. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tls_conn);
} tls_template SEC(".maps");

/* A library call in progress on a thread (entry to return). */
struct tls_call {
	__u64 ssl;     /* the library's connection object */
	__u64 buf;     /* plaintext buffer */
	__u64 len_ptr; /* where the _ex variants return the byte count, else 0 */
	__u64 sk;      /* the TLS socket the thread moved bytes on inside the call, 0: none */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_INFLIGHT);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct tls_call);
} tls_calls SEC(".maps");

/* A library object of a process. */
struct tls_obj_key {
	__u64 ssl;
	__u32 tgid;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_CONNS);
	__type(key, struct tls_obj_key);
	__type(value, __u64); /* struct sock * */
} tls_ssl_sock SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_INFLIGHT);
	__type(key, __u64); /* pid_tgid */
	__type(value, __u64); /* struct sock * of the thread's last TLS socket I/O */
} tls_last_sock SEC(".maps");

/* The plaintext state of TLS socket @sk, or NULL. */
static __always_inline struct tls_conn *tls_conn_of(__u64 sk)
{
	return bpf_map_lookup_elem(&tls_conns, &sk);
}

/*
 * A new plaintext state for TLS socket @sk, with the identity of its
 * socket's connection @from when the caller has it (the socket hooks),
 * else a new one read from the socket (a uprobe on a connection the socket
 * hooks have not seen as TLS: its role is then learnt from the plaintext).
 */
static __always_inline struct tls_conn *tls_conn_create(__u64 sk, const struct conn_state *from,
							__u32 tgid)
{
	__u32 zero = 0;
	struct tls_conn *tmpl = bpf_map_lookup_elem(&tls_template, &zero), *t;

	if (!tmpl || bpf_map_update_elem(&tls_conns, &sk, tmpl, BPF_NOEXIST))
		return tls_conn_of(sk); /* created meanwhile, or no room: NULL */
	t = tls_conn_of(sk);
	if (!t)
		return NULL;
	t->c.ev.hdr.kind = SONDE_EV_TXN;
	t->c.ev.conn_flags = SONDE_CONNF_TLS;
	t->c.ev.resp_body_len = SONDE_LEN_UNKNOWN;
	t->c.probes_left = MIDSTREAM_PROBES;
	if (from) {
		t->c.ev.conn_id = from->ev.conn_id;
		t->c.ev.conn_start_ns = from->ev.conn_start_ns;
		t->c.ev.role = from->ev.role;
		t->c.ev.local = from->ev.local;
		t->c.ev.peer = from->ev.peer;
		t->c.ev.hdr.tgid = from->ev.hdr.tgid;
		t->c.thread_rule = from->thread_rule;
	} else {
		t->c.ev.conn_id = (bpf_ktime_get_ns() << 6 | bpf_get_smp_processor_id()) | 1;
		sock_read_addrs((struct sock *)sk, &t->c.ev.local, &t->c.ev.peer);
	}
	conn_set_owner(&t->c, tgid);
	return t;
}

/*
 * Socket I/O of the current thread on TLS socket @sk (its socket state
 * @c): the ciphertext itself is skipped; the plaintext state is made when
 * missing, a library call in progress on this thread is tied to the
 * socket, and the socket is the thread's last TLS one.
 */
static __always_inline void tls_on_socket(struct sock *sk, struct conn_state *c, __u64 id)
{
	__u64 key = (__u64)sk;
	struct tls_call *call;

	if (!tls_enabled)
		return;
	if (!tls_conn_of(key) && !tls_conn_create(key, c, id >> 32))
		counter_add(SONDE_CNT_CONN_MAP_FULL, 1);
	call = bpf_map_lookup_elem(&tls_calls, &id);
	if (call && !call->sk) {
		struct tls_obj_key k = { .ssl = call->ssl, .tgid = id >> 32 };

		call->sk = key;
		bpf_map_update_elem(&tls_ssl_sock, &k, &key, BPF_ANY);
	}
	bpf_map_update_elem(&tls_last_sock, &id, &key, BPF_ANY);
}

/*
 * Plaintext of TLS socket @sk_ptr: @n bytes at user address @user_buf that
 * the application read (@inbound) or wrote through its TLS library, on
 * thread @pid_tgid. The entry every TLS source uses (OpenSSL's uprobes,
 * Go's crypto/tls): from here the bytes take the path socket bytes take,
 * classified then framed by their protocol. Handshake bytes never come
 * here, only application data.
 *
 * It uses the per-CPU scratch maps of the socket path (call_scratch, the
 * HTTP/1 head buffer), which assume a program is not preempted. uprobe
 * programs run with migration disabled but may be preempted on a kernel
 * in full preemption mode (these machines run PREEMPT_DYNAMIC in "none"):
 * there a preempted call could find its scratch overwritten by another
 * task's, a misread transaction at worst, never an unsafe access.
 */
static __always_inline void tls_plaintext(__u64 sk_ptr, __u64 user_buf, __u32 n, bool inbound,
					  __u64 pid_tgid)
{
	struct span_buf s = { .base = user_buf, .len = n };
	struct call_args *a;
	struct tls_conn *t;
	__u32 zero = 0;

	if (!sk_ptr || !n || !user_buf)
		return;
	t = tls_conn_of(sk_ptr);
	if (!t) {
		/* Never seen as TLS by the socket hooks (opened before Sonde, or
		 * evicted): not after its close, whose state is gone for good. */
		if (BPF_CORE_READ((struct sock *)sk_ptr, __sk_common.skc_state) == TLS_TCP_CLOSE)
			return;
		t = tls_conn_create(sk_ptr, NULL, pid_tgid >> 32);
		if (!t) {
			counter_add(SONDE_CNT_CONN_MAP_FULL, 1);
			return;
		}
	}
	if (t->c.ignored || t->c.finished)
		return;
	a = bpf_map_lookup_elem(&call_scratch, &zero);
	if (!a)
		return;
	a->buf = user_buf;
	a->kind = inbound ? CALL_READ : CALL_WRITE;
	a->iovcnt = 0;
	if (t->c.ev.proto == SONDE_PROTO_UNKNOWN && conn_classify(&t->c, &s, inbound, n, pid_tgid))
		return;
	proto_on_data(&t->c, a, &s, n, (t->c.ev.role == SONDE_ROLE_SERVER) == inbound, pid_tgid);
}

/* ---- library calls: entry and return (OpenSSL's uprobes use these) ---- */

/* A call that moves plaintext begins on this thread. */
static __always_inline void tls_call_enter(__u64 ssl, __u64 buf, __u64 len_ptr)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_call call = { .ssl = ssl, .buf = buf, .len_ptr = len_ptr };

	if (!is_traced(id >> 32) || !ssl || !buf)
		return;
	bpf_map_update_elem(&tls_calls, &id, &call, BPF_ANY);
}

/* The socket of the call's library object (see the top of this file). */
static __always_inline __u64 tls_call_socket(const struct tls_call *call, __u64 id)
{
	struct tls_obj_key k = { .ssl = call->ssl, .tgid = id >> 32 };
	__u64 *sk;

	if (call->sk)
		return call->sk;
	sk = bpf_map_lookup_elem(&tls_ssl_sock, &k);
	if (sk)
		return *sk;
	sk = bpf_map_lookup_elem(&tls_last_sock, &id);
	if (!sk)
		return 0;
	bpf_map_update_elem(&tls_ssl_sock, &k, sk, BPF_ANY);
	return *sk;
}

/*
 * The call returns: @ret bytes moved (@ret is the count, or with @ex a
 * success above 0, the count being in *len_ptr: the _ex variants, and the
 * internal functions both variants call, tls_hookpoints.h).
 */
static __always_inline void tls_call_return(long ret, bool inbound, bool ex)
{
	__u64 id = bpf_get_current_pid_tgid(), n = 0, sk;
	struct tls_call *p = bpf_map_lookup_elem(&tls_calls, &id);
	struct tls_call call;
	struct tls_conn *t;

	if (!p)
		return;
	call = *p;
	bpf_map_delete_elem(&tls_calls, &id);
	if (ex) {
		if (ret <= 0 || !call.len_ptr ||
		    bpf_probe_read_user(&n, sizeof(n), (void *)call.len_ptr))
			return;
	} else {
		if (ret <= 0)
			return;
		n = ret;
	}
	if (!n || n > 0x7fffffff)
		return;
	sk = tls_call_socket(&call, id);
	if (!sk) {
		counter_add(SONDE_CNT_TLS_NO_SOCKET, 1);
		return;
	}
	t = tls_conn_of(sk);
	if (t) {
		t->ssl = call.ssl;
		t->tgid = id >> 32;
	}
	tls_plaintext(sk, call.buf, n, inbound, id);
}

/* TLS socket @sk closes: its plaintext state, to finish then forget
 * (tls_conn_forget), or NULL. */
static __always_inline struct conn_state *tls_conn_closing(struct sock *sk)
{
	struct tls_conn *t = tls_conn_of((__u64)sk);

	return t ? &t->c : NULL;
}

static __always_inline void tls_conn_forget(struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct tls_conn *t = tls_conn_of(key);

	if (!t)
		return;
	if (t->ssl) {
		/* A library object reused at the same address later must not
		 * find this socket. */
		struct tls_obj_key k = { .ssl = t->ssl, .tgid = t->tgid };
		__u64 *tied = bpf_map_lookup_elem(&tls_ssl_sock, &k);

		if (tied && *tied == key)
			bpf_map_delete_elem(&tls_ssl_sock, &k);
	}
	bpf_map_delete_elem(&tls_conns, &key);
}

#endif /* SONDE_TLS_BPF_H */
