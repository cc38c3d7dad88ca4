// SPDX-License-Identifier: Apache-2.0
/* Joining spans into traces. See linker.h. */
#include "model/linker.h"

#include "sonde/abi.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX
#define ASYNC_PIDS 256 /* power of two */

struct held {
	struct span span;
	uint64_t deadline_ns;
	uint32_t next;	    /* next in its parent-id bucket's chain, or in the free list */
	uint32_t self_next; /* next in its own-id bucket's chain */
	uint32_t fifo_prev, fifo_next; /* arrival order, so deadline order (one wait for all) */
	bool used;
};

/* Ids of a finalized span, by transaction: a direct-mapped cache, so an
 * old entry may be overwritten; a miss only means no link, never a wrong one. */
struct known {
	struct txn_id id;
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t trace_flags;
	bool handed_over; /* served by two threads: thread-rule children are unreliable */
	bool used;
};

struct linker {
	struct held *pool;
	size_t max_held, nheld;
	uint32_t free_head; /* slots given back */
	uint32_t fresh;	    /* slots never used: [fresh, max_held), untouched memory */
	uint32_t *buckets;	/* held spans by their parent's id */
	uint32_t *self_buckets; /* held spans by their own id */
	size_t bucket_mask;
	uint32_t fifo_head, fifo_tail;
	struct known *known;
	size_t known_mask;
	uint64_t wait_ns;
	uint32_t async_pids[ASYNC_PIDS]; /* processes seen handing requests over */
	struct span *queue; /* finalize()'s work queue */
	struct linker_stats stats;
};

