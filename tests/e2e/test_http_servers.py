"""Sonde against five real HTTP/1.x servers: Flask, Express, Java, Go, nginx.

One server and one Sonde (selecting by port) per server kind, shared by the
tests of that kind (module-scoped fixture, parametrized). Every test sends
requests on paths of its own, then checks that:

* each request has exactly one span (matched by method + path) and no span
  is left over, and every span comes from the server's process(es);
* the span's method, path, status, sizes, ports and timing agree with what
  the client saw;
* Sonde's Prometheus counters moved by exactly the number of requests sent.
"""
import os
import re
import time

import pytest

from conftest import (SERVER_KINDS, SPAN_TIMEOUT, Client, Sonde, _brief,
                      check_span_against_request, free_port, free_ports, key_of,
                      match_spans, wait_until)

DUR = "http_server_request_duration_seconds"
REQ_SIZE = "http_server_request_body_size_bytes"
RESP_SIZE = "http_server_response_body_size_bytes"
METRIC_TIMEOUT = 10.0

EXPECTED_EXE = {"flask": "python3", "express": "node", "java": "java",
                "go": "e2e-go-server", "nginx": "nginx"}


class Harness:
    """One server kind under one Sonde, plus the client's ledger."""

    def __init__(self, kind, server, sonde, service, late_port, builder, log_dir):
        self.kind = kind
        self.server = server
        self.sonde = sonde
        self.service = service
        self.late_port = late_port
        self.builder = builder
        self.log_dir = log_dir
        self.client = Client()
        self.known_pids = set(server.pids())
        self._barriers = 0
        self._reported_orphans = set()
        self._mark = 0
        self.baseline = None
        self.late_pids = {}

    @property
    def port(self):
        return self.server.port

    # -- requests ---------------------------------------------------------
    def send(self, method, target, **kw):
        port = kw.pop("port", self.port)
        try:
            sent = self.client.request(port, method, target, **kw)
        except OSError:
            if port == self.port:
                self.server.check_alive()
            raise
        assert sent.status != 400 or "status=400" in target, (
            f"{self.kind} server rejected {method} {target}: {sent.response_body[:200]!r}")
        return sent

    def metrics(self):
        return self.sonde.metrics()

    def begin(self):
        """Start of a test: remember the ledger position and the metrics."""
        self._mark = len(self.client.ledger)
        self.baseline = self.metrics()
        return self

    def settle(self):
        """Send a barrier request on a new connection and wait for its span:
        spans of everything sent before it have been emitted by then."""
        self._barriers += 1
        path = f"/barrier/{self.kind}/{self._barriers}"
        sent = self.send("GET", path, tag="barrier")
        self.sonde.wait_spans(lambda s: key_of(s) == key_of(sent), 1,
                              what=f"span of barrier request GET {path}")
        return sent

    def finish(self):
        """End of a test: every request sent since begin() has exactly one
        span, no stray spans, and the request counter moved by exactly that
        many. Returns [(sent, span)] for the test's own requests."""
        new = self.client.ledger[self._mark:]
        want = {}
        for s in new:
            want[key_of(s)] = want.get(key_of(s), 0) + 1
        keys = set(want)
        # 1. wait until every request has (at least) its span.
        self.sonde.wait_spans(lambda s: key_of(s) in keys, len(new),
                              what=f"spans for the {len(new)} request(s) of this test")
        # 2. barrier, so that duplicates would have arrived too.
        barrier = self.settle()
        new = self.client.ledger[self._mark:]
        keys.add(key_of(barrier))
        spans = [s for s in self.sonde.snapshot() if key_of(s) in keys]
        pairs = match_spans(new, spans)
        self.check_no_strays()
        for sent, span in pairs:
            self.check_common(sent, span)
        # 3. Prometheus: the request counter of this service moved by len(new).
        before = self.baseline.sum(f"{DUR}_count", service_name=self.service)
        target = before + len(new)
        m = self.wait_metrics(lambda m: m.sum(f"{DUR}_count", service_name=self.service)
                              >= target, f"{DUR}_count{{service_name={self.service!r}}} "
                              f"to reach {target:g} (was {before:g}, +{len(new)} requests)")
        got = m.sum(f"{DUR}_count", service_name=self.service)
        assert got == target, (
            f"{DUR}_count for service {self.service!r} is {got:g}, expected {target:g} "
            f"({before:g} before this test + {len(new)} requests)")
        self.final_metrics = m
        return [(s, sp) for (s, sp) in pairs if s.tag != "barrier"]

    def wait_metrics(self, predicate, what, timeout=METRIC_TIMEOUT):
        last = [None]

        def ok():
            last[0] = self.metrics()
            return predicate(last[0])
        try:
            wait_until(ok, timeout, interval=0.2, what=what)
        except AssertionError as exc:
            lines = [ln for ln in (last[0].text if last[0] else "").splitlines()
                     if ln.startswith(f"{DUR}_count")]
            raise AssertionError(f"{exc}\nlast scrape's {DUR}_count lines:\n" +
                                 "\n".join(lines[:40])) from None
        return last[0]

    def delta(self, name, **labels):
        return self.final_metrics.sum(name, **labels) - self.baseline.sum(name, **labels)

    def check_no_strays(self):
        """Every span Sonde printed so far is one of our requests, from one of
        our servers' processes, for our service; stdout had only JSON."""
        ledger_keys = {key_of(s) for s in self.client.ledger}
        spans = self.sonde.snapshot()
        orphans = [s for s in spans if key_of(s) not in ledger_keys
                   and id(s) not in self._reported_orphans]
        self._reported_orphans.update(id(s) for s in orphans)
        assert not orphans, f"spans that match no request sent: {[_brief(s) for s in orphans]}"
        foreign = {s.get("pid") for s in spans} - self.known_pids
        assert not foreign, (f"spans from pid(s) {sorted(foreign)}, which are not the "
                             f"{self.kind} server's {sorted(self.known_pids)}")
        assert not self.sonde.bad_stdout, (
            f"Sonde printed non-JSON lines on stdout: {self.sonde.bad_stdout[:5]}")

    def check_common(self, sent, span):
        check_span_against_request(span, sent)
        ctx = f"{sent.method} {sent.target} -> {_brief(span)}"
        assert span["service"] == self.service, f"service: {span.get('service')!r}: {ctx}"
        server_pids = self.server_pids_for_port(sent.port)
        assert span["pid"] in server_pids, f"pid not the server's {sorted(server_pids)}: {ctx}"
        assert span["request_size"] == sent.request_body_len, f"request_size: {ctx}"
        if not is_chunked(sent):
            assert span["response_size"] == sent.response_body_len, (
                f"response_size {span['response_size']} != {sent.response_body_len} body "
                f"bytes the client read: {ctx}")
        assert "?" not in span["path"], f"query string left in path: {ctx}"

    def server_pids_for_port(self, port):
        if port == self.port:
            return self.server.pids()
        return self.late_pids.get(port, set())


