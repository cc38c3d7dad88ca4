// SPDX-License-Identifier: Apache-2.0
/* Bounded queue of whole lines. See line_queue.h. */
#include "export/line_queue.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct line_queue {
	pthread_mutex_t lock;
	pthread_cond_t ready;
	char *ring;
	size_t cap, head, used; /* bytes at [head, head + used) modulo cap */
	bool closed;
};

struct line_queue *line_queue__new(size_t capacity)
{
	struct line_queue *q;

	if (!capacity)
		return NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->ring = malloc(capacity);
	if (!q->ring) {
		free(q);
		return NULL;
	}
	q->cap = capacity;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->ready, NULL);
	return q;
}

void line_queue__free(struct line_queue *q)
{
	if (!q)
		return;
	pthread_cond_destroy(&q->ready);
	pthread_mutex_destroy(&q->lock);
	free(q->ring);
	free(q);
}

bool line_queue__push(struct line_queue *q, const char *line, size_t len)
{
	bool ok = false;

	pthread_mutex_lock(&q->lock);
	if (!q->closed && len <= q->cap - q->used) {
		size_t tail = (q->head + q->used) % q->cap;
		size_t first = len < q->cap - tail ? len : q->cap - tail;

		memcpy(q->ring + tail, line, first);
		memcpy(q->ring, line + first, len - first);
		q->used += len;
		ok = true;
		pthread_cond_signal(&q->ready);
	}
	pthread_mutex_unlock(&q->lock);
	return ok;
}

/* Copy @n bytes from the head out of the ring. Lock held. */
static void take(struct line_queue *q, char *buf, size_t n)
{
	size_t first = n < q->cap - q->head ? n : q->cap - q->head;

	memcpy(buf, q->ring + q->head, first);
	memcpy(buf + first, q->ring, n - first);
	q->head = (q->head + n) % q->cap;
	q->used -= n;
	if (!q->used)
		q->head = 0;
}

size_t line_queue__pop(struct line_queue *q, char *buf, size_t size)
{
	size_t n = 0;

	pthread_mutex_lock(&q->lock);
	while (!q->used && !q->closed)
		pthread_cond_wait(&q->ready, &q->lock);
	if (q->used && size) {
		n = q->used < size ? q->used : size;
		if (n < q->used) {
			/* Stop after the last line end within @size bytes. */
			size_t end = 0;

			for (size_t i = 0; i < n; i++)
				if (q->ring[(q->head + i) % q->cap] == '\n')
					end = i + 1;
			if (end)
				n = end;
		}
		take(q, buf, n);
	}
	pthread_mutex_unlock(&q->lock);
	return n;
}

void line_queue__close(struct line_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->ready);
	pthread_mutex_unlock(&q->lock);
}

size_t line_queue__used(struct line_queue *q)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	n = q->used;
	pthread_mutex_unlock(&q->lock);
	return n;
}
