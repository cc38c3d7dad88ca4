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
#include <bpf/libbpf.h>

#include "sonde.skel.h"

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
	int programs = 0, err;

	libbpf_set_print(keep_log);
	skel = sonde_bpf__open();
	assert_non_null(skel);
	err = sonde_bpf__load(skel);
	if (err)
		fprintf(stderr, "load failed: %s\n%s\n", strerror(-err), verifier_log);
	assert_int_equal(err, 0);
	bpf_object__for_each_program(prog, skel->obj) {
		assert_true(bpf_program__fd(prog) >= 0);
		programs++;
	}
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sonde_object_loads),
	};

	if (geteuid() != 0 && !getenv("CI")) {
		printf("SKIP bpf load test: needs root (CAP_BPF) and CI is not set\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
