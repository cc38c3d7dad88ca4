// SPDX-License-Identifier: Apache-2.0
/*
 * The kernel side of HTTP/2 (bpf/proto_http2.bpf.h) run by the kernel
 * itself through BPF_PROG_TEST_RUN (tests/bpf/h2_test.bpf.c): the
 * classifier on crafted first bytes, and the frame walk on crafted writes
 * (one buffer or an iovec array, here in this process's memory), the
 * events it sends read back from its ring buffer entry by entry. Needs
 * root; outside CI it skips without it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sonde/abi.h"
#include "h2_test.skel.h"

static struct h2_test_bpf *skel;
static struct ring_buffer *rb;

/* Same layouts as in h2_test.bpf.c (and struct h2_dir of proto_http2.bpf.h). */
struct h2_classify_in {
	uint32_t len;
	uint32_t _pad;
	uint8_t buf[SONDE_REQ_CAP];
};

struct dir_state {
	uint32_t left, fwd_left;
	uint8_t hdr_have, gap, fresh, _pad;
	uint8_t hdr[12];
};

struct h2_walk_in {
	uint64_t buf, n;
	uint32_t iovcnt, _pad;
	struct dir_state d;
};

/* What the walk sent: the entries of every event, concatenated. */
static uint8_t got[1 << 16];
static size_t got_len;
static int events;
static uint32_t flags_seen; /* of every event, or-ed */

static int on_event(void *ctx, void *data, size_t size)
{
	const struct sonde_txn_event *ev = data;

	assert_true(size >= SONDE_TXN_EVENT_MIN_SIZE + ev->req_len);
	assert_int_equal(ev->proto, SONDE_PROTO_HTTP2);
	assert_true(got_len + ev->req_len <= sizeof(got));
	memcpy(got + got_len, ev->data, ev->req_len);
	got_len += ev->req_len;
	flags_seen |= ev->flags;
	events++;
	return 0;
}

static int setup(void **state)
{
	int err;

	skel = h2_test_bpf__open();
	if (!skel)
		return -1;
	err = h2_test_bpf__load(skel);
	if (err) {
		fprintf(stderr, "load failed: %s\n", strerror(-err));
		h2_test_bpf__destroy(skel);
		return -1;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	return rb ? 0 : -1;
}

static int teardown(void **state)
{
	ring_buffer__free(rb);
	h2_test_bpf__destroy(skel);
	return 0;
}

static bool classify(const void *bytes, size_t len, bool *preface)
{
	struct h2_classify_in in = { .len = len };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &in, .ctx_size_in = sizeof(in));

	assert_true(len <= SONDE_REQ_CAP);
	memcpy(in.buf, bytes, len);
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.h2_classify_run), &opts), 0);
	assert_int_equal(opts.retval, 0);
	*preface = skel->bss->out_preface;
	return skel->bss->out_frames;
}

/* Walk one write of @n bytes at @buf (an iovec array of @iovcnt when not
 * 0) from direction state @d, updated. Return: the walk's verdict. */
static int walk(const void *buf, uint64_t n, uint32_t iovcnt, struct dir_state *d)
{
	struct h2_walk_in in = { .buf = (uint64_t)(uintptr_t)buf, .n = n, .iovcnt = iovcnt, .d = *d };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &in, .ctx_size_in = sizeof(in));

	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.h2_walk_run), &opts), 0);
	assert_int_equal(opts.retval, 0);
	memcpy(d, &skel->bss->out_dir, sizeof(*d));
	ring_buffer__consume(rb);
	return skel->bss->out_walk;
}

static size_t frame(uint8_t *p, uint8_t type, uint8_t flags, uint32_t stream, uint32_t len,
		    uint8_t fill)
{
	p[0] = len >> 16;
	p[1] = len >> 8;
	p[2] = len;
	p[3] = type;
	p[4] = flags;
	p[5] = stream >> 24;
	p[6] = stream >> 16;
	p[7] = stream >> 8;
	p[8] = stream;
	memset(p + 9, fill, len);
	return 9 + len;
}

/* The entry at *off of what was sent: its header fields and piece. */
static const uint8_t *next_entry(size_t *off, uint8_t *type, uint32_t *len, uint32_t *stream,
				 uint32_t *piece)
{
	const uint8_t *p = got + *off;

	assert_true(*off + SONDE_H2_ENTRY_HDR <= got_len);
	*len = (uint32_t)p[0] << 16 | p[1] << 8 | p[2];
	*type = p[3];
	*stream = (uint32_t)p[5] << 24 | p[6] << 16 | p[7] << 8 | p[8];
	*piece = (uint32_t)p[9] << 8 | p[10];
	*off += SONDE_H2_ENTRY_HDR + *piece;
	assert_true(*off <= got_len);
	return p + SONDE_H2_ENTRY_HDR;
}

