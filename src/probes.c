// SPDX-License-Identifier: Apache-2.0
#include "probes.h"

#include <errno.h>
#include <sched.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <stdbool.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "runtime.h"
#include "sonde.skel.h"
#include "util/log.h"

#define MIN_KERNEL_MAJOR 5
#define MIN_KERNEL_MINOR 8

const char *const kernel_counter_names[SONDE_CNT__MAX] = {
	[SONDE_CNT_RINGBUF_FULL] = "ringbuf_full",
	[SONDE_CNT_CONN_MAP_FULL] = "conn_map_full",
	[SONDE_CNT_NOT_HTTP] = "not_http",
	[SONDE_CNT_TXN_EMITTED] = "emitted",
	[SONDE_CNT_INCOMPLETE] = "incomplete",
	[SONDE_CNT_PROC_EVENT_LOST] = "proc_event_ringbuf_full",
	[SONDE_CNT_RESP_NOT_HTTP] = "response_not_http",
	[SONDE_CNT_RESP_UNFRAMED] = "response_head_too_long",
	[SONDE_CNT_NO_BUFFER] = "io_without_user_buffer",
	[SONDE_CNT_PEER_LINK_LOST] = "peer_link_map_full",
	[SONDE_CNT_TRACED_MAP_FULL] = "traced_map_full",
	[SONDE_CNT_TLS_CONN] = "tls_connections",
	[SONDE_CNT_TLS_NO_SOCKET] = "tls_without_socket",
	[SONDE_CNT_GOTLS_ODD_COPY] = "go_tls_unexpected_copy",
	[SONDE_CNT_H2_TRUNCATED] = "http2_header_block_truncated",
	[SONDE_CNT_H2_DESYNC] = "http2_framing_lost",
};

#define MAX_LINKS 64

struct probes {
	struct sonde_bpf *skel;
	struct bpf_link *links[MAX_LINKS];
	int nlinks;
	int ncpus;
};

/*
 * Capabilities, measured on Linux 6.18 by running Sonde as a non-root user
 * with ambient capabilities and taking one away at a time (README,
 * "Privileges"; tests/e2e/test_privileges.py):
 *
 *   CAP_BPF          load the programs, create the maps          fatal
 *   CAP_PERFMON      tracing/tracepoint programs, perf events    fatal
 *                    (CAP_SYS_ADMIN stands in for both)
 *   CAP_DAC_READ_SEARCH  other users' /proc/PID/fd and environ   warn
 *   CAP_SYS_PTRACE   other users' /proc/PID/exe, fd links,       warn: only Sonde's own
 *                    ns/net, root                                user's processes traced
 *   CAP_SETUID+CAP_SETGID  read package.json as its process's    warn: Node services
 *                    user (util/safe_read.c)                     named after the script
 *   CAP_NET_BIND_SERVICE  metrics port below                     fatal then
 *                    net.ipv4.ip_unprivileged_port_start
 *
 * Fatal: nothing could be traced or served; one line, exit 2. A warning
 * names what Sonde will not see and Sonde runs on. Every program is a BTF
 * tracepoint (tp_btf): tracefs is not used, so neither mounting it
 * (CAP_SYS_ADMIN) nor reading its root-only event ids is needed.
 */
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static uint64_t effective_caps(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};

	if (syscall(SYS_capget, &hdr, data))
		return 0;
	return data[0].effective | (uint64_t)data[1].effective << 32;
}

static bool has_cap(uint64_t eff, int cap)
{
	return eff & (1ull << cap);
}

/* The first port an unprivileged process may bind (sysctl). */
static int unprivileged_port_start(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "re");
	int port = 1024;

	if (f) {
		if (fscanf(f, "%d", &port) != 1)
			port = 1024;
		fclose(f);
	}
	return port;
}

/* Capabilities without which nothing can be traced: one line, -EPERM. */
static int check_fatal_caps(uint64_t eff, const struct sonde_config *cfg)
{
	bool admin = has_cap(eff, CAP_SYS_ADMIN);
	bool bpf = admin || has_cap(eff, CAP_BPF), perfmon = admin || has_cap(eff, CAP_PERFMON);

	if (!bpf || !perfmon) {
		fprintf(stderr, "sonde: missing %s: cannot load and attach the BPF programs, nothing "
				"can be traced (run as root, or grant the capabilities listed in "
				"README.md, Privileges)\n",
			!bpf && !perfmon ? "CAP_BPF and CAP_PERFMON" : !bpf ? "CAP_BPF" : "CAP_PERFMON");
		return -EPERM;
	}
	if (cfg && cfg->prometheus_port > 0 && cfg->prometheus_port < unprivileged_port_start() &&
	    !has_cap(eff, CAP_NET_BIND_SERVICE)) {
		fprintf(stderr, "sonde: missing CAP_NET_BIND_SERVICE: cannot serve metrics on port %d "
				"(below net.ipv4.ip_unprivileged_port_start)\n", cfg->prometheus_port);
		return -EPERM;
	}
	return 0;
}

