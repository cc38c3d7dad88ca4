// SPDX-License-Identifier: Apache-2.0
/*
 * The kernel-side HTTP/1 parsers (bpf/proto_http1.bpf.h) run by the kernel
 * itself: tests/bpf/proto_test.bpf.c wraps them in a syscall program, and
 * each case here feeds it crafted bytes through BPF_PROG_TEST_RUN and
 * checks the verdict it leaves in its globals. The verifier runs on this
 * kernel as in production. Needs root; outside CI it skips without it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sonde/abi.h"
#include "proto_test.skel.h"

/* Same numbers and layout as in proto_test.bpf.c. */
enum proto_op {
	PROTO_OP_IS_REQUEST = 1,
	PROTO_OP_STATUS = 2,
	PROTO_OP_STATUS_PREFIX = 3,
	PROTO_OP_FRAME_HEAD = 4,
	PROTO_OP_PG_CLASSIFY = 5,
	PROTO_OP_PG_READY = 6,
	PROTO_OP_MYSQL_CLASSIFY = 7,
	PROTO_OP_MYSQL_SINGLE = 8,
	PROTO_OP_MYSQL_RESULT_END = 9,
	PROTO_OP_MYSQL_SSL_REQUEST = 10,
	PROTO_OP_TLS_CLASSIFY = 11,
	PROTO_OP_TLS_APPDATA = 12,
	PROTO_OP_INFLIGHT_BEGIN = 13,
	PROTO_OP_INFLIGHT_END = 14,
	PROTO_OP_INFLIGHT_ONE = 15,
};

struct proto_in {
	uint32_t op;
	uint32_t len;
	uint8_t buf[SONDE_RESP_CAP];
};
_Static_assert(sizeof(struct proto_in) == 8 + SONDE_RESP_CAP, "proto_in layout");

struct frame {
	uint32_t head_len;
	uint64_t content_length;
	uint32_t has_length;
	uint32_t chunked;
	uint32_t h2c;
};

static struct proto_test_bpf *skel;
static char verifier_log[1 << 16];
static size_t verifier_log_len;

static int keep_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int n;

	if (level == LIBBPF_DEBUG)
		return 0;
	n = vsnprintf(verifier_log + verifier_log_len, sizeof(verifier_log) - verifier_log_len,
		      fmt, ap);
	if (n > 0 && verifier_log_len + n < sizeof(verifier_log))
		verifier_log_len += n;
	return 0;
}

static int setup(void **state)
{
	int err;

	libbpf_set_print(keep_log);
	skel = proto_test_bpf__open();
	if (!skel) {
		fprintf(stderr, "open failed: %s\n", strerror(errno));
		return -1;
	}
	err = proto_test_bpf__load(skel);
	if (err) {
		fprintf(stderr, "load failed: %s\n%s\n", strerror(-err), verifier_log);
		proto_test_bpf__destroy(skel);
		skel = NULL;
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	proto_test_bpf__destroy(skel);
	skel = NULL;
	return 0;
}

/* Run @op with the first @size bytes of @bytes in the buffer (the rest
 * zero) and @len as its length, @len <= @size <= SONDE_RESP_CAP: bytes
 * past @len are there, for the parser to ignore. Returns the parser's
 * scalar result. */
static uint32_t run_buf(uint32_t op, const void *bytes, size_t size, size_t len)
{
	struct proto_in in;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &in, .ctx_size_in = sizeof(in));
	int err;

	assert_true(len <= size && size <= SONDE_RESP_CAP);
	memset(&in, 0, sizeof(in));
	in.op = op;
	in.len = len;
	memcpy(in.buf, bytes, size);
	err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.proto_run), &opts);
	assert_int_equal(err, 0);
	assert_int_equal(opts.retval, 0);
	assert_int_equal(skel->bss->out_ran, 1);
	return skel->bss->out_result;
}

static uint32_t run_n(uint32_t op, const void *bytes, size_t len)
{
	return run_buf(op, bytes, len, len);
}

static uint32_t run(uint32_t op, const char *s)
{
	return run_n(op, s, strlen(s));
}

static struct frame frame_buf(const void *bytes, size_t size, size_t len)
{
	struct frame f;

	run_buf(PROTO_OP_FRAME_HEAD, bytes, size, len);
	f.head_len = skel->bss->out_head_len;
	f.content_length = skel->bss->out_content_length;
	f.has_length = skel->bss->out_has_length;
	f.chunked = skel->bss->out_chunked;
	f.h2c = skel->bss->out_h2c;
	return f;
}

static struct frame frame_n(const void *bytes, size_t len)
{
	return frame_buf(bytes, len, len);
}

static struct frame frame(const char *s)
{
	return frame_n(s, strlen(s));
}

/* ---- http_is_request ---- */

static void test_request_methods_accepted(void **state)
{
	static const char *const lines[] = {
		"GET / HTTP/1.1\r\n",	      "POST /x HTTP/1.1\r\n", "PUT /x HTTP/1.1\r\n",
		"PATCH /x HTTP/1.1\r\n",    "HEAD / HTTP/1.1\r\n",  "DELETE /x HTTP/1.1\r\n",
		"OPTIONS * HTTP/1.1\r\n",   "CONNECT h:443 HTTP/1.1\r\n",
		"TRACE / HTTP/1.1\r\n",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (run(PROTO_OP_IS_REQUEST, lines[i]) != 1)
			fail_msg("request line not accepted: %s", lines[i]);
	}
	/* Four bytes are enough. */
	assert_int_equal(run(PROTO_OP_IS_REQUEST, "GET "), 1);
	assert_int_equal(run(PROTO_OP_IS_REQUEST, "POST"), 1);
}

