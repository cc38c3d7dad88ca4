// SPDX-License-Identifier: Apache-2.0
/*
 * Sonde's kernel side: socket-layer tracepoints that follow the TCP
 * connections of traced processes and emit one ring-buffer event per
 * completed transaction, plus the process lifecycle events discovery needs.
 *
 * Capture hangs on the socket layer: `sock_recv_length` / `sock_send_length`
 * fire inside sock_recvmsg / sock_sendmsg, after the bytes are in the user
 * buffer, so only socket I/O pays (a file read, an epoll_wait, a getppid
 * pay nothing), and `inet_sock_set_state` gives each connection's opening
 * and end (connect, passive open, listen, close). State is keyed by the
 * socket (its storage, conn.bpf.h): whichever descriptor, thread or process
 * moves the bytes, they reach the same connection. Order of work on every
 * socket I/O: is the process traced (a bit test), is it TCP, one storage
 * lookup, and only then any copy. No syscall is hooked, so a process's
 * other syscalls pay nothing. No kprobes or fentry: this runs where only
 * tracepoints and uprobes do.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sonde/abi.h"
#include "maps.bpf.h"
#include "sock.bpf.h"
#include "conn.bpf.h"
#include "protocols.bpf.h"
#include "tls.bpf.h"
#include "syscall_nr.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_SYN_RECV 3
#define TCP_LAST_ACK 9
#define TCP_LISTEN 10
#define MSG_PEEK 2
#define IPPROTO_TCP 6
#define RCV_SHUTDOWN 1

/* ---- a server connection's start ---- */

/*
 * Local ports on which traced processes listen, one bit each: a passive
 * open changes state in softirq, under whatever task runs, so the process
 * is unknown there; a connection to a marked port gets its state (and its
 * start, the handshake's end: the time it then waits to be accepted is
 * part of its first request) right away. A port is marked when a traced
 * process listens on it, or when a traced server's connection on it is
 * first seen (a listener older than Sonde); unmarked when a listener on it
 * closes. Nothing else pays: no syscall is hooked for accept.
 */
#define PORT_WORDS (65536 / 64)
__u64 server_ports[PORT_WORDS] SEC(".bss");

static __always_inline __u64 *port_word(__u16 port)
{
	__u64 w = port >> 6;

	asm volatile("" : "+r"(w));
	if (w >= PORT_WORDS)
		return NULL;
	return &server_ports[w];
}

static __always_inline bool port_marked(__u16 port)
{
	__u64 *w = port_word(port);

	return w && ((*w >> (port & 63)) & 1);
}

static __always_inline void port_mark(__u16 port)
{
	__u64 *w = port_word(port);

	if (w && !((*w >> (port & 63)) & 1))
		__sync_fetch_and_or(w, 1ULL << (port & 63));
}

static __always_inline void port_unmark(__u16 port)
{
	__u64 *w = port_word(port);

	if (w)
		__sync_fetch_and_and(w, ~(1ULL << (port & 63)));
}

/* ---- socket I/O ---- */

static __always_inline bool sk_is_tcp(struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;

	return (family == SONDE_AF_INET || family == SONDE_AF_INET6) &&
	       sk->sk_protocol == IPPROTO_TCP;
}

/* Where the current syscall's bytes are. io_uring (its registers are
 * io_uring_enter's) and the *mmsg calls have none we read: counted. */
static __always_inline void call_from_regs(struct call_args *a, struct pt_regs *regs)
{
	a->buf = PT_REGS_PARM2_SYSCALL(regs);
	a->iovcnt = 0;
	switch (SYSCALL_NR(regs)) {
	case NR_read:
	case NR_recvfrom:
		a->kind = CALL_READ;
		break;
	case NR_write:
	case NR_sendto:
		a->kind = CALL_WRITE;
		break;
	case NR_readv:
		a->kind = CALL_READV;
		a->iovcnt = PT_REGS_PARM3_SYSCALL(regs);
		break;
	case NR_writev:
		a->kind = CALL_WRITEV;
		a->iovcnt = PT_REGS_PARM3_SYSCALL(regs);
		break;
	case NR_recvmsg:
		a->kind = CALL_RECVMSG;
		break;
	case NR_sendmsg:
		a->kind = CALL_SENDMSG;
		break;
	case NR_sendfile:
	case NR_splice:
		a->kind = CALL_SENDFILE;
		break;
	default:
		a->kind = CALL_NONE;
		counter_add(SONDE_CNT_NO_BUFFER, 1);
	}
}

/* A client reading the end of the stream: a response without a length
 * ends here. */
