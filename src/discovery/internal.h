/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the parts of discovery share (src/discovery/), not for the rest of
 * Sonde, which sees discovery.h only:
 *   pid_table.c      the traced processes, by pid
 *   service_table.c  the services they are reported under
 *   scan.c           reading /proc, listening sockets (sock_diag or
 *                    /proc/PID/net/tcp*), Go binaries
 *   naming.c         service names (OTEL_SERVICE_NAME, jar, main class,
 *                    script, package.json)
 *   selectors.c      which selector picks a process (port, exe, pid)
 *   discovery.c      the public API, keeping the kernel's traced map in step
 */
#ifndef SONDE_DISCOVERY_INTERNAL_H
#define SONDE_DISCOVERY_INTERNAL_H

#include <regex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "model/process.h"
#include "model/service.h"

/* ---- pid_table.c ---- */

#define PROC_SLOTS 8192 /* power of two, > SONDE_MAX_TRACED */

/* Open addressing by pid; entries are owned (freed on removal). */
struct pid_table {
	struct proc_info *slots[PROC_SLOTS];
	unsigned int count;
};

struct proc_info *pid_table__get(const struct pid_table *t, uint32_t pid);
/* Insert @p, freeing an entry of the same pid it replaces. */
void pid_table__put(struct pid_table *t, struct proc_info *p);
void pid_table__remove(struct pid_table *t, uint32_t pid);
void pid_table__clear(struct pid_table *t);

/* ---- service_table.c ---- */

#define SERVICES_MAX 1024

struct service_table {
	struct service *v[SERVICES_MAX];
	unsigned int count;
	atomic_uint_fast64_t *full; /* processes folded into the last service; may be NULL */
};

/*
 * The service named @raw_name in namespace @raw_ns (both sanitized to
 * valid UTF-8), created with a route table of @route_cap if new. Past
 * SERVICES_MAX services, the last one (the fold is counted in @t->full).
 * NULL if out of memory.
 */
struct service *service_table__get(struct service_table *t, const char *raw_name,
				   const char *raw_ns, size_t route_cap);
void service_table__clear(struct service_table *t);

/* ---- scan.c ---- */

struct netns_listeners;

/* Listening sockets by network namespace, read at most once per scan. */
struct listener_cache {
	uint64_t self_netns; /* inode of our network namespace, 0 if unknown */
	struct netns_listeners *v;
	size_t count;
};

void listener_cache__init(struct listener_cache *c);
/* Forget what was read: the next look reads the sockets again. */
void listener_cache__forget(struct listener_cache *c);
/* Listening TCP ports of @pid (at most @max), in its network namespace. */
int listening_ports(struct listener_cache *c, uint32_t pid, uint16_t *ports, int max);

/* A file under /proc/PID: regular, bounded, never through a symlink. */
ssize_t proc_read(const char *path, char *buf, size_t size);
/* The executable of @pid (" (deleted)" dropped). 0, or -1. */
int proc_exe(uint32_t pid, char *out, size_t size);
/* Call @fn for every process in /proc. -errno if /proc cannot be read. */
int proc_for_each(void (*fn)(void *arg, uint32_t pid), void *arg);
/* Call @fn for every child of process @pid (of any of its threads). */
void proc_for_each_child(uint32_t pid, void (*fn)(void *arg, uint32_t child), void *arg);
/* Is @pid gone (as far as /proc knows)? */
bool proc_gone(uint32_t pid);
/* Is descriptor 0 or 1 of @pid a socket? A process already gone counts as one. */
bool stdio_is_socket(uint32_t pid);
/* Does @pid run a Go binary? */
bool is_go_binary(uint32_t pid);

/* ---- naming.c ---- */

/* OTEL_SERVICE_NAME in the NUL-separated environment @env of @len bytes. */
bool service_name_from_environ(const char *env, size_t len, char *out, size_t size);
/*
 * The service name and namespace of a process selected by @by (NULL if it
 * was not selected itself): the selector's, else the configured one, else
 * OTEL_SERVICE_NAME from the environment of @pid, else @name as it is
 * (derived from the command line). @ns gets "" for none.
 */
void service_identity(const struct sonde_config *cfg, const struct selector *by, uint32_t pid,
		      char *name, size_t name_size, const char **ns);

/* ---- selectors.c ---- */

#define PORTS_PER_PROC 32

/* The configured selectors with their regular expressions compiled. */
struct selector_set {
	const struct selectors *sel;
	regex_t *regex; /* per selector; only where has_regex */
	bool *has_regex;
};

/* 0, or -EINVAL (a regex does not compile) or -ENOMEM. */
int selector_set__init(struct selector_set *s, const struct selectors *sel);
void selector_set__fini(struct selector_set *s);

/* A process under evaluation; its listening ports are read (from
 * @listeners) only when a selector asks: walking /proc/PID/fd is the
 * costly part of a scan. */
struct candidate {
	uint32_t pid;
	const char *exe;
	struct listener_cache *listeners;
	int nports; /* -1: not read yet */
	uint16_t ports[PORTS_PER_PROC];
};

/*
 * The selector that picks @c (exclusions first), or NULL. @port gets the
 * port it was selected by, else its first listening port, else 0.
 */
const struct selector *selector_set__pick(const struct selector_set *s, struct candidate *c,
					  uint16_t *port);

#endif /* SONDE_DISCOVERY_INTERNAL_H */
