"""Shared machinery for Sonde's end-to-end tests.

Real servers (Flask, Express, Java, Go, nginx) receive real HTTP traffic on
loopback while a real ``build/sonde`` runs as root; the tests read Sonde's
JSON spans from its stdout and its Prometheus ``/metrics``.

Everything started here is registered and killed at the end of its fixture
and, as a last resort, at the end of the session (and at interpreter exit),
whether the test passed or not.
"""
import atexit
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

E2E_DIR = Path(__file__).resolve().parent
REPO = E2E_DIR.parents[1]
SONDE_BIN = Path(os.environ.get("SONDE_BIN", REPO / "build" / "sonde"))
SERVERS_DIR = E2E_DIR / "servers"
PYTHON = "/usr/bin/python3"
NGINX_ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"

SERVER_KINDS = ["flask", "express", "java", "go", "nginx"]

# Bounded waits (seconds).
SERVER_START_TIMEOUT = 30.0
SONDE_READY_TIMEOUT = 30.0
SPAN_TIMEOUT = 10.0
INSTRUMENT_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


# --------------------------------------------------------------------------
# Process bookkeeping: everything we start is killed, whatever happens.
# --------------------------------------------------------------------------

_LIVE = []
_LIVE_LOCK = threading.Lock()


def _register(proc):
    with _LIVE_LOCK:
        _LIVE.append(proc)


def _unregister(proc):
    with _LIVE_LOCK:
        if proc in _LIVE:
            _LIVE.remove(proc)


def kill_process_group(proc, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
    """Signal the process's group (it was started in its own session), wait,
    then SIGKILL the group. Returns the seconds the process took to exit
    after the first signal, or None if it had to be killed."""
    elapsed = None
    if proc.poll() is None:
        t0 = time.monotonic()
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
            elapsed = time.monotonic() - t0
        except subprocess.TimeoutExpired:
            pass
    # Kill whatever is left in the group (nginx workers, forked children).
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    _unregister(proc)
    return elapsed


def _kill_all():
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        kill_process_group(proc, signal.SIGKILL, timeout=2)


atexit.register(_kill_all)


@pytest.fixture(scope="session", autouse=True)
def _session_guard():
    """Root is required; the Sonde binary must exist; kill leftovers at the end."""
    if os.geteuid() != 0:
        reason = "Sonde's end-to-end tests need root (eBPF); run them as root"
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI is set: not skipping)", pytrace=False)
        pytest.skip(reason)
    if not (SONDE_BIN.is_file() and os.access(SONDE_BIN, os.X_OK)):
        pytest.fail(f"{SONDE_BIN} is missing or not executable: run `make` at the repo root",
                    pytrace=False)
    yield
    _kill_all()


# --------------------------------------------------------------------------
# Small helpers.
# --------------------------------------------------------------------------

