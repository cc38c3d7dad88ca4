// SPDX-License-Identifier: Apache-2.0
/* Parsers of /proc text (see proc_parse.h). */
#include "util/proc_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "Uid:\t0\t0\t0\t0": the fourth is the file-system id. */
int proc_status_fsid(const char *status, const char *key, unsigned long *fsid)
{
	const char *line = strstr(status, key);
	unsigned long r, e, s, f;

	if (!line || sscanf(line + strlen(key), "%lu %lu %lu %lu", &r, &e, &s, &f) != 4)
		return -EINVAL;
	*fsid = f;
	return 0;
}

int proc_status_groups(const char *status, gid_t *groups, int max)
{
	const char *line = strstr(status, "\nGroups:");
	int n = 0;

	if (!line)
		return 0;
	line += 8;
	while (n < max) {
		char *end;
		unsigned long g;

		while (*line == ' ' || *line == '\t')
			line++;
		if (*line < '0' || *line > '9')
			break;
		g = strtoul(line, &end, 10);
		groups[n++] = g;
		line = end;
	}
	return n;
}

bool proc_environ_get(const char *env, size_t n, const char *key, char *value, size_t size)
{
	size_t klen = strlen(key);

	for (size_t off = 0; off < n;) {
		const char *entry = env + off;
		const char *nul = memchr(entry, '\0', n - off);
		size_t len = nul ? (size_t)(nul - entry) : n - off;

		if (len > klen && !memcmp(entry, key, klen)) {
			snprintf(value, size, "%.*s", (int)(len - klen), entry + klen);
			return true;
		}
		off += len + 1;
	}
	return false;
}

bool proc_tcp_listener(const char *line, uint16_t *port, uint64_t *inode)
{
	unsigned int p, state;
	unsigned long long ino;
	char local[128];

	/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
	if (sscanf(line, " %*d: %127[0-9A-Fa-f]:%x %*s %x %*s %*s %*s %*u %*u %llu", local, &p,
		   &state, &ino) != 4)
		return false;
	if (state != 0x0A || p > 0xffff) /* TCP_LISTEN */
		return false;
	*port = (uint16_t)p;
	*inode = ino;
	return true;
}
