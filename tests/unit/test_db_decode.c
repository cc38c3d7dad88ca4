// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the database decoders (src/decode/postgres.c, mysql.c) and
 * the SQL tokenizer (src/decode/sql.c): connections recorded from real
 * servers and clients (tests/golden/db, see tests/golden/record_db.py) cut
 * into transactions as the kernel cuts them, and hand-written edge cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "decode/decoder.h"
#include "decode/sql.h"
#include "sonde/abi.h"

#include "record_guard.h"

#define GOLDEN_MAX 65536
#define MAX_TXN 64

struct txn {
	uint8_t req[SONDE_REQ_CAP], resp[SONDE_RESP_CAP];
	size_t req_len, resp_len;
	uint64_t req_bytes, resp_bytes;
};

static void append(uint8_t *dst, size_t cap, size_t *len, uint64_t *bytes, const uint8_t *p,
		   size_t n)
{
	size_t k = n < cap - *len ? n : cap - *len;

	memcpy(dst + *len, p, k);
	*len += k;
	*bytes += n;
}

/* A recorded connection cut into transactions: client chunks up to the
 * first server chunk are a request, server chunks up to the next client
 * chunk its response; server bytes before any request (MySQL's greeting)
 * are a transaction with no request. A request nothing answered (the
 * client's goodbye) is dropped, as the kernel drops it. */
static int load_txns(const char *name, struct txn *t, int max)
{
	char path[512];
	static uint8_t buf[GOLDEN_MAX];
	size_t n, off = 0;
	int count = 0;
	struct txn *cur = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/db/%s.bin", GOLDEN_DIR, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open golden file %s", path);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_true(n > 0 && n < sizeof(buf));
	memset(t, 0, sizeof(*t) * max);
	while (off + 5 <= n) {
		uint8_t dir = buf[off];
		uint32_t len = (uint32_t)buf[off + 1] << 24 | buf[off + 2] << 16 | buf[off + 3] << 8 |
			       buf[off + 4];
		const uint8_t *p = buf + off + 5;

		assert_true(off + 5 + len <= n);
		if (dir == 'C') {
			if (!cur || cur->resp_bytes) {
				assert_true(count < max);
				cur = &t[count++];
			}
			append(cur->req, sizeof(cur->req), &cur->req_len, &cur->req_bytes, p, len);
		} else {
			assert_int_equal(dir, 'S');
			if (!cur) {
				assert_true(count < max);
				cur = &t[count++];
			}
			append(cur->resp, sizeof(cur->resp), &cur->resp_len, &cur->resp_bytes, p, len);
		}
		off += 5 + len;
	}
	if (count && !t[count - 1].resp_bytes)
		count--;
	return count;
}

static void make_event(const struct txn *t, uint8_t proto, struct sonde_txn_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->hdr.kind = SONDE_EV_TXN;
	ev->hdr.tgid = 42;
	ev->proto = proto;
	ev->role = SONDE_ROLE_CLIENT;
	ev->conn_id = 7;
	ev->start_ns = 1000;
	ev->end_ns = 5000;
	ev->req_len = t->req_len;
	ev->resp_len = t->resp_len;
	ev->req_bytes = t->req_bytes;
	ev->resp_bytes = t->resp_bytes;
	ev->peer.family = 2;
	ev->peer.port = 5432;
	ev->peer.addr[0] = 127;
	ev->peer.addr[3] = 1;
	memcpy(ev->data, t->req, t->req_len);
	memcpy(ev->data + t->req_len, t->resp, t->resp_len);
}

struct decoded {
	char line[160]; /* "<operation> <collection> <status or ->" */
	struct span span;
};

/* Every transaction of @name through @dec; the spans it asked for. */
static int decode_all(const char *name, const struct decoder_ops *dec, uint8_t proto,
		      bool query_text, struct decoded *out, int max)
{
	static struct txn txns[MAX_TXN];
	struct sonde_config cfg = { .db_query_text = query_text };
	struct decode_ctx ctx = { .cfg = &cfg };
	int n = load_txns(name, txns, MAX_TXN), got = 0;
	void *state = dec->state_new();

	assert_non_null(state);
	for (int i = 0; i < n; i++) {
		static struct sonde_txn_event ev;
		struct decode_wants wants = { .span = true, .metrics = true };
		struct span s;

		make_event(&txns[i], proto, &ev);
		assert_true(dec->decode(state, record_at_guard(&ev), &ctx, &s, &wants));
		assert_int_equal(wants.span, wants.metrics);
		if (!wants.span)
			continue;
		assert_true(got < max);
		out[got].span = s;
		snprintf(out[got].line, sizeof(out[got].line), "%s %s %s", s.db.operation,
			 s.db.collection, s.db.status_code[0] ? s.db.status_code : "-");
		got++;
	}
	dec->state_free(state);
	return got;
}

