#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Record the database golden files in tests/golden/db/ from real servers.

Usage (from the repository root, as root):  /usr/bin/python3 tests/golden/record_db.py

A PostgreSQL cluster and a MariaDB server are started in temporary
directories on loopback (as tests/e2e/test_db.py does); the e2e clients
(tests/e2e/servers/db: psycopg2, node-postgres, Perl DBD::Pg, PyMySQL,
mysql2) talk to them through a recording proxy. Each connection's bytes are
saved as they came, in order: records of one byte 'C' (client to server)
or 'S' (server to client), a 4-byte big-endian length, the bytes
(<name>.bin); what the client says it sent (one line per query:
operation, table, error code or '-') in <name>.expect. The unit tests
(tests/unit/test_db_decode.c) cut the records into transactions as the
kernel does and check the decoders give the expected spans.

Needs: postgresql, mariadb-server, python3-psycopg2, python3-pymysql,
libdbd-pg-perl, node with tests/e2e/servers/db/node_modules installed.
"""
import glob
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "db")
CLIENTS = os.path.join(HERE, "..", "e2e", "servers", "db")
DB = "sonde_e2e"
TAG = "golden"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"port {port} never opened")


class Recorder:
    """One-connection proxy: listens on a free port, forwards to @upstream,
    records every chunk with its direction."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.records = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _pump(self, src, dst, tag):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            with self.lock:
                self.records.append((tag, data))
            dst.sendall(data)

    def _serve(self):
        c, _ = self.sock.accept()
        u = socket.create_connection(("127.0.0.1", self.upstream))
        a = threading.Thread(target=self._pump, args=(c, u, b"C"))
        b = threading.Thread(target=self._pump, args=(u, c, b"S"))
        a.start()
        b.start()
        a.join()
        b.join()
        c.close()
        u.close()

    def save(self, name):
        self.thread.join(30)
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            for tag, data in self.records:
                f.write(tag + struct.pack(">I", len(data)) + data)


def run_client(cmd, port, name):
    rec = Recorder(port)
    p = subprocess.Popen([*cmd[:2], str(rec.port), DB, TAG, "3"], cwd=CLIENTS,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out, _ = p.communicate(b"go\n", timeout=120)
    assert p.returncode == 0, name
    sent = json.loads(out.decode().strip().splitlines()[-1])["sent"]
    rec.save(name)
    with open(os.path.join(OUT, name + ".expect"), "w") as f:
        for q in sent:
            f.write(f"{q['op']} {q['table']} {q['error'] or '-'}\n")
    print(f"recorded {name}: {len(rec.records)} chunks, {len(sent)} queries")


def as_user(user, cmd):
    subprocess.run(["runuser", "-u", user, "--", *map(str, cmd)], check=True, capture_output=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    pg = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
    top = tempfile.mkdtemp(prefix="sonde-rec-")
    os.chmod(top, 0o755)
    pgdir, mydir = os.path.join(top, "pg"), os.path.join(top, "my")
    os.mkdir(pgdir)
    os.mkdir(mydir)
    shutil.chown(pgdir, "postgres")
    shutil.chown(mydir, "mysql")
    pport, mport = free_port(), free_port()
    mproc = None
    try:
        as_user("postgres", [f"{pg}/initdb", "-D", f"{pgdir}/data", "-A", "trust", "-U",
                             "postgres", "--no-sync"])
        as_user("postgres", [f"{pg}/pg_ctl", "-D", f"{pgdir}/data", "-l", f"{pgdir}/log", "-w",
                             "-o", f"-p {pport} -k {pgdir} -c listen_addresses=127.0.0.1 "
                             "-c ssl=off -c fsync=off", "start"])
        import psycopg2
        c = psycopg2.connect(host="127.0.0.1", port=pport, user="postgres", dbname="postgres")
        c.autocommit = True
        c.cursor().execute(f"CREATE DATABASE {DB}")
        c.close()
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={mydir}/data",
                        "--user=mysql", "--skip-test-db"], check=True, capture_output=True)
        mproc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={mydir}/data", f"--socket={mydir}/sock",
             f"--port={mport}", "--bind-address=127.0.0.1", "--user=mysql", "--skip-grant-tables",
             "--skip-name-resolve", "--skip-log-bin", "--skip-ssl",
             "--innodb-buffer-pool-size=16M", f"--log-error={mydir}/error.log"])
        wait_port(mport)
        import pymysql
        c = pymysql.connect(host="127.0.0.1", port=mport, user="root", password="")
        c.cursor().execute(f"CREATE DATABASE {DB}")
        c.close()
        py = sys.executable
        run_client([py, "pg_client.py"], pport, "pg_psycopg2")
        run_client(["node", "pg_client.js"], pport, "pg_node")
        run_client(["perl", "pg_client.pl"], pport, "pg_perl")
        run_client([py, "my_client.py"], mport, "mariadb_pymysql")
        run_client(["node", "my_client.js"], mport, "mariadb_mysql2")
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", f"{pg}/pg_ctl", "-D",
                        f"{pgdir}/data", "-m", "immediate", "stop"], capture_output=True)
        if mproc:
            mproc.terminate()
            mproc.wait(30)
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
