// SPDX-License-Identifier: Apache-2.0
/* Configured route patterns: parameters, literals, trailing wildcards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "model/route_pattern.h"

static void test_matches(void **state)
{
	static const struct {
		const char *pattern, *path;
		bool want;
	} cases[] = {
		{ "/users/{id}", "/users/42", true },
		{ "/users/:id", "/users/42", true },
		{ "/users/{id}", "/users/42?x=1", true },
		{ "/users/{id}", "/users/42/orders", false },
		{ "/users/{id}", "/users", false },
		{ "/users/{id}", "/users/", false },
		{ "/users/{id}/orders/{order}", "/users/7/orders/abc", true },
		{ "/users/{id}/orders/{order}", "/users/7/items/abc", false },
		{ "/health", "/health", true },
		{ "/health", "/healthz", false },
		{ "/health", "/health/", true },
		{ "/static/*", "/static/css/site.css", true },
		{ "/static/*", "/static", true },
		{ "/static/*", "/other/x", false },
		{ "/api/v1*", "/api/v1beta/x", true },
		{ "/", "/", true },
		{ "/", "/x", false },
		{ "*", "/anything/at/all", true },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (route_pattern_matches(cases[i].pattern, cases[i].path) != cases[i].want)
			fail_msg("%s vs %s: want %d", cases[i].pattern, cases[i].path, cases[i].want);
}

static void test_first_match_wins(void **state)
{
	struct route_patterns l = { 3, { "/users/me", "/users/{id}", "/users/*" } };

	assert_string_equal(route_patterns__match(&l, "/users/me"), "/users/me");
	assert_string_equal(route_patterns__match(&l, "/users/9"), "/users/{id}");
	assert_string_equal(route_patterns__match(&l, "/users/9/x"), "/users/*");
	assert_null(route_patterns__match(&l, "/orders/9"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches),
		cmocka_unit_test(test_first_match_wins),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
