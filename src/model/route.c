// SPDX-License-Identifier: Apache-2.0
/*
 * Route rule and per-service route cap (see route.h).
 *
 * A route is a metric label: every distinct value is a new time series in
 * Prometheus and a new attribute set in OTLP. The heuristic folds the path
 * segments that look like identifiers, and the table bounds whatever gets
 * through it, so that one service with unusual URLs cannot grow the agent's
 * memory or the backend's series count without limit.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "model/route.h"
#include "model/span.h"
#include "util/utf8.h"

#define UUID_LEN 36
#define HEX_ID_MIN 8
#define LONG_TOKEN_MIN 24
#define MIXED_ID_MIN 12
#define MIXED_ID_DIGITS 3

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!is_digit(s[i]))
			return false;
	return n > 0;
}

/* 8-4-4-4-12 hex digits, any case. */
static bool is_uuid(const char *s, size_t n)
{
	size_t i;

	if (n != UUID_LEN)
		return false;
	for (i = 0; i < n; i++) {
		bool dash_here = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash_here ? s[i] != '-' : !is_hex(s[i]))
			return false;
	}
	return true;
}

/* At least one digit: plain words that happen to be hex ("deadbeef",
 * "cafebabe", "accede") are kept, as they are more often names than ids. */
static bool is_hex_id(const char *s, size_t n)
{
	bool digit = false;
	size_t i;

	if (n < HEX_ID_MIN)
		return false;
	for (i = 0; i < n; i++) {
		if (!is_hex(s[i]))
			return false;
		digit |= is_digit(s[i]);
	}
	return digit;
}

/* Letters and digits only, long enough and with enough digits that it is
 * unlikely to be a word ("user8a7f62b1c"); "v1", "oauth2callback" stay.
 * (All digits is matched before, so no letter count is needed.) */
static bool is_mixed_id(const char *s, size_t n)
{
	size_t i, digits = 0;

	if (n < MIXED_ID_MIN)
		return false;
	for (i = 0; i < n; i++) {
		if (is_digit(s[i]))
			digits++;
		else if (!is_letter(s[i]))
			return false;
	}
	return digits >= MIXED_ID_DIGITS;
}

static bool is_identifier(const char *s, size_t n)
{
	return all_digits(s, n) || is_uuid(s, n) || is_hex_id(s, n) || n >= LONG_TOKEN_MIN ||
	       is_mixed_id(s, n);
}

/* Append what fits of @s to @out, which always stays NUL-terminated. */
static void append(char *out, size_t out_size, size_t *used, const char *s, size_t n)
{
	size_t room = out_size - 1 - *used;

	if (n > room)
		n = room;
	memcpy(out + *used, s, n);
	*used += n;
	out[*used] = '\0';
}

/**
 * route_from_path() - apply the heuristic rule.
 * @path: the path (a query string or fragment, if present, is ignored);
 *        NULL is taken as empty
 * @out: destination, always NUL-terminated
 * @out_size: size of @out; longer routes are truncated (0: nothing written)
 *
 * Slashes are kept as they are, a trailing one and doubled ones included:
 * frameworks route "/users" and "/users/" differently, so folding them
 * would merge distinct endpoints. Each segment is judged whole, before any
 * truncation of the output.
 */
void route_from_path(const char *path, char *out, size_t out_size)
{
	size_t end, i = 0, used = 0;

	if (!out || out_size == 0)
		return;
	out[0] = '\0';
	if (!path)
		path = "";
	end = strcspn(path, "?#");
	if (end == 0) {
		append(out, out_size, &used, "/", 1);
		return;
	}
	while (i < end) {
		size_t start = i;

		if (path[i] == '/') {
			append(out, out_size, &used, "/", 1);
			i++;
			continue;
		}
		while (i < end && path[i] != '/')
			i++;
		if (is_identifier(path + start, i - start))
			append(out, out_size, &used, "*", 1);
		else
			append(out, out_size, &used, path + start, i - start);
	}
}

struct route_slot {
	char *route; /* NULL: free slot */
	uint64_t hash;
};

