// SPDX-License-Identifier: Apache-2.0
/* Process discovery from /proc, kept in step with the kernel's traced map:
 * the public API (discovery.h) over the parts in this directory. */
#include "discovery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "discovery/internal.h"
#include "sonde/abi.h"
#include "util/log.h"

struct discovery {
	const struct sonde_config *cfg;
	struct traced_set traced;
	uint32_t self_pid;
	struct selector_set selectors;
	struct pid_table procs;
	struct service_table services;
	struct listener_cache listeners; /* emptied after each scan or check */
};

const struct proc_info *discovery__lookup(const struct discovery *d, uint32_t pid)
{
	return pid_table__get(&d->procs, pid);
}

unsigned int discovery__count(const struct discovery *d)
{
	return d->procs.count;
}

const struct service *discovery__service_at(const struct discovery *d, unsigned int i)
{
	return i < d->services.count ? d->services.v[i] : NULL;
}

void discovery__count_losses(struct discovery *d, atomic_uint_fast64_t *service_table_full)
{
	d->services.full = service_table_full;
}

/* The selector that picks @pid, or NULL. Fills @exe and @port (the
 * selected port, else the first listening one). */
static const struct selector *selected(struct discovery *d, uint32_t pid, char *exe,
				       size_t exe_size, uint16_t *port)
{
	struct candidate c = { .pid = pid, .exe = exe, .listeners = &d->listeners, .nports = -1 };

	*port = 0;
	if (pid == d->self_pid || proc_exe(pid, exe, exe_size))
		return NULL;
	return selector_set__pick(&d->selectors, &c, port);
}

static int traced_map_set(struct discovery *d, uint32_t pid, const struct service *s)
{
	struct sonde_traced_proc v = { .service_id = s->id };

	if (is_go_binary(pid))
		v.flags |= SONDE_PROC_NO_THREAD_RULE;

	if (traced_set__add(&d->traced, pid, &v)) {
		log_warn("cannot trace pid=%u: traced-process map: %s", pid, strerror(errno));
		return -errno;
	}
	/* Its listeners' next connections are followed from their handshake. */
	{
		uint16_t ports[PORTS_PER_PROC];
		int n = listening_ports(&d->listeners, pid, ports, PORTS_PER_PROC);

		for (int i = 0; i < n; i++)
			traced_set__mark_port(&d->traced, ports[i]);
	}
	return 0;
}

static void untrace(struct discovery *d, uint32_t pid, const char *why)
{
	const struct proc_info *p = discovery__lookup(d, pid);

	traced_set__del(&d->traced, pid);
	if (!p)
		return;
	log_debug("stop instrumenting pid=%u service=%s: %s", pid, p->service->name, why);
	pid_table__remove(&d->procs, pid);
}

static void trace_children(struct discovery *d, uint32_t pid, uint16_t port, struct service *svc);

static void trace(struct discovery *d, uint32_t pid, const char *exe, uint16_t port, uint32_t ppid,
		  struct service *inherit, const struct selector *by)
{
	char name[SERVICE_NAME_MAX], runtime[16], cmdline[4096], path[64];
	struct proc_info *p;
	ssize_t n;