/* The client's own account of what it sent, one line per query. */
static int load_expect(const char *name, char lines[][160], int max)
{
	char path[512];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/db/%s.expect", GOLDEN_DIR, name);
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	while (n < max && fgets(lines[n], 160, f)) {
		lines[n][strcspn(lines[n], "\n")] = '\0';
		n++;
	}
	fclose(f);
	return n;
}

static void check_golden(const char *name, const struct decoder_ops *dec, uint8_t proto,
			 const char *system)
{
	static struct decoded d[MAX_TXN];
	static char want[MAX_TXN][160];
	int n = decode_all(name, dec, proto, false, d, MAX_TXN);
	int w = load_expect(name, want, MAX_TXN);

	for (int i = 0; i < n && i < w; i++) {
		if (strcmp(d[i].line, want[i]))
			fail_msg("%s: span %d is \"%s\", the client sent \"%s\"", name, i, d[i].line,
				 want[i]);
		assert_string_equal(d[i].span.db.system, system);
		assert_string_equal(d[i].span.db.namespace_, "sonde_e2e");
		assert_int_equal(d[i].span.kind, SPAN_KIND_CLIENT);
		assert_int_equal(d[i].span.proto, proto);
		assert_string_equal(d[i].span.db.query, ""); /* not asked for */
		if (d[i].span.db.status_code[0])
			assert_true(strlen(d[i].span.error) > 10);
		else
			assert_string_equal(d[i].span.error, "");
	}
	assert_int_equal(n, w);
}

static void test_pg_psycopg2(void **state)
{
	check_golden("pg_psycopg2", &postgres_decoder, SONDE_PROTO_POSTGRES, "postgresql");
}

static void test_pg_node(void **state)
{
	check_golden("pg_node", &postgres_decoder, SONDE_PROTO_POSTGRES, "postgresql");
}

static void test_pg_perl(void **state)
{
	check_golden("pg_perl", &postgres_decoder, SONDE_PROTO_POSTGRES, "postgresql");
}

static void test_mariadb_pymysql(void **state)
{
	check_golden("mariadb_pymysql", &mysql_decoder, SONDE_PROTO_MYSQL, "mariadb");
}

static void test_mariadb_mysql2(void **state)
{
	check_golden("mariadb_mysql2", &mysql_decoder, SONDE_PROTO_MYSQL, "mariadb");
}

/* The error's message and code are the server's. */
static void test_pg_error_fields(void **state)
{
	static struct decoded d[MAX_TXN];
	int n = decode_all("pg_psycopg2", &postgres_decoder, SONDE_PROTO_POSTGRES, false, d, MAX_TXN);
	int errors = 0;

	for (int i = 0; i < n; i++) {
		if (!d[i].span.db.status_code[0])
			continue;
		errors++;
		assert_string_equal(d[i].span.db.status_code, "42P01");
		assert_non_null(strstr(d[i].span.error, "relation \"missing_golden\" does not exist"));
	}
	assert_int_equal(errors, 1);
}

static void test_mysql_error_fields(void **state)
{
	static struct decoded d[MAX_TXN];
	int n = decode_all("mariadb_pymysql", &mysql_decoder, SONDE_PROTO_MYSQL, false, d, MAX_TXN);
	int errors = 0;

	for (int i = 0; i < n; i++) {
		if (!d[i].span.db.status_code[0])
			continue;
		errors++;
		assert_string_equal(d[i].span.db.status_code, "1146");
		assert_string_equal(d[i].span.error, "Table 'sonde_e2e.missing_golden' doesn't exist");
	}
	assert_int_equal(errors, 1);
}

/* Query text when asked for: literals masked, placeholders kept; prepared
 * statements found by name (PostgreSQL) and by id (MySQL). */