/* Capabilities whose absence hides some processes or names: one line each. */
static void warn_missing_caps(uint64_t eff)
{
	bool setuid_ok = has_cap(eff, CAP_SETUID), setgid_ok = has_cap(eff, CAP_SETGID);

	if (!has_cap(eff, CAP_SYS_PTRACE))
		fprintf(stderr, "sonde: missing CAP_SYS_PTRACE: cannot read other users' processes "
				"(/proc/PID/exe, fd, environ): only processes of uid %u will be traced\n",
			(unsigned int)geteuid());
	if (!has_cap(eff, CAP_DAC_READ_SEARCH) && !has_cap(eff, CAP_DAC_OVERRIDE))
		fprintf(stderr, "sonde: missing CAP_DAC_READ_SEARCH: cannot read other users' "
				"/proc/PID/fd and environ: their ports (open_port) and "
				"OTEL_SERVICE_NAME go unseen\n");
	if (!setuid_ok || !setgid_ok)
		fprintf(stderr, "sonde: missing %s: cannot read files as a traced process's user: "
				"Node services are named after their script, not their package.json\n",
			!setuid_ok && !setgid_ok ? "CAP_SETUID and CAP_SETGID" :
			!setuid_ok ? "CAP_SETUID" : "CAP_SETGID");
}

int probes__check_host(const struct sonde_config *cfg)
{
	struct utsname u;
	int major = 0, minor = 0;
	uint64_t eff = effective_caps();

	if (check_fatal_caps(eff, cfg))
		return -EPERM;
	if (uname(&u) == 0 && sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
	    (major < MIN_KERNEL_MAJOR || (major == MIN_KERNEL_MAJOR && minor < MIN_KERNEL_MINOR))) {
		fprintf(stderr, "sonde: kernel %s is too old: Sonde needs Linux %d.%d or newer "
				"(BPF ring buffer)\n", u.release, MIN_KERNEL_MAJOR, MIN_KERNEL_MINOR);
		return -ENOTSUP;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		fprintf(stderr, "sonde: this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): "
				"Sonde needs a kernel built with CONFIG_DEBUG_INFO_BTF=y\n");
		return -ENOTSUP;
	}
	warn_missing_caps(eff);
	return 0;
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && log_threshold < LOG_DEBUG)
		return 0;
	if (level == LIBBPF_INFO && log_threshold < LOG_INFO)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int attach(struct probes *p, struct bpf_program *prog)
{
	struct bpf_link *link;

	if (p->nlinks == MAX_LINKS)
		return -E2BIG;
	link = bpf_program__attach(prog);
	if (!link) {
		int err = -errno;

		log_error("cannot attach %s: %s", bpf_program__name(prog), strerror(-err));
		return err;
	}
	p->links[p->nlinks++] = link;
	return 0;
}

struct probes *probes__start(const struct sonde_config *cfg)
{
	struct probes *p = calloc(1, sizeof(*p));
	struct bpf_program *prog;
	int err;

	if (!p)
		return NULL;
	libbpf_set_print(libbpf_log);
	p->ncpus = libbpf_num_possible_cpus();
	p->skel = sonde_bpf__open();
	if (!p->skel) {
		log_error("cannot open the BPF object: %s", strerror(errno));
		goto fail;
	}
	p->skel->rodata->wakeup_bytes = cfg->wakeup_bytes;
	p->skel->rodata->tls_enabled = cfg->tls; /* no plaintext state without uprobes */
	/* Response framing in the kernel needs bpf_loop (5.17; probed on a
	 * tracepoint program, which libbpf can load without an attach target);
	 * without it
	 * transactions end at the next request or the close. */
	p->skel->rodata->have_bpf_loop =
		libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_loop, NULL) > 0;
	if (!p->skel->rodata->have_bpf_loop)
		log_warn("kernel lacks bpf_loop: spans of idle keep-alive connections are "
			 "reported at the next request or the close");
	err = sonde_bpf__load(p->skel);
	if (err) {
		log_error("cannot load the BPF programs (the verifier refused them or BPF is "
			  "restricted): %s", strerror(-err));
		goto fail;
	}
	bpf_object__for_each_program(prog, p->skel->obj) {
		/* uprobes (TLS libraries) are attached per process: probes_tls.c */
		if (bpf_program__type(prog) == BPF_PROG_TYPE_KPROBE)
			continue;
		if (attach(p, prog))
			goto fail;
	}
	return p;
