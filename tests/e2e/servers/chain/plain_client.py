#!/usr/bin/python3
"""A plain HTTP client process (no server socket) for the client-span tests.

Usage: /usr/bin/python3 plain_client.py PORT TAG N [--pre | --pipeline]
With --pre, first sends GET /plain/TAG/pre on its keep-alive session and
prints "pre <local port>" (that connection then predates Sonde). Waits for
one line on stdin (so that Sonde can select it by pid first), then sends N
GET requests to 127.0.0.1:PORT: the first half on one keep-alive
requests.Session, the rest each on a new connection (http.client). Request i
is GET /plain/TAG/i?status=S_i. Prints one JSON object on stdout:
{"calls": [{"path", "status", "local_port"}, ...]} and exits.
With --pipeline, the N requests (GET /pipe/TAG/i?status=S_i) are written at
once on one connection and the N responses read afterwards.
"""
import http.client
import json
import socket
import sys

import requests

STATUSES = [200, 404, 201, 500, 200, 202]


def read_response(f):
    """One HTTP/1.1 response with a Content-Length from the file f."""
    status = int(f.readline().split()[1])
    length = 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    f.read(length)
    return status


def pipeline(port, tag, n):
    """n requests written at once on one connection (HTTP/1.1 pipelining),
    then the n responses read in order."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    local = sock.getsockname()[1]
    paths = [f"/pipe/{tag}/{i}" for i in range(n)]
    wants = [STATUSES[i % len(STATUSES)] for i in range(n)]
    sock.sendall(b"".join(f"GET {p}?status={w} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
                          .encode() for p, w in zip(paths, wants)))
    f = sock.makefile("rb")
    calls = [{"path": p, "status": read_response(f), "local_port": local} for p in paths]
    sock.close()
    return calls


def main():
    port, tag, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    if "--pipeline" in sys.argv[4:]:
        sys.stdin.readline()
        print(json.dumps({"calls": pipeline(port, tag, n)}), flush=True)
        return
    session = requests.Session()
    if "--pre" in sys.argv[4:]:
        r = session.get(f"http://127.0.0.1:{port}/plain/{tag}/pre", stream=True, timeout=30)
        local = r.raw._fp.fp.raw._sock.getsockname()[1]
        r.content
        print(f"pre {local}", flush=True)
    sys.stdin.readline()
    calls = []
    for i in range(n):
        want = STATUSES[i % len(STATUSES)]
        path = f"/plain/{tag}/{i}"
        if i < n // 2:
            r = session.get(f"http://127.0.0.1:{port}{path}?status={want}", stream=True,
                            timeout=30)
            local = r.raw._fp.fp.raw._sock.getsockname()[1]
            r.content  # read the body
            calls.append({"path": path, "status": r.status_code, "local_port": local})
        else:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.connect()
            local = conn.sock.getsockname()[1]
            conn.request("GET", f"{path}?status={want}")
            resp = conn.getresponse()
            resp.read()
            conn.close()
            calls.append({"path": path, "status": resp.status, "local_port": local})
    session.close()
    print(json.dumps({"calls": calls}), flush=True)


if __name__ == "__main__":
    main()
