// SPDX-License-Identifier: Apache-2.0
/* Trace printer: one line per span on stdout, text (seed format) or JSON,
 * written by its own thread behind a bounded queue. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "discovery.h"
#include "export/exporter.h"
#include "export/line_queue.h"
#include "export/printer.h"
#include "model/http_method.h"
#include "util/log.h"
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

/* A database call: "DBClient <system> <name> [client]->[server] db=<namespace>
 * status=<code>", then as HTTP (service, trace context, parent, error). */
static void text_db(FILE *f, const struct span *s)
{
	char name[128];

	span_db_name(s, name, sizeof(name));
	fputs("DBClient ", f);
	utf8_put_escaped(f, s->db.system);
	fputs(" \"", f);
	utf8_put_escaped(f, name);
	fputs("\" ", f);
	endpoint(f, &s->client);
	fputs("->", f);
	endpoint(f, &s->server);
	fputs(" db=[", f);
	utf8_put_escaped(f, s->db.namespace_);
	fputc(']', f);
	if (s->db.status_code[0]) {
		fputs(" status=", f);
		utf8_put_escaped(f, s->db.status_code);
	}
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
	if (span_is_db(s)) {
		fprintf(f, "%s.%06u (%s[%s]) ", when, (unsigned int)(s->start_ns % 1000000000ull / 1000),
			dur, handler);
		text_db(f, s);
		fputs(" svc=[", f);
	} else {
		fprintf(f, "%s.%06u (%s[%s]) %s %d ", when,
			(unsigned int)(s->start_ns % 1000000000ull / 1000), dur, handler,
			s->kind == SPAN_KIND_SERVER ? "HTTP" : "HTTPClient", s->status);
		utf8_put_escaped(f, s->method);
		fputc(' ', f);
		utf8_put_escaped(f, s->path);
		fputc(' ', f);
		endpoint(f, &s->client);
		fputs("->", f);
		endpoint(f, &s->server);
		fprintf(f, " size:%" PRIu64 "B svc=[", s->request_body_size);
	}
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
	if (span_is_db(s)) {
		char name[128];

		span_db_name(s, name, sizeof(name));
		fprintf(f, ",\"pid\":%u,\"tid\":%u,\"name\":", s->pid, s->tid);
		json_string(f, name);
		fputs(",\"db_system_name\":", f);
		json_string(f, s->db.system);
		fputs(",\"db_operation_name\":", f);
		json_string(f, s->db.operation);
		fputs(",\"db_collection_name\":", f);
		json_string(f, s->db.collection);
		fputs(",\"db_namespace\":", f);
		json_string(f, s->db.namespace_);
		fputs(",\"db_response_status_code\":", f);
		json_string(f, s->db.status_code);
		fputs(",\"db_query_text\":", f);
		json_string(f, s->db.query);
		fputs(",\"client_addr\":", f);
		goto ends;
	}
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
	fputs(s->tls ? ",\"scheme\":\"https\"" : ",\"scheme\":\"http\"", f);
	fputs(",\"host\":", f);
	json_string(f, s->host);
	fprintf(f, ",\"http_version\":\"%s\"", span_http_version(s->http_minor));
	if (span_is_rpc(s)) {
		fputs(",\"rpc_system\":", f);
		json_string(f, s->rpc.system);
		fputs(",\"rpc_service\":", f);
		json_string(f, s->rpc.service);
		fputs(",\"rpc_method\":", f);
		json_string(f, s->rpc.method);
		fprintf(f, ",\"rpc_grpc_status_code\":%d,\"rpc_error\":%s", s->rpc.grpc_status,
			span_rpc_failed(s) ? "true" : "false");
	}
	fprintf(f, ",\"status\":%d,\"request_size\":%" PRIu64 ",\"response_size\":%" PRIu64
		   ",\"client_addr\":",
		s->status, s->request_body_size, s->response_body_size);
ends:
	json_string(f, s->client.addr);
	fprintf(f, ",\"client_port\":%u,\"server_addr\":", s->client.port);
	json_string(f, s->server.addr);
	fprintf(f, ",\"server_port\":%u,\"trace_id\":\"%s\",\"span_id\":\"%s\",\"parent_span_id\":\"%s\","
		   "\"error\":",
		s->server.port, trace, span_hex, parent);
	json_string(f, s->error);
	fputs("}\n", f);
}

/*
 * The exporter: the pipeline thread formats a span into a line and queues
 * it, never waiting; a writer thread writes the queue to stdout, blocking
 * as long as stdout does. A stdout nobody reads (a full pipe) fills the
 * queue, and lines that do not fit are dropped and counted
 * (sonde_export_dropped_total{exporter="printer"}) while the pipeline,
 * and so the metrics, go on.
 */
#define PRINTER_QUEUE_BYTES (1u << 20)
#define PRINTER_WRITE_BATCH (64u << 10)
#define PRINTER_STOP_MS 500 /* at shutdown, a blocked stdout is given this long */

const char *const printer_drop_names[PRINTER_DROP__MAX] = {
	[PRINTER_DROP_QUEUE_FULL] = "queue_full",
	[PRINTER_DROP_WRITE_FAILED] = "write_failed",
	[PRINTER_DROP_SHUTDOWN] = "shutdown",
};

