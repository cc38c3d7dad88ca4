// SPDX-License-Identifier: Apache-2.0
/*
 * OTLP over libcurl. A multi handle drives the one easy handle so the wait
 * can be cut short at shutdown (polled every 100 ms); connections are kept
 * between requests. gRPC's answer is read from the trailers, which libcurl
 * hands to the header callback like any header.
 */
#include "export/otlp_transport.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "export/otlp_json.h"
#include "proto/metrics_service.pb-c.h"
#include "proto/trace_service.pb-c.h"
#include "util/log.h"
#include "version.h"

#define RESPONSE_BODY_MAX (64 * 1024)
#define POLL_MS 100

struct otlp_transport {
	const struct otlp_endpoint *ep;
	CURLM *multi;
	CURL *easy;
	struct curl_slist *headers;
	/* The request in flight. */
	struct otlp_response *resp;
	uint8_t body[RESPONSE_BODY_MAX];
	size_t body_len;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* ---- pieces ---- */

int otlp_gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	z_stream z = { 0 };
	uLong bound;
	int rc;

	/* windowBits 15 + 16: a gzip wrapper, not zlib's. */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, len);
	*out = malloc(bound);
	if (!*out) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = len;
	z.next_out = *out;
	z.avail_out = bound;
	rc = deflate(&z, Z_FINISH);
	*out_len = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(*out);
		*out = NULL;
		return -EIO;
	}
	return 0;
}

void otlp_grpc_frame(uint8_t prefix[5], bool compressed, uint32_t len)
{
	prefix[0] = compressed ? 1 : 0;
	prefix[1] = len >> 24;
	prefix[2] = len >> 16;
	prefix[3] = len >> 8;
	prefix[4] = len;
}

int64_t otlp_retry_after_ms(const char *value, time_t now)
{
	const char *p = value;
	time_t when;

	while (isspace((unsigned char)*p))
		p++;
	if (isdigit((unsigned char)*p)) {
		char *end;
		unsigned long long secs = strtoull(p, &end, 10);

		while (isspace((unsigned char)*end))
			end++;
		if (*end)
			return -1;
		return secs > 86400 ? 86400000 : (int64_t)secs * 1000;
	}
	when = curl_getdate(p, NULL);
	if (when == -1)
		return -1;
	return when > now ? (int64_t)(when - now) * 1000 : 0;
}

enum otlp_result otlp_http_result(long status)
{
	if (status >= 200 && status < 300)
		return OTLP_SENT;
	/* The specification's retryable statuses; 0 is no answer at all. */
	if (status == 0 || status == 429 || status == 502 || status == 503 || status == 504)
		return OTLP_RETRYABLE;
	return OTLP_FAILED;
}

enum otlp_result otlp_grpc_result(int code)
{
	switch (code) {
	case 0:
		return OTLP_SENT;
	case 1:	 /* CANCELLED */
	case 4:	 /* DEADLINE_EXCEEDED */
	case 8:	 /* RESOURCE_EXHAUSTED */
	case 10: /* ABORTED */
	case 11: /* OUT_OF_RANGE */
	case 14: /* UNAVAILABLE */
	case 15: /* DATA_LOSS */
		return OTLP_RETRYABLE;
	default:
		return OTLP_FAILED;
	}
}

int otlp_grpc_status_from_http(long status)
{
	/* gRPC's mapping of HTTP statuses (doc/http-grpc-status-mapping.md). */
	switch (status) {
	case 400:
		return 13; /* INTERNAL */
	case 401:
		return 16; /* UNAUTHENTICATED */
	case 403:
		return 7; /* PERMISSION_DENIED */
	case 404:
		return 12; /* UNIMPLEMENTED */
	case 429:
	case 502:
	case 503:
	case 504:
		return 14; /* UNAVAILABLE */
	default:
		return 2; /* UNKNOWN */
	}
}

