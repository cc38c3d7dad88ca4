"""Parents of the calls a gRPC server makes while it serves (issue 13):
the outgoing calls of a handler, HTTP/1 or gRPC, are the children of the
stream it serves (model/streamlink.h), never of another one.

A relay gRPC server (Python grpcio, thread pool; Go grpc-go, goroutines)
whose Relay handler makes one outgoing call, named by the request: an
HTTP/1 GET to a Python ThreadingHTTPServer (traced), or a Unary gRPC call
to a second, Go, gRPC server (traced). The test's own client (grpcio, not
traced) sends every Relay call with a `traceparent` of its own, so each
relay server span is known by its trace id, and the call it made by its
path (HTTP) or its request size (gRPC).

- one call at a time: every outgoing call is the child of its relay server
  span (same trace, parent id = that span's id), and the downstream
  server's span the child of that call;
- many calls at once (each handler's call held 300 ms downstream, so that
  they all overlap): no call gets a wrong parent, each is either linked
  right or left without parent and counted in
  sonde_events_lost_total{reason="link_ambiguous"}.
"""
import os
import secrets
import subprocess
import time
from concurrent import futures

import grpc
import pytest

from conftest import PYTHON, _register, free_port, kill_process_group, port_accepts, wait_until
from test_grpc import _start_server, go_peer, peers  # noqa: F401 (fixtures)

SPAN_WAIT = 30
SEQ_HTTP, SEQ_GRPC, PARALLEL = 4, 3, 12

DOWNSTREAM_HTTP = """
import http.server, sys, time, urllib.parse
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        q = urllib.parse.urlparse(self.path).query
        if q.startswith("ms="):
            time.sleep(int(q[3:]) / 1000)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _traceparent():
    return secrets.token_hex(16), secrets.token_hex(8)


def _ambiguous(sonde):
    return sonde.metrics().sum("sonde_events_lost_total", reason="link_ambiguous")


@pytest.fixture
def relay_setup(peers, start_sonde, tmp_path, request):  # noqa: F811
    lang = request.param
    hport = free_port()
    http_down = subprocess.Popen([PYTHON, "-c", DOWNSTREAM_HTTP, str(hport)],
                                 stdout=subprocess.DEVNULL,
                                 stderr=open(tmp_path / "down-http.log", "w"),
                                 start_new_session=True)
    _register(http_down)
    grpc_down, gport = _start_server(peers, "go", tmp_path)
    relay, rport = _start_server(peers, lang, tmp_path)
    wait_until(lambda: port_accepts(hport), 30, what="the downstream HTTP server")
    sonde = start_sonde({"SONDE_TARGET_PID": f"{relay.pid},{grpc_down.pid},{http_down.pid}",
                         "SONDE_TRACE_PRINTER": "json"})
    for pid in (relay.pid, grpc_down.pid, http_down.pid):
        sonde.wait_instrumented([pid])
    time.sleep(1)
    ch = grpc.insecure_channel(f"127.0.0.1:{rport}")
    grpc.channel_ready_future(ch).result(timeout=10)
    call = ch.unary_unary("/test.Echo/Relay")
    try:
        yield dict(sonde=sonde, call=call, relay=relay.pid, grpc_down=grpc_down.pid,
                   http_down=http_down.pid, hport=hport, gport=gport)
    finally:
        ch.close()
        for p in (relay, grpc_down, http_down):
            kill_process_group(p)


def _relay(setup, what):
    trace, parent = _traceparent()
    setup["call"](what.encode(), timeout=20,
                  metadata=(("traceparent", f"00-{trace}-{parent}-01"),))
    return trace, parent


def _relay_servers(spans, setup):
    """The relay's server spans, by trace id; each must be in the trace and
    under the span its traceparent named."""
    return {s["trace_id"]: s for s in spans
            if s["pid"] == setup["relay"] and s["kind"] == "server"}


def _check_server_joined_trace(servers, trace, parent):
    srv = servers.get(trace)
    assert srv, f"no relay server span in trace {trace}"
    assert srv["parent_span_id"] == parent, srv
    return srv


@pytest.mark.parametrize("relay_setup", ["python", "go"], indirect=True)
def test_relay_calls_one_at_a_time(relay_setup):
    """One Relay call at a time: each outgoing call (HTTP/1 and gRPC) is the
    child of the relay's server span, and the downstream server span the
    child of that call, all in the trace the caller's traceparent named."""
    setup, sonde = relay_setup, relay_setup["sonde"]
    t0 = time.monotonic()
    sent_http = [_relay(setup, f"http {setup['hport']} /down/seq{i}") for i in range(SEQ_HTTP)]
    sent_grpc = [_relay(setup, f"grpc {setup['gport']} {100 + i}") for i in range(SEQ_GRPC)]
    n = SEQ_HTTP + SEQ_GRPC
    sonde.wait_spans(lambda s: s.get("pid") == setup["relay"], 2 * n, timeout=SPAN_WAIT,
                     what="relay spans")
    sonde.wait_spans(lambda s: s.get("pid") in (setup["http_down"], setup["grpc_down"]), n,
                     timeout=SPAN_WAIT, what="downstream spans")
    time.sleep(1)
    spans = sonde.snapshot()
    servers = _relay_servers(spans, setup)
    assert len(servers) == n, servers
    calls = [s for s in spans if s["pid"] == setup["relay"] and s["kind"] == "client"]
    http_calls = {s["path"]: s for s in calls if s.get("rpc_system") != "grpc"}
    # the gRPC message is the request size less the 5-byte gRPC frame prefix
    grpc_calls = {s["request_size"] - 5: s for s in calls if s.get("rpc_system") == "grpc"}
    assert len(http_calls) == SEQ_HTTP and len(grpc_calls) == SEQ_GRPC, calls
    down_http = {s["path"]: s for s in spans if s["pid"] == setup["http_down"]}
    down_grpc = {s["request_size"] - 5: s for s in spans if s["pid"] == setup["grpc_down"]}
    for i, (trace, parent) in enumerate(sent_http):
        srv = _check_server_joined_trace(servers, trace, parent)
        call = http_calls[f"/down/seq{i}"]
        assert call["trace_id"] == trace and call["parent_span_id"] == srv["span_id"], call
        down = down_http[f"/down/seq{i}"]
        assert down["trace_id"] == trace and down["parent_span_id"] == call["span_id"], down
    for i, (trace, parent) in enumerate(sent_grpc):
        srv = _check_server_joined_trace(servers, trace, parent)
        call = grpc_calls[100 + i]
        assert call["trace_id"] == trace and call["parent_span_id"] == srv["span_id"], call
        down = down_grpc[100 + i]
        assert down["trace_id"] == trace and down["parent_span_id"] == call["span_id"], down
    assert _ambiguous(sonde) == 0
    print(f"\n[{setup['relay']}] {n} relay calls one at a time: all linked "
          f"({time.monotonic() - t0:.1f} s)")


