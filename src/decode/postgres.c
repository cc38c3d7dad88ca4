// SPDX-License-Identifier: Apache-2.0
/*
 * The PostgreSQL decoder (protocol 3.0, client side): one client span per
 * query the client runs, from the transaction the kernel framed
 * (bpf/proto_postgres.bpf.h: what the client wrote, then what it read up
 * to ReadyForQuery).
 *
 * - StartupMessage: no span; its `database` (else `user`) parameter is the
 *   connection's db.namespace from then on.
 * - Simple query ('Q'): the query text is in the message.
 * - Extended query: Parse ('P': statement name, query) is remembered per
 *   connection; Bind ('B') names the statement it runs, so a Bind/Execute
 *   of a statement parsed earlier (a prepared statement) finds its text
 *   there. A batch that only parses (a PREPARE done ahead, answered
 *   ParseComplete and ReadyForQuery) makes no span; one that executes does
 *   (its answer holds BindComplete, rows, CommandComplete or an error).
 * - A Bind of a statement parsed before Sonde saw the connection (a pooled
 *   connection opened before Sonde started: PgJDBC names a statement S_1
 *   after its fifth run) has no text to name it: its operation is then the
 *   first word of the server's CommandComplete tag ("SELECT 1", "INSERT 0 1").
 * - An empty query answered EmptyQueryResponse alone is a driver's
 *   connection check (PgJDBC's isValid, which HikariCP calls before lending
 *   a connection idle for a while): no span, as MySQL's COM_PING.
 * - ErrorResponse ('E'): SQLSTATE (field C) is db.response.status_code and
 *   error.type, the message (field M) the span's error.
 * Everything is bounded by the prefixes the kernel copied: a message cut by
 * the capture is used as far as it goes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/dbconn.h"
#include "decode/decoder.h"
#include "util/str.h"

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A NUL-terminated string at p[0..n): its length (n when cut). */
static size_t cstr_len(const uint8_t *p, size_t n)
{
	const uint8_t *z = memchr(p, 0, n);

	return z ? (size_t)(z - p) : n;
}

static void *pg_state_new(void)
{
	return calloc(1, sizeof(struct db_conns));
}

static void pg_state_free(void *state)
{
	free(state);
}

/* The StartupMessage's parameters: database (else user). */
static void pg_startup(struct db_conn *c, const uint8_t *p, size_t n)
{
	char user[64] = "";
	size_t i = 8;

	c->db[0] = '\0';
	while (i < n && p[i]) {
		size_t kl = cstr_len(p + i, n - i), vl;
		const uint8_t *k = p + i;

		i += kl + 1;
		if (i >= n)
			break;
		vl = cstr_len(p + i, n - i);
		if (kl == 8 && !memcmp(k, "database", 8))
			str_copy_n(c->db, sizeof(c->db), (const char *)p + i, vl);
		else if (kl == 4 && !memcmp(k, "user", 4))
			str_copy_n(user, sizeof(user), (const char *)p + i, vl);
		i += vl + 1;
	}
	if (!c->db[0])
		str_copy(c->db, sizeof(c->db), user);
}

struct pg_request {
	const uint8_t *query; /* 'Q', or the Parse this batch runs */
	size_t query_len;
	bool simple;	      /* a 'Q' */
	bool parsed, bound, executed;
	bool other;	      /* a message that is no query (password, ...) */
	char bind_stmt[DBCONN_NAME_MAX];
	char parse_stmt[DBCONN_NAME_MAX];
};

static void pg_parse_request(struct db_conns *t, struct db_conn *c, const uint8_t *p, size_t n,
			     struct pg_request *r)
{
	size_t off = 0;

	while (off + 5 <= n) {
		uint8_t type = p[off];
		uint32_t len = be32(p + off + 1);
		const uint8_t *body = p + off + 5;
		size_t blen;

		if (len < 4)
			return;
		blen = len - 4 < n - off - 5 ? len - 4 : n - off - 5;
		switch (type) {
		case 'Q':
			r->simple = true;
			r->query = body;
			r->query_len = cstr_len(body, blen);
			break;
		case 'P': {
			size_t nl = cstr_len(body, blen);

			str_copy_n(r->parse_stmt, sizeof(r->parse_stmt), (const char *)body, nl);
			r->parsed = true;
			if (nl < blen) {
				r->query = body + nl + 1;
				r->query_len = cstr_len(body + nl + 1, blen - nl - 1);
				db_conn__stmt_put(t, c, r->parse_stmt, (const char *)r->query,
						  r->query_len);
			}
			break;
		}
		case 'B': {
			size_t pl = cstr_len(body, blen);

			r->bound = true;
			if (pl < blen)
				str_copy_n(r->bind_stmt, sizeof(r->bind_stmt), (const char *)body + pl + 1,
					   cstr_len(body + pl + 1, blen - pl - 1));
			break;
		}
		case 'E':
			r->executed = true;
			break;
		case 'C': /* Close: 'S' statement name */
			if (blen > 1 && body[0] == 'S')
				db_conn__stmt_del(c, (const char *)body + 1);
			break;
		case 'D':
		case 'S':
		case 'H':
			break;
		default:
			r->other = true;
			return;
		}
		if (len > n) /* the rest was not captured */
			return;
		off += 1 + len;
	}
}

