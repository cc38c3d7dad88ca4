/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration, declared once. Every option is one row of a table
 * (config.c: config_options[]) giving its YAML key path, type, default,
 * environment variable names and description; that table drives env
 * parsing, `--help`, `--help-markdown` (the README's reference table) and
 * the YAML file parser, so they cannot disagree.
 */
#ifndef SONDE_CONFIG_H
#define SONDE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PORT_RANGES_MAX 32
#define PID_LIST_MAX 64

struct port_ranges {
	unsigned int count;
	struct {
		uint16_t lo, hi;
	} range[PORT_RANGES_MAX];
};

struct pid_list {
	unsigned int count;
	uint32_t pid[PID_LIST_MAX];
};

/* One way of choosing processes: a process matches when it satisfies every
 * criterion the selector sets. From the environment (one selector) or from
 * the file's discovery.services / instrument / exclude_instrument lists. */
struct selector {
	char *name;	  /* service name for what it selects; NULL: derived */
	char *namespace_; /* NULL: none */
	struct port_ranges ports;
	char *exe_regex;
	char *exe_glob;
	struct pid_list pids;
	bool exclude; /* exclude_instrument: never trace what this matches */
};

#define SELECTORS_MAX 64

struct selectors {
	unsigned int count;
	struct selector v[SELECTORS_MAX];
};

enum route_unmatched {
	UNMATCHED_HEURISTIC = 0, /* ids become '*' (model/route.h) */
	UNMATCHED_PATH,		 /* the path as is (still capped) */
	UNMATCHED_WILDCARD,	 /* everything unmatched is one route, ROUTE_OVERFLOW */
};

enum ignore_mode {
	IGNORE_ALL = 0, /* ignored routes give neither spans nor metrics */
	IGNORE_TRACES,	/* no spans, still metrics */
	IGNORE_METRICS, /* no metrics, still spans */
};

#define ROUTE_PATTERNS_MAX 128

struct route_patterns {
	unsigned int count;
	char *v[ROUTE_PATTERNS_MAX];
};

enum trace_printer {
	PRINTER_UNSET = 0, /* not configured: decided at start (see config__finish) */
	PRINTER_DISABLED,
	PRINTER_TEXT,
	PRINTER_JSON,
};

enum metrics_naming {
	NAMING_OTEL = 0, /* http_server_request_duration_seconds, ... */
	NAMING_LEGACY,	 /* http_server_duration_seconds, ... (Beyla's first names) */
};

/* otel_metrics_export.histogram_aggregation, named as the OTel SDK names them. */
enum histogram_aggregation {
	HISTOGRAM_EXPLICIT = 0, /* explicit_bucket_histogram: the fixed bounds of model/metrics.h */
	HISTOGRAM_EXPONENTIAL,	/* base2_exponential_bucket_histogram */
};

/* attributes.select: per metric (name or glob), labels added or dropped.
 * Fixed-size so the configuration owns no memory for it. */
#define ATTR_SELECT_MAX 16
#define ATTR_NAMES_MAX 16
#define ATTR_NAME_LEN 64

struct attr_select {
	char metric[ATTR_NAME_LEN];
	unsigned int n_include, n_exclude;
	char include[ATTR_NAMES_MAX][ATTR_NAME_LEN];
	char exclude[ATTR_NAMES_MAX][ATTR_NAME_LEN];
};

struct attr_selects {
	unsigned int count;
	struct attr_select v[ATTR_SELECT_MAX];
};

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

struct sonde_config {
	/* discovery */
	struct port_ranges open_ports;
	char *exe_regex;	/* POSIX extended regex on the executable path */
	char *exe_glob;		/* glob on the executable path */
	struct pid_list target_pids;
	char *service_name;
	char *service_namespace;
	uint64_t discovery_interval_ms;
	struct selectors selectors; /* resolved by config__finish */

	/* routes */
	struct route_patterns route_patterns;	/* "/users/{id}", "/users/:id" */
	struct route_patterns ignored_patterns; /* "/health", "/static/" + star */
	int route_unmatched;			/* enum route_unmatched */
	int ignore_mode;			/* enum ignore_mode */
	uint64_t link_wait_ms;			/* how long a span waits for its parent */

	/* outputs */
	int trace_printer; /* enum trace_printer */
	bool print_traces; /* seed-era PRINT_TRACES=true, same as printer text */
	int prometheus_port;
	char *prometheus_path;
	char *prometheus_address;    /* NULL: every address, dual stack */
	char *prometheus_web_config; /* exporter-toolkit web.config.file (TLS, basic auth) */
	int prometheus_max_conns;
	int prometheus_max_conns_per_ip;
	uint64_t prometheus_conn_timeout_ms;
	int metrics_naming; /* enum metrics_naming */
	int route_cap;
	int max_series; /* per metric; more are dropped and counted */

	/* agent */
	int log_level;	     /* enum log_level */
	uint64_t wakeup_bytes; /* ring buffer bytes that wake the reader */
	uint64_t poll_ms;      /* reader poll period when not woken */
	bool tls;	       /* OpenSSL uprobes on traced processes (probes_tls.c) */
	int nice;	       /* niceness of every thread (SCHED_BATCH above 0) */

	/* OTLP (export/otlp_config.h resolves these; its enums name the ints) */
	char *otlp_endpoint;	    /* base: HTTP gets /v1/traces, /v1/metrics appended */
	char *otlp_traces_endpoint; /* per signal: used as given */
	char *otlp_metrics_endpoint;
	int otlp_protocol; /* enum otlp_protocol; unset: inferred from the port */
	int otlp_traces_protocol;
	int otlp_metrics_protocol;
	char *otlp_headers; /* "k=v,k2=v2", values URL-encoded */
	char *otlp_traces_headers;
	char *otlp_metrics_headers;
	uint64_t otlp_timeout_ms;
	uint64_t otlp_traces_timeout_ms; /* 0: otlp_timeout_ms */
	uint64_t otlp_metrics_timeout_ms;
	int otlp_compression; /* enum otlp_compression */
	int otlp_traces_compression;
	int otlp_metrics_compression;
	char *otlp_certificate; /* CA bundle (PEM) for https */
	char *otlp_traces_certificate;
	char *otlp_metrics_certificate;
	char *otlp_client_certificate; /* our certificate (PEM) for mutual TLS */
	char *otlp_traces_client_certificate;
	char *otlp_metrics_client_certificate;
	char *otlp_client_key; /* its private key (PEM) */
	char *otlp_traces_client_key;
	char *otlp_metrics_client_key;
	bool otlp_insecure;	     /* endpoint without a scheme: http://, not https:// */
	char *otlp_traces_exporter;  /* OTEL_TRACES_EXPORTER: "none" turns OTLP traces off */
	char *otlp_metrics_exporter; /* OTEL_METRICS_EXPORTER: likewise */
	uint64_t otlp_metrics_interval_ms;
	char *otlp_resource_attributes; /* OTEL_RESOURCE_ATTRIBUTES */
	int otlp_sampler;		/* enum otlp_sampler */
	char *otlp_sampler_arg;
	int otlp_queue_size; /* spans waiting for the exporter thread */
	int otlp_batch_size; /* spans per request */
	uint64_t otlp_batch_delay_ms;
	int otlp_histogram_aggregation; /* enum histogram_aggregation */
	int otlp_exp_max_size;		/* buckets of an exponential histogram */
	int otlp_exp_max_scale;		/* its starting (finest) scale */

	/* metric labels (config_file.c: attributes.select) */
	struct attr_selects attr_selects;

	/* Metric families per exporter (Beyla's features lists) and the
	 * switches that add to both; resolved into masks by config__finish. */
	struct route_patterns prom_features;
	struct route_patterns otlp_features;
	/* OTEL_SEMCONV_STABILITY_OPT_IN, as the OTel SDKs read it, and what it
	 * and the naming make of the HTTP conventions sent over OTLP. */
	struct route_patterns semconv_opt_in;
	unsigned int otlp_span_conv;   /* HTTP_CONV_* bits: span attributes */
	unsigned int otlp_metric_conv; /* HTTP_CONV_* bits: metric names and attributes */
	bool span_metrics;	    /* SONDE_SPAN_METRICS: application_span everywhere */
	bool db_query_text;	    /* SONDE_DB_QUERY_TEXT: db.query.text on database spans */
	bool service_graph_metrics; /* SONDE_SERVICE_GRAPH_METRICS: application_service_graph */
	unsigned int prom_feature_mask; /* FEATURE_BIT(enum metric_feature) */
	unsigned int otlp_feature_mask;
	/* A features list without "application": no RED histograms there. A
	 * negation, so that a zeroed configuration keeps them. */
	bool prom_no_application;
	bool otlp_no_application;

	/* network flow metrics (netflow_probe.c, model/netflow.h) */
	bool network_enable;		    /* network.enable: the network feature everywhere */
	struct route_patterns network_cidrs; /* network.cidrs */
	struct route_patterns network_protocols;	 /* network.protocols */
	struct route_patterns network_exclude_protocols; /* network.exclude_protocols */
	bool network_tcp; /* from those two lists: TCP flows are counted */
	bool network_udp; /* UDP flows are counted (per packet: cgroup_skb) */

	/* live view (export/ui.c) */
	int ui_port; /* 0: off */
	char *ui_address;
	int ui_max_traces;
};

/* Generations of the HTTP semantic conventions sent over OTLP: the stable
 * one (http.request.method, http.server.request.duration) and the one
 * before it (http.method, http.server.duration), which the seeds' queries
 * know. */
#define HTTP_CONV_STABLE 1u
#define HTTP_CONV_OLD 2u

/**
 * config__http_conventions() - which generations to send: spans carry the
 * stable attributes, and the old ones beside them in legacy naming or with
 * "http/dup"; metrics carry the stable names, or the old ones alone in
 * legacy naming, or both with "http/dup". "http" (stable only) wins over
 * legacy naming, as in the SDKs.
 */
void config__http_conventions(int naming, const struct route_patterns *opt_in,
			      unsigned int *span_conv, unsigned int *metric_conv);

/* The metric families an exporter may carry (prometheus_export.features,
 * otel_metrics_export.features). */
enum metric_feature {
	FEATURE_APPLICATION = 0,   /* "application": the RED histograms */
	FEATURE_SPAN,		   /* "application_span": traces_spanmetrics_* */
	FEATURE_SERVICE_GRAPH,	   /* "application_service_graph": traces_service_graph_* */
	FEATURE_NETWORK,	   /* "network": sonde_network_flow_bytes_total */
	FEATURE__MAX,
};

#define FEATURE_BIT(f) (1u << (f))

extern const char *const metric_feature_names[FEATURE__MAX];

/**
 * config__features() - parse a features list into FEATURE_BIT()s.
 * Return: 0, or -EINVAL with @err filled (unknown name, or
 * "network_inter_zone", which Sonde does not support yet).
 */
int config__features(const struct route_patterns *list, unsigned int *mask, char *err,
		     size_t err_size);

enum config_type {
	CONFIG_BOOL,
	CONFIG_INT,
	CONFIG_PORT, /* 0..65535, 0 = off */
	CONFIG_PORTS,
	CONFIG_PIDS,
	CONFIG_STRING,
	CONFIG_REGEX,
	CONFIG_ENUM,
	CONFIG_DURATION, /* "500ms", "2s", "1m"; a bare number is milliseconds */
	CONFIG_SIZE,	 /* "64K", "1M" or bytes */
	CONFIG_LIST,	 /* comma-separated in the environment, a sequence in YAML */
};

#define CONFIG_ENV_MAX 5

struct config_option {
	const char *key; /* YAML key path, dotted */
	enum config_type type;
	const char *def; /* default, as text; NULL for none */
	const char *env[CONFIG_ENV_MAX]; /* first is Sonde's own; NULL-terminated */
	size_t offset;			 /* in struct sonde_config */
	const char *const *choices;	 /* CONFIG_ENUM: names, index = value */
	const char *help;
};

extern const struct config_option config_options[];
extern const size_t config_options_count;

/**
 * config__defaults() - fill @cfg with every option's default.
 */
void config__defaults(struct sonde_config *cfg);

/**
 * config__set() - parse @value for option @opt into @cfg.
 * @err: receives a one-line reason on failure
 * Return: 0, or -EINVAL with @err filled.
 */
int config__set(struct sonde_config *cfg, const struct config_option *opt, const char *value,
		char *err, size_t err_size);

/**
 * config__from_env() - apply every option's environment variables; the
 * first one set (in table order) wins.
 * Return: 0, or -EINVAL after printing one line naming the variable.
 */
int config__from_env(struct sonde_config *cfg, FILE *errf);

/**
 * config__finish() - resolve options that depend on others (PRINT_TRACES,
 * "no output configured: print traces") and check selectors exist.
 * Return: 0, or -EINVAL after printing why.
 */
int config__finish(struct sonde_config *cfg, FILE *errf);

void config__free(struct sonde_config *cfg);
void selector__free(struct selector *s);

/**
 * config__regex_sane() - refuse a regular expression whose compilation
 * could take unbounded memory or time: longer than 512 bytes, or with
 * stacked repetitions ("a++", "(x*)+{9}"): glibc's regcomp duplicates the
 * tree per repetition, exponentially (found by fuzzing: 2 GB for a
 * 130-byte expression). Return: 0, or -EINVAL with @why set.
 */
int config__regex_sane(const char *re, const char **why);

/** config__list_append() - add comma-separated items to a list option. */
int config__list_append(struct route_patterns *l, const char *s);

/** config__print_help() - the `--help` text, generated from the table. */
void config__print_help(FILE *f);

/** config__print_markdown() - the README's reference table. */
void config__print_markdown(FILE *f);

/** port_ranges__contains() - is @port in any range? */
bool port_ranges__contains(const struct port_ranges *p, uint16_t port);

/** parse_duration_ms() - "250ms", "2s", "1m", "1h" or bare milliseconds. */
int parse_duration_ms(const char *s, uint64_t *out);

#endif /* SONDE_CONFIG_H */