@pytest.mark.parametrize("relay_setup", ["python", "go"], indirect=True)
def test_relay_calls_at_once(relay_setup):
    """PARALLEL Relay calls at once, each held 300 ms downstream: every
    outgoing call is linked to its own relay server span or to none, and
    those left without parent are exactly the ones counted ambiguous."""
    setup, sonde = relay_setup, relay_setup["sonde"]
    t0 = time.monotonic()
    with futures.ThreadPoolExecutor(PARALLEL) as pool:
        sent = list(pool.map(
            lambda i: _relay(setup, f"http {setup['hport']} /down/par{i}?ms=300"),
            range(PARALLEL)))
    sonde.wait_spans(lambda s: s.get("pid") == setup["relay"], 2 * PARALLEL,
                     timeout=SPAN_WAIT, what="relay spans")
    sonde.wait_spans(lambda s: s.get("pid") == setup["http_down"], PARALLEL,
                     timeout=SPAN_WAIT, what="downstream spans")
    time.sleep(1)
    spans = sonde.snapshot()
    servers = _relay_servers(spans, setup)
    server_ids = {s["span_id"] for s in servers.values()}
    calls = {s["path"]: s for s in spans if s["pid"] == setup["relay"] and s["kind"] == "client"}
    down = {s["path"]: s for s in spans if s["pid"] == setup["http_down"]}
    assert len(servers) == PARALLEL and len(calls) == PARALLEL, calls
    linked = 0
    for i, (trace, parent) in enumerate(sent):
        srv = _check_server_joined_trace(servers, trace, parent)
        call = calls[f"/down/par{i}"]
        if call["parent_span_id"]:
            assert call["parent_span_id"] == srv["span_id"] and call["trace_id"] == trace, \
                f"call {i} under the wrong parent: {call}"
            linked += 1
        else:
            assert call["trace_id"] not in servers and call["span_id"] not in server_ids, call
        d = down[f"/down/par{i}"]
        assert d["parent_span_id"] == call["span_id"] and d["trace_id"] == call["trace_id"], d
    unlinked = PARALLEL - linked
    # they all overlapped: some calls cannot be told apart
    assert unlinked > 0
    assert _ambiguous(sonde) == unlinked
    print(f"\n[{setup['relay']}] {PARALLEL} relay calls at once: {linked} linked, "
          f"{unlinked} left without parent and counted ({time.monotonic() - t0:.1f} s)")