static void test_request_rejected(void **state)
{
	static const uint8_t tls_hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc };
	static const uint8_t binary[] = { 0x00, 0x01, 0x02, 0x03, 0xff, 0xfe, 0x80, 0x7f };
	static const char *const lines[] = {
		"GEX / HTTP/1.1\r\n", "get / HTTP/1.1\r\n", "GETX / HTTP/1.1\r\n",
		"PUTS /x\r\n",	      "HTTP/1.1 200 OK\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		" GET / HTTP/1.1\r\n", "SSH-2.0-OpenSSH_9.6\r\n", "XYZW",
		/* each method's fourth byte wrong */
		"GETX", "POSX", "PUTX", "PATX", "HEAX", "DELX", "OPTX", "CONX", "TRAX",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (run(PROTO_OP_IS_REQUEST, lines[i]) != 0)
			fail_msg("not a request line, yet accepted: %s", lines[i]);
	}
	assert_int_equal(run_n(PROTO_OP_IS_REQUEST, tls_hello, sizeof(tls_hello)), 0);
	assert_int_equal(run_n(PROTO_OP_IS_REQUEST, binary, sizeof(binary)), 0);
	/* Shorter than four bytes: rejected, even when the bytes past len
	 * would complete a method. */
	assert_int_equal(run(PROTO_OP_IS_REQUEST, "GET"), 0);
	assert_int_equal(run(PROTO_OP_IS_REQUEST, "GE"), 0);
	assert_int_equal(run(PROTO_OP_IS_REQUEST, ""), 0);
	assert_int_equal(run_buf(PROTO_OP_IS_REQUEST, "GET / HTTP/1.1", 14, 3), 0);
}

/* ---- http_response_status ---- */

static void test_status_lines(void **state)
{
	assert_int_equal(run(PROTO_OP_STATUS, "HTTP/1.1 200 OK\r\n"), 200);
	assert_int_equal(run(PROTO_OP_STATUS, "HTTP/1.0 404 Not Found\r\n"), 404);
	assert_int_equal(run(PROTO_OP_STATUS, "HTTP/1.1 100 Continue\r\n"), 100);
	assert_int_equal(run(PROTO_OP_STATUS, "HTTP/1.1 304 Not Modified\r\n"), 304);
	assert_int_equal(run(PROTO_OP_STATUS, "HTTP/1.1 503 Service Unavailable\r\n"), 503);
	assert_int_equal(run(PROTO_OP_STATUS, "HTTP/1.1 999 x\r\n"), 999);
	assert_int_equal(run(PROTO_OP_STATUS, "HTTP/1.1 000 x\r\n"), 0);
	/* Exactly twelve bytes are enough: no reason phrase needed. */
	assert_int_equal(run(PROTO_OP_STATUS, "HTTP/1.1 204"), 204);
	/* The version digits are not checked, only the shape. */
	assert_int_equal(run(PROTO_OP_STATUS, "HTTP/9.9 201 x"), 201);
}

static void test_status_rejected(void **state)
{
	static const char *const lines[] = {
		"HTTP/1.1 2x0 OK\r\n", "HTTP/1.1 20 OK\r\n",  "HTTP/1.1 A00 OK\r\n",
		"HTTP/1.1 20:\r\n",    "HTTP/2 200 OK\r\n",   "HTTP/1.1-200 OK\r\n",
		"HTTX/1.1 200 OK\r\n", "http/1.1 200 OK\r\n", "HTTP 1.1 200 OK\r\n",
		"GET / HTTP/1.1\r\n",  " HTTP/1.1 200 OK\r\n",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (run(PROTO_OP_STATUS, lines[i]) != 0)
			fail_msg("not a status line, yet a status: %s", lines[i]);
	}
	/* Short: eleven bytes, even with the twelfth present past len. */
	assert_int_equal(run(PROTO_OP_STATUS, "HTTP/1.1 20"), 0);
	assert_int_equal(run_buf(PROTO_OP_STATUS, "HTTP/1.1 200 OK", 15, 11), 0);
	assert_int_equal(run(PROTO_OP_STATUS, ""), 0);
}

/* ---- http_status_prefix ---- */

