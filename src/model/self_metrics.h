/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sonde's own metrics (spans made, events lost by reason, overflows, the
 * exporters' drops, the build) as one registry that every metrics exporter
 * walks: the Prometheus text renderer and the OTLP metrics encoder show
 * the same names, labels and values. Each entry names its metric for both
 * (sonde_events_lost_total / sonde.events.lost), says counter or gauge and
 * its unit, and reads its points from the running agent when asked.
 */
#ifndef SONDE_MODEL_SELF_METRICS_H
#define SONDE_MODEL_SELF_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "runtime.h"

#define SELF_LABELS_MAX 3
#define SELF_VALUE_MAX 128 /* a label value: a service name at most */

enum self_metric_type {
	SELF_COUNTER = 0, /* monotonic, cumulative since start: OTLP Sum */
	SELF_GAUGE,	  /* OTLP Gauge */
};

/* Receives one point of a metric: its label values in the order of the
 * metric's labels (NULL-free), and its value. */
typedef void (*self_point_fn)(void *arg, const char *const *values, uint64_t value);

struct self_metric {
	const char *prom; /* sonde_events_lost_total */
	const char *otel; /* sonde.events.lost */
	const char *help;
	const char *unit; /* UCUM, as OTLP wants it: "{event}" */
	enum self_metric_type type;
	int nlabels;
	const char *labels[SELF_LABELS_MAX];	  /* Prometheus label names: reason */
	const char *otel_labels[SELF_LABELS_MAX]; /* OTLP attribute names: reason */
	/* Calls @point once per point; a metric may have none (its source is off). */
	void (*read)(const struct sonde_runtime *rt, self_point_fn point, void *arg);
};

extern const struct self_metric self_metrics[];
extern const size_t self_metrics_count;

/* One point, copied out (for readers that encode later). */
struct self_sample {
	const struct self_metric *metric;
	char values[SELF_LABELS_MAX][SELF_VALUE_MAX];
	uint64_t value;
};

/**
 * self_metrics__collect() - every point of every self-metric, in registry
 * order. Free @out with free().
 * Return: 0 with @out and @n set, or -ENOMEM.
 */
int self_metrics__collect(const struct sonde_runtime *rt, struct self_sample **out, size_t *n);

#endif /* SONDE_MODEL_SELF_METRICS_H */
