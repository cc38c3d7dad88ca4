// SPDX-License-Identifier: Apache-2.0
/*
 * The OTLP exporter: queue, sender threads, retries, counters. See otlp.h.
 *
 * Threads: export_span runs on the pipeline thread and only takes the
 * state lock to copy a span in; the traces thread takes batches out (by
 * size, or when the oldest has waited the schedule delay); the metrics
 * thread snapshots the metric store every interval. Both sleep on
 * condition variables, so shutdown wakes them at once, and abandon a
 * request in flight when the shutdown budget runs out.
 */
#include "export/otlp.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "discovery.h"
#include "export/otlp_encode.h"
#include "model/dbmetrics.h"
#include "model/rpcmetrics.h"
#include "export/printer.h"
#include "export/otlp_transport.h"
#include "model/metrics.h"
#include "model/netflow.h"
#include "model/self_metrics.h"
#include "runtime.h"
#include "util/log.h"

#define NS_PER_MS 1000000ull
#define BACKOFF_INITIAL_MS 500
#define BACKOFF_MAX_MS 5000
#define RETRY_MAX_ELAPSED_MS 60000 /* a batch is dropped after retrying this long */
#define SHUTDOWN_BUDGET_MS 1800	   /* destroy returns within about this (the brief's 2 s) */
#define SERVICES_MAX 4096

const char *const otlp_drop_reason_names[OTLP_DROP__MAX] = {
	[OTLP_DROP_QUEUE_FULL] = "queue_full",
	[OTLP_DROP_RETRIES_EXHAUSTED] = "retries_exhausted",
	[OTLP_DROP_REJECTED] = "rejected",
	[OTLP_DROP_SHUTDOWN] = "shutdown",
	[OTLP_DROP_ENCODE] = "encode_failed",
};

/* Process-wide, so the Prometheus endpoint can show them without a
 * handle on the exporter (one OTLP exporter runs at most). */
static atomic_uint_fast64_t dropped_total[OTLP_SIGNAL__MAX][OTLP_DROP__MAX];
static atomic_uint_fast64_t sent_total[OTLP_SIGNAL__MAX];
static atomic_uint_fast64_t failed_requests_total[OTLP_SIGNAL__MAX];

struct otlp_state;

struct sender {
	struct otlp_state *st;
	enum otlp_signal signal;
	struct otlp_endpoint ep;
	struct otlp_transport *transport;
	pthread_t thread;
	bool started;
	pthread_cond_t wake;
	_Atomic uint64_t give_up_ns; /* set at shutdown: abandon the request in flight */
	unsigned int failures;	     /* consecutive, for the log */
};

struct otlp_state {
	struct sonde_runtime *rt;
	struct otlp_resource_base base;
	struct otlp_sampler sampler;
	struct sender senders[OTLP_SIGNAL__MAX];
	uint64_t start_ns; /* wall clock: start of the cumulative metrics */
	bool exponential;  /* metrics as base-2 exponential histograms */

	pthread_mutex_t lock; /* everything below */
	bool stopping;
	uint64_t stop_deadline_ns; /* monotonic */
	struct otlp_span_item *queue;
	size_t cap, head, count;
	uint64_t oldest_ns; /* monotonic: when the oldest queued span arrived */
	size_t batch_size;
	uint64_t batch_delay_ns;
	/* A process of each service, for the metric resources. */
	struct otlp_proc_info *procs;
	size_t nprocs;

	const struct service *last_service; /* pipeline thread only */
};

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void drop(enum otlp_signal sig, enum otlp_drop_reason why, uint64_t n)
{
	if (n)
		atomic_fetch_add(&dropped_total[sig][why], n);
}

uint64_t otlp__dropped(enum otlp_signal signal, enum otlp_drop_reason reason)
{
	return atomic_load(&dropped_total[signal][reason]);
}

uint64_t otlp__sent(enum otlp_signal signal)
{
	return atomic_load(&sent_total[signal]);
}

uint64_t otlp__failed_requests(enum otlp_signal signal)
{
	return atomic_load(&failed_requests_total[signal]);
}

