// SPDX-License-Identifier: Apache-2.0
/* The network-flow BPF object: load, attach, drain. See netflow_probe.h. */
#include "netflow_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "netflow.skel.h"
#include "sonde/netflow_abi.h"
#include "util/log.h"

/* A TCP socket's counts as last taken into the flows. */
struct tcp_seen {
	uint64_t cookie; /* 0: free slot */
	uint64_t sent, received;
	uint32_t seen;	 /* the drain that last saw it (iterator or close) */
	uint8_t closed;	 /* its final counts were taken: it moves no more bytes */
	uint8_t pad[3];
};

/* Open addressing by cookie; rebuilt, without the sockets gone, when
 * entries are dropped. */
struct tcp_table {
	struct tcp_seen *v;
	size_t cap; /* a power of two */
	size_t n;
};

struct netflow_probe {
	struct netflow_bpf *skel;
	struct bpf_link *egress, *ingress;  /* UDP, per packet: only when counted */
	struct bpf_link *tcp_iter, *tcp_close; /* TCP: only when counted */
	int cgroup_fd;
	int ncpus;
	uint64_t *values; /* one per possible CPU */
	struct sonde_flow_key *keys;
	struct tcp_table tcp;
	uint32_t drain;	     /* drains done */
	uint64_t *closed_keys; /* cookies read from tcp_closed, one drain's worth */
};

/* How many drains a socket unseen by the iterator and not closed is kept
 * for: an orphan (closed by its process, still sending) is not in any
 * file table until it reaches TCP_CLOSE; past this its entry is dropped
 * (30 min at one drain every 0.5 s). */
#define TCP_UNSEEN_MAX_DRAINS 3600

static uint64_t cookie_hash(uint64_t c)
{
	c ^= c >> 33;
	c *= 0xff51afd7ed558ccdULL;
	c ^= c >> 33;
	return c;
}

static struct tcp_seen *tcp_slot(struct tcp_table *t, uint64_t cookie)
{
	size_t i = cookie_hash(cookie) & (t->cap - 1);

	while (t->v[i].cookie && t->v[i].cookie != cookie)
		i = (i + 1) & (t->cap - 1);
	return &t->v[i];
}

/* Move the entries @keep says to keep into a table of @cap slots. */
static int tcp_rebuild(struct tcp_table *t, size_t cap, bool (*keep)(const struct tcp_seen *, uint32_t),
		       uint32_t drain)
{
	struct tcp_table nt = { .v = calloc(cap, sizeof(struct tcp_seen)), .cap = cap };

	if (!nt.v)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		const struct tcp_seen *e = &t->v[i];

		if (e->cookie && (!keep || keep(e, drain))) {
			*tcp_slot(&nt, e->cookie) = *e;
			nt.n++;
		}
	}
	free(t->v);
	*t = nt;
	return 0;
}

/* The entry of @cookie, made (zero counts) when absent; NULL without memory. */
static struct tcp_seen *tcp_get(struct tcp_table *t, uint64_t cookie, bool *fresh)
{
	struct tcp_seen *e;

	if ((t->n + 1) * 2 > t->cap && tcp_rebuild(t, t->cap * 2, NULL, 0))
		return NULL;
	e = tcp_slot(t, cookie);
	*fresh = !e->cookie;
	if (*fresh) {
		memset(e, 0, sizeof(*e));
		e->cookie = cookie;
		t->n++;
	}
	return e;
}

/* Gone: closed and no longer held by anyone, or unseen for too long. */
static bool tcp_keep(const struct tcp_seen *e, uint32_t drain)
{
	if (e->seen == drain)
		return true;
	return !e->closed && drain - e->seen < TCP_UNSEEN_MAX_DRAINS;
}

/* Where cgroup v2 is mounted: /sys/fs/cgroup, or /sys/fs/cgroup/unified on
 * hybrid hosts. */
static int cgroup2_root(char *out, size_t size)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	struct mntent *m;
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while ((m = getmntent(f)))
		if (!strcmp(m->mnt_type, "cgroup2")) {
			snprintf(out, size, "%s", m->mnt_dir);
			rc = 0;
			break;
		}
	endmntent(f);
	return rc;
}

struct netflow_probe *netflow_probe__start(bool tcp, bool udp)
{
	struct netflow_probe *p = calloc(1, sizeof(*p));
	char root[512];
	int err;