static void test_status_prefix(void **state)
{
	static const char *const ok[] = { "", "H", "HT", "HTT", "HTTP", "HTTP/" };
	static const char *const bad[] = { "X", "h", "HX", "HXT", "HTX", "HTTX", "HTTP1", "GET" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (run(PROTO_OP_STATUS_PREFIX, ok[i]) != 1)
			fail_msg("prefix of HTTP/ refused: \"%s\"", ok[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (run(PROTO_OP_STATUS_PREFIX, bad[i]) != 0)
			fail_msg("not a prefix of HTTP/, yet accepted: \"%s\"", bad[i]);
	}
	/* Only the bytes we have count. */
	assert_int_equal(run_buf(PROTO_OP_STATUS_PREFIX, "HXTP/", 5, 1), 1);
	assert_int_equal(run_buf(PROTO_OP_STATUS_PREFIX, "HXTP/", 5, 2), 0);
	assert_int_equal(run_buf(PROTO_OP_STATUS_PREFIX, "HTTPX", 5, 4), 1);
}

/* ---- http_frame_head ---- */

static void test_frame_content_length(void **state)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n";
	char buf[256];
	struct frame f;

	f = frame(head);
	assert_int_equal(f.head_len, strlen(head));
	assert_int_equal(f.has_length, 1);
	assert_int_equal(f.content_length, 42);
	assert_int_equal(f.chunked, 0);

	/* The body after the head changes nothing. */
	snprintf(buf, sizeof(buf), "%s%s", head, "0123456789012345678901234567890123456789AB");
	f = frame(buf);
	assert_int_equal(f.head_len, strlen(head));
	assert_int_equal(f.content_length, 42);

	/* Among other headers, not first. */
	f = frame("HTTP/1.1 200 OK\r\nDate: Tue, 01 Dec 2026 17:00:00 GMT\r\n"
		  "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 1234\r\n"
		  "Server: x\r\n\r\n");
	assert_int_equal(f.has_length, 1);
	assert_int_equal(f.content_length, 1234);
	assert_int_equal(f.head_len, 130);

	/* Zero is a length. */
	f = frame("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(f.has_length, 1);
	assert_int_equal(f.content_length, 0);

	/* Ten GiB: more than 32 bits. */
	f = frame("HTTP/1.1 200 OK\r\nContent-Length: 10737418240\r\n\r\n");
	assert_int_equal(f.has_length, 1);
	assert_true(f.content_length == 10737418240ULL);

	/* Digits stop at the first non-digit. */
	f = frame("HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n");
	assert_int_equal(f.has_length, 1);
	assert_int_equal(f.content_length, 12);
}

static void test_frame_content_length_name_case(void **state)
{
	static const char *const heads[] = {
		"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n",
		"HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 7\r\n\r\n",
		"HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh: 7\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		struct frame f = frame(heads[i]);

		if (f.has_length != 1 || f.content_length != 7 || f.head_len != strlen(heads[i]))
			fail_msg("case %zu: has_length %u length %llu head_len %u", i, f.has_length,
				 (unsigned long long)f.content_length, f.head_len);
	}
}

static void test_frame_content_length_spaces(void **state)
{
	struct frame f;

	f = frame("HTTP/1.1 200 OK\r\nContent-Length:5\r\n\r\n");
	assert_int_equal(f.has_length, 1);
	assert_int_equal(f.content_length, 5);
	f = frame("HTTP/1.1 200 OK\r\nContent-Length:     123\r\n\r\n");
	assert_int_equal(f.has_length, 1);
	assert_int_equal(f.content_length, 123);
	/* Spaces count against the sixteen-byte window: sixteen of them
	 * leave no room for a digit. */
	f = frame("HTTP/1.1 200 OK\r\nContent-Length:                5\r\n\r\n");
	assert_int_equal(f.has_length, 0);
	assert_int_equal(f.content_length, 0);
	/* Spaces only lead: one inside the number ends it. */
	f = frame("HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n");
	assert_int_equal(f.has_length, 1);
	assert_int_equal(f.content_length, 1);
	/* Space before the colon: not the header. */
	f = frame("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n");
	assert_int_equal(f.has_length, 0);
}

static void test_frame_not_content_length(void **state)
{
	struct frame f;

	f = frame("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n");
	assert_int_equal(f.has_length, 0);
	assert_int_equal(f.content_length, 0);
	assert_int_equal(f.chunked, 0);
	assert_int_equal(f.head_len, 44);
	f = frame("HTTP/1.1 200 OK\r\nContent-Lengths: 5\r\n\r\n");
	assert_int_equal(f.has_length, 0);
	f = frame("HTTP/1.1 200 OK\r\nContent-Length-2: 5\r\n\r\n");
	assert_int_equal(f.has_length, 0);
	f = frame("HTTP/1.1 200 OK\r\nX-Content-Length: 5\r\n\r\n");
	assert_int_equal(f.has_length, 0);
	f = frame("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n");
	assert_int_equal(f.has_length, 0);
	f = frame("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n");
	assert_int_equal(f.has_length, 0);
	/* In the status line, not after a line break: not a header. */
	f = frame("Content-Length: 5\r\n\r\n");
	assert_int_equal(f.has_length, 0);
	assert_int_equal(f.head_len, 21);
}

/*
 * More than sixteen digits: parse_length reads the sixteen bytes after the
 * colon (leading spaces included) and keeps the digits it found there,
 * silently dropping the rest. So a long value is cut to its leading digits
 * and still reported as a length, never overflowing 64 bits (16 digits <
 * 2^64). With the usual single space, that leaves fifteen digits.
 */
static void test_frame_content_length_long(void **state)
{
	struct frame f;

	f = frame("HTTP/1.1 200 OK\r\nContent-Length:1234567890123456\r\n\r\n");
	assert_int_equal(f.has_length, 1);
	assert_true(f.content_length == 1234567890123456ULL);
	f = frame("HTTP/1.1 200 OK\r\nContent-Length:12345678901234567890\r\n\r\n");
	assert_int_equal(f.has_length, 1);
	assert_true(f.content_length == 1234567890123456ULL);
	f = frame("HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456\r\n\r\n");
	assert_int_equal(f.has_length, 1);
	assert_true(f.content_length == 123456789012345ULL);
	f = frame("HTTP/1.1 200 OK\r\nContent-Length:9999999999999999999999\r\n\r\n");
	assert_int_equal(f.has_length, 1);
	assert_true(f.content_length == 9999999999999999ULL);
	/* The head is still found. */
	assert_int_equal(f.head_len, 58);
}

/* A 101 that switches to h2c (RFC 7540 3.2), and the ones that do not. */
static void test_frame_upgrade_h2c(void **state)
{
	static const char *const h2c[] = {
		"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nupgrade:h2c\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUPGRADE: H2C \r\n\r\n",
	};
	static const char *const other[] = {
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2cx\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nX-Upgrade: h2c\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade-Insecure: h2c\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nUpgrade: h2c",
	};
	struct frame f;

	(void)state;
	for (size_t i = 0; i < sizeof(h2c) / sizeof(h2c[0]); i++) {
		f = frame(h2c[i]);
		assert_int_equal(f.head_len, strlen(h2c[i]));
		assert_int_equal(f.h2c, 1);
	}
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		f = frame(other[i]);
		assert_int_equal(f.h2c, 0);
	}
}

static void test_frame_chunked(void **state)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	struct frame f;

	f = frame(head);
	assert_int_equal(f.chunked, 1);
	assert_int_equal(f.has_length, 0);
	assert_int_equal(f.head_len, strlen(head));
	f = frame("HTTP/1.1 200 OK\r\nDate: x\r\ntransfer-encoding: chunked\r\nServer: y\r\n\r\n"
		  "5\r\nhello\r\n0\r\n\r\n");
	assert_int_equal(f.chunked, 1);
	assert_int_equal(f.head_len, 67);
	f = frame("HTTP/1.1 200 OK\r\nTRANSFER-ENCODING:chunked\r\n\r\n");
	assert_int_equal(f.chunked, 1);
	/* The value is not looked at: HTTP/1.1 puts chunked last whenever a
	 * Transfer-Encoding is sent, so any one means chunked. */
	f = frame("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
	assert_int_equal(f.chunked, 1);
	/* Other names are not it. */
	f = frame("HTTP/1.1 200 OK\r\nTransfer-Encodings: chunked\r\n\r\n");
	assert_int_equal(f.chunked, 0);
	f = frame("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n");
	assert_int_equal(f.chunked, 0);
	/* Both headers: both reported, the caller decides. */
	f = frame("HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n");
	assert_int_equal(f.chunked, 1);
	assert_int_equal(f.has_length, 1);
	assert_int_equal(f.content_length, 9);
}

/* A response head of exactly @size bytes (19 or 28..SONDE_RESP_CAP),
 * padded with one X-Pad header. */
static size_t make_head(char *buf, size_t size)
{
	static const char status[] = "HTTP/1.1 200 OK\r\n";
	size_t n = 0;

	memcpy(buf, status, strlen(status));
	n = strlen(status);
	if (size > 19) {
		memcpy(buf + n, "X-Pad: ", 7);
		n += 7;
		memset(buf + n, 'a', size - 28);
		n += size - 28;
		memcpy(buf + n, "\r\n", 2);
		n += 2;
	}
	memcpy(buf + n, "\r\n", 2);
	n += 2;
	return n;
}

static void test_frame_head_len_sizes(void **state)
{
	char buf[SONDE_RESP_CAP + 64];
	size_t sizes = 0;

	for (size_t size = 19; size <= SONDE_RESP_CAP; size = size == 19 ? 28 : size + 1) {
		size_t n = make_head(buf, size);
		struct frame f;

		assert_int_equal(n, size);
		/* The head alone, then followed by as much body as fits. */
		f = frame_n(buf, n);
		if (f.head_len != size)
			fail_msg("head of %zu bytes: head_len %u", size, f.head_len);
		memset(buf + n, 'b', SONDE_RESP_CAP - n);
		f = frame_n(buf, SONDE_RESP_CAP);
		if (f.head_len != size)
			fail_msg("head of %zu bytes and body: head_len %u", size, f.head_len);
		if (f.has_length || f.chunked)
			fail_msg("head of %zu bytes: framing from the padding", size);
		/* All bytes there, one short of the head by len. */
		f = frame_buf(buf, SONDE_RESP_CAP, size - 1);
		if (f.head_len != 0)
			fail_msg("head of %zu bytes, len one short: head_len %u", size, f.head_len);
		sizes++;
	}
	assert_int_equal(sizes, SONDE_RESP_CAP - 28 + 2);
}

/* Many short header lines: one scan step per line, on top of the steps
 * that skip 32 bytes at a time; the step budget must cover a full buffer
 * of them. */
static void test_frame_head_many_lines(void **state)
{
	char buf[SONDE_RESP_CAP];
	size_t n = 17, lines = 0;
	struct frame f;

	memcpy(buf, "HTTP/1.1 200 OK\r\n", 17);
	while (n + 4 + 2 + 20 <= SONDE_RESP_CAP) {
		memcpy(buf + n, "a:\r\n", 4);
		n += 4;
		lines++;
	}
	memcpy(buf + n, "Content-Length: 3\r\n\r\n", 21);
	n += 21;
	f = frame_n(buf, n);
	assert_int_equal(lines, 118);
	assert_int_equal(f.head_len, n);
	assert_int_equal(f.has_length, 1);
	assert_int_equal(f.content_length, 3);
}

static void test_frame_head_too_long(void **state)
{
	char buf[SONDE_RESP_CAP + 200];
	struct frame f;

	/* The blank line ends at byte 600: only the first 512 are there. */
	assert_int_equal(make_head(buf, sizeof(buf) - 112), 600);
	f = frame_n(buf, SONDE_RESP_CAP);
	assert_int_equal(f.head_len, 0);
	/* One byte too long: its final '\n' would be byte 513. */
	make_head(buf, SONDE_RESP_CAP + 1);
	f = frame_n(buf, SONDE_RESP_CAP);
	assert_int_equal(f.head_len, 0);
	/* Content-Length in the part we have is still seen. */
	make_head(buf, 600);
	memcpy(buf + 17, "Content-Length: 77\r\nX-Pad", 25);
	f = frame_n(buf, SONDE_RESP_CAP);
	assert_int_equal(f.head_len, 0);
	assert_int_equal(f.has_length, 1);
	assert_int_equal(f.content_length, 77);
}

static void test_frame_head_cut(void **state)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	size_t full = strlen(head) - 5;
	struct frame f;

	/* Every cut before the last byte of the blank line: no head yet. */
	for (size_t cut = 0; cut < full; cut++) {
		f = frame_buf(head, strlen(head), cut);
		if (f.head_len != 0)
			fail_msg("head cut at %zu of %zu: head_len %u", cut, full, f.head_len);
	}
	f = frame_n(head, full);
	assert_int_equal(f.head_len, full);
	/* Cut after the header line: the length is already known. */
	f = frame_buf(head, strlen(head), full - 2);
	assert_int_equal(f.head_len, 0);
	assert_int_equal(f.has_length, 1);
	assert_int_equal(f.content_length, 5);
	/* A header line that starts past len is not looked at. */
	f = frame_buf(head, strlen(head), 18);
	assert_int_equal(f.has_length, 0);
	/* Bare LF line ends are not taken for the end of the head. */
	f = frame("HTTP/1.1 200 OK\nContent-Length: 5\n\nhello");
	assert_int_equal(f.head_len, 0);
}

