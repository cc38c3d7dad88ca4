/* SPDX-License-Identifier: Apache-2.0 */
/* A traced process, as discovery knows it. */
#ifndef SONDE_MODEL_PROCESS_H
#define SONDE_MODEL_PROCESS_H

#include <stdint.h>

#include "model/service.h"

struct proc_info {
	uint32_t pid;
	uint32_t ppid; /* parent's pid when traced through a fork, else 0 */
	uint16_t port; /* first selected listening port, 0 if none */
	struct service *service;
	char exe[256];
	char runtime[16]; /* "java", "python", "node", "ruby" or "" */
};

#endif /* SONDE_MODEL_PROCESS_H */
