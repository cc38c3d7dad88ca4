"""Capture that follows the connection, not the descriptor (issue 9).

Servers that move a connection between descriptors and processes, and
servers that write a response in any pieces, must still give exactly one
right span per request:

- an inetd-style server (systemd Accept=yes): the traced parent forks a child
  per connection, which dup2()s it onto fds 0 and 1, closes the original and
  exec()s a handler that read()s fd 0 and write()s fd 1;
- a parent that accepts and passes each descriptor to a worker it forked
  (SCM_RIGHTS over a Unix socket), closing its copy;
- a server that dup()s the accepted descriptor, closes the original and
  serves on the duplicate, several connections at once (numbers reused);
- responses written line by line, cut inside the status code, cut at many
  offsets, one byte per send; requests cut the same way by a raw client:
  framing must not depend on the write pattern.

Every server (tests/e2e/servers/capture/) answers with Content-Length and
names the pid that served in X-Served-By; all connections are keep-alive
with several requests each, so a wrong framing merges or loses spans.
"""
import http.client
import os
import re
import signal
import socket
import time

import pytest

from conftest import (PYTHON, SERVERS_DIR, Client, Sent, check_span_against_request,
                      free_port, launch_server, match_spans, wait_until)

CAPTURE = SERVERS_DIR / "capture"
PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyz" * 8   # httpraw.PATTERN
SETTLE_S = 0.7   # after the expected spans: time for an extra one to show up


# --------------------------------------------------------------------------
# Servers, Sonde, requests.
# --------------------------------------------------------------------------

@pytest.fixture
def capture_server(tmp_path):
    """Factory: capture_server(script) -> a ServerProc running
    servers/capture/<script>.py on a free port; stopped at teardown."""
    started = []

    def _start(script):
        port = free_port()
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
        server = launch_server(f"capture-{script}", port,
                               [PYTHON, str(CAPTURE / f"{script}.py"), str(port)], None, env,
                               tmp_path / f"{script}-{port}.log")
        started.append(server)
        return server

    yield _start
    for server in started:
        server.stop()


def sonde_for(start_sonde, server, service):
    """Sonde selecting the server by its port, once it instruments it."""
    sonde = start_sonde({"SONDE_OPEN_PORT": server.port, "SONDE_SERVICE_NAME": service,
                         "SONDE_TRACE_PRINTER": "json"}, prom=False)
    sonde.wait_instrumented({server.pid})
    return sonde


METHODS = [("GET", None), ("POST", b"name=alice&x=1"), ("PUT", bytes(range(256)) + b"tail"),
           ("DELETE", None), ("PATCH", b"{}")]
STATUSES = [200, 201, 404, 500, 200, 202]


def plan(tag, conns, per_conn, query=""):
    """conns lists of per_conn requests (method, target, body), all paths distinct,
    methods, bodies and statuses varied."""
    out = []
    for c in range(conns):
        reqs = []
        for i in range(per_conn):
            k = c * per_conn + i
            method, body = METHODS[k % len(METHODS)]
            status = STATUSES[k % len(STATUSES)]
            target = f"/{tag}/c{c}/r{i}?status={status}" + (f"&{query}" if query else "")
            reqs.append((method, target, body))
        out.append(reqs)
    return out


def expected_body(method, target, body):
    q = dict(p.split("=", 1) for p in target.partition("?")[2].split("&") if p)
    if "size" in q:
        return PATTERN[:int(q["size"])]
    return None   # "<METHOD> <path> <len> pid=<pid>\n", checked by regex


def send_and_check(client, port, method, target, body, conn, t0=None):
    """One request on a keep-alive connection; asserts the server answered it
    right (a harness failure, not Sonde's) and records who served it."""
    sent = client.request(port, method, target, body=body, conn=conn, t0=t0)
    return check_answer(sent, method, target, body)


def check_answer(sent, method, target, body):
    q = dict(p.split("=", 1) for p in target.partition("?")[2].split("&") if p)
    want_status = int(q.get("status", "200"))
    ctx = f"harness: the server's answer to {method} {target}"
    assert sent.status == want_status, f"{ctx}: status {sent.status}"
    assert not sent.extra["will_close"], f"{ctx}: not keep-alive"
    served_by = int(sent.extra["headers"]["X-Served-By"])
    want = expected_body(method, target, body)
    if want is not None:
        assert sent.response_body == want, f"{ctx}: body {sent.response_body!r}"
    else:
        m = re.fullmatch(rb"(\S+) (\S+) (\d+) pid=(\d+)\n", sent.response_body)
        assert m and m.groups() == (method.encode(), sent.path.encode(),
                                    str(len(body or b"")).encode(),
                                    str(served_by).encode()), f"{ctx}: body {sent.response_body!r}"
    sent.extra["served_by"] = served_by
    return sent