def free_port():
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n):
    ports = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Poll predicate() until it returns a truthy value; return that value.
    Raises AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def port_accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def children_of(pid):
    """Direct children of pid, read from /proc."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces and parentheses.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def descendants_of(pid):
    out, todo = [], [pid]
    while todo:
        for kid in children_of(todo.pop()):
            out.append(kid)
            todo.append(kid)
    return out


def tail(path, n=40):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(lines[-n:])


# --------------------------------------------------------------------------
# Prometheus text format.
# --------------------------------------------------------------------------

_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+(-?\d+))?\s*$")
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


def _unescape(value):
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append({"n": "\n", "\\": "\\", '"': '"'}.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_prometheus_text(text):
    """Parse the Prometheus text exposition format (0.0.4).

    Returns (samples, types): samples is a list of (name, labels, value);
    types maps metric family name -> type. Raises ValueError on a line that
    is not valid, so a malformed exposition fails the test that scrapes it."""
    samples, types = [], {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 4 and parts[1] == "TYPE":
                types[parts[2]] = parts[3].strip()
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            raise ValueError(f"line {lineno}: not a sample: {line!r}")
        name, raw_labels, raw_value = m.group(1), m.group(2), m.group(3)
        labels = {}
        if raw_labels:
            body = raw_labels[1:-1]
            pos = 0
            while pos < len(body):
                lm = _LABEL_RE.match(body, pos)
                if not lm:
                    raise ValueError(f"line {lineno}: bad labels: {line!r}")
                labels[lm.group(1)] = _unescape(lm.group(2))
                pos = lm.end()
        try:
            value = float(raw_value)  # accepts NaN, +Inf, -Inf
        except ValueError:
            raise ValueError(f"line {lineno}: bad value: {line!r}") from None
        samples.append((name, labels, value))
    return samples, types


class Metrics:
    """A parsed /metrics scrape."""

    def __init__(self, text):
        self.text = text
        self.samples, self.types = parse_prometheus_text(text)

    def select(self, name, **labels):
        return [(n, lab, v) for (n, lab, v) in self.samples
                if n == name and all(lab.get(k) == str(val) for k, val in labels.items())]

    def sum(self, name, **labels):
        return sum(v for (_, _, v) in self.select(name, **labels))

    def names(self):
        return {n for (n, _, _) in self.samples}

    def label_values(self, name, label, **labels):
        return sorted({lab.get(label) for (_, lab, _) in self.select(name, **labels)},
                      key=lambda x: (x is None, x))


def scrape(port, timeout=5.0):
    r = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=timeout)
    assert r.status_code == 200, f"/metrics answered {r.status_code}: {r.text[:500]}"
    return r.text


# --------------------------------------------------------------------------
# Sonde.
# --------------------------------------------------------------------------

class Sonde:
    """build/sonde running in the background; its JSON spans and logs.
    argv_prefix runs it through a wrapper (setpriv: another user, capabilities)."""

    def __init__(self, env, prom_port=None, name="sonde", argv_prefix=()):
        self.prom_port = prom_port
        self.name = name
        self.spans = []          # parsed JSON objects, in arrival order
        self.bad_stdout = []     # stdout lines that were not a JSON object
        self.log = []            # stderr lines
        self._cond = threading.Condition()
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("SONDE_", "BEYLA_", "OTEL_"))
                    and k not in ("OPEN_PORT", "PRINT_TRACES", "EXECUTABLE_NAME")}
        if prom_port is not None:
            full_env["SONDE_PROMETHEUS_PORT"] = str(prom_port)
        full_env.update({k: str(v) for k, v in env.items()})
        self.env = full_env
        self.proc = subprocess.Popen(
            [*argv_prefix, str(SONDE_BIN)], env=full_env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        _register(self.proc)
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self._threads:
            t.start()

    # -- readers -----------------------------------------------------------
    def _read_stdout(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            with self._cond:
                if isinstance(obj, dict):
                    obj["_recv_mono"] = time.monotonic()
                    self.spans.append(obj)
                else:
                    self.bad_stdout.append(line)
                self._cond.notify_all()

    def _read_stderr(self):
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self.log.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    # -- waiting -----------------------------------------------------------
    def log_text(self, last=60):
        with self._cond:
            return "\n".join(self.log[-last:])

    def _wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                if self.proc.poll() is not None:
                    # Let the readers drain what is left.
                    self._cond.wait(0.2)
                    value = predicate()
                    if value:
                        return value
                    raise AssertionError(
                        f"{self.name} exited with code {self.proc.returncode} while waiting "
                        f"for {what}; its stderr:\n{self.log_text()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out after {timeout:.1f}s waiting for {what}; "
                        f"{self.name} stderr (last lines):\n{self.log_text()}")
                self._cond.wait(min(left, 0.1))

    def wait_log(self, pattern, timeout, what=None):
        rx = re.compile(pattern)

        def found():
            for line in self.log:
                m = rx.search(line)
                if m:
                    return m
            return None
        return self._wait(found, timeout, what or f"a stderr line matching {pattern!r}")

    def wait_ready(self, timeout=SONDE_READY_TIMEOUT):
        self.wait_log(r"sonde: ready", timeout, "'sonde: ready' on stderr")
        if self.prom_port is not None:
            wait_until(lambda: port_accepts(self.prom_port), 10,
                       what=f"Sonde's Prometheus port {self.prom_port} to accept connections")

    def wait_instrumented(self, pids, timeout=INSTRUMENT_TIMEOUT):
        """Wait for an `instrumenting pid=N` line for one of pids; return the match."""
        alt = "|".join(str(p) for p in pids)
        return self.wait_log(rf"instrumenting pid=({alt})\b", timeout,
                             f"an 'instrumenting pid=' line for pid(s) {sorted(pids)}")

    def snapshot(self):
        with self._cond:
            return list(self.spans)

    def wait_spans(self, predicate, count, timeout=SPAN_TIMEOUT, what="spans"):
        """Wait until at least `count` spans satisfy predicate; return them all."""
        def enough():
            got = [s for s in self.spans if predicate(s)]
            return got if len(got) >= count else None
        try:
            return self._wait(enough, timeout, f"{count} {what}")
        except AssertionError as exc:
            got = [s for s in self.snapshot() if predicate(s)]
            raise AssertionError(f"{exc}\nonly {len(got)} matching span(s) arrived: "
                                 f"{[_brief(s) for s in got][:10]}") from None

    def metrics(self):
        assert self.prom_port is not None, "Sonde was started without a Prometheus port"
        return Metrics(scrape(self.prom_port))

    def stop(self, sig=signal.SIGTERM):
        """Stop Sonde; return seconds it took to exit (None if it had to be killed)."""
        elapsed = kill_process_group(self.proc, sig)
        for t in self._threads:
            t.join(timeout=2)
        return elapsed


def _brief(span):
    return {k: span.get(k) for k in ("pid", "method", "path", "status", "duration_ns",
                                     "client_port", "server_port")}


@pytest.fixture
def start_sonde():
    """Factory: start_sonde(env, prom=True) -> a ready Sonde; stopped at teardown."""
    started = []

    def _start(env, prom=True, wait_ready=True, name="sonde"):
        sonde = Sonde(env, prom_port=free_port() if prom else None, name=name)
        started.append(sonde)
        if wait_ready:
            sonde.wait_ready()
        return sonde

    yield _start
    for sonde in started:
        sonde.stop()


# --------------------------------------------------------------------------
# Sample servers.
# --------------------------------------------------------------------------

class ServerProc:
    """One running sample server."""

    def __init__(self, kind, port, proc, log_path, workdir=None):
        self.kind = kind
        self.port = port
        self.proc = proc
        self.log_path = log_path
        self.workdir = workdir
        self.worker_pids = []

    @property
    def pid(self):
        return self.proc.pid

    def pids(self):
        """The server's pid and its descendants' (nginx workers)."""
        return {self.proc.pid, *self.worker_pids, *descendants_of(self.proc.pid)}

    def log_tail(self):
        return tail(self.log_path)

    def check_alive(self):
        """Fail with the server's exit status and log if it is gone."""
        rc = self.proc.poll()
        if rc is not None:
            how = f"killed by signal {-rc}" if rc < 0 else f"exited with {rc}"
            raise AssertionError(f"the {self.kind} server on port {self.port} (pid {self.pid}) "
                                 f"{how}; its log:\n{self.log_tail()}")

    def stop(self):
        kill_process_group(self.proc)
        if self.workdir and self.kind == "nginx":
            shutil.rmtree(self.workdir, ignore_errors=True)


