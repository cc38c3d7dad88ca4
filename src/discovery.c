// SPDX-License-Identifier: Apache-2.0
/* Process discovery from /proc, kept in step with the kernel's traced map. */
#include "discovery.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

#include <bpf/bpf.h>

#include "model/route.h"
#include "sonde/abi.h"
#include "util/elf_inspect.h"
#include "util/log.h"
#include "util/proc_parse.h"
#include "util/safe_read.h"
#include "util/utf8.h"

#define PROC_SLOTS 8192 /* power of two, > SONDE_MAX_TRACED */
#define SERVICES_MAX 1024

struct listen_sock {
	uint64_t inode;
	uint16_t port;
};

/* Listening TCP sockets of one network namespace, read once per scan. */
struct netns_listeners {
	uint64_t netns;
	size_t count;
	struct listen_sock *socks;
};

struct discovery {
	const struct sonde_config *cfg;
	struct traced_set traced;
	uint32_t self_pid;
	uint64_t self_netns; /* inode of our network namespace, 0 if unknown */
	regex_t *regex; /* per selector, compiled; unset entries unused */
	bool *has_regex;
	struct proc_info *slots[PROC_SLOTS]; /* open addressing by pid */
	unsigned int procs;
	struct service *services[SERVICES_MAX];
	unsigned int nservices;
	/* per-scan cache of listeners by network namespace */
	struct netns_listeners *ns_cache;
	size_t ns_count;
};

/* ---- the pid table ---- */

static unsigned int slot_of(const struct discovery *d, uint32_t pid)
{
	unsigned int i = (pid * 2654435761u) & (PROC_SLOTS - 1);

	while (d->slots[i] && d->slots[i]->pid != pid)
		i = (i + 1) & (PROC_SLOTS - 1);
	return i;
}

const struct proc_info *discovery__lookup(const struct discovery *d, uint32_t pid)
{
	return d->slots[slot_of(d, pid)];
}

unsigned int discovery__count(const struct discovery *d)
{
	return d->procs;
}

const struct service *discovery__service_at(const struct discovery *d, unsigned int i)
{
	return i < d->nservices ? d->services[i] : NULL;
}

static void table_remove(struct discovery *d, uint32_t pid)
{
	unsigned int i = slot_of(d, pid), j;

	if (!d->slots[i])
		return;
	free(d->slots[i]);
	d->slots[i] = NULL;
	d->procs--;
	/* Re-seat the rest of the cluster so lookups still find them. */
	for (j = (i + 1) & (PROC_SLOTS - 1); d->slots[j]; j = (j + 1) & (PROC_SLOTS - 1)) {
		struct proc_info *p = d->slots[j];

		d->slots[j] = NULL;
		d->slots[slot_of(d, p->pid)] = p;
	}
}

/* ---- reading /proc ---- */

/* Files under /proc/PID: regular (procfs entries are), bounded, never a
 * symlink (util/safe_read.h). */
static ssize_t read_file(const char *path, char *buf, size_t size)
{
	return safe_read_at(AT_FDCWD, path, SAFE_READ_NOFOLLOW, buf, size, NULL);
}

static int proc_exe(uint32_t pid, char *out, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	n = readlink(path, out, size - 1);
	if (n <= 0)
		return -1;
	out[n] = '\0';
	/* An executable replaced on disk shows " (deleted)": match its path. */
	if (n > 10 && !strcmp(out + n - 10, " (deleted)"))
		out[n - 10] = '\0';
	return 0;
}

static int add_listener(struct netns_listeners *ns, uint64_t inode, uint16_t port)
{
	struct listen_sock *grown = realloc(ns->socks, (ns->count + 1) * sizeof(*ns->socks));

	if (!grown)
		return -ENOMEM;
	ns->socks = grown;
	ns->socks[ns->count].inode = inode;
	ns->socks[ns->count].port = port;
	ns->count++;
	return 0;
}

static int parse_listeners(const char *path, struct netns_listeners *ns)
{
	FILE *f = fopen(path, "re");
	char line[512];

	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f)) { /* header */
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		uint16_t port;
		uint64_t inode;

		if (!proc_tcp_listener(line, &port, &inode)) /* util/proc_parse.h, fuzzed */
			continue;
		if (add_listener(ns, inode, port))
			break;
	}
	fclose(f);
	return 0;
}

