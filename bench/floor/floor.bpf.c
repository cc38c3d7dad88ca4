// SPDX-License-Identifier: Apache-2.0
/*
 * What any syscall-tracepoint agent pays on this kernel, measured apart
 * from Sonde (bench/floor/floor.c runs these one at a time):
 *
 *  empty  - a sys_exit program that returns at once: the tracepoint's own
 *           cost, paid by every syscall of every process once attached;
 *  check  - plus the test "is this the measured process" (what the three
 *           below also do, so their own cost is theirs minus this one's);
 *  clock  - plus one bpf_ktime_get_ns() for the measured process;
 *  copy   - plus one 64-byte bpf_probe_read_user() for it (from its stack);
 *  lookup - plus one hash-map lookup for it;
 *  sock_empty - empty programs on the socket tracepoints instead
 *           (tp_btf/sock_recv_length and tp_btf/sock_send_length, attached
 *           together): getppid() is not socket I/O, so it should pay nothing.
 *
 * The measured process is the only one doing extra work, as a traced
 * process would be; `target` is set by the loader.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

__u32 target;
__u64 sink;
__u8 buf[64];

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} table SEC(".maps");

static __always_inline bool measured(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(empty, struct pt_regs *regs, long ret)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(check, struct pt_regs *regs, long ret)
{
	if (measured())
		sink++;
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(clock, struct pt_regs *regs, long ret)
{
	if (measured())
		sink += bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(copy, struct pt_regs *regs, long ret)
{
	if (measured())
		bpf_probe_read_user(buf, sizeof(buf), (void *)PT_REGS_SP(regs));
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(lookup, struct pt_regs *regs, long ret)
{
	__u32 key = target;

	if (measured() && bpf_map_lookup_elem(&table, &key))
		sink++;
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv_empty, struct sock *sk, int ret, int flags)
{
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send_empty, struct sock *sk, int ret, int flags)
{
	return 0;
}
