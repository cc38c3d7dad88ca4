/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Network flow bytes (sonde_network_flow_bytes_total): the flows the
 * kernel counted (netflow_probe.c drains them here), as cumulative
 * counters per (source, destination, direction, transport), each address
 * with the most specific configured CIDR containing it.
 *
 * Capped at metrics.max_series_per_metric flows: bytes of further flows are
 * dropped and counted. Labels follow attributes.select (any of the
 * metric's names, Beyla's beyla_network_flow_bytes included); flows that
 * agree on the kept labels are added up when read. Thread-safe.
 */
#ifndef SONDE_MODEL_NETFLOW_H
#define SONDE_MODEL_NETFLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define NETFLOW_METRIC_PROM "sonde_network_flow_bytes_total"
#define NETFLOW_METRIC_OTEL "sonde.network.flow.bytes"

/* Labels, in rendering order. */
enum netflow_label {
	NF_SRC_ADDRESS = 0,
	NF_DST_ADDRESS,
	NF_DIRECTION,
	NF_TRANSPORT,
	NF_SRC_CIDR,
	NF_DST_CIDR,
	NF__MAX,
};

struct netflow_label_info {
	const char *prom; /* src_address */
	const char *otel; /* src.address */
};

extern const struct netflow_label_info netflow_labels[NF__MAX];

/* A CIDR, IPv4 ones held as ::ffff:a.b.c.d/(96 + prefix). */
struct netflow_cidr {
	uint8_t addr[16];
	unsigned int bits; /* of the 128 */
	bool v4;
	char text[64];	   /* as configured */
};

/** netflow_cidr_parse() - "10.0.0.0/8", "2001:db8::/32" or a bare address. */
int netflow_cidr_parse(const char *s, struct netflow_cidr *out);

/** netflow_metric_matches() - does the metric (any of its names) match glob @pattern? */
bool netflow_metric_matches(const char *pattern);

/** netflow_label_matches() - does label @l (either name) match glob @pattern? */
bool netflow_label_matches(enum netflow_label l, const char *pattern);

/** netflow_label_mask() - the labels kept under @sel's selections (bit per label). */
unsigned int netflow_label_mask(const struct attr_selects *sel);

/* One flow, or flows merged by the labels they agree on. */
struct netflow_series {
	char label[NF__MAX][64]; /* values; "" for a dropped label */
	uint64_t bytes;
};

struct netflow_store;

/** netflow_store__new() - from @cfg's CIDRs (checked by config__finish) and cap. */
struct netflow_store *netflow_store__new(const struct sonde_config *cfg);
void netflow_store__free(struct netflow_store *s);

/**
 * netflow_store__add() - add @bytes to the flow; @src and @dst are 16 bytes
 * (IPv4 as ::ffff:a.b.c.d), @family 4 or 6, @proto an IPPROTO_*, @egress
 * its direction.
 */
void netflow_store__add(struct netflow_store *s, int family, const uint8_t *src,
			const uint8_t *dst, int proto, bool egress, uint64_t bytes);

/**
 * netflow_store__collect() - the flows, merged by the labels of @keep
 * (bits of enum netflow_label), sorted by label values. Free with free().
 * Return: 0, or -ENOMEM.
 */
int netflow_store__collect(struct netflow_store *s, unsigned int keep, struct netflow_series **out,
			   size_t *n);

/** netflow_store__overflowed() - flow records dropped by the cap. */
uint64_t netflow_store__overflowed(struct netflow_store *s);

/** netflow_store__kernel_lost() / set: flows the kernel could not record (map full). */
uint64_t netflow_store__kernel_lost(struct netflow_store *s);
void netflow_store__set_kernel_lost(struct netflow_store *s, uint64_t n);

#endif /* SONDE_MODEL_NETFLOW_H */