/*
 * The listening TCP sockets of our own network namespace from the kernel's
 * socket diagnostics (netlink sock_diag), asking for the LISTEN state only:
 * the kernel then walks its listening table, where /proc/net/tcp prints
 * every connection (thousands on a busy host, every rescan).
 */
static int diag_listeners(int family, struct netns_listeners *ns)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = family, .sdiag_protocol = IPPROTO_TCP,
			 .idiag_states = 1 << 10 /* TCP_LISTEN */ },
	};
	long buf[8192 / sizeof(long)];
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (send(fd, &msg, sizeof(msg), 0) != (ssize_t)sizeof(msg)) {
		err = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;

		if (n < 0) {
			err = -errno;
			goto out;
		}
		if (n == 0)
			goto out;
		for (; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);

			if (h->nlmsg_type == NLMSG_DONE)
				goto out;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				err = e->error ? e->error : -EIO;
				goto out;
			}
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) || m->idiag_state != 10)
				continue;
			if (add_listener(ns, m->idiag_inode, ntohs(m->id.idiag_sport))) {
				err = -ENOMEM;
				goto out;
			}
		}
	}
out:
	close(fd);
	return err;
}

static const struct netns_listeners *listeners_of(struct discovery *d, uint32_t pid)
{
	char path[64];
	struct stat st;
	struct netns_listeners *grown, *ns;

	snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
	if (stat(path, &st))
		return NULL;
	for (size_t i = 0; i < d->ns_count; i++)
		if (d->ns_cache[i].netns == st.st_ino)
			return &d->ns_cache[i];
	grown = realloc(d->ns_cache, (d->ns_count + 1) * sizeof(*d->ns_cache));
	if (!grown)
		return NULL;
	d->ns_cache = grown;
	ns = &d->ns_cache[d->ns_count++];
	memset(ns, 0, sizeof(*ns));
	ns->netns = st.st_ino;
	if (st.st_ino == d->self_netns) {
		if (!diag_listeners(AF_INET, ns) && !diag_listeners(AF_INET6, ns))
			return ns;
		/* sock_diag unavailable: read the tables instead */
		free(ns->socks);
		ns->socks = NULL;
		ns->count = 0;
	}
	snprintf(path, sizeof(path), "/proc/%u/net/tcp", pid);
	parse_listeners(path, ns);
	snprintf(path, sizeof(path), "/proc/%u/net/tcp6", pid);
	parse_listeners(path, ns);
	return ns;
}

static void listeners_forget(struct discovery *d)
{
	for (size_t i = 0; i < d->ns_count; i++)
		free(d->ns_cache[i].socks);
	free(d->ns_cache);
	d->ns_cache = NULL;
	d->ns_count = 0;
}

/* Listening ports of @pid (at most @max), in its network namespace. */
static int listening_ports(struct discovery *d, uint32_t pid, uint16_t *ports, int max)
{
	const struct netns_listeners *ns = listeners_of(d, pid);
	char path[64], link[64];
	struct dirent *de;
	int n = 0;
	DIR *dir;

	if (!ns || !ns->count)
		return 0;
	snprintf(path, sizeof(path), "/proc/%u/fd", pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while (n < max && (de = readdir(dir))) {
		unsigned long long inode;
		char fdpath[320];
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(fdpath, sizeof(fdpath), "%s/%s", path, de->d_name);
		len = readlink(fdpath, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%llu]", &inode) != 1)
			continue;
		for (size_t i = 0; i < ns->count && n < max; i++)
			if (ns->socks[i].inode == inode)
				ports[n++] = ns->socks[i].port;
	}
	closedir(dir);
	return n;
}

/* ---- naming ---- */

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static void strip_suffix(char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	if (n > m && !strcmp(s + n - m, suffix))
		s[n - m] = '\0';
}

static bool starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/*
 * The name field of the package.json nearest above a Node script. The
 * script's directories belong to whoever runs it: package.json is read as
 * process @pid sees it (its root) and with its credentials, only if it is
 * a regular file and not a symlink, 8 KiB at most (util/safe_read.h). A
 * FIFO, a device, a link to a file its user may not read: no name from it.
 */
static bool node_package_name(pid_t pid, const char *script, char *out, size_t size)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], buf[8192];

	if (script[0] != '/' || strlen(script) >= sizeof(dir))
		return false;
	strcpy(dir, script);
	for (int depth = 0; depth < 4; depth++) {
		char *slash = strrchr(dir, '/');
		char *key, *start, *end;
		ssize_t n;

		if (!slash || slash == dir)
			return false;
		*slash = '\0';
		snprintf(path, sizeof(path), "%s/package.json", dir);
		n = safe_read_as(pid, path, buf, sizeof(buf), NULL);
		if (n == -ENOENT || n == -ENOTDIR)
			continue;
		if (n <= 0) {
			if (n < 0)
				log_debug("pid=%d: %s not read: %s", (int)pid, path, strerror((int)-n));
			return false; /* there but not for us: never look further up */
		}
		key = strstr(buf, "\"name\"");
		if (!key || !(start = strchr(key + 6, '"')) || !(end = strchr(start + 1, '"')))
			return false;
		snprintf(out, size, "%.*s", (int)(end - start - 1), start + 1);
		return end > start + 1;
	}
	return false;
}

