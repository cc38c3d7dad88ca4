// SPDX-License-Identifier: Apache-2.0
/*
 * Loader of the benchmark's minimal reference agent (minimal.bpf.c).
 * Usage: minimal sys_exit|sock BPF_OBJECT PID... [--uprobe|--uretprobe PROG FILE OFFSET]...
 *
 * Each --uprobe/--uretprobe attaches program PROG (minimal.bpf.c's TLS
 * programs) at file offset OFFSET of FILE in every given process, as
 * Sonde's pid-filtered TLS uprobes are: the benchmark passes the places
 * `sonde --tls-hooks FILE` names, so the TLS floor has Sonde's traps.
 *
 * Marks the given pids as traced, attaches the programs of one hook
 * (sys_exit: tp_btf/sys_exit; sock: tp_btf/sock_recv_length and
 * tp_btf/sock_send_length), prints "ready", then consumes the ring buffer
 * (ring_buffer__poll with a POLL_MS timeout, then ring_buffer__consume, since
 * the kernel side mostly submits without waking us) until SIGINT or SIGTERM.
 * At exit it prints "minimal: records N bytes B requests R lost L".
 */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define POLL_MS 20
#define HEAD 64

/* Must match struct record of minimal.bpf.c. */
struct record {
	unsigned long long ts;
	unsigned int tgid;
	unsigned int tid;
	int fd;
	int ret;
	unsigned char head[HEAD];
};

static volatile sig_atomic_t stopping;
static unsigned long long records, bytes, requests;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int on_record(void *ctx, void *data, size_t size)
{
	const struct record *r = data;

	(void)ctx;
	if (size < sizeof(*r))
		return 0;
	records++;
	bytes += r->ret;
	/* Looks at the head, as a decoder would first: a request line? */
	if (!memcmp(r->head, "GET ", 4) || !memcmp(r->head, "POST", 4))
		requests++;
	return 0;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

int main(int argc, char **argv)
{
	static const char *const sys_progs[] = { "sys_exit", NULL };
	static const char *const sock_progs[] = { "sock_recv_length", "sock_send_length", NULL };
	const char *const *want;
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_link *links[256] = { 0 };
	int npids = 0, first_probe = argc;
	struct ring_buffer *rb;
	struct sigaction sa;
	unsigned long long lost = 0;
	int nlinks = 0, traced_fd, ntraced = 0;

	if (argc < 4 || (strcmp(argv[1], "sys_exit") && strcmp(argv[1], "sock"))) {
		fprintf(stderr, "usage: %s sys_exit|sock BPF_OBJECT PID... "
				"[--uprobe|--uretprobe PROG FILE OFFSET]...\n", argv[0]);
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		if (!strncmp(argv[i], "--", 2)) {
			first_probe = i;
			break;
		}
		npids++;
	}
	if ((argc - first_probe) % 4) {
		fprintf(stderr, "minimal: --uprobe/--uretprobe take PROG FILE OFFSET\n");
		return 2;
	}
	want = strcmp(argv[1], "sock") ? sys_progs : sock_progs;
	libbpf_set_print(quiet);
	obj = bpf_object__open_file(argv[2], NULL);
	if (!obj) {
		fprintf(stderr, "minimal: cannot open %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	/* Load only the programs of the chosen hook. */
	bpf_object__for_each_program(prog, obj) {
		bool keep = false;

		for (int i = 0; want[i]; i++)
			keep |= !strcmp(bpf_program__name(prog), want[i]);
		for (int i = first_probe; i + 3 < argc; i += 4)
			keep |= !strcmp(bpf_program__name(prog), argv[i + 1]);
		bpf_program__set_autoload(prog, keep);
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "minimal: cannot load %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	traced_fd = bpf_object__find_map_fd_by_name(obj, "traced");
	for (int i = 3; i < 3 + npids; i++) {
		long pid = strtol(argv[i], NULL, 10);
		unsigned int word;
		unsigned long long bits;

		if (pid <= 0 || pid >= 4194304) {
			fprintf(stderr, "minimal: bad pid %s\n", argv[i]);
			return 2;
		}
		word = pid / 64;
		if (bpf_map_lookup_elem(traced_fd, &word, &bits))
			bits = 0;
		bits |= 1ULL << (pid % 64);
		if (bpf_map_update_elem(traced_fd, &word, &bits, BPF_ANY)) {
			fprintf(stderr, "minimal: cannot mark pid %ld: %s\n", pid, strerror(errno));
			return 1;
		}
		ntraced++;
	}
	rb = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "events"), on_record, NULL,
			      NULL);
	if (!rb) {
		fprintf(stderr, "minimal: cannot open the ring buffer: %s\n", strerror(errno));
		return 1;
	}
	for (int i = 0; want[i]; i++) {
		prog = bpf_object__find_program_by_name(obj, want[i]);
		links[nlinks] = prog ? bpf_program__attach(prog) : NULL;
		if (!links[nlinks]) {
			fprintf(stderr, "minimal: cannot attach %s: %s\n", want[i], strerror(errno));
			return 1;
		}
		nlinks++;
	}
	for (int i = first_probe; i + 3 < argc; i += 4) {
		bool ret = !strcmp(argv[i], "--uretprobe");
		unsigned long off = strtoul(argv[i + 3], NULL, 0);

		if (!ret && strcmp(argv[i], "--uprobe")) {
			fprintf(stderr, "minimal: unknown argument %s\n", argv[i]);
			return 2;
		}
		prog = bpf_object__find_program_by_name(obj, argv[i + 1]);
		for (int k = 3; k < 3 + npids; k++) {
			LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = ret);

			if (nlinks == (int)(sizeof(links) / sizeof(links[0]))) {
				fprintf(stderr, "minimal: too many probes\n");
				return 2;
			}
			links[nlinks] = prog ? bpf_program__attach_uprobe_opts(
						       prog, (pid_t)atoi(argv[k]), argv[i + 2], off, &opts)
					     : NULL;
			if (!links[nlinks]) {
				fprintf(stderr, "minimal: cannot attach %s at %s+%#lx: %s\n",
					argv[i + 1], argv[i + 2], off, strerror(errno));
				return 1;
			}
			nlinks++;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	printf("minimal: ready: %s, %d process(es) traced\n", argv[1], ntraced);
	fflush(stdout);
	while (!stopping) {
		int n = ring_buffer__poll(rb, POLL_MS);

		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "minimal: ring_buffer__poll: %s\n", strerror(-n));
			break;
		}
		/* Records submitted without a wake-up are not polled: take them. */
		ring_buffer__consume(rb);
	}
	for (int i = 0; i < nlinks; i++)
		bpf_link__destroy(links[i]);
	ring_buffer__consume(rb);
	{
		unsigned int zero = 0;

		if (bpf_map_lookup_elem(bpf_object__find_map_fd_by_name(obj, "lost"), &zero, &lost))
			lost = 0;
	}
	printf("minimal: records %llu bytes %llu requests %llu lost %llu\n", records, bytes,
	       requests, lost);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
