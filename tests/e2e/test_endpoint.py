"""Hardening of the metrics endpoint and of discovery (issue 10, items 3 and 4).

The endpoint: 1,100 half-sent connections from one client address neither
stop a scrape from another nor use up Sonde's descriptors; IPv6 and IPv4 on
one port; the bind address is honoured; TLS and basic auth from a Prometheus
web config file, checked with requests and with a real Prometheus; a bad web
config file stops Sonde at start with one line and exit code 2.

Discovery: a traced Node process's package.json that is a FIFO does not stop
Sonde, and one that is a symlink to a root-only file does not leak it.
"""
import os
import resource
import selectors
import shutil
import socket
import subprocess
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import pytest
import requests
from conftest import (PROMETHEUS, SONDE_BIN, Client, Sonde, _register, free_port,
                      kill_process_group, port_accepts, tail, wait_until)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # Debian 12's Python 3.11 still has it: bcrypt through libxcrypt

HALF_SENT = 1100
ATTACKER_IP = "127.0.0.2"  # the attacker's connections come from here, scrapes from 127.0.0.1


@pytest.fixture
def sondes():
    started = []

    def _start(env, prom_port=None, ready_host="127.0.0.1"):
        sonde = Sonde(env, prom_port=None, name=f"sonde-{len(started)}")
        sonde.prom_port = prom_port
        started.append(sonde)
        sonde.wait_log(r"sonde: ready", 30, "'sonde: ready'")
        if prom_port is not None:
            wait_until(lambda: port_accepts(prom_port, ready_host), 10,
                       what=f"Sonde's endpoint on {ready_host}:{prom_port}")
        return sonde

    yield _start
    for sonde in started:
        sonde.stop()


def base_env(server_port, prom_port, **extra):
    env = {"SONDE_OPEN_PORT": str(server_port), "SONDE_TRACE_PRINTER": "json",
           "SONDE_PROMETHEUS_PORT": str(prom_port)}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def scrape_url(url, **kw):
    r = requests.get(url, timeout=5, **kw)
    return r


# --------------------------------------------------------------------------
# 1,100 half-sent requests.
# --------------------------------------------------------------------------

def open_half_sent(port, n, src=ATTACKER_IP, wait_s=10.0):
    """n non-blocking connections from src, each sending a request without its
    final blank line; returns the sockets that connected."""
    socks, sel = [], selectors.DefaultSelector()
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((src, 0))
        s.connect_ex(("127.0.0.1", port))
        sel.register(s, selectors.EVENT_WRITE)
        socks.append(s)
    connected, deadline = [], time.monotonic() + wait_s
    pending = len(socks)
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            sel.unregister(s)
            pending -= 1
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                try:
                    s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    connected.append(s)
                except OSError:
                    pass
    sel.close()
    return socks, connected


def closed_by_peer(s):
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:  # reset: closed too
        return True


