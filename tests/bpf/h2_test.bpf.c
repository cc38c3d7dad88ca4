// SPDX-License-Identifier: Apache-2.0
/*
 * The kernel side of HTTP/2 (bpf/proto_http2.bpf.h) under
 * BPF_PROG_TEST_RUN, for tests/bpf/test_h2.c: the classifier on bytes in
 * the context, and the frame walk on bytes in the test's own memory (a
 * BPF_PROG_TYPE_SYSCALL program runs in the calling process, so the walk
 * reads them with bpf_probe_read_user as it reads a traced program's), its
 * events in the ring buffer as the agent's are.
 *
 * Not under bpf/: everything there is built into the agent's skeletons.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sonde/abi.h"
#include "maps.bpf.h"
#include "conn.bpf.h"
#include "proto_http2.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Same layout as struct h2_classify_in in test_h2.c. */
struct h2_classify_in {
	__u32 len;
	__u32 _pad;
	__u8 buf[SONDE_REQ_CAP];
};

struct classify_copy {
	struct h2_classify_in in;
	__u8 slack[64]; /* h2_frames_plausible reads a header past a masked offset */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct classify_copy);
} classify_scratch SEC(".maps");

__u32 out_preface;
__u32 out_frames;

SEC("syscall")
int h2_classify_run(struct h2_classify_in *ctx)
{
	struct classify_copy *c;
	__u32 zero = 0, len;

	c = bpf_map_lookup_elem(&classify_scratch, &zero);
	if (!c)
		return 1;
	__builtin_memcpy(&c->in, ctx, sizeof(c->in));
	__builtin_memset(c->slack, 0, sizeof(c->slack));
	len = c->in.len > SONDE_REQ_CAP ? SONDE_REQ_CAP : c->in.len;
	out_preface = h2_is_preface(c->in.buf, len);
	out_frames = h2_frames_plausible(c->in.buf, len);
	return 0;
}

/* Same layout as struct h2_walk_in in test_h2.c. */
struct h2_walk_in {
	__u64 buf;    /* a buffer, or an iovec array */
	__u64 n;      /* bytes of the I/O */
	__u32 iovcnt; /* 0: buf is one buffer */
	__u32 _pad;
	struct h2_dir d; /* the direction's state before; after, in out_dir */
};

__u8 out_dir[sizeof(struct h2_dir)]; /* a struct h2_dir (bytes: the skeleton knows no BPF types) */
__s32 out_walk;

SEC("syscall")
int h2_walk_run(struct h2_walk_in *ctx)
{
	struct h2_scratch *sc = h2_scratch();
	struct call_args a = {};

	if (!sc)
		return 1;
	a.buf = ctx->buf;
	a.kind = ctx->iovcnt ? CALL_WRITEV : CALL_WRITE;
	a.iovcnt = ctx->iovcnt;
	__builtin_memset(&sc->rec, 0, SONDE_TXN_EVENT_MIN_SIZE);
	sc->rec.hdr.kind = SONDE_EV_TXN;
	sc->rec.proto = SONDE_PROTO_HTTP2;
	sc->rec_len = 0;
	sc->d = ctx->d;
	out_walk = h2_walk(sc, &a, ctx->n);
	__builtin_memcpy(out_dir, &sc->d, sizeof(sc->d));
	return 0;
}
