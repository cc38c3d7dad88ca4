// SPDX-License-Identifier: Apache-2.0
/* The traced-process table (discovery/pid_table.c): open addressing, whose
 * removals must keep every other entry findable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "discovery/internal.h"

static struct proc_info *proc(uint32_t pid, uint16_t port)
{
	struct proc_info *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	p->pid = pid;
	p->port = port;
	return p;
}

static void test_put_get_replace(void **state)
{
	struct pid_table *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	assert_null(pid_table__get(t, 42));
	pid_table__put(t, proc(42, 80));
	assert_int_equal(t->count, 1);
	assert_int_equal(pid_table__get(t, 42)->port, 80);
	/* Same pid again: replaced (the old entry freed), not counted twice. */
	pid_table__put(t, proc(42, 8080));
	assert_int_equal(t->count, 1);
	assert_int_equal(pid_table__get(t, 42)->port, 8080);
	pid_table__remove(t, 42);
	assert_null(pid_table__get(t, 42));
	assert_int_equal(t->count, 0);
	pid_table__remove(t, 42); /* absent: nothing happens */
	assert_int_equal(t->count, 0);
	pid_table__clear(t);
	free(t);
}

/* Many entries, so that clusters form and wrap around the table's end;
 * removing half must leave the other half reachable. */
static void test_remove_keeps_cluster(void **state)
{
	struct pid_table *t = calloc(1, sizeof(*t));
	const uint32_t n = PROC_SLOTS * 3 / 4;

	assert_non_null(t);
	for (uint32_t pid = 1; pid <= n; pid++)
		pid_table__put(t, proc(pid * 7, 0));
	assert_int_equal(t->count, n);
	for (uint32_t pid = 1; pid <= n; pid += 2)
		pid_table__remove(t, pid * 7);
	assert_int_equal(t->count, n / 2);
	for (uint32_t pid = 1; pid <= n; pid++) {
		const struct proc_info *p = pid_table__get(t, pid * 7);

		if (pid % 2)
			assert_null(p);
		else
			assert_true(p && p->pid == pid * 7);
	}
	pid_table__clear(t);
	assert_int_equal(t->count, 0);
	assert_null(pid_table__get(t, 14));
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_replace),
		cmocka_unit_test(test_remove_keeps_cluster),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
