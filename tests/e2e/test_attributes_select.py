"""attributes.select on real traffic: a Go net/http server under Sonde, a
YAML file choosing the labels of http_server_request_duration_seconds
(Beyla/OBI layout), and Prometheus /metrics checked: excluding http_route
adds the routes of one (method, status) into one series, including
server_port adds the server's own port; the other metrics keep their
default labels."""
import textwrap

from conftest import Client, wait_until

SERVICE = "e2e-attributes"


def write_config(tmp_path, text):
    path = tmp_path / "sonde.yml"
    path.write_text(textwrap.dedent(text))
    return path


def test_exclude_route_merges_and_include_port_adds_label(tmp_path, start_server, start_sonde):
    go = start_server("go")
    cfg = write_config(tmp_path, """\
        attributes:
          select:
            http_server_request_duration_seconds:
              include: ["server_port", "network_protocol_version"]
              exclude: ["http_route"]
            "http.server.response.body.size":
              exclude: ["http_*"]
        """)
    sonde = start_sonde({"SONDE_CONFIG_PATH": str(cfg), "SONDE_OPEN_PORT": str(go.port),
                         "SONDE_SERVICE_NAME": SERVICE, "SONDE_TRACE_PRINTER": "json"})
    sonde.wait_instrumented(go.pids())

    c = Client()
    plan = [("GET", "/attrs/a", 3), ("GET", "/attrs/users/42", 2), ("GET", "/attrs/b?status=404", 2),
            ("POST", "/attrs/a", 1)]
    for method, target, times in plan:
        for _ in range(times):
            c.request(go.port, method, target, body=b"x" * 5 if method == "POST" else None)
    sent = len(c.ledger)
    spans = sonde.wait_spans(lambda s: s["path"].startswith("/attrs/"), sent)
    assert len(spans) == sent
    want = {("GET", "200"): 5, ("GET", "404"): 2, ("POST", "200"): 1}

    def counts():
        m = sonde.metrics()
        got = {}
        for _, labels, value in m.select("http_server_request_duration_seconds_count",
                                         service_name=SERVICE):
            key = (labels["http_request_method"], labels["http_response_status_code"])
            assert key not in got, f"two series for {key}: routes were not merged"
            got[key] = value
        return m, got

    wait_until(lambda: counts()[1] == want, 10,
               what=f"duration counts per (method, status) to be {want}")
    m, got = counts()
    duration = m.select("http_server_request_duration_seconds_count", service_name=SERVICE)
    assert len(duration) == 3
    for _, labels, _ in duration:
        assert "http_route" not in labels, labels
        assert labels["server_port"] == str(go.port), labels
        assert labels["network_protocol_version"] == "1.1", labels
        assert "url_scheme" not in labels, labels
    # Buckets were added up too: the +Inf bucket is the count, sums match the spans.
    for (method, status), n in want.items():
        inf = m.sum("http_server_request_duration_seconds_bucket", service_name=SERVICE,
                    http_request_method=method, http_response_status_code=status, le="+Inf")
        assert inf == n
        dur = sum(s["duration_ns"] for s in spans
                  if s["method"] == method and str(s["status"]) == status) / 1e9
        total = m.sum("http_server_request_duration_seconds_sum", service_name=SERVICE,
                      http_request_method=method, http_response_status_code=status)
        assert abs(total - dur) < 1e-6 * max(1.0, dur)

    # Request body sizes keep the default labels: one series per route.
    body = m.select("http_server_request_body_size_bytes_count", service_name=SERVICE)
    routes = {labels["http_route"]: value for _, labels, value in body
              if labels["http_request_method"] == "GET" and
              labels["http_response_status_code"] == "200"}
    assert routes == {"/attrs/a": 3, "/attrs/users/*": 2}
    for _, labels, _ in body:
        assert "server_port" not in labels and "network_protocol_version" not in labels
    # Response body sizes lost every http_* label: one series for the service.
    resp = m.select("http_server_response_body_size_bytes_count", service_name=SERVICE)
    assert len(resp) == 1
    assert resp[0][2] == sent
    assert set(resp[0][1]) == {"service_name"}