static void test_frame_not_http(void **state)
{
	static const uint8_t tls_hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01,
					     0xfc, 0x03, 0x03, 0x0a, 0x0d, 0x0b, 0x0a };
	uint8_t buf[SONDE_RESP_CAP];
	uint32_t x = 12345;
	struct frame f;

	f = frame_n(tls_hello, sizeof(tls_hello));
	assert_int_equal(f.head_len, 0);
	assert_int_equal(f.has_length, 0);
	assert_int_equal(f.chunked, 0);

	/* Zeros, and bytes without a CR LF CR LF anywhere. */
	memset(buf, 0, sizeof(buf));
	f = frame_n(buf, sizeof(buf));
	assert_int_equal(f.head_len, 0);
	assert_int_equal(f.has_length, 0);
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245 + 12345;
		buf[i] = (x >> 16) & 0xff;
		if (buf[i] == '\r')
			buf[i] = 'r';
	}
	f = frame_n(buf, sizeof(buf));
	assert_int_equal(f.head_len, 0);
	assert_int_equal(f.has_length, 0);
	assert_int_equal(f.chunked, 0);
	f = frame_n(buf, 0);
	assert_int_equal(f.head_len, 0);
	/* The scan does not judge the bytes, it only looks for LF CR LF:
	 * binary with one is given a head_len. Callers check the status
	 * line (http_response_status) first. */
	f = frame_n("\x16\x03\x01\n\r\nxyz", 9);
	assert_int_equal(f.head_len, 6);
}

