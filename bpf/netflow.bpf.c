// SPDX-License-Identifier: Apache-2.0
/*
 * Network flow bytes (network.enable / the "network" feature): a BPF
 * object of its own, loaded and attached only when that feature is on, so
 * the capture object (sonde.bpf.c) is the same with or without it.
 *
 * TCP costs nothing per packet or per I/O: the kernel already counts every
 * TCP socket's bytes (tcp_sock.bytes_sent less bytes_retrans, and
 * bytes_received): payload, each byte once, retransmissions not again. An iterator over every open file of every task
 * (netflow_tcp_iter) samples the sockets some process holds, when user
 * space reads it (about once a second), and inet_sock_set_state keeps the
 * final counts of each socket reaching TCP_CLOSE (netflow_tcp_close) until
 * user space takes them. User space turns the differences between samples
 * into flow bytes.
 *
 * UDP sockets keep no byte counts and an unconnected one knows no peer, so
 * UDP is counted per packet: two cgroup_skb programs on the cgroup v2 root
 * see every packet a local socket sends (egress) or receives (ingress),
 * whatever the process, network namespace or interface, and add each UDP
 * packet's payload to its flow's counter in a per-CPU hash. They run for
 * every packet, TCP ones included (returning at once), so they are attached
 * only when UDP is counted (network.protocols / exclude_protocols).
 *
 * The UDP maps take turns (flow_gen picks the one written): user space
 * flips the turn, waits until nothing can still be writing the other, then
 * reads and empties it. A new flow that finds its map full is counted
 * (SONDE_FLOW_CNT_MAP_FULL) and its bytes lost; a closing socket that finds
 * tcp_closed full too (SONDE_FLOW_CNT_CLOSED_FULL: its bytes since the last
 * sample are lost).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "sock.bpf.h"
#include "sonde/netflow_abi.h"

char LICENSE[] SEC("license") = "GPL";

#define ETH_P_IP_BE 0x0008   /* htons(0x0800) */
#define ETH_P_IPV6_BE 0xDD86 /* htons(0x86DD) */
#define PROTO_TCP 6
#define PROTO_UDP 17
#define RCV_SHUTDOWN 1

struct flow_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SONDE_FLOW_MAP_ENTRIES);
	__type(key, struct sonde_flow_key);
	__type(value, __u64);
};

struct flow_map flows0 SEC(".maps");
struct flow_map flows1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SONDE_FLOW_CNT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} netflow_counters SEC(".maps");

/* Which of flows0/flows1 the programs write; user space flips it. */
__u32 flow_gen = 0;

static __always_inline void count(__u32 id)
{
	__u64 *c = bpf_map_lookup_elem(&netflow_counters, &id);

	if (c)
		*c += 1;
}

static __always_inline void add(void *map, const struct sonde_flow_key *k, __u64 bytes)
{
	__u64 *v = bpf_map_lookup_elem(map, k);

	if (v) {
		/* Per-CPU, but an ingress softirq may interrupt an egress
		 * update on this CPU: keep the add atomic. */
		__sync_fetch_and_add(v, bytes);
		return;
	}
	if (bpf_map_update_elem(map, k, &bytes, BPF_NOEXIST) == 0)
		return;
	v = bpf_map_lookup_elem(map, k); /* made meanwhile by an interrupting packet */
	if (v)
		__sync_fetch_and_add(v, bytes);
	else
		count(SONDE_FLOW_CNT_MAP_FULL);
}

/*
 * Headers are read in place (cgroup_skb may read packet data directly):
 * UDP packets only (TCP is counted from its sockets, below).
 * they are in the linear part of every packet a socket sends or gets.
 * A packet whose headers are not there is not counted.
 */
