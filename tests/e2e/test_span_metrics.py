"""Span metrics and service-graph metrics (issue 14), end to end.

The three-service chain of tests/e2e/servers/chain/ (Flask front -> Express
middle -> Java back) gets a known mix of requests: plain ones, ones the
back answers 500 or 404 (?status=), ten front->back calls on one pooled
connection with known statuses (/pool) and one call to a port where nothing
listens (/refused). Every expected count follows from what was sent; they
are read back through a real Prometheus (PromQL) and through the OTLP
receiver (OpenTelemetry JS's decoders), and the features lists are checked
to select what each exporter carries. Then: edges to a peer Sonde does not
trace, the series cap, and the configuration's refusals.
"""
import shutil
import subprocess
import time

import pytest

from chain_helpers import Chain, LINK_WAIT, Prometheus, fresh_chain, new_tag
from conftest import SONDE_BIN, Client, Sonde, free_port, wait_until
from otlp_receiver.harness import Receiver, attrs

ROUTES = "/front/{id},/middle/{id},/back/{id},/pool/{id},/pool-item/{id}/{n},/refused/{id}"
POOL_STATUSES = [200, 201, 404, 202, 500, 200, 503, 203, 410, 200]  # front.py's /pool
N_OK, N_500, N_404 = 8, 3, 2
N_CHAIN = N_OK + N_500 + N_404
UNSET, ERROR = "STATUS_CODE_UNSET", "STATUS_CODE_ERROR"
SERVER, CLIENT = "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT"
TIMEOUT = 40.0


def send_mix(chain):
    """The known traffic, one request at a time; returns the dead port used."""
    client = Client()
    tag = new_tag("sm")
    sent = []
    for i in range(N_OK):
        sent.append(client.request(chain.front_port, "GET", f"/front/{tag}-ok{i}"))
    for i in range(N_500):
        sent.append(client.request(chain.front_port, "GET", f"/front/{tag}-e{i}?status=500"))
    for i in range(N_404):
        sent.append(client.request(chain.front_port, "GET", f"/front/{tag}-n{i}?status=404"))
    for s in sent:
        assert s.status == 200, f"test setup: /front answered {s.status}: {s.response_body[:200]}"
    pool = client.request(chain.front_port, "GET", f"/pool/{tag}?n=10")
    assert pool.status == 200, f"test setup: /pool: {pool.response_body[:300]}"
    dead = free_port()
    refused = client.request(chain.front_port, "GET", f"/refused/{tag}?port={dead}")
    assert refused.status == 502, f"test setup: /refused answered {refused.status}"
    return dead


def expected(chain, dead):
    """(service, span name, kind, status) -> calls; (client, server, type) -> (total, failed)."""
    f, m, b = chain.names["front"], chain.names["middle"], chain.names["back"]
    pool_client_errors = sum(1 for s in POOL_STATUSES if s >= 400)
    pool_server_errors = sum(1 for s in POOL_STATUSES if s >= 500)
    calls = {
        (f, "GET /front/{id}", SERVER, UNSET): N_CHAIN,
        (f, "GET /pool/{id}", SERVER, UNSET): 1,
        (f, "GET /refused/{id}", SERVER, ERROR): 1,  # it answers 502
        (f, "GET", CLIENT, UNSET): N_CHAIN + 10 - pool_client_errors,
        (f, "GET", CLIENT, ERROR): pool_client_errors,
        # The refused connection: no request was sent, so no method: "HTTP".
        (f, "HTTP", CLIENT, ERROR): 1,
        (m, "GET /middle/{id}", SERVER, UNSET): N_CHAIN,
        (m, "GET", CLIENT, UNSET): N_OK,
        (m, "GET", CLIENT, ERROR): N_500 + N_404,  # a client's 4xx is an error too
        (b, "GET /back/{id}", SERVER, UNSET): N_OK + N_404,  # a server's 4xx is not
        (b, "GET /back/{id}", SERVER, ERROR): N_500,
        (b, "GET /pool-item/{id}/{n}", SERVER, UNSET): 10 - pool_server_errors,
        (b, "GET /pool-item/{id}/{n}", SERVER, ERROR): pool_server_errors,
    }
    edges = {
        ("user", f, "virtual_node"): (N_CHAIN + 2, 1),
        (f, m, ""): (N_CHAIN, 0),
        (m, b, ""): (N_CHAIN, N_500 + N_404),
        (f, b, ""): (10, pool_client_errors),
        (f, f"127.0.0.1:{dead}", "virtual_node"): (1, 1),
    }
    return calls, edges


