"""Sonde's OTLP export, end to end, checked by an independent decoder.

A real Flask server gets real HTTP traffic on loopback while Sonde exports
over OTLP to tests/e2e/otlp_receiver/receiver.js, which decodes with the
protobuf code OpenTelemetry JS generates from the official .proto files
and serves gRPC with @grpc/grpc-js: nothing of Sonde's encoder is reused.
Sonde's JSON printer runs too, so every OTLP span can be matched with the
span Sonde printed (ids, times) and every metric with its Prometheus twin.
"""
import os
import re
import signal
import socket
import time

import pytest

from conftest import Client, Sonde, free_port, free_ports, wait_until
from otlp_receiver.harness import Receiver, attrs, make_cert

SERVER_KIND = 2
CLIENT_KIND = 3
STATUS_ERROR = 2
CUMULATIVE = 2
ARRIVAL_TIMEOUT = 20.0

# Fast batches and metric intervals, no proxy between Sonde and loopback.
FAST = {"OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_METRIC_EXPORT_INTERVAL": "500",
        "NO_PROXY": "*", "no_proxy": "*"}


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.fixture
def receivers(tmp_path):
    """Factory: receivers(http_port=..., grpc_port=..., tls=...) -> Receiver; stopped at teardown."""
    started = []

    def _start(**kw):
        r = Receiver(tmp_path, **kw)
        started.append(r)
        return r

    yield _start
    for r in started:
        r.stop()


@pytest.fixture
def flask(start_server):
    return start_server("flask")


def start(start_sonde, server, env, service="e2e-otlp"):
    full = {"SONDE_OPEN_PORT": str(server.port), "SONDE_SERVICE_NAME": service,
            "SONDE_TRACE_PRINTER": "json", **FAST, **env}
    sonde = start_sonde(full)
    sonde.wait_instrumented(server.pids())
    return sonde


def by_path(spans):
    return {s["attributes"].get("url.path"): s for s in spans}


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------

