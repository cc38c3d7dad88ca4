/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OTLP transport: one request to a collector over libcurl, as
 * OTLP/HTTP (POST of protobuf) or OTLP/gRPC (HTTP/2 with gRPC's framing:
 * prior knowledge on http://, ALPN h2 on https://), gzip if asked, and the
 * answer classified as sent, retryable (with the server's delay when it
 * gave one) or failed. One transport per exporter thread; not thread-safe.
 */
#ifndef SONDE_EXPORT_OTLP_TRANSPORT_H
#define SONDE_EXPORT_OTLP_TRANSPORT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "export/otlp_config.h"

enum otlp_result {
	OTLP_SENT = 0,
	OTLP_RETRYABLE, /* try again later: network, 429/502/503/504, gRPC UNAVAILABLE, ... */
	OTLP_FAILED,	/* the collector refused the data: do not resend */
};

struct otlp_response {
	enum otlp_result result;
	long http_status;  /* 0 when no answer came */
	int grpc_status;   /* -1 when none was read */
	int64_t retry_after_ms; /* -1: the server did not say */
	int64_t rejected;  /* partial success: items the collector dropped */
	char message[256]; /* why, for the log */
};

struct otlp_transport;

/** otlp_transport__new() - a transport to @ep (borrowed: must outlive it). */
struct otlp_transport *otlp_transport__new(const struct otlp_endpoint *ep);
void otlp_transport__free(struct otlp_transport *t);

/**
 * otlp_transport__send() - send one encoded request and wait for the answer.
 * @timeout_ms: the request's time limit
 * @give_up_ns: a CLOCK_MONOTONIC time after which the request is abandoned
 *              (read while waiting, 0 for none): how shutdown stays bounded
 */
void otlp_transport__send(struct otlp_transport *t, const uint8_t *body, size_t len,
			  uint64_t timeout_ms, const _Atomic uint64_t *give_up_ns,
			  struct otlp_response *resp);

/* ---- pieces, exposed for unit tests ---- */

/** otlp_gzip() - gzip @len bytes of @in into a malloc'd @out. Return 0 or -errno. */
int otlp_gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);

/** otlp_grpc_frame() - gRPC's 5-byte prefix: compressed flag, big-endian length. */
void otlp_grpc_frame(uint8_t prefix[5], bool compressed, uint32_t len);

/**
 * otlp_retry_after_ms() - an HTTP Retry-After value (seconds or an HTTP
 * date, relative to @now) in milliseconds, or -1 if it is neither.
 */
int64_t otlp_retry_after_ms(const char *value, time_t now);

/** otlp_http_result() - how OTLP/HTTP classifies status @status. */
enum otlp_result otlp_http_result(long status);

/** otlp_grpc_result() - how OTLP/gRPC classifies gRPC status @code. */
enum otlp_result otlp_grpc_result(int code);

/** otlp_grpc_status_from_http() - gRPC's status for a non-200 HTTP answer. */
int otlp_grpc_status_from_http(long status);

#endif /* SONDE_EXPORT_OTLP_TRANSPORT_H */
