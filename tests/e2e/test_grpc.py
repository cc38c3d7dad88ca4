"""gRPC and HTTP/2 in clear (issue 13): real peers on loopback, both ends
traced by one Sonde, every span and metric checked against the calls made.

gRPC peers in four languages, all without generated code (raw-bytes
messages, tests/e2e/servers/grpc): Python grpcio (Debian), Node
@grpc/grpc-js (npm), Go grpc-go (Go module proxy), Java grpc-java over
Netty (Maven Central; a jar scripts/setup.sh builds). Each pairing crosses two
languages; each client runs, on one connection, unary calls, calls failing
with NOT_FOUND, INVALID_ARGUMENT, INTERNAL and UNAVAILABLE, server streaming,
many concurrent calls and a call it cancels. The client prints the calls it
made and the status each got; Sonde must report exactly those: one server
span and one client span per call, name package.Service/Method, the gRPC
status, span error per the OTel gRPC rules (server: only UNKNOWN,
DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS; client:
any non-OK), and the rpc_server/client_duration_seconds counts by method
and status. No span invented: nothing beyond the calls.

Plain HTTP/2: nginx with `http2 on` on a cleartext port, driven by
`curl --http2-prior-knowledge` (and nghttp when installed): HTTP server
spans with network protocol version 2 and the HTTP metrics counting them.

h2c by upgrade (RFC 7540 3.2): a Go server behind golang.org/x/net's h2c
handler, `curl --http2` and `nghttp -u` clients, each sending an HTTP/1.1
request with `Upgrade: h2c` and then more requests on the upgraded
connection: one span per request on each end, the upgrade request's with
its HTTP/1 method and path and its HTTP/2 response; a 101 to something
else (WebSocket) stays one HTTP/1.1 span, whatever bytes follow it.

A connection opened before Sonde (HPACK state unknown): what is reported
must be right; what cannot be known is counted, never guessed.

OTLP: the gRPC spans and rpc.server/client.duration points as the
independent receiver (tests/e2e/otlp_receiver) decodes them. Linking in a
process: an HTTP/1 server making a gRPC call per request. gRPC over TLS:
grpc-go on both ends, the plaintext from the Go TLS uprobes.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import (PYTHON, SERVERS_DIR, Client, _register, free_port, kill_process_group,
                      port_accepts, wait_until)

GRPC_DIR = SERVERS_DIR / "grpc"
SPAN_WAIT = 30
# status codes
OK, CANCELLED, INVALID_ARGUMENT, NOT_FOUND, INTERNAL, UNAVAILABLE = 0, 1, 3, 5, 13, 14
SERVER_ERRORS = {2, 4, 12, 13, 14, 15}


@pytest.fixture(scope="module")
def go_peer(tmp_path_factory):
    """The Go peer, built once from the module cache (scripts/setup.sh fills it)."""
    out = tmp_path_factory.mktemp("grpc-go") / "grpcpeer"
    go = "/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else "go"
    env = dict(os.environ, GOFLAGS="-mod=mod", GOPROXY="off", CGO_ENABLED="0",
               GOTOOLCHAIN="local")
    res = subprocess.run([go, "build", "-o", str(out), "."], cwd=GRPC_DIR / "go", env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"go build of the gRPC peer failed:\n{res.stderr}"
    return str(out)


JAVA_PEER = GRPC_DIR / "java" / "target" / "grpcpeer.jar"


@pytest.fixture(scope="module")
def peers(go_peer):
    assert (GRPC_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir(), \
        "npm packages of tests/e2e/servers/grpc missing (scripts/setup.sh installs them)"
    assert JAVA_PEER.is_file(), f"{JAVA_PEER} missing (scripts/setup.sh builds it with Maven)"
    return {
        "python": [PYTHON, str(GRPC_DIR / "peer.py")],
        "node": ["node", str(GRPC_DIR / "peer.js")],
        "go": [go_peer],
        "java": ["java", "-jar", str(JAVA_PEER)],
    }


def _spawn(cmd, log, **kw):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(log, "w"),
                            start_new_session=True, text=True, **kw)
    _register(proc)
    return proc


def _start_server(peers, lang, tmp_path):
    port = free_port()
    proc = _spawn([*peers[lang], "server", str(port)], tmp_path / f"server-{lang}.log",
                  stdin=subprocess.DEVNULL)
    wait_until(lambda: port_accepts(port), 30, what=f"{lang} gRPC server on {port}")
    return proc, port


def _start_client(peers, lang, port, scenario, count, tmp_path):
    return _spawn([*peers[lang], "client", str(port), scenario, str(count)],
                  tmp_path / f"client-{lang}-{scenario}.log", stdin=subprocess.PIPE,
                  env=dict(os.environ, PEER_WAIT="1"))


def _finish_client(proc, tmp_path):
    proc.stdin.write("go\n")
    proc.stdin.flush()
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"gRPC client failed: {out}"
    return json.loads(out.strip().splitlines()[-1])["calls"]


SCENARIOS = [("unary", 3), ("errors", 4), ("stream", 2), ("concurrent", 20), ("cancel", 1)]


def _rpc_spans(sonde, pid, kind):
    return [s for s in sonde.snapshot() if s.get("pid") == pid and s.get("kind") == kind
            and s.get("rpc_system") == "grpc"]


def _expect(calls):
    return Counter((m, code) for m, code in calls)


def _got(spans):
    return Counter((s["rpc_method"], s["rpc_grpc_status_code"]) for s in spans)


def _metric_counts(metrics, name):
    got = Counter()
    for _, lab, v in metrics.select(name + "_count", rpc_service="test.Echo"):
        got[(lab["rpc_method"], int(lab["rpc_grpc_status_code"]))] += int(v)
    return got


@pytest.mark.parametrize("server_lang,client_lang",
                         [("python", "go"), ("go", "node"), ("node", "python"),
                          ("java", "python"), ("go", "java")])
def test_grpc_calls(peers, start_sonde, tmp_path, server_lang, client_lang):
    server, port = _start_server(peers, server_lang, tmp_path)
    clients = [(sc, _start_client(peers, client_lang, port, sc, n, tmp_path)) for sc, n in SCENARIOS]
    try:
        pids = [server.pid] + [c.pid for _, c in clients]
        sonde = start_sonde({"SONDE_TARGET_PID": ",".join(map(str, pids)),
                             "SONDE_TRACE_PRINTER": "json"})
        sonde.wait_instrumented([server.pid])
        for c in clients:
            sonde.wait_instrumented([c[1].pid])
        time.sleep(1)
        made = []
        for sc, c in clients:  # one after the other: a cancelled call stays apart
            calls = _finish_client(c, tmp_path)
            made.append((sc, c.pid, calls))
        everything = [call for _, _, calls in made for call in calls]
        total = len(everything)
        assert total == sum(n for _, n in SCENARIOS)

        # Server side: one span per call, whichever client made it.
        server_spans = sonde.wait_spans(
            lambda s: s.get("pid") == server.pid and s.get("kind") == "server", total,
            timeout=SPAN_WAIT, what=f"{server_lang} server spans")
        time.sleep(2)  # anything extra would show now
        server_spans = _rpc_spans(sonde, server.pid, "server")
        expected_server = _expect(everything)
        assert _got(server_spans) == expected_server, \
            f"server spans {sorted(_got(server_spans).items())} != calls {sorted(expected_server.items())}"
        assert len([s for s in sonde.snapshot() if s.get("pid") == server.pid]) == total
        for s in server_spans:
            assert s["rpc_service"] == "test.Echo"
            assert s["path"] == f"/test.Echo/{s['rpc_method']}"
            assert s["http_version"] == "2" and s["method"] == "POST"
            assert s["rpc_error"] == (s["rpc_grpc_status_code"] in SERVER_ERRORS), s
            assert s["server_port"] == port
        unary = [s for s in server_spans if s["rpc_method"] == "Unary"]
        assert all(s["request_size"] > 0 and s["response_size"] > 0 for s in unary)
        # server streaming: five 10-byte messages (5-byte gRPC prefix each)
        streams = [s for s in server_spans if s["rpc_method"] == "Stream"]
        assert streams and all(s["response_size"] == 5 * 15 for s in streams), streams

        # Client side: per client process, the calls it made.
        for sc, pid, calls in made:
            want = _expect(calls)
            sonde.wait_spans(lambda s, pid=pid: s.get("pid") == pid and s.get("kind") == "client",
                             len(calls), timeout=SPAN_WAIT, what=f"{client_lang} {sc} client spans")
        time.sleep(1)
        for sc, pid, calls in made:
            spans = _rpc_spans(sonde, pid, "client")
            assert _got(spans) == _expect(calls), f"{sc}: {sorted(_got(spans).items())} != {calls}"
            assert len([s for s in sonde.snapshot() if s.get("pid") == pid]) == len(calls)
            for s in spans:
                assert s["rpc_error"] == (s["rpc_grpc_status_code"] != OK), s
                assert s["server_port"] == port
        # Cross-service linking: each server span is the child of the client
        # span of the same call (same stream of the same connection).
        client_ids = {(s["trace_id"], s["span_id"]): s for _, pid, _ in made
                      for s in _rpc_spans(sonde, pid, "client")}
        linked = [s for s in server_spans if (s["trace_id"], s["parent_span_id"]) in client_ids]
        for s in linked:
            assert client_ids[(s["trace_id"], s["parent_span_id"])]["rpc_method"] == s["rpc_method"]
        print(f"{server_lang} server / {client_lang} client: {len(linked)} of {total} "
              f"server spans linked to their client span")
        assert len(linked) == total
        cancelled = [s for _, pid, _ in made for s in _rpc_spans(sonde, pid, "client")
                     if s["rpc_method"] == "Slow"]
        assert len(cancelled) == 1 and cancelled[0]["rpc_grpc_status_code"] == CANCELLED

        # Metrics: the same counts, per side.
        def metrics_match():
            m = sonde.metrics()
            return (_metric_counts(m, "rpc_server_duration_seconds") == expected_server and
                    _metric_counts(m, "rpc_client_duration_seconds") == expected_server)
        try:
            wait_until(metrics_match, 10, what="RPC metrics equal to the calls")
        except Exception:
            m = sonde.metrics()
            raise AssertionError(
                f"server {_metric_counts(m, 'rpc_server_duration_seconds')} "
                f"client {_metric_counts(m, 'rpc_client_duration_seconds')} "
                f"want {expected_server}")
        m = sonde.metrics()
        # gRPC is not HTTP in the metrics: no HTTP series for these calls
        assert m.sum("http_server_request_duration_seconds_count") == 0
        assert m.sum("sonde_events_lost_total", reason="http2_framing_lost") == 0
        assert m.sum("sonde_events_lost_total", reason="http2_header_block_truncated") == 0
    finally:
        for _, c in clients:
            if c.poll() is None:
                kill_process_group(c)
        kill_process_group(server)


def _release(proc, stdin):
    """Let a client waiting on its standard input go: write @stdin, close it."""
    out, _ = proc.communicate(stdin, timeout=60)
    assert proc.returncode == 0, out
    return out


def test_h2c_upgrade(go_peer, start_sonde, tmp_path):
    """Upgraded connections, both ends traced: curl --http2 and nghttp -u
    each make requests on one connection to a Go h2c server, the first one
    the HTTP/1.1 upgrade request (stream 1), the others HTTP/2 streams.
    curl upgrades with its first GET; nghttp, sending bodies, with
    "OPTIONS *", then POSTs. Both clients wait on their standard input
    (curl for its config, nghttp for the body), so they are traced before
    they connect. Then a WebSocket-style 101 followed by bytes that would
    read as HTTP/2 (a preface, a HEADERS frame) if Sonde took every 101 for h2c."""
    import socket

    port = free_port()
    server = _spawn([go_peer, "h2c", str(port)], tmp_path / "h2c-server.log",
                    stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    curl_paths = ["/hello", "/bytes/3000", "/nope"]
    curl_config = 'http2\nsilent\nwrite-out = "%{http_version} %{http_code}\\n"\n' + "".join(
        f'url = "{base}{p}"\noutput = "/dev/null"\n' for p in curl_paths)
    curl = _spawn(["curl", "-K", "-"], tmp_path / "curl.log", stdin=subprocess.PIPE)
    nghttp = _spawn([shutil.which("nghttp") or "nghttp", "-nsu", "-d", "-", f"{base}/hello?q=1",
                     f"{base}/bytes/5000", f"{base}/nope"], tmp_path / "nghttp.log",
                    stdin=subprocess.PIPE)
    try:
        wait_until(lambda: port_accepts(port), 30, what="the h2c server")
        sonde = start_sonde({"SONDE_TARGET_PID": f"{server.pid},{curl.pid},{nghttp.pid}",
                             "SONDE_TRACE_PRINTER": "json"})
        for pid in (server.pid, curl.pid, nghttp.pid):
            sonde.wait_instrumented([pid])
        time.sleep(1)
        # each client really upgraded: HTTP/2 answers to every request
        assert _release(curl, curl_config).split("\n") == ["2 200", "2 200", "2 404", ""]
        out = _release(nghttp, "abc")
        codes = sorted(line.split()[4] for line in out.splitlines()
                       if line.strip()[:1].isdigit() and len(line.split()) > 5)
        assert codes == ["200", "200", "404"], out
        # a 101 to WebSocket, then bytes that look like HTTP/2, echoed back
        h2_lookalike = (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"
                        b"\x00\x00\x05\x01\x05\x00\x00\x00\x01\x82\x84\x86\x41\x8a")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as ws:
            ws.sendall(b"GET /ws HTTP/1.1\r\nHost: ws\r\nConnection: Upgrade\r\n"
                       b"Upgrade: websocket\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                head += ws.recv(4096)
            assert head.startswith(b"HTTP/1.1 101 ") and b"Upgrade: websocket" in head
            ws.sendall(h2_lookalike)
            echoed = b""
            while len(echoed) < len(h2_lookalike):
                echoed += ws.recv(4096)
            assert echoed == h2_lookalike

        # (method, path, status, request body, response body)
        want = {curl.pid: [("GET", "/hello", 200, 0, 6), ("GET", "/bytes/3000", 200, 0, 3000),
                           ("GET", "/nope", 404, 0, 19)],
                nghttp.pid: [("OPTIONS", "*", 200, 0, 0), ("POST", "/hello", 200, 3, 6),
                             ("POST", "/bytes/5000", 200, 3, 5000), ("POST", "/nope", 404, 3, 19)]}
        h2c_calls = want[curl.pid] + want[nghttp.pid]

        def key(s):
            return (s["method"], s["path"], s["status"], s["request_size"], s["response_size"])
        sonde.wait_spans(lambda s: s.get("pid") == server.pid, len(h2c_calls) + 1,
                         timeout=SPAN_WAIT, what="h2c server spans")
        for pid, calls in want.items():
            sonde.wait_spans(lambda s, pid=pid: s.get("pid") == pid, len(calls),
                             timeout=SPAN_WAIT, what="h2c client spans")
        time.sleep(2)  # anything extra would show now
        spans = sonde.snapshot()
        served = [s for s in spans if s["pid"] == server.pid]
        assert all(s["kind"] == "server" for s in served)
        ws_spans = [s for s in served if s["path"] == "/ws"]
        assert [(s["method"], s["status"], s["http_version"]) for s in ws_spans] == \
            [("GET", 101, "1.1")], ws_spans
        h2c_served = [s for s in served if s["path"] != "/ws"]
        got = Counter(key(s) for s in h2c_served)
        assert got == Counter(h2c_calls), f"{sorted(got.items())} != {sorted(h2c_calls)}"
        for s in h2c_served:
            assert s["http_version"] == "2" and s["error"] == "", s
            assert s["host"] == f"127.0.0.1:{port}", s
        clients = {}
        for pid, calls in want.items():
            mine = sorted((s for s in spans if s["pid"] == pid), key=lambda s: s["start_ns"])
            assert Counter(key(s) for s in mine) == Counter(calls), mine
            # the upgrade request is the connection's first span
            assert key(mine[0]) == calls[0], mine
            for s in mine:
                assert s["kind"] == "client" and s["http_version"] == "2" and s["error"] == "", s
                assert s["server_port"] == port, s
                clients[(s["trace_id"], s["span_id"])] = s
        # each h2c server span is the child of the client span of its request
        for s in h2c_served:
            parent = clients.get((s["trace_id"], s["parent_span_id"]))
            assert parent and key(parent) == key(s), s

        m = sonde.metrics()
        assert m.sum("http_server_request_duration_seconds_count") == len(served)
        assert m.sum("http_server_request_duration_seconds_count",
                     http_response_status_code="404") == 2
        assert m.sum("http_client_request_duration_seconds_count") == len(h2c_calls)
        assert m.sum("sonde_events_lost_total", reason="http2_framing_lost") == 0
        assert m.sum("sonde_events_lost_total", reason="undecodable") == 0
    finally:
        for p in (curl, nghttp):
            if p.poll() is None:
                kill_process_group(p)
        kill_process_group(server)


def test_grpc_connection_older_than_sonde(peers, start_sonde, tmp_path):
    """A Go client connects and makes a call before Sonde starts, then makes
    more on the same connection: HPACK state unknown to Sonde. Every span it
    reports must carry the right names; what it cannot name is counted."""
    server, port = _start_server(peers, "python", tmp_path)
    # The concurrent scenario warms the connection with one call, then waits
    # for nothing: use a client that waits between its calls instead.
    proc = _spawn([PYTHON, "-c", f"""
