// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of the HTTP/1.x decoder: bytes recorded from real servers and
 * clients (tests/golden/http1, see tests/golden/record.py), every prefix of
 * them, and hand-written edge cases.
 *
 * Every input is copied into a heap buffer of exactly its length, so that
 * AddressSanitizer reports any read at or past @len.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "decode/decoder.h"
#include "decode/http1.h"
#include "model/route.h"
#include "model/service.h"
#include "sonde/abi.h"

#include "record_guard.h"

#define GOLDEN_MAX 4096
#define TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

/* ------------------------------------------------------------ helpers */

struct bytes {
	uint8_t *p;
	size_t len;
};

/* An exact-size heap copy of @n bytes (malloc(0) may be NULL: use 1). */
static uint8_t *exact_copy(const void *src, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	memcpy(p, src, n);
	return p;
}

static struct bytes golden(const char *name)
{
	char path[512];
	uint8_t tmp[GOLDEN_MAX + 1];
	struct bytes b;
	FILE *f;

	snprintf(path, sizeof(path), "%s/http1/%s", GOLDEN_DIR, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open golden file %s", path);
	b.len = fread(tmp, 1, sizeof(tmp), f);
	fclose(f);
	assert_true(b.len > 0);
	assert_true(b.len <= GOLDEN_MAX); /* files are kept small on purpose */
	b.p = exact_copy(tmp, b.len);
	return b;
}

/* Where the (last) blank line of a head ends, found independently of the
 * decoder: the offset past the @nth "\r\n\r\n". */
static size_t blank_line_end(const struct bytes *b, int nth)
{
	const uint8_t *from = b->p;
	const uint8_t *hit = NULL;

	while (nth-- > 0) {
		hit = memmem(from, b->len - (from - b->p), "\r\n\r\n", 4);
		assert_non_null(hit);
		from = hit + 4;
	}
	return from - b->p;
}

static int parse_req(const char *s, struct http1_request *r)
{
	size_t n = strlen(s);
	uint8_t *p = exact_copy(s, n);
	int rc = http1_parse_request(p, n, r);

	free(p);
	return rc;
}

static int parse_resp(const char *s, struct http1_response *r)
{
	size_t n = strlen(s);
	uint8_t *p = exact_copy(s, n);
	int rc = http1_parse_response(p, n, r);

	free(p);
	return rc;
}

static int count_req(const char *s)
{
	size_t n = strlen(s);
	uint8_t *p = exact_copy(s, n);
	int rc = http1_count_requests(p, n);

	free(p);
	return rc;
}

static void assert_terminated(const char *s, size_t size)
{
	assert_true(strnlen(s, size) < size);
}

static void assert_request_sane(const struct http1_request *r, size_t len)
{
	assert_terminated(r->method, sizeof(r->method));
	assert_terminated(r->path, sizeof(r->path));
	assert_terminated(r->host, sizeof(r->host));
	assert_terminated(r->traceparent, sizeof(r->traceparent));
	assert_true(r->head_len <= len);
	assert_true(r->content_length >= -1);
}

/* Host is "127.0.0.1:<port>" for captures: the port differs per recording. */
static void assert_loopback_host(const char *host)
{
	const char *port = host + strlen("127.0.0.1:");

	assert_int_equal(strncmp(host, "127.0.0.1:", strlen("127.0.0.1:")), 0);
	assert_true(*port != '\0');
	assert_int_equal(strspn(port, "0123456789"), strlen(port));
}

/* ------------------------------------------------------ golden requests */

struct golden_request {
	const char *file;
	const char *method;
	const char *path;
	const char *host; /* NULL: 127.0.0.1:<port> */
	int64_t content_length;
	int chunked;
	uint8_t minor;
	const char *traceparent;
	int complete; /* the file holds the whole message */
};

static const struct golden_request golden_requests[] = {
	{ "curl_get_req.bin", "GET", "/search", NULL, -1, 0, 1, "", 1 },
	{ "curl_post_req.bin", "POST", "/items", NULL, 12, 0, 1, "", 1 },
	{ "curl_expect_req.bin", "POST", "/upload", NULL, 1100000, 0, 1, "", 0 },
	{ "curl_http10_req.bin", "GET", "/legacy", NULL, -1, 0, 0, "", 1 },
	{ "curl_proxy_req.bin", "GET", "/products/1234", "example.com", -1, 0, 1, "", 1 },
	{ "curl_traceparent_req.bin", "GET", "/orders/7", NULL, -1, 0, 1, TRACEPARENT, 1 },
	{ "wget_req.bin", "GET", "/files/report.pdf", NULL, -1, 0, 1, "", 1 },
	{ "python_urllib_req.bin", "GET", "/users/42", NULL, -1, 0, 1, "", 1 },
	{ "python_urllib_post_req.bin", "POST", "/items", NULL, 10, 0, 1, "", 1 },
	{ "python_requests_post_req.bin", "POST", "/items", NULL, 13, 0, 1, "", 1 },
	{ "node_fetch_req.bin", "GET", "/users/42", NULL, -1, 0, 1, "", 1 },
	{ "node_fetch_post_req.bin", "POST", "/items", NULL, 12, 0, 1, "", 1 },
	{ "node_http_chunked_req.bin", "POST", "/upload", NULL, -1, 1, 1, "", 1 },
	{ "java_httpclient_req.bin", "GET", "/users/42", NULL, 0, 0, 1, "", 1 },
	{ "java_httpclient_post_req.bin", "POST", "/items", NULL, 12, 0, 1, "", 1 },
	{ "go_client_req.bin", "GET", "/users/42", NULL, -1, 0, 1, "", 1 },
	{ "go_client_post_req.bin", "POST", "/items", NULL, 12, 0, 1, "", 1 },
	{ "go_client_chunked_req.bin", "POST", "/upload", NULL, -1, 1, 1, "", 1 },
};

static void check_golden_request(const struct golden_request *g, const struct http1_request *r,
				 const struct bytes *b)
{
	assert_string_equal(r->method, g->method);
	assert_string_equal(r->path, g->path);
	if (g->host)
		assert_string_equal(r->host, g->host);
	else
		assert_loopback_host(r->host);
	assert_int_equal(r->content_length, g->content_length);
	assert_int_equal(r->chunked, g->chunked);
	assert_int_equal(r->http_minor, g->minor);
	assert_string_equal(r->traceparent, g->traceparent);
	assert_int_equal(r->head_len, blank_line_end(b, 1));
}

static void test_golden_requests(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(golden_requests) / sizeof(golden_requests[0]); i++) {
		const struct golden_request *g = &golden_requests[i];
		struct bytes b = golden(g->file);
		struct http1_request r;

		print_message("  %s\n", g->file);
		assert_int_equal(http1_parse_request(b.p, b.len, &r), 0);
		check_golden_request(g, &r, &b);
		if (g->complete && g->content_length >= 0) {
			/* The recorded body is exactly Content-Length bytes. */
			assert_int_equal(b.len, r.head_len + (size_t)g->content_length);
			assert_int_equal(http1_body_size(b.len, r.head_len, r.content_length),
					 g->content_length);
		}
		if (g->complete && g->chunked) {
			/* Chunk framing counts as body: documented. */
			assert_memory_equal(b.p + b.len - 5, "0\r\n\r\n", 5);
			assert_int_equal(http1_body_size(b.len, r.head_len, r.content_length),
					 b.len - r.head_len);
		}
		/* One request per capture; a complete body is not a second one. */
		assert_int_equal(http1_count_requests(b.p, b.len), 1);
		/* What the kernel copies: every capture fits in it. */
		assert_true(b.len <= SONDE_REQ_CAP || !g->complete);
		free(b.p);
	}
}

