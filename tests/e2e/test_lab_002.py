"""Seed 002's lab, played on loopback without containers (issue 11, "Done when").

The lab: a Java/Spring Boot user service on PostgreSQL that asks a
Node.js/Express point service on MySQL for each user's points, Beyla with
the lab's beyla-config.yml exporting OTLP over gRPC, and PromQL/TraceQL
queries. Here: the same two services (servers/lab/: Spring Boot with JDBC
and HikariCP, Express with a mysql2 pool), real PostgreSQL and MariaDB
servers in temp dirs (test_db's fixtures), Sonde in Beyla's place run with
the lab's file (lab_002_beyla-config.yml: ports adapted, nothing else), the
OTLP receiver in the collector's place, and a real Prometheus scraping
Sonde's own endpoint in legacy naming for the lab's three PromQL queries.

What must hold:
- `sonde --check-config` accepts the file, and Sonde runs with it;
- every user request is one trace: the user service's server span, its
  PostgreSQL query and its HTTP call as children, the point service's
  server span under that call, and its MySQL query under that;
- the OTLP metric names, units and attribute keys become, through
  Prometheus' OTLP translation rule (checked as a rule, below), the names
  the lab's PromQL uses and the ones Sonde's own endpoint shows;
- the network flow metric arrives;
- the three PromQL queries answer what the traffic sent;
- the TraceQL queries (no Tempo here) match, as predicates over the
  received spans, exactly the spans they should.
"""
import math
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from conftest import (SERVERS_DIR, SONDE_BIN, Prometheus, _register, free_port,
                      kill_process_group, port_accepts, tail, wait_until)
from otlp_receiver.harness import Receiver
from test_db import DB_NAME, mariadb, postgres  # noqa: F401  (module fixtures)

LAB_DIR = SERVERS_DIR / "lab"
USER_JAR = LAB_DIR / "user-service" / "target" / "user-service.jar"
POINT_DIR = LAB_DIR / "point-service"
CONFIG_TEMPLATE = Path(__file__).resolve().parent / "lab_002_beyla-config.yml"
SERVER_KIND, CLIENT_KIND = 2, 3
START_TIMEOUT = 90.0
# The legacy histogram's buckets (seconds), as Sonde exports them.
BOUNDS = [0, .005, .01, .025, .05, .075, .1, .25, .5, .75, 1, 2.5, 5, 7.5, 10]

USERS = {i: (f"user{i}", f"user{i}@lab.example") for i in range(1, 6)}
POINTS = {1: [10, 20], 2: [5], 3: [7, 8, 9], 4: [], 5: [100]}


# --------------------------------------------------------------------------
# Prometheus' translation of OTLP metric names and attribute keys, as its
# OTLP receiver does it by default (UnderscoreEscapingWithSuffixes; the rule
# of the OpenTelemetry "Prometheus and OpenMetrics compatibility" spec):
# the name cut into tokens at every character outside [a-zA-Z0-9:], the
# unit's Prometheus word appended unless a token already is it ("s" ->
# seconds, "By" -> bytes, "1" -> nothing, "{...}" dropped, "a/b" -> a_per_b),
# "_total" for monotonic sums, "_ratio" for gauges of unit "1"; attribute
# keys with every other character turned into "_".
# --------------------------------------------------------------------------

UNIT_WORDS = {"d": "days", "h": "hours", "min": "minutes", "s": "seconds",
              "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds",
              "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "KBy": "kilobytes",
              "MBy": "megabytes", "1": "", "%": "percent", "Hz": "hertz"}
PER_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


def _unit_tokens(unit):
    main, _, per = (unit or "").partition("/")

    def clean(word):
        word = re.sub(r"\{[^}]*\}", "", word)
        return [t for t in re.split(r"[^a-zA-Z0-9]+", word) if t]
    main_word = UNIT_WORDS.get(main, main)
    tokens = clean(main_word)
    if per:
        per_tokens = clean(PER_UNIT_WORDS.get(per, per))
        if per_tokens:
            tokens += ["per", *per_tokens]
    return tokens


