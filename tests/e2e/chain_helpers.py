"""Helpers of tests/e2e/test_client_spans.py: the three-service chain
(Flask front -> Express middle -> Java back, tests/e2e/servers/chain/), the
analysis of its spans (per-request trace trees, edge link rates, wrong
parents) and a throwaway Prometheus server.

Only additive: it reuses conftest's process bookkeeping (everything started
here is registered and killed whatever happens).
"""
import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from conftest import (Prometheus, launch_server, PYTHON, SERVERS_DIR, Client,  # noqa: F401
                      Sonde, _brief, free_port, free_ports)

CHAIN_DIR = SERVERS_DIR / "chain"
EXPRESS_MODULES = SERVERS_DIR / "express" / "node_modules"
# Spans may be printed a few seconds late (linking waits for related spans).
LINK_WAIT = 15.0
# After the expected spans arrived: how long duplicates get to show up.
DUP_GRACE = 1.0
REPORT_PATH = Path(os.environ.get("SONDE_CLIENT_SPANS_REPORT",
                                  "/tmp/sonde-e2e-client-spans-report.json"))

MIDDLE_HOST = "middle.sonde-e2e"
POOL_STATUSES = [200, 201, 404, 202, 500, 200, 503, 203, 410, 200]  # as in front.py

HEX32 = re.compile(r"[0-9a-f]{32}")
HEX16 = re.compile(r"[0-9a-f]{16}")


def new_tag(prefix):
    return f"{prefix}{secrets.token_hex(3)}"


# --------------------------------------------------------------------------
# Processes.
# --------------------------------------------------------------------------

def start_proc(kind, cmd, port, env, log_dir, cwd=None):
    """Start a server process in its own session, registered with conftest's
    bookkeeping; wait until it listens on 127.0.0.1:port."""
    log_path = Path(log_dir) / f"{kind}-{port}.log"
    penv = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8", "PORT": str(port)}
    penv.update({k: str(v) for k, v in env.items()})
    server = launch_server(kind, port, cmd, cwd, penv, log_path)
    return server


_BUILT = {}
_BUILD_LOCK = threading.Lock()