/* Every prefix of a capture either fails cleanly or agrees with the whole. */
static void test_golden_request_prefixes(void **state)
{
	size_t i, n;

	for (i = 0; i < sizeof(golden_requests) / sizeof(golden_requests[0]); i++) {
		const struct golden_request *g = &golden_requests[i];
		struct bytes b = golden(g->file);
		const uint8_t *lf = memchr(b.p, '\n', b.len);
		size_t line_end = lf - b.p + 1;
		struct http1_request full;

		assert_non_null(lf);
		assert_int_equal(http1_parse_request(b.p, b.len, &full), 0);
		for (n = 0; n <= b.len; n++) {
			uint8_t *p = exact_copy(b.p, n);
			struct http1_request r;
			int rc = http1_parse_request(p, n, &r);

			assert_request_sane(&r, n);
			if (rc != 0) {
				assert_int_equal(rc, -EINVAL);
				/* Only a cut request line may be refused. */
				assert_true(n < line_end);
				assert_int_equal(http1_count_requests(p, n), 0);
				free(p);
				continue;
			}
			assert_int_equal(http1_count_requests(p, n), 1);
			assert_string_equal(r.method, full.method);
			assert_string_equal(r.path, full.path);
			if (n >= full.head_len) {
				assert_int_equal(r.head_len, full.head_len);
				assert_int_equal(r.content_length, full.content_length);
				assert_int_equal(r.chunked, full.chunked);
				assert_string_equal(r.host, full.host);
				assert_string_equal(r.traceparent, full.traceparent);
			} else {
				assert_int_equal(r.head_len, 0);
			}
			free(p);
		}
		free(b.p);
	}
}

/* ----------------------------------------------------- golden responses */

struct golden_response {
	const char *file;
	int status;
	uint8_t minor;
	int64_t content_length;
	int chunked;
	int heads; /* blank lines up to the final head: 2 after a 100 Continue */
	int complete;
};

static const struct golden_response golden_responses[] = {
	{ "flask_get_resp.bin", 200, 1, 23, 0, 1, 1 },
	{ "flask_post_resp.bin", 201, 1, 22, 0, 1, 1 },
	{ "flask_stream_resp.bin", 200, 1, -1, 1, 1, 1 },
	{ "flask_404_resp.bin", 404, 1, 207, 0, 1, 1 },
	{ "python_http_server_resp.bin", 200, 0, 6, 0, 1, 1 },
	{ "nginx_static_resp.bin", 200, 1, 48, 0, 1, 1 },
	{ "nginx_big_resp.bin", 200, 1, 65536, 0, 1, 0 },
	{ "nginx_head_resp.bin", 200, 1, 48, 0, 1, 0 }, /* HEAD: no body follows */
	{ "nginx_404_resp.bin", 404, 1, 153, 0, 1, 1 },
	{ "express_get_resp.bin", 200, 1, 22, 0, 1, 1 },
	{ "express_chunked_resp.bin", 200, 1, -1, 1, 1, 1 },
	{ "express_continue_resp.bin", 201, 1, 11, 0, 2, 1 },
	{ "go_resp.bin", 200, 1, 22, 0, 1, 1 },
	{ "go_chunked_resp.bin", 200, 1, -1, 1, 1, 0 },
	{ "go_continue_resp.bin", 201, 1, 8, 0, 2, 1 },
	{ "java_resp.bin", 200, 1, 22, 0, 1, 1 },
	{ "java_chunked_resp.bin", 200, 1, -1, 1, 1, 1 },
};

