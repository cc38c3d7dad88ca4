"""Client connections that never open, made by a traced process (a Python
client, tests/e2e/servers/connect_client/client.py) in a network namespace
this test creates. There, two "tarpit" listeners never accept and have a full
accept queue, so the kernel drops the SYNs sent to them, and it gives up on a
connect after one SYN retry (net.ipv4.tcp_syn_retries is per namespace).
Sonde has no entry probe; these are the three ways the outcome reaches it:

  refused    a blocking connect() returns the error       -> at connect's exit
  timed-out  the kernel gives up; the client reads it with
             getsockopt(SO_ERROR), as runtimes do          -> at getsockopt's exit
  gave-up    the client closes a connect still pending     -> at close's exit

Each is exactly one client span, status 0, with the error and the address it
was for; a successful non-blocking connect (http.client), and one checked with
a second connect() that answers EISCONN, are normal client spans and no
failure.
"""
import subprocess
import time
from pathlib import Path

import pytest

from conftest import _brief, _register, free_port, kill_process_group, tail

HERE = Path(__file__).resolve().parent
CLIENT = HERE / "servers" / "connect_client" / "client.py"
GAVE_UP_MS = 500
# Listeners with backlog 0 and one unaccepted connection each: full, so
# the SYNs of any further connect are dropped. Prints "ready" when full.
TARPIT = """
import socket, sys, time
keep = []
for port in map(int, sys.argv[1:]):
    ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port)); ls.listen(0)
    filler = socket.create_connection(("127.0.0.1", port))
    keep += [ls, filler]
print("ready", flush=True)
time.sleep(3600)
"""


@pytest.fixture
def netns(make_netns):
    return make_netns("cf", sysctls=("net.ipv4.tcp_syn_retries=1",))


class Driver:
    """The client process: one command in, one "done ..." line out."""

    def __init__(self, netns, log_path):
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", netns, "/usr/bin/python3", "-u", str(CLIENT)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(log_path, "wb"),
            text=True, start_new_session=True)
        _register(self.proc)
        self.log_path = log_path
        assert self.proc.stdout.readline().strip() == "ready", tail(log_path)

    def do(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline().strip()
        assert out.startswith("done "), f"client said {out!r}:\n{tail(self.log_path)}"
        return out[5:]


def test_connections_that_never_open(netns, start_sonde, tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "ok").write_text("ok\n")
    (tmp_path / "www" / "ok2").write_text("ok\n")
    srv_port, dead_port, pit1, pit2 = free_port(), free_port(), free_port(), free_port()
    pit = subprocess.Popen(["ip", "netns", "exec", netns, "/usr/bin/python3", "-c", TARPIT,
                            str(pit1), str(pit2)],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                           start_new_session=True)
    _register(pit)
    assert pit.stdout.readline().strip() == "ready", "tarpit did not start"
    with open(tmp_path / "srv.log", "wb") as logf:
        srv = subprocess.Popen(["ip", "netns", "exec", netns, "/usr/bin/python3", "-m",
                                "http.server", str(srv_port), "--bind", "127.0.0.1",
                                "--directory", str(tmp_path / "www")],
                               stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                               start_new_session=True)
    _register(srv)
    client = Driver(netns, tmp_path / "client.log")
    try:
        deadline = time.monotonic() + 20
        while client.do(f"get {srv_port} /ok") != "status 200":  # untraced warm-up
            assert time.monotonic() < deadline, f"no server:\n{tail(tmp_path / 'srv.log')}"
            time.sleep(0.1)

        sonde = start_sonde({"SONDE_TARGET_PID": str(client.proc.pid),
                             "SONDE_TRACE_PRINTER": "json"})
        sonde.wait_instrumented([client.proc.pid])

        assert client.do(f"refused {dead_port}") == "refused"
        assert client.do(f"gave-up {pit1} {GAVE_UP_MS}") == "gave-up"
        t0 = time.monotonic()
        assert client.do(f"timed-out {pit2}") == "so_error ETIMEDOUT"
        kernel_gave_up_s = time.monotonic() - t0
        assert client.do(f"get {srv_port} /ok") == "status 200"
        assert client.do(f"recheck {srv_port} /ok2") == "status 200"

        def client_span(s):
            return s.get("kind") == "client" and s.get("pid") == client.proc.pid

        sonde.wait_spans(lambda s: client_span(s) and s.get("path") in ("/ok", "/ok2"), 2,
                         what="the successful calls' client spans")
        got = sonde.wait_spans(lambda s: client_span(s) and s.get("status") == 0, 3,
                               what="three failed-connection client spans")
        time.sleep(0.5)  # anything extra would show up now
        spans = [s for s in sonde.snapshot() if client_span(s)]
        assert len(spans) == 5, [_brief(s) for s in spans]
        by_peer = {(s["server_addr"], s["server_port"]): s for s in got}
        assert set(by_peer) == {("127.0.0.1", dead_port), ("127.0.0.1", pit1),
                                ("127.0.0.1", pit2)}, \
            [_brief(s) for s in got]

        refused = by_peer[("127.0.0.1", dead_port)]
        assert "refused" in refused["error"].lower(), refused
        gave_up = by_peer[("127.0.0.1", pit1)]
        assert "closed before it completed" in gave_up["error"], gave_up
        assert GAVE_UP_MS * 0.8e6 <= gave_up["duration_ns"] <= 5e9, gave_up
        timed_out = by_peer[("127.0.0.1", pit2)]
        assert "timed out" in timed_out["error"].lower(), timed_out
        assert 0.8 * kernel_gave_up_s * 1e9 <= timed_out["duration_ns"] <= \
            (kernel_gave_up_s + 1) * 1e9, (timed_out, kernel_gave_up_s)
        for s in got:
            assert s["status"] == 0, s

        for path in ("/ok", "/ok2"):
            ok = [s for s in spans if s.get("path") == path]
            assert len(ok) == 1 and ok[0]["status"] == 200 and not ok[0].get("error"), ok
            assert ok[0]["server_port"] == srv_port, ok
    finally:
        kill_process_group(client.proc)
        kill_process_group(srv)
        kill_process_group(pit)