/*
 * Open addressing with linear probing, kept at most half full, grown by
 * doubling: a service usually has a few dozen routes, so the table starts
 * small however large the cap is.
 */
struct route_table {
	struct route_slot *slots;
	size_t slot_count; /* a power of two */
	size_t size;
	size_t cap;
	uint64_t overflowed;
};

#define ROUTE_TABLE_INITIAL_SLOTS 16

/* FNV-1a: short keys, no adversary that can see the hash. */
static uint64_t route_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/**
 * route_table__new() - a set of at most @cap distinct routes.
 * @cap: how many distinct routes are admitted; 0 folds every route
 *
 * Not thread-safe: the caller serializes access to one table.
 *
 * Return: the table, or NULL with errno set (ENOMEM).
 */
struct route_table *route_table__new(size_t cap)
{
	struct route_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->slots = calloc(ROUTE_TABLE_INITIAL_SLOTS, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return NULL;
	}
	t->slot_count = ROUTE_TABLE_INITIAL_SLOTS;
	t->cap = cap;
	return t;
}

/** route_table__free() - free @t and every route it stored; NULL is a no-op. */
void route_table__free(struct route_table *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->slot_count; i++)
		free(t->slots[i].route);
	free(t->slots);
	free(t);
}

/* The slot holding @route, or the free slot where it would go. */
static struct route_slot *route_table__find(struct route_table *t, const char *route,
					    uint64_t hash)
{
	size_t mask = t->slot_count - 1, i = hash & mask;

	/* Terminates: the table is never more than half full. */
	for (;;) {
		struct route_slot *s = &t->slots[i];

		if (!s->route || (s->hash == hash && strcmp(s->route, route) == 0))
			return s;
		i = (i + 1) & mask;
	}
}

static int route_table__grow(struct route_table *t)
{
	struct route_slot *old = t->slots, *slots;
	size_t old_count = t->slot_count, i;

	if (old_count > SIZE_MAX / 2 / sizeof(*slots))
		return -ENOMEM;
	slots = calloc(old_count * 2, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	t->slots = slots;
	t->slot_count = old_count * 2;
	for (i = 0; i < old_count; i++)
		if (old[i].route)
			*route_table__find(t, old[i].route, old[i].hash) = old[i];
	free(old);
	return 0;
}

/**
 * route_table__admit() - return @route if it is known or there is room,
 * else ROUTE_OVERFLOW (and count it).
 * @t: the service's table
 * @route: a route, as route_from_path() makes it
 *
 * Running out of memory is folded and counted like a full table: the span
 * is kept, with a coarser label.
 *
 * Return: the table's own copy of @route, valid until the table is freed,
 * or ROUTE_OVERFLOW (a string literal).
 */
const char *route_table__admit(struct route_table *t, const char *route)
{
	char fixed[SPAN_ROUTE_MAX];
	struct route_slot *slot;
	uint64_t hash;
	char *copy;

	if (!t)
		return ROUTE_OVERFLOW;
	if (!route)
		goto overflow;
	/* Routes are labels: valid UTF-8 (a path cut to a route's length may
	 * end inside a character). */
	if (!utf8_valid(route, strlen(route))) {
		utf8_sanitize(fixed, sizeof(fixed), route, strlen(route));
		route = fixed;
	}
	hash = route_hash(route);
	slot = route_table__find(t, route, hash);
	if (slot->route)
		return slot->route;
	if (t->size >= t->cap)
		goto overflow;
	if ((t->size + 1) * 2 > t->slot_count) {
		if (route_table__grow(t) < 0)
			goto overflow;
		slot = route_table__find(t, route, hash);
	}
	copy = strdup(route);
	if (!copy)
		goto overflow;
	slot->route = copy;
	slot->hash = hash;
	t->size++;
	return copy;
overflow:
	t->overflowed++;
	return ROUTE_OVERFLOW;
}

/** route_table__overflowed() - how many admits were folded into ROUTE_OVERFLOW. */
uint64_t route_table__overflowed(const struct route_table *t)
{
	return t ? t->overflowed : 0;
}

/** route_table__size() - how many distinct routes are stored. */
size_t route_table__size(const struct route_table *t)
{
	return t ? t->size : 0;
}
