/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Go's crypto/tls as a source of TLS plaintext. Go binaries carry their
 * own TLS, so there is no library to hook: user space (src/probes_gotls.c)
 * finds crypto/tls.(*Conn).Read and .Write in the binary's Go symbol table
 * (src/gobin/) and puts a uprobe on each entry and on each of their RET
 * instructions, never a uretprobe: a uretprobe replaces the return address
 * on the stack, and Go moves goroutine stacks (copying them as they grow),
 * after which the return goes astray.
 *
 * Go's register ABI (ABIInternal, Go 1.17+ on amd64): the receiver in RAX,
 * the slice's pointer and length in RBX and RCX; the result n in RAX at the
 * RET; the current goroutine (g) in R14. A Read in flight is keyed by its
 * goroutine, not its thread: a goroutine blocked in Read may resume on
 * another thread. Writes are taken at their entry (below); a Read's bytes
 * at its copy into b, or at its RETs.
 *
 * The socket comes from the connection itself: *tls.Conn -> its net.Conn
 * (an interface: the data word) -> *net.TCPConn -> *netFD -> pfd.Sysfd,
 * the descriptor, then the current task's file table -> struct file ->
 * struct socket -> struct sock. The offsets of that walk differ per binary
 * and arrive in the attach cookie (SONDE_GOTLS_COOKIE, abi.h). From there
 * the plaintext takes the TLS entry every TLS source uses, tls_plaintext()
 * (tls.bpf.h). Included once, by sonde.bpf.c.
 */
#ifndef SONDE_TLS_GO_BPF_H
#define SONDE_TLS_GO_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "sonde/abi.h"
#include "maps.bpf.h"
#include "tls.bpf.h"

#define GO_S_IFMT 0170000
#define GO_S_IFSOCK 0140000
/* x86 EFLAGS: a JBE jumps when CF or ZF is set. */
#define GO_EFLAGS_CF 0x1
#define GO_EFLAGS_ZF 0x40

/* A (*Conn).Read or .Write in flight: its goroutine in its process. */
struct go_tls_key {
	__u64 g;
	__u32 tgid;
	__u32 _pad;
};

struct go_tls_call {
	__u64 sk;  /* struct sock * of the connection */
	__u64 buf; /* the slice's bytes */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SONDE_MAX_INFLIGHT);
	__type(key, struct go_tls_key);
	__type(value, struct go_tls_call);
} go_tls_calls SEC(".maps");

/* The struct sock behind descriptor @fd of the current process, if @fd is
 * a socket; 0 otherwise. */
static __always_inline __u64 fd_to_sock(__s64 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *f = NULL;
	struct socket *sock;

	if (!fdt || fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	if (!fds || bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & GO_S_IFMT) != GO_S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(f, private_data);
	return sock ? (__u64)BPF_CORE_READ(sock, sk) : 0;
}

/* The socket of *tls.Conn @conn (offsets in @cookie), 0 when the walk
 * fails (a net.Conn that is not a *net.TCPConn ends on a descriptor that
 * is not a socket, or on nothing). */
static __always_inline __u64 go_tls_sock(__u64 conn, __u64 cookie)
{
	__u64 tcpconn = 0, netfd = 0;
	__s64 fd = -1;

	if (!conn ||
	    bpf_probe_read_user(&tcpconn, sizeof(tcpconn),
				(void *)(conn + SONDE_GOTLS_CONN(cookie))) || !tcpconn ||
	    bpf_probe_read_user(&netfd, sizeof(netfd),
				(void *)(tcpconn + SONDE_GOTLS_FD(cookie))) || !netfd ||
	    bpf_probe_read_user(&fd, sizeof(fd), (void *)(netfd + SONDE_GOTLS_SYSFD(cookie))))
		return 0;
	return fd_to_sock(fd);
}

#if defined(__TARGET_ARCH_x86)
/*
 * func (c *Conn) Read(b []byte) (int, error) and Write alike: entry.
 * A Write's plaintext is taken here, whole (Go's Write sends all of b or
 * fails the connection): at its return it could come after the peer's
 * answer, read by another goroutine on another CPU, and the transaction
 * would see a response before its request. A Read's bytes exist only at
 * its return: the call is remembered for it.
 *
 * The uprobe sits on the JBE of the prologue's stack check when user space
 * found it (a conditional jump the kernel emulates: one trap, where the
 * entry's CMP is single-stepped, a second one); when that JBE jumps, the
 * stack grows and the call starts over: seen then.
 */
SEC("uprobe")
int go_tls_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), cookie = bpf_get_attach_cookie(ctx);
	struct go_tls_key key = { .g = ctx->r14, .tgid = id >> 32 };
	struct go_tls_call call = { .buf = ctx->bx };
	__u64 len = ctx->cx;

	if (SONDE_GOTLS_IS_AT_JBE(cookie) && (ctx->flags & (GO_EFLAGS_CF | GO_EFLAGS_ZF)))
		return 0;
	if (!is_traced(id >> 32) || !call.buf || !len)
		return 0;
	call.sk = go_tls_sock(ctx->ax, cookie);
	if (!call.sk) {
		counter_add(SONDE_CNT_TLS_NO_SOCKET, 1);
		return 0;
	}
	if (!SONDE_GOTLS_INBOUND(cookie)) {
		if (len <= 0x7fffffff)
			tls_plaintext(call.sk, call.buf, (__u32)len, false, id);
		return 0;
	}
	bpf_map_update_elem(&go_tls_calls, &key, &call, BPF_ANY);
	return 0;
}

/* The call of (*Conn).Read that began on this goroutine, consumed. */
static __always_inline bool go_tls_read_call(struct go_tls_call *call, __u64 id, __u64 g)
{
	struct go_tls_key key = { .g = g, .tgid = id >> 32 };
	struct go_tls_call *p = bpf_map_lookup_elem(&go_tls_calls, &key);

	if (!p)
		return false;
	*call = *p;
	bpf_map_delete_elem(&go_tls_calls, &key);
	return true;
}

/*
 * Inside (*Conn).Read, its one call of runtime.memmove(to, from, n): the
 * copy of decrypted bytes from the connection's input buffer into b
 * (bytes.Reader.Read, inlined). The bytes are in `from` (RBX), n (RCX)
 * long. A direct call, which the kernel emulates: one trap, where a RET is
 * single-stepped (two, the second about forty times the cost here). User
 * space puts this uprobe where it finds exactly one such call, else
 * go_tls_return on every RET.
 */
SEC("uprobe")
int go_tls_read_copy(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), n = ctx->cx;
	struct go_tls_call call;

	if (!go_tls_read_call(&call, id, ctx->r14) || !n || n > 0x7fffffff)
		return 0;
	/* bytes.Reader.Read copies to b[0:]: another destination means this
	 * build's Read is not the one user space recognised. */
	if (ctx->ax != call.buf) {
		counter_add(SONDE_CNT_GOTLS_ODD_COPY, 1);
		return 0;
	}
	tls_plaintext(call.sk, ctx->bx, (__u32)n, true, id);
	return 0;
}

/* Each RET of (*Conn).Read: n in RAX, the bytes in b. A return whose entry
 * was not seen (the call began before the uprobes) finds nothing. */
SEC("uprobe")
int go_tls_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct go_tls_call call;
	long n = (long)ctx->ax;

	if (!go_tls_read_call(&call, id, ctx->r14) || n <= 0 || n > 0x7fffffff)
		return 0;
	tls_plaintext(call.sk, call.buf, (__u32)n, true, id);
	return 0;
}
#endif /* __TARGET_ARCH_x86 */

#endif /* SONDE_TLS_GO_BPF_H */