static __always_inline void on_eof(struct sock *sk)
{
	struct conn_state *c = conn_of(sk, false);

	if (c && c->ev.proto == SONDE_PROTO_TLS) /* the plaintext's connection ends */
		c = tls_conn_closing(sk);
	if (!c || c->finished || c->ev.role != SONDE_ROLE_CLIENT || c->phase != PHASE_RESPONSE)
		return;
	if (c->ev.end_ns < c->ev.req_end_ns)
		c->ev.end_ns = bpf_ktime_get_ns();
	txn_emit(c, SONDE_END_CLOSE);
}

/* The one entry of bytes into a connection: @n bytes moved on @sk by the
 * current thread, read (@inbound) or written. */
static __always_inline int on_sock_io(struct sock *sk, int ret, int flags, bool inbound)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct span_buf s = {};
	struct conn_state *c;
	struct call_args *a;
	__u32 zero = 0;
	bool request_dir;

	if (!is_traced(id >> 32) || ret < 0 || !sk || !sk_is_tcp(sk))
		return 0;
	if (ret == 0) {
		if (inbound)
			on_eof(sk);
		return 0;
	}
	/* A peek leaves the bytes for the next read: count them then. */
	if (inbound && (flags & MSG_PEEK))
		return 0;
	c = conn_of(sk, false);
#ifdef SONDE_ABLATE_AFTER_LOOKUP
	/* `make bench-ablation` only: a known connection's bytes are counted
	 * and nothing else is done (the cost of the lookup alone). */
	if (c && c->ev.proto != SONDE_PROTO_UNKNOWN) {
		c->ev.req_bytes += ret;
		return 0;
	}
#endif
	if (!c)
		c = conn_new(sk, id >> 32, SONDE_ROLE_UNKNOWN, 0);
	/* A TLS library's socket carries no plaintext protocol: only those
	 * pay the lookup of a library call in progress. */
	if (!c || c->ev.proto == SONDE_PROTO_UNKNOWN || c->ev.proto == SONDE_PROTO_TLS ||
	    c->ignored)
		tls_call_note_socket(sk, id);
	if (!c || c->ignored || c->finished)
		return 0;
	c->connecting = 0; /* bytes moved: the connection is open */
	if (c->ev.proto == SONDE_PROTO_TLS) {
		/* ciphertext: skipped */
		if (c->tls_ready)
			tls_note_last((__u64)sk, c->ev.conn_id);
		else
			tls_on_socket(sk, c, id);
		return 0;
	}
	a = bpf_map_lookup_elem(&call_scratch, &zero);
	if (!a)
		return 0;
	call_from_regs(a, (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf()));
	if (a->kind != CALL_SENDFILE && a->kind != CALL_NONE && first_segment(a, ret, &s))
		return 0;
	if (c->ev.proto == SONDE_PROTO_UNKNOWN) {
		int verdict = conn_classify(c, &s, inbound, ret, id);

		if (c->ev.role == SONDE_ROLE_SERVER)
			port_mark(c->ev.local.port); /* its next connections from the start */
		if (verdict)
			return 0;
		if (c->ev.proto == SONDE_PROTO_TLS) {
			/* just recognised: counted once per connection */
			counter_add(SONDE_CNT_TLS_CONN, 1);
			tls_on_socket(sk, c, id);
			return 0;
		}
	}
	request_dir = (c->ev.role == SONDE_ROLE_SERVER) == inbound;
	proto_on_data(c, a, &s, ret, request_dir, id);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv_length, struct sock *sk, int ret, int flags)
{
	return on_sock_io(sk, ret, flags, true);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send_length, struct sock *sk, int ret, int flags)
{
	return on_sock_io(sk, ret, flags, false);
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
	bpf_ringbuf_submit(e, ringbuf_flags(sizeof(*e)));
}

/* ---- a connection's life, from the TCP state machine ---- */

/* A connection ends: what it still holds is emitted or counted. */
static __always_inline void conn_finish(struct conn_state *c)
{
	if (c->finished)
		return;
	c->finished = 1;
	proto_on_close(c);
	if (c->phase == PHASE_RESPONSE) {
		if (c->ev.end_ns < c->ev.req_end_ns)
			c->ev.end_ns = bpf_ktime_get_ns();
		txn_emit(c, SONDE_END_CLOSE);
	} else if (c->phase == PHASE_REQUEST) {
		server_txn_end(c);
		/* A short head never confirmed as a request was not one. */
		counter_add(http_is_request(c->ev.data, c->ev.req_len) ? SONDE_CNT_INCOMPLETE
								       : SONDE_CNT_NOT_HTTP,
			    1);
	} else if (c->ev.proto == SONDE_PROTO_UNKNOWN && !c->ignored &&
		   c->probes_left < MIDSTREAM_PROBES) {
		counter_add(SONDE_CNT_NOT_HTTP, 1); /* never recognised */
	}
	if (c->ev.role == SONDE_ROLE_CLIENT)
		client_tuple_del(c);
}

