// SPDX-License-Identifier: Apache-2.0
/* The services traced processes are reported under, at most SERVICES_MAX. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discovery/internal.h"
#include "model/route.h"
#include "util/utf8.h"

struct service *service_table__get(struct service_table *t, const char *raw_name,
				   const char *raw_ns, size_t route_cap)
{
	char name[SERVICE_NAME_MAX], ns[SERVICE_NS_MAX];
	struct service *s;

	/* Every service name enters here: valid UTF-8 from now on, whatever
	 * the process's environment or files held (util/utf8.h). */
	utf8_sanitize(name, sizeof(name), raw_name, strlen(raw_name));
	utf8_sanitize(ns, sizeof(ns), raw_ns, strlen(raw_ns));

	for (unsigned int i = 0; i < t->count; i++)
		if (!strcmp(t->v[i]->name, name) && !strcmp(t->v[i]->namespace_, ns))
			return t->v[i];
	if (t->count == SERVICES_MAX) {
		/* No room for a new name: reported under the last one, counted. */
		if (t->full)
			atomic_fetch_add(t->full, 1);
		return t->v[SERVICES_MAX - 1];
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->routes = route_table__new(route_cap);
	if (!s->routes) {
		free(s);
		return NULL;
	}
	s->id = t->count + 1;
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->namespace_, sizeof(s->namespace_), "%s", ns);
	t->v[t->count++] = s;
	return s;
}

void service_table__clear(struct service_table *t)
{
	for (unsigned int i = 0; i < t->count; i++) {
		route_table__free(t->v[i]->routes);
		free(t->v[i]);
		t->v[i] = NULL;
	}
	t->count = 0;
}
