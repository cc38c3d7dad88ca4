"""Go crypto/tls (issue 12's Go part): HTTPS between Go programs, seen through
the uprobes on crypto/tls.(*Conn).Read/Write (bpf/tls_go.bpf.h,
src/probes_gotls.c).

tests/e2e/servers/gotls is built by the Makefile (the same binaries the Go
binary inspection's unit tests use): a `ListenAndServeTLS` server and an
`http.Client`, with Go 1.26, Debian's Go 1.19 and Go 1.17 (the first with
the register ABI, whose symbol table and build information have older
layouts), each with symbols and DWARF and stripped. Each test runs a
stripped server and an unstripped client of another Go version (so both
the DWARF offsets and the fallback table are used, on each version),
certificates made by the test, traced by executable. The client waits on stdin until Sonde says its uprobes are in.

Checked: one span per request on each side with method, path, status,
body sizes and url.scheme=https; the client's span is the server span's
parent (same trace); the handshake makes no span; a Go HTTPS server and
client that are not traced give nothing.
"""
import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import SONDE_BIN, free_port, kill_process_group, _register, wait_until, port_accepts

REPO = Path(__file__).resolve().parents[2]
GOBIN = REPO / "build" / "gobin"
SPAN_WAIT = 20.0
# Pairs (server, client): a stripped server (offsets from the table), a
# client with DWARF, of another Go version; a cycle, so that each version
# is once the server and once the client.
PAIRS = [("1.26-stripped", "1.19"), ("1.19-stripped", "1.17"), ("1.17-stripped", "1.26")]


@pytest.fixture(scope="module")
def gotls_bins():
    names = sorted({f"gotls-{v}" for pair in PAIRS for v in pair})
    res = subprocess.run(["make", "-s", *[f"build/gobin/{n}" for n in names]], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"building the Go TLS programs failed:\n{res.stderr}"
    return GOBIN


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("gotls-certs")
    res = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "key.pem"),
         "-out", str(d / "cert.pem"), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return d


def _copy(src, dst):
    dst.write_bytes(src.read_bytes())
    dst.chmod(0o755)
    return dst