/* Wait on @sd's condition variable until @until (monotonic) or shutdown.
 * Called and returns with the state lock held. */
static void wait_until(struct sender *sd, uint64_t until)
{
	struct otlp_state *st = sd->st;
	struct timespec ts = { .tv_sec = until / 1000000000ull, .tv_nsec = until % 1000000000ull };

	pthread_cond_timedwait(&sd->wake, &st->lock, &ts);
}

static bool stopping(struct otlp_state *st, uint64_t *deadline)
{
	bool s;

	pthread_mutex_lock(&st->lock);
	s = st->stopping;
	*deadline = st->stop_deadline_ns;
	pthread_mutex_unlock(&st->lock);
	return s;
}

/*
 * Send one encoded request of @items spans or points, retrying what may
 * succeed later with exponential backoff (or the server's Retry-After)
 * until it is sent, refused, or @give_up_at (monotonic) would pass.
 */
static void send_with_retry(struct sender *sd, const struct otlp_buf *body, uint64_t items,
			    uint64_t give_up_at)
{
	struct otlp_state *st = sd->st;
	const char *name = otlp_signal_names[sd->signal];
	uint64_t backoff_ms = BACKOFF_INITIAL_MS;
	struct otlp_response resp;

	for (;;) {
		uint64_t timeout_ms = sd->ep.timeout_ms, stop_deadline, now, wait_ms;
		bool final = stopping(st, &stop_deadline);

		now = now_ns(CLOCK_MONOTONIC);
		if (final) {
			if (now >= stop_deadline) {
				drop(sd->signal, OTLP_DROP_SHUTDOWN, items);
				return;
			}
			if (timeout_ms > (stop_deadline - now) / NS_PER_MS)
				timeout_ms = (stop_deadline - now) / NS_PER_MS + 1;
		}
		otlp_transport__send(sd->transport, body->data, body->len, timeout_ms, &sd->give_up_ns,
				     &resp);
		if (resp.result == OTLP_SENT) {
			uint64_t rejected = resp.rejected > 0 ? (uint64_t)resp.rejected : 0;

			if (rejected > items)
				rejected = items;
			atomic_fetch_add(&sent_total[sd->signal], items - rejected);
			drop(sd->signal, OTLP_DROP_REJECTED, rejected);
			if (rejected)
				log_warn("OTLP %s: the collector rejected %" PRIu64 " of %" PRIu64 ": %s",
					 name, rejected, items, resp.message);
			if (sd->failures)
				log_info("OTLP %s: export to %s works again after %u failed request(s)",
					 name, sd->ep.url, sd->failures);
			sd->failures = 0;
			return;
		}
		atomic_fetch_add(&failed_requests_total[sd->signal], 1);
		if (!sd->failures++)
			log_warn("OTLP %s: export to %s failed: %s%s (dropped data is counted in "
				 "sonde_export_dropped_total)",
				 name, sd->ep.url, resp.message,
				 resp.result == OTLP_RETRYABLE && !final ? "; retrying" : "");
		else
			log_debug("OTLP %s: export failed again (%u): %s", name, sd->failures,
				  resp.message);
		if (resp.result == OTLP_FAILED) {
			drop(sd->signal, OTLP_DROP_REJECTED, items);
			return;
		}
		if (final) {
			drop(sd->signal, OTLP_DROP_SHUTDOWN, items);
			return;
		}
		wait_ms = resp.retry_after_ms >= 0 ? (uint64_t)resp.retry_after_ms : backoff_ms;
		/* Up to a quarter less, so agents restarted together spread out. */
		wait_ms -= wait_ms / 4 * (uint64_t)(rand() % 100) / 100;
		backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
		now = now_ns(CLOCK_MONOTONIC);
		if (now + wait_ms * NS_PER_MS > give_up_at) {
			drop(sd->signal, OTLP_DROP_RETRIES_EXHAUSTED, items);
			return;
		}
		pthread_mutex_lock(&st->lock);
		while (!st->stopping && now_ns(CLOCK_MONOTONIC) < now + wait_ms * NS_PER_MS)
			wait_until(sd, now + wait_ms * NS_PER_MS);
		pthread_mutex_unlock(&st->lock);
	}
}

