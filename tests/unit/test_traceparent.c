// SPDX-License-Identifier: Apache-2.0
/*
 * model/traceparent: a W3C traceparent is taken whole or not at all
 * (https://www.w3.org/TR/trace-context/#traceparent-header).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/span.h"
#include "model/traceparent.h"

#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define PARENT "00f067aa0ba902b7"
#define GOOD "00-" TRACE "-" PARENT "-01"

static bool parse(const char *v, struct traceparent *tp)
{
	return traceparent_parse(v, strlen(v), tp);
}

static void test_valid(void **state)
{
	static const uint8_t trace[16] = { 0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
					   0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36 };
	static const uint8_t parent[8] = { 0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7 };
	struct traceparent tp;

	assert_true(parse(GOOD, &tp));
	assert_memory_equal(tp.trace_id, trace, 16);
	assert_memory_equal(tp.parent_id, parent, 8);
	assert_int_equal(tp.flags, 1);
	assert_true(parse("00-" TRACE "-" PARENT "-00", &tp));
	assert_int_equal(tp.flags, 0);
	/* flags other than sampled are kept as sent (version 00 ignores them) */
	assert_true(parse("00-" TRACE "-" PARENT "-ff", &tp));
	assert_int_equal(tp.flags, 0xff);
	/* blanks around the value, as an HTTP field value may have */
	assert_true(parse(" \t" GOOD " ", &tp));
	/* a later version: the same fields, more may follow after a dash */
	assert_true(parse("01-" TRACE "-" PARENT "-01", &tp));
	assert_true(parse("cc-" TRACE "-" PARENT "-01-what-the-future-holds", &tp));
	assert_int_equal(tp.flags, 1);
	assert_true(parse("fe-" TRACE "-" PARENT "-09", &tp));
	assert_int_equal(tp.flags, 9);
}

static void test_invalid_whole(void **state)
{
	static const char *const bad[] = {
		"",
		"00",
		GOOD "0",			       /* version 00 is exactly 55 characters */
		GOOD "-",			       /* ... even with a dash */
		"00-" TRACE "-" PARENT "-1",	       /* short flags */
		"00-" TRACE "-" PARENT "-0x",	       /* bad flags */
		"00-" TRACE "-" PARENT "-zz",
		"00-" TRACE "-" PARENT "-0A",	       /* uppercase */
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-" PARENT "-01", /* uppercase trace */
		"00-" TRACE "-00F067AA0BA902B7-01",    /* uppercase parent */
		"00-" TRACE "-00f067aa0ba9g2b7-01",    /* bad parent digit */
		"00-" TRACE "-00f067aa0ba902b-01",     /* short parent */
		"00-4bf92f3577b34da6a3ce929d0e0e473-" PARENT "-01", /* short trace */
		"00-4bf92f3577b34da6a3ce929d0e0e473x-" PARENT "-01",
		"00-00000000000000000000000000000000-" PARENT "-01", /* zero trace */
		"00-" TRACE "-0000000000000000-01",    /* zero parent */
		"ff-" TRACE "-" PARENT "-01",	       /* version ff */
		"0g-" TRACE "-" PARENT "-01",	       /* bad version */
		"AA-" TRACE "-" PARENT "-01",	       /* uppercase version */
		"00_" TRACE "-" PARENT "-01",	       /* wrong separators */
		"00-" TRACE "_" PARENT "-01",
		"00-" TRACE "-" PARENT "_01",
		"01-" TRACE "-" PARENT "-01x",	       /* later version: a dash must follow */
		"01-" TRACE "-" PARENT "-0",
		"00-" TRACE "-" PARENT "-0\x01",
		"00 " TRACE "-" PARENT "-01",
		"-00-" TRACE "-" PARENT "-01",
	};
	struct traceparent tp, untouched;

	memset(&untouched, 0xa5, sizeof(untouched));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tp = untouched;
		if (parse(bad[i], &tp))
			fail_msg("bad[%zu] '%s' accepted", i, bad[i]);
		/* nothing of a half-valid value is kept */
		assert_memory_equal(&tp, &untouched, sizeof(tp));
	}
	assert_false(traceparent_parse(NULL, 0, &tp));
	/* the length given counts, not a NUL further on */
	assert_false(traceparent_parse(GOOD, 54, &tp));
}

/* On a span: a valid header sets trace, parent and flags; a half-valid one
 * (good trace id, bad parent; bad flags) changes nothing. */
static void test_span_take(void **state)
{
	struct span s;
	uint8_t zero[16] = { 0 };

	memset(&s, 0, sizeof(s));
	assert_false(span_take_traceparent(&s, "00-" TRACE "-00f067aa0ba9zzb7-01"));
	assert_false(span_take_traceparent(&s, "00-" TRACE "-" PARENT "-0x"));
	assert_memory_equal(s.trace_id, zero, 16);
	assert_memory_equal(s.parent_span_id, zero, 8);
	assert_int_equal(s.trace_flags, 0);
	assert_true(span_take_traceparent(&s, GOOD));
	assert_int_equal(s.trace_id[0], 0x4b);
	assert_int_equal(s.parent_span_id[7], 0xb7);
	assert_int_equal(s.trace_flags, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_invalid_whole),
		cmocka_unit_test(test_span_take),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
