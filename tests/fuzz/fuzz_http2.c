// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the HTTP/2 decoder (src/decode/http2.c): its frame
 * entries, header block assembly and HPACK (nghttp2's inflater, and the
 * literal-only path of a direction whose table is unknown). The input is a
 * run of events, each a flags byte (bit 0: read, bit 1: gap, bit 2: the
 * connection's end, bit 3: another connection, bit 4: the client's end,
 * bit 5: an h2c upgrade's HTTP/1.1 transaction), a length byte pair and
 * that many bytes of entries; the spans that come out are checked for
 * what every exporter relies on. The server streams are told to a stream
 * follower (model/streamlink.h), which decides a call at each span.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decoder.h"
#include "model/route.h"
#include "model/streamlink.h"
#include "model/service.h"

static struct streamlink *streams;

static void on_span(void *arg, struct span *s, const struct decode_wants *w)
{
	(void)w;
	/* strings terminated, a kind, an RPC status in range */
	if (strlen(s->path) >= sizeof(s->path) || strlen(s->method) >= sizeof(s->method) ||
	    strlen(s->host) >= sizeof(s->host) || strlen(s->rpc.service) >= sizeof(s->rpc.service))
		abort();
	if (s->kind != SPAN_KIND_SERVER && s->kind != SPAN_KIND_CLIENT)
		abort();
	if (s->rpc.grpc_status < -1 || s->rpc.grpc_status > 999)
		abort();
	++*(int *)arg;
	if (streams) {
		struct span call = *s;

		call.kind = SPAN_KIND_CLIENT;
		streamlink__decide(streams, &call, s->start_ns, s->end_ns, true);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sonde_txn_event ev;
	static struct sonde_config cfg;
	static struct service svc = { .name = "fuzz" };
	struct decode_ctx ctx = { .cfg = &cfg, .service = &svc };
	void *state = http2_decoder.state_new();
	int spans = 0, n = 0;

	if (!svc.routes)
		svc.routes = route_table__new(64);
	if (!state)
		return 0;
	streams = streamlink__new(4, 0);
	ctx.streams = streams;
	while (size >= 3) {
		uint8_t flags = data[0];
		size_t len = (size_t)data[1] << 8 | data[2];

		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		if (len > SONDE_DATA_CAP)
			len = SONDE_DATA_CAP;
		memset(&ev, 0, SONDE_TXN_EVENT_MIN_SIZE);
		ev.hdr.kind = SONDE_EV_TXN;
		ev.proto = SONDE_PROTO_HTTP2;
		ev.role = flags & 16 ? SONDE_ROLE_CLIENT : SONDE_ROLE_SERVER;
		ev.conn_id = flags & 8 ? 2 : 1;
		ev.flags = (flags & 1 ? SONDE_EVF_H2_INBOUND : 0) | (flags & 2 ? SONDE_EVF_H2_GAP : 0) |
			   (flags & 4 ? SONDE_EVF_H2_CLOSE : 0) |
			   (flags & 32 ? SONDE_EVF_H2_UPGRADE : 0);
		ev.req_len = len;
		ev.start_ns = ev.end_ns = ++n;
		memcpy(ev.data, data, len);
		http2_decoder.decode_each(state, &ev, &ctx, on_span, &spans);
		data += len;
		size -= len;
	}
	http2_decoder.state_free(state);
	streamlink__free(streams);
	streams = NULL;
	return 0;
}
