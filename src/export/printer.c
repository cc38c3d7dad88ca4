// SPDX-License-Identifier: Apache-2.0
/* Trace printer: one line per span on stdout, text (seed format) or JSON. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "discovery.h"
#include "export/exporter.h"
#include "export/printer.h"
#include "model/http_method.h"
#include "util/utf8.h"

static void format_duration(uint64_t ns, char *out, size_t size)
{
	if (ns < 1000)
		snprintf(out, size, "%" PRIu64 "ns", ns);
	else if (ns < 1000000)
		snprintf(out, size, "%.1fµs", ns / 1e3);
	else if (ns < 1000000000)
		snprintf(out, size, "%.2fms", ns / 1e6);
	else
		snprintf(out, size, "%.3fs", ns / 1e9);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static bool is_root(const struct span *s)
{
	for (size_t i = 0; i < sizeof(s->parent_span_id); i++)
		if (s->parent_span_id[i])
			return false;
	return true;
}

/* An address in brackets the way the seed prints it: [addr:port]. */
static void endpoint(FILE *f, const struct span_endpoint *e)
{
	fprintf(f, "[%s:%u]", e->addr, e->port);
}

void printer__text(FILE *f, const struct span *s)
{
	char when[64], dur[32], handler[32], trace[33], span_hex[17];
	time_t secs = s->start_ns / 1000000000ull;
	struct tm tm;

	localtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	format_duration(span_duration_ns(s), dur, sizeof(dur));
	format_duration(span_handler_ns(s), handler, sizeof(handler));
	hex(s->trace_id, 16, trace);
	hex(s->span_id, 8, span_hex);
	/* One line per span: control characters in what the traced program
	 * sent or named are escaped (\xNN), so none can start a line. */
	fprintf(f, "%s.%06u (%s[%s]) %s %d ", when, (unsigned int)(s->start_ns % 1000000000ull / 1000),
		dur, handler, s->kind == SPAN_KIND_SERVER ? "HTTP" : "HTTPClient", s->status);
	utf8_put_escaped(f, s->method);
	fputc(' ', f);
	utf8_put_escaped(f, s->path);
	fputc(' ', f);
	endpoint(f, &s->client);
	fputs("->", f);
	endpoint(f, &s->server);
	fprintf(f, " size:%" PRIu64 "B svc=[", s->request_body_size);
	utf8_put_escaped(f, s->service ? s->service->name : "");
	fprintf(f, "] traceparent=[00-%s-%s-%02x]", trace, span_hex, s->trace_flags);
	if (!is_root(s)) {
		char parent[17];

		hex(s->parent_span_id, 8, parent);
		fprintf(f, " parent=[%s]", parent);
	}
	if (s->error[0]) {
		fputs(" error=[", f);
		utf8_put_escaped(f, s->error);
		fputc(']', f);
	}
	fputc('\n', f);
}

/* A JSON string of any bytes: escapes as RFC 8259 asks, and a byte that is
 * not UTF-8 (the model's strings are; this keeps the line JSON regardless)
 * as \ufffd. */
static void json_string(FILE *f, const char *s)
{
	size_t n = strlen(s);

	fputc('"', f);
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t len = c < 0x80 ? 1 : utf8_seq_len((const unsigned char *)s + i, n - i);

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else if (!len)
			fputs("\\ufffd", f);
		else
			fwrite(s + i, 1, len, f);
		i += len ? len : 1;
	}
	fputc('"', f);
}

void printer__json(FILE *f, const struct span *s)
{
	char trace[33], span_hex[17], parent[17];

	hex(s->trace_id, 16, trace);
	hex(s->span_id, 8, span_hex);
	if (is_root(s))
		parent[0] = '\0';
	else
		hex(s->parent_span_id, 8, parent);
	fprintf(f,
		"{\"start_ns\":%" PRIu64 ",\"duration_ns\":%" PRIu64 ",\"handler_ns\":%" PRIu64
		",\"kind\":\"%s\",\"service\":",
		s->start_ns, span_duration_ns(s), span_handler_ns(s),
		s->kind == SPAN_KIND_SERVER ? "server" : "client");
	json_string(f, s->service ? s->service->name : "");
	fprintf(f, ",\"pid\":%u,\"tid\":%u,\"method\":", s->pid, s->tid);
	json_string(f, http_method_semconv(s->method));
	if (!http_method_known(s->method)) {
		fputs(",\"method_original\":", f);
		json_string(f, s->method);
	}
	fputs(",\"path\":", f);
	json_string(f, s->path);
	fputs(",\"route\":", f);
	json_string(f, s->route);
	fputs(",\"host\":", f);
	json_string(f, s->host);
	fprintf(f, ",\"status\":%d,\"request_size\":%" PRIu64 ",\"response_size\":%" PRIu64
		   ",\"client_addr\":",
		s->status, s->request_body_size, s->response_body_size);
	json_string(f, s->client.addr);
	fprintf(f, ",\"client_port\":%u,\"server_addr\":", s->client.port);
	json_string(f, s->server.addr);
	fprintf(f, ",\"server_port\":%u,\"trace_id\":\"%s\",\"span_id\":\"%s\",\"parent_span_id\":\"%s\","
		   "\"error\":",
		s->server.port, trace, span_hex, parent);
	json_string(f, s->error);
	fputs("}\n", f);
}

struct printer_state {
	int mode;
};

static bool printer_enabled(const struct sonde_config *cfg)
{
	return cfg->trace_printer == PRINTER_TEXT || cfg->trace_printer == PRINTER_JSON;
}

static int printer_init(struct exporter *e, const struct sonde_config *cfg, struct sonde_runtime *rt)
{
	static struct printer_state state;

	state.mode = cfg->trace_printer;
	e->state = &state;
	return 0;
}

static enum exporter_status printer_export(struct exporter *e, const struct span *s)
{
	const struct printer_state *st = e->state;

	if (st->mode == PRINTER_JSON)
		printer__json(stdout, s);
	else
		printer__text(stdout, s);
	return EXPORT_OK;
}

static enum exporter_status printer_flush(struct exporter *e)
{
	return fflush(stdout) ? EXPORT_ERROR : EXPORT_OK;
}

static void printer_destroy(struct exporter *e)
{
	fflush(stdout);
}

const struct exporter_ops printer_exporter = {
	.name = "printer",
	.enabled = printer_enabled,
	.init = printer_init,
	.export_span = printer_export,
	.flush = printer_flush,
	.destroy = printer_destroy,
};
