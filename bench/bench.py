#!/usr/bin/python3
"""Sonde overhead benchmark (run by bench/run.sh, i.e. `make bench`).

For each target server (nginx serving a 1 KiB static file, a Go net/http
hello world, go-client: a Go front that calls a Go hello downstream once
per request, bench/relay/main.go, traced on both ports, and nginx-tls: the
nginx target over HTTPS, where Sonde adds its OpenSSL uprobes, and go-tls: a Go
net/http server over crypto/tls, where it adds its Go TLS uprobes) it runs BENCH_PAIRS
rounds; each round measures, with wrk on loopback, in an order rotated from
round to round:

  off       Sonde not running
  idle      Sonde running, attached, selecting no process (SONDE_OPEN_PORT=1)
  traced    Sonde running and selecting the server's port
  traced_net  the same with network flow metrics on (SONDE_NETWORK_METRICS=true:
            TCP from the sockets' counts, UDP by the cgroup_skb programs of
            bpf/netflow.bpf.c, which run for every packet)
  traced_tcp  the same with network flow metrics on TCP only
            (SONDE_NETWORK_PROTOCOLS=TCP: nothing runs per packet)
  min_sys   the minimal reference agent (bench/minimal/) on tp_btf/sys_exit
  min_sock  the minimal reference agent on tp_btf/sock_{recv,send}_length

A round in which other processes used more than BENCH_MAX_OTHER_CPU % of a
CPU during one of its runs is dropped and replaced (up to BENCH_EXTRA_ROUNDS
more rounds). Sonde's hook (sys_exit or socket hooks) is read from its
programs' names; Sonde is judged against the minimal agent on that hook. It
reports medians over the kept rounds as Markdown, on stdout and in
docs/benchmarks.md. Standard library only. It reports; it does not judge
the exit status: that is non-zero only when something could not run.

Environment: BENCH_PAIRS (8), BENCH_SECONDS (5), BENCH_MAX_OTHER_CPU (10),
BENCH_EXTRA_ROUNDS (2), BENCH_CONNECTIONS (32),
BENCH_THREADS (1), BENCH_WARMUP (2, seconds of unrecorded load per target),
BENCH_TARGETS (nginx,go,go-client,nginx-tls,go-tls), BENCH_BPF_SECONDS (3: seconds of each
unmeasured run with kernel.bpf_stats_enabled=1 after a target's rounds; 0
skips it), BENCH_SONDE_CPU (unset: Sonde unpinned; a CPU list pins it and the
minimal agent, for diagnosis), BENCH_REPORT (docs/benchmarks.md; "-" for stdout
only), BENCH_QUIET_BUDGET (60: seconds, in all, to wait before runs for a
Sonde this benchmark did not start to exit), BENCH_KEEP=1 keeps the temp dir,
SONDE_BIN (build/sonde).
"""
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

START_TIMEOUT = 30.0      # server or Sonde to come up
STOP_TIMEOUT = 10.0       # SIGTERM -> exit, then SIGKILL
SETTLE = 0.3              # pause between a start and the load
SPAN_SETTLE_TIMEOUT = 5.0  # Sonde's counters to stop moving after a run
RSS_SAMPLE = 0.2          # seconds between VmRSS samples
FOREIGN_SAMPLE_TICKS = 5  # other processes' CPU sampled every 5 RSS samples (1 s)
QUIET_WAIT = 10.0         # longest wait, before one run, for a foreign Sonde to go
LINK_SEQ_REQUESTS = 200   # link check: requests one at a time
LINK_SECONDS = 2          # link check: seconds of wrk load
LINK_SETTLE_TIMEOUT = 10.0  # link check: longest wait for the spans (SONDE_LINK_WAIT is 5 s)

DEFAULT_TARGETS = "nginx,go,go-client,nginx-tls,go-tls"
CONFIGS = ("off", "idle", "traced", "traced_net", "traced_tcp", "min_sys", "min_sock")
AGENT_CONFIGS = ("idle", "traced", "traced_net", "traced_tcp", "min_sys",
                 "min_sock")  # an agent is running
# Network metrics of the configs that have them: all transports, or TCP only.
NETWORK = {"traced_net": "all", "traced_tcp": "tcp"}
CONFIG_LABEL = {
    "off": "Sonde not running",
    "idle": "Sonde attached, no process matched",
    "traced": "Sonde tracing the server",
    "traced_net": "Sonde tracing + network metrics",
    "traced_tcp": "Sonde tracing + network metrics, TCP only",
    "min_sys": "minimal agent on sys_exit",
    "min_sock": "minimal agent on socket hooks",
}
# The minimal reference agent (bench/minimal/): its two hooks, by config.
MIN_HOOK = {"min_sys": "sys_exit", "min_sock": "sock"}
# The data hooks an agent's programs may be on, named after their
# tracepoints; "sys" and "sock" name the two kinds.
HOOK_PROGS = {"sys": ("sys_exit",), "sock": ("sock_recv_length", "sock_send_length")}
HOOK_LABEL = {"sys": "sys_exit", "sock": "socket hooks"}
HOOK_MIN_CONFIG = {"sys": "min_sys", "sock": "min_sock"}
# perf tracepoint counting, in the server, the runs of a program on that hook.
HOOK_PERF_EVENT = {"sys_exit": "raw_syscalls:sys_exit",
                   "sock_recv_length": "sock:sock_recv_length",
                   "sock_send_length": "sock:sock_send_length"}
# Diagnosis only: pin Sonde (taskset -c LIST) instead of leaving it unpinned.
SONDE_CPU = os.environ.get("BENCH_SONDE_CPU", "")
# Issue 9's bar.
BAR_RATIO = 0.90          # Sonde's throughput ratio, traced / not running
BAR_VS_MIN = 0.02         # ... and not below the minimal agent on its hook minus this
BAR_SONDE_US = 2.0        # Sonde's own CPU per request
BAR_RSS_MIB = 30.0        # Sonde's RSS
BAR_FLOOR_NS = 10.0       # getppid() with Sonde attached vs nothing attached


def full_prog_name(name):
    """A program name as the kernel keeps it is cut at 15 characters: the
    tracepoint it abbreviates, for our hook programs."""
    for progs in HOOK_PROGS.values():
        for tp in progs:
            if name == tp or (len(name) == 15 and tp.startswith(name)):
                return tp
    return name


def hook_of(names):
    """'sock', 'sys' or None: which data hook a set of program names is on."""
    full = {full_prog_name(n) for n in names}
    for hook in ("sock", "sys"):
        if full & set(HOOK_PROGS[hook]):
            return hook
    return None


def hook_progs(names):
    """The data-hook programs among names (full names), in a stable order."""
    full = [full_prog_name(n) for n in names]
    return [tp for h in ("sys", "sock") for tp in HOOK_PROGS[h] if tp in full]


class BenchError(Exception):
    """Something could not run: the benchmark exits non-zero."""


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def env_int(name, default, minimum=1):
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        val = int(raw)
    except ValueError:
        raise BenchError(f"{name}={raw!r} is not an integer")
    if val < minimum:
        raise BenchError(f"{name} must be at least {minimum}")
    return val


# --------------------------------------------------------------------------
# Processes: everything started is in its own session and is killed, group
# and all, by stop() or, whatever happened, by cleanup().
# --------------------------------------------------------------------------

_LIVE = []


def spawn(cmd, log_path, env=None, cwd=None):
    with open(log_path, "ab") as logf:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True)
    _LIVE.append(proc)
    return proc


def stop(proc, timeout=STOP_TIMEOUT):
    """SIGTERM the process group, wait, SIGKILL it if need be."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(f"pid {proc.pid} ignored SIGTERM for {timeout:.0f}s: SIGKILL")
    # Anything left in the group (nginx workers, say) goes too.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    if proc in _LIVE:
        _LIVE.remove(proc)


def cleanup():
    for proc in list(reversed(_LIVE)):
        stop(proc, timeout=5.0)
    bpf_stats_restore()


def _on_signal(signum, frame):
    log(f"stopped by signal {signum}: cleaning up")
    raise SystemExit(128 + signum)


# --------------------------------------------------------------------------
# /proc
# --------------------------------------------------------------------------

def proc_cpu_ticks(pid):
    """utime + stime of a whole process (all its threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def proc_status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def descendants(pid):
    """pid and every process below it."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            pass
    return sorted(set(out))


def cpu_of(pids):
    return sum(proc_cpu_ticks(p) for p in pids)


def all_procs():
    """{pid: (cpu ticks, comm, start time)} for every process on the machine.
    The start time tells a reused pid; the comm does not (a kernel worker's
    comm names the work queue it is running, and changes from run to run)."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                data = f.read()
        except OSError:
            continue
        head, _, rest = data.rpartition(")")
        fields = rest.split()
        try:
            out[int(d)] = (int(fields[11]) + int(fields[12]), head.split("(", 1)[1],
                           int(fields[19]))
        except (IndexError, ValueError):
            continue
    return out


def machine_stat():
    """From /proc/stat: machine-wide steal ticks, per-CPU (busy, total)
    ticks, and the count of processes created since boot."""
    out = {"steal": 0, "cpus": {}, "forks": 0}
    try:
        with open("/proc/stat") as f:
            for line in f:
                fields = line.split()
                if not fields:
                    continue
                if fields[0] == "cpu":
                    out["steal"] = int(fields[8])
                elif fields[0].startswith("cpu"):
                    ticks = [int(x) for x in fields[1:9]]
                    idle = ticks[3] + ticks[4]
                    out["cpus"][int(fields[0][3:])] = (sum(ticks) - idle, sum(ticks))
                elif fields[0] == "processes":
                    out["forks"] = int(fields[1])
    except (OSError, IndexError, ValueError):
        pass
    return out


def foreign_sondes(ours):
    """Pids of Sonde processes this benchmark did not start. Not the
    exited ones waiting to be reaped (the child a Sonde leaves to detach
    its probes ends as a zombie of init's, which reaps at its own pace):
    they hold no probe and use no CPU."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in ours:
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                head, _, rest = f.read().rpartition(")")
            if head.split("(", 1)[1] == "sonde" and rest.split()[0] not in ("Z", "X"):
                found.append(int(d))
        except (OSError, IndexError):
            continue
    return found


# --------------------------------------------------------------------------
# Network helpers
# --------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def http_get(port, path, timeout=2.0, scheme="http"):
    # The benchmark's HTTPS server has a certificate made for the run: not verified.
    ctx = ssl._create_unverified_context() if scheme == "https" else None
    with urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}{path}", timeout=timeout,
                                context=ctx) as r:
        return r.status, r.read()


# --------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------

NGINX_CONF = """\
# Generated by bench/bench.py.
daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/client_body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 60s;
    keepalive_requests 10000000;

    server {{
        listen 127.0.0.1:{port};
        root {prefix}/www;
    }}
}}
"""


class Target:
    name = ""
    title = ""
    path = "/"
    scheme = "http"
    # Spans Sonde should produce per request wrk completes (server spans of
    # every selected process on the request's path, plus client spans).
    spans_per_request = 1

    def __init__(self, tmp, cpu):
        self.tmp = tmp
        self.cpu = cpu
        self.port = None
        self.proc = None
        self.procs = []  # (label, Popen, log path) of every process started

    def command(self):
        raise NotImplementedError

    @property
    def sonde_ports(self):
        """SONDE_OPEN_PORT when tracing: every port of the target."""
        return str(self.port)

    @property
    def port_note(self):
        return f"Port {self.port}"

    def launch(self, label, cmd, port):
        """Start one server process (pinned) and wait until it accepts on port."""
        if self.cpu is not None:
            cmd = ["taskset", "-c", str(self.cpu)] + cmd
        log_path = self.tmp / f"{label}.log"
        proc = spawn(cmd, log_path, env=server_env())
        self.procs.append((label, proc, log_path))
        deadline = time.monotonic() + START_TIMEOUT
        while not port_accepts(port):
            if proc.poll() is not None:
                raise BenchError(f"{label} exited ({proc.returncode}) at start; "
                                 f"see {log_path}")
            if time.monotonic() > deadline:
                raise BenchError(f"{label} did not listen on {port} in "
                                 f"{START_TIMEOUT:.0f}s; see {log_path}")
            time.sleep(0.05)
        return proc, log_path

    def start(self):
        self.port = free_port()
        self.proc, self.log_path = self.launch(self.name, self.command(), self.port)
        self.check_answer()
        time.sleep(0.2)  # nginx: let the worker finish starting
        self.pids = descendants(self.proc.pid)

    def check_answer(self):
        status, body = http_get(self.port, self.path, scheme=self.scheme)
        if status != 200:
            raise BenchError(f"{self.name}: GET {self.path} answered {status}")
        self.body_len = len(body)

    def tls_probe_args(self, sonde_bin):
        """The minimal agents' uprobe arguments on a TLS target: at the places
        Sonde puts its own (`sonde --tls-hooks` on every libssl and on the
        executable of the target's processes), programs that do the least a
        TLS-tracing agent must (bench/minimal/minimal.bpf.c). Plaintext
        targets: none. Computed once."""
        if self.scheme != "https":
            return []
        if getattr(self, "_tls_args", None) is not None:
            return self._tls_args
        files = []
        for pid in self.pids:
            try:
                files.append(os.readlink(f"/proc/{pid}/exe"))
                with open(f"/proc/{pid}/maps") as f:
                    for line in f:
                        path = line.split()[-1] if len(line.split()) >= 6 else ""
                        if re.search(r"/libssl[^/]*\.so", path):
                            files.append(path)
            except OSError:
                continue
        args = []
        for path in dict.fromkeys(files):
            res = subprocess.run([str(sonde_bin), "--tls-hooks", path], capture_output=True,
                                 text=True, timeout=120)
            for line in res.stdout.splitlines():
                lib, func, off, role = line.split("\t")[:4]
                if lib == "openssl":
                    back = "tls_read_return" if "read" in func else "tls_write_return"
                    args += ["--uprobe", "tls_enter", path, off, "--uretprobe", back, path, off]
                elif role == "copy":
                    args += ["--uprobe", "go_read_copy", path, off]
                elif role == "entry" and func.endswith("Write"):
                    args += ["--uprobe", "go_write_entry", path, off]
                else:
                    args += ["--uprobe", "go_noop", path, off]
        if not args:
            raise BenchError(f"{self.name}: sonde --tls-hooks found no TLS hook point in "
                             f"{', '.join(dict.fromkeys(files))}")
        self._tls_args = args
        return args

    def dead(self):
        """(label, log path) of a process of the target that has exited, or None."""
        for label, proc, log_path in self.procs:
            if proc.poll() is not None:
                return label, log_path
        return None

    def stop(self):
        for _, proc, _ in reversed(self.procs):
            stop(proc)
        self.procs = []
        self.proc = None


class Nginx(Target):
    name = "nginx"
    path = "/file-1k.bin"

    def __init__(self, tmp, cpu):
        super().__init__(tmp, cpu)
        self.title = "nginx, 1 KiB static file (sendfile on, worker_processes 1)"

    def command(self):
        prefix = self.tmp / "nginx"
        (prefix / "tmp").mkdir(parents=True, exist_ok=True)
        (prefix / "www").mkdir(exist_ok=True)
        # Workers run as nobody: everything they read must be world-readable.
        for p in (prefix, prefix / "tmp", prefix / "www"):
            os.chmod(p, 0o755)
        f = prefix / "www" / "file-1k.bin"
        f.write_bytes(bytes(range(256)) * 4)
        os.chmod(f, 0o644)
        conf = prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(prefix=prefix, port=self.port))
        return ["nginx", "-p", str(prefix), "-e", str(prefix / "error.log"),
                "-c", str(conf)]


NGINX_TLS_SERVER = """\
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {prefix}/cert.pem;
        ssl_certificate_key {prefix}/key.pem;
        root {prefix}/www;
    }}
