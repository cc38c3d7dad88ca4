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
 * probes__check_host() - root/capabilities, BTF, kernel version, tracefs
 * (mounted here when missing). Prints one line saying what is missing.
 * Return: 0 when Sonde can run.
 */
int probes__check_host(void);

/** probes__start() - open, load and attach. NULL on failure (logged). */
struct probes *probes__start(const struct sonde_config *cfg);
void probes__stop(struct probes *p);

/** probes__stop_quickly() - make every probe inert at once and finish
 * detaching in a child process, so the caller can exit immediately. */
void probes__stop_quickly(struct probes *p);

int probes__traced_map_fd(const struct probes *p);
int probes__events_map_fd(const struct probes *p);

/** probes__counter() - a kernel counter summed over CPUs. */
uint64_t probes__counter(const struct probes *p, enum sonde_counter id);

#endif /* SONDE_PROBES_H */
