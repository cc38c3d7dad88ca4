// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the parsers of /proc text (util/proc_parse.c): the
 * input is read as a /proc/PID/status, as an environ block and as the lines
 * of /proc/net/tcp, as a process under Sonde could shape them (its
 * environment, its command name in status). Each answer must come from the
 * input: a value found is in it, counts stay within their bounds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/proc_parse.h"

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, \
				__LINE__);                                             \
			abort();                                                       \
		}                                                                      \
	} while (0)

#define KEY "OTEL_SERVICE_NAME="

static void status(const char *text)
{
	unsigned long id;
	gid_t groups[8];
	int n;

	if (!proc_status_fsid(text, "\nUid:", &id))
		CHECK(strstr(text, "\nUid:"));
	if (!proc_status_fsid(text, "\nGid:", &id))
		CHECK(strstr(text, "\nGid:"));
	n = proc_status_groups(text, groups, 8);
	CHECK(n >= 0 && n <= 8);
	if (n)
		CHECK(strstr(text, "\nGroups:"));
}

static void environ_block(const uint8_t *data, size_t size)
{
	char value[64], want[sizeof(KEY) + sizeof(value)];
	size_t len;

	memset(value, 0x55, sizeof(value));
	if (!proc_environ_get((const char *)data, size, KEY, value, sizeof(value)))
		return;
	len = strnlen(value, sizeof(value));
	CHECK(len > 0 && len < sizeof(value));
	/* KEY followed by the value is in the block (the value may be cut). */
	len = (size_t)snprintf(want, sizeof(want), KEY "%s", value);
	CHECK(memmem(data, size, want, len));
}

static void tcp_lines(const char *text)
{
	char line[512];

	/* As fgets() with a 512-byte buffer cuts them. */
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");
		size_t take = n + (p[n] == '\n');
		uint16_t port;
		uint64_t inode;

		if (take > sizeof(line) - 1)
			take = sizeof(line) - 1;
		memcpy(line, p, take);
		line[take] = '\0';
		p += take;
		if (proc_tcp_listener(line, &port, &inode))
			/* The state field parsed as 0x0A: a hex 'a' is there. */
			CHECK(strchr(line, 'a') || strchr(line, 'A'));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	status(text);
	environ_block(data, size);
	tcp_lines(text);
	free(text);
	return 0;
}