"""


class NginxTls(Nginx):
    """nginx with TLS (OpenSSL, libssl.so.3): the same 1 KiB file over HTTPS,
    keep-alive, so the handshakes are done once per connection in the
    warm-up and the runs measure TLS records. Sonde's cost here adds its
    OpenSSL uprobes: one uprobe pair per SSL_read and SSL_write call (see
    the uprobe cost below)."""
    name = "nginx-tls"
    scheme = "https"

    def __init__(self, tmp, cpu):
        super().__init__(tmp, cpu)
        self.title = ("nginx with TLS, 1 KiB static file over HTTPS (TLS 1.3, keep-alive, "
                      "worker_processes 1)")

    def command(self):
        cmd = super().command()
        prefix = self.tmp / "nginx"
        if not (prefix / "cert.pem").exists():
            res = subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-keyout", str(prefix / "key.pem"), "-out", str(prefix / "cert.pem"),
                 "-subj", "/CN=127.0.0.1"], capture_output=True, text=True, timeout=60)
            if res.returncode != 0:
                raise BenchError(f"openssl req failed: {res.stderr}")
            for f in ("key.pem", "cert.pem"):
                os.chmod(prefix / f, 0o644)
        conf = prefix / "nginx.conf"
        text = conf.read_text()
        start = text.index("    server {")
        end = text.index("    }", start) + len("    }\n")
        conf.write_text(text[:start] + NGINX_TLS_SERVER.format(prefix=prefix, port=self.port)
                        + text[end:])
        return cmd


def go_build(tmp, src_dir, out_name):
    """`go build` of one main.go, standard library only (GO111MODULE=off), with
    GOCACHE and GOPATH in the temp dir. Returns the binary's path."""
    gotmp = tmp / "go"
    gotmp.mkdir(exist_ok=True)
    binary = gotmp / out_name
    env = dict(server_env(), GOCACHE=str(gotmp / "cache"), GOPATH=str(gotmp / "path"),
               GO111MODULE="off", GOFLAGS="", GOPROXY="off", CGO_ENABLED="0",
               GOTOOLCHAIN="local")
    t0 = time.monotonic()
    res = subprocess.run(["go", "build", "-o", str(binary), "main.go"],
                         cwd=src_dir, env=env, capture_output=True,
                         text=True, timeout=300)
    if res.returncode != 0:
        raise BenchError(f"go build of {src_dir} failed:\n{res.stdout}{res.stderr}")
    log(f"built {src_dir.relative_to(REPO)} in {time.monotonic() - t0:.1f}s")
    return binary


class GoHello(Target):
    name = "go"
    path = "/"

    def __init__(self, tmp, cpu):
        super().__init__(tmp, cpu)
        self.title = "Go net/http hello world"
        self.binary = None

    def command(self):
        if self.binary is None:
            self.binary = go_build(self.tmp, BENCH_DIR / "hello", "hello")
        return [str(self.binary), f"127.0.0.1:{self.port}"]


class GoTls(Target):
    """A Go net/http server over TLS (crypto/tls, ListenAndServeTLS, the
    stripped build of tests/e2e/servers/gotls by `make`): Sonde adds its Go
    TLS uprobes (src/probes_gotls.c): per request, two Reads (entry and copy)
    and one Write (entry), each on an instruction the kernel emulates."""
    name = "go-tls"
    path = "/"
    scheme = "https"

    def __init__(self, tmp, cpu):
        super().__init__(tmp, cpu)
        self.title = "Go net/http over TLS (crypto/tls, stripped), 2-byte answer, keep-alive"

    def command(self):
        binary = REPO / "build" / "gobin" / "gotls-1.26-stripped"
        if not binary.exists():
            res = subprocess.run(["make", "-s", "build/gobin/gotls-1.26-stripped"], cwd=REPO,
                                 capture_output=True, text=True, timeout=600)
            if res.returncode != 0:
                raise BenchError(f"building the Go TLS server failed:\n{res.stderr}")
        d = self.tmp / "gotls"
        d.mkdir(exist_ok=True)
        if not (d / "cert.pem").exists():
            res = subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"),
                 "-subj", "/CN=127.0.0.1"], capture_output=True, text=True, timeout=60)
            if res.returncode != 0:
                raise BenchError(f"openssl req failed: {res.stderr}")
        return [str(binary), "server", str(self.port), str(d / "cert.pem"), str(d / "key.pem")]


class GoClient(Target):
    """Client-heavy: a Go front that, for every request, calls a Go hello
    downstream through a keep-alive http.Client, then answers. Sonde selects
    both ports: each request is a front server span, a front client span and
    the downstream's server span."""
    name = "go-client"
    path = "/"
    spans_per_request = 3

    def __init__(self, tmp, cpu, conns):
        super().__init__(tmp, cpu)
        # One idle pooled connection per concurrent request at least: no
        # connection is opened or closed during the run once warm.
        self.idle = max(64, 2 * conns)
        self.title = ("Go net/http front calling a Go hello downstream (client-heavy: "
                      "one keep-alive http.Client call per request)")
        self.relay_bin = None
        self.hello_bin = None
        self.down_port = None

    @property
    def sonde_ports(self):
        return f"{self.port},{self.down_port}"

    @property
    def port_note(self):
        return f"Ports {self.port} (front), {self.down_port} (downstream)"

    def start(self):
        if self.relay_bin is None:
            self.hello_bin = go_build(self.tmp, BENCH_DIR / "hello", "hello")
            self.relay_bin = go_build(self.tmp, BENCH_DIR / "relay", "relay")
        self.down_port = free_port()
        self.down_proc, _ = self.launch(
            "go-client-downstream", [str(self.hello_bin), f"127.0.0.1:{self.down_port}"],
            self.down_port)
        self.port = free_port()
        self.proc, self.log_path = self.launch(
            "go-client-front", [str(self.relay_bin), "-idle", str(self.idle),
                                f"127.0.0.1:{self.port}",
                                f"http://127.0.0.1:{self.down_port}"], self.port)
        self.check_answer()
        self.pids = sorted(set(descendants(self.proc.pid)) | set(descendants(self.down_proc.pid)))


def server_env():
    return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}


# --------------------------------------------------------------------------
# Sonde
# --------------------------------------------------------------------------

class Sonde:
    def __init__(self, binary, tmp, open_port, tag, printer="disabled", network=False):
        self.binary = binary
        self.prom_port = free_port()
        self.log_path = tmp / f"sonde-{tag}.log"
        env = dict(server_env(), SONDE_OPEN_PORT=str(open_port),
                   SONDE_TRACE_PRINTER=printer,
                   SONDE_PROMETHEUS_PORT=str(self.prom_port), SONDE_LOG_LEVEL="info")
        if network:
            env["SONDE_NETWORK_METRICS"] = "true"
        if network == "tcp":
            env["SONDE_NETWORK_PROTOCOLS"] = "TCP"
        cmd = [str(binary)]
        if SONDE_CPU:
            cmd = ["taskset", "-c", SONDE_CPU] + cmd
        self.proc = spawn(cmd, self.log_path, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            text = self.log_path.read_text(errors="replace")
            m = re.search(r"sonde: ready: (\d+) process", text)
            if m:
                self.instrumented = int(m.group(1))
                break
            if "sonde: ready" in text:
                self.instrumented = None
                break
            if self.proc.poll() is not None:
                raise BenchError(f"sonde exited ({self.proc.returncode}) at start:\n{text}")
            if time.monotonic() > deadline:
                raise BenchError(f"sonde not ready in {START_TIMEOUT:.0f}s; see {self.log_path}")
            time.sleep(0.05)
        deadline = time.monotonic() + START_TIMEOUT
        while not port_accepts(self.prom_port):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise BenchError(f"sonde's /metrics never answered; see {self.log_path}")
            time.sleep(0.05)
        self.max_rss_kb = 0

    @property
    def pid(self):
        return self.proc.pid

    def sample_rss(self):
        self.max_rss_kb = max(self.max_rss_kb, proc_status_kb(self.pid, "VmRSS"))

    def metrics(self):
        try:
            status, body = http_get(self.prom_port, "/metrics", timeout=5.0)
        except OSError as e:
            raise BenchError(f"sonde /metrics: {e}")
        out = {"lost": {}}
        for line in body.decode(errors="replace").splitlines():
            if line.startswith("#"):
                continue
            m = re.match(r'sonde_events_lost_total\{reason="([^"]*)"\}\s+(\S+)', line)
            if m:
                out["lost"][m.group(1)] = int(float(m.group(2)))
                continue
            m = re.match(r"(sonde_[a-z_]+)\s+(\S+)$", line)
            if m:
                out[m.group(1)] = int(float(m.group(2)))
        return out

    def settled_metrics(self):
        """/metrics once the span counter has stopped moving."""
        deadline = time.monotonic() + SPAN_SETTLE_TIMEOUT
        last, same = None, 0
        while True:
            m = self.metrics()
            key = (m.get("sonde_spans_total"), m.get("sonde_kernel_transactions_total"))
            same = same + 1 if key == last else 0
            last = key
            if same >= 2 or time.monotonic() > deadline:
                return m
            time.sleep(0.15)

    def stop(self):
        self.sample_rss()
        self.hwm_kb = proc_status_kb(self.pid, "VmHWM")
        stop(self.proc)
        if self.proc.returncode not in (0, -signal.SIGTERM):
            log(f"sonde exited {self.proc.returncode}; see {self.log_path}")


class MinimalAgent:
    """The minimal reference agent (bench/minimal/): build/bench/minimal on
    one hook ("sys_exit" or "sock"), tracing the given pids."""

    def __init__(self, hook, pids, tmp, tag, extra=()):
        self.hook = hook
        self.log_path = tmp / f"minimal-{tag}.log"
        cmd = [str(MIN_BIN), hook, str(MIN_OBJ)] + [str(p) for p in pids] + list(extra)
        if SONDE_CPU:
            cmd = ["taskset", "-c", SONDE_CPU] + cmd
        self.proc = spawn(cmd, self.log_path, env=server_env())
        deadline = time.monotonic() + START_TIMEOUT
        while "minimal: ready" not in self.log_path.read_text(errors="replace"):
            if self.proc.poll() is not None:
                raise BenchError(f"minimal agent exited ({self.proc.returncode}) at start:\n"
                                 f"{self.log_path.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise BenchError(f"minimal agent not ready in {START_TIMEOUT:.0f}s; "
                                 f"see {self.log_path}")
            time.sleep(0.05)
        self.max_rss_kb = 0
        self.records = self.heads = self.lost = None

    @property
    def pid(self):
        return self.proc.pid

    def sample_rss(self):
        self.max_rss_kb = max(self.max_rss_kb, proc_status_kb(self.pid, "VmRSS"))

    def stop(self):
        self.sample_rss()
        self.hwm_kb = proc_status_kb(self.pid, "VmHWM")
        stop(self.proc)
        text = self.log_path.read_text(errors="replace")
        m = re.search(r"minimal: records (\d+) bytes (\d+) requests (\d+) lost (\d+)", text)
        if not m:
            raise BenchError(f"minimal agent printed no counts at exit; see {self.log_path}")
        self.records, self.heads, self.lost = int(m.group(1)), int(m.group(3)), int(m.group(4))


# --------------------------------------------------------------------------
# eBPF run time (kernel.bpf_stats_enabled): what the overhead is made of
# --------------------------------------------------------------------------

BPF_STATS_SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")
_BPF_STATS_PREV = None  # the value to put back, while we have it switched on


def bpf_stats_on():
    """Switch kernel.bpf_stats_enabled on (it is machine-wide, and costs two
    clock reads per program run while on: only around one short run)."""
    global _BPF_STATS_PREV
    prev = BPF_STATS_SYSCTL.read_text().strip()
    _BPF_STATS_PREV = prev
    BPF_STATS_SYSCTL.write_text("1\n")


def bpf_stats_restore():
    global _BPF_STATS_PREV
    if _BPF_STATS_PREV is None:
        return
    try:
        BPF_STATS_SYSCTL.write_text(_BPF_STATS_PREV + "\n")
    except OSError as e:
        log(f"could not set kernel.bpf_stats_enabled back to {_BPF_STATS_PREV}: {e}")
    _BPF_STATS_PREV = None


def sonde_prog_names(pid):
    """{prog_id: name} of the eBPF programs process pid holds (its fds), names
    from bpftool."""
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                text = f.read()
        except OSError:
            continue
        m = re.search(r"^prog_id:\s+(\d+)", text, re.M)
        if m and "run_cnt" in text:
            ids.add(int(m.group(1)))
    names = {}
    if shutil.which("bpftool") is None:
        return {i: f"prog{i}" for i in ids}
    for pid_ in sorted(ids):
        r = subprocess.run(["bpftool", "-j", "prog", "show", "id", str(pid_)],
                           capture_output=True, text=True, timeout=20)
        m = re.search(r'"name":"([^"]*)"', r.stdout)
        names[pid_] = m.group(1) if m else f"prog{pid_}"
    return names


def bpf_prog_stats(pid):
    """{prog_id: (run_time_ns, run_cnt)} of the programs process pid holds."""
    out = {}
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                text = f.read()
        except OSError:
            continue
        m = re.search(r"^prog_id:\s+(\d+)", text, re.M)
        t = re.search(r"^run_time_ns:\s+(\d+)", text, re.M)
        c = re.search(r"^run_cnt:\s+(\d+)", text, re.M)
        if m and t and c:
            out[int(m.group(1))] = (int(t.group(1)), int(c.group(1)))
    return out


# --------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------

LAT_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}