def test_half_sent_connections_do_not_starve_scrapes(start_server, sondes):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < HALF_SENT + 512:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, HALF_SENT + 512), max(hard, HALF_SENT + 512)))
    server = start_server("go")
    port = free_port()
    sonde = sondes(base_env(server.port, port, SONDE_SERVICE_NAME="e2e-halfsent",
                            SONDE_PROMETHEUS_CONNECTION_TIMEOUT="3s"), port)
    pid = sonde.proc.pid
    assert scrape_url(f"http://127.0.0.1:{port}/metrics").status_code == 200
    fds_before = fd_count(pid)

    socks, connected = open_half_sent(port, HALF_SENT)
    try:
        assert len(connected) >= HALF_SENT * 0.9, \
            f"only {len(connected)} of {HALF_SENT} attack connections connected"
        time.sleep(0.5)
        # Sonde holds at most its limit (64 total, 8 from the attacker's address).
        fds_during = fd_count(pid)
        assert fds_during <= fds_before + 64, \
            f"Sonde's descriptors went from {fds_before} to {fds_during}"
        # A scrape from another address still succeeds, and traffic is still traced.
        t0 = time.monotonic()
        r = scrape_url(f"http://127.0.0.1:{port}/metrics")
        assert r.status_code == 200 and "sonde_build_info" in r.text
        assert time.monotonic() - t0 < 3, "the scrape was slow behind the attack"
        Client().request(server.port, "GET", "/api/orders")
        sonde.wait_spans(lambda s: s.get("path") == "/api/orders", 1)
        # The attacker's own address gets no more than its share: a new
        # connection from it is closed without an answer.
        extra = socket.create_connection(("127.0.0.1", port), timeout=5,
                                         source_address=(ATTACKER_IP, 0))
        extra.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        extra.settimeout(5)
        try:
            answer = extra.recv(100)
        except ConnectionResetError:
            answer = b""
        extra.close()
        assert answer == b"", f"a connection over the per-address limit got {answer[:60]!r}"
        # Every half-sent connection is closed by Sonde: over the limit at
        # once, the rest at the 3 s timeout.
        wait_until(lambda: all(closed_by_peer(s) for s in connected), 15, interval=0.5,
                   what="Sonde to close every half-sent connection")
        fds_after = fd_count(pid)
        assert fds_after <= fds_before + 2, f"descriptors {fds_before} -> {fds_after}"
    finally:
        for s in socks:
            s.close()
    assert scrape_url(f"http://127.0.0.1:{port}/metrics").status_code == 200


# --------------------------------------------------------------------------
# Addresses.
# --------------------------------------------------------------------------

@pytest.mark.parametrize("address", [None, "::"])
def test_dual_stack_by_default(start_server, sondes, address):
    server = start_server("go")
    port = free_port()
    extra = {"SONDE_PROMETHEUS_ADDRESS": address} if address else {}
    sonde = sondes(base_env(server.port, port, **extra), port)
    for url in (f"http://[::1]:{port}/metrics", f"http://127.0.0.1:{port}/metrics"):
        r = scrape_url(url)
        assert r.status_code == 200 and "sonde_build_info" in r.text, url
    assert sonde.wait_log(r"Prometheus metrics on http://\[::\]:%d/metrics" % port, 1)


def refused(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        return s.connect_ex((host, port)) != 0


@pytest.mark.parametrize("address,url_host,other", [
    ("127.0.0.2", "127.0.0.2", "127.0.0.1"),
    ("::1", "[::1]", "127.0.0.1"),
    ("127.0.0.1", "127.0.0.1", "::1"),
])
def test_bind_address(start_server, sondes, address, url_host, other):
    server = start_server("go")
    port = free_port()
    sondes(base_env(server.port, port, SONDE_PROMETHEUS_ADDRESS=address), port,
           ready_host=address)
    r = scrape_url(f"http://{url_host}:{port}/metrics")
    assert r.status_code == 200 and "sonde_build_info" in r.text
    assert refused(other, port), f"{other}:{port} accepted, Sonde should listen on {address} only"


# --------------------------------------------------------------------------
# TLS and basic auth.
# --------------------------------------------------------------------------

PASSWORD = "correct horse battery"


@pytest.fixture
def web_config(tmp_path):
    """A certificate for localhost/127.0.0.1 (openssl CLI), a bcrypt hash, and
    a web config file using both; relative paths, as users write them."""
    d = tmp_path / "web"
    d.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
        check=True, capture_output=True)
    hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2 ** 6))
    assert hashed.startswith("$2b$"), hashed
    (d / "web.yml").write_text(textwrap.dedent(f"""\
        tls_server_config:
          cert_file: cert.pem
          key_file: key.pem
          min_version: TLS12
        basic_auth_users:
          prometheus: '{hashed}'
        """))
    return d


