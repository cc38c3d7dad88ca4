// SPDX-License-Identifier: Apache-2.0
/* Parents of the calls made while serving HTTP/2 streams: linked when one
 * stream (or, by thread, one stream of the calling thread) is certain,
 * else left without parent; never another stream's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "model/linker.h"
#include "model/streamlink.h"
#include "sonde/abi.h"

#define MS 1000000ull
#define PID 42
#define CONN 7

static struct txn_id sid(uint32_t stream)
{
	struct txn_id id = { .conn_id = CONN, .txn_seq = stream };

	return id;
}

static void begin(struct streamlink *sl, uint32_t stream, uint32_t tid, uint64_t at)
{
	struct txn_id id = sid(stream);

	streamlink__begin(sl, PID, &id, tid, at, true);
}

static void end(struct streamlink *sl, uint32_t stream, uint64_t at)
{
	struct txn_id id = sid(stream);

	streamlink__end(sl, PID, &id, at, false);
}

/* A client call of PID on thread @tid, its response read on the same. */
static struct span call(uint32_t tid)
{
	struct span s;

	memset(&s, 0, sizeof(s));
	s.kind = SPAN_KIND_CLIENT;
	s.pid = PID;
	s.tid = s.resp_tid = tid;
	s.self.conn_id = 99;
	return s;
}

static void assert_parent(const struct span *s, uint32_t stream, uint8_t link)
{
	assert_int_equal(s->parent.conn_id, CONN);
	assert_int_equal(s->parent.txn_seq, stream);
	assert_int_equal(s->parent_link, link);
}

static void assert_no_parent(const struct span *s)
{
	assert_int_equal(s->parent.conn_id, 0);
	assert_int_equal(s->parent_link, SONDE_LINK_NONE);
}

static void test_one_stream_around_the_call(void **state)
{
	struct streamlink *sl = streamlink__new(4, 20 * MS);
	struct span c = call(2);

	assert_false(streamlink__serves(sl, PID));
	begin(sl, 1, 1, 10 * MS);
	assert_true(streamlink__serves(sl, PID));
	/* open at the decision, or ended after the call: the same */
	assert_int_equal(streamlink__decide(sl, &c, 11 * MS, 12 * MS, false), STREAMLINK_STREAM);
	assert_parent(&c, 1, SONDE_LINK_STREAM);
	end(sl, 1, 13 * MS);
	c = call(2);
	assert_int_equal(streamlink__decide(sl, &c, 11 * MS, 12 * MS, false), STREAMLINK_STREAM);
	assert_parent(&c, 1, SONDE_LINK_STREAM);
	/* after it ended: nothing around, no parent, not ambiguous */
	c = call(2);
	assert_int_equal(streamlink__decide(sl, &c, 14 * MS, 15 * MS, false), STREAMLINK_NONE);
	assert_no_parent(&c);
	streamlink__free(sl);
}

/* A call that began before the stream, or outlived it: not its child. */
static void test_stream_must_span_the_call(void **state)
{
	struct streamlink *sl = streamlink__new(4, 20 * MS);
	struct span c = call(2);

	begin(sl, 1, 1, 10 * MS);
	assert_int_equal(streamlink__decide(sl, &c, 9 * MS, 12 * MS, true), STREAMLINK_AMBIGUOUS);
	assert_no_parent(&c);
	end(sl, 1, 13 * MS);
	c = call(2);
	assert_int_equal(streamlink__decide(sl, &c, 11 * MS, 14 * MS, true), STREAMLINK_AMBIGUOUS);
	streamlink__free(sl);
}

/* Two streams in flight (a stream that ended during the call counts):
 * with no thread to tell them apart, no parent. */
static void test_overlapping_streams_are_ambiguous(void **state)
{
	struct streamlink *sl = streamlink__new(4, 20 * MS);
	struct span c = call(3);

	begin(sl, 1, 1, 10 * MS);
	begin(sl, 3, 2, 10 * MS);
	assert_int_equal(streamlink__decide(sl, &c, 11 * MS, 12 * MS, true), STREAMLINK_AMBIGUOUS);
	assert_no_parent(&c);
	end(sl, 3, 11 * MS + MS / 2); /* ended within the call */
	c = call(3);
	assert_int_equal(streamlink__decide(sl, &c, 11 * MS, 12 * MS, true), STREAMLINK_AMBIGUOUS);
	/* a call after it: stream 1 alone */
	c = call(3);
	assert_int_equal(streamlink__decide(sl, &c, 12 * MS, 13 * MS, true), STREAMLINK_STREAM);
	assert_parent(&c, 1, SONDE_LINK_STREAM);
	streamlink__free(sl);
}

