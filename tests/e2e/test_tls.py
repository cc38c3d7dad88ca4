"""HTTPS through OpenSSL's uprobes (issue 12, OpenSSL part).

Real HTTPS servers on loopback -- Python's http.server wrapped in `ssl`
(libssl.so.3 loaded by the dlopen'd _ssl module), Node's `https` (OpenSSL
linked into the node executable; memory BIOs: its socket I/O is libuv's,
outside SSL_read/SSL_write) and nginx with TLS (libssl.so.3, keep-alive) -- and real HTTPS clients -- curl (selected by its executable
when it starts) and Python's urllib (selected by pid) -- with certificates
made here by the openssl command. For each: one span per request with the
right method, path, status, sizes and url.scheme https (the printer's
"scheme"); a traced HTTPS client calling a traced HTTPS server is in the
same trace; a TLS connection to a process that is not traced produces
nothing; a handshake the client refuses (certificate not trusted) gives no
span and no crash.
"""
import http.client
import json
import os
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (PYTHON, SERVERS_DIR, SONDE_BIN, children_of, free_port, kill_process_group,
                      launch_server, nginx_prefix, wait_until, _register)

TLS_DIR = SERVERS_DIR / "tls"
SPAN_WAIT = 15.0
QUIET = 1.5  # after the expected spans, how long no other may come


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A self-signed certificate for localhost and 127.0.0.1, and a second
    one no client trusts."""
    d = tmp_path_factory.mktemp("certs")
    os.chmod(d, 0o755)  # nginx's workers (nobody) read the key
    for name in ("good", "other"):
        res = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.pem"),
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, f"openssl req failed (test setup): {res.stderr}"
        for f in (f"{name}.key", f"{name}.pem"):
            os.chmod(d / f, 0o644)
    return d


def start_tls_server(kind, certs, log_dir, port=None):
    port = port or free_port()
    cert, key = str(certs / "good.pem"), str(certs / "good.key")
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C.UTF-8",
           "HOME": os.environ.get("HOME", "/root"), "PYTHONUNBUFFERED": "1"}
    workdir = None
    if kind == "python":
        cmd = [PYTHON, str(TLS_DIR / "https_server.py"), str(port), cert, key]
    elif kind == "node":
        if shutil.which("node") is None:
            pytest.fail("node is not installed (apt-get install nodejs)", pytrace=False)
        cmd = ["node", str(TLS_DIR / "https_server.js"), str(port), cert, key]
    elif kind == "nginx":
        if shutil.which("nginx") is None:
            pytest.fail("nginx is not installed (apt-get install nginx-light)", pytrace=False)
        workdir = nginx_prefix(port, TLS_DIR / "nginx-tls.conf.in",
                               {"@CERT@": cert, "@KEY@": key})
        cmd = ["nginx", "-p", str(workdir), "-c", str(workdir / "nginx.conf")]
    else:
        raise ValueError(kind)
    server = launch_server(kind, port, cmd, None, env, Path(log_dir) / f"{kind}-tls-{port}.log",
                           workdir)
    if kind == "nginx":
        server.worker_pids = wait_until(
            lambda: (lambda k: k if len(k) >= 2 else None)(children_of(server.pid)), 10,
            what="nginx's 2 worker processes")
    return server


@pytest.fixture
def tls_servers(certs, tmp_path):
    started = []

    def _start(kind, port=None):
        s = start_tls_server(kind, certs, tmp_path, port)
        started.append(s)
        return s

    yield _start
    for s in started:
        s.stop()
        if s.workdir:
            shutil.rmtree(s.workdir, ignore_errors=True)


def wait_tls_attached(sonde, pids, timeout=15.0):
    """Sonde logs `tls: N uprobes on <libssl> in process PID` for each pid."""
    for pid in pids:
        sonde.wait_log(rf"tls: \d+ uprobes on \S+ in process {pid}\b", timeout,
                       f"TLS uprobes in process {pid}")


def client_context(certs):
    return ssl.create_default_context(cafile=str(certs / "good.pem"))


def https_requests(port, certs, reqs):
    """The requests on one keep-alive connection from this (untraced)
    process; returns [(method, path, status, request body len, response body len)]."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=client_context(certs),
                                       timeout=10)
    out = []
    try:
        for method, target, body in reqs:
            conn.request(method, target, body=body)
            r = conn.getresponse()
            data = r.read()
            out.append((method, target.split("?")[0], r.status, len(body or b""), len(data)))
    finally:
        conn.close()
    return out