	if (d->procs.count >= SONDE_MAX_TRACED - 1) {
		log_warn("cannot trace pid=%u: %u processes traced already", pid, d->procs.count);
		if (ppid) /* the kernel traced it for its parent: undo that */
			traced_set__del(&d->traced, pid);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
	n = proc_read(path, cmdline, sizeof(cmdline));
	service_name_of(pid, exe, cmdline, n > 0 ? (size_t)n : 0, name, sizeof(name), runtime,
			sizeof(runtime));
	if (!inherit) {
		const char *ns;

		service_identity(d->cfg, by, pid, name, sizeof(name), &ns);
		inherit = service_table__get(&d->services, name, ns, d->cfg->route_cap);
		if (!inherit)
			return;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return;
	p->pid = pid;
	p->ppid = ppid;
	p->port = port;
	p->service = inherit;
	snprintf(p->exe, sizeof(p->exe), "%s", exe);
	snprintf(p->runtime, sizeof(p->runtime), "%s", runtime);
	if (traced_map_set(d, pid, inherit)) {
		free(p);
		return;
	}
	pid_table__put(&d->procs, p);
	if (!ppid)
		trace_children(d, pid, port, inherit);
	if (ppid)
		log_info("instrumenting pid=%u service=%s exe=%s port=%u parent=%u", pid,
			 inherit->name, exe, port, ppid);
	else
		log_info("instrumenting pid=%u service=%s exe=%s port=%u", pid, inherit->name, exe,
			 port);
}

struct parent {
	struct discovery *d;
	uint32_t pid;
	uint16_t port;
	struct service *svc;
};

static void trace_child(void *arg, uint32_t child)
{
	struct parent *parent = arg;
	char exe[256];

	if (!discovery__lookup(parent->d, child) && !proc_exe(child, exe, sizeof(exe)))
		trace(parent->d, child, exe, parent->port, parent->pid, parent->svc, NULL);
}

/* Children that exist when their parent starts being traced (nginx or
 * gunicorn workers forked before the parent listened) are traced at once,
 * as the kernel does for children forked later. */
static void trace_children(struct discovery *d, uint32_t pid, uint16_t port, struct service *svc)
{
	struct parent parent = { .d = d, .pid = pid, .port = port, .svc = svc };

	proc_for_each_child(pid, trace_child, &parent);
}

void discovery__check_pid(struct discovery *d, uint32_t pid, bool after_exec)
{
	const struct proc_info *known = discovery__lookup(d, pid);
	const struct selector *by;
	char exe[256] = "";
	uint16_t port = 0;

	if (known && !after_exec)
		return;
	by = selected(d, pid, exe, sizeof(exe), &port);
	listener_cache__forget(&d->listeners);
	if (!by) {
		/* A child that was given a connection on its standard input or
		 * output (inetd, systemd Accept=yes, CGI) serves it for its
		 * parent's service, whatever program it runs. */
		if (known && known->ppid && after_exec && stdio_is_socket(pid)) {
			log_info("pid %u exec'd %s to serve an inherited connection: still traced as "
				 "service %s", pid, exe[0] ? exe : "a program (gone already)",
				 known->service->name);
			return;
		}
		/* A traced process that exec'd an unselected program leaves. */
		if (known)
			untrace(d, pid, "exec'd an unselected program");
		return;
	}
	if (known && !strcmp(known->exe, exe))
		return;
	if (known)
		untrace(d, pid, "exec'd");
	trace(d, pid, exe, port, 0, NULL, by);
}

static void scan_one(void *arg, uint32_t pid)
{
	struct discovery *d = arg;
	const struct selector *by;
	char exe[256];
	uint16_t port = 0;

	if (discovery__lookup(d, pid))
		return;
	by = selected(d, pid, exe, sizeof(exe), &port);
	if (by)
		trace(d, pid, exe, port, 0, NULL, by);
}

void discovery__scan(struct discovery *d)
{
	int err = proc_for_each(scan_one, d);

	if (err) {
		log_error("cannot read /proc: %s", strerror(-err));
		return;
	}
	listener_cache__forget(&d->listeners);
	/* Forget processes that are gone without our seeing them exit. */
	for (unsigned int i = 0; i < PROC_SLOTS; i++) {
		if (!d->procs.slots[i])
			continue;
		if (proc_gone(d->procs.slots[i]->pid)) {
			untrace(d, d->procs.slots[i]->pid, "gone");
			i--; /* the slot may hold a re-seated entry now */
		}
	}
}

void discovery__on_fork(struct discovery *d, uint32_t child, uint32_t parent)
{
	const struct proc_info *p = discovery__lookup(d, parent);

	if (!p) {
		/* The kernel traced it for a parent we just dropped. */
		traced_set__del(&d->traced, child);
		return;
	}
	trace(d, child, p->exe, p->port, parent, p->service, NULL);
}

void discovery__no_thread_rule(struct discovery *d, uint32_t pid)
{
	struct sonde_traced_proc v;

	if (bpf_map_lookup_elem(d->traced.map_fd, &pid, &v))
		return;
	v.flags |= SONDE_PROC_NO_THREAD_RULE;
	bpf_map_update_elem(d->traced.map_fd, &pid, &v, BPF_EXIST);
	log_debug("pid=%u answers requests on other threads: thread rule off", pid);
}

bool discovery__thread_rule(struct discovery *d, uint32_t pid)
{
	struct sonde_traced_proc v;

	if (bpf_map_lookup_elem(d->traced.map_fd, &pid, &v))
		return false;
	return !(v.flags & SONDE_PROC_NO_THREAD_RULE);
}

void discovery__on_exit(struct discovery *d, uint32_t pid)
{
	untrace(d, pid, "exited");
}

struct discovery *discovery__new(const struct sonde_config *cfg, struct traced_set traced,
				 uint32_t self_pid)
{
	struct discovery *d = calloc(1, sizeof(*d));
	int err;

	if (!d)
		return NULL;
	d->cfg = cfg;
	d->traced = traced;
	d->self_pid = self_pid;
	listener_cache__init(&d->listeners);
	err = selector_set__init(&d->selectors, &cfg->selectors);
	if (err) {
		free(d);
		errno = -err;
		return NULL;
	}
	return d;
}

void discovery__free(struct discovery *d)
{
	if (!d)
		return;
	pid_table__clear(&d->procs);
	service_table__clear(&d->services);
	selector_set__fini(&d->selectors);
	listener_cache__forget(&d->listeners);
	free(d);
}