struct pg_response {
	bool executed; /* BindComplete, rows, CommandComplete, EmptyQuery */
	bool completed; /* rows or CommandComplete: a statement that was not empty */
	bool empty;    /* EmptyQueryResponse */
	bool error;
	bool auth;     /* an authentication request */
	char code[16];
	char message[64];
	char tag_op[16]; /* the first CommandComplete tag's command word */
};

/* CommandComplete's tag ("SELECT 5", "INSERT 0 1", "CREATE TABLE"): its
 * first word, upper-case letters only. */
static void pg_parse_tag(const uint8_t *p, size_t n, struct pg_response *r)
{
	size_t i = 0;

	if (r->tag_op[0])
		return;
	while (i < n && i + 1 < sizeof(r->tag_op) && p[i] >= 'A' && p[i] <= 'Z') {
		r->tag_op[i] = (char)p[i];
		i++;
	}
	r->tag_op[i] = '\0';
}

static void pg_parse_error(const uint8_t *p, size_t n, struct pg_response *r)
{
	size_t i = 0;

	r->error = true;
	while (i < n && p[i]) {
		uint8_t field = p[i++];
		size_t l = cstr_len(p + i, n - i);

		if (field == 'C')
			str_copy_n(r->code, sizeof(r->code), (const char *)p + i, l);
		else if (field == 'M')
			str_copy_n(r->message, sizeof(r->message), (const char *)p + i, l);
		i += l + 1;
	}
}

static void pg_parse_response(const uint8_t *p, size_t n, struct pg_response *r)
{
	size_t off = 0;

	while (off + 5 <= n) {
		uint8_t type = p[off];
		uint32_t len = be32(p + off + 1);
		size_t blen;

		if (len < 4)
			return;
		blen = len - 4 < n - off - 5 ? len - 4 : n - off - 5;
		switch (type) {
		case 'C':
			pg_parse_tag(p + off + 5, blen, r);
			/* fall through */
		case 'D':
		case 's':
		case 'T':
			r->completed = true;
			/* fall through */
		case '2':
			r->executed = true;
			break;
		case 'I':
			r->empty = r->executed = true;
			break;
		case 'E':
			if (!r->error)
				pg_parse_error(p + off + 5, blen, r);
			break;
		case 'R':
			r->auth = true;
			break;
		case 'Z':
			return;
		}
		if (len > n)
			return;
		off += 1 + len;
	}
}

static bool pg_decode(void *state, const struct sonde_txn_event *ev, const struct decode_ctx *ctx,
		      struct span *s, struct decode_wants *wants)
{
	struct db_conns *t = state;
	const uint8_t *req = ev->data;
	size_t n = ev->req_len;
	struct pg_request r = { 0 };
	struct pg_response resp = { 0 };
	struct db_conn *c;
	const char *query = NULL;
	size_t query_len = 0;

	if (n > SONDE_REQ_CAP || (size_t)ev->req_len + ev->resp_len > SONDE_DATA_CAP)
		return false;
	span_from_txn(ev, ctx->mono_to_real_ns, s);
	s->proto = SONDE_PROTO_POSTGRES;
	snprintf(s->db.system, sizeof(s->db.system), "postgresql");
	wants->span = wants->metrics = false;
	if (ev->role != SONDE_ROLE_CLIENT)
		return true;
	c = db_conns__get(t, ev->conn_id);
	if (n >= 8 && be32(req + 4) == 196608) {
		pg_startup(c, req, n);
		return true;
	}
	pg_parse_request(t, c, req, n, &r);
	pg_parse_response(ev->data + n, ev->resp_len, &resp);
	if (r.other || resp.auth)
		return true; /* the handshake's exchanges */
	if (!r.simple && !r.executed && !resp.executed && !resp.error)
		return true; /* a statement prepared, not run */
	if (resp.empty && !resp.completed && !resp.error)
		return true; /* an empty query: a connection check */
	if (r.simple || (r.parsed && (!r.bound || !strcmp(r.bind_stmt, r.parse_stmt)))) {
		query = (const char *)r.query;
		query_len = r.query_len;
	} else if (r.bound) {
		query = db_conn__stmt_get(t, c, r.bind_stmt);
		query_len = query ? strlen(query) : 0;
	}
	if (query)
		db_span_query(s, query, query_len, ctx->cfg && ctx->cfg->db_query_text, false);
	else
		str_copy_n(s->db.operation, sizeof(s->db.operation), resp.tag_op, strlen(resp.tag_op));
	str_copy(s->db.namespace_, sizeof(s->db.namespace_), c->db);
	if (resp.error) {
		snprintf(s->db.status_code, sizeof(s->db.status_code), "%s", resp.code[0] ? resp.code : "ERROR");
		snprintf(s->error, sizeof(s->error), "%s", resp.message[0] ? resp.message : "error");
	}
	wants->span = wants->metrics = true;
	return true;
}

const struct decoder_ops postgres_decoder = {
	.name = "postgresql",
	.state_new = pg_state_new,
	.state_free = pg_state_free,
	.decode = pg_decode,
};