def is_chunked(sent):
    return sent.extra.get("headers", {}).get("Transfer-Encoding", "").lower() == "chunked"


@pytest.fixture(scope="module", params=SERVER_KINDS)
def h(request, server_builder, tmp_path_factory):
    kind = request.param
    log_dir = tmp_path_factory.mktemp(f"http-{kind}")
    main_port, late_port = free_ports(2)
    service = f"e2e-{kind}"
    server = server_builder.start(kind, main_port, log_dir=log_dir)
    sonde = None
    try:
        sonde = Sonde({"SONDE_OPEN_PORT": f"{main_port},{late_port}",
                       "SONDE_SERVICE_NAME": service,
                       "SONDE_TRACE_PRINTER": "json"},
                      prom_port=free_port(), name=f"sonde[{kind}]")
        sonde.wait_ready()
        harness = Harness(kind, server, sonde, service, late_port, server_builder, log_dir)
        yield harness
    finally:
        if sonde is not None:
            sonde.stop()
        server.stop()


def test_instrumenting_log_line(h):
    """One `instrumenting pid=... service=... exe=... port=...` line for the server."""
    m = h.sonde.wait_instrumented(h.server.pids())
    line = m.string
    fields = dict(re.findall(r"(\w+)=(\S+)", line))
    assert fields.get("service") == h.service, f"service in {line!r}"
    assert os.path.basename(fields.get("exe", "")).startswith(EXPECTED_EXE[h.kind]), \
        f"exe in {line!r}"
    assert str(h.port) in re.split(r"[,\s]", fields.get("port", "")), f"port in {line!r}"
    m = h.metrics()
    assert m.sum("sonde_instrumented_processes") >= 1, \
        "sonde_instrumented_processes is 0 although a server was instrumented"
    assert m.select("sonde_build_info"), "sonde_build_info is missing from /metrics"


