/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OTLP configuration as the exporter uses it: the options of struct
 * sonde_config (OTEL_EXPORTER_OTLP_* and friends) resolved into one
 * struct otlp_endpoint per signal, following the OpenTelemetry
 * specification's rules (per-signal settings win over the base ones; a
 * base endpoint gets /v1/traces or /v1/metrics appended for HTTP; the
 * protocol, when not set, is inferred from the port). Pure functions,
 * unit-tested in tests/unit/test_otlp_config.c.
 */
#ifndef SONDE_EXPORT_OTLP_CONFIG_H
#define SONDE_EXPORT_OTLP_CONFIG_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "model/span.h"

/* Values of the config rows "otel_export.protocol" etc.: the index of the
 * name in the row's choice list (config.c). */
enum otlp_protocol {
	OTLP_PROTOCOL_UNSET = 0,
	OTLP_PROTOCOL_GRPC,
	OTLP_PROTOCOL_HTTP_PROTOBUF,
	OTLP_PROTOCOL_HTTP_JSON, /* accepted, sent as http/protobuf */
};

enum otlp_compression {
	OTLP_COMPRESSION_UNSET = 0,
	OTLP_COMPRESSION_NONE,
	OTLP_COMPRESSION_GZIP,
};

enum otlp_sampler_kind {
	OTLP_SAMPLER_UNSET = 0,
	OTLP_SAMPLER_ALWAYS_ON,
	OTLP_SAMPLER_ALWAYS_OFF,
	OTLP_SAMPLER_TRACEIDRATIO,
	OTLP_SAMPLER_PARENTBASED_ALWAYS_ON,
	OTLP_SAMPLER_PARENTBASED_ALWAYS_OFF,
	OTLP_SAMPLER_PARENTBASED_TRACEIDRATIO,
};

enum otlp_signal {
	OTLP_TRACES = 0,
	OTLP_METRICS,
	OTLP_SIGNAL__MAX,
};

extern const char *const otlp_signal_names[OTLP_SIGNAL__MAX]; /* "traces", "metrics" */

/* A list of key=value pairs: request headers or resource attributes. */
struct otlp_pair {
	char *key;
	char *value;
};

struct otlp_pairs {
	size_t count;
	struct otlp_pair *items;
};

/**
 * otlp_pairs__parse() - add "k=v,k2=v2" to @list: keys and values are
 * trimmed, values percent-decoded ('+' stays '+', as base64 needs). A key
 * already in @list (case-insensitively) gets the new value.
 * @what: names the variable in the warning about a malformed entry
 * Return: 0, or -EINVAL if an entry was malformed (the others are kept),
 * or -ENOMEM.
 */
int otlp_pairs__parse(struct otlp_pairs *list, const char *text, const char *what);
const char *otlp_pairs__get(const struct otlp_pairs *list, const char *key);
void otlp_pairs__free(struct otlp_pairs *list);

/**
 * otlp_percent_decode() - decode %XX escapes of @in into @out.
 * Return: the decoded length, or -EINVAL for a bad escape or if it does
 * not fit in @out_size (NUL included).
 */
int otlp_percent_decode(const char *in, size_t len, char *out, size_t out_size);

#define OTLP_URL_MAX 1024

/* Where and how one signal is sent. */
struct otlp_endpoint {
	bool enabled;
	enum otlp_signal signal;
	char url[OTLP_URL_MAX]; /* the request's URL (gRPC: .../<Service>/Export) */
	enum otlp_protocol protocol; /* GRPC or HTTP_PROTOBUF once resolved */
	bool protocol_inferred;	     /* not set: guessed from the port */
	bool tls;		     /* https:// */
	unsigned int port;
	struct otlp_pairs headers;
	uint64_t timeout_ms;
	bool gzip;
	const char *ca_file; /* borrowed from the config; NULL for the system's */
	const char *cert_file; /* client certificate for mutual TLS, or NULL (borrowed) */
	const char *key_file;  /* its key; set exactly when cert_file is */
	char note[160];	     /* what resolution decided, for the start-up log */
};

/**
 * otlp_endpoint__resolve() - resolve @sig from @cfg into @out.
 * A signal without an endpoint, or turned off by OTEL_<SIGNAL>_EXPORTER,
 * is resolved with out->enabled false and 0 returned.
 * @err: receives the reason on failure
 * Return: 0, or -EINVAL (bad URL), -ENOMEM.
 */
int otlp_endpoint__resolve(const struct sonde_config *cfg, enum otlp_signal sig,
			   struct otlp_endpoint *out, char *err, size_t err_size);
void otlp_endpoint__free(struct otlp_endpoint *e);

/**
 * otlp_config__check() - resolve every signal's endpoint once, to refuse a
 * bad OTLP configuration at start (exit 2) like any other bad setting.
 * Prints one line per problem to @err. Return: 0 when both resolve.
 */
int otlp_config__check(const struct sonde_config *cfg, FILE *err);

/** otlp_protocol_for_port() - grpc for 4317, http/protobuf otherwise. */
enum otlp_protocol otlp_protocol_for_port(unsigned int port);

struct otlp_sampler {
	enum otlp_sampler_kind kind;
	double ratio;
	uint64_t threshold; /* sample when (trace id's last 8 bytes >> 1) < threshold */
};

/**
 * otlp_sampler__init() - the sampler @kind with OTEL_TRACES_SAMPLER_ARG
 * @arg (a ratio for the traceidratio kinds; bad or missing means 1.0,
 * as the specification asks, with a warning for a bad one).
 */
void otlp_sampler__init(struct otlp_sampler *s, int kind, const char *arg);

/**
 * otlp_sampler__sample() - should @span be exported? A span with a parent
 * (a traceparent header) follows the parent's sampled flag under the
 * parentbased kinds; the ratio is decided on the trace id, so every
 * span of a trace gets the same answer.
 */
bool otlp_sampler__sample(const struct otlp_sampler *s, const struct span *span);

#endif /* SONDE_EXPORT_OTLP_CONFIG_H */
