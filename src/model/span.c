// SPDX-License-Identifier: Apache-2.0
/* Building the protocol-independent part of a span from a kernel event,
 * and what every span goes through whatever its protocol. */
#include "model/span.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "model/http_method.h"
#include "model/traceparent.h"
#include "sonde/abi.h"
#include "util/str.h"
#include "util/utf8.h"

static void endpoint_from(const struct sonde_addr *a, struct span_endpoint *e)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	_Static_assert(sizeof(e->addr) >= 16, "room for a dotted quad");
	e->port = a->port;
	if (a->family == 2 /* AF_INET */)
		str_ipv4(a->addr, e->addr);
	else if (!memcmp(a->addr, v4mapped, sizeof(v4mapped)))
		str_ipv4(a->addr + 12, e->addr);
	else
		inet_ntop(AF_INET6, a->addr, e->addr, sizeof(e->addr));
}

void span_from_txn(const struct sonde_txn_event *ev, int64_t mono_to_real_ns, struct span *s)
{
	bool server = ev->role == SONDE_ROLE_SERVER;

	memset(s, 0, sizeof(*s));
	s->proto = ev->proto;
	s->tls = ev->conn_flags & SONDE_CONNF_TLS;
	s->self.conn_id = ev->conn_id;
	s->self.txn_seq = ev->txn_seq;
	if (ev->parent.link != SONDE_LINK_NONE) {
		s->parent.conn_id = ev->parent.conn_id;
		s->parent.txn_seq = ev->parent.txn_seq;
		s->parent_link = ev->parent.link;
	}
	s->parent_busy = ev->parent.busy;
	s->kind = server ? SPAN_KIND_SERVER : SPAN_KIND_CLIENT;
	s->pid = ev->hdr.tgid;
	s->tid = ev->tid;
	s->resp_tid = ev->resp_tid;
	s->start_ns = ev->start_ns + mono_to_real_ns;
	s->handler_start_ns = ev->req_end_ns + mono_to_real_ns;
	s->end_ns = ev->end_ns + mono_to_real_ns;
	if (server) {
		endpoint_from(&ev->peer, &s->client);
		endpoint_from(&ev->local, &s->server);
	} else {
		endpoint_from(&ev->local, &s->client);
		endpoint_from(&ev->peer, &s->server);
	}
}

void span_from_connect_failure(const struct sonde_txn_event *ev, int64_t mono_to_real_ns,
			       struct span *s)
{
	span_from_txn(ev, mono_to_real_ns, s);
	s->self.conn_id = 0; /* nothing can be its child */
	s->kind = SPAN_KIND_CLIENT;
	s->resp_tid = 0;
	s->handler_start_ns = s->start_ns;
	endpoint_from(&ev->local, &s->client);
	endpoint_from(&ev->peer, &s->server);
	if (ev->error)
		snprintf(s->error, sizeof(s->error), "connect: %s", strerror(ev->error));
	else
		snprintf(s->error, sizeof(s->error), "connect: closed before it completed");
}

void span_sanitize(struct span *s)
{
	utf8_fix(s->method, sizeof(s->method));
	utf8_fix(s->path, sizeof(s->path));
	utf8_fix(s->route, sizeof(s->route));
	utf8_fix(s->host, sizeof(s->host));
	utf8_fix(s->error, sizeof(s->error));
	if (span_is_rpc(s)) {
		utf8_fix(s->rpc.service, sizeof(s->rpc.service));
		utf8_fix(s->rpc.method, sizeof(s->rpc.method));
	}
	if (span_is_db(s)) {
		utf8_fix(s->db.operation, sizeof(s->db.operation));
		utf8_fix(s->db.collection, sizeof(s->db.collection));
		utf8_fix(s->db.namespace_, sizeof(s->db.namespace_));
		utf8_fix(s->db.status_code, sizeof(s->db.status_code));
		utf8_fix(s->db.query, sizeof(s->db.query));
	}
}

void span_db_name(const struct span *s, char *out, size_t size)
{
	if (s->db.operation[0] && s->db.collection[0])
		snprintf(out, size, "%s %s", s->db.operation, s->db.collection);
	else if (s->db.operation[0])
		snprintf(out, size, "%s", s->db.operation);
	else
		snprintf(out, size, "%s", s->db.system[0] ? s->db.system : "DB");
}

bool span_take_traceparent(struct span *s, const char *value)
{
	struct traceparent tp;

	if (!traceparent_parse(value, strlen(value), &tp))
		return false;
	memcpy(s->trace_id, tp.trace_id, sizeof(s->trace_id));
	memcpy(s->parent_span_id, tp.parent_id, sizeof(s->parent_span_id));
	s->trace_flags = tp.flags;
	return true;
}

bool span_rpc_failed(const struct span *s)
{
	/* UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS */
	static const int server_errors[] = { 2, 4, 12, 13, 14, 15 };

	if (s->rpc.grpc_status < 0)
		return true;
	if (s->kind == SPAN_KIND_CLIENT)
		return s->rpc.grpc_status != 0;
	for (size_t i = 0; i < sizeof(server_errors) / sizeof(server_errors[0]); i++)
		if (s->rpc.grpc_status == server_errors[i])
			return true;
	return false;
}

void span_rpc_name(const struct span *s, char *out, size_t size)
{
	if (s->rpc.method[0])
		snprintf(out, size, "%s/%s", s->rpc.service, s->rpc.method);
	else
		snprintf(out, size, "%s", s->rpc.service[0] ? s->rpc.service : s->rpc.system);
}

void span_name(const struct span *s, char *out, size_t size)
{
	/* Semantic conventions: "HTTP" stands for a method that is _OTHER. */
	const char *method = http_method_known(s->method) ? s->method : "HTTP";

	if (span_is_db(s))
		span_db_name(s, out, size);
	else if (span_is_rpc(s))
		span_rpc_name(s, out, size);
	else if (s->route[0]) /* servers: a client's URL has no template */
		snprintf(out, size, "%s %s", method, s->route);
	else
		snprintf(out, size, "%s", method);
}