	if (!p)
		return NULL;
	p->cgroup_fd = -1;
	p->ncpus = libbpf_num_possible_cpus();
	p->values = calloc(p->ncpus > 0 ? p->ncpus : 1, sizeof(*p->values));
	p->keys = calloc(SONDE_FLOW_MAP_ENTRIES, sizeof(*p->keys));
	p->closed_keys = calloc(SONDE_TCP_CLOSED_ENTRIES, sizeof(*p->closed_keys));
	p->tcp.cap = 1024;
	p->tcp.v = calloc(p->tcp.cap, sizeof(*p->tcp.v));
	if (p->ncpus <= 0 || !p->values || !p->keys || !p->closed_keys || !p->tcp.v)
		goto fail;
	p->skel = netflow_bpf__open();
	if (!p->skel) {
		log_error("network metrics: cannot open the BPF object: %s", strerror(errno));
		goto fail;
	}
	bpf_program__set_autoload(p->skel->progs.netflow_egress, udp);
	bpf_program__set_autoload(p->skel->progs.netflow_ingress, udp);
	bpf_program__set_autoload(p->skel->progs.netflow_tcp_iter, tcp);
	bpf_program__set_autoload(p->skel->progs.netflow_tcp_close, tcp);
	err = netflow_bpf__load(p->skel);
	if (err) {
		log_error("network metrics: cannot load the BPF programs: %s", strerror(-err));
		goto fail;
	}
	if (tcp) {
		/* The close program first: a socket closing from now on keeps its
		 * totals; then the first samples, which are where counting starts
		 * (bytes moved before Sonde are not counted). */
		p->tcp_close = bpf_program__attach(p->skel->progs.netflow_tcp_close);
		p->tcp_iter = bpf_program__attach_iter(p->skel->progs.netflow_tcp_iter, NULL);
		if (!p->tcp_close || !p->tcp_iter) {
			log_error("network metrics: cannot attach the TCP socket programs: %s",
				  strerror(errno));
			goto fail;
		}
		netflow_probe__drain(p, NULL);
	}
	if (!udp) {
		log_info("network metrics: counting %s flows from the sockets' own counts "
			 "(nothing per packet)", tcp ? "TCP" : "no");
		return p;
	}
	if (cgroup2_root(root, sizeof(root))) {
		log_error("network metrics need cgroup v2, which is not mounted (mount -t cgroup2 "
			  "none /sys/fs/cgroup/unified)");
		goto fail;
	}
	p->cgroup_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->cgroup_fd < 0) {
		log_error("network metrics: cannot open %s: %s", root, strerror(errno));
		goto fail;
	}
	/* Links attach beside whatever else is there (multi-attach): systemd's
	 * accounting and other agents' programs keep running. */
	p->egress = bpf_program__attach_cgroup(p->skel->progs.netflow_egress, p->cgroup_fd);
	p->ingress = bpf_program__attach_cgroup(p->skel->progs.netflow_ingress, p->cgroup_fd);
	if (!p->egress || !p->ingress) {
		log_error("network metrics: cannot attach to the cgroup v2 root %s: %s (needs "
			  "CAP_BPF and CAP_NET_ADMIN)", root, strerror(errno));
		goto fail;
	}
	log_info("network metrics: counting %sUDP flows of every cgroup under %s", tcp ? "TCP and " : "",
		 root);
	return p;
fail:
	netflow_probe__stop(p);
	return NULL;
}

void netflow_probe__stop(struct netflow_probe *p)
{
	if (!p)
		return;
	bpf_link__destroy(p->egress);
	bpf_link__destroy(p->ingress);
	bpf_link__destroy(p->tcp_iter);
	bpf_link__destroy(p->tcp_close);
	netflow_bpf__destroy(p->skel);
	if (p->cgroup_fd >= 0)
		close(p->cgroup_fd);
	free(p->values);
	free(p->keys);
	free(p->closed_keys);
	free(p->tcp.v);
	free(p);
}

static void udp_drain(struct netflow_probe *p, struct netflow_store *s)
{
	uint32_t gen = __atomic_load_n(&p->skel->bss->flow_gen, __ATOMIC_RELAXED);
	/* The map the kernel stopped writing at the previous call: every
	 * program that could still hold it finished long ago. */
	struct bpf_map *idle = (gen & 1) ? p->skel->maps.flows0 : p->skel->maps.flows1;
	int fd = bpf_map__fd(idle);
	struct sonde_flow_key *prev = NULL;
	size_t n = 0;

	while (n < SONDE_FLOW_MAP_ENTRIES && !bpf_map_get_next_key(fd, prev, &p->keys[n])) {
		prev = &p->keys[n];
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		const struct sonde_flow_key *k = &p->keys[i];
		uint64_t sum = 0;

		if (bpf_map_lookup_elem(fd, k, p->values))
			continue;
		for (int c = 0; c < p->ncpus; c++)
			sum += p->values[c];
		bpf_map_delete_elem(fd, k);
		if (sum)
			netflow_store__add(s, k->family, k->src, k->dst, k->proto,
					   k->direction == SONDE_FLOW_EGRESS, sum);
	}
	__atomic_store_n(&p->skel->bss->flow_gen, gen + 1, __ATOMIC_RELEASE);
}