/* Java options that take the next argument as their value. */
static bool java_option_has_value(const char *arg)
{
	static const char *const opts[] = { "-cp", "-classpath", "--class-path", "-p", "--module-path",
					    "--add-opens", "--add-exports", "--add-modules" };

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (!strcmp(arg, opts[i]))
			return true;
	return false;
}

void service_name_of(pid_t pid, const char *exe, const char *argv, size_t argv_len, char *out,
		     size_t out_size, char *runtime, size_t runtime_size)
{
	const char *args[64];
	const char *base = base_name(exe);
	const char *pick = NULL;
	int argc = 0;
	char tmp[PATH_MAX];

	for (size_t off = 0; off < argv_len && argc < 64; off += strlen(argv + off) + 1)
		args[argc++] = argv + off;
	/* Interpreters often run as a versioned binary (python3.11, node18). */
	runtime[0] = '\0';
	if (starts_with(base, "java"))
		snprintf(runtime, runtime_size, "java");
	else if (starts_with(base, "python"))
		snprintf(runtime, runtime_size, "python");
	else if (starts_with(base, "node") || !strcmp(base, "nodejs"))
		snprintf(runtime, runtime_size, "node");
	else if (starts_with(base, "ruby"))
		snprintf(runtime, runtime_size, "ruby");

	if (!strcmp(runtime, "java")) {
		for (int i = 1; i < argc; i++) {
			if (!strcmp(args[i], "-jar") && i + 1 < argc) {
				snprintf(tmp, sizeof(tmp), "%s", base_name(args[i + 1]));
				strip_suffix(tmp, ".jar");
				snprintf(out, out_size, "%s", tmp);
				return;
			}
			if (java_option_has_value(args[i])) {
				i++;
				continue;
			}
			if (args[i][0] != '-') { /* the main class: keep its simple name */
				const char *dot = strrchr(args[i], '.');

				pick = dot ? dot + 1 : args[i];
				break;
			}
		}
	} else if (runtime[0]) {
		for (int i = 1; i < argc; i++) {
			if (!strcmp(runtime, "python") && !strcmp(args[i], "-m") && i + 1 < argc) {
				pick = args[i + 1];
				break;
			}
			if (args[i][0] == '-')
				continue;
			pick = args[i];
			break;
		}
		if (pick && !strcmp(runtime, "node")) {
			snprintf(tmp, sizeof(tmp), "%s", base_name(pick));
			strip_suffix(tmp, ".js");
			strip_suffix(tmp, ".mjs");
			strip_suffix(tmp, ".cjs");
			/* index.js, server.js, app.js say little: prefer the package. */
			if ((!strcmp(tmp, "index") || !strcmp(tmp, "server") || !strcmp(tmp, "app") ||
			     !strcmp(tmp, "main")) &&
			    node_package_name(pid, pick, out, out_size))
				return;
			snprintf(out, out_size, "%s", tmp);
			return;
		}
	}
	snprintf(tmp, sizeof(tmp), "%s", pick ? base_name(pick) : base);
	strip_suffix(tmp, ".py");
	strip_suffix(tmp, ".rb");
	snprintf(out, out_size, "%s", tmp[0] ? tmp : base);
}