def parse_wrk(text):
    res = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise BenchError(f"cannot read wrk's output:\n{text}")
    res["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    res["rps"] = float(m.group(1)) if m else 0.0
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        res[f"p{pct}_us"] = float(m.group(1)) * LAT_UNITS[m.group(2)] if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    res["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    res["non2xx"] = int(m.group(1)) if m else 0
    return res


class Runner:
    def __init__(self, sonde_bin, tmp, seconds, conns, threads, cpus, quiet_budget,
                 bpf_seconds=0):
        self.sonde_bin = sonde_bin
        self.bpf_seconds = bpf_seconds
        self.tmp = tmp
        self.seconds = seconds
        self.conns = conns
        self.threads = threads
        self.cpus = cpus
        self.nrun = 0
        self.quiet_budget = float(quiet_budget)
        self.quiet_waited = 0.0
        self.waited_on = set()
        self.sonde_names = None  # Sonde's eBPF program names, once seen
        self.sonde_hook = None   # "sys" or "sock", from those names

    def wrk(self, target, seconds, agent=None, script=None, hooks=None):
        """One wrk run against target. agent: the Sonde or minimal agent
        running (its CPU and RSS are measured). script: a wrk Lua script (the
        link check's unique paths). hooks: (before, after) called right before
        wrk starts and right after it exits (the eBPF profile)."""
        cmd = ["wrk", f"-t{self.threads}", f"-c{self.conns}", f"-d{seconds}s", "--latency"]
        if script:
            cmd += ["-s", str(script)]
        cmd.append(f"{target.scheme}://127.0.0.1:{target.port}{target.path}")
        if self.cpus[1] is not None:
            cmd = ["taskset", "-c", str(self.cpus[1])] + cmd
        self.nrun += 1
        out_path = self.tmp / f"wrk-{self.nrun}.out"
        pids = target.pids
        ours = set(pids) | {os.getpid()} | ({agent.pid} if agent else set())
        others = self.wait_quiet(ours)
        snap0 = all_procs()
        latest = dict(snap0)
        mstat0 = machine_stat()
        srv0 = cpu_of(pids)
        son0 = proc_cpu_ticks(agent.pid) if agent else 0
        if hooks:
            hooks[0]()
        t0 = time.monotonic()
        proc = spawn(cmd, out_path, env=server_env())
        ours.add(proc.pid)
        tick = 0
        while True:
            if agent:
                agent.sample_rss()
            tick += 1
            if tick % FOREIGN_SAMPLE_TICKS == 0:
                # Other processes' CPU, sampled during the run too, so that
                # those that start and end within it are seen.
                latest.update(all_procs())
                others |= set(foreign_sondes(ours))
            try:
                proc.wait(timeout=RSS_SAMPLE)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() - t0 > seconds + 60:
                    stop(proc)
                    raise BenchError(f"wrk did not finish; see {out_path}")
        if hooks:
            hooks[1]()
        srv1 = cpu_of(pids)
        son1 = proc_cpu_ticks(agent.pid) if agent else 0
        wall = time.monotonic() - t0
        mstat1 = machine_stat()
        snap1 = all_procs()
        latest.update(snap1)
        others |= set(foreign_sondes(ours))
        _LIVE.remove(proc)
        text = out_path.read_text(errors="replace")
        if proc.returncode != 0:
            raise BenchError(f"wrk exited {proc.returncode}:\n{text}")
        dead = target.dead()
        if dead:
            raise BenchError(f"{dead[0]} died during the run; see {dead[1]}")
        res = parse_wrk(text)
        if res["requests"] == 0:
            raise BenchError(f"wrk completed no request:\n{text}")
        res["wall_s"] = wall
        res["server_cpu_s"] = (srv1 - srv0) / CLK_TCK
        res["agent_cpu_s"] = (son1 - son0) / CLK_TCK if agent else None
        res["server_us_per_req"] = res["server_cpu_s"] * 1e6 / res["requests"]
        res["agent_us_per_req"] = (res["agent_cpu_s"] * 1e6 / res["requests"]
                                   if agent else None)
        res["agent_cpu_pct"] = 100.0 * res["agent_cpu_s"] / wall if agent else None
        # What else ran meanwhile: CPU of every other process, from the last
        # sample in which it was seen (those that started during the run
        # count whole; only those that both started and ended between two
        # samples are missed).
        foreign = {}
        for pid, (ticks, comm, started) in latest.items():
            if pid in ours:
                continue
            before = snap0.get(pid)
            d = ticks - before[0] if before and before[2] == started else ticks
            if d > 0:
                foreign[comm] = foreign.get(comm, 0) + d
        res["foreign_cpu_pct"] = 100.0 * sum(foreign.values()) / CLK_TCK / wall
        res["foreign"] = foreign
        res["foreign_top"] = sorted(foreign.items(), key=lambda kv: -kv[1])[:3]
        res["foreign_sondes"] = len(others)
        res["steal_pct"] = 100.0 * (mstat1["steal"] - mstat0["steal"]) / CLK_TCK / wall
        res["forks_per_s"] = (mstat1["forks"] - mstat0["forks"]) / wall
        res["server_cpu_pct"] = 100.0 * res["server_cpu_s"] / wall
        for role, cpu in (("server", self.cpus[0]), ("wrk", self.cpus[1])):
            b0 = mstat0["cpus"].get(cpu)
            b1 = mstat1["cpus"].get(cpu)
            res[f"{role}_cpu_busy_pct"] = (100.0 * (b1[0] - b0[0]) / (b1[1] - b0[1])
                                           if b0 and b1 and b1[1] > b0[1] else None)
        return res

    def wait_quiet(self, ours):
        """Wait, within a budget for the whole benchmark, for Sonde processes
        we did not start (their probes fire on every process's syscalls) to
        exit. Each such process is waited for once: a long-lived one is
        then only recorded, not waited for again."""
        others = foreign_sondes(ours)
        new = [p for p in others if p not in self.waited_on]
        if not new or self.quiet_budget <= 0:
            return set(others)
        self.waited_on.update(new)
        t0 = time.monotonic()
        deadline = t0 + min(QUIET_WAIT, self.quiet_budget)
        log(f"another Sonde is running (pid {', '.join(map(str, new))}): waiting for it "
            f"to exit, at most {deadline - t0:.0f}s")
        while time.monotonic() < deadline:
            time.sleep(0.25)
            others = foreign_sondes(ours)
            if not set(others) & set(new):
                break
        self.quiet_budget -= time.monotonic() - t0
        self.quiet_waited += time.monotonic() - t0
        return set(others)

    def run_config(self, target, config, pair):
        if config == "off":
            return self.wrk(target, self.seconds)
        if config in MIN_HOOK:
            agent = MinimalAgent(MIN_HOOK[config], target.pids, self.tmp,
                                 f"{target.name}-{pair}-{config}",
                                 target.tls_probe_args(self.sonde_bin))
            try:
                time.sleep(SETTLE)
                res = self.wrk(target, self.seconds, agent)
            finally:
                agent.stop()
            res["records"] = agent.records
            res["heads"] = agent.heads
            res["lost"] = agent.lost
            res["agent_rss_kb"] = agent.max_rss_kb
            res["agent_hwm_kb"] = agent.hwm_kb
            return res
        open_port = 1 if config == "idle" else target.sonde_ports
        sonde = Sonde(self.sonde_bin, self.tmp, open_port, f"{target.name}-{pair}-{config}",
                      network=NETWORK.get(config))
        try:
            if config == "idle" and sonde.instrumented not in (0, None):
                raise BenchError(f"idle Sonde instrumented {sonde.instrumented} process(es)")
            if config in ("traced", *NETWORK) and sonde.instrumented is not None and \
                    sonde.instrumented < len(target.procs):
                raise BenchError(f"Sonde instrumented {sonde.instrumented} process(es) on "
                                 f"port(s) {target.sonde_ports}, expected at least "
                                 f"{len(target.procs)}; see {sonde.log_path}")
            time.sleep(SETTLE)
            before = sonde.metrics()
            res = self.wrk(target, self.seconds, sonde)
            after = sonde.settled_metrics()
            res["instrumented"] = sonde.instrumented
            res["spans"] = after.get("sonde_spans_total", 0) - before.get("sonde_spans_total", 0)
            res["kernel_txns"] = (after.get("sonde_kernel_transactions_total", 0)
                                  - before.get("sonde_kernel_transactions_total", 0))
            res["lost_by_reason"] = {k: v for k, v in after["lost"].items() if v}
            res["lost"] = sum(after["lost"].values())
            if self.sonde_names is None:
                # Which hook Sonde is on, from its programs' names (after
                # the measured run: bpftool is not free).
                self.sonde_names = sorted(set(sonde_prog_names(sonde.pid).values()))
                self.sonde_hook = hook_of(self.sonde_names)
                log(f"Sonde's programs: {', '.join(self.sonde_names)}; data hook: "
                    f"{HOOK_LABEL.get(self.sonde_hook, 'unknown')}")
        finally:
            sonde.stop()
        res["agent_rss_kb"] = sonde.max_rss_kb
        res["agent_hwm_kb"] = sonde.hwm_kb
        return res

    # ---- unmeasured extra runs ----------------------------------------------

    def link_check(self, target, seq_n=LINK_SEQ_REQUESTS, seconds=LINK_SECONDS):
        """Unmeasured: do the spans of one request form one trace? A Sonde that
        prints JSON spans; every request on its own path. (1) seq_n requests
        one at a time on one keep-alive connection; (2) a wrk run with the
        benchmark's connections (a Lua script numbers the paths)."""
        tag = f"lc{os.getpid()}"
        script = self.tmp / "unique-paths.lua"
        script.write_text(
            "-- Generated by bench/bench.py: every request on its own path.\n"
            "local n = 0\n"
            "request = function()\n"
            "  n = n + 1\n"
            f"  return wrk.format(nil, \"/{tag}/c/\" .. n)\n"
            "end\n")
        sonde = Sonde(self.sonde_bin, self.tmp, target.sonde_ports, f"{target.name}-links",
                      printer="json")
        out = {}
        try:
            time.sleep(SETTLE)
            conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=5.0)
            bad = 0
            for i in range(seq_n):
                conn.request("GET", f"/{tag}/s/{i}")
                r = conn.getresponse()
                r.read()
                bad += r.status != 200
            conn.close()
            if bad:
                raise BenchError(f"link check: {bad} of {seq_n} sequential requests failed")
            want = target.spans_per_request * seq_n
            self.wait_spans(sonde, want)
            res = self.wrk(target, seconds, sonde, script=script)
            out["wrk_requests"] = res["requests"]
            out["wrk_errors"] = res["socket_errors"] + res["non2xx"]
            m = self.wait_spans(sonde, want + target.spans_per_request * res["requests"])
            out["lost"] = sum(m["lost"].values())
        finally:
            sonde.stop()
        spans = []
        for line in sonde.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    spans.append(json.loads(line))
                except ValueError:
                    pass
        out["seq"] = analyze_links(spans, target, f"/{tag}/s/", seq_n)
        out["conc"] = analyze_links(spans, target, f"/{tag}/c/", None)
        out["seq_n"] = seq_n
        out["seconds"] = seconds
        log(f"{target.name} link check: sequential {out['seq']['fully_linked']}/{seq_n} "
            f"fully linked; concurrent {out['conc']['fully_linked']}/{out['conc']['n']} "
            f"(cross-process edge {out['conc']['linked_down']}/{out['conc']['n']})")
        return out

    def wait_spans(self, sonde, want, timeout=LINK_SETTLE_TIMEOUT):
        """/metrics once sonde_spans_total reached want, or stopped moving for 1 s."""
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while True:
            m = sonde.metrics()
            n = m.get("sonde_spans_total", 0)
            if n != last:
                last, since = n, time.monotonic()
            if n >= want or time.monotonic() - since > 1.0 or time.monotonic() > deadline:
                return m
            time.sleep(0.1)

    def bpf_profile(self, target, seconds):
        """Unmeasured: one short run per agent configuration with
        kernel.bpf_stats_enabled=1: run time and run count of the agent's own
        programs (from its fds' fdinfo, whatever their names), and, counted
        by perf stat in the server's processes, its syscalls and the firings
        of each data-hook tracepoint the agent's programs are on."""
        out = {}
        for config in AGENT_CONFIGS:
            if config in MIN_HOOK:
                agent = MinimalAgent(MIN_HOOK[config], target.pids, self.tmp,
                                     f"{target.name}-bpf-{config}",
                                     target.tls_probe_args(self.sonde_bin))
            else:
                open_port = 1 if config == "idle" else target.sonde_ports
                agent = Sonde(self.sonde_bin, self.tmp, open_port,
                              f"{target.name}-bpf-{config}", network=NETWORK.get(config))
            perf_out = self.tmp / f"perf-{target.name}-{config}.txt"
            st = {}
            perf = []

            def before():
                st["names"] = {k: full_prog_name(v)
                               for k, v in sonde_prog_names(agent.pid).items()}
                events = ["raw_syscalls:sys_enter"] + [
                    HOOK_PERF_EVENT[p] for p in hook_progs(st["names"].values())]
                st["events"] = events
                bpf_stats_on()
                if shutil.which("perf"):
                    cmd = ["perf", "stat", "-x,"]
                    for ev in events:
                        cmd += ["-e", ev]
                    perf.append(spawn(cmd + ["-p", ",".join(map(str, target.pids)),
                                             "-o", str(perf_out)], self.tmp / "perf.log"))
                    time.sleep(0.3)  # perf attached
                st["b0"] = bpf_prog_stats(agent.pid)

            def after():
                st["b1"] = bpf_prog_stats(agent.pid)
                bpf_stats_restore()
                for pr in perf:
                    if pr.poll() is None:
                        pr.send_signal(signal.SIGINT)
                    try:
                        pr.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        pass
                    stop(pr)

            try:
                time.sleep(SETTLE)
                res = self.wrk(target, seconds, agent, hooks=(before, after))
            finally:
                bpf_stats_restore()
                agent.stop()
            reqs = res["requests"]
            progs = {}
            for pid_, name in st["names"].items():
                t0, c0 = st["b0"].get(pid_, (0, 0))
                t1, c1 = st["b1"].get(pid_, (0, 0))
                v = progs.setdefault(name, {"ns": 0, "cnt": 0})
                v["ns"] += t1 - t0
                v["cnt"] += c1 - c0
            counts = {}
            try:
                text = perf_out.read_text()
                for ev in st["events"]:
                    m = re.search(rf"^(\d+),[^,]*,{re.escape(ev)}", text, re.M)
                    counts[ev] = int(m.group(1)) if m else None
            except OSError:
                pass
            out[config] = {"requests": reqs, "progs": progs,
                           "server_syscalls": counts.get("raw_syscalls:sys_enter"),
                           "server_events": counts,
                           "server_us_per_req": res["server_us_per_req"],
                           "rps": res["rps"]}
        log(f"{target.name} eBPF profile: " + "; ".join(
            f"{c}: " + ", ".join(f"{n} {v['cnt'] / out[c]['requests']:.1f} runs/req "
                                 f"{(v['ns'] / v['cnt']) if v['cnt'] else 0:.0f} ns/run"
                                 for n, v in sorted(out[c]["progs"].items())
                                 if n in hook_progs(out[c]["progs"]))
            for c in out))
        return out

    def bench_target(self, target, pairs, warmup, max_other, extra_rounds):
        """pairs rounds (each: every configuration once, in an order rotated
        from round to round); a round in which other processes used more
        than max_other % of a CPU during one of its runs is dropped, and
        replaced by another, up to extra_rounds more rounds."""
        log(f"{target.name}: starting the server")
        target.start()
        try:
            log(f"{target.name}: port {target.port}, pids {target.pids}, "
                f"{target.body_len}-byte body; warm-up {warmup}s")
            if warmup:
                self.wrk(target, warmup)
            rounds = []
            i = 0
            while (sum(1 for r in rounds if not r["dropped"]) < pairs
                   and i < pairs + extra_rounds):
                # Every configuration once per round; the order rotates, so
                # each comes first, last and in between as often.
                k = i % len(CONFIGS)
                order = list(CONFIGS[k:] + CONFIGS[:k])
                rnd = {"order": order, "n": i + 1}
                for config in order:
                    rnd[config] = self.run_config(target, config, i + 1)
                i += 1
                rnd["other_max"] = max(rnd[c]["foreign_cpu_pct"] for c in CONFIGS)
                rnd["dropped"] = rnd["other_max"] > max_other
                rounds.append(rnd)
                t = rnd["traced"]
                log(f"{target.name} round {i}: req/s "
                    + ", ".join(f"{c} {rnd[c]['rps']:.0f}" for c in CONFIGS)
                    + f"; spans {t['spans']} / requests {t['requests']}; lost {t['lost']}; "
                    f"other processes up to {rnd['other_max']:.0f}% CPU"
                    + (f" > {max_other:g}%: round dropped" if rnd["dropped"] else ""))
            extra = {}
            if target.spans_per_request > 1:
                extra["links"] = self.link_check(target)
            if self.bpf_seconds:
                extra["bpf"] = self.bpf_profile(target, self.bpf_seconds)
            return rounds, extra
        finally:
            target.stop()


def keep_rounds(rounds, pairs):
    """The rounds the figures are computed from: those not dropped; if fewer
    than half of pairs are left, the quietest half of pairs instead (marked)."""
    kept = [r for r in rounds if not r["dropped"]]
    need = max(1, (pairs + 1) // 2)
    if len(kept) >= need:
        return kept, False
    quiet = sorted(rounds, key=lambda r: r["other_max"])[:need]
    return sorted(quiet, key=lambda r: r["n"]), True


def analyze_links(spans, target, prefix, n):
    """The spans of the requests whose path starts with prefix, grouped by
    path (one request each): is each a front server span, a client span and
    the downstream's server span, linked into one trace?"""
    by_path = {}
    for sp in spans:
        path = sp.get("path") or ""
        if path.startswith(prefix):
            by_path.setdefault(path, []).append(sp)
    res = {"n": n if n is not None else len(by_path), "seen": len(by_path), "complete": 0,
           "linked_front": 0, "linked_down": 0, "fully_linked": 0, "wrong_parents": 0,
           "trace_mismatch": 0}
    for group in by_path.values():
        fs = [x for x in group if x.get("kind") == "server" and x.get("server_port") == target.port]
        cs = [x for x in group if x.get("kind") == "client"
              and x.get("server_port") == target.down_port]
        ds = [x for x in group if x.get("kind") == "server"
              and x.get("server_port") == target.down_port]
        if not (len(fs) == len(cs) == len(ds) == 1 and len(group) == 3):
            continue
        res["complete"] += 1
        f, c, d = fs[0], cs[0], ds[0]
        a = c.get("parent_span_id") == f.get("span_id")
        b = d.get("parent_span_id") == c.get("span_id")
        res["wrong_parents"] += (bool(f.get("parent_span_id"))
                                 + bool(c.get("parent_span_id") and not a)
                                 + bool(d.get("parent_span_id") and not b))
        res["trace_mismatch"] += ((a and c.get("trace_id") != f.get("trace_id"))
                                  + (b and d.get("trace_id") != c.get("trace_id")))
        res["linked_front"] += a
        res["linked_down"] += b
        res["fully_linked"] += a and b and f.get("trace_id") == c.get("trace_id") == d.get("trace_id")
    return res


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def f_num(x, nd=2):
    return "n/a" if x is None else f"{x:,.{nd}f}"


def f_int(x):
    return "n/a" if x is None else f"{x:,}"


def pf(ok):
    return "**PASS**" if ok else "**FAIL**"


def summarize(rounds, conns, k=1):
    """rounds: the rounds kept. k: spans expected per request wrk completes."""
    s = {"k": k}
    for c in CONFIGS:
        runs = [r[c] for r in rounds]
        s[c] = {
            "rps": med([r["rps"] for r in runs]),
            "rps_min": min(r["rps"] for r in runs),
            "rps_max": max(r["rps"] for r in runs),
            "p50": med([r["p50_us"] for r in runs]),
            "p99": med([r["p99_us"] for r in runs]),
            "server_us": med([r["server_us_per_req"] for r in runs]),
            "agent_us": med([r["agent_us_per_req"] for r in runs]),
            "errors": sum(r["socket_errors"] + r["non2xx"] for r in runs),
            "requests": sum(r["requests"] for r in runs),
            "agent_pct": med([r["agent_cpu_pct"] for r in runs]),
            "server_pct": med([r["server_cpu_pct"] for r in runs]),
            "cpu0_busy": med([r["server_cpu_busy_pct"] for r in runs]),
            "cpu1_busy": med([r["wrk_cpu_busy_pct"] for r in runs]),
            "forks_per_s": med([r["forks_per_s"] for r in runs]),
            "steal_pct": med([r["steal_pct"] for r in runs]),
            "foreign_pct": med([r["foreign_cpu_pct"] for r in runs]),
            "foreign_pct_max": max(r["foreign_cpu_pct"] for r in runs),
            "foreign_sonde_runs": sum(1 for r in runs if r["foreign_sondes"]),
        }
        if c != "off":
            # Within each round: this configuration vs Sonde not running.
            s[c]["ratios"] = [r[c]["rps"] / r["off"]["rps"] for r in rounds]
            s[c]["ratio"] = med(s[c]["ratios"])
            s[c]["extra_cpus"] = [r[c]["server_us_per_req"] - r["off"]["server_us_per_req"]
                                  for r in rounds]
            s[c]["extra_cpu"] = med(s[c]["extra_cpus"])
            s[c]["lost"] = sum(r[c].get("lost", 0) for r in rounds)
            s[c]["rss_kb"] = max(r[c]["agent_rss_kb"] for r in rounds)
            s[c]["hwm_kb"] = max(r[c]["agent_hwm_kb"] for r in rounds)
        if c in MIN_HOOK:
            s[c]["records"] = sum(r[c]["records"] for r in rounds)
            s[c]["heads"] = sum(r[c]["heads"] for r in rounds)
            s[c]["records_per_req"] = s[c]["records"] / s[c]["requests"]

    def ratio(a, b):
        return [r[a]["rps"] / r[b]["rps"] for r in rounds]

    s["ratio_traced_off"] = s["traced"]["ratios"]
    s["ratio_traced_idle"] = ratio("traced", "idle")
    s["ratio_idle_off"] = s["idle"]["ratios"]
    # Sonde tracing minus the minimal agent on each hook, within a round.
    for c in MIN_HOOK:
        s[f"vs_{c}"] = [r["traced"]["rps"] / r["off"]["rps"] - r[c]["rps"] / r["off"]["rps"]
                        for r in rounds]
    s["extra_cpu_off"] = s["traced"]["extra_cpus"]
    s["cpu_ratio"] = [r["off"]["server_us_per_req"] / r["traced"]["server_us_per_req"]
                      if r["traced"]["server_us_per_req"] else 0.0 for r in rounds]
    s["sonde_net_us"] = [r["traced"]["agent_us_per_req"] - r["idle"]["agent_us_per_req"]
                         for r in rounds]
    s["extra_cpu_idle"] = [r["traced"]["server_us_per_req"] - r["idle"]["server_us_per_req"]
                           for r in rounds]
    tr = [r["traced"] for r in rounds]
    s["spans"] = sum(r["spans"] for r in tr)
    s["kernel_txns"] = sum(r["kernel_txns"] for r in tr)
    s["requests_traced"] = sum(r["requests"] for r in tr)
    s["span_diffs"] = [r["spans"] - k * r["requests"] for r in tr]
    s["lost"] = sum(r["lost"] for r in tr)
    s["lost_idle"] = sum(r["idle"]["lost"] for r in rounds)
    reasons = {}
    for r in tr:
        for k_, v in r["lost_by_reason"].items():
            reasons[k_] = reasons.get(k_, 0) + v
    s["lost_reasons"] = reasons
    s["rss_kb"] = s["traced"]["rss_kb"]
    s["hwm_kb"] = s["traced"]["hwm_kb"]
    s["rss_idle_kb"] = s["idle"]["rss_kb"]
    s["instrumented"] = sorted({r["instrumented"] for r in tr if r["instrumented"] is not None})
    # Spread of the baseline, to say whether ratios are within noise.
    offs = [r["off"]["rps"] for r in rounds]
    s["off_spread"] = (max(offs) - min(offs)) / med(offs) if med(offs) else 0.0
    s["ratio"] = s["traced"]["ratio"]
    s["sonde_traced_us"] = s["traced"]["agent_us"]
    s["conns"] = conns
    top = {}
    for r in rounds:
        for c in CONFIGS:
            for comm, ticks in r[c]["foreign_top"]:
                top[comm] = top.get(comm, 0) + ticks
    s["foreign_top"] = [k_ for k_, _ in sorted(top.items(), key=lambda kv: -kv[1])[:5]]
    s["foreign_pct_max"] = max(s[c]["foreign_pct_max"] for c in CONFIGS)
    s["foreign_sonde_runs"] = sum(s[c]["foreign_sonde_runs"] for c in CONFIGS)
    s["steal_pct_max"] = max(r[c]["steal_pct"] for r in rounds for c in CONFIGS)
    return s


def foreign_totals(all_rounds):
    """Over every measured run (dropped rounds included): {comm: ticks} of
    the other processes, and the runs' wall time in all."""
    tot, wall = {}, 0.0
    for r in all_rounds:
        for c in CONFIGS:
            wall += r[c]["wall_s"]
            for comm, ticks in r[c]["foreign"].items():
                tot[comm] = tot.get(comm, 0) + ticks
    return tot, wall


def machine_info(sonde_bin):
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def version(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unknown"

    return {
        "kernel": platform.release(),
        "cpu": model,
        "nproc": len(os.sched_getaffinity(0)),
        "mem": proc_status_total_mem(),
        "sonde": version([str(sonde_bin), "--version"]),
        "nginx": version(["nginx", "-v"]),
        "go": version(["go", "version"]),
        "wrk": version(["wrk", "-v"]).split(" Copyright")[0],
    }


def proc_status_total_mem():
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        return f"{kb / 1048576:.1f} GiB"
    except (OSError, ValueError, IndexError):
        return "unknown"


def render(results, info, opts, started, elapsed):
    L = []
    a = L.append
    a("# Sonde benchmarks")
    a("")
    a(f"Generated by `make bench` (`bench/run.sh` → `bench/bench.py`) on "
      f"{started.strftime('%Y-%m-%d %H:%M UTC')}, in {elapsed / 60:.1f} minutes. "
      "Numbers from one machine and one run: compare runs on the same machine only.")
    a("")
    a("## Machine")
    a("")
    a(f"- Kernel: `{info['kernel']}`")
    a(f"- CPU: {info['cpu']}, nproc = {info['nproc']}; memory {info['mem']}")
    a(f"- Sonde: `{info['sonde']}`; {info['nginx']}; {info['go']}; {info['wrk']}")
    a("")
    a("## Method")
    a("")
    pin = opts["pinning"]
    a(f"- Load: `wrk -t{opts['threads']} -c{opts['conns']} -d{opts['seconds']}s --latency` on "
      "loopback (127.0.0.1), HTTP/1.1 keep-alive, saturating: wrk sends the next request "
      "as soon as a response arrives.")
    a(f"- CPU pinning: {pin}")
    a(f"- {opts['pairs']} rounds per target, all in one run of this script; each round "
      f"measures the server in {len(CONFIGS)} configurations, in an order rotated from "
      "round to round (each comes first, last and in between as often): *Sonde not "
      "running*; *Sonde attached, no process matched* (`SONDE_OPEN_PORT=1`: its probes "
      "are attached but its traced-process filter rejects everything); *Sonde tracing* "
      "(`SONDE_OPEN_PORT=<the server's port>`; go-client: `<front>,<downstream>`); the same "
      "with network metrics on (`SONDE_NETWORK_METRICS=true`: TCP from the sockets' own "
      "counts, UDP by `cgroup_skb` programs that run for every packet), and with network "
      "metrics on TCP only (`SONDE_NETWORK_PROTOCOLS=TCP`: nothing per packet); and the "
      "*minimal reference agent* (below) on `tp_btf/sys_exit` and on the socket hooks. "
      "Sonde and the minimal agent are started fresh for each of their runs (Sonde: "
      "`SONDE_TRACE_PRINTER=disabled`, Prometheus exporter on) and measured only once "
      f"they said they were ready; the server keeps running through all rounds, after a "
      f"{opts['warmup']}s unrecorded warm-up.")
    a("- Minimal reference agent (`bench/minimal/`, `build/bench/minimal HOOK OBJ PID...`): "
      "the least an HTTP-tracing agent does on each socket read and write of a traced "
      "process, for comparison with Sonde on the same hook. Its programs: a traced-process "
      "test (one bit per tgid in an array map, set at start from the server's process tree: "
      "nginx master and worker, the Go processes), then, for a read or write that moved "
      "data, one `bpf_ktime_get_ns()` and one 64-byte `bpf_probe_read_user()` of the head "
      "of the user buffer (found from the syscall's registers: `buf`, the first `iovec` of "
      "readv/writev, the first `iovec` of the `msghdr` of recvmsg/sendmsg; sendfile has no "
      "user buffer and is only timestamped); one 88-byte ring-buffer record per read that "
      "returned data (one per request a server reads and per response a client reads, so "
      "one per span under keep-alive load: its records per request are in each target's "
      "table), submitted without waking the reader unless more than 256 KiB are waiting; "
      "user space polls the ring buffer every 20 ms (`ring_buffer__poll`, then "
      "`ring_buffer__consume`) and looks at each record's head. *On sys_exit*: one program on "
      "`tp_btf/sys_exit` that runs for every syscall of every process and dispatches on "
      "the syscall number (read, readv, recvfrom, recvmsg; write, writev, sendto, sendmsg, "
      "sendfile); it does not test whether the descriptor is a socket (that costs a walk "
      "of the task's file table; the servers here read and write only sockets). *On "
      "socket hooks*: `tp_btf/sock_recv_length` and `tp_btf/sock_send_length`, which run "
      "only for socket I/O, after the data is in the user buffer; the syscall's "
      "registers come from `bpf_task_pt_regs()`. *On the TLS targets* (nginx-tls, "
      "go-tls) both minimal agents also hold uprobes where Sonde puts its own, in every "
      "traced process (the places `sonde --tls-hooks FILE` names, for each libssl the server "
      "maps and for its executable): on OpenSSL an entry uprobe that keeps the buffer "
      "pointer in task storage and a return uprobe that, when bytes moved, copies 64 bytes "
      "of plaintext and, for a read, emits the record; on Go's crypto/tls a uprobe at "
      "`Read`'s copy and at `Write`'s entry that copies the plaintext head from the "
      "registers (a record for a read), and at `Read`'s entry only the traced-process "
      "test. That is the floor of any agent that follows TLS plaintext with uprobes here, "
      "measured in the same rounds.")
    a(f"- Rounds with a busy neighbour: during every run the CPU time of every other "
      f"process is sampled from `/proc/*/stat` (every {RSS_SAMPLE * FOREIGN_SAMPLE_TICKS:g}s, "
      "and before and after). A round in which other processes used more than "
      f"{opts['max_other']}% of a CPU during any of its runs is dropped (`BENCH_MAX_OTHER_CPU`) "
      f"and replaced by another, up to {opts['extra_rounds']} more rounds per target "
      "(`BENCH_EXTRA_ROUNDS`); if fewer than half of the rounds are left, the quietest half "
      "is used instead and the conditions say so. The processes that took that CPU are "
      "listed by name below (*Other processes during the runs*).")
    if opts["quiet_waited"] > 0:
        a(f"- Before some runs the benchmark waited ({opts['quiet_waited']:.0f}s in all) for "
          "a Sonde it had not started to exit.")
    a("- Figures are medians over the rounds; a ratio or a difference is computed within "
      "a round, then the median taken.")
    a("- Throughput: wrk's `Requests/sec`. Throughput ratio = a configuration's ÷ *Sonde "
      "not running*'s, within a round; *Sonde − minimal agent* = the difference of their "
      "ratios, within a round.")
    a("- Server CPU per request: utime + stime of the server's processes (nginx master "
      "and worker; the Go process, all threads; go-client: the front and the downstream "
      "together) from `/proc/PID/stat` before and after "
      "the wrk run, divided by the requests wrk completed. The eBPF programs run in the "
      "server's syscalls, so their cost lands in its stime. *Extra* CPU = traced minus "
      f"untraced. `/proc` counts in ticks of {1000 // CLK_TCK} ms.")
    a("- Agent CPU per request: the same delta of the agent's own process (Sonde's user "
      "space: ring buffer, decoding, metrics; the minimal agent's ring-buffer loop) ÷ "
      "requests. RSS: VmRSS of the agent sampled every "
      f"{RSS_SAMPLE:g}s during its runs (max), and its VmHWM at the end.")
    a("- Lost events: the sum of all `sonde_events_lost_total{reason}` series at the end "
      "of each traced run (fresh Sonde each time), summed over the runs. Spans: "
      "`sonde_spans_total` (read once it stops moving) vs the requests wrk completed "
      "(go-client: vs 3 × requests, three spans per request). "
      "Spans may exceed that by up to the number of connections per run (× 3 for "
      "go-client): the "
      "requests still in flight when wrk stops are served (and traced) but not counted "
      "by wrk.")
    a("- nginx: `nginx -p DIR -c DIR/nginx.conf`, `daemon off`, `worker_processes 1`, "
      "`sendfile on`, `access_log off`, `keepalive_requests 10000000` (connections stay "
      "up for the whole run); serves a 1024-byte file. Go: `bench/hello/main.go`, "
      "net/http, 14-byte body, built with `GO111MODULE=off` in a temp dir.")
    if "go-client" in opts["targets"]:
        a("- go-client (client-heavy): `bench/relay/main.go`, a Go net/http front that, for "
          "each request, makes one GET to a second process, the Go hello server above "
          "(the downstream), through one shared keep-alive `http.Client` "
          f"(`MaxIdleConnsPerHost` {opts['relay_idle']}, more than wrk's connections, so the "
          "pooled connections are reused and none is opened during a run once warm), reads "
          "its answer and relays the 14-byte body. Both on CPU 0; Sonde selects both ports, so "
          "each request is three spans: the front's server span, its client span, and the "
          "downstream's server span. Server CPU, and so the extra CPU, is the front's plus "
          "the downstream's; per request means per request wrk completed (three spans).")
        a("- go-client link check (unmeasured, after the rounds): a Sonde printing JSON "
          f"spans; {LINK_SEQ_REQUESTS} requests one at a time on one keep-alive connection, "
          f"then {LINK_SECONDS}s of the same wrk load (a Lua script gives every request its "
          "own path, so the three spans of each request are found by path, independently "
          "of Sonde's links).")
    if opts["bpf_seconds"]:
        a("- eBPF profile (unmeasured, after the rounds of each target): one "
          f"{opts['bpf_seconds']}s run per agent configuration (Sonde attached with nothing "
          "matched, Sonde tracing, the minimal agent on each hook) with "
          "`kernel.bpf_stats_enabled=1` only around the wrk run (set back to its previous "
          "value, 0, right after): run time (`run_time_ns`) and runs (`run_cnt`) of the "
          "agent's own programs, whatever their names, from the `fdinfo` of its program fds; "
          "meanwhile `perf stat -p <server pids>` counts the server's syscalls "
          "(`raw_syscalls:sys_enter`) and the firings, in the server, of the tracepoint of "
          "each data-hook program (`raw_syscalls:sys_exit`, `sock:sock_recv_length`, "
          "`sock:sock_send_length`). Switching stats on adds two clock reads per program "
          "run, so the times are slight overestimates.")
    a(f"- Length: {opts['pairs']} rounds × {len(CONFIGS)} runs × {opts['seconds']}s per "
      "target plus about 2.5 s per run to start and stop the agents, the eBPF profile, the "
      "link check and the floor probe. Knobs (environment): `BENCH_PAIRS` (rounds per "
      f"target, default {DEFAULT_PAIRS}), `BENCH_SECONDS` (seconds per run, default "
      f"{DEFAULT_SECONDS}), `BENCH_MAX_OTHER_CPU` (default {DEFAULT_MAX_OTHER}: % of a CPU "
      "other processes may use in a run of a kept round), `BENCH_EXTRA_ROUNDS` (default "
      f"{DEFAULT_EXTRA_ROUNDS}: rounds that may replace dropped ones, per target), "
      "`BENCH_BPF_SECONDS` (3; 0 skips the eBPF profile), `BENCH_TARGETS`, `BENCH_WARMUP`; "
      "the defaults take about 17 minutes on a 2-CPU machine (21 if every extra round is "
      "needed). More rounds pool more "
      "cheaply than longer runs: the rounds' spread is the noise that matters.")
    a("")
    render_bar(a, results, opts)
    render_overhead(a, results)
    render_foreign(a, results, opts)
    render_floor(a, results, opts.get("floor"))
    render_uprobe(a, results, opts.get("uprobe"))
    for t, s in results:
        render_target(a, t, s, opts)
    notes = observations(results, opts)
    if notes:
        a("## Observations")
        a("")
        for n in notes:
            a(f"- {n}")
        a("")
    a("## Reproduce")
    a("")
    a("As root: `make bench` (or `bench/run.sh` once `build/sonde`, `build/bench/minimal` "
      "and `build/bench/floor` are built). Knobs: "
      f"`BENCH_PAIRS` (default {DEFAULT_PAIRS}), `BENCH_SECONDS` (default {DEFAULT_SECONDS}), "
      f"`BENCH_MAX_OTHER_CPU` ({DEFAULT_MAX_OTHER}), `BENCH_EXTRA_ROUNDS` "
      f"({DEFAULT_EXTRA_ROUNDS}), `BENCH_CONNECTIONS` (32), "
      "`BENCH_THREADS` (1), `BENCH_WARMUP` (2), `BENCH_TARGETS` (`nginx,go,go-client,nginx-tls,go-tls`), "
      "`BENCH_BPF_SECONDS` (3; 0 skips the eBPF profile), `BENCH_SONDE_CPU` (unset; pins Sonde, "
      "for diagnosis), "
      "`BENCH_REPORT` (`docs/benchmarks.md`, `-` for stdout only), `BENCH_QUIET_BUDGET` "
      "(60: seconds, in all, to wait before runs for a Sonde this benchmark did not start "
      "to exit), `BENCH_KEEP=1` keeps the logs. The run prints this report and exits 0 whatever the figures; it exits "
      "non-zero only when something could not run.")
    a("")
    return "\n".join(L)


def render_bar(a, results, opts):
    hook = opts.get("sonde_hook")
    a("## Bar")
    a("")
    a(f"Sonde's hook, from its programs' names: **{HOOK_LABEL.get(hook, 'unknown')}** "
      f"({', '.join(f'`{n}`' for n in opts.get('sonde_progs') or []) or 'not seen'}). "
      f"The bar: Sonde's throughput ratio ≥ {BAR_RATIO:.2f} and not below the minimal "
      f"agent's on the same hook, in the same rounds, minus {BAR_VS_MIN:.2f}; Sonde's own "
      f"CPU ≤ {BAR_SONDE_US:g} µs per request; RSS ≤ {BAR_RSS_MIB:g} MiB; 0 lost events; "
      "an untraced process's non-socket syscalls pay nothing (below the table). The "
      "minimal agents' rows are references, not judged.")
    a("")
    a(f"| target | agent | throughput ratio vs not running (Sonde ≥ {BAR_RATIO:.2f}) "
      f"| Sonde − minimal agent on the same hook (≥ −{BAR_VS_MIN:.2f}) "
      "| extra server CPU, µs/req "
      f"| agent's own CPU, µs/req (Sonde ≤ {BAR_SONDE_US:g}) "
      f"| RSS, MiB (Sonde ≤ {BAR_RSS_MIB:g}) | lost events (Sonde = 0) "
      "| measurement conditions |")
    a("| --- | --- | --- | --- | ---: | --- | --- | --- | --- |")
    for t, s in results:
        tr = s["traced"]
        if hook in HOOK_MIN_CONFIG:
            vs = med(s[f"vs_{HOOK_MIN_CONFIG[hook]}"])
            vs_cell = f"{vs:+.3f} {pf(vs >= -BAR_VS_MIN)}"
        else:
            vs_cell = "n/a (hook unknown) **FAIL**"
        rss = s["rss_kb"] / 1024
        a(f"| {t.name} | **Sonde** ({HOOK_LABEL.get(hook, 'hook unknown')}) "
          f"| {f_num(s['ratio'], 3)} {pf(s['ratio'] >= BAR_RATIO)} | {vs_cell} "
          f"| {f_num(tr['extra_cpu'])} "
          f"| {f_num(s['sonde_traced_us'])} {pf(s['sonde_traced_us'] <= BAR_SONDE_US)} "
          f"| {rss:.1f} {pf(rss <= BAR_RSS_MIB)} "
          f"| {s['lost']} {pf(s['lost'] == 0)} | {conditions(s)} |")
        # Network metrics on top: a reference row (the cost of the feature
        # is the difference with Sonde tracing, same rounds).
        for c in NETWORK:
            x = s[c]
            vs_traced = med([a_ / b_ for a_, b_ in zip(x["ratios"], tr["ratios"])])
            a(f"| {t.name} | {CONFIG_LABEL[c]} | {f_num(x['ratio'], 3)} "
              f"(÷ Sonde tracing: {f_num(vs_traced, 3)}) | — "
              f"| {f_num(x['extra_cpu'])} | {f_num(x['agent_us'])} "
              f"| {x['rss_kb'] / 1024:.1f} | {x['lost']} | |")
        for c in MIN_HOOK:
            x = s[c]
            a(f"| {t.name} | {CONFIG_LABEL[c]} | {f_num(x['ratio'], 3)} | — "
              f"| {f_num(x['extra_cpu'])} | {f_num(x['agent_us'])} "
              f"| {x['rss_kb'] / 1024:.1f} | {x['lost']} | |")
    a("")
    fl = opts.get("floor")
    if fl and "sonde_idle" in fl:
        d = fl["sonde_idle"] - fl["none_sonde_base"]
        a(f"Untraced process, non-socket syscall: `getppid()` costs {fl['none_sonde_base']:.0f} ns "
          f"with nothing attached and {fl['sonde_idle']:.0f} ns with Sonde attached "
          f"(nothing matched): {d:+.0f} ns (≤ {BAR_FLOOR_NS:g} ns) {pf(d <= BAR_FLOOR_NS)}; "
          f"empty programs on the socket hooks: {fl['sock_empty'] - fl['none']:+.0f} ns, on "
          f"`sys_exit`: {fl['empty'] - fl['none']:+.0f} ns (see *What an agent pays here*).")
    else:
        a("Untraced process, non-socket syscall: not measured (the floor probe did not run).")
    a("")
    a("Throughput and CPU figures are only as good as the conditions column says: on a "
      "busy machine the PASS/FAIL of those columns may reflect the neighbours, not "
      "Sonde; the comparison with the minimal agent, measured in the same rounds, is the "
      "least sensitive to them. Lost events and spans do not depend on it.")
    a("")


def conditions(s):
    """'quiet', or why the throughput and CPU figures are noisy."""
    why = []
    if s["off_spread"] > 0.10:
        why.append(f"untraced req/s spread {100 * s['off_spread']:.0f}%")
    if s["foreign_pct_max"] > 25.0:
        why.append(f"other processes up to {s['foreign_pct_max']:.0f}% CPU")
    if s["foreign_sonde_runs"]:
        why.append(f"another Sonde in {s['foreign_sonde_runs']} runs")
    if s.get("fallback"):
        why.append(f"fewer than half the rounds quiet: the {len(s['rounds'])} quietest of "
                   f"{len(s['all_rounds'])} kept")
    dropped = len(s.get("all_rounds", s["rounds"])) - len(s["rounds"])
    note = f" ({dropped} busy round(s) dropped)" if dropped else ""
    return ("quiet" if not why else "**noisy**: " + "; ".join(why)) + note


def render_target(a, t, s, opts):
    rounds = s["rounds"]
    a(f"## {t.title}")
    a("")
    a(f"{t.port_note}; Sonde instrumented {', '.join(map(str, s['instrumented']))} "
      "process(es) when tracing.")
    a("")
    a(f"Rounds used: {len(rounds)} of the {len(s['all_rounds'])} run "
      f"({', '.join(str(r['n']) for r in rounds)}).")
    a("")
    a("| configuration | req/s (median) | req/s (min – max) | throughput ratio vs not "
      "running | latency p50 | latency p99 | server CPU µs/req | extra server CPU µs/req "
      "| server CPU % | agent CPU µs/req | agent CPU % | wrk errors |")
    a("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c in CONFIGS:
        x = s[c]
        dash = c == "off"
        a(f"| {CONFIG_LABEL[c]} | {f_num(x['rps'], 0)} | {f_num(x['rps_min'], 0)} – "
          f"{f_num(x['rps_max'], 0)} | {'—' if dash else f_num(x['ratio'], 3)} "
          f"| {f_num(x['p50'], 0)} µs | {f_num(x['p99'], 0)} µs "
          f"| {f_num(x['server_us'])} | {'—' if dash else f_num(x['extra_cpu'])} "
          f"| {f_num(x['server_pct'], 0)} "
          f"| {'—' if dash else f_num(x['agent_us'])} "
          f"| {'—' if dash else f_num(x['agent_pct'], 1)} | {x['errors']} |")
    a("")
    a("Minimal agent: "
      + "; ".join(f"{CONFIG_LABEL[c]}: {s[c]['records']:,} ring-buffer records for "
                  f"{s[c]['requests']:,} requests ({s[c]['records_per_req']:.2f} per request; "
                  f"{s[c]['heads']:,} of the copied heads start with `GET ` or `POST`), "
                  f"{s[c]['lost']:,} lost, max RSS {s[c]['rss_kb'] / 1024:.1f} MiB"
                  for c in MIN_HOOK) + ".")
    a("")
    a("CPU % is of one CPU, over the wrk run (medians).")
    a("")
    cpus = [("?" if c is None else c) for c in opts["cpus"]]
    a("What else happened on the machine during the runs (medians; a quiet machine shows "
      "the server's CPU near 100 % busy, no other processes, no forks, no other Sonde):")
    a("")
    a(f"| configuration | CPU {cpus[0]} busy % (server) | CPU {cpus[1]} busy % (wrk) "
      "| other processes' CPU % (median, max) | processes created /s | steal % "
      "| runs with another Sonde |")
    a("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c in CONFIGS:
        x = s[c]
        a(f"| {CONFIG_LABEL[c]} | {f_num(x['cpu0_busy'], 0)} | {f_num(x['cpu1_busy'], 0)} "
          f"| {f_num(x['foreign_pct'], 0)}, {f_num(x['foreign_pct_max'], 0)} "
          f"| {f_num(x['forks_per_s'], 1)} | {f_num(x['steal_pct'], 1)} "
          f"| {x['foreign_sonde_runs']} of {len(rounds)} |")
    a("")
    diffs = s["span_diffs"]
    k = s["k"]
    expected = k * s["requests_traced"]
    spans_delta = s["spans"] - expected
    pct = 100.0 * spans_delta / expected if expected else 0.0
    vs = "requests wrk completed" if k == 1 else f"{k} × requests wrk completed"
    lost_detail = ("" if not s["lost_reasons"] else " (" + ", ".join(
        f"{k}: {v:,}" for k, v in sorted(s["lost_reasons"].items())) + ")")
    a("| figure | value |")
    a("| --- | --- |")
    a(f"| throughput ratio, traced / Sonde not running | **{f_num(s['ratio'], 3)}** "
      f"(rounds: {', '.join(f'{x:.3f}' for x in s['ratio_traced_off'])}) "
      f"{pf(s['ratio'] >= BAR_RATIO)} |")
    a(f"| CPU-based estimate of that ratio (server µs/req not running ÷ traced, same round; "
      f"holds if the server's CPU is the only bottleneck) | "
      f"{f_num(med(s['cpu_ratio']), 3)} "
      f"(rounds: {', '.join(f'{x:.3f}' for x in s['cpu_ratio'])}) |")
    for c in MIN_HOOK:
        a(f"| throughput ratio, {CONFIG_LABEL[c]} / Sonde not running | "
          f"{f_num(s[c]['ratio'], 3)} (rounds: {', '.join(f'{x:.3f}' for x in s[c]['ratios'])}) |")
        a(f"| Sonde tracing − {CONFIG_LABEL[c]}, throughput ratio (same round) | "
          f"{f_num(med(s[f'vs_{c}']), 3)} "
          f"(rounds: {', '.join(f'{x:+.3f}' for x in s[f'vs_{c}'])}) |")
        a(f"| extra server CPU per request, {CONFIG_LABEL[c]} | {f_num(s[c]['extra_cpu'])} µs "
          f"(rounds: {', '.join(f'{x:.2f}' for x in s[c]['extra_cpus'])}) |")
    a(f"| throughput ratio, traced / attached with nothing matched | "
      f"{f_num(med(s['ratio_traced_idle']), 3)} |")
    a(f"| attached, nothing matched: throughput ratio vs Sonde not running | "
      f"**{f_num(med(s['ratio_idle_off']), 3)}** "
      f"(rounds: {', '.join(f'{x:.3f}' for x in s['ratio_idle_off'])}) |")
    a(f"| extra CPU of the traced server per request (traced − not running) | "
      f"**{f_num(med(s['extra_cpu_off']))} µs** "
      f"(rounds: {', '.join(f'{x:.2f}' for x in s['extra_cpu_off'])}) |")
    a(f"| extra CPU of the traced server per request (traced − attached, nothing matched) | "
      f"{f_num(med(s['extra_cpu_idle']))} µs |")
    a(f"| Sonde's own CPU per request, tracing | **{f_num(s['traced']['agent_us'])} µs** "
      f"{pf(s['sonde_traced_us'] <= BAR_SONDE_US)} |")
    a(f"| Sonde's own CPU per request, attached with nothing matched | "
      f"{f_num(s['idle']['agent_us'])} µs |")
    a(f"| Sonde's own CPU per request, tracing minus nothing matched (same round) | "
      f"{f_num(med(s['sonde_net_us']))} µs "
      f"(rounds: {', '.join(f'{x:.2f}' for x in s['sonde_net_us'])}) |")
    a(f"| Sonde RSS, max VmRSS seen (VmHWM) | {s['rss_kb'] / 1024:.1f} MiB "
      f"({s['hwm_kb'] / 1024:.1f} MiB); nothing matched: {s['rss_idle_kb'] / 1024:.1f} MiB |")
    a(f"| lost events, all traced runs | **{s['lost']:,}**{lost_detail} {pf(s['lost'] == 0)} |")
    a(f"| spans (`sonde_spans_total`) vs {vs}, all traced runs | "
      f"{s['spans']:,} vs {expected:,} ({spans_delta:+,}, {pct:+.4f}%); "
      f"per run: {', '.join(f'{d:+,}' for d in diffs)} |")
    a(f"| transactions the kernel side emitted (`sonde_kernel_transactions_total`) | "
      f"{s['kernel_txns']:,} |")
    a("")
    a("<details><summary>Per round</summary>")
    a("")
    a("| round | used | other processes' CPU %, max | order | "
      + " | ".join(f"req/s {c}" for c in CONFIGS) + " | "
      + " | ".join(f"ratio {c}/off" for c in CONFIGS if c != "off")
      + " | server µs/req " + " / ".join(CONFIGS)
      + " | agent µs/req " + " / ".join(AGENT_CONFIGS) + " | spans / requests (traced) |")
    a("| ---: | --- | ---: | --- | " + "---: | " * (2 * len(CONFIGS) - 1) + "--- | --- | --- |")
    used = {r["n"] for r in rounds}
    for r in s["all_rounds"]:
        o, tr = r["off"], r["traced"]
        a(f"| {r['n']} | {'yes' if r['n'] in used else 'no'} | {r['other_max']:.0f} "
          f"| {' → '.join(r['order'])} | "
          + " | ".join(f"{r[c]['rps']:,.0f}" for c in CONFIGS) + " | "
          + " | ".join(f"{r[c]['rps'] / o['rps']:.3f}" for c in CONFIGS if c != "off")
          + " | " + " / ".join(f"{r[c]['server_us_per_req']:.2f}" for c in CONFIGS)
          + " | " + " / ".join(f"{r[c]['agent_us_per_req']:.2f}" for c in AGENT_CONFIGS)
          + f" | {tr['spans']:,} / {tr['requests']:,} |")
    a("")
    a("</details>")
    a("")
    if "links" in s:
        render_links(a, t, s["links"])
    if "bpf" in s:
        render_bpf(a, t, s)


def render_links(a, t, lk):
    a("Do the three spans of a request form one trace? (link check, unmeasured: JSON "
      "printer on; spans found by each request's own path)")
    a("")
    a("| load | requests | with exactly the 3 spans | client span → front server span "
      "(in process) | downstream server span → client span (across processes) "
      "| fully linked, one trace | wrong parents | linked spans in another trace |")
    a("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = (("one at a time, one connection", lk["seq"], lk["seq_n"]),
            (f"wrk, {lk['seconds']}s, saturating", lk["conc"], lk["wrk_requests"]))
    for label, r, n in rows:
        def frac(x):
            return f"{x:,} ({100.0 * x / r['complete']:.1f}%)" if r["complete"] else "0"
        a(f"| {label} | {n:,} | {r['complete']:,} | {frac(r['linked_front'])} "
          f"| {frac(r['linked_down'])} | {frac(r['fully_linked'])} | {r['wrong_parents']} "
          f"| {r['trace_mismatch']} |")
    a("")
    a("Under wrk's load the wrk count excludes the requests still in flight when it "
      "stopped, which are traced too. Sonde links a client call to the server request "
      "of the same process only when that is certain: for Go (goroutines move between "
      "threads) when exactly one request is in flight in the process, which seldom holds "
      "under wrk's concurrent connections, so under load the front's client span mostly "
      "starts its own trace (with the downstream span under it) rather than guessing "
      f"(lost events during the check: {lk['lost']:,}; wrk errors: {lk['wrk_errors']:,}).")
    a("")


def bpf_breakdown(s):
    """Per request, from the eBPF profile, for each agent configuration: runs
    and run time of each data-hook program (whatever hook it is on), runs in
    the server's own processes (perf), and for Sonde tracing the estimated
    program time spent in the server's operations."""
    b = s["bpf"]
    out = {}
    for c in AGENT_CONFIGS:
        if c not in b:
            continue
        x = b[c]
        n = x["requests"]
        hp = hook_progs(x["progs"])
        row = {"requests": n, "hook_progs": hp,
               "server_syscalls": (x["server_syscalls"] / n if x["server_syscalls"]
                                   else None)}
        tot_ns = 0
        for prog in hp:
            v = x["progs"][prog]
            ev = x["server_events"].get(HOOK_PERF_EVENT[prog])
            row[prog] = {"runs": v["cnt"] / n, "ns_run": v["ns"] / v["cnt"] if v["cnt"] else 0.0,
                         "ns_req": v["ns"] / n,
                         "server_runs": ev / n if ev is not None else None}
            tot_ns += v["ns"]
        row["others"] = sorted(k_ for k_ in x["progs"] if k_ not in hp)
        row["other_ns_req"] = sum(x["progs"][k_]["ns"] for k_ in row["others"]) / n
        row["total_ns_req"] = tot_ns / n
        out[c] = row
    # Sonde's program time in the server's own syscalls or socket I/O when
    # tracing: all runs minus the others' (every other process's, which the
    # filter cuts short) at the cost per run when nothing is matched.
    tr, idle = out.get("traced"), out.get("idle")
    est = None
    if tr and idle and tr["hook_progs"]:
        est = 0.0
        for prog in tr["hook_progs"]:
            srv_runs = tr[prog]["server_runs"]
            if srv_runs is None or prog not in idle:
                est = None
                break
            others = max(tr[prog]["runs"] - srv_runs, 0.0)
            est += tr[prog]["ns_req"] - others * idle[prog]["ns_run"]
    out["server_bpf_ns_req"] = est
    out["server_syscalls"] = (idle or tr or {}).get("server_syscalls")
    return out


def render_bpf(a, t, s):
    bd = bpf_breakdown(s)
    a("eBPF profile (unmeasured runs with "
      "`kernel.bpf_stats_enabled=1`; per request wrk completed; a program's runs *in the "
      "server* are the firings of its tracepoint in the server's processes, counted by perf):")
    a("")
    a("| configuration | server syscalls / req | data-hook programs: runs / req (in the "
      "server), ns / run | data-hook programs, µs / req | other programs, µs / req |")
    a("| --- | ---: | --- | ---: | --- |")
    for c in AGENT_CONFIGS:
        if c not in bd:
            continue
        r = bd[c]
        progs = "; ".join(
            f"`{p}` {r[p]['runs']:.1f} ({f_num(r[p]['server_runs'], 1)}), {r[p]['ns_run']:.0f} ns"
            for p in r["hook_progs"]) or "none"
        others = (f"{r['other_ns_req'] / 1000:.3f} ({', '.join(f'`{n}`' for n in r['others'])})"
                  if r["others"] else "—")
        a(f"| {CONFIG_LABEL[c]} | {f_num(r['server_syscalls'], 1)} | {progs} "
          f"| {r['total_ns_req'] / 1000:.2f} | {others} |")
    a("")
    if bd.get("server_bpf_ns_req") is not None:
        a("Runs not in the server are wrk's and the machine's, which the traced-process "
          "test cuts short. Estimated time of Sonde's data-hook programs in the server's "
          f"own operations when tracing: {bd['server_bpf_ns_req'] / 1000:.2f} µs per request "
          f"(all runs' {bd['traced']['total_ns_req'] / 1000:.2f} µs minus the others' at the "
          "cost per run when nothing is matched).")
    else:
        a("(The server's operations could not be counted: no estimate of Sonde's programs' "
          "time in them.)")
    a("")


def render_floor(a, results, fl):
    """The platform's own cost, and the best ratio it leaves each target."""
    if not fl:
        return
    d = {k: fl[k] - fl["none"] for k in ("empty", "check", "clock", "copy", "lookup",
                                         "sock_empty")}
    d["sonde_idle"] = fl["sonde_idle"] - fl["none_sonde_base"]
    clock, copy, lookup = (d["clock"] - d["check"], d["copy"] - d["check"],
                           d["lookup"] - d["check"])
    a("## What an agent pays here")
    a("")
    a(f"`build/bench/floor` (bench/floor/) times `getppid()`, the cheapest syscall (and not "
      f"socket I/O), in a loop pinned to the server's CPU: with nothing attached, then with "
      f"one program at a time on `tp_btf/sys_exit`, or empty programs on the socket hooks "
      f"(`tp_btf/sock_recv_length` and `tp_btf/sock_send_length` together), alternating, "
      f"median of {FLOOR_ROUNDS} rounds; then the same loop with a Sonde attached that "
      "matches nothing, compared with nothing attached in the runs just before and after "
      "it. These are costs of this kernel and machine, not of Sonde's logic: the extra work "
      "is done for the timed process only, as for a traced one.")
    a("")
    a("| variant | ns per syscall | extra ns |")
    a("| --- | ---: | ---: |")
    for k, label in (("none", "nothing attached"),
                     ("empty", "`sys_exit`: a program that returns at once (every process "
                               "pays it)"),
                     ("check", "`sys_exit`: plus the test \"is this the timed process\""),
                     ("clock", "`sys_exit`: plus one `bpf_ktime_get_ns()`"),
                     ("copy", "`sys_exit`: plus one 64-byte `bpf_probe_read_user()`"),
                     ("lookup", "`sys_exit`: plus one hash-map lookup"),
                     ("sock_empty", "socket hooks: empty programs (a non-socket syscall "
                                    "should pay nothing)"),
                     ("sonde_idle", "Sonde attached, nothing matched (vs nothing attached "
                                    f"around it, {fl['none_sonde_base']:.0f} ns)")):
        a(f"| {label} | {fl[k]:.0f} | {'—' if k == 'none' else f'{d[k]:+.0f}'} |")
    a("")
    a(f"So one clock read costs about {clock:.0f} ns, one user-memory copy about {copy:.0f} ns "
      f"and a hash lookup about {lookup:.0f} ns (each: its row minus the test's row), on top "
      f"of the {d['empty']:.0f} ns that merely "
      "having a program on the syscall tracepoint adds to every syscall. Against the "
      "server's CPU per request (not running), that bounds the throughput ratio any agent "
      "on `sys_exit` can reach, before it does anything useful and with the minimum useful "
      "work (the request's and the response's timestamp and head: two clock reads and two "
      "user copies per request); the minimal agents' measured ratios are beside it:")
    a("")
    a("| target | server syscalls / req | server CPU µs/req, not running | ratio with an empty "
      "`sys_exit` program | ratio with the minimum work | minimal agent on sys_exit, measured "
      "| minimal agent on socket hooks, measured | Sonde, measured |")
    a("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for t, s in results:
        bd = bpf_breakdown(s) if "bpf" in s else {}
        srv = bd.get("server_syscalls")
        cpu = s["off"]["server_us"] if s.get("off") else None
        measured = (f"{f_num(s['min_sys']['ratio'], 3)} | {f_num(s['min_sock']['ratio'], 3)} "
                    f"| {f_num(s['ratio'], 3)}")
        if not srv or not cpu:
            a(f"| {t.name} | n/a | {f_num(cpu)} | n/a | n/a | {measured} |")
            continue
        empty_us = srv * d["empty"] / 1000
        minimum_us = empty_us + 2 * (clock + copy) / 1000 * t.spans_per_request
        a(f"| {t.name} | {srv:.1f} | {cpu:.2f} | {cpu / (cpu + empty_us):.3f} "
          f"| {cpu / (cpu + minimum_us):.3f} | {measured} |")
    a("")


def render_overhead(a, results):
    """The cross-target summary of the eBPF profiles."""
    rows = [(t, s, bpf_breakdown(s)) for t, s in results if "bpf" in s]
    rows = [r for r in rows if r[2].get("server_bpf_ns_req") is not None]
    if not rows:
        return
    a("## What the overhead is made of")
    a("")
    a("| target | Sonde's data-hook programs | their runs in the server / req "
      "| ns per run in the server, tracing | ns per run, nothing matched (filter only) "
      "| programs' time in the server, µs / req | extra server CPU, µs / req (traced − not "
      "running) | programs' share of it | Sonde user space, µs / req "
      "| minimal agent on the same hook: programs µs / req (all runs), extra server CPU "
      "µs / req |")
    a("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    shares = []
    for t, s, bd in rows:
        tr, idle = bd["traced"], bd["idle"]
        hp = tr["hook_progs"]
        srv_runs = sum(tr[p]["server_runs"] for p in hp)
        prog_us = bd["server_bpf_ns_req"] / 1000
        per_run = bd["server_bpf_ns_req"] / srv_runs if srv_runs else None
        filt = med([idle[p]["ns_run"] for p in hp if p in idle])
        extra = med(s["extra_cpu_off"])
        share = 100 * prog_us / extra if extra and extra > 0 else None
        if share is not None:
            shares.append(share)
        mc = HOOK_MIN_CONFIG.get(hook_of(hp))
        mref = "n/a"
        if mc and mc in bd:
            mref = f"{bd[mc]['total_ns_req'] / 1000:.2f}, {f_num(s[mc]['extra_cpu'])}"
        a(f"| {t.name} | {', '.join(f'`{p}`' for p in hp)} | {srv_runs:.1f} "
          f"| {f_num(per_run, 0)} | {f_num(filt, 0)} | {prog_us:.2f} | {f_num(extra)} "
          f"| {'n/a' if share is None else f'{share:.0f}%'} "
          f"| {f_num(s['traced']['agent_us'])} | {mref} |")
    a("")
    a("Sonde's cost in the traced server is its data-hook programs' run time, per request "
      "the runs in the server times their cost, "
      + (f"which explains {span_pct(shares)} of the measured extra server "
         "CPU; the rest is outside the programs' run time (candidates: the ring buffer's "
         "wake-ups, Sonde's user space taking the server's CPU and caches part of the time, "
         "scheduling under that contention) and the rounds' noise. " if shares else ". ")
      + "The minimal agent on the same hook (last column) shows the least any agent there "
      "costs. Sonde's user space (ring buffer, decoding, linking, metrics) is a separate "
      "cost, on its own CPU time. Figures from one short unmeasured run per configuration "
      "with `kernel.bpf_stats_enabled=1` (see Method and each target's section).")
    a("")


def span_pct(xs):
    lo, hi = min(xs), max(xs)
    return f"{lo:.0f}%" if round(lo) == round(hi) else f"{lo:.0f}–{hi:.0f}%"


def render_foreign(a, results, opts):
    """Who else used the CPU during the measured runs, by process name."""
    tot, wall = {}, 0.0
    for _, s in results:
        t_, w_ = foreign_totals(s["all_rounds"])
        wall += w_
        for k_, v in t_.items():
            tot[k_] = tot.get(k_, 0) + v
    a("## Other processes during the runs")
    a("")
    if not tot or wall <= 0:
        a("No other process used measurable CPU during the measured runs.")
        a("")
        return
    all_cpu = sum(tot.values()) / CLK_TCK
    a(f"CPU time of processes other than the server, wrk, the agent under test and this "
      f"script, sampled from `/proc/*/stat` during all {sum(len(s['all_rounds']) for _, s in results) * len(CONFIGS)} "
      f"measured runs ({wall:.0f}s of load; dropped rounds included): {all_cpu:.1f} CPU-s "
      f"in all, {100 * all_cpu / wall:.1f}% of a CPU on average. Busiest, by process name:")
    a("")
    a("| process (comm) | CPU-s | % of a CPU, averaged over the runs |")
    a("| --- | ---: | ---: |")
    for comm, ticks in sorted(tot.items(), key=lambda kv: -kv[1])[:12]:
        a(f"| `{comm}` | {ticks / CLK_TCK:.2f} | {100 * ticks / CLK_TCK / wall:.1f} |")
    a("")


def observations(results, opts):
    notes = []
    for t, s in results:
        conns = opts["conns"] * s["k"]
        low = [d for d in s["span_diffs"] if d < 0]
        high = [d for d in s["span_diffs"] if d > conns]
        if low:
            missing = -sum(low)
            notes.append(
                f"{t.name}: Sonde counted fewer spans than "
                f"{'' if s['k'] == 1 else str(s['k']) + ' × '}the requests wrk completed in "
                f"{len(low)} of {len(s['span_diffs'])} traced runs ({missing:,} missing in "
                f"those runs, {100.0 * missing / (s['k'] * s['requests_traced']):.4f}% of all "
                "expected spans), with no loss counted.")
        if high:
            notes.append(
                f"{t.name}: in {len(high)} traced run(s) Sonde counted more spans than "
                f"{'' if s['k'] == 1 else str(s['k']) + ' × '}wrk's requests plus the "
                f"{conns} spans of requests that may be in flight at the end "
                f"(excess: {', '.join(str(d) for d in high)}).")
        if not low and not high:
            notes.append(
                f"{t.name}: spans matched "
                f"{'' if s['k'] == 1 else str(s['k']) + ' × '}wrk's requests in every traced "
                f"run, within the {conns} spans of requests that can be in flight when wrk stops "
                f"(per run: {', '.join(f'{d:+d}' for d in s['span_diffs'])}).")
        if s["off_spread"] > 0.05:
            notes.append(
                f"{t.name}: the untraced throughput varied by {100 * s['off_spread']:.1f}% "
                "(max − min over median) across rounds: differences of that size between "
                "configurations are within noise.")
        else:
            notes.append(
                f"{t.name}: the untraced throughput varied by {100 * s['off_spread']:.1f}% "
                "(max − min over median) across rounds.")
        if s["foreign_pct_max"] > 10.0:
            notes.append(
                f"{t.name}: the machine was not quiet: other processes used up to "
                f"{s['foreign_pct_max']:.0f}% of a CPU during a run (median per configuration "
                f"{', '.join(f_num(s[c]['foreign_pct'], 0) + '%' for c in CONFIGS)}; busiest: "
                f"{', '.join(f'`{k}`' for k in s['foreign_top'])}). Figures are noisier "
                "than on an idle machine.")
        if s["steal_pct_max"] > 5.0:
            notes.append(f"{t.name}: the hypervisor stole up to {s['steal_pct_max']:.0f}% of a "
                         "CPU during a run.")
        if s["foreign_sonde_runs"]:
            notes.append(
                f"{t.name}: another Sonde (not started by this benchmark) was running during "
                f"{s['foreign_sonde_runs']} of {len(CONFIGS) * len(s['rounds'])} measured runs; its "
                "probes fire on every syscall of every process, baseline included.")
        if s["idle"]["agent_pct"] is not None and s["idle"]["agent_pct"] > 2.0:
            notes.append(
                f"{t.name}: Sonde matching no process still used {s['idle']['agent_pct']:.1f}% "
                "of a CPU (median): that cost does not depend on the requests (process "
                f"discovery; {f_num(s['idle']['forks_per_s'], 0)} processes were created per "
                "second on the machine meanwhile), yet it is in the per-request figures; "
                "the *tracing minus nothing matched* line subtracts it.")
        if "links" in s:
            lk = s["links"]
            sq, cc = lk["seq"], lk["conc"]

            def pct(x, r):
                return f"{100.0 * x / r['complete']:.1f}%" if r["complete"] else "n/a"
            notes.append(
                f"{t.name}: link check: one request at a time, {sq['fully_linked']} of "
                f"{lk['seq_n']} requests were one trace of the 3 expected spans; under wrk's "
                f"load, of {cc['complete']:,} requests with their 3 spans, the downstream "
                f"span was linked to the client span in {pct(cc['linked_down'], cc)} and the "
                f"client span to the front's server span in {pct(cc['linked_front'], cc)} "
                f"(Go: only when one request is in flight in the process); wrong parents: "
                f"{sq['wrong_parents'] + cc['wrong_parents']}.")
        errs = sum(s[c]["errors"] for c in CONFIGS)
        if errs:
            notes.append(f"{t.name}: wrk reported {errs:,} socket errors or non-2xx responses.")
        if s["lost_idle"]:
            notes.append(f"{t.name}: Sonde reported {s['lost_idle']:,} lost events while "
                         "matching no process.")
    return notes


# --------------------------------------------------------------------------

SONDE_BIN = Path(os.environ.get("SONDE_BIN", REPO / "build" / "sonde"))
FLOOR_BIN = REPO / "build" / "bench" / "floor"
FLOOR_OBJ = REPO / "build" / "bench" / "floor.bpf.o"
FLOOR_ROUNDS = 7
# Default knobs: about 17 minutes on a 2-CPU machine, 21 with every extra
# round (see estimate_seconds).
DEFAULT_PAIRS = 8
DEFAULT_SECONDS = 5
DEFAULT_MAX_OTHER = 10      # % of a CPU other processes may use in a run of a kept round
DEFAULT_EXTRA_ROUNDS = 2    # rounds that may replace dropped ones, per target
MIN_BIN = REPO / "build" / "bench" / "minimal"
MIN_OBJ = REPO / "build" / "bench" / "minimal.bpf.o"


def platform_floor(runner, cpu):
    """What any syscall-tracepoint agent pays here, apart from Sonde's own
    logic: build/bench/floor (bench/floor/) times getppid() in a loop with
    nothing attached and with each of its programs (empty, one clock read,
    one 64-byte user copy, one hash lookup), alternating; then the same
    loop with a Sonde attached that matches nothing. {variant: ns}."""
    if not (FLOOR_BIN.exists() and FLOOR_OBJ.exists()):
        log("platform floor: build/bench/floor missing (make bench builds it): skipped")
        return None
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []

    def run():
        out = subprocess.run(pin + [str(FLOOR_BIN), str(FLOOR_OBJ), str(FLOOR_ROUNDS)],
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise BenchError(f"platform floor: {out.stderr.strip()}")
        return {k: float(v) for k, v in (ln.split() for ln in out.stdout.split("\n") if ln)}

    res = run()
    sonde = Sonde(runner.sonde_bin, runner.tmp, 1, "floor-idle")
    try:
        time.sleep(SETTLE)
        res["sonde_idle"] = run()["none"]
    finally:
        sonde.stop()
    # Nothing attached again, after: Sonde's row is compared with the mean
    # of the two runs around it.
    res["none_after"] = run()["none"]
    res["none_sonde_base"] = (res["none"] + res["none_after"]) / 2
    log("platform floor (ns per getppid): " + ", ".join(f"{k} {v:.0f}" for k, v in res.items()))
    return res


UPROBE_BIN = REPO / "build" / "bench" / "uprobe"
UPROBE_OBJ = REPO / "build" / "bench" / "uprobe.bpf.o"
UPROBE_ROUNDS = 7


def uprobe_cost(cpu):
    """The platform's price of a uprobe hit and of a uprobe+uretprobe pair:
    build/bench/uprobe (bench/uprobe/) calls an empty function in a loop
    with nothing attached, an empty uprobe, an empty uprobe+uretprobe pair,
    on an instruction the kernel single-steps and on one it emulates.
    {variant: ns per call}, or None when the probe is not built."""
    if not (UPROBE_BIN.exists() and UPROBE_OBJ.exists()):
        log("uprobe cost: build/bench/uprobe missing (make bench builds it): skipped")
        return None
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    out = subprocess.run(pin + [str(UPROBE_BIN), str(UPROBE_OBJ), str(UPROBE_ROUNDS)],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise BenchError(f"uprobe cost: {out.stderr.strip()}")
    res = {k: float(v) for k, v in (ln.split() for ln in out.stdout.split("\n") if ln)}
    log("uprobe cost (ns per call): " + ", ".join(f"{k} {v:.0f}" for k, v in res.items()))
    return res


def render_uprobe(a, results, up):
    """The uprobe pair's cost, and the floor it sets for the TLS target."""
    if not up:
        return
    pair, pair_emu = up["pair"] - up["none"], up["pair_emulated"] - up["none"]
    a("## What a TLS uprobe costs here")
    a("")
    a("`build/bench/uprobe` (bench/uprobe/) calls an empty function in a loop pinned to the "
      "server's CPU, with nothing attached, with an empty uprobe, and with an empty uprobe "
      "and an empty uretprobe (what Sonde puts on each OpenSSL read and write), on a first "
      "instruction the kernel single-steps out of line (`lea`, as Debian's `SSL_read` begins "
      "with `sub`) and on one it emulates (`push %rbp`), alternating, median of "
      f"{UPROBE_ROUNDS} rounds. A uprobe traps into the kernel; a single-stepped instruction "
      "traps a second time. Sonde puts its OpenSSL uprobes on emulated instructions where the "
      "library allows it (src/tls_hookpoints.c).")
    a("")
    a("| variant | ns per call | extra ns |")
    a("| --- | ---: | ---: |")
    for k, label in (("none", "nothing attached"),
                     ("entry", "uprobe, single-stepped instruction"),
                     ("pair", "uprobe + uretprobe, single-stepped instruction"),
                     ("entry_emulated", "uprobe, emulated instruction"),
                     ("pair_emulated", "uprobe + uretprobe, emulated instruction (Sonde's "
                                       "OpenSSL hooks)")):
        if k in up:
            extra = "—" if k == "none" else f"{up[k] - up['none']:+.0f}"
            a(f"| {label} | {up[k]:.0f} | {extra} |")
    a("")
    for t, s in results:
        if t.name != "nginx-tls" or not s.get("off"):
            continue
        cpu = s["off"]["server_us"]
        # nginx: per keep-alive request one SSL_read with the request, one that
        # finds no more (SSL_ERROR_WANT_READ), one SSL_write
        calls = 3
        a(f"Floor for nginx-tls: about {calls} OpenSSL calls per request (an `SSL_read` with "
          f"the request, one that finds nothing more, an `SSL_write`), so {calls} uprobe pairs: "
          f"{calls * pair_emu / 1000:.2f} µs per request on emulated instructions "
          f"({calls * pair / 1000:.2f} µs single-stepped) against {cpu:.2f} µs of server CPU "
          f"per request not running: a ratio of at best "
          f"{cpu / (cpu + calls * pair_emu / 1000):.3f} from the uprobes alone "
          f"({cpu / (cpu + calls * pair / 1000):.3f} single-stepped), before the socket "
          f"hooks' own cost (the nginx target's). Measured in place, the minimal agents "
          f"with their uprobes at Sonde's places reach "
          f"{f_num(s.get('min_sock', {}).get('ratio'), 3)} (socket hooks) and "
          f"{f_num(s.get('min_sys', {}).get('ratio'), 3)} (sys_exit): a uprobe costs more "
          f"in the server than in this loop (its caches and branch predictors are "
          f"the server's, not the loop's).")
        a("")


def estimate_seconds(ntargets, pairs, seconds, warmup, bpf_seconds, go_client):
    """The run's length: per run the load plus about 2.5 s of start, settle
    and stop (agents are started fresh for each run)."""
    per_target = (warmup + 3 + pairs * len(CONFIGS) * (seconds + 2.5)
                  + (len(AGENT_CONFIGS) * (bpf_seconds + 4) if bpf_seconds else 0))
    return (ntargets * per_target + (LINK_SECONDS + 15 if go_client else 0)
            + 25 + 10)


def check_tools():
    if os.geteuid() != 0:
        raise BenchError("run as root: Sonde loads eBPF programs")
    if not os.access(SONDE_BIN, os.X_OK):
        raise BenchError(f"{SONDE_BIN} not found: run `make build/sonde` first")
    for f in (MIN_BIN, MIN_OBJ, FLOOR_BIN, FLOOR_OBJ):
        if not f.exists():
            raise BenchError(f"{f} not found: `make bench` builds it")
    for tool in ("wrk", "taskset", "nginx", "go"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} not found (see scripts/setup.sh)")


def main():
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    # Ctrl-C even when started from a shell that ignores it in background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    pairs = env_int("BENCH_PAIRS", DEFAULT_PAIRS)
    seconds = env_int("BENCH_SECONDS", DEFAULT_SECONDS)
    conns = env_int("BENCH_CONNECTIONS", 32)
    threads = env_int("BENCH_THREADS", 1)
    warmup = env_int("BENCH_WARMUP", 2, minimum=0)
    quiet_budget = env_int("BENCH_QUIET_BUDGET", 60, minimum=0)
    bpf_seconds = env_int("BENCH_BPF_SECONDS", 3, minimum=0)
    max_other = env_int("BENCH_MAX_OTHER_CPU", DEFAULT_MAX_OTHER, minimum=0)
    extra_rounds = env_int("BENCH_EXTRA_ROUNDS", DEFAULT_EXTRA_ROUNDS, minimum=0)
    names = [n.strip() for n in os.environ.get("BENCH_TARGETS", DEFAULT_TARGETS).split(",")
             if n.strip()]
    report_env = os.environ.get("BENCH_REPORT", "")
    report_path = None if report_env == "-" else Path(report_env or REPO / "docs" /
                                                      "benchmarks.md")
    kinds = {"nginx": Nginx, "go": GoHello, "go-client": GoClient, "nginx-tls": NginxTls,
             "go-tls": GoTls}
    for n in names:
        if n not in kinds:
            raise BenchError(f"BENCH_TARGETS: unknown target {n!r} ({', '.join(kinds)})")
    check_tools()
    if bpf_seconds and shutil.which("bpftool") is None:
        log("bpftool not found: no eBPF profile (BENCH_BPF_SECONDS=0)")
        bpf_seconds = 0
    if bpf_seconds and not BPF_STATS_SYSCTL.exists():
        log(f"{BPF_STATS_SYSCTL} not found: no eBPF profile")
        bpf_seconds = 0

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        cpu_pair = (cpus[0], cpus[1])
        pinning = (f"the server (go-client: front and downstream) on CPU {cpus[0]}, wrk on "
                   f"CPU {cpus[1]} (`taskset -c`); Sonde (and the minimal agent) "
                   "unpinned, so it shares the two CPUs with them."
                   if len(cpus) == 2 else
                   f"the server (go-client: front and downstream) on CPU {cpus[0]}, wrk on "
                   f"CPU {cpus[1]} (`taskset -c`); Sonde unpinned.")
    else:
        cpu_pair = (None, None)
        pinning = "none: only one CPU is available, server, wrk and Sonde share it."
    if SONDE_CPU:
        pinning += (f" **Sonde pinned to CPU {SONDE_CPU}** (`BENCH_SONDE_CPU`, a diagnosis "
                    "run: not the default set-up).")

    est = estimate_seconds(len(names), pairs, seconds, warmup, bpf_seconds,
                           "go-client" in names)
    log(f"{pairs} rounds x {len(CONFIGS)} runs x {seconds}s on {', '.join(names)}: about "
        f"{est / 60:.1f} minutes (up to {extra_rounds} more rounds per target if rounds are "
        f"dropped), plus up to {quiet_budget}s waiting for other Sondes to exit")
    if est > 25 * 60:
        log("that is longer than 25 minutes: lower BENCH_PAIRS or BENCH_SECONDS to shorten it")

    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="sonde-bench-"))
    os.chmod(tmp, 0o755)
    ok = False
    try:
        # A private copy: the build tree may be rebuilt while we run.
        (tmp / "bin").mkdir()
        sonde_copy = tmp / "bin" / "sonde"
        shutil.copy2(SONDE_BIN, sonde_copy)
        global MIN_BIN, MIN_OBJ
        for src in (MIN_BIN, MIN_OBJ):
            shutil.copy2(src, tmp / "bin" / src.name)
        MIN_BIN, MIN_OBJ = tmp / "bin" / MIN_BIN.name, tmp / "bin" / MIN_OBJ.name
        runner = Runner(sonde_copy, tmp, seconds, conns, threads, cpu_pair, quiet_budget,
                        bpf_seconds)
        floor = platform_floor(runner, cpu_pair[0])
        uprobe = uprobe_cost(cpu_pair[0])
        results = []
        relay_idle = None
        for n in names:
            target = (GoClient(tmp, cpu_pair[0], conns) if n == "go-client"
                      else kinds[n](tmp, cpu_pair[0]))
            if n == "go-client":
                relay_idle = target.idle
            all_rounds, extra = runner.bench_target(target, pairs, warmup, max_other,
                                                    extra_rounds)
            rounds, fallback = keep_rounds(all_rounds, pairs)
            s = summarize(rounds, conns, target.spans_per_request)
            s["rounds"] = rounds
            s["all_rounds"] = all_rounds
            s["fallback"] = fallback
            s.update(extra)
            results.append((target, s))
        opts = {"pairs": pairs, "seconds": seconds, "conns": conns, "threads": threads,
                "warmup": warmup, "pinning": pinning, "quiet_waited": runner.quiet_waited,
                "cpus": cpu_pair, "targets": names, "relay_idle": relay_idle,
                "bpf_seconds": bpf_seconds, "floor": floor, "uprobe": uprobe, "max_other": max_other,
                "extra_rounds": extra_rounds, "sonde_hook": runner.sonde_hook,
                "sonde_progs": runner.sonde_names}
        report = render(results, machine_info(sonde_copy), opts, started, time.monotonic() - t0)
        print(report, flush=True)
        if report_path:
            report_path.parent.mkdir(parents=True, exist_ok=True)
            report_path.write_text(report)
            log(f"report written to {report_path}")
        ok = True
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cleanup()
        if ok and os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            # Keep the logs, not the bulk (Go build cache, binaries).
            for bulk in ("go", "bin"):
                shutil.rmtree(tmp / bulk, ignore_errors=True)
            log(f"logs kept in {tmp}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log(f"error: {e}")
        sys.exit(1)
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