/* ---- PostgreSQL (bpf/proto_postgres.bpf.h) ---- */

enum { PG_NOT = 0, PG_STARTUP = 1, PG_ENCRYPT_REQ = 2, PG_MESSAGE = 3 };

/* A StartupMessage as libpq writes it: length, 3.0, user, database. */
static const uint8_t pg_startup[] = "\0\0\0\x26\0\x03\0\0user\0postgres\0database\0sonde\0\0";

static void test_pg_classify_startup(void **state)
{
	uint8_t v2[sizeof(pg_startup)];

	assert_int_equal(sizeof(pg_startup) - 1, 0x26);
	assert_int_equal(run_n(PROTO_OP_PG_CLASSIFY, pg_startup, 0x26), PG_STARTUP);
	/* length disagreeing with the chunk, protocol 2.0: no */
	assert_int_equal(run_n(PROTO_OP_PG_CLASSIFY, pg_startup, 0x25), PG_NOT);
	memcpy(v2, pg_startup, sizeof(v2));
	v2[5] = 0x02;
	assert_int_equal(run_n(PROTO_OP_PG_CLASSIFY, v2, 0x26), PG_NOT);
}

static void test_pg_classify_encrypt(void **state)
{
	static const uint8_t ssl[] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
	static const uint8_t gss[] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30 };
	static const uint8_t cancel[] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2e };

	assert_int_equal(run_n(PROTO_OP_PG_CLASSIFY, ssl, 8), PG_ENCRYPT_REQ);
	assert_int_equal(run_n(PROTO_OP_PG_CLASSIFY, gss, 8), PG_ENCRYPT_REQ);
	assert_int_equal(run_n(PROTO_OP_PG_CLASSIFY, cancel, 8), PG_NOT);
}

static void test_pg_classify_midstream(void **state)
{
	static const uint8_t q[] = "Q\0\0\0\x0dSELECT 1\0";
	static const uint8_t q_bad[] = "Q\0\0\0\x0dSELECT 1x";
	/* Parse then Sync, as node-postgres writes an unnamed statement */
	static const uint8_t parse[] = "P\0\0\0\x10\0SELECT 1\0\0\0S\0\0\0\x04";
	static const uint8_t parse_bad[] = "P\0\0\0\x10\0SELECT 1\0\0\0z\0\0\0\x04";

	assert_int_equal(run_n(PROTO_OP_PG_CLASSIFY, q, 14), PG_MESSAGE);
	assert_int_equal(run_n(PROTO_OP_PG_CLASSIFY, q_bad, 14), PG_NOT);
	assert_int_equal(run_n(PROTO_OP_PG_CLASSIFY, parse, 22), PG_MESSAGE);
	assert_int_equal(run_n(PROTO_OP_PG_CLASSIFY, parse_bad, 22), PG_NOT);
	/* other protocols' first bytes */
	assert_int_equal(run(PROTO_OP_PG_CLASSIFY, "GET / HTTP/1.1\r\n"), PG_NOT);
	assert_int_equal(run(PROTO_OP_PG_CLASSIFY, "POST /x HTTP/1.1\r\n"), PG_NOT);
	assert_int_equal(run(PROTO_OP_PG_CLASSIFY, "*1\r\n$4\r\nPING\r\n"), PG_NOT);
}

static void test_pg_ready_for_query(void **state)
{
	assert_int_equal(run_n(PROTO_OP_PG_READY, "Z\0\0\0\x05I", 6), 1);
	assert_int_equal(run_n(PROTO_OP_PG_READY, "Z\0\0\0\x05T", 6), 1);
	assert_int_equal(run_n(PROTO_OP_PG_READY, "Z\0\0\0\x05" "E", 6), 1);
	assert_int_equal(run_n(PROTO_OP_PG_READY, "Z\0\0\0\x05X", 6), 0);
	assert_int_equal(run_n(PROTO_OP_PG_READY, "Z\0\0\0\x06I", 6), 0);
	assert_int_equal(run_n(PROTO_OP_PG_READY, "C\0\0\0\x05I", 6), 0);
}

/* ---- MySQL (bpf/proto_mysql.bpf.h) ---- */

enum { MYSQL_NOT = 0, MYSQL_GREETING = 1, MYSQL_COMMAND = 2 };

