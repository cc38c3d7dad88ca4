/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RPC metrics, rpc.server.duration and rpc.client.duration
 * (Prometheus rpc_server_duration_seconds, rpc_client_duration_seconds):
 * histograms in seconds, the HTTP duration buckets, per service, kind and
 * rpc_system, rpc_service, rpc_method, rpc_grpc_status_code. A small store
 * beside the HTTP one (model/metrics.h), fed by metric_store__record with
 * the spans span_is_rpc() says are RPCs; capped by the same max-series
 * setting.
 */
#ifndef SONDE_MODEL_RPCMETRICS_H
#define SONDE_MODEL_RPCMETRICS_H

#include <stddef.h>
#include <stdint.h>

#include "model/metrics.h"
#include "model/span.h"

struct rpc_series {
	/* the key: compared as bytes, so zeroed before it is filled */
	struct rpc_key {
		const struct service *service;
		enum span_kind kind;
		int grpc_status; /* -1: none (the call was cut) */
		char system[8];
		char rpc_service[128];
		char method[64];
	} key;
	struct histogram duration; /* seconds, duration_bounds_s */
};

struct rpc_metrics;

struct rpc_metrics *rpc_metrics__new(void);
void rpc_metrics__free(struct rpc_metrics *r);
void rpc_metrics__set_max_series(struct rpc_metrics *r, size_t max);

/* Count an RPC span. */
void rpc_metrics__record(struct rpc_metrics *r, const struct span *s);

/* A copy of every series, in creation order (free() it); 0, or -ENOMEM. */
int rpc_metrics__series(struct rpc_metrics *r, struct rpc_series **out, size_t *n);

/* Observations dropped by the series cap. */
uint64_t rpc_metrics__overflowed(struct rpc_metrics *r);

#endif /* SONDE_MODEL_RPCMETRICS_H */
