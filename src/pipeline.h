/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event reader and what follows it: ring-buffer records in, decoded
 * into spans (decode/), counted into the metric store (model/), handed to
 * every enabled exporter (export/). Discovery events go to discovery.
 */
#ifndef SONDE_PIPELINE_H
#define SONDE_PIPELINE_H

#include <stddef.h>

#include "runtime.h"
#include "decode/http1.h"
#include "model/span.h"

struct pipeline;

struct pipeline *pipeline__new(struct sonde_runtime *rt);
void pipeline__free(struct pipeline *p);

/** pipeline__poll() - wait up to @timeout_ms for events and process them all. */
int pipeline__poll(struct pipeline *p, int timeout_ms);

/** pipeline__drain() - let every span waiting for its parent go (shutdown). */
void pipeline__drain(struct pipeline *p);

/** pipeline__flush() - flush every exporter (after a batch, at shutdown). */
void pipeline__flush(struct pipeline *p);

/**
 * span_from_http_event() - decode one kernel HTTP event into a span.
 * @ev: the event; @mono_to_real_ns: clock offset
 * @pipelined: for a pipelined continuation (SONDE_EVF_PIPELINED), the
 *	request head it answers, else NULL (the head is in the event)
 * Return: 1, or 0 when the event is not decodable.
 */
int span_from_http_event(const struct sonde_http_event *ev, int64_t mono_to_real_ns,
			 const struct http1_request *pipelined, struct span *out);

/**
 * http1_requests_after_first() - the request heads pipelined behind the
 * first one in @buf (each after the previous head and its Content-Length
 * body), at most @max, stopping at one not complete in @buf.
 */
int http1_requests_after_first(const uint8_t *buf, size_t len, struct http1_request *out, int max);

#endif /* SONDE_PIPELINE_H */
