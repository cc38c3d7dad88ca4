// SPDX-License-Identifier: Apache-2.0
/* OTLP configuration resolution. See otlp_config.h. */
#include "export/otlp_config.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/hex.h"
#include "util/log.h"

const char *const otlp_signal_names[OTLP_SIGNAL__MAX] = {
	[OTLP_TRACES] = "traces",
	[OTLP_METRICS] = "metrics",
};

/* ---- key=value lists ---- */


int otlp_percent_decode(const char *in, size_t len, char *out, size_t out_size)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c == '%') {
			/* Two hex digits must follow, inside the input. */
			int hi = i + 2 < len ? hex_digit(in[i + 1]) : -1;
			int lo = i + 2 < len ? hex_digit(in[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (n + 1 >= out_size)
			return -EINVAL;
		out[n++] = c;
	}
	if (n >= out_size)
		return -EINVAL;
	out[n] = '\0';
	return (int)n;
}

static void trim(const char **s, const char **end)
{
	while (*s < *end && isspace((unsigned char)**s))
		(*s)++;
	while (*end > *s && isspace((unsigned char)(*end)[-1]))
		(*end)--;
}

static bool token_char(char c)
{
	/* RFC 9110 tchar: what a header name may hold. */
	return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int pairs_set(struct otlp_pairs *list, const char *key, size_t key_len, const char *value)
{
	struct otlp_pair *grown;
	char *k, *v;

	for (size_t i = 0; i < list->count; i++) {
		if (strlen(list->items[i].key) == key_len &&
		    !strncasecmp(list->items[i].key, key, key_len)) {
			v = strdup(value);
			if (!v)
				return -ENOMEM;
			free(list->items[i].value);
			list->items[i].value = v;
			return 0;
		}
	}
	grown = realloc(list->items, (list->count + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	list->items = grown;
	k = strndup(key, key_len);
	v = strdup(value);
	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	list->items[list->count].key = k;
	list->items[list->count].value = v;
	list->count++;
	return 0;
}

int otlp_pairs__parse(struct otlp_pairs *list, const char *text, const char *what)
{
	const char *p = text;
	int rc = 0;

	if (!text)
		return 0;
	while (*p) {
		const char *comma = strchr(p, ',');
		const char *end = comma ? comma : p + strlen(p);
		const char *eq = memchr(p, '=', end - p);
		const char *k = p, *kend = eq ? eq : end, *v = eq ? eq + 1 : end, *vend = end;
		bool ok = eq != NULL;
		char value[4096];

		trim(&k, &kend);
		trim(&v, &vend);
		for (const char *c = k; ok && c < kend; c++)
			ok = token_char(*c);
		ok = ok && kend > k &&
		     otlp_percent_decode(v, vend - v, value, sizeof(value)) >= 0 &&
		     !strpbrk(value, "\r\n");
		if (ok) {
			int err = pairs_set(list, k, kend - k, value);

			if (err)
				return err;
		} else if (end > p) {
			/* Say which entry, not its value: it may be a secret. */
			log_warn("%s: ignoring malformed entry %zu characters into the value "
				 "(want key=value with a URL-encoded value)",
				 what, (size_t)(p - text));
			rc = -EINVAL;
		}
		p = comma ? comma + 1 : end;
	}
	return rc;
}

const char *otlp_pairs__get(const struct otlp_pairs *list, const char *key)
{
	for (size_t i = 0; i < list->count; i++)
		if (!strcasecmp(list->items[i].key, key))
			return list->items[i].value;
	return NULL;
}

void otlp_pairs__free(struct otlp_pairs *list)
{
	for (size_t i = 0; i < list->count; i++) {
		free(list->items[i].key);
		free(list->items[i].value);
	}
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

/* ---- endpoints ---- */

enum otlp_protocol otlp_protocol_for_port(unsigned int port)
{
	return port == 4317 ? OTLP_PROTOCOL_GRPC : OTLP_PROTOCOL_HTTP_PROTOBUF;
}

static const char *const grpc_paths[OTLP_SIGNAL__MAX] = {
	[OTLP_TRACES] = "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
	[OTLP_METRICS] = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
};

static const char *const http_paths[OTLP_SIGNAL__MAX] = {
	[OTLP_TRACES] = "v1/traces",
	[OTLP_METRICS] = "v1/metrics",
};

static const char *const protocol_names[] = {
	[OTLP_PROTOCOL_UNSET] = "unset",
	[OTLP_PROTOCOL_GRPC] = "grpc",
	[OTLP_PROTOCOL_HTTP_PROTOBUF] = "http/protobuf",
	[OTLP_PROTOCOL_HTTP_JSON] = "http/json",
};

/* OTEL_TRACES_EXPORTER=none (or a list without otlp) turns the signal off. */
static bool exporter_selected(const char *list)
{
	char copy[256], *save = NULL;

	if (!list || !*list)
		return true;
	snprintf(copy, sizeof(copy), "%s", list);
	for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
		if (!strcasecmp(tok, "otlp"))
			return true;
	return false;
}

/* Build the request URL from the configured endpoint text. */
static int build_url(struct otlp_endpoint *e, const char *given, bool per_signal, bool insecure,
		     char *err, size_t err_size)
{
	char with_scheme[OTLP_URL_MAX], path[OTLP_URL_MAX];
	char *scheme = NULL, *port = NULL, *cur_path = NULL, *url = NULL;
	CURLU *u = curl_url();
	int rc = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (!strstr(given, "://"))
		snprintf(with_scheme, sizeof(with_scheme), "%s://%s", insecure ? "http" : "https",
			 given);
	else
		snprintf(with_scheme, sizeof(with_scheme), "%s", given);
	if (curl_url_set(u, CURLUPART_URL, with_scheme, CURLU_NON_SUPPORT_SCHEME) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ||
	    curl_url_get(u, CURLUPART_PATH, &cur_path, 0)) {
		snprintf(err, err_size, "'%s' is not a URL", given);
		goto out;
	}
	if (strcasecmp(scheme, "http") && strcasecmp(scheme, "https")) {
		snprintf(err, err_size, "'%s': the scheme must be http or https", given);
		goto out;
	}
	e->tls = !strcasecmp(scheme, "https");
	e->port = (unsigned int)strtoul(port, NULL, 10);
	if (e->protocol == OTLP_PROTOCOL_UNSET) {
		e->protocol = otlp_protocol_for_port(e->port);
		e->protocol_inferred = true;
	}
	if (e->protocol == OTLP_PROTOCOL_GRPC) {
		/* gRPC names the method by path: the endpoint's own path is
		 * not part of it. */
		snprintf(path, sizeof(path), "%s", grpc_paths[e->signal]);
	} else if (per_signal) {
		snprintf(path, sizeof(path), "%s", cur_path);
	} else {
		size_t n = strlen(cur_path);

		snprintf(path, sizeof(path), "%s%s%s", cur_path, n && cur_path[n - 1] == '/' ? "" : "/",
			 http_paths[e->signal]);
	}
	if (curl_url_set(u, CURLUPART_PATH, path, 0) ||
	    (e->protocol == OTLP_PROTOCOL_GRPC && curl_url_set(u, CURLUPART_QUERY, NULL, 0)) ||
	    curl_url_get(u, CURLUPART_URL, &url, 0)) {
		snprintf(err, err_size, "'%s': cannot add the path %s", given, path);
		goto out;
	}
	if (strlen(url) >= sizeof(e->url)) {
		snprintf(err, err_size, "'%s' is too long", given);
		goto out;
	}
	snprintf(e->url, sizeof(e->url), "%s", url);
	rc = 0;
out:
	curl_free(scheme);
	curl_free(port);
	curl_free(cur_path);
	curl_free(url);
	curl_url_cleanup(u);
	return rc;
}

int otlp_endpoint__resolve(const struct sonde_config *cfg, enum otlp_signal sig,
			   struct otlp_endpoint *out, char *err, size_t err_size)
{
	bool traces = sig == OTLP_TRACES;
	const char *signal_endpoint = traces ? cfg->otlp_traces_endpoint : cfg->otlp_metrics_endpoint;
	const char *given = signal_endpoint && *signal_endpoint ? signal_endpoint : cfg->otlp_endpoint;
	int protocol = traces ? cfg->otlp_traces_protocol : cfg->otlp_metrics_protocol;
	int compression = traces ? cfg->otlp_traces_compression : cfg->otlp_metrics_compression;
	uint64_t timeout = traces ? cfg->otlp_traces_timeout_ms : cfg->otlp_metrics_timeout_ms;
	const char *ca = traces ? cfg->otlp_traces_certificate : cfg->otlp_metrics_certificate;
	const char *cert = traces ? cfg->otlp_traces_client_certificate
				  : cfg->otlp_metrics_client_certificate;
	const char *key = traces ? cfg->otlp_traces_client_key : cfg->otlp_metrics_client_key;
	const char *headers = traces ? cfg->otlp_traces_headers : cfg->otlp_metrics_headers;
	const char *exporter = traces ? cfg->otlp_traces_exporter : cfg->otlp_metrics_exporter;
	char what[64];
	int rc;

	memset(out, 0, sizeof(*out));
	out->signal = sig;
	if (!given || !*given || !exporter_selected(exporter))
		return 0;
	out->protocol = protocol ? protocol : cfg->otlp_protocol;
	rc = build_url(out, given, given == signal_endpoint, cfg->otlp_insecure, err, err_size);
	if (rc)
		return rc;
	if (out->protocol_inferred)
		snprintf(out->note, sizeof(out->note), "protocol not set: %s inferred from port %u",
			 protocol_names[out->protocol], out->port);
	out->timeout_ms = timeout ? timeout : cfg->otlp_timeout_ms;
	if (!out->timeout_ms)
		out->timeout_ms = 10000;
	out->gzip = (compression ? compression : cfg->otlp_compression) == OTLP_COMPRESSION_GZIP;
	out->ca_file = ca && *ca ? ca : cfg->otlp_certificate;
	if (out->ca_file && !*out->ca_file)
		out->ca_file = NULL;
	/* The signal's own pair, else the base pair: never one of each. */
	if ((cert && *cert) || (key && *key)) {
		out->cert_file = cert;
		out->key_file = key;
	} else {
		out->cert_file = cfg->otlp_client_certificate;
		out->key_file = cfg->otlp_client_key;
	}
	if (out->cert_file && !*out->cert_file)
		out->cert_file = NULL;
	if (out->key_file && !*out->key_file)
		out->key_file = NULL;
	if (!out->cert_file != !out->key_file) {
		const char *sig_name = traces ? "TRACES_" : "METRICS_";
		bool own = (cert && *cert) || (key && *key);

		snprintf(err, err_size,
			 "OTEL_EXPORTER_OTLP_%sCLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_%sCLIENT_KEY "
			 "go together: set both or neither",
			 own ? sig_name : "", own ? sig_name : "");
		return -EINVAL;
	}
	if (out->cert_file && !out->tls)
		snprintf(out->note, sizeof(out->note),
			 "client certificate not used: the endpoint is not https");
	/* Signal headers replace base ones of the same name. Malformed
	 * entries are logged and skipped, not fatal: the rest still work. */
	rc = otlp_pairs__parse(&out->headers, cfg->otlp_headers, "OTEL_EXPORTER_OTLP_HEADERS");
	snprintf(what, sizeof(what), "OTEL_EXPORTER_OTLP_%s_HEADERS", traces ? "TRACES" : "METRICS");
	if (rc != -ENOMEM)
		rc = otlp_pairs__parse(&out->headers, headers, what);
	if (rc == -ENOMEM) {
		otlp_endpoint__free(out);
		return rc;
	}
	out->enabled = true;
	return 0;
}

void otlp_endpoint__free(struct otlp_endpoint *e)
{
	otlp_pairs__free(&e->headers);
}

/* ---- sampler ---- */

void otlp_sampler__init(struct otlp_sampler *s, int kind, const char *arg)
{
	double ratio = 1.0;

	s->kind = kind ? kind : OTLP_SAMPLER_PARENTBASED_ALWAYS_ON;
	if ((s->kind == OTLP_SAMPLER_TRACEIDRATIO || s->kind == OTLP_SAMPLER_PARENTBASED_TRACEIDRATIO) &&
	    arg && *arg) {
		char *end;
		double v = strtod(arg, &end);

		if (end == arg || *end || !(v >= 0 && v <= 1))
			log_warn("OTEL_TRACES_SAMPLER_ARG='%s' is not a ratio from 0 to 1: using 1",
				 arg);
		else
			ratio = v;
	}
	s->ratio = ratio;
	/* Compare 63 bits of the trace id with ratio * 2^63: exact at both ends. */
	if (ratio >= 1.0)
		s->threshold = UINT64_C(1) << 63;
	else
		s->threshold = (uint64_t)ldexp(ratio, 63);
}

static bool ratio_sample(const struct otlp_sampler *s, const uint8_t trace_id[16])
{
	uint64_t x = 0;

	for (int i = 8; i < 16; i++)
		x = x << 8 | trace_id[i];
	return (x >> 1) < s->threshold;
}

bool otlp_sampler__sample(const struct otlp_sampler *s, const struct span *span)
{
	bool has_parent = false;

	for (size_t i = 0; i < sizeof(span->parent_span_id); i++)
		has_parent |= span->parent_span_id[i] != 0;
	switch (s->kind) {
	case OTLP_SAMPLER_ALWAYS_OFF:
		return false;
	case OTLP_SAMPLER_TRACEIDRATIO:
		return ratio_sample(s, span->trace_id);
	case OTLP_SAMPLER_PARENTBASED_ALWAYS_OFF:
		return has_parent && (span->trace_flags & 1);
	case OTLP_SAMPLER_PARENTBASED_TRACEIDRATIO:
		return has_parent ? (span->trace_flags & 1) : ratio_sample(s, span->trace_id);
	case OTLP_SAMPLER_PARENTBASED_ALWAYS_ON:
	case OTLP_SAMPLER_UNSET:
		return has_parent ? (span->trace_flags & 1) : true;
	case OTLP_SAMPLER_ALWAYS_ON:
	default:
		return true;
	}
}

int otlp_config__check(const struct sonde_config *cfg, FILE *err)
{
	int bad = 0;

	for (int sig = 0; sig < OTLP_SIGNAL__MAX; sig++) {
		struct otlp_endpoint ep;
		char why[256] = "";
		int rc = otlp_endpoint__resolve(cfg, sig, &ep, why, sizeof(why));

		if (rc && rc != -ENOMEM) {
			fprintf(err, "sonde: OTLP %s endpoint: %s\n", otlp_signal_names[sig], why);
			bad = 1;
		}
		otlp_endpoint__free(&ep);
	}
	return bad;
}
