// SPDX-License-Identifier: Apache-2.0
/*
 * Syscall cost with nothing attached and with each program of floor.bpf.c
 * attached in turn (sock_empty: its two socket-tracepoint programs together), alternating, in one run: prints one line per variant,
 * "NAME NS_PER_SYSCALL" (median over rounds of the cheapest syscall,
 * getppid(), in a tight loop pinned to the CPU it starts on).
 * Usage: floor BPF_OBJECT [ROUNDS [CALLS]]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <bpf/libbpf.h>

static const char *const variants[] = { "none", "empty", "check", "clock", "copy", "lookup",
					"sock_empty" };
#define NVAR (sizeof(variants) / sizeof(variants[0]))
/* The programs each variant attaches (at most 2), by name; none for "none". */
static const char *const progs[NVAR][2] = {
	{ NULL }, { "empty" }, { "check" }, { "clock" }, { "copy" }, { "lookup" },
	{ "sock_recv_empty", "sock_send_empty" },
};

static double loop_ns(long calls)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < calls; i++)
		syscall(SYS_getppid);
	clock_gettime(CLOCK_MONOTONIC, &b);
	return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / calls;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

int main(int argc, char **argv)
{
	int rounds = argc > 2 ? atoi(argv[2]) : 7;
	long calls = argc > 3 ? atol(argv[3]) : 1000000;
	double *res[NVAR];
	struct bpf_object *obj;
	struct bpf_map *map;

	if (argc < 2 || rounds < 1 || calls < 1) {
		fprintf(stderr, "usage: %s BPF_OBJECT [ROUNDS [CALLS]]\n", argv[0]);
		return 2;
	}
	libbpf_set_print(quiet);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "floor: cannot open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	bpf_object__for_each_map(map, obj) {
		if (strstr(bpf_map__name(map), ".bss")) {
			size_t sz = bpf_map__value_size(map);
			__u32 *init = calloc(1, sz);

			/* `target` is the first variable of .bss */
			if (!init || sz < sizeof(*init))
				return 1;
			*init = getpid();
			bpf_map__set_initial_value(map, init, sz);
			free(init);
		}
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "floor: cannot load %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (size_t v = 0; v < NVAR; v++)
		res[v] = calloc(rounds, sizeof(double));
	loop_ns(calls); /* warm up */
	for (int r = 0; r < rounds; r++) {
		for (size_t i = 0; i < NVAR; i++) {
			/* rotate the order every round */
			size_t v = (i + r) % NVAR;
			struct bpf_link *links[2] = { NULL, NULL };

			for (int k = 0; k < 2 && progs[v][k]; k++) {
				struct bpf_program *p =
					bpf_object__find_program_by_name(obj, progs[v][k]);

				links[k] = p ? bpf_program__attach(p) : NULL;
				if (!links[k]) {
					fprintf(stderr, "floor: cannot attach %s\n", progs[v][k]);
					return 1;
				}
			}
			res[v][r] = loop_ns(calls);
			bpf_link__destroy(links[0]);
			bpf_link__destroy(links[1]);
		}
	}
	for (size_t v = 0; v < NVAR; v++) {
		qsort(res[v], rounds, sizeof(double), cmp);
		printf("%s %.1f\n", variants[v], res[v][rounds / 2]);
	}
	bpf_object__close(obj);
	return 0;
}
