/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metric store: RED histograms per (kind, service, method, status,
 * route or peer), fed by spans, read by every metrics exporter (Prometheus
 * text, OTLP) so they all show the same numbers.
 * Thread-safe: the pipeline records, exporter threads read.
 *
 * Labels are chosen per instrument (attributes.select): optional labels
 * are kept in the series key only when some selection includes them, and
 * excluded labels are merged away when a reader collects the series
 * (metric_store__collect), so the default costs nothing extra.
 */
#ifndef SONDE_MODEL_METRICS_H
#define SONDE_MODEL_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "model/span.h"

#define DURATION_BOUNDS 15
/* Series per metric unless configured (metrics.max_series_per_metric). */
#define METRIC_SERIES_MAX_DEFAULT 10000
#define SIZE_BOUNDS 10

extern const double duration_bounds_s[DURATION_BOUNDS]; /* seconds */
extern const double size_bounds_bytes[SIZE_BOUNDS];

struct histogram {
	uint64_t count;
	double sum;
	uint64_t bucket[DURATION_BOUNDS + 1]; /* per bound, not cumulative; last is +Inf */
};

/*
 * A base-2 exponential histogram of values >= 0 (OTel data model):
 * bucket i holds the values in (2^(i/2^scale), 2^((i+1)/2^scale)], zero
 * has its own count. counts[k] is bucket offset + k, for k < len; at most
 * cap buckets, the scale is lowered when the values need more.
 */
struct exp_histogram {
	int32_t scale;
	int32_t offset;
	uint32_t len, cap;
	uint64_t count, zero_count;
	double sum, min, max;
	uint64_t counts[];
};

#define EXP_SCALE_MAX 20
#define EXP_SCALE_MIN (-10)

/** exp_histogram__new() - empty, at @max_scale, with room for @max_size buckets. */
struct exp_histogram *exp_histogram__new(int max_size, int max_scale);
struct exp_histogram *exp_histogram__copy(const struct exp_histogram *h);

/** exp_histogram__observe() - add @v (negative counts as zero). */
void exp_histogram__observe(struct exp_histogram *h, double v);

/** exp_histogram__merge() - add @src into @dst, lowering @dst's scale as needed. */
void exp_histogram__merge(struct exp_histogram *dst, const struct exp_histogram *src);

/** exp_index() - the bucket of @v > 0 at @scale (exact at powers of two). */
int32_t exp_index(double v, int scale);

/* The histograms of a series. */
enum series_histogram {
	HIST_DURATION = 0, /* seconds */
	HIST_REQ_BODY,	   /* bytes */
	HIST_RESP_BODY,	   /* bytes */
	HIST__MAX,
};

/* Labels a metric may carry, in their rendering order. */
enum metric_label {
	LABEL_METHOD = 0,	    /* http_request_method */
	LABEL_STATUS,		    /* http_response_status_code */
	LABEL_ROUTE,		    /* http_route (server) */
	LABEL_SERVER_ADDRESS,	    /* server_address (client) */
	LABEL_SERVER_PORT,	    /* server_port: called (client), local (server, optional) */
	LABEL_URL_SCHEME,	    /* url_scheme (optional) */
	LABEL_PROTOCOL_VERSION,	    /* network_protocol_version (optional) */
	LABEL_SERVICE_NAME,	    /* service_name (a resource attribute in OTLP) */
	LABEL_SERVICE_NAMESPACE,    /* service_namespace (likewise) */
	LABEL__MAX,
};

typedef uint32_t label_mask;

#define LABEL_BIT(l) ((label_mask)1 << (l))

struct metric_label_info {
	const char *prom;   /* http_route */
	const char *otel;   /* http.route */
	const char *legacy; /* http_target, or NULL: as prom */
	label_mask kinds;   /* LABEL_BIT-style bits of the span kinds it exists for */
};

extern const struct metric_label_info metric_labels[LABEL__MAX];

/* The instruments every exporter renders, named once. */
enum instrument {
	INSTR_SERVER_DURATION = 0,
	INSTR_SERVER_REQ_BODY,
	INSTR_SERVER_RESP_BODY,
	INSTR_CLIENT_DURATION,
	INSTR_CLIENT_REQ_BODY,
	INSTR_CLIENT_RESP_BODY,
	INSTR__MAX,
};

struct instrument_info {
	const char *otel;   /* http.server.request.duration */
	const char *prom;   /* http_server_request_duration_seconds */
	const char *legacy; /* http_server_duration_seconds, or NULL: not in legacy naming */
	enum span_kind kind;
	enum series_histogram hist;
};

extern const struct instrument_info instruments[INSTR__MAX];

/** default_labels() - the labels of @kind's metrics when nothing is selected. */
label_mask default_labels(enum span_kind kind);

/**
 * instrument_labels() - the labels of @instr under @sel: its defaults,
 * plus what a matching entry includes, minus what any matching entry
 * excludes (exclusion wins).
 */
label_mask instrument_labels(const struct attr_selects *sel, enum instrument instr);

/** metric_label_matches() - does a label (any of its names) match glob @pattern? */
bool metric_label_matches(enum metric_label l, const char *pattern);

