/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where to put OpenSSL's uprobes in an ELF image (libssl, or an executable
 * with OpenSSL linked in), x86-64.
 *
 * Why not simply at SSL_read and SSL_write: a uprobe traps into the kernel
 * at its address, and the kernel then either emulates the instruction there
 * (push of a register, a relative jump, call or conditional jump, nop) or
 * single-steps it out of line, a second trap. On these machines (measured
 * by bench/uprobe: about 0.45 us for an emulated uprobe hit, 20 us for a
 * single-stepped one) the second trap costs forty times the first, and
 * Debian's OpenSSL 3 begins SSL_read and SSL_write with `sub $0x18,%rsp`.
 * A uretprobe also traps at the function's entry (to learn the return
 * address), so the entry instruction decides the cost of both.
 *
 * So for each direction (read, write): when SSL_read/SSL_read_ex begin
 * with an instruction the kernel emulates, the uprobes go there; else, when
 * both wrappers first call the same internal function (ssl_read_internal,
 * ssl_write_internal in OpenSSL 1.1.1 and 3.0: `(ssl, buf, num, size_t
 * *count)` returning > 0 on success, the count pointer in the fourth
 * argument register, set from the stack), which begins with an emulated
 * instruction (its `push`es), one pair of uprobes goes on that function,
 * read as an _ex call; else on the wrappers, single-stepped (slow, said
 * once in the log). Decoding with capstone.
 */
#ifndef SONDE_TLS_HOOKPOINTS_H
#define SONDE_TLS_HOOKPOINTS_H

#include <stdbool.h>
#include <stdint.h>

/* The programs that read a hook point's arguments and result. */
enum tls_hook_kind {
	TLS_HOOK_READ = 0,     /* int SSL_read(ssl, buf, int num): result is the count */
	TLS_HOOK_WRITE = 1,    /* int SSL_write(ssl, buf, int num) */
	TLS_HOOK_READ_EX = 2,  /* (ssl, buf, size_t num, size_t *count): > 0 on success */
	TLS_HOOK_WRITE_EX = 3, /* the same for writing */
	TLS_HOOK__MAX,
};

struct tls_hook_point {
	uint64_t offset;     /* file offset of the probed instruction */
	enum tls_hook_kind kind;
	bool emulated;	     /* the kernel emulates the instruction there (cheap) */
	bool internal;	     /* an internal function both wrappers call, not a wrapper */
	char name[24];	     /* the wrapper it stands for: "SSL_read", or "SSL_read*" for internal */
};

#define TLS_HOOK_POINTS_MAX 4

/**
 * tls_hook_points() - the hook points of the OpenSSL image open on @fd
 * (read, never mapped; the file belongs to the traced user).
 * Return: how many were written to @out (0: no SSL_read/SSL_write).
 */
int tls_hook_points(int fd, struct tls_hook_point out[TLS_HOOK_POINTS_MAX]);

/**
 * tls_insn_emulated() - does the x86-64 uprobe code emulate the
 * instruction starting at @b (@n bytes available)? Exposed for tests.
 */
bool tls_insn_emulated(const uint8_t *b, unsigned int n);

#endif /* SONDE_TLS_HOOKPOINTS_H */
