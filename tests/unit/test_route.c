// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the route rule (path -> low-cardinality route) and of the
 * per-service route cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/route.h"
#include "model/span.h"

/* The route of @path, through an output exactly as large as the span's. */
static const char *route(const char *path)
{
	static char out[SPAN_ROUTE_MAX];

	memset(out, 'Z', sizeof(out));
	route_from_path(path, out, sizeof(out));
	return out;
}

static void test_numbers(void **state)
{
	assert_string_equal(route("/users/42"), "/users/*");
	assert_string_equal(route("/users/0/orders/1234567890123"), "/users/*/orders/*");
	assert_string_equal(route("/2026/01/report"), "/*/*/report");
	/* Digits inside a word are part of the name. */
	assert_string_equal(route("/v1/users"), "/v1/users");
	assert_string_equal(route("/users/42a"), "/users/42a");
	assert_string_equal(route("/users/-42"), "/users/-42");
}

static void test_uuids(void **state)
{
	assert_string_equal(route("/orders/123e4567-e89b-12d3-a456-426614174000"), "/orders/*");
	assert_string_equal(route("/orders/123E4567-E89B-12D3-A456-426614174000/items"),
			    "/orders/*/items");
}

static void test_hex(void **state)
{
	assert_string_equal(route("/blobs/5f3a9c0d"), "/blobs/*");
	assert_string_equal(route("/blobs/DEADBEEF00"), "/blobs/*");
	assert_string_equal(route("/commit/a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"), "/commit/*");
	/* Hex without a digit is a word; under 8 characters, too short. */
	assert_string_equal(route("/blobs/deadbeef"), "/blobs/deadbeef");
	assert_string_equal(route("/blobs/facade"), "/blobs/facade");
	assert_string_equal(route("/blobs/5f3a9c0"), "/blobs/5f3a9c0");
	assert_string_equal(route("/blobs/5f3a9c0g"), "/blobs/5f3a9c0g");
}

static void test_long_tokens(void **state)
{
	/* 24 characters is a token, 23 is still a name. */
	assert_string_equal(route("/t/abcdefghijklmnopqrstuvwx"), "/t/*");
	assert_string_equal(route("/t/abcdefghijklmnopqrstuvw"), "/t/abcdefghijklmnopqrstuvw");
	assert_string_equal(route("/auth/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig/refresh"),
			    "/auth/*/refresh");
	assert_string_equal(route("/a/very-long-but-readable-slug-name"), "/a/*");
}

static void test_mixed_ids(void **state)
{
	assert_string_equal(route("/u/user8a7f62b1c"), "/u/*");
	assert_string_equal(route("/u/abc123defghi"), "/u/*");
	assert_string_equal(route("/u/USER8A7F62B1C"), "/u/*");
	/* Too few digits, too short, or not only letters and digits. */
	assert_string_equal(route("/oauth2callback"), "/oauth2callback");
	assert_string_equal(route("/u/abc12defghij"), "/u/abc12defghij");
	assert_string_equal(route("/u/abc123defgh"), "/u/abc123defgh");
	assert_string_equal(route("/u/ab1-2c3d4e5f6"), "/u/ab1-2c3d4e5f6");
	assert_string_equal(route("/u/ab1_2c3d4e5f6"), "/u/ab1_2c3d4e5f6");
}

static void test_query_and_fragment_dropped(void **state)
{
	assert_string_equal(route("/users/42?expand=orders&id=7"), "/users/*");
	assert_string_equal(route("/docs#section-12345"), "/docs");
	assert_string_equal(route("/search?q=/a/1"), "/search");
	assert_string_equal(route("?only=query"), "/");
}

static void test_empty_and_root(void **state)
{
	assert_string_equal(route(""), "/");
	assert_string_equal(route(NULL), "/");
	assert_string_equal(route("/"), "/");
	assert_string_equal(route("#x"), "/");
	assert_string_equal(route("*"), "*");
}

static void test_slashes_kept(void **state)
{
	assert_string_equal(route("/users/42/"), "/users/*/");
	assert_string_equal(route("/users/"), "/users/");
	assert_string_equal(route("//a//1"), "//a//*");
	assert_string_equal(route("users/42"), "users/*");
}

static void test_truncation(void **state)
{
	char out[8], big[600];

	memset(out, 'Z', sizeof(out));
	route_from_path("/users/42", out, 5);
	assert_string_equal(out, "/use");
	assert_int_equal(out[5], 'Z'); /* nothing written past out_size */

	route_from_path("/users/42", out, 8);
	assert_string_equal(out, "/users/");
	route_from_path("/a/42", out, 4);
	assert_string_equal(out, "/a/");
	route_from_path("/a/42", out, 5);
	assert_string_equal(out, "/a/*");

	memset(out, 'Z', sizeof(out));
	route_from_path("/users", out, 1);
	assert_int_equal(out[0], '\0');
	assert_int_equal(out[1], 'Z');

	memset(out, 'Z', sizeof(out));
	route_from_path("/users", out, 0);
	assert_int_equal(out[0], 'Z');
	route_from_path("/users", NULL, 10); /* must not crash */

	/* A segment is judged whole, not by the part that fits. */
	big[0] = '/';
	memset(big + 1, '7', sizeof(big) - 2);
	big[sizeof(big) - 1] = '\0';
	assert_string_equal(route(big), "/*");
	memset(big + 1, 'a', sizeof(big) - 2);
	assert_string_equal(route(big), "/*"); /* 598 letters: a long token */
	memset(big, '/', sizeof(big) - 1);
	assert_int_equal(strlen(route(big)), SPAN_ROUTE_MAX - 1);
}