/* ---- callbacks ---- */

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
	struct otlp_transport *t = arg;
	size_t len = size * n, name_len;
	const char *colon = memchr(line, ':', len);
	const char *v, *end = line + len;
	char value[256];

	if (!colon)
		return len; /* status line or the blank line after headers */
	name_len = colon - line;
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	snprintf(value, sizeof(value), "%.*s", (int)(end - v), v);
	if (name_len == 11 && !strncasecmp(line, "grpc-status", 11)) {
		t->resp->grpc_status = atoi(value);
	} else if (name_len == 12 && !strncasecmp(line, "grpc-message", 12)) {
		if (otlp_percent_decode(value, strlen(value), t->resp->message,
					sizeof(t->resp->message)) < 0)
			snprintf(t->resp->message, sizeof(t->resp->message), "%s", value);
	} else if (name_len == 11 && !strncasecmp(line, "retry-after", 11)) {
		t->resp->retry_after_ms = otlp_retry_after_ms(value, time(NULL));
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct otlp_transport *t = arg;
	size_t len = size * n, room = sizeof(t->body) - t->body_len;

	/* Only the start matters (a status or partial success): keep what fits. */
	memcpy(t->body + t->body_len, data, len < room ? len : room);
	t->body_len += len < room ? len : room;
	return len;
}

/* ---- transport ---- */

static struct curl_slist *add_header(struct curl_slist *list, bool *ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static struct curl_slist *add_header(struct curl_slist *list, bool *ok, const char *fmt, ...)
{
	char line[4600];
	struct curl_slist *grown;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	grown = curl_slist_append(list, line);
	if (!grown) {
		*ok = false;
		return list;
	}
	return grown;
}

static struct curl_slist *build_headers(const struct otlp_endpoint *ep)
{
	bool grpc = ep->protocol == OTLP_PROTOCOL_GRPC, ok = true;
	struct curl_slist *h = NULL;

	if (grpc) {
		h = add_header(h, &ok, "Content-Type: application/grpc");
		h = add_header(h, &ok, "TE: trailers");
		h = add_header(h, &ok, "grpc-timeout: %" PRIu64 "m",
			       ep->timeout_ms < 99999999 ? ep->timeout_ms : (uint64_t)99999999);
		if (ep->gzip)
			h = add_header(h, &ok, "grpc-encoding: gzip");
		h = add_header(h, &ok, "Accept:");
	} else {
		h = add_header(h, &ok, ep->protocol == OTLP_PROTOCOL_HTTP_JSON
						? "Content-Type: application/json"
						: "Content-Type: application/x-protobuf");
		if (ep->gzip)
			h = add_header(h, &ok, "Content-Encoding: gzip");
	}
	/* No "Expect: 100-continue" round trip before the body. */
	h = add_header(h, &ok, "Expect:");
	for (size_t i = 0; i < ep->headers.count; i++) {
		char name[256];

		/* HTTP/2 wants lower-case names; gRPC metadata keys are. */
		snprintf(name, sizeof(name), "%s", ep->headers.items[i].key);
		for (char *c = name; grpc && *c; c++)
			*c = tolower((unsigned char)*c);
		h = add_header(h, &ok, "%s: %s", name, ep->headers.items[i].value);
	}
	if (!ok) {
		curl_slist_free_all(h);
		return NULL;
	}
	return h;
}

struct otlp_transport *otlp_transport__new(const struct otlp_endpoint *ep)
{
	struct otlp_transport *t = calloc(1, sizeof(*t));
	bool grpc = ep->protocol == OTLP_PROTOCOL_GRPC;
	char agent[64];
	long version;

	if (!t)
		return NULL;
	t->ep = ep;
	t->multi = curl_multi_init();
	t->easy = curl_easy_init();
	t->headers = build_headers(ep);
	if (!t->multi || !t->easy || !t->headers) {
		otlp_transport__free(t);
		return NULL;
	}
	if (grpc)
		version = ep->tls ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
	else
		version = ep->tls ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1;
	snprintf(agent, sizeof(agent), "sonde/%s", sonde_version);
	curl_easy_setopt(t->easy, CURLOPT_URL, ep->url);
	curl_easy_setopt(t->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(t->easy, CURLOPT_HTTP_VERSION, version);
	curl_easy_setopt(t->easy, CURLOPT_USERAGENT, agent);
	curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
	if (ep->ca_file)
		curl_easy_setopt(t->easy, CURLOPT_CAINFO, ep->ca_file);
	if (ep->cert_file) { /* mutual TLS: PEM certificate and unencrypted key */
		curl_easy_setopt(t->easy, CURLOPT_SSLCERT, ep->cert_file);
		curl_easy_setopt(t->easy, CURLOPT_SSLKEY, ep->key_file);
	}
	/* libcurl before 8.0 breaks the second request on a reused HTTP/2
	 * prior-knowledge connection (curl issue 10634): one connection per
	 * request there, a batch every few seconds at most. */
	if (version == CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE &&
	    curl_version_info(CURLVERSION_NOW)->version_num < 0x080000)
		curl_easy_setopt(t->easy, CURLOPT_FORBID_REUSE, 1L);
	if (log_threshold >= LOG_DEBUG)
		curl_easy_setopt(t->easy, CURLOPT_VERBOSE, 1L);
	return t;
}

void otlp_transport__free(struct otlp_transport *t)
{
	if (!t)
		return;
	if (t->easy)
		curl_easy_cleanup(t->easy);
	if (t->multi)
		curl_multi_cleanup(t->multi);
	curl_slist_free_all(t->headers);
	free(t);
}

/* Read a partial success from an OTLP response body (protobuf). */
static void read_partial_success(struct otlp_transport *t, const uint8_t *data, size_t len)
{
	if (t->ep->signal == OTLP_TRACES) {
		Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *r =
			opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
				NULL, len, data);

		if (!r)
			return;
		if (r->partial_success) {
			t->resp->rejected = r->partial_success->rejected_spans;
			if (r->partial_success->error_message && *r->partial_success->error_message)
				snprintf(t->resp->message, sizeof(t->resp->message), "%s",
					 r->partial_success->error_message);
		}
		opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
			r, NULL);
	} else {
		Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse *r =
			opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__unpack(
				NULL, len, data);

		if (!r)
			return;
		if (r->partial_success) {
			t->resp->rejected = r->partial_success->rejected_data_points;
			if (r->partial_success->error_message && *r->partial_success->error_message)
				snprintf(t->resp->message, sizeof(t->resp->message), "%s",
					 r->partial_success->error_message);
		}
		opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__free_unpacked(
			r, NULL);
	}
}