import sys, grpc
ch = grpc.insecure_channel("127.0.0.1:{port}")
u = ch.unary_unary("/test.Echo/Unary")
u(b"before", timeout=10)
print("warm", flush=True)
sys.stdin.readline()
for i in range(10):
    u(b"after %d" % i, timeout=10)
print("done", flush=True)
"""], tmp_path / "old-client.log", stdin=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == "warm"
        sonde = start_sonde({"SONDE_TARGET_PID": f"{server.pid},{proc.pid}",
                             "SONDE_TRACE_PRINTER": "json"})
        sonde.wait_instrumented([server.pid])
        sonde.wait_instrumented([proc.pid])
        time.sleep(1)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "done"
        time.sleep(4)
        spans = [s for s in sonde.snapshot() if s.get("pid") in (server.pid, proc.pid)]
        # never a wrong name, never more than the calls
        for s in spans:
            assert s["path"] == "/test.Echo/Unary" and s.get("rpc_method") == "Unary", s
        assert len([s for s in spans if s["kind"] == "server"]) <= 10
        assert len([s for s in spans if s["kind"] == "client"]) <= 10
        m = sonde.metrics()
        unnamed = m.sum("sonde_events_lost_total", reason="undecodable")
        print(f"old connection: {len(spans)} spans of 20 calls, {unnamed} counted without names")
        # 10 calls, seen from both ends: each a span with the right names
        # or counted as undecodable, never both, never neither
        assert len(spans) + unnamed == 20, (len(spans), unnamed)
    finally:
        kill_process_group(proc)
        kill_process_group(server)


NGINX_CONF = """
worker_processes 1;
daemon off;
error_log {dir}/error.log;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} http2;
        location = /hello {{ return 200 "hello\\n"; }}
        location = /missing {{ return 404; }}
        location /files/ {{ alias {dir}/files/; }}
    }}
}}
"""


def test_nginx_http2_cleartext(start_sonde, tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    # nginx's workers run as another user: a directory they can walk to
    top = Path(tempfile.mkdtemp(prefix="sonde-h2c-"))
    os.chmod(top, 0o755)
    (top / "files").mkdir(mode=0o755)
    (top / "files" / "big.bin").write_bytes(os.urandom(100_000))
    os.chmod(top / "files" / "big.bin", 0o644)
    conf = top / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=top, port=port))
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(top)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    _register(proc)
    try:
        wait_until(lambda: port_accepts(port), 20, what="nginx h2c")
        sonde = start_sonde({"SONDE_OPEN_PORT": str(port), "SONDE_TRACE_PRINTER": "json"})
        sonde.wait_log(r"instrumenting pid=", 30)
        time.sleep(1)
        base = f"http://127.0.0.1:{port}"
        # curl: a connection per request
        for url, code in ((f"{base}/hello", "2 200"), (f"{base}/missing", "2 404")):
            res = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null",
                                  "-w", "%{http_version} %{http_code}", url],
                                 capture_output=True, text=True, timeout=30)
            assert res.stdout == code, res.stdout
        # nghttp: four streams multiplexed on one connection
        nghttp = shutil.which("nghttp")
        assert nghttp, "nghttp missing (nghttp2-client; scripts/setup.sh installs it)"
        res = subprocess.run([nghttp, "-ns", f"{base}/hello?a", f"{base}/missing",
                              f"{base}/files/big.bin", f"{base}/hello?b"],
                             capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr
        codes = sorted(line.split()[4] for line in res.stdout.splitlines()
                       if line.strip()[:1].isdigit() and len(line.split()) > 5)
        assert codes == ["200", "200", "200", "404"], res.stdout
        # nghttp: a POST with a 3000-byte body (nginx answers before reading
        # it, which curl 7.88 sometimes takes for a failure)
        body = top / "body.txt"
        body.write_bytes(b"x" * 3000)
        res = subprocess.run([nghttp, "-ns", "-d", str(body), f"{base}/hello"],
                             capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr
        sent = [("GET", "/hello", 200), ("GET", "/missing", 404), ("POST", "/hello", 200),
                ("GET", "/hello", 200), ("GET", "/missing", 404), ("GET", "/files/big.bin", 200),
                ("GET", "/hello", 200)]
        spans = sonde.wait_spans(lambda s: s.get("kind") == "server", len(sent),
                                 timeout=SPAN_WAIT, what="nginx HTTP/2 spans")
        time.sleep(2)
        spans = [s for s in sonde.snapshot() if s.get("kind") == "server"]
        got = Counter((s["method"], s["path"], s["status"]) for s in spans)
        assert got == Counter(sent), f"{sorted(got.items())} != {sorted(Counter(sent).items())}"
        for s in spans:
            assert s["http_version"] == "2" and "rpc_system" not in s, s
            assert s["host"] == f"127.0.0.1:{port}"
        big = [s for s in spans if s["path"] == "/files/big.bin"]
        assert big[0]["response_size"] == 100_000
        post = [s for s in spans if s["method"] == "POST"]
        assert post[0]["request_size"] == 3000
        m = sonde.metrics()
        assert m.sum("http_server_request_duration_seconds_count") == len(sent)
        assert m.sum("http_server_request_duration_seconds_count",
                     http_response_status_code="404") == sum(1 for x in sent if x[2] == 404)
    finally:
        kill_process_group(proc)
        shutil.rmtree(top, ignore_errors=True)


def test_grpc_over_otlp(peers, start_sonde, tmp_path):
    """The same calls through OTLP to the independent receiver: span names,
    kinds, rpc.* attributes, statuses by the gRPC rules, and the
    rpc.server.duration / rpc.client.duration points by method and status."""
    from otlp_receiver.harness import Receiver
    rx = Receiver(tmp_path, http_port=free_port())
    server, port = _start_server(peers, "python", tmp_path)
    client = _start_client(peers, "go", port, "errors", 4, tmp_path)
    try:
        sonde = start_sonde({"SONDE_TARGET_PID": f"{server.pid},{client.pid}",
                             "SONDE_TRACE_PRINTER": "json",
                             "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{rx.http_port}",
                             "OTEL_BSP_SCHEDULE_DELAY": "200",
                             "OTEL_METRIC_EXPORT_INTERVAL": "500",
                             "NO_PROXY": "*", "no_proxy": "*"})
        sonde.wait_instrumented([server.pid])
        sonde.wait_instrumented([client.pid])
        time.sleep(1)
        calls = _finish_client(client, tmp_path)
        want = _expect(calls)
        spans = rx.wait_spans(lambda s: s["attributes"].get("rpc.system") == "grpc", 2 * len(calls),
                              SPAN_WAIT)
        for kind, otlp_kind, errors in (("server", 2, SERVER_ERRORS), ("client", 3, None)):
            mine = [s for s in spans if s["kind"] == otlp_kind]
            assert Counter(("Fail", s["attributes"]["rpc.grpc.status_code"]) for s in mine) == want
            for s in mine:
                a = s["attributes"]
                assert s["name"] == "test.Echo/Fail"
                assert a["rpc.service"] == "test.Echo" and a["rpc.method"] == "Fail"
                code = a["rpc.grpc.status_code"]
                failed = code in errors if errors else code != OK
                assert (s["status"] == 2) == failed, (kind, code, s["status"])
                assert a["network.protocol.version"] == "2"
        for name in ("rpc.server.duration", "rpc.client.duration"):
            def counts():
                got = Counter()
                for p in rx.points(name):
                    got[("Fail", p["attributes"]["rpc.grpc.status_code"])] = p["count"]
                return got if got == want else None
            rx.wait(counts, 20, f"{name} points equal to the calls")
    finally:
        if client.poll() is None:
            kill_process_group(client)
        kill_process_group(server)
        rx.stop()


def test_http1_request_calls_grpc(peers, start_sonde, tmp_path):
    """An HTTP/1 server (Python http.server) that makes one gRPC call per
    request it serves, through one channel: each gRPC client span is the
    child of the HTTP request's server span (the process rule: one request
    in flight), and the gRPC server's span the child of that client span."""
    grpc_server, gport = _start_server(peers, "go", tmp_path)
    hport = free_port()
    front = _spawn([PYTHON, "-c", f"""
import grpc, http.server
ch = grpc.insecure_channel("127.0.0.1:{gport}")
unary = ch.unary_unary("/test.Echo/Unary")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        unary(b"from " + self.path.encode(), timeout=10)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", {hport}), H).serve_forever()
"""], tmp_path / "front.log", stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: port_accepts(hport), 30, what="the HTTP front")
        sonde = start_sonde({"SONDE_TARGET_PID": f"{grpc_server.pid},{front.pid}",
                             "SONDE_TRACE_PRINTER": "json"})
        sonde.wait_instrumented([grpc_server.pid])
        sonde.wait_instrumented([front.pid])
        time.sleep(1)
        c = Client()
        for i in range(5):
            assert c.request(hport, "GET", f"/front/{i}").status == 200
        sonde.wait_spans(lambda s: s.get("rpc_system") == "grpc", 10, timeout=SPAN_WAIT,
                         what="gRPC spans")
        time.sleep(2)
        spans = sonde.snapshot()
        http_server = {s["span_id"]: s for s in spans
                       if s["pid"] == front.pid and s["kind"] == "server"}
        grpc_client = [s for s in spans if s["pid"] == front.pid and s["kind"] == "client"]
        grpc_srv = [s for s in spans if s["pid"] == grpc_server.pid]
        assert len(http_server) == 5 and len(grpc_client) == 5 and len(grpc_srv) == 5
        clients = {s["span_id"]: s for s in grpc_client}
        for s in grpc_client:
            parent = http_server.get(s["parent_span_id"])
            assert parent and parent["trace_id"] == s["trace_id"], s
        for s in grpc_srv:
            parent = clients.get(s["parent_span_id"])
            assert parent and parent["trace_id"] == s["trace_id"], s
    finally:
        kill_process_group(front)
        kill_process_group(grpc_server)