def run_plan(port, requests_by_conn, interleave=False):
    """Send the plan: each list on its own keep-alive connection, the
    connections one after the other, or all open at once with their requests
    interleaved. Returns the client (its ledger)."""
    client = Client()
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=30)
             for _ in requests_by_conn]
    try:
        if interleave:
            # a connection's first span may start at its accept: the
            # client's window for that request opens before the connect
            opened = []
            for conn in conns:
                opened.append((time.monotonic(), time.time_ns()))
                conn.connect()
            for i in range(max(map(len, requests_by_conn))):
                for conn, t0, reqs in zip(conns, opened, requests_by_conn):
                    if i < len(reqs):
                        send_and_check(client, port, *reqs[i], conn, t0=t0 if i == 0 else None)
        else:
            for conn, reqs in zip(conns, requests_by_conn):
                for req in reqs:
                    send_and_check(client, port, *req, conn)
                conn.close()
    finally:
        for conn in conns:
            conn.close()
    return client


def show(span):
    return {k: span.get(k) for k in ("pid", "method", "path", "status", "request_size",
                                     "response_size", "client_port", "server_port", "kind")}


def report(ledger, spans):
    lines = []
    for sent in ledger:
        mine = [show(s) for s in spans if s.get("path") == sent.path]
        lines.append(f"  {sent.method} {sent.path} -> {sent.status}, "
                     f"{sent.response_body_len} B body, port {sent.client_port}, "
                     f"served by {sent.extra.get('served_by')}: spans {mine}")
    paths = {s.path for s in ledger}
    other = [show(s) for s in spans if s.get("path") not in paths]
    if other:
        lines.append(f"  spans of no request: {other}")
    return "\n".join(lines)


def check_one_span_per_request(sonde, ledger, service):
    """Exactly one span per request (nothing else), each right: kind, method,
    path, status, sizes, ports, timing, service, and the pid that served."""
    n = len(ledger)
    try:
        sonde.wait_spans(lambda s: True, n, what="spans (one per request)")
    except AssertionError as exc:
        first = str(exc).splitlines()[0].split("; sonde stderr")[0]
        raise AssertionError(f"{first}\nper request:\n"
                             f"{report(ledger, sonde.snapshot())}\n"
                             f"Sonde's stderr (last lines):\n{sonde.log_text(12)}") from None
    time.sleep(SETTLE_S)
    spans = sonde.snapshot()
    assert not sonde.bad_stdout, f"non-JSON lines on Sonde's stdout: {sonde.bad_stdout[:5]}"
    try:
        pairs = match_spans(ledger, spans)
        for sent, span in pairs:
            ctx = f"{sent.method} {sent.target} -> {show(span)}"
            check_span_against_request(span, sent)
            assert span["service"] == service, f"service {span['service']!r}: {ctx}"
            assert span["request_size"] == sent.request_body_len, \
                f"request_size, want {sent.request_body_len}: {ctx}"
            assert span["response_size"] == sent.response_body_len, \
                f"response_size, want {sent.response_body_len}: {ctx}"
            assert span["pid"] == sent.extra["served_by"], \
                f"pid, want {sent.extra['served_by']} (the process that served): {ctx}"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nper request:\n{report(ledger, spans)}") from None
    return pairs


# --------------------------------------------------------------------------
# 1. inetd / systemd Accept=yes: fork, dup2 onto 0 and 1, exec.
# --------------------------------------------------------------------------

def test_inetd_fork_dup2_exec_handler_on_fd_0_and_1(capture_server, start_sonde):
    server = capture_server("inetd")
    sonde = sonde_for(start_sonde, server, "e2e-inetd")
    client = run_plan(server.port, plan("inetd", conns=4, per_conn=3))
    ledger = client.ledger
    # harness: one handler process per connection, never the listener
    by_port = {}
    for sent in ledger:
        by_port.setdefault(sent.client_port, set()).add(sent.extra["served_by"])
    assert len(by_port) == 4 and all(len(p) == 1 for p in by_port.values()), by_port
    handlers = set().union(*by_port.values())
    assert len(handlers) == 4 and server.pid not in handlers, (handlers, server.pid)
    check_one_span_per_request(sonde, ledger, "e2e-inetd")


