/* SPDX-License-Identifier: Apache-2.0 */
/* Maps and kernel-only state shared by Sonde's BPF programs. */
#ifndef SONDE_MAPS_BPF_H
#define SONDE_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sonde/abi.h"

#define SONDE_MAX_CONNS 10240
#define SONDE_MAX_INFLIGHT 16384
#define SONDE_MAX_IGNORED 16384

/* Connection identity: Go and other runtimes read and write one socket from
 * different threads, so state is per process and descriptor, not per thread. */
struct conn_key {
	__u32 tgid;
	__u32 fd;
};

enum conn_phase {
	PHASE_IDLE = 0,	    /* between transactions */
	PHASE_REQUEST = 1,  /* request bytes are flowing */
	PHASE_RESPONSE = 2, /* response bytes are flowing */
};

/* Per-connection state. `ev` is the event being assembled, emitted as is
 * when the transaction completes; the rest drives the state machine. */
struct conn_state {
	struct sonde_http_event ev;
	__u64 resp_expected; /* total response wire bytes, 0 when unknown */
	__u8 phase;	     /* enum conn_phase */
	__u8 chunked;	     /* response uses chunked transfer coding */
	__u8 probes_left;    /* chunks left to look at on a mid-stream connection */
	__u8 counted;	     /* this server transaction is counted in flight */
	__u8 connecting;     /* client: connect() said EINPROGRESS, outcome not seen yet */
	__u8 peer_state;     /* server: enum peer_state */
	__u8 thread_rule;    /* the process may link by thread: count requests per thread */
	__u8 _pad;
	struct conn_key peer_key; /* server: the traced client's end (PEER_TRACED) */
	__u64 sk; /* the struct sock: tells this connection from a later one on the same fd */
};

/* A server connection's other end, as far as the linker knows. */
enum peer_state {
	PEER_UNKNOWN = 0, /* not looked up yet */
	PEER_NONE = 1,	  /* no traced client at the other end when last looked */
	PEER_TRACED = 2,  /* a traced client's connection, at peer_key */
};

/* A data syscall as its exit probe sees it: the arguments come from the
 * registers saved at entry, which the syscall leaves as they were. */
enum call_kind {
	CALL_READ = 1,	  /* read, recvfrom: (fd, buf) */
	CALL_READV,	  /* readv: (fd, iov, iovcnt) */
	CALL_RECVMSG,	  /* recvmsg: (fd, msghdr) */
	CALL_WRITE,	  /* write, sendto: (fd, buf) */
	CALL_WRITEV,	  /* writev: (fd, iov, iovcnt) */
	CALL_SENDMSG,	  /* sendmsg: (fd, msghdr) */
	CALL_SENDFILE,	  /* sendfile: (out_fd, ...) no user buffer */
};

struct call_args {
	__u64 buf; /* buffer, iovec array or msghdr, by kind */
	__u32 fd;
	__u32 kind; /* enum call_kind */
	__u32 iovcnt;
	__u32 _pad;
};

/* The data syscall being handled. It goes through this map, not the
 * stack, so that its kind is a value the verifier does not know: checked
 * once for all kinds instead of once per kind the switch set. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct call_args);
} call_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SONDE_MAX_TRACED);
	__type(key, __u32);
	__type(value, struct sonde_traced_proc);
} traced SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_CONNS);
	__type(key, struct conn_key);
	__type(value, struct conn_state);
} conns SEC(".maps");

/* Descriptors of traced processes found not to carry HTTP (files, pipes,
 * UDP, non-HTTP protocols), so later syscalls on them return at once. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_IGNORED);
	__type(key, struct conn_key);
	__type(value, __u8);
} ignored SEC(".maps");

/* A zeroed template to create conn_state entries: too large for the stack. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct conn_state);
} conn_zero SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SONDE_CNT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* Wake the reader only when this much data waits; it also polls on a
 * timer, so nothing stays behind at low rates. Set by user space. */
const volatile __u64 wakeup_bytes = 256 << 10;

/*
 * How many entries `conns` and `ignored` may hold for the descriptors that
 * hash to each slot. Zero means surely none, so the close() of a file the
 * probes never looked at (nginx opens and closes one per request) costs no
 * lookup. Counted up before an entry is added and down when we delete one;
 * an entry the LRU evicts leaves its count up: a wasted lookup later, never
 * a missed one.
 */
#define FD_HINT_SLOTS 16384
__u32 fd_hint[FD_HINT_SLOTS] SEC(".bss");

static __always_inline __u32 *fd_hint_of(const struct conn_key *k)
{
	__u64 slot = (k->tgid * 0x9e3779b1u ^ k->fd * 0x85ebca77u) & (FD_HINT_SLOTS - 1);

	asm volatile("" : "+r"(slot));
	if (slot >= FD_HINT_SLOTS)
		return NULL;
	return &fd_hint[slot];
}

static __always_inline bool fd_maybe_known(const struct conn_key *k)
{
	__u32 *h = fd_hint_of(k);

	return !h || *h;
}

static __always_inline void fd_hint_add(const struct conn_key *k, int n)
{
	__u32 *h = fd_hint_of(k);

	if (h)
		__sync_fetch_and_add(h, n);
}

static __always_inline void counter_add(__u32 id, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &id);

	if (v)
		*v += n;
}

static __always_inline __u64 ringbuf_flags(void)
{
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* The fast "is this process traced" test (see SONDE_TRACED_WORDS). User
 * space sets and clears bits with the traced map's entries; the fork and
 * exit handlers do the same for children and exits. */
__u64 traced_bits[SONDE_TRACED_WORDS] SEC(".bss");

static __always_inline bool is_traced(__u32 tgid)
{
	__u64 w = tgid >> 6;

	/* Bound-check the register that indexes (see http_frame.bpf.h). */
	asm volatile("" : "+r"(w));
	if (w >= SONDE_TRACED_WORDS)
		return false;
	return (traced_bits[w] >> (tgid & 63)) & 1;
}

static __always_inline void traced_bit_set(__u32 tgid)
{
	__u64 w = tgid >> 6;

	asm volatile("" : "+r"(w));
	if (w < SONDE_TRACED_WORDS)
		__sync_fetch_and_or(&traced_bits[w], 1ULL << (tgid & 63));
}

static __always_inline void traced_bit_clear(__u32 tgid)
{
	__u64 w = tgid >> 6;

	asm volatile("" : "+r"(w));
	if (w < SONDE_TRACED_WORDS)
		__sync_fetch_and_and(&traced_bits[w], ~(1ULL << (tgid & 63)));
}

#endif /* SONDE_MAPS_BPF_H */
