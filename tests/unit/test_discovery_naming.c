// SPDX-License-Identifier: Apache-2.0
/* Service naming (discovery/naming.c) beyond the command line, which
 * test_discovery.c covers: OTEL_SERVICE_NAME, selectors, configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "discovery/internal.h"

#define ENV(s) s, sizeof(s) - 1

static void test_environ(void **state)
{
	char out[64];

	assert_true(service_name_from_environ(ENV("HOME=/root\0OTEL_SERVICE_NAME=checkout\0PATH=/bin\0"),
					      out, sizeof(out)));
	assert_string_equal(out, "checkout");
	/* Set but empty: no name. */
	assert_false(service_name_from_environ(ENV("OTEL_SERVICE_NAME=\0"), out, sizeof(out)));
	/* Only the exact variable. */
	assert_false(service_name_from_environ(ENV("OTEL_SERVICE_NAMES=x\0XOTEL_SERVICE_NAME=y\0"),
					       out, sizeof(out)));
	/* The last variable cut short (a full buffer) has no NUL: still bounded. */
	assert_true(service_name_from_environ(ENV("A=1\0OTEL_SERVICE_NAME=cart"), out, sizeof(out)));
	assert_string_equal(out, "cart");
	/* Truncated to the output. */
	assert_true(service_name_from_environ(ENV("OTEL_SERVICE_NAME=abcdefgh\0"), out, 4));
	assert_string_equal(out, "abc");
	assert_false(service_name_from_environ("", 0, out, sizeof(out)));
}

/* The selector's name and namespace, else the configured ones, else the
 * derived name (here: no process 0 environment to read). */
static void test_identity(void **state)
{
	static struct sonde_config cfg;
	struct selector by = { 0 };
	char name[SERVICE_NAME_MAX];
	const char *ns;

	memset(&cfg, 0, sizeof(cfg));
	strcpy(name, "derived");
	service_identity(&cfg, NULL, 0, name, sizeof(name), &ns);
	assert_string_equal(name, "derived");
	assert_string_equal(ns, "");

	cfg.service_name = "configured";
	cfg.service_namespace = "prod";
	service_identity(&cfg, &by, 0, name, sizeof(name), &ns);
	assert_string_equal(name, "configured");
	assert_string_equal(ns, "prod");

	by.name = "picked";
	by.namespace_ = "team";
	service_identity(&cfg, &by, 0, name, sizeof(name), &ns);
	assert_string_equal(name, "picked");
	assert_string_equal(ns, "team");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_environ),
		cmocka_unit_test(test_identity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
