/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SONDE_EXPORT_PRINTER_H
#define SONDE_EXPORT_PRINTER_H

#include <stdint.h>
#include <stdio.h>

#include "model/span.h"

/** printer__text() - one line in the seed's format, extended. */
void printer__text(FILE *f, const struct span *s);
/** printer__json() - one JSON object on one line. */
void printer__json(FILE *f, const struct span *s);

/* Why the printer dropped lines: the reason label of its
 * sonde_export_dropped_total{exporter="printer",signal="traces"} series. */
enum printer_drop_reason {
	PRINTER_DROP_QUEUE_FULL = 0, /* stdout was blocked and the queue full */
	PRINTER_DROP_WRITE_FAILED,   /* stdout failed (closed pipe) */
	PRINTER_DROP_SHUTDOWN,	     /* still queued when the shutdown time ran out */
	PRINTER_DROP__MAX,
};

/** printer__dropped() - lines dropped for @why since start. */
uint64_t printer__dropped(enum printer_drop_reason why);
/* The reason label values of those series. */
extern const char *const printer_drop_names[PRINTER_DROP__MAX];

#endif /* SONDE_EXPORT_PRINTER_H */
