#!/usr/bin/python3
"""A plain HTTP client process (no server socket) for the client-span tests.

Usage: /usr/bin/python3 plain_client.py PORT TAG N
Waits for one line on stdin (so that Sonde can select it by pid first), then
sends N GET requests to 127.0.0.1:PORT: the first half on one keep-alive
requests.Session, the rest each on a new connection (http.client). Request i
is GET /plain/TAG/i?status=S_i. Prints one JSON object on stdout:
{"calls": [{"path", "status", "local_port"}, ...]} and exits.
"""
import http.client
import json
import sys

import requests

STATUSES = [200, 404, 201, 500, 200, 202]


def main():
    port, tag, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    sys.stdin.readline()
    calls = []
    session = requests.Session()
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
