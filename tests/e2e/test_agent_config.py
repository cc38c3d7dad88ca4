"""Sonde's configuration as a user sets it: process selection (port, its
aliases, executable regex, pid, all-must-match), service naming, the text
printer, and stopping on SIGTERM/SIGINT.

Negative checks ("this server is not traced") always run next to a traced
server that gets the same traffic, and wait for the traced server's spans
plus a barrier span, so an absent span means "not traced", not "not yet".
"""
import re
import signal
import time

import pytest

from conftest import Client, _brief, key_of, match_spans


def settle(sonde, client, port, tag):
    """Barrier: one request to a traced server, wait for its span."""
    sent = client.request(port, "GET", f"/barrier/{tag}")
    sonde.wait_spans(lambda s: key_of(s) == key_of(sent), 1, what=f"barrier span {tag}")


def traffic(client, port, prefix, n=3):
    return [client.request(port, "GET", f"{prefix}/{i}") for i in range(n)]


def spans_on_port(sonde, port):
    return [s for s in sonde.snapshot() if s.get("server_port") == port]


def test_selection_executable_name_and_port_must_both_match(start_server, start_sonde):
    go = start_server("go")
    node = start_server("express")
    sonde = start_sonde({"SONDE_OPEN_PORT": f"{go.port},{node.port}",
                         "SONDE_EXECUTABLE_NAME": "e2e-go-server$",
                         "SONDE_TRACE_PRINTER": "json"})
    client = Client()
    go_sent = traffic(client, go.port, "/sel-exe/go")
    node_sent = traffic(client, node.port, "/sel-exe/node")
    assert all(s.status == 200 for s in go_sent + node_sent)
    sonde.wait_spans(lambda s: s.get("server_port") == go.port, len(go_sent), what="go spans")
    settle(sonde, client, go.port, "sel-exe")
    strays = spans_on_port(sonde, node.port)
    assert not strays, f"express (exe does not match the regex) was traced: {strays[:3]}"
    assert not [ln for ln in sonde.log if f"pid={node.pid} " in ln], \
        f"express was instrumented:\n{sonde.log_text()}"
    match_spans(go_sent + client.ledger[-1:], spans_on_port(sonde, go.port))


def test_selection_target_pid(start_server, start_sonde):
    a = start_server("go")
    b = start_server("go")
    sonde = start_sonde({"SONDE_TARGET_PID": str(a.pid), "SONDE_TRACE_PRINTER": "json"})
    client = Client()
    a_sent = traffic(client, a.port, "/sel-pid/a")
    traffic(client, b.port, "/sel-pid/b")
    sonde.wait_spans(lambda s: s.get("server_port") == a.port, len(a_sent), what="spans of pid A")
    settle(sonde, client, a.port, "sel-pid")
    assert not spans_on_port(sonde, b.port), "the server whose pid was not selected was traced"
    assert {s["pid"] for s in sonde.snapshot()} == {a.pid}


@pytest.mark.parametrize("var", ["OPEN_PORT", "BEYLA_OPEN_PORT", "OTEL_EBPF_OPEN_PORT"])
def test_open_port_aliases(start_server, start_sonde, var):
    go = start_server("go")
    other = start_server("go")
    sonde = start_sonde({var: f"{go.port - 1}-{go.port}", "SONDE_TRACE_PRINTER": "json"})
    client = Client()
    sent = traffic(client, go.port, f"/alias/{var}", n=2)
    sonde.wait_spans(lambda s: s.get("server_port") == go.port, 2, what=f"spans with {var}")
    traffic(client, other.port, f"/alias-other/{var}", n=1)
    settle(sonde, client, go.port, var)
    if not (go.port - 1 <= other.port <= go.port):
        assert not spans_on_port(sonde, other.port), f"{var}: a server off the range was traced"
    match_spans(sent + client.ledger[-1:], spans_on_port(sonde, go.port))


def test_service_name_from_target_env_and_exe(start_server, start_sonde):
    named = start_server("go", env={"OTEL_SERVICE_NAME": "checkout-from-env"})
    plain = start_server("go")
    sonde = start_sonde({"SONDE_OPEN_PORT": f"{named.port},{plain.port}",
                         "SONDE_TRACE_PRINTER": "json"})
    client = Client()
    client.request(named.port, "GET", "/svc/named")
    client.request(plain.port, "GET", "/svc/plain")
    spans = sonde.wait_spans(lambda s: s.get("path", "").startswith("/svc/"), 2, what="spans")
    by_path = {s["path"]: s for s in spans}
    assert by_path["/svc/named"]["service"] == "checkout-from-env", _brief(by_path["/svc/named"])
    assert by_path["/svc/plain"]["service"] == "e2e-go-server", \
        f"service of a Go binary without OTEL_SERVICE_NAME: {by_path['/svc/plain']['service']!r}"
    sonde.wait_log(rf"instrumenting pid={named.pid} service=checkout-from-env\b", 5)
    m = sonde.metrics()
    assert m.sum("http_server_request_duration_seconds_count",
                 service_name="checkout-from-env") == 1


