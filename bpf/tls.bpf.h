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
 *  - the first TCP socket the same thread moves bytes on inside the call
 *    (a library that owns the descriptor: nginx, Python, curl), whatever
 *    Sonde made of that socket (TLS, not yet classified, ignored): the
 *    call's entry leaves {ssl, buffer} per thread, the socket hook ties
 *    the SSL object to that socket;
 *  - else the SSL object's last tie;
 *  - else, only when the SSL object has no tie, the socket of the
 *    thread's last TLS socket I/O while it is still that connection
 *    (memory BIOs, as Node.js uses: the socket read comes just before
 *    SSL_read, on the same thread), which then becomes the SSL object's
 *    tie unless another was made meanwhile. Recorded only for TLS
 *    sockets, so plaintext traffic pays nothing for it.
 *
 * A plaintext state never outlives its socket: it is deleted at TCP_CLOSE
 * whatever became of the socket's own state, none is made for a socket
 * whose side is closing, and one left at the same address by an earlier
 * socket (another conn_id) is made again.
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
/* TCP states (include/net/tcp_states.h) */
#define TLS_TCP_FIN_WAIT1 4
#define TLS_TCP_FIN_WAIT2 5
#define TLS_TCP_TIME_WAIT 6
#define TLS_TCP_CLOSE 7
#define TLS_TCP_LAST_ACK 9
#define TLS_TCP_CLOSING 11

/* Whether TLS plaintext is followed at all (ebpf.tls): when not, a TLS
 * socket is only counted, and no plaintext state is made for it. */
const volatile bool tls_enabled = true;

/* The plaintext side of a TLS socket. */
struct tls_conn {
	struct conn_state c;
	__u64 ssl;  /* the library object last tied to the socket, 0: none */
	__u32 tgid; /* ... in this process */
	__u32 _pad;
	/* the conn_id of the socket state this one is the plaintext of, 0:
	 * not known yet (made by a uprobe): a state left by an earlier
	 * socket at the same address has another (tls_on_socket) */
	__u64 sock_conn_id;
	/* the plaintext call's arguments for the protocol code: here, not
	 * in the per-CPU call_scratch a preempted uprobe could share */
	struct call_args args;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_TLS_CONNS);
	__type(key, __u64); /* struct sock * */
	__type(value, struct tls_conn);
} tls_conns SEC(".maps");

/* Processes with TLS uprobes attached (src/probes_tls.c sets and clears
 * them): only their TLS sockets get a plaintext state from the socket
 * hooks, so that the TLS sockets of processes whose library has no
 * uprobes (Java, rustls...) do not fill tls_conns. */
#define SONDE_MAX_TLS_HOOKED 32768

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SONDE_MAX_TLS_HOOKED);
	__type(key, __u32);  /* tgid */
	__type(value, __u8); /* 1 */
} tls_hooked SEC(".maps");

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

/* The thread's last TLS socket I/O: used only while that socket's
 * plaintext state is still the one it was then (same sock_conn_id). */
struct tls_last {
	__u64 sk; /* struct sock * */
	__u64 conn_id;
};

/* A thread's TLS bookkeeping, in the task's own storage: found in a few
 * instructions, no hash to compute and nothing to allocate per call (an
 * LRU hash update per call and per socket I/O was most of these programs'
 * time). The call is in progress while call.ssl is set; last is valid
 * while last.sk is set. */
struct tls_task {
	struct tls_call call;
	struct tls_last last;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tls_task);
} tls_tasks SEC(".maps");