def test_grpc_over_tls(peers, start_sonde, tmp_path):
    """gRPC over TLS (ALPN h2) between a grpc-go server and client: the
    plaintext comes from the Go TLS uprobes into the same frame walk, so the
    spans are as in clear, with scheme https, on both ends."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    port = free_port()
    server = _spawn([*peers["go"], "server", str(port)], tmp_path / "server-tls.log",
                    stdin=subprocess.DEVNULL,
                    env=dict(os.environ, PEER_TLS_CERT=str(cert), PEER_TLS_KEY=str(key)))
    wait_until(lambda: port_accepts(port), 30, what="the gRPC TLS server")
    clients = [(sc, _spawn([*peers["go"], "client", str(port), sc, str(n)],
                           tmp_path / f"client-tls-{sc}.log", stdin=subprocess.PIPE,
                           env=dict(os.environ, PEER_WAIT="1", PEER_TLS_CA=str(cert))))
               for sc, n in (("errors", 4), ("concurrent", 10))]
    try:
        sonde = start_sonde({"SONDE_TARGET_PID": ",".join(str(p.pid) for p in
                                                          [server] + [c for _, c in clients]),
                             "SONDE_TRACE_PRINTER": "json"})
        sonde.wait_instrumented([server.pid])
        sonde.wait_log(r"gotls: \d+ uprobes", 30, "the Go TLS uprobes")
        time.sleep(1)
        made = [(c.pid, _finish_client(c, tmp_path)) for _, c in clients]
        everything = [call for _, calls in made for call in calls]
        sonde.wait_spans(lambda s: s.get("pid") == server.pid, len(everything), timeout=SPAN_WAIT,
                         what="gRPC-over-TLS server spans")
        for pid, calls in made:
            sonde.wait_spans(lambda s, pid=pid: s.get("pid") == pid, len(calls),
                             timeout=SPAN_WAIT, what="gRPC-over-TLS client spans")
        time.sleep(2)
        spans = _rpc_spans(sonde, server.pid, "server")
        assert _got(spans) == _expect(everything)
        assert all(s["scheme"] == "https" and s["http_version"] == "2" for s in spans)
        for pid, calls in made:
            mine = _rpc_spans(sonde, pid, "client")
            assert _got(mine) == _expect(calls)
            assert all(s["scheme"] == "https" for s in mine)
        assert len([s for s in sonde.snapshot()
                    if s.get("pid") in [server.pid] + [p for p, _ in made]]) == 2 * len(everything)
    finally:
        for _, c in clients:
            if c.poll() is None:
                kill_process_group(c)
        kill_process_group(server)