void service_name_from_cmdline(const char *exe, const char *argv, size_t argv_len, char *out,
			       size_t out_size, char *runtime, size_t runtime_size)
{
	service_name_of(getpid(), exe, argv, argv_len, out, out_size, runtime, runtime_size);
}

/* OTEL_SERVICE_NAME from the process's own environment, if set. */
static bool env_service_name(uint32_t pid, char *out, size_t size)
{
	static char buf[64 << 10];
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/environ", pid);
	n = read_file(path, buf, sizeof(buf));
	return n > 0 && proc_environ_get(buf, n, "OTEL_SERVICE_NAME=", out, size);
}

static struct service *service_get(struct discovery *d, const char *raw_name, const char *raw_ns)
{
	char name[SERVICE_NAME_MAX], ns[SERVICE_NS_MAX];
	struct service *s;

	/* Every service name enters here: valid UTF-8 from now on, whatever
	 * the process's environment or files held (util/utf8.h). */
	utf8_sanitize(name, sizeof(name), raw_name, strlen(raw_name));
	utf8_sanitize(ns, sizeof(ns), raw_ns, strlen(raw_ns));

	for (unsigned int i = 0; i < d->nservices; i++)
		if (!strcmp(d->services[i]->name, name) && !strcmp(d->services[i]->namespace_, ns))
			return d->services[i];
	if (d->nservices == SERVICES_MAX)
		return d->services[SERVICES_MAX - 1];
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->routes = route_table__new(d->cfg->route_cap);
	if (!s->routes) {
		free(s);
		return NULL;
	}
	s->id = d->nservices + 1;
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->namespace_, sizeof(s->namespace_), "%s", ns);
	d->services[d->nservices++] = s;
	return s;
}

/* ---- selection ---- */

static bool pid_listed(const struct pid_list *l, uint32_t pid)
{
	for (unsigned int i = 0; i < l->count; i++)
		if (l->pid[i] == pid)
			return true;
	return false;
}

#define PORTS_PER_PROC 32

/* A process under evaluation; its listening ports are read only when a
 * selector asks (walking /proc/PID/fd is the costly part of a scan). */
struct candidate {
	uint32_t pid;
	const char *exe;
	int nports; /* -1: not read yet */
	uint16_t ports[PORTS_PER_PROC];
};

static void candidate_ports(struct discovery *d, struct candidate *c)
{
	if (c->nports < 0)
		c->nports = listening_ports(d, c->pid, c->ports, PORTS_PER_PROC);
}

/* Does @c match selector @i? @port gets the first listening port the
 * selector accepts. */
static bool selector_matches(struct discovery *d, unsigned int i, struct candidate *c,
			     uint16_t *port)
{
	const struct selector *s = &d->cfg->selectors.v[i];

	if (s->pids.count && !pid_listed(&s->pids, c->pid))
		return false;
	if (d->has_regex[i] && regexec(&d->regex[i], c->exe, 0, NULL, 0))
		return false;
	if (s->exe_glob && fnmatch(s->exe_glob, c->exe, 0))
		return false;
	if (!s->ports.count)
		return true;
	candidate_ports(d, c);
	for (int p = 0; p < c->nports; p++) {
		if (port_ranges__contains(&s->ports, c->ports[p])) {
			*port = c->ports[p];
			return true;
		}
	}
	return false;
}

/* The selector that picks @pid (exclusions first), or NULL. Fills @exe
 * and @port (the selected port, else the first listening one). */
static const struct selector *selected(struct discovery *d, uint32_t pid, char *exe,
				       size_t exe_size, uint16_t *port)
{
	const struct selectors *sel = &d->cfg->selectors;
	struct candidate c = { .pid = pid, .exe = exe, .nports = -1 };
	uint16_t ignored_port;

	*port = 0;
	if (pid == d->self_pid || proc_exe(pid, exe, exe_size))
		return NULL;
	for (unsigned int i = 0; i < sel->count; i++)
		if (sel->v[i].exclude && selector_matches(d, i, &c, &ignored_port))
			return NULL;
	for (unsigned int i = 0; i < sel->count; i++) {
		if (!sel->v[i].exclude && selector_matches(d, i, &c, port)) {
			if (!*port) {
				candidate_ports(d, &c);
				*port = c.nports > 0 ? c.ports[0] : 0;
			}
			return &sel->v[i];
		}
	}
	return NULL;
}

