#!/usr/bin/python3
"""MySQL/MariaDB client for tests/e2e/test_db.py (PyMySQL: COM_QUERY, client-side
parameters). Waits for "go" on stdin, runs its queries on one connection and
prints what it sent as JSON (operation, table, error number)."""
import json
import sys

import pymysql

port, db, tag = int(sys.argv[1]), sys.argv[2], sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 5
print("ready", flush=True)
sys.stdin.readline()
sent = []
conn = pymysql.connect(host="127.0.0.1", port=port, user="root", password="", database=db,
                       autocommit=True)
cur = conn.cursor()
table = f"py_{tag}"


def run(op, tbl, sql, args=None):
    err = None
    try:
        cur.execute(sql, args)
        cur.fetchall()
    except pymysql.MySQLError as e:
        err = str(e.args[0])
    sent.append({"op": op, "table": tbl, "error": err})


run("CREATE", table, f"CREATE TABLE {table} (id integer, name varchar(64))")
for i in range(n):
    run("INSERT", table, f"INSERT INTO {table} (id, name) VALUES (%s, %s)", (i, f"secret-{i}"))
run("SELECT", table, f"SELECT name FROM {table} WHERE id = %s", (1,))
run("SELECT", f"missing_{tag}", f"SELECT * FROM missing_{tag}")
run("UPDATE", table, f"UPDATE {table} SET name = 'x' WHERE id = 2")
conn.close()
print(json.dumps({"sent": sent}), flush=True)
