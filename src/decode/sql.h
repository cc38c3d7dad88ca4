/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small SQL tokenizer for database spans: the operation (first keyword)
 * and the collection (the table after FROM, INTO, UPDATE, TABLE, ...) of a
 * query, and the query with its literals masked for db.query.text.
 * Bounded: it reads at most the @len bytes it is given, which need not end
 * with NUL and may be cut anywhere.
 */
#ifndef SONDE_DECODE_SQL_H
#define SONDE_DECODE_SQL_H

#include <stdbool.h>
#include <stddef.h>

/**
 * sql_summarize() - @op gets the first keyword in upper case ("SELECT"),
 * @table the first table named after FROM / INTO / UPDATE / TABLE / JOIN
 * (as written, schema-qualified if so, quotes removed); "" when none.
 */
void sql_summarize(const char *q, size_t len, char *op, size_t op_size, char *table,
		   size_t table_size);

/**
 * sql_mask() - @q into @out with every string literal and number replaced
 * by "?" (comments kept, whitespace kept). @double_quoted_strings: "..."
 * is a string (MySQL), not an identifier (PostgreSQL).
 */
void sql_mask(const char *q, size_t len, bool double_quoted_strings, char *out, size_t size);

#endif /* SONDE_DECODE_SQL_H */