TEXT_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}) \((\d+(?:\.\d+)?)(ns|µs|us|ms|s)"
    r"\[(\d+(?:\.\d+)?)(ns|µs|us|ms|s)\]\) HTTP (\d{3}) (\S+) (\S+) "
    r"\[(\S+):(\d+)\]->\[(\S+):(\d+)\] size:(\d+)B svc=\[([^\]]*)\] "
    r"traceparent=\[00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]\]$")


def test_text_printer(start_server, start_sonde):
    go = start_server("go")
    sonde = start_sonde({"SONDE_OPEN_PORT": str(go.port), "PRINT_TRACES": "true",
                         "SONDE_SERVICE_NAME": "text-svc"})
    client = Client()
    sent = client.request(go.port, "GET", "/text/hello?status=404&delay=50ms")
    assert sent.status == 404

    def line():
        with sonde._cond:
            return next((ln for ln in sonde.bad_stdout if "/text/hello" in ln), None)
    got = sonde._wait(line, 10, "a text span line for /text/hello")
    m = TEXT_LINE.match(got)
    assert m, f"text line does not have the documented format:\n{got!r}"
    assert m.group(6) == "404" and m.group(7) == "GET" and m.group(8) == "/text/hello", got
    assert m.group(9) == "127.0.0.1" and m.group(11) == "127.0.0.1", got
    assert int(m.group(10)) == sent.client_port and int(m.group(12)) == go.port, got
    assert m.group(14) == "text-svc", got
    scale = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    dur = float(m.group(2)) * scale[m.group(3)]
    assert 0.05 <= dur <= sent.client_ns / 1e9 + 0.05, f"duration {dur}s in {got!r}"
    assert not sonde.spans, "PRINT_TRACES=true printed JSON"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stops_within_one_second(start_server, start_sonde, sig):
    go = start_server("go")
    sonde = start_sonde({"SONDE_OPEN_PORT": str(go.port), "SONDE_TRACE_PRINTER": "json"})
    client = Client()
    client.request(go.port, "GET", "/before-stop")
    sonde.wait_spans(lambda s: s.get("path") == "/before-stop", 1)
    t0 = time.monotonic()
    sonde.proc.send_signal(sig)
    try:
        rc = sonde.proc.wait(timeout=3)
    except Exception:
        rc = None
    elapsed = time.monotonic() - t0
    assert rc is not None, f"Sonde did not exit within 3 s of {sig.name}"
    assert elapsed <= 1.0, f"Sonde took {elapsed:.2f}s to exit after {sig.name} (contract: 1 s)"
    assert rc == 0, f"Sonde exited with {rc} after {sig.name}:\n{sonde.log_text()}"
    # The server it traced is unaffected.
    assert client.request(go.port, "GET", "/after-stop").status == 200


def _run_sonde(env, *args, user=None):
    """Run build/sonde to completion with a clean environment."""
    import os
    import subprocess

    from conftest import SONDE_BIN
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("SONDE_", "BEYLA_", "OTEL_"))
            and k not in ("OPEN_PORT", "PRINT_TRACES", "EXECUTABLE_NAME")}
    full.update(env)
    cmd = [str(SONDE_BIN), *args]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups",
               "--inh-caps=-all", *cmd]
    return subprocess.run(cmd, env=full, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("var,value,expect", [
    ("OPEN_PORT", "abc", "bad environment variable OPEN_PORT: 'abc' is not a port list"),
    ("SONDE_PROMETHEUS_PORT", "99999", "SONDE_PROMETHEUS_PORT: '99999' is not a port"),
    ("SONDE_TRACE_PRINTER", "xml", "SONDE_TRACE_PRINTER: 'xml' is not one of"),
])
def test_bad_environment_exits_2_naming_the_variable(var, value, expect):
    env = {"SONDE_OPEN_PORT": "8080", var: value}
    if var == "OPEN_PORT":
        env = {var: value}
    res = _run_sonde(env)
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert expect in res.stderr, res.stderr
    assert len([ln for ln in res.stderr.splitlines() if ln.strip()]) == 1, res.stderr


def test_nothing_to_instrument_exits_2():
    res = _run_sonde({"SONDE_PROMETHEUS_PORT": "9400"})
    assert res.returncode == 2 and "nothing to instrument" in res.stderr, res.stderr


def test_without_privilege_one_clear_line():
    """As an unprivileged user: one line saying what is missing, no BPF attempted."""
    res = _run_sonde({"SONDE_OPEN_PORT": "8080", "SONDE_TRACE_PRINTER": "disabled"}, user=65534)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines == ["sonde: missing CAP_BPF and CAP_PERFMON: cannot load and attach the BPF "
                     "programs, nothing can be traced (run as root, or grant the capabilities "
                     "listed in README.md, Privileges)"], res.stderr
