// SPDX-License-Identifier: Apache-2.0
/*
 * sonde: zero-code HTTP traces and RED metrics from eBPF.
 * Start-up order: configuration, host checks, probes, discovery, exporters,
 * then the event loop until SIGINT/SIGTERM.
 */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "config_file.h"
#include "discovery.h"
#include "export/otlp_config.h"
#include "export/prom_web.h"
#include "model/metrics.h"
#include "model/netflow.h"
#include "model/spanmetrics.h"
#include "netflow_probe.h"
#include "pipeline.h"
#include "probes.h"
#include "probes_tls.h"
#include "runtime.h"
#include "util/log.h"
#include "version.h"


/* How often the kernel's flow counts are moved into the flow table. */
#define NETFLOW_DRAIN_NS 500000000ull
/* TLS libraries of traced processes looked for again (dlopen, forks). */
#define TLS_SCAN_NS 1000000000ull

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	stopping = 1;
}

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int64_t mono_to_real(void)
{
	return (int64_t)(now_ns(CLOCK_REALTIME) - now_ns(CLOCK_MONOTONIC));
}

static int usage_error(const char *arg)
{
	fprintf(stderr, "sonde: unknown argument '%s' (see sonde --help)\n", arg);
	return 2;
}

/*
 * Each traced process holds a perf event and a link per TLS uprobe (8 to 16
 * fds): the soft limit (often 1024) is raised to the hard one, which the
 * service file sets (packaging/sonde.service, LimitNOFILE=).
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			log_warn("cannot raise the open file limit from %llu: %s",
				 (unsigned long long)was, strerror(errno));
	}
	log_debug("open file limit: %llu", (unsigned long long)rl.rlim_cur);
}

/*
 * Sonde's CPU comes second to the services it traces: every thread (made
 * after this, so all of them) runs at cfg->nice and, above 0, as
 * SCHED_BATCH, which the scheduler never lets preempt a running task on
 * wake-up. Measured on nginx on 2 CPUs: the traced service's throughput
 * ratio went from 0.822 to 0.843 (pinning Sonde away from the server's
 * CPU: 0.849), with Sonde's own CPU per request unchanged.
 */
