/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exporters behind one small interface. Each reads the one span model; the
 * table in exporter.c lists them, and the pipeline calls every enabled one.
 */
#ifndef SONDE_EXPORT_EXPORTER_H
#define SONDE_EXPORT_EXPORTER_H

#include "config.h"
#include "model/span.h"

enum exporter_status {
	EXPORT_OK = 0,
	EXPORT_RETRY = 1, /* try the same data again later */
	EXPORT_ERROR = -1,
};

struct sonde_runtime; /* what exporters may ask of the agent (main.c) */

struct exporter {
	const struct exporter_ops *ops;
	void *state;
};

struct exporter_ops {
	const char *name;
	/* Is this exporter configured? */
	bool (*enabled)(const struct sonde_config *cfg);
	int (*init)(struct exporter *e, const struct sonde_config *cfg, struct sonde_runtime *rt);
	enum exporter_status (*export_span)(struct exporter *e, const struct span *s);
	/* Called after each batch of events and at shutdown. */
	enum exporter_status (*flush)(struct exporter *e);
	void (*destroy)(struct exporter *e);
};

extern const struct exporter_ops printer_exporter;
extern const struct exporter_ops prometheus_exporter;

/* All known exporters, NULL-terminated. */
extern const struct exporter_ops *const exporter_registry[];

#endif /* SONDE_EXPORT_EXPORTER_H */
