/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The linker joins spans into traces. The kernel names, for each span, the
 * transaction it is part of (span.parent: an in-process server request for
 * a client call, a traced local client call for a server request). Spans
 * complete children first (a server answers before its caller reads the
 * answer), so a span whose parent has not arrived yet is held until it
 * does, for at most `wait_ns`; then it leaves as the root of its own trace.
 * Nothing waits for children: a span leaves as soon as its parent is known.
 */
#ifndef SONDE_MODEL_LINKER_H
#define SONDE_MODEL_LINKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/span.h"

struct linker;

/* Called for every span that is ready, with its final ids. */
typedef void (*linker_emit_fn)(const struct span *s, void *arg);

/**
 * linker__new() - a linker holding at most @max_held spans, each for at most
 * @wait_ns, remembering the ids of the last @max_known spans.
 */
struct linker *linker__new(size_t max_held, size_t max_known, uint64_t wait_ns);
void linker__free(struct linker *l);

/**
 * linker__submit() - a new span, with its own ids already drawn (span_id;
 * trace_id too, or from a traceparent header). @now_ns: monotonic time.
 * Emits it, and every held span waiting for it, once their parents are known.
 */
void linker__submit(struct linker *l, const struct span *s, uint64_t now_ns, linker_emit_fn emit,
		    void *arg);

/**
 * linker__prefetch() - a hint, before a span with these ids is built: start
 * fetching what linker__submit() will read for @parent and write for @self
 * (slots of a table too large to stay in a core's cache, one miss each
 * otherwise). Either may have conn_id 0.
 */
void linker__prefetch(const struct linker *l, const struct txn_id *self,
		      const struct txn_id *parent);

/**
 * linker__mark_async() - @pid hands requests to other threads: links its
 * spans got from the thread rule are not trusted from now on.
 * Return: true the first time for @pid.
 */
bool linker__mark_async(struct linker *l, uint32_t pid);

/** linker__is_async() - has @pid been marked by linker__mark_async()? */
bool linker__is_async(struct linker *l, uint32_t pid);

/** linker__expire() - let spans held past their deadline go, unlinked. */
void linker__expire(struct linker *l, uint64_t now_ns, linker_emit_fn emit, void *arg);

/** linker__flush() - let every held span go (shutdown). */
void linker__flush(struct linker *l, linker_emit_fn emit, void *arg);

struct linker_stats {
	uint64_t linked;    /* spans that got a parent from the kernel's reference */
	uint64_t expired;   /* held spans whose parent never came */
	uint64_t overflow;  /* spans let go at once because the hold was full */
	uint64_t refused;   /* thread-rule links to a request served by two threads */
	size_t held;        /* held now */
};

void linker__stats(const struct linker *l, struct linker_stats *out);

#endif /* SONDE_MODEL_LINKER_H */
