// SPDX-License-Identifier: Apache-2.0
/*
 * The stdout printer with hostile strings: the text line stays one line
 * (control characters escaped), the JSON line is JSON and UTF-8 whatever
 * bytes the span holds, and methods outside the known set are "_OTHER"
 * with the method as sent beside it.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "export/exporter.h"
#include "discovery.h"
#include "export/printer.h"
#include "model/span.h"
#include "util/utf8.h"

static struct service svc = { .id = 1, .name = "svc\nsonde: forged line" };

static struct span hostile(void)
{
	struct span s;

	memset(&s, 0, sizeof(s));
	s.kind = SPAN_KIND_SERVER;
	s.service = &svc;
	s.status = 200;
	s.start_ns = 1700000000000000000ull;
	s.end_ns = s.start_ns + 1000;
	snprintf(s.method, sizeof(s.method), "POSTX0001");
	/* not through span_sanitize: the printer must hold on its own */
	snprintf(s.path, sizeof(s.path), "/caf\xe9/\xff\"q\\x\r\n2026-01-01 fake");
	snprintf(s.host, sizeof(s.host), "h\xffst\x01");
	snprintf(s.error, sizeof(s.error), "boom\n");
	snprintf(s.client.addr, sizeof(s.client.addr), "127.0.0.1");
	snprintf(s.server.addr, sizeof(s.server.addr), "127.0.0.1");
	return s;
}

static char *print(void (*fn)(FILE *, const struct span *), const struct span *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fn(f, s);
	fclose(f);
	return buf;
}

static void test_text_is_one_line(void **state)
{
	struct span s = hostile();
	char *out = print(printer__text, &s);
	char *nl = strchr(out, '\n');

	assert_non_null(nl);
	assert_ptr_equal(nl, out + strlen(out) - 1); /* only the final newline */
	assert_null(strchr(out, '\r'));
	assert_non_null(strstr(out, " POSTX0001 /caf\\xe9/\\xff\"q\\\\x\\x0d\\x0a2026-01-01 fake "));
	assert_non_null(strstr(out, "svc=[svc\\x0asonde: forged line]"));
	assert_non_null(strstr(out, "error=[boom\\x0a]"));
	free(out);
}

static void test_json_is_utf8_and_escaped(void **state)
{
	struct span s = hostile();
	char *out = print(printer__json, &s);

	assert_true(utf8_valid(out, strlen(out)));
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
	assert_non_null(strstr(out, "\"method\":\"_OTHER\",\"method_original\":\"POSTX0001\""));
	assert_non_null(strstr(out, "\"path\":\"/caf\\ufffd/\\ufffd\\\"q\\\\x\\u000d\\u000a2026"));
	assert_non_null(strstr(out, "\"host\":\"h\\ufffdst\\u0001\""));
	assert_non_null(strstr(out, "\"service\":\"svc\\u000asonde: forged line\""));
	free(out);
	/* a known method has no method_original */
	snprintf(s.method, sizeof(s.method), "GET");
	out = print(printer__json, &s);
	assert_non_null(strstr(out, "\"method\":\"GET\","));
	assert_null(strstr(out, "method_original"));
	free(out);
}

struct pipe_reader {
	int fd;
	char *data;
	size_t len;
};

