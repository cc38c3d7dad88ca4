/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SONDE_EXPORT_PRINTER_H
#define SONDE_EXPORT_PRINTER_H

#include <stdio.h>

#include "model/span.h"

/** printer__text() - one line in the seed's format, extended. */
void printer__text(FILE *f, const struct span *s);
/** printer__json() - one JSON object on one line. */
void printer__json(FILE *f, const struct span *s);

#endif /* SONDE_EXPORT_PRINTER_H */
