// SPDX-License-Identifier: Apache-2.0
/*
 * Load test of every production BPF object: open, load (the verifier runs
 * on this kernel), check every program got a descriptor, attach nothing.
 * Needs root; outside CI it skips with the reason when BPF is unavailable.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sonde.skel.h"
#include "netflow.skel.h"
#include "sonde/netflow_abi.h"

static char verifier_log[1 << 16];
static size_t verifier_log_len;

static int keep_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int n;

	if (level == LIBBPF_DEBUG)
		return 0;
	n = vsnprintf(verifier_log + verifier_log_len, sizeof(verifier_log) - verifier_log_len,
			  fmt, ap);

	if (n > 0 && verifier_log_len + n < sizeof(verifier_log))
		verifier_log_len += n;
	return 0;
}

static void test_sonde_object_loads(void **state)
{
	struct sonde_bpf *skel;
	struct bpf_program *prog;
	int programs = 0, uprobes = 0, err;

	libbpf_set_print(keep_log);
	skel = sonde_bpf__open();
	assert_non_null(skel);
	err = sonde_bpf__load(skel);
	if (err)
		fprintf(stderr, "load failed: %s\n%s\n", strerror(-err), verifier_log);
	assert_int_equal(err, 0);
	bpf_object__for_each_program(prog, skel->obj) {
		assert_true(bpf_program__fd(prog) >= 0);
		if (bpf_program__type(prog) == BPF_PROG_TYPE_KPROBE)
			uprobes++;
		else
			programs++;
	}
	/* TLS libraries: OpenSSL's SSL_read/SSL_write and _ex, entry and
	 * return, attached per traced process (src/probes_tls.c). */
	assert_true(uprobes >= 8);
	assert_non_null(bpf_object__find_program_by_name(skel->obj, "ssl_read_enter"));
	assert_non_null(bpf_object__find_program_by_name(skel->obj, "ssl_write_ex_return"));
	/* Go's crypto/tls: entries and RETs (src/probes_gotls.c). */
	assert_true(uprobes >= 10);
	assert_non_null(bpf_object__find_program_by_name(skel->obj, "go_tls_enter"));
	assert_non_null(bpf_object__find_program_by_name(skel->obj, "go_tls_return"));
	/* Socket I/O (two socket-layer tracepoints), TCP state changes
	 * (connect, passive open, listen, close); exec, fork and exit for
	 * discovery. No syscall is hooked: nothing every syscall pays. */
	assert_int_equal(programs, 6);
	assert_null(bpf_object__find_program_by_name(skel->obj, "sys_enter"));
	assert_null(bpf_object__find_program_by_name(skel->obj, "sys_exit"));
	assert_non_null(bpf_object__find_program_by_name(skel->obj, "sock_recv_length"));
	assert_non_null(bpf_object__find_program_by_name(skel->obj, "sock_send_length"));
	assert_non_null(bpf_object__find_program_by_name(skel->obj, "inet_sock_set_state"));
	bpf_object__for_each_program(prog, skel->obj) {
		const char *sec = bpf_program__section_name(prog);

		if (bpf_program__type(prog) == BPF_PROG_TYPE_KPROBE) {
			/* uprobes, never kprobes (not on these kernels) */
			assert_true(!strcmp(sec, "uprobe") || !strcmp(sec, "uretprobe"));
			continue;
		}
		assert_null(strstr(sec, "raw_syscalls"));
		assert_null(strstr(sec, "syscalls/"));
		/* BTF tracepoints only: nothing is attached through tracefs. */
		assert_int_equal(strncmp(sec, "tp_btf/", 7), 0);
		assert_true(strcmp(sec, "tp_btf/sys_exit") && strcmp(sec, "tp_btf/sys_enter"));
	}
	assert_true(bpf_map__fd(skel->maps.events) >= 0);
	assert_true(bpf_map__fd(skel->maps.conns) >= 0);
	sonde_bpf__destroy(skel);
}

/* An Ethernet frame (BPF_PROG_TEST_RUN wants one) holding an IPv4 packet
 * 10.0.0.1 -> 10.0.0.2 of @proto with an L4 header of @l4 bytes and
 * @payload bytes after it. Return: its length. */
static size_t frame(uint8_t *buf, int proto, int l4, int payload)
{
	size_t len = 14 + 20 + l4 + payload;

	memset(buf, 0, len);
	buf[12] = 0x08; /* ETH_P_IP */
	buf[14] = 0x45;
	buf[16] = (20 + l4 + payload) >> 8;
	buf[17] = (20 + l4 + payload) & 0xff;
	buf[22] = 64;
	buf[23] = proto;
	buf[26] = 10, buf[29] = 1;
	buf[30] = 10, buf[33] = 2;
	if (proto == 6)
		buf[14 + 20 + 12] = (l4 / 4) << 4; /* TCP data offset */
	return len;
}