/* Several in flight, one read by the calling thread: linked by thread when
 * the process runs handlers on the reading thread, and the call is
 * synchronous (its response read on its thread); not otherwise. */
static void test_thread_tells_streams_apart(void **state)
{
	struct streamlink *sl = streamlink__new(4, 20 * MS);
	struct span c = call(2);

	begin(sl, 1, 1, 10 * MS);
	begin(sl, 3, 2, 10 * MS);
	begin(sl, 5, 3, 10 * MS);
	assert_int_equal(streamlink__decide(sl, &c, 11 * MS, 12 * MS, true), STREAMLINK_THREAD);
	assert_parent(&c, 3, SONDE_LINK_THREAD);
	c = call(2);
	assert_int_equal(streamlink__decide(sl, &c, 11 * MS, 12 * MS, false), STREAMLINK_AMBIGUOUS);
	c = call(2);
	c.resp_tid = 9; /* the answer was read elsewhere: not the thread's own work */
	assert_int_equal(streamlink__decide(sl, &c, 11 * MS, 12 * MS, true), STREAMLINK_AMBIGUOUS);
	c = call(4); /* a thread that read no stream */
	assert_int_equal(streamlink__decide(sl, &c, 11 * MS, 12 * MS, true), STREAMLINK_AMBIGUOUS);
	/* one thread reading two streams (an event loop): no way to tell */
	begin(sl, 7, 2, 10 * MS + 1);
	c = call(2);
	assert_int_equal(streamlink__decide(sl, &c, 11 * MS, 12 * MS, true), STREAMLINK_AMBIGUOUS);
	assert_no_parent(&c);
	streamlink__free(sl);
}

/* The kernel's links: by thread, kept; by the one HTTP/1 request in
 * flight, dropped when a stream was in flight too (that rule does not
 * count streams); requests it could not decide between: no stream link. */
static void test_kernel_links(void **state)
{
	struct streamlink *sl = streamlink__new(4, 20 * MS);
	struct span c = call(2);

	c.parent.conn_id = 5;
	c.parent_link = SONDE_LINK_PROCESS;
	assert_int_equal(streamlink__decide(sl, &c, 11 * MS, 12 * MS, true), STREAMLINK_NONE);
	assert_int_equal(c.parent_link, SONDE_LINK_PROCESS); /* no stream ever */
	begin(sl, 1, 1, 10 * MS);
	assert_int_equal(streamlink__decide(sl, &c, 11 * MS, 12 * MS, true), STREAMLINK_AMBIGUOUS);
	assert_no_parent(&c);
	c = call(2);
	c.parent.conn_id = 5;
	c.parent_link = SONDE_LINK_THREAD;
	assert_int_equal(streamlink__decide(sl, &c, 11 * MS, 12 * MS, true), STREAMLINK_NONE);
	assert_int_equal(c.parent.conn_id, 5);
	c = call(2);
	c.parent_busy = true;
	assert_int_equal(streamlink__decide(sl, &c, 11 * MS, 12 * MS, true), STREAMLINK_AMBIGUOUS);
	/* a server span is no call */
	c = call(2);
	c.kind = SPAN_KIND_SERVER;
	assert_int_equal(streamlink__decide(sl, &c, 11 * MS, 12 * MS, true), STREAMLINK_NONE);
	streamlink__free(sl);
}

/* A stream whose request was not decoded gives no span: no parent from it. */
static void test_stream_without_span(void **state)
{
	struct streamlink *sl = streamlink__new(4, 20 * MS);
	struct txn_id id = sid(1);
	struct span c = call(2);

	streamlink__begin(sl, PID, &id, 1, 10 * MS, false);
	assert_int_equal(streamlink__decide(sl, &c, 11 * MS, 12 * MS, true), STREAMLINK_AMBIGUOUS);
	streamlink__free(sl);
}

/* Forgotten streams (old history, a stream dropped by the decoder): a call
 * begun before what was forgotten ended can not be decided. */
