/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OTLP exporter: spans and RED metrics to an OpenTelemetry collector over
 * OTLP/gRPC or OTLP/HTTP (protobuf). The pipeline thread only copies a
 * sampled span into a bounded queue; one thread per signal batches,
 * encodes (otlp_encode.h), sends (otlp_transport.h) and retries with
 * exponential backoff. What cannot be sent is dropped and counted, so
 * memory stays bounded while a collector is down.
 */
#ifndef SONDE_EXPORT_OTLP_H
#define SONDE_EXPORT_OTLP_H

#include <stdint.h>
#include <stdio.h>

#include "export/exporter.h"
#include "export/otlp_config.h"

extern const struct exporter_ops otlp_exporter;

/* Why exported data was dropped: the reason label of sonde_export_dropped_total. */
enum otlp_drop_reason {
	OTLP_DROP_QUEUE_FULL = 0, /* spans arrived faster than they could be sent */
	OTLP_DROP_RETRIES_EXHAUSTED, /* the collector stayed unreachable too long */
	OTLP_DROP_REJECTED,	     /* the collector refused them (4xx, partial success) */
	OTLP_DROP_SHUTDOWN,	     /* still unsent when the shutdown time ran out */
	OTLP_DROP_ENCODE,	     /* could not be encoded (out of memory) */
	OTLP_DROP__MAX,
};

/* The reason label values of sonde_export_dropped_total. */
extern const char *const otlp_drop_reason_names[OTLP_DROP__MAX];

/*
 * Sonde's own export counters, process-wide (zero when OTLP is off), read
 * by the self-metrics registry (model/self_metrics.h) as
 * sonde_export_dropped_total{signal,reason}, sonde_export_sent_total{signal}
 * and sonde_export_failed_requests_total{signal}.
 */
/** otlp__dropped() - the counter behind one sonde_export_dropped_total series. */
uint64_t otlp__dropped(enum otlp_signal signal, enum otlp_drop_reason reason);
uint64_t otlp__sent(enum otlp_signal signal);
uint64_t otlp__failed_requests(enum otlp_signal signal);

#endif /* SONDE_EXPORT_OTLP_H */