def test_methods_paths_and_routes(h):
    h.begin()
    put_body = b'{"name":"alice"}'
    post_body = bytes(range(256)) * 19 + b"0123456789" * 2 + b"abcd"  # 4888 bytes
    cases = [
        ("GET", "/hello", None, "/hello"),
        ("POST", "/upload", post_body, "/upload"),
        ("PUT", "/users/42", put_body, "/users/*"),
        ("DELETE", "/users/43", None, "/users/*"),
        ("PATCH", "/items/550e8400-e29b-41d4-a716-446655440000", b"x", "/items/*"),
        ("GET", "/objects/5f8d0d55b54764421b7156c9/owner", None, "/objects/*/owner"),
        ("OPTIONS", "/api/v1/catalog", None, "/api/v1/catalog"),
    ]
    routes = {}
    for method, path, body, route in cases:
        sent = h.send(method, path, body=body)
        assert sent.status == 200, f"{h.kind}: {method} {path} -> {sent.status}"
        routes[(method, path)] = route
    pairs = h.finish()
    assert len(pairs) == len(cases)
    for sent, span in pairs:
        assert span["route"] == routes[key_of(sent)], (
            f"route of {sent.method} {sent.path} is {span['route']!r}, "
            f"expected {routes[key_of(sent)]!r}")
    # Metrics by label.
    assert h.delta(f"{DUR}_count", service_name=h.service, http_request_method="POST",
                   http_route="/upload", http_response_status_code="200") == 1
    assert h.delta(f"{DUR}_count", service_name=h.service, http_route="/users/*") == 2
    assert h.delta(f"{DUR}_count", service_name=h.service, http_request_method="DELETE") == 1
    assert h.delta(f"{REQ_SIZE}_sum", service_name=h.service, http_route="/upload") == \
        len(post_body)
    assert h.delta(f"{REQ_SIZE}_sum", service_name=h.service, http_route="/users/*") == \
        len(put_body)
    upload = next(s for s, _ in pairs if s.path == "/upload")
    assert h.delta(f"{RESP_SIZE}_sum", service_name=h.service, http_route="/upload") == \
        upload.response_body_len


def status_cases(kind):
    cases = [("GET", "/check-200?status=200", 200), ("GET", "/check-404?status=404", 404),
             ("GET", "/check-500?status=500", 500), ("POST", "/check-post-500?status=500", 500),
             ("DELETE", "/check-del-404?status=404", 404)]
    if kind == "nginx":
        cases += [("GET", "/status404", 404), ("GET", "/status500", 500),
                  ("GET", "/static/no-such-file.bin", 404)]
    else:
        cases += [("GET", "/check-201?status=201", 201), ("GET", "/check-503?status=503", 503)]
    return cases


