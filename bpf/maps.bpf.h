/* SPDX-License-Identifier: Apache-2.0 */
/* Maps and kernel-only state shared by Sonde's BPF programs: the traced
 * processes, the counters, the ring buffer. Connection state is in
 * conn.bpf.h (socket storage). */
#ifndef SONDE_MAPS_BPF_H
#define SONDE_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sonde/abi.h"

#define SONDE_MAX_CONNS 10240
#define SONDE_MAX_INFLIGHT 16384

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SONDE_MAX_TRACED);
	__type(key, __u32);
	__type(value, struct sonde_traced_proc);
} traced SEC(".maps");

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

static __always_inline void counter_add(__u32 id, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &id);

	if (v)
		*v += n;
}

/* Bytes written to the ring buffer by this CPU since its last wake-up of
 * the reader. Asking the ring buffer how much waits would read the
 * reader's position, a cache line the reader's CPU keeps writing: a miss
 * on every record. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} unwoken_bytes SEC(".maps");

static __always_inline __u64 ringbuf_flags(__u64 size)
{
	__u32 zero = 0;
	__u64 *pending = bpf_map_lookup_elem(&unwoken_bytes, &zero);

	if (!pending || (*pending += size) < wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	*pending = 0;
	return BPF_RB_FORCE_WAKEUP;
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
