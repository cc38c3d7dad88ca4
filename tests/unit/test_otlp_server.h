/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small OTLP/HTTP collector for the OTLP unit tests, on libmicrohttpd
 * (already linked by the agent): records the last request's headers,
 * counts the spans and metric points it decodes, and answers with a
 * status (and Retry-After) the test chooses, after an optional delay.
 * Header-only (static inline: a test uses what it needs).
 */
#ifndef SONDE_TEST_OTLP_SERVER_H
#define SONDE_TEST_OTLP_SERVER_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "proto/metrics_service.pb-c.h"
#include "proto/trace_service.pb-c.h"

struct test_server {
	struct MHD_Daemon *daemon;
	uint16_t port;
	pthread_mutex_t lock;
	/* Behaviour, set by the test. */
	unsigned int status;	 /* answer; 200 by default */
	unsigned int fail_first; /* answer the first N requests with status, then 200 */
	const char *retry_after; /* Retry-After value of failures, or NULL */
	unsigned int delay_ms;	 /* wait before answering */
	/* What arrived. */
	unsigned int requests;
	size_t spans, points;
	char url[128], content_type[64], content_encoding[32], authorization[128];
};

struct test_upload {
	uint8_t *data;
	size_t len;
};

static inline int test_gunzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	z_stream z = { 0 };
	size_t cap = len * 1032 + 4096; /* deflate expands at most about 1032 times */
	int rc;

	*out = malloc(cap);
	if (!*out || inflateInit2(&z, 15 + 16) != Z_OK)
		return -1;
	z.next_in = (Bytef *)in;
	z.avail_in = len;
	z.next_out = *out;
	z.avail_out = cap;
	rc = inflate(&z, Z_FINISH);
	*out_len = z.total_out;
	inflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -1;
}

static inline void test_server_count(struct test_server *ts, const char *url, const uint8_t *data, size_t len)
{
	if (!strcmp(url, "/v1/traces")) {
		Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *r =
			opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
				NULL, len, data);

		for (size_t i = 0; r && i < r->n_resource_spans; i++)
			for (size_t j = 0; j < r->resource_spans[i]->n_scope_spans; j++)
				ts->spans += r->resource_spans[i]->scope_spans[j]->n_spans;
		if (r)
			opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
				r, NULL);
	} else if (!strcmp(url, "/v1/metrics")) {
		Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *r =
			opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
				NULL, len, data);

		for (size_t i = 0; r && i < r->n_resource_metrics; i++)
			for (size_t j = 0; j < r->resource_metrics[i]->n_scope_metrics; j++)
				for (size_t k = 0; k < r->resource_metrics[i]->scope_metrics[j]->n_metrics; k++)
					ts->points += r->resource_metrics[i]
							      ->scope_metrics[j]
							      ->metrics[k]
							      ->histogram->n_data_points;
		if (r)
			opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
				r, NULL);
	}
}

static inline void test_copy_header(struct MHD_Connection *c, const char *name, char *out, size_t size)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);

	snprintf(out, size, "%s", v ? v : "");
}

static inline enum MHD_Result test_server_handle(void *cls, struct MHD_Connection *c, const char *url,
					  const char *method, const char *version,
					  const char *upload_data, size_t *upload_size, void **req_cls)
{
	struct test_server *ts = cls;
	struct test_upload *up = *req_cls;
	struct MHD_Response *resp;
	unsigned int status, delay;
	enum MHD_Result ret;

	if (!up) {
		*req_cls = calloc(1, sizeof(*up));
		return *req_cls ? MHD_YES : MHD_NO;
	}
	if (*upload_size) {
		uint8_t *grown = realloc(up->data, up->len + *upload_size);

		if (!grown)
			return MHD_NO;
		memcpy(grown + up->len, upload_data, *upload_size);
		up->data = grown;
		up->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&ts->lock);
	ts->requests++;
	snprintf(ts->url, sizeof(ts->url), "%s", url);
	test_copy_header(c, "Content-Type", ts->content_type, sizeof(ts->content_type));
	test_copy_header(c, "Content-Encoding", ts->content_encoding, sizeof(ts->content_encoding));
	test_copy_header(c, "Authorization", ts->authorization, sizeof(ts->authorization));
	status = ts->fail_first ? ts->status : 200;
	if (ts->fail_first && ts->fail_first != UINT32_MAX)
		ts->fail_first--;
	delay = ts->delay_ms;
	if (status == 200) {
		uint8_t *plain = NULL;
		size_t plain_len = 0;

		if (!strcmp(ts->content_encoding, "gzip")) {
			if (!test_gunzip(up->data, up->len, &plain, &plain_len))
				test_server_count(ts, url, plain, plain_len);
		} else {
			test_server_count(ts, url, up->data, up->len);
		}
		free(plain);
	}
	pthread_mutex_unlock(&ts->lock);
	if (delay)
		usleep(delay * 1000);
	resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (status != 200 && ts->retry_after)
		MHD_add_response_header(resp, "Retry-After", ts->retry_after);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static inline void test_server_done(void *cls, struct MHD_Connection *c, void **req_cls,
			     enum MHD_RequestTerminationCode why)
{
	struct test_upload *up = *req_cls;

	if (up) {
		free(up->data);
		free(up);
	}
	*req_cls = NULL;
}

/* Start on a free loopback port; status 200 until the test says otherwise. */
static inline void test_server_start(struct test_server *ts)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	memset(ts, 0, sizeof(*ts));
	pthread_mutex_init(&ts->lock, NULL);
	ts->status = 200;
	ts->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
				      0, NULL, NULL, test_server_handle, ts, MHD_OPTION_SOCK_ADDR, &addr,
				      MHD_OPTION_NOTIFY_COMPLETED, test_server_done, ts, MHD_OPTION_END);
	if (ts->daemon)
		ts->port = MHD_get_daemon_info(ts->daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static inline void test_server_stop(struct test_server *ts)
{
	if (ts->daemon)
		MHD_stop_daemon(ts->daemon);
	pthread_mutex_destroy(&ts->lock);
}

static inline size_t test_server_get(struct test_server *ts, const size_t *counter)
{
	size_t v;

	pthread_mutex_lock(&ts->lock);
	v = *counter;
	pthread_mutex_unlock(&ts->lock);
	return v;
}

/* Poll until *counter >= want or @timeout_ms passes; return the last value. */
static inline size_t test_server_wait(struct test_server *ts, const size_t *counter, size_t want,
			       unsigned int timeout_ms)
{
	size_t v = 0;

	for (unsigned int waited = 0; waited <= timeout_ms; waited += 20) {
		v = test_server_get(ts, counter);
		if (v >= want)
			break;
		usleep(20000);
	}
	return v;
}

static inline uint64_t test_mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A port nothing listens on (bound, then closed). */
static inline uint16_t test_closed_port(void)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port = 1;

	if (fd >= 0 && !bind(fd, (struct sockaddr *)&addr, sizeof(addr)) &&
	    !getsockname(fd, (struct sockaddr *)&addr, &len))
		port = ntohs(addr.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

#endif /* SONDE_TEST_OTLP_SERVER_H */
