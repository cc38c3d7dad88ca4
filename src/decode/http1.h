/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.x decoder: turns the request and response head prefixes the kernel
 * copied (plus wire byte counts) into span fields. Pure functions over
 * bounded buffers: no allocation, no I/O; unit-tested and fuzzed.
 */
#ifndef SONDE_DECODE_HTTP1_H
#define SONDE_DECODE_HTTP1_H

#include <stddef.h>
#include <stdint.h>

#include "model/span.h"

#define HTTP1_TRACEPARENT_MAX 64 /* "00-<32 hex>-<16 hex>-<2 hex>" is 55 */

struct http1_request {
	char method[SPAN_METHOD_MAX];
	char path[SPAN_PATH_MAX]; /* target without query string, truncated to fit */
	char host[SPAN_HOST_MAX];
	char traceparent[HTTP1_TRACEPARENT_MAX]; /* raw header value, "" if absent */
	uint8_t http_minor;
	int64_t content_length; /* -1 when absent */
	size_t head_len;	/* bytes up to and including the blank line; 0 if not within buffer */
	int chunked;		/* Transfer-Encoding: chunked */
};

struct http1_response {
	int status;
	uint8_t http_minor;
	int64_t content_length; /* -1 when absent */
	size_t head_len;	/* 0 if not within buffer */
	int chunked;
};

/**
 * http1_parse_request() - parse a request head prefix.
 * @buf: bytes as read from the socket, not NUL-terminated
 * @len: valid bytes in @buf
 * @out: filled on success
 *
 * Return: 0 on success (a request line was found; headers past the end of
 * @buf are simply absent), -EINVAL when @buf does not start with a valid
 * HTTP/1.x request line.
 */
int http1_parse_request(const uint8_t *buf, size_t len, struct http1_request *out);

/**
 * http1_parse_response() - parse a response head prefix.
 * Return: 0 on success, -EINVAL when @buf does not start with "HTTP/1.x NNN".
 */
int http1_parse_response(const uint8_t *buf, size_t len, struct http1_response *out);

/**
 * http1_body_size() - body bytes of one direction of a transaction.
 * @wire_bytes: all bytes of that direction seen on the socket
 * @head_len: head length (0 if unknown)
 * @content_length: Content-Length value or -1
 *
 * Content-Length when present, else wire bytes minus the head, else 0.
 */
uint64_t http1_body_size(uint64_t wire_bytes, size_t head_len, int64_t content_length);

/**
 * http1_count_requests() - how many request heads begin in @buf (pipelining).
 * Counts the first one and every further request line found right after a
 * complete head whose body length is known (Content-Length or none).
 */
int http1_count_requests(const uint8_t *buf, size_t len);

/* Requests pipelined behind the first one that a decoder keeps, at most. */
#define HTTP1_PIPELINE_MAX 7

/**
 * http1_requests_after_first() - the request heads pipelined behind the
 * first one in @buf, found by the walk of http1_count_requests(), parsed
 * into @out (at most @max, at most HTTP1_PIPELINE_MAX), stopping at one not
 * complete in @buf. Return: how many.
 */
int http1_requests_after_first(const uint8_t *buf, size_t len, struct http1_request *out, int max);

#endif /* SONDE_DECODE_HTTP1_H */