def launch_server(kind, port, cmd, cwd, env, log_path, workdir=None):
    """Start a server in its own session, logging to log_path, and wait until
    it accepts connections on port; stopped again if it does not."""
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    _register(proc)
    server = ServerProc(kind, port, proc, log_path, workdir)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not port_accepts(port):
            if proc.poll() is not None:
                raise AssertionError(f"{kind} server exited with {proc.returncode} before "
                                     f"listening on {port}:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{kind} server did not listen on {port} within "
                                     f"{SERVER_START_TIMEOUT}s:\n{server.log_tail()}")
            time.sleep(0.05)
    except BaseException:
        server.stop()
        raise
    return server


def nginx_prefix(port, template, replace=None):
    """A fresh nginx prefix for a server on @port: tmp/, www/static/file-1k.bin,
    and nginx.conf from @template with @PREFIX@, @PORT@ and @replace's keys
    replaced. Workers run as `nobody`: the prefix must be readable by them,
    so it lives in a fresh 0755 directory rather than pytest's 0700 tmp tree."""
    prefix = Path(tempfile.mkdtemp(prefix=f"e2e-nginx-{port}-"))
    os.chmod(prefix, 0o755)
    (prefix / "tmp").mkdir()
    (prefix / "www" / "static").mkdir(parents=True)
    # 1 KiB static file: deterministic, not all one byte.
    (prefix / "www" / "static" / "file-1k.bin").write_bytes(bytes(range(256)) * 4)
    for p in (prefix / "www", prefix / "www" / "static"):
        os.chmod(p, 0o755)
    os.chmod(prefix / "www" / "static" / "file-1k.bin", 0o644)
    conf = Path(template).read_text().replace("@PREFIX@", str(prefix)).replace("@PORT@", str(port))
    for k, v in (replace or {}).items():
        conf = conf.replace(k, v)
    (prefix / "nginx.conf").write_text(conf)
    return prefix


