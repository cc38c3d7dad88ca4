// SPDX-License-Identifier: Apache-2.0
/* The decoders, by the protocol tag of the kernel's events. */
#include "decode/decoder.h"

const struct decoder_ops *const decoder_registry[SONDE_PROTO__MAX] = {
	[SONDE_PROTO_HTTP1] = &http1_decoder,
	[SONDE_PROTO_POSTGRES] = &postgres_decoder,
	[SONDE_PROTO_MYSQL] = &mysql_decoder,
	[SONDE_PROTO_HTTP2] = &http2_decoder,
};
