// SPDX-License-Identifier: Apache-2.0
/* Span metrics and the service graph. See spanmetrics.h. */
#include "model/spanmetrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discovery.h"
#include "model/http_method.h"
#include "util/str.h"

#define TABLE_BUCKETS 1024
#define PEER_SLOTS 256

struct sm_node {
	struct sm_series s;
	struct sm_node *next;
};

struct sg_node {
	struct sg_edge e;
	struct sg_node *next;
};

/* A span waiting for its other half. */
struct pending {
	uint8_t key[8];	 /* client: its span id; server: its parent's span id */
	bool used;
	bool is_server;
	bool failed;
	double seconds;
	uint64_t deadline;
	char node[SG_NODE_MAX]; /* its own service */
	char peer[SG_NODE_MAX]; /* client: where it called, if nobody answers */
	int32_t hnext;		/* hash chain, -1 ends */
};

/* Which service listens at an address, learnt from server spans. */
struct peer_slot {
	char addr[SPAN_ADDR_MAX];
	uint16_t port;
	char name[SG_NODE_MAX];
};

struct spanmetrics {
	pthread_mutex_t lock;
	size_t max_series;
	uint64_t wait_ns;

	struct sm_node *sm_buckets[TABLE_BUCKETS];
	struct sm_node **sm_order;
	size_t sm_count, sm_cap;

	struct sg_node *sg_buckets[TABLE_BUCKETS];
	struct sg_node **sg_order;
	size_t sg_count, sg_cap;

	uint64_t overflowed[SM_TABLE__MAX];
	uint64_t evicted;

	/* Unpaired spans: a ring in arrival (hence deadline) order, hashed by key. */
	struct pending *pend;
	size_t pend_cap, pend_head, pend_len;
	int32_t pend_hash[TABLE_BUCKETS];

	struct peer_slot peers[PEER_SLOTS];
};

#define FNV_OFFSET 1469598103934665603ull
#define FNV_PRIME 1099511628211ull

static uint64_t mix(uint64_t h, const void *ptr, size_t len)
{
	const unsigned char *p = ptr;

	h ^= len;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * FNV_PRIME;
	return h;
}

