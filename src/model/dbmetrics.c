// SPDX-License-Identifier: Apache-2.0
/* The database client metric's store. See dbmetrics.h. */
#include "model/dbmetrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

struct db_metrics {
	pthread_mutex_t lock;
	struct db_series *v;
	size_t n, cap, max;
	uint64_t overflowed;
};

struct db_metrics *db_metrics__new(void)
{
	struct db_metrics *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	pthread_mutex_init(&d->lock, NULL);
	d->max = METRIC_SERIES_MAX_DEFAULT;
	return d;
}

void db_metrics__free(struct db_metrics *d)
{
	if (!d)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d->v);
	free(d);
}

void db_metrics__set_max_series(struct db_metrics *d, size_t max)
{
	pthread_mutex_lock(&d->lock);
	d->max = max;
	pthread_mutex_unlock(&d->lock);
}

void db_metrics__record(struct db_metrics *d, const struct span *s)
{
	struct db_series k = { .service = s->service };
	struct db_series *hit = NULL;

	str_copy(k.system, sizeof(k.system), s->db.system);
	str_copy(k.operation, sizeof(k.operation), s->db.operation);
	str_copy(k.collection, sizeof(k.collection), s->db.collection);
	if (span_db_failed(s))
		str_copy(k.error_type, sizeof(k.error_type),
			 s->db.status_code[0] ? s->db.status_code : "_OTHER");
	pthread_mutex_lock(&d->lock);
	/* Few series (operations x tables): a scan is cheap enough. */
	for (size_t i = 0; i < d->n; i++) {
		struct db_series *x = &d->v[i];

		if (x->service == k.service && !strcmp(x->system, k.system) &&
		    !strcmp(x->operation, k.operation) && !strcmp(x->collection, k.collection) &&
		    !strcmp(x->error_type, k.error_type)) {
			hit = x;
			break;
		}
	}
	if (!hit && d->n >= d->max) {
		d->overflowed++;
	} else if (!hit) {
		if (d->n == d->cap) {
			size_t cap = d->cap ? 2 * d->cap : 16;
			struct db_series *v = realloc(d->v, cap * sizeof(*v));

			if (v) {
				d->v = v;
				d->cap = cap;
			}
		}
		if (d->n < d->cap) {
			hit = &d->v[d->n++];
			*hit = k;
		}
	}
	if (hit)
		histogram_observe(&hit->duration, duration_bounds_s, DURATION_BOUNDS,
				  span_duration_ns(s) / 1e9);
	pthread_mutex_unlock(&d->lock);
}

int db_metrics__series(struct db_metrics *d, struct db_series **out, size_t *n)
{
	pthread_mutex_lock(&d->lock);
	*n = d->n;
	*out = malloc((d->n ? d->n : 1) * sizeof(**out));
	if (*out && d->n)
		memcpy(*out, d->v, d->n * sizeof(**out));
	pthread_mutex_unlock(&d->lock);
	return *out ? 0 : -ENOMEM;
}

uint64_t db_metrics__overflowed(struct db_metrics *d)
{
	uint64_t v;

	pthread_mutex_lock(&d->lock);
	v = d->overflowed;
	pthread_mutex_unlock(&d->lock);
	return v;
}