/* Go binaries carry a .go.buildinfo (or, older, .gopclntab) section. Go
 * moves goroutines between threads, so "the thread serving a request"
 * says nothing there. */
static bool is_go_binary(uint32_t pid)
{
	char path[64];
	bool go;
	int fd;

	/* The binary is the traced user's: a regular file only, and read
	 * (not mapped: a file cut short under us would be SIGBUS); parsed as
	 * hostile input (util/elf_inspect.h, fuzzed). */
	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	fd = safe_open_at(AT_FDCWD, path, 0);
	if (fd < 0)
		return false;
	go = elf_fd_is_go(fd);
	close(fd);
	return go;
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
	return 0;
}

static void untrace(struct discovery *d, uint32_t pid, const char *why)
{
	const struct proc_info *p = discovery__lookup(d, pid);

	traced_set__del(&d->traced, pid);
	if (!p)
		return;
	log_debug("stop instrumenting pid=%u service=%s: %s", pid, p->service->name, why);
	table_remove(d, pid);
}

static void trace_children(struct discovery *d, uint32_t pid, uint16_t port, struct service *svc);

static void trace(struct discovery *d, uint32_t pid, const char *exe, uint16_t port, uint32_t ppid,
		  struct service *inherit, const struct selector *by)
{
	char name[SERVICE_NAME_MAX], runtime[16], cmdline[4096], path[64];
	struct proc_info *p;
	ssize_t n;
	unsigned int slot;