def test_statuses(h):
    h.begin()
    cases = status_cases(h.kind)
    for method, target, status in cases:
        sent = h.send(method, target, body=b"payload" if method == "POST" else None)
        assert sent.status == status, f"{h.kind} answered {sent.status} to {method} {target}"
    pairs = h.finish()
    assert len(pairs) == len(cases)
    for code in ("404", "500"):
        want = sum(1 for (_, _, st) in cases if str(st) == code)
        got = h.delta(f"{DUR}_count", service_name=h.service, http_response_status_code=code)
        assert got == want, f"{DUR}_count{{http_response_status_code={code!r}}} moved by " \
                            f"{got:g}, expected {want}"


@pytest.mark.parametrize("size", [0, 100, 70_000])
def test_post_body_size(h, size):
    h.begin()
    body = (b"sonde-e2e-" * (size // 10 + 1))[:size]
    sent = h.send("POST", f"/submit-{size}", body=body)
    assert sent.status == 200
    if h.kind != "nginx":  # nginx's `return` discards the body; the others count it.
        assert sent.response_body.split()[-1] == str(size).encode(), sent.response_body
    [(s, span)] = h.finish()
    assert span["request_size"] == size, f"request_size {span['request_size']} != {size}"
    assert span["response_size"] == sent.response_body_len
    assert h.delta(f"{REQ_SIZE}_sum", service_name=h.service, http_route=f"/submit-{size}") \
        == size


def bucket(metrics, name, le, **labels):
    return sum(v for (_, lab, v) in metrics.select(f"{name}_bucket", **labels)
               if float(lab.get("le", "nan")) == le)


def test_delay(h):
    h.begin()
    sent = h.send("GET", "/slow?delay=200ms", delay_s=0.2)
    assert sent.status == 200
    assert sent.client_ns >= 200_000_000, "the server did not sleep: test server bug"
    [(s, span)] = h.finish()
    # check_common already asserted duration/handler >= 200 ms and <= client + 50 ms.
    assert span["route"] == "/slow"
    for le, want in ((0.1, 0), (0.25, 1), (float("inf"), 1)):
        got = bucket(h.final_metrics, DUR, le, service_name=h.service, http_route="/slow") - \
            bucket(h.baseline, DUR, le, service_name=h.service, http_route="/slow")
        assert got == want, f"bucket le={le} of {DUR}{{http_route='/slow'}} moved by {got:g}, " \
                            f"expected {want} (duration {span['duration_ns'] / 1e6:.1f} ms)"
    dsum = h.delta(f"{DUR}_sum", service_name=h.service, http_route="/slow")
    assert 0.2 <= dsum <= s.client_ns / 1e9 + 0.05, f"{DUR}_sum moved by {dsum}"


def test_keepalive_20_requests_one_connection(h):
    import http.client
    h.begin()
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=30)
    sent_list = []
    try:
        for i in range(20):
            if i % 5 == 4:
                sent = h.send("POST", f"/keepalive/{i}", body=b"k" * (300 + i), conn=conn)
            else:
                sent = h.send("GET", f"/keepalive/{i}", conn=conn)
            assert sent.status == 200
            sent_list.append(sent)
    finally:
        conn.close()
    ports = {s.client_port for s in sent_list}
    if h.kind == "flask":
        # Werkzeug's development server (Flask's threaded server) answers every
        # request with `Connection: close`: http.client reconnects each time.
        assert all(s.extra["will_close"] for s in sent_list)
        assert len(ports) == 20, f"expected one connection per request, got ports {ports}"
    else:
        assert len(ports) == 1, \
            f"{h.kind} did not keep the connection alive (client ports {ports})"
    pairs = h.finish()
    assert len(pairs) == 20
    assert {span["client_port"] for _, span in pairs} == ports
    # Spans on one connection follow each other in time.
    starts = [span["start_ns"] for _, span in sorted(pairs, key=lambda p: p[0].t0_mono)]
    assert starts == sorted(starts), "spans on one connection are not in request order"


def test_idle_connection_timing(h):
    """The first request on a new connection is timed from the accept; a
    later request on the same connection is not charged for idle time."""
    import http.client
    idle = 0.3
    h.begin()
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=30)
    try:
        t0 = (time.monotonic(), time.time_ns())
        conn.connect()
        time.sleep(idle)  # connected but silent: part of the first span
        first = h.send("GET", "/conn-idle/first", conn=conn, t0=t0)
        time.sleep(idle)  # idle between requests: part of no span
        second = h.send("GET", "/conn-idle/second", conn=conn)
    finally:
        conn.close()
    assert first.status == second.status == 200
    spans = {sent.path: span for sent, span in h.finish()}
    d1, h1 = spans["/conn-idle/first"]["duration_ns"], spans["/conn-idle/first"]["handler_ns"]
    d2 = spans["/conn-idle/second"]["duration_ns"]
    # The server accepts a little after the client's connect() returns: allow
    # 50 ms for that. A span timed from the request bytes would be ~0 ms.
    assert d1 >= (idle - 0.05) * 1e9, (
        f"first request on a new connection: duration {d1 / 1e6:.1f} ms does not include the "
        f"{idle * 1e3:.0f} ms between accept and request")
    assert h1 < idle * 1e9, f"handler_ns {h1 / 1e6:.1f} ms includes the pre-request idle time"
    assert d2 < idle * 1e9, (
        f"second request: duration {d2 / 1e6:.1f} ms includes the {idle * 1e3:.0f} ms the "
        f"connection sat idle before it")


