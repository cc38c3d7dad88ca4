"""A server in a network namespace this test creates, next to a server on the
same port number in the host's namespace: Sonde (in the host's namespace)
selects both by that port — the host's listening sockets come from the
kernel's sock_diag netlink, the other namespace's from its own TCP table —
and traces each one's traffic as that process's, with nothing mixed up.
"""
import subprocess
import time

import pytest

from conftest import (Client, _brief, _register, kill_process_group, key_of,
                      free_port, tail)

REQUESTS = 4


def ns_run(ns, *cmd, **kw):
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                          timeout=30, **kw)


def ns_get(ns, port, path):
    """One GET from inside the namespace (curl, HTTP/1.1); its status code."""
    out = ns_run(ns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                 f"http://127.0.0.1:{port}{path}")
    return int(out.stdout or 0)


@pytest.fixture
def netns(make_netns):
    return make_netns("e2e")


def test_server_in_its_own_network_namespace(netns, start_server, start_sonde, tmp_path):
    port = free_port()
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "hello.txt").write_text("hello from a namespace\n")
    log_path = tmp_path / "ns-server.log"
    with open(log_path, "wb") as logf:
        # `ip netns exec` enters the namespace and execs the server: same pid.
        proc = subprocess.Popen(["ip", "netns", "exec", netns, "/usr/bin/python3", "-m", "http.server",
                                 str(port), "--bind", "127.0.0.1", "--directory",
                                 str(tmp_path / "www")],
                                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True)
    _register(proc)
    try:
        deadline = time.monotonic() + 20
        while ns_get(netns, port, "/hello.txt") != 200:
            assert proc.poll() is None, f"namespace server exited:\n{tail(log_path)}"
            assert time.monotonic() < deadline, f"namespace server not up:\n{tail(log_path)}"
            time.sleep(0.1)
        host = start_server("go", port=port)  # same port number, host namespace

        sonde = start_sonde({"SONDE_OPEN_PORT": str(port), "SONDE_TRACE_PRINTER": "json"})
        sonde.wait_instrumented([proc.pid])
        sonde.wait_instrumented([host.pid])

        statuses = [ns_get(netns, port, f"/ns-{i}.txt" if i else "/hello.txt")
                    for i in range(REQUESTS)]
        assert statuses == [200] + [404] * (REQUESTS - 1), statuses
        client = Client()
        host_sent = [client.request(port, "GET", f"/host-{i}") for i in range(REQUESTS)]

        ns_spans = sonde.wait_spans(
            lambda s: s.get("path") in ("/hello.txt",) or s.get("path", "").startswith("/ns-"),
            REQUESTS, what="spans of the namespace's server")
        host_spans = sonde.wait_spans(lambda s: s.get("path", "").startswith("/host-"),
                                      REQUESTS, what="spans of the host's server")
        time.sleep(0.5)  # anything extra would show up now
        ns_spans = [s for s in sonde.snapshot()
                    if s.get("path") == "/hello.txt" or s.get("path", "").startswith("/ns-")]
        assert len(ns_spans) == REQUESTS, [_brief(s) for s in ns_spans]
        for s in ns_spans:
            assert s["pid"] == proc.pid, f"namespace request traced as pid {s['pid']}: {_brief(s)}"
            assert s["kind"] == "server" and s["method"] == "GET", _brief(s)
            assert s["server_port"] == port, _brief(s)
            want = 200 if s["path"] == "/hello.txt" else 404
            assert s["status"] == want, _brief(s)
        hello = [s for s in ns_spans if s["path"] == "/hello.txt"][0]
        assert hello["response_size"] == len("hello from a namespace\n"), _brief(hello)
        assert sorted(key_of(s) for s in host_spans) == sorted(key_of(s) for s in host_sent)
        assert {s["pid"] for s in host_spans} == {host.pid}, [_brief(s) for s in host_spans]
    finally:
        kill_process_group(proc)
