#!/usr/bin/python3
"""Front service of the client-span chain (Flask, Werkzeug's threaded server:
one thread per connection). Every downstream call is made WHILE the request
is being handled, from the handling thread, through keep-alive urllib3 pools.

Usage: /usr/bin/python3 front.py PORT
Environment: MIDDLE_PORT (Express middle), BACK_PORT (Java back),
MIDDLE_HOST (Host header name used for the middle, default middle.sonde-e2e),
OTEL_SERVICE_NAME (read by Sonde from /proc/PID/environ).

Endpoints (all GET):
  /front/<id>[?delay=..&post=N&hold_ms=M]
                                 -> GET (or POST N bytes) middle /middle/<id>?<same query>,
                                    then sleeps M ms before answering
                                    response: JSON {"down_status", "down_bytes", "local_port"}
  /pool/<id>?n=10                -> n sequential GETs on ONE pooled connection to the back:
                                    /pool-item/<id>/<i>?status=<STATUSES[i % len]>
                                    response: JSON {"ports": [...], "statuses": [...]}
  /refused/<id>?port=P           -> one GET to 127.0.0.1:P (nothing listens there),
                                    no retries; answers 502 with the error
  /self/<id>                     -> GET its own /leaf/<id> (a call to itself)
  /leaf/<id>                     -> 200 "leaf <id>"
  /chunked/<id>                  -> GET middle /chunked/<id> (chunked, ~200 ms)
  /after/<id>                    -> 200; then, in the same thread after the response
                                    is sent, GET back /back/after-<id>
Responses other than 200 say what went wrong in the body.
"""
import json
import os
import sys
import time

import urllib3
from flask import Flask, Response, request

app = Flask(__name__)

MIDDLE_PORT = int(os.environ.get("MIDDLE_PORT", "0"))
BACK_PORT = int(os.environ.get("BACK_PORT", "0"))
MIDDLE_HOST = os.environ.get("MIDDLE_HOST", "middle.sonde-e2e")
POOL_STATUSES = [200, 201, 404, 202, 500, 200, 503, 203, 410, 200]

# One shared keep-alive pool per downstream, used by every handler thread:
# a connection carries requests of different threads (and traces) over time.
_middle_pool = urllib3.HTTPConnectionPool("127.0.0.1", MIDDLE_PORT or 1, maxsize=8,
                                          block=False, retries=False, timeout=30)


def _json(obj, status=200):
    return Response(json.dumps(obj) + "\n", status=status, mimetype="application/json")


def _call(pool, method, url, body=None, headers=None):
    """One request on `pool`; returns (status, body bytes, local port)."""
    resp = pool.urlopen(method, url, body=body, headers=headers, preload_content=False,
                        release_conn=False, retries=False, redirect=False)
    try:
        local_port = resp._connection.sock.getsockname()[1] if resp._connection else 0
    except (AttributeError, OSError):
        local_port = 0
    data = resp.read()
    resp.release_conn()
    return resp.status, data, local_port


@app.route("/front/<rid>")
def front(rid):
    qs = request.query_string.decode()
    url = f"/middle/{rid}" + (f"?{qs}" if qs else "")
    headers = {"Host": f"{MIDDLE_HOST}:{MIDDLE_PORT}"}
    post = int(request.args.get("post", "0"))
    try:
        if post:
            body = (b"front-to-middle-" * (post // 16 + 1))[:post]
            headers["Content-Type"] = "application/octet-stream"
            status, data, lport = _call(_middle_pool, "POST", url, body=body, headers=headers)
        else:
            status, data, lport = _call(_middle_pool, "GET", url, headers=headers)
    except Exception as exc:  # noqa: BLE001 - reported to the test
        return _json({"error": repr(exc)}, status=502)
    hold = float(request.args.get("hold_ms", "0")) / 1000
    if hold > 0:  # keep handling the request after the downstream call
        time.sleep(hold)
    return _json({"down_status": status, "down_bytes": len(data), "local_port": lport,
                  "down_body": data.decode("utf-8", "replace")})


@app.route("/pool/<rid>")
def pool(rid):
    n = int(request.args.get("n", "10"))
    # A pool of exactly one connection, kept alive across the n calls.
    one = urllib3.HTTPConnectionPool("127.0.0.1", BACK_PORT, maxsize=1, block=True,
                                     retries=False, timeout=30)
    ports, statuses, sizes = [], [], []
    try:
        for i in range(n):
            want = POOL_STATUSES[i % len(POOL_STATUSES)]
            status, data, lport = _call(one, "GET", f"/pool-item/{rid}/{i}?status={want}")
            ports.append(lport)
            statuses.append(status)
            sizes.append(len(data))
    except Exception as exc:  # noqa: BLE001
        return _json({"error": repr(exc), "ports": ports, "statuses": statuses}, status=502)
    finally:
        one.close()
    return _json({"ports": ports, "statuses": statuses, "sizes": sizes,
                  "want": [POOL_STATUSES[i % len(POOL_STATUSES)] for i in range(n)]})


@app.route("/refused/<rid>")
def refused(rid):
    port = int(request.args["port"])
    target = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1, retries=False, timeout=5)
    try:
        status, _, _ = _call(target, "GET", f"/never/{rid}")
    except Exception as exc:  # noqa: BLE001 - the expected path
        return _json({"error": type(exc).__name__, "detail": str(exc)}, status=502)
    finally:
        target.close()
    return _json({"unexpected_status": status}, status=500)


_self_pool = None
_back_pool = urllib3.HTTPConnectionPool("127.0.0.1", BACK_PORT or 1, maxsize=4, block=False,
                                        retries=False, timeout=30)


@app.route("/self/<rid>")
def self_call(rid):
    """The front calls itself (/leaf/<rid>) while handling the request."""
    status, data, _ = _call(_self_pool, "GET", f"/leaf/{rid}")
    return _json({"down_status": status, "down_bytes": len(data)})


@app.route("/leaf/<rid>")
def leaf(rid):
    return Response(f"leaf {rid}\n", mimetype="text/plain")


@app.route("/after/<rid>")
def after(rid):
    """Answers, then -- in the same thread, once the response is sent
    (Werkzeug's call_on_close) -- calls the back's /back/after-<rid>."""
    resp = Response(f"after {rid}\n", mimetype="text/plain")

    def later():
        try:
            _call(_back_pool, "GET", f"/back/after-{rid}")
        except Exception:  # noqa: BLE001
            pass
    resp.call_on_close(later)
    return resp


@app.route("/chunked/<rid>")
def chunked(rid):
    """GET the middle's /chunked/<rid> (a chunked response, ~200 ms)."""
    status, data, lport = _call(_middle_pool, "GET", f"/chunked/{rid}",
                                headers={"Host": f"{MIDDLE_HOST}:{MIDDLE_PORT}"})
    return _json({"down_status": status, "down_bytes": len(data), "local_port": lport})


def main():
    global _self_pool
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8080"))
    _self_pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=4, block=False,
                                            retries=False, timeout=30)
    app.run(host="127.0.0.1", port=port, threaded=True, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