def prometheus_metric_name(name, unit, kind, monotonic=False):
    """kind: "histogram", "sum" or "gauge"."""
    tokens = [t for t in re.split(r"[^a-zA-Z0-9:]+", name) if t]
    unit_tokens = _unit_tokens(unit)
    if unit_tokens and "per" in unit_tokens:
        i = unit_tokens.index("per")
        main, per = unit_tokens[:i], unit_tokens[i + 1:]
    else:
        main, per = unit_tokens, []
    main_word, per_word = "_".join(main), "_".join(per)
    if main_word and main_word not in tokens:
        tokens.append(main_word)
    if per_word and per_word not in tokens:
        tokens += ["per", per_word]
    if kind == "sum" and monotonic:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == "gauge":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    out = "_".join(tokens)
    return "_" + out if out[:1].isdigit() else out


def prometheus_label_name(key):
    out = re.sub(r"[^a-zA-Z0-9_]", "_", key)
    out = re.sub(r"__+", "_", out) if not out.startswith("__") else out
    return "key_" + out if out[:1].isdigit() else out


def test_translation_rule_on_known_cases():
    """The rule above against the examples of Prometheus' own translator
    and of the OTel spec, so that a wrong rule cannot make the lab pass."""
    cases = [
        (("http.server.duration", "s", "histogram"), "http_server_duration_seconds"),
        (("http.server.request.duration", "s", "histogram"),
         "http_server_request_duration_seconds"),
        (("requests.count", "1", "sum", True), "requests_count_total"),
        (("memory.usage", "By", "gauge"), "memory_usage_bytes"),
        (("system.network.io", "By", "sum", True), "system_network_io_bytes_total"),
        (("sonde.network.flow.bytes", "By", "sum", True), "sonde_network_flow_bytes_total"),
        (("cpu.utilization", "1", "gauge"), "cpu_utilization_ratio"),
        (("http.server.active_requests", "{request}", "sum", False),
         "http_server_active_requests"),
        (("throughput", "By/s", "gauge"), "throughput_bytes_per_second"),
        (("ops.total", "1", "sum", True), "ops_total"),
    ]
    for args, want in cases:
        assert prometheus_metric_name(*args) == want, (args, prometheus_metric_name(*args))
    assert prometheus_label_name("http.status_code") == "http_status_code"
    assert prometheus_label_name("src.cidr") == "src_cidr"
    assert prometheus_label_name("2xx") == "key_2xx"


# --------------------------------------------------------------------------
# The lab's pieces.
# --------------------------------------------------------------------------

class LabService:
    """One of the lab's two services, started in its own session."""

    def __init__(self, name, cmd, cwd, port, log_dir):
        self.name, self.port = name, port
        self.log_path = Path(log_dir) / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        _register(self.proc)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"{name} exited with {self.proc.returncode}:\n"
                                     f"{tail(self.log_path)}")
            return port_accepts(port)
        try:
            wait_until(up, START_TIMEOUT, interval=0.2, what=f"{name} to listen on {port}")
        except BaseException:
            self.stop()
            raise

    def stop(self):
        kill_process_group(self.proc)


def seed_databases(pg_port, my_port):
    import psycopg2
    import pymysql
    conn = psycopg2.connect(host="127.0.0.1", port=pg_port, user="postgres", dbname=DB_NAME,
                            sslmode="disable")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT NOT NULL, "
                "email TEXT NOT NULL)")
    for i, (name, email) in USERS.items():
        cur.execute("INSERT INTO users VALUES (%s, %s, %s)", (i, name, email))
    conn.close()
    conn = pymysql.connect(host="127.0.0.1", port=my_port, user="root", password="",
                           database=DB_NAME, autocommit=True)
    cur = conn.cursor()
    cur.execute("CREATE TABLE points (id INT AUTO_INCREMENT PRIMARY KEY, user_id INT NOT NULL, "
                "amount INT NOT NULL, reason VARCHAR(64))")
    for user, amounts in POINTS.items():
        for amount in amounts:
            cur.execute("INSERT INTO points (user_id, amount, reason) VALUES (%s, %s, 'seed')",
                        (user, amount))
    conn.close()


def hikari_connections(pg_port):
    import psycopg2
    conn = psycopg2.connect(host="127.0.0.1", port=pg_port, user="postgres", dbname=DB_NAME,
                            sslmode="disable")
    try:
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                    "'PostgreSQL JDBC Driver' AND state = 'idle'")
        return cur.fetchone()[0]
    finally:
        conn.close()


