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

#endif /* SONDE_PIPELINE_H */