static void reset(void)
{
	got_len = 0;
	events = 0;
	flags_seen = 0;
}

static void test_classify(void **state)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	static uint8_t b[2048];
	size_t n = 0;
	bool pre;

	assert_false(classify(preface, 24, &pre));
	assert_true(pre);
	assert_false(classify(preface, 23, &pre) || pre);
	/* mid-stream: HEADERS + DATA filling the bytes */
	n = frame(b, 1, 0x4, 1, 20, 0x82);
	n += frame(b + n, 0, 0x1, 1, 5, 0);
	assert_true(classify(b, n, &pre));
	assert_false(pre);
	assert_false(classify(b, n - 1, &pre)); /* not ending on a frame */
	/* one PING alone: a shape that leaves little to chance */
	n = frame(b, 6, 0, 0, 8, 1);
	assert_true(classify(b, n, &pre));
	/* one DATA alone: not enough */
	n = frame(b, 0, 0, 1, 8, 1);
	assert_false(classify(b, n, &pre));
	/* implausible: PING on a stream, reserved bit, unknown type, text */
	n = frame(b, 6, 0, 1, 8, 1);
	assert_false(classify(b, n, &pre));
	n = frame(b, 1, 0x4, 0x80000001u, 4, 1);
	n += frame(b + n, 0, 0x1, 1, 5, 0);
	assert_false(classify(b, n, &pre));
	n = frame(b, 0x20, 0, 1, 4, 1);
	n += frame(b + n, 0, 0x1, 1, 5, 0);
	assert_false(classify(b, n, &pre));
	assert_false(classify("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, &pre));
	/* a prefix cut by the capture: frames running past it */
	n = frame(b, 1, 0x4, 1, 30, 0x82);
	n += frame(b + n, 0, 0x0, 1, 600, 0);
	assert_true(classify(b, SONDE_REQ_CAP, &pre));
}

/* One write: HEADERS, a big DATA, RST_STREAM, SETTINGS (not forwarded),
 * GOAWAY; header block and codes forwarded, DATA's payload never. */
static void test_walk_one_write(void **state)
{
	static uint8_t b[8192];
	struct dir_state d = {};
	size_t n = 0, off = 0;
	uint32_t len, stream, piece;
	const uint8_t *p;
	uint8_t type;

	reset();
	n += frame(b + n, 1, 0x4, 1, 100, 0xaa);
	n += frame(b + n, 0, 0x1, 1, 4000, 0xdd);
	n += frame(b + n, 3, 0, 3, 4, 0);
	b[n - 1] = 8; /* CANCEL */
	n += frame(b + n, 4, 0, 0, 12, 0);
	n += frame(b + n, 7, 0, 0, 20, 0);
	assert_int_equal(walk(b, n, 0, &d), 0);
	assert_int_equal(d.left, 0);
	p = next_entry(&off, &type, &len, &stream, &piece);
	assert_int_equal(type, 1);
	assert_int_equal(len, 100);
	assert_int_equal(piece, 100);
	assert_int_equal(p[0], 0xaa);
	assert_int_equal(p[99], 0xaa);
	next_entry(&off, &type, &len, &stream, &piece);
	assert_int_equal(type, 0);
	assert_int_equal(len, 4000);
	assert_int_equal(piece, 0); /* never the payload */
	p = next_entry(&off, &type, &len, &stream, &piece);
	assert_int_equal(type, 3);
	assert_int_equal(stream, 3);
	assert_int_equal(piece, 4);
	assert_int_equal(p[3], 8);
	next_entry(&off, &type, &len, &stream, &piece);
	assert_int_equal(type, 7); /* SETTINGS skipped */
	assert_int_equal(piece, 8);
	assert_int_equal(off, got_len);
	assert_int_equal(events, 1);
}

/* Frames across writes: a header block and a DATA payload going on in the
 * next write, a frame header cut in two. */
static void test_walk_across_writes(void **state)
{
	static uint8_t b[4096];
	struct dir_state d = {};
	size_t n = 0, off = 0;
	uint32_t len, stream, piece;
	const uint8_t *p;
	uint8_t type;

	reset();
	n += frame(b + n, 1, 0x4, 5, 300, 0x11);
	n += frame(b + n, 0, 0x0, 5, 1000, 0);
	n += frame(b + n, 1, 0x5, 5, 10, 0x22);
	/* write 1: the HEADERS frame's header and 100 bytes of its block */
	assert_int_equal(walk(b, 109, 0, &d), 0);
	assert_int_equal(d.left, 200);
	assert_int_equal(d.fwd_left, 200);
	/* write 2: the rest of the block, DATA's header and half its payload */
	assert_int_equal(walk(b + 109, 200 + 9 + 500, 0, &d), 0);
	assert_int_equal(d.left, 500);
	assert_int_equal(d.fwd_left, 0);
	/* write 3: the rest of DATA, 4 bytes of the trailers' frame header */
	assert_int_equal(walk(b + 818, 504, 0, &d), 0);
	assert_int_equal(d.left, 0);
	assert_int_equal(d.hdr_have, 4);
	/* write 4: the rest */
	assert_int_equal(walk(b + 1322, n - 1322, 0, &d), 0);
	assert_int_equal(d.hdr_have, 0);
	assert_int_equal(d.left, 0);

	p = next_entry(&off, &type, &len, &stream, &piece);
	assert_true(type == 1 && len == 300 && piece == 100 && stream == 5 && p[0] == 0x11);
	p = next_entry(&off, &type, &len, &stream, &piece);
	assert_true(type == SONDE_H2_PIECE && piece == 200 && p[199] == 0x11);
	next_entry(&off, &type, &len, &stream, &piece);
	assert_true(type == 0 && len == 1000 && piece == 0);
	p = next_entry(&off, &type, &len, &stream, &piece);
	assert_true(type == 1 && len == 10 && piece == 10 && stream == 5 && p[9] == 0x22);
	assert_int_equal(off, got_len);
}

/* A writev of many small segments (more than the walk's window), frames
 * and blocks cut anywhere among them. */
static void test_walk_iovec(void **state)
{
	static uint8_t b[4096];
	static struct iovec iov[200];
	struct dir_state d = {};
	size_t n = 0, off = 0, at = 0;
	uint32_t len, stream, piece;
	const uint8_t *p;
	uint8_t type;
	int cnt = 0;

	reset();
	for (uint32_t s = 1; s <= 9; s += 2) {
		n += frame(b + n, 1, 0x4, s, 60, (uint8_t)s);
		n += frame(b + n, 0, 0x1, s, 7, 0);
	}
	while (at < n) {
		size_t l = 1 + cnt % 5;

		if (l > n - at)
			l = n - at;
		iov[cnt].iov_base = b + at;
		iov[cnt].iov_len = l;
		at += l;
		cnt++;
	}
	assert_true(cnt > 64); /* two windows and more */
	assert_int_equal(walk(iov, n, cnt, &d), 0);
	for (uint32_t s = 1; s <= 9; s += 2) {
		p = next_entry(&off, &type, &len, &stream, &piece);
		assert_true(type == 1 && stream == s && piece == 60);
		for (int i = 0; i < 60; i++)
			assert_int_equal(p[i], s);
		next_entry(&off, &type, &len, &stream, &piece);
		assert_true(type == 0 && stream == s && len == 7);
	}
	assert_int_equal(off, got_len);
}

/* A header block longer than an event: cut, counted, the direction marked. */
static void test_walk_truncates(void **state)
{
	static uint8_t b[4096];
	struct dir_state d = {};
	size_t n = 0, off = 0;
	uint32_t len, stream, piece;
	uint8_t type;

	reset();
	n += frame(b + n, 1, 0x4, 1, 2000, 0x33);
	n += frame(b + n, 0, 0x1, 1, 3, 0);
	assert_int_equal(walk(b, n, 0, &d), 0);
	assert_true(flags_seen & SONDE_EVF_H2_GAP); /* its event says so */
	next_entry(&off, &type, &len, &stream, &piece);
	assert_true(type == 1 && len == 2000 && piece < 2000 && piece > 0);
	next_entry(&off, &type, &len, &stream, &piece);
	assert_true(type == 0 && len == 3); /* framing kept */
	/* what was cut is counted */
	{
		uint32_t key = SONDE_CNT_H2_TRUNCATED;
		int ncpu = libbpf_num_possible_cpus();
		uint64_t v[ncpu], sum = 0;

		assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.counters), &key, v), 0);
		for (int i = 0; i < ncpu; i++)
			sum += v[i];
		assert_true(sum >= 1);
	}
}

