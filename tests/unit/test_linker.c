// SPDX-License-Identifier: Apache-2.0
/* The linker: children that complete before their parents wait for them,
 * bounded in time and in number; ids flow from parents to children. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "model/linker.h"
#include "sonde/abi.h"

#define MS 1000000ull

struct sink {
	struct span out[16];
	int n;
};

static void collect(const struct span *s, void *arg)
{
	struct sink *k = arg;

	assert_true(k->n < 16);
	k->out[k->n++] = *s;
}

static struct span make(uint64_t conn, uint32_t seq, uint64_t parent_conn, uint32_t parent_seq,
			uint8_t tag)
{
	struct span s;

	memset(&s, 0, sizeof(s));
	s.self.conn_id = conn;
	s.self.txn_seq = seq;
	s.parent.conn_id = parent_conn;
	s.parent.txn_seq = parent_seq;
	memset(s.trace_id, tag, sizeof(s.trace_id));
	memset(s.span_id, tag, sizeof(s.span_id));
	s.trace_flags = 1;
	s.pid = tag;
	return s;
}

/* B's server span arrives first, then A's client call, then A's server
 * span: all three leave when the root arrives, in one trace. */
static void test_chain_completes_children_first(void **state)
{
	struct linker *l = linker__new(8, 64, 5000 * MS);
	struct sink k = { .n = 0 };
	struct span b_server = make(30, 0, 20, 4, 0xb);
	struct span a_client = make(20, 4, 10, 7, 0xc);
	struct span a_server = make(10, 7, 0, 0, 0xa);

	linker__submit(l, &b_server, 1 * MS, collect, &k);
	linker__submit(l, &a_client, 2 * MS, collect, &k);
	assert_int_equal(k.n, 0);
	linker__submit(l, &a_server, 3 * MS, collect, &k);
	assert_int_equal(k.n, 3);
	assert_int_equal(k.out[0].pid, 0xa);
	assert_int_equal(k.out[1].pid, 0xc);
	assert_int_equal(k.out[2].pid, 0xb);
	for (int i = 0; i < 3; i++)
		assert_memory_equal(k.out[i].trace_id, a_server.trace_id, 16);
	assert_memory_equal(k.out[1].parent_span_id, a_server.span_id, 8);
	assert_memory_equal(k.out[2].parent_span_id, a_client.span_id, 8);
	/* the root keeps no parent */
	assert_memory_equal(k.out[0].parent_span_id, "\0\0\0\0\0\0\0\0", 8);
	linker__free(l);
}

static void test_known_parent_links_at_once(void **state)
{
	struct linker *l = linker__new(8, 64, 5000 * MS);
	struct sink k = { .n = 0 };
	struct span root = make(10, 0, 0, 0, 1), child = make(11, 0, 10, 0, 2);
	struct linker_stats st;

	linker__submit(l, &root, 0, collect, &k);
	linker__submit(l, &child, 0, collect, &k);
	assert_int_equal(k.n, 2);
	assert_memory_equal(k.out[1].trace_id, root.trace_id, 16);
	assert_memory_equal(k.out[1].parent_span_id, root.span_id, 8);
	linker__stats(l, &st);
	assert_int_equal(st.linked, 1);
	assert_int_equal(st.held, 0);
	linker__free(l);
}

/* Another transaction on the same connection is not the parent. */
static void test_sequence_number_matters(void **state)
{
	struct linker *l = linker__new(8, 64, 5000 * MS);
	struct sink k = { .n = 0 };
	struct span root = make(10, 1, 0, 0, 1), child = make(11, 0, 10, 2, 2);

	linker__submit(l, &root, 0, collect, &k);
	linker__submit(l, &child, 0, collect, &k);
	assert_int_equal(k.n, 1);
	linker__expire(l, 6000 * MS, collect, &k);
	assert_int_equal(k.n, 2);
	assert_memory_equal(k.out[1].trace_id, child.trace_id, 16); /* its own trace */
	assert_memory_equal(k.out[1].parent_span_id, "\0\0\0\0\0\0\0\0", 8);
	linker__free(l);
}

static void test_wait_is_bounded(void **state)
{
	struct linker *l = linker__new(8, 64, 100 * MS);
	struct sink k = { .n = 0 };
	struct span orphan = make(11, 0, 99, 0, 2);
	struct linker_stats st;

	linker__submit(l, &orphan, 1000 * MS, collect, &k);
	linker__expire(l, 1050 * MS, collect, &k);
	assert_int_equal(k.n, 0);
	linker__expire(l, 1100 * MS, collect, &k);
	assert_int_equal(k.n, 1);
	linker__stats(l, &st);
	assert_int_equal(st.expired, 1);
	assert_int_equal(st.held, 0);
	linker__free(l);
}

static void test_hold_is_bounded(void **state)
{
	struct linker *l = linker__new(2, 64, 5000 * MS);
	struct sink k = { .n = 0 };
	struct linker_stats st;

	for (int i = 0; i < 5; i++) {
		struct span s = make(100 + i, 0, 99, 0, 3);

		linker__submit(l, &s, 0, collect, &k);
	}
	/* two held, three let go at once */
	assert_int_equal(k.n, 3);
	linker__stats(l, &st);
	assert_int_equal(st.overflow, 3);
	assert_int_equal(st.held, 2);
	linker__flush(l, collect, &k);
	assert_int_equal(k.n, 5);
	/* the slots given back are used again, and the bound still holds */
	for (int i = 0; i < 3; i++) {
		struct span s = make(200 + i, 0, 98, 0, 3);

		linker__submit(l, &s, 0, collect, &k);
	}
	assert_int_equal(k.n, 6);
	linker__stats(l, &st);
	assert_int_equal(st.overflow, 4);
	assert_int_equal(st.held, 2);
	linker__flush(l, collect, &k);
	assert_int_equal(k.n, 8);
	linker__free(l);
}

