/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Span metrics and service-graph metrics, as Tempo's metrics-generator
 * and Beyla name them, computed from the final spans (after linking).
 *
 * Span metrics: per (service, instance, span name, span kind, status
 * code) a call count, a latency histogram (seconds) and the request bytes.
 *
 * Service graph: an edge per (client, server, connection type), counted
 * once per request:
 *  - a server span whose parent is a client span Sonde saw: one edge from
 *    the client's service to the server's (both latencies observed);
 *  - a client span nobody answered in the link wait (the peer is not
 *    traced): an edge to the peer's service when a server span told which
 *    service listens there, else to "host:port" (connection type
 *    "virtual_node");
 *  - a server span with no parent, or whose parent never came (its caller
 *    is not traced): an edge from "user" (connection type "virtual_node").
 *
 * Both tables are capped (metrics.max_series_per_metric): an observation
 * that would need a further series is dropped and counted. Thread-safe:
 * the pipeline records, exporter threads read copies.
 */
#ifndef SONDE_MODEL_SPANMETRICS_H
#define SONDE_MODEL_SPANMETRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/metrics.h"
#include "model/span.h"

#define SM_NAME_MAX (SPAN_METHOD_MAX + SPAN_ROUTE_MAX + 2)
#define SG_NODE_MAX 160
#define SG_CONN_TYPE_MAX 16
#define SG_USER "user"
#define SG_VIRTUAL_NODE "virtual_node"

enum sm_status {
	SM_STATUS_UNSET = 0,
	SM_STATUS_OK,
	SM_STATUS_ERROR,
};

struct sm_series {
	const struct service *service;
	uint32_t pid; /* service instance: host:pid */
	char span_name[SM_NAME_MAX];
	enum span_kind kind;
	enum sm_status status;
	struct histogram latency; /* seconds; count is the calls */
	uint64_t size_total;	  /* request body bytes */
};

struct sg_edge {
	char client[SG_NODE_MAX];
	char server[SG_NODE_MAX];
	char connection_type[SG_CONN_TYPE_MAX]; /* "" or "virtual_node" */
	uint64_t total, failed;
	struct histogram server_seconds; /* count 0: no server side seen (untraced peer) */
	struct histogram client_seconds; /* count 0: no client side seen ("user") */
};

enum sm_table {
	SM_TABLE_SPAN = 0,
	SM_TABLE_GRAPH,
	SM_TABLE__MAX,
};

struct spanmetrics;

/**
 * spanmetrics__new() - empty tables of at most @max_series series each; an
 * unpaired span waits @wait_ns for its other half (at most @max_pending wait).
 */
struct spanmetrics *spanmetrics__new(size_t max_series, uint64_t wait_ns, size_t max_pending);
void spanmetrics__free(struct spanmetrics *m);

/** spanmetrics__record() - count @s in the span metrics. */
void spanmetrics__record(struct spanmetrics *m, const struct span *s);

/**
 * spanmetrics__graph_submit() - a final span (ids linked) for the service
 * graph. @now_ns: monotonic.
 */
void spanmetrics__graph_submit(struct spanmetrics *m, const struct span *s, uint64_t now_ns);

/** spanmetrics__graph_expire() - unpaired spans past their wait become edges. */
void spanmetrics__graph_expire(struct spanmetrics *m, uint64_t now_ns);

/** spanmetrics__graph_flush() - every unpaired span becomes an edge (shutdown). */
void spanmetrics__graph_flush(struct spanmetrics *m);

/** spanmetrics__series() - a copy of the span-metric series. Free with free(). */
int spanmetrics__series(struct spanmetrics *m, struct sm_series **out, size_t *n);

/** spanmetrics__edges() - a copy of the service-graph edges. Free with free(). */
int spanmetrics__edges(struct spanmetrics *m, struct sg_edge **out, size_t *n);

/** spanmetrics__overflowed() - observations dropped by the cap of @t. */
uint64_t spanmetrics__overflowed(struct spanmetrics *m, enum sm_table t);

/** spanmetrics__evicted() - unpaired spans let go early because the wait was full. */
uint64_t spanmetrics__evicted(struct spanmetrics *m);


/** spanmetrics__status() - OTel HTTP: 5xx on servers, 4xx/5xx or no answer on clients. */
enum sm_status spanmetrics__status(const struct span *s);

const char *spanmetrics__status_name(enum sm_status st); /* "STATUS_CODE_ERROR" */
const char *spanmetrics__kind_name(enum span_kind k);	  /* "SPAN_KIND_SERVER" */

/** spanmetrics__peer() - "host:port" of a client span's peer (Host header name, else address). */
void spanmetrics__peer(const struct span *s, char *out, size_t size);

#endif /* SONDE_MODEL_SPANMETRICS_H */