static void test_golden_responses(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(golden_responses) / sizeof(golden_responses[0]); i++) {
		const struct golden_response *g = &golden_responses[i];
		struct bytes b = golden(g->file);
		struct http1_response r;

		print_message("  %s\n", g->file);
		assert_int_equal(http1_parse_response(b.p, b.len, &r), 0);
		assert_int_equal(r.status, g->status);
		assert_int_equal(r.http_minor, g->minor);
		assert_int_equal(r.content_length, g->content_length);
		assert_int_equal(r.chunked, g->chunked);
		assert_int_equal(r.head_len, blank_line_end(&b, g->heads));
		if (g->complete && g->content_length >= 0)
			assert_int_equal(b.len, r.head_len + (size_t)g->content_length);
		if (g->complete && g->chunked)
			assert_memory_equal(b.p + b.len - 5, "0\r\n\r\n", 5);
		/* The kernel's copy: the status survives; the head end is found
		 * when it lies within the copy, else reported absent. */
		if (b.len > SONDE_RESP_CAP) {
			struct http1_response k;

			assert_int_equal(http1_parse_response(b.p, SONDE_RESP_CAP, &k), 0);
			assert_int_equal(k.status, g->status);
			assert_int_equal(k.head_len, r.head_len <= SONDE_RESP_CAP ? r.head_len : 0);
		}
		/* A response is not a request. */
		assert_int_equal(http1_count_requests(b.p, b.len), 0);
		free(b.p);
	}
}

static void test_golden_response_prefixes(void **state)
{
	size_t i, n;

	for (i = 0; i < sizeof(golden_responses) / sizeof(golden_responses[0]); i++) {
		const struct golden_response *g = &golden_responses[i];
		struct bytes b = golden(g->file);
		struct http1_response full;

		assert_int_equal(http1_parse_response(b.p, b.len, &full), 0);
		for (n = 0; n <= b.len; n++) {
			uint8_t *p = exact_copy(b.p, n);
			struct http1_response r;
			int rc = http1_parse_response(p, n, &r);

			/* "HTTP/1.1 NNN" is 12 bytes: the least that is accepted. */
			assert_int_equal(rc, n >= 12 ? 0 : -EINVAL);
			assert_true(r.head_len <= n);
			if (rc == 0 && n >= full.head_len) {
				assert_int_equal(r.status, full.status);
				assert_int_equal(r.head_len, full.head_len);
				assert_int_equal(r.content_length, full.content_length);
				assert_int_equal(r.chunked, full.chunked);
			} else if (rc == 0) {
				/* Before the final head ends: its status or an interim one. */
				assert_true(r.status == full.status || r.status == 100);
				assert_true(r.head_len < full.head_len);
			}
			free(p);
		}
		free(b.p);
	}
}

/* --------------------------------------------------- request edge cases */

static void test_request_minimal_absent_headers(void **state)
{
	struct http1_request r;

	assert_int_equal(parse_req("GET / HTTP/1.1\r\n\r\n", &r), 0);
	assert_string_equal(r.method, "GET");
	assert_string_equal(r.path, "/");
	assert_string_equal(r.host, "");
	assert_string_equal(r.traceparent, "");
	assert_int_equal(r.content_length, -1);
	assert_int_equal(r.chunked, 0);
	assert_int_equal(r.http_minor, 1);
	assert_int_equal(r.head_len, 18);
}

