// SPDX-License-Identifier: Apache-2.0
/*
 * Loader of the network-flow hook alternatives (alt.bpf.c).
 * Usage: alt tc|sock|cgempty BPF_OBJECT [IFINDEX]
 * tc: a filter on ingress and egress of IFINDEX (1: lo) on its clsact qdisc
 * (made if missing, and then removed at exit); sock: the two socket-layer tracepoints;
 * cgempty: empty cgroup_skb programs on the cgroup v2 root (CGROUP, default
 * /sys/fs/cgroup/unified), the floor of that hook.
 * Prints "ready", detaches at SIGINT or SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_link *links[2] = { NULL, NULL };
	int ifindex = argc > 3 ? atoi(argv[3]) : 1;
	LIBBPF_OPTS(bpf_tc_hook, ingress, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_hook, egress, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, in_opts, .handle = 0x5a17, .priority = 1);
	LIBBPF_OPTS(bpf_tc_opts, eg_opts, .handle = 0x5a17, .priority = 1);
	bool tc, made_qdisc = false;

	if (argc < 3 || (strcmp(argv[1], "tc") && strcmp(argv[1], "sock") &&
			 strcmp(argv[1], "cgempty"))) {
		fprintf(stderr, "usage: alt tc|sock|cgempty BPF_OBJECT [IFINDEX]\n");
		return 2;
	}
	tc = !strcmp(argv[1], "tc");
	obj = bpf_object__open_file(argv[2], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "alt: cannot load %s\n", argv[2]);
		return 1;
	}
	if (tc) {
		int err = bpf_tc_hook_create(&ingress);

		if (err && err != -EEXIST) {
			fprintf(stderr, "alt: clsact: %s\n", strerror(-err));
			return 1;
		}
		made_qdisc = !err;
		in_opts.prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, "alt_tc_ingress"));
		eg_opts.prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, "alt_tc_egress"));
		if (bpf_tc_attach(&ingress, &in_opts) || bpf_tc_attach(&egress, &eg_opts)) {
			fprintf(stderr, "alt: tc attach failed\n");
			return 1;
		}
	} else if (!strcmp(argv[1], "cgempty")) {
		const char *root = getenv("CGROUP") ? getenv("CGROUP") : "/sys/fs/cgroup/unified";
		int cg = open(root, O_RDONLY | O_DIRECTORY);

		links[0] = bpf_program__attach_cgroup(
			bpf_object__find_program_by_name(obj, "alt_cg_empty_egress"), cg);
		links[1] = bpf_program__attach_cgroup(
			bpf_object__find_program_by_name(obj, "alt_cg_empty_ingress"), cg);
		if (!links[0] || !links[1]) {
			fprintf(stderr, "alt: cgroup attach failed\n");
			return 1;
		}
	} else {
		links[0] = bpf_program__attach(bpf_object__find_program_by_name(obj, "alt_sock_send"));
		links[1] = bpf_program__attach(bpf_object__find_program_by_name(obj, "alt_sock_recv"));
		if (!links[0] || !links[1]) {
			fprintf(stderr, "alt: tracepoint attach failed\n");
			return 1;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("ready\n");
	fflush(stdout);
	while (!stopping)
		pause();
	if (tc) {
		/* Only our filters: the qdisc may hold others'. */
		in_opts.prog_fd = eg_opts.prog_fd = 0;
		in_opts.prog_id = eg_opts.prog_id = 0;
		in_opts.flags = eg_opts.flags = 0;
		bpf_tc_detach(&ingress, &in_opts);
		bpf_tc_detach(&egress, &eg_opts);
		if (made_qdisc) {
			ingress.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			bpf_tc_hook_destroy(&ingress);
		}
	}
	bpf_link__destroy(links[0]);
	bpf_link__destroy(links[1]);
	bpf_object__close(obj);
	return 0;
}
