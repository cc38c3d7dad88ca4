// SPDX-License-Identifier: Apache-2.0
/* Bounded copies used on the per-span path (src/util/str.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/str.h"

static void test_copy_fits(void **state)
{
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	str_copy(buf, sizeof(buf), "GET");
	assert_string_equal(buf, "GET");
}

static void test_copy_truncates_and_terminates(void **state)
{
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	str_copy(buf, sizeof(buf), "/a/very/long/path");
	assert_string_equal(buf, "/a/very");
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
}

static void test_copy_n_stops_at_count_and_at_nul(void **state)
{
	char buf[32];

	str_copy_n(buf, sizeof(buf), "/items/1?x=2", strcspn("/items/1?x=2", "?#"));
	assert_string_equal(buf, "/items/1");
	/* a count past the string's end stops at its NUL, reading no further */
	str_copy_n(buf, sizeof(buf), "ab", 20);
	assert_string_equal(buf, "ab");
	str_copy_n(buf, sizeof(buf), "[::1]:8080" + 1, 3);
	assert_string_equal(buf, "::1");
}

static void test_copy_to_nothing(void **state)
{
	char buf[1] = { 'x' };

	str_copy(buf, 0, "abc"); /* no room at all: untouched */
	assert_int_equal(buf[0], 'x');
	str_copy(buf, 1, "abc"); /* room for the NUL only */
	assert_int_equal(buf[0], '\0');
}

static void test_ipv4(void **state)
{
	static const unsigned char cases[][4] = {
		{ 0, 0, 0, 0 }, { 127, 0, 0, 1 }, { 255, 255, 255, 255 }, { 10, 9, 100, 7 }, { 1, 20, 199, 200 },
	};
	char buf[16], want[16];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const unsigned char *a = cases[i];

		memset(buf, 'x', sizeof(buf));
		snprintf(want, sizeof(want), "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		str_ipv4(a, buf);
		assert_string_equal(buf, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy_fits),
		cmocka_unit_test(test_copy_truncates_and_terminates),
		cmocka_unit_test(test_copy_n_stops_at_count_and_at_nul),
		cmocka_unit_test(test_copy_to_nothing),
		cmocka_unit_test(test_ipv4),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