static void test_mysql_classify(void **state)
{
	uint8_t g[64] = { 40, 0, 0, 0, 10 };
	static const uint8_t query[] = "\x09\0\0\0\x03SELECT 1";
	static const uint8_t prepare[] = "\x09\0\0\0\x16SELECT 1";
	static const uint8_t execute[] = "\x0a\0\0\0\x17\x01\0\0\0\0\x01\0\0\0";

	memcpy(g + 5, "10.11.6-MariaDB", 16);
	assert_int_equal(run_n(PROTO_OP_MYSQL_CLASSIFY, g, 44), MYSQL_GREETING);
	memcpy(g + 5, "8.0.36", 7);
	assert_int_equal(run_n(PROTO_OP_MYSQL_CLASSIFY, g, 44), MYSQL_GREETING);
	g[4] = 9; /* protocol 9 */
	assert_int_equal(run_n(PROTO_OP_MYSQL_CLASSIFY, g, 44), MYSQL_NOT);
	assert_int_equal(run_n(PROTO_OP_MYSQL_CLASSIFY, query, 13), MYSQL_COMMAND);
	assert_int_equal(run_n(PROTO_OP_MYSQL_CLASSIFY, prepare, 13), MYSQL_COMMAND);
	assert_int_equal(run_n(PROTO_OP_MYSQL_CLASSIFY, execute, 14), MYSQL_COMMAND);
	/* the packet longer than the chunk, sequence not 0, unknown command */
	assert_int_equal(run_n(PROTO_OP_MYSQL_CLASSIFY, query, 12), MYSQL_NOT);
	assert_int_equal(run_n(PROTO_OP_MYSQL_CLASSIFY, "\x09\0\0\x01\x03SELECT 1", 13), MYSQL_NOT);
	assert_int_equal(run_n(PROTO_OP_MYSQL_CLASSIFY, "\x09\0\0\0\x55SELECT 1", 13), MYSQL_NOT);
	/* a PostgreSQL query is not MySQL, nor HTTP */
	assert_int_equal(run_n(PROTO_OP_MYSQL_CLASSIFY, "Q\0\0\0\x0dSELECT 1\0", 14), MYSQL_NOT);
	assert_int_equal(run(PROTO_OP_MYSQL_CLASSIFY, "GET / HTTP/1.1\r\n"), MYSQL_NOT);
}

static void test_mysql_single_packet(void **state)
{
	/* command, then the first packet's header and payload start */
	static const uint8_t ok[] = "\x03\x07\0\0\x01\0\x01\0\x02\0\0\0\0\0";
	static const uint8_t err[] = "\x03\x30\0\0\x01\xff\x7a\x04#42S02Table";
	static const uint8_t rows[] = "\x03\x01\0\0\x01\x02\x2a\0\0\x02\x03" "def";
	static const uint8_t prep_none[] = "\x16\x0c\0\0\x01\0\x01\0\0\0\0\0\0\0";
	static const uint8_t prep_cols[] = "\x16\x0c\0\0\x01\0\x01\0\0\0\x01\0\x01\0";
	static const uint8_t auth[] = "\0\x2c\0\0\x02\xfemysql_native_password";

	assert_int_equal(run_n(PROTO_OP_MYSQL_SINGLE, ok, 14), 11);
	assert_int_equal(run_n(PROTO_OP_MYSQL_SINGLE, err, 14), 0x34);
	assert_int_equal(run_n(PROTO_OP_MYSQL_SINGLE, rows, 14), 0);
	assert_int_equal(run_n(PROTO_OP_MYSQL_SINGLE, prep_none, 14), 16);
	assert_int_equal(run_n(PROTO_OP_MYSQL_SINGLE, prep_cols, 14), 0);
	assert_int_equal(run_n(PROTO_OP_MYSQL_SINGLE, auth, 14), 0x30);
}

static void test_mysql_ssl_request(void **state)
{
	/* caps with CLIENT_SSL (0x800), max packet, charset, 23 zero bytes */
	uint8_t p[36] = { 32, 0, 0, 1, 0x05, 0xaa, 0x0f, 0x00 };
	uint8_t full[64] = { 60, 0, 0, 1, 0x05, 0xaa, 0x0f, 0x00 };

	assert_int_equal(run_n(PROTO_OP_MYSQL_SSL_REQUEST, p, 36), 1);
	p[5] = 0xa2; /* no CLIENT_SSL */
	assert_int_equal(run_n(PROTO_OP_MYSQL_SSL_REQUEST, p, 36), 0);
	/* a whole handshake response (user, auth data follow) */
	assert_int_equal(run_n(PROTO_OP_MYSQL_SSL_REQUEST, full, 64), 0);
}

/*
 * A real ClientHello: the first bytes `openssl s_client` writes to a
 * loopback listener made here (TLS 1.3 with its 1.2 fallback, record
 * version 3.1). Return: its length, at most @cap bytes read.
 */
static size_t real_client_hello(uint8_t *buf, size_t cap)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int ls = socket(AF_INET, SOCK_STREAM, 0), cs;
	char cmd[160];
	FILE *client;
	ssize_t n = 0;

	assert_true(ls >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(ls, 1), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
	snprintf(cmd, sizeof(cmd),
		 "openssl s_client -connect 127.0.0.1:%u -servername t.test </dev/null >/dev/null 2>&1",
		 ntohs(a.sin_port));
	client = popen(cmd, "r");
	assert_non_null(client);
	cs = accept(ls, NULL, NULL);
	assert_true(cs >= 0);
	/* the whole record: its header tells its length */
	while ((size_t)n < cap) {
		ssize_t r = read(cs, buf + n, cap - n);

		if (r <= 0)
			break;
		n += r;
		if (n >= 5 && (size_t)n >= 5u + (buf[3] << 8 | buf[4]))
			break;
	}
	close(cs);
	close(ls);
	pclose(client);
	return n;
}

