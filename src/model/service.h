/* SPDX-License-Identifier: Apache-2.0 */
/* A service: the name (and namespace) spans and metrics are reported under. */
#ifndef SONDE_MODEL_SERVICE_H
#define SONDE_MODEL_SERVICE_H

#include <stdint.h>

#define SERVICE_NAME_MAX 128
#define SERVICE_NS_MAX 64

struct route_table;

struct service {
	uint32_t id;
	char name[SERVICE_NAME_MAX];
	char namespace_[SERVICE_NS_MAX];
	struct route_table *routes; /* distinct http_route values, capped */
};

#endif /* SONDE_MODEL_SERVICE_H */
