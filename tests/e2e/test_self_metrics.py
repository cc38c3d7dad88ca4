"""Sonde's own metrics, one model for both exporters: the OTLP receiver
(tests/e2e/otlp_receiver, OpenTelemetry JS's decoders) gets every
self-metric the Prometheus endpoint shows, under its OTel name, as a
monotonic cumulative Sum or a Gauge, with the same labels as attributes and
the same values as a scrape of the same Sonde."""
import os
import time

import pytest

from conftest import Client, free_port, wait_until
from otlp_receiver.harness import Receiver

ARRIVAL_TIMEOUT = 20.0
CUMULATIVE = 2
FAST = {"OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_METRIC_EXPORT_INTERVAL": "500",
        "NO_PROXY": "*", "no_proxy": "*"}

# Prometheus name -> (OTLP name, kind, Prometheus labels, OTLP attributes).
SELF = {
    "sonde_instrumented_processes": ("sonde.instrumented.processes", "gauge", [], []),
    "sonde_spans_total": ("sonde.spans", "sum", [], []),
    "sonde_events_lost_total": ("sonde.events.lost", "sum", ["reason"], ["reason"]),
    "sonde_kernel_transactions_total": ("sonde.kernel.transactions", "sum", [], []),
    "sonde_transactions_incomplete_total": ("sonde.transactions.incomplete", "sum", [], []),
    "sonde_connections_skipped_total": ("sonde.connections.skipped", "sum", [], []),
    "sonde_tls_connections_total": ("sonde.tls.connections", "sum", [], []),
    "sonde_routes_overflow_total": ("sonde.routes.overflow", "sum", ["service_name"],
                                    ["service.name"]),
    "sonde_metric_series_overflow_total": ("sonde.metric.series.overflow", "sum", ["metric"],
                                           ["metric"]),
    "sonde_build_info": ("sonde.build.info", "gauge", ["version"], ["version"]),
    "sonde_export_dropped_total": ("sonde.export.dropped", "sum", ["exporter", "signal", "reason"],
                                   ["exporter", "signal", "reason"]),
    "sonde_export_sent_total": ("sonde.export.sent", "sum", ["signal"], ["signal"]),
    "sonde_export_failed_requests_total": ("sonde.export.failed_requests", "sum", ["signal"],
                                           ["signal"]),
}
# Counters that keep moving while Sonde exports (each export counts itself).
MOVING = {"sonde.export.sent", "sonde.export.failed_requests"}


@pytest.fixture
def receiver(tmp_path):
    r = Receiver(tmp_path, http_port=free_port())
    yield r
    r.stop()


def latest_export(rx, since=0.0):
    """The self-metric points of the newest metrics request received after
    `since`, as {(otel name, attributes as a sorted tuple): point}."""
    pts = [p for p in rx.number_points() if p["_mono"] >= since
           and p["name"].startswith("sonde.")]
    if not pts:
        return None
    last = pts[-1]["_request"]
    return {(p["name"], tuple(sorted(p["attributes"].items()))): p
            for p in pts if p["_request"] == last}