	if (d->procs >= SONDE_MAX_TRACED - 1) {
		log_warn("cannot trace pid=%u: %u processes traced already", pid, d->procs);
		if (ppid) /* the kernel traced it for its parent: undo that */
			traced_set__del(&d->traced, pid);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
	n = read_file(path, cmdline, sizeof(cmdline));
	service_name_of(pid, exe, cmdline, n > 0 ? (size_t)n : 0, name, sizeof(name), runtime,
			sizeof(runtime));
	if (!inherit) {
		const char *ns = by && by->namespace_ ? by->namespace_ : d->cfg->service_namespace;

		if (by && by->name)
			snprintf(name, sizeof(name), "%s", by->name);
		else if (d->cfg->service_name)
			snprintf(name, sizeof(name), "%s", d->cfg->service_name);
		else
			env_service_name(pid, name, sizeof(name));
		inherit = service_get(d, name, ns ? ns : "");
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
	slot = slot_of(d, pid);
	free(d->slots[slot]);
	if (!d->slots[slot])
		d->procs++;
	d->slots[slot] = p;
	if (!ppid)
		trace_children(d, pid, port, inherit);
	if (ppid)
		log_info("instrumenting pid=%u service=%s exe=%s port=%u parent=%u", pid,
			 inherit->name, exe, port, ppid);
	else
		log_info("instrumenting pid=%u service=%s exe=%s port=%u", pid, inherit->name, exe,
			 port);
}

/* Children that exist when their parent starts being traced (nginx or
 * gunicorn workers forked before the parent listened) are traced at once,
 * as the kernel does for children forked later. */
static void trace_children(struct discovery *d, uint32_t pid, uint16_t port, struct service *svc)
{
	char path[320], list[4096];
	struct dirent *de;
	DIR *tasks;

	snprintf(path, sizeof(path), "/proc/%u/task", pid);
	tasks = opendir(path);
	if (!tasks)
		return;
	while ((de = readdir(tasks))) {
		char *p, *end;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%u/task/%s/children", pid, de->d_name);
		if (read_file(path, list, sizeof(list)) <= 0)
			continue;
		for (p = list;; p = end) {
			unsigned long child = strtoul(p, &end, 10);
			char exe[256];

			if (end == p)
				break;
			if (child && !discovery__lookup(d, child) && !proc_exe(child, exe, sizeof(exe)))
				trace(d, child, exe, port, pid, svc, NULL);
		}
	}
	closedir(tasks);
}

/* Is descriptor 0 or 1 of @pid a socket? (readlink of /proc/PID/fd/N,
 * which names a socket "socket:[inode]".) A process already gone counts
 * as one: a short-lived handler often exits before its exec is looked at,
 * and its spans, still in the ring buffer, need it known until its exit
 * event comes. */
static bool stdio_is_socket(uint32_t pid)
{
	char path[64], target[64];

	snprintf(path, sizeof(path), "/proc/%u", pid);
	if (access(path, F_OK) && errno == ENOENT)
		return true;

	for (int fd = 0; fd <= 1; fd++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%u/fd/%d", pid, fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n > 7 && !memcmp(target, "socket:", 7))
			return true;
	}
	return false;
}

void discovery__check_pid(struct discovery *d, uint32_t pid, bool after_exec)
{
	const struct proc_info *known = discovery__lookup(d, pid);
	const struct selector *by;
	char exe[256];
	uint16_t port = 0;

	if (known && !after_exec)
		return;
	by = selected(d, pid, exe, sizeof(exe), &port);
	listeners_forget(d);
	if (!by) {
		/* A child that was given a connection on its standard input or
		 * output (inetd, systemd Accept=yes, CGI) serves it for its
		 * parent's service, whatever program it runs. */
		if (known && known->ppid && after_exec && stdio_is_socket(pid)) {
			log_info("pid %u exec'd %s to serve an inherited connection: still traced as "
				 "service %s", pid, exe, known->service->name);
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

void discovery__scan(struct discovery *d)
{
	DIR *dir = opendir("/proc");
	struct dirent *de;

	if (!dir) {
		log_error("cannot read /proc: %s", strerror(errno));
		return;
	}
	while ((de = readdir(dir))) {
		const struct selector *by;
		char exe[256];
		uint16_t port = 0;
		uint32_t pid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = strtoul(de->d_name, NULL, 10);
		if (discovery__lookup(d, pid))
			continue;
		by = selected(d, pid, exe, sizeof(exe), &port);
		if (by)
			trace(d, pid, exe, port, 0, NULL, by);
	}
	closedir(dir);
	listeners_forget(d);
	/* Forget processes that are gone without our seeing them exit. */
	for (unsigned int i = 0; i < PROC_SLOTS; i++) {
		char path[64];

		if (!d->slots[i])
			continue;
		snprintf(path, sizeof(path), "/proc/%u", d->slots[i]->pid);
		if (access(path, F_OK)) {
			untrace(d, d->slots[i]->pid, "gone");
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

void discovery__on_exit(struct discovery *d, uint32_t pid)
{
	untrace(d, pid, "exited");
}

struct discovery *discovery__new(const struct sonde_config *cfg, struct traced_set traced,
				 uint32_t self_pid)
{
	struct discovery *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->cfg = cfg;
	d->traced = traced;
	d->self_pid = self_pid;
	{
		struct stat st;

		if (!stat("/proc/self/ns/net", &st))
			d->self_netns = st.st_ino;
	}
	d->regex = calloc(cfg->selectors.count + 1, sizeof(*d->regex));
	d->has_regex = calloc(cfg->selectors.count + 1, sizeof(*d->has_regex));
	if (!d->regex || !d->has_regex) {
		discovery__free(d);
		return NULL;
	}
	for (unsigned int i = 0; i < cfg->selectors.count; i++) {
		const char *re = cfg->selectors.v[i].exe_regex;

		if (!re)
			continue;
		if (regcomp(&d->regex[i], re, REG_EXTENDED | REG_NOSUB)) {
			discovery__free(d);
			errno = EINVAL;
			return NULL;
		}
		d->has_regex[i] = true;
	}
	return d;
}

void discovery__free(struct discovery *d)
{
	if (!d)
		return;
	for (unsigned int i = 0; i < PROC_SLOTS; i++)
		free(d->slots[i]);
	for (unsigned int i = 0; i < d->nservices; i++) {
		route_table__free(d->services[i]->routes);
		free(d->services[i]);
	}
	for (unsigned int i = 0; d->has_regex && i < d->cfg->selectors.count; i++)
		if (d->has_regex[i])
			regfree(&d->regex[i]);
	free(d->regex);
	free(d->has_regex);
	listeners_forget(d);
	free(d);
}