def spans_on(sonde, port, kind="server"):
    return [s for s in sonde.snapshot() if s.get("server_port") == port and s.get("kind") == kind]


def check_spans(sonde, port, expected, kind="server", pids=None):
    """Exactly one span per expected request, with its attributes."""
    def enough():
        got = spans_on(sonde, port, kind)
        return got if len(got) >= len(expected) else None
    try:
        wait_until(enough, SPAN_WAIT, what=f"{len(expected)} {kind} spans on port {port}")
    except AssertionError:
        raise AssertionError(f"only {spans_on(sonde, port, kind)} arrived for {expected}; "
                             f"Sonde's log:\n{sonde.log_text()}") from None
    time.sleep(QUIET)
    got = spans_on(sonde, port, kind)
    brief = [(s["method"], s["path"], s["status"], s["request_size"], s["response_size"],
              s["scheme"]) for s in got]
    want = [(m, p, st, rq, rs, "https") for (m, p, st, rq, rs) in expected]
    assert sorted(brief) == sorted(want), f"spans {brief}\nexpected {want}"
    if pids is not None:
        assert {s["pid"] for s in got} <= set(pids), f"spans from other processes: {got}"
    return got


SERVER_REQUESTS = [
    ("GET", "/tls/a?status=200", None),
    ("GET", "/tls/missing?status=404", None),
    ("POST", "/tls/post", b"x" * 100),
    ("GET", "/tls/b?status=201", None),
]


@pytest.mark.parametrize("kind", ["python", "node", "nginx"])
def test_https_server(kind, tls_servers, start_sonde, certs, tmp_path):
    """Requests on a keep-alive connection, then two more on new connections
    by curl: one server span each, HTTP attributes from the plaintext,
    scheme https, the sizes the client saw; the duration metric, with its
    url_scheme label selected, says https."""
    server = tls_servers(kind)
    cfg = tmp_path / "sonde.yml"
    cfg.write_text("attributes:\n  select:\n    http_server_request_duration_seconds:\n"
                   "      include: [\"url_scheme\"]\n")
    sonde = start_sonde({"SONDE_OPEN_PORT": str(server.port), "SONDE_TRACE_PRINTER": "json",
                         "SONDE_CONFIG_PATH": str(cfg)})
    pids = server.pids()
    sonde.wait_instrumented(pids)
    wait_tls_attached(sonde, [server.pid, *server.worker_pids])
    reqs = SERVER_REQUESTS + [("POST", "/tls/big", b"z" * 70000)]
    if kind == "node":
        reqs = reqs + [("GET", "/tls/chunked", None)]
    if kind == "nginx":
        # nginx's own statuses and bodies ("created\n"), and a static file
        reqs = [("GET", "/tls/a", None), ("GET", "/tls/b?status=201", None),
                ("GET", "/tls/c?status=404", None), ("GET", "/static/file-1k.bin", None)]
    sent = https_requests(server.port, certs, reqs)
    if kind != "nginx":
        assert [s[2] for s in sent][:5] == [200, 404, 201, 201, 201], \
            f"server answered {sent} (setup)"
    if kind == "node":
        # a chunked body's size is its bytes on the wire after the head, framing
        # included (as for plaintext): three chunks and the terminator
        chunked = [(m, p, st, rq, sum(len(f"{n:x}") + 4 + n for n in (3000, 20000, 10)) + 5)
                   for (m, p, st, rq, rs) in sent if p == "/tls/chunked"]
        assert len(chunked) == 1 and sent[-1][4] == 23010, f"node answered {sent} (setup)"
        sent = sent[:-1] + chunked
    for i in range(2):
        res = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                              "--cacert", str(certs / "good.pem"),
                              f"https://localhost:{server.port}/tls/curl{i}"],
                             capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, f"curl failed (setup): {res.stderr}"
        code, size = res.stdout.split()
        sent.append(("GET", f"/tls/curl{i}", int(code), 0, int(size)))
    spans = check_spans(sonde, server.port, sent, pids=pids)
    for s in spans:
        assert s["server_addr"] == "127.0.0.1" and s["client_addr"] == "127.0.0.1", s
        assert s["duration_ns"] > 0 and s["trace_id"] and s["parent_span_id"] == "", s
    # TLS connections are counted, not "skipped as not HTTP"
    m = sonde.metrics()
    series = m.select("http_server_request_duration_seconds_count")
    assert series and {labels.get("url_scheme") for _, labels, _ in series} == {"https"}, series
    assert sum(v for _, _, v in series) == len(sent), series
    assert m.sum("sonde_tls_connections_total") >= 3
    assert m.sum("sonde_connections_skipped_total") == 0, "TLS counted as not HTTP"


