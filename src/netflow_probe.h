/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The network-flow BPF object (bpf/netflow.bpf.c): loaded only when the
 * network feature is on. TCP flows come from the sockets' own byte counts
 * (an iterator over open files, and each socket's final counts at its
 * close), UDP flows from cgroup_skb programs on the cgroup v2 root,
 * attached only when UDP is counted. Drained into a netflow_store
 * (model/netflow.h) periodically.
 */
#ifndef SONDE_NETFLOW_PROBE_H
#define SONDE_NETFLOW_PROBE_H

#include <stdbool.h>

#include "model/netflow.h"

struct netflow_probe;

/**
 * netflow_probe__start() - load and attach what counts the transports
 * asked for (@tcp, @udp). NULL on failure (logged).
 */
struct netflow_probe *netflow_probe__start(bool tcp, bool udp);
void netflow_probe__stop(struct netflow_probe *p);

/**
 * netflow_probe__drain() - move into @s the TCP bytes moved since the last
 * call (socket samples and closed sockets' totals) and the UDP counts of
 * the map not being written, then give the kernel that map and take the
 * other one next time. Call periodically (UDP counts are at most two
 * periods old; call twice at the end to have them all).
 */
void netflow_probe__drain(struct netflow_probe *p, struct netflow_store *s);

#endif /* SONDE_NETFLOW_PROBE_H */