static void test_table_admits_up_to_cap(void **state)
{
	struct route_table *t = route_table__new(3);
	char buf[32];
	const char *a, *b, *c;

	assert_non_null(t);
	assert_int_equal(route_table__size(t), 0);
	strcpy(buf, "/a");
	a = route_table__admit(t, buf);
	assert_string_equal(a, "/a");
	assert_ptr_not_equal(a, buf); /* a copy, owned by the table */
	strcpy(buf, "/changed");
	assert_string_equal(a, "/a");

	b = route_table__admit(t, "/b");
	c = route_table__admit(t, "/c");
	assert_string_equal(b, "/b");
	assert_string_equal(c, "/c");
	assert_int_equal(route_table__size(t), 3);
	assert_int_equal(route_table__overflowed(t), 0);

	/* Known routes keep coming back as the same pointer. */
	assert_ptr_equal(route_table__admit(t, "/a"), a);
	assert_ptr_equal(route_table__admit(t, "/c"), c);

	/* Full: new routes fold, and each fold is counted. */
	assert_string_equal(route_table__admit(t, "/d"), ROUTE_OVERFLOW);
	assert_string_equal(route_table__admit(t, "/e"), ROUTE_OVERFLOW);
	assert_string_equal(route_table__admit(t, "/d"), ROUTE_OVERFLOW);
	assert_int_equal(route_table__overflowed(t), 3);
	assert_int_equal(route_table__size(t), 3);
	/* ...while known ones still pass and are not counted. */
	assert_ptr_equal(route_table__admit(t, "/b"), b);
	assert_int_equal(route_table__overflowed(t), 3);
	route_table__free(t);
}

static void test_table_grows_to_large_cap(void **state)
{
	enum { CAP = 1000 };
	struct route_table *t = route_table__new(CAP);
	static const char *stored[CAP];
	char name[32];
	int i;

	assert_non_null(t);
	for (i = 0; i < CAP; i++) {
		snprintf(name, sizeof(name), "/r%d", i);
		stored[i] = route_table__admit(t, name);
		assert_string_equal(stored[i], name);
	}
	assert_int_equal(route_table__size(t), CAP);
	/* Growing the table moved no string: old pointers are still valid. */
	for (i = 0; i < CAP; i++) {
		snprintf(name, sizeof(name), "/r%d", i);
		assert_ptr_equal(route_table__admit(t, name), stored[i]);
	}
	assert_string_equal(route_table__admit(t, "/one-too-many"), ROUTE_OVERFLOW);
	assert_int_equal(route_table__overflowed(t), 1);
	assert_int_equal(route_table__size(t), CAP);
	route_table__free(t);
}

static void test_table_cap_zero_and_null(void **state)
{
	struct route_table *t = route_table__new(0);

	assert_non_null(t);
	assert_string_equal(route_table__admit(t, "/"), ROUTE_OVERFLOW);
	assert_string_equal(route_table__admit(t, NULL), ROUTE_OVERFLOW);
	assert_int_equal(route_table__overflowed(t), 2);
	assert_int_equal(route_table__size(t), 0);
	route_table__free(t);

	assert_string_equal(route_table__admit(NULL, "/a"), ROUTE_OVERFLOW);
	assert_int_equal(route_table__overflowed(NULL), 0);
	assert_int_equal(route_table__size(NULL), 0);
	route_table__free(NULL);
}

/* The rule and the cap together: ids do not use up the cap. */
static void test_rule_keeps_cap_for_real_routes(void **state)
{
	struct route_table *t = route_table__new(2);
	char path[64], r[SPAN_ROUTE_MAX];
	const char *first = NULL;
	int i;

	assert_non_null(t);
	for (i = 0; i < 500; i++) {
		const char *admitted;

		snprintf(path, sizeof(path), "/users/%d?page=%d", i * 7919, i);
		route_from_path(path, r, sizeof(r));
		admitted = route_table__admit(t, r);
		if (!first)
			first = admitted;
		assert_ptr_equal(admitted, first);
	}
	assert_string_equal(first, "/users/*");
	assert_string_equal(route_table__admit(t, "/health"), "/health");
	assert_string_equal(route_table__admit(t, "/metrics"), ROUTE_OVERFLOW);
	assert_int_equal(route_table__size(t), 2);
	assert_int_equal(route_table__overflowed(t), 1);
	route_table__free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_uuids),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_long_tokens),
		cmocka_unit_test(test_mixed_ids),
		cmocka_unit_test(test_query_and_fragment_dropped),
		cmocka_unit_test(test_empty_and_root),
		cmocka_unit_test(test_slashes_kept),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_table_admits_up_to_cap),
		cmocka_unit_test(test_table_grows_to_large_cap),
		cmocka_unit_test(test_table_cap_zero_and_null),
		cmocka_unit_test(test_rule_keeps_cap_for_real_routes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