struct spanmetrics *spanmetrics__new(size_t max_series, uint64_t wait_ns, size_t max_pending)
{
	struct spanmetrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->max_series = max_series ? max_series : 1;
	m->wait_ns = wait_ns;
	m->pend_cap = max_pending ? max_pending : 1;
	m->pend = calloc(m->pend_cap, sizeof(*m->pend));
	if (!m->pend) {
		free(m);
		return NULL;
	}
	for (int i = 0; i < TABLE_BUCKETS; i++)
		m->pend_hash[i] = -1;
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

void spanmetrics__free(struct spanmetrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->sm_count; i++)
		free(m->sm_order[i]);
	for (size_t i = 0; i < m->sg_count; i++)
		free(m->sg_order[i]);
	free(m->sm_order);
	free(m->sg_order);
	free(m->pend);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* ---- names ---- */

enum sm_status spanmetrics__status(const struct span *s)
{
	if (span_is_db(s))
		return span_db_failed(s) ? SM_STATUS_ERROR : SM_STATUS_UNSET;
	if (span_is_rpc(s))
		return span_rpc_failed(s) ? SM_STATUS_ERROR : SM_STATUS_UNSET;
	if (s->kind == SPAN_KIND_SERVER)
		return s->status >= 500 ? SM_STATUS_ERROR : SM_STATUS_UNSET;
	if (s->status >= 400 || s->status <= 0 || s->error[0])
		return SM_STATUS_ERROR;
	return SM_STATUS_UNSET;
}

const char *spanmetrics__status_name(enum sm_status st)
{
	switch (st) {
	case SM_STATUS_OK:
		return "STATUS_CODE_OK";
	case SM_STATUS_ERROR:
		return "STATUS_CODE_ERROR";
	default:
		return "STATUS_CODE_UNSET";
	}
}

const char *spanmetrics__kind_name(enum span_kind k)
{
	return k == SPAN_KIND_SERVER ? "SPAN_KIND_SERVER" : "SPAN_KIND_CLIENT";
}

void spanmetrics__peer(const struct span *s, char *out, size_t size)
{
	char host[SPAN_HOST_MAX];
	const char *h = s->host;

	if (h[0] == '[') {
		const char *end = strchr(h, ']');

		str_copy_n(host, sizeof(host), h + 1, end ? (size_t)(end - h - 1) : strlen(h + 1));
	} else {
		const char *colon = strchr(h, ':');

		str_copy_n(host, sizeof(host), h, colon ? (size_t)(colon - h) : strlen(h));
	}
	if (!host[0])
		str_copy(host, sizeof(host), s->server.addr);
	if (strchr(host, ':'))
		snprintf(out, size, "[%s]:%u", host, s->server.port);
	else
		snprintf(out, size, "%s:%u", host, s->server.port);
}

/* ---- span metrics ---- */

static void grow(void ***order, size_t *cap, size_t count, bool *ok)
{
	void **v;
	size_t c;

	*ok = true;
	if (count < *cap)
		return;
	c = *cap ? *cap * 2 : 64;
	v = realloc(*order, c * sizeof(*v));
	if (!v) {
		*ok = false;
		return;
	}
	*order = v;
	*cap = c;
}

void spanmetrics__record(struct spanmetrics *m, const struct span *sp)
{
	struct sm_series k;
	struct sm_node *n;
	uint64_t h;
	bool ok;

	memset(&k, 0, sizeof(k));
	k.service = sp->service;
	k.pid = sp->pid;
	k.kind = sp->kind;
	k.status = spanmetrics__status(sp);
	span_name(sp, k.span_name, sizeof(k.span_name));
	h = mix(FNV_OFFSET, &k.service, sizeof(k.service));
	h = mix(h, &k.pid, sizeof(k.pid));
	h = mix(h, &k.kind, sizeof(k.kind));
	h = mix(h, &k.status, sizeof(k.status));
	h = mix(h, k.span_name, strlen(k.span_name)) % TABLE_BUCKETS;

	pthread_mutex_lock(&m->lock);
	for (n = m->sm_buckets[h]; n; n = n->next)
		if (n->s.service == k.service && n->s.pid == k.pid && n->s.kind == k.kind &&
		    n->s.status == k.status && !strcmp(n->s.span_name, k.span_name))
			break;
	if (!n) {
		if (m->sm_count >= m->max_series) {
			m->overflowed[SM_TABLE_SPAN]++;
			goto out;
		}
		grow((void ***)&m->sm_order, &m->sm_cap, m->sm_count, &ok);
		n = ok ? calloc(1, sizeof(*n)) : NULL;
		if (!n)
			goto out;
		n->s = k;
		n->next = m->sm_buckets[h];
		m->sm_buckets[h] = n;
		m->sm_order[m->sm_count++] = n;
	}
	histogram_observe(&n->s.latency, duration_bounds_s, DURATION_BOUNDS,
			  span_duration_ns(sp) / 1e9);
	n->s.size_total += sp->request_body_size;
out:
	pthread_mutex_unlock(&m->lock);
}

/* ---- service graph ---- */

static const char *svc_name(const struct span *s)
{
	return s->service && s->service->name[0] ? s->service->name : "unknown_service";
}

/* One request on an edge; called locked. @client_s/@server_s < 0: side not seen. */
static void edge_add(struct spanmetrics *m, const char *client, const char *server,
		     const char *conn_type, bool failed, double client_s, double server_s)
{
	uint64_t h = mix(FNV_OFFSET, client, strlen(client));
	struct sg_node *n;
	bool ok;

	h = mix(h, server, strlen(server));
	h = mix(h, conn_type, strlen(conn_type)) % TABLE_BUCKETS;
	for (n = m->sg_buckets[h]; n; n = n->next)
		if (!strcmp(n->e.client, client) && !strcmp(n->e.server, server) &&
		    !strcmp(n->e.connection_type, conn_type))
			break;
	if (!n) {
		if (m->sg_count >= m->max_series) {
			m->overflowed[SM_TABLE_GRAPH]++;
			return;
		}
		grow((void ***)&m->sg_order, &m->sg_cap, m->sg_count, &ok);
		n = ok ? calloc(1, sizeof(*n)) : NULL;
		if (!n)
			return;
		str_copy(n->e.client, sizeof(n->e.client), client);
		str_copy(n->e.server, sizeof(n->e.server), server);
		str_copy(n->e.connection_type, sizeof(n->e.connection_type), conn_type);
		n->next = m->sg_buckets[h];
		m->sg_buckets[h] = n;
		m->sg_order[m->sg_count++] = n;
	}
	n->e.total++;
	n->e.failed += failed;
	if (client_s >= 0)
		histogram_observe(&n->e.client_seconds, duration_bounds_s, DURATION_BOUNDS, client_s);
	if (server_s >= 0)
		histogram_observe(&n->e.server_seconds, duration_bounds_s, DURATION_BOUNDS, server_s);
}

static size_t key_bucket(const uint8_t key[8])
{
	return mix(FNV_OFFSET, key, 8) % TABLE_BUCKETS;
}

static bool id_zero(const uint8_t id[8])
{
	for (int i = 0; i < 8; i++)
		if (id[i])
			return false;
	return true;
}

/* The waiting span of @key on the wanted side, unlinked from the hash; or NULL. */
static struct pending *pending_take(struct spanmetrics *m, const uint8_t key[8], bool server)
{
	int32_t *link = &m->pend_hash[key_bucket(key)];

