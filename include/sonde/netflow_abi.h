/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the network-flow BPF object (bpf/netflow.bpf.c) and user space
 * (src/netflow.c) share: the flow key and the counters.
 *
 * A flow is (direction, transport, source address, destination address):
 * ports are not part of it (they are no label), so every connection
 * between two addresses in one direction adds to one entry.
 */
#ifndef SONDE_NETFLOW_ABI_H
#define SONDE_NETFLOW_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

enum sonde_flow_direction {
	SONDE_FLOW_INGRESS = 0,
	SONDE_FLOW_EGRESS = 1,
};

struct sonde_flow_key {
	__u8 src[16]; /* IPv4 as ::ffff:a.b.c.d */
	__u8 dst[16];
	__u8 family;	/* 4 or 6 */
	__u8 proto;	/* IPPROTO_TCP, IPPROTO_UDP */
	__u8 direction; /* enum sonde_flow_direction */
	__u8 pad[5];
};

/* Per-CPU counters of the object (netflow_counters). */
enum sonde_flow_counter {
	SONDE_FLOW_CNT_MAP_FULL = 0,   /* a new flow found its map full: its bytes are lost */
	SONDE_FLOW_CNT_CLOSED_FULL = 1, /* a closing TCP socket found tcp_closed full */
	SONDE_FLOW_CNT__MAX,
};

#define SONDE_FLOW_MAP_ENTRIES 16384
#define SONDE_TCP_CLOSED_ENTRIES 65536

/*
 * One TCP socket's byte counts as the kernel keeps them (struct tcp_sock:
 * bytes_sent, retransmissions included, and bytes_received), sampled by
 * the socket iterator (every socket some process holds) or at the close.
 * Addresses as struct sonde_addr gives them (IPv4 in the first 4 bytes).
 */
struct sonde_tcp_sample {
	__u64 cookie; /* the socket's cookie: unique for the boot */
	__u64 sent;
	__u64 received;
	__u8 local[16];
	__u8 peer[16];
	__u16 family; /* AF_INET or AF_INET6 */
	__u8 pad[6];
};

#endif /* SONDE_NETFLOW_ABI_H */