static void test_tls_classify(void **state)
{
	uint8_t hello[SONDE_RESP_CAP], b[16];
	size_t n = real_client_hello(hello, sizeof(hello));

	assert_true(n > 64);
	assert_int_equal(run_n(PROTO_OP_TLS_CLASSIFY, hello, n), 1);
	/* OpenSSL servers read a record's 5-byte header alone first */
	assert_int_equal(run_n(PROTO_OP_TLS_CLASSIFY, hello, 5), 1);
	assert_int_equal(run_n(PROTO_OP_TLS_CLASSIFY, hello, 6), 1);
	assert_int_equal(run_n(PROTO_OP_TLS_CLASSIFY, hello, 4), 0);
	/* no other classifier claims it (the registry's order does not matter) */
	assert_int_equal(run_n(PROTO_OP_IS_REQUEST, hello, n), 0);
	assert_int_equal(run_n(PROTO_OP_PG_CLASSIFY, hello, n), 0);
	assert_int_equal(run_n(PROTO_OP_MYSQL_CLASSIFY, hello, n), 0);
	/* a ServerHello (type 2), application data, an alert: not a connection's start */
	memcpy(b, hello, sizeof(b));
	b[5] = 2;
	assert_int_equal(run_n(PROTO_OP_TLS_CLASSIFY, b, sizeof(b)), 0);
	memcpy(b, hello, sizeof(b));
	b[0] = 0x17;
	assert_int_equal(run_n(PROTO_OP_TLS_CLASSIFY, b, sizeof(b)), 0);
	b[0] = 0x15;
	assert_int_equal(run_n(PROTO_OP_TLS_CLASSIFY, b, 5), 0);
	/* versions: SSL 3.0 to TLS 1.3 records; nothing past */
	memcpy(b, hello, sizeof(b));
	b[2] = 0;
	assert_int_equal(run_n(PROTO_OP_TLS_CLASSIFY, b, sizeof(b)), 1);
	b[2] = 5;
	assert_int_equal(run_n(PROTO_OP_TLS_CLASSIFY, b, sizeof(b)), 0);
	b[2] = 1;
	b[1] = 2; /* SSL 2 */
	assert_int_equal(run_n(PROTO_OP_TLS_CLASSIFY, b, sizeof(b)), 0);
	/* record lengths: empty and oversized refused */
	memcpy(b, hello, sizeof(b));
	b[3] = 0x48, b[4] = 0x01; /* 18433 */
	assert_int_equal(run_n(PROTO_OP_TLS_CLASSIFY, b, 5), 0);
	b[3] = 0x48, b[4] = 0x00; /* 16384 + 2048 */
	assert_int_equal(run_n(PROTO_OP_TLS_CLASSIFY, b, 5), 1);
	b[3] = 0, b[4] = 0;
	assert_int_equal(run_n(PROTO_OP_TLS_CLASSIFY, b, 5), 0);
	/* a ClientHello of 64 KiB or more, or a legacy version not 3.x */
	memcpy(b, hello, sizeof(b));
	b[6] = 1;
	assert_int_equal(run_n(PROTO_OP_TLS_CLASSIFY, b, sizeof(b)), 0);
	memcpy(b, hello, sizeof(b));
	b[9] = 2;
	assert_int_equal(run_n(PROTO_OP_TLS_CLASSIFY, b, sizeof(b)), 0);
	/* plaintext protocols are not TLS */
	assert_int_equal(run(PROTO_OP_TLS_CLASSIFY, "GET / HTTP/1.1\r\n"), 0);
	assert_int_equal(run(PROTO_OP_TLS_CLASSIFY, "\x16\x03"), 0);
	/* application data is not a ClientHello */
	assert_int_equal(run_n(PROTO_OP_TLS_CLASSIFY, "\x17\x03\x03\x00\x20", 5), 0);
}

static void test_tls_appdata(void **state)
{
	uint8_t hello[SONDE_RESP_CAP];
	size_t n = real_client_hello(hello, sizeof(hello));

	/* TLS 1.2 and 1.3 application data, header alone or with its payload */
	assert_int_equal(run_n(PROTO_OP_TLS_APPDATA, "\x17\x03\x03\x00\x20", 5), 1);
	assert_int_equal(run_n(PROTO_OP_TLS_APPDATA, "\x17\x03\x03\x40\x11" "abcdefgh", 13), 1);
	assert_int_equal(run_n(PROTO_OP_TLS_APPDATA, "\x17\x03\x03\x41\x00", 5), 1); /* 2^14+256 */
	assert_int_equal(run_n(PROTO_OP_TLS_APPDATA, "\x17\x03\x03\x41\x01", 5), 0);
	assert_int_equal(run_n(PROTO_OP_TLS_APPDATA, "\x17\x03\x03\x00\x00", 5), 0);
	assert_int_equal(run_n(PROTO_OP_TLS_APPDATA, "\x17\x03\x01\x00\x20", 5), 0); /* TLS 1.0 */
	assert_int_equal(run_n(PROTO_OP_TLS_APPDATA, "\x17\x03\x03\x00", 4), 0);
	assert_int_equal(run_n(PROTO_OP_TLS_APPDATA, hello, n), 0);
	assert_int_equal(run(PROTO_OP_TLS_APPDATA, "GET / HTTP/1.1\r\n"), 0);
}

/* One step on the per-thread in-flight table; for ONE, whether @tid has
 * exactly one request in flight, certainly, and then its connection. */
static uint32_t inflight(uint32_t op, uint32_t tid, uint64_t conn, uint32_t seq, uint64_t *got)
{
	uint8_t b[16];
	uint32_t r;

	memcpy(b, &tid, 4);
	memcpy(b + 4, &conn, 8);
	memcpy(b + 12, &seq, 4);
	r = run_n(op, b, sizeof(b));
	if (got)
		*got = skel->bss->out_content_length;
	return r;
}

#define THREAD_SLOTS 16384 /* INFLIGHT_THREAD_SLOTS */

