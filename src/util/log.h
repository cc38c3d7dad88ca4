/* SPDX-License-Identifier: Apache-2.0 */
/* Logging to stderr, one line per message, filtered by level. */
#ifndef SONDE_UTIL_LOG_H
#define SONDE_UTIL_LOG_H

#include "config.h"

extern int log_threshold; /* enum log_level */

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                 \
	do {                                           \
		if (log_threshold >= LOG_DEBUG)        \
			log_msg(LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif /* SONDE_UTIL_LOG_H */