class ServerBuilder:
    """Builds (once per session) and starts the sample servers."""

    def __init__(self, tmp_root):
        self.tmp_root = Path(tmp_root)
        self._built = {}
        self._lock = threading.Lock()

    # -- builds --------------------------------------------------------------
    def _go_binary(self):
        out = self.tmp_root / "go" / "e2e-go-server"
        if not out.exists():
            if shutil.which("go") is None:
                pytest.fail("`go` is not installed (apt-get install golang-go)", pytrace=False)
            env = dict(os.environ, GOCACHE=str(self.tmp_root / "go" / "cache"),
                       GOPATH=str(self.tmp_root / "go" / "path"), GO111MODULE="off",
                       GOFLAGS="", GOPROXY="off", CGO_ENABLED="0")
            res = subprocess.run(["go", "build", "-o", str(out), "main.go"],
                                 cwd=SERVERS_DIR / "go", env=env, capture_output=True,
                                 text=True, timeout=300)
            assert res.returncode == 0, f"go build failed:\n{res.stdout}\n{res.stderr}"
        return out

    def _java_classes(self):
        out = self.tmp_root / "java"
        if not (out / "Server.class").exists():
            if shutil.which("javac") is None:
                pytest.fail("`javac` is not installed (apt-get install openjdk-17-jdk-headless)",
                            pytrace=False)
            res = subprocess.run(["javac", "-d", str(out), "Server.java"],
                                 cwd=SERVERS_DIR / "java", capture_output=True, text=True,
                                 timeout=300)
            assert res.returncode == 0, f"javac failed:\n{res.stdout}\n{res.stderr}"
        return out

    def _check_express(self):
        if not (SERVERS_DIR / "express" / "node_modules" / "express").is_dir():
            pytest.fail("Express is not installed: run `npm install --no-audit --no-fund` in "
                        "tests/e2e/servers/express", pytrace=False)

    def _check_flask(self):
        res = subprocess.run([PYTHON, "-c", "import flask"], capture_output=True, text=True)
        if res.returncode != 0:
            pytest.fail("Flask is missing for /usr/bin/python3 (apt-get install python3-flask)",
                        pytrace=False)

    def prepare(self, kind):
        with self._lock:
            if kind in self._built:
                return self._built[kind]
            if kind == "go":
                art = self._go_binary()
            elif kind == "java":
                art = self._java_classes()
            elif kind == "express":
                self._check_express()
                art = None
            elif kind == "flask":
                self._check_flask()
                art = None
            elif kind == "nginx":
                if shutil.which("nginx") is None:
                    pytest.fail("nginx is not installed (apt-get install nginx-light "
                                "libnginx-mod-http-echo)", pytrace=False)
                if not os.path.exists(NGINX_ECHO_MODULE):
                    pytest.fail(f"nginx's echo module {NGINX_ECHO_MODULE} is missing "
                                "(apt-get install libnginx-mod-http-echo)", pytrace=False)
                art = None
            else:
                raise ValueError(kind)
            self._built[kind] = art
            return art

    # -- start ---------------------------------------------------------------
    def _nginx_dir(self, port):
        return nginx_prefix(port, SERVERS_DIR / "nginx" / "nginx.conf.in",
                            {"@LOAD_MODULES@": f"load_module {NGINX_ECHO_MODULE};"})

    def start(self, kind, port, env=None, log_dir=None):
        art = self.prepare(kind)
        log_dir = Path(log_dir or self.tmp_root)
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{kind}-{port}.log"
        # The servers get a small, explicit environment.
        penv = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
                "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8",
                "PORT": str(port)}
        penv.update(env or {})
        cwd, workdir = None, None
        if kind == "flask":
            penv["PYTHONUNBUFFERED"] = "1"
            cmd = [PYTHON, str(SERVERS_DIR / "flask_app.py"), str(port)]
        elif kind == "express":
            cmd = ["node", "app.js", str(port)]
            cwd = SERVERS_DIR / "express"
        elif kind == "java":
            cmd = ["java", "-Xshare:auto", "-XX:+UseSerialGC", "-cp", str(art), "Server",
                   str(port)]
        elif kind == "go":
            cmd = [str(art), str(port)]
        elif kind == "nginx":
            workdir = self._nginx_dir(port)
            cmd = ["nginx", "-p", str(workdir), "-c", str(workdir / "nginx.conf")]
        else:
            raise ValueError(kind)
        server = launch_server(kind, port, cmd, cwd, penv, log_path, workdir)
        proc = server.proc
        try:
            if kind == "nginx":
                server.worker_pids = wait_until(
                    lambda: (lambda k: k if len(k) >= 2 else None)(children_of(proc.pid)),
                    10, what="nginx's 2 worker processes")
        except BaseException:
            server.stop()
            raise
        return server