static void test_request_http10(void **state)
{
	struct http1_request r;

	assert_int_equal(parse_req("GET /old HTTP/1.0\r\n\r\n", &r), 0);
	assert_int_equal(r.http_minor, 0);
	assert_string_equal(r.path, "/old");
	assert_int_equal(r.head_len, 21);
	/* Only HTTP/1.x is ours. */
	assert_int_equal(parse_req("GET / HTTP/2.0\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_req("GET / HTTP/0.9\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_req("GET / http/1.1\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_req("GET / HTTP/1.x\r\n\r\n", &r), -EINVAL);
}

static void test_request_methods(void **state)
{
	struct http1_request r;

	assert_int_equal(parse_req("M-SEARCH * HTTP/1.1\r\n\r\n", &r), 0);
	assert_string_equal(r.method, "M-SEARCH");
	assert_string_equal(r.path, "*");
	assert_int_equal(parse_req("PROPFIND /dav HTTP/1.1\r\n\r\n", &r), 0);
	assert_string_equal(r.method, "PROPFIND");
	assert_int_equal(parse_req("get / HTTP/1.1\r\n\r\n", &r), 0);
	assert_string_equal(r.method, "get");
	/* 15 characters fit, 16 do not. */
	assert_int_equal(parse_req("VERSION-CONTROL / HTTP/1.1\r\n\r\n", &r), 0);
	assert_string_equal(r.method, "VERSION-CONTROL");
	assert_int_equal(parse_req("BASELINE-CONTROL / HTTP/1.1\r\n\r\n", &r), -EINVAL);
	assert_string_equal(r.method, "");
	/* Not tokens, or malformed lines. */
	assert_int_equal(parse_req("GE(T / HTTP/1.1\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_req("A/B / HTTP/1.1\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_req(" GET / HTTP/1.1\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_req("GET  / HTTP/1.1\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_req("GET /\tx HTTP/1.1\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_req("GET / HTTP/1.1 extra\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_req("GET / HTTP/1.1\rX\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_req("GET HTTP/1.1\r\n\r\n", &r), -EINVAL);
}

static void test_request_garbage(void **state)
{
	static const uint8_t binary[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc };
	struct http1_request r;
	uint8_t *p = exact_copy(binary, sizeof(binary));

	assert_int_equal(http1_parse_request(p, sizeof(binary), &r), -EINVAL);
	assert_int_equal(r.content_length, -1);
	assert_int_equal(r.head_len, 0);
	assert_int_equal(http1_count_requests(p, sizeof(binary)), 0);
	free(p);
	assert_int_equal(parse_req("HTTP/1.1 200 OK\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_req("", &r), -EINVAL);
	assert_int_equal(parse_req("\r\n", &r), -EINVAL);
	assert_int_equal(http1_parse_request(NULL, 0, &r), -EINVAL);
	assert_int_equal(http1_parse_request(NULL, 100, &r), -EINVAL);
	assert_int_equal(http1_parse_request((const uint8_t *)"GET / HTTP/1.1\r\n", 16, NULL),
			 -EINVAL);
	assert_int_equal(http1_count_requests(NULL, 10), 0);
}

static void test_request_header_names_any_case_and_lws(void **state)
{
	struct http1_request r;

	assert_int_equal(parse_req("POST /a HTTP/1.1\r\n"
				   "hOsT: \t example.org:8080 \t\r\n"
				   "CONTENT-LENGTH:   5\r\n"
				   "TraceParent:" TRACEPARENT "\r\n\r\nhello",
				   &r),
			 0);
	assert_string_equal(r.host, "example.org:8080");
	assert_int_equal(r.content_length, 5);
	assert_string_equal(r.traceparent, TRACEPARENT);
	/* "Name : value" is not a header (RFC 9112 5.1), and a name that
	 * only starts like one is another header. */
	assert_int_equal(parse_req("GET / HTTP/1.1\r\nHost : a\r\nHostname: b\r\n"
				   "Content-Lengthy: 9\r\n\r\n",
				   &r),
			 0);
	assert_string_equal(r.host, "");
	assert_int_equal(r.content_length, -1);
	/* Nor do names that are a prefix of ours, or folded lines. */
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nHo: a\r\nContent-Len: 9\r\n"
				   "Transfer-Enc: chunked\r\n Host: folded\r\n\tContent-Length: 3\r\n\r\n",
				   &r),
			 0);
	assert_string_equal(r.host, "");
	assert_int_equal(r.content_length, -1);
	assert_int_equal(r.chunked, 0);
}

static void test_request_odd_header_lines(void **state)
{
	struct http1_request r;

	/* Bare LF line ends (RFC 9112 2.2 lets recipients accept them). */
	assert_int_equal(parse_req("GET /lf HTTP/1.1\nHost: a\n\n", &r), 0);
	assert_string_equal(r.host, "a");
	assert_int_equal(r.head_len, 26);
	/* A line without a colon and a folded line are stepped over. */
	assert_int_equal(parse_req("GET / HTTP/1.1\r\nnonsense\r\nX-A: 1\r\n  folded\r\n"
				   "Host: b\r\n\r\n",
				   &r),
			 0);
	assert_string_equal(r.host, "b");
	/* The first Host wins; an empty one is kept empty. */
	assert_int_equal(parse_req("GET / HTTP/1.1\r\nHost: first\r\nHost: second\r\n\r\n", &r), 0);
	assert_string_equal(r.host, "first");
	assert_int_equal(parse_req("GET / HTTP/1.1\r\ntraceparent: " TRACEPARENT "\r\n"
				   "traceparent: 00-0-0-00\r\n\r\n",
				   &r),
			 0);
	assert_string_equal(r.traceparent, TRACEPARENT);
	assert_int_equal(parse_req("GET / HTTP/1.1\r\nHost:\r\n\r\n", &r), 0);
	assert_string_equal(r.host, "");
	/* Control characters make a value unusable as a label. */
	assert_int_equal(parse_req("GET / HTTP/1.1\r\nHost: a\x01" "b\r\n\r\n", &r), 0);
	assert_string_equal(r.host, "");
	assert_int_equal(r.head_len, 29);
}

static void test_request_cut_header_line_is_ignored(void **state)
{
	struct http1_request r;

	assert_int_equal(parse_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12", &r), 0);
	assert_string_equal(r.host, "a");
	assert_int_equal(r.content_length, -1); /* not "12", which may be "123" */
	assert_int_equal(r.head_len, 0);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n", &r), 0);
	assert_int_equal(r.content_length, 12);
	assert_int_equal(r.head_len, 0);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r", &r), 0);
	assert_int_equal(r.head_len, 0);
	/* The request line alone, even without its CRLF, is a request. */
	assert_int_equal(parse_req("GET /x HTTP/1.1", &r), 0);
	assert_string_equal(r.path, "/x");
	assert_int_equal(parse_req("GET /x HTTP/1.1\r", &r), 0);
	assert_int_equal(parse_req("GET /x HTTP/1.", &r), -EINVAL);
}

static void test_request_content_length_values(void **state)
{
	struct http1_request r;

	assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r), 0);
	assert_int_equal(r.content_length, 0);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\n", &r),
			 0);
	assert_int_equal(r.content_length, INT64_MAX);
	/* Beyond int64: refused, not clamped or wrapped. */
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n", &r),
			 0);
	assert_int_equal(r.content_length, -1);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
				   &r),
			 0);
	assert_int_equal(r.content_length, -1);
	/* A repeated value is allowed when it agrees (RFC 9110 8.6). */
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: 7, 7\r\n\r\n", &r), 0);
	assert_int_equal(r.content_length, 7);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n",
				   &r),
			 0);
	assert_int_equal(r.content_length, 7);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: 7, 8\r\n\r\n", &r), 0);
	assert_int_equal(r.content_length, -1);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n",
				   &r),
			 0);
	assert_int_equal(r.content_length, -1);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &r), 0);
	assert_int_equal(r.content_length, -1);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", &r), 0);
	assert_int_equal(r.content_length, -1);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: 5x\r\n\r\n", &r), 0);
	assert_int_equal(r.content_length, -1);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: 5,\r\n\r\n", &r), 0);
	assert_int_equal(r.content_length, -1);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", &r), 0);
	assert_int_equal(r.content_length, -1);
	/* One bad value spoils the others. */
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length:\r\nContent-Length: 5\r\n\r\n",
				   &r),
			 0);
	assert_int_equal(r.content_length, -1);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: x\r\n\r\n",
				   &r),
			 0);
	assert_int_equal(r.content_length, -1);
}

