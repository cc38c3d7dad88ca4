// SPDX-License-Identifier: Apache-2.0
/*
 * Per-call cost of a uprobe and of a uprobe+uretprobe pair on this machine:
 * a tight loop calling an empty function of this program, with nothing
 * attached, with an empty uprobe on it, and with an empty uprobe and an
 * empty uretprobe (what Sonde puts on each SSL_read/SSL_write), alternated
 * over rounds; prints "VARIANT NS_PER_CALL" (median of the rounds) for
 * each variant below. The uprobes carry this process's pid, as Sonde's do.
 * Usage: uprobe BPF_OBJECT [ROUNDS [CALLS]]
 *
 * For diagnosis, `uprobe BPF_OBJECT attach PID FILE OFFSET...` puts the
 * same empty pair at each file offset of FILE in process PID until SIGINT
 * or SIGTERM: the uprobes' own cost in a real server, apart from any
 * agent's work (the places from `sonde --tls-hooks FILE`).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <bpf/libbpf.h>

/* The probed function: kept out of line, with a visible symbol. */
__attribute__((noinline, used)) int bench_probed(int x)
{
	asm volatile("" : "+r"(x));
	return x + 1;
}

/* The same starting with push %rbp, an instruction x86 uprobes emulate in
 * the kernel (no single-step out of line). */
int bench_probed_push(int x);
asm(".text\n.globl bench_probed_push\n.type bench_probed_push,@function\n"
    "bench_probed_push:\n\tpush %rbp\n\tlea 1(%rdi),%eax\n\tpop %rbp\n\tret\n"
    ".size bench_probed_push, .-bench_probed_push\n");

static int (*probed)(int) = bench_probed;

static double loop_ns(long calls)
{
	struct timespec a, b;
	int x = 0;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < calls; i++)
		x = probed(x);
	clock_gettime(CLOCK_MONOTONIC, &b);
	asm volatile("" : : "r"(x));
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

static struct bpf_link *attach(struct bpf_object *obj, const char *prog, const char *func,
				bool ret)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = func, .retprobe = ret);
	struct bpf_link *l = bpf_program__attach_uprobe_opts(
		bpf_object__find_program_by_name(obj, prog), getpid(), "/proc/self/exe", 0, &opts);

	if (!l) {
		fprintf(stderr, "uprobe: cannot attach %s: %s\n", prog, strerror(errno));
		exit(1);
	}
	return l;
}

static volatile sig_atomic_t stop_now;
static void on_sig(int sig) { (void)sig; stop_now = 1; }

/* uprobe OBJ attach PID PATH OFFSET...: an empty pair at each file offset
 * of PATH in process PID, until SIGINT/SIGTERM. */
static int attach_mode(int argc, char **argv)
{
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	int pid = atoi(argv[3]);

	if (!obj || bpf_object__load(obj))
		return 1;
	for (int i = 5; i < argc; i++) {
		unsigned long off = strtoul(argv[i], NULL, 0);
		for (int ret = 1; ret >= 0; ret--) {
			LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = ret);
			if (!bpf_program__attach_uprobe_opts(bpf_object__find_program_by_name(
				    obj, ret ? "uretprobe_empty" : "uprobe_empty"), pid, argv[4], off, &opts)) {
				fprintf(stderr, "attach %s+%#lx: %s\n", argv[4], off, strerror(errno));
				return 1;
			}
		}
	}
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	printf("uprobe: ready\n");
	fflush(stdout);
	while (!stop_now)
		pause();
	return 0;
}

/* Variants: nothing attached; on a function whose first instruction the
 * kernel single-steps out of line (lea, like SSL_read's sub: two traps per
 * uprobe hit), an uprobe and a pair; on one it emulates (push %rbp). */
#define NVAR 5
static const char *const names[NVAR] = { "none", "entry", "pair", "entry_emulated",
					  "pair_emulated" };

int main(int argc, char **argv)
{
	int rounds = argc > 2 ? atoi(argv[2]) : 7;
	long calls = argc > 3 ? atol(argv[3]) : 200000;
	double *res[NVAR];
	struct bpf_object *obj;

	if (argc > 5 && !strcmp(argv[2], "attach"))
		return attach_mode(argc, argv);
	if (argc < 2 || rounds < 1 || calls < 1) {
		fprintf(stderr, "usage: %s BPF_OBJECT [ROUNDS [CALLS]]\n", argv[0]);
		return 2;
	}
	libbpf_set_print(quiet);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "uprobe: cannot load %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (int v = 0; v < NVAR; v++)
		res[v] = calloc(rounds, sizeof(double));
	loop_ns(calls); /* warm-up */
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < NVAR; k++) {
			int v = (r + k) % NVAR; /* rotate the order from round to round */
			bool emulated = v >= 3;
			const char *func = emulated ? "bench_probed_push" : "bench_probed";
			struct bpf_link *in = NULL, *out = NULL;

			probed = emulated ? bench_probed_push : bench_probed;
			if (v >= 1)
				in = attach(obj, "uprobe_empty", func, false);
			if (v == 2 || v == 4)
				out = attach(obj, "uretprobe_empty", func, true);
			res[v][r] = loop_ns(calls);
			bpf_link__destroy(out);
			bpf_link__destroy(in);
		}
	}
	for (int v = 0; v < NVAR; v++) {
		qsort(res[v], rounds, sizeof(double), cmp);
		printf("%s %.1f\n", names[v], res[v][rounds / 2]);
	}
	bpf_object__close(obj);
	return 0;
}
