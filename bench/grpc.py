#!/usr/bin/env python3
"""gRPC unary benchmark (issue 13): a grpc-go server under a grpc-go load
client (tests/e2e/servers/grpc/go, the peer of the end-to-end tests), with
Sonde not running and Sonde tracing the server, alternated in rounds; the
throughput ratio, Sonde's CPU per call, spans against calls and lost events.

Run by bench/run.sh after bench/bench.py (`make bench`); writes its section
of docs/benchmarks.md between the markers below (BENCH_REPORT as bench.py,
"-" for stdout only). Knobs: BENCH_PAIRS (8), BENCH_SECONDS (5),
BENCH_GRPC_CONCURRENCY (32: calls in flight, all on one HTTP/2 connection).
Standard library only. It reports; it does not judge, except the spans.
"""
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEER_DIR = REPO / "tests" / "e2e" / "servers" / "grpc" / "go"
SONDE = REPO / "build" / "sonde"
BEGIN = "<!-- grpc-bench:begin -->"
END = "<!-- grpc-bench:end -->"
procs = []


def env_int(name, default):
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def spawn(cmd, log, env=None):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(log, "w"), env=env,
                         start_new_session=True, text=True)
    procs.append(p)
    return p


def stop(p):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def scrape(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    def total(name, cond=""):
        return sum(float(m.group(1)) for m in re.finditer(
            rf"^{name}(?:{{[^}}]*{cond}[^}}]*}})? ([0-9.e+]+)$", text, re.M))
    return total("sonde_spans_total"), total("sonde_events_lost_total")


def load(binary, port, conc, seconds, tmp, n):
    p = spawn(["taskset", "-c", "1", binary, "client", str(port), "load", str(conc)],
              tmp / f"load-{n}.log", env=dict(os.environ, PEER_SECONDS=str(seconds)))
    out, _ = p.communicate(timeout=seconds + 60)
    return json.loads(out.strip().splitlines()[-1])


def main():
    pairs, seconds = env_int("BENCH_PAIRS", 8), env_int("BENCH_SECONDS", 5)
    conc = env_int("BENCH_GRPC_CONCURRENCY", 32)
    tmp = Path(tempfile.mkdtemp(prefix="sonde-bench-grpc-"))
    binary = str(tmp / "grpcpeer")
    go = "/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else "go"
    subprocess.run([go, "build", "-o", binary, "."], cwd=PEER_DIR, check=True,
                   env=dict(os.environ, GOFLAGS="-mod=mod", GOPROXY="off", GOTOOLCHAIN="local"))
    port = free_port()
    server = spawn(["taskset", "-c", "0", binary, "server", str(port)], tmp / "server.log")
    wait_port(port)
    load(binary, port, conc, 1, tmp, "warmup")
    rounds = []
    for r in range(pairs):
        row = {}
        for config in (("off", "on") if r % 2 == 0 else ("on", "off")):
            sonde, prom = None, free_port()
            if config == "on":
                sonde = spawn([str(SONDE)], tmp / f"sonde-{r}.log", env=dict(
                    os.environ, SONDE_OPEN_PORT=str(port), SONDE_TRACE_PRINTER="disabled",
                    SONDE_PROMETHEUS_PORT=str(prom)))
                deadline = time.monotonic() + 60
                while "ready" not in open(tmp / f"sonde-{r}.log").read():
                    if time.monotonic() > deadline or sonde.poll() is not None:
                        raise RuntimeError(open(tmp / f"sonde-{r}.log").read())
                    time.sleep(0.1)
            c0 = cpu_ticks(sonde.pid) if sonde else 0
            res = load(binary, port, conc, seconds, tmp, f"{r}-{config}")
            row[config] = res["calls"] / res["seconds"]
            if sonde:
                row["cpu_us"] = (cpu_ticks(sonde.pid) - c0) * 1e6 / os.sysconf("SC_CLK_TCK") / max(res["calls"], 1)
                time.sleep(1.5)
                spans, lost = scrape(prom)
                row["spans"], row["calls"], row["lost"] = spans, res["calls"] + 1, lost
                stop(sonde)
        rounds.append(row)
        print(f"grpc round {r + 1}/{pairs}: {row}", file=sys.stderr)
    stop(server)
    ratio = statistics.median(r["on"] / r["off"] for r in rounds)
    off = statistics.median(r["off"] for r in rounds)
    cpu = statistics.median(r["cpu_us"] for r in rounds)
    spans_ok = all(r["calls"] <= r["spans"] <= r["calls"] + conc for r in rounds)
    lost = sum(r["lost"] for r in rounds)
    section = f"""{BEGIN}
## gRPC unary

`bench/grpc.py` (run by `make bench` after the HTTP/1 targets), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: a grpc-go server (`tests/e2e/servers/grpc/go`, raw-bytes codec, 100-byte messages) on CPU 0, the grpc-go load client of the same program on CPU 1 with {conc} calls in flight on one HTTP/2 connection, {pairs} rounds of {seconds}s per configuration, *Sonde not running* and *Sonde tracing the server* (`SONDE_OPEN_PORT`, `SONDE_TRACE_PRINTER=disabled`, Prometheus on) alternated in each round; medians over the rounds, the ratio taken within a round.

| target | calls/s, Sonde not running | throughput ratio, Sonde tracing | Sonde's own CPU, µs/call | spans = calls (each round) | lost events |
| --- | ---: | ---: | ---: | --- | ---: |
| grpc-go unary | {off:.0f} | {ratio:.3f} | {cpu:.2f} | {"yes" if spans_ok else "**no**"} | {lost:.0f} |
{END}
"""
    print(section)
    report = os.environ.get("BENCH_REPORT", str(REPO / "docs" / "benchmarks.md"))
    if report != "-":
        path = Path(report)
        text = path.read_text() if path.exists() else ""
        if BEGIN in text and END in text:
            text = text[:text.index(BEGIN)] + section.strip() + text[text.index(END) + len(END):]
        else:
            text = text.rstrip() + "\n\n" + section
        path.write_text(text)
    return 0 if spans_ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        for p in procs:
            stop(p)
