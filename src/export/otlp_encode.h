/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OTLP encoding: spans and metric series of the one model into
 * ExportTraceServiceRequest / ExportMetricsServiceRequest protobuf bytes
 * (protobuf-c, messages generated from proto/). One resource per traced
 * process (spans) or per service (metrics), with the semantic
 * conventions' HTTP attributes. No I/O: unit-tested by decoding back.
 */
#ifndef SONDE_EXPORT_OTLP_ENCODE_H
#define SONDE_EXPORT_OTLP_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "discovery.h"
#include "export/otlp_config.h"
#include "model/metrics.h"
#include "model/netflow.h"
#include "model/spanmetrics.h"
#include "model/self_metrics.h"
#include "model/span.h"

/* What a resource says about one process, copied while it is known. */
struct otlp_proc_info {
	const struct service *service;
	uint32_t pid;
	char exe[256];	  /* executable path, "" if unknown */
	char runtime[16]; /* "java", "python", "node", "ruby" or "" */
};

/* One span waiting to be sent, with its process. */
struct otlp_span_item {
	struct span span;
	struct otlp_proc_info proc;
};

/* What every resource shares. */
struct otlp_resource_base {
	char host_name[256];
	struct otlp_pairs attributes; /* OTEL_RESOURCE_ATTRIBUTES: beat detected values */
	bool service_name_configured; /* a configured service name beats service.name above */
	unsigned int span_conv;	      /* HTTP_CONV_* (config.h); 0 means stable */
	unsigned int metric_conv;     /* likewise, metric names and attributes */
};

struct otlp_buf {
	uint8_t *data;
	size_t len;
};

void otlp_buf__free(struct otlp_buf *b);

/**
 * otlp_encode_traces() - an ExportTraceServiceRequest of @n spans.
 * Return: 0 with @out filled (free with otlp_buf__free), or -ENOMEM.
 */
int otlp_encode_traces(const struct otlp_resource_base *base, const struct otlp_span_item *items,
		       size_t n, struct otlp_buf *out);

/**
 * otlp_encode_metrics() - an ExportMetricsServiceRequest of the RED
 * histograms of @n series, cumulative since @start_ns, observed at @now_ns,
 * with the default attributes and explicit buckets.
 * @procs: a process of each service (@nprocs of them) for its resource
 * @points: receives the number of data points encoded
 * Return: 0 with @out filled, or -ENOMEM.
 */
int otlp_encode_metrics(const struct otlp_resource_base *base, const struct series *series,
			size_t n, const struct otlp_proc_info *procs, size_t nprocs, uint64_t start_ns,
			uint64_t now_ns, struct otlp_buf *out, size_t *points);

/* The series of each instrument, as the metrics exporter collected them. */
struct otlp_metric_set {
	const struct series *series[INSTR__MAX]; /* series of other kinds are skipped */
	size_t n[INSTR__MAX];
	label_mask labels[INSTR__MAX]; /* the attributes of each instrument's points */
	bool exponential; /* base-2 exponential histograms (series' exp) instead of explicit */
	/* Sonde's own metrics (model/self_metrics.h), under a resource of their
	 * own (service.name "sonde"): Sum (monotonic, cumulative) or Gauge. */
	const struct self_sample *self;
	size_t nself;
};

/**
 * otlp_encode_metric_set() - an ExportMetricsServiceRequest of every
 * instrument of @set, cumulative since @start_ns, observed at @now_ns.
 * Points of one instrument that agree on its labels must already be merged.
 * Otherwise as otlp_encode_metrics().
 */
int otlp_encode_metric_set(const struct otlp_resource_base *base, const struct otlp_metric_set *set,
			   const struct otlp_proc_info *procs, size_t nprocs, uint64_t start_ns,
			   uint64_t now_ns, struct otlp_buf *out, size_t *points);

/**
 * otlp_encode_spanmetrics() - an ExportMetricsServiceRequest of the span
 * metrics (@span) and service-graph metrics (@graph), named as Beyla sends
 * them over OTLP (traces_spanmetrics_calls_total, traces_spanmetrics_latency,
 * traces_spanmetrics_size_total, traces_service_graph_request_total,
 * traces_service_graph_request_failed_total, traces_service_graph_request_server,
 * traces_service_graph_request_client), in one resource (service.name
 * "sonde", the generator) with the labels as data-point attributes.
 */
int otlp_encode_spanmetrics(const struct otlp_resource_base *base, const struct sm_series *sm,
			    size_t nsm, const struct sg_edge *edges, size_t nedges, bool span,
			    bool graph, uint64_t start_ns, uint64_t now_ns, struct otlp_buf *out,
			    size_t *points);

struct db_series;

/**
 * otlp_encode_dbmetrics() - an ExportMetricsServiceRequest of the database
 * client metric db.client.operation.duration (histogram, seconds), one
 * resource per service as the RED metrics, attributes db.system.name,
 * db.operation.name, db.collection.name, error.type.
 */
int otlp_encode_dbmetrics(const struct otlp_resource_base *base, const struct db_series *v, size_t n,
			  const struct otlp_proc_info *procs, size_t nprocs, uint64_t start_ns,
			  uint64_t now_ns, struct otlp_buf *out, size_t *points);

struct rpc_series;

/**
 * otlp_encode_rpcmetrics() - the same for the RPC metrics
 * rpc.server.duration and rpc.client.duration (histograms, seconds),
 * attributes rpc.system, rpc.service, rpc.method, rpc.grpc.status_code.
 */
int otlp_encode_rpcmetrics(const struct otlp_resource_base *base, const struct rpc_series *v,
			   size_t n, const struct otlp_proc_info *procs, size_t nprocs,
			   uint64_t start_ns, uint64_t now_ns, struct otlp_buf *out, size_t *points);


/** otlp_span_is_error() - 5xx on servers, 4xx and 5xx on clients. */
bool otlp_span_is_error(const struct span *s);

/**
 * otlp_encode_netflow() - an ExportMetricsServiceRequest of the network
 * flow bytes (sonde.network.flow.bytes: a cumulative monotonic Sum, unit
 * By) of @n series with the labels of @keep as attributes (src.address,
 * dst.address, direction, transport, src.cidr, dst.cidr), in one resource
 * (service.name "sonde"). Otherwise as otlp_encode_spanmetrics().
 */
int otlp_encode_netflow(const struct otlp_resource_base *base, const struct netflow_series *v,
			size_t n, unsigned int keep, uint64_t start_ns, uint64_t now_ns,
			struct otlp_buf *out, size_t *points);

#endif /* SONDE_EXPORT_OTLP_ENCODE_H */