def test_http_protobuf_spans_resource_and_metrics(start_sonde, flask, receivers):
    """OTLP/HTTP: spans with the semantic conventions' attributes and Sonde's
    ids, a resource per process, headers and RED metrics that match /metrics."""
    rx = receivers(http_port=free_port())
    sonde = start(start_sonde, flask, {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{rx.http_port}",
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Basic%20dXNlcjpwYXNz+/=,X-Scope-OrgID=tenant-1",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=e2e,team=obs%20team"})
    sonde.wait_log(r"OTLP traces: protocol not set: http/protobuf inferred from port "
                   rf"{rx.http_port}", 5)
    parent_trace, parent_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    c = Client()
    body = b"x" * 321
    c.request(flask.port, "GET", "/otlp/hello")
    c.request(flask.port, "POST", "/otlp/upload", body=body)
    c.request(flask.port, "GET", "/otlp/users/42?status=503")
    c.request(flask.port, "GET", "/otlp/missing?status=404")
    c.request(flask.port, "GET", "/otlp/child",
              headers={"traceparent": f"00-{parent_trace}-{parent_span}-01"})
    spans = by_path(rx.wait_spans(lambda s: s["attributes"].get("url.path", "").startswith("/otlp/"),
                                  5, ARRIVAL_TIMEOUT))
    printed = {s["path"]: s for s in sonde.wait_spans(
        lambda s: s["path"].startswith("/otlp/"), 5)}

    for path, sent in zip(["/otlp/hello", "/otlp/upload", "/otlp/users/42", "/otlp/missing",
                           "/otlp/child"], c.ledger):
        s, p = spans[path], printed[path]
        a = s["attributes"]
        assert s["kind"] == SERVER_KIND
        assert s["trace_id"] == p["trace_id"] and s["span_id"] == p["span_id"], path
        assert s["parent_span_id"] == p["parent_span_id"], path
        assert s["start_ns"] == p["start_ns"] and s["end_ns"] == p["start_ns"] + p["duration_ns"]
        assert s["name"] == f"{sent.method} {p['route']}"
        assert a["http.request.method"] == sent.method
        assert a["url.scheme"] == "http"
        assert a["http.route"] == p["route"]
        assert a["http.response.status_code"] == sent.status
        assert a["server.address"] == "127.0.0.1" and a["server.port"] == flask.port
        assert a["client.address"] == "127.0.0.1" and a["client.port"] == sent.client_port
        assert a["network.protocol.version"] == "1.1"
        assert a["http.request.body.size"] == sent.request_body_len
        assert a["http.response.body.size"] == sent.response_body_len
        assert s["status"] == (STATUS_ERROR if sent.status >= 500 else 0), path
        # One resource per process, with what discovery knows of it.
        r = s["resource"]
        assert r["service.name"] == "e2e-otlp"
        assert r["process.pid"] in flask.pids()
        assert r["service.instance.id"].endswith(f":{r['process.pid']}")
        assert r["host.name"] == socket.gethostname()
        assert r["process.executable.name"].startswith("python3")
        assert r["process.runtime.name"] == "python"
        assert r["telemetry.sdk.name"] == "sonde" and r["telemetry.sdk.language"] == "python"
        assert r["telemetry.distro.name"] == "sonde" and r["telemetry.sdk.version"]
        assert r["deployment.environment"] == "e2e" and r["team"] == "obs team"
        assert s["scope"].get("name") == "sonde"
        assert s["transport"] == "http"
        assert s["headers"]["authorization"] == "Basic dXNlcjpwYXNz+/="
        assert s["headers"]["x-scope-orgid"] == "tenant-1"
        assert s["headers"]["content-type"] == "application/x-protobuf"
    assert spans["/otlp/upload"]["attributes"]["http.request.body.size"] == len(body)
    assert spans["/otlp/users/42"]["name"] == "GET /otlp/users/*"
    assert spans["/otlp/child"]["trace_id"] == parent_trace
    assert spans["/otlp/child"]["parent_span_id"] == parent_span
    assert not rx.errors()

    # Metrics: the Prometheus endpoint's numbers, under OTel names.
    prom = sonde.metrics()
    for route, method, status in (("/otlp/hello", "GET", 200), ("/otlp/upload", "POST", 200),
                                  ("/otlp/users/*", "GET", 503)):
        want = prom.sum("http_server_request_duration_seconds_count", http_route=route)
        assert want == 1
        dur = rx.latest_point("http.server.request.duration", ARRIVAL_TIMEOUT,
                              **{"http.route": route, "http.request.method": method,
                                 "http.response.status_code": status})
        assert dur["unit"] == "s" and dur["temporality"] == CUMULATIVE
        assert dur["count"] == want and sum(dur["buckets"]) == dur["count"]
        assert dur["bounds"] == [0, .005, .01, .025, .05, .075, .1, .25, .5, .75, 1, 2.5, 5,
                                 7.5, 10]
        assert dur["sum"] == pytest.approx(
            prom.sum("http_server_request_duration_seconds_sum", http_route=route), rel=1e-6)
        assert dur["resource"]["service.name"] == "e2e-otlp"
        assert "process.pid" not in dur["resource"]
        assert dur["start_ns"] < dur["time_ns"]
        req = rx.latest_point("http.server.request.body.size", ARRIVAL_TIMEOUT,
                              **{"http.route": route})
        assert req["unit"] == "By"
        assert req["sum"] == (len(body) if route == "/otlp/upload" else 0)
        rx.latest_point("http.server.response.body.size", ARRIVAL_TIMEOUT, **{"http.route": route})

    # Cumulative: one more request moves the next export's count to 2.
    since = time.monotonic()
    c.request(flask.port, "GET", "/otlp/hello")
    wait_until(lambda: rx.latest_point("http.server.request.duration", ARRIVAL_TIMEOUT,
                                       since=since, **{"http.route": "/otlp/hello"})["count"] == 2,
               ARRIVAL_TIMEOUT, what="the cumulative count of /otlp/hello to reach 2")
    m = sonde.metrics()
    assert m.sum("sonde_export_sent_total", signal="traces") >= 6
    assert m.sum("sonde_export_dropped_total") == 0