def wait_prom(prom, sonde, promql, n):
    """prom.wait_value, with Sonde's own traces_* lines and spans when it fails."""
    try:
        prom.wait_value(promql, n, TIMEOUT)
    except AssertionError as exc:
        lines = [ln for ln in sonde.metrics().text.splitlines()
                 if ln.startswith(("traces_spanmetrics_calls", "traces_service_graph_request_t"))]
        spans = [{k: s.get(k) for k in ("service", "kind", "path", "status", "error")}
                 for s in sonde.snapshot()]
        raise AssertionError(f"{exc}\n" + "\n".join(lines) + f"\nspans: {spans}") from None


def q(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


def otlp_sums(rx, name):
    """The latest value of each data point of the Sum `name`, by its attributes."""
    out = {}
    for req in rx.requests("metrics"):
        for rm in req["request"].get("resourceMetrics", []):
            for sm in rm.get("scopeMetrics", []):
                for metric in sm.get("metrics", []):
                    if metric.get("name") != name or "sum" not in metric:
                        continue
                    for p in metric["sum"].get("dataPoints", []):
                        key = tuple(sorted(attrs(p.get("attributes")).items()))
                        out[key] = int(p.get("asInt", 0))
    return out


def otlp_names(rx):
    names = set()
    for req in rx.requests("metrics"):
        for rm in req["request"].get("resourceMetrics", []):
            for sm in rm.get("scopeMetrics", []):
                for metric in sm.get("metrics", []):
                    names.add(metric.get("name"))
    return names


def test_span_and_service_graph_metrics_chain(server_builder, tmp_path):
    rx = Receiver(tmp_path, http_port=free_port())
    prom = None
    try:
        env = {
            "SONDE_ROUTE_PATTERNS": ROUTES, "SONDE_LINK_WAIT": "2s",
            # Prometheus: the RED histograms too; OTLP: only the two new families.
            "BEYLA_PROMETHEUS_FEATURES": "application,application_span,application_service_graph",
            "OTEL_EBPF_OTEL_METRICS_FEATURES": "application_span,application_service_graph",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"http://127.0.0.1:{rx.http_port}/v1/metrics",
            "OTEL_METRIC_EXPORT_INTERVAL": "500", "NO_PROXY": "*", "no_proxy": "*",
        }
        with fresh_chain(server_builder, tmp_path, name="sonde[span metrics]", **env) as chain:
            prom = Prometheus(chain.sonde.prom_port, tmp_path / "prom")
            dead = send_mix(chain)
            calls, edges = expected(chain, dead)
            prom.wait_target_up()
            # Span metrics, by PromQL.
            for (svc, name, kind, status), n in calls.items():
                sel = (f'service="{q(svc)}",span_name="{q(name)}",span_kind="{kind}",'
                       f'status_code="{status}"')
                wait_prom(prom, chain.sonde, f"sum(traces_spanmetrics_calls_total{{{sel}}})", n)
                assert prom.scalar(f"sum(traces_spanmetrics_latency_count{{{sel}}})") == n, sel
                assert prom.scalar(
                    f'sum(traces_spanmetrics_latency_bucket{{{sel},le="+Inf"}})') == n, sel
            # Nothing else was counted: the totals match too.
            total = sum(calls.values())
            assert prom.scalar("sum(traces_spanmetrics_calls_total)") == total
            # Instances: one series set per process (host:pid).
            inst = prom.query('traces_spanmetrics_calls_total{span_name="GET /middle/{id}"}')
            assert [r["metric"].get("service_instance_id", "").endswith(
                f":{p}") for r in inst for p in chain.pids("middle")].count(True) == 1, inst
            # Request bodies are GETs without bodies: zero bytes.
            assert prom.scalar("sum(traces_spanmetrics_size_total)") == 0
            # Service graph, by PromQL.
            for (cli, srv, ctype), (n, failed) in edges.items():
                sel = f'client="{q(cli)}",server="{q(srv)}",connection_type="{ctype}"'
                wait_prom(prom, chain.sonde, f"sum(traces_service_graph_request_total{{{sel}}})", n)
                assert prom.scalar(
                    f"sum(traces_service_graph_request_failed_total{{{sel}}})") == failed, sel
                server_seen = cli != chain.names["front"] or not srv.startswith("127.0.0.1:")
                client_seen = cli != "user"
                assert prom.scalar(
                    f"sum(traces_service_graph_request_server_seconds_count{{{sel}}})") == \
                    (n if server_seen else None), sel
                assert prom.scalar(
                    f"sum(traces_service_graph_request_client_seconds_count{{{sel}}})") == \
                    (n if client_seen else None), sel
            # Counted once per request: no other edge, nothing more.
            assert prom.scalar("sum(traces_service_graph_request_total)") == \
                sum(n for n, _ in edges.values())
            # The exposition is valid and lint-clean for promtool.
            assert shutil.which("promtool"), "promtool is missing (apt-get install prometheus)"
            res = subprocess.run(["promtool", "check", "metrics"],
                                 input=chain.sonde.metrics().text.encode(),
                                 capture_output=True, timeout=60)
            assert res.returncode == 0, (res.stdout + res.stderr).decode()
            # The RED histograms are on the Prometheus endpoint (feature application).
            assert prom.scalar("sum(http_server_request_duration_seconds_count)") == \
                N_CHAIN * 3 + 2 + 10
            # OTLP: the same counts, the names Beyla sends, no RED histograms.
            f = chain.names["front"]

            def otlp_done():
                sums = otlp_sums(rx, "traces_service_graph_request_total")
                return any(dict(k).get("server") == f"127.0.0.1:{dead}" for k in sums)
            rx.wait(otlp_done, TIMEOUT, "the service graph over OTLP")
            time.sleep(1.5)  # a newer export, should anything still move
            got_calls = {}
            for k, v in otlp_sums(rx, "traces_spanmetrics_calls_total").items():
                a = dict(k)
                key = (a["service"], a["span_name"], a["span_kind"], a["status_code"])
                got_calls[key] = got_calls.get(key, 0) + v
            assert got_calls == calls
            got_edges = {}
            for k, v in otlp_sums(rx, "traces_service_graph_request_total").items():
                a = dict(k)
                got_edges[(a["client"], a["server"], a["connection_type"])] = v
            assert got_edges == {k: n for k, (n, _) in edges.items()}
            got_failed = {}
            for k, v in otlp_sums(rx, "traces_service_graph_request_failed_total").items():
                a = dict(k)
                got_failed[(a["client"], a["server"], a["connection_type"])] = v
            assert got_failed == {k: fl for k, (_, fl) in edges.items()}
            lat = rx.points("traces_spanmetrics_latency")
            assert lat and all(p["unit"] == "s" for p in lat)
            srv_pts = [p for p in rx.points("traces_service_graph_request_server")
                       if p["attributes"].get("client") == f]
            assert srv_pts and srv_pts[-1]["unit"] == "s"
            names = otlp_names(rx)
            assert "http.server.request.duration" not in names, names
            assert {"traces_spanmetrics_calls_total", "traces_spanmetrics_latency",
                    "traces_spanmetrics_size_total", "traces_service_graph_request_total",
                    "traces_service_graph_request_failed_total",
                    "traces_service_graph_request_server",
                    "traces_service_graph_request_client"} <= names, names
    finally:
        if prom is not None:
            prom.stop()
        rx.stop()


def graph_edges(metrics):
    return {(lab.get("client"), lab.get("server"), lab.get("connection_type", "")): v
            for (_, lab, v) in metrics.select("traces_service_graph_request_total")}


def test_edge_to_untraced_peer(server_builder, tmp_path):
    """Sonde traces the front and the middle only: the middle's calls to the
    back make an edge to the back's address, once per request."""
    chain = Chain(server_builder, tmp_path)
    sonde = None
    try:
        sonde = Sonde({"SONDE_OPEN_PORT": f"{chain.front_port},{chain.middle_port}",
                       "SONDE_SERVICE_GRAPH_METRICS": "true", "SONDE_LINK_WAIT": "1s",
                       "SONDE_TRACE_PRINTER": "disabled"},
                      prom_port=free_port(), name="sonde[untraced peer]")
        sonde.wait_ready()
        for role in ("front", "middle"):
            sonde.wait_instrumented(chain.pids(role))
        client = Client()
        tag = new_tag("up")
        n = 5
        for i in range(n):
            r = client.request(chain.front_port, "GET", f"/front/{tag}-{i}")
            assert r.status == 200, r.response_body[:200]
        f, m, b = chain.names["front"], chain.names["middle"], chain.names["back"]
        want = {("user", f, "virtual_node"): n, (f, m, ""): n,
                (m, f"127.0.0.1:{chain.back_port}", "virtual_node"): n}

        def settled():
            return graph_edges(sonde.metrics()) == want
        try:
            wait_until(settled, TIMEOUT, interval=0.25, what="the expected edges")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {graph_edges(sonde.metrics())}") from None
        time.sleep(3)  # past the pairing wait: nothing is counted twice
        got = graph_edges(sonde.metrics())
        assert got == want
        assert not any(srv == b for (_, srv, _) in got), got
        # Span metrics were not asked for (only the service graph).
        assert not sonde.metrics().select("traces_spanmetrics_calls_total")
    finally:
        if sonde is not None:
            sonde.stop()
        chain.stop()


def test_span_metrics_series_cap(start_server, start_sonde):
    """With 4 series per metric, 10 distinct span names fill 4 series; the
    other observations are dropped and counted."""
    server = start_server("flask")
    sonde = start_sonde({"SONDE_OPEN_PORT": str(server.port), "SONDE_SPAN_METRICS": "true",
                         "SONDE_SERVICE_GRAPH_METRICS": "true",
                         "SONDE_MAX_SERIES_PER_METRIC": "4", "SONDE_ROUTE_UNMATCHED": "path",
                         "SONDE_TRACE_PRINTER": "json"})
    sonde.wait_instrumented(server.pids())
    client = Client()
    tag = new_tag("cap")
    paths = [f"/{tag}/p{i}" for i in range(10)]
    for p in paths:
        client.request(server.port, "GET", p)
    sonde.wait_spans(lambda s: s.get("path") in paths, len(paths), timeout=LINK_WAIT)

    def counted():
        m = sonde.metrics()
        kept = m.sum("traces_spanmetrics_calls_total")
        dropped = m.sum("sonde_metric_series_overflow_total",
                        metric="traces_spanmetrics_calls_total")
        return kept + dropped >= len(paths) and (m, kept, dropped)
    m, kept, dropped = wait_until(counted, TIMEOUT, interval=0.25, what="every span counted")
    series = m.select("traces_spanmetrics_calls_total")
    assert len(series) == 4, series
    assert kept == 4 and dropped == len(paths) - 4, (kept, dropped)
    # One edge (user -> the service): well within the cap, nothing dropped.
    assert m.sum("traces_service_graph_request_total") == len(paths)
    assert m.sum("sonde_metric_series_overflow_total",
                 metric="traces_service_graph_request_total") == 0


@pytest.mark.parametrize("env,yaml,message", [
    ({}, "prometheus_export:\n  features: [application, network_inter_zone]\n",
     "inter-zone metrics are not supported by Sonde yet"),
    ({}, "otel_metrics_export:\n  features: [application_spans]\n",
     "'application_spans' is not a feature"),
    ({"BEYLA_PROMETHEUS_FEATURES": "application,network_inter_zone"}, "",
     "inter-zone metrics are not supported by Sonde yet"),
    ({}, "network:\n  cidrs: [10.0.0.0/33]\n", "network.cidrs: '10.0.0.0/33' is not a CIDR"),
])
def test_features_refused(tmp_path, env, yaml, message):
    cfg = tmp_path / "sonde.yml"
    cfg.write_text("discovery:\n  open_ports: 8080\n" + yaml)
    full = {"PATH": "/usr/bin:/bin", **env}
    res = subprocess.run([str(SONDE_BIN), "--check-config", str(cfg)], env=full,
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert message in res.stderr, res.stderr


def test_features_accepted(tmp_path):
    cfg = tmp_path / "sonde.yml"
    cfg.write_text("discovery:\n  open_ports: 8080\nprometheus_export:\n  port: 9400\n"
                   "  features: [application_span, application_service_graph]\n"
                   "ui:\n  port: 9500\n  max_traces: 50\n")
    res = subprocess.run([str(SONDE_BIN), "--config", str(cfg), "--print-config"],
                         env={"PATH": "/usr/bin:/bin", "SONDE_SPAN_METRICS": "true"},
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert 'features: ["application_span", "application_service_graph"]' in out, out
    assert "max_traces: 50" in out and "span_metrics: true" in out, out
