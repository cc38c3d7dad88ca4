// SPDX-License-Identifier: Apache-2.0
/* The network-flow BPF object: load, attach, drain. See netflow_probe.h. */
#include "netflow_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "netflow.skel.h"
#include "sonde/netflow_abi.h"
#include "util/log.h"

struct netflow_probe {
	struct netflow_bpf *skel;
	struct bpf_link *egress, *ingress;
	int cgroup_fd;
	int ncpus;
	uint64_t *values; /* one per possible CPU */
	struct sonde_flow_key *keys;
};

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

struct netflow_probe *netflow_probe__start(void)
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
	if (p->ncpus <= 0 || !p->values || !p->keys)
		goto fail;
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
	p->skel = netflow_bpf__open();
	if (!p->skel) {
		log_error("network metrics: cannot open the BPF object: %s", strerror(errno));
		goto fail;
	}
	err = netflow_bpf__load(p->skel);
	if (err) {
		log_error("network metrics: cannot load the BPF programs: %s", strerror(-err));
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
	log_info("network metrics: counting TCP and UDP flows of every cgroup under %s", root);
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
	netflow_bpf__destroy(p->skel);
	if (p->cgroup_fd >= 0)
		close(p->cgroup_fd);
	free(p->values);
	free(p->keys);
	free(p);
}

void netflow_probe__drain(struct netflow_probe *p, struct netflow_store *s)
{
	uint32_t gen = __atomic_load_n(&p->skel->bss->flow_gen, __ATOMIC_RELAXED);
	/* The map the kernel stopped writing at the previous call: every
	 * program that could still hold it finished long ago. */
	struct bpf_map *idle = (gen & 1) ? p->skel->maps.flows0 : p->skel->maps.flows1;
	int fd = bpf_map__fd(idle);
	struct sonde_flow_key *prev = NULL;
	size_t n = 0;
	uint64_t lost = 0;

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
	{
		uint32_t id = SONDE_FLOW_CNT_MAP_FULL;

		if (!bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.netflow_counters), &id,
					 p->values)) {
			for (int c = 0; c < p->ncpus; c++)
				lost += p->values[c];
			netflow_store__set_kernel_lost(s, lost);
		}
	}
}