/* IPv4 as ::ffff:a.b.c.d, as the flow store takes addresses. */
static int flow_addr(uint16_t family, const uint8_t *in, uint8_t out[16])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (family == AF_INET) {
		memcpy(out, mapped, 12);
		memcpy(out + 12, in, 4);
		return 4;
	}
	memcpy(out, in, 16);
	return memcmp(in, mapped, 12) ? 6 : 4; /* a v6 socket talking IPv4 */
}

/* One socket's counts now: what moved since its entry's counts goes to the
 * two flows of its connection (@s NULL: only note the counts). */
static void tcp_account(struct netflow_probe *p, struct netflow_store *s,
			const struct sonde_tcp_sample *r, bool closing)
{
	uint8_t local[16], peer[16];
	struct tcp_seen *e;
	bool fresh;
	int fam;

	e = tcp_get(&p->tcp, r->cookie, &fresh);
	if (!e)
		return;
	if (s && (r->sent > e->sent || r->received > e->received)) {
		fam = flow_addr(r->family, r->local, local);
		flow_addr(r->family, r->peer, peer);
		if (r->sent > e->sent)
			netflow_store__add(s, fam, local, peer, IPPROTO_TCP, true, r->sent - e->sent);
		if (r->received > e->received)
			netflow_store__add(s, fam, peer, local, IPPROTO_TCP, false,
					   r->received - e->received);
	}
	if (r->sent > e->sent)
		e->sent = r->sent;
	if (r->received > e->received)
		e->received = r->received;
	e->seen = p->drain;
	e->closed |= closing;
}

/* Every TCP socket some process holds, from the iterator. */
static void tcp_sample_open(struct netflow_probe *p, struct netflow_store *s)
{
	struct sonde_tcp_sample buf[256];
	int fd = bpf_iter_create(bpf_link__fd(p->tcp_iter));
	size_t have = 0;
	ssize_t got;

	if (fd < 0) {
		log_warn("network metrics: cannot read the TCP sockets: %s", strerror(errno));
		return;
	}
	/* Records may straddle reads: keep the partial one. */
	while ((got = read(fd, (char *)buf + have, sizeof(buf) - have)) > 0 ||
	       (got < 0 && errno == EINTR)) {
		size_t whole;

		if (got < 0)
			continue;
		have += (size_t)got;
		whole = have / sizeof(buf[0]);
		for (size_t i = 0; i < whole; i++)
			tcp_account(p, s, &buf[i], false);
		have -= whole * sizeof(buf[0]);
		memmove(buf, (char *)buf + whole * sizeof(buf[0]), have);
	}
	close(fd);
}

/* Final totals of the sockets that reached TCP_CLOSE since the last drain. */
static void tcp_take_closed(struct netflow_probe *p, struct netflow_store *s)
{
	int fd = bpf_map__fd(p->skel->maps.tcp_closed);
	uint64_t *prev = NULL;
	size_t n = 0;

	while (n < SONDE_TCP_CLOSED_ENTRIES &&
	       !bpf_map_get_next_key(fd, prev, &p->closed_keys[n])) {
		prev = &p->closed_keys[n];
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		struct sonde_tcp_sample r;

		if (bpf_map_lookup_and_delete_elem(fd, &p->closed_keys[i], &r))
			continue;
		tcp_account(p, s, &r, true);
	}
}

void netflow_probe__drain(struct netflow_probe *p, struct netflow_store *s)
{
	uint32_t id = SONDE_FLOW_CNT_MAP_FULL;
	uint64_t lost = 0;

	p->drain++;
	if (p->tcp_iter) {
		/* Samples first, then the closed: a socket closed since its
		 * sample counts its last bytes once, by difference. */
		tcp_sample_open(p, s);
		tcp_take_closed(p, s);
		if (p->tcp.n && tcp_rebuild(&p->tcp, p->tcp.cap, tcp_keep, p->drain))
			log_warn("network metrics: out of memory tidying the TCP sockets");
	}
	if (!s)
		return;
	if (p->egress)
		udp_drain(p, s);
	for (; id <= SONDE_FLOW_CNT_CLOSED_FULL; id++) {
		if (bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.netflow_counters), &id, p->values))
			continue;
		for (int c = 0; c < p->ncpus; c++)
			lost += p->values[c];
	}
	netflow_store__set_kernel_lost(s, lost);
}
