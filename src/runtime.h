/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The running agent as the pipeline stages see it: configuration, the
 * traced processes, the metric store and the counters of what was lost.
 */
#ifndef SONDE_RUNTIME_H
#define SONDE_RUNTIME_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "sonde/abi.h"

struct discovery;
struct metric_store;
struct netflow_store;
struct probes;
struct spanmetrics;

/* Losses counted in user space, exported beside the kernel's. */
enum user_loss {
	LOSS_DECODE = 0,	 /* event not decodable as HTTP/1 */
	LOSS_UNKNOWN_PROC,	 /* event from a process no longer known */
	LOSS_SERVICE_TABLE_FULL, /* process reported under the last service: table full */
	LOSS_LINK_OVERFLOW,	 /* span let go unlinked: the linker's hold was full */
	LOSS_LINK_AMBIGUOUS,	 /* client call left without parent: HTTP/2 streams in flight, none certain */
	LOSS__MAX,
};

struct sonde_runtime {
	const struct sonde_config *cfg;
	struct discovery *discovery;
	struct metric_store *metrics;
	struct probes *probes;
	/* Span metrics and the service graph (model/spanmetrics.h); NULL when
	 * no exporter shows them and the live view is off. */
	struct spanmetrics *spanmetrics;
	/* Network flow bytes (model/netflow.h); NULL unless an exporter shows them. */
	struct netflow_store *netflow;
	atomic_uint_fast64_t spans_total;
	atomic_uint_fast64_t user_loss[LOSS__MAX];
	atomic_uint instrumented; /* copy of discovery__count for other threads */
	int64_t mono_to_real_ns;  /* add to a CLOCK_MONOTONIC time to get wall time */
};

/* Names of the kernel counters (enum sonde_counter) and user losses, as
 * exported in sonde_events_lost_total{reason} or their own metric. */
extern const char *const kernel_counter_names[SONDE_CNT__MAX];
extern const char *const user_loss_names[LOSS__MAX];

#endif /* SONDE_RUNTIME_H */