/* TCP socket @sk is gone (TCP_CLOSE): its plaintext state is finished
 * and deleted whatever its socket state says (finished before, never
 * made, ignored), so that none outlives it. */
static __always_inline void tls_conn_close(struct sock *sk)
{
	struct tls_conn *t = tls_conn_of((__u64)sk);

	if (!t)
		return;
	if (!t->c.finished)
		conn_finish(&t->c);
	tls_conn_forget(sk);
}

/*
 * Every TCP state change on the host passes here; only the connect of a
 * traced process creates state, everything else is one storage lookup on
 * a socket that has none unless Sonde follows it. Passive opens change
 * state in softirq, under whatever task was running: they are learnt at
 * the accept and the first bytes instead.
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, struct sock *sk, int oldstate, int newstate)
{
	struct conn_state *c;

	if (newstate == TCP_LISTEN) {
		/* listen(), in the listening task's own context */
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;

		if (is_traced(tgid))
			port_mark(sk->__sk_common.skc_num);
		else /* a process that starts listening may now match a selector */
			proc_event(SONDE_EV_LISTEN, tgid, 0);
		return 0;
	}
	if (oldstate == TCP_LISTEN) {
		/* LISTEN -> SYN_RECV is a new connection's request socket;
		 * LISTEN -> CLOSE a listener closing. */
		if (newstate == TCP_CLOSE)
			port_unmark(sk->__sk_common.skc_num);
		return 0;
	}
	if (oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED) {
		/* a passive open, in softirq: the process comes with the bytes */
		if (port_marked(sk->__sk_common.skc_num) && sk_is_tcp(sk))
			conn_new(sk, 0, SONDE_ROLE_SERVER, bpf_ktime_get_ns());
		return 0;
	}
	if (oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT) {
		/* connect(), in the connecting task's own context */
		__u64 id = bpf_get_current_pid_tgid();

		if (!is_traced(id >> 32) || !sk_is_tcp(sk))
			return 0;
		c = conn_new(sk, id >> 32, SONDE_ROLE_CLIENT, bpf_ktime_get_ns());
		if (c) {
			c->connecting = 1;
			c->ev.tid = (__u32)id;
		}
		return 0;
	}
	/* Gone: its TLS plaintext state goes with it, whatever became of
	 * the socket's own. */
	if (newstate == TCP_CLOSE)
		tls_conn_close(sk);
	c = conn_of(sk, false);
	if (!c || c->finished)
		return 0;
	if (oldstate == TCP_SYN_SENT && c->connecting) {
		c->connecting = 0;
		if (newstate == TCP_ESTABLISHED) {
			/* Both ends are final now (the source port was not at SYN). */
			sock_read_addrs(sk, &c->ev.local, &c->ev.peer);
			client_tuple_add(c);
		} else {
			/* Refused, timed out, or closed by its process first:
			 * sk_err says which (0 for the last). */
			client_parent(&c->ev.parent, c->ev.hdr.tgid, c->ev.tid);
			conn_connect_failed(c, sk);
		}
		return 0;
	}
	/* Our side closes (the process closed or shut down its socket), or the
	 * connection is gone. A client that only shut down its writing side
	 * still reads its response. */
	if (newstate == TCP_CLOSE ||
	    ((newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK) &&
	     (c->ev.role != SONDE_ROLE_CLIENT || (sk->sk_shutdown & RCV_SHUTDOWN)))) {
		conn_finish(c);
		if (c->ev.proto == SONDE_PROTO_TLS)
			tls_conn_close(sk);
	}
	return 0;
}

/* Every program is a BTF tracepoint (tp_btf): none goes through tracefs,
 * which Sonde therefore neither needs mounted nor readable. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
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
	if (bpf_map_update_elem(&traced, &ctgid, tp, BPF_ANY)) {
		counter_add(SONDE_CNT_TRACED_MAP_FULL, 1);
		return 0; /* the map is full: not traced */
	}
	traced_bit_set(ctgid);
	proc_event(SONDE_EV_PROC_FORK, ctgid, ptgid);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit_proc, struct task_struct *p)
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

/* TLS libraries' uprobes, attached per traced process by user space. */
#include "tls_openssl.bpf.h"
/* Go's crypto/tls: uprobes at entry and at each RET, attached per process. */
#include "tls_go.bpf.h"
