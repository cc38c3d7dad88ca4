"""Least privilege (issue 10, item 5): Sonde as a non-root user.

Sonde runs through setpriv as a uid that is neither root nor the traced
server's user, with exactly the capabilities README.md lists (ambient,
inheritable and bounding set all equal to them), and traces a Python
http.server owned by `nobody`. Taking one capability away gives one line
naming it and what it costs: exit 2 when nothing could be traced, a warning
when only some processes or names are lost. packaging/sonde.service grants
the same set and passes `systemd-analyze verify`.
"""
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (PYTHON, REPO, SONDE_BIN, Sonde, _register, free_port,
                      kill_process_group, port_accepts, wait_until)

SONDE_UID = 61234  # no account: neither root nor the server's user
NOBODY = 65534
# The set Sonde needs on this kernel (measured: README.md, Privileges).
CAPS = ["bpf", "perfmon", "dac_read_search", "sys_ptrace", "setuid", "setgid"]
CAP_BIT = {"dac_read_search": 2, "setgid": 6, "setuid": 7, "sys_ptrace": 19,
           "sys_admin": 21, "perfmon": 38, "bpf": 39}
UNIT = REPO / "packaging" / "sonde.service"


def as_sonde_user(caps):
    spec = ",".join(["-all"] + [f"+{c}" for c in caps])
    return ["setpriv", f"--reuid={SONDE_UID}", f"--regid={SONDE_UID}", "--clear-groups",
            f"--inh-caps={spec}", f"--ambient-caps={spec}", f"--bounding-set={spec}"]


def clean_env(extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SONDE_", "BEYLA_", "OTEL_"))
           and k not in ("OPEN_PORT", "PRINT_TRACES", "EXECUTABLE_NAME")}
    env.update(extra)
    return env


