// SPDX-License-Identifier: Apache-2.0
/*
 * The benchmark's alternatives to Sonde's network-flow hook (the cgroup_skb
 * programs of bpf/netflow.bpf.c), measured against it (bench/netflow/README
 * in the top README's "Network metrics" section):
 *  - tc: the same per-packet accounting on a clsact qdisc (packets start at
 *    the Ethernet header there), per interface;
 *  - sock: the socket-layer tracepoints with a per-socket byte counter in
 *    socket storage (what a flush at close would add is not counted).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

struct alt_key {
	__u8 src[16], dst[16];
	__u8 family, proto, direction, pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct alt_key);
	__type(value, __u64);
} flows SEC(".maps");

struct sock_bytes {
	__u64 sent, received;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_bytes);
} per_sock SEC(".maps");

static __always_inline void add(struct alt_key *k, __u64 bytes)
{
	__u64 *v = bpf_map_lookup_elem(&flows, k);

	if (v) {
		__sync_fetch_and_add(v, bytes);
		return;
	}
	bpf_map_update_elem(&flows, k, &bytes, BPF_NOEXIST);
}

static __always_inline void account(struct __sk_buff *skb, __u32 off, __u8 direction)
{
	struct alt_key k = {};
	struct iphdr ip;
	__u8 doff;
	__u32 l4;

	if (skb->protocol != bpf_htons(0x0800))
		return;
	if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)))
		return;
	if (ip.protocol != 6 && ip.protocol != 17)
		return;
	l4 = 8;
	if (ip.protocol == 6) {
		if (bpf_skb_load_bytes(skb, off + ip.ihl * 4 + 12, &doff, 1))
			return;
		l4 = (doff >> 4) * 4;
	}
	if (skb->len <= off + ip.ihl * 4 + l4)
		return;
	k.family = 4;
	k.proto = ip.protocol;
	k.direction = direction;
	__builtin_memcpy(&k.src[12], &ip.saddr, 4);
	__builtin_memcpy(&k.dst[12], &ip.daddr, 4);
	add(&k, skb->len - off - ip.ihl * 4 - l4);
}

SEC("tc")
int alt_tc_ingress(struct __sk_buff *skb)
{
	account(skb, 14, 0);
	return 0; /* TC_ACT_OK */
}

SEC("tc")
int alt_tc_egress(struct __sk_buff *skb)
{
	account(skb, 14, 1);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(alt_sock_send, struct sock *sk, int ret, int flags)
{
	struct sock_bytes *b;

	if (ret <= 0)
		return 0;
	b = bpf_sk_storage_get(&per_sock, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (b)
		__sync_fetch_and_add(&b->sent, ret);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(alt_sock_recv, struct sock *sk, int ret, int flags)
{
	struct sock_bytes *b;

	if (ret <= 0)
		return 0;
	b = bpf_sk_storage_get(&per_sock, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (b)
		__sync_fetch_and_add(&b->received, ret);
	return 0;
}

/* The floor of the cgroup_skb hook: programs that do nothing. */
SEC("cgroup_skb/egress")
int alt_cg_empty_egress(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup_skb/ingress")
int alt_cg_empty_ingress(struct __sk_buff *skb)
{
	return 1;
}