static void test_query_text_masked(void **state)
{
	static struct decoded d[MAX_TXN];
	int n = decode_all("pg_psycopg2", &postgres_decoder, SONDE_PROTO_POSTGRES, true, d, MAX_TXN);

	assert_true(n > 3);
	for (int i = 0; i < n; i++) {
		assert_true(d[i].span.db.query[0]);
		assert_null(strstr(d[i].span.db.query, "secret"));
	}
	assert_string_equal(d[1].span.db.query, "INSERT INTO py_golden (id, name) VALUES (?, ?)");
	n = decode_all("pg_node", &postgres_decoder, SONDE_PROTO_POSTGRES, true, d, MAX_TXN);
	/* the named statement's later runs are Bind/Execute only */
	assert_string_equal(d[n - 3].span.db.query, "SELECT name FROM js_golden WHERE id = $1");
	n = decode_all("mariadb_mysql2", &mysql_decoder, SONDE_PROTO_MYSQL, true, d, MAX_TXN);
	assert_string_equal(d[n - 2].span.db.query, "SELECT name FROM js_golden WHERE id = ?");
}

/* Every prefix of every transaction: no crash, no read past the bytes. */
static void test_truncated_everywhere(void **state)
{
	static const char *const names[] = { "pg_psycopg2", "pg_node", "pg_perl", "mariadb_pymysql",
					     "mariadb_mysql2" };
	static struct txn txns[MAX_TXN];
	struct sonde_config cfg = { .db_query_text = true };
	struct decode_ctx ctx = { .cfg = &cfg };

	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		bool pg = names[k][0] == 'p';
		const struct decoder_ops *dec = pg ? &postgres_decoder : &mysql_decoder;
		int n = load_txns(names[k], txns, MAX_TXN);
		void *st = dec->state_new();

		for (int i = 0; i < n; i++) {
			for (size_t cut = 0; cut <= txns[i].req_len; cut += 3) {
				struct txn t = txns[i];
				static struct sonde_txn_event ev;
				struct decode_wants wants;
				struct span s;

				t.req_len = cut;
				make_event(&t, pg ? SONDE_PROTO_POSTGRES : SONDE_PROTO_MYSQL, &ev);
				dec->decode(st, record_at_guard(&ev), &ctx, &s, &wants);
				t = txns[i];
				t.resp_len = cut < t.resp_len ? cut : t.resp_len;
				make_event(&t, pg ? SONDE_PROTO_POSTGRES : SONDE_PROTO_MYSQL, &ev);
				dec->decode(st, record_at_guard(&ev), &ctx, &s, &wants);
			}
		}
		dec->state_free(st);
	}
}

/* Hand-made exchanges, one transaction each, through a decoder. */
static void crafted_txn(const struct decoder_ops *dec, uint8_t proto, void *st, const void *req,
			size_t rl, const void *resp, size_t sl, struct span *s, bool *span)
{
	static struct txn t;
	static struct sonde_txn_event ev;
	struct sonde_config cfg = { .db_query_text = true };
	struct decode_ctx ctx = { .cfg = &cfg };
	struct decode_wants w;

	memset(&t, 0, sizeof(t));
	memcpy(t.req, req, rl);
	memcpy(t.resp, resp, sl);
	t.req_len = t.req_bytes = rl;
	t.resp_len = t.resp_bytes = sl;
	make_event(&t, proto, &ev);
	assert_true(dec->decode(st, record_at_guard(&ev), &ctx, s, &w));
	*span = w.span;
}

/* MySQL: a COM_QUERY with query attributes (MySQL 8), an ERR packet, a
 * STMT_CLOSE before a command, COM_INIT_DB. */
static void my_txn(void *st, const void *req, size_t rl, const void *resp, size_t sl,
		   struct span *s, bool *span)
{
	crafted_txn(&mysql_decoder, SONDE_PROTO_MYSQL, st, req, rl, resp, sl, s, span);
}