@pytest.fixture(scope="session")
def server_builder(tmp_path_factory):
    return ServerBuilder(tmp_path_factory.mktemp("servers"))


@pytest.fixture
def start_server(server_builder, tmp_path):
    """Factory: start_server(kind, port=None, env=None) -> ServerProc; stopped at teardown."""
    started = []

    def _start(kind, port=None, env=None):
        server = server_builder.start(kind, port or free_port(), env=env, log_dir=tmp_path)
        started.append(server)
        return server

    yield _start
    for server in started:
        server.stop()


# --------------------------------------------------------------------------
# HTTP client with a ledger of what was sent.
# --------------------------------------------------------------------------

@dataclass
class Sent:
    """One request as the client saw it."""
    method: str
    path: str                 # without the query string
    target: str               # path + query as sent
    port: int
    status: int = 0
    request_body_len: int = 0
    response_body_len: int = 0
    response_body: bytes = b""
    t0_mono: float = 0.0      # before connect (new connection) or before send
    t1_mono: float = 0.0      # after the last response byte was read
    t0_wall_ns: int = 0
    t1_wall_ns: int = 0
    client_port: int = 0
    delay_s: float = 0.0
    tag: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def client_ns(self):
        return int((self.t1_mono - self.t0_mono) * 1e9)