static void test_request_transfer_encoding(void **state)
{
	struct http1_request r;

	assert_int_equal(parse_req("POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\n", &r), 0);
	assert_int_equal(r.chunked, 1);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &r),
			 0);
	assert_int_equal(r.chunked, 1);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nTransfer-Encoding: gzip,chunked \r\n\r\n", &r),
			 0);
	assert_int_equal(r.chunked, 1);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nTransfer-Encoding: chunkedx\r\n\r\n", &r), 0);
	assert_int_equal(r.chunked, 0);
	/* The last header decides, like the last coding of a list. */
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n",
				   &r),
			 0);
	assert_int_equal(r.chunked, 1);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
				   "Transfer-Encoding: gzip\r\n\r\n",
				   &r),
			 0);
	assert_int_equal(r.chunked, 0);
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", &r),
			 0);
	assert_int_equal(r.chunked, 0);
	assert_int_equal(r.content_length, -1);
	/* Transfer-Encoding overrides Content-Length (RFC 9112 6.3). */
	assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: 10\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n",
				   &r),
			 0);
	assert_int_equal(r.chunked, 1);
	assert_int_equal(r.content_length, -1);
}

static void test_request_expect_100_continue(void **state)
{
	struct http1_request r;
	const char *req = "PUT /files/a HTTP/1.1\r\nHost: s3\r\nContent-Length: 4096\r\n"
			  "Expect: 100-continue\r\n\r\n";

	assert_int_equal(parse_req(req, &r), 0);
	assert_string_equal(r.method, "PUT");
	assert_int_equal(r.content_length, 4096);
	assert_int_equal(r.head_len, strlen(req));
	/* Only the head was sent yet: the body size comes from the header. */
	assert_int_equal(http1_body_size(strlen(req), r.head_len, r.content_length), 4096);
}

static void test_request_query_and_fragment(void **state)
{
	struct http1_request r;

	assert_int_equal(parse_req("GET /a/b?c=d&e=/f HTTP/1.1\r\n\r\n", &r), 0);
	assert_string_equal(r.path, "/a/b");
	assert_int_equal(parse_req("GET /a#frag?x HTTP/1.1\r\n\r\n", &r), 0);
	assert_string_equal(r.path, "/a");
	assert_int_equal(parse_req("GET /?x=1 HTTP/1.1\r\n\r\n", &r), 0);
	assert_string_equal(r.path, "/");
	assert_int_equal(parse_req("GET ?x=1 HTTP/1.1\r\n\r\n", &r), 0);
	assert_string_equal(r.path, "");
}

static void test_request_absolute_form(void **state)
{
	struct http1_request r;

	assert_int_equal(parse_req("GET http://api.example:8080/v1/x?y=1 HTTP/1.1\r\n\r\n", &r), 0);
	assert_string_equal(r.path, "/v1/x");
	assert_string_equal(r.host, "api.example:8080");
	/* The Host header, when present, is what is reported. */
	assert_int_equal(parse_req("GET http://a.example/p HTTP/1.1\r\nHost: b.example\r\n\r\n", &r),
			 0);
	assert_string_equal(r.host, "b.example");
	assert_string_equal(r.path, "/p");
	/* An empty path is "/"; credentials never reach the host field. */
	assert_int_equal(parse_req("GET HTTPS://user:secret@c.example HTTP/1.1\r\n\r\n", &r), 0);
	assert_string_equal(r.path, "/");
	assert_string_equal(r.host, "c.example");
	assert_int_equal(parse_req("GET http://d.example?q HTTP/1.1\r\n\r\n", &r), 0);
	assert_string_equal(r.path, "/");
	assert_string_equal(r.host, "d.example");
	/* Authority form (CONNECT) and things that only look like a scheme. */
	assert_int_equal(parse_req("CONNECT e.example:443 HTTP/1.1\r\nHost: e.example:443\r\n\r\n",
				   &r),
			 0);
	assert_string_equal(r.path, "e.example:443");
	assert_string_equal(r.host, "e.example:443");
	assert_int_equal(parse_req("GET /redirect?to=http://x/y HTTP/1.1\r\n\r\n", &r), 0);
	assert_string_equal(r.path, "/redirect");
	assert_string_equal(r.host, "");
	assert_int_equal(parse_req("GET 1http://x/y HTTP/1.1\r\n\r\n", &r), 0);
	assert_string_equal(r.path, "1http://x/y");
	assert_string_equal(r.host, "");
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_request_truncated_fields(void **state)
{
	char *long_path = repeat('p', 300), *long_host = repeat('h', 200), *long_tp = repeat('t', 100);
	char req[1024];
	struct http1_request r;

	snprintf(req, sizeof(req), "GET /%s?q HTTP/1.1\r\nHost: %s\r\ntraceparent: %s\r\n\r\n",
		 long_path, long_host, long_tp);
	assert_int_equal(parse_req(req, &r), 0);
	assert_int_equal(strlen(r.path), SPAN_PATH_MAX - 1);
	assert_int_equal(r.path[0], '/');
	assert_int_equal(strspn(r.path + 1, "p"), SPAN_PATH_MAX - 2);
	assert_int_equal(strlen(r.host), SPAN_HOST_MAX - 1);
	assert_int_equal(strlen(r.traceparent), HTTP1_TRACEPARENT_MAX - 1);
	assert_int_equal(r.head_len, strlen(req));
	free(long_path);
	free(long_host);
	free(long_tp);

	/* Exactly one byte too long for each field (the NUL needs it). */
	long_path = repeat('p', SPAN_PATH_MAX - 1);
	long_host = repeat('h', SPAN_HOST_MAX);
	long_tp = repeat('t', HTTP1_TRACEPARENT_MAX);
	snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\nHost: %s\r\ntraceparent: %s\r\n\r\n",
		 long_path, long_host, long_tp);
	assert_int_equal(parse_req(req, &r), 0);
	assert_int_equal(strlen(r.path), SPAN_PATH_MAX - 1);
	assert_int_equal(strlen(r.host), SPAN_HOST_MAX - 1);
	assert_int_equal(strlen(r.traceparent), HTTP1_TRACEPARENT_MAX - 1);
	/* ...and exactly fitting. */
	snprintf(req, sizeof(req), "GET /%.*s HTTP/1.1\r\nHost: %.*s\r\n\r\n", SPAN_PATH_MAX - 2,
		 long_path, SPAN_HOST_MAX - 1, long_host);
	assert_int_equal(parse_req(req, &r), 0);
	assert_int_equal(strlen(r.path), SPAN_PATH_MAX - 1);
	assert_int_equal(strlen(r.host), SPAN_HOST_MAX - 1);
	free(long_path);
	free(long_host);
	free(long_tp);
}