def _build_relays(builder):
    """javac Relay.java and go build relay.go, once per session."""
    with _BUILD_LOCK:
        out = Path(builder.tmp_root) / "chain"
        if out in _BUILT:
            return _BUILT[out]
        out.mkdir(parents=True, exist_ok=True)
        if shutil.which("javac") is None or shutil.which("go") is None:
            pytest.fail("javac and go are needed (openjdk-17-jdk-headless, golang-go)",
                        pytrace=False)
        res = subprocess.run(["javac", "-d", str(out / "java"), "Relay.java"],
                             cwd=CHAIN_DIR / "java", capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, f"javac Relay.java failed:\n{res.stdout}\n{res.stderr}"
        env = dict(os.environ, GOCACHE=str(out / "gocache"), GOPATH=str(out / "gopath"),
                   GO111MODULE="off", GOFLAGS="", GOPROXY="off", CGO_ENABLED="0")
        res = subprocess.run(["go", "build", "-o", str(out / "e2e-go-relay"), "relay.go"],
                             cwd=CHAIN_DIR / "go", env=env, capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 0, f"go build relay.go failed:\n{res.stdout}\n{res.stderr}"
        _BUILT[out] = {"java": out / "java", "go": out / "e2e-go-relay"}
        return _BUILT[out]


class Chain:
    """front -> middle -> back on loopback, each named through
    OTEL_SERVICE_NAME in its own environment (e2e-<role>-<kind>).

    kinds: ("flask", "express", "java") -- front.py, middle.js, the Java
    sample server -- or ("java", "go", "flask") -- Relay.java, relay.go, the
    Flask sample server; "java-async" is Relay.java with RELAY_ASYNC=1 and a
    pool of 2 threads. Only the Flask front has /pool and /refused."""

    def __init__(self, builder, log_dir, kinds=("flask", "express", "java")):
        assert kinds in (("flask", "express", "java"), ("java", "go", "flask"),
                         ("java-async", "go", "flask")), kinds
        self.kinds = dict(zip(("front", "middle", "back"), kinds))
        self.label = "->".join(kinds)
        self.names = {r: f"e2e-{r}-{k}" for r, k in self.kinds.items()}
        self.front_port, self.middle_port, self.back_port = free_ports(3)
        self.servers = []
        try:
            self._start(builder, Path(log_dir))
        except BaseException:
            self.stop()
            raise

    def _start(self, builder, log_dir):
        k, n = self.kinds, self.names
        self.back = builder.start(k["back"], self.back_port, log_dir=log_dir,
                                  env={"OTEL_SERVICE_NAME": n["back"]})
        self.servers.append(self.back)
        if k["middle"] == "express":
            if not (EXPRESS_MODULES / "express").is_dir():
                pytest.fail("Express is not installed: run `npm install --no-audit --no-fund` "
                            "in tests/e2e/servers/express", pytrace=False)
            self.middle = start_proc(
                "chain-middle-express", ["node", str(CHAIN_DIR / "middle.js"),
                                         str(self.middle_port)],
                self.middle_port, {"BACK_PORT": self.back_port, "NODE_PATH": EXPRESS_MODULES,
                                   "OTEL_SERVICE_NAME": n["middle"]}, log_dir, cwd=CHAIN_DIR)
        else:
            relay = _build_relays(builder)["go"]
            self.middle = start_proc(
                "chain-middle-go", [str(relay), str(self.middle_port)], self.middle_port,
                {"DOWN_PORT": self.back_port, "DOWN_PREFIX": "/back/",
                 "OTEL_SERVICE_NAME": n["middle"]}, log_dir)
        self.servers.append(self.middle)
        if k["front"] == "flask":
            self.front = start_proc(
                "chain-front-flask", [PYTHON, str(CHAIN_DIR / "front.py"), str(self.front_port)],
                self.front_port, {"MIDDLE_PORT": self.middle_port, "BACK_PORT": self.back_port,
                                  "MIDDLE_HOST": MIDDLE_HOST, "PYTHONUNBUFFERED": "1",
                                  "OTEL_SERVICE_NAME": n["front"]}, log_dir)
        else:
            classes = _build_relays(builder)["java"]
            env = {"DOWN_PORT": self.middle_port, "DOWN_PREFIX": "/middle/",
                   "OTEL_SERVICE_NAME": n["front"]}
            if k["front"] == "java-async":
                env.update(RELAY_ASYNC="1", RELAY_THREADS="2")
            self.front = start_proc(
                f"chain-front-{k['front']}", ["java", "-Xshare:auto", "-XX:+UseSerialGC", "-cp",
                                              str(classes), "Relay", str(self.front_port)],
                self.front_port, env, log_dir)
        self.servers.append(self.front)

    @property
    def ports(self):
        return [self.front_port, self.middle_port, self.back_port]

    def pids(self, role):
        return getattr(self, role).pids()

    def logs(self):
        return "\n".join(f"--- {s.kind} ---\n{s.log_tail()}" for s in self.servers)

    def stop(self):
        for s in reversed(self.servers):
            s.stop()


def start_chain_sonde(chain, name="sonde[chain]", **extra):
    env = {"SONDE_OPEN_PORT": ",".join(map(str, chain.ports)), "SONDE_TRACE_PRINTER": "json"}
    env.update(extra)
    sonde = Sonde(env, prom_port=free_port(), name=name)
    try:
        sonde.wait_ready()
        for role in ("front", "middle", "back"):
            m = sonde.wait_instrumented(chain.pids(role))
            assert f"service={chain.names[role]} " in m.string + " ", (
                f"{role} instrumented under another service name (OTEL_SERVICE_NAME="
                f"{chain.names[role]} in its environment): {m.string!r}")
    except BaseException:
        sonde.stop()
        raise
    return sonde


@contextlib.contextmanager
def fresh_chain(builder, log_dir, kinds=("flask", "express", "java"), name=None, **extra):
    """A chain and its own Sonde (fresh linker state), stopped on exit."""
    chain = Chain(builder, log_dir, kinds)
    sonde = None
    try:
        sonde = start_chain_sonde(chain, name=name or f"sonde[fresh {chain.label}]", **extra)
        chain.sonde = sonde
        yield chain
    finally:
        if sonde is not None:
            sonde.stop()
        chain.stop()


# --------------------------------------------------------------------------
# Load.
# --------------------------------------------------------------------------

def fire(port, targets, concurrency, headers=None):
    """GET every target (new connection each) with `concurrency` threads.
    Returns the Sent list (conftest.Client ledger entries)."""
    todo = list(enumerate(targets))
    lock = threading.Lock()
    results, errors = [None] * len(todo), []

    def worker():
        client = Client()
        while True:
            with lock:
                if not todo:
                    return
                i, target = todo.pop(0)
            try:
                results[i] = client.request(port, "GET", target, headers=headers)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(f"{target}: {exc!r}")

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, f"requests failed: {errors[:5]}"
    assert all(results), "some requests did not complete"
    return results


# --------------------------------------------------------------------------
# Span analysis.
# --------------------------------------------------------------------------

def brief(span):
    if span is None:
        return None
    out = _brief(span)
    out.update({k: span.get(k) for k in ("kind", "service", "trace_id", "span_id",
                                         "parent_span_id", "error", "start_ns")})
    return out


def span_end(span):
    return span["start_ns"] + span["duration_ns"]


def wait_for(sonde, predicate, count, what, timeout=LINK_WAIT):
    """Wait for `count` spans matching predicate, then DUP_GRACE more seconds
    so that duplicates would show up too; return all matching spans."""
    sonde.wait_spans(predicate, count, timeout=timeout, what=what)
    time.sleep(DUP_GRACE)
    return [s for s in sonde.snapshot() if predicate(s)]


def check_ids(span, ctx):
    """trace_id/span_id well-formed; parent_span_id empty or well-formed."""
    problems = []
    if not HEX32.fullmatch(str(span.get("trace_id"))) or span.get("trace_id") == "0" * 32:
        problems.append(f"bad trace_id {span.get('trace_id')!r}")
    if not HEX16.fullmatch(str(span.get("span_id"))) or span.get("span_id") == "0" * 16:
        problems.append(f"bad span_id {span.get('span_id')!r}")
    parent = span.get("parent_span_id")
    if parent != "" and not (HEX16.fullmatch(str(parent)) and parent != "0" * 16):
        problems.append(f"bad parent_span_id {parent!r}")
    return [f"{ctx}: {p}: {brief(span)}" for p in problems]


def check_client_span(span, ctx, pids, service, server_port, status=None, method="GET"):
    """The fields every successful client span must carry."""
    problems = check_ids(span, ctx)
    want = {"kind": "client", "service": service, "server_port": server_port,
            "server_addr": "127.0.0.1", "client_addr": "127.0.0.1", "method": method}
    if status is not None:
        want["status"] = status
    for k, v in want.items():
        if span.get(k) != v:
            problems.append(f"{ctx}: {k}={span.get(k)!r}, expected {v!r}: {brief(span)}")
    if "error" not in span:
        problems.append(f"{ctx}: client span has no 'error' key: {brief(span)}")
    elif span["error"] != "":
        problems.append(f"{ctx}: error={span['error']!r} on a successful call: {brief(span)}")
    if span.get("pid") not in pids:
        problems.append(f"{ctx}: pid {span.get('pid')} not the caller's {sorted(pids)}")
    if not (isinstance(span.get("duration_ns"), int) and span["duration_ns"] > 0):
        problems.append(f"{ctx}: duration_ns {span.get('duration_ns')!r} not > 0")
    if not isinstance(span.get("client_port"), int) or not span.get("client_port"):
        problems.append(f"{ctx}: client_port {span.get('client_port')!r}")
    return problems


ROLES = ("front_srv", "front_cli", "mid_srv", "mid_cli", "back_srv")
# child role -> (parent role, edge name, cross-process?)
EDGES = {
    "front_cli": ("front_srv", "front server->client (in-process)", False),
    "mid_srv": ("front_cli", "front client->middle server (cross-process)", True),
    "mid_cli": ("mid_srv", "middle server->client (in-process)", False),
    "back_srv": ("mid_cli", "middle client->back server (cross-process)", True),
}
EDGE_NAMES = [e[1] for e in EDGES.values()]


def role_of(span, chain, rid):
    n = chain.names
    kind, svc, path = span.get("kind"), span.get("service"), span.get("path")
    if kind == "server" and svc == n["front"] and path == f"/front/{rid}":
        return "front_srv"
    if kind == "client" and svc == n["front"] and path == f"/middle/{rid}":
        return "front_cli"
    if kind == "server" and svc == n["middle"] and path == f"/middle/{rid}":
        return "mid_srv"
    if kind == "client" and svc == n["middle"] and path == f"/back/{rid}":
        return "mid_cli"
    if kind == "server" and svc == n["back"] and path == f"/back/{rid}":
        return "back_srv"
    return None


def chain_paths(rid):
    return {f"/front/{rid}", f"/middle/{rid}", f"/back/{rid}"}


def wait_chain(sonde, rids, what):
    """All 5 spans of every request id (then a grace period for duplicates)."""
    paths = set()
    for rid in rids:
        paths |= chain_paths(rid)
    return wait_for(sonde, lambda s: s.get("path") in paths, 5 * len(rids), what)


def analyze_chain(spans, chain, rids, root_parent="", root_trace=None, method="GET"):
    """Per request id: the 5-span tree and its links. Returns a report dict:
    structural problems, field problems, wrong parents, per-edge link rates."""
    by_path = defaultdict(list)
    for s in spans:
        by_path[s.get("path")].append(s)
    report = {"n": len(rids), "structure": [], "fields": [], "wrong_parents": [],
              "trace_mismatch": [], "connection": [], "timing": [],
              "edge_linked": Counter(), "fully_linked": 0, "complete": 0}
    pids = {r: chain.pids(r) for r in ("front", "middle", "back")}
    trees = {}
    for rid in rids:
        got = defaultdict(list)
        for p in chain_paths(rid):
            for s in by_path.get(p, []):
                role = role_of(s, chain, rid)
                if role is None:
                    report["structure"].append(f"{rid}: unexpected span {brief(s)}")
                else:
                    got[role].append(s)
        bad = [f"{r} x{len(got[r])}" for r in ROLES if len(got[r]) != 1]
        if bad:
            report["structure"].append(
                f"{rid}: expected exactly one span per role, got {bad}: "
                f"{ {r: [brief(s) for s in got[r]] for r in ROLES if len(got[r]) != 1} }")
            continue
        t = {r: got[r][0] for r in ROLES}
        trees[rid] = t
        report["complete"] += 1
        # Fields.
        f = report["fields"]
        f += check_client_span(t["front_cli"], f"{rid} front->middle", pids["front"],
                               chain.names["front"], chain.middle_port, 200, method)
        f += check_client_span(t["mid_cli"], f"{rid} middle->back", pids["middle"],
                               chain.names["middle"], chain.back_port, 200)
        for role, who, port in (("front_srv", "front", chain.front_port),
                                ("mid_srv", "middle", chain.middle_port),
                                ("back_srv", "back", chain.back_port)):
            s = t[role]
            f += check_ids(s, f"{rid} {role}")
            if s.get("pid") not in pids[who]:
                f.append(f"{rid} {role}: pid {s.get('pid')} not {who}'s {sorted(pids[who])}")
            if s.get("status") != 200 or s.get("server_port") != port:
                f.append(f"{rid} {role}: status/server_port {s.get('status')}/"
                         f"{s.get('server_port')}, expected 200/{port}: {brief(s)}")
        # The same TCP connection seen from both ends.
        for cli, srv in (("front_cli", "mid_srv"), ("mid_cli", "back_srv")):
            if t[cli].get("client_port") != t[srv].get("client_port"):
                report["connection"].append(
                    f"{rid}: {cli}.client_port {t[cli].get('client_port')} != "
                    f"{srv}.client_port {t[srv].get('client_port')}")
        # Root.
        root = t["front_srv"]
        if root.get("parent_span_id") != root_parent:
            report["wrong_parents"].append(
                f"{rid}: front server span has parent {root.get('parent_span_id')!r}, "
                f"expected {root_parent!r}")
        if root_trace is not None and root.get("trace_id") != root_trace:
            report["trace_mismatch"].append(
                f"{rid}: front server span trace_id {root.get('trace_id')}, expected "
                f"{root_trace} (from traceparent)")
        # Edges.
        all_linked = True
        for child_role, (parent_role, edge, cross) in EDGES.items():
            child, parent = t[child_role], t[parent_role]
            pid_ = child.get("parent_span_id")
            if pid_ == parent.get("span_id"):
                report["edge_linked"][edge] += 1
                if child.get("trace_id") != parent.get("trace_id"):
                    report["trace_mismatch"].append(
                        f"{rid}: {edge}: child trace_id {child.get('trace_id')} != parent's "
                        f"{parent.get('trace_id')}")
                    all_linked = False
            elif pid_ == "":
                all_linked = False
            else:
                all_linked = False
                report["wrong_parents"].append(
                    f"{rid}: {edge}: {child_role} has parent {pid_!r}, expected "
                    f"{parent.get('span_id')!r} or none: child={brief(child)} "
                    f"parent={brief(parent)}")
            # Timing: an in-process child lies within its parent (1 ms slack);
            # a server span ends before the client that called it has read
            # the whole response.
            if not cross:
                if child["start_ns"] < parent["start_ns"] - 1_000_000 or \
                        span_end(child) > span_end(parent) + 1_000_000:
                    report["timing"].append(
                        f"{rid}: {edge}: child [{child['start_ns']}, {span_end(child)}] not "
                        f"within parent [{parent['start_ns']}, {span_end(parent)}]")
            elif span_end(child) > span_end(parent) + 1_000_000:
                report["timing"].append(
                    f"{rid}: {edge}: server span ends at {span_end(child)}, after its client "
                    f"span's end {span_end(parent)}")
        if all_linked and len({t[r].get("trace_id") for r in ROLES}) == 1:
            report["fully_linked"] += 1
    report["trees"] = trees
    # How many connections carried the calls (keep-alive pools reuse them
    # across requests, and across threads for the Flask front).
    report["connections"] = {
        "front->middle": len({t["front_cli"].get("client_port") for t in trees.values()}),
        "middle->back": len({t["mid_cli"].get("client_port") for t in trees.values()})}
    report["chain"] = getattr(chain, "label", None)
    n = max(1, len(rids))
    report["rates"] = {e: report["edge_linked"][e] / n for e in EDGE_NAMES}
    return report


def summary(report):
    """The JSON-able part of a report, for messages and the report file."""
    return {"chain": report.get("chain"), "n": report["n"], "complete": report["complete"],
            "fully_linked": report["fully_linked"],
            "link_rates": {e: round(r, 3) for e, r in report["rates"].items()},
            "wrong_parents": len(report["wrong_parents"]),
            "trace_mismatch": len(report["trace_mismatch"]),
            "structure_problems": len(report["structure"]),
            "field_problems": len(report["fields"]),
            "connection_problems": len(report["connection"]),
            "timing_problems": len(report["timing"]),
            "connections_used": report.get("connections")}


_REPORT_LOCK = threading.Lock()


def save_report(name, data):
    """Merge data under `name` into REPORT_PATH (JSON) and print it."""
    with _REPORT_LOCK:
        try:
            all_ = json.loads(REPORT_PATH.read_text())
        except (OSError, ValueError):
            all_ = {}
        all_[name] = dict(data, at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        REPORT_PATH.write_text(json.dumps(all_, indent=2, sort_keys=True) + "\n")
    print(f"\n[client-spans report] {name}: {json.dumps(data, sort_keys=True)}")


def first(items, n=5):
    return "\n  ".join(str(x) for x in items[:n]) + (
        f"\n  ... and {len(items) - n} more" if len(items) > n else "")


