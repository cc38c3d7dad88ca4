/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configured route patterns: "/users/{id}/orders" or "/users/:id/orders".
 * A {name} or :name segment matches any one non-empty segment; a final
 * "*" segment (or a pattern ending in "*") matches any rest, empty too;
 * other segments match literally. Query strings are ignored.
 */
#ifndef SONDE_MODEL_ROUTE_PATTERN_H
#define SONDE_MODEL_ROUTE_PATTERN_H

#include <stdbool.h>

#include "config.h"

/** route_pattern_matches() - does @path match @pattern? */
bool route_pattern_matches(const char *pattern, const char *path);

/** route_patterns__match() - the first pattern of @l that @path matches, or NULL. */
const char *route_patterns__match(const struct route_patterns *l, const char *path);

#endif /* SONDE_MODEL_ROUTE_PATTERN_H */