static void test_mysql_crafted(void **state)
{
	void *st = mysql_decoder.state_new();
	static const uint8_t ok[] = "\x07\0\0\x01\0\0\0\x02\0\0\0";
	static const uint8_t attrs_q[] = "\x0b\0\0\0\x03\0\x01SELECT 1";
	static const uint8_t err[] = "\x1d\0\0\x01\xff\x28\x04#42000You have an error";
	static const uint8_t close_then_q[] = "\x05\0\0\0\x19\x01\0\0\0"
					      "\x15\0\0\0\x03" "DELETE FROM t9 WHERE";
	static const uint8_t init_db[] = "\x05\0\0\0\x02shop";
	static const uint8_t ping[] = "\x01\0\0\0\x0e";
	struct span s;
	bool span;

	my_txn(st, attrs_q, sizeof(attrs_q) - 1, ok, sizeof(ok) - 1, &s, &span);
	assert_true(span);
	assert_string_equal(s.db.operation, "SELECT");
	assert_string_equal(s.db.query, "SELECT ?");
	assert_string_equal(s.db.system, "mysql"); /* no greeting seen */
	my_txn(st, attrs_q, sizeof(attrs_q) - 1, err, sizeof(err) - 1, &s, &span);
	assert_true(span);
	assert_string_equal(s.db.status_code, "1064");
	assert_string_equal(s.error, "You have an error");
	my_txn(st, init_db, sizeof(init_db) - 1, ok, sizeof(ok) - 1, &s, &span);
	assert_false(span);
	my_txn(st, close_then_q, sizeof(close_then_q) - 1, ok, sizeof(ok) - 1, &s, &span);
	assert_true(span);
	assert_string_equal(s.db.operation, "DELETE");
	assert_string_equal(s.db.collection, "t9");
	assert_string_equal(s.db.namespace_, "shop");
	my_txn(st, ping, sizeof(ping) - 1, ok, sizeof(ok) - 1, &s, &span);
	assert_false(span);
	mysql_decoder.state_free(st);
}

/* One PostgreSQL message: type, big-endian length, body. */
static void pg_msg(uint8_t *buf, size_t *len, char type, const char *body, size_t blen)
{
	uint32_t l = (uint32_t)blen + 4;

	buf[(*len)++] = (uint8_t)type;
	buf[(*len)++] = (uint8_t)(l >> 24);
	buf[(*len)++] = (uint8_t)(l >> 16);
	buf[(*len)++] = (uint8_t)(l >> 8);
	buf[(*len)++] = (uint8_t)l;
	memcpy(buf + *len, body, blen);
	*len += blen;
}

/* A pooled connection met after its driver prepared its statements (PgJDBC's
 * S_1 after the fifth run): the Bind names a statement never seen parsed, so
 * the operation comes from CommandComplete's tag. An empty query answered
 * EmptyQueryResponse (PgJDBC's isValid) is no query: no span. */
static void test_pg_crafted(void **state)
{
	void *st = postgres_decoder.state_new();
	static const char bind_s1[] = "\0S_1\0\0\0\0\x01\0\0\0\x01" "7\0\0";
	static const char exec_unnamed[] = "\0\0\0\0\0";
	uint8_t req[256], resp[256];
	size_t rl = 0, sl = 0;
	struct span s;
	bool span;

	pg_msg(req, &rl, 'B', bind_s1, sizeof(bind_s1) - 1);
	pg_msg(req, &rl, 'E', exec_unnamed, sizeof(exec_unnamed) - 1);
	pg_msg(req, &rl, 'S', "", 0);
	pg_msg(resp, &sl, '2', "", 0);
	pg_msg(resp, &sl, 'D', "\0\x01\0\0\0\x01" "7", 7);
	pg_msg(resp, &sl, 'C', "SELECT 1", 9);
	pg_msg(resp, &sl, 'Z', "I", 1);
	crafted_txn(&postgres_decoder, SONDE_PROTO_POSTGRES, st, req, rl, resp, sl, &s, &span);
	assert_true(span);
	assert_string_equal(s.db.operation, "SELECT");
	assert_string_equal(s.db.collection, "");
	assert_string_equal(s.db.query, "");

	sl = 0;
	pg_msg(resp, &sl, '2', "", 0);
	pg_msg(resp, &sl, 'C', "INSERT 0 1", 11);
	pg_msg(resp, &sl, 'Z', "I", 1);
	crafted_txn(&postgres_decoder, SONDE_PROTO_POSTGRES, st, req, rl, resp, sl, &s, &span);
	assert_true(span);
	assert_string_equal(s.db.operation, "INSERT");

	/* isValid as a simple query, and as an extended one */
	rl = sl = 0;
	pg_msg(req, &rl, 'Q', "", 1);
	pg_msg(resp, &sl, 'I', "", 0);
	pg_msg(resp, &sl, 'Z', "I", 1);
	crafted_txn(&postgres_decoder, SONDE_PROTO_POSTGRES, st, req, rl, resp, sl, &s, &span);
	assert_false(span);
	rl = sl = 0;
	pg_msg(req, &rl, 'P', "\0\0\0\0", 4);
	pg_msg(req, &rl, 'B', "\0\0\0\0\0\0\0\0", 8);
	pg_msg(req, &rl, 'E', exec_unnamed, sizeof(exec_unnamed) - 1);
	pg_msg(req, &rl, 'S', "", 0);
	pg_msg(resp, &sl, '1', "", 0);
	pg_msg(resp, &sl, '2', "", 0);
	pg_msg(resp, &sl, 'I', "", 0);
	pg_msg(resp, &sl, 'Z', "I", 1);
	crafted_txn(&postgres_decoder, SONDE_PROTO_POSTGRES, st, req, rl, resp, sl, &s, &span);
	assert_false(span);

	/* an empty query that fails (in an aborted transaction) is a span */
	sl = 0;
	pg_msg(resp, &sl, 'E', "SERROR\0C25P02\0Mcurrent transaction is aborted\0", 47);
	pg_msg(resp, &sl, 'Z', "E", 1);
	crafted_txn(&postgres_decoder, SONDE_PROTO_POSTGRES, st, req, rl, resp, sl, &s, &span);
	assert_true(span);
	assert_string_equal(s.db.status_code, "25P02");
	postgres_decoder.state_free(st);
}

