// SPDX-License-Identifier: Apache-2.0
/*
 * The minimal reference agent of the benchmark (loader: bench/minimal/minimal.c).
 * It does only what any HTTP-tracing agent has to do on each socket read and
 * write of a traced process, so that Sonde can be compared with the least
 * an agent on the same hook can cost:
 *
 *  - the traced-process test: one bit per tgid in `traced`, set by the
 *    loader from the pids on its command line (the server's process tree);
 *  - a timestamp, bpf_ktime_get_ns();
 *  - a 64-byte bpf_probe_read_user() of the head of the user buffer;
 *  - one ring-buffer record per message received (a read that returned
 *    data): one per HTTP request a server reads, one per response a client
 *    reads, so about one per span under keep-alive load. Writes copy their
 *    head and take their timestamp, but emit no record.
 *  - wake-ups batched: a record is submitted without waking the reader
 *    unless more than WAKE_BYTES are waiting; the reader also polls on a timer.
 *
 * Two hooks, chosen by the loader (only one pair is attached):
 *  sys_exit         tp_btf/sys_exit: every syscall of every process runs it;
 *                   it dispatches on the syscall number. No "is this fd a
 *                   socket" test: read/write/readv/writev of a traced process
 *                   are copied whatever the descriptor (the benchmark's
 *                   servers read and write only sockets; sendfile has no
 *                   user buffer and is timestamped only).
 *  sock_*_length    tp_btf/sock_recv_length and tp_btf/sock_send_length: run
 *                   only for socket I/O, after the data is in the user
 *                   buffer; the buffer comes from the syscall's registers.
 *
 * Programs are named after their tracepoints, like Sonde's.
 *
 * TLS (optional, the loader's uprobe arguments, placed where Sonde places its
 * own: `sonde --tls-hooks FILE`): the same minimum on the plaintext.
 *  tls_enter / tls_read_return / tls_write_return   OpenSSL: the buffer kept
 *                   per thread at entry (task storage), its head copied at
 *                   the return when bytes moved, a record per read.
 *  go_read_copy / go_write_entry   Go crypto/tls: the bytes are at hand in
 *                   RBX (length RCX) at Read's copy and at Write's entry.
 *  go_noop          Go's other probe points (Read's entry, its RETs): the
 *                   traced-process test only.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define HEAD 64
#define WAKE_BYTES (256 * 1024)
/* One bit per tgid up to PID_MAX_LIMIT (4194304). */
#define TRACED_WORDS (4194304 / 64)

/* x86-64 syscall numbers. */
#define NR_READ 0
#define NR_WRITE 1
#define NR_READV 19
#define NR_WRITEV 20
#define NR_SENDFILE 40
#define NR_SENDTO 44
#define NR_RECVFROM 45
#define NR_SENDMSG 46
#define NR_RECVMSG 47

#define MSG_PEEK 2

struct record {
	__u64 ts;
	__u32 tgid;
	__u32 tid;
	__s32 fd;
	__s32 ret;
	__u8 head[HEAD];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TRACED_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} traced SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} events SEC(".maps");

/* Records that found the ring buffer full; read by the loader at exit. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

__u64 sent_heads;

/* The user-space view of the first iovec. */
struct uiov {
	void *base;
	__u64 len;
};

static __always_inline bool is_traced(__u32 tgid)
{
	__u32 word = tgid / 64;
	__u64 *bits = bpf_map_lookup_elem(&traced, &word);

	return bits && (*bits >> (tgid % 64)) & 1;
}

/* The user buffer of a data syscall from its registers; NULL when there is
 * none to copy (sendfile, or not a data syscall). */
static __always_inline void *user_buf(long nr, struct pt_regs *regs)
{
	struct uiov iov;
	void *p;

	switch (nr) {
	case NR_READ:
	case NR_WRITE:
	case NR_RECVFROM:
	case NR_SENDTO:
		return (void *)regs->si;
	case NR_READV:
	case NR_WRITEV:
		p = (void *)regs->si;
		break;
	case NR_RECVMSG:
	case NR_SENDMSG:
		/* struct user_msghdr: msg_iov at offset 16 */
		if (bpf_probe_read_user(&p, sizeof(p), (void *)(regs->si + 16)))
			return NULL;
		break;
	default:
		return NULL;
	}
	if (bpf_probe_read_user(&iov, sizeof(iov), p))
		return NULL;
	return iov.base;
}

/* One record: the head of @buf (zeros when unreadable), @ret bytes moved on
 * descriptor @fd (-1: TLS plaintext), woken only past WAKE_BYTES waiting. */
