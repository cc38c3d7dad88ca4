/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Go crypto/tls uprobes for one traced process (the programs are
 * bpf/tls_go.bpf.h): on the entries of crypto/tls.(*Conn).Read and .Write
 * of its executable (the prologue's stack-check branch), and on Read's one
 * call of runtime.memmove (its copy of the plaintext into the caller's
 * buffer) or, in a build where Read has no such call (-gcflags=-N -l), on
 * every RET of Read; all found by the Go binary inspection (src/gobin/),
 * with the process's pid so that only it traps. Each is an instruction
 * the kernel emulates (one trap) except the entry of an unknown prologue
 * and the RETs (single-stepped: two traps, about forty times the cost). Driven by the TLS uprobes' per-process scan (src/probes_tls.c),
 * which keeps the links with the process and drops them when it goes.
 *
 * What a binary allows is decided once per file and said once: Go before
 * 1.17 passes arguments on the stack (not read: its TLS is not followed),
 * another architecture than x86-64, a binary without crypto/tls, offsets
 * unknown for a stripped binary of an unlisted Go version.
 */
#ifndef SONDE_PROBES_GOTLS_H
#define SONDE_PROBES_GOTLS_H

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

struct bpf_object;
struct gotls;
struct gotls_links;

/** gotls__new() - the Go TLS programs of @obj (loaded). NULL when absent or out of memory. */
struct gotls *gotls__new(struct bpf_object *obj);
void gotls__free(struct gotls *t);

/**
 * gotls__attach() - uprobes in process @pid on the executable at @path (@st
 * its identity, to inspect each file once), all of them or none.
 * Return: 0 and the links in @out; -ENOENT when the file is not a Go binary
 * whose TLS can be followed (the reason is logged once per file); another
 * negative errno when attaching failed (worth trying again).
 */
int gotls__attach(struct gotls *t, uint32_t pid, const char *path, const struct stat *st,
		  struct gotls_links **out);

/** gotls_links__count() - uprobes held. */
int gotls_links__count(const struct gotls_links *l);

/**
 * gotls__describe() - where Sonde's uprobes would go in the Go executable at
 * @path (`sonde --tls-hooks`): one line per probe, "go FUNCTION OFFSET ROLE"
 * (ROLE: entry, copy or ret), tab-separated.
 * Return: probes written, or -ENOENT when its TLS cannot be followed (why
 * is logged).
 */
int gotls__describe(const char *path, FILE *out);

/** gotls_links__free() - detach. NULL is fine. */
void gotls_links__free(struct gotls_links *l);

#endif /* SONDE_PROBES_GOTLS_H */