def lab_config(tmp_path, user_port, point_port, grpc_port):
    text = CONFIG_TEMPLATE.read_text()
    for key, value in (("USER_SERVICE_PORT", user_port), ("POINT_SERVICE_PORT", point_port),
                       ("OTLP_GRPC_PORT", grpc_port)):
        assert f"@{key}@" in text, key
        text = text.replace(f"@{key}@", str(value))
    assert not re.search(r"@[A-Z_]+@", text), "a placeholder left"
    path = tmp_path / "beyla-config.yml"
    path.write_text(text)
    return path


class Traffic:
    """The test's requests, sequential, with what each answered and took."""

    def __init__(self, user_port, point_port):
        self.ports = {"user": user_port, "point": point_port}
        self.sent = []   # (service, method, path, status, seconds, response)
        self.http = requests.Session()

    def send(self, service, method, path, body=None, want=None):
        url = f"http://127.0.0.1:{self.ports[service]}{path}"
        t0 = time.monotonic()
        r = self.http.request(method, url, json=body, timeout=30)
        took = time.monotonic() - t0
        assert want is None or r.status_code == want, \
            f"{method} {path} -> {r.status_code}, want {want}: {r.text[:300]}"
        self.sent.append((service, method, path, r.status_code, took, r))
        return r


# Legacy http_target is Sonde's route: ids folded into "*".
USER_TARGET = "/api/v1/users/*"
TOTAL_TARGET = "/api/v1/points/user/*/total"
POINTS_TARGET = "/api/v1/points"


def server_requests(sent):
    """Every request the two services served, with its legacy http_target:
    the test's own, and the point service's /total call for each user found."""
    out = []
    for service, method, path, status, took, _ in sent:
        if service == "user":
            out.append(("user-service", method, USER_TARGET, status, took))
            if status == 200:
                out.append(("point-service", "GET", TOTAL_TARGET, 200, None))
        else:
            out.append(("point-service", method, POINTS_TARGET, status, took))
    return out


def batch0(traffic):
    """One request for every (service, target, method, status) series."""
    traffic.send("user", "GET", "/api/v1/users/1", want=200)
    traffic.send("user", "GET", "/api/v1/users/999", want=404)
    traffic.send("point", "GET", "/api/v1/points", want=200)
    traffic.send("point", "POST", "/api/v1/points",
                 body={"userId": 2, "amount": 1, "reason": "lab"}, want=201)
    traffic.send("point", "POST", "/api/v1/points", body={"amount": 1}, want=500)


def batch1(traffic):
    """More of the same series, in other proportions."""
    for _ in range(3):
        for i in USERS:
            traffic.send("user", "GET", f"/api/v1/users/{i}", want=200)
    for i in (900, 901, 902):
        traffic.send("user", "GET", f"/api/v1/users/{i}", want=404)
    for _ in range(4):
        traffic.send("point", "GET", "/api/v1/points", want=200)
    for i in range(4):
        traffic.send("point", "POST", "/api/v1/points",
                     body={"userId": 1 + i, "amount": 3, "reason": "lab"}, want=201)
    for _ in range(2):
        traffic.send("point", "POST", "/api/v1/points", body={"reason": "no user"}, want=500)


