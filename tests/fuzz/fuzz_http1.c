// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the HTTP/1.x decoder and the route rule: whatever
 * bytes a traced process writes end up in these functions, so any input
 * must be survived, and the outputs must keep their invariants.
 *
 * Built and run by `make fuzz` (seeded from tests/golden/http1). An
 * invariant that breaks aborts, which libFuzzer reports as a crash with the
 * input saved.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/http1.h"
#include "model/route.h"
#include "util/utf8.h"

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, \
				__LINE__);                                             \
			abort();                                                       \
		}                                                                      \
	} while (0)

#define TERMINATED(field) CHECK(strnlen((field), sizeof(field)) < sizeof(field))

/* Bytes after a route output that must never be written. */
#define CANARY 0xa5
#define CANARY_LEN 16

/* route_from_path() into an output of @size bytes followed by a canary. */
static void check_route(const char *path, size_t size)
{
	uint8_t out[SPAN_ROUTE_MAX + CANARY_LEN];
	size_t i;

	memset(out, CANARY, sizeof(out));
	route_from_path(path, (char *)out, size);
	if (size > 0)
		CHECK(strnlen((char *)out, size) < size);
	else
		CHECK(out[0] == CANARY);
	for (i = size; i < size + CANARY_LEN; i++)
		CHECK(out[i] == CANARY);
	/* A route never holds a query string, and never is empty. */
	if (size > 1) {
		CHECK(out[0] != '\0');
		CHECK(strchr((char *)out, '?') == NULL);
		CHECK(strchr((char *)out, '#') == NULL);
	}
}

static void check_request(const uint8_t *data, size_t size)
{
	struct http1_request r;
	int rc = http1_parse_request(data, size, &r);
	int count = http1_count_requests(data, size);

	CHECK(rc == 0 || rc == -EINVAL);
	TERMINATED(r.method);
	TERMINATED(r.path);
	TERMINATED(r.host);
	TERMINATED(r.traceparent);
	CHECK(r.head_len <= size);
	CHECK(r.content_length >= -1);
	CHECK(r.http_minor <= 9);
	CHECK(!(r.chunked && r.content_length >= 0));
	/* Counting starts where parsing succeeds, and never runs backwards. */
	CHECK(count >= 0);
	CHECK((rc == 0) == (count >= 1));
	if (rc != 0) {
		CHECK(r.method[0] == '\0' && r.path[0] == '\0' && r.head_len == 0);
		return;
	}
	CHECK(r.method[0] != '\0');
	CHECK(strchr(r.path, '?') == NULL && strchr(r.path, '#') == NULL);
	if (r.content_length < 0 && r.head_len > 0)
		CHECK(http1_body_size(size, r.head_len, r.content_length) == size - r.head_len);
	check_route(r.path, SPAN_ROUTE_MAX);
	check_route(r.path, size % (SPAN_ROUTE_MAX + 1));
}

static void check_response(const uint8_t *data, size_t size)
{
	struct http1_response r;
	int rc = http1_parse_response(data, size, &r);

	CHECK(rc == 0 || rc == -EINVAL);
	CHECK(r.head_len <= size);
	CHECK(r.content_length >= -1);
	CHECK(!(r.chunked && r.content_length >= 0));
	if (rc != 0) {
		CHECK(r.status == 0 && r.head_len == 0);
		return;
	}
	CHECK(r.status >= 100 && r.status <= 999);
	CHECK(r.http_minor <= 9);
	CHECK(size >= 12);
}

/* The input as a C string, for the route rule on arbitrary text. */
static void check_route_raw(const uint8_t *data, size_t size)
{
	struct route_table *t;
	char *path = malloc(size + 1);
	char route[SPAN_ROUTE_MAX];
	const char *admitted;

	if (!path)
		return;
	memcpy(path, data, size);
	path[size] = '\0';
	check_route(path, SPAN_ROUTE_MAX);

	route_from_path(path, route, sizeof(route));
	/* The table makes what it admits valid UTF-8 (fuzz_utf8 checks how):
	 * the identities below hold for text that already is. */
	if (!utf8_valid(path, size) || !utf8_valid(route, strlen(route)) || memchr(path, 0, size)) {
		free(path);
		return;
	}
	t = route_table__new(1);
	CHECK(t != NULL);
	admitted = route_table__admit(t, route);
	CHECK(strcmp(admitted, route) == 0);
	CHECK(route_table__admit(t, route) == admitted);
	CHECK(route_table__size(t) == 1);
	admitted = route_table__admit(t, path);
	CHECK(strcmp(admitted, strcmp(path, route) ? ROUTE_OVERFLOW : route) == 0);
	CHECK(route_table__overflowed(t) == (strcmp(path, route) ? 1u : 0u));
	route_table__free(t);
	free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_request(data, size);
	check_response(data, size);
	check_route_raw(data, size);
	/* The kernel's view is a prefix of the same bytes. */
	if (size > 0) {
		check_request(data, size - 1);
		check_response(data, size - 1);
	}
	return 0;
}