/* ---- traces ---- */

static void send_spans(struct sender *sd, const struct otlp_span_item *batch, size_t n)
{
	struct otlp_buf body;
	uint64_t now = now_ns(CLOCK_MONOTONIC);

	if (otlp_encode_traces(&sd->st->base, batch, n, &body)) {
		drop(OTLP_TRACES, OTLP_DROP_ENCODE, n);
		return;
	}
	send_with_retry(sd, &body, n, now + RETRY_MAX_ELAPSED_MS * NS_PER_MS);
	otlp_buf__free(&body);
}

static void *traces_main(void *arg)
{
	struct sender *sd = arg;
	struct otlp_state *st = sd->st;
	struct otlp_span_item *batch = malloc(st->batch_size * sizeof(*batch));

	pthread_mutex_lock(&st->lock);
	for (;;) {
		size_t n = 0;

		for (;;) {
			uint64_t now = now_ns(CLOCK_MONOTONIC);

			if (st->stopping || st->count >= st->batch_size ||
			    (st->count && now >= st->oldest_ns + st->batch_delay_ns))
				break;
			/* Nothing due: sleep until the oldest span's delay ends. */
			wait_until(sd, st->count ? st->oldest_ns + st->batch_delay_ns
						 : now + 1000 * NS_PER_MS);
		}
		if (st->stopping && (!st->count || now_ns(CLOCK_MONOTONIC) >= st->stop_deadline_ns))
			break;
		while (batch && n < st->batch_size && st->count) {
			batch[n++] = st->queue[st->head];
			st->head = (st->head + 1) % st->cap;
			st->count--;
		}
		pthread_mutex_unlock(&st->lock);
		if (n)
			send_spans(sd, batch, n);
		else
			drop(OTLP_TRACES, OTLP_DROP_ENCODE, 1); /* no batch memory: shed one */
		pthread_mutex_lock(&st->lock);
		if (!batch && st->count) {
			st->head = (st->head + 1) % st->cap;
			st->count--;
		}
	}
	drop(OTLP_TRACES, OTLP_DROP_SHUTDOWN, st->count);
	st->count = 0;
	pthread_mutex_unlock(&st->lock);
	free(batch);
	return NULL;
}

/* ---- metrics ---- */

/* A copy of the processes' resources, for every metrics export. */
static struct otlp_proc_info *procs_copy(struct otlp_state *st, size_t *nprocs)
{
	struct otlp_proc_info *procs = NULL;

