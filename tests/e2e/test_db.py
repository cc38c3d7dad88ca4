"""Database client spans and metrics (issue 11, part 2): real PostgreSQL and
MariaDB servers started here in temporary directories on loopback, clients
in three languages (Python, Node.js, Perl) selected by pid, TLS-less
connections. Every client runs its queries on one connection (a pooled
connection's life), simple and prepared, and one that fails; it reports
what it sent, and the spans (JSON printer) and the Prometheus histogram
must say the same: one span per query, the right operation, table,
database, server and error."""
import glob
import json
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from conftest import (PYTHON, SERVERS_DIR, _register, free_port, kill_process_group, port_accepts,
                      wait_until)

DB_DIR = SERVERS_DIR / "db"
DB_NAME = "sonde_e2e"
SPAN_WAIT = 20


def _pg_bin():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return Path(dirs[-1]) if dirs else None


def _have_user(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _as(user, cmd, **kw):
    return subprocess.run(["runuser", "-u", user, "--", *map(str, cmd)], check=True,
                          capture_output=True, timeout=120, **kw)


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL cluster of its own (trust auth, no TLS) on 127.0.0.1."""
    pg = _pg_bin()
    if pg is None or not _have_user("postgres"):
        pytest.fail("postgresql is not installed (scripts/setup.sh installs it)")
    top = Path(tempfile.mkdtemp(prefix="sonde-pg-"))
    os.chmod(top, 0o755)
    shutil.chown(top, "postgres")
    data, port = top / "data", free_port()
    _as("postgres", [pg / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync",
                     "-E", "UTF8"])
    _as("postgres", [pg / "pg_ctl", "-D", data, "-l", top / "log", "-w", "-t", "60", "-o",
                     f"-p {port} -k {top} -c listen_addresses=127.0.0.1 -c ssl=off "
                     f"-c fsync=off", "start"])
    try:
        import psycopg2
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                                sslmode="disable")
        conn.autocommit = True
        conn.cursor().execute(f"CREATE DATABASE {DB_NAME}")
        conn.close()
        yield port
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", str(pg / "pg_ctl"), "-D", str(data),
                        "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="module")
def mariadb():
    """A MariaDB server of its own (no grant tables, no TLS) on 127.0.0.1."""
    if not shutil.which("mariadbd") or not _have_user("mysql"):
        pytest.fail("mariadb-server is not installed (scripts/setup.sh installs it)")
    top = Path(tempfile.mkdtemp(prefix="sonde-my-"))
    os.chmod(top, 0o755)
    shutil.chown(top, "mysql")
    data, port = top / "data", free_port()
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=mysql",
                    "--auth-root-authentication-method=normal", "--skip-test-db"],
                   check=True, capture_output=True, timeout=180)
    log = open(top / "server.log", "wb")
    proc = subprocess.Popen(
        ["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={top}/sock",
         f"--port={port}", "--bind-address=127.0.0.1", "--user=mysql", f"--pid-file={top}/pid",
         "--skip-grant-tables", "--skip-name-resolve", "--skip-log-bin", "--skip-ssl",
         "--innodb-buffer-pool-size=16M", f"--log-error={top}/error.log"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _register(proc)
    try:
        wait_until(lambda: port_accepts(port), 60, what="mariadbd to accept connections")
        import pymysql
        conn = pymysql.connect(host="127.0.0.1", port=port, user="root", password="")
        conn.cursor().execute(f"CREATE DATABASE {DB_NAME}")
        conn.close()
        yield port
    finally:
        kill_process_group(proc)
        log.close()
        shutil.rmtree(top, ignore_errors=True)


class DbClient:
    """A client process: started first (so Sonde can be pointed at its pid),
    runs when told, reports what it sent."""

    def __init__(self, cmd, log_dir, name):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.errf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errf, cwd=DB_DIR, start_new_session=True)
        _register(self.proc)
        line = self.proc.stdout.readline().decode()
        assert line.strip() == "ready", f"{name}: {line!r}\n{self.log_path.read_text()}"

    def go(self):
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()

    def sent(self):
        out, _ = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0, \
            f"{self.name} failed ({self.proc.returncode}):\n{self.log_path.read_text()}"
        return json.loads(out.decode().strip().splitlines()[-1])["sent"]

    def stop(self):
        kill_process_group(self.proc)
        self.errf.close()


def _run_clients(start_sonde, clients, env):
    pids = {c.proc.pid for c in clients}
    sonde = start_sonde({"SONDE_TARGET_PID": ",".join(str(p) for p in sorted(pids)),
                         "SONDE_SERVICE_NAME": "e2e-db", "SONDE_TRACE_PRINTER": "json", **env})
    for c in clients:
        sonde.wait_instrumented({c.proc.pid})
    for c in clients:
        c.go()
    sent = {c.proc.pid: c.sent() for c in clients}
    return sonde, sent


def _check_spans(sonde, sent, system, port, names):
    """The spans of each client equal what it sent: same (operation, table,
    error) multiset, and the attributes every span must have."""
    total = sum(len(v) for v in sent.values())
    pids = set(sent)

    def mine(s):
        return s.get("pid") in pids and s.get("db_system_name")

    try:
        wait_until(lambda: len([s for s in sonde.snapshot() if mine(s)]) >= total, SPAN_WAIT,
                   what=f"{total} database spans")
    except AssertionError:
        pass
    spans = [s for s in sonde.snapshot() if mine(s)]
    problems = []
    for pid, queries in sent.items():
        got = [s for s in spans if s["pid"] == pid]
        want = Counter((q["op"], q["table"], q["error"] or "") for q in queries)
        have = Counter((s["db_operation_name"], s["db_collection_name"],
                        s["db_response_status_code"]) for s in got)
        if want != have:
            problems.append(f"{names[pid]}: spans differ from the queries sent: missing "
                            f"{dict(want - have)}, unexpected {dict(have - want)}")
        for s in got:
            name = f"{s['db_operation_name']} {s['db_collection_name']}"
            checks = {
                "kind": (s.get("kind"), "client"),
                "db_system_name": (s.get("db_system_name"), system),
                "db_namespace": (s.get("db_namespace"), DB_NAME),
                "server_addr": (s.get("server_addr"), "127.0.0.1"),
                "server_port": (s.get("server_port"), port),
                "name": (s.get("name"), name),
                "service": (s.get("service"), "e2e-db"),
            }
            for key, (v, w) in checks.items():
                if v != w:
                    problems.append(f"{names[pid]} {name}: {key} {v!r}, want {w!r}")
            if s["db_response_status_code"] and not s.get("error"):
                problems.append(f"{names[pid]} {name}: failed but no error message")
            if not s["db_response_status_code"] and s.get("error"):
                problems.append(f"{names[pid]} {name}: error {s['error']!r} on success")
            if s.get("parent_span_id"):
                problems.append(f"{names[pid]} {name}: a plain client's span has a parent")
            if not 0 < s.get("duration_ns", 0) < 10 * 10**9:
                problems.append(f"{names[pid]} {name}: duration {s.get('duration_ns')}")
    if os.environ.get("DB_DEBUG"):
        print(json.dumps([{k: s.get(k) for k in ("pid", "name", "db_namespace", "db_response_status_code", "error", "db_query_text", "duration_ns")} for s in spans], indent=0))
    assert not problems, "database spans:\n  " + "\n  ".join(problems[:20])
    return spans


def _check_metrics(sonde, sent, system):
    total = sum(len(v) for v in sent.values())
    errors = Counter(q["error"] for v in sent.values() for q in v if q["error"])
    m = sonde.metrics()
    got = m.sum("db_client_operation_duration_seconds_count", db_system_name=system)
    assert got == total, f"db_client_operation_duration_seconds_count {got}, sent {total}"
    for code, n in errors.items():
        got = m.sum("db_client_operation_duration_seconds_count", db_system_name=system,
                    error_type=code)
        assert got == n, f"error_type={code}: {got} operations, {n} failed queries sent"
    sel = m.sum("db_client_operation_duration_seconds_count", db_system_name=system,
                db_operation_name="SELECT", error_type="")
    want_sel = sum(1 for v in sent.values() for q in v if q["op"] == "SELECT" and not q["error"])
    assert sel == want_sel, f"successful SELECT operations {sel}, sent {want_sel}"
    inf = m.sum("db_client_operation_duration_seconds_bucket", db_system_name=system, le="+Inf")
    assert inf == total, f"+Inf bucket {inf}, sent {total}"


def test_postgres_clients(postgres, start_sonde, tmp_path):
    """psycopg2 (simple queries), node-postgres (extended queries, a named
    prepared statement run many times) and Perl DBD::Pg (PQprepare /
    PQexecPrepared) against one PostgreSQL."""
    tag = secrets.token_hex(3)
    clients = [
        DbClient([PYTHON, "pg_client.py", str(postgres), DB_NAME, tag, "6"], tmp_path, "psycopg2"),
        DbClient(["node", "pg_client.js", str(postgres), DB_NAME, tag, "6"], tmp_path, "node-pg"),
        DbClient(["perl", "pg_client.pl", str(postgres), DB_NAME, tag, "6"], tmp_path, "dbd-pg"),
    ]
    try:
        names = {c.proc.pid: c.name for c in clients}
        sonde, sent = _run_clients(start_sonde, clients, {})
        assert all(any(q["error"] for q in v) for pid, v in sent.items()
                   if names[pid] != "dbd-pg"), f"a failing query per client expected: {sent}"
        spans = _check_spans(sonde, sent, "postgresql", postgres, names)
        failed = [s for s in spans if s["db_response_status_code"]]
        assert failed and all(s["db_response_status_code"] == "42P01" and
                              "does not exist" in s["error"] for s in failed), failed
        # the query text is off unless asked for
        assert all(s["db_query_text"] == "" for s in spans), \
            [s["db_query_text"] for s in spans if s["db_query_text"]][:3]
        _check_metrics(sonde, sent, "postgresql")
    finally:
        for c in clients:
            c.stop()


def test_mariadb_clients(mariadb, start_sonde, tmp_path):
    """PyMySQL (COM_QUERY) and mysql2 (COM_STMT_PREPARE once, COM_STMT_EXECUTE
    many times) against one MariaDB; db.query.text on, literals masked."""
    tag = secrets.token_hex(3)
    clients = [
        DbClient([PYTHON, "my_client.py", str(mariadb), DB_NAME, tag, "6"], tmp_path, "pymysql"),
        DbClient(["node", "my_client.js", str(mariadb), DB_NAME, tag, "6"], tmp_path, "mysql2"),
    ]
    try:
        names = {c.proc.pid: c.name for c in clients}
        sonde, sent = _run_clients(start_sonde, clients, {"SONDE_DB_QUERY_TEXT": "true"})
        spans = _check_spans(sonde, sent, "mariadb", mariadb, names)
        failed = [s for s in spans if s["db_response_status_code"]]
        assert failed and all(s["db_response_status_code"] == "1146" and
                              "doesn't exist" in s["error"] for s in failed), failed
        texts = [s["db_query_text"] for s in spans]
        assert all(texts), f"db.query.text asked for, missing: {texts}"
        assert not any("secret" in t for t in texts), f"literals not masked: {texts}"
        assert any("VALUES (?, ?)" in t for t in texts), texts
        assert any("WHERE id = ?" in t for t in texts), texts
        _check_metrics(sonde, sent, "mariadb")
    finally:
        for c in clients:
            c.stop()


def test_db_calls_are_children_of_the_request(postgres, mariadb, start_sonde, tmp_path):
    """An HTTP service that queries both databases while serving: each
    database span is the child of the request's server span (in-process
    parenting, as HTTP client calls). Its PostgreSQL connection was opened
    before Sonde started: found mid-stream by its bytes (no handshake seen,
    so no db.namespace)."""
    import urllib.request
    log = open(tmp_path / "db_web.log", "wb")
    web = subprocess.Popen([PYTHON, "db_web.py", str(postgres), str(mariadb), DB_NAME],
                           cwd=DB_DIR, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
    _register(web)
    try:
        line = web.stdout.readline().decode().split()
        assert line and line[0] == "ready", (tmp_path / "db_web.log").read_text()
        port = int(line[1])
        sonde = start_sonde({"SONDE_TARGET_PID": str(web.pid), "SONDE_SERVICE_NAME": "e2e-db-web",
                             "SONDE_TRACE_PRINTER": "json"})
        sonde.wait_instrumented({web.pid})
        n = 4
        for i in range(n):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/both/{i}", timeout=10) as r:
                assert r.status == 200
        wait_until(lambda: len([s for s in sonde.snapshot() if s.get("pid") == web.pid]) >= 3 * n,
                   SPAN_WAIT, what=f"{3 * n} spans of the web service")
        spans = [s for s in sonde.snapshot() if s.get("pid") == web.pid]
        servers = {s["span_id"]: s for s in spans
                   if s.get("kind") == "server" and s.get("path", "").startswith("/both/")}
        dbs = [s for s in spans if s.get("db_system_name")]
        assert len(servers) == n, [s.get("path") for s in spans]
        assert len(dbs) == 2 * n, [(s.get("name"), s.get("db_system_name")) for s in dbs]
        problems = []
        per_parent = Counter()
        for s in dbs:
            parent = servers.get(s["parent_span_id"])
            if parent is None or parent["trace_id"] != s["trace_id"]:
                problems.append(f"{s['name']} ({s['db_system_name']}): parent "
                                f"{s['parent_span_id']!r} is no request of this service")
                continue
            per_parent[(parent["path"], s["db_system_name"])] += 1
            if not parent["start_ns"] <= s["start_ns"] <= s["start_ns"] + s["duration_ns"] <= \
                    parent["start_ns"] + parent["duration_ns"]:
                problems.append(f"{s['name']} not inside {parent['path']}")
        if not problems:
            want = {(p["path"], system): 1 for p in servers.values()
                    for system in ("postgresql", "mariadb")}
            if dict(per_parent) != want:
                problems.append(f"one query per database per request expected: {dict(per_parent)}")
        pg_spans = [s for s in dbs if s["db_system_name"] == "postgresql"]
        my_spans = [s for s in dbs if s["db_system_name"] == "mariadb"]
        if {s["name"] for s in pg_spans} != {"SELECT web_items"}:
            problems.append(f"PostgreSQL span names {[s['name'] for s in pg_spans]}")
        if any(s["db_namespace"] for s in pg_spans):
            problems.append("a connection found mid-stream cannot know its database")
        if {s["name"] for s in my_spans} != {"SELECT"} or \
                any(s["db_namespace"] != DB_NAME for s in my_spans):
            problems.append(f"MariaDB spans {[(s['name'], s['db_namespace']) for s in my_spans]}")
        assert not problems, "\n  ".join(problems)
    finally:
        kill_process_group(web)
        log.close()