/** instrument_matches() - does an instrument (any of its names) match glob @pattern? */
bool instrument_matches(enum instrument i, const char *pattern);

struct series_key {
	enum span_kind kind;
	const struct service *service;
	char method[SPAN_METHOD_MAX];
	int status;
	const char *route;	   /* interned by the service's route table; server only */
	char peer[SPAN_HOST_MAX];  /* client: server_address */
	uint16_t peer_port;	   /* client: server_port */
	uint16_t local_port;	   /* server: server_port, 0 unless selected */
	uint8_t http_minor;	   /* 1 + span.http_minor, 0 unless selected */
	uint8_t scheme;		   /* enum series_scheme, 0 unless selected */
};

enum series_scheme {
	SERIES_SCHEME_HTTP = 1,
	SERIES_SCHEME_HTTPS = 2, /* the span's bytes were TLS plaintext */
};

/* The url.scheme label of a series key. */
static inline const char *series_scheme_name(const struct series_key *k)
{
	return k->scheme == SERIES_SCHEME_HTTPS ? "https" : "http";
}

struct series {
	struct series_key key;
	struct histogram duration;  /* seconds */
	struct histogram req_body;  /* bytes */
	struct histogram resp_body; /* bytes */
	/* Only with exponential histograms on, else NULL; indexed by
	 * enum series_histogram. */
	struct exp_histogram *exp[HIST__MAX];
	struct series *next;
};

/** series_histogram() - the explicit histogram @h of @s. */
const struct histogram *series_histogram(const struct series *s, enum series_histogram h);

struct metric_store;

struct metric_store *metric_store__new(void);
void metric_store__free(struct metric_store *m);

/**
 * metric_store__configure() - keep the optional labels @cfg's selections
 * include. Call before the first span is recorded (exporters' init).
 */
void metric_store__configure(struct metric_store *m, const struct sonde_config *cfg);

/**
 * metric_store__enable_exponential() - record base-2 exponential
 * histograms too, of @max_size buckets from @max_scale. Before the first span.
 * Return: 0, or -EINVAL for sizes out of range (max_size >= 2, scale -10..20).
 */
int metric_store__enable_exponential(struct metric_store *m, int max_size, int max_scale);

/**
 * metric_store__key_labels() - the labels that tell @kind's series apart in
 * the store: the defaults and the optional labels it keeps. A reader whose
 * labels lack one of them must merge (metric_store__collect).
 */
label_mask metric_store__key_labels(struct metric_store *m, enum span_kind kind);

/** metric_store__record() - count one span. @route must outlive the store. */
void metric_store__record(struct metric_store *m, const struct span *s, const char *route);

/* The database client metric's store (model/dbmetrics.h), fed by
 * metric_store__record with the database spans. */
struct db_metrics *metric_store__db(struct metric_store *m);

/* The RPC metrics' store (model/rpcmetrics.h), fed by metric_store__record
 * with the RPC spans (which the HTTP metrics do not count). */
struct rpc_metrics *metric_store__rpc(struct metric_store *m);

/**
 * metric_store__foreach() - call @fn on every series, in creation order,
 * with the store locked: @fn must not call back into the store.
 */
void metric_store__foreach(struct metric_store *m, void (*fn)(const struct series *, void *),
			   void *arg);

/**
 * metric_store__collect() - a copy of the series of @kind (0: every kind),
 * those that agree on the labels of @keep merged into one (histograms
 * added), in creation order of their first member. Free with series__free_all.
 * Return: 0 with @out and @n set, or -ENOMEM.
 */
int metric_store__collect(struct metric_store *m, enum span_kind kind, label_mask keep,
			  struct series **out, size_t *n);

/**
 * series_merge() - the same as metric_store__collect, on an array of
 * series that the caller owns (@in is not changed).
 */
int series_merge(const struct series *in, size_t n_in, enum span_kind kind, label_mask keep,
		 struct series **out, size_t *n);

/** series__free_all() - free an array from metric_store__collect / series_merge. */
void series__free_all(struct series *v, size_t n);

uint64_t metric_store__spans(struct metric_store *m);

/*
 * The cardinality cap: each of a kind's metrics has one series per key in
 * the store, so the store holds at most max_series keys per span kind. An
 * observation that would need a further key is dropped from the metrics
 * (its span is still exported) and counted; methods outside the known set
 * are "_OTHER" in the key (model/http_method.h).
 */

/** metric_store__set_max_series() - the cap (also set by metric_store__configure). */
void metric_store__set_max_series(struct metric_store *m, size_t max);

/** metric_store__overflowed() - observations of @kind dropped by the cap. */
uint64_t metric_store__overflowed(struct metric_store *m, enum span_kind kind);

/** metric_store__series() - series of @kind in the store. */
size_t metric_store__series(struct metric_store *m, enum span_kind kind);

/** histogram_observe() - add @v to @h with bounds @bounds (@n of them). */
void histogram_observe(struct histogram *h, const double *bounds, int n, double v);

#endif /* SONDE_MODEL_METRICS_H */