	*nprocs = 0;
	pthread_mutex_lock(&st->lock);
	if (st->nprocs) {
		procs = malloc(st->nprocs * sizeof(*procs));
		if (procs) {
			memcpy(procs, st->procs, st->nprocs * sizeof(*procs));
			*nprocs = st->nprocs;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return procs;
}

/*
 * The store's series as each instrument shows them: collected (copied,
 * merged where a selection drops a label) once per distinct (kind,
 * labels), so the default costs one copy per span kind.
 */
static void export_metrics(struct sender *sd, uint64_t give_up_at)
{
	struct otlp_state *st = sd->st;
	struct otlp_metric_set set = { .exponential = st->exponential };
	struct series *owned[INSTR__MAX] = { 0 };
	struct otlp_proc_info *procs = NULL;
	struct self_sample *self = NULL;
	size_t nprocs = 0, points = 0, total = 0;
	struct otlp_buf body;
	bool failed = false;

	for (int f = 0; f < INSTR__MAX && !failed && st->rt->metrics; f++) {
		enum span_kind kind = instruments[f].kind;
		/* Resources are per service: never merge two services. */
		label_mask keep = instrument_labels(&st->rt->cfg->attr_selects, f) |
				  LABEL_BIT(LABEL_SERVICE_NAME) | LABEL_BIT(LABEL_SERVICE_NAMESPACE);
		int same = -1;

		for (int g = 0; g < f && same < 0; g++)
			if (instruments[g].kind == kind && set.labels[g] == keep)
				same = g;
		set.labels[f] = keep;
		if (same >= 0) {
			set.series[f] = set.series[same];
			set.n[f] = set.n[same];
			continue;
		}
		failed = metric_store__collect(st->rt->metrics, kind, keep, &owned[f], &set.n[f]) != 0;
		set.series[f] = owned[f];
		total += set.n[f];
	}
	procs = procs_copy(st, &nprocs);
	/* Sonde's own metrics, from the registry the Prometheus endpoint
	 * walks too; none is no reason to hold back the RED metrics. */
	if (!failed && self_metrics__collect(st->rt, &self, &set.nself))
		set.nself = 0;
	set.self = self;
	total += set.nself;
	if (failed) {
		drop(OTLP_METRICS, OTLP_DROP_ENCODE, total);
	} else if (total) {
		if (otlp_encode_metric_set(&st->base, &set, procs, nprocs, st->start_ns,
					   now_ns(CLOCK_REALTIME), &body, &points)) {
			drop(OTLP_METRICS, OTLP_DROP_ENCODE, (total - set.nself) * 3 + set.nself);
		} else {
			send_with_retry(sd, &body, points, give_up_at);
			otlp_buf__free(&body);
		}
	}
	for (int f = 0; f < INSTR__MAX; f++)
		series__free_all(owned[f], set.n[f]);
	free(procs);
	free(self);
}

/* The database client metric (model/dbmetrics.h) and the RPC metrics
 * (model/rpcmetrics.h), with the RED metrics. */
static void export_dbmetrics(struct sender *sd, uint64_t give_up_at)
{
	struct otlp_state *st = sd->st;
	struct otlp_proc_info *procs;
	struct db_series *v = NULL;
	struct rpc_series *r = NULL;
	size_t n = 0, nr = 0, nprocs = 0, points;
	struct otlp_buf body;

	if (!st->rt->metrics)
		return;
	if (db_metrics__series(metric_store__db(st->rt->metrics), &v, &n) ||
	    rpc_metrics__series(metric_store__rpc(st->rt->metrics), &r, &nr)) {
		drop(OTLP_METRICS, OTLP_DROP_ENCODE, 1);
		free(v);
		return;
	}
	procs = n || nr ? procs_copy(st, &nprocs) : NULL;
	if (n && otlp_encode_dbmetrics(&st->base, v, n, procs, nprocs, st->start_ns,
				       now_ns(CLOCK_REALTIME), &body, &points)) {
		drop(OTLP_METRICS, OTLP_DROP_ENCODE, n);
	} else if (n) {
		send_with_retry(sd, &body, points, give_up_at);
		otlp_buf__free(&body);
	}
	if (nr && otlp_encode_rpcmetrics(&st->base, r, nr, procs, nprocs, st->start_ns,
					 now_ns(CLOCK_REALTIME), &body, &points)) {
		drop(OTLP_METRICS, OTLP_DROP_ENCODE, nr);
	} else if (nr) {
		send_with_retry(sd, &body, points, give_up_at);
		otlp_buf__free(&body);
	}
	free(procs);
	free(v);
	free(r);
}

/* Span metrics and the service graph, when the features list asks. */
static void export_spanmetrics(struct sender *sd, uint64_t give_up_at)
{
	struct otlp_state *st = sd->st;
	unsigned int features = st->rt->cfg->otlp_feature_mask;
	bool span = features & FEATURE_BIT(FEATURE_SPAN);
	bool graph = features & FEATURE_BIT(FEATURE_SERVICE_GRAPH);
	struct sm_series *sm = NULL;
	struct sg_edge *edges = NULL;
	size_t nsm = 0, nedges = 0, points;
	struct otlp_buf body;

	if (!st->rt->spanmetrics || !(span || graph))
		return;
	if ((span && spanmetrics__series(st->rt->spanmetrics, &sm, &nsm)) ||
	    (graph && spanmetrics__edges(st->rt->spanmetrics, &edges, &nedges))) {
		drop(OTLP_METRICS, OTLP_DROP_ENCODE, nsm + nedges);
	} else if (nsm || nedges) {
		if (otlp_encode_spanmetrics(&st->base, sm, nsm, edges, nedges, span, graph,
					    st->start_ns, now_ns(CLOCK_REALTIME), &body, &points)) {
			drop(OTLP_METRICS, OTLP_DROP_ENCODE, nsm * 3 + nedges * 4);
		} else {
			send_with_retry(sd, &body, points, give_up_at);
			otlp_buf__free(&body);
		}
	}
	free(sm);
	free(edges);
}

/* Network flow bytes, when the features list asks. */
static void export_netflow(struct sender *sd, uint64_t give_up_at)
{
	struct otlp_state *st = sd->st;
	struct netflow_series *v = NULL;
	unsigned int keep = netflow_label_mask(&st->rt->cfg->attr_selects);
	size_t n = 0, points;
	struct otlp_buf body;

	if (!st->rt->netflow || !(st->rt->cfg->otlp_feature_mask & FEATURE_BIT(FEATURE_NETWORK)))
		return;
	if (netflow_store__collect(st->rt->netflow, keep, &v, &n)) {
		drop(OTLP_METRICS, OTLP_DROP_ENCODE, 1);
		return;
	}
	if (n) {
		if (otlp_encode_netflow(&st->base, v, n, keep, st->start_ns, now_ns(CLOCK_REALTIME),
					&body, &points)) {
			drop(OTLP_METRICS, OTLP_DROP_ENCODE, n);
		} else {
			send_with_retry(sd, &body, points, give_up_at);
			otlp_buf__free(&body);
		}
	}
	free(v);
}

static void *metrics_main(void *arg)
{
	struct sender *sd = arg;
	struct otlp_state *st = sd->st;
	uint64_t interval = st->rt->cfg->otlp_metrics_interval_ms * NS_PER_MS;
	uint64_t next;

	if (interval < 100 * NS_PER_MS)
		interval = 100 * NS_PER_MS;
	next = now_ns(CLOCK_MONOTONIC) + interval;
	pthread_mutex_lock(&st->lock);
	for (;;) {
		bool final;

		while (!st->stopping && now_ns(CLOCK_MONOTONIC) < next)
			wait_until(sd, next);
		final = st->stopping;
		pthread_mutex_unlock(&st->lock);
		/* Cumulative data: a snapshot that cannot go out before the next
		 * one is superseded by it. At shutdown, the last one is sent. */
		if (!st->rt->cfg->otlp_no_application) {
			export_metrics(sd, final ? UINT64_MAX : next + interval);
			export_dbmetrics(sd, final ? UINT64_MAX : next + interval);
		}
		export_spanmetrics(sd, final ? UINT64_MAX : next + interval);
		export_netflow(sd, final ? UINT64_MAX : next + interval);
		pthread_mutex_lock(&st->lock);
		if (final)
			break;
		next += interval;
		if (next <= now_ns(CLOCK_MONOTONIC))
			next = now_ns(CLOCK_MONOTONIC) + interval;
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

/* ---- the pipeline's side ---- */

static void fill_proc(struct otlp_proc_info *out, const struct span *s, const struct proc_info *p)
{
	out->service = s->service;
	out->pid = s->pid;
	snprintf(out->exe, sizeof(out->exe), "%s", p ? p->exe : "");
	snprintf(out->runtime, sizeof(out->runtime), "%s", p ? p->runtime : "");
}

/* Remember a process of each service the first time it is seen. */
static void note_service(struct otlp_state *st, const struct span *s, const struct proc_info *p)
{
	bool known = false;

	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < st->nprocs && !known; i++)
		known = st->procs[i].service == s->service;
	if (!known && st->nprocs < SERVICES_MAX) {
		struct otlp_proc_info *grown = realloc(st->procs, (st->nprocs + 1) * sizeof(*grown));

		if (grown) {
			st->procs = grown;
			fill_proc(&st->procs[st->nprocs++], s, p);
		}
	}
	pthread_mutex_unlock(&st->lock);
}

static enum exporter_status otlp_export(struct exporter *e, const struct span *s)
{
	struct otlp_state *st = e->state;
	bool traces = st->senders[OTLP_TRACES].started;
	bool new_service = st->senders[OTLP_METRICS].started && s->service != st->last_service;
	bool sampled = traces && otlp_sampler__sample(&st->sampler, s);
	const struct proc_info *proc = NULL;
	enum exporter_status rc = EXPORT_OK;

	if (!sampled && !new_service)
		return EXPORT_OK;
	if (st->rt->discovery)
		proc = discovery__lookup(st->rt->discovery, s->pid);
	if (new_service) {
		note_service(st, s, proc);
		st->last_service = s->service;
	}
	if (!sampled)
		return EXPORT_OK;
	pthread_mutex_lock(&st->lock);
	if (st->count == st->cap) {
		rc = EXPORT_ERROR;
	} else {
		struct otlp_span_item *item = &st->queue[(st->head + st->count) % st->cap];

		item->span = *s;
		fill_proc(&item->proc, s, proc);
		if (st->count++ == 0)
			st->oldest_ns = now_ns(CLOCK_MONOTONIC);
		/* Wake the thread when its deadline changes: the first span
		 * starts the schedule delay, a full batch ends it. */
		if (st->count == 1 || st->count == st->batch_size)
			pthread_cond_signal(&st->senders[OTLP_TRACES].wake);
	}
	pthread_mutex_unlock(&st->lock);
	if (rc)
		drop(OTLP_TRACES, OTLP_DROP_QUEUE_FULL, 1);
	return rc;
}

/* ---- life cycle ---- */

static bool otlp_enabled(const struct sonde_config *cfg)
{
	return (cfg->otlp_endpoint && *cfg->otlp_endpoint) ||
	       (cfg->otlp_traces_endpoint && *cfg->otlp_traces_endpoint) ||
	       (cfg->otlp_metrics_endpoint && *cfg->otlp_metrics_endpoint);
}

static const char *protocol_name(enum otlp_protocol p)
{
	return p == OTLP_PROTOCOL_GRPC ? "grpc" : "http/protobuf";
}

static void otlp_destroy(struct exporter *e);

static int start_sender(struct otlp_state *st, enum otlp_signal sig)
{
	struct sender *sd = &st->senders[sig];
	int err;

	if (!sd->ep.enabled)
		return 0;
	sd->transport = otlp_transport__new(&sd->ep);
	if (!sd->transport)
		return -ENOMEM;
	err = pthread_create(&sd->thread, NULL, sig == OTLP_TRACES ? traces_main : metrics_main, sd);
	if (err)
		return -err;
	sd->started = true;
	log_info("OTLP %s: %s to %s%s", otlp_signal_names[sig], protocol_name(sd->ep.protocol),
		 sd->ep.url, sd->ep.gzip ? " (gzip)" : "");
	return 0;
}

static int otlp_init(struct exporter *e, const struct sonde_config *cfg, struct sonde_runtime *rt)
{
	struct otlp_state *st;
	char err[256];
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		log_error("OTLP: libcurl failed to initialise");
		return -ENOMEM;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	e->state = st;
	st->rt = rt;
	pthread_mutex_init(&st->lock, NULL);
	for (int sig = 0; sig < OTLP_SIGNAL__MAX; sig++) {
		struct sender *sd = &st->senders[sig];
		pthread_condattr_t attr;

		/* Timed waits on the monotonic clock: wall-clock steps do not
		 * stretch or skip them. */
		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&sd->wake, &attr);
		pthread_condattr_destroy(&attr);
		sd->st = st;
		sd->signal = sig;
		rc = otlp_endpoint__resolve(cfg, sig, &sd->ep, err, sizeof(err));
		if (rc) {
			log_error("OTLP %s endpoint: %s", otlp_signal_names[sig], err);
			goto fail;
		}
		if (sd->ep.note[0])
			log_info("OTLP %s: %s", otlp_signal_names[sig], sd->ep.note);
		if (!sd->ep.enabled)
			log_info("OTLP %s: off", otlp_signal_names[sig]);
	}
	if (gethostname(st->base.host_name, sizeof(st->base.host_name) - 1))
		snprintf(st->base.host_name, sizeof(st->base.host_name), "localhost");
	otlp_pairs__parse(&st->base.attributes, cfg->otlp_resource_attributes,
			  "OTEL_RESOURCE_ATTRIBUTES");
	st->base.service_name_configured = cfg->service_name && *cfg->service_name;
	st->base.span_conv = cfg->otlp_span_conv;
	st->base.metric_conv = cfg->otlp_metric_conv;
	otlp_sampler__init(&st->sampler, cfg->otlp_sampler, cfg->otlp_sampler_arg);
	st->cap = cfg->otlp_queue_size > 0 ? (size_t)cfg->otlp_queue_size : 1;
	st->batch_size = cfg->otlp_batch_size > 0 ? (size_t)cfg->otlp_batch_size : 1;
	if (st->batch_size > st->cap)
		st->batch_size = st->cap;
	st->batch_delay_ns = cfg->otlp_batch_delay_ms * NS_PER_MS;
	st->start_ns = now_ns(CLOCK_REALTIME);
	if (rt->metrics) {
		metric_store__configure(rt->metrics, cfg);
		/* Recorded only when they will be sent: no cost otherwise. */
		if (st->senders[OTLP_METRICS].ep.enabled &&
		    cfg->otlp_histogram_aggregation == HISTOGRAM_EXPONENTIAL) {
			if (metric_store__enable_exponential(rt->metrics, cfg->otlp_exp_max_size,
							     cfg->otlp_exp_max_scale)) {
				log_error("OTLP metrics: exponential histograms need "
					  "exponential_max_size >= 2 and exponential_max_scale <= %d "
					  "(got %d and %d)",
					  EXP_SCALE_MAX, cfg->otlp_exp_max_size, cfg->otlp_exp_max_scale);
				rc = -EINVAL;
				goto fail;
			}
			st->exponential = true;
		}
	}
	if (st->senders[OTLP_TRACES].ep.enabled) {
		st->queue = calloc(st->cap, sizeof(*st->queue));
		if (!st->queue) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	for (int sig = 0; sig < OTLP_SIGNAL__MAX; sig++) {
		rc = start_sender(st, sig);
		if (rc) {
			log_error("OTLP %s: cannot start the exporter thread: %s",
				  otlp_signal_names[sig], strerror(-rc));
			goto fail;
		}
	}
	return 0;
fail:
	otlp_destroy(e);
	e->state = NULL;
	return rc;
}

static void otlp_destroy(struct exporter *e)
{
	struct otlp_state *st = e->state;
	uint64_t deadline;

	if (!st)
		return;
	/* Wake both threads with a shared deadline: they flush what they
	 * hold and give up on the rest when it passes. */
	deadline = now_ns(CLOCK_MONOTONIC) + SHUTDOWN_BUDGET_MS * NS_PER_MS;
	pthread_mutex_lock(&st->lock);
	st->stopping = true;
	st->stop_deadline_ns = deadline;
	for (int sig = 0; sig < OTLP_SIGNAL__MAX; sig++) {
		atomic_store(&st->senders[sig].give_up_ns, deadline);
		if (st->senders[sig].started)
			pthread_cond_broadcast(&st->senders[sig].wake);
	}
	pthread_mutex_unlock(&st->lock);
	for (int sig = 0; sig < OTLP_SIGNAL__MAX; sig++) {
		struct sender *sd = &st->senders[sig];

		if (sd->started)
			pthread_join(sd->thread, NULL);
		otlp_transport__free(sd->transport);
		otlp_endpoint__free(&sd->ep);
		pthread_cond_destroy(&sd->wake);
	}
	otlp_pairs__free(&st->base.attributes);
	pthread_mutex_destroy(&st->lock);
	free(st->queue);
	free(st->procs);
	free(st);
	e->state = NULL;
	curl_global_cleanup();
}

const struct exporter_ops otlp_exporter = {
	.name = "otlp",
	.enabled = otlp_enabled,
	.init = otlp_init,
	.export_span = otlp_export,
	.flush = NULL, /* the threads batch by size and time themselves */
	.destroy = otlp_destroy,
};