static __always_inline struct tls_task *tls_task_of_current(bool create)
{
	return bpf_task_storage_get(&tls_tasks, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* The plaintext state of TLS socket @sk, or NULL. */
static __always_inline struct tls_conn *tls_conn_of(__u64 sk)
{
	return bpf_map_lookup_elem(&tls_conns, &sk);
}

/* Our side of @sk has closed or is closing (FIN_WAIT1 and after, LAST_ACK,
 * CLOSING, CLOSE): no plaintext state is made for it any more. */
static __always_inline bool tls_sock_closing(__u64 sk)
{
	int st = BPF_CORE_READ((struct sock *)sk, __sk_common.skc_state);

	return st == TLS_TCP_FIN_WAIT1 || st == TLS_TCP_FIN_WAIT2 || st == TLS_TCP_TIME_WAIT ||
	       st == TLS_TCP_CLOSE || st == TLS_TCP_LAST_ACK || st == TLS_TCP_CLOSING;
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
		t->sock_conn_id = from->ev.conn_id;
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
static __always_inline void tls_conn_forget(struct sock *sk);
static __always_inline void tls_note_last(__u64 sk, __u64 conn_id);

static __always_inline void tls_on_socket(struct sock *sk, struct conn_state *c, __u64 id)
{
	__u64 key = (__u64)sk;
	struct tls_conn *t;

	__u32 tgid = id >> 32;

	if (!tls_enabled || !bpf_map_lookup_elem(&tls_hooked, &tgid))
		return; /* nothing would read its plaintext state */
	t = tls_conn_of(key);
	if (t && t->sock_conn_id != c->ev.conn_id) {
		if (!t->sock_conn_id && t->c.ev.local.port == c->ev.local.port &&
		    t->c.ev.peer.port == c->ev.peer.port)
			t->sock_conn_id = c->ev.conn_id; /* made by a uprobe: this socket's */
		else
			tls_conn_forget(sk); /* an earlier socket's at this address */
		t = tls_conn_of(key);
	}
	if (!t && !c->finished && !tls_sock_closing(key) && !(t = tls_conn_create(key, c, id >> 32)))
		counter_add(SONDE_CNT_CONN_MAP_FULL, 1);
	/* Made and tied: the connection's next socket I/O skips the lookups
	 * above (a state evicted later is made again from the plaintext). */
	if (t && t->sock_conn_id == c->ev.conn_id)
		c->tls_ready = 1;
	tls_note_last(key, c->ev.conn_id);
}

/* The thread's last TLS socket: @sk, of connection @conn_id. */
static __always_inline void tls_note_last(__u64 sk, __u64 conn_id)
{
	struct tls_task *task = tls_task_of_current(true);

	if (task) {
		task->last.sk = sk;
		task->last.conn_id = conn_id;
	}
}

/*
 * Socket I/O of the current thread on TCP socket @sk, whatever Sonde made
 * of the socket (TLS, not yet classified, ignored): during a library call,
 * the first such socket is the call's (a library that owns the descriptor).
 */
static __always_inline void tls_call_note_socket(struct sock *sk, __u64 id)
{
	struct tls_task *task;
	struct tls_call *call;

	if (!tls_enabled)
		return;
	task = tls_task_of_current(false);
	if (!task)
		return;
	call = &task->call;
	if (call->ssl && !call->sk) {
		struct tls_obj_key k = { .ssl = call->ssl, .tgid = id >> 32 };
		__u64 key = (__u64)sk, *tied;

		call->sk = key;
		/* most calls find the tie made by the connection's first one */
		tied = bpf_map_lookup_elem(&tls_ssl_sock, &k);
		if (!tied || *tied != key)
			bpf_map_update_elem(&tls_ssl_sock, &k, &key, BPF_ANY);
	}
}

/*
 * Plaintext of TLS socket @sk_ptr (its plaintext state @t, NULL when there is
 * none yet): @n bytes at user address @user_buf that
 * the application read (@inbound) or wrote through its TLS library, on
 * thread @pid_tgid. The entry every TLS source uses (OpenSSL's uprobes,
 * Go's crypto/tls): from here the bytes take the path socket bytes take,
 * classified then framed by their protocol. Handshake bytes never come
 * here, only application data.
 *
 * The call's arguments are kept in the socket's tls_conn, not in the
 * socket path's per-CPU call_scratch. The protocol code still uses per-CPU
 * scratch of its own (the HTTP/1 head buffer), which assumes a program is
 * not preempted: uprobe programs run with migration disabled but may be
 * preempted on a kernel in full preemption mode (these machines run
 * PREEMPT_DYNAMIC in "none"); there a preempted call could find that
 * scratch overwritten by another task's, a misread transaction at worst,
 * never an unsafe access.
 */
static __always_inline void tls_plaintext_of(struct tls_conn *t, __u64 sk_ptr, __u64 user_buf,
					     __u32 n, bool inbound, __u64 pid_tgid)
{
	struct span_buf s = { .base = user_buf, .len = n };
	struct call_args *a;

	if (!sk_ptr || !n || !user_buf)
		return;
	if (!t) {
		/* Never seen as TLS by the socket hooks (opened before Sonde, or
		 * evicted): not after its close, whose state is gone for good. */
		if (tls_sock_closing(sk_ptr))
			return;
		t = tls_conn_create(sk_ptr, NULL, pid_tgid >> 32);
		if (!t) {
			counter_add(SONDE_CNT_CONN_MAP_FULL, 1);
			return;
		}
	}
	if (t->c.ignored || t->c.finished)
		return;
	a = &t->args;
	a->buf = user_buf;
	a->kind = inbound ? CALL_READ : CALL_WRITE;
	a->iovcnt = 0;
	if (t->c.ev.proto == SONDE_PROTO_UNKNOWN && conn_classify(&t->c, &s, inbound, n, pid_tgid))
		return;
	proto_on_data(&t->c, a, &s, n, (t->c.ev.role == SONDE_ROLE_SERVER) == inbound, pid_tgid);
}

static __always_inline void tls_plaintext(__u64 sk_ptr, __u64 user_buf, __u32 n, bool inbound,
					  __u64 pid_tgid)
{
	if (sk_ptr && n && user_buf)
		tls_plaintext_of(tls_conn_of(sk_ptr), sk_ptr, user_buf, n, inbound, pid_tgid);
}

/* ---- library calls: entry and return (OpenSSL's uprobes use these) ---- */

/* A call that moves plaintext begins on this thread. */
static __always_inline void tls_call_enter(__u64 ssl, __u64 buf, __u64 len_ptr)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tls_task *task;

	if (!is_traced(id >> 32) || !ssl || !buf)
		return;
	task = tls_task_of_current(true);
	if (!task)
		return;
	task->call.ssl = ssl;
	task->call.buf = buf;
	task->call.len_ptr = len_ptr;
	task->call.sk = 0;
}

/* The socket of the call's library object (see the top of this file). */
static __always_inline __u64 tls_call_socket(const struct tls_call *call, __u64 id)
{
	struct tls_obj_key k = { .ssl = call->ssl, .tgid = id >> 32 };
	struct tls_task *task;
	struct tls_conn *t;
	__u64 *sk, found;

	if (call->sk)
		return call->sk;
	sk = bpf_map_lookup_elem(&tls_ssl_sock, &k);
	if (sk)
		return *sk;
	/* No tie: the thread's last TLS socket, while it is still that
	 * socket (not closed since, its address not reused) */
	task = tls_task_of_current(false);
	if (!task || !task->last.sk)
		return 0;
	found = task->last.sk;
	t = tls_conn_of(found);
	if (!t || t->sock_conn_id != task->last.conn_id) {
		task->last.sk = 0;
		return 0;
	}
	/* a tie made meanwhile (another thread) is kept */
	if (bpf_map_update_elem(&tls_ssl_sock, &k, &found, BPF_NOEXIST)) {
		sk = bpf_map_lookup_elem(&tls_ssl_sock, &k);
		return sk ? *sk : 0;
	}
	return found;
}

/*
 * The call returns: @ret bytes moved (@ret is the count, or with @ex a
 * success above 0, the count being in *len_ptr: the _ex variants, and the
 * internal functions both variants call, tls_hookpoints.h).
 */
static __always_inline void tls_call_return(long ret, bool inbound, bool ex)
{
	__u64 id = bpf_get_current_pid_tgid(), n = 0, sk;
	struct tls_task *task = tls_task_of_current(false);
	struct tls_call call;
	struct tls_conn *t;

	if (!task || !task->call.ssl)
		return;
	call = task->call;
	task->call.ssl = 0; /* the call is over */
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
	tls_plaintext_of(t, sk, call.buf, n, inbound, id);
}

/* TLS socket @sk closes: its plaintext state, to finish then forget
 * (tls_conn_forget; tls_conn_close in sonde.bpf.c), or NULL. */
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