static void classify(struct otlp_transport *t)
{
	struct otlp_response *r = t->resp;

	if (t->ep->protocol != OTLP_PROTOCOL_GRPC) {
		r->result = otlp_http_result(r->http_status);
		/* A partial success is read from protobuf answers; a JSON
		 * answer's is not (the data was accepted either way). */
		if (r->result == OTLP_SENT && t->body_len &&
		    t->ep->protocol == OTLP_PROTOCOL_HTTP_PROTOBUF)
			read_partial_success(t, t->body, t->body_len);
		else if (r->result != OTLP_SENT && !r->message[0])
			snprintf(r->message, sizeof(r->message), "HTTP status %ld%s%.*s", r->http_status,
				 t->body_len ? ": " : "", (int)(t->body_len < 120 ? t->body_len : 120),
				 (const char *)t->body);
		return;
	}
	if (r->http_status != 200) {
		r->grpc_status = otlp_grpc_status_from_http(r->http_status);
		snprintf(r->message, sizeof(r->message), "HTTP status %ld instead of 200",
			 r->http_status);
	} else if (r->grpc_status < 0) {
		/* The stream ended without trailers: treat as a broken connection. */
		r->result = OTLP_RETRYABLE;
		snprintf(r->message, sizeof(r->message), "no grpc-status in the answer");
		return;
	}
	r->result = otlp_grpc_result(r->grpc_status);
	if (r->result == OTLP_SENT && t->body_len >= 5 && t->body[0] == 0) {
		size_t len = (size_t)t->body[1] << 24 | (size_t)t->body[2] << 16 |
			     (size_t)t->body[3] << 8 | t->body[4];

		if (len <= t->body_len - 5)
			read_partial_success(t, t->body + 5, len);
	}
	if (r->result != OTLP_SENT && !r->message[0])
		snprintf(r->message, sizeof(r->message), "grpc-status %d", r->grpc_status);
}