def _start_server(exe, port, certs, log):
    proc = subprocess.Popen([str(exe), "server", str(port), str(certs / "cert.pem"),
                             str(certs / "key.pem")], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    _register(proc)
    wait_until(lambda: port_accepts(port), 15, what=f"the Go TLS server on {port}")
    return proc


def _server_and_client(server_exe, client_exe, certs, tmp_path):
    """Start the server on a free port: (its process, the client, the port)."""
    port = free_port()
    with open(tmp_path / "server.log", "wb") as log:
        server = _start_server(server_exe, port, certs, log)
    return server, client_exe, port


def _run_client(exe, url, count, certs, sonde=None, body=0):
    """Run the client; when `sonde` traces it, wait for its uprobes first."""
    env = {"PATH": "/usr/bin:/bin", "GOTLS_WAIT": "1" if sonde else "0",
           "GOTLS_BODY": str(body)}
    proc = subprocess.Popen([str(exe), "client", url, str(count), str(certs / "cert.pem")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    _register(proc)
    if sonde:
        assert proc.stdout.readline().strip() == "waiting"
        sonde.wait_log(rf"gotls: \d+ uprobes on .* in process {proc.pid}\b", 15,
                       f"the client's (pid {proc.pid}) Go TLS uprobes")
    out, err = proc.communicate("go\n", timeout=60)
    assert proc.returncode == 0, f"client failed: {err}"
    lines = out.split()
    assert lines[-1] == "done", out
    return proc.pid, out


def _spans_of(sonde, pid, path):
    return [s for s in sonde.snapshot() if s.get("pid") == pid and s.get("path") == path]


@pytest.mark.parametrize("server_v,client_v", PAIRS, ids=[f"server{s}-client{c}" for s, c in PAIRS])
def test_go_https_spans_and_links(gotls_bins, certs, tmp_path, start_sonde, server_v, client_v):
    server_exe = _copy(gotls_bins / f"gotls-{server_v}", tmp_path / "gotls-srv")
    client_exe = _copy(gotls_bins / f"gotls-{client_v}", tmp_path / "gotls-cli")
    port = free_port()
    with open(tmp_path / "server.log", "wb") as log:
        server = _start_server(server_exe, port, certs, log)
    try:
        sonde = start_sonde({"SONDE_EXECUTABLE_NAME": r"/gotls-(srv|cli)$",
                             "SONDE_TRACE_PRINTER": "json"})
        sonde.wait_log(rf"gotls: \d+ uprobes on .* in process {server.pid}\b", 15,
                       "the server's Go TLS uprobes")
        stripped_line = sonde.wait_log(r"gotls: /proc/%d/exe \((go[0-9.]+)\): Read at its copy, "
                                       r"entries at the stack check, struct offsets from "
                                       r"(the table|DWARF)" % server.pid, 5)
        assert stripped_line.group(1).startswith("go" + server_v.split("-")[0])
        assert stripped_line.group(2) == "the table"  # stripped: no DWARF

        n_get = 3
        cpid, out = _run_client(client_exe, f"https://127.0.0.1:{port}/hello?size=100", n_get,
                                certs, sonde)
        assert out.split()[:2] == ["200", "100"]
        cline = sonde.wait_log(r"gotls: /proc/%d/exe \((go[0-9.]+)\).*offsets from "
                               r"(the table|DWARF)" % cpid, 5)
        assert cline.group(2) == "DWARF"
        ppid, _ = _run_client(client_exe, f"https://127.0.0.1:{port}/status/201", 1, certs,
                              sonde, body=300)

        def both(pid_c, path, n):
            def ok():
                return (len(_spans_of(sonde, server.pid, path)) >= n
                        and len(_spans_of(sonde, pid_c, path)) >= n)
            try:
                wait_until(ok, SPAN_WAIT, what=f"{n} server and client spans of {path}")
            except AssertionError as exc:
                got = [{k: x.get(k) for k in ("pid", "kind", "method", "path", "status")}
                       for x in sonde.snapshot()]
                raise AssertionError(f"{exc}; spans: {got[:20]}; server pid {server.pid}, "
                                     f"client pid {pid_c}; Sonde's log:\n"
                                     f"{sonde.log_text(last=30)}") from None

        both(cpid, "/hello", n_get)
        both(ppid, "/status/201", 1)
        time.sleep(1.5)  # anything extra (a handshake as a span) would show by now

        srv = _spans_of(sonde, server.pid, "/hello")
        cli = _spans_of(sonde, cpid, "/hello")
        assert len(srv) == n_get and len(cli) == n_get, (srv, cli)
        for s in srv + cli:
            assert s["method"] == "GET" and s["status"] == 200, s
            assert s["scheme"] == "https", s
            assert s["request_size"] == 0 and s["response_size"] == 100, s
            assert s["server_port"] == port, s
        assert {s["kind"] for s in srv} == {"server"}
        assert {s["kind"] for s in cli} == {"client"}
        # Each server span is the child of one client span, in its trace.
        by_id = {c["span_id"]: c for c in cli}
        for s in srv:
            parent = by_id.get(s["parent_span_id"])
            assert parent is not None, (s, cli)
            assert parent["trace_id"] == s["trace_id"]
        assert len({s["parent_span_id"] for s in srv}) == n_get

        [sp] = _spans_of(sonde, server.pid, "/status/201")
        [cp] = _spans_of(sonde, ppid, "/status/201")
        for s in (sp, cp):
            assert s["method"] == "POST" and s["status"] == 201, s
            assert s["request_size"] == 300 and s["response_size"] == 0, s
            assert s["scheme"] == "https", s
        assert sp["parent_span_id"] == cp["span_id"] and sp["trace_id"] == cp["trace_id"]
        # Nothing else from these processes: no span for a handshake.
        others = [s for s in sonde.snapshot() if s.get("pid") in (server.pid, cpid, ppid)
                  and s.get("path") not in ("/hello", "/status/201")]
        assert others == []
        # Every byte reached a socket, every transaction decoded; 2 TLS
        # connections, each seen from both of its traced ends.
        m = sonde.metrics()
        for reason in ("tls_without_socket", "undecodable", "conn_map_full",
                       "go_tls_unexpected_copy"):
            assert m.sum("sonde_events_lost_total", reason=reason) == 0, reason
        assert m.sum("sonde_tls_connections_total") == 4

        # A handshake that fails (the client does not trust the server's
        # certificate): no span, no harm; the server still answers after.
        other_ca = tmp_path / "other-ca"
        other_ca.mkdir()
        res = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
             str(other_ca / "key.pem"), "-out", str(other_ca / "cert.pem"), "-days", "1",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
            capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        bad = subprocess.Popen([str(client_exe), "client", f"https://127.0.0.1:{port}/bad", "1",
                                str(other_ca / "cert.pem")], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={"PATH": "/usr/bin:/bin", "GOTLS_WAIT": "1"})
        _register(bad)
        assert bad.stdout.readline().strip() == "waiting"
        sonde.wait_log(rf"gotls: \d+ uprobes on .* in process {bad.pid}\b", 15)
        _, err = bad.communicate("go\n", timeout=60)
        assert bad.returncode == 2 and "certificate" in err, err
        vpid, _ = _run_client(client_exe, f"https://127.0.0.1:{port}/after", 1, certs, sonde)
        both(vpid, "/after", 1)
        assert [s for s in sonde.snapshot() if s.get("path") == "/bad"
                or s.get("pid") == bad.pid] == []
    finally:
        kill_process_group(server)


def test_go_https_untraced(gotls_bins, certs, tmp_path, start_sonde):
    """A Go TLS server and client Sonde does not select: no uprobes, no span."""
    server, client_exe, port = _server_and_client(
        _copy(gotls_bins / "gotls-1.26-stripped", tmp_path / "gotls-other"),
        _copy(gotls_bins / "gotls-1.19", tmp_path / "gotls-other-cli"), certs, tmp_path)
    try:
        sonde = start_sonde({"SONDE_EXECUTABLE_NAME": r"/no-such-exe$",
                             "SONDE_TRACE_PRINTER": "json"}, prom=False)
        cpid, _ = _run_client(client_exe, f"https://127.0.0.1:{port}/hello", 3, certs)
        time.sleep(3)
        assert [s for s in sonde.snapshot() if s.get("pid") in (server.pid, cpid)] == []
        assert "gotls:" not in sonde.log_text(last=500)
    finally:
        kill_process_group(server)


def _posts(gotls_bins, certs, tmp_path, start_sonde, build, plan_rx):
    """A server and a client of one build exchange POSTs whose body (past
    the client's 4 KiB buffer) is a Write of its own: every plaintext byte
    must be seen once (a Write seen twice would be a second, undecodable
    request), the spans exact and linked. `plan_rx`: what Sonde must say of
    the build's uprobes."""
    res = subprocess.run(["make", "-s", f"build/gobin/gotls-{build}"], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    exe = gotls_bins / f"gotls-{build}"
    server_exe = _copy(exe, tmp_path / "gotls-srv")
    client_exe = _copy(exe, tmp_path / "gotls-cli")
    port = free_port()
    with open(tmp_path / "server.log", "wb") as log:
        server = _start_server(server_exe, port, certs, log)
    try:
        sonde = start_sonde({"SONDE_EXECUTABLE_NAME": r"/gotls-(srv|cli)$",
                             "SONDE_TRACE_PRINTER": "json"})
        sonde.wait_log(rf"gotls: \d+ uprobes on .* in process {server.pid}\b", 15)
        sonde.wait_log(r"gotls: /proc/%d/exe .*%s" % (server.pid, plan_rx), 5)
        n = 10
        cpid, out = _run_client(client_exe, f"https://127.0.0.1:{port}/status/201", n, certs,
                                sonde, body=5000)
        assert out.split()[:2] == ["201", "0"]
        wait_until(lambda: len(_spans_of(sonde, server.pid, "/status/201")) >= n
                   and len(_spans_of(sonde, cpid, "/status/201")) >= n, SPAN_WAIT,
                   what=f"{n} server and client spans")
        time.sleep(1.5)
        srv = _spans_of(sonde, server.pid, "/status/201")
        cli = _spans_of(sonde, cpid, "/status/201")
        assert len(srv) == n and len(cli) == n
        for s in srv + cli:
            assert (s["method"], s["status"], s["request_size"], s["scheme"]) == \
                ("POST", 201, 5000, "https"), s
        assert {s["parent_span_id"] for s in srv} == {c["span_id"] for c in cli}
        m = sonde.metrics()
        assert m.sum("sonde_kernel_transactions_total") == 2 * n
        assert m.sum("sonde_events_lost_total", reason="undecodable") == 0
        assert m.select("sonde_events_lost_total", reason="go_tls_unexpected_copy")
        assert m.sum("sonde_events_lost_total", reason="go_tls_unexpected_copy") == 0
    finally:
        kill_process_group(server)


def test_go_https_stacks_moving(gotls_bins, certs, tmp_path, start_sonde):
    """Server and client built so that every Go function call moves its
    goroutine's stack (the runtime's maymorestack=mayMoreStackMove test
    hook). Every call then takes its prologue's stack-check branch once
    before running (the stack moves, the call restarts at the check): the
    entry uprobe, on that branch, must see each call once, not twice (this
    test fails without the taken-branch check: 30 transactions for 20)."""
    _posts(gotls_bins, certs, tmp_path, start_sonde, "1.26-stackmove",
           "Read at its copy, entries at the stack check")


def test_go_https_noopt_returns(gotls_bins, certs, tmp_path, start_sonde):
    """A build for a debugger (-gcflags='all=-N -l'): Read copies through a
    call of bytes.(*Reader).Read, not runtime.memmove, so its bytes are taken
    at each of its RETs (never a uretprobe: Go moves stacks)."""
    _posts(gotls_bins, certs, tmp_path, start_sonde, "1.26-noopt",
           r"Read at its \d+ RETs, entries at the stack check")


def test_go_https_before_117(gotls_bins, certs, tmp_path, start_sonde):
    """Go before 1.17 passes arguments on the stack: its crypto/tls traffic
    is not followed, which Sonde says once per executable. The server is the
    stripped Go 1.17 build whose version string says go1.16.13 (Go 1.16 has
    the same symbol table and build information layouts): only its version
    decides. Traced, it gets no uprobe and its HTTPS requests no span."""
    exe = tmp_path / "gotls-srv"
    image = (gotls_bins / "gotls-1.17-stripped").read_bytes()
    assert image.count(b"go1.17.13") >= 1
    exe.write_bytes(image.replace(b"go1.17.13", b"go1.16.13"))
    exe.chmod(0o755)
    server, client_exe, port = _server_and_client(
        exe, _copy(gotls_bins / "gotls-1.26", tmp_path / "gotls-other-cli"), certs, tmp_path)
    try:
        sonde = start_sonde({"SONDE_EXECUTABLE_NAME": r"/gotls-srv$",
                             "SONDE_TRACE_PRINTER": "json"}, prom=False)
        said = (rf"gotls: process {server.pid} runs a Go binary built by go1\.16\.13, which "
                r"passes arguments on the stack \(Go before 1\.17\): its crypto/tls traffic is "
                r"not followed")
        sonde.wait_log(said, 15, "the line naming the Go 1.16 server")
        _run_client(client_exe, f"https://127.0.0.1:{port}/hello", 3, certs)
        time.sleep(2)
        assert [s for s in sonde.snapshot() if s.get("pid") == server.pid] == []
        text = sonde.log_text(last=500)
        assert len(re.findall(said, text)) == 1, text
        assert not re.search(rf"gotls: \d+ uprobes on .* in process {server.pid}\b", text), text
    finally:
        kill_process_group(server)


def test_go_https_cgo_maps_libssl(certs, tmp_path, start_sonde):
    """A cgo program linked against libssl, whose HTTPS is Go's crypto/tls:
    the process maps libssl (OpenSSL's uprobes go there) and its executable
    is Go (Go's go there too); its requests, each side, are spans."""
    res = subprocess.run(["make", "-s", "build/gobin/gotls-1.26-cgo-stripped"], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"building the cgo Go TLS program failed:\n{res.stderr}"
    exe = GOBIN / "gotls-1.26-cgo-stripped"
    server, client_exe, port = _server_and_client(
        _copy(exe, tmp_path / "gotls-srv"), _copy(exe, tmp_path / "gotls-cli"), certs, tmp_path)
    try:
        maps = Path(f"/proc/{server.pid}/maps").read_text()
        assert "libssl.so" in maps, "the cgo build does not map libssl"
        sonde = start_sonde({"SONDE_EXECUTABLE_NAME": r"/gotls-(srv|cli)$",
                             "SONDE_TRACE_PRINTER": "json"})
        sonde.wait_log(rf"tls: \d+ uprobes on \S*libssl\S* in process {server.pid}\b", 15,
                       "OpenSSL's uprobes in the cgo server")
        sonde.wait_log(rf"gotls: \d+ uprobes on .* in process {server.pid}\b", 15,
                       "Go's TLS uprobes in the cgo server")
        n = 4
        cpid, out = _run_client(client_exe, f"https://127.0.0.1:{port}/cgo?size=7", n, certs,
                                sonde)
        assert out.split()[:2] == ["200", "7"]

        def ok():
            return (len(_spans_of(sonde, server.pid, "/cgo")) >= n
                    and len(_spans_of(sonde, cpid, "/cgo")) >= n)
        try:
            wait_until(ok, SPAN_WAIT, what=f"{n} server and client spans of /cgo")
        except AssertionError as exc:
            got = [{k: x.get(k) for k in ("pid", "kind", "method", "path", "status")}
                   for x in sonde.snapshot()]
            raise AssertionError(f"{exc}\nspans: {got}\nsonde:\n{sonde.log_text()}") from None
        time.sleep(1)
        srv = _spans_of(sonde, server.pid, "/cgo")
        cli = _spans_of(sonde, cpid, "/cgo")
        assert len(srv) == n and len(cli) == n
        for s in srv + cli:
            assert (s["method"], s["status"], s["scheme"]) == ("GET", 200, "https"), s
        assert all(s["kind"] == "server" and s["response_size"] == 7 for s in srv), srv
        assert all(s["kind"] == "client" for s in cli), cli
        # each server span is the child of one client span
        assert {s["parent_span_id"] for s in srv} == {c["span_id"] for c in cli}
    finally:
        kill_process_group(server)


def _code_changed(pid, path):
    """[(file offset, byte)] of the code of @path that process @pid holds in
    memory unlike the file: the breakpoints (0xcc) planted for uprobes."""
    out = []
    with open(f"/proc/{pid}/maps") as f:
        maps = [ln.split() for ln in f]
    code = [m for m in maps if len(m) >= 6 and m[5] == str(path) and m[1].startswith("r-x")]
    assert code, f"process {pid} maps no code of {path}"
    with open(f"/proc/{pid}/mem", "rb") as mem, open(path, "rb") as disk:
        for m in code:
            start, end = (int(x, 16) for x in m[0].split("-"))
            off = int(m[2], 16)
            mem.seek(start)
            live = mem.read(end - start)
            disk.seek(off)
            want = disk.read(end - start)
            out += [(off + i, live[i]) for i in range(min(len(live), len(want)))
                    if live[i] != want[i]]
    return out


def test_tls_hooks_cli_go(gotls_bins, certs, tmp_path, start_sonde):
    """`sonde --tls-hooks EXE` on a stripped Go server names exactly the
    places where the running Sonde planted its breakpoints in it: Read's
    entry and copy, Write's entry."""
    exe = _copy(gotls_bins / "gotls-1.26-stripped", tmp_path / "gotls-hooks")
    port = free_port()
    with open(tmp_path / "server.log", "wb") as log:
        server = _start_server(exe, port, certs, log)
    try:
        sonde = start_sonde({"SONDE_EXECUTABLE_NAME": r"/gotls-hooks$",
                             "SONDE_TRACE_PRINTER": "json"}, prom=False)
        sonde.wait_log(rf"gotls: \d+ uprobes on .* in process {server.pid}\b", 15,
                       "the server's Go TLS uprobes")
        res = subprocess.run([str(SONDE_BIN), "--tls-hooks", str(exe)],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        lines = [ln.split("\t") for ln in res.stdout.splitlines()]
        roles = sorted((ln[1], ln[3]) for ln in lines)
        assert roles == [("crypto/tls.(*Conn).Read", "copy"), ("crypto/tls.(*Conn).Read", "entry"),
                         ("crypto/tls.(*Conn).Write", "entry")], res.stdout
        changed = _code_changed(server.pid, exe)
        assert {b for _, b in changed} == {0xCC}, changed
        assert {int(ln[2], 16) for ln in lines} == {off for off, _ in changed}, \
            (res.stdout, changed)
    finally:
        kill_process_group(server)
