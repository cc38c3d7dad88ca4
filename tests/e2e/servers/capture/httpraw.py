"""The HTTP/1.1 the capture servers share: read one request from a byte
stream, build the response the target asks for, serve a keep-alive
connection. Every server here answers the same way:

  any method, any path   -> 200, body "<METHOD> <path> <request body bytes> pid=<pid>\n",
                            with Content-Length; keep-alive unless the request
                            says Connection: close or is HTTP/1.0
  ?status=NNN            -> that status (same body)
  ?size=N                -> a body of exactly N bytes (the first N of a fixed pattern)

`recv()` returns bytes (b"" at end of stream) and `send(data)` writes them
all: each server chooses the syscalls (recv/send on a socket, read/write on
a plain descriptor) and, for writes.py, how the response is cut.
"""
import os
import urllib.parse

REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
           400: "Bad Request", 404: "Not Found", 500: "Internal Server Error",
           503: "Service Unavailable"}
PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyz" * 8


def read_request(recv, buf):
    """One request: (method, target, version, headers, body, rest) or None at
    end of stream before a complete request."""
    while b"\r\n\r\n" not in buf:
        data = recv()
        if not data:
            return None
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        data = recv()
        if not data:
            return None
        rest += data
    return method, target, version, headers, rest[:length], rest[length:]


def query(target):
    return dict(urllib.parse.parse_qsl(target.partition("?")[2]))


def response_parts(method, target, body_in, extra_headers=()):
    """(status, head lines without CRLF, body) for the request."""
    path = target.split("?", 1)[0]
    q = query(target)
    status = int(q.get("status", "200"))
    if "size" in q:
        body = PATTERN[:int(q["size"])]
    else:
        body = f"{method} {path} {len(body_in)} pid={os.getpid()}\n".encode()
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Whatever')}",
             "Content-Type: text/plain",
             f"Content-Length: {len(body)}",
             f"X-Served-By: {os.getpid()}"]
    lines += list(extra_headers)
    return status, lines, body


def whole_response(method, target, body_in):
    _, lines, body = response_parts(method, target, body_in)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def serve(recv, send):
    """Serve requests until the peer closes or asks to close."""
    buf = b""
    while True:
        req = read_request(recv, buf)
        if req is None:
            return
        method, target, version, headers, body, buf = req
        send(whole_response(method, target, body))
        if version == "HTTP/1.0" or headers.get("connection", "").lower() == "close":
            return