CLIENT_SCRIPT = r"""
import sys
port, cafile = sys.argv[1], sys.argv[2]
print("ready", flush=True)
sys.stdin.readline()
# dlopen of _ssl, which maps libssl: after Sonde started (urllib imports ssl too)
import ssl, urllib.request, urllib.error
ctx = ssl.create_default_context(cafile=cafile)
print("imported", flush=True)
sys.stdin.readline()
for path, body in (("/cli/one?status=200", None), ("/cli/two?status=404", None),
                   ("/cli/three", b"y" * 42)):
    try:
        with urllib.request.urlopen(f"https://localhost:{port}{path}", data=body,
                                    context=ctx, timeout=10) as r:
            print(r.status, len(r.read()), flush=True)
    except urllib.error.HTTPError as e:
        print(e.code, len(e.read()), flush=True)
"""


def maps_libssl(pid):
    with open(f"/proc/{pid}/maps") as f:
        return "/libssl.so" in f.read()


def test_urllib_client_dlopen(tls_servers, start_sonde, certs, tmp_path):
    """A Python urllib client selected by pid, traced before it loads libssl
    (its `import ssl` dlopens _ssl, which maps libssl.so.3): the uprobes
    follow within a scan, then one client span per call, scheme https, the
    server's port and statuses."""
    server = tls_servers("python")
    script = tmp_path / "client.py"
    script.write_text(CLIENT_SCRIPT)
    proc = subprocess.Popen([PYTHON, str(script), str(server.port), str(certs / "good.pem")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    _register(proc)
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert not maps_libssl(proc.pid), "libssl already mapped (test setup)"
        sonde = start_sonde({"SONDE_TARGET_PID": str(proc.pid), "SONDE_TRACE_PRINTER": "json"})
        sonde.wait_instrumented([proc.pid])
        proc.stdin.write("import\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "imported"
        assert maps_libssl(proc.pid), "import ssl did not map libssl (test setup)"
        wait_tls_attached(sonde, [proc.pid], timeout=10)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, _ = proc.communicate(timeout=30)
        got = [tuple(map(int, ln.split())) for ln in out.strip().splitlines()]
        assert [g[0] for g in got] == [200, 404, 201], f"client saw {got} (setup)"
        expected = [("GET", "/cli/one", 200, 0, got[0][1]), ("GET", "/cli/two", 404, 0, got[1][1]),
                    ("POST", "/cli/three", 201, 42, got[2][1])]
        spans = check_spans(sonde, server.port, expected, kind="client", pids={proc.pid})
        assert all(s["parent_span_id"] == "" for s in spans), spans
    finally:
        kill_process_group(proc)


def test_nginx_started_after_sonde(certs, tmp_path, start_sonde):
    """nginx started while Sonde runs: its master is selected when it
    listens, its workers are forked after that (traced by the kernel from
    their fork) and get uprobes of their own; their requests are spans."""
    port = free_port()
    sonde = start_sonde({"SONDE_OPEN_PORT": str(port), "SONDE_TRACE_PRINTER": "json"})
    server = start_tls_server("nginx", certs, tmp_path, port)
    try:
        wait_tls_attached(sonde, [server.pid, *server.worker_pids])
        sent = https_requests(port, certs, [("GET", "/late/1", None), ("GET", "/late/2", None)])
        check_spans(sonde, port, sent, pids=set(server.worker_pids))
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


def test_curl_client(tls_servers, start_sonde, certs, tmp_path):
    """curl selected by its executable when it starts: its uprobes come with
    its instrumentation (the first URL is a warm-up), then one client span
    per URL, a new TLS connection each."""
    server = tls_servers("python")
    exe = tmp_path / "e2e-tls-curl"
    exe.write_bytes(open(shutil.which("curl"), "rb").read())
    exe.chmod(0o755)
    sonde = start_sonde({"SONDE_EXECUTABLE_NAME": "/e2e-tls-curl$", "SONDE_TRACE_PRINTER": "json"})
    statuses = [200, 404, 201, 500]
    urls = [f"https://localhost:{server.port}/curl/warmup"] + \
        [f"https://localhost:{server.port}/curl/{i}?status={st}" for i, st in enumerate(statuses)]
    args = [a for u in urls for a in ("-o", "/dev/null", u)]
    res = subprocess.run([str(exe), "-s", "--rate", "2/s", "--cacert", str(certs / "good.pem"),
                          "-H", "Connection: close", "-w", "%{http_code} %{size_download}\\n",
                          *args], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"curl failed: {res.stderr}"
    out = [tuple(map(int, ln.split())) for ln in res.stdout.splitlines()]
    assert [o[0] for o in out[1:]] == statuses, f"curl saw {out} (setup)"
    m = sonde.wait_log(r"instrumenting pid=(\d+) service=e2e-tls-curl ", 5, "curl instrumented")
    pid = int(m.group(1))
    expected = [("GET", f"/curl/{i}", st, 0, out[i + 1][1]) for i, st in enumerate(statuses)]

    def client_spans():
        return [s for s in spans_on(sonde, server.port, "client") if s["path"] != "/curl/warmup"]
    wait_until(lambda: len(client_spans()) >= len(expected), SPAN_WAIT,
               what=f"curl's client spans; log:\n{sonde.log_text()}")
    time.sleep(QUIET)
    got = sorted((s["method"], s["path"], s["status"], s["request_size"], s["response_size"],
                  s["scheme"]) for s in client_spans())
    assert got == sorted(e + ("https",) for e in expected)
    assert {s["pid"] for s in client_spans()} == {pid}


def test_traced_client_calls_traced_server(tls_servers, start_sonde, certs):
    """Python HTTPS front calls the Node HTTPS back while handling a request:
    the three spans (front server, front client, back server) are one trace,
    parent to child, as plaintext calls are."""
    front = tls_servers("python")
    back = tls_servers("node")
    sonde = start_sonde({"SONDE_OPEN_PORT": f"{front.port},{back.port}",
                         "SONDE_TRACE_PRINTER": "json"})
    sonde.wait_instrumented([front.pid])
    sonde.wait_instrumented([back.pid])
    wait_tls_attached(sonde, [front.pid, back.pid])
    n = 3
    for i in range(n):
        sent = https_requests(front.port, certs,
                              [("GET", f"/call?port={back.port}&path=/back/{i}", None)])
        assert sent[0][2] == 200, f"front answered {sent} (setup)"
    wait_until(lambda: len(spans_on(sonde, back.port)) >= n and
               len(spans_on(sonde, back.port, "client")) >= n and
               len(spans_on(sonde, front.port)) >= n, SPAN_WAIT,
               what=f"{n} traces of 3 spans; log:\n{sonde.log_text()}")
    for i in range(n):
        back_srv = [s for s in spans_on(sonde, back.port) if s["path"] == f"/back/{i}"]
        cli = [s for s in spans_on(sonde, back.port, "client") if s["path"] == f"/back/{i}"]
        assert len(back_srv) == 1 and len(cli) == 1, (back_srv, cli)
        back_srv, cli = back_srv[0], cli[0]
        front_srv = [s for s in spans_on(sonde, front.port) if s["trace_id"] == cli["trace_id"]]
        assert len(front_srv) == 1, f"client span {cli} not in a front request's trace"
        assert front_srv[0]["path"] == "/call" and front_srv[0]["scheme"] == "https"
        assert cli["parent_span_id"] == front_srv[0]["span_id"], (cli, front_srv)
        assert back_srv["trace_id"] == cli["trace_id"], (back_srv, cli)
        assert back_srv["parent_span_id"] == cli["span_id"], (back_srv, cli)
        assert cli["scheme"] == back_srv["scheme"] == "https"


def libssl_breakpoints(pid):
    """The bytes of libssl's code that process @pid has in memory unlike
    the file's: the breakpoints (0xcc) the kernel planted for uprobes."""
    return [b for _, b in libssl_changed(pid)[1]]


def libssl_changed(pid):
    """(libssl's path, [(file offset, byte)]) of the code bytes process @pid
    has in memory unlike the file's."""
    with open(f"/proc/{pid}/maps") as f:
        maps = [ln.split() for ln in f]
    code = [m for m in maps if len(m) >= 6 and "/libssl.so" in m[5] and m[1].startswith("r-x")]
    assert code, f"process {pid} maps no libssl code"
    start, end = (int(x, 16) for x in code[0][0].split("-"))
    off, lib = int(code[0][2], 16), code[0][5]
    with open(f"/proc/{pid}/mem", "rb") as mem:
        mem.seek(start)
        live = mem.read(end - start)
    with open(lib, "rb") as f:
        f.seek(off)
        disk = f.read(end - start)
    return lib, [(off + i, live[i]) for i in range(min(len(live), len(disk)))
                 if live[i] != disk[i]]


def test_tls_hooks_cli(tls_servers, start_sonde, certs):
    """`sonde --tls-hooks FILE` names exactly the places where the running
    Sonde planted its breakpoints in a traced process's libssl (read back
    from the process's memory), and says why when a file has none."""
    server = tls_servers("python")
    sonde = start_sonde({"SONDE_OPEN_PORT": str(server.port), "SONDE_TRACE_PRINTER": "json"})
    sonde.wait_instrumented([server.pid])
    wait_tls_attached(sonde, [server.pid])
    lib, changed = libssl_changed(server.pid)
    res = subprocess.run([str(SONDE_BIN), "--tls-hooks", lib], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    lines = [ln.split("\t") for ln in res.stdout.splitlines()]
    assert lines and all(ln[0] == "openssl" and ln[3] == "entry+return" for ln in lines), lines
    printed = {int(ln[2], 16) for ln in lines}
    assert printed == {off for off, b in changed if b == 0xCC}, (res.stdout, changed)
    assert {b for _, b in changed} == {0xCC}, changed
    res = subprocess.run([str(SONDE_BIN), "--tls-hooks", "/bin/true"], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 1 and res.stdout == "", (res.returncode, res.stdout)
    assert "no SSL_read/SSL_write and no Go crypto/tls" in res.stderr, res.stderr


def test_untraced_tls_process_produces_nothing(tls_servers, start_sonde, certs):
    """Two HTTPS servers on the same libssl, only one selected: the other
    gets no uprobes and no spans, while the traced one's requests are seen.
    The uprobes carry the traced pid: the kernel plants the breakpoint in
    the traced process's SSL_read only, so the other never even traps."""
    traced = tls_servers("python")
    other = tls_servers("python")
    sonde = start_sonde({"SONDE_OPEN_PORT": str(traced.port), "SONDE_TRACE_PRINTER": "json"})
    sonde.wait_instrumented([traced.pid])
    wait_tls_attached(sonde, [traced.pid])
    https_requests(other.port, certs, [("GET", "/other/1", None), ("GET", "/other/2", None)])
    sent = https_requests(traced.port, certs, [("GET", "/mine/1", None)])
    check_spans(sonde, traced.port, sent)
    assert not [s for s in sonde.snapshot() if s.get("server_port") == other.port or
                s.get("pid") == other.pid], "spans from a process that is not traced"
    assert not [ln for ln in sonde.log if f"in process {other.pid}" in ln], \
        "uprobes attached to a process that is not traced"
    planted = libssl_breakpoints(traced.pid)
    assert planted and set(planted) == {0xCC}, f"no breakpoint in the traced process: {planted}"
    assert libssl_breakpoints(other.pid) == [], "breakpoints in a process not traced"


def test_handshake_failure(tls_servers, start_sonde, certs):
    """curl refuses the server's certificate (not trusted): the handshake
    fails, no span, Sonde runs on and the next good request is one span."""
    server = tls_servers("python")
    sonde = start_sonde({"SONDE_OPEN_PORT": str(server.port), "SONDE_TRACE_PRINTER": "json"})
    sonde.wait_instrumented([server.pid])
    wait_tls_attached(sonde, [server.pid])
    for _ in range(3):
        res = subprocess.run(["curl", "-s", "-o", "/dev/null", "--cacert", str(certs / "other.pem"),
                              f"https://localhost:{server.port}/refused"],
                             capture_output=True, text=True, timeout=30)
        assert res.returncode == 60, f"curl should refuse the certificate: {res.returncode}"
    sent = https_requests(server.port, certs, [("GET", "/after", None)])
    check_spans(sonde, server.port, sent)
    assert sonde.proc.poll() is None, "Sonde exited"
    assert sonde.metrics().sum("sonde_tls_connections_total") >= 4


def test_tls_switched_off(tls_servers, start_sonde, certs):
    """SONDE_TLS=false: no uprobes, no breakpoints, no spans; the TLS
    connections are still counted, and not as skipped."""
    server = tls_servers("python")
    sonde = start_sonde({"SONDE_OPEN_PORT": str(server.port), "SONDE_TRACE_PRINTER": "json",
                         "SONDE_TLS": "false"})
    sonde.wait_instrumented([server.pid])
    https_requests(server.port, certs, [("GET", "/off/1", None), ("GET", "/off/2", None)])
    wait_until(lambda: sonde.metrics().sum("sonde_tls_connections_total") >= 1, 10,
               what="the TLS connection counted")
    time.sleep(QUIET)
    assert not spans_on(sonde, server.port), "spans with TLS switched off"
    assert not [ln for ln in sonde.log if "tls:" in ln], "uprobes with TLS switched off"
    assert libssl_breakpoints(server.pid) == []
    assert sonde.metrics().sum("sonde_connections_skipped_total") == 0


@pytest.mark.parametrize("kind", ["python", "nginx"])
def test_connection_opened_before_sonde(kind, tls_servers, start_sonde, certs):
    """A keep-alive TLS connection opened (handshake and a first request)
    before Sonde starts: its later requests are spans all the same, found
    from its application-data records; the one before Sonde is not. A
    library call already waiting when the uprobes come (Python's handler
    thread blocked in SSL_read for the next request) is not seen: the first
    request after that may be missed, not the ones after it."""
    server = tls_servers(kind)
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=client_context(certs),
                                       timeout=10)
    try:
        conn.request("GET", "/pre/0")
        r = conn.getresponse()
        r.read()
        sonde = start_sonde({"SONDE_OPEN_PORT": str(server.port), "SONDE_TRACE_PRINTER": "json"})
        wait_tls_attached(sonde, [server.pid, *server.worker_pids])
        sent = []
        for i in (1, 2, 3, 4):
            conn.request("GET", f"/pre/{i}")
            r = conn.getresponse()
            sent.append(("GET", f"/pre/{i}", r.status, 0, len(r.read())))
        wait_until(lambda: {"/pre/2", "/pre/3", "/pre/4"} <= {s["path"] for s in
                                                            spans_on(sonde, server.port)},
                   SPAN_WAIT, what=f"spans of /pre/2..4; log:\n{sonde.log_text()}")
        time.sleep(QUIET)
        got = [(s["method"], s["path"], s["status"], s["request_size"], s["response_size"])
               for s in spans_on(sonde, server.port)]
        assert sorted(got) == sorted(sent[1:]) or sorted(got) == sorted(sent), got
        assert all(s["scheme"] == "https" for s in spans_on(sonde, server.port))
    finally:
        conn.close()


def sonde_map_entries(sonde, name):
    """The entries of Sonde's BPF map @name (found through the map fds
    Sonde holds: /proc/PID/fdinfo says their ids)."""
    ids = set()
    fd_dir = Path(f"/proc/{sonde.proc.pid}/fdinfo")
    for f in fd_dir.iterdir():
        try:
            for line in f.read_text().splitlines():
                if line.startswith("map_id:"):
                    ids.add(int(line.split()[1]))
        except OSError:
            continue
    for map_id in ids:
        res = subprocess.run(["bpftool", "-j", "map", "show", "id", str(map_id)],
                             capture_output=True, text=True, timeout=30)
        if res.returncode == 0 and json.loads(res.stdout).get("name") == name:
            res = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(map_id)],
                                 capture_output=True, text=True, timeout=60)
            assert res.returncode == 0, res.stderr
            return json.loads(res.stdout)
    raise AssertionError(f"Sonde (pid {sonde.proc.pid}) holds no map {name}")


@pytest.mark.parametrize("kind", ["python", "nginx"])
def test_tls_state_gone_after_close(kind, tls_servers, start_sonde, certs):
    """The plaintext state of a TLS socket (tls_conns, keyed by the socket's
    address) never outlives the socket: once every connection is closed,
    none is left -- whether the connection was opened before Sonde (made
    from application data, or by a uprobe) or after it."""
    server = tls_servers(kind)
    early = http.client.HTTPSConnection("127.0.0.1", server.port, context=client_context(certs),
                                        timeout=10)
    try:
        early.request("GET", "/early/0")
        early.getresponse().read()
        sonde = start_sonde({"SONDE_OPEN_PORT": str(server.port), "SONDE_TRACE_PRINTER": "json"})
        wait_tls_attached(sonde, [server.pid, *server.worker_pids])
        for i in (1, 2, 3):
            early.request("GET", f"/early/{i}")
            early.getresponse().read()
    finally:
        early.close()
    for i in range(5):
        https_requests(server.port, certs, [("GET", f"/fresh/{i}", None),
                                            ("GET", f"/fresh/{i}/b", None)])
    wait_until(lambda: {"/fresh/4", "/fresh/4/b"} <= {s["path"] for s in
                                                      spans_on(sonde, server.port)},
               SPAN_WAIT, what=f"spans of /fresh/4; log:\n{sonde.log_text()}")
    left = []

    def empty():
        left[:] = sonde_map_entries(sonde, "tls_conns")
        return not left
    try:
        wait_until(empty, 10, what="no TLS plaintext state left")
    except AssertionError:
        raise AssertionError(f"{len(left)} tls_conns entries left after every connection "
                             f"closed: {left[:2]}") from None


def test_tls_without_uprobes_makes_no_plaintext_state(tls_servers, start_sonde, certs):
    """A traced process whose TLS library Sonde has no uprobes for (Java's
    JSSE): its TLS sockets are counted, but get no plaintext state, which
    nothing would read and which would crowd out those of processes with
    uprobes (tls_conns is an LRU)."""
    if shutil.which("java") is None:
        pytest.fail("java is not installed (apt-get install openjdk-17-jdk-headless)",
                    pytrace=False)
    server = tls_servers("python")  # untraced
    n = 4
    proc = subprocess.Popen(["java", str(TLS_DIR / "TlsHold.java"), str(server.port), str(n),
                             str(certs / "good.pem")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    _register(proc)
    try:
        assert proc.stdout.readline().strip() == "ready", "java client (test setup)"
        sonde = start_sonde({"SONDE_TARGET_PID": str(proc.pid), "SONDE_TRACE_PRINTER": "json"})
        sonde.wait_instrumented([proc.pid])
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "open", "java client (test setup)"
        wait_until(lambda: sonde.metrics().sum("sonde_tls_connections_total") >= n, SPAN_WAIT,
                   what=f"{n} TLS connections counted")
        left = sonde_map_entries(sonde, "tls_conns")
        assert left == [], f"{len(left)} plaintext states for a process without uprobes"
        assert not [ln for ln in sonde.log if "uprobes on" in ln and f"process {proc.pid}" in ln]
    finally:
        if proc.poll() is None:
            proc.stdin.write("\n")
            proc.stdin.flush()
            proc.wait(timeout=30)


# OpenSSL 1.1: Debian 11's libssl1.1 and openssl packages, unpacked (never
# installed) by scripts/setup.sh; the programs run with LD_LIBRARY_PATH on it.
SSL11_ROOT = Path("/var/cache/sonde/openssl-1.1/root/usr")
SSL11_LIB = SSL11_ROOT / "lib/x86_64-linux-gnu"


def ssl11_openssl(tmp_path, name):
    """A copy of OpenSSL 1.1's `openssl` command named @name (for selection
    by executable), and the environment that makes it load libssl.so.1.1."""
    if not (SSL11_LIB / "libssl.so.1.1").exists():
        pytest.fail(f"{SSL11_LIB}/libssl.so.1.1 missing: run scripts/setup.sh", pytrace=False)
    exe = tmp_path / name
    exe.write_bytes((SSL11_ROOT / "bin/openssl").read_bytes())
    exe.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LD_LIBRARY_PATH": str(SSL11_LIB)}
    return exe, env


def maps_of(pid):
    with open(f"/proc/{pid}/maps") as f:
        return {ln.split()[5] for ln in f if len(ln.split()) >= 6}


def test_openssl11_server(start_sonde, certs, tmp_path):
    """OpenSSL 1.1's `s_server -WWW` (files from a directory, HTTP/1.0 with
    a status line, one connection at a time, closed after each answer),
    traced by port; curl (OpenSSL 3, not traced) fetches several files on
    new connections: one server span each, method, path, status, the body
    size curl saw and https, from the process that maps libssl.so.1.1;
    nothing else, and no client span."""
    exe, env = ssl11_openssl(tmp_path, "e2e-ssl11-server")
    www = tmp_path / "www"
    (www / "dir").mkdir(parents=True)
    files = {"index.html": b"<html>one</html>\n", "dir/two.txt": b"two\n" * 50,
             "dir/big.bin": bytes(range(256)) * 200}
    for name, data in files.items():
        (www / name).write_bytes(data)
    port = free_port()
    server = launch_server("openssl11", port,
                           [str(exe), "s_server", "-accept", f"127.0.0.1:{port}", "-WWW", "-quiet",
                            "-cert", str(certs / "good.pem"), "-key", str(certs / "good.key")],
                           str(www), env, tmp_path / "s_server.log")
    try:
        libs = maps_of(server.pid)
        assert str(SSL11_LIB / "libssl.so.1.1") in libs, f"no libssl.so.1.1 mapped: {libs}"
        assert not [m for m in libs if "libssl.so.3" in m], f"libssl 3 mapped too: {libs}"
        sonde = start_sonde({"SONDE_OPEN_PORT": str(port), "SONDE_TRACE_PRINTER": "json"})
        sonde.wait_instrumented([server.pid])
        sonde.wait_log(rf"tls: \d+ uprobes on \S*libssl\.so\.1\.1 in process {server.pid}\b",
                       15, "TLS uprobes on libssl.so.1.1")
        sent = []
        for path in ("/index.html", "/dir/two.txt", "/dir/big.bin", "/index.html"):
            res = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w",
                                  "%{http_code} %{size_download} %{http_version}",
                                  "--cacert", str(certs / "good.pem"),
                                  f"https://localhost:{port}{path}"],
                                 capture_output=True, text=True, timeout=30)
            assert res.returncode == 0, f"curl failed (setup): {res.stderr}"
            code, size, version = res.stdout.split()
            assert (code, version) == ("200", "1"), f"s_server answered {res.stdout} (setup)"
            assert int(size) == len(files[path[1:]]), f"{path}: {size} bytes (setup)"
            sent.append(("GET", path, 200, 0, int(size)))
        spans = check_spans(sonde, port, sent, pids={server.pid})
        for s in spans:
            assert s["server_addr"] == "127.0.0.1" and s["duration_ns"] > 0, s
        assert not spans_on(sonde, port, "client"), "client spans from an untraced curl"
        assert sonde.metrics().sum("sonde_connections_skipped_total") == 0
        server.check_alive()
    finally:
        server.stop()


def test_openssl11_client(tls_servers, start_sonde, certs, tmp_path):
    """OpenSSL 1.1's `s_client`, selected by its executable's name, sends
    HTTP requests written to its stdin to the Python HTTPS server (OpenSSL
    3, not traced): one client span per request, with method, path, status
    and https, from the s_client process; none on the server side."""
    server = tls_servers("python")
    exe, env = ssl11_openssl(tmp_path, "e2e-ssl11-client")
    sonde = start_sonde({"SONDE_EXECUTABLE_NAME": "/e2e-ssl11-client$",
                         "SONDE_TRACE_PRINTER": "json"})
    expected = []
    for i, (status, method, body) in enumerate(((200, "GET", b""), (404, "GET", b""),
                                               (201, "POST", b"q" * 30))):
        path = f"/s11/{i}"
        # -quiet: the end of stdin does not close, the server's close ends it
        proc = subprocess.Popen([str(exe), "s_client", "-connect", f"127.0.0.1:{server.port}",
                                 "-quiet", "-verify_return_error",
                                 "-CAfile", str(certs / "good.pem")],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
        _register(proc)
        try:
            wait_until(lambda: str(SSL11_LIB / "libssl.so.1.1") in maps_of(proc.pid), 10,
                       what="s_client maps libssl.so.1.1")
            wait_tls_attached(sonde, [proc.pid])
            req = (f"{method} {path}?status={status} HTTP/1.1\r\nHost: localhost\r\n"
                   f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
            out, err = proc.communicate(req, timeout=30)
        finally:
            kill_process_group(proc)
        head, _, resp_body = out.partition(b"\r\n\r\n")
        want_status = 201 if method == "POST" else status
        assert head.startswith(f"HTTP/1.1 {want_status} ".encode()), \
            f"s_client got {out!r} (setup); stderr {err!r}"
        expected.append((method, path, want_status, len(body), len(resp_body)))
    check_spans(sonde, server.port, expected, kind="client")
    assert not spans_on(sonde, server.port), "server spans from an untraced server"
