"""Hostile input, end to end (issue 10, items 1, 2 and 7).

A real traced server gets requests a stranger could send; a real Sonde
turns them into spans and metrics; each output is read by its real
consumer: `promtool check metrics` for the Prometheus scrape, a strict
UTF-8 decode and json.loads for each printer line, the OTLP receiver (OTel
JS, strict UTF-8) for OTLP. The traced process's own OTEL_SERVICE_NAME
holds invalid UTF-8 and a newline.
"""
import json
import re
import shutil
import socket
import subprocess
import time

import pytest
import requests

from conftest import Sonde, free_port, wait_until
from otlp_receiver.harness import Receiver

FFFD = "\ufffd"
KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                 "PATCH"}
# Fast batches and metric intervals, no proxy between Sonde and loopback.
FAST = {"OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_METRIC_EXPORT_INTERVAL": "500",
        "NO_PROXY": "*", "no_proxy": "*"}
# b"svc\xff\nforged": subprocess encodes str with surrogateescape.
HOSTILE_SERVICE = "svc\udcff\nsonde: forged"
SANE_SERVICE = "svc" + FFFD + "\nsonde: forged"


class RawSonde(Sonde):
    """Sonde, with the bytes of each stdout line kept as they came."""

    def __init__(self, env, prom_port=None, name="sonde"):
        self.raw_lines = []
        super().__init__(env, prom_port=prom_port, name=name)

    def _read_stdout(self):
        for raw in iter(self.proc.stdout.readline, b""):
            with self._cond:
                self.raw_lines.append(raw)
            line = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            with self._cond:
                if isinstance(obj, dict):
                    obj["_recv_mono"] = time.monotonic()
                    self.spans.append(obj)
                elif line.strip():
                    self.bad_stdout.append(line)
                self._cond.notify_all()


@pytest.fixture
def raw_sonde():
    started = []

    def _start(env, prom=True):
        s = RawSonde(env, prom_port=free_port() if prom else None)
        started.append(s)
        s.wait_ready()
        return s

    yield _start
    for s in started:
        s.stop()


@pytest.fixture
def receiver(tmp_path):
    r = Receiver(tmp_path, http_port=free_port())
    yield r
    r.stop()


