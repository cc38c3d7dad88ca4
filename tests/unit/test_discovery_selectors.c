// SPDX-License-Identifier: Apache-2.0
/* Selector matching (discovery/selectors.c) on processes whose listening
 * ports are given, so nothing is read from /proc. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "discovery/internal.h"

static struct selectors sel;
static struct selector_set set;

/* @count empty selectors, for a test to fill in before compile(). */
static void reset(unsigned int count)
{
	memset(&sel, 0, sizeof(sel));
	sel.count = count;
}

static void compile(void)
{
	assert_int_equal(selector_set__init(&set, &sel), 0);
}

/* The selector that picks process @pid running @exe, listening on @ports
 * (@nports of them), and the port it reports in @port. */
static const struct selector *pick(uint32_t pid, const char *exe, int nports,
				   const uint16_t *ports, uint16_t *port)
{
	struct candidate c = { .pid = pid, .exe = exe, .nports = nports };

	for (int i = 0; i < nports; i++)
		c.ports[i] = ports[i];
	return selector_set__pick(&set, &c, port);
}

static void port_range(struct selector *s, uint16_t lo, uint16_t hi)
{
	s->ports.range[s->ports.count].lo = lo;
	s->ports.range[s->ports.count].hi = hi;
	s->ports.count++;
}

static void test_by_port(void **state)
{
	uint16_t port;

	reset(1);
	port_range(&sel.v[0], 8000, 8099);
	compile();
	/* The port in range is the one reported, not the first one open. */
	assert_ptr_equal(pick(10, "/usr/bin/python3", 2, (const uint16_t[]){ 9090, 8001 }, &port),
			 &sel.v[0]);
	assert_int_equal(port, 8001);
	assert_null(pick(11, "/usr/bin/python3", 1, (const uint16_t[]){ 9090 }, &port));
	assert_int_equal(port, 0);
	assert_null(pick(12, "/usr/bin/python3", 0, NULL, &port));
	selector_set__fini(&set);
}

static void test_by_exe_and_pid(void **state)
{
	uint16_t port;

	reset(3);
	sel.v[0].exe_regex = "java$";
	sel.v[1].exe_glob = "/opt/*/bin/server";
	sel.v[2].pids.count = 1;
	sel.v[2].pids.pid[0] = 77;
	compile();
	/* Selected by exe: the first listening port is still reported. */
	assert_ptr_equal(pick(20, "/usr/lib/jvm/bin/java", 1, (const uint16_t[]){ 8080 }, &port),
			 &sel.v[0]);
	assert_int_equal(port, 8080);
	assert_ptr_equal(pick(21, "/opt/shop/bin/server", 0, NULL, &port), &sel.v[1]);
	assert_int_equal(port, 0);
	assert_null(pick(22, "/opt/shop/lib/server", 0, NULL, &port));
	assert_ptr_equal(pick(77, "/usr/bin/anything", 0, NULL, &port), &sel.v[2]);
	selector_set__fini(&set);
}

/* Exclusions win, wherever they are in the list; every criterion of a
 * selector must hold. */
static void test_exclude_and_all_criteria(void **state)
{
	uint16_t port;

	reset(2);
	sel.v[0].exe_glob = "/usr/bin/*";
	port_range(&sel.v[0], 80, 80);
	sel.v[1].exe_regex = "/usr/bin/(ssh|nginx)";
	sel.v[1].exclude = true;
	compile();
	assert_null(pick(30, "/usr/bin/nginx", 1, (const uint16_t[]){ 80 }, &port));
	assert_ptr_equal(pick(31, "/usr/bin/caddy", 1, (const uint16_t[]){ 80 }, &port), &sel.v[0]);
	assert_int_equal(port, 80);
	assert_null(pick(32, "/usr/local/bin/caddy", 1, (const uint16_t[]){ 80 }, &port));
	selector_set__fini(&set);
}

static void test_bad_regex(void **state)
{
	reset(2);
	sel.v[0].exe_regex = "ok";
	sel.v[1].exe_regex = "(unclosed";
	assert_int_equal(selector_set__init(&set, &sel), -EINVAL);
	assert_null(set.regex);
	selector_set__fini(&set); /* harmless after a failed init */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_by_port),
		cmocka_unit_test(test_by_exe_and_pid),
		cmocka_unit_test(test_exclude_and_all_criteria),
		cmocka_unit_test(test_bad_regex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
