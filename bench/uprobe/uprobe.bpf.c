// SPDX-License-Identifier: Apache-2.0
/* The uprobe cost probe of the benchmark (uprobe.c): empty programs, so
 * what is measured is the platform's price of a uprobe (a breakpoint trap
 * into the kernel and back) and of a uretprobe (a second trap, at the
 * return address the kernel swaps in), apart from any agent's logic. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("uprobe")
int uprobe_empty(void *ctx)
{
	return 0;
}

SEC("uretprobe")
int uretprobe_empty(void *ctx)
{
	return 0;
}