fail:
	probes__stop(p);
	return NULL;
}

static void *destroy_link(void *link)
{
	bpf_link__destroy(link);
	return NULL;
}

/* Detaching a tracepoint waits for the kernel to quiesce (tens of ms each);
 * detaching them all at once overlaps those waits, so Sonde stops within
 * its one-second promise. */
void probes__stop(struct probes *p)
{
	pthread_t threads[MAX_LINKS];
	bool started[MAX_LINKS] = { false };

	if (!p)
		return;
	for (int i = 0; i < p->nlinks; i++)
		started[i] = !pthread_create(&threads[i], NULL, destroy_link, p->links[i]);
	for (int i = 0; i < p->nlinks; i++) {
		if (started[i])
			pthread_join(threads[i], NULL);
		else
			bpf_link__destroy(p->links[i]);
	}
	sonde_bpf__destroy(p->skel);
	free(p);
}

/*
 * Stop without keeping the caller waiting: the kernel takes a grace period
 * per detached tracepoint, a second or more on a loaded machine. Emptying
 * the traced map first makes every probe return at its first lookup; a
 * child process that inherited the links then detaches them while this
 * process exits at once (its own references go without waiting, the
 * child's are the last ones). Call with no other thread running.
 */
void probes__stop_quickly(struct probes *p)
{
	int fd;
	__u32 key, next;

	if (!p)
		return;
	memset(p->skel->bss->traced_bits, 0, sizeof(p->skel->bss->traced_bits));
	fd = bpf_map__fd(p->skel->maps.traced);
	while (!bpf_map_get_next_key(fd, NULL, &next)) {
		key = next;
		bpf_map_delete_elem(fd, &key);
	}
	fflush(NULL);
	switch (fork()) {
	case -1:
		probes__stop(p); /* no child: detach here */
		return;
	case 0: {
		int devnull = open("/dev/null", O_RDWR);

		/* Out of the way of whoever waits for our output or signals
		 * our process group. */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		setsid();
		/* Back to the ordinary priority Sonde lowered (main.c): the
		 * sooner the probes are gone, the sooner nobody pays for them;
		 * at nice 10 on a busy machine this took seconds. */
		{
			struct sched_param sp = { .sched_priority = 0 };

			sched_setscheduler(0, SCHED_OTHER, &sp);
			setpriority(PRIO_PROCESS, 0, 0);
		}
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		probes__stop(p);
		_exit(0);
	}
	default:
		return; /* the links stay with the child; our exit drops our references */
	}
}

struct traced_set probes__traced_set(const struct probes *p)
{
	struct traced_set t = { .map_fd = bpf_map__fd(p->skel->maps.traced),
				.bits = (uint64_t *)p->skel->bss->traced_bits,
				.server_ports = (uint64_t *)p->skel->bss->server_ports };

	return t;
}

int traced_set__add(const struct traced_set *t, uint32_t pid, const struct sonde_traced_proc *v)
{
	if (pid >= SONDE_PID_LIMIT) {
		errno = ERANGE;
		return -ERANGE;
	}
	if (bpf_map_update_elem(t->map_fd, &pid, v, BPF_ANY))
		return -errno;
	__atomic_fetch_or(&t->bits[pid / 64], 1ULL << (pid % 64), __ATOMIC_SEQ_CST);
	return 0;
}

void traced_set__del(const struct traced_set *t, uint32_t pid)
{
	if (pid >= SONDE_PID_LIMIT)
		return;
	__atomic_fetch_and(&t->bits[pid / 64], ~(1ULL << (pid % 64)), __ATOMIC_SEQ_CST);
	bpf_map_delete_elem(t->map_fd, &pid);
}

void traced_set__mark_port(const struct traced_set *t, uint16_t port)
{
	if (t->server_ports)
		__atomic_fetch_or(&t->server_ports[port / 64], 1ULL << (port % 64), __ATOMIC_SEQ_CST);
}

struct bpf_object *probes__object(const struct probes *p)
{
	return p->skel->obj;
}

int probes__events_map_fd(const struct probes *p)
{
	return bpf_map__fd(p->skel->maps.events);
}

uint64_t probes__counter(const struct probes *p, enum sonde_counter id)
{
	uint64_t values[1024], sum = 0;
	uint32_t key = id;

	if (p->ncpus <= 0 || p->ncpus > 1024 ||
	    bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.counters), &key, values))
		return 0;
	for (int i = 0; i < p->ncpus; i++)
		sum += values[i];
	return sum;
}
