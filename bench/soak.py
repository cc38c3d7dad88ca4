#!/usr/bin/python3
"""Sonde soak test (`make soak`, not part of CI).

Runs a traced Go net/http server (tests/e2e/servers/go) under Sonde for
SOAK_SECONDS (default 1800) with:

  * load from SOAK_CLIENTS client threads at about SOAK_RPS requests/s in all,
    each opening a new connection every SOAK_CHURN requests (connection churn);
  * the traced server restarted every SOAK_RESTART_SECONDS (a new process on
    the same port: Sonde has to find it again, and let the old one go);
  * Sonde's RSS (VmRSS) sampled every SOAK_SAMPLE_SECONDS;
  * its Prometheus endpoint scraped every SOAK_SCRAPE_SECONDS, and (SOAK_OTLP=1,
    the default) spans and metrics exported over OTLP/HTTP to a sink in this
    script that answers 200 to every request, so both exporters and the
    self-metrics run all along.

Load is paused around each restart (no request is in flight when the server
goes), and resumes once Sonde logs `instrumenting pid=<new pid>`, so every
request sent should become exactly one span. At the end the requests sent are
compared with sonde_spans_total and with the per-service request count of the
duration histogram on Sonde's Prometheus endpoint, and docs/soak.md
(SOAK_REPORT) is written: RSS after warm-up vs at the end and at most, the
drift, and spans vs requests. Exit status 1 if a goal is missed (drift beyond
+-10% or spans != requests).

Run as root from the repository root after `make`.
"""
import http.client
import http.server
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build"
WORK = BUILD / "soak"
RUN = WORK / f"run-{os.getpid()}"  # this run's binaries and logs
SERVICE = "soak-go"
HIST = "http_server_request_duration_seconds_count"


def knob(name, default, conv=int):
    v = os.environ.get(name)
    return conv(v) if v not in (None, "") else default


SECONDS = knob("SOAK_SECONDS", 1800)
RESTART = knob("SOAK_RESTART_SECONDS", 300)
WARMUP = knob("SOAK_WARMUP_SECONDS", 60)
SAMPLE = knob("SOAK_SAMPLE_SECONDS", 5, float)
CLIENTS = knob("SOAK_CLIENTS", 4)
CHURN = knob("SOAK_CHURN", 5)
RPS = knob("SOAK_RPS", 400, float)
SCRAPE = knob("SOAK_SCRAPE_SECONDS", 15, float)
OTLP = knob("SOAK_OTLP", 1)
REPORT = Path(os.environ.get("SOAK_REPORT", REPO / "docs" / "soak.md"))
SONDE_SRC = Path(os.environ.get("SONDE_BIN", BUILD / "sonde"))


