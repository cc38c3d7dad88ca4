/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parent links between transactions, found where only the kernel can see
 * them, with no header written into the traffic:
 *
 *  - in one process, a client call made while the process serves a request
 *    is that request's child: by thread (the thread serving exactly one
 *    request), else when exactly one request is in flight in the process.
 *    When neither rule decides there is no link: never a wrong parent.
 *  - across processes on this host, a server transaction whose connection
 *    mirrors a traced client's connection is that client call's child.
 *
 * User space receives the references (struct sonde_txn_ref) and joins the
 * spans; ids stay a user-space matter.
 */
#ifndef SONDE_LINK_BPF_H
#define SONDE_LINK_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sonde/abi.h"
#include "maps.bpf.h"
#include "inflight.bpf.h"

/* Included by conn.bpf.h once struct conn_state is defined. */

/* Both ends of a TCP connection, IPv4 written as IPv4-mapped IPv6 so that
 * a v4 client and a v6 (dual-stack) server name the connection alike. */
struct tuple_key {
	__u8 local[16];
	__u8 peer[16];
	__u16 local_port;
	__u16 peer_port;
	__u32 _pad;
};

/* Where a traced client's connection stands: which transaction the next
 * request bytes its peer reads belong to. Kept up to date by the client at
 * each response and each emitted transaction. */
struct client_ref {
	__u64 conn_id;
	__u32 txn_seq;	   /* the transaction open or next on the connection */
	__u8 in_response;  /* txn_seq's response has begun: a new request is txn_seq + 1 */
	__u8 _pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_CONNS);
	__type(key, struct tuple_key);
	__type(value, struct client_ref);
} client_tuples SEC(".maps");

static __always_inline void mapped_addr(__u8 *dst, const struct sonde_addr *a)
{
	if (a->family == 2 /* AF_INET */) {
		__builtin_memset(dst, 0, 10);
		dst[10] = 0xff;
		dst[11] = 0xff;
		__builtin_memcpy(dst + 12, a->addr, 4);
	} else {
		__builtin_memcpy(dst, a->addr, 16);
	}
}

static __always_inline void tuple_of(struct tuple_key *k, const struct sonde_addr *local,
				     const struct sonde_addr *peer)
{
	__builtin_memset(k, 0, sizeof(*k));
	mapped_addr(k->local, local);
	mapped_addr(k->peer, peer);
	k->local_port = local->port;
	k->peer_port = peer->port;
}

static __always_inline void client_ref_of(struct client_ref *r, const struct conn_state *c)
{
	r->conn_id = c->ev.conn_id;
	r->txn_seq = c->ev.txn_seq;
	r->in_response = c->phase == PHASE_RESPONSE;
	r->_pad[0] = r->_pad[1] = r->_pad[2] = 0;
}

/* A traced client's connection, so its peer can find it. */
static __always_inline void client_tuple_add(struct conn_state *c)
{
	struct client_ref r;
	struct tuple_key t;

	tuple_of(&t, &c->ev.local, &c->ev.peer);
	client_ref_of(&r, c);
	if (bpf_map_update_elem(&client_tuples, &t, &r, BPF_ANY))
		counter_add(SONDE_CNT_PEER_LINK_LOST, 1);
}

/* The client's transaction moved on (response begun, or emitted). */
static __always_inline void client_progress(struct conn_state *c)
{
	struct client_ref *r;
	struct tuple_key t;

	tuple_of(&t, &c->ev.local, &c->ev.peer);
	r = bpf_map_lookup_elem(&client_tuples, &t);
	if (r && r->conn_id == c->ev.conn_id) {
		r->txn_seq = c->ev.txn_seq;
		r->in_response = c->phase == PHASE_RESPONSE;
	}
}

static __always_inline void client_tuple_del(struct conn_state *c)
{
	struct tuple_key t;

	tuple_of(&t, &c->ev.local, &c->ev.peer);
	bpf_map_delete_elem(&client_tuples, &t);
}

/* The request being served by this thread or, failing that, the one
 * request in flight in this process; link NONE when neither is certain.
 * Whether the process may link by thread is read now, not from the
 * connection: user space turns the thread rule off when it sees the
 * process answer requests on other threads. */
static __always_inline void client_parent(struct sonde_txn_ref *ref, __u32 tgid, __u32 tid)
{
	struct sonde_traced_proc *tp = bpf_map_lookup_elem(&traced, &tgid);
	bool thread_rule = tp && !(tp->flags & SONDE_PROC_NO_THREAD_RULE);
	struct inflight *f;

	__builtin_memset(ref, 0, sizeof(*ref));
	if (thread_rule) {
		f = inflight_thread(tid);
		if (inflight_one(f, tid)) {
			ref->conn_id = f->conn_id;
			ref->txn_seq = f->txn_seq;
			ref->link = SONDE_LINK_THREAD;
			return;
		}
	}
	f = inflight_proc(tgid);
	if (inflight_one(f, tgid)) {
		ref->conn_id = f->conn_id;
		ref->txn_seq = f->txn_seq;
		ref->link = SONDE_LINK_PROCESS;
	} else if (f && f->count) {
		/* Requests in flight, none certain: user space must not
		 * take an HTTP/2 stream for the call's parent either. */
		ref->busy = 1;
	}
}

/* A server transaction begins: count it in flight and look for the traced
 * client at the other end of its connection. */
static __always_inline void server_txn_begin(struct conn_state *c)
{
	__u32 tgid = c->ev.hdr.tgid;
	struct client_ref *peer;
	struct tuple_key t;

	if (c->thread_rule)
		inflight_begin(inflight_thread(c->ev.tid), c->ev.tid, c->ev.conn_id, c->ev.txn_seq);
	inflight_begin(inflight_proc(tgid), tgid, c->ev.conn_id, c->ev.txn_seq);
	c->counted = 1;

	__builtin_memset(&c->ev.parent, 0, sizeof(c->ev.parent));
	/* Whether a traced client holds the other end is remembered per
	 * connection: looked up at its first transaction and every 64th (a
	 * client traced later), or every time for a connection found
	 * mid-stream (its client may be learned a moment after our read). */
	if (c->peer_state == PEER_NONE && c->ev.conn_start_ns && (c->ev.txn_seq & 63))
		return;
	tuple_of(&t, &c->ev.peer, &c->ev.local); /* the client's view */
	peer = bpf_map_lookup_elem(&client_tuples, &t);
	c->peer_state = peer ? PEER_TRACED : PEER_NONE;
	if (!peer)
		return;
	c->ev.parent.conn_id = peer->conn_id;
	/* The client's write may not have reached its probe yet: if it still
	 * shows its previous transaction's response, this request is the
	 * next one. */
	c->ev.parent.txn_seq = peer->txn_seq + (peer->in_response ? 1 : 0);
	c->ev.parent.link = SONDE_LINK_PEER;
}

static __always_inline void server_txn_end(struct conn_state *c)
{
	if (!c->counted)
		return;
	c->counted = 0;
	if (c->thread_rule)
		inflight_end(inflight_thread(c->ev.tid), c->ev.conn_id, c->ev.txn_seq);
	inflight_end(inflight_proc(c->ev.hdr.tgid), c->ev.conn_id, c->ev.txn_seq);
}

#endif /* SONDE_LINK_BPF_H */
