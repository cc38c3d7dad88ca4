/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The network-flow BPF object (bpf/netflow.bpf.c): loaded and attached to
 * the cgroup v2 root only when the network feature is on; its maps are
 * drained into a netflow_store (model/netflow.h) periodically.
 */
#ifndef SONDE_NETFLOW_PROBE_H
#define SONDE_NETFLOW_PROBE_H

#include "model/netflow.h"

struct netflow_probe;

/** netflow_probe__start() - load and attach. NULL on failure (logged). */
struct netflow_probe *netflow_probe__start(void);
void netflow_probe__stop(struct netflow_probe *p);

/**
 * netflow_probe__drain() - move the counts of the map not being written
 * into @s, then give the kernel that map and take the other one next
 * time. Call periodically (each call's counts are at most two periods old).
 */
void netflow_probe__drain(struct netflow_probe *p, struct netflow_store *s);

#endif /* SONDE_NETFLOW_PROBE_H */
