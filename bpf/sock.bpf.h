/* SPDX-License-Identifier: Apache-2.0 */
/* From a descriptor of the current process to its TCP socket and addresses,
 * read with CO-RE so one object runs on every kernel with BTF. */
#ifndef SONDE_SOCK_BPF_H
#define SONDE_SOCK_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "sonde/abi.h"

/* Not in vmlinux.h: macros of the uapi headers. */
#define SONDE_S_IFMT 00170000
#define SONDE_S_IFSOCK 0140000
#define SONDE_AF_INET 2
#define SONDE_AF_INET6 10
#define SONDE_SOCK_STREAM 1

/* The struct sock behind descriptor `fd` of the current task, or NULL when
 * the descriptor is not a stream socket of the inet families. */
static __always_inline struct sock *fd_to_tcp_sock(__u32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;
	struct socket *sock;
	struct sock *sk;
	__u16 family;
	umode_t mode;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & SONDE_S_IFMT) != SONDE_S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock || BPF_CORE_READ(sock, type) != SONDE_SOCK_STREAM)
		return NULL;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != SONDE_AF_INET && family != SONDE_AF_INET6)
		return NULL;
	return sk;
}

/* Fill the local and peer ends from the socket's common part. */
static __always_inline void sock_read_addrs(struct sock *sk, struct sonde_addr *local,
					    struct sonde_addr *peer)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	local->family = family;
	peer->family = family;
	local->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	peer->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == SONDE_AF_INET) {
		bpf_core_read(local->addr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(peer->addr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(local->addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(peer->addr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

#endif /* SONDE_SOCK_BPF_H */