def test_tls_and_basic_auth(start_server, sondes, web_config):
    server = start_server("go")
    port = free_port()
    sonde = sondes(base_env(server.port, port,
                            SONDE_PROMETHEUS_WEB_CONFIG_FILE=web_config / "web.yml"), port)
    sonde.wait_log(r"Prometheus metrics on https://.*\(basic auth\)", 1)
    url = f"https://127.0.0.1:{port}/metrics"
    ca = str(web_config / "cert.pem")
    r = scrape_url(url, verify=ca, auth=("prometheus", PASSWORD))
    assert r.status_code == 200 and "sonde_build_info" in r.text
    r = scrape_url(url, verify=ca, auth=("prometheus", PASSWORD + "x"))
    assert r.status_code == 401 and "sonde_build_info" not in r.text
    r = scrape_url(url, verify=ca, auth=("someone", PASSWORD))
    assert r.status_code == 401
    r = scrape_url(url, verify=ca)
    assert r.status_code == 401 and r.headers.get("WWW-Authenticate", "").startswith("Basic")
    # The password is not needed for other paths either.
    r = scrape_url(f"https://127.0.0.1:{port}/other", verify=ca)
    assert r.status_code == 401
    # Plain HTTP on the TLS port gets no metrics.
    try:
        r = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5,
                         auth=("prometheus", PASSWORD))
        assert "sonde_build_info" not in r.text
    except requests.RequestException:
        pass


def start_prometheus(workdir, jobs):
    """Debian's Prometheus with our own scrape jobs (TLS, basic auth)."""
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.fail("prometheus is not installed (apt-get install prometheus)", pytrace=False)
    port = free_port()
    (workdir / "data").mkdir(parents=True)
    cfg = workdir / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n" + jobs)
    log = workdir / "prometheus.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"],
            cwd=workdir, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            start_new_session=True)
    _register(proc)

    def ready():
        if proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {proc.returncode}:\n{tail(log)}")
        try:
            return requests.get(f"http://127.0.0.1:{port}/-/ready", timeout=2).ok
        except requests.RequestException:
            return False
    wait_until(ready, 30, interval=0.2, what="Prometheus to be ready")
    return proc, port


def test_real_prometheus_scrapes_with_tls_and_basic_auth(start_server, sondes, web_config,
                                                         tmp_path):
    server = start_server("go")
    port = free_port()
    sondes(base_env(server.port, port, SONDE_SERVICE_NAME="e2e-tls-prom",
                    SONDE_PROMETHEUS_WEB_CONFIG_FILE=web_config / "web.yml"), port)
    ca = web_config / "cert.pem"
    job = textwrap.dedent(f"""\
          - job_name: {{name}}
            scheme: https
            tls_config:
              ca_file: {ca}
              server_name: localhost
            basic_auth:
              username: prometheus
              password: '{{password}}'
            static_configs:
              - targets: ['127.0.0.1:{port}']
        """)
    jobs = (job.format(name="good", password=PASSWORD) +
            job.format(name="wrong", password="not-it"))
    proc, prom_port = start_prometheus(tmp_path / "prom", jobs)
    try:
        def targets():
            r = requests.get(f"http://127.0.0.1:{prom_port}/api/v1/targets", timeout=5).json()
            return {t["labels"]["job"]: t for t in r["data"]["activeTargets"]}

        def scraped_both():
            t = targets()
            return len(t) == 2 and all(x["health"] != "unknown" for x in t.values()) and t
        t = wait_until(scraped_both, 30, interval=0.5, what="Prometheus to scrape both jobs")
        wait_until(lambda: targets()["good"]["health"] == "up", 20, interval=0.5,
                   what=f"the good job to be up: {targets()}")
        t = targets()
        assert t["wrong"]["health"] == "down" and "401" in t["wrong"]["lastError"], t["wrong"]
        Client().request(server.port, "GET", "/api/orders")

        def counted():
            r = requests.get(f"http://127.0.0.1:{prom_port}/api/v1/query", timeout=5, params={
                "query": 'sum(http_server_request_duration_seconds_count'
                         '{job="good",service_name="e2e-tls-prom"})'}).json()
            res = r["data"]["result"]
            return res and float(res[0]["value"][1]) >= 1
        wait_until(counted, 30, interval=0.5, what="the request counted through the TLS scrape")
    finally:
        kill_process_group(proc)


