/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The database client metric, db.client.operation.duration
 * (Prometheus db_client_operation_duration_seconds): a histogram in
 * seconds, the HTTP duration buckets, per service and db_system_name,
 * db_operation_name, db_collection_name, error_type. A small store beside
 * the HTTP one (model/metrics.h), fed by metric_store__record for the
 * spans span_is_db() says are database calls; capped by the same
 * max-series setting.
 */
#ifndef SONDE_MODEL_DBMETRICS_H
#define SONDE_MODEL_DBMETRICS_H

#include <stddef.h>
#include <stdint.h>

#include "model/metrics.h"
#include "model/span.h"

struct db_series {
	const struct service *service;
	char system[16];
	char operation[32];
	char collection[64];
	char error_type[16];
	struct histogram duration; /* seconds, duration_bounds_s */
};

struct db_metrics;

struct db_metrics *db_metrics__new(void);
void db_metrics__free(struct db_metrics *d);
void db_metrics__set_max_series(struct db_metrics *d, size_t max);

/* Count a database span. */
void db_metrics__record(struct db_metrics *d, const struct span *s);

/* A copy of every series, in creation order (free() it); 0, or -ENOMEM. */
int db_metrics__series(struct db_metrics *d, struct db_series **out, size_t *n);

/* Observations dropped by the series cap. */
uint64_t db_metrics__overflowed(struct db_metrics *d);

#endif /* SONDE_MODEL_DBMETRICS_H */
