// SPDX-License-Identifier: Apache-2.0
/*
 * The kernel-side parsers (bpf/proto_http1.bpf.h, proto_postgres.bpf.h,
 * proto_mysql.bpf.h, proto_tls.bpf.h: classify and framing) as one
 * BPF_PROG_TYPE_SYSCALL program, for tests/bpf/test_proto.c to drive
 * through BPF_PROG_TEST_RUN: the input bytes arrive as the program's
 * context, the verdict leaves in globals (.bss) user space reads back.
 *
 * Not under bpf/: everything there is built into the agent's skeletons.
 */
#define SONDE_PROTO_PARSERS_ONLY
#include "proto_http1.bpf.h"
#include "proto_postgres.bpf.h"
#include "proto_mysql.bpf.h"
#include "proto_tls.bpf.h"
#include "inflight.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Which parser to run; the same numbers in test_proto.c. */
enum proto_op {
	PROTO_OP_IS_REQUEST = 1,
	PROTO_OP_STATUS = 2,
	PROTO_OP_STATUS_PREFIX = 3,
	PROTO_OP_FRAME_HEAD = 4,
	PROTO_OP_PG_CLASSIFY = 5,	 /* enum pg_class */
	PROTO_OP_PG_READY = 6,		 /* buf[0..6) is ReadyForQuery */
	PROTO_OP_MYSQL_CLASSIFY = 7,	 /* enum mysql_class */
	PROTO_OP_MYSQL_SINGLE = 8,	 /* buf[0] the command, buf[1..14) the first packet */
	PROTO_OP_MYSQL_RESULT_END = 9, /* buf[0..len) the last bytes of a read, len 9 or 11 */
	PROTO_OP_MYSQL_SSL_REQUEST = 10,
	PROTO_OP_TLS_CLASSIFY = 11,
	PROTO_OP_TLS_APPDATA = 12,
	/* the per-thread in-flight table (inflight.bpf.h); buf: owner (u32),
	 * conn_id (u64), txn_seq (u32), little-endian */
	PROTO_OP_INFLIGHT_BEGIN = 13,
	PROTO_OP_INFLIGHT_END = 14,
	PROTO_OP_INFLIGHT_ONE = 15, /* out_result: certain; out_content_length: its conn_id */
};

/* The context: same layout as struct proto_in in test_proto.c. */
struct proto_in {
	__u32 op;
	__u32 len;
	__u8 buf[SONDE_RESP_CAP];
};

/* The verifier refuses variable-offset reads of a syscall program's
 * context, and http_frame_head reads up to 64 bytes past SONDE_RESP_CAP:
 * the parsers run on a copy in a map value, zeroed room after it. */
struct proto_copy {
	struct proto_in in;
	__u8 slack[128];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct proto_copy);
} proto_scratch SEC(".maps");

/* The verdict. `ran` tells the op was understood and the parser ran. */
__u32 out_ran;
__u32 out_result; /* is_request, status or prefix, per op */
__u32 out_head_len;
__u64 out_content_length;
__u32 out_has_length;
__u32 out_chunked;
__u32 out_h2c;

SEC("syscall")
int proto_run(struct proto_in *ctx)
{
	struct http_frame f = {};
	struct proto_copy *c;
	__u32 zero = 0, len;

	out_ran = 0;
	out_result = 0;
	out_head_len = 0;
	out_content_length = 0;
	out_has_length = 0;
	out_chunked = 0;
	out_h2c = 0;
	c = bpf_map_lookup_elem(&proto_scratch, &zero);
	if (!c)
		return 1;
	__builtin_memcpy(&c->in, ctx, sizeof(c->in));
	__builtin_memset(c->slack, 0, sizeof(c->slack));
	len = c->in.len;
	if (len > SONDE_RESP_CAP)
		len = SONDE_RESP_CAP;

	switch (c->in.op) {
	case PROTO_OP_IS_REQUEST:
		out_result = http_is_request(c->in.buf, len);
		break;
	case PROTO_OP_STATUS:
		out_result = http_response_status(c->in.buf, len);
		break;
	case PROTO_OP_STATUS_PREFIX:
		out_result = http_status_prefix(c->in.buf, len);
		break;
	case PROTO_OP_FRAME_HEAD:
		http_frame_head(c->in.buf, len, &f);
		out_head_len = f.head_len;
		out_content_length = f.content_length;
		out_has_length = f.has_length;
		out_chunked = f.chunked;
		out_h2c = f.h2c;
		break;
	case PROTO_OP_PG_CLASSIFY:
		out_result = pg_classify(c->in.buf, len);
		break;
	case PROTO_OP_PG_READY:
		out_result = len >= 6 && pg_ready_for_query(c->in.buf);
		break;
	case PROTO_OP_MYSQL_CLASSIFY:
		out_result = mysql_classify(c->in.buf, len);
		break;
	case PROTO_OP_MYSQL_SSL_REQUEST:
		out_result = mysql_is_ssl_request(c->in.buf, len);
		break;
	case PROTO_OP_TLS_CLASSIFY:
		out_result = tls_classify(c->in.buf, len);
		break;
	case PROTO_OP_TLS_APPDATA:
		out_result = tls_appdata(c->in.buf, len);
		break;
	case PROTO_OP_INFLIGHT_BEGIN:
	case PROTO_OP_INFLIGHT_END:
	case PROTO_OP_INFLIGHT_ONE: {
		__u32 owner, seq;
		__u64 conn;
		struct inflight *f;

		__builtin_memcpy(&owner, c->in.buf, 4);
		__builtin_memcpy(&conn, c->in.buf + 4, 8);
		__builtin_memcpy(&seq, c->in.buf + 12, 4);
		f = inflight_thread(owner);
		if (c->in.op == PROTO_OP_INFLIGHT_BEGIN)
			inflight_begin(f, owner, conn, seq);
		else if (c->in.op == PROTO_OP_INFLIGHT_END)
			inflight_end(f, conn, seq);
		else if (inflight_one(f, owner))
			out_result = 1, out_content_length = f->conn_id;
		break;
	}
	case PROTO_OP_MYSQL_SINGLE:
		out_result = mysql_single_packet(c->in.buf + 1, c->in.buf[0]);
		break;
	case PROTO_OP_MYSQL_RESULT_END: {
		__u8 t[16] = {};

		/* as proto_mysql.bpf.h reads them: 11 bytes, or 9 at t + 2 */
		if (len == 11)
			__builtin_memcpy(t, c->in.buf, 11);
		else if (len == 9)
			__builtin_memcpy(t + 2, c->in.buf, 9);
		else
			return 3;
		out_result = mysql_result_end(t, len);
		break;
	}
	default:
		return 2;
	}
	out_ran = 1;
	return 0;
}
