"""YAML configuration on real traffic: seed 002's beyla-config.yml (ports
changed) naming a Java and a Node service, route patterns and the
unmatched modes, ignored routes per ignore_mode, and the route cap."""
import textwrap

import pytest

from conftest import Client, key_of, match_spans, wait_until


def write_config(tmp_path, text):
    path = tmp_path / "sonde.yml"
    path.write_text(textwrap.dedent(text))
    return path


def barrier(sonde, client, port, tag):
    """One request whose span we wait for: spans sent before it are in."""
    sent = client.request(port, "GET", f"/barrier-{tag}")
    sonde.wait_spans(lambda s: key_of(s) == key_of(sent), 1, what=f"barrier {tag}")
    return sent


def test_seed_002_config_names_java_and_node_services(tmp_path, start_server, start_sonde):
    java = start_server("java")
    node = start_server("express")
    cfg = write_config(tmp_path, f"""\
        discovery:
          services:
            - name: user-service
              open_ports: {java.port}
              exe_path_regexp: "java"
            - name: point-service
              open_ports: {node.port}
              exe_path_regexp: "node"
        """)
    sonde = start_sonde({"SONDE_CONFIG_PATH": str(cfg), "SONDE_TRACE_PRINTER": "json"})
    sonde.wait_log(rf"instrumenting pid=\d+ service=user-service exe=\S*java port={java.port}", 10)
    sonde.wait_log(rf"instrumenting pid=\d+ service=point-service exe=\S*node port={node.port}", 10)
    client = Client()
    users = [client.request(java.port, "GET", f"/users/{i}") for i in range(4)]
    points = [client.request(node.port, "GET", f"/points/{i}") for i in range(3)]
    spans = sonde.wait_spans(lambda s: s["server_port"] in (java.port, node.port), 7,
                             what="spans of both services")
    for sent, span in match_spans(users, [s for s in spans if s["server_port"] == java.port]):
        assert span["service"] == "user-service", span
    for sent, span in match_spans(points, [s for s in spans if s["server_port"] == node.port]):
        assert span["service"] == "point-service", span
    metrics = sonde.metrics()
    assert metrics.sum("http_server_request_duration_seconds_count",
                       service_name="user-service") == 4
    assert metrics.sum("http_server_request_duration_seconds_count",
                       service_name="point-service") == 3


@pytest.mark.parametrize("unmatched,want", [
    ("heuristic", "/items/*"),
    ("path", "/items/123"),
    ("wildcard", "/**"),
])
def test_route_patterns_and_unmatched_modes(tmp_path, start_server, start_sonde, unmatched, want):
    go = start_server("go")
    cfg = write_config(tmp_path, f"""\
        discovery:
          instrument:
            - open_ports: {go.port}
        routes:
          patterns:
            - /users/{{id}}
            - /shops/:shop/orders/{{order}}
          unmatched: {unmatched}
        """)
    sonde = start_sonde({"SONDE_CONFIG_PATH": str(cfg), "SONDE_TRACE_PRINTER": "json"})
    client = Client()
    sent = [client.request(go.port, "GET", "/users/42"),
            client.request(go.port, "GET", "/shops/abc/orders/99?x=1"),
            client.request(go.port, "GET", "/items/123")]
    spans = sonde.wait_spans(lambda s: s["server_port"] == go.port, 3, what="route spans")
    routes = {span["path"]: span["route"] for _, span in match_spans(sent, spans)}
    assert routes == {"/users/42": "/users/{id}",
                      "/shops/abc/orders/99": "/shops/:shop/orders/{order}",
                      "/items/123": want}, routes
    metrics = sonde.metrics()
    assert metrics.sum("http_server_request_duration_seconds_count", http_route="/users/{id}") == 1
    assert metrics.sum("http_server_request_duration_seconds_count", http_route=want) == 1


@pytest.mark.parametrize("mode,spans_expected,metrics_expected", [
    ("all", False, False),
    ("traces", False, True),
    ("metrics", True, False),
])
def test_ignored_patterns(tmp_path, start_server, start_sonde, mode, spans_expected,
                          metrics_expected):
    go = start_server("go")
    cfg = write_config(tmp_path, f"""\
        discovery:
          instrument:
            - open_ports: {go.port}
        routes:
          ignored_patterns: [/health, /static/*]
          ignore_mode: {mode}
        """)
    sonde = start_sonde({"SONDE_CONFIG_PATH": str(cfg), "SONDE_TRACE_PRINTER": "json"})
    client = Client()
    for _ in range(3):
        client.request(go.port, "GET", "/health")
    client.request(go.port, "GET", "/static/app.js")
    barrier(sonde, client, go.port, mode)
    ignored = [s for s in sonde.snapshot() if s["path"] in ("/health", "/static/app.js")]
    assert (len(ignored) == 4) if spans_expected else (ignored == []), ignored
    counted = sonde.metrics().sum("http_server_request_duration_seconds_count",
                                  http_route="/health")
    assert counted == (3 if metrics_expected else 0)
    # the barrier itself is neither ignored as a span nor as a metric
    assert sonde.metrics().sum("http_server_request_duration_seconds_count",
                               http_route=f"/barrier-{mode}") == 1


def test_route_cap_folds_and_counts_overflow(tmp_path, start_server, start_sonde):
    go = start_server("go")
    cfg = write_config(tmp_path, f"""\
        discovery:
          services:
            - name: capped
              open_ports: {go.port}
        routes:
          unmatched: path
          max_per_service: 3
        """)
    sonde = start_sonde({"SONDE_CONFIG_PATH": str(cfg), "SONDE_TRACE_PRINTER": "json"})
    client = Client()
    sent = [client.request(go.port, "GET", f"/page{i}") for i in range(7)]
    spans = sonde.wait_spans(lambda s: s["server_port"] == go.port, 7, what="capped spans")
    routes = [span["route"] for _, span in match_spans(sent, spans)]
    assert routes[:3] == ["/page0", "/page1", "/page2"], routes
    assert routes[3:] == ["/**"] * 4, routes
    metrics = sonde.metrics()
    assert metrics.sum("http_server_request_duration_seconds_count", http_route="/**") == 4
    assert set(metrics.label_values("http_server_request_duration_seconds_count", "http_route")) \
        == {"/page0", "/page1", "/page2", "/**"}
    assert metrics.sum("sonde_routes_overflow_total", service_name="capped") == 4


def test_bad_config_file_exits_2_with_position(tmp_path, start_sonde):
    cfg = write_config(tmp_path, """\
        discovery:
          services:
            - name: x
              open_ports: 8080
        network:
          enable: sometimes
        """)
    sonde = start_sonde({"SONDE_CONFIG_PATH": str(cfg)}, prom=False, wait_ready=False)
    wait_until(lambda: sonde.proc.poll() is not None, 10, what="sonde to exit")
    assert sonde.proc.returncode == 2
    sonde.wait_log(rf"{cfg}:6:11: network.enable: 'sometimes' is not a boolean", 5)
