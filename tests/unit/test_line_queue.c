// SPDX-License-Identifier: Apache-2.0
/*
 * The printer's bounded line queue: a push that does not fit is refused
 * whole and the queue is unchanged; pops come out in order, at line ends,
 * across the ring's wrap; a closed queue hands out what it holds, then 0;
 * a producer and a consumer on two threads lose nothing and cut no line.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "export/line_queue.h"

static void test_full_refuses_whole(void **state)
{
	struct line_queue *q = line_queue__new(16);
	char buf[32];

	assert_true(line_queue__push(q, "aaaa\n", 5));
	assert_true(line_queue__push(q, "bbbbbbbbb\n", 10)); /* 15 of 16 */
	assert_false(line_queue__push(q, "cc\n", 3));
	assert_int_equal(line_queue__used(q), 15);
	assert_true(line_queue__push(q, "\n", 1)); /* exactly full */
	assert_false(line_queue__push(q, "\n", 1));
	assert_int_equal(line_queue__pop(q, buf, sizeof(buf)), 16);
	assert_memory_equal(buf, "aaaa\nbbbbbbbbb\n\n", 16);
	assert_int_equal(line_queue__used(q), 0);
	line_queue__free(q);
}

static void test_pop_ends_at_a_line_end_across_the_wrap(void **state)
{
	struct line_queue *q = line_queue__new(16);
	char buf[32];

	assert_true(line_queue__push(q, "0123456789\n", 11));
	assert_int_equal(line_queue__pop(q, buf, sizeof(buf)), 11);
	/* head is at 11: this one wraps */
	assert_true(line_queue__push(q, "abc\n", 4));
	assert_true(line_queue__push(q, "defghij\n", 8));
	/* 10 bytes asked: only the first line ends within them */
	assert_int_equal(line_queue__pop(q, buf, 10), 4);
	assert_memory_equal(buf, "abc\n", 4);
	assert_int_equal(line_queue__pop(q, buf, sizeof(buf)), 8);
	assert_memory_equal(buf, "defghij\n", 8);
	line_queue__free(q);
}

static void test_closed_drains_then_ends(void **state)
{
	struct line_queue *q = line_queue__new(64);
	char buf[64];

	assert_true(line_queue__push(q, "x\n", 2));
	line_queue__close(q);
	assert_false(line_queue__push(q, "y\n", 2));
	assert_int_equal(line_queue__pop(q, buf, sizeof(buf)), 2);
	assert_int_equal(line_queue__pop(q, buf, sizeof(buf)), 0); /* does not wait */
	line_queue__free(q);
}

#define LINES 200000

static void *consume(void *arg)
{
	struct line_queue *q = arg;
	static char buf[100];
	long next = 0, *bad = calloc(1, sizeof(long));
	char line[32];
	size_t have = 0, n;

	while ((n = line_queue__pop(q, buf, sizeof(buf)))) {
		for (size_t i = 0; i < n; i++) {
			line[have++] = buf[i];
			if (buf[i] != '\n')
				continue;
			line[have - 1] = '\0';
			/* every line whole and in order; gaps are drops */
			long v = strtol(line, NULL, 10);

			if (v < next || strlen(line) != 8)
				(*bad)++;
			next = v + 1;
			have = 0;
		}
	}
	if (have)
		(*bad)++;
	return bad;
}

static void test_two_threads_lines_whole_in_order(void **state)
{
	struct line_queue *q = line_queue__new(4096);
	pthread_t th;
	long pushed = 0, *bad;
	char line[16];

	assert_int_equal(pthread_create(&th, NULL, consume, q), 0);
	for (long i = 0; i < LINES; i++) {
		snprintf(line, sizeof(line), "%08ld\n", i);
		pushed += line_queue__push(q, line, 9);
	}
	line_queue__close(q);
	assert_int_equal(pthread_join(th, (void **)&bad), 0);
	assert_int_equal(*bad, 0);
	assert_true(pushed > 0);
	free(bad);
	line_queue__free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_refuses_whole),
		cmocka_unit_test(test_pop_ends_at_a_line_end_across_the_wrap),
		cmocka_unit_test(test_closed_drains_then_ends),
		cmocka_unit_test(test_two_threads_lines_whole_in_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