static void test_forgotten_streams(void **state)
{
	struct streamlink *sl = streamlink__new(4, 20 * MS);
	struct txn_id id = sid(9999);
	struct span c;
	uint32_t i;

	for (i = 0; i <= STREAMLINK_HISTORY; i++) {
		begin(sl, 2 * i + 1, 1, (100 + i) * MS);
		end(sl, 2 * i + 1, (100 + i) * MS + MS / 2);
	}
	/* the first (ended at 100.5 ms) was forgotten: a call from 100.2 ms
	 * might have overlapped it */
	begin(sl, 1001, 1, 99 * MS);
	c = call(2);
	assert_int_equal(streamlink__decide(sl, &c, 100 * MS + MS / 5, 300 * MS, true),
			 STREAMLINK_AMBIGUOUS);
	c = call(2);
	assert_int_equal(streamlink__decide(sl, &c, 200 * MS, 300 * MS, true), STREAMLINK_STREAM);
	assert_parent(&c, 1001, SONDE_LINK_STREAM);
	begin(sl, 2001, 1, 400 * MS);
	streamlink__end(sl, PID, &id, 0, true); /* unknown: nothing */
	id = sid(2001);
	streamlink__end(sl, PID, &id, 500 * MS, true);
	c = call(2);
	assert_int_equal(streamlink__decide(sl, &c, 450 * MS, 460 * MS, true), STREAMLINK_AMBIGUOUS);
	streamlink__forget(sl, PID);
	assert_false(streamlink__serves(sl, PID));
	c = call(2);
	assert_int_equal(streamlink__decide(sl, &c, 450 * MS, 460 * MS, true), STREAMLINK_NONE);
	streamlink__free(sl);
}

struct settled {
	uint32_t tids[8];
	int n;
};

static void on_settled(struct span *s, uint64_t start_ns, uint64_t end_ns, void *arg)
{
	struct settled *k = arg;

	assert_true(k->n < 8);
	assert_true(end_ns > start_ns);
	k->tids[k->n++] = s->tid;
}

/* Held calls leave once settled, in order; the hold is bounded. */
static void test_hold_and_settle(void **state)
{
	struct streamlink *sl = streamlink__new(2, 20 * MS);
	struct settled k = { .n = 0 };
	struct span a = call(1), b = call(2), c = call(3);

	assert_true(streamlink__hold(sl, &a, 1 * MS, 10 * MS));
	assert_true(streamlink__hold(sl, &b, 2 * MS, 15 * MS));
	assert_false(streamlink__hold(sl, &c, 3 * MS, 16 * MS));
	streamlink__settle(sl, 29 * MS, false, on_settled, &k);
	assert_int_equal(k.n, 0);
	streamlink__settle(sl, 30 * MS, false, on_settled, &k);
	assert_int_equal(k.n, 1);
	assert_int_equal(k.tids[0], 1);
	assert_true(streamlink__hold(sl, &c, 3 * MS, 16 * MS));
	streamlink__settle(sl, 0, true, on_settled, &k);
	assert_int_equal(k.n, 3);
	assert_int_equal(k.tids[1], 2);
	assert_int_equal(k.tids[2], 3);
	streamlink__free(sl);
}

static void collect(const struct span *s, void *arg)
{
	struct span *out = arg;

	*out = *s;
}

/* With the linker: a call linked to its stream joins the stream's server
 * span's trace, whichever of the two arrives first. */
static void test_linker_joins_stream_child(void **state)
{
	struct streamlink *sl = streamlink__new(4, 20 * MS);
	struct linker *l = linker__new(8, 64, 5000 * MS);
	struct span srv, c = call(2), out;

	memset(&srv, 0, sizeof(srv));
	srv.kind = SPAN_KIND_SERVER;
	srv.pid = PID;
	srv.self = sid(1);
	srv.tid = 1;
	srv.resp_tid = 5; /* answered from another thread: no matter for this rule */
	memset(srv.trace_id, 0xa, sizeof(srv.trace_id));
	memset(srv.span_id, 0xb, sizeof(srv.span_id));
	begin(sl, 1, 1, 10 * MS);
	assert_int_equal(streamlink__decide(sl, &c, 11 * MS, 12 * MS, false), STREAMLINK_STREAM);
	linker__submit(l, &c, 12 * MS, collect, &out);
	linker__submit(l, &srv, 13 * MS, collect, &out);
	assert_memory_equal(out.trace_id, srv.trace_id, 16);
	assert_memory_equal(out.parent_span_id, srv.span_id, 8);
	linker__free(l);
	streamlink__free(sl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_stream_around_the_call),
		cmocka_unit_test(test_stream_must_span_the_call),
		cmocka_unit_test(test_overlapping_streams_are_ambiguous),
		cmocka_unit_test(test_thread_tells_streams_apart),
		cmocka_unit_test(test_kernel_links),
		cmocka_unit_test(test_stream_without_span),
		cmocka_unit_test(test_forgotten_streams),
		cmocka_unit_test(test_hold_and_settle),
		cmocka_unit_test(test_linker_joins_stream_child),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
