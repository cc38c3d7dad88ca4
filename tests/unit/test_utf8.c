// SPDX-License-Identifier: Apache-2.0
/*
 * util/utf8: what is well-formed (RFC 3629 table 3-7), what replaces the
 * rest, truncation at character boundaries, and the escaping of control
 * characters for line-oriented outputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/span.h"
#include "util/utf8.h"

#define FFFD UTF8_REPLACEMENT

static void test_well_formed(void **state)
{
	static const char *const good[] = {
		"",
		"plain ascii /users/42?x=1",
		"caf\xc3\xa9",		   /* U+00E9 */
		"\xc2\x80",		   /* U+0080, smallest 2-byte */
		"\xdf\xbf",		   /* U+07FF */
		"\xe0\xa0\x80",		   /* U+0800, smallest 3-byte */
		"\xed\x9f\xbf",		   /* U+D7FF, below the surrogates */
		"\xee\x80\x80",		   /* U+E000, above them */
		"\xef\xbf\xbd",		   /* U+FFFD */
		"\xf0\x90\x80\x80",	   /* U+10000 */
		"\xf4\x8f\xbf\xbf",	   /* U+10FFFF, the last */
		"\xe6\x97\xa5\xe6\x9c\xac", /* 日本 */
	};
	static const char *const bad[] = {
		"\x80",		    /* lone continuation */
		"\xbf",
		"\xc0\xaf",	    /* overlong '/' */
		"\xc1\xbf",	    /* overlong */
		"\xe0\x80\xaf",	    /* overlong 3-byte */
		"\xf0\x80\x80\xaf", /* overlong 4-byte */
		"\xed\xa0\x80",	    /* U+D800, a surrogate */
		"\xed\xbf\xbf",	    /* U+DFFF */
		"\xf4\x90\x80\x80", /* U+110000 */
		"\xf5\x80\x80\x80",
		"\xff",
		"\xfe",
		"\xc3",		    /* truncated */
		"\xe6\x97",	    /* truncated */
		"\xf0\x90\x80",	    /* truncated */
		"\xc3\x28",	    /* continuation missing */
		"caf\xe9",	    /* Latin-1 */
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!utf8_valid(good[i], strlen(good[i])))
			fail_msg("good[%zu] refused", i);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (utf8_valid(bad[i], strlen(bad[i])))
			fail_msg("bad[%zu] accepted", i);
	assert_int_equal(utf8_seq_len((const unsigned char *)"\xf0\x90\x80\x80", 4), 4);
	assert_int_equal(utf8_seq_len((const unsigned char *)"\xf0\x90\x80\x80", 3), 0);
	assert_int_equal(utf8_seq_len((const unsigned char *)"\xc3\xa9", 2), 2);
	assert_int_equal(utf8_seq_len((const unsigned char *)"a", 1), 1);
}

static void test_sanitize_replaces_each_bad_byte(void **state)
{
	char out[64];
	size_t n;

	n = utf8_sanitize(out, sizeof(out), "/caf\xe9/\xff\"q\\x", 11);
	assert_string_equal(out, "/caf" FFFD "/" FFFD "\"q\\x");
	assert_int_equal(n, strlen(out));
	assert_true(utf8_valid(out, n));
	/* a truncated sequence: each of its bytes is replaced */
	utf8_sanitize(out, sizeof(out), "a\xe6\x97z", 4);
	assert_string_equal(out, "a" FFFD FFFD "z");
	/* valid input is copied as is */
	utf8_sanitize(out, sizeof(out), "caf\xc3\xa9", 5);
	assert_string_equal(out, "caf\xc3\xa9");
	/* stops at a NUL */
	utf8_sanitize(out, sizeof(out), "ab\0cd", 5);
	assert_string_equal(out, "ab");
}

static void test_sanitize_truncates_at_boundaries(void **state)
{
	char out[6];

	/* "ab" + é (2) + é (2): 6 bytes do not fit in 5 + NUL */
	utf8_sanitize(out, sizeof(out), "ab\xc3\xa9\xc3\xa9", 6);
	assert_string_equal(out, "ab\xc3\xa9");
	/* a replacement (3 bytes) that does not fit is left out whole */
	utf8_sanitize(out, sizeof(out), "abc\xff", 4);
	assert_string_equal(out, "abc");
	utf8_sanitize(out, 1, "abc", 3);
	assert_string_equal(out, "");
}

static void test_fix_in_place(void **state)
{
	char buf[8] = "ab\xff";
	char full[4] = { 'a', 'b', 'c', '\xe6' }; /* not terminated */
	char cut[8] = "abcd\xe6\x97"; /* a character cut by a copy */

	assert_true(utf8_fix(buf, sizeof(buf)));
	assert_string_equal(buf, "ab" FFFD);
	assert_false(utf8_fix(buf, sizeof(buf))); /* valid now: unchanged */
	assert_true(utf8_fix(full, sizeof(full)));
	assert_string_equal(full, "abc");
	assert_true(utf8_fix(cut, sizeof(cut)));
	/* "abcd" + FFFD fits (7 bytes), the second FFFD does not */
	assert_string_equal(cut, "abcd" FFFD);
	assert_true(utf8_valid(cut, strlen(cut)));
}

static void test_span_sanitize(void **state)
{
	struct span s;

	memset(&s, 0, sizeof(s));
	snprintf(s.method, sizeof(s.method), "G\xffT");
	snprintf(s.path, sizeof(s.path), "/caf\xe9/\xff\"q\\x");
	snprintf(s.host, sizeof(s.host), "h\xc0st");
	snprintf(s.route, sizeof(s.route), "/ok");
	span_sanitize(&s);
	assert_string_equal(s.method, "G" FFFD "T");
	assert_string_equal(s.path, "/caf" FFFD "/" FFFD "\"q\\x");
	assert_string_equal(s.host, "h" FFFD "st");
	assert_string_equal(s.route, "/ok");
}

static void test_escape(void **state)
{
	char out[128];
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	utf8_escape(out, sizeof(out), "svc\nsonde: forged\r\t\x1b[31m\x7f\\ caf\xc3\xa9 \xc2\x85 \xff");
	assert_string_equal(out, "svc\\x0asonde: forged\\x0d\\x09\\x1b[31m\\x7f\\\\ caf\xc3\xa9 "
				 "\\xc2\\x85 \\xff");
	assert_null(strchr(out, '\n'));
	/* truncated at a whole escape */
	utf8_escape(out, 7, "ab\ncd");
	assert_string_equal(out, "ab\\x0a");
	utf8_escape(out, 6, "ab\ncd");
	assert_string_equal(out, "ab");
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	utf8_put_escaped(f, "a\nb\xe9");
	fclose(f);
	assert_string_equal(buf, "a\\x0ab\\xe9");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_well_formed),
		cmocka_unit_test(test_sanitize_replaces_each_bad_byte),
		cmocka_unit_test(test_sanitize_truncates_at_boundaries),
		cmocka_unit_test(test_fix_in_place),
		cmocka_unit_test(test_span_sanitize),
		cmocka_unit_test(test_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