@pytest.fixture
def lab(postgres, mariadb, tmp_path):  # noqa: F811
    if not USER_JAR.is_file():
        pytest.fail(f"{USER_JAR} is missing: scripts/setup.sh builds it (mvn package in "
                    f"{USER_JAR.parents[1]})", pytrace=False)
    if not (POINT_DIR / "node_modules" / "mysql2").is_dir():
        pytest.fail(f"npm packages missing in {POINT_DIR}: scripts/setup.sh installs them",
                    pytrace=False)
    seed_databases(postgres, mariadb)
    point_port, user_port = free_port(), free_port()
    started = []
    try:
        started.append(LabService("point-service",
                                  ["node", "index.js", str(point_port), str(mariadb), DB_NAME],
                                  POINT_DIR, point_port, tmp_path))
        started.append(LabService("user-service", [
            "java", "-Xshare:auto", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-jar", str(USER_JAR), f"--server.port={user_port}", "--server.address=127.0.0.1",
            f"--spring.datasource.url=jdbc:postgresql://127.0.0.1:{postgres}/{DB_NAME}"
            "?sslmode=disable",
            "--spring.datasource.username=postgres",
            f"--point.url=http://127.0.0.1:{point_port}",
            "--spring.main.banner-mode=off", "--spring.jmx.enabled=false"],
            LAB_DIR / "user-service", user_port, tmp_path))
        # The lab's services have served before Beyla looks: HikariCP's pool
        # and the JIT are warm, as in a running lab.
        for i in USERS:
            r = requests.get(f"http://127.0.0.1:{user_port}/api/v1/users/{i}", timeout=60)
            assert r.status_code == 200 and r.json()["points"] == sum(POINTS[i]), r.text
        # HikariCP fills its pool (10 connections) in the background: let it
        # finish, so that no connection's set-up queries fall in the test.
        wait_until(lambda: hikari_connections(postgres) >= 10, 30, interval=0.2,
                   what="HikariCP's 10 connections")
        yield {"user": started[1], "point": started[0], "pg_port": postgres}
    finally:
        for s in reversed(started):
            s.stop()


# --------------------------------------------------------------------------