	while (*link >= 0) {
		struct pending *p = &m->pend[*link];

		if (p->used && p->is_server == server && !memcmp(p->key, key, 8)) {
			*link = p->hnext;
			p->used = false;
			return p;
		}
		link = &p->hnext;
	}
	return NULL;
}

static void pending_unhash(struct spanmetrics *m, struct pending *p)
{
	int32_t *link = &m->pend_hash[key_bucket(p->key)];
	int32_t self = (int32_t)(p - m->pend);

	while (*link >= 0) {
		if (*link == self) {
			*link = p->hnext;
			return;
		}
		link = &m->pend[*link].hnext;
	}
}

static const char *peer_service(struct spanmetrics *m, const char *addr, uint16_t port)
{
	struct peer_slot *ps = &m->peers[mix(mix(FNV_OFFSET, &port, sizeof(port)), addr,
					     strlen(addr)) % PEER_SLOTS];

	return ps->port == port && !strcmp(ps->addr, addr) && ps->name[0] ? ps->name : NULL;
}

static void learn_peer(struct spanmetrics *m, const struct span *s)
{
	struct peer_slot *ps = &m->peers[mix(mix(FNV_OFFSET, &s->server.port, sizeof(s->server.port)),
					     s->server.addr, strlen(s->server.addr)) % PEER_SLOTS];

	str_copy(ps->addr, sizeof(ps->addr), s->server.addr);
	ps->port = s->server.port;
	str_copy(ps->name, sizeof(ps->name), svc_name(s));
}

/* An unpaired span whose wait is over becomes an edge of its own. Locked. */
static void pending_settle(struct spanmetrics *m, struct pending *p)
{
	if (!p->used)
		return;
	pending_unhash(m, p);
	p->used = false;
	if (p->is_server)
		edge_add(m, SG_USER, p->node, SG_VIRTUAL_NODE, p->failed, -1, p->seconds);
	else
		edge_add(m, p->node, p->peer, SG_VIRTUAL_NODE, p->failed, p->seconds, -1);
}

/* Let the oldest slots go while @all, past their deadline, or already paired. */
static void pending_drain(struct spanmetrics *m, uint64_t now_ns, bool all)
{
	while (m->pend_len) {
		struct pending *p = &m->pend[m->pend_head];

		if (p->used && !all && p->deadline > now_ns)
			break;
		pending_settle(m, p);
		m->pend_head = (m->pend_head + 1) % m->pend_cap;
		m->pend_len--;
	}
}

static void pending_add(struct spanmetrics *m, const struct span *s, const uint8_t key[8],
			bool failed, uint64_t now_ns)
{
	struct pending *p;
	size_t b = key_bucket(key);

	if (m->pend_len == m->pend_cap) {
		/* Full: the oldest goes now, unpaired. */
		if (m->pend[m->pend_head].used)
			m->evicted++;
		pending_settle(m, &m->pend[m->pend_head]);
		m->pend_head = (m->pend_head + 1) % m->pend_cap;
		m->pend_len--;
	}
	p = &m->pend[(m->pend_head + m->pend_len) % m->pend_cap];
	m->pend_len++;
	memset(p, 0, sizeof(*p));
	memcpy(p->key, key, 8);
	p->used = true;
	p->is_server = s->kind == SPAN_KIND_SERVER;
	p->failed = failed;
	p->seconds = span_duration_ns(s) / 1e9;
	p->deadline = now_ns + m->wait_ns;
	str_copy(p->node, sizeof(p->node), svc_name(s));
	if (!p->is_server) {
		const char *known = peer_service(m, s->server.addr, s->server.port);

		if (known)
			str_copy(p->peer, sizeof(p->peer), known);
		else
			spanmetrics__peer(s, p->peer, sizeof(p->peer));
	}
	p->hnext = m->pend_hash[b];
	m->pend_hash[b] = (int32_t)(p - m->pend);
}

void spanmetrics__graph_submit(struct spanmetrics *m, const struct span *s, uint64_t now_ns)
{
	bool failed = spanmetrics__status(s) == SM_STATUS_ERROR;
	double seconds = span_duration_ns(s) / 1e9;
	struct pending *other;

	pthread_mutex_lock(&m->lock);
	pending_drain(m, now_ns, false);
	if (s->kind == SPAN_KIND_SERVER) {
		learn_peer(m, s);
		if (id_zero(s->parent_span_id)) {
			/* A root: its caller is not traced (a user, a probe, ...). */
			edge_add(m, SG_USER, svc_name(s), SG_VIRTUAL_NODE, failed, -1, seconds);
		} else if ((other = pending_take(m, s->parent_span_id, false))) {
			edge_add(m, other->node, svc_name(s), "", failed || other->failed,
				 other->seconds, seconds);
		} else {
			pending_add(m, s, s->parent_span_id, failed, now_ns);
		}
	} else if ((other = pending_take(m, s->span_id, true))) {
		edge_add(m, svc_name(s), other->node, "", failed || other->failed, seconds,
			 other->seconds);
	} else {
		pending_add(m, s, s->span_id, failed, now_ns);
	}
	pthread_mutex_unlock(&m->lock);
}

void spanmetrics__graph_expire(struct spanmetrics *m, uint64_t now_ns)
{
	pthread_mutex_lock(&m->lock);
	pending_drain(m, now_ns, false);
	pthread_mutex_unlock(&m->lock);
}

void spanmetrics__graph_flush(struct spanmetrics *m)
{
	pthread_mutex_lock(&m->lock);
	pending_drain(m, 0, true);
	pthread_mutex_unlock(&m->lock);
}

/* ---- readers ---- */

int spanmetrics__series(struct spanmetrics *m, struct sm_series **out, size_t *n)
{
	pthread_mutex_lock(&m->lock);
	*out = malloc((m->sm_count ? m->sm_count : 1) * sizeof(**out));
	*n = 0;
	if (*out) {
		for (size_t i = 0; i < m->sm_count; i++)
			(*out)[i] = m->sm_order[i]->s;
		*n = m->sm_count;
	}
	pthread_mutex_unlock(&m->lock);
	return *out ? 0 : -ENOMEM;
}

int spanmetrics__edges(struct spanmetrics *m, struct sg_edge **out, size_t *n)
{
	pthread_mutex_lock(&m->lock);
	*out = malloc((m->sg_count ? m->sg_count : 1) * sizeof(**out));
	*n = 0;
	if (*out) {
		for (size_t i = 0; i < m->sg_count; i++)
			(*out)[i] = m->sg_order[i]->e;
		*n = m->sg_count;
	}
	pthread_mutex_unlock(&m->lock);
	return *out ? 0 : -ENOMEM;
}

uint64_t spanmetrics__overflowed(struct spanmetrics *m, enum sm_table t)
{
	uint64_t v;

	pthread_mutex_lock(&m->lock);
	v = t < SM_TABLE__MAX ? m->overflowed[t] : 0;
	pthread_mutex_unlock(&m->lock);
	return v;
}

uint64_t spanmetrics__evicted(struct spanmetrics *m)
{
	uint64_t v;

	pthread_mutex_lock(&m->lock);
	v = m->evicted;
	pthread_mutex_unlock(&m->lock);
	return v;
}
