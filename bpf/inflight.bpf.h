/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Requests in flight per thread and per process, for the in-process parent
 * rules of link.bpf.h: kept at each server request's begin and end, read
 * at each client call. Pure slot logic over two arrays, unit-tested through
 * BPF_PROG_TEST_RUN (tests/bpf/proto_test.bpf.c).
 */
#ifndef SONDE_INFLIGHT_BPF_H
#define SONDE_INFLIGHT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/*
 * Requests in flight for the threads or the processes whose id falls in
 * one slot of a direct-mapped table, and the latest one begun; `valid` is
 * cleared when that one ends before the others. A slot belongs to `owner`
 * (a tid or a tgid) while its count is not 0; a second id with requests in
 * flight in the same slot makes it `mixed` until the count falls to 0, and
 * a mixed slot links nothing: a collision costs a link, never gives a
 * wrong one. An array, not a hash: its lookup is inlined by the verifier
 * (no helper call, no hashing), and there are four per server request.
 */
struct inflight {
	__u64 conn_id;
	__u32 txn_seq;
	__u32 owner;
	__u16 count;
	__u8 valid;
	__u8 mixed;
	__u32 _pad;
};

#define INFLIGHT_THREAD_SLOTS 16384 /* powers of two */
#define INFLIGHT_PROC_SLOTS 4096

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, INFLIGHT_THREAD_SLOTS);
	__type(key, __u32); /* tid */
	__type(value, struct inflight);
} inflight_by_thread SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, INFLIGHT_PROC_SLOTS);
	__type(key, __u32); /* tgid */
	__type(value, struct inflight);
} inflight_by_proc SEC(".maps");

static __always_inline struct inflight *inflight_thread(__u32 tid)
{
	__u32 slot = tid & (INFLIGHT_THREAD_SLOTS - 1);

	return bpf_map_lookup_elem(&inflight_by_thread, &slot);
}

static __always_inline struct inflight *inflight_proc(__u32 tgid)
{
	__u32 slot = tgid & (INFLIGHT_PROC_SLOTS - 1);

	return bpf_map_lookup_elem(&inflight_by_proc, &slot);
}

static __always_inline void inflight_begin(struct inflight *f, __u32 owner, __u64 conn_id,
					  __u32 seq)
{
	if (!f)
		return;
	if (!f->count) {
		f->owner = owner;
		f->mixed = 0;
	} else if (f->owner != owner) {
		f->mixed = 1;
	}
	f->count++;
	f->conn_id = conn_id;
	f->txn_seq = seq;
	f->valid = 1;
}

static __always_inline void inflight_end(struct inflight *f, __u64 conn_id, __u32 seq)
{
	if (!f)
		return;
	if (f->count > 0)
		f->count--;
	if (f->conn_id == conn_id && f->txn_seq == seq)
		f->valid = 0;
	if (!f->count)
		f->mixed = 0;
}

/* The one request @owner has in flight in slot @f, when that is certain. */
static __always_inline bool inflight_one(const struct inflight *f, __u32 owner)
{
	return f && f->count == 1 && f->valid && !f->mixed && f->owner == owner;
}

#endif /* SONDE_INFLIGHT_BPF_H */