# --------------------------------------------------------------------------
# 2. Descriptors passed to a worker over a Unix socket (SCM_RIGHTS).
# --------------------------------------------------------------------------

def test_descriptor_passed_to_forked_worker(capture_server, start_sonde):
    server = capture_server("passfd")
    sonde = sonde_for(start_sonde, server, "e2e-passfd")
    # the worker is forked now, by the traced parent: traced as its child
    os.kill(server.pid, signal.SIGUSR1)
    worker = int(wait_until(
        lambda: re.search(r"^worker (\d+)$", server.log_path.read_text(), re.M), 10,
        what="passfd.py to fork its worker").group(1))
    sonde.wait_log(rf"instrumenting pid={worker} .*parent={server.pid}\b", 10,
                   f"Sonde to trace the worker {worker} as the child of {server.pid}")
    reqs = plan("passfd", conns=4, per_conn=3)
    client = run_plan(server.port, reqs[:2])                       # one after the other
    client.ledger += run_plan(server.port, reqs[2:], interleave=True).ledger  # both open
    ledger = client.ledger
    served = {s.extra["served_by"] for s in ledger}
    assert served == {worker}, f"harness: served by {served}, not the worker {worker}"
    check_one_span_per_request(sonde, ledger, "e2e-passfd")


# --------------------------------------------------------------------------
# 3. dup(), close the original, serve on the duplicate.
# --------------------------------------------------------------------------

def test_served_on_dup_after_original_closed(capture_server, start_sonde):
    server = capture_server("dupserve")
    sonde = sonde_for(start_sonde, server, "e2e-dup")
    reqs = plan("dup", conns=5, per_conn=4)
    client = run_plan(server.port, reqs[:2])                        # one after the other
    client.ledger += run_plan(server.port, reqs[2:], interleave=True).ledger  # 3 open at once
    ledger = client.ledger
    # harness: with 3 connections open, accepted numbers were reused while
    # an older duplicate was still serving
    log = server.log_path.read_text()
    pairs = re.findall(r"accepted fd (\d+) served on fd (\d+)", log)
    assert len(pairs) >= 5 and all(a != d for a, d in pairs), log
    check_one_span_per_request(sonde, ledger, "e2e-dup")


# --------------------------------------------------------------------------
# 4. Framing that survives any write pattern (writes.py, TCP_NODELAY).
# --------------------------------------------------------------------------

def test_head_written_line_by_line_then_5_byte_body(capture_server, start_sonde):
    server = capture_server("writes")
    sonde = sonde_for(start_sonde, server, "e2e-lines")
    reqs = [[("GET", f"/lines/c{c}/r{i}?status=200&lines=1&size=5", None) if i % 2 == 0 else
             ("POST", f"/lines/c{c}/r{i}?status=200&lines=1&size=5", b"abc")
             for i in range(3)] for c in range(2)]
    ledger = run_plan(server.port, reqs).ledger
    assert all(s.response_body == b"01234" for s in ledger)
    pairs = check_one_span_per_request(sonde, ledger, "e2e-lines")
    assert all(span["status"] == 200 and span["response_size"] == 5 for _, span in pairs)


def test_status_code_cut_after_first_digit(capture_server, start_sonde):
    """`HTTP/1.1 2` in one send, `01 Created\\r\\n...` in the next."""
    server = capture_server("writes")
    sonde = sonde_for(start_sonde, server, "e2e-splitcode")
    reqs = [[("GET", f"/splitcode/c{c}/r{i}?status=201&at=code%2B1", None) if i % 2 == 0 else
             ("POST", f"/splitcode/c{c}/r{i}?status=201&at=code%2B1", b"hello")
             for i in range(3)] for c in range(2)]
    ledger = run_plan(server.port, reqs).ledger
    pairs = check_one_span_per_request(sonde, ledger, "e2e-splitcode")
    assert all(span["status"] == 201 for _, span in pairs)


CUTS = {
    # name: the query that cuts every response of the test
    "version": "at=1,4,6",                       # H|TTP|/1|.1 200 ...
    "status-code-each-digit": "at=code%2B1,code%2B2,code%2B3",
    "status-line-cr-lf": "at=sl%2B1",             # ...OK\r|\n...
    "content-length-name": "at=cl%2B7",           # Content|-Length
    "content-length-value": "at=cl%2B16,cl%2B17",  # Content-Length: |1|8
    "blank-line": "at=eoh-3,eoh-2,eoh-1",          # \r|\n|\r|\n
    "head-body": "at=eoh",
    "inside-body": "at=eoh%2B1,end-1",
    "everywhere": "at=1,code%2B1,sl%2B1,cl%2B3,cl%2B16,eoh-2,eoh-1,eoh,eoh%2B3",
    "head-one-byte-per-send": "each=head",
    "all-one-byte-per-send": "each=all&gap_us=100",
}


