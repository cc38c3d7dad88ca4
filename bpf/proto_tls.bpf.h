/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS on the socket, kernel side: only recognise it. A connection whose
 * first bytes are a TLS ClientHello record (or, found already open, an
 * application-data record) carries ciphertext the socket
 * hooks cannot read; it is marked SONDE_PROTO_TLS, its socket bytes are
 * skipped from then on (and not counted as "not HTTP"), and its plaintext
 * comes from uprobes on the TLS library through bpf/tls.bpf.h.
 *
 * A pure function over a bounded buffer, tested through BPF_PROG_TEST_RUN
 * (tests/bpf/proto_test.bpf.c).
 */
#ifndef SONDE_PROTO_TLS_BPF_H
#define SONDE_PROTO_TLS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define TLS_RECORD_HANDSHAKE 0x16
#define TLS_HANDSHAKE_CLIENT_HELLO 1
/* A record's payload: 2^14 bytes of plaintext, plus what compression and
 * protection may add (RFC 8446 5.2: at most 2^14 + 256 for TLS 1.3,
 * RFC 5246 6.2.3: 2^14 + 2048 before). */
#define TLS_RECORD_MAX (16384 + 2048)

/*
 * Do @len bytes at @p begin a TLS ClientHello record? The record header
 * alone (5 bytes: OpenSSL reads a record's header on its own, so a server's
 * first read is often just that) is enough when it is a handshake record of
 * SSL 3.0 to TLS 1.3 with a plausible length; the bytes after it, as far as
 * they go, must then read as a ClientHello (handshake type 1, a length below
 * 64 KiB, a legacy version 3.x).
 */
static __always_inline bool tls_classify(const __u8 *p, __u32 len)
{
	__u32 rec_len;

	if (len < 5 || p[0] != TLS_RECORD_HANDSHAKE || p[1] != 3 || p[2] > 4)
		return false;
	rec_len = (__u32)p[3] << 8 | p[4];
	if (rec_len < 4 || rec_len > TLS_RECORD_MAX)
		return false;
	if (len >= 6 && p[5] != TLS_HANDSHAKE_CLIENT_HELLO)
		return false;
	if (len >= 7 && p[6] != 0)
		return false;
	if (len >= 10 && p[9] != 3)
		return false;
	if (len >= 11 && p[10] > 4)
		return false;
	return true;
}

#define TLS_RECORD_APPDATA 0x17

/*
 * Do @len bytes at @p begin a TLS 1.2 or 1.3 application-data record (both
 * say version 3.3 in the record header)? A connection Sonde finds already
 * open (a keep-alive connection older than Sonde) shows these, not its
 * ClientHello. They do not tell which end wrote them: the plaintext's
 * first request tells the role instead.
 */
static __always_inline bool tls_appdata(const __u8 *p, __u32 len)
{
	__u32 rec_len;

	if (len < 5 || p[0] != TLS_RECORD_APPDATA || p[1] != 3 || p[2] != 3)
		return false;
	rec_len = (__u32)p[3] << 8 | p[4];
	return rec_len >= 1 && rec_len <= 16384 + 256;
}

#endif /* SONDE_PROTO_TLS_BPF_H */
