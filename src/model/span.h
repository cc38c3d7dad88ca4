/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one span model every decoder fills and every exporter reads
 * (printer, Prometheus, OTLP). Times are wall-clock nanoseconds since the
 * Unix epoch, converted once from the kernel's monotonic clock.
 */
#ifndef SONDE_MODEL_SPAN_H
#define SONDE_MODEL_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sonde/abi.h"

#define SPAN_METHOD_MAX 16
#define SPAN_PATH_MAX 256
#define SPAN_ROUTE_MAX 128
#define SPAN_HOST_MAX 128
#define SPAN_ADDR_MAX 48 /* text form of an IPv6 address */

enum span_kind {
	SPAN_KIND_SERVER = 1,
	SPAN_KIND_CLIENT = 2,
};

#define SPAN_DB_QUERY_MAX 256

/* The attributes of a database client call (PostgreSQL, MySQL/MariaDB):
 * the OTel database conventions' names. Empty strings where unknown. */
struct span_db {
	char system[16];      /* db.system.name: postgresql, mysql, mariadb */
	char operation[32];   /* db.operation.name: SELECT */
	char collection[64];  /* db.collection.name: the table */
	char namespace_[64];  /* db.namespace: the database */
	char status_code[16]; /* db.response.status_code: SQLSTATE or error number; "" on success */
	char query[SPAN_DB_QUERY_MAX]; /* db.query.text, literals masked; "" unless enabled */
};

/* The attributes of a remote procedure call (gRPC, over HTTP/2): the OTel
 * RPC conventions' names. Empty system when the span is no RPC. */
struct span_rpc {
	char system[8];	    /* rpc.system: grpc */
	char service[128];  /* rpc.service: package.Service */
	char method[64];    /* rpc.method */
	int grpc_status;    /* rpc.grpc.status_code; -1 when none was seen */
};

/* span.http_minor of an HTTP/2 span: the protocol is not HTTP/1.x. */
#define SPAN_HTTP2 2

struct span_endpoint {
	char addr[SPAN_ADDR_MAX]; /* IPv4-mapped IPv6 is shown as IPv4 */
	uint16_t port;
};

struct service;

/* A transaction as the kernel names it (connection id, number on it). */
struct txn_id {
	uint64_t conn_id; /* 0: unknown */
	uint32_t txn_seq;
};

struct span {
	enum span_kind kind;
	uint8_t proto; /* enum sonde_proto: which decoder filled the protocol fields */
	const struct service *service; /* owned by discovery; outlives the span */
	uint32_t pid;
	uint32_t tid;	   /* thread that read the request (server) or wrote it (client) */
	uint32_t resp_tid; /* thread that wrote (server) or read (client) the response */

	uint64_t start_ns;	   /* request start (see docs/timing.md) */
	uint64_t handler_start_ns; /* request fully read (server) / sent (client) */
	uint64_t end_ns;	   /* last response byte */

	char method[SPAN_METHOD_MAX];
	char path[SPAN_PATH_MAX];   /* without the query string */
	char route[SPAN_ROUTE_MAX]; /* low-cardinality form of path */
	char host[SPAN_HOST_MAX];   /* Host header, empty if absent */
	int status;		    /* HTTP status code, 0 when unknown */
	uint8_t http_minor;	    /* 0 or 1: HTTP/1.0 or HTTP/1.1; SPAN_HTTP2 for HTTP/2 */
	uint64_t request_body_size;
	uint64_t response_body_size;

	struct span_endpoint client;
	struct span_endpoint server;

	char error[64]; /* why the call failed ("connection refused", a server's message), "" if it did not */

	/* Protocol attributes beside the HTTP ones above, by `proto`. */
	struct span_db db; /* span_is_db() */
	struct span_rpc rpc; /* span_is_rpc() */

	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_span_id[8]; /* all zero for a root span */
	uint8_t trace_flags;

	/* For joining spans into traces (model/linker.h). */
	struct txn_id self;
	struct txn_id parent;  /* the transaction this one is part of, if known */
	uint8_t parent_link;   /* enum sonde_link_kind */
	bool parent_busy;      /* client: the kernel saw requests in flight it could not link to */
	bool remote_parent;    /* trace context came in a traceparent header */
	bool tls;	       /* the bytes were TLS plaintext: url.scheme is https */
};

struct sonde_txn_event;

/**
 * span_from_txn() - the protocol-independent part of a span: kind, process,
 * thread, times (wall clock: @mono_to_real_ns added), both ends, and the
 * kernel's names for the transaction and its parent. Every decoder starts
 * from it; it zeroes everything else.
 */
void span_from_txn(const struct sonde_txn_event *ev, int64_t mono_to_real_ns, struct span *s);

/**
 * span_from_connect_failure() - a client connection that never opened: a
 * client span with the error, whatever protocol it would have carried.
 */
void span_from_connect_failure(const struct sonde_txn_event *ev, int64_t mono_to_real_ns,
			       struct span *s);

/* Is @s a database client call (its attributes in s->db)? */
static inline bool span_is_db(const struct span *s)
{
	return s->proto == SONDE_PROTO_POSTGRES || s->proto == SONDE_PROTO_MYSQL;
}

/* Is @s a remote procedure call (its attributes in s->rpc)? */
static inline bool span_is_rpc(const struct span *s)
{
	return s->rpc.system[0] != 0;
}

/**
 * span_rpc_failed() - is the RPC @s an error? The OTel gRPC rules: a
 * server fails only with UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
 * INTERNAL, UNAVAILABLE or DATA_LOSS (the others are the caller's
 * problem); a client with anything but OK; a call without a status (reset,
 * cut) always.
 */
bool span_rpc_failed(const struct span *s);

/* An RPC span's name: "package.Service/Method" (OTel RPC conventions). */
void span_rpc_name(const struct span *s, char *out, size_t size);

/* "1.0", "1.1" or "2": the network.protocol.version of @http_minor. */
static inline const char *span_http_version(unsigned int http_minor)
{
	return http_minor == SPAN_HTTP2 ? "2" : http_minor ? "1.1" : "1.0";
}

/* A database call failed: the server answered with an error. */
static inline bool span_db_failed(const struct span *s)
{
	return s->db.status_code[0] || s->error[0];
}

/**
 * span_db_name() - a database span's name, "<operation> <collection>"
 * ("SELECT users"), the operation alone, or the system when neither is
 * known (OTel database conventions).
 */
void span_db_name(const struct span *s, char *out, size_t size);

/**
 * span_name() - the span's name, one rule for traces, span metrics and the
 * live view: a database call "<operation> <collection>", a gRPC call
 * "package.Service/Method", an HTTP server span "<method> <route>", an HTTP
 * client span "<method>" alone (OTel's rule: a URL without its template
 * would make the name high-cardinality). An unknown method reads "HTTP".
 */
void span_name(const struct span *s, char *out, size_t size);

static inline uint64_t span_duration_ns(const struct span *s)
{
	return s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0;
}

static inline uint64_t span_handler_ns(const struct span *s)
{
	return s->end_ns > s->handler_start_ns ? s->end_ns - s->handler_start_ns : 0;
}

/**
 * span_sanitize() - make the span's strings valid UTF-8 (util/utf8.h):
 * called where a span is built from bytes a traced program sent, before
 * anything reads them.
 */
void span_sanitize(struct span *s);

/**
 * span_take_traceparent() - put @s in the trace of the traceparent header
 * @value when it is valid as a whole (model/traceparent.h); else leave @s
 * as it is. Return: whether it was taken.
 */
bool span_take_traceparent(struct span *s, const char *value);

#endif /* SONDE_MODEL_SPAN_H */
