// SPDX-License-Identifier: Apache-2.0
/* Parents for client calls made while serving HTTP/2 streams. See streamlink.h. */
#include "model/streamlink.h"

#include <stdlib.h>
#include <string.h>

#include "sonde/abi.h"

#define SL_PROCS 1024 /* processes followed at once; more are not (their calls wait for nothing) */

struct sl_stream {
	struct txn_id id;
	uint32_t tid;
	bool spanned;
	uint64_t start_ns, end_ns; /* end 0: open */
};

struct sl_proc {
	uint32_t pid;
	uint32_t n, cap, ended;
	struct sl_stream *streams; /* open and recently ended, in no order */
	uint64_t horizon_ns; /* calls begun before this may have overlapped a forgotten stream */
};

struct sl_held {
	struct span span;
	uint64_t start_ns, end_ns;
};

struct streamlink {
	struct sl_proc *procs[SL_PROCS];
	int nprocs; /* slots [0, nprocs) may be in use: scans stop there */
	struct sl_proc *last;
	struct sl_held *ring; /* held calls, in arrival order */
	size_t cap, head, count;
	uint64_t settle_ns;
};

struct streamlink *streamlink__new(size_t max_held, uint64_t settle_ns)
{
	struct streamlink *sl = calloc(1, sizeof(*sl));

	if (!sl)
		return NULL;
	sl->cap = max_held ? max_held : 1;
	sl->ring = calloc(sl->cap, sizeof(*sl->ring));
	if (!sl->ring) {
		free(sl);
		return NULL;
	}
	sl->settle_ns = settle_ns;
	return sl;
}

static void proc_free(struct sl_proc *p)
{
	if (p)
		free(p->streams);
	free(p);
}

void streamlink__free(struct streamlink *sl)
{
	if (!sl)
		return;
	for (int i = 0; i < SL_PROCS; i++)
		proc_free(sl->procs[i]);
	free(sl->ring);
	free(sl);
}

static struct sl_proc *const *proc_slot(const struct streamlink *sl, uint32_t pid)
{
	/* Every client span asks (streamlink__serves): most processes serve
	 * no HTTP/2, and a scan of the whole table per call was a tenth of
	 * the pipeline's time. */
	for (int i = 0; i < sl->nprocs; i++)
		if (sl->procs[i] && sl->procs[i]->pid == pid)
			return &sl->procs[i];
	return NULL;
}

static struct sl_proc *proc_find(const struct streamlink *sl, uint32_t pid)
{
	struct sl_proc *const *slot;

	if (sl->last && sl->last->pid == pid)
		return sl->last;
	slot = proc_slot(sl, pid);
	return slot ? *slot : NULL;
}

static struct sl_proc *proc_get(struct streamlink *sl, uint32_t pid)
{
	struct sl_proc *p = proc_find(sl, pid);

	if (p)
		return sl->last = p;
	for (int i = 0; i < SL_PROCS; i++) {
		if (sl->procs[i])
			continue;
		p = calloc(1, sizeof(*p));
		if (!p)
			return NULL;
		p->pid = pid;
		sl->procs[i] = p;
		if (i >= sl->nprocs)
			sl->nprocs = i + 1;
		return sl->last = p;
	}
	return NULL;
}

void streamlink__forget(struct streamlink *sl, uint32_t pid)
{
	struct sl_proc *const *slot = proc_slot(sl, pid);

	if (!slot)
		return;
	if (sl->last == *slot)
		sl->last = NULL;
	proc_free(*slot);
	sl->procs[slot - sl->procs] = NULL;
	while (sl->nprocs > 0 && !sl->procs[sl->nprocs - 1])
		sl->nprocs--;
}

bool streamlink__serves(const struct streamlink *sl, uint32_t pid)
{
	return proc_find(sl, pid) != NULL;
}

/* Forget @p's stream @i: what overlapped it can no longer be told. */
static void stream_drop(struct sl_proc *p, uint32_t i, uint64_t until_ns)
{
	if (until_ns > p->horizon_ns)
		p->horizon_ns = until_ns;
	if (p->streams[i].end_ns)
		p->ended--;
	p->streams[i] = p->streams[--p->n];
}

void streamlink__begin(struct streamlink *sl, uint32_t pid, const struct txn_id *id, uint32_t tid,
		       uint64_t start_ns, bool spanned)
{
	struct sl_proc *p = proc_get(sl, pid);
	struct sl_stream *s;

	if (!p)
		return;
	if (p->n == p->cap) {
		uint32_t cap = p->cap ? p->cap * 2 : 16;
		struct sl_stream *grown;

		if (cap > STREAMLINK_OPEN_MAX + STREAMLINK_HISTORY + 1 ||
		    !(grown = realloc(p->streams, cap * sizeof(*grown)))) {
			/* A stream not followed: nothing of this process can
			 * be decided from now on. */
			p->horizon_ns = UINT64_MAX;
			return;
		}
		p->streams = grown;
		p->cap = cap;
	}
	s = &p->streams[p->n++];
	s->id = *id;
	s->tid = tid;
	s->spanned = spanned;
	s->start_ns = start_ns;
	s->end_ns = 0;
}

