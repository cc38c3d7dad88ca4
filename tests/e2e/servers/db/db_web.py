#!/usr/bin/python3
"""A small HTTP service on PostgreSQL and MariaDB for tests/e2e/test_db.py: each
GET /both/<n> runs one query on each database, on connections kept open
(pooled). The PostgreSQL connection is opened at start, before Sonde runs
(Sonde finds it mid-stream, by its bytes); the MariaDB one at the first
request. Prints "ready <port>" once listening."""
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import psycopg2
import pymysql

pg_port, my_port, db = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
pg = psycopg2.connect(host="127.0.0.1", port=pg_port, dbname=db, user="postgres",
                      sslmode="disable")
pg.autocommit = True
pg.cursor().execute("CREATE TABLE IF NOT EXISTS web_items (id integer, name text)")
my = None


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        global my
        n = int(self.path.rsplit("/", 1)[-1])
        cur = pg.cursor()
        cur.execute("SELECT name FROM web_items WHERE id = %s", (n,))
        cur.fetchall()
        if my is None:
            my = pymysql.connect(host="127.0.0.1", port=my_port, user="root", password="",
                                 database=db, autocommit=True)
        c = my.cursor()
        c.execute("SELECT %s FROM DUAL", (n,))
        c.fetchall()
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


srv = HTTPServer(("127.0.0.1", 0), Handler)
print(f"ready {srv.server_address[1]}", flush=True)
srv.serve_forever()
