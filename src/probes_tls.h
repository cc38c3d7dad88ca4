/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS library uprobes, per traced process: OpenSSL's SSL_read/SSL_write
 * (and _ex) on every libssl a traced process maps (found in its
 * /proc/PID/maps, so libraries loaded later by dlopen are found at the next
 * scan) and on executables that link OpenSSL statically (their own symbols).
 * Each uprobe carries the process's pid: the kernel plants its breakpoint
 * only in that process, so processes that are not traced, even those
 * sharing the same libssl, never trap. Forked children get their own
 * attach at the next scan (the kernel traces them from their fork); the
 * uprobes of a process that is gone are detached.
 *
 * The programs are in the agent's BPF object (bpf/tls_openssl.bpf.h); the
 * plaintext they capture joins the socket path in bpf/tls.bpf.h.
 */
#ifndef SONDE_PROBES_TLS_H
#define SONDE_PROBES_TLS_H

#include <stdio.h>

#include <stdbool.h>
#include <stddef.h>

struct bpf_object;
struct tls_probes;

/**
 * tls_probes__new() - uprobes of the programs in @obj (loaded), for the
 * processes in the kernel's traced map @traced_fd. NULL when out of memory.
 */
struct tls_probes *tls_probes__new(struct bpf_object *obj, int traced_fd);

/** tls_probes__free() - detach everything. */
void tls_probes__free(struct tls_probes *t);

/**
 * tls_probes__scan() - bring the uprobes in step with the traced processes:
 * attach to the TLS libraries each one maps now (new processes, new
 * libraries), detach from processes no longer traced. Cheap enough to run
 * every second: one read of /proc/PID/maps per traced process; each file
 * is inspected once.
 */
void tls_probes__scan(struct tls_probes *t);

/**
 * tls_probes__describe() - where Sonde would put its TLS uprobes in the file
 * at @path (`sonde --tls-hooks`), one line each on @out: "LIBRARY FUNCTION
 * OFFSET ROLE", tab-separated; LIBRARY is openssl or go, OFFSET the probed
 * instruction's file offset.
 * Return: 0 when at least one was found, else 1 (why, on stderr).
 */
int tls_probes__describe(const char *path, FILE *out);

/** tls_probes__failures() - attachments that failed (each tried again later). */
unsigned long long tls_probes__failures(const struct tls_probes *t);

/** tls_probes__attached() - processes with TLS uprobes now (tests, logs). */
unsigned int tls_probes__attached(const struct tls_probes *t);

enum tls_exe_kind {
	TLS_EXE_NONE = 0,	     /* no OpenSSL of its own */
	TLS_EXE_OPENSSL_SYMBOLS = 1, /* defines SSL_read: OpenSSL linked in, uprobes possible */
	TLS_EXE_OPENSSL_STRIPPED = 2, /* OpenSSL linked in, no symbols to attach to */
};

/**
 * tls_exe_kind() - does the ELF file open on @fd carry OpenSSL itself?
 * A defined SSL_read (symbol table or dynamic symbols) says yes with
 * symbols; without a symbol table, OpenSSL's own source file names in the
 * image (as its error reporting keeps them) say stripped. Read, never
 * mapped: the file belongs to the traced user.
 */
enum tls_exe_kind tls_exe_kind(int fd);

/** tls_is_libssl() - is @path (a mapped file) a libssl shared object? */
bool tls_is_libssl(const char *path);

#endif /* SONDE_PROBES_TLS_H */