def log(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def scrape(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        body = resp.read().decode()
        if resp.status != 200:
            raise RuntimeError(f"/metrics answered {resp.status}")
        return body
    finally:
        conn.close()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')


def samples(text, name):
    """(labels text, value) of every sample of `name`."""
    out = []
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and m.group(1) == name:
            out.append((m.group(2) or "", float(m.group(3))))
    return out


def build_server():
    out = RUN / "soak-go-server"
    env = dict(os.environ, GOCACHE=str(WORK / "gocache"), GOPATH=str(WORK / "gopath"),
               GO111MODULE="off", GOFLAGS="", GOPROXY="off", CGO_ENABLED="0")
    subprocess.run(["go", "build", "-o", str(out), "main.go"],
                   cwd=REPO / "tests" / "e2e" / "servers" / "go", env=env, check=True)
    return out


class Server:
    def __init__(self, binary, port, generation):
        self.log_path = RUN / f"server-{generation}.log"
        with open(self.log_path, "wb") as lf:
            self.proc = subprocess.Popen([str(binary), str(port)], stdin=subprocess.DEVNULL,
                                         stdout=lf, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + 30
        while not port_accepts(port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {self.log_path.read_text()}")
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


class Sink:
    """An OTLP/HTTP endpoint that takes every request (200, an empty
    Export*ServiceResponse): counts requests and bytes per path."""

    def __init__(self):
        counts = self.counts = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                self.rfile.read(n)
                c = counts.setdefault(self.path, [0, 0])
                c[0] += 1
                c[1] += n
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


class Sonde:
    def __init__(self, binary, server_port, prom_port, otlp_port=None):
        self.log_path = RUN / "sonde.log"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SONDE_", "OTEL_", "BEYLA_"))}
        env.update(SONDE_OPEN_PORT=str(server_port), SONDE_SERVICE_NAME=SERVICE,
                   SONDE_PROMETHEUS_PORT=str(prom_port))
        if otlp_port:
            env.update(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{otlp_port}",
                       OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                       OTEL_METRIC_EXPORT_INTERVAL="10000", NO_PROXY="*", no_proxy="*")
        self.prom_port = prom_port
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(binary)], env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.logf,
                                     start_new_session=True)

    def wait_log(self, pattern, timeout):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sonde exited with {self.proc.returncode}:\n"
                                   f"{self.log_path.read_text()[-3000:]}")
            if rx.search(self.log_path.read_text(errors="replace")):
                return
            time.sleep(0.1)
        raise RuntimeError(f"timed out waiting for {pattern!r} in {self.log_path}")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.logf.close()


class Load:
    """CLIENTS threads; a new connection every CHURN requests; paced to RPS.
    pause()/resume() hold every thread between requests (none in flight)."""

    PATHS = ["/api/orders", "/api/items/{n}", "/api/health", "/api/fail?status=500",
             "/users/{n}/cart"]

    def __init__(self, port):
        self.port = port
        self.ok = [0] * CLIENTS          # requests answered (any status)
        self.errors = [0] * CLIENTS      # requests that got no answer
        self.connections = [0] * CLIENTS
        self.stop_flag = False
        self.gate = threading.Event()
        self.gate.set()
        self.idle = [threading.Event() for _ in range(CLIENTS)]
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()

    def pause(self):
        self.gate.clear()
        for ev in self.idle:
            ev.wait(30)

    def resume(self):
        for ev in self.idle:
            ev.clear()
        self.gate.set()

    def finish(self):
        self.stop_flag = True
        self.gate.set()
        for t in self.threads:
            t.join(30)

    def run(self, i):
        interval = CLIENTS / RPS
        nxt = time.monotonic()
        n = 0
        conn = None
        while not self.stop_flag:
            if not self.gate.is_set():
                if conn:
                    conn.close()
                    conn = None
                self.idle[i].set()
                self.gate.wait()
                nxt = time.monotonic()
                continue
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                self.connections[i] += 1
                used = 0
            path = self.PATHS[n % len(self.PATHS)].format(n=(n * 7 + i) % 1000)
            n += 1
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                self.ok[i] += 1
            except (OSError, http.client.HTTPException):
                self.errors[i] += 1
                conn.close()
                conn = None
                continue
            used += 1
            if used >= CHURN:
                conn.close()
                conn = None
            nxt += interval
            delay = nxt - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -1:
                nxt = time.monotonic()  # behind: do not burst to catch up
        if conn:
            conn.close()


def fmt_mib(kib):
    return f"{kib / 1024:.1f} MiB"


def main():
    if os.geteuid() != 0:
        sys.exit("soak: run as root (Sonde loads eBPF programs)")
    if not SONDE_SRC.is_file():
        sys.exit(f"soak: {SONDE_SRC} is missing: run `make`")
    RUN.mkdir(parents=True, exist_ok=True)
    # A private copy: rebuilding build/sonde during the soak does not touch it.
    sonde_bin = RUN / "sonde"
    shutil.copy2(SONDE_SRC, sonde_bin)
    version = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO,
                             capture_output=True, text=True).stdout.strip() or "unknown"
    server_bin = build_server()
    port, prom_port = free_port(), free_port()
    generation = 0
    server = Server(server_bin, port, generation)
    sink = Sink() if OTLP else None
    sonde = Sonde(sonde_bin, port, prom_port, sink.port if sink else None)
    scrapes = 0
    load = None
    rss = []  # (seconds since start, KiB)
    restarts = []  # (seconds, old pid, new pid, seconds until instrumented)
    started_wall = datetime.now(timezone.utc)
    try:
        sonde.wait_log(r"sonde: ready", 60)
        sonde.wait_log(rf"instrumenting pid={server.proc.pid}\b", 30)
        log(f"sonde pid {sonde.proc.pid} ready; server pid {server.proc.pid} on port {port}")
        load = Load(port)
        t0 = time.monotonic()
        load.start()
        next_sample = t0
        next_scrape = t0 + SCRAPE
        next_restart = t0 + RESTART
        while True:
            now = time.monotonic()
            if now - t0 >= SECONDS:
                break
            if now >= next_sample:
                rss.append((now - t0, rss_kib(sonde.proc.pid)))
                next_sample += SAMPLE
                if len(rss) % 60 == 0:
                    log(f"t={now - t0:.0f}s rss={fmt_mib(rss[-1][1])} "
                        f"requests={sum(load.ok)} errors={sum(load.errors)}")
            if now >= next_scrape:
                scrape(prom_port)
                scrapes += 1
                next_scrape += SCRAPE
            if now >= next_restart:
                load.pause()
                old = server.proc.pid
                server.stop()
                generation += 1
                r0 = time.monotonic()
                server = Server(server_bin, port, generation)
                sonde.wait_log(rf"instrumenting pid={server.proc.pid}\b", 60)
                took = time.monotonic() - r0
                restarts.append((now - t0, old, server.proc.pid, took))
                log(f"restarted server: pid {old} -> {server.proc.pid}, traced after {took:.2f}s")
                load.resume()
                next_restart += RESTART
            if sonde.proc.poll() is not None:
                raise RuntimeError(f"sonde exited with {sonde.proc.returncode}")
            time.sleep(0.05)
        load.finish()
        elapsed = time.monotonic() - t0
        # Let the last spans through the pipeline, then count.
        sent = sum(load.ok)
        deadline = time.monotonic() + 30
        while True:
            text = scrape(prom_port)
            spans = sum(v for _, v in samples(text, "sonde_spans_total"))
            hist = sum(v for lab, v in samples(text, HIST) if f'service_name="{SERVICE}"' in lab)
            if (spans >= sent and hist >= sent) or time.monotonic() > deadline:
                break
            time.sleep(1)
        instrumented = sum(v for _, v in samples(text, "sonde_instrumented_processes"))
        losses = [(lab, v) for lab, v in samples(text, "sonde_events_lost_total") if v]
        exp_sent = {lab: v for lab, v in samples(text, "sonde_export_sent_total")}
        exp_dropped = sum(v for _, v in samples(text, "sonde_export_dropped_total"))
        # Sonde's last export flushes at exit: counted after the stop below.
        final_rss = rss_kib(sonde.proc.pid)
    finally:
        if load:
            load.finish()
        server.stop()
        sonde.stop()
        if sink:
            sink.stop()

    after = [k for t, k in rss if t >= WARMUP]
    head = after[:6] or [k for _, k in rss[:6]]
    tail = [k for _, k in rss[-6:]]
    start_kib = statistics.median(head)
    end_kib = statistics.median(tail)
    max_kib = max(k for _, k in rss)
    min_after = min(after) if after else min(k for _, k in rss)
    drift = (end_kib - start_kib) / start_kib * 100
    drift_ok = abs(drift) <= 10
    spans_ok = spans == sent and hist == sent
    errors = sum(load.errors)
    conns = sum(load.connections)

    lines = [
        "# Soak test",
        "",
        f"`make soak` ({Path(__file__).relative_to(REPO)}): {elapsed / 60:.1f} minutes on "
        f"{started_wall:%Y-%m-%d %H:%M} UTC, Sonde `{version}`, kernel {os.uname().release}, "
        f"{os.cpu_count()} CPUs (shared with other work while it ran).",
        "",
        f"Load: {CLIENTS} client threads, ~{RPS:g} requests/s in all, a new connection every "
        f"{CHURN} requests; the traced server (Go net/http, tests/e2e/servers/go) restarted "
        f"every {RESTART} s as a new process on the same port. Sonde's RSS (VmRSS) sampled "
        f"every {SAMPLE:g} s; the first {WARMUP} s are warm-up. Prometheus endpoint scraped "
        f"every {SCRAPE:g} s" + (", spans and metrics (10 s interval) exported over OTLP/HTTP "
                                 "to a sink that accepts everything." if OTLP else "."),
        "",
        "## Figures",
        "",
        "| | |",
        "|---|---|",
        f"| RSS after warm-up (median of the first 6 samples after {WARMUP} s) | "
        f"{fmt_mib(start_kib)} |",
        f"| RSS at the end (median of the last 6 samples) | {fmt_mib(end_kib)} |",
        f"| RSS max / min after warm-up | {fmt_mib(max_kib)} / {fmt_mib(min_after)} |",
        f"| RSS at exit of the load | {fmt_mib(final_rss)} |",
        f"| **Drift** (end vs after warm-up; goal within ±10%) | **{drift:+.2f}%** "
        f"({'met' if drift_ok else 'MISSED'}) |",
        f"| Requests answered | {sent} |",
        f"| Requests without an answer (not counted) | {errors} |",
        f"| Connections opened | {conns} |",
        f"| `sonde_spans_total` | {spans:.0f} |",
        f"| `{HIST}{{service_name=\"{SERVICE}\"}}` (sum) | {hist:.0f} |",
        f"| **Spans == requests** | **{'yes' if spans_ok else 'NO'}** "
        f"(spans − requests = {spans - sent:+.0f}) |",
        f"| Server processes traced (restarts + 1) | {len(restarts) + 1} |",
        f"| `sonde_instrumented_processes` at the end | {instrumented:.0f} |",
        f"| Prometheus scrapes during the run (every {SCRAPE:g} s) | {scrapes} |",
    ]
    if sink:
        lines += [
            f"| OTLP requests taken by the sink (traces / metrics) | "
            f"{sink.counts.get('/v1/traces', [0])[0]} / {sink.counts.get('/v1/metrics', [0])[0]} |",
            f"| `sonde_export_sent_total` at the end | "
            f"{', '.join(f'{{{k}}} {v:.0f}' for k, v in exp_sent.items())} |",
            f"| `sonde_export_dropped_total` (sum) at the end | {exp_dropped:.0f} |",
        ]
    lines += [
        f"| Nonzero `sonde_events_lost_total` | "
        f"{', '.join(f'{{{lab}}} {v:.0f}' for lab, v in losses) or 'none'} |",
        "",
        "## Restarts",
        "",
        "| at (s) | old pid | new pid | traced after (s) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {t:.0f} | {a} | {b} | {d:.2f} |" for t, a, b, d in restarts]
    lines += ["", "## RSS over time (one sample a minute)", "", "| t (s) | RSS |", "|---|---|"]
    per_min = max(1, int(round(60 / SAMPLE)))
    lines += [f"| {t:.0f} | {fmt_mib(k)} |" for t, k in rss[::per_min]]
    lines += [f"| {rss[-1][0]:.0f} | {fmt_mib(rss[-1][1])} |", ""]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines))
    with open(RUN / "rss.csv", "w") as f:
        f.write("seconds,rss_kib\n")
        f.writelines(f"{t:.1f},{k}\n" for t, k in rss)
    log(f"drift {drift:+.2f}%, requests {sent}, spans {spans:.0f}, histogram {hist:.0f}; "
        f"report in {REPORT}")
    return 0 if drift_ok and spans_ok else 1


if __name__ == "__main__":
    sys.exit(main())
