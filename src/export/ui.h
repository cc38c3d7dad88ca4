/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The live view: a web page served by Sonde itself (ui.port, localhost by
 * default) showing the services (rate, error ratio, p50/p95/p99), the
 * service graph (model/spanmetrics.h), each service's operations and the
 * recent traces, each opening as a waterfall. Every asset is embedded in
 * the binary (ui/, scripts/embed_ui.sh); the page polls JSON endpoints:
 *   /api/overview              services, edges, counters
 *   /api/service?name=S        S's operations
 *   /api/traces?service=&status=all|error|ok&min_ms=&max_ms=&limit=
 *   /api/trace?id=HEX32        one trace's spans with their attributes
 * Memory is bounded: the last ui.max_traces traces of at most 64 spans
 * each; older traces and further spans are dropped and counted.
 */
#ifndef SONDE_EXPORT_UI_H
#define SONDE_EXPORT_UI_H

#include <stdio.h>

#include "export/exporter.h"

extern const struct exporter_ops ui_exporter;

struct ui_state;

/* For unit tests: the state without its HTTP daemon, and its JSON. */
struct ui_state *ui_state__new(const struct sonde_config *cfg, struct sonde_runtime *rt);
void ui_state__free(struct ui_state *st);
void ui_state__add(struct ui_state *st, const struct span *s, uint64_t now_ns);
void ui__overview_json(struct ui_state *st, FILE *f, uint64_t now_ns);
void ui__traces_json(struct ui_state *st, FILE *f, const char *service, const char *status,
		     double min_ms, double max_ms, int limit);
/** Return: false when no kept trace has @id_hex. */
bool ui__trace_json(struct ui_state *st, FILE *f, const char *id_hex);
void ui__service_json(struct ui_state *st, FILE *f, const char *name);

#endif /* SONDE_EXPORT_UI_H */
