/* SPDX-License-Identifier: Apache-2.0 */
/* Included by fuzz_postgres.c and fuzz_mysql.c after defining FUZZ_DECODER
 * and FUZZ_PROTO: one body for both database decoders. */
/*
 * libFuzzer target body for a database decoder (FUZZ_DECODER, FUZZ_PROTO) and the SQL
 * tokenizer: a transaction's request and response prefixes are whatever a
 * traced client and its server sent, so any bytes must be survived and the
 * span's strings must stay terminated. The decoder's state (prepared
 * statements per connection) lives across inputs, as it does in Sonde.
 *
 * Input: byte 0 picks the connection id (0..3), byte 1 the query-text
 * option, bytes 2-3 the request length; the rest is the request then the
 * response. Built and run by `make fuzz` (seeded from tests/golden/db).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "decode/decoder.h"

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, \
				__LINE__);                                             \
			abort();                                                       \
		}                                                                      \
	} while (0)

#define TERMINATED(field) CHECK(strnlen((field), sizeof(field)) < sizeof(field))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *state;
	static struct sonde_txn_event ev;
	struct sonde_config cfg;
	struct decode_ctx ctx = { .cfg = &cfg };
	struct decode_wants wants = { .span = true, .metrics = true };
	struct span s;
	size_t req, resp;

	if (!state)
		state = FUZZ_DECODER.state_new();
	if (size < 4)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	cfg.db_query_text = data[1] & 1;
	memset(&ev, 0, sizeof(ev));
	ev.proto = FUZZ_PROTO;
	ev.role = (data[1] & 2) ? SONDE_ROLE_SERVER : SONDE_ROLE_CLIENT;
	ev.conn_id = 1 + (data[0] & 3);
	req = (size_t)(data[2] << 8 | data[3]);
	data += 4;
	size -= 4;
	if (req > size)
		req = size;
	if (req > SONDE_REQ_CAP)
		req = SONDE_REQ_CAP;
	resp = size - req;
	if (resp > SONDE_RESP_CAP)
		resp = SONDE_RESP_CAP;
	memcpy(ev.data, data, req);
	memcpy(ev.data + req, data + req, resp);
	ev.req_len = req;
	ev.resp_len = resp;
	ev.req_bytes = req;
	ev.resp_bytes = resp;
	if (!FUZZ_DECODER.decode(state, &ev, &ctx, &s, &wants))
		return 0;
	CHECK(wants.span == wants.metrics);
	CHECK(s.proto == FUZZ_PROTO);
	TERMINATED(s.db.system);
	TERMINATED(s.db.operation);
	TERMINATED(s.db.collection);
	TERMINATED(s.db.namespace_);
	TERMINATED(s.db.status_code);
	TERMINATED(s.db.query);
	TERMINATED(s.error);
	if (wants.span) {
		char name[128];

		CHECK(s.kind == SPAN_KIND_CLIENT);
		CHECK(s.db.system[0]);
		if (!cfg.db_query_text)
			CHECK(!s.db.query[0]);
		span_db_name(&s, name, sizeof(name));
		CHECK(name[0]);
	}
	return 0;
}