static void test_inflight_slots(void **state)
{
	uint32_t a = 4242, b = 4242 + THREAD_SLOTS, other = 4243; /* a and b share a slot */
	uint64_t got = 0;

	/* one request on a thread: the thread's parent, its connection */
	assert_int_equal(inflight(PROTO_OP_INFLIGHT_ONE, a, 0, 0, NULL), 0);
	inflight(PROTO_OP_INFLIGHT_BEGIN, a, 100, 1, NULL);
	assert_int_equal(inflight(PROTO_OP_INFLIGHT_ONE, a, 0, 0, &got), 1);
	assert_int_equal(got, 100);
	/* not another thread's, in the same slot or not */
	assert_int_equal(inflight(PROTO_OP_INFLIGHT_ONE, b, 0, 0, NULL), 0);
	assert_int_equal(inflight(PROTO_OP_INFLIGHT_ONE, other, 0, 0, NULL), 0);
	/* a second thread in the slot: neither links, even once one ends */
	inflight(PROTO_OP_INFLIGHT_BEGIN, b, 200, 7, NULL);
	assert_int_equal(inflight(PROTO_OP_INFLIGHT_ONE, a, 0, 0, NULL), 0);
	assert_int_equal(inflight(PROTO_OP_INFLIGHT_ONE, b, 0, 0, NULL), 0);
	inflight(PROTO_OP_INFLIGHT_END, a, 100, 1, NULL);
	/* one request left in the slot, b's: a must not take it for its own */
	assert_int_equal(inflight(PROTO_OP_INFLIGHT_ONE, a, 0, 0, NULL), 0);
	assert_int_equal(inflight(PROTO_OP_INFLIGHT_ONE, b, 0, 0, NULL), 0);
	/* the slot empties: it is b's alone from its next request */
	inflight(PROTO_OP_INFLIGHT_END, b, 200, 7, NULL);
	inflight(PROTO_OP_INFLIGHT_BEGIN, b, 300, 8, NULL);
	assert_int_equal(inflight(PROTO_OP_INFLIGHT_ONE, b, 0, 0, &got), 1);
	assert_int_equal(got, 300);
	assert_int_equal(inflight(PROTO_OP_INFLIGHT_ONE, a, 0, 0, NULL), 0);
	/* two requests of one thread: none certain; the older ending leaves
	 * the newer, but only while the newer is the one last begun */
	inflight(PROTO_OP_INFLIGHT_BEGIN, b, 301, 1, NULL);
	assert_int_equal(inflight(PROTO_OP_INFLIGHT_ONE, b, 0, 0, NULL), 0);
	inflight(PROTO_OP_INFLIGHT_END, b, 300, 8, NULL);
	assert_int_equal(inflight(PROTO_OP_INFLIGHT_ONE, b, 0, 0, &got), 1);
	assert_int_equal(got, 301);
	inflight(PROTO_OP_INFLIGHT_BEGIN, b, 302, 1, NULL);
	inflight(PROTO_OP_INFLIGHT_END, b, 302, 1, NULL);
	assert_int_equal(inflight(PROTO_OP_INFLIGHT_ONE, b, 0, 0, NULL), 0); /* 301 left, not last */
	inflight(PROTO_OP_INFLIGHT_END, b, 301, 1, NULL);
	assert_int_equal(inflight(PROTO_OP_INFLIGHT_ONE, b, 0, 0, NULL), 0);
}

static void test_mysql_result_end(void **state)
{
	/* EOF: length 5, 0xfe, warnings, status */
	assert_int_equal(run_n(PROTO_OP_MYSQL_RESULT_END, "\x05\0\0\x05\xfe\0\0\x02\0", 9), 1);
	assert_int_equal(run_n(PROTO_OP_MYSQL_RESULT_END, "xy\x05\0\0\x05\xfe\0\0\x22\0", 11), 1);
	/* more results follow */
	assert_int_equal(run_n(PROTO_OP_MYSQL_RESULT_END, "\x05\0\0\x05\xfe\0\0\x0a\0", 9), 0);
	/* OK with 0xfe (CLIENT_DEPRECATE_EOF) */
	assert_int_equal(run_n(PROTO_OP_MYSQL_RESULT_END, "\x07\0\0\x05\xfe\0\0\x02\0\0\0", 11), 1);
	assert_int_equal(run_n(PROTO_OP_MYSQL_RESULT_END, "\x07\0\0\x05\xfe\0\0\x0a\0\0\0", 11), 0);
	/* a row's last bytes */
	assert_int_equal(run_n(PROTO_OP_MYSQL_RESULT_END, "\x05\0\0\x05\x04" "abcd", 9), 0);
	assert_int_equal(run_n(PROTO_OP_MYSQL_RESULT_END, "\x03\0\0\x04\x02hi\x01\0\0\0", 11), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_methods_accepted),
		cmocka_unit_test(test_request_rejected),
		cmocka_unit_test(test_status_lines),
		cmocka_unit_test(test_status_rejected),
		cmocka_unit_test(test_status_prefix),
		cmocka_unit_test(test_frame_content_length),
		cmocka_unit_test(test_frame_content_length_name_case),
		cmocka_unit_test(test_frame_content_length_spaces),
		cmocka_unit_test(test_frame_not_content_length),
		cmocka_unit_test(test_frame_content_length_long),
		cmocka_unit_test(test_frame_chunked),
		cmocka_unit_test(test_frame_upgrade_h2c),
		cmocka_unit_test(test_frame_head_len_sizes),
		cmocka_unit_test(test_frame_head_many_lines),
		cmocka_unit_test(test_frame_head_too_long),
		cmocka_unit_test(test_frame_head_cut),
		cmocka_unit_test(test_frame_not_http),
		cmocka_unit_test(test_pg_classify_startup),
		cmocka_unit_test(test_pg_classify_encrypt),
		cmocka_unit_test(test_pg_classify_midstream),
		cmocka_unit_test(test_pg_ready_for_query),
		cmocka_unit_test(test_mysql_classify),
		cmocka_unit_test(test_mysql_single_packet),
		cmocka_unit_test(test_mysql_result_end),
		cmocka_unit_test(test_mysql_ssl_request),
		cmocka_unit_test(test_tls_classify),
		cmocka_unit_test(test_tls_appdata),
		cmocka_unit_test(test_inflight_slots),
	};

	if (geteuid() != 0 && !getenv("CI")) {
		printf("SKIP bpf parser test: needs root (CAP_BPF) and CI is not set\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
