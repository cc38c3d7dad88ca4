#!/usr/bin/python3
"""The cost of the network-flow hook and its alternatives, on nginx (1 KiB
static file, loopback, wrk), as measured for the choice in bpf/netflow.bpf.c.

Configurations, in an order rotated per round:
  off        no agent
  idle       Sonde attached, tracing nothing (SONDE_OPEN_PORT=1)
  idle_net   the same with network metrics (the cgroup_skb programs)
  tc         the alternative on tc clsact (lo), alone (build/bench/netflow_alt)
  sock       the alternative on the socket tracepoints with a per-socket
             counter in socket storage, alone
  cgempty    empty cgroup_skb programs on the cgroup v2 root: that hook's floor
Then one unmeasured run per hook with kernel.bpf_stats_enabled=1 gives its
programs' ns per run and runs per request. Prints Markdown.

Environment: NF_ROUNDS (5), NF_SECONDS (5), NF_CONNECTIONS (32), SONDE_BIN.
Needs root, nginx, wrk; `make build/sonde build/bench/netflow_alt
build/bench/netflow_alt.bpf.o` first.
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH_DIR))
import bench  # noqa: E402  (Nginx target, process helpers, wrk parsing)

REPO = BENCH_DIR.parent
SONDE = Path(os.environ.get("SONDE_BIN", REPO / "build" / "sonde"))
ALT = REPO / "build" / "bench" / "netflow_alt"
ALT_OBJ = REPO / "build" / "bench" / "netflow_alt.bpf.o"
ROUNDS = int(os.environ.get("NF_ROUNDS", "5"))
SECONDS = int(os.environ.get("NF_SECONDS", "5"))
CONNS = int(os.environ.get("NF_CONNECTIONS", "32"))
CONFIGS = ("off", "idle", "idle_net", "tc", "sock", "cgempty")
# Program types in /proc/PID/fdinfo: the hook's programs of each agent.
PROG_TYPES = {"idle_net": {"8"}, "tc": {"3"}, "sock": {"26"}, "cgempty": {"8"}}


class Agent:
    def __init__(self, config, tmp):
        self.config = config
        log = tmp / f"agent-{config}.log"
        if config in ("idle", "idle_net"):
            env = dict(bench.server_env(), SONDE_OPEN_PORT="1", SONDE_TRACE_PRINTER="disabled",
                       SONDE_PROMETHEUS_PORT=str(bench.free_port()))
            if config == "idle_net":
                env["SONDE_NETWORK_METRICS"] = "true"
            self.proc = bench.spawn([str(SONDE)], log, env=env)
            ready = "sonde: ready"
        else:
            self.proc = bench.spawn([str(ALT), config, str(ALT_OBJ), "1"], log)
            ready = "ready"
        deadline = time.monotonic() + 30
        while ready not in log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{config} did not start: {log.read_text(errors='replace')}")
            time.sleep(0.05)

    def prog_stats(self):
        """(run_time_ns, run_cnt) summed over the hook's programs."""
        ns = cnt = 0
        fdinfo = f"/proc/{self.proc.pid}/fdinfo"
        for fd in os.listdir(fdinfo):
            try:
                text = open(f"{fdinfo}/{fd}").read()
            except OSError:
                continue
            t = re.search(r"^prog_type:\s+(\d+)", text, re.M)
            if not t or t.group(1) not in PROG_TYPES.get(self.config, ()):
                continue
            ns += int(re.search(r"^run_time_ns:\s+(\d+)", text, re.M).group(1))
            cnt += int(re.search(r"^run_cnt:\s+(\d+)", text, re.M).group(1))
        return ns, cnt

    def stop(self):
        bench.stop(self.proc)


def wrk(port, seconds):
    out = subprocess.run(["wrk", "-t1", f"-c{CONNS}", f"-d{seconds}s",
                          f"http://127.0.0.1:{port}/file-1k.bin"],
                         capture_output=True, text=True, check=True).stdout
    return bench.parse_wrk(out)


def main():
    tmp = Path(tempfile.mkdtemp(prefix="sonde-nf-bench-"))
    os.chmod(tmp, 0o755)  # nginx workers run as nobody
    nginx = bench.Nginx(tmp, None)
    nginx.start()
    rps = {c: [] for c in CONFIGS}
    stats = {}
    try:
        wrk(nginx.port, 2)  # warm-up
        for r in range(ROUNDS):
            order = CONFIGS[r % len(CONFIGS):] + CONFIGS[:r % len(CONFIGS)]
            for c in order:
                agent = Agent(c, tmp) if c != "off" else None
                time.sleep(0.3)
                try:
                    rps[c].append(wrk(nginx.port, SECONDS)["rps"])
                finally:
                    if agent:
                        agent.stop()
            print(f"round {r + 1}: " + ", ".join(f"{c} {rps[c][-1]:.0f}" for c in CONFIGS),
                  file=sys.stderr)
        for c in ("idle_net", "tc", "sock", "cgempty"):
            agent = Agent(c, tmp)
            try:
                bench.bpf_stats_on()
                ns0, n0 = agent.prog_stats()
                res = wrk(nginx.port, 3)
                ns1, n1 = agent.prog_stats()
            finally:
                bench.bpf_stats_restore()
                agent.stop()
            stats[c] = ((ns1 - ns0) / max(n1 - n0, 1), (n1 - n0) / max(res["requests"], 1))
    finally:
        nginx.stop()
    med = {c: statistics.median(v) for c, v in rps.items()}
    ratio = {c: statistics.median(x / o for x, o in zip(rps[c], rps["off"])) for c in CONFIGS}
    print(f"nginx 1 KiB on loopback, wrk -t1 -c{CONNS}, {ROUNDS} rounds of {SECONDS} s "
          f"(medians; ratio: median of per-round ratios to off)\n")
    print("| configuration | requests/s | vs off | vs idle Sonde | ns per program run | "
          "runs per request |")
    print("|---|---|---|---|---|---|")
    for c in CONFIGS:
        vs_idle = statistics.median(x / i for x, i in zip(rps[c], rps["idle"]))
        ns, runs = stats.get(c, (None, None))
        print(f"| {c} | {med[c]:.0f} | {ratio[c]:.3f} | {vs_idle:.3f} | "
              f"{'' if ns is None else f'{ns:.0f}'} | {'' if runs is None else f'{runs:.2f}'} |")


if __name__ == "__main__":
    main()
