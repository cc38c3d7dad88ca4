/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parents for the client calls a process makes while it serves HTTP/2
 * (gRPC) streams. The kernel's rules (bpf/link.bpf.h) count HTTP/1
 * requests only: an HTTP/2 connection multiplexes streams, and the thread
 * that read a stream's HEADERS is often not the one that runs its handler
 * (grpc-go: goroutines; grpcio: a thread pool; Node: one thread for all).
 * So user space follows each process's server streams, from their
 * request HEADERS to their end (the HTTP/2 decoder says when), and a
 * client call of the process with no parent from the kernel gets one when
 * it is certain:
 *
 *  - the stream rule: exactly one server stream overlaps the call, and it
 *    spans the whole call (began before it, ended after it);
 *  - the thread rule, when several overlap: exactly one of them had its
 *    request read by the thread that made the call, that stream spans the
 *    call, the call's response was read on that thread too, and the
 *    process runs handlers on the thread that read the request (not Go,
 *    not seen handing requests over; the linker refuses the link if that
 *    very stream turns out to be answered from another thread).
 *
 * Anything else that overlaps a server stream is left without parent and
 * said to be ambiguous (counted by the caller): so is a call the kernel
 * linked by the one-request-in-flight rule while a stream was in flight
 * too (that rule does not count streams), or made while requests the
 * kernel could not decide between were in flight. Never a guess.
 *
 * Spans come at their end, and the events of other CPUs may come a little
 * after: a call is decided once `settle_ns` have passed since it ended, so
 * that every stream that began before its end is known. Ended streams are
 * remembered (the last STREAMLINK_HISTORY per process) for calls that
 * began before them; a call older than what was forgotten is ambiguous.
 * Times are CLOCK_MONOTONIC nanoseconds.
 */
#ifndef SONDE_MODEL_STREAMLINK_H
#define SONDE_MODEL_STREAMLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/span.h"

#define STREAMLINK_HISTORY 64	   /* ended streams remembered per process */
#define STREAMLINK_OPEN_MAX 32768  /* open streams followed per process */

struct streamlink;

enum streamlink_verdict {
	STREAMLINK_NONE = 0,	  /* no server stream around the call: the kernel's link stands */
	STREAMLINK_STREAM,	  /* parent: the one stream in flight */
	STREAMLINK_THREAD,	  /* parent: the stream its thread serves */
	STREAMLINK_AMBIGUOUS,	  /* streams in flight, none certain: no parent */
};

/** streamlink__new() - holding at most @max_held calls for @settle_ns each. */
struct streamlink *streamlink__new(size_t max_held, uint64_t settle_ns);
void streamlink__free(struct streamlink *sl);

/**
 * streamlink__begin() - process @pid read the request HEADERS of server
 * stream @id (the id its span will carry as span.self) on thread @tid at
 * @start_ns. @spanned: the stream will give a span (its request decoded).
 */
void streamlink__begin(struct streamlink *sl, uint32_t pid, const struct txn_id *id, uint32_t tid,
		       uint64_t start_ns, bool spanned);

/**
 * streamlink__end() - server stream @id of @pid ended at @end_ns. @dropped:
 * it was given up on, not seen ending (its end is not known: calls begun
 * before @end_ns can not be decided).
 */
void streamlink__end(struct streamlink *sl, uint32_t pid, const struct txn_id *id, uint64_t end_ns,
		     bool dropped);

/** streamlink__forget() - @pid exited. */
void streamlink__forget(struct streamlink *sl, uint32_t pid);

/** streamlink__serves() - has @pid served HTTP/2 streams (so its calls wait to be decided)? */
bool streamlink__serves(const struct streamlink *sl, uint32_t pid);

/**
 * streamlink__decide() - the parent of client call @s of its process,
 * which ran from @start_ns to @end_ns. STREAMLINK_STREAM or _THREAD set
 * s->parent and s->parent_link; STREAMLINK_AMBIGUOUS clears them.
 * @thread_rule: the process may be linked by thread (not Go, not async).
 */
enum streamlink_verdict streamlink__decide(const struct streamlink *sl, struct span *s,
					   uint64_t start_ns, uint64_t end_ns, bool thread_rule);

/** streamlink__hold() - keep @s until it settles. Return: false when full. */
bool streamlink__hold(struct streamlink *sl, const struct span *s, uint64_t start_ns,
		      uint64_t end_ns);

typedef void (*streamlink_settled_fn)(struct span *s, uint64_t start_ns, uint64_t end_ns,
				      void *arg);

/**
 * streamlink__settle() - hand over the held calls that ended @settle_ns
 * before @now_ns (all of them with @all), oldest first, to be decided.
 */
void streamlink__settle(struct streamlink *sl, uint64_t now_ns, bool all,
			streamlink_settled_fn fn, void *arg);

#endif /* SONDE_MODEL_STREAMLINK_H */
