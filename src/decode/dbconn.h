/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a database decoder remembers of a client connection between its
 * transactions: the database named at the handshake, the server's kind,
 * and the prepared statements (name or id -> query text), as the
 * extended-query and COM_STMT_* protocols refer to them by name only.
 * A bounded table: connections in DBCONN_SLOTS slots found by the
 * kernel's connection id, DBCONN_STMTS statements each, the least
 * recently used replaced.
 */
#ifndef SONDE_DECODE_DBCONN_H
#define SONDE_DECODE_DBCONN_H

#include <stdint.h>

#include "model/span.h"

#define DBCONN_SLOTS 256
#define DBCONN_STMTS 16
#define DBCONN_NAME_MAX 64

struct db_stmt {
	char name[DBCONN_NAME_MAX]; /* PostgreSQL: the name ("" unnamed); MySQL: the id in decimal */
	char query[SPAN_DB_QUERY_MAX];
	uint64_t used;
	uint8_t valid;
};

struct db_conn {
	uint64_t conn_id; /* 0: free */
	uint64_t used;
	char db[64];	  /* db.namespace */
	char system[16];  /* db.system.name learnt from the server, "" when not */
	struct db_stmt stmts[DBCONN_STMTS];
};

struct db_conns {
	uint64_t clock;
	struct db_conn conn[DBCONN_SLOTS];
};

/* The connection's entry, made (cleared) when absent. */
struct db_conn *db_conns__get(struct db_conns *t, uint64_t conn_id);

/* Remember @name -> @query (replacing a statement of the same name). */
void db_conn__stmt_put(struct db_conns *t, struct db_conn *c, const char *name, const char *query,
		       size_t query_len);

/* The query of statement @name, or NULL. */
const char *db_conn__stmt_get(struct db_conns *t, struct db_conn *c, const char *name);

/* Forget statement @name (closed). */
void db_conn__stmt_del(struct db_conn *c, const char *name);

/* A database span's SQL attributes from @query (@len bytes, not NUL
 * terminated): operation, collection, and masked text when @with_text. */
void db_span_query(struct span *s, const char *query, size_t len, bool with_text,
		   bool double_quoted_strings);

#endif /* SONDE_DECODE_DBCONN_H */
