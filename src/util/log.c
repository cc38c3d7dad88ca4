// SPDX-License-Identifier: Apache-2.0
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>

int log_threshold = LOG_INFO;

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_threshold)
		return;
	fputs("sonde: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