def test_grpc_gzip_inferred_from_4317_and_http_from_4318(start_sonde, flask, receivers):
    """No protocol set: 4317 means gRPC, 4318 OTLP/HTTP, and Sonde says so."""
    if not (port_is_free(4317) and port_is_free(4318)):
        pytest.skip("ports 4317/4318 are in use on this machine")
    rx = receivers(http_port=4318, grpc_port=4317)
    sonde = start(start_sonde, flask, {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cr3t%2C1,X-Tenant=t1"})
    sonde.wait_log(r"OTLP traces: protocol not set: grpc inferred from port 4317", 5)
    sonde.wait_log(r"OTLP metrics: protocol not set: grpc inferred from port 4317", 5)
    c = Client()
    for i in range(3):
        c.request(flask.port, "GET", f"/grpc/{i}?status=201")
    spans = rx.wait_spans(lambda s: s["attributes"].get("url.path", "").startswith("/grpc/"), 3,
                          ARRIVAL_TIMEOUT)
    printed = {s["path"]: s for s in sonde.wait_spans(lambda s: s["path"].startswith("/grpc/"), 3)}
    for s in spans:
        p = printed[s["attributes"]["url.path"]]
        assert s["transport"] == "grpc"
        assert (s["trace_id"], s["span_id"]) == (p["trace_id"], p["span_id"])
        assert s["headers"]["api-key"] == "s3cr3t,1" and s["headers"]["x-tenant"] == "t1"
        assert s["attributes"]["http.response.status_code"] == p["status"]
    traces = rx.requests("traces")
    # gzip: the message on the wire (after gRPC's 5-byte prefix) is smaller than decoded.
    assert all(int(r["headers"]["content-length"]) - 5 < r["size"] for r in traces)
    point = rx.latest_point("http.server.request.duration", ARRIVAL_TIMEOUT,
                            **{"http.route": "/grpc/*"})
    assert point["transport"] == "grpc" and point["count"] == 3
    sonde.stop()

    # The same with 4318: OTLP/HTTP, no gzip.
    sonde = start(start_sonde, flask, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    sonde.wait_log(r"OTLP traces: protocol not set: http/protobuf inferred from port 4318", 5)
    c.request(flask.port, "GET", "/via-4318")
    [s] = rx.wait_spans(lambda s: s["attributes"].get("url.path") == "/via-4318", 1,
                        ARRIVAL_TIMEOUT)
    assert s["transport"] == "http" and "content-encoding" not in s["headers"]


def test_per_signal_endpoints_seed_variable_and_sampler(start_sonde, flask, receivers):
    """OTEL_TRACES_ENDPOINT (seed era) sends traces over HTTP as given while
    metrics go to their own gRPC endpoint; then a sampler that keeps no
    span still lets every request count in the metrics."""
    http_port, grpc_port = free_ports(2)
    rx = receivers(http_port=http_port, grpc_port=grpc_port)
    sonde = start(start_sonde, flask, {
        "OTEL_TRACES_ENDPOINT": f"http://127.0.0.1:{http_port}/v1/traces",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"http://127.0.0.1:{grpc_port}",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "only-metrics=yes"})
    c = Client()
    c.request(flask.port, "GET", "/split/a")
    [s] = rx.wait_spans(lambda s: s["attributes"].get("url.path") == "/split/a", 1, ARRIVAL_TIMEOUT)
    assert s["transport"] == "http" and "only-metrics" not in s["headers"]
    p = rx.latest_point("http.server.request.duration", ARRIVAL_TIMEOUT,
                        **{"http.route": "/split/a"})
    assert p["transport"] == "grpc" and p["headers"]["only-metrics"] == "yes"
    sonde.stop()

    sonde = start(start_sonde, flask, {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{http_port}",
        "OTEL_TRACES_SAMPLER": "always_off"})
    since = time.monotonic()
    for i in range(4):
        c.request(flask.port, "GET", "/sampled-out")
    p = rx.latest_point("http.server.request.duration", ARRIVAL_TIMEOUT, since=since,
                        **{"http.route": "/sampled-out"})
    wait_until(lambda: rx.latest_point("http.server.request.duration", ARRIVAL_TIMEOUT,
                                       since=since, **{"http.route": "/sampled-out"})["count"] == 4,
               ARRIVAL_TIMEOUT, what="4 requests counted in the metrics")
    assert p["transport"] == "http"
    assert not [s for s in rx.spans() if s["attributes"].get("url.path") == "/sampled-out"]
    assert sonde.metrics().sum("sonde_export_dropped_total") == 0


def test_tls_https_and_grpc(start_sonde, flask, receivers, tmp_path):
    """https:// with OTLP/HTTP and gRPC over TLS (ALPN h2), checked with the
    CA file from OTEL_EXPORTER_OTLP_CERTIFICATE."""
    cert, key = make_cert(tmp_path)
    http_port, grpc_port = free_ports(2)
    rx = receivers(http_port=http_port, grpc_port=grpc_port, tls=(cert, key))
    sonde = start(start_sonde, flask, {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"https://localhost:{grpc_port}",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"https://127.0.0.1:{http_port}/v1/metrics",
        "OTEL_EXPORTER_OTLP_CERTIFICATE": str(cert),
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"})
    Client().request(flask.port, "GET", "/tls/ok")
    [s] = rx.wait_spans(lambda s: s["attributes"].get("url.path") == "/tls/ok", 1, ARRIVAL_TIMEOUT)
    assert s["transport"] == "grpc"
    p = rx.latest_point("http.server.request.duration", ARRIVAL_TIMEOUT, **{"http.route": "/tls/ok"})
    assert p["transport"] == "http" and p["headers"]["content-encoding"] == "gzip"
    sonde.stop()

    # Without the CA, the self-signed certificate is refused: nothing arrives.
    before = len(rx.spans())
    sonde = start(start_sonde, flask, {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://127.0.0.1:{http_port}"})
    Client().request(flask.port, "GET", "/tls/untrusted")
    sonde.wait_log(r"OTLP traces: export to https://.* failed", ARRIVAL_TIMEOUT)
    assert len(rx.spans()) == before


def test_http_json_spans_and_metrics(start_sonde, flask, receivers):
    """OTEL_EXPORTER_OTLP_PROTOCOL=http/json: the same spans and metrics in
    the OTLP JSON form (camelCase names, hex ids, 64-bit integers as strings),
    which the receiver turns back into the protobuf messages and decodes."""
    rx = receivers(http_port=free_port())
    sonde = start(start_sonde, flask, {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{rx.http_port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
    c = Client()
    c.request(flask.port, "GET", "/json/hello")
    c.request(flask.port, "POST", "/json/upload", body=b"y" * 100)
    c.request(flask.port, "GET", "/json/fail?status=500")
    spans = by_path(rx.wait_spans(lambda s: s["attributes"].get("url.path", "").startswith("/json/"),
                                  3, ARRIVAL_TIMEOUT))
    printed = {s["path"]: s for s in sonde.wait_spans(lambda s: s["path"].startswith("/json/"), 3)}
    for path, sent in zip(["/json/hello", "/json/upload", "/json/fail"], c.ledger):
        s, p = spans[path], printed[path]
        a = s["attributes"]
        assert s["headers"]["content-type"] == "application/json", s["headers"]
        assert s["kind"] == SERVER_KIND
        assert s["trace_id"] == p["trace_id"] and s["span_id"] == p["span_id"], path
        assert s["start_ns"] == p["start_ns"] and s["end_ns"] == p["start_ns"] + p["duration_ns"]
        assert a["http.request.method"] == sent.method
        assert a["http.response.status_code"] == sent.status
        assert a["http.request.body.size"] == sent.request_body_len
        assert a["server.port"] == flask.port and a["client.port"] == sent.client_port
        assert s["status"] == (STATUS_ERROR if sent.status >= 500 else 0), path
        assert s["resource"]["service.name"] == "e2e-otlp"
        assert s["resource"]["process.pid"] in flask.pids()
    p = rx.latest_point("http.server.request.duration", ARRIVAL_TIMEOUT,
                        **{"http.route": "/json/hello"})
    assert p["headers"]["content-type"] == "application/json"
    assert p["count"] == 1 and sum(p["buckets"]) == 1 and len(p["buckets"]) == len(p["bounds"]) + 1
    assert 0 < p["sum"] < 5
    assert not [r for r in rx.records if r.get("error")], [r["error"] for r in rx.records
                                                            if r.get("error")]


def test_mutual_tls_client_certificate(start_sonde, flask, receivers, tmp_path):
    """A collector that asks for a client certificate (mutual TLS), over
    OTLP/HTTP and gRPC: Sonde presents the one from
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE / _CLIENT_KEY and gets through;
    without it the handshake is refused and nothing arrives."""
    cert, key = make_cert(tmp_path)
    client_cert, client_key = make_cert(tmp_path, name="client", cn="sonde-client")
    http_port, grpc_port = free_ports(2)
    rx = receivers(http_port=http_port, grpc_port=grpc_port, tls=(cert, key),
                   client_ca=client_cert)
    sonde = start(start_sonde, flask, {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"https://localhost:{grpc_port}",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"https://127.0.0.1:{http_port}/v1/metrics",
        "OTEL_EXPORTER_OTLP_CERTIFICATE": str(cert),
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(client_cert),
        "OTEL_EXPORTER_OTLP_CLIENT_KEY": str(client_key)})
    Client().request(flask.port, "GET", "/mtls/ok")
    [s] = rx.wait_spans(lambda s: s["attributes"].get("url.path") == "/mtls/ok", 1,
                        ARRIVAL_TIMEOUT)
    assert s["transport"] == "grpc"
    p = rx.latest_point("http.server.request.duration", ARRIVAL_TIMEOUT,
                        **{"http.route": "/mtls/ok"})
    assert p["transport"] == "http" and p["clientCn"] == "sonde-client", p
    sonde.stop()

    # The same collector, Sonde without a client certificate: refused.
    before = len(rx.spans())
    sonde = start(start_sonde, flask, {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://127.0.0.1:{http_port}",
        "OTEL_EXPORTER_OTLP_CERTIFICATE": str(cert)})
    Client().request(flask.port, "GET", "/mtls/anonymous")
    sonde.wait_log(r"OTLP traces: export to https://.* failed", ARRIVAL_TIMEOUT)
    assert len(rx.spans()) == before


def test_client_certificate_without_key_is_refused_at_start(tmp_path):
    """Half a client identity is a configuration error, named, exit 2."""
    cert, _ = make_cert(tmp_path, name="half", cn="half")
    sonde = Sonde({"SONDE_OPEN_PORT": str(free_port()),
                   "OTEL_EXPORTER_OTLP_ENDPOINT": "https://127.0.0.1:4318",
                   "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": str(cert)}, name="half-mtls")
    rc = sonde.proc.wait(timeout=30)
    assert rc == 2, (rc, sonde.log_text())
    assert "OTEL_EXPORTER_OTLP_CLIENT_KEY" in sonde.log_text(), sonde.log_text()


def test_collector_down_then_up(start_sonde, flask, receivers):
    """A collector that is down, then refusing, then back: Sonde stays up with
    bounded memory, counts what it drops, and sends new data once it can."""
    http_port = free_port()
    rx = receivers(http_port=http_port)
    sonde = start(start_sonde, flask, {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{http_port}",
        "OTEL_BSP_MAX_QUEUE_SIZE": "64", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "16",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1000"})
    c = Client()
    c.request(flask.port, "GET", "/before")
    rx.wait_spans(lambda s: s["attributes"].get("url.path") == "/before", 1, ARRIVAL_TIMEOUT)
    pid = sonde.proc.pid

    rx.stop()  # down: connections refused
    rss0 = rss_kib(pid)
    deadline = time.monotonic() + 60
    for i in range(600):
        c.request(flask.port, "GET", f"/down/{i}")
        assert time.monotonic() < deadline, "traffic took too long"
    sonde.wait_spans(lambda s: s["path"].startswith("/down/"), 600, timeout=30)
    m = sonde.metrics()
    assert sonde.proc.poll() is None
    assert m.sum("sonde_export_dropped_total", signal="traces", reason="queue_full") > 0
    assert m.sum("sonde_export_failed_requests_total", signal="traces") > 0
    assert m.sum("http_server_request_duration_seconds_count", http_route="/down/*") == 600
    assert rss_kib(pid) < rss0 + 32 * 1024, f"RSS grew from {rss0} KiB to {rss_kib(pid)} KiB"

    rx.start()  # back, but refusing with 503 and Retry-After for a while
    rx.command("http 503 1")
    rx.wait(lambda: rx.refusals(), ARRIVAL_TIMEOUT, "a retried request, refused")
    rx.command("http 200")
    # The backlog Sonde kept (its bounded queue) drains first...
    rx.wait_spans(lambda s: s["attributes"].get("url.path", "").startswith("/down/"), 16,
                  ARRIVAL_TIMEOUT)
    sonde.wait_log(r"OTLP traces: export to .* works again", ARRIVAL_TIMEOUT)
    kept = len([s for s in rx.spans() if s["attributes"].get("url.path", "").startswith("/down/")])
    assert kept <= 64 + 16, f"{kept} spans of the outage arrived: more than the queue holds"
    # ...then new traffic flows again.
    wait_until(lambda: sonde.metrics().sum("sonde_export_sent_total", signal="traces") >= 1 + kept,
               ARRIVAL_TIMEOUT, what="the backlog to be sent")
    c.request(flask.port, "GET", "/after")
    rx.wait_spans(lambda s: s["attributes"].get("url.path") == "/after", 1, ARRIVAL_TIMEOUT)
    p = rx.latest_point("http.server.request.duration", ARRIVAL_TIMEOUT, **{"http.route": "/down/*"})
    assert p["count"] == 600
    # Every span was either sent or counted as dropped: 1 + 600 + 1 in all.
    def accounted():
        m = sonde.metrics()
        return (m.sum("sonde_export_sent_total", signal="traces") +
                m.sum("sonde_export_dropped_total", signal="traces"))
    wait_until(lambda: accounted() == 602, 5, what="602 spans sent or dropped")
    assert sonde.proc.poll() is None


def test_grpc_unavailable_is_retried(start_sonde, flask, receivers):
    """gRPC UNAVAILABLE is retried with backoff until the collector accepts."""
    grpc_port = free_port()
    rx = receivers(grpc_port=grpc_port)
    rx.command("grpc 14")
    sonde = start(start_sonde, flask, {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc_port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    Client().request(flask.port, "GET", "/unavailable")
    rx.wait(lambda: len([r for r in rx.refusals() if r["signal"] == "traces"]) >= 2,
            ARRIVAL_TIMEOUT, "two refused trace requests (a retry)")
    rx.command("grpc 0")
    rx.wait_spans(lambda s: s["attributes"].get("url.path") == "/unavailable", 1, ARRIVAL_TIMEOUT)
    m = sonde.metrics()
    assert m.sum("sonde_export_failed_requests_total", signal="traces") >= 2
    assert m.sum("sonde_export_dropped_total", signal="traces") == 0


def test_shutdown_flushes_within_two_seconds(start_sonde, flask, receivers):
    """Spans still queued at SIGTERM are sent before Sonde exits, in under
    2 s; with the collector gone, Sonde still exits in time."""
    http_port = free_port()
    rx = receivers(http_port=http_port)
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{http_port}",
           "OTEL_BSP_SCHEDULE_DELAY": "60000", "OTEL_METRIC_EXPORT_INTERVAL": "60000"}
    sonde = start(start_sonde, flask, env)
    c = Client()
    for i in range(3):
        c.request(flask.port, "GET", f"/queued/{i}")
    sonde.wait_spans(lambda s: s["path"].startswith("/queued/"), 3)
    time.sleep(0.3)
    assert not [s for s in rx.spans() if s["attributes"].get("url.path", "").startswith("/queued/")]
    elapsed = sonde.stop()
    assert elapsed is not None and elapsed < 2.5, f"Sonde took {elapsed}s to stop"
    rx.wait_spans(lambda s: s["attributes"].get("url.path", "").startswith("/queued/"), 3, 5)
    # The final metrics export went out too.
    rx.latest_point("http.server.request.duration", 5, **{"http.route": "/queued/*"})

    rx.stop()
    sonde = start(start_sonde, flask, env)
    c.request(flask.port, "GET", "/lost-at-exit")
    sonde.wait_spans(lambda s: s["path"] == "/lost-at-exit", 1)
    elapsed = sonde.stop()
    assert elapsed is not None and elapsed < 2.5, f"Sonde took {elapsed}s to stop"


def exponential_points(rx, name, since=0.0):
    """Every exponentialHistogram data point of `name` received after `since`
    (monotonic), as OpenTelemetry JS decoded it (64-bit integers as strings)."""
    out = []
    for req in rx.requests("metrics"):
        if req["_mono"] < since:
            continue
        for rm in req["request"].get("resourceMetrics", []):
            for sm in rm.get("scopeMetrics", []):
                for m in sm.get("metrics", []):
                    h = m.get("exponentialHistogram")
                    if m.get("name") != name or h is None:
                        continue
                    assert "histogram" not in m, "both kinds of histogram in one metric"
                    for p in h.get("dataPoints", []):
                        pos = p.get("positive", {})
                        out.append({
                            "unit": m.get("unit"),
                            "temporality": h.get("aggregationTemporality", 0),
                            "attributes": attrs(p.get("attributes")),
                            "count": int(p.get("count", 0)),
                            "sum": p.get("sum"),
                            "min": p.get("min"),
                            "max": p.get("max"),
                            "scale": p.get("scale", 0),
                            "zero_count": int(p.get("zeroCount", 0)),
                            "offset": pos.get("offset", 0),
                            "buckets": [int(x) for x in pos.get("bucketCounts", [])],
                        })
    return out


def test_exponential_histograms(start_sonde, flask, receivers):
    """base2_exponential_bucket_histogram: OTLP metrics arrive as base-2
    exponential histograms whose count is the requests sent and whose sum is
    the spans' durations, while /metrics keeps its classic buckets."""
    rx = receivers(http_port=free_port())
    sonde = start(start_sonde, flask, {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{rx.http_port}",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION":
            "base2_exponential_bucket_histogram"}, service="e2e-exp")
    c = Client()
    delays = ["0", "5ms", "20ms", "0", "80ms", "1ms", "0"]
    for d in delays:
        c.request(flask.port, "GET", f"/exp/hello?delay={d}")
    c.request(flask.port, "POST", "/exp/hello", body=b"y" * 300)
    printed = sonde.wait_spans(lambda s: s["path"] == "/exp/hello", len(delays) + 1)
    gets = [s for s in printed if s["method"] == "GET"]
    assert len(gets) == len(delays)
    want_sum = sum(s["duration_ns"] for s in gets) / 1e9

    def latest():
        got = [p for p in exponential_points(rx, "http.server.request.duration")
               if p["attributes"].get("http.route") == "/exp/hello" and
               p["attributes"].get("http.request.method") == "GET"]
        return got[-1] if got and got[-1]["count"] == len(delays) else None
    p = rx.wait(latest, ARRIVAL_TIMEOUT,
                f"an exponential http.server.request.duration point counting {len(delays)}")
    assert p["unit"] == "s" and p["temporality"] == CUMULATIVE
    assert p["sum"] == pytest.approx(want_sum, rel=1e-6)
    assert p["attributes"]["http.response.status_code"] == 200
    assert sum(p["buckets"]) + p["zero_count"] == p["count"]
    assert -10 <= p["scale"] <= 20 and len(p["buckets"]) <= 160
    durations = sorted(s["duration_ns"] / 1e9 for s in gets)
    assert p["min"] == pytest.approx(durations[0], rel=1e-6)
    assert p["max"] == pytest.approx(durations[-1], rel=1e-6)
    # The longest request lies in the last bucket: (base^i, base^(i+1)].
    base = 2.0 ** (2.0 ** -p["scale"])
    last = p["offset"] + len(p["buckets"]) - 1
    assert p["buckets"][-1] >= 1
    assert base ** last < durations[-1] * (1 + 1e-9) and durations[-1] <= base ** (last + 1) * (1 + 1e-9)

    # Sizes too: the POST's 300-byte body, the GETs' empty ones in zero_count.
    sizes = {p["attributes"]["http.request.method"]: p
             for p in exponential_points(rx, "http.server.request.body.size")
             if p["attributes"].get("http.route") == "/exp/hello"}
    assert sizes["POST"]["unit"] == "By" and sizes["POST"]["sum"] == 300
    assert sizes["GET"]["zero_count"] == sizes["GET"]["count"] == len(delays)
    assert not rx.points("http.server.request.duration"), "explicit buckets sent too"

    # Prometheus keeps classic histograms with the same count.
    prom = sonde.metrics()
    assert prom.types["http_server_request_duration_seconds"] == "histogram"
    assert prom.sum("http_server_request_duration_seconds_count", http_route="/exp/hello",
                    http_request_method="GET") == len(delays)
    assert prom.sum("http_server_request_duration_seconds_bucket", http_route="/exp/hello",
                    http_request_method="GET", le="+Inf") == len(delays)
    assert not rx.errors()


def test_legacy_naming_over_otlp_and_semconv_opt_in(start_sonde, flask, receivers):
    """SONDE_METRICS_NAMING=legacy: OTLP metrics under the names and attributes
    the seeds' PromQL expects once a collector writes Prometheus
    (http.server.duration in s -> http_server_duration_seconds, with
    http.method / http.status_code / http.target), and spans with the old
    attribute names beside the stable ones. OTEL_SEMCONV_STABILITY_OPT_IN=
    http/dup then sends both metric generations; =http only the stable one."""
    rx = receivers(http_port=free_port())
    sonde = start(start_sonde, flask, {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{rx.http_port}",
        "SONDE_METRICS_NAMING": "legacy"})
    c = Client()
    c.request(flask.port, "GET", "/legacy/hello")
    c.request(flask.port, "GET", "/legacy/users/7?status=503")
    spans = by_path(rx.wait_spans(
        lambda s: s["attributes"].get("url.path", "").startswith("/legacy/"), 2, ARRIVAL_TIMEOUT))
    a = spans["/legacy/users/7"]["attributes"]
    assert a["http.method"] == "GET" and a["http.request.method"] == "GET"
    assert a["http.status_code"] == 503 and a["http.response.status_code"] == 503
    assert a["http.target"] == "/legacy/users/7" and a["http.flavor"] == "1.1"
    assert a["net.host.port"] == flask.port
    dur = rx.latest_point("http.server.duration", ARRIVAL_TIMEOUT,
                          **{"http.target": "/legacy/users/*", "http.method": "GET",
                             "http.status_code": 503})
    assert dur["unit"] == "s" and dur["count"] == 1
    assert "http.request.method" not in dur["attributes"]
    assert rx.latest_point("http.server.request.size", ARRIVAL_TIMEOUT,
                           **{"http.target": "/legacy/hello"})["unit"] == "By"
    # Legacy naming alone: no stable-named metric was sent.
    assert not rx.points("http.server.request.duration")
    assert not rx.errors()
    sonde.stop()

    rx2 = receivers(http_port=free_port())
    start(start_sonde, flask, {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{rx2.http_port}",
                               "SONDE_METRICS_NAMING": "legacy",
                               "OTEL_SEMCONV_STABILITY_OPT_IN": "http/dup"})
    c.request(flask.port, "GET", "/legacy/dup")
    rx2.latest_point("http.server.duration", ARRIVAL_TIMEOUT, **{"http.target": "/legacy/dup"})
    rx2.latest_point("http.server.request.duration", ARRIVAL_TIMEOUT,
                     **{"http.route": "/legacy/dup"})

    rx3 = receivers(http_port=free_port())
    start(start_sonde, flask, {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{rx3.http_port}",
                               "SONDE_METRICS_NAMING": "legacy",
                               "OTEL_SEMCONV_STABILITY_OPT_IN": "http"})
    c.request(flask.port, "GET", "/legacy/stable")
    span = rx3.wait_spans(lambda s: s["attributes"].get("url.path") == "/legacy/stable", 1,
                          ARRIVAL_TIMEOUT)[0]
    assert "http.method" not in span["attributes"]
    rx3.latest_point("http.server.request.duration", ARRIVAL_TIMEOUT,
                     **{"http.route": "/legacy/stable"})
    assert not rx3.points("http.server.duration")
