// SPDX-License-Identifier: Apache-2.0
/*
 * The stdout printer with hostile strings: the text line stays one line
 * (control characters escaped), the JSON line is JSON and UTF-8 whatever
 * bytes the span holds, and methods outside the known set are "_OTHER"
 * with the method as sent beside it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_is_one_line),
		cmocka_unit_test(test_json_is_utf8_and_escaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
