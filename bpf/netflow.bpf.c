// SPDX-License-Identifier: Apache-2.0
/*
 * Network flow bytes (network.enable / the "network" feature): a BPF
 * object of its own, loaded and attached only when that feature is on, so
 * the capture object (sonde.bpf.c) is the same with or without it.
 *
 * Two cgroup_skb programs on the cgroup v2 root see every packet a local
 * socket sends (egress) or receives (ingress), whatever the process, the
 * network namespace or the interface (loopback included). Each TCP or UDP
 * packet adds its transport payload (the IP packet minus the IP and TCP/UDP
 * headers: what the applications exchanged) to its flow's counter in a
 * per-CPU hash. Packets without payload (handshakes, pure ACKs) add
 * nothing and make no entry. No per-packet event goes to user space.
 *
 * Two maps take turns (flow_gen picks the one written): user space flips
 * the turn, waits until nothing can still be writing the other, then reads
 * and empties it. Nothing is lost between the reads, and a map only holds
 * the flows of one period. A new flow that finds its map full is counted
 * (SONDE_FLOW_CNT_MAP_FULL) and its bytes lost.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "sonde/netflow_abi.h"

char LICENSE[] SEC("license") = "GPL";

#define ETH_P_IP_BE 0x0008   /* htons(0x0800) */
#define ETH_P_IPV6_BE 0xDD86 /* htons(0x86DD) */
#define PROTO_TCP 6
#define PROTO_UDP 17

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
		if (proto != PROTO_TCP && proto != PROTO_UDP)
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
		if (proto != PROTO_TCP && proto != PROTO_UDP)
			return;
		hdr = sizeof(*ip6);
		k.family = 6;
		__builtin_memcpy(k.src, &ip6->saddr, 16);
		__builtin_memcpy(k.dst, &ip6->daddr, 16);
	} else {
		return;
	}
	if (proto == PROTO_UDP) {
		l4 = 8;
	} else {
		__u8 *doff = data + (hdr & 0x3c) + 12; /* hdr: 20..60, or 40 */

		if ((void *)(doff + 1) > end)
			return;
		l4 = (*doff >> 4) * 4;
	}
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