@pytest.mark.parametrize("content,says", [
    ("basic_auth_users:\n  prometheus: plaintext\n", "not a bcrypt hash"),
    ("tls_server_config:\n  cert_file: missing.pem\n  key_file: missing.pem\n", "missing.pem"),
    ("tls_server_config:\n  cert_file: c\n", "both cert_file and key_file"),
    ("tls_server_config:\n  client_ca_file: ca.pem\n", "client_ca_file is not supported"),
    ("nonsense: [\n", "line"),
])
def test_bad_web_config_exits_2(tmp_path, content, says):
    path = tmp_path / "web.yml"
    path.write_text(content)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SONDE_", "BEYLA_", "OTEL_"))}
    env.update({"SONDE_OPEN_PORT": "8080", "SONDE_PROMETHEUS_PORT": str(free_port()),
                "SONDE_PROMETHEUS_WEB_CONFIG_FILE": str(path)})
    res = subprocess.run([str(SONDE_BIN)], env=env, capture_output=True, text=True, timeout=20)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2, f"exit {res.returncode}: {res.stderr}"
    assert len(lines) == 1, lines
    assert str(path) in lines[0] and says in lines[0], lines[0]


def test_bad_address_exits_2():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SONDE_", "BEYLA_", "OTEL_"))}
    env.update({"SONDE_OPEN_PORT": "8080", "SONDE_PROMETHEUS_PORT": str(free_port()),
                "SONDE_PROMETHEUS_ADDRESS": "localhost.example"})
    res = subprocess.run([str(SONDE_BIN)], env=env, capture_output=True, text=True, timeout=20)
    assert res.returncode == 2, res.stderr
    assert "SONDE_PROMETHEUS_ADDRESS" in res.stderr and len(res.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------
# Discovery: package.json as a FIFO, or a symlink to a root-only file.
# --------------------------------------------------------------------------

NODE_SERVER = """\
const http = require('http');
http.createServer((req, res) => { res.end('ok'); }).listen(+process.argv[2], '127.0.0.1');
"""
NOBODY = 65534


class NodeApps:
    """start(tag) -> (proc, port, app_dir): a Node server.js run as `nobody`
    from a fresh world-readable directory without a package.json, under
    self.base (a 0755 directory outside pytest's 0700 tree)."""

    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="e2e-node-"))
        os.chmod(self.base, 0o755)
        self.procs = []

    def spawn(self, argv, port, log, env=None):
        with open(log, "wb") as logf:
            proc = subprocess.Popen(argv, user=NOBODY, group=NOBODY, extra_groups=[], cwd="/",
                                    env=env,
                                    stdin=subprocess.DEVNULL, stdout=logf,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        _register(proc)
        self.procs.append(proc)
        try:
            wait_until(lambda: port_accepts(port) or proc.poll() is not None, 20,
                       what=f"{argv} on {port}")
        finally:
            assert proc.poll() is None, f"{argv} exited:\n{tail(log)}"
        return proc

    def start(self, tag):
        app = self.base / tag
        app.mkdir()
        os.chmod(app, 0o777)
        (app / "server.js").write_text(NODE_SERVER)
        os.chmod(app / "server.js", 0o644)
        port = free_port()
        proc = self.spawn(["node", str(app / "server.js"), str(port)], port,
                          self.base / f"{tag}.log")
        return proc, port, app

    def stop(self):
        for p in self.procs:
            kill_process_group(p)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def node_app():
    apps = NodeApps()
    yield apps
    apps.stop()


def service_of(sonde, pid):
    m = sonde.wait_instrumented([pid])
    line = m.string
    return line.split("service=", 1)[1].split(" ", 1)[0]


def test_package_json_fifo_does_not_block_discovery(start_server, sondes, node_app):
    go = start_server("go")
    node, node_port, app = node_app.start("fifo")
    os.mkfifo(app / "package.json", 0o666)
    port = free_port()
    # Sonde's first scan reads the package.json of server.js: a FIFO with no
    # writer would block that read, and with it Sonde, for ever.
    sonde = sondes(base_env(f"{go.port},{node_port}", port), port)
    assert service_of(sonde, node.pid) == "server"
    Client().request(go.port, "GET", "/api/orders")
    sonde.wait_spans(lambda s: s.get("path") == "/api/orders" and s.get("server_port") == go.port, 1)
    Client().request(node_port, "GET", "/from-node")
    spans = sonde.wait_spans(lambda s: s.get("path") == "/from-node", 1)
    assert spans[0]["service"] == "server"
    assert scrape_url(f"http://127.0.0.1:{port}/metrics").status_code == 200


def test_package_json_symlink_to_root_file_does_not_leak(start_server, sondes, node_app):
    secret_dir = node_app.base / "secret"
    secret_dir.mkdir()
    os.chmod(secret_dir, 0o755)
    secret = f"secret-{os.getpid()}-{time.monotonic_ns()}"
    for name in ("key.json", "package.json"):
        (secret_dir / name).write_text(f'{{"name": "{secret}"}}\n')
        os.chmod(secret_dir / name, 0o600)

    leaky, leaky_port, leaky_app = node_app.start("link")
    os.symlink(secret_dir / "key.json", leaky_app / "package.json")
    # The user's own package.json, as the user may read it, still names the
    # service: the refusal above is not a reader that reads nothing.
    good, good_port, good_app = node_app.start("good")
    (good_app / "package.json").write_text('{"name": "pkg-named"}\n')
    os.chmod(good_app / "package.json", 0o644)
    # A directory symlink on the way to a root-only package.json: the file
    # itself is no symlink, but its user may not read it.
    hidden_app = node_app.base / "dirlink"
    hidden_app.mkdir()
    os.chmod(hidden_app, 0o755)
    (hidden_app / "sub").symlink_to(secret_dir)
    hidden_port = free_port()
    (secret_dir / "index.js").write_text(NODE_SERVER)
    os.chmod(secret_dir / "index.js", 0o644)
    hidden = node_app.spawn(["node", str(hidden_app / "sub" / "index.js"), str(hidden_port)],
                            hidden_port, node_app.base / "dirlink.log")

    # /proc/PID/environ, read the same careful way, still names services.
    env_app = node_app.base / "env"
    env_app.mkdir()
    os.chmod(env_app, 0o755)
    (env_app / "server.js").write_text(NODE_SERVER)
    os.chmod(env_app / "server.js", 0o644)
    env_port = free_port()
    by_env = node_app.spawn(["node", str(env_app / "server.js"), str(env_port)], env_port,
                            node_app.base / "env.log",
                            env={"PATH": os.environ["PATH"], "OTEL_SERVICE_NAME": "env-named"})

    port = free_port()
    sonde = sondes(base_env(f"{leaky_port},{good_port},{hidden_port},{env_port}", port), port)
    assert service_of(sonde, by_env.pid) == "env-named"
    assert service_of(sonde, leaky.pid) == "server"
    assert service_of(sonde, good.pid) == "pkg-named"
    assert service_of(sonde, hidden.pid) == "index"
    Client().request(leaky_port, "GET", "/leak")
    spans = sonde.wait_spans(lambda s: s.get("path") == "/leak", 1)
    assert spans[0]["service"] == "server"
    Client().request(hidden_port, "GET", "/hidden")
    sonde.wait_spans(lambda s: s.get("path") == "/hidden", 1)
    text = scrape_url(f"http://127.0.0.1:{port}/metrics").text
    assert 'service_name="pkg-named"' in text
    assert secret not in text
    assert secret not in sonde.log_text(500)
    assert all(secret not in str(s) for s in sonde.snapshot())