def test_seed_002_lab(lab, start_sonde, tmp_path):
    user, point = lab["user"], lab["point"]
    grpc_port = free_port()
    cfg = lab_config(tmp_path, user.port, point.port, grpc_port)

    res = subprocess.run([str(SONDE_BIN), "--check-config", str(cfg)], capture_output=True,
                         text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert res.returncode == 0 and "configuration is valid" in res.stdout, \
        (res.returncode, res.stdout, res.stderr)

    rx = Receiver(tmp_path, grpc_port=grpc_port)
    prom = None
    try:
        sonde = start_sonde({"SONDE_CONFIG_PATH": str(cfg), "SONDE_METRICS_NAMING": "legacy",
                             "NO_PROXY": "*", "no_proxy": "*"})
        sonde.wait_log(rf"instrumenting pid=\d+ service=user-service exe=\S*java "
                       rf"port={user.port}", 15)
        sonde.wait_log(rf"instrumenting pid=\d+ service=point-service exe=\S*node "
                       rf"port={point.port}", 15)
        sonde.wait_log(r"network metrics: counting TCP and UDP flows", 5)
        prom = Prometheus(sonde.prom_port, tmp_path / "prometheus")
        prom.wait_target_up()

        traffic = Traffic(user.port, point.port)
        batch0(traffic)
        n0 = len(server_requests(traffic.sent))
        prom.wait_value("sum(http_server_duration_seconds_count)", n0)
        mark = len(traffic.sent)
        batch1(traffic)
        served = server_requests(traffic.sent)
        prom.wait_value("sum(http_server_duration_seconds_count)", len(served))
        # a few more scrapes, so that every series has the same samples
        time.sleep(3)
        check_promql(prom, server_requests(traffic.sent[:mark]), served)
        own_metrics = sonde.metrics()
        prom.check_target_healthy()
    finally:
        if prom is not None:
            prom.stop()
    # Stopping Sonde flushes what the 30 s interval of the lab's file holds.
    sonde.stop()
    wait_until(lambda: rx.points("http.server.duration"), 10, what="the final metrics export")

    check_traces(rx, traffic.sent, lab["pg_port"])
    check_otlp_metrics(rx, served, own_metrics,
                       sum(len(r.content) for (*_, r) in traffic.sent))
    assert not rx.errors(), rx.errors()[:3]
    rx.stop()


# --------------------------------------------------------------------------
# The lab's PromQL.
# --------------------------------------------------------------------------

def extrapolated_rate(samples, range_s, eval_t):
    """rate() of one counter series as Prometheus documents it: the increase
    between the first and last sample in the window, extrapolated towards
    the window's ends by at most 1.1 average sample intervals (and not
    past where the counter would be zero), per second of the window."""
    ts = [float(t) for t, _ in samples]
    vs = [float(v) for _, v in samples]
    if len(ts) < 2:
        return None
    increase = vs[-1] - vs[0] + sum(vs[i - 1] for i in range(1, len(vs)) if vs[i] < vs[i - 1])
    sampled = ts[-1] - ts[0]
    to_start, to_end = ts[0] - (eval_t - range_s), eval_t - ts[-1]
    if increase > 0 and vs[0] >= 0:
        to_start = min(to_start, sampled * vs[0] / increase)
    avg = sampled / (len(ts) - 1)
    extended = sampled + (to_start if to_start < 1.1 * avg else avg / 2) + \
        (to_end if to_end < 1.1 * avg else avg / 2)
    return increase * extended / sampled / range_s


def check_promql(prom, first, served):
    """first: the requests of batch0 (one per series); served: all of them.
    Over [5m], rate() sees each series from its first sample (batch0's one
    request) to the last: its increase is batch1's requests. Each query is
    checked twice: against the same rate computed here from the raw samples
    Prometheus stored (documented rate() semantics), and against the traffic:
    the stored increase is exactly what was sent, and extrapolation can
    only stretch it by the window's first and last sample intervals."""
    later = Counter((t, s) for (_, _, t, s, _) in served) - \
        Counter((t, s) for (_, _, t, s, _) in first)
    per_target = Counter()
    for (target, _), n in later.items():
        per_target[target] += n
    eval_t = round(time.time(), 3)   # Prometheus keeps milliseconds
    raw = prom.api("query", query="http_server_duration_seconds_count[5m]", time=eval_t)
    assert raw["resultType"] == "matrix", raw
    series = []
    stretch = 1.0
    for r in raw["result"]:
        lab, values = r["metric"], r["values"]
        rate = extrapolated_rate(values, 300, eval_t)
        assert rate is not None, f"one sample only: {r}"
        inc = float(values[-1][1]) - float(values[0][1])
        want = later[(lab["http_target"], int(lab["http_status_code"]))]
        assert inc == want, f"{lab}: increase {inc} over the window, sent {want}"
        sampled = float(values[-1][0]) - float(values[0][0])
        stretch = max(stretch, (sampled + 2.2 * sampled / (len(values) - 1)) / sampled)
        series.append((lab, rate))

    def at(promql):
        data = prom.api("query", query=promql, time=eval_t)
        assert data["resultType"] == "vector", data
        return data["result"]

    # 1. sum(rate(http_server_duration_seconds_count[5m])) by (http_target)
    res = at("sum(rate(http_server_duration_seconds_count[5m])) by (http_target)")
    rates = {r["metric"].get("http_target"): float(r["value"][1]) for r in res}
    assert set(rates) == set(per_target), f"http_target values {rates}, sent {per_target}"
    for target, n in per_target.items():
        mine = sum(rate for lab, rate in series if lab["http_target"] == target)
        assert math.isclose(rates[target], mine, rel_tol=1e-6), (target, rates[target], mine)
        assert n / 300 <= rates[target] <= n * stretch / 300, \
            f"{target}: rate {rates[target]:.5f}/s, {n} requests sent in the window " \
            f"(stretch at most {stretch:.3f})"
    # and the absolute counts behind the rates, exactly
    counts = {r["metric"]["http_target"]: float(r["value"][1]) for r in
              at("sum(http_server_duration_seconds_count) by (http_target)")}
    want_counts = Counter(t for (_, _, t, _, _) in served)
    assert counts == {t: float(n) for t, n in want_counts.items()}, (counts, want_counts)

    # 2. histogram_quantile(0.95, ...) by (le, http_target): within the
    # buckets the test's own timings allow. A server span lasts less than
    # the client saw (minus loopback), so the p95 is at most the upper
    # bound of the bucket holding the slowest request the client timed
    # (for the /total calls: the slowest user request, which waits on them).
    res = at("histogram_quantile(0.95, sum(rate(http_server_duration_seconds_bucket"
             "[5m])) by (le, http_target))")
    p95 = {r["metric"].get("http_target"): float(r["value"][1]) for r in res}
    assert set(p95) == set(per_target), f"p95 series {p95}"
    slowest = Counter()
    for (_, _, target, _, took) in served:
        if took is not None:
            slowest[target] = max(slowest[target], took)
    slowest[TOTAL_TARGET] = slowest[USER_TARGET]
    for target, value in p95.items():
        upper = next((b for b in BOUNDS if b >= slowest[target]), math.inf)
        assert 0 < value <= upper, \
            f"p95 of {target} is {value}: not in (0, {upper}] (slowest client time " \
            f"{slowest[target]:.4f} s)"

    # 3. the 5xx share of the request rate
    res = at('sum(rate(http_server_duration_seconds_count{http_status_code=~"5.."}[5m]))'
             ' / sum(rate(http_server_duration_seconds_count[5m]))')
    assert len(res) == 1, res
    ratio = float(res[0]["value"][1])
    mine = sum(r for lab, r in series if lab["http_status_code"].startswith("5")) / \
        sum(r for _, r in series)
    assert math.isclose(ratio, mine, rel_tol=1e-6), (ratio, mine)
    errors = sum(n for (_, status), n in later.items() if status >= 500)
    total = sum(later.values())
    assert errors > 0 and errors / total / stretch <= ratio <= errors * stretch / total, \
        f"5xx ratio {ratio:.4f}, sent {errors}/{total} (stretch at most {stretch:.3f})"


# --------------------------------------------------------------------------
# Traces, and the lab's TraceQL as predicates.
# --------------------------------------------------------------------------

def check_traces(rx, sent, pg_port):
    users_ok = sum(1 for (svc, _, _, st, _, _) in sent if svc == "user" and st == 200)
    users_404 = sum(1 for (svc, _, _, st, _, _) in sent if svc == "user" and st == 404)
    point_direct = [(m, st) for (svc, m, _, st, _, _) in sent if svc == "point"]

    def wanted():
        spans = rx.spans()
        servers = [s for s in spans if s["kind"] == SERVER_KIND]
        return len(servers) >= len(sent) + users_ok and spans
    spans = rx.wait(wanted, 15, f"{len(sent) + users_ok} server spans")
    by_id = {s["span_id"]: s for s in spans}
    svc = lambda s: s["resource"].get("service.name")  # noqa: E731

    user_servers = [s for s in spans if svc(s) == "user-service" and s["kind"] == SERVER_KIND]
    assert len(user_servers) == users_ok + users_404, \
        [(s["name"], s["attributes"].get("http.status_code")) for s in user_servers]
    problems = []
    for srv in user_servers:
        a = srv["attributes"]
        kids = [s for s in spans if s["parent_span_id"] == srv["span_id"]]
        pg = [k for k in kids if k["attributes"].get("db.system.name") == "postgresql"]
        calls = [k for k in kids if k["kind"] == CLIENT_KIND and "db.system.name" not in
                 k["attributes"]]
        where = f"user request {a.get('http.target')} ({a.get('http.status_code')})"
        if len(pg) != 1 or pg[0]["trace_id"] != srv["trace_id"]:
            problems.append(f"{where}: PostgreSQL children {[(k['name'], k['trace_id']) for k in pg]}")
            continue
        p = pg[0]["attributes"]
        # Named from its Parse when Sonde saw it, else (S_1, prepared during
        # the warm-up) from the server's CommandComplete tag: no table.
        table = p.get("db.collection.name")
        if (p.get("db.operation.name"), table, p.get("server.port")) not in \
                (("SELECT", "users", pg_port), ("SELECT", None, pg_port)) or \
                pg[0]["name"] != " ".join(filter(None, ("SELECT", table))):
            problems.append(f"{where}: PostgreSQL span {pg[0]['name']!r} {p}")
        if not srv["start_ns"] <= pg[0]["start_ns"] <= pg[0]["end_ns"] <= srv["end_ns"]:
            problems.append(f"{where}: the query is not inside the request")
        if a.get("http.status_code") == 404:
            if calls:
                problems.append(f"{where}: a 404 called the point service")
            continue
        if len(calls) != 1:
            problems.append(f"{where}: HTTP client children {[k['name'] for k in calls]}")
            continue
        call = calls[0]
        callee = [s for s in spans if s["parent_span_id"] == call["span_id"]]
        if len(callee) != 1 or svc(callee[0]) != "point-service" or \
                callee[0]["kind"] != SERVER_KIND or callee[0]["trace_id"] != srv["trace_id"]:
            problems.append(f"{where}: the point service's span under the call: "
                            f"{[(svc(c), c['name']) for c in callee]}")
            continue
        my = [s for s in spans if s["parent_span_id"] == callee[0]["span_id"]]
        # mysql2 prepared this statement on its pooled connection during the
        # warm-up: its COM_STMT_EXECUTE names an id Sonde never saw prepared,
        # on a connection whose greeting it never saw (so "mysql"), and the
        # answer (a result set) names no operation: the span says only that.
        # A connection opened since gives the full name.
        if len(my) != 1 or my[0]["trace_id"] != srv["trace_id"] or \
                (my[0]["name"], my[0]["attributes"].get("db.system.name")) not in \
                (("SELECT points", "mariadb"), ("mysql", "mysql"), ("SELECT points", "mysql")):
            problems.append(f"{where}: MySQL children of the /total span: "
                            f"{[(m['name'], m['attributes']) for m in my]}")
        elif not callee[0]["start_ns"] <= my[0]["start_ns"] <= my[0]["end_ns"] <= \
                callee[0]["end_ns"] <= call["end_ns"] <= srv["end_ns"]:
            problems.append(f"{where}: spans not nested in time")
    assert not problems, "traces:\n  " + "\n  ".join(problems[:20])

    # The point service's direct requests: one MySQL child each, the failing
    # insert with the server's error.
    direct = [s for s in spans if svc(s) == "point-service" and s["kind"] == SERVER_KIND and
              s["attributes"].get("http.target") == POINTS_TARGET]
    assert Counter((s["attributes"].get("http.method"), s["attributes"].get("http.status_code"))
                   for s in direct) == Counter(point_direct), direct
    for srv in direct:
        kids = [s for s in spans if s["parent_span_id"] == srv["span_id"]]
        want = "SELECT points" if srv["attributes"]["http.method"] == "GET" else "INSERT points"
        assert [k["name"] for k in kids] == [want], (srv["attributes"], [k["name"] for k in kids])
        k = kids[0]["attributes"]
        if srv["attributes"]["http.status_code"] == 500:
            assert k.get("error.type") == "1048", k
    # no orphan: every parent id names a received span
    orphans = [s for s in spans if s["parent_span_id"] and s["parent_span_id"] not in by_id]
    assert not orphans, [(svc(s), s["name"]) for s in orphans][:5]

    # TraceQL, no Tempo: `{ resource.service.name = "user-service" }` and
    # `{ span.kind = "server" && span.http.method = "GET" }` as predicates.
    q1 = [s for s in spans if s["resource"].get("service.name") == "user-service"]
    assert len(q1) == 3 * users_ok + 2 * users_404, \
        f"{len(q1)} user-service spans: {Counter(s['name'] for s in q1)}"
    q2 = [s for s in spans if s["kind"] == SERVER_KIND and
          s["attributes"].get("http.method") == "GET"]
    gets = users_ok + users_404 + users_ok + sum(1 for m, _ in point_direct if m == "GET")
    assert len(q2) == gets, f"{len(q2)} GET server spans, {gets} GET requests served"


# --------------------------------------------------------------------------
# OTLP metric names through Prometheus' translation.
# --------------------------------------------------------------------------

def metric_descriptors(rx):
    """(name, unit, kind, monotonic) -> set of attribute-key tuples."""
    out = {}
    for req in rx.requests("metrics"):
        for rm in req["request"].get("resourceMetrics", []):
            for sm in rm.get("scopeMetrics", []):
                for m in sm.get("metrics", []):
                    kind = next(k for k in ("histogram", "sum", "gauge",
                                            "exponentialHistogram") if k in m)
                    mono = bool(m[kind].get("isMonotonic", False))
                    keys = out.setdefault((m["name"], m.get("unit", ""), kind, mono), set())
                    for p in m[kind].get("dataPoints", []):
                        keys.add(tuple(sorted(kv["key"] for kv in p.get("attributes", []))))
    return out


def check_otlp_metrics(rx, served, own, body_bytes):
    desc = metric_descriptors(rx)
    translated = {}
    for (name, unit, kind, mono), keysets in desc.items():
        prom_name = prometheus_metric_name(name, unit, kind, mono)
        labels = {prometheus_label_name(k) for ks in keysets for k in ks}
        translated.setdefault(prom_name, (name, unit, kind, set()))[3].update(labels)

    # The seed's PromQL names and labels, from what was received.
    assert "http_server_duration_seconds" in translated, sorted(translated)
    name, unit, kind, labels = translated["http_server_duration_seconds"]
    assert (name, unit, kind) == ("http.server.duration", "s", "histogram"), (name, unit, kind)
    assert {"http_target", "http_status_code", "http_method"} <= labels, labels

    # Sonde's own endpoint, in the same naming, has the same families under
    # the same label names (bar the resource's service_name, which a
    # collector's Prometheus turns into job/instance).
    for prom_name, (name, unit, kind, labels) in translated.items():
        family = prom_name + ("_count" if kind == "histogram" else "")
        assert family in own.names(), f"OTLP {name} ({unit}, {kind}) -> {prom_name}: " \
            f"not on Sonde's endpoint ({sorted(own.names())[:40]})"
        own_labels = {k for (_, lab, _) in own.select(family) for k in lab} - {"service_name",
                                                                              "le"}
        assert labels - {"service_name"} == own_labels - {"service_name"}, \
            f"{prom_name}: OTLP labels {sorted(labels)}, endpoint labels {sorted(own_labels)}"

    # Counts: the legacy HTTP histogram and the database one.
    latest = {}
    for p in rx.points("http.server.duration"):
        a = p["attributes"]
        latest[(p["resource"].get("service.name"), a.get("http.method"), a.get("http.target"),
                a.get("http.status_code"))] = p["count"]
    want = Counter((s, m, t, st) for (s, m, t, st, _) in served)
    assert latest == dict(want), f"http.server.duration counts {latest}, served {dict(want)}"
    db = {}
    for p in rx.points("db.client.operation.duration"):
        a = p["attributes"]
        db[(a.get("db.system.name"), a.get("db.operation.name"), a.get("db.collection.name"),
            a.get("error.type", ""))] = p["count"]
    assert "db_client_operation_duration_seconds" in translated
    users = sum(1 for (s, _, _, _, _) in served if s == "user-service")
    point = sum(1 for (s, _, _, _, _) in served if s == "point-service")
    pg = sum(n for (system, *_), n in db.items() if system == "postgresql")
    my = sum(n for (system, *_), n in db.items() if system in ("mysql", "mariadb"))
    assert pg == users, f"PostgreSQL operations {db}, user requests {users}"
    assert my == point, f"MySQL operations {db}, point service requests {point}"
    inserts = sum(n for (system, op, table, _), n in db.items()
                  if system in ("mysql", "mariadb") and (op, table) == ("INSERT", "points"))
    assert inserts == sum(1 for (s, m, _, _, _) in served if s == "point-service" and m == "POST")
    failed = sum(n for (system, _, _, err), n in db.items() if system != "postgresql" and err)
    assert failed == sum(1 for (s, _, _, st, _) in served if s == "point-service" and st == 500)

    # The network flow metric: loopback flows, CIDR 0.0.0.0/0, in bytes, and
    # at least the response bodies the test read over loopback TCP.
    assert "sonde_network_flow_bytes_total" in translated, sorted(translated)
    flows = {}
    for p in rx.number_points("sonde.network.flow.bytes"):
        assert p["monotonic"] and p["unit"] == "By" and p["kind"] == "sum", p
        flows[tuple(sorted(p["attributes"].items()))] = p["value"]
    assert flows and all({k for k, _ in key} == {"src.address", "dst.address", "direction",
                                                 "transport", "src.cidr", "dst.cidr"}
                         for key in flows), list(flows)[:3]
    local = {dict(k)["direction"]: v for k, v in flows.items()
             if (dict(k)["src.address"], dict(k)["dst.address"], dict(k)["transport"]) ==
             ("127.0.0.1", "127.0.0.1", "tcp")}
    assert set(local) == {"egress", "ingress"}, list(flows)[:5]
    assert all(dict(k)["src.cidr"] == "0.0.0.0/0" == dict(k)["dst.cidr"] for k in flows
               if dict(k)["src.address"] == "127.0.0.1"), list(flows)[:5]
    assert min(local.values()) >= body_bytes, f"loopback TCP bytes {local}, test read " \
        f"{body_bytes} bytes of response bodies"
