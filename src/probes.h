/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Probes: check the kernel can run us, load the BPF object, attach its
 * tracepoints, read its counters, detach.
 */
#ifndef SONDE_PROBES_H
#define SONDE_PROBES_H

#include <stdint.h>

#include "config.h"
#include "sonde/abi.h"

struct probes;

/**
 * probes__check_host() - capabilities, BTF, kernel version, tracefs
 * (mounted here when missing, never unmounted). A missing capability
 * without which nothing can be traced or served (@cfg's metrics port) is
 * one line on stderr and an error; one that only hides some processes or
 * names is one warning line each (the table in probes.c, README.md).
 * Return: 0 when Sonde can run.
 */
int probes__check_host(const struct sonde_config *cfg);

/** probes__start() - open, load and attach. NULL on failure (logged). */
struct probes *probes__start(const struct sonde_config *cfg);
void probes__stop(struct probes *p);

/** probes__stop_quickly() - make every probe inert at once and finish
 * detaching in a child process, so the caller can exit immediately. */
void probes__stop_quickly(struct probes *p);

/*
 * The kernel's set of traced processes: the map (tgid -> service, flags)
 * and the bitmap every probe tests first (SONDE_TRACED_WORDS words, mapped
 * into our memory). The two change together: add fills the map entry
 * before setting the bit, del clears the bit before dropping the entry.
 */
struct traced_set {
	int map_fd;
	uint64_t *bits;
	uint64_t *server_ports; /* 65536 bits: ports traced processes listen on */
};

struct traced_set probes__traced_set(const struct probes *p);
int traced_set__add(const struct traced_set *t, uint32_t pid, const struct sonde_traced_proc *v);
void traced_set__del(const struct traced_set *t, uint32_t pid);
/**
 * traced_set__mark_port() - a traced process listens on @port: the kernel
 * follows that port's connections from their handshake (see server_ports
 * in bpf/sonde.bpf.c). Listeners made after tracing began mark themselves.
 */
void traced_set__mark_port(const struct traced_set *t, uint16_t port);
int probes__events_map_fd(const struct probes *p);

struct bpf_object;
/** probes__object() - the loaded BPF object (its uprobe programs are
 * attached per process by probes_tls.c). */
struct bpf_object *probes__object(const struct probes *p);

/** probes__counter() - a kernel counter summed over CPUs. */
uint64_t probes__counter(const struct probes *p, enum sonde_counter id);

#endif /* SONDE_PROBES_H */
