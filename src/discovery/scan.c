// SPDX-License-Identifier: Apache-2.0
/* What discovery reads of processes: /proc, their listening sockets (from
 * sock_diag netlink or /proc/PID/net/tcp*) and their executables. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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


#include "discovery/internal.h"
#include "util/elf_inspect.h"
#include "util/proc_parse.h"
#include "util/safe_read.h"

/* ---- /proc ---- */

/* Files under /proc/PID: regular (procfs entries are), bounded, never a
 * symlink (util/safe_read.h). */
ssize_t proc_read(const char *path, char *buf, size_t size)
{
	return safe_read_at(AT_FDCWD, path, SAFE_READ_NOFOLLOW, buf, size, NULL);
}

int proc_exe(uint32_t pid, char *out, size_t size)
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

int proc_for_each(void (*fn)(void *arg, uint32_t pid), void *arg)
{
	DIR *dir = opendir("/proc");
	struct dirent *de;

	if (!dir)
		return -errno;
	while ((de = readdir(dir)))
		if (isdigit((unsigned char)de->d_name[0]))
			fn(arg, strtoul(de->d_name, NULL, 10));
	closedir(dir);
	return 0;
}

void proc_for_each_child(uint32_t pid, void (*fn)(void *arg, uint32_t child), void *arg)
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
		if (proc_read(path, list, sizeof(list)) <= 0)
			continue;
		for (p = list;; p = end) {
			unsigned long child = strtoul(p, &end, 10);

			if (end == p)
				break;
			if (child)
				fn(arg, child);
		}
	}
	closedir(tasks);
}

bool proc_gone(uint32_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%u", pid);
	return access(path, F_OK) != 0;
}

/* Is descriptor 0 or 1 of @pid a socket? (readlink of /proc/PID/fd/N,
 * which names a socket "socket:[inode]".) A process whose descriptors
 * cannot be read any more counts as one: a short-lived handler has often
 * exited (gone, or a zombie without descriptors) before its exec is looked
 * at, and its spans, still in the ring buffer behind the exec, need it
 * known until its exit event comes. */
bool stdio_is_socket(uint32_t pid)
{
	char path[64], target[64];
	bool readable = false;

	for (int fd = 0; fd <= 1; fd++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%u/fd/%d", pid, fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n > 7 && !memcmp(target, "socket:", 7))
			return true;
		readable |= n > 0;
	}
	return !readable;
}

/* ---- listening sockets ---- */

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

void listener_cache__init(struct listener_cache *c)
{
	struct stat st;

	c->v = NULL;
	c->count = 0;
	c->self_netns = stat("/proc/self/ns/net", &st) ? 0 : st.st_ino;
}

static const struct netns_listeners *listeners_of(struct listener_cache *c, uint32_t pid)
{
	char path[64];
	struct stat st;
	struct netns_listeners *grown, *ns;

	snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
	if (stat(path, &st))
		return NULL;
	for (size_t i = 0; i < c->count; i++)
		if (c->v[i].netns == st.st_ino)
			return &c->v[i];
	grown = realloc(c->v, (c->count + 1) * sizeof(*c->v));
	if (!grown)
		return NULL;
	c->v = grown;
	ns = &c->v[c->count++];
	memset(ns, 0, sizeof(*ns));
	ns->netns = st.st_ino;
	if (st.st_ino == c->self_netns) {
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

void listener_cache__forget(struct listener_cache *c)
{
	for (size_t i = 0; i < c->count; i++)
		free(c->v[i].socks);
	free(c->v);
	c->v = NULL;
	c->count = 0;
}

int listening_ports(struct listener_cache *c, uint32_t pid, uint16_t *ports, int max)
{
	const struct netns_listeners *ns = listeners_of(c, pid);
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

/* ---- executables ---- */

/* Go binaries carry a .go.buildinfo (or, older, .gopclntab) section. Go
 * moves goroutines between threads, so "the thread serving a request"
 * says nothing there. */
bool is_go_binary(uint32_t pid)
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