/* A child waits as long as its parent does: a chain whose root never comes
 * leaves together, still linked below the first held span. */
static void test_held_parent_keeps_child(void **state)
{
	struct linker *l = linker__new(8, 64, 100 * MS);
	struct sink k = { .n = 0 };
	struct span child = make(30, 0, 20, 0, 0xb);   /* arrives first */
	struct span middle = make(20, 0, 10, 0, 0xc);  /* its parent, arrives later */

	linker__submit(l, &child, 0, collect, &k);
	linker__submit(l, &middle, 50 * MS, collect, &k);
	linker__expire(l, 120 * MS, collect, &k); /* past the child's deadline only */
	assert_int_equal(k.n, 0);
	linker__expire(l, 160 * MS, collect, &k); /* the middle's too */
	assert_int_equal(k.n, 2);
	assert_int_equal(k.out[0].pid, 0xc);
	assert_int_equal(k.out[1].pid, 0xb);
	assert_memory_equal(k.out[1].trace_id, middle.trace_id, 16);
	assert_memory_equal(k.out[1].parent_span_id, middle.span_id, 8);
	linker__free(l);
}

/* Expiry goes in arrival (= deadline) order and stops at the first span not
 * due; a due span whose held parent is not due waits for it, and one taken
 * along as another's child is not released twice. */
static void test_expiry_in_deadline_order(void **state)
{
	struct linker *l = linker__new(16, 64, 100 * MS);
	struct sink k = { .n = 0 };
	struct linker_stats st;

	for (int i = 0; i < 6; i++) { /* orphans 1..6 (parents 91..96 never come) */
		struct span s = make(1 + i, 0, 91 + i, 0, 1 + i);

		linker__submit(l, &s, i * 10 * MS, collect, &k);
	}
	{
		struct span child_of_2 = make(50, 0, 2, 0, 0x50);   /* due at 105: waits for 2 */
		struct span child_of_6 = make(60, 0, 6, 0, 0x60);   /* due at 106: waits for 6 */

		linker__submit(l, &child_of_2, 5 * MS, collect, &k);
		linker__submit(l, &child_of_6, 6 * MS, collect, &k);
	}
	linker__expire(l, 99 * MS, collect, &k);
	assert_int_equal(k.n, 0);
	linker__expire(l, 125 * MS, collect, &k); /* orphans 1, 2 (and its child), 3 */
	assert_int_equal(k.n, 4);
	assert_int_equal(k.out[0].pid, 1);
	assert_int_equal(k.out[1].pid, 2);
	assert_int_equal(k.out[2].pid, 0x50);
	assert_memory_equal(k.out[2].parent_span_id, k.out[1].span_id, 8);
	assert_int_equal(k.out[3].pid, 3);
	linker__expire(l, 200 * MS, collect, &k); /* the rest: 4, 5, 6 and 6's child */
	assert_int_equal(k.n, 8);
	assert_int_equal(k.out[6].pid, 6);
	assert_int_equal(k.out[7].pid, 0x60);
	linker__stats(l, &st);
	assert_int_equal(st.held, 0);
	assert_int_equal(st.expired, 6);
	linker__free(l);
}

/* A request read by one thread and answered by another (an asynchronous
 * server): a call linked to it by the thread rule is not adopted; one
 * linked by the peer rule is. */
static void test_thread_rule_refused_for_handed_over_request(void **state)
{
	struct linker *l = linker__new(8, 64, 5000 * MS);
	struct sink k = { .n = 0 };
	struct span call = make(20, 0, 10, 0, 0xc), peer = make(30, 0, 10, 0, 0xd);
	struct span server = make(10, 0, 0, 0, 0xa);
	struct linker_stats st;

	call.parent_link = SONDE_LINK_THREAD;
	peer.parent_link = SONDE_LINK_PEER;
	server.kind = SPAN_KIND_SERVER;
	server.tid = 100;
	server.resp_tid = 101;
	linker__submit(l, &call, 0, collect, &k);
	linker__submit(l, &peer, 0, collect, &k);
	linker__submit(l, &server, 0, collect, &k);
	assert_int_equal(k.n, 3);
	for (int i = 1; i < 3; i++) {
		if (k.out[i].pid == 0xc) {
			assert_memory_equal(k.out[i].parent_span_id, "\0\0\0\0\0\0\0\0", 8);
			assert_memory_equal(k.out[i].trace_id, call.trace_id, 16);
		} else {
			assert_memory_equal(k.out[i].parent_span_id, server.span_id, 8);
		}
	}
	linker__stats(l, &st);
	assert_int_equal(st.refused, 1);
	assert_int_equal(st.linked, 1);
	/* the same through the known-parent path */
	call.self.conn_id = 21;
	linker__submit(l, &call, 0, collect, &k);
	assert_memory_equal(k.out[3].parent_span_id, "\0\0\0\0\0\0\0\0", 8);
	linker__free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_completes_children_first),
		cmocka_unit_test(test_known_parent_links_at_once),
		cmocka_unit_test(test_sequence_number_matters),
		cmocka_unit_test(test_wait_is_bounded),
		cmocka_unit_test(test_hold_is_bounded),
		cmocka_unit_test(test_held_parent_keeps_child),
		cmocka_unit_test(test_expiry_in_deadline_order),
		cmocka_unit_test(test_thread_rule_refused_for_handed_over_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