static __always_inline void account(struct __sk_buff *skb, __u8 direction)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct sonde_flow_key k = {};
	__u32 len = skb->len, hdr, l4;
	__u8 proto;

	if (skb->protocol == ETH_P_IP_BE) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) > end)
			return;
		proto = ip->protocol;
		if (proto != PROTO_UDP)
			return;
		hdr = ip->ihl * 4;
		if (hdr < sizeof(*ip))
			return;
		k.family = 4;
		k.src[10] = k.src[11] = 0xff;
		k.dst[10] = k.dst[11] = 0xff;
		__builtin_memcpy(&k.src[12], &ip->saddr, 4);
		__builtin_memcpy(&k.dst[12], &ip->daddr, 4);
		/* A later fragment has no L4 header: all of it is payload. */
		if (ip->frag_off & bpf_htons(0x1FFF)) {
			l4 = 0;
			goto count;
		}
	} else if (skb->protocol == ETH_P_IPV6_BE) {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > end)
			return;
		/* Extension headers are not followed: such packets are rare
		 * for TCP and UDP, and not counted. */
		proto = ip6->nexthdr;
		if (proto != PROTO_UDP)
			return;
		hdr = sizeof(*ip6);
		k.family = 6;
		__builtin_memcpy(k.src, &ip6->saddr, 16);
		__builtin_memcpy(k.dst, &ip6->daddr, 16);
	} else {
		return;
	}
	l4 = 8;
count:
	if (len <= hdr + l4)
		return; /* no payload: handshake, ACK */
	k.proto = proto;
	k.direction = direction;
	if (flow_gen & 1)
		add(&flows1, &k, len - hdr - l4);
	else
		add(&flows0, &k, len - hdr - l4);
}

SEC("cgroup_skb/egress")
int netflow_egress(struct __sk_buff *skb)
{
	account(skb, SONDE_FLOW_EGRESS);
	return 1; /* observe only: every packet passes */
}

SEC("cgroup_skb/ingress")
int netflow_ingress(struct __sk_buff *skb)
{
	account(skb, SONDE_FLOW_INGRESS);
	return 1;
}

/* ---- TCP: the sockets' own counts ---- */

/* Final counts of TCP sockets that reached TCP_CLOSE, by cookie, until
 * user space takes them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SONDE_TCP_CLOSED_ENTRIES);
	__type(key, __u64);
	__type(value, struct sonde_tcp_sample);
} tcp_closed SEC(".maps");

/* A TCP socket's counts and ends; false when it is no inet TCP socket or
 * has moved no byte. */
static __always_inline bool tcp_sample(struct sock *sk, struct sonde_tcp_sample *out)
{
	struct tcp_sock *tp;
	struct sonde_addr local, peer;
	__u16 family = sk->__sk_common.skc_family;

	if ((family != SONDE_AF_INET && family != SONDE_AF_INET6) ||
	    sk->sk_protocol != IPPROTO_TCP)
		return false;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return false;
	/* Payload each counted once: a retransmission is no new byte, and the
	 * peer's FIN takes one sequence number that bytes_received counts. */
	out->sent = tp->bytes_sent - tp->bytes_retrans;
	out->received = tp->bytes_received;
	if ((sk->sk_shutdown & RCV_SHUTDOWN) && out->received)
		out->received--;
	if (!out->sent && !out->received)
		return false;
	out->cookie = bpf_get_socket_cookie(sk);
	sock_read_addrs(sk, &local, &peer);
	__builtin_memcpy(out->local, local.addr, 16);
	__builtin_memcpy(out->peer, peer.addr, 16);
	out->family = family;
	return true;
}

/* Every file of every task: the TCP sockets among them, one record each
 * (a socket several processes hold comes once per holder). */
SEC("iter/task_file")
int netflow_tcp_iter(struct bpf_iter__task_file *ctx)
{
	struct sonde_tcp_sample rec = {};
	struct file *file = ctx->file;
	struct socket *sock;

	if (!file)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock || !sock->sk)
		return 0;
	if (tcp_sample(sock->sk, &rec))
		bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}

/* A TCP socket reaching TCP_CLOSE moves no more bytes: keep its totals. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(netflow_tcp_close, struct sock *sk, int oldstate, int newstate)
{
	struct sonde_tcp_sample rec = {};

	if (newstate != TCP_CLOSE || !tcp_sample(sk, &rec))
		return 0;
	if (bpf_map_update_elem(&tcp_closed, &rec.cookie, &rec, BPF_ANY))
		count(SONDE_FLOW_CNT_CLOSED_FULL);
	return 0;
}
