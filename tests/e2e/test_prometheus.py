"""Sonde's /metrics scraped by a real Prometheus server (Debian's
/usr/bin/prometheus) and checked by `promtool check metrics`.

Each test starts its own Go sample server, its own Sonde and, where needed,
its own Prometheus on free loopback ports, with a temporary config and TSDB;
it never talks to a system Prometheus on :9090.
"""
import math
import os
import shutil
import subprocess

import pytest
from conftest import Client, Metrics, Prometheus, scrape, wait_until

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
QUERY_TIMEOUT = 30.0
CONTRACT_BUCKETS = [0, .005, .01, .025, .05, .075, .1, .25, .5, .75, 1, 2.5, 5, 7.5, 10,
                    math.inf]


@pytest.fixture
def start_prometheus(tmp_path):
    started = []

    def _start(target_port):
        prom = Prometheus(target_port, tmp_path / f"prom-{len(started)}")
        started.append(prom)
        return prom

    yield _start
    for prom in started:
        prom.stop()


@pytest.fixture
def go_server(start_server):
    return start_server("go")


def sonde_env(server, service, **extra):
    env = {"SONDE_OPEN_PORT": str(server.port), "SONDE_SERVICE_NAME": service,
           "SONDE_TRACE_PRINTER": "json"}
    env.update(extra)
    return env


# One batch of traffic: (method, target, expected status). Paths carry no ids,
# so http_target is the same whether Sonde puts the path or the route there.
BATCH = [("GET", "/api/orders", 200)] * 5 + [("POST", "/api/orders", 200)] + \
        [("GET", "/api/health", 200)] * 2 + [("GET", "/api/fail?status=500", 500)] * 2 + \
        [("GET", "/api/slow?delay=100ms", 200)] * 2
TARGETS = {"/api/orders", "/api/health", "/api/fail", "/api/slow"}


def send_batch(client, server):
    for method, target, status in BATCH:
        try:
            sent = client.request(server.port, method, target,
                                  body=b"{}" if method == "POST" else None)
        except OSError:
            server.check_alive()
            raise
        assert sent.status == status, f"{method} {target} -> {sent.status}"


def test_legacy_naming_with_real_prometheus(go_server, start_sonde, start_prometheus):
    service = "e2e-prom-legacy"
    sonde = start_sonde(sonde_env(go_server, service, SONDE_METRICS_NAMING="legacy"))
    prom = start_prometheus(sonde.prom_port)
    prom.wait_target_up()
    client = Client()

    # Two batches with a scrape in between, so that rate() sees an increase.
    send_batch(client, go_server)
    prom.wait_value("sum(http_server_duration_seconds_count)", len(BATCH))
    send_batch(client, go_server)
    n = 2 * len(BATCH)
    prom.wait_value("sum(http_server_duration_seconds_count)", n)
    assert prom.scalar(f'sum(http_server_duration_seconds_count{{service_name="{service}"}})') \
        == n
    assert prom.scalar('sum(http_server_duration_seconds_count{http_status_code="500"})') == 4
    assert prom.scalar('sum(http_server_duration_seconds_count{http_method="POST"})') == 2
    assert prom.scalar('sum(http_server_request_size_bytes_sum{http_method="POST"})') == 4
    prom.check_target_healthy()

    # The three seed queries.
    by_target = prom.query("sum(rate(http_server_duration_seconds_count[5m])) by (http_target)")
    got_targets = {r["metric"].get("http_target") for r in by_target}
    assert got_targets == TARGETS, f"http_target values {got_targets}, expected {TARGETS}"
    for r in by_target:
        assert float(r["value"][1]) > 0, f"zero rate: {r}"

    p95 = prom.query("histogram_quantile(0.95, sum(rate(http_server_duration_seconds_bucket[5m])) "
                     "by (le, http_target))")
    p95_by_target = {r["metric"].get("http_target"): float(r["value"][1]) for r in p95}
    assert set(p95_by_target) == TARGETS, f"p95 series: {p95}"
    slow = p95_by_target["/api/slow"]
    assert 0.1 <= slow <= 0.25, f"p95 of /api/slow (100 ms requests) is {slow}"
    for target, value in p95_by_target.items():
        assert not math.isnan(value) and 0 <= value <= 10, f"p95 of {target} is {value}"
    assert p95_by_target["/api/health"] <= 0.1, f"p95 of /api/health: {p95_by_target}"

    ratio = prom.query('sum(rate(http_server_duration_seconds_count{http_status_code=~"5.."}[5m]))'
                       ' / sum(rate(http_server_duration_seconds_count[5m]))')
    assert len(ratio) == 1, f"error-ratio query returned {ratio}"
    value = float(ratio[0]["value"][1])
    assert 0 < value < 1, f"5xx ratio is {value}"

    # Sonde's own exposition in legacy mode.
    m = sonde.metrics()
    assert m.select("http_server_duration_seconds_bucket", http_method="GET",
                    http_status_code="200", http_target="/api/orders", service_name=service)
    assert m.select("http_server_request_size_bytes_count", service_name=service)