static atomic_uint_fast64_t printer_dropped[PRINTER_DROP__MAX];

uint64_t printer__dropped(enum printer_drop_reason why)
{
	return atomic_load(&printer_dropped[why]);
}

static void count_drop(enum printer_drop_reason why, uint64_t n)
{
	if (n)
		atomic_fetch_add(&printer_dropped[why], n);
}

static uint64_t lines_in(const char *buf, size_t n)
{
	uint64_t lines = 0;

	for (size_t i = 0; i < n; i++)
		lines += buf[i] == '\n';
	return lines;
}

struct printer_state {
	int mode;
	int fd;
	struct line_queue *queue;
	pthread_t writer;
	bool started;
	atomic_bool done;		 /* the writer has returned */
	atomic_uint_fast64_t inflight; /* lines the writer holds, not yet written */
	bool write_error_logged;
	char batch[PRINTER_WRITE_BATCH]; /* the writer's */
	FILE *line;			 /* the pipeline thread's formatting buffer */
	char *line_buf;
	size_t line_size;
};

/* Write all of @buf, waiting while @fd is full (even when someone made it
 * non-blocking). Return: 0, or -errno when it cannot be written. */
static int write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);

		if (w < 0) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			poll(&pfd, 1, -1);
			continue;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *writer_main(void *arg)
{
	struct printer_state *st = arg;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	for (;;) {
		size_t n = line_queue__pop(st->queue, st->batch, sizeof(st->batch));
		uint64_t lines;
		int err;

		if (!n)
			break;
		lines = lines_in(st->batch, n);
		atomic_store(&st->inflight, lines);
		/* Cancellable only while blocked on stdout (shutdown's last resort). */
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		err = write_all(st->fd, st->batch, n);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		atomic_store(&st->inflight, 0);
		if (err) {
			count_drop(PRINTER_DROP_WRITE_FAILED, lines);
			if (!st->write_error_logged)
				log_warn("trace printer: cannot write to stdout: %s (lines are dropped "
					 "and counted in sonde_export_dropped_total)", strerror(-err));
			st->write_error_logged = true;
		}
	}
	atomic_store(&st->done, true);
	return NULL;
}

static bool printer_enabled(const struct sonde_config *cfg)
{
	return cfg->trace_printer == PRINTER_TEXT || cfg->trace_printer == PRINTER_JSON;
}

static void printer_destroy(struct exporter *e);

static int printer_init(struct exporter *e, const struct sonde_config *cfg, struct sonde_runtime *rt)
{
	struct printer_state *st = calloc(1, sizeof(*st));
	int err;

	if (!st)
		return -ENOMEM;
	e->state = st;
	st->mode = cfg->trace_printer;
	st->fd = STDOUT_FILENO;
	fflush(stdout); /* from here on stdout is the writer's alone */
	st->queue = line_queue__new(PRINTER_QUEUE_BYTES);
	st->line = open_memstream(&st->line_buf, &st->line_size);
	if (!st->queue || !st->line) {
		printer_destroy(e);
		return -ENOMEM;
	}
	err = pthread_create(&st->writer, NULL, writer_main, st);
	if (err) {
		printer_destroy(e);
		return -err;
	}
	st->started = true;
	return 0;
}

static enum exporter_status printer_export(struct exporter *e, const struct span *s)
{
	struct printer_state *st = e->state;
	long len;

	rewind(st->line);
	if (st->mode == PRINTER_JSON)
		printer__json(st->line, s);
	else
		printer__text(st->line, s);
	if (fflush(st->line) || (len = ftell(st->line)) <= 0) {
		count_drop(PRINTER_DROP_QUEUE_FULL, 1);
		return EXPORT_ERROR;
	}
	if (!line_queue__push(st->queue, st->line_buf, (size_t)len)) {
		count_drop(PRINTER_DROP_QUEUE_FULL, 1);
		return EXPORT_ERROR;
	}
	return EXPORT_OK;
}

/* Let the writer finish what is queued, for PRINTER_STOP_MS at most: a
 * stdout that stays blocked does not hold Sonde's exit. */
static void printer_destroy(struct exporter *e)
{
	struct printer_state *st = e->state;

	if (!st)
		return;
	if (st->queue)
		line_queue__close(st->queue);
	if (st->started) {
		for (int ms = 0; ms < PRINTER_STOP_MS && !atomic_load(&st->done); ms += 5)
			usleep(5000);
		if (!atomic_load(&st->done)) {
			pthread_cancel(st->writer);
			count_drop(PRINTER_DROP_SHUTDOWN, atomic_load(&st->inflight));
		}
		pthread_join(st->writer, NULL);
		/* What the writer never got to. */
		for (size_t n; (n = line_queue__pop(st->queue, st->batch, sizeof(st->batch)));)
			count_drop(PRINTER_DROP_SHUTDOWN, lines_in(st->batch, n));
	}
	if (st->line)
		fclose(st->line);
	free(st->line_buf);
	line_queue__free(st->queue);
	free(st);
	e->state = NULL;
}

const struct exporter_ops printer_exporter = {
	.name = "printer",
	.enabled = printer_enabled,
	.init = printer_init,
	.export_span = printer_export,
	.flush = NULL, /* the writer thread writes as lines come */
	.destroy = printer_destroy,
};
