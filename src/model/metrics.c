// SPDX-License-Identifier: Apache-2.0
#include "model/metrics.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OTel semantic-convention advice for http.*.request.duration. */
const double duration_bounds_s[DURATION_BOUNDS] = { 0,	  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
						     0.5, 0.75,	 1,    2.5,   5,    7.5,   10 };
const double size_bounds_bytes[SIZE_BOUNDS] = { 0, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192 };

#define STORE_BUCKETS 1024

struct metric_store {
	pthread_mutex_t lock;
	struct series *buckets[STORE_BUCKETS];
	struct series **order; /* creation order, for stable output */
	size_t count, cap;
	uint64_t spans;
};

struct metric_store *metric_store__new(void)
{
	struct metric_store *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

void metric_store__free(struct metric_store *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->count; i++)
		free(m->order[i]);
	free(m->order);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void histogram_observe(struct histogram *h, const double *bounds, int n, double v)
{
	int i = 0;

	while (i < n && v > bounds[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum += v;
}

static uint64_t key_hash(const struct series_key *k)
{
	uint64_t h = 1469598103934665603ull;
	const unsigned char *p;

#define MIX(ptr, len)                                   \
	for (p = (const unsigned char *)(ptr), h ^= (len); \
	     p < (const unsigned char *)(ptr) + (len); p++) \
		h = (h ^ *p) * 1099511628211ull;
	MIX(&k->kind, sizeof(k->kind));
	MIX(&k->service, sizeof(k->service));
	MIX(k->method, strlen(k->method));
	MIX(&k->status, sizeof(k->status));
	MIX(&k->route, sizeof(k->route));
	MIX(k->peer, strlen(k->peer));
	MIX(&k->peer_port, sizeof(k->peer_port));
#undef MIX
	return h;
}

static bool key_equal(const struct series_key *a, const struct series_key *b)
{
	return a->kind == b->kind && a->service == b->service && a->status == b->status &&
	       a->route == b->route && a->peer_port == b->peer_port &&
	       !strcmp(a->method, b->method) && !strcmp(a->peer, b->peer);
}

static struct series *series_get(struct metric_store *m, const struct series_key *k)
{
	size_t b = key_hash(k) % STORE_BUCKETS;
	struct series *s;

	for (s = m->buckets[b]; s; s = s->next)
		if (key_equal(&s->key, k))
			return s;
	if (m->count == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct series **grown = realloc(m->order, cap * sizeof(*grown));

		if (!grown)
			return NULL;
		m->order = grown;
		m->cap = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->key = *k;
	s->next = m->buckets[b];
	m->buckets[b] = s;
	m->order[m->count++] = s;
	return s;
}

/* The host a client named, without its port: "api:8080" -> "api",
 * "[::1]:80" -> "::1". */
static void host_without_port(const char *host, char *out, size_t size)
{
	const char *colon = strrchr(host, ':');

	if (host[0] == '[') {
		const char *end = strchr(host, ']');

		snprintf(out, size, "%.*s", end ? (int)(end - host - 1) : (int)strlen(host + 1), host + 1);
	} else if (colon && colon == strchr(host, ':')) {
		snprintf(out, size, "%.*s", (int)(colon - host), host);
	} else {
		snprintf(out, size, "%s", host);
	}
}

void metric_store__record(struct metric_store *m, const struct span *sp, const char *route)
{
	struct series_key k;
	struct series *s;

	memset(&k, 0, sizeof(k));
	k.kind = sp->kind;
	k.service = sp->service;
	snprintf(k.method, sizeof(k.method), "%s", sp->method);
	k.status = sp->status;
	if (sp->kind == SPAN_KIND_SERVER) {
		k.route = route;
	} else {
		if (sp->host[0])
			host_without_port(sp->host, k.peer, sizeof(k.peer));
		else
			snprintf(k.peer, sizeof(k.peer), "%s", sp->server.addr);
		k.peer_port = sp->server.port;
	}
	pthread_mutex_lock(&m->lock);
	s = series_get(m, &k);
	if (s) {
		histogram_observe(&s->duration, duration_bounds_s, DURATION_BOUNDS,
				  span_duration_ns(sp) / 1e9);
		histogram_observe(&s->req_body, size_bounds_bytes, SIZE_BOUNDS,
				  (double)sp->request_body_size);
		histogram_observe(&s->resp_body, size_bounds_bytes, SIZE_BOUNDS,
				  (double)sp->response_body_size);
	}
	m->spans++;
	pthread_mutex_unlock(&m->lock);
}

void metric_store__foreach(struct metric_store *m, void (*fn)(const struct series *, void *),
			   void *arg)
{
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->count; i++)
		fn(m->order[i], arg);
	pthread_mutex_unlock(&m->lock);
}

uint64_t metric_store__spans(struct metric_store *m)
{
	uint64_t n;

	pthread_mutex_lock(&m->lock);
	n = m->spans;
	pthread_mutex_unlock(&m->lock);
	return n;
}
