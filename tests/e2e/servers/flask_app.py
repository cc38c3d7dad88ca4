#!/usr/bin/python3
"""Flask sample server for Sonde's end-to-end tests.

Usage: /usr/bin/python3 flask_app.py PORT   (or PORT in the environment)

Every sample server behaves the same way (see tests/e2e/servers/README.md):
any method on any path; ``?status=NNN`` sets the response status;
``?delay=200ms`` (Go duration syntax) sleeps before responding; the request
body is always read in full; the response body is
``"<status> <METHOD> <path> <request body bytes>\\n"`` with a Content-Length.
"""
import os
import re
import sys
import time

from flask import Flask, Response, request

app = Flask(__name__)

_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3,
          "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


def parse_duration(text):
    """Seconds from a Go duration string such as 200ms, 1s, 1m30s, 1.5s."""
    if text in ("0", ""):
        return 0.0
    pos, total = 0, 0.0
    while pos < len(text):
        m = _PART.match(text, pos)
        if not m:
            raise ValueError("bad duration %r" % text)
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total


def precise_sleep(seconds):
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(left)


@app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def handle(path):
    body = request.get_data(cache=False)
    try:
        status = int(request.args.get("status", "200"))
        delay = parse_duration(request.args.get("delay", "0"))
    except ValueError as exc:
        return Response("bad query: %s\n" % exc, status=400, mimetype="text/plain")
    if delay > 0:
        precise_sleep(delay)
    text = "%d %s %s %d\n" % (status, request.method, request.path, len(body))
    return Response(text, status=status, mimetype="text/plain")


def main():
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8080"))
    host = os.environ.get("HOST", "127.0.0.1")
    # threaded=True: one thread per connection, HTTP/1.1 keep-alive.
    app.run(host=host, port=port, threaded=True, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