def test_self_metrics_over_otlp_match_prometheus(start_sonde, start_server, receiver):
    server = start_server("go")
    service = "e2e-selfmet"
    sonde = start_sonde({"SONDE_OPEN_PORT": str(server.port), "SONDE_SERVICE_NAME": service,
                         "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.http_port}",
                         **FAST})
    sonde.wait_instrumented(server.pids())
    c = Client()
    n = 12
    for i in range(n):
        c.request(server.port, "GET", f"/selfmet/{i % 3}")
    assert all(s.status == 200 for s in c.ledger)

    # The spans counter reaches n on both sides; traffic has stopped, so it stays.
    wait_until(lambda: sonde.metrics().sum("sonde_spans_total") == n, ARRIVAL_TIMEOUT,
               what=f"sonde_spans_total == {n} on /metrics")
    since = time.monotonic()
    pts = receiver.wait(
        lambda: (lambda e: e if e and e[("sonde.spans", ())]["value"] == n else None)(
            latest_export(receiver, since)),
        ARRIVAL_TIMEOUT, f"an OTLP export with sonde.spans == {n}")
    prom = sonde.metrics()

    # Every Prometheus self-metric series is an OTLP point, and no more.
    want = {}
    for prom_name, (otel, kind, labels, otel_attrs) in SELF.items():
        series = prom.select(prom_name)
        assert series, f"{prom_name} missing from /metrics"
        assert prom.types[prom_name] == ("counter" if kind == "sum" else "gauge")
        for _, lab, value in series:
            assert sorted(lab) == sorted(labels), (prom_name, lab)
            key = (otel, tuple(sorted((o, lab[p]) for p, o in zip(labels, otel_attrs))))
            want[key] = value
    got = {k: p for k, p in pts.items()}
    assert set(got) == set(want), (f"only in OTLP: {sorted(set(got) - set(want))}; "
                                   f"only in Prometheus: {sorted(set(want) - set(got))}")

    for key, p in got.items():
        otel = key[0]
        kind = next(v[1] for v in SELF.values() if v[0] == otel)
        assert p["value"] is not None, key
        assert p["kind"] == kind, key
        assert p["unit"] and p["description"], key
        if kind == "sum":
            assert p["monotonic"] and p["temporality"] == CUMULATIVE, key
            assert 0 < p["start_ns"] <= p["time_ns"], key
        # The export came before the scrape: counters can only have grown
        # since, by what a few more exports (every 500 ms) count.
        if otel in MOVING:
            slack = 4 * (len(pts) + 8)
            assert p["value"] <= want[key] <= p["value"] + slack, (key, p["value"], want[key])
        else:
            assert p["value"] == want[key], (key, p["value"], want[key])

    # Values that say something about this run.
    assert got[("sonde.spans", ())]["value"] == n
    assert got[("sonde.instrumented.processes", ())]["value"] >= 1
    assert got[("sonde.kernel.transactions", ())]["value"] >= n
    reasons = {dict(k[1])["reason"] for k in got if k[0] == "sonde.events.lost"}
    assert {"ringbuf_full", "link_overflow", "unknown_process", "undecodable"} <= reasons, reasons
    assert got[("sonde.routes.overflow", (("service.name", service),))]["value"] == 0
    [build] = [k for k in got if k[0] == "sonde.build.info"]
    assert dict(build[1])["version"] == prom.label_values("sonde_build_info", "version")[0]
    assert got[build]["value"] == 1
    assert got[("sonde.export.sent", (("signal", "traces"),))]["value"] >= n
    # The scrape above may have come before the first metrics export was
    # acknowledged: the counter must move, soon.
    wait_until(lambda: sonde.metrics().sum("sonde_export_sent_total", signal="metrics") > 0, 10,
               what="sonde_export_sent_total{signal=metrics} to count an accepted export")

    # Their own resource: Sonde, not a traced service.
    res = got[("sonde.spans", ())]["resource"]
    assert res["service.name"] == "sonde"
    assert res["process.pid"] == sonde.proc.pid
    assert res["telemetry.sdk.name"] == "sonde"
    service_resources = {p["resource"]["service.name"]
                         for p in receiver.points("http.server.request.duration")}
    assert service_resources == {service}

    # Cumulative: more traffic moves the next export's counter by as much.
    since = time.monotonic()
    for i in range(5):
        c.request(server.port, "GET", "/selfmet/more")
    receiver.wait(lambda: (lambda e: e and e[("sonde.spans", ())]["value"] == n + 5)(
        latest_export(receiver, since)), ARRIVAL_TIMEOUT, f"sonde.spans == {n + 5}")
    assert sonde.metrics().sum("sonde_spans_total") == n + 5
    assert not receiver.errors()


def test_self_metrics_sent_without_any_traffic(start_sonde, receiver):
    """Nothing traced, no span: the self-metrics still go out (the RED
    metrics have no series yet), with the spans counter at zero."""
    sonde = start_sonde({"SONDE_OPEN_PORT": str(free_port()),
                         "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT":
                             f"http://127.0.0.1:{receiver.http_port}/v1/metrics",
                         **FAST})
    pts = receiver.wait(lambda: latest_export(receiver), ARRIVAL_TIMEOUT,
                        "a metrics export with Sonde's own metrics")
    assert pts[("sonde.spans", ())]["value"] == 0
    assert pts[("sonde.instrumented.processes", ())]["value"] == 0
    assert ("sonde.events.lost", (("reason", "link_overflow"),)) in pts
    assert not receiver.points("http.server.request.duration")
    assert sonde.metrics().sum("sonde_spans_total") == 0
    assert os.path.exists(f"/proc/{sonde.proc.pid}")