/* The kernel copies SONDE_REQ_CAP bytes: a long URL cuts the request line. */
static void test_request_line_cut_by_capture(void **state)
{
	char *query = repeat('q', 1000), *path = repeat('p', 1000);
	char req[2048];
	struct http1_request r;
	uint8_t *p;

	/* The path ended at '?': as good as the whole line. */
	snprintf(req, sizeof(req), "GET /search?%s HTTP/1.1\r\nHost: a\r\n\r\n", query);
	p = exact_copy(req, SONDE_REQ_CAP);
	assert_int_equal(http1_parse_request(p, SONDE_REQ_CAP, &r), 0);
	assert_string_equal(r.method, "GET");
	assert_string_equal(r.path, "/search");
	assert_int_equal(r.http_minor, 1);
	assert_int_equal(r.head_len, 0);
	assert_string_equal(r.host, "");
	assert_int_equal(http1_count_requests(p, SONDE_REQ_CAP), 1);
	free(p);

	/* The path fills its field: as good as the whole line. */
	snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\n\r\n", path);
	p = exact_copy(req, SONDE_REQ_CAP);
	assert_int_equal(http1_parse_request(p, SONDE_REQ_CAP, &r), 0);
	assert_int_equal(strlen(r.path), SPAN_PATH_MAX - 1);
	free(p);

	/* Cut in the version after a long target. */
	snprintf(req, sizeof(req), "GET /%.*s HTTP/1.1\r\n\r\n", 300, path);
	p = exact_copy(req, 5 + 300 + 4);
	assert_int_equal(http1_parse_request(p, 5 + 300 + 4, &r), 0);
	assert_int_equal(strlen(r.path), SPAN_PATH_MAX - 1);
	free(p);

	/* A short line cut early would give a wrong path: refused. */
	assert_int_equal(parse_req("GET /index.ht", &r), -EINVAL);
	assert_int_equal(parse_req("GET /index.html HTT", &r), -EINVAL);
	assert_int_equal(parse_req("GET ", &r), -EINVAL);
	assert_int_equal(parse_req("GET", &r), -EINVAL);
	assert_int_equal(parse_req("GET http://host", &r), -EINVAL);
	free(query);
	free(path);
}

/* ---------------------------------------------------------- pipelining */

static void test_count_pipelined(void **state)
{
	assert_int_equal(count_req("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"), 1);
	assert_int_equal(count_req("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
				   "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
				   "GET /c HTTP/1.1\r\nHost: x\r\n\r\n"),
			 3);
	/* A body is skipped by its length, even when it looks like a request. */
	assert_int_equal(count_req("POST /a HTTP/1.1\r\nContent-Length: 16\r\n\r\n"
				   "GET / HTTP/1.1\r\n"
				   "GET /b HTTP/1.1\r\n\r\n"),
			 2);
	/* The last one may be cut by the end of the buffer. */
	assert_int_equal(count_req("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nHo"), 2);
	assert_int_equal(count_req("GET /a HTTP/1.1\r\n\r\nGE"), 2);
	/* Empty lines between messages are allowed (RFC 9112 2.2). */
	assert_int_equal(count_req("POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nok\r\n"
				   "GET /b HTTP/1.1\r\n\r\n"),
			 2);
	/* ...and trailing ones are not a request. */
	assert_int_equal(count_req("POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nok\r\n"), 1);
	/* A body that runs to the end of the buffer hides whatever follows. */
	assert_int_equal(count_req("POST /a HTTP/1.1\r\nContent-Length: 100\r\n\r\n"
				   "GET /b HTTP/1.1\r\n\r\n"),
			 1);
	/* Unknown body length: counting stops after the first. */
	assert_int_equal(count_req("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "0\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
			 1);
	assert_int_equal(count_req("POST /a HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n"
				   "xGET /b HTTP/1.1\r\n\r\n"),
			 1);
	/* Garbage after a request, or a head that never ends. */
	assert_int_equal(count_req("GET /a HTTP/1.1\r\n\r\n\x01\x02garbage"), 1);
	assert_int_equal(count_req("GET /a HTTP/1.1\r\nHost: x\r\n"), 1);
	assert_int_equal(count_req("garbage GET /a HTTP/1.1\r\n\r\n"), 0);
	assert_int_equal(count_req(""), 0);
}

/* Requests recorded from different clients, sent back to back. */
static void test_count_pipelined_golden(void **state)
{
	static const char *const files[] = { "curl_post_req.bin", "go_client_req.bin",
					     "node_fetch_post_req.bin", "curl_http10_req.bin" };
	uint8_t buf[4 * GOLDEN_MAX], *p;
	size_t i, len = 0;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct bytes b = golden(files[i]);

		memcpy(buf + len, b.p, b.len);
		len += b.len;
		free(b.p);
		p = exact_copy(buf, len);
		assert_int_equal(http1_count_requests(p, len), (int)i + 1);
		free(p);
	}
}

