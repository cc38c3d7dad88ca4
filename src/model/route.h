/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Route rule: from a URL path to a low-cardinality http_route.
 *
 * Heuristic (the default): split the path on '/', and replace a segment by
 * '*' when it looks like an identifier:
 *   - all decimal digits ("42", "2026");
 *   - a UUID (8-4-4-4-12 hex digits, any case);
 *   - hexadecimal of 8 characters or more containing at least one digit
 *     ("5f3a9c0d", "deadbeef00");
 *   - any segment of 24 characters or more ("long tokens": JWTs, base64);
 *   - a mix of letters and digits of 12 characters or more with at least
 *     3 digits ("user8a7f62b1c").
 * The query string and fragment are dropped before. An empty path is "/".
 *
 * A per-service cap on distinct routes (route_table) folds every route past
 * the cap into ROUTE_OVERFLOW and counts how many spans were folded.
 */
#ifndef SONDE_MODEL_ROUTE_H
#define SONDE_MODEL_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#define ROUTE_OVERFLOW "/**"

/**
 * route_from_path() - apply the heuristic rule.
 * @path: the path (a query string, if present, is ignored)
 * @out: destination, always NUL-terminated
 * @out_size: size of @out; longer routes are truncated
 */
void route_from_path(const char *path, char *out, size_t out_size);

struct route_table;

/** route_table__new() - a set of at most @cap distinct routes. */
struct route_table *route_table__new(size_t cap);
void route_table__free(struct route_table *t);

/**
 * route_table__admit() - return @route if it is known or there is room,
 * else ROUTE_OVERFLOW (and count it). The returned pointer stays valid
 * until the table is freed.
 */
const char *route_table__admit(struct route_table *t, const char *route);
uint64_t route_table__overflowed(const struct route_table *t);
size_t route_table__size(const struct route_table *t);

#endif /* SONDE_MODEL_ROUTE_H */