static void summary(const char *q, const char *op, const char *table)
{
	char o[32], t[64];

	sql_summarize(q, strlen(q), o, sizeof(o), t, sizeof(t));
	assert_string_equal(o, op);
	assert_string_equal(t, table);
}

static void test_sql_summary(void **state)
{
	summary("SELECT * FROM users WHERE id = 1", "SELECT", "users");
	summary("  select name from public.users u join orders o on o.uid = u.id", "SELECT",
		"public.users");
	summary("INSERT INTO \"Orders\" (a) VALUES (1)", "INSERT", "Orders");
	summary("update `items` set x = 2", "UPDATE", "items");
	summary("DELETE FROM t1", "DELETE", "t1");
	summary("CREATE TABLE IF NOT EXISTS logs (id int)", "CREATE", "logs");
	summary("DROP TABLE x", "DROP", "x");
	summary("TRUNCATE TABLE y", "TRUNCATE", "y");
	summary("/* hint */ -- c\nSELECT 1", "SELECT", "");
	summary("SELECT a FROM (SELECT b FROM inner_t) s", "SELECT", "inner_t");
	summary("BEGIN", "BEGIN", "");
	summary("SELECT 1 FROM DUAL", "SELECT", "");
	summary("SELECT 1 FROM dual_items", "SELECT", "dual_items");
	summary("", "", "");
	summary("(SELECT 1)", "", "");
}

static void mask(const char *q, bool dq, const char *want)
{
	char out[256];

	sql_mask(q, strlen(q), dq, out, sizeof(out));
	assert_string_equal(out, want);
}

static void test_sql_mask(void **state)
{
	mask("SELECT * FROM t WHERE a = 'x''y' AND b = 42 AND c = 1.5e3", false,
	     "SELECT * FROM t WHERE a = ? AND b = ? AND c = ?");
	mask("SELECT \"col1\" FROM t2 WHERE x = $1 AND y = $$lit$$", false,
	     "SELECT \"col1\" FROM t2 WHERE x = $1 AND y = ?");
	mask("SELECT * FROM t WHERE n = \"secret\" AND s = 'a\\'b'", true,
	     "SELECT * FROM t WHERE n = ? AND s = ?");
	mask("INSERT INTO t3 VALUES (-7, 0x1F, 'unterminated", false, "INSERT INTO t3 VALUES (-?, ?, ?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pg_psycopg2),
		cmocka_unit_test(test_pg_node),
		cmocka_unit_test(test_pg_perl),
		cmocka_unit_test(test_mariadb_pymysql),
		cmocka_unit_test(test_mariadb_mysql2),
		cmocka_unit_test(test_pg_error_fields),
		cmocka_unit_test(test_mysql_error_fields),
		cmocka_unit_test(test_query_text_masked),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_mysql_crafted),
		cmocka_unit_test(test_pg_crafted),
		cmocka_unit_test(test_sql_summary),
		cmocka_unit_test(test_sql_mask),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
