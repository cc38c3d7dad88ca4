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
	SONDE_FLOW_CNT_MAP_FULL = 0, /* a new flow found its map full: its bytes are lost */
	SONDE_FLOW_CNT__MAX,
};

#define SONDE_FLOW_MAP_ENTRIES 16384

#endif /* SONDE_NETFLOW_ABI_H */
