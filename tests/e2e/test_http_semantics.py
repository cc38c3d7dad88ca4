"""HTTP/1.x framing the kernel side must get right, on a raw-socket server
whose framing each test chooses: chunked bodies in many writes, HTTP/1.0
close-delimited bodies, pipelined requests answered in order, 100-continue,
a head split over writes, a connection open before Sonde started, and
non-HTTP bytes on a traced socket (ignored, counted, the service unharmed)."""
import socket
import subprocess
import time

import pytest

from conftest import (PYTHON, SERVERS_DIR, _register, free_port, kill_process_group,
                      port_accepts, wait_until)

FRAMING = SERVERS_DIR / "framing" / "server.py"


@pytest.fixture
def framing_server():
    port = free_port()
    proc = subprocess.Popen([PYTHON, str(FRAMING), str(port)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    _register(proc)
    wait_until(lambda: port_accepts(port), 15, what="the framing server to listen")
    yield port
    kill_process_group(proc)


def exchange(sock, data, until_closed=False, expect=None):
    """Send data, read until `expect` bytes arrived or the peer closed."""
    sock.sendall(data)
    got = b""
    sock.settimeout(5)
    while True:
        if expect is not None and expect(got):
            return got
        chunk = sock.recv(65536)
        if not chunk:
            return got
        got += chunk


def one_response_done(buf):
    """A complete Content-Length or chunked response is in buf."""
    if b"\r\n\r\n" not in buf:
        return False
    head, body = buf.split(b"\r\n\r\n", 1)
    if b"chunked" in head.lower():
        return body.endswith(b"0\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def spans_for(sonde, port, n, what):
    return sonde.wait_spans(lambda s: s["server_port"] == port, n, what=what)


def test_chunked_response_in_many_writes_ends_at_terminator(framing_server, start_sonde):
    sonde = start_sonde({"SONDE_OPEN_PORT": framing_server, "SONDE_TRACE_PRINTER": "json"})
    with socket.create_connection(("127.0.0.1", framing_server)) as sock:
        t0 = time.monotonic()
        resp = exchange(sock, b"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n", expect=one_response_done)
        t1 = time.monotonic()
        assert resp.endswith(b"0\r\n\r\n")
        # the connection stays open: the span must come from the terminator
        [span] = spans_for(sonde, framing_server, 1, "the chunked span")
    assert span["path"] == "/chunked" and span["status"] == 200
    # three chunks 10 ms apart: the span lasts until the last one
    assert span["duration_ns"] >= 30_000_000, span
    assert span["duration_ns"] <= (t1 - t0) * 1e9 + 50_000_000, span
    assert span["response_size"] >= 1000, span


def test_http10_close_delimited_response(framing_server, start_sonde):
    sonde = start_sonde({"SONDE_OPEN_PORT": framing_server, "SONDE_TRACE_PRINTER": "json"})
    with socket.create_connection(("127.0.0.1", framing_server)) as sock:
        resp = exchange(sock, b"GET /close HTTP/1.0\r\n\r\n")
    body = resp.split(b"\r\n\r\n", 1)[1]
    [span] = spans_for(sonde, framing_server, 1, "the close-delimited span")
    assert span["path"] == "/close" and span["status"] == 200
    assert span["response_size"] == len(body), (span, len(body))


def test_pipelined_requests_matched_in_order(framing_server, start_sonde):
    sonde = start_sonde({"SONDE_OPEN_PORT": framing_server, "SONDE_TRACE_PRINTER": "json"})
    batch = (b"GET /p1 HTTP/1.1\r\nHost: x\r\n\r\n"
             b"POST /p2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
             b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n")
    with socket.create_connection(("127.0.0.1", framing_server)) as sock:
        resp = exchange(sock, batch, expect=lambda b: b.count(b"HTTP/1.1 ") == 3 and
                        b.endswith(b"0\n"))
    assert resp.count(b"HTTP/1.1 ") == 3
    spans = spans_for(sonde, framing_server, 3, "three pipelined spans")
    got = [(s["method"], s["path"], s["status"], s["request_size"]) for s in
           sorted(spans, key=lambda s: s["start_ns"])]
    assert sorted(got) == sorted([("GET", "/p1", 200, 0), ("POST", "/p2", 200, 5),
                                  ("GET", "/missing", 404, 0)]), got


def test_expect_100_continue(framing_server, start_sonde):
    sonde = start_sonde({"SONDE_OPEN_PORT": framing_server, "SONDE_TRACE_PRINTER": "json"})
    with socket.create_connection(("127.0.0.1", framing_server)) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        sock.settimeout(5)
        interim = sock.recv(100)
        assert interim.startswith(b"HTTP/1.1 100")
        resp = exchange(sock, b"data", expect=one_response_done)
    assert b" 200 " in resp
    [span] = spans_for(sonde, framing_server, 1, "the 100-continue span")
    assert (span["method"], span["path"], span["status"], span["request_size"]) == \
        ("POST", "/upload", 200, 4), span


def test_response_head_split_over_writes(framing_server, start_sonde):
    sonde = start_sonde({"SONDE_OPEN_PORT": framing_server, "SONDE_TRACE_PRINTER": "json"})
    with socket.create_connection(("127.0.0.1", framing_server)) as sock:
        for i in range(3):
            resp = exchange(sock, b"GET /splithead/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i,
                            expect=one_response_done)
            assert resp.startswith(b"HTTP/1.1 201")
    spans = spans_for(sonde, framing_server, 3, "split-head spans")
    assert sorted(s["path"] for s in spans) == ["/splithead/0", "/splithead/1", "/splithead/2"]
    assert {s["status"] for s in spans} == {201}


def test_connection_open_before_sonde_started(framing_server, start_sonde):
    """A keep-alive connection accepted before Sonde started is recognised
    from its request bytes, from the first request after the start on: the
    server's read was already blocked when Sonde attached, and the exit
    probe (the only one) still sees it return with the bytes."""
    with socket.create_connection(("127.0.0.1", framing_server)) as sock:
        exchange(sock, b"GET /before HTTP/1.1\r\nHost: x\r\n\r\n", expect=one_response_done)
        sonde = start_sonde({"SONDE_OPEN_PORT": framing_server, "SONDE_TRACE_PRINTER": "json"})
        for i in range(4):
            exchange(sock, b"GET /after/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i,
                     expect=one_response_done)
        spans = sonde.wait_spans(lambda s: s["server_port"] == framing_server, 4,
                                 what="spans on the old connection")
        time.sleep(0.3)  # anything extra would show up now
    paths = sorted(s["path"] for s in sonde.snapshot() if s["server_port"] == framing_server)
    assert paths == ["/after/0", "/after/1", "/after/2", "/after/3"], paths
    assert all(s["status"] == 200 for s in spans)


def test_non_http_bytes_ignored_and_service_unharmed(framing_server, start_sonde):
    sonde = start_sonde({"SONDE_OPEN_PORT": framing_server, "SONDE_TRACE_PRINTER": "json"})
    before = sonde.metrics().sum("sonde_connections_skipped_total")
    for payload in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64),  # TLS hello
                    b"PING\r\n", b"\x00" * 300, b"SSH-2.0-OpenSSH_9.2\r\n"):
        with socket.create_connection(("127.0.0.1", framing_server)) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(5)
            try:
                while sock.recv(4096):
                    pass
            except (ConnectionError, socket.timeout):
                pass
    # HTTP after the garbage still works and is traced
    with socket.create_connection(("127.0.0.1", framing_server)) as sock:
        resp = exchange(sock, b"GET /still-fine HTTP/1.1\r\nHost: x\r\n\r\n",
                        expect=one_response_done)
    assert resp.startswith(b"HTTP/1.1 200") and b"GET /still-fine 0" in resp
    spans = spans_for(sonde, framing_server, 1, "the span after garbage")
    assert [s["path"] for s in spans] == ["/still-fine"], spans
    # The TLS hello makes a TLS connection (counted as such: its plaintext
    # is the uprobes'); the zeros and the SSH banner are skipped.
    wait_until(lambda: sonde.metrics().sum("sonde_connections_skipped_total") >= before + 2, 10,
               what="the non-HTTP connections to be counted as skipped")
    assert sonde.metrics().sum("sonde_tls_connections_total") == 1