static void *read_all(void *arg)
{
	struct pipe_reader *r = arg;
	FILE *out = open_memstream(&r->data, &r->len);
	char buf[65536];
	ssize_t n;

	while ((n = read(r->fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, n, out);
	fclose(out);
	return NULL;
}

/*
 * stdout is a pipe nobody reads: exporting never waits (the loop ends; a
 * printer writing on this thread would block in it for good, and alarm()
 * fails the test), the lines that did not fit are counted, and once the
 * pipe is read every line that was not dropped comes out whole.
 */
static void test_blocked_stdout_drops_and_counts(void **state)
{
	struct sonde_config cfg;
	struct exporter e = { .ops = &printer_exporter };
	struct span s = hostile();
	uint64_t full0 = printer__dropped(PRINTER_DROP_QUEUE_FULL), dropped;
	int fds[2], saved = dup(STDOUT_FILENO), sent = 20000, lines = 0;
	struct pipe_reader r = { 0 };
	pthread_t th;

	config__defaults(&cfg);
	cfg.trace_printer = PRINTER_JSON;
	assert_int_equal(pipe(fds), 0);
	assert_true(dup2(fds[1], STDOUT_FILENO) >= 0);
	close(fds[1]);
	alarm(20);
	assert_int_equal(e.ops->init(&e, &cfg, NULL), 0);
	for (int i = 0; i < sent; i++) {
		s.start_ns++;
		e.ops->export_span(&e, &s);
	}
	dropped = printer__dropped(PRINTER_DROP_QUEUE_FULL) - full0;
	/* 20000 lines of ~500 bytes: far more than the pipe and the queue hold */
	assert_true(dropped > 0);
	assert_true(dropped < (uint64_t)sent);
	r.fd = fds[0];
	assert_int_equal(pthread_create(&th, NULL, read_all, &r), 0);
	e.ops->destroy(&e); /* the writer empties the queue into the pipe */
	assert_true(dup2(saved, STDOUT_FILENO) >= 0); /* the last write end: EOF */
	close(saved);
	assert_int_equal(pthread_join(th, NULL), 0);
	alarm(0);
	assert_true(r.len > 0 && r.data[r.len - 1] == '\n');
	for (char *line = r.data, *nl; (nl = memchr(line, '\n', r.data + r.len - line)); line = nl + 1) {
		assert_true(line[0] == '{' && nl[-1] == '}');
		lines++;
	}
	assert_int_equal(lines, sent - (int)dropped);
	assert_int_equal(printer__dropped(PRINTER_DROP_SHUTDOWN), 0);
	free(r.data);
	config__free(&cfg);
}

/* A database span: its own line and keys, with the server's error. */
static void test_db_span_lines(void **state)
{
	struct span s;
	char *out;

	memset(&s, 0, sizeof(s));
	s.kind = SPAN_KIND_CLIENT;
	s.proto = SONDE_PROTO_MYSQL;
	s.service = &svc;
	s.start_ns = 1000;
	s.end_ns = 2500;
	snprintf(s.db.system, sizeof(s.db.system), "mariadb");
	snprintf(s.db.operation, sizeof(s.db.operation), "INSERT");
	snprintf(s.db.collection, sizeof(s.db.collection), "orders");
	snprintf(s.db.namespace_, sizeof(s.db.namespace_), "shop");
	snprintf(s.db.status_code, sizeof(s.db.status_code), "1062");
	snprintf(s.error, sizeof(s.error), "Duplicate entry '1' for key 'PRIMARY'");
	snprintf(s.client.addr, sizeof(s.client.addr), "127.0.0.1");
	s.client.port = 40000;
	snprintf(s.server.addr, sizeof(s.server.addr), "127.0.0.1");
	s.server.port = 3306;
	out = print(printer__text, &s);
	assert_non_null(strstr(out, " DBClient mariadb \"INSERT orders\" [127.0.0.1:40000]->[127.0.0.1:3306] "
				    "db=[shop] status=1062 svc=["));
	assert_non_null(strstr(out, "error=[Duplicate entry '1' for key 'PRIMARY']"));
	assert_null(strstr(out, "HTTP"));
	free(out);
	out = print(printer__json, &s);
	assert_non_null(strstr(out, "\"kind\":\"client\""));
	assert_non_null(strstr(out, "\"name\":\"INSERT orders\",\"db_system_name\":\"mariadb\","
				    "\"db_operation_name\":\"INSERT\",\"db_collection_name\":\"orders\","
				    "\"db_namespace\":\"shop\",\"db_response_status_code\":\"1062\","
				    "\"db_query_text\":\"\",\"client_addr\":\"127.0.0.1\""));
	assert_non_null(strstr(out, "\"server_port\":3306"));
	assert_non_null(strstr(out, "\"error\":\"Duplicate entry '1' for key 'PRIMARY'\"}"));
	assert_null(strstr(out, "\"method\""));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocked_stdout_drops_and_counts),
		cmocka_unit_test(test_text_is_one_line),
		cmocka_unit_test(test_json_is_utf8_and_escaped),
		cmocka_unit_test(test_db_span_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