/* A connection classified by a frame written first (a server's SETTINGS),
 * its first read the preface after all: skipped, and no gap reported. */
static void test_walk_late_preface(void **state)
{
	static uint8_t b[256];
	struct dir_state d = { .gap = 1, .fresh = 1 };
	size_t n = 24, off = 0;
	uint32_t len, stream, piece;
	uint8_t type;

	reset();
	memcpy(b, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
	n += frame(b + n, 4, 0, 0, 6, 0);
	n += frame(b + n, 1, 0x5, 1, 15, 0x44);
	assert_int_equal(walk(b, n, 0, &d), 0);
	assert_int_equal(d.gap, 0);
	assert_int_equal(d.fresh, 0);
	assert_false(flags_seen & SONDE_EVF_H2_GAP);
	next_entry(&off, &type, &len, &stream, &piece);
	assert_true(type == 1 && len == 15 && piece == 15 && stream == 1);
	assert_int_equal(off, got_len);
	/* and a fresh direction that is not at the start keeps its gap */
	reset();
	d = (struct dir_state){ .gap = 1, .fresh = 1 };
	assert_int_equal(walk(b + 24, n - 24, 0, &d), 0);
	assert_true(flags_seen & SONDE_EVF_H2_GAP);
}

/* h2c by upgrade (h2_on_upgrade): the client's read that holds the 101's
 * head and the server's first frames is walked from past the head; the
 * client's first write from past the preface. Both with no gap. */
static void test_walk_after_upgrade(void **state)
{
	static const char head[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
				   "Upgrade: h2c\r\n\r\n";
	static uint8_t b[512];
	struct dir_state d = { .left = sizeof(head) - 1 };
	size_t n = sizeof(head) - 1, off = 0;
	uint32_t len, stream, piece;
	const uint8_t *p;
	uint8_t type;

	reset();
	memcpy(b, head, n);
	n += frame(b + n, 4, 0, 0, 30, 0);	/* the server's SETTINGS */
	n += frame(b + n, 1, 0x4, 1, 12, 0x88); /* stream 1's response */
	n += frame(b + n, 0, 0x1, 1, 6, 'h');
	assert_int_equal(walk(b, n, 0, &d), 0);
	assert_int_equal(d.left, 0);
	assert_false(flags_seen & SONDE_EVF_H2_GAP);
	p = next_entry(&off, &type, &len, &stream, &piece);
	assert_true(type == 1 && len == 12 && piece == 12 && stream == 1 && p[0] == 0x88);
	next_entry(&off, &type, &len, &stream, &piece);
	assert_true(type == 0 && len == 6 && piece == 0 && stream == 1);
	assert_int_equal(off, got_len);

	/* the other direction: the preface, SETTINGS, stream 3's request */
	reset();
	d = (struct dir_state){ .left = 24 };
	memcpy(b, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
	n = 24;
	n += frame(b + n, 4, 0, 0, 18, 0);
	n += frame(b + n, 1, 0x5, 3, 20, 0x82);
	assert_int_equal(walk(b, n, 0, &d), 0);
	off = 0;
	next_entry(&off, &type, &len, &stream, &piece);
	assert_true(type == 1 && len == 20 && piece == 20 && stream == 3);
	assert_int_equal(off, got_len);
	/* a head whose 101 came alone: the walk skips it all, sends nothing */
	reset();
	d = (struct dir_state){ .left = sizeof(head) - 1 };
	assert_int_equal(walk(head, sizeof(head) - 1, 0, &d), 0);
	assert_int_equal(d.left, 0);
	assert_int_equal(events, 0);
}

/* A walk that lost its place (an I/O it never saw) finds a frame header
 * no peer sends: it stops there rather than read payload as frames. */
static void test_walk_lost_place(void **state)
{
	static uint8_t b[256];
	struct dir_state d = {};
	size_t n = 0;

	reset();
	n += frame(b + n, 1, 0x4, 1, 10, 0x82);
	memset(b + n, 'x', 40); /* payload bytes where a header should be */
	assert_int_equal(walk(b, n + 40, 0, &d), -1);
	/* an extension frame (ORIGIN) is fine, and skipped */
	reset();
	d = (struct dir_state){};
	n = frame(b, 0x0c, 0, 0, 6, 0);
	n += frame(b + n, 1, 0x5, 1, 3, 0x82);
	assert_int_equal(walk(b, n, 0, &d), 0);
}

/* Bytes no frame walk can follow (a header in memory it cannot read). */
static void test_walk_unreadable(void **state)
{
	struct dir_state d = {};

	reset();
	assert_int_equal(walk((void *)16, 100, 0, &d), -1);
	assert_int_equal(events, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_walk_one_write),
		cmocka_unit_test(test_walk_across_writes),
		cmocka_unit_test(test_walk_iovec),
		cmocka_unit_test(test_walk_truncates),
		cmocka_unit_test(test_walk_late_preface),
		cmocka_unit_test(test_walk_after_upgrade),
		cmocka_unit_test(test_walk_lost_place),
		cmocka_unit_test(test_walk_unreadable),
	};

	if (geteuid() != 0 && !getenv("CI")) {
		printf("SKIP bpf HTTP/2 test: needs root (CAP_BPF) and CI is not set\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