/* ---------------------------------------------------- response edge cases */

static void test_response_status_lines(void **state)
{
	struct http1_response r;

	assert_int_equal(parse_resp("HTTP/1.1 204\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 204);
	assert_int_equal(r.head_len, 16);
	assert_int_equal(parse_resp("HTTP/1.0 503 Service Unavailable\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 503);
	assert_int_equal(r.http_minor, 0);
	assert_int_equal(parse_resp("HTTP/1.1 999 Request denied\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 999);
	assert_int_equal(parse_resp("HTTP/1.1 200 OK\nContent-Length: 3\n\nabc", &r), 0);
	assert_int_equal(r.content_length, 3);
	assert_int_equal(r.head_len, 35);
	assert_int_equal(parse_resp("HTTP/1.1 200 OK", &r), 0);
	assert_int_equal(r.head_len, 0);
	assert_int_equal(r.content_length, -1);
	assert_int_equal(parse_resp("HTTP/1.1 200", &r), 0);
	assert_int_equal(r.status, 200);

	assert_int_equal(parse_resp("HTTP/1.1 20", &r), -EINVAL);
	assert_int_equal(r.status, 0);
	assert_int_equal(parse_resp("HTTP/1.1 099 x\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_resp("HTTP/1.1 2000 x\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_resp("HTTP/1.1 200OK\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_resp("HTTP/1.1  200 OK\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_resp("HTTP/2 200\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_resp("http/1.1 200 OK\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_resp("GET / HTTP/1.1\r\n\r\n", &r), -EINVAL);
	assert_int_equal(parse_resp("HTTP/1.1 200 OK\rX\r\n\r\n", &r), 0); /* reason is opaque */
	assert_int_equal(http1_parse_response(NULL, 20, &r), -EINVAL);
	assert_int_equal(http1_parse_response((const uint8_t *)"HTTP/1.1 200 OK\r\n", 17, NULL),
			 -EINVAL);
}

static void test_response_framing_headers(void **state)
{
	struct http1_response r;

	assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\ncontent-length: 42\r\n\r\n", &r), 0);
	assert_int_equal(r.content_length, 42);
	assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nTransfer-encoding: chunked\r\n\r\n", &r), 0);
	assert_int_equal(r.chunked, 1);
	assert_int_equal(r.content_length, -1);
	assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n",
				    &r),
			 0);
	assert_int_equal(r.content_length, -1);
	/* Host and traceparent mean nothing in a response and cost nothing. */
	assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nHost: a\r\ntraceparent: b\r\n\r\n", &r), 0);
	assert_int_equal(r.head_len, 44);
}

static void test_response_interim(void **state)
{
	struct http1_response r;
	const char *two = "HTTP/1.1 100 Continue\r\n\r\n"
			  "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
			  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

	assert_int_equal(parse_resp(two, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.content_length, 2);
	assert_int_equal(r.head_len, strlen(two) - 2);
	/* Only the interim response so far. */
	assert_int_equal(parse_resp("HTTP/1.1 100 Continue\r\n\r\n", &r), 0);
	assert_int_equal(r.status, 100);
	assert_int_equal(r.head_len, 25);
	/* The final one begins but its status is cut: the interim is kept. */
	assert_int_equal(parse_resp("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2", &r), 0);
	assert_int_equal(r.status, 100);
	assert_int_equal(r.head_len, 25);
	/* The final status is known but its head is not complete. */
	assert_int_equal(parse_resp("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Le",
				    &r),
			 0);
	assert_int_equal(r.status, 201);
	assert_int_equal(r.head_len, 0);
	/* 101 is final: what follows belongs to another protocol. */
	assert_int_equal(parse_resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
				    "HTTP/1.1 200 OK\r\n\r\n",
				    &r),
			 0);
	assert_int_equal(r.status, 101);
	assert_int_equal(r.head_len, 56);
}

/* ------------------------------------------------------------ body size */

static void test_body_size(void **state)
{
	assert_int_equal(http1_body_size(1000, 100, 42), 42);
	assert_int_equal(http1_body_size(1000, 100, 0), 0);
	assert_int_equal(http1_body_size(0, 0, INT64_MAX), INT64_MAX);
	assert_int_equal(http1_body_size(1000, 100, -1), 900);
	assert_int_equal(http1_body_size(100, 100, -1), 0);
	assert_int_equal(http1_body_size(99, 100, -1), 0);
	assert_int_equal(http1_body_size(1000, 0, -1), 0);
	assert_int_equal(http1_body_size(UINT64_MAX, 1, -1), UINT64_MAX - 1);
}

/* ------------------------------------------- records decoded in place */

/*
 * The decoder as the pipeline runs it: on a transaction record where it
 * lies in the ring buffer, which ends after its prefixes (record_guard.h).
 * Recorded exchanges, every cut of the request prefix and of the response
 * prefix: no read past the record (the guard page would crash the test),
 * and the whole exchange still makes its span.
 */
static void decode_record(void *state, const struct decode_ctx *ctx, const struct bytes *req,
			  size_t req_len, const struct bytes *resp, size_t resp_len, struct span *out,
			  bool *ok)
{
	static struct sonde_txn_event ev;
	struct decode_wants wants = { .span = true, .metrics = true };

	memset(&ev, 0, SONDE_TXN_EVENT_MIN_SIZE);
	ev.hdr.kind = SONDE_EV_TXN;
	ev.hdr.tgid = 42;
	ev.proto = SONDE_PROTO_HTTP1;
	ev.role = SONDE_ROLE_SERVER;
	ev.conn_id = 9;
	ev.start_ns = 1000;
	ev.req_end_ns = 1500;
	ev.end_ns = 2000;
	ev.req_bytes = req->len;
	ev.resp_bytes = resp->len;
	ev.resp_body_len = SONDE_LEN_UNKNOWN;
	ev.req_len = req_len;
	ev.resp_len = resp_len;
	memcpy(ev.data, req->p, req_len);
	memcpy(ev.data + req_len, resp->p, resp_len);
	*ok = http1_decoder.decode(state, record_at_guard(&ev), ctx, out, &wants);
}

static void test_records_in_place(void **unused)
{
	static const char *const pairs[][2] = {
		{ "curl_get_req.bin", "flask_get_resp.bin" },
		{ "curl_post_req.bin", "flask_post_resp.bin" },
		{ "curl_traceparent_req.bin", "express_get_resp.bin" },
		{ "go_client_chunked_req.bin", "go_chunked_resp.bin" },
		{ "curl_expect_req.bin", "express_continue_resp.bin" },
		{ "curl_http10_req.bin", "flask_404_resp.bin" },
	};
	struct sonde_config cfg;
	struct service svc;
	struct decode_ctx ctx = { .cfg = &cfg, .service = &svc };
	void *state = http1_decoder.state_new();
	int whole = 0;

	(void)unused;
	memset(&cfg, 0, sizeof(cfg));
	memset(&svc, 0, sizeof(svc));
	svc.routes = route_table__new(100);
	strcpy(svc.name, "svc");
	assert_non_null(state);
	for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
		struct bytes req = golden(pairs[k][0]), resp = golden(pairs[k][1]);
		size_t rq = req.len < SONDE_REQ_CAP ? req.len : SONDE_REQ_CAP;
		size_t rs = resp.len < SONDE_RESP_CAP ? resp.len : SONDE_RESP_CAP;
		struct span s;
		bool ok;

		for (size_t i = 0; i <= rq; i++)
			decode_record(state, &ctx, &req, i, &resp, rs, &s, &ok);
		for (size_t j = 0; j <= rs; j++)
			decode_record(state, &ctx, &req, rq, &resp, j, &s, &ok);
		decode_record(state, &ctx, &req, rq, &resp, rs, &s, &ok);
		assert_true(ok);
		assert_true(s.status >= 100 && s.status <= 599);
		whole++;
		free(req.p);
		free(resp.p);
	}
	assert_int_equal(whole, 6);
	{
		/* the guard works: a read of the byte past a record's padding dies */
		static struct sonde_txn_event ev;
		const volatile unsigned char *rec;
		pid_t child;
		int status;

		memset(&ev, 0, SONDE_TXN_EVENT_MIN_SIZE);
		ev.req_len = 3;
		rec = (const volatile unsigned char *)record_at_guard(&ev);
		child = fork();
		assert_true(child >= 0);
		if (child == 0) {
			/* no handler of cmocka's or the sanitizer's: just die */
			signal(SIGSEGV, SIG_DFL);
			signal(SIGBUS, SIG_DFL);
			close(STDERR_FILENO);
			_exit(rec[(SONDE_TXN_EVENT_MIN_SIZE + 3 + 7) & ~7u] == 0x5a ? 3 : 0);
		}
		assert_int_equal(waitpid(child, &status, 0), child);
		assert_true(WIFSIGNALED(status));
		assert_true(WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS);
	}
	http1_decoder.state_free(state);
	route_table__free(svc.routes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_requests),
		cmocka_unit_test(test_golden_request_prefixes),
		cmocka_unit_test(test_golden_responses),
		cmocka_unit_test(test_golden_response_prefixes),
		cmocka_unit_test(test_request_minimal_absent_headers),
		cmocka_unit_test(test_request_http10),
		cmocka_unit_test(test_request_methods),
		cmocka_unit_test(test_request_garbage),
		cmocka_unit_test(test_request_header_names_any_case_and_lws),
		cmocka_unit_test(test_request_odd_header_lines),
		cmocka_unit_test(test_request_cut_header_line_is_ignored),
		cmocka_unit_test(test_request_content_length_values),
		cmocka_unit_test(test_request_transfer_encoding),
		cmocka_unit_test(test_request_expect_100_continue),
		cmocka_unit_test(test_request_query_and_fragment),
		cmocka_unit_test(test_request_absolute_form),
		cmocka_unit_test(test_request_truncated_fields),
		cmocka_unit_test(test_request_line_cut_by_capture),
		cmocka_unit_test(test_count_pipelined),
		cmocka_unit_test(test_count_pipelined_golden),
		cmocka_unit_test(test_response_status_lines),
		cmocka_unit_test(test_response_framing_headers),
		cmocka_unit_test(test_response_interim),
		cmocka_unit_test(test_body_size),
		cmocka_unit_test(test_records_in_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
