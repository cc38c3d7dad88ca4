/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenSSL (libssl 3 and 1.1, and what keeps their API: the symbols are
 * the same) as a source of TLS plaintext: uprobes on SSL_read/SSL_write
 * and their _ex variants, attached by user space (src/probes_tls.c) to
 * each libssl a traced process maps, or to an executable that links
 * OpenSSL statically, with a pid filter: processes not traced never trap.
 *
 * (BPF_KPROBE/BPF_KRETPROBE read a uprobe's registers alike: libbpf 1.1 has no
 * BPF_UPROBE.) Entry: the SSL object and the buffer (and, for _ex, where the byte count
 * will be); return: the count. A uretprobe is safe on C code (never on Go's:
 * its stacks move). Included once, by sonde.bpf.c.
 */
#ifndef SONDE_TLS_OPENSSL_BPF_H
#define SONDE_TLS_OPENSSL_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "tls.bpf.h"

/* int SSL_read(SSL *ssl, void *buf, int num) */
SEC("uprobe")
int BPF_KPROBE(ssl_read_enter, void *ssl, void *buf, int num)
{
	tls_call_enter((__u64)ssl, (__u64)buf, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_return, int ret)
{
	tls_call_return(ret, true, false);
	return 0;
}

/* int SSL_write(SSL *ssl, const void *buf, int num) */
SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void *ssl, const void *buf, int num)
{
	tls_call_enter((__u64)ssl, (__u64)buf, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_write_return, int ret)
{
	tls_call_return(ret, false, false);
	return 0;
}

/* int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes) */
SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	tls_call_enter((__u64)ssl, (__u64)buf, (__u64)readbytes);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_read_ex_return, int ret)
{
	tls_call_return(ret, true, true);
	return 0;
}

/* int SSL_write_ex(SSL *ssl, const void *buf, size_t num, size_t *written) */
SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter, void *ssl, const void *buf, size_t num, size_t *written)
{
	tls_call_enter((__u64)ssl, (__u64)buf, (__u64)written);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_write_ex_return, int ret)
{
	tls_call_return(ret, false, true);
	return 0;
}

#endif /* SONDE_TLS_OPENSSL_BPF_H */
