// SPDX-License-Identifier: Apache-2.0
/* The service table (discovery/service_table.c): one entry per name and
 * namespace, at most SERVICES_MAX, the overflow folded and counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "discovery/internal.h"

static void test_same_name_same_service(void **state)
{
	struct service_table *t = calloc(1, sizeof(*t));
	struct service *a, *b, *c;

	assert_non_null(t);
	a = service_table__get(t, "checkout", "", 16);
	b = service_table__get(t, "checkout", "", 16);
	c = service_table__get(t, "checkout", "shop", 16);
	assert_non_null(a);
	assert_ptr_equal(a, b);
	assert_ptr_not_equal(a, c);
	assert_int_equal(a->id, 1);
	assert_int_equal(c->id, 2);
	assert_string_equal(c->namespace_, "shop");
	assert_non_null(a->routes);
	assert_int_equal(t->count, 2);
	service_table__clear(t);
	assert_int_equal(t->count, 0);
	free(t);
}

/* Names reach the table sanitized: invalid UTF-8 never leaves it. */
static void test_name_sanitized(void **state)
{
	struct service_table *t = calloc(1, sizeof(*t));
	struct service *s;

	assert_non_null(t);
	s = service_table__get(t, "bad\xff\xfename", "", 16);
	assert_non_null(s);
	assert_null(strchr(s->name, '\xff'));
	assert_ptr_equal(service_table__get(t, "bad\xff\xfename", "", 16), s);
	service_table__clear(t);
	free(t);
}

/* Past SERVICES_MAX, a new name gets the last service, and each such
 * fold is counted; known names still get their own. */
static void test_overflow_counted(void **state)
{
	struct service_table *t = calloc(1, sizeof(*t));
	atomic_uint_fast64_t full = 0;
	struct service *first, *last;
	char name[32];

	assert_non_null(t);
	t->full = &full;
	for (unsigned int i = 0; i < SERVICES_MAX; i++) {
		snprintf(name, sizeof(name), "svc-%u", i);
		assert_non_null(service_table__get(t, name, "", 4));
	}
	assert_int_equal(t->count, SERVICES_MAX);
	assert_int_equal(atomic_load(&full), 0);
	first = t->v[0];
	last = t->v[SERVICES_MAX - 1];

	for (unsigned int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "extra-%u", i);
		assert_ptr_equal(service_table__get(t, name, "", 4), last);
	}
	assert_int_equal(t->count, SERVICES_MAX);
	assert_int_equal(atomic_load(&full), 5);

	/* Known names are no loss. */
	assert_ptr_equal(service_table__get(t, "svc-0", "", 4), first);
	assert_int_equal(atomic_load(&full), 5);

	/* Without a counter, the fold still happens. */
	t->full = NULL;
	assert_ptr_equal(service_table__get(t, "extra-5", "", 4), last);
	assert_int_equal(atomic_load(&full), 5);
	service_table__clear(t);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_name_same_service),
		cmocka_unit_test(test_name_sanitized),
		cmocka_unit_test(test_overflow_counted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