void streamlink__end(struct streamlink *sl, uint32_t pid, const struct txn_id *id, uint64_t end_ns,
		     bool dropped)
{
	struct sl_proc *p = proc_find(sl, pid);
	uint32_t oldest = 0;

	if (!p)
		return;
	for (uint32_t i = 0; i < p->n; i++) {
		struct sl_stream *s = &p->streams[i];

		if (s->end_ns || s->id.conn_id != id->conn_id || s->id.txn_seq != id->txn_seq)
			continue;
		if (dropped) {
			stream_drop(p, i, end_ns);
			return;
		}
		s->end_ns = end_ns > s->start_ns ? end_ns : s->start_ns + 1;
		p->ended++;
		break;
	}
	if (p->ended <= STREAMLINK_HISTORY)
		return;
	/* The stream that ended first is the one that matters least. */
	for (uint32_t i = 1; i < p->n; i++) {
		const struct sl_stream *s = &p->streams[i], *o = &p->streams[oldest];

		if (s->end_ns && (!o->end_ns || s->end_ns < o->end_ns))
			oldest = i;
	}
	stream_drop(p, oldest, p->streams[oldest].end_ns);
}

static bool overlaps(const struct sl_stream *s, uint64_t start_ns, uint64_t end_ns)
{
	return s->start_ns < end_ns && (!s->end_ns || s->end_ns > start_ns);
}

static bool spans_call(const struct sl_stream *s, uint64_t start_ns, uint64_t end_ns)
{
	return s->spanned && s->start_ns <= start_ns && (!s->end_ns || s->end_ns >= end_ns);
}

static enum streamlink_verdict adopt(struct span *s, const struct sl_stream *st, uint8_t link)
{
	s->parent = st->id;
	s->parent_link = link;
	return link == SONDE_LINK_STREAM ? STREAMLINK_STREAM : STREAMLINK_THREAD;
}

enum streamlink_verdict streamlink__decide(const struct streamlink *sl, struct span *s,
					   uint64_t start_ns, uint64_t end_ns, bool thread_rule)
{
	const struct sl_proc *p = proc_find(sl, s->pid);
	const struct sl_stream *only = NULL, *mine = NULL;
	uint32_t overlapping = 0, on_thread = 0;
	bool sync_call;

	if (!p || s->kind != SPAN_KIND_CLIENT || s->parent_link == SONDE_LINK_THREAD)
		return STREAMLINK_NONE;
	for (uint32_t i = 0; i < p->n; i++) {
		const struct sl_stream *st = &p->streams[i];

		if (!overlaps(st, start_ns, end_ns))
			continue;
		overlapping++;
		only = st;
		if (st->tid == s->tid) {
			on_thread++;
			mine = st;
		}
	}
	if (!overlapping && start_ns >= p->horizon_ns)
		return STREAMLINK_NONE;
	if (start_ns < p->horizon_ns || s->parent_link != SONDE_LINK_NONE || s->parent_busy)
		goto ambiguous;
	if (overlapping == 1 && spans_call(only, start_ns, end_ns))
		return adopt(s, only, SONDE_LINK_STREAM);
	sync_call = !s->resp_tid || s->resp_tid == s->tid;
	if (thread_rule && sync_call && on_thread == 1 && spans_call(mine, start_ns, end_ns))
		return adopt(s, mine, SONDE_LINK_THREAD);
ambiguous:
	memset(&s->parent, 0, sizeof(s->parent));
	s->parent_link = SONDE_LINK_NONE;
	return STREAMLINK_AMBIGUOUS;
}

bool streamlink__hold(struct streamlink *sl, const struct span *s, uint64_t start_ns,
		      uint64_t end_ns)
{
	struct sl_held *h;

	if (sl->count == sl->cap)
		return false;
	h = &sl->ring[(sl->head + sl->count++) % sl->cap];
	h->span = *s;
	h->start_ns = start_ns;
	h->end_ns = end_ns;
	return true;
}

void streamlink__settle(struct streamlink *sl, uint64_t now_ns, bool all,
			streamlink_settled_fn fn, void *arg)
{
	while (sl->count) {
		struct sl_held h = sl->ring[sl->head];

		if (!all && h.end_ns + sl->settle_ns > now_ns)
			break;
		sl->head = (sl->head + 1) % sl->cap;
		sl->count--;
		fn(&h.span, h.start_ns, h.end_ns, arg);
	}
}
