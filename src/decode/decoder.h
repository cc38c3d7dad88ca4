/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The protocol seam of user space: one decoder per protocol, found by the
 * protocol tag the kernel put in each transaction event. A decoder turns
 * an event into a span of the one model (model/span.h); what happens next
 * (ids, linking, metrics, exporters) does not depend on the protocol.
 *
 * Adding a protocol: its decoder in src/decode/<name>.c and one line in
 * decoder_registry (src/decode/registry.c).
 */
#ifndef SONDE_DECODE_DECODER_H
#define SONDE_DECODE_DECODER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "model/span.h"
#include "sonde/abi.h"

struct service;
struct streamlink;

/* What a decoder knows of where the event comes from. */
struct decode_ctx {
	const struct sonde_config *cfg;
	const struct service *service; /* the traced process's service */
	int64_t mono_to_real_ns;       /* add to a kernel time for wall time */
	struct streamlink *streams;    /* told of HTTP/2 server streams; NULL: none */
};

/* What the decoder asks for the span it filled (ignored routes, ...). */
struct decode_wants {
	bool span;    /* print / export it */
	bool metrics; /* count it in the metrics */
	const char *route; /* its route as the metrics key it (interned: outlives the store), or NULL */
};

/* Where a decoder of many spans per event hands each one. */
typedef void (*decode_emit_fn)(void *arg, struct span *s, const struct decode_wants *wants);

struct decoder_ops {
	const char *name;
	/* Per-pipeline state (e.g. requests waiting for pipelined responses). */
	void *(*state_new)(void);
	void (*state_free)(void *state);
	/**
	 * decode() - one transaction event into @out.
	 * Return: true when a span came out, false when the event was not
	 * decodable (counted by the caller).
	 */
	bool (*decode)(void *state, const struct sonde_txn_event *ev, const struct decode_ctx *ctx,
		       struct span *out, struct decode_wants *wants);
	/**
	 * decode_each() - instead of decode(), for protocols whose events are
	 * not transactions (HTTP/2: the frames of one read or write): feed
	 * @ev and hand every span it completes, zero or more, to @emit.
	 * Return: the calls it had to give up on (counted by the caller).
	 */
	int (*decode_each)(void *state, const struct sonde_txn_event *ev,
			   const struct decode_ctx *ctx, decode_emit_fn emit, void *arg);
};

/**
 * http_server_wants() - what an HTTP server span @s asks for (the ignored
 * routes) and its route, the same for HTTP/1 and HTTP/2.
 */
void http_server_wants(const struct decode_ctx *ctx, struct span *s, struct decode_wants *wants);

/* Indexed by enum sonde_proto; NULL where no decoder exists. */
extern const struct decoder_ops *const decoder_registry[SONDE_PROTO__MAX];

extern const struct decoder_ops http1_decoder;
extern const struct decoder_ops postgres_decoder;
extern const struct decoder_ops mysql_decoder;
extern const struct decoder_ops http2_decoder;

#endif /* SONDE_DECODE_DECODER_H */