@pytest.mark.parametrize("cut", list(CUTS), ids=list(CUTS))
def test_response_cut_anywhere(capture_server, start_sonde, cut):
    """The same responses (head + Content-Length body) cut at different byte
    offsets, 3 keep-alive connections of 3 requests: one span each."""
    server = capture_server("writes")
    sonde = sonde_for(start_sonde, server, f"e2e-cut-{cut}")
    ledger = run_plan(server.port, plan(f"cut-{cut}", conns=3, per_conn=3, query=CUTS[cut]),
                      interleave=True).ledger
    check_one_span_per_request(sonde, ledger, f"e2e-cut-{cut}")


# The same on the request side: a raw client (TCP_NODELAY) writes each
# request in pieces, a short pause between them, so that the server's reads
# return the pieces one by one.

REQ_CUTS = {
    # name: where to cut the request bytes r (offsets from its start)
    "method": lambda r: [1, 2],                                    # G|E|T /...
    "before-path": lambda r: [r.index(b" ") + 1],                  # GET |/...
    "inside-path": lambda r: [r.index(b" ") + 4],
    "version": lambda r: [r.index(b" HTTP/") + 5, r.index(b" HTTP/") + 8],
    "header-line": lambda r: [r.index(b"Host:") + 2, r.index(b"\r\nHost:") + 1],
    "blank-line": lambda r: [r.index(b"\r\n\r\n") + 1, r.index(b"\r\n\r\n") + 3],
    "head-body": lambda r: [r.index(b"\r\n\r\n") + 4],
    "inside-body": lambda r: [r.index(b"\r\n\r\n") + 5, len(r) - 1],
    "head-one-byte-per-send": lambda r: list(range(1, r.index(b"\r\n\r\n") + 4)),
}


def raw_request(sock, port, method, target, body, cut):
    """Write one request in the pieces `cut` picks, read its response; a Sent."""
    body = body or b""
    req = (f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
           f"User-Agent: e2e-raw\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    # (a bodyless request has no cut inside or before its body: sent whole)
    cuts = sorted({c for c in REQ_CUTS[cut](req) if 0 < c < len(req)})
    sent = Sent(method=method, path=target.split("?", 1)[0], target=target, port=port,
                request_body_len=len(body), client_port=sock.getsockname()[1])
    sent.t0_wall_ns, sent.t0_mono = time.time_ns(), time.monotonic()
    bounds = [0] + cuts + [len(req)]
    for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
        if i:
            time.sleep(0.001)
        sock.sendall(req[a:b])
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        assert data, f"harness: the server closed before answering {method} {target}"
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:]))
    length = int(headers["Content-Length"])
    while len(rest) < length:
        data = sock.recv(65536)
        assert data, f"harness: the server closed inside the body of {method} {target}"
        rest += data
    assert len(rest) == length, f"harness: {len(rest) - length} bytes after the body"
    sent.t1_wall_ns, sent.t1_mono = time.time_ns(), time.monotonic()
    sent.status = int(lines[0].split()[1])
    sent.response_body, sent.response_body_len = rest, len(rest)
    sent.extra.update(will_close=False, headers=headers, pieces=len(bounds) - 1)
    return check_answer(sent, method, target, body or None)


@pytest.mark.parametrize("cut", list(REQ_CUTS), ids=list(REQ_CUTS))
def test_request_cut_anywhere(capture_server, start_sonde, cut):
    """Requests (some with a body) written in pieces cut at different byte
    offsets, 2 keep-alive connections of 3 requests: one span each."""
    server = capture_server("writes")
    sonde = sonde_for(start_sonde, server, f"e2e-reqcut-{cut}")
    ledger = []
    for reqs in plan(f"reqcut-{cut}", conns=2, per_conn=3):
        t0 = (time.monotonic(), time.time_ns())
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i, (method, target, body) in enumerate(reqs):
                sent = raw_request(sock, server.port, method, target, body, cut)
                if i == 0:
                    sent.t0_mono, sent.t0_wall_ns = t0
                ledger.append(sent)
    assert sum(s.extra["pieces"] > 1 for s in ledger) >= len(ledger) // 2, \
        "harness: too few requests cut"
    check_one_span_per_request(sonde, ledger, f"e2e-reqcut-{cut}")
