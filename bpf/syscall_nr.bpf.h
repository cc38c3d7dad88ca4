/* SPDX-License-Identifier: Apache-2.0 */
/* Syscall numbers and register access, per architecture (vmlinux.h has no
 * __NR_ macros): the socket tracepoints learn from the saved registers which
 * syscall moved the bytes, and where its buffer is. */
#ifndef SONDE_SYSCALL_NR_BPF_H
#define SONDE_SYSCALL_NR_BPF_H

#if defined(__TARGET_ARCH_x86)
#define NR_read 0
#define NR_write 1
#define NR_readv 19
#define NR_writev 20
#define NR_sendfile 40
#define NR_splice 275
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define NR_read 63
#define NR_write 64
#define NR_readv 65
#define NR_writev 66
#define NR_sendfile 71
#define NR_splice 76
#define NR_sendto 206
#define NR_recvfrom 207
#define NR_sendmsg 211
#define NR_recvmsg 212
#define SYSCALL_NR(regs) ((regs)->syscallno)
#else
#error "Sonde's BPF side knows the syscall numbers of x86_64 and arm64 only"
#endif

#endif /* SONDE_SYSCALL_NR_BPF_H */
