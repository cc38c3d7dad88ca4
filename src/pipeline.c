// SPDX-License-Identifier: Apache-2.0
#include "pipeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "decode/decoder.h"
#include "discovery.h"
#include "export/exporter.h"
#include "model/linker.h"
#include "model/metrics.h"
#include "model/spanmetrics.h"
#include "model/streamlink.h"
#include "probes.h"
#include "util/log.h"
#include "util/str.h"

#define MAX_EXPORTERS 8
/* How long a client call of a process serving HTTP/2 waits before its
 * parent is decided: the events other CPUs stamped before its end (a
 * stream's HEADERS) are read by then. */
#define STREAM_SETTLE_NS (20 * 1000000ull)

struct pipeline {
	struct sonde_runtime *rt;
	struct ring_buffer *rb;
	struct exporter exporters[MAX_EXPORTERS];
	int nexporters;
	struct linker *linker;
	struct streamlink *streams; /* parents of calls made while serving HTTP/2 */
	void *decoder_state[SONDE_PROTO__MAX]; /* each decoder's own */
	/* Span and trace ids: unique and spread, not secret (W3C asks for
	 * random, not for unpredictable to an attacker): xoshiro256**, seeded
	 * from getrandom() and reseeded every IDGEN_RESEED draws. */
	uint64_t idgen[4];
	uint32_t idgen_left;
	bool span_metrics; /* count spans in rt->spanmetrics */
	bool graph;	   /* pair spans into the service graph */
};

static uint64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

#define IDGEN_RESEED (1u << 20)

static uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t idgen_next(struct pipeline *p)
{
	uint64_t *s = p->idgen, r, t;

	if (p->idgen_left == 0) {
		uint64_t seed[4];

		if (getrandom(seed, sizeof(seed), 0) == (ssize_t)sizeof(seed)) {
			for (int i = 0; i < 4; i++)
				s[i] ^= seed[i];
		} else {
			log_warn("getrandom: %s", strerror(errno));
			s[0] ^= mono_now();
		}
		if (!(s[0] | s[1] | s[2] | s[3]))
			s[0] = 1; /* the one state xoshiro cannot leave */
		p->idgen_left = IDGEN_RESEED;
	}
	p->idgen_left--;
	r = rotl64(s[1] * 5, 7) * 9;
	t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return r;
}

/* @n random bytes, never all zero (an invalid id in W3C trace context). */
static void random_bytes(struct pipeline *p, uint8_t *out, size_t n)
{
	bool zero = true;

	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = idgen_next(p);
		size_t k = n - i < 8 ? n - i : 8;

		memcpy(out + i, &v, k);
	}
	for (size_t i = 0; i < n && zero; i++)
		zero = !out[i];
	if (zero)
		out[n - 1] = 1;
}