void otlp_transport__send(struct otlp_transport *t, const uint8_t *body, size_t len,
			  uint64_t timeout_ms, const _Atomic uint64_t *give_up_ns,
			  struct otlp_response *resp)
{
	const struct otlp_endpoint *ep = t->ep;
	uint8_t *gz = NULL, *framed = NULL;
	const uint8_t *payload = body;
	size_t payload_len = len;
	struct otlp_buf json = { 0 };
	CURLcode cc = CURLE_OK;
	bool abandoned = false;
	int running = 1;
	CURLMsg *msg;
	int left;

	memset(resp, 0, sizeof(*resp));
	resp->result = OTLP_RETRYABLE;
	resp->grpc_status = -1;
	resp->retry_after_ms = -1;
	t->resp = resp;
	t->body_len = 0;
	if (ep->protocol == OTLP_PROTOCOL_HTTP_JSON) {
		/* The same message in the OTLP JSON form. */
		const ProtobufCMessageDescriptor *d =
			ep->signal == OTLP_TRACES
				? &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor
				: &opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__descriptor;

		if (otlp_json_from_packed(d, body, len, &json)) {
			snprintf(resp->message, sizeof(resp->message), "cannot write the JSON request");
			return;
		}
		payload = json.data;
		payload_len = json.len;
	}
	if (ep->gzip) {
		if (otlp_gzip(payload, payload_len, &gz, &payload_len)) {
			otlp_buf__free(&json);
			snprintf(resp->message, sizeof(resp->message), "cannot compress the request");
			return;
		}
		payload = gz;
	}
	if (ep->protocol == OTLP_PROTOCOL_GRPC) {
		framed = malloc(payload_len + 5);
		if (!framed) {
			snprintf(resp->message, sizeof(resp->message), "out of memory");
			free(gz);
			return;
		}
		otlp_grpc_frame(framed, ep->gzip, (uint32_t)payload_len);
		memcpy(framed + 5, payload, payload_len);
		payload = framed;
		payload_len += 5;
	}
	curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, payload);
	curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)payload_len);
	curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_multi_add_handle(t->multi, t->easy);
	while (running) {
		uint64_t limit;

		if (curl_multi_perform(t->multi, &running) != CURLM_OK || !running)
			break;
		limit = give_up_ns ? atomic_load(give_up_ns) : 0;
		if (limit && mono_ns() >= limit) {
			abandoned = true;
			break;
		}
		curl_multi_poll(t->multi, NULL, 0, POLL_MS, NULL);
	}
	while ((msg = curl_multi_info_read(t->multi, &left)))
		if (msg->msg == CURLMSG_DONE)
			cc = msg->data.result;
	curl_multi_remove_handle(t->multi, t->easy);
	free(gz);
	free(framed);
	otlp_buf__free(&json);

	if (abandoned) {
		snprintf(resp->message, sizeof(resp->message), "abandoned at shutdown");
		return;
	}
	if (cc != CURLE_OK) {
		/* No usable answer: network trouble is worth retrying, except
		 * configuration errors that a retry cannot fix. */
		snprintf(resp->message, sizeof(resp->message), "%s", curl_easy_strerror(cc));
		if (cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT)
			resp->result = OTLP_FAILED;
		return;
	}
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &resp->http_status);
	classify(t);
}