static __always_inline void emit_record(void *buf, __s32 fd, long ret, __u64 id)
{
	struct record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

	if (!r) {
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(&lost, &zero);

		if (n)
			__sync_fetch_and_add(n, 1);
		return;
	}
	r->ts = bpf_ktime_get_ns();
	r->tgid = id >> 32;
	r->tid = (__u32)id;
	r->fd = fd;
	r->ret = (__s32)ret;
	if (!buf || bpf_probe_read_user(r->head, HEAD, buf))
		__builtin_memset(r->head, 0, HEAD);
	bpf_ringbuf_submit(r, bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > WAKE_BYTES ?
				      BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

/* A write: its head copied and dropped, the least a real agent would do. */
static __always_inline void copy_head(void *buf)
{
	__u8 head[HEAD];
	__u64 ts = bpf_ktime_get_ns();

	if (buf && !bpf_probe_read_user(head, HEAD, buf))
		sent_heads += head[0] + (ts & 1);
}

static __always_inline void on_recv(struct pt_regs *regs, long nr, long ret, __u64 id)
{
	emit_record(user_buf(nr, regs), (__s32)regs->di, ret, id);
}

static __always_inline void on_send(struct pt_regs *regs, long nr, long ret)
{
	copy_head(user_buf(nr, regs));
}

/* ---- TLS plaintext (x86-64 registers) ---- */

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} tls_buf SEC(".maps");

/* A record (@inbound) or a dropped head copy for @n bytes of plaintext at @buf. */
static __always_inline void on_plain(void *buf, long n, bool inbound, __u64 id)
{
	if (inbound)
		emit_record(buf, -1, n, id);
	else
		copy_head(buf);
}

SEC("uprobe")
int tls_enter(struct pt_regs *ctx)
{
	__u64 *slot;

	if (!is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	slot = bpf_task_storage_get(&tls_buf, bpf_get_current_task_btf(), 0,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (slot)
		*slot = ctx->si;
	return 0;
}

static __always_inline int tls_return(struct pt_regs *ctx, bool inbound)
{
	__u64 id = bpf_get_current_pid_tgid(), *slot;
	long ret = (long)ctx->ax;

	if (!is_traced(id >> 32))
		return 0;
	slot = bpf_task_storage_get(&tls_buf, bpf_get_current_task_btf(), 0, 0);
	if (!slot || !*slot)
		return 0;
	if (ret > 0)
		on_plain((void *)*slot, ret, inbound, id);
	*slot = 0;
	return 0;
}

SEC("uretprobe")
int tls_read_return(struct pt_regs *ctx)
{
	return tls_return(ctx, true);
}

SEC("uretprobe")
int tls_write_return(struct pt_regs *ctx)
{
	return tls_return(ctx, false);
}

/* Go: the plaintext is at RBX, RCX bytes long, at both probe points. */
static __always_inline int go_plain(struct pt_regs *ctx, bool inbound)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (is_traced(id >> 32) && ctx->bx && (long)ctx->cx > 0)
		on_plain((void *)ctx->bx, ctx->cx, inbound, id);
	return 0;
}

SEC("uprobe")
int go_read_copy(struct pt_regs *ctx)
{
	return go_plain(ctx, true);
}

SEC("uprobe")
int go_write_entry(struct pt_regs *ctx)
{
	return go_plain(ctx, false);
}

SEC("uprobe")
int go_noop(struct pt_regs *ctx)
{
	return is_traced(bpf_get_current_pid_tgid() >> 32) ? 0 : 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	long nr;

	if (!is_traced(id >> 32) || ret <= 0)
		return 0;
	nr = regs->orig_ax;
	switch (nr) {
	case NR_READ:
	case NR_READV:
	case NR_RECVFROM:
	case NR_RECVMSG:
		on_recv(regs, nr, ret, id);
		break;
	case NR_WRITE:
	case NR_WRITEV:
	case NR_SENDTO:
	case NR_SENDMSG:
	case NR_SENDFILE:
		on_send(regs, nr, ret);
		break;
	}
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv_length, struct sock *sk, int ret, int flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pt_regs *regs;

	if (!is_traced(id >> 32) || ret <= 0 || (flags & MSG_PEEK))
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	on_recv(regs, regs->orig_ax, ret, id);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send_length, struct sock *sk, int ret, int flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pt_regs *regs;

	if (!is_traced(id >> 32) || ret <= 0)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	on_send(regs, regs->orig_ax, ret);
	return 0;
}
