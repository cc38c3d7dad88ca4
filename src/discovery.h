/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Discovery: which processes to trace, and under which service name.
 * Selects by open port, executable path (regex or glob) and pid; keeps the
 * kernel's `traced` map in step with what it finds (initial scan, exec,
 * listen, fork and exit events, and a periodic rescan).
 */
#ifndef SONDE_DISCOVERY_H
#define SONDE_DISCOVERY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include <stdint.h>

#include "config.h"
#include "model/process.h"
#include "model/service.h"
#include "probes.h"

struct discovery;

/**
 * discovery__new() - create discovery over the kernel's traced set @traced.
 * @self_pid: Sonde's own pid, never traced.
 * Return: NULL with errno set on failure (bad regex has been checked by
 * config already).
 */
struct discovery *discovery__new(const struct sonde_config *cfg, struct traced_set traced,
				 uint32_t self_pid);
void discovery__free(struct discovery *d);

/**
 * discovery__count_losses() - where to count processes folded into the
 * last service because the service table was full (1,024 names);
 * NULL: not counted. Read by other threads, hence atomic.
 */
void discovery__count_losses(struct discovery *d, atomic_uint_fast64_t *service_table_full);

/** discovery__scan() - look at every process; trace new matches, forget the dead. */
void discovery__scan(struct discovery *d);

/** discovery__check_pid() - re-evaluate one process (after exec or listen). */
void discovery__check_pid(struct discovery *d, uint32_t pid, bool after_exec);

/** discovery__on_fork() - the kernel traced @child because @parent is. */
void discovery__on_fork(struct discovery *d, uint32_t child, uint32_t parent);

/** discovery__no_thread_rule() - stop linking @pid's calls by thread. */
void discovery__no_thread_rule(struct discovery *d, uint32_t pid);

/**
 * discovery__thread_rule() - may @pid's calls be linked by thread (a traced
 * process neither Go nor seen answering on other threads)?
 */
bool discovery__thread_rule(struct discovery *d, uint32_t pid);

/** discovery__on_exit() - @pid exited: forget it. */
void discovery__on_exit(struct discovery *d, uint32_t pid);

/** discovery__lookup() - the traced process @pid, or NULL. */
const struct proc_info *discovery__lookup(const struct discovery *d, uint32_t pid);

unsigned int discovery__count(const struct discovery *d);

/** discovery__service_at() - services by index, for exporters: NULL past the end. */
const struct service *discovery__service_at(const struct discovery *d, unsigned int i);

/**
 * service_name_from_cmdline() - the name a process would get from its
 * command line (interpreters: script, jar or main class; else the
 * executable's base name). Exposed for unit tests.
 * @exe: executable path; @argv: NUL-separated arguments, @argv_len bytes
 * @runtime: receives "java", "python", "node", "ruby" or ""
 */
void service_name_from_cmdline(const char *exe, const char *argv, size_t argv_len, char *out,
			       size_t out_size, char *runtime, size_t runtime_size);

/* The same for process @pid: files it names (a Node script's package.json)
 * are read as @pid sees them, with its credentials (util/safe_read.h). */
void service_name_of(pid_t pid, const char *exe, const char *argv, size_t argv_len, char *out,
		     size_t out_size, char *runtime, size_t runtime_size);

#endif /* SONDE_DISCOVERY_H */