def test_default_naming_with_real_prometheus(go_server, start_sonde, start_prometheus):
    service = "e2e-prom-default"
    sonde = start_sonde(sonde_env(go_server, service))
    prom = start_prometheus(sonde.prom_port)
    prom.wait_target_up()
    client = Client()
    send_batch(client, go_server)
    n = len(BATCH)
    prom.wait_value(f'sum(http_server_request_duration_seconds_count{{service_name="{service}"}})',
                    n)
    assert prom.scalar('sum(http_server_request_duration_seconds_count'
                       '{http_response_status_code="500"})') == 2
    assert prom.scalar('sum(http_server_request_duration_seconds_count'
                       '{http_request_method="POST", http_route="/api/orders"})') == 1
    assert prom.scalar('sum(http_server_request_body_size_bytes_sum'
                       '{http_request_method="POST"})') == 2
    assert prom.scalar('sum(sonde_instrumented_processes)') >= 1
    prom.check_target_healthy()


def test_promtool_check_metrics(go_server, start_sonde, tmp_path):
    sonde = start_sonde(sonde_env(go_server, "e2e-promtool"))
    client = Client()
    send_batch(client, go_server)
    wait_until(lambda: Metrics(scrape(sonde.prom_port)).sum(
        "http_server_request_duration_seconds_count") >= len(BATCH), 10,
        what=f"{len(BATCH)} requests counted in /metrics")
    body = scrape(sonde.prom_port)
    (tmp_path / "metrics.txt").write_text(body)

    # Bucket boundaries are the contract's.
    m = Metrics(body)
    les = sorted({float(lab["le"]) for (_, lab, _) in
                  m.select("http_server_request_duration_seconds_bucket")})
    assert les == CONTRACT_BUCKETS, f"duration buckets {les}"
    for family in ("http_server_request_duration_seconds", "http_server_request_body_size_bytes",
                   "http_server_response_body_size_bytes"):
        assert m.types.get(family) == "histogram", f"# TYPE of {family}: {m.types.get(family)}"

    if not os.access(PROMTOOL, os.X_OK):
        pytest.fail("promtool is not installed (apt-get install prometheus)", pytrace=False)
    res = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True,
                         text=True, timeout=60)
    output = (res.stdout + res.stderr).strip()
    # Exit 0: clean. Exit 3: lint problems only (printed one per line); we
    # accept those about missing HELP text and units. Anything else fails.
    problems = [ln for ln in output.splitlines() if ln.strip()]
    tolerated = [p for p in problems if "no help text" in p or "unit" in p.lower()]
    assert res.returncode in (0, 3), f"promtool check metrics exited {res.returncode}:\n{output}"
    assert res.returncode == 0 or problems, "promtool exited 3 with no problem listed"
    other = [p for p in problems if p not in tolerated]
    assert not other, "promtool check metrics reported:\n" + "\n".join(other)
