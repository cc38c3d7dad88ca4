// SPDX-License-Identifier: Apache-2.0
#include "model/route_pattern.h"

#include <string.h>

/* Length of the segment starting at @s (up to '/', '?', '#' or the end). */
static size_t segment_len(const char *s, bool in_path)
{
	size_t n = 0;

	while (s[n] && s[n] != '/' && !(in_path && (s[n] == '?' || s[n] == '#')))
		n++;
	return n;
}

static bool path_done(const char *p)
{
	return !*p || *p == '?' || *p == '#';
}

bool route_pattern_matches(const char *pattern, const char *path)
{
	const char *pt = pattern, *pa = path;

	for (;;) {
		size_t lt, la;

		while (*pt == '/')
			pt++;
		while (*pa == '/')
			pa++;
		if (!*pt)
			return path_done(pa);
		lt = segment_len(pt, false);
		if (lt == 1 && pt[0] == '*' && !pt[1])
			return true; /* a final "*" takes any rest */
		if (path_done(pa))
			return false;
		la = segment_len(pa, true);
		if ((pt[0] == '{' && pt[lt - 1] == '}') || pt[0] == ':') {
			/* a parameter: any one segment */
		} else if (lt && pt[lt - 1] == '*' && !pt[lt]) {
			/* "prefix*" as the last segment: the rest starts with prefix */
			return !strncmp(pa, pt, lt - 1);
		} else if (lt != la || strncmp(pt, pa, lt)) {
			return false;
		}
		pt += lt;
		pa += la;
	}
}

const char *route_patterns__match(const struct route_patterns *l, const char *path)
{
	for (unsigned int i = 0; i < l->count; i++)
		if (route_pattern_matches(l->v[i], path))
			return l->v[i];
	return NULL;
}
