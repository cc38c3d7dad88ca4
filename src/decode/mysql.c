// SPDX-License-Identifier: Apache-2.0
/*
 * The MySQL / MariaDB decoder (client side): one client span per command
 * that runs SQL, from the transaction the kernel framed
 * (bpf/proto_mysql.bpf.h).
 *
 * - The server's greeting (a transaction with no request): "MariaDB" in
 *   its version string makes db.system.name mariadb, else mysql.
 * - The handshake response (sequence 1): its database, when the client
 *   names one (CLIENT_CONNECT_WITH_DB), is db.namespace; COM_INIT_DB
 *   changes it later.
 * - COM_QUERY: the query text follows the command byte.
 * - COM_STMT_PREPARE: no span when it succeeds; its answer's statement id
 *   is remembered with the query, and COM_STMT_EXECUTE (by id) finds it.
 *   A COM_STMT_CLOSE written just before a command is skipped.
 * - ERR packet (0xff): the error number is db.response.status_code and
 *   error.type, the message (after '#' and the SQL state) the span's error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/dbconn.h"
#include "decode/decoder.h"
#include "util/str.h"

#define COM_INIT_DB 0x02
#define COM_QUERY 0x03
#define COM_STMT_PREPARE 0x16
#define COM_STMT_EXECUTE 0x17
#define COM_STMT_CLOSE 0x19

#define CLIENT_CONNECT_WITH_DB 0x00000008u
#define CLIENT_SECURE_CONNECTION 0x00008000u
#define CLIENT_PLUGIN_AUTH_LENENC 0x00200000u

static uint32_t le16(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le24(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static uint32_t le32(const uint8_t *p)
{
	return le24(p) | (uint32_t)p[3] << 24;
}

static size_t cstr_len(const uint8_t *p, size_t n)
{
	const uint8_t *z = memchr(p, 0, n);

	return z ? (size_t)(z - p) : n;
}

static void *my_state_new(void)
{
	return calloc(1, sizeof(struct db_conns));
}

static void my_state_free(void *state)
{
	free(state);
}

/* The handshake response's database, when it names one. */
static void my_handshake_response(struct db_conn *c, const uint8_t *p, size_t n)
{
	uint32_t caps;
	size_t i;

	if (n < 4 + 32)
		return;
	caps = le32(p + 4);
	i = 4 + 32;
	i += cstr_len(p + i, n - i) + 1; /* user */
	if (i >= n)
		return;
	if (caps & CLIENT_PLUGIN_AUTH_LENENC) {
		/* a length-encoded integer: one byte below 0xfb here */
		if (p[i] >= 0xfb)
			return;
		i += 1 + p[i];
	} else if (caps & CLIENT_SECURE_CONNECTION) {
		i += 1 + p[i];
	} else {
		i += cstr_len(p + i, n - i) + 1;
	}
	if (!(caps & CLIENT_CONNECT_WITH_DB) || i >= n)
		return;
	str_copy_n(c->db, sizeof(c->db), (const char *)p + i, cstr_len(p + i, n - i));
}

static bool my_decode(void *state, const struct sonde_txn_event *ev, const struct decode_ctx *ctx,
		      struct span *s, struct decode_wants *wants)
{
	struct db_conns *t = state;
	const uint8_t *p = ev->data, *resp;
	size_t n = ev->req_len, rn = ev->resp_len;
	struct db_conn *c;
	const char *query = NULL;
	size_t query_len = 0;
	uint8_t cmd;
	char id[16];

	if (n > SONDE_REQ_CAP || n + rn > SONDE_DATA_CAP)
		return false;
	resp = p + n;
	span_from_txn(ev, ctx->mono_to_real_ns, s);
	s->proto = SONDE_PROTO_MYSQL;
	wants->span = wants->metrics = false;
	if (ev->role != SONDE_ROLE_CLIENT)
		return true;
	c = db_conns__get(t, ev->conn_id);
	snprintf(s->db.system, sizeof(s->db.system), "%s", c->system[0] ? c->system : "mysql");
	if (n == 0) {
		/* the greeting: protocol 10, then the version, NUL-terminated */
		if (rn > 5 && resp[4] == 10) {
			size_t vl = cstr_len(resp + 5, rn - 5);

			snprintf(c->system, sizeof(c->system), "%s",
				 memmem(resp + 5, vl, "MariaDB", 7) ? "mariadb" : "mysql");
		}
		return true;
	}
	if (n < 5)
		return true;
	if (p[3] != 0) {
		if (p[3] == 1)
			my_handshake_response(c, p, n);
		return true;
	}
	/* a STMT_CLOSE written right before the command */
	if (p[4] == COM_STMT_CLOSE && n >= 9 + 5 && le24(p) == 5) {
		p += 9;
		n -= 9;
		if (p[3] != 0)
			return true;
	}
	cmd = p[4];
	switch (cmd) {
	case COM_INIT_DB:
		str_copy_n(c->db, sizeof(c->db), (const char *)p + 5,
			   le24(p) - 1 < n - 5 ? le24(p) - 1 : n - 5);
		return true;
	case COM_QUERY:
	case COM_STMT_PREPARE:
		if (le24(p) == 0)
			return true;
		query = (const char *)p + 5;
		query_len = le24(p) - 1 < n - 5 ? le24(p) - 1 : n - 5;
		/* CLIENT_QUERY_ATTRIBUTES (MySQL 8): parameter count and set
		 * count before the text; none sent is 0x00 0x01 */
		if (cmd == COM_QUERY && query_len >= 2 && query[0] == 0 && query[1] == 1) {
			query += 2;
			query_len -= 2;
		}
		if (cmd == COM_STMT_PREPARE && rn >= 9 && resp[4] == 0x00) {
			snprintf(id, sizeof(id), "%u", le32(resp + 5));
			db_conn__stmt_put(t, c, id, query, query_len);
			return true; /* prepared, not run */
		}
		break;
	case COM_STMT_EXECUTE:
		if (n < 9)
			return true;
		snprintf(id, sizeof(id), "%u", le32(p + 5));
		query = db_conn__stmt_get(t, c, id);
		query_len = query ? strlen(query) : 0;
		break;
	default:
		return true; /* ping, statistics, ...: no SQL */
	}
	if (query)
		db_span_query(s, query, query_len, ctx->cfg && ctx->cfg->db_query_text, true);
	str_copy(s->db.namespace_, sizeof(s->db.namespace_), c->db);
	if (rn >= 7 && resp[4] == 0xff) {
		size_t mo = 7, ml;

		snprintf(s->db.status_code, sizeof(s->db.status_code), "%u", le16(resp + 5));
		if (rn >= 13 && resp[7] == '#')
			mo = 13; /* '#' and the five-character SQL state */
		ml = rn - mo;
		if (le24(resp) + 4 < rn)
			ml = le24(resp) + 4 > mo ? le24(resp) + 4 - mo : 0;
		str_copy_n(s->error, sizeof(s->error), (const char *)resp + mo, ml);
		if (!s->error[0])
			snprintf(s->error, sizeof(s->error), "error");
	}
	wants->span = wants->metrics = true;
	return true;
}

const struct decoder_ops mysql_decoder = {
	.name = "mysql",
	.state_new = my_state_new,
	.state_free = my_state_free,
	.decode = my_decode,
};