def status_of(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return fields


def public_dir():
    """A fresh directory `nobody` can enter (pytest's tmp tree is 0700)."""
    d = Path(tempfile.mkdtemp(prefix="e2e-priv-"))
    os.chmod(d, 0o755)
    return d


class NobodyServer:
    """A server started as user `nobody`, in its own session."""

    def __init__(self, cmd, port, cwd, env=None):
        self.port = port
        self.proc = subprocess.Popen(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd],
            cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        _register(self.proc)
        wait_until(lambda: self.proc.poll() is not None or port_accepts(port), 30,
                   what=f"a server as nobody on port {port}")
        assert self.proc.poll() is None, f"the server on {port} exited with {self.proc.returncode}"

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        kill_process_group(self.proc)


@pytest.fixture
def cleanup():
    things = []
    yield things
    for t in reversed(things):
        if isinstance(t, Path):
            shutil.rmtree(t, ignore_errors=True)
        else:
            t.stop()


def http_server_as_nobody(cleanup):
    root = public_dir()
    cleanup.append(root)
    (root / "hello.txt").write_text("hello from nobody\n")
    os.chmod(root / "hello.txt", 0o644)
    port = free_port()
    server = NobodyServer([PYTHON, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                          port, root)
    cleanup.append(server)
    assert status_of(server.pid)["Uid"] == [str(NOBODY)] * 4
    return server


def get(port, path, n=1):
    import http.client
    for _ in range(n):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        assert r.status == 200, r.status
        c.close()


def start_non_root_sonde(cleanup, caps, env):
    sonde = Sonde(env, prom_port=free_port(), name="sonde (non-root)",
                  argv_prefix=as_sonde_user(caps))
    cleanup.append(sonde)
    return sonde


def cap_lines(sonde):
    with sonde._cond:
        return [ln for ln in sonde.log if "CAP_" in ln]


def test_non_root_with_exactly_the_needed_caps_traces_another_users_server(cleanup):
    server = http_server_as_nobody(cleanup)
    sonde = start_non_root_sonde(cleanup, CAPS, {"SONDE_TRACE_PRINTER": "json",
                                                 "SONDE_OPEN_PORT": str(server.port)})
    sonde.wait_ready()
    # Really not root, and holding exactly the set, nothing more to gain.
    st = status_of(sonde.proc.pid)
    mask = sum(1 << CAP_BIT[c] for c in CAPS)
    assert st["Uid"] == [str(SONDE_UID)] * 4 and st["Gid"] == [str(SONDE_UID)] * 4
    assert int(st["CapEff"][0], 16) == mask and int(st["CapBnd"][0], 16) == mask, st
    sonde.wait_instrumented([server.pid])
    assert cap_lines(sonde) == [], "the full set must not warn"

    get(server.port, "/hello.txt", n=5)
    spans = sonde.wait_spans(lambda s: s["pid"] == server.pid and s["path"] == "/hello.txt",
                             5, what="spans of nobody's http.server")
    assert all(s["status"] == 200 and s["server_port"] == server.port for s in spans)
    m = sonde.metrics()
    assert m.sum("http_server_request_duration_seconds_count",
                 http_response_status_code="200") >= 5


@pytest.mark.parametrize("drop,line", [
    ("bpf", "sonde: missing CAP_BPF: cannot load and attach the BPF programs, nothing can be "
            "traced (run as root, or grant the capabilities listed in README.md, Privileges)"),
    ("perfmon", "sonde: missing CAP_PERFMON: cannot load and attach the BPF programs, nothing "
                "can be traced (run as root, or grant the capabilities listed in README.md, "
                "Privileges)"),
])
def test_missing_fatal_capability_is_one_line_and_exit_2(drop, line):
    caps = [c for c in CAPS if c != drop]
    res = subprocess.run([*as_sonde_user(caps), str(SONDE_BIN)],
                         env=clean_env({"SONDE_OPEN_PORT": "8080", "SONDE_TRACE_PRINTER": "disabled"}),
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert [ln for ln in res.stderr.splitlines() if ln.strip()] == [line]


def test_missing_dac_read_search_warns_and_runs(cleanup):
    """Without CAP_DAC_READ_SEARCH other users' descriptor lists and
    environments are unreadable: one line says so, and Sonde runs on (it
    needs no tracefs, whose event ids are root-only)."""
    caps = [c for c in CAPS if c != "dac_read_search"]
    res = subprocess.run(["timeout", "-s", "INT", "3", *as_sonde_user(caps), str(SONDE_BIN)],
                         env=clean_env({"SONDE_OPEN_PORT": "8080", "SONDE_TRACE_PRINTER":
                                        "disabled"}),
                         capture_output=True, text=True, timeout=30)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert any(ln.startswith("sonde: missing CAP_DAC_READ_SEARCH: cannot read other "
                             "users' /proc/PID/fd") for ln in lines), lines
    assert any(ln.startswith("sonde: ready:") for ln in lines), lines
    assert res.returncode == 124, (res.returncode, res.stderr)  # ran until timeout's SIGINT


def test_missing_sys_ptrace_warns_and_other_users_go_untraced(cleanup):
    server = http_server_as_nobody(cleanup)
    caps = [c for c in CAPS if c != "sys_ptrace"]
    sonde = start_non_root_sonde(cleanup, caps, {"SONDE_TRACE_PRINTER": "json",
                                                 "SONDE_OPEN_PORT": str(server.port)})
    sonde.wait_ready()
    assert cap_lines(sonde) == [
        "sonde: missing CAP_SYS_PTRACE: cannot read other users' processes (/proc/PID/exe, fd, "
        f"environ): only processes of uid {SONDE_UID} will be traced"]
    sonde.wait_log(r"ready: 0 process\(es\) instrumented", 5)
    get(server.port, "/hello.txt", n=3)
    time.sleep(2)
    assert [s for s in sonde.snapshot() if s.get("server_port") == server.port] == []
    assert sonde.proc.poll() is None


NODE_SERVER = "require('http').createServer((q, r) => r.end('ok')).listen({port}, '127.0.0.1');\n"


def node_app_as_nobody(cleanup, package_mode):
    """index.js (a name saying nothing) beside a package.json naming the service."""
    d = public_dir()
    cleanup.append(d)
    port = free_port()
    (d / "index.js").write_text(NODE_SERVER.format(port=port))
    (d / "package.json").write_text(json.dumps({"name": f"pkg-{package_mode:o}"}))
    os.chmod(d / "index.js", 0o644)
    os.chmod(d / "package.json", package_mode)
    node = shutil.which("node") or shutil.which("nodejs")
    assert node, "node is missing (scripts/setup.sh installs it)"
    server = NobodyServer([node, str(d / "index.js")], port, d)
    cleanup.append(server)
    return server


def instrumented_service(sonde, pid):
    m = sonde.wait_instrumented([pid])
    line = m.string
    return re.search(r"service=(\S+)", line).group(1)


def test_package_json_is_read_as_its_process_user(cleanup):
    """With CAP_SETUID/CAP_SETGID Sonde reads a Node service's package.json with
    the service's user's rights, not its own: a world-readable one names the
    service, a root-only one (0600) does not leak, although Sonde holds
    CAP_DAC_READ_SEARCH."""
    public = node_app_as_nobody(cleanup, 0o644)
    private = node_app_as_nobody(cleanup, 0o600)
    sonde = start_non_root_sonde(cleanup, CAPS, {"SONDE_TRACE_PRINTER": "disabled",
                                                 "SONDE_OPEN_PORT":
                                                 f"{public.port},{private.port}"})
    sonde.wait_ready()
    assert instrumented_service(sonde, public.pid) == "pkg-644"
    assert instrumented_service(sonde, private.pid) == "index"
    assert "pkg-600" not in sonde.log_text(last=1000)


def test_without_setuid_setgid_node_services_keep_their_script_name(cleanup):
    public = node_app_as_nobody(cleanup, 0o644)
    caps = [c for c in CAPS if c not in ("setuid", "setgid")]
    sonde = start_non_root_sonde(cleanup, caps, {"SONDE_TRACE_PRINTER": "disabled",
                                                 "SONDE_OPEN_PORT": str(public.port)})
    sonde.wait_ready()
    assert cap_lines(sonde) == [
        "sonde: missing CAP_SETUID and CAP_SETGID: cannot read files as a traced process's "
        "user: Node services are named after their script, not their package.json"]
    assert instrumented_service(sonde, public.pid) == "index"


# --------------------------------------------------------------------------
# packaging/sonde.service
# --------------------------------------------------------------------------

def unit_values(text, key):
    return [v for k, _, v in (ln.partition("=") for ln in text.splitlines())
            if k.strip() == key]


def test_systemd_unit_grants_exactly_the_set():
    text = UNIT.read_text()
    known = set(subprocess.run(["setpriv", "--list-caps"], capture_output=True, text=True,
                               check=True).stdout.split())
    for key in ("AmbientCapabilities", "CapabilityBoundingSet"):
        values = unit_values(text, key)
        assert len(values) == 1, (key, values)
        names = [n.lower().removeprefix("cap_") for n in values[0].split()]
        assert set(names) <= known, (key, names)
        assert sorted(names) == sorted(CAPS), (key, names)
    for key, want in (("NoNewPrivileges", "yes"), ("DynamicUser", "yes"),
                      ("ProtectSystem", "strict")):
        assert unit_values(text, key) == [want], key
    assert unit_values(text, "User") == [], "DynamicUser: no fixed account, never root"


def test_systemd_unit_verifies(tmp_path):
    """`systemd-analyze verify` on the unit, its ExecStart pointed at the built
    binary (verify checks the program exists). verify exits 0 on an unknown
    key or value, so any output at all fails the test."""
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is missing: scripts/setup.sh installs systemd"
    unit = tmp_path / "sonde.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/sonde", str(SONDE_BIN)))
    res = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0 and not res.stdout.strip() and not res.stderr.strip(), \
        (res.returncode, res.stdout, res.stderr)


# --------------------------------------------------------------------------
# tracefs: not needed (every program is tp_btf), never mounted. Run in a
# private mount namespace (unshare -m: private propagation) where tracefs is
# unmounted first; the host's mounts are not touched.
# --------------------------------------------------------------------------

NO_TRACEFS = ("umount /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug 2>/dev/null; "
              "mountpoint -q /sys/kernel/tracing && exit 97; ")


def test_no_tracefs_needed_and_none_mounted(cleanup, tmp_path):
    """A non-root Sonde with exactly the capability set starts and traces a
    request where tracefs is not mounted, and mounts nothing."""
    server = http_server_as_nobody(cleanup)
    # The request is sent once Sonde says it is ready (its start-up time
    # depends on the verifier and the machine), then Sonde is stopped.
    err = str(tmp_path / "sonde.err")
    script = (NO_TRACEFS + "timeout -s INT 60 " + " ".join([*as_sonde_user(CAPS), str(SONDE_BIN)])
              + " 2>" + err + " & pid=$!; i=0; "
              "until grep -q 'sonde: ready:' " + err + " || [ $i -ge 300 ]; do "
              "sleep 0.1; i=$((i+1)); done; "
              "curl -s -o /dev/null http://127.0.0.1:" + str(server.port) + "/; sleep 1; "
              "kill -INT $pid; wait $pid; rc=$?; cat " + err + " >&2; "
              "mountpoint -q /sys/kernel/tracing && echo tracefs-mounted; exit $rc")
    res = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                         env=clean_env({"SONDE_OPEN_PORT": str(server.port),
                                        "SONDE_TRACE_PRINTER": "json"}),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 97, "could not unmount tracefs in the private namespace"
    assert "tracefs-mounted" not in res.stdout, res.stdout
    assert "sonde: ready:" in res.stderr, res.stderr
    spans = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert any(sp.get("path") == "/" and sp.get("status") == 200 for sp in spans), \
        (res.stdout, res.stderr)