class Client:
    """Sends HTTP/1.1 requests with http.client and records each in a ledger."""

    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.ledger = []

    def request(self, port, method, target, body=None, headers=None, conn=None,
                delay_s=0.0, tag="", t0=None):
        """One request. With conn=None a new connection is opened (and timed
        from before connect) and closed after the response; otherwise the
        given keep-alive connection is used. t0=(monotonic, wall ns) overrides
        the start of the client's measurement (e.g. taken before connect)."""
        own = conn is None
        hdrs = dict(headers or {})
        if body is not None:
            hdrs.setdefault("Content-Type", "application/octet-stream")
        sent = Sent(method=method, path=target.split("?", 1)[0], target=target, port=port,
                    request_body_len=len(body) if body else 0, delay_s=delay_s, tag=tag)
        sent.t0_wall_ns = time.time_ns()
        sent.t0_mono = time.monotonic()
        if t0 is not None:
            sent.t0_mono, sent.t0_wall_ns = t0
        if own:
            conn = http.client.HTTPConnection(self.host, port, timeout=30)
            conn.connect()
        elif conn.sock is None:
            conn.connect()
        sent.client_port = conn.sock.getsockname()[1]
        try:
            conn.request(method, target, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            sent.t1_mono = time.monotonic()
            sent.t1_wall_ns = time.time_ns()
            sent.status = resp.status
            sent.response_body = data
            sent.response_body_len = len(data)
            sent.extra["will_close"] = resp.will_close
            sent.extra["headers"] = dict(resp.getheaders())
        finally:
            if own:
                conn.close()
        self.ledger.append(sent)
        return sent


# --------------------------------------------------------------------------
# Span/request matching.
# --------------------------------------------------------------------------

def key_of(x):
    if isinstance(x, Sent):
        return (x.method, x.path)
    return (x.get("method"), x.get("path"))


def match_spans(sent_list, spans):
    """Pair each request with its span by (method, path), in order.

    Asserts the multiset of (method, path) is the same on both sides: every
    request has exactly one span and no span is left over."""
    want = Counter(key_of(s) for s in sent_list)
    got = Counter(key_of(s) for s in spans)
    missing = want - got
    extra = got - want
    assert not missing and not extra, (
        f"spans do not match requests one to one:\n  requests without a span: "
        f"{dict(missing)}\n  spans without a request: {dict(extra)}\n"
        f"  all spans: {[_brief(s) for s in spans]}")
    by_key = {}
    for span in sorted(spans, key=lambda s: s.get("start_ns", 0)):
        by_key.setdefault(key_of(span), []).append(span)
    pairs = []
    for sent in sorted(sent_list, key=lambda s: s.t0_wall_ns):
        pairs.append((sent, by_key[key_of(sent)].pop(0)))
    return pairs


SPAN_KEYS = {"start_ns", "duration_ns", "handler_ns", "kind", "service", "pid", "method",
             "path", "route", "status", "request_size", "response_size", "client_addr",
             "client_port", "server_addr", "server_port", "trace_id", "span_id",
             "parent_span_id"}


def check_span_against_request(span, sent, slack_ns=50_000_000):
    """The per-request assertions shared by every test."""
    missing = SPAN_KEYS - span.keys()
    assert not missing, f"span lacks keys {sorted(missing)}: {span}"
    ctx = f"request {sent.method} {sent.target} -> span {_brief(span)}"
    assert span["kind"] == "server", ctx
    assert span["method"] == sent.method, ctx
    assert span["path"] == sent.path, ctx
    assert span["status"] == sent.status, f"status: {ctx}"
    assert span["server_port"] == sent.port, f"server_port: {ctx}"
    assert span["client_port"] == sent.client_port, f"client_port: {ctx}"
    assert span["client_addr"] == "127.0.0.1", f"client_addr: {ctx}"
    assert span["server_addr"] == "127.0.0.1", f"server_addr: {ctx}"
    dur, handler = span["duration_ns"], span["handler_ns"]
    assert isinstance(dur, int) and isinstance(handler, int), ctx
    assert 0 < dur, f"duration_ns must be positive: {ctx}"
    assert 0 <= handler <= dur, f"handler_ns {handler} > duration_ns {dur}: {ctx}"
    assert dur <= sent.client_ns + slack_ns, (
        f"span duration {dur / 1e6:.3f} ms exceeds the client-measured "
        f"{sent.client_ns / 1e6:.3f} ms + {slack_ns / 1e6:.0f} ms: {ctx}")
    if sent.delay_s:
        delay_ns = int(sent.delay_s * 1e9)
        assert dur >= delay_ns, f"duration {dur / 1e6:.3f} ms < delay {sent.delay_s}s: {ctx}"
        assert handler >= delay_ns, (
            f"handler_ns {handler / 1e6:.3f} ms < delay {sent.delay_s}s: {ctx}")
    # Wall-clock placement: inside the client's window (with slack).
    start = span["start_ns"]
    assert sent.t0_wall_ns - slack_ns <= start <= sent.t1_wall_ns + slack_ns, (
        f"span start_ns {start} is outside the client's window "
        f"[{sent.t0_wall_ns}, {sent.t1_wall_ns}] (+-{slack_ns / 1e6:.0f} ms): {ctx}")
    assert re.fullmatch(r"[0-9a-f]{32}", str(span["trace_id"])) and \
        span["trace_id"] != "0" * 32, f"trace_id: {ctx}"
    assert re.fullmatch(r"[0-9a-f]{16}", str(span["span_id"])) and \
        span["span_id"] != "0" * 16, f"span_id: {ctx}"


# --------------------------------------------------------------------------
# A real Prometheus, shared by the tests that query Sonde through PromQL.
# --------------------------------------------------------------------------

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


class Prometheus:
    """A throwaway Prometheus server (Debian's) scraping one target every second."""

    def __init__(self, target_port, workdir):
        if not os.access(PROMETHEUS, os.X_OK):
            pytest.fail("prometheus is not installed (apt-get install prometheus)", pytrace=False)
        self.port = free_port()
        self.workdir = workdir
        (workdir / "data").mkdir(parents=True)
        cfg = workdir / "prometheus.yml"
        cfg.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: sonde\n"
            "    scrape_interval: 1s\n"
            "    static_configs:\n"
            f"      - targets: ['127.0.0.1:{target_port}']\n")
        self.log_path = workdir / "prometheus.log"
        with open(self.log_path, "wb") as logf:
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h",
                 "--log.level=info"],
                cwd=workdir, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                start_new_session=True)
        _register(self.proc)
        try:
            wait_until(self._ready, 30, interval=0.2, what=f"Prometheus on {self.port} to be ready")
        except AssertionError as exc:
            self.stop()
            raise AssertionError(f"{exc}\n{tail(self.log_path)}") from None

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n"
                                 f"{tail(self.log_path)}")
        if not port_accepts(self.port):
            return False
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/-/ready", timeout=2).ok
        except requests.RequestException:
            return False

    def api(self, path, **params):
        r = requests.get(f"http://127.0.0.1:{self.port}/api/v1/{path}", params=params, timeout=5)
        body = r.json()
        assert r.status_code == 200 and body.get("status") == "success", \
            f"Prometheus API {path} {params}: HTTP {r.status_code}: {body}"
        return body["data"]

    def query(self, promql):
        data = self.api("query", query=promql)
        assert data["resultType"] == "vector", data
        return data["result"]

    def scalar(self, promql):
        """The single value of an instant query, or None when it is empty."""
        res = self.query(promql)
        if not res:
            return None
        assert len(res) == 1, f"{promql} returned {len(res)} series: {res}"
        return float(res[0]["value"][1])

    def wait_value(self, promql, want, timeout=30.0):
        last = [None]

        def reached():
            last[0] = self.scalar(promql)
            if last[0] is not None and last[0] > want:
                raise AssertionError(f"{promql} = {last[0]:g}, more than the {want} expected")
            return last[0] == want
        try:
            wait_until(reached, timeout, interval=0.25, what=f"{promql} == {want}")
        except AssertionError as exc:
            raise AssertionError(f"{exc} (last value: {last[0]}); targets: "
                                 f"{self.api('targets')['activeTargets']}") from None
        return last[0]

    def wait_target_up(self):
        def up():
            targets = self.api("targets")["activeTargets"]
            return targets and all(t["health"] == "up" for t in targets)
        try:
            wait_until(up, 20, interval=0.25, what="Prometheus to scrape Sonde successfully")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {self.api('targets')['activeTargets']}") from None

    def check_target_healthy(self):
        for t in self.api("targets")["activeTargets"]:
            assert t["health"] == "up" and not t["lastError"], \
                f"Prometheus's scrape of Sonde failed: {t}"

    def stop(self):
        kill_process_group(self.proc)


@pytest.fixture
def make_netns():
    """Factory: make_netns(tag, sysctls=()) -> the name of a fresh network
    namespace with its loopback up (and these `key=value` sysctls set in
    it); deleted at teardown."""
    made = []

    def _make(tag, sysctls=()):
        name = f"sonde-{tag}-{os.getpid()}"
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        made.append(name)
        ex = ["ip", "netns", "exec", name]
        subprocess.run(ex + ["ip", "link", "set", "lo", "up"], check=True, capture_output=True)
        for kv in sysctls:
            subprocess.run(ex + ["sysctl", "-qw", kv], check=True, capture_output=True)
        return name

    yield _make
    for name in made:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)