/* A span with its final ids, to every exporter. */
static void export_span(const struct span *s, void *arg)
{
	struct pipeline *p = arg;

	/* This thread alone counts spans: no locked instruction needed. */
	atomic_store_explicit(&p->rt->spans_total,
			      atomic_load_explicit(&p->rt->spans_total, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	/* Final ids: a server span and its caller's client span pair here. */
	if (p->rt->spanmetrics && p->graph)
		spanmetrics__graph_submit(p->rt->spanmetrics, s, mono_now());
	for (int e = 0; e < p->nexporters; e++)
		p->exporters[e].ops->export_span(&p->exporters[e], s);
}

/* A client call of a process serving HTTP/2, settled: its parent is
 * decided (model/streamlink.h), then it joins the others. */
static void stream_call_settled(struct span *s, uint64_t start_ns, uint64_t end_ns, void *arg)
{
	struct pipeline *p = arg;
	bool thread_rule = discovery__thread_rule(p->rt->discovery, s->pid) &&
			   !linker__is_async(p->linker, s->pid);

	if (streamlink__decide(p->streams, s, start_ns, end_ns, thread_rule) ==
	    STREAMLINK_AMBIGUOUS)
		atomic_fetch_add(&p->rt->user_loss[LOSS_LINK_AMBIGUOUS], 1);
	linker__submit(p->linker, s, mono_now(), export_span, p);
}

/* A decoded span of a traced process: ids, metrics, linking, exporters. */
static void finish_span(struct pipeline *p, const struct proc_info *proc, struct span *s,
			const struct decode_wants *w, uint64_t end_mono_ns)
{
	struct sonde_runtime *rt = p->rt;
	struct decode_wants wants = *w;
	bool has_parent = false;

	/* Strings from another process, made valid once for every output. */
	span_sanitize(s);
	s->service = proc->service;
	for (int b = 0; b < 8; b++)
		has_parent |= s->parent_span_id[b] != 0;
	if (!has_parent) {
		random_bytes(p, s->trace_id, sizeof(s->trace_id));
		s->trace_flags = 1;
	}
	random_bytes(p, s->span_id, sizeof(s->span_id));
	if (wants.metrics)
		metric_store__record(rt->metrics, s, wants.route);
	if (wants.metrics && p->span_metrics)
		spanmetrics__record(rt->spanmetrics, s);
	if (!wants.span)
		return;
	s->remote_parent = has_parent;
	/* A server that answers on another thread than the one that read the
	 * request is asynchronous: the thread rule would mislead there. */
	if (s->kind == SPAN_KIND_SERVER && s->resp_tid && s->resp_tid != s->tid &&
	    linker__mark_async(p->linker, s->pid))
		discovery__no_thread_rule(rt->discovery, s->pid);
	/* A call of a process serving HTTP/2 streams, which the kernel's
	 * rules do not count: its parent is decided once it settles. */
	if (s->kind == SPAN_KIND_CLIENT && s->parent_link != SONDE_LINK_THREAD &&
	    streamlink__serves(p->streams, s->pid)) {
		uint64_t start_mono = end_mono_ns - span_duration_ns(s);

		if (!streamlink__hold(p->streams, s, start_mono, end_mono_ns))
			stream_call_settled(s, start_mono, end_mono_ns, p);
		return;
	}
	linker__submit(p->linker, s, end_mono_ns, export_span, p);
}

struct each_ctx {
	struct pipeline *p;
	const struct proc_info *proc;
	uint64_t end_mono_ns;
};

static void emit_each(void *arg, struct span *s, const struct decode_wants *wants)
{
	struct each_ctx *e = arg;

	finish_span(e->p, e->proc, s, wants, e->end_mono_ns);
}

/* One event of any protocol: decoded by its protocol's decoder into the
 * one span model (a transaction gives one span; an HTTP/2 event, the
 * streams it completes), then ids, metrics, linking and exporters alike. */
static void process_txn(struct pipeline *p, const struct sonde_txn_event *ev)
{
	struct sonde_runtime *rt = p->rt;
	const struct proc_info *proc = discovery__lookup(rt->discovery, ev->hdr.tgid);
	struct decode_wants wants = { .span = true, .metrics = true, .route = NULL };
	const struct decoder_ops *dec = NULL;
	struct span span, *s = &span;

	if (!proc) {
		atomic_fetch_add(&rt->user_loss[LOSS_UNKNOWN_PROC], 1);
		return;
	}
	{
		/* The linker's slots for this transaction and its parent: a
		 * cache miss each, overlapped with the decoding below. */
		struct txn_id self = { .conn_id = ev->conn_id, .txn_seq = ev->txn_seq },
			      parent = { .conn_id = ev->parent.conn_id,
					 .txn_seq = ev->parent.txn_seq };

		linker__prefetch(p->linker, &self, &parent);
	}
	if (ev->end_reason == SONDE_END_CONNECT_FAILED) {
		span_from_connect_failure(ev, rt->mono_to_real_ns, s);
	} else {
		struct decode_ctx ctx = { .cfg = rt->cfg, .service = proc->service,
					  .mono_to_real_ns = rt->mono_to_real_ns,
					  .streams = p->streams };

		if (ev->proto < SONDE_PROTO__MAX)
			dec = decoder_registry[ev->proto];
		if (dec && dec->decode_each) {
			struct each_ctx e = { .p = p, .proc = proc, .end_mono_ns = ev->end_ns };
			int lost = dec->decode_each(p->decoder_state[ev->proto], ev, &ctx, emit_each, &e);

			if (lost > 0)
				atomic_fetch_add(&rt->user_loss[LOSS_DECODE], lost);
			return;
		}
		if (!dec || !dec->decode(p->decoder_state[ev->proto], ev, &ctx, s, &wants)) {
			atomic_fetch_add(&rt->user_loss[LOSS_DECODE], 1);
			log_debug("undecodable event pid=%u proto=%u req_len=%u resp_len=%u",
				  ev->hdr.tgid, ev->proto, ev->req_len, ev->resp_len);
			return;
		}
	}
	finish_span(p, proc, s, &wants, ev->end_ns);
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct pipeline *p = ctx;
	const struct sonde_event_header *hdr = data;
	const struct sonde_proc_event *pe = data;

	if (size < sizeof(*hdr))
		return 0;
	/* The next record, if the kernel has written it, follows this one (an
	 * 8-byte header, 8-byte aligned; the ring is mapped twice, so it is
	 * contiguous across the wrap): written on another CPU, its lines miss
	 * in this core's cache, and fetching them now overlaps that with this
	 * record's work (the first touch of each record was a fifth of the
	 * pipeline's time). A prefetch never faults. */
	{
		const char *next = (const char *)data + ((size + 7) & ~(size_t)7) + 8;

		for (int i = 0; i < 4; i++)
			__builtin_prefetch(next + 64 * i);
	}
	switch (hdr->kind) {
	case SONDE_EV_TXN: {
		/* Records end after the prefixes' valid bytes: decoded where
		 * they lie (the ring's pages are read-only to us), once the
		 * prefixes are known to lie within the record. Decoders read
		 * data[] only up to req_len + resp_len. */
		const struct sonde_txn_event *ev = data;

		if (size < SONDE_TXN_EVENT_MIN_SIZE)
			break;
		if (size > sizeof(*ev))
			size = sizeof(*ev);
		if ((size_t)ev->req_len + ev->resp_len > size - SONDE_TXN_EVENT_MIN_SIZE) {
			atomic_fetch_add(&p->rt->user_loss[LOSS_DECODE], 1);
			break;
		}
		process_txn(p, ev);
		break;
	}
	case SONDE_EV_PROC_EXEC:
		discovery__check_pid(p->rt->discovery, hdr->tgid, true);
		break;
	case SONDE_EV_LISTEN:
		discovery__check_pid(p->rt->discovery, hdr->tgid, false);
		break;
	case SONDE_EV_PROC_FORK:
		if (size >= sizeof(*pe))
			discovery__on_fork(p->rt->discovery, hdr->tgid, pe->ppid);
		break;
	case SONDE_EV_PROC_EXIT:
		discovery__on_exit(p->rt->discovery, hdr->tgid);
		streamlink__forget(p->streams, hdr->tgid);
		break;
	}
	{
		/* A copy for other threads, written only when it changes: a
		 * seq_cst store per event was a fifth of the pipeline's time. */
		unsigned int n = discovery__count(p->rt->discovery);

		if (atomic_load_explicit(&p->rt->instrumented, memory_order_relaxed) != n)
			atomic_store_explicit(&p->rt->instrumented, n, memory_order_relaxed);
	}
	return 0;
}

struct pipeline *pipeline__new(struct sonde_runtime *rt)
{
	struct pipeline *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->rt = rt;
	if (rt->spanmetrics) {
		unsigned int features = rt->cfg->prom_feature_mask | rt->cfg->otlp_feature_mask;

		p->span_metrics = features & FEATURE_BIT(FEATURE_SPAN);
		p->graph = (features & FEATURE_BIT(FEATURE_SERVICE_GRAPH)) || rt->cfg->ui_port;
	}
	/* The finalized spans' ids are looked up by every span with a parent:
	 * 16384 of them (~0.9 MiB) stay in a core's cache, where 65536 (3.6
	 * MiB) cost a cache miss per span; a child whose parent is older than
	 * that many spans is left unlinked, never wrongly linked. */
	p->linker = linker__new(4096, 1 << 14, rt->cfg->link_wait_ms * 1000000ull);
	p->streams = streamlink__new(1024, STREAM_SETTLE_NS);
	if (!p->linker || !p->streams) {
		linker__free(p->linker);
		streamlink__free(p->streams);
		free(p);
		return NULL;
	}
	for (int i = 0; i < SONDE_PROTO__MAX; i++) {
		const struct decoder_ops *dec = decoder_registry[i];

		if (dec && dec->state_new && !(p->decoder_state[i] = dec->state_new())) {
			pipeline__free(p);
			return NULL;
		}
	}
	p->rb = ring_buffer__new(probes__events_map_fd(rt->probes), on_event, p, NULL);
	if (!p->rb) {
		log_error("cannot open the ring buffer: %s", strerror(errno));
		pipeline__free(p);
		return NULL;
	}
	for (int i = 0; exporter_registry[i]; i++) {
		const struct exporter_ops *ops = exporter_registry[i];
		struct exporter *e = &p->exporters[p->nexporters];

		if (!ops->enabled(rt->cfg))
			continue;
		e->ops = ops;
		if (ops->init(e, rt->cfg, rt)) {
			log_error("exporter %s failed to start", ops->name);
			pipeline__free(p);
			return NULL;
		}
		p->nexporters++;
	}
	return p;
}

/* The linker belongs to this thread: its losses are copied where the
 * exporters' threads read them (sonde_events_lost_total{reason}). */
static void publish_linker_losses(struct pipeline *p)
{
	struct linker_stats st;

	linker__stats(p->linker, &st);
	atomic_store(&p->rt->user_loss[LOSS_LINK_OVERFLOW], st.overflow);
}

int pipeline__poll(struct pipeline *p, int timeout_ms)
{
	int n = ring_buffer__poll(p->rb, timeout_ms);

	if (n < 0 && n != -EINTR)
		return n;
	/* Wake-ups are batched: whatever is below the threshold is read here. */
	ring_buffer__consume(p->rb);
	streamlink__settle(p->streams, mono_now(), false, stream_call_settled, p);
	linker__expire(p->linker, mono_now(), export_span, p);
	if (p->graph)
		spanmetrics__graph_expire(p->rt->spanmetrics, mono_now());
	publish_linker_losses(p);
	return 0;
}

void pipeline__drain(struct pipeline *p)
{
	streamlink__settle(p->streams, 0, true, stream_call_settled, p);
	linker__flush(p->linker, export_span, p);
	if (p->graph)
		spanmetrics__graph_flush(p->rt->spanmetrics);
	publish_linker_losses(p);
}

void pipeline__flush(struct pipeline *p)
{
	for (int e = 0; e < p->nexporters; e++)
		if (p->exporters[e].ops->flush)
			p->exporters[e].ops->flush(&p->exporters[e]);
}

void pipeline__free(struct pipeline *p)
{
	if (!p)
		return;
	for (int e = 0; e < p->nexporters; e++)
		p->exporters[e].ops->destroy(&p->exporters[e]);
	ring_buffer__free(p->rb);
	linker__free(p->linker);
	streamlink__free(p->streams);
	for (int i = 0; i < SONDE_PROTO__MAX; i++)
		if (decoder_registry[i] && decoder_registry[i]->state_free)
			decoder_registry[i]->state_free(p->decoder_state[i]);
	free(p);
}

const char *const user_loss_names[LOSS__MAX] = {
	[LOSS_DECODE] = "undecodable",
	[LOSS_UNKNOWN_PROC] = "unknown_process",
	[LOSS_SERVICE_TABLE_FULL] = "service_table_full",
	[LOSS_LINK_OVERFLOW] = "link_overflow",
	[LOSS_LINK_AMBIGUOUS] = "link_ambiguous",
};
