// SPDX-License-Identifier: Apache-2.0
/* The RPC metrics' store. See rpcmetrics.h. */
#include "model/rpcmetrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

struct rpc_metrics {
	pthread_mutex_t lock;
	struct rpc_series *v;
	size_t n, cap, max;
	uint64_t overflowed;
};

struct rpc_metrics *rpc_metrics__new(void)
{
	struct rpc_metrics *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->max = METRIC_SERIES_MAX_DEFAULT;
	return r;
}

void rpc_metrics__free(struct rpc_metrics *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r->v);
	free(r);
}

void rpc_metrics__set_max_series(struct rpc_metrics *r, size_t max)
{
	pthread_mutex_lock(&r->lock);
	r->max = max;
	pthread_mutex_unlock(&r->lock);
}

/* The series of @k, added when there is room; NULL when the cap is reached. */
static struct rpc_series *series_of(struct rpc_metrics *r, const struct rpc_key *k)
{
	for (size_t i = 0; i < r->n; i++)
		if (!memcmp(&r->v[i].key, k, sizeof(*k)))
			return &r->v[i];
	if (r->n >= r->max)
		return NULL;
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		struct rpc_series *v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		r->v = v;
		r->cap = cap;
	}
	memset(&r->v[r->n], 0, sizeof(r->v[r->n]));
	r->v[r->n].key = *k;
	return &r->v[r->n++];
}

void rpc_metrics__record(struct rpc_metrics *r, const struct span *s)
{
	struct rpc_key k;
	struct rpc_series *hit;

	memset(&k, 0, sizeof(k));
	k.service = s->service;
	k.kind = s->kind;
	k.grpc_status = s->rpc.grpc_status;
	str_copy(k.system, sizeof(k.system), s->rpc.system);
	str_copy(k.rpc_service, sizeof(k.rpc_service), s->rpc.service);
	str_copy(k.method, sizeof(k.method), s->rpc.method);
	pthread_mutex_lock(&r->lock);
	hit = series_of(r, &k);
	if (hit)
		histogram_observe(&hit->duration, duration_bounds_s, DURATION_BOUNDS,
				  span_duration_ns(s) / 1e9);
	else
		r->overflowed++;
	pthread_mutex_unlock(&r->lock);
}

int rpc_metrics__series(struct rpc_metrics *r, struct rpc_series **out, size_t *n)
{
	pthread_mutex_lock(&r->lock);
	*n = r->n;
	*out = malloc((r->n ? r->n : 1) * sizeof(**out));
	if (*out && r->n)
		memcpy(*out, r->v, r->n * sizeof(**out));
	pthread_mutex_unlock(&r->lock);
	return *out ? 0 : -ENOMEM;
}

uint64_t rpc_metrics__overflowed(struct rpc_metrics *r)
{
	uint64_t v;

	pthread_mutex_lock(&r->lock);
	v = r->overflowed;
	pthread_mutex_unlock(&r->lock);
	return v;
}
