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

/* What a decoder knows of where the event comes from. */
struct decode_ctx {
	const struct sonde_config *cfg;
	const struct service *service; /* the traced process's service */
	int64_t mono_to_real_ns;       /* add to a kernel time for wall time */
};

/* What the decoder asks for the span it filled (ignored routes, ...). */
struct decode_wants {
	bool span;    /* print / export it */
	bool metrics; /* count it in the metrics */
	const char *route; /* its route as the metrics key it (interned: outlives the store), or NULL */
};

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
};

/* Indexed by enum sonde_proto; NULL where no decoder exists. */
extern const struct decoder_ops *const decoder_registry[SONDE_PROTO__MAX];

extern const struct decoder_ops http1_decoder;
extern const struct decoder_ops postgres_decoder;
extern const struct decoder_ops mysql_decoder;

#endif /* SONDE_DECODE_DECODER_H */
