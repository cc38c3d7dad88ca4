// SPDX-License-Identifier: Apache-2.0
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/utf8.h"

int log_threshold = LOG_INFO;

/* Messages carry names other processes chose (service names, paths): their
 * control characters are escaped, so a message is one line whatever they
 * hold. */
void log_msg(int level, const char *fmt, ...)
{
	char buf[1024], *msg = buf;
	va_list ap;
	int n;

	if (level > log_threshold)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) {
		va_start(ap, fmt);
		if (vasprintf(&msg, fmt, ap) < 0)
			msg = buf; /* the truncated one, then */
		va_end(ap);
	}
	flockfile(stderr);
	fputs("sonde: ", stderr);
	utf8_put_escaped(stderr, msg);
	fputc('\n', stderr);
	funlockfile(stderr);
	if (msg != buf)
		free(msg);
}