static uint64_t flow_bytes(struct netflow_bpf *skel, int proto, int direction)
{
	struct sonde_flow_key k;
	int ncpus = libbpf_num_possible_cpus();
	uint64_t values[512], sum = 0;

	memset(&k, 0, sizeof(k));
	k.src[10] = k.src[11] = k.dst[10] = k.dst[11] = 0xff;
	k.src[12] = 10, k.src[15] = 1;
	k.dst[12] = 10, k.dst[15] = 2;
	k.family = 4;
	k.proto = proto;
	k.direction = direction;
	assert_true(ncpus > 0 && ncpus <= 512);
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.flows0), &k, values))
		return 0;
	for (int c = 0; c < ncpus; c++)
		sum += values[c];
	return sum;
}

static void run(struct bpf_program *prog, const uint8_t *data, size_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data, .data_size_in = len);

	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(prog), &opts), 0);
	assert_int_equal(opts.retval, 1); /* every packet passes */
}

/* The network-flow object loads; its packet programs count UDP payload
 * (the packet minus its IP and UDP headers) and leave TCP packets (counted
 * from the sockets) and other protocols alone. */
static void test_netflow_object_counts_payload(void **state)
{
	struct netflow_bpf *skel;
	uint8_t buf[2048];
	int err;

	libbpf_set_print(keep_log);
	skel = netflow_bpf__open();
	assert_non_null(skel);
	err = netflow_bpf__load(skel);
	if (err)
		fprintf(stderr, "load failed: %s\n%s\n", strerror(-err), verifier_log);
	assert_int_equal(err, 0);
	run(skel->progs.netflow_egress, buf, frame(buf, 17, 8, 1000));	/* UDP */
	run(skel->progs.netflow_egress, buf, frame(buf, 17, 8, 234));
	run(skel->progs.netflow_egress, buf, frame(buf, 17, 8, 0));	/* no payload */
	run(skel->progs.netflow_ingress, buf, frame(buf, 17, 8, 512));
	run(skel->progs.netflow_ingress, buf, frame(buf, 6, 20, 700));	/* TCP: from sockets */
	run(skel->progs.netflow_ingress, buf, frame(buf, 1, 8, 100));	/* ICMP: not counted */
	assert_int_equal(flow_bytes(skel, 17, SONDE_FLOW_EGRESS), 1234);
	assert_int_equal(flow_bytes(skel, 17, SONDE_FLOW_INGRESS), 512);
	assert_int_equal(flow_bytes(skel, 6, SONDE_FLOW_INGRESS), 0);
	assert_int_equal(flow_bytes(skel, 1, SONDE_FLOW_INGRESS), 0);
	/* The other map after a flip. */
	skel->bss->flow_gen = 1;
	run(skel->progs.netflow_egress, buf, frame(buf, 17, 8, 66));
	assert_int_equal(flow_bytes(skel, 17, SONDE_FLOW_EGRESS), 1234);
	netflow_bpf__destroy(skel);
}

/* A new flow that finds its map full is counted (flow_map_full), its bytes lost. */
static void test_netflow_map_full_is_counted(void **state)
{
	struct netflow_bpf *skel;
	uint8_t buf[256];
	uint64_t values[512], lost = 0;
	uint32_t id = SONDE_FLOW_CNT_MAP_FULL;
	int ncpus = libbpf_num_possible_cpus();

	skel = netflow_bpf__open();
	assert_non_null(skel);
	assert_int_equal(bpf_map__set_max_entries(skel->maps.flows0, 2), 0);
	assert_int_equal(netflow_bpf__load(skel), 0);
	run(skel->progs.netflow_egress, buf, frame(buf, 17, 8, 10));   /* flow 1 */
	run(skel->progs.netflow_ingress, buf, frame(buf, 17, 8, 10));  /* flow 2 */
	run(skel->progs.netflow_ingress, buf, frame(buf, 17, 8, 7));
	frame(buf, 17, 8, 10);
	buf[33] = 3; /* flow 3, to another address: no room */
	run(skel->progs.netflow_egress, buf, 14 + 20 + 8 + 10);
	run(skel->progs.netflow_egress, buf, frame(buf, 17, 8, 5));    /* flow 1 again */
	assert_int_equal(flow_bytes(skel, 17, SONDE_FLOW_EGRESS), 15);
	assert_int_equal(flow_bytes(skel, 17, SONDE_FLOW_INGRESS), 17);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.netflow_counters), &id, values),
			 0);
	for (int c = 0; c < ncpus; c++)
		lost += values[c];
	assert_int_equal(lost, 1);
	netflow_bpf__destroy(skel);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sonde_object_loads),
		cmocka_unit_test(test_netflow_object_counts_payload),
		cmocka_unit_test(test_netflow_map_full_is_counted),
	};

	if (geteuid() != 0 && !getenv("CI")) {
		printf("SKIP bpf load test: needs root (CAP_BPF) and CI is not set\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
