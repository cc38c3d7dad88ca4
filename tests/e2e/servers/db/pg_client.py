#!/usr/bin/python3
"""PostgreSQL client for tests/e2e/test_db.py (psycopg2: libpq, simple query
protocol). Waits for "go" on stdin, then runs its queries on ONE connection
(a pooled connection's life) and prints what it sent as JSON: one entry per
query with the operation, table and the error code the server gave."""
import json
import sys

import psycopg2

port, db, tag = int(sys.argv[1]), sys.argv[2], sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 5
print("ready", flush=True)
sys.stdin.readline()
sent = []
# sslmode=prefer (libpq's default): an SSLRequest first; the server has no
# TLS, answers 'N', and the connection goes on in clear.
conn = psycopg2.connect(host="127.0.0.1", port=port, dbname=db, user="postgres",
                        sslmode="prefer")
conn.autocommit = True
cur = conn.cursor()
table = f"py_{tag}"


def run(op, tbl, sql, args=None):
    err = None
    try:
        cur.execute(sql, args)
        if cur.description:
            cur.fetchall()
    except psycopg2.Error as e:
        err = e.pgcode
    sent.append({"op": op, "table": tbl, "error": err})


run("CREATE", table, f"CREATE TABLE {table} (id integer, name text)")
for i in range(n):
    run("INSERT", table, f"INSERT INTO {table} (id, name) VALUES (%s, %s)", (i, f"secret-{i}"))
run("SELECT", table, f"SELECT name FROM {table} WHERE id = %s", (1,))
run("UPDATE", table, f"UPDATE {table} SET name = 'x' WHERE id = 2")
run("SELECT", f"missing_{tag}", f"SELECT * FROM missing_{tag}")
run("DELETE", table, f"DELETE FROM {table} WHERE id > 100")
conn.close()
print(json.dumps({"sent": sent}), flush=True)
