/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SONDE_EXPORT_PROMETHEUS_H
#define SONDE_EXPORT_PROMETHEUS_H

#include <stdio.h>

#include "runtime.h"

/**
 * prometheus__render() - the text exposition format (version 0.0.4) of
 * the metric store and Sonde's own metrics, names per cfg->metrics_naming.
 */
void prometheus__render(FILE *f, struct sonde_runtime *rt);

/** prometheus__render_self() - Sonde's own metrics alone (model/self_metrics.h). */
void prometheus__render_self(FILE *f, const struct sonde_runtime *rt);

#endif /* SONDE_EXPORT_PROMETHEUS_H */
