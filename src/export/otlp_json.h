/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OTLP/HTTP JSON: the OTLP specification's JSON form of the very messages
 * otlp_encode.c builds, written by walking their protobuf-c descriptors, so
 * one encoder serves both wire formats. The specification's rules: field
 * names in lowerCamelCase, trace and span ids as hex strings (not base64),
 * enums as integers, 64-bit integers as decimal strings, default values
 * left out.
 */
#ifndef SONDE_EXPORT_OTLP_JSON_H
#define SONDE_EXPORT_OTLP_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "export/otlp_encode.h"

/** otlp_json_encode() - @msg as OTLP JSON into @out (freed with otlp_buf__free). */
int otlp_json_encode(const ProtobufCMessage *msg, struct otlp_buf *out);

/** otlp_json_from_packed() - the protobuf @data of a @d message, as OTLP JSON. */
int otlp_json_from_packed(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
			  struct otlp_buf *out);

#endif /* SONDE_EXPORT_OTLP_JSON_H */