def test_server_started_after_sonde(h):
    """A server that starts listening after Sonde is ready is traced too."""
    h.begin()
    late = h.builder.start(h.kind, h.late_port, log_dir=h.log_dir)
    try:
        listening_at = time.monotonic()
        h.late_pids[late.port] = late.pids()
        h.known_pids |= late.pids()
        m = h.sonde.wait_instrumented(late.pids(), timeout=5)
        lag = time.monotonic() - listening_at
        assert f"service={h.service}" in m.string, m.string
        # The contract gives Sonde ~0.5 s after a late server starts listening.
        grace = 0.6 - (time.monotonic() - listening_at)
        if grace > 0:
            time.sleep(grace)
        for i in range(5):
            sent = h.send("GET", f"/late/{i}?status={200 if i % 2 == 0 else 404}",
                          port=late.port)
            assert sent.status == (200 if i % 2 == 0 else 404)
        pairs = h.finish()
        assert len(pairs) == 5
        for sent, span in pairs:
            assert span["server_port"] == late.port
            assert span["pid"] in late.pids()
        print(f"{h.kind}: late server instrumented {lag:.2f}s after it listened")
    finally:
        late.stop()


def test_zz_everything_accounted_for(h):
    """Over the whole run for this server: one span per request, none extra,
    and the Prometheus request count equals the number of requests."""
    h.settle()
    try:
        wait_until(lambda: len(h.sonde.snapshot()) >= len(h.client.ledger), SPAN_TIMEOUT,
                   what=f"{len(h.client.ledger)} spans in all")
    except AssertionError:
        pass  # match_spans below says which requests lack a span
    h.settle()
    spans = h.sonde.snapshot()
    match_spans(h.client.ledger, spans)
    h.check_no_strays()
    total = len(h.client.ledger)
    m = h.wait_metrics(lambda m: m.sum(f"{DUR}_count", service_name=h.service) >= total,
                       f"{DUR}_count to reach {total}")
    got = m.sum(f"{DUR}_count", service_name=h.service)
    assert got == total, f"{DUR}_count{{service_name={h.service!r}}} = {got:g}, sent {total}"
    assert m.sum(f"{DUR}_count") == total, "requests counted under another service_name"
    assert m.sum("sonde_spans_total") >= total
    lost = m.select("sonde_events_lost_total")
    assert lost, "sonde_events_lost_total is missing from /metrics"
    ring = [(lab, v) for (_, lab, v) in lost if "ring" in lab.get("reason", "") and v]
    assert not ring, f"events lost to a full ring buffer: {ring}"
