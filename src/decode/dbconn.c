// SPDX-License-Identifier: Apache-2.0
/* Database connections as the decoders remember them. See dbconn.h. */
#include "decode/dbconn.h"

#include <string.h>

#include "decode/sql.h"
#include "util/str.h"

#define DBCONN_PROBES 8

struct db_conn *db_conns__get(struct db_conns *t, uint64_t conn_id)
{
	size_t h = (size_t)((conn_id * 0x9E3779B97F4A7C15ull) >> 56) % DBCONN_SLOTS;
	struct db_conn *victim = NULL;

	for (int k = 0; k < DBCONN_PROBES; k++) {
		struct db_conn *c = &t->conn[(h + k) % DBCONN_SLOTS];

		if (c->conn_id == conn_id) {
			c->used = ++t->clock;
			return c;
		}
		if (!victim || c->used < victim->used)
			victim = c;
	}
	memset(victim, 0, sizeof(*victim));
	victim->conn_id = conn_id;
	victim->used = ++t->clock;
	return victim;
}

void db_conn__stmt_put(struct db_conns *t, struct db_conn *c, const char *name, const char *query,
		       size_t query_len)
{
	struct db_stmt *slot = NULL;

	for (int i = 0; i < DBCONN_STMTS; i++) {
		struct db_stmt *st = &c->stmts[i];

		if (st->valid && !strcmp(st->name, name)) {
			slot = st;
			break;
		}
		if (!slot || (slot->valid && (!st->valid || st->used < slot->used)))
			slot = st;
	}
	str_copy(slot->name, sizeof(slot->name), name);
	str_copy_n(slot->query, sizeof(slot->query), query, query_len);
	slot->used = ++t->clock;
	slot->valid = 1;
}

const char *db_conn__stmt_get(struct db_conns *t, struct db_conn *c, const char *name)
{
	for (int i = 0; i < DBCONN_STMTS; i++) {
		struct db_stmt *st = &c->stmts[i];

		if (st->valid && !strcmp(st->name, name)) {
			st->used = ++t->clock;
			return st->query;
		}
	}
	return NULL;
}

void db_conn__stmt_del(struct db_conn *c, const char *name)
{
	for (int i = 0; i < DBCONN_STMTS; i++)
		if (c->stmts[i].valid && !strcmp(c->stmts[i].name, name))
			c->stmts[i].valid = 0;
}

void db_span_query(struct span *s, const char *query, size_t len, bool with_text,
		   bool double_quoted_strings)
{
	sql_summarize(query, len, s->db.operation, sizeof(s->db.operation), s->db.collection,
		      sizeof(s->db.collection));
	if (with_text)
		sql_mask(query, len, double_quoted_strings, s->db.query, sizeof(s->db.query));
}