static void yield_cpu(int nice)
{
	struct sched_param sp = { .sched_priority = 0 };

	if (nice <= 0)
		return;
	if (setpriority(PRIO_PROCESS, 0, nice))
		log_warn("cannot lower Sonde's priority to nice %d: %s", nice, strerror(errno));
	if (sched_setscheduler(0, SCHED_BATCH, &sp))
		log_warn("cannot switch Sonde to SCHED_BATCH: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	struct sonde_config cfg;
	struct sonde_runtime rt = { .cfg = &cfg };
	struct pipeline *pipeline = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t next_scan, next_clock, next_flows = 0, next_tls;
	struct tls_probes *tls = NULL;
	unsigned int tls_seen = 0;
	struct netflow_probe *netflow = NULL;
	const char *config_path = NULL;
	bool check_only = false, print_only = false;
	int rc = 1;

	config__defaults(&cfg);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			config__print_help(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--help-markdown")) {
			config__print_markdown(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("sonde %s\n", sonde_version);
			return 0;
		} else if ((!strcmp(argv[i], "--config") || !strcmp(argv[i], "-c") ||
			    !strcmp(argv[i], "--check-config")) && i + 1 < argc) {
			check_only |= !strcmp(argv[i], "--check-config");
			config_path = argv[++i];
		} else if (!strncmp(argv[i], "--config=", 9)) {
			config_path = argv[i] + 9;
		} else if (!strcmp(argv[i], "--tls-hooks") && i + 1 < argc) {
			/* diagnosis: where the TLS uprobes would go in a file */
			return tls_probes__describe(argv[i + 1], stdout);
		} else if (!strcmp(argv[i], "--print-config")) {
			print_only = true;
		} else {
			return usage_error(argv[i]);
		}
	}
	for (int e = 0; !config_path && config_path_env[e]; e++)
		config_path = getenv(config_path_env[e]);
	/* Precedence: defaults, then the file, then the environment. */
	if ((config_path && config__load_file(&cfg, config_path, stderr)) ||
	    config__from_env(&cfg, stderr) || config__finish(&cfg, stderr) ||
	    otlp_config__check(&cfg, stderr) || prom_web__check(&cfg, stderr)) {
		config__free(&cfg);
		return 2;
	}
	if (check_only || print_only) {
		if (print_only)
			config__print_yaml(&cfg, stdout);
		else
			printf("%s: configuration is valid\n", config_path);
		config__free(&cfg);
		return 0;
	}
	log_threshold = cfg.log_level;
	if (probes__check_host(&cfg)) {
		rc = 2; /* this host or these privileges cannot run Sonde: said in one line */
		goto out;
	}

	raise_nofile();
	yield_cpu(cfg.nice);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	rt.mono_to_real_ns = mono_to_real();
	rt.metrics = metric_store__new();
	if (((cfg.prom_feature_mask | cfg.otlp_feature_mask) &
	     (FEATURE_BIT(FEATURE_SPAN) | FEATURE_BIT(FEATURE_SERVICE_GRAPH))) ||
	    cfg.ui_port) {
		/* A span waits for its other half as long as the linker may hold
		 * that half, and a little more. */
		rt.spanmetrics = spanmetrics__new(cfg.max_series,
						  (cfg.link_wait_ms + 1000) * 1000000ull, 1u << 16);
		if (!rt.spanmetrics)
			goto out;
	}
	rt.probes = probes__start(&cfg);
	if (!rt.metrics || !rt.probes)
		goto out;
	if ((cfg.prom_feature_mask | cfg.otlp_feature_mask) & FEATURE_BIT(FEATURE_NETWORK)) {
		/* A separate object, loaded only now: the capture is the same
		 * with or without it. */
		rt.netflow = netflow_store__new(&cfg);
		if (!rt.netflow || !(netflow = netflow_probe__start(cfg.network_tcp, cfg.network_udp)))
			goto out;
		next_flows = now_ns(CLOCK_MONOTONIC) + NETFLOW_DRAIN_NS;
	}
	rt.discovery = discovery__new(&cfg, probes__traced_set(rt.probes), getpid());
	if (!rt.discovery) {
		log_error("cannot start discovery: %s", strerror(errno));
		goto out;
	}
	discovery__count_losses(rt.discovery, &rt.user_loss[LOSS_SERVICE_TABLE_FULL]);
	pipeline = pipeline__new(&rt);
	if (!pipeline)
		goto out;
	/* Probes are attached before the scan, so nothing a found process
	 * does after it is traced goes unseen. */
	discovery__scan(rt.discovery);
	atomic_store(&rt.instrumented, discovery__count(rt.discovery));
	if (cfg.tls)
		tls = tls_probes__new(probes__object(rt.probes), probes__traced_set(rt.probes).map_fd);
	tls_probes__scan(tls);
	log_info("ready: %u process(es) instrumented", discovery__count(rt.discovery));
	fflush(stderr);

	next_scan = now_ns(CLOCK_MONOTONIC) + cfg.discovery_interval_ms * 1000000ull;
	next_clock = now_ns(CLOCK_MONOTONIC) + 10000000000ull;
	next_tls = now_ns(CLOCK_MONOTONIC) + TLS_SCAN_NS;
	while (!stopping) {
		uint64_t now;

		if (pipeline__poll(pipeline, cfg.poll_ms) < 0) {
			log_error("reading events failed");
			goto out;
		}
		pipeline__flush(pipeline);
		now = now_ns(CLOCK_MONOTONIC);
		if (now >= next_scan) {
			discovery__scan(rt.discovery);
			atomic_store(&rt.instrumented, discovery__count(rt.discovery));
			next_scan = now + cfg.discovery_interval_ms * 1000000ull;
		}
		if (now >= next_tls || discovery__count(rt.discovery) != tls_seen) {
			/* New traced processes at once (a short-lived client's
			 * TLS comes soon after its exec), and every second
			 * forked children and libraries loaded by dlopen. */
			tls_seen = discovery__count(rt.discovery);
			tls_probes__scan(tls);
			next_tls = now + TLS_SCAN_NS;
		}
		if (netflow && now >= next_flows) {
			netflow_probe__drain(netflow, rt.netflow);
			next_flows = now + NETFLOW_DRAIN_NS;
		}
		if (now >= next_clock) {
			/* Wall time can be stepped (NTP): follow it. */
			rt.mono_to_real_ns = mono_to_real();
			next_clock = now + 10000000000ull;
		}
	}
	/* Drain what the kernel emitted before we detach. */
	pipeline__poll(pipeline, 0);
	pipeline__drain(pipeline);
	pipeline__flush(pipeline);
	if (netflow) {
		/* Both maps, so the last export has every byte counted. */
		netflow_probe__drain(netflow, rt.netflow);
		netflow_probe__drain(netflow, rt.netflow);
	}
	log_info("stopping");
	pipeline__free(pipeline); /* exporters' threads end here */
	pipeline = NULL;
	probes__stop_quickly(rt.probes);
	rt.probes = NULL;
	log_debug("probes made inert; detaching in the background");
	rc = 0;
out:
	tls_probes__free(tls);
	pipeline__free(pipeline);
	netflow_probe__stop(netflow);
	probes__stop(rt.probes);
	discovery__free(rt.discovery);
	metric_store__free(rt.metrics);
	spanmetrics__free(rt.spanmetrics);
	netflow_store__free(rt.netflow);
	config__free(&cfg);
	return rc;
}