def send_raw(port, data, timeout=10.0):
    """Send bytes on a new connection; return the whole answer (server closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks)


def raw_scrape(port):
    r = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert r.status_code == 200, r.text[:300]
    return r.content


def promtool_check(body):
    if shutil.which("promtool") is None:
        pytest.fail("promtool not found: apt-get install prometheus", pytrace=False)
    res = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                         timeout=60)
    return res.returncode, (res.stdout + res.stderr).decode("utf-8", "replace")


def samples(text, name):
    """(labels, value) of each sample of `name`, labels parsed as Prometheus does."""
    from conftest import parse_prometheus_text
    got, _ = parse_prometheus_text(text)
    return [(lab, v) for (n, lab, v) in got if n == name]


# --------------------------------------------------------------------------

def test_invalid_utf8_reaches_no_output(raw_sonde, start_server, receiver):
    """`GET /caf\\xe9/\\xff"q\\x` with a Host of invalid bytes, to a process whose
    OTEL_SERVICE_NAME is invalid UTF-8 with a newline: every output stays
    valid UTF-8 and readable by its consumer, with U+FFFD for each bad byte."""
    flask = start_server("flask", env={"OTEL_SERVICE_NAME": HOSTILE_SERVICE})
    sonde = raw_sonde({"SONDE_OPEN_PORT": str(flask.port), "SONDE_TRACE_PRINTER": "json",
                       "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.http_port}",
                       "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", **FAST})
    sonde.wait_instrumented(flask.pids())

    answer = send_raw(flask.port, b'GET /caf\xe9/\xff"q\\x HTTP/1.1\r\n'
                                  b"Host: h\xffst\xc0:8080\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1."), answer[:200]
    send_raw(flask.port, b"GET /plain HTTP/1.1\r\nHost: ok\r\nConnection: close\r\n\r\n")
    want_path = "/caf" + FFFD + "/" + FFFD + '"q\\x'
    span = sonde.wait_spans(lambda s: s["path"].startswith("/caf"), 1)[0]
    sonde.wait_spans(lambda s: s["path"] == "/plain", 1)

    # The JSON printer: each line strict UTF-8 and a JSON object.
    with sonde._cond:
        lines = list(sonde.raw_lines)
    assert lines, "no stdout"
    for raw in lines:
        text = raw.decode("utf-8")  # strict: raises on an invalid byte
        json.loads(text)
    assert span["path"] == want_path, span
    assert span["host"] == "h" + FFFD + "st" + FFFD + ":8080", span
    assert span["service"] == SANE_SERVICE, span
    assert not sonde.bad_stdout, sonde.bad_stdout[:3]

    # The log: the newline in the service name does not start a line.
    m = sonde.wait_log(r"instrumenting pid=\d+ service=(\S+)", 5)
    assert m.group(1) == "svc" + FFFD + "\\x0asonde:", sonde.log_text()
    assert not any(line.startswith("forged") or line.startswith(" forged")
                   for line in sonde.log), sonde.log_text()

    # Prometheus: promtool reads the whole scrape; the labels carry U+FFFD.
    body = raw_scrape(sonde.prom_port)
    body.decode("utf-8")
    rc, report = promtool_check(body)
    assert rc == 0, f"promtool rejected the scrape: {report}\n{body[:2000]!r}"
    series = samples(body.decode(), "http_server_request_duration_seconds_count")
    services = {lab.get("service_name") for lab, _ in series}
    assert services == {SANE_SERVICE}, services
    routes = {lab["http_route"] for lab, _ in series}
    assert any(r.startswith("/caf" + FFFD) for r in routes), routes

    # OTLP (http/json, decoded strictly as UTF-8 by the receiver): accepted,
    # with the same strings.
    spans = receiver.wait_spans(
        lambda s: s["attributes"].get("url.path", "").startswith("/caf"), 1, 20)
    assert not receiver.errors(), receiver.errors()[:2]
    a = spans[0]["attributes"]
    assert a["url.path"] == want_path, a
    assert spans[0]["resource"]["service.name"] == SANE_SERVICE, spans[0]["resource"]
    wait_until(lambda: receiver.requests("metrics"), 20, what="an OTLP metrics request")
    assert not receiver.errors(), receiver.errors()[:2]


def test_text_printer_keeps_one_line_per_span(raw_sonde, start_server):
    """The text printer escapes control characters: a service name with a
    newline and a path with invalid bytes stay on their span's line."""
    flask = start_server("flask", env={"OTEL_SERVICE_NAME": HOSTILE_SERVICE})
    sonde = raw_sonde({"SONDE_OPEN_PORT": str(flask.port), "SONDE_TRACE_PRINTER": "text"},
                      prom=False)
    sonde.wait_instrumented(flask.pids())
    send_raw(flask.port, b"GET /t\xe9xt HTTP/1.1\r\nHost: ok\r\nConnection: close\r\n\r\n")

    def printed():
        with sonde._cond:
            return [r for r in sonde.raw_lines if b" /t" in r]
    line = wait_until(printed, 10, what="the text line of the span")[0]
    text = line.decode("utf-8")
    assert text.count("\n") == 1 and text.endswith("\n"), text
    assert " GET /t" + FFFD + "xt " in text, text
    assert "svc=[svc" + FFFD + "\\x0asonde: forged]" in text, text
    with sonde._cond:
        assert not any(r.startswith(b"sonde: forged") for r in sonde.raw_lines)


