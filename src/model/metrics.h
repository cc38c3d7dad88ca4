/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metric store: RED histograms per (kind, service, method, status,
 * route or peer), fed by spans, read by every metrics exporter (Prometheus
 * text today, OTLP next) so they all show the same numbers.
 * Thread-safe: the pipeline records, exporter threads read.
 */
#ifndef SONDE_MODEL_METRICS_H
#define SONDE_MODEL_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "model/span.h"

#define DURATION_BOUNDS 15
#define SIZE_BOUNDS 10

extern const double duration_bounds_s[DURATION_BOUNDS]; /* seconds */
extern const double size_bounds_bytes[SIZE_BOUNDS];

struct histogram {
	uint64_t count;
	double sum;
	uint64_t bucket[DURATION_BOUNDS + 1]; /* per bound, not cumulative; last is +Inf */
};

struct series_key {
	enum span_kind kind;
	const struct service *service;
	char method[SPAN_METHOD_MAX];
	int status;
	const char *route;	   /* interned by the service's route table; server only */
	char peer[SPAN_HOST_MAX];  /* client: server_address */
	uint16_t peer_port;	   /* client: server_port */
};

struct series {
	struct series_key key;
	struct histogram duration;  /* seconds */
	struct histogram req_body;  /* bytes */
	struct histogram resp_body; /* bytes */
	struct series *next;
};

struct metric_store;

struct metric_store *metric_store__new(void);
void metric_store__free(struct metric_store *m);

/** metric_store__record() - count one span. @route must outlive the store. */
void metric_store__record(struct metric_store *m, const struct span *s, const char *route);

/**
 * metric_store__foreach() - call @fn on every series, in creation order,
 * with the store locked: @fn must not call back into the store.
 */
void metric_store__foreach(struct metric_store *m, void (*fn)(const struct series *, void *),
			   void *arg);

uint64_t metric_store__spans(struct metric_store *m);

/** histogram_observe() - add @v to @h with bounds @bounds (@n of them). */
void histogram_observe(struct histogram *h, const double *bounds, int n, double v);

#endif /* SONDE_MODEL_METRICS_H */
