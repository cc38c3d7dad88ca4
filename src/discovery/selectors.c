// SPDX-License-Identifier: Apache-2.0
/* Which selector picks a process: by listening port, executable (regex or
 * glob) and pid; exclusions first. */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>

#include "discovery/internal.h"

int selector_set__init(struct selector_set *s, const struct selectors *sel)
{
	s->sel = sel;
	s->regex = calloc(sel->count + 1, sizeof(*s->regex));
	s->has_regex = calloc(sel->count + 1, sizeof(*s->has_regex));
	if (!s->regex || !s->has_regex) {
		selector_set__fini(s);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < sel->count; i++) {
		const char *re = sel->v[i].exe_regex;

		if (!re)
			continue;
		if (regcomp(&s->regex[i], re, REG_EXTENDED | REG_NOSUB)) {
			selector_set__fini(s);
			return -EINVAL;
		}
		s->has_regex[i] = true;
	}
	return 0;
}

void selector_set__fini(struct selector_set *s)
{
	for (unsigned int i = 0; s->sel && s->has_regex && i < s->sel->count; i++)
		if (s->has_regex[i])
			regfree(&s->regex[i]);
	free(s->regex);
	free(s->has_regex);
	s->regex = NULL;
	s->has_regex = NULL;
}

static bool pid_listed(const struct pid_list *l, uint32_t pid)
{
	for (unsigned int i = 0; i < l->count; i++)
		if (l->pid[i] == pid)
			return true;
	return false;
}

static void candidate_ports(struct candidate *c)
{
	if (c->nports < 0)
		c->nports = c->listeners ? listening_ports(c->listeners, c->pid, c->ports,
							   PORTS_PER_PROC)
					 : 0;
}

/* Does @c match selector @i? @port gets the first listening port the
 * selector accepts. */
static bool selector_matches(const struct selector_set *s, unsigned int i, struct candidate *c,
			     uint16_t *port)
{
	const struct selector *sel = &s->sel->v[i];

	if (sel->pids.count && !pid_listed(&sel->pids, c->pid))
		return false;
	if (s->has_regex[i] && regexec(&s->regex[i], c->exe, 0, NULL, 0))
		return false;
	if (sel->exe_glob && fnmatch(sel->exe_glob, c->exe, 0))
		return false;
	if (!sel->ports.count)
		return true;
	candidate_ports(c);
	for (int p = 0; p < c->nports; p++) {
		if (port_ranges__contains(&sel->ports, c->ports[p])) {
			*port = c->ports[p];
			return true;
		}
	}
	return false;
}

const struct selector *selector_set__pick(const struct selector_set *s, struct candidate *c,
					  uint16_t *port)
{
	const struct selectors *sel = s->sel;
	uint16_t ignored_port;

	*port = 0;
	for (unsigned int i = 0; i < sel->count; i++)
		if (sel->v[i].exclude && selector_matches(s, i, c, &ignored_port))
			return NULL;
	for (unsigned int i = 0; i < sel->count; i++) {
		if (!sel->v[i].exclude && selector_matches(s, i, c, port)) {
			if (!*port) {
				candidate_ports(c);
				*port = c->nports > 0 ? c->ports[0] : 0;
			}
			return &sel->v[i];
		}
	}
	return NULL;
}