def test_methods_and_series_are_bounded(raw_sonde, start_server):
    """Distinct methods fold into _OTHER; distinct routes past
    SONDE_MAX_SERIES_PER_METRIC are dropped from the metrics and counted,
    while every span is still printed."""
    cap = 20
    flask = start_server("flask")
    sonde = raw_sonde({"SONDE_OPEN_PORT": str(flask.port), "SONDE_TRACE_PRINTER": "json",
                       "SONDE_MAX_SERIES_PER_METRIC": str(cap), "SONDE_ROUTE_CAP": "1000",
                       "SONDE_ROUTE_UNMATCHED": "path"})
    sonde.wait_instrumented(flask.pids())
    n_methods, n_paths = 40, 60
    for i in range(n_methods):
        send_raw(flask.port, f"POSTX{i:04d} /m HTTP/1.1\r\nHost: ok\r\n"
                             f"Connection: close\r\n\r\n".encode())
    for i in range(n_paths):
        send_raw(flask.port, f"GET /p/word{chr(97 + i % 26)}{chr(97 + i // 26)} HTTP/1.1\r\n"
                             f"Host: ok\r\nConnection: close\r\n\r\n".encode())
    total = n_methods + n_paths
    spans = sonde.wait_spans(lambda s: s["path"] in ("/m",) or s["path"].startswith("/p/"),
                             total, timeout=30)
    other = [s for s in spans if s["path"] == "/m"]
    assert len(other) == n_methods
    assert all(s["method"] == "_OTHER" for s in other), other[:2]
    assert sorted(s["method_original"] for s in other) == \
        [f"POSTX{i:04d}" for i in range(n_methods)]

    def settled():
        text = raw_scrape(sonde.prom_port).decode()
        count = sum(v for _, v in samples(text, "http_server_request_duration_seconds_count"))
        over = samples(text, "sonde_metric_series_overflow_total")
        dropped = sum(v for lab, v in over
                      if lab["metric"] == "http_server_request_duration_seconds")
        return (text, count, dropped) if count + dropped >= total else None
    text, count, dropped = wait_until(settled, 10, what="every span counted or dropped")
    rc, report = promtool_check(text.encode())
    assert rc == 0, report
    series = samples(text, "http_server_request_duration_seconds_count")
    methods = {lab["http_request_method"] for lab, _ in series}
    assert methods <= KNOWN_METHODS | {"_OTHER"}, methods
    assert "_OTHER" in methods
    assert len(series) <= cap, len(series)
    assert len(series) == cap  # 1 for _OTHER, the rest GET routes until the cap
    assert dropped > 0
    # every span is in a series or counted as dropped, never both
    spans_in_store = sum(1 for s in sonde.snapshot() if s["kind"] == "server")
    assert count + dropped == spans_in_store, (count, dropped, spans_in_store)
    for name in ("http_server_request_body_size_bytes", "http_server_response_body_size_bytes"):
        assert {lab["metric"]: v for lab, v in samples(text, "sonde_metric_series_overflow_total")
                }[name] == dropped


def test_half_valid_traceparent_is_ignored_whole(raw_sonde, start_server):
    """A traceparent with a good trace id but a bad parent id or bad flags
    is ignored: the span does not join the sender's trace."""
    flask = start_server("flask")
    sonde = raw_sonde({"SONDE_OPEN_PORT": str(flask.port), "SONDE_TRACE_PRINTER": "json"},
                      prom=False)
    sonde.wait_instrumented(flask.pids())
    trace, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    cases = {
        "/tp/good": f"00-{trace}-{parent}-01",
        "/tp/bad-parent": f"00-{trace}-00f067aa0ba9zzb7-01",
        "/tp/zero-parent": f"00-{trace}-0000000000000000-01",
        "/tp/bad-flags": f"00-{trace}-{parent}-0x",
        "/tp/upper": f"00-{trace.upper()}-{parent}-01",
        "/tp/long": f"00-{trace}-{parent}-01-extra",
        "/tp/ff": f"ff-{trace}-{parent}-01",
    }
    for path, value in cases.items():
        send_raw(flask.port, f"GET {path} HTTP/1.1\r\nHost: ok\r\ntraceparent: {value}\r\n"
                             f"Connection: close\r\n\r\n".encode())
    spans = {s["path"]: s for s in sonde.wait_spans(lambda s: s["path"].startswith("/tp/"),
                                                    len(cases))}
    good = spans["/tp/good"]
    assert good["trace_id"] == trace and good["parent_span_id"] == parent, good
    for path in cases:
        if path == "/tp/good":
            continue
        s = spans[path]
        assert s["trace_id"] != trace, (path, s)
        assert s["parent_span_id"] == "", (path, s)
        assert re.fullmatch(r"[0-9a-f]{32}", s["trace_id"]) and s["trace_id"] != "0" * 32