static size_t pow2_at_least(size_t n)
{
	size_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static uint64_t id_hash(const struct txn_id *id)
{
	uint64_t h = id->conn_id * 0x9E3779B97F4A7C15ull ^ id->txn_seq * 0xC2B2AE3D27D4EB4Full;

	return h ^ (h >> 29);
}

static bool id_equal(const struct txn_id *a, const struct txn_id *b)
{
	return a->conn_id == b->conn_id && a->txn_seq == b->txn_seq;
}

struct linker *linker__new(size_t max_held, size_t max_known, uint64_t wait_ns)
{
	struct linker *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->max_held = max_held ? max_held : 1;
	l->pool = calloc(l->max_held, sizeof(*l->pool));
	l->bucket_mask = pow2_at_least(l->max_held) - 1;
	l->buckets = malloc((l->bucket_mask + 1) * sizeof(*l->buckets));
	l->self_buckets = malloc((l->bucket_mask + 1) * sizeof(*l->self_buckets));
	l->known_mask = pow2_at_least(max_known ? max_known : 1) - 1;
	l->known = calloc(l->known_mask + 1, sizeof(*l->known));
	l->queue = malloc((l->max_held + 1) * sizeof(*l->queue));
	if (!l->pool || !l->buckets || !l->self_buckets || !l->known || !l->queue) {
		linker__free(l);
		return NULL;
	}
	for (size_t i = 0; i <= l->bucket_mask; i++)
		l->buckets[i] = l->self_buckets[i] = NIL;
	l->fifo_head = l->fifo_tail = NIL;
	/* The pool's pages stay untouched (not resident) until a span needs them. */
	l->free_head = NIL;
	l->fresh = 0;
	l->wait_ns = wait_ns;
	return l;
}

void linker__free(struct linker *l)
{
	if (!l)
		return;
	free(l->pool);
	free(l->buckets);
	free(l->self_buckets);
	free(l->known);
	free(l->queue);
	free(l);
}

static struct known *known_slot(struct linker *l, const struct txn_id *id)
{
	return &l->known[id_hash(id) & l->known_mask];
}

static const struct known *known_get(struct linker *l, const struct txn_id *id)
{
	struct known *k = known_slot(l, id);

	return k->used && id_equal(&k->id, id) ? k : NULL;
}

/* A server span whose response was written by another thread than the one
 * that read its request: an asynchronous server (the request was handed to
 * a pool). There, "the thread serving exactly one request" may be serving
 * another one's continuation, so a link found by the thread rule is
 * dropped: no parent rather than a wrong one. */
static bool handed_over(const struct span *s)
{
	return s->kind == SPAN_KIND_SERVER && s->resp_tid && s->resp_tid != s->tid;
}

static uint32_t *async_slot(struct linker *l, uint32_t pid)
{
	uint32_t i = (pid * 2654435761u) & (ASYNC_PIDS - 1);

	for (uint32_t n = 0; n < ASYNC_PIDS; n++, i = (i + 1) & (ASYNC_PIDS - 1))
		if (l->async_pids[i] == pid || l->async_pids[i] == 0)
			return &l->async_pids[i];
	return NULL;
}

bool linker__mark_async(struct linker *l, uint32_t pid)
{
	uint32_t *slot = async_slot(l, pid);

	if (!slot || *slot == pid)
		return false;
	*slot = pid;
	return true;
}

bool linker__is_async(struct linker *l, uint32_t pid)
{
	uint32_t *slot = async_slot(l, pid);

	return slot && *slot == pid;
}

/* The thread rule holds for thread-per-request servers only: not for a
 * request handed over to another thread, nor in a process seen doing so. */
static bool may_adopt(struct linker *l, const struct span *child, bool parent_handed_over)
{
	return !(child->parent_link == SONDE_LINK_THREAD &&
		 (parent_handed_over || linker__is_async(l, child->pid)));
}

static void known_put(struct linker *l, const struct span *s)
{
	struct known *k;

	if (!s->self.conn_id)
		return;
	k = known_slot(l, &s->self);
	k->id = s->self;
	memcpy(k->trace_id, s->trace_id, sizeof(k->trace_id));
	memcpy(k->span_id, s->span_id, sizeof(k->span_id));
	k->trace_flags = s->trace_flags;
	k->handed_over = handed_over(s);
	k->used = true;
}

static void adopt(struct span *child, const uint8_t *trace_id, const uint8_t *span_id,
		  uint8_t flags)
{
	memcpy(child->trace_id, trace_id, sizeof(child->trace_id));
	memcpy(child->parent_span_id, span_id, sizeof(child->parent_span_id));
	child->trace_flags = flags;
}

static void unlink_held(struct linker *l, uint32_t idx)
{
	struct held *h = &l->pool[idx];
	uint32_t *link = &l->buckets[id_hash(&h->span.parent) & l->bucket_mask];

	while (*link != idx)
		link = &l->pool[*link].next;
	*link = h->next;
	if (h->span.self.conn_id) {
		link = &l->self_buckets[id_hash(&h->span.self) & l->bucket_mask];
		while (*link != idx)
			link = &l->pool[*link].self_next;
		*link = h->self_next;
	}
	if (h->fifo_prev != NIL)
		l->pool[h->fifo_prev].fifo_next = h->fifo_next;
	else
		l->fifo_head = h->fifo_next;
	if (h->fifo_next != NIL)
		l->pool[h->fifo_next].fifo_prev = h->fifo_prev;
	else
		l->fifo_tail = h->fifo_prev;
	h->used = false;
	h->next = l->free_head;
	l->free_head = idx;
	l->nheld--;
}

/* Emit @s, remember its ids, and queue the held spans waiting for it. */
static void finalize_one(struct linker *l, const struct span *s, size_t *tail,
			 linker_emit_fn emit, void *arg)
{
	uint32_t idx;

	emit(s, arg);
	known_put(l, s);
	if (!s->self.conn_id || !l->nheld)
		return;
	for (idx = l->buckets[id_hash(&s->self) & l->bucket_mask]; idx != NIL;) {
		struct held *h = &l->pool[idx];
		uint32_t next = h->next;

		if (id_equal(&h->span.parent, &s->self)) {
			struct span *child = &l->queue[(*tail)++];

			*child = h->span;
			if (may_adopt(l, child, handed_over(s))) {
				adopt(child, s->trace_id, s->span_id, s->trace_flags);
				l->stats.linked++;
			} else {
				l->stats.refused++;
			}
			unlink_held(l, idx);
		}
		idx = next;
	}
}

/* Emit @first, then the held spans waiting for it, and theirs, breadth
 * first. Each held span enters the queue at most once, so the queue
 * (max_held + 1 spans) never overflows. */
static void finalize(struct linker *l, const struct span *first, linker_emit_fn emit, void *arg)
{
	size_t head = 0, tail = 0;

	finalize_one(l, first, &tail, emit, arg);
	while (head < tail)
		finalize_one(l, &l->queue[head++], &tail, emit, arg);
}

void linker__prefetch(const struct linker *l, const struct txn_id *self,
		      const struct txn_id *parent)
{
	if (parent->conn_id)
		__builtin_prefetch(&l->known[id_hash(parent) & l->known_mask], 0);
	if (self->conn_id)
		__builtin_prefetch(&l->known[id_hash(self) & l->known_mask], 1);
}

void linker__submit(struct linker *l, const struct span *s, uint64_t now_ns, linker_emit_fn emit,
		    void *arg)
{
	struct span copy;
	const struct known *parent;
	uint32_t idx;
	struct held *h;

	if (!s->parent.conn_id) {
		finalize(l, s, emit, arg);
		return;
	}
	parent = known_get(l, &s->parent);
	if (parent) {
		copy = *s;
		if (may_adopt(l, &copy, parent->handed_over)) {
			adopt(&copy, parent->trace_id, parent->span_id, parent->trace_flags);
			l->stats.linked++;
		} else {
			l->stats.refused++;
		}
		finalize(l, &copy, emit, arg);
		return;
	}
	if (l->free_head != NIL) {
		idx = l->free_head;
		l->free_head = l->pool[idx].next;
	} else if (l->fresh < l->max_held) {
		idx = l->fresh++;
	} else {
		l->stats.overflow++;
		finalize(l, s, emit, arg);
		return;
	}
	h = &l->pool[idx];
	h->span = *s;
	h->deadline_ns = now_ns + l->wait_ns;
	h->used = true;
	{
		uint32_t *head = &l->buckets[id_hash(&s->parent) & l->bucket_mask];

		h->next = *head;
		*head = idx;
	}
	if (s->self.conn_id) {
		uint32_t *head = &l->self_buckets[id_hash(&s->self) & l->bucket_mask];

		h->self_next = *head;
		*head = idx;
	}
	h->fifo_next = NIL;
	h->fifo_prev = l->fifo_tail;
	if (l->fifo_tail != NIL)
		l->pool[l->fifo_tail].fifo_next = idx;
	else
		l->fifo_head = idx;
	l->fifo_tail = idx;
	l->nheld++;
}

static bool parent_is_held(const struct linker *l, const struct txn_id *parent)
{
	for (uint32_t idx = l->self_buckets[id_hash(parent) & l->bucket_mask]; idx != NIL;
	     idx = l->pool[idx].self_next)
		if (id_equal(&l->pool[idx].span.self, parent))
			return true;
	return false;
}

/* Release held spans in arrival order, which is deadline order: all of
 * them, or those past their deadline, stopping at the first one that is
 * not. Releasing one emits the spans waiting for it too (finalize), which
 * may be any of the others: start again from the oldest after each. */
static void release_where(struct linker *l, uint64_t now_ns, bool all, linker_emit_fn emit,
			  void *arg)
{
	uint32_t idx = l->fifo_head;

	while (idx != NIL) {
		struct held *h = &l->pool[idx];
		struct span s;

		if (!all && h->deadline_ns > now_ns)
			break;
		/* A span whose parent is itself waiting leaves with it, linked,
		 * rather than alone at its own (earlier) deadline. */
		if (!all && parent_is_held(l, &h->span.parent)) {
			idx = h->fifo_next;
			continue;
		}
		s = h->span;
		unlink_held(l, idx);
		l->stats.expired++;
		finalize(l, &s, emit, arg);
		idx = l->fifo_head;
	}
}

void linker__expire(struct linker *l, uint64_t now_ns, linker_emit_fn emit, void *arg)
{
	if (l->nheld)
		release_where(l, now_ns, false, emit, arg);
}

void linker__flush(struct linker *l, linker_emit_fn emit, void *arg)
{
	release_where(l, 0, true, emit, arg);
}

void linker__stats(const struct linker *l, struct linker_stats *out)
{
	*out = l->stats;
	out->held = l->nheld;
}
