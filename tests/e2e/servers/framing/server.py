"""A raw-socket HTTP/1.x server whose framing the tests choose, to exercise
what the kernel side must get right: Content-Length, chunked bodies sent
in many writes, HTTP/1.0 close-delimited bodies, pipelined requests
answered in order, 100-continue, and a response head split over writes.

Usage: server.py PORT. One thread per connection; keep-alive unless the
request or the chosen framing says otherwise.
"""
import socket
import sys
import threading
import time


def read_request(conn, buf):
    """One request from buf+socket: (method, target, version, headers, body, rest) or None."""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
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
    if headers.get("expect", "").lower() == "100-continue":
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        data = conn.recv(65536)
        if not data:
            return None
        rest += data
    return method, target, version, headers, rest[:length], rest[length:]


def respond(conn, method, target, version, body_in):
    """Send the response the path asks for; return False to close."""
    path = target.split("?", 1)[0]
    body = f"{method} {path} {len(body_in)}\n".encode()
    if path.startswith("/chunked"):
        # head, then each chunk in its own write, then the terminator alone
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: text/plain\r\n\r\n")
        for part in (body, b"x" * 1000, b"end\n"):
            conn.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            time.sleep(0.01)
        conn.sendall(b"0\r\n\r\n")
        return True
    if path.startswith("/close"):
        # HTTP/1.0 style: no length, the close ends the body
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        time.sleep(0.01)
        conn.sendall(body + b"y" * 3000)
        return False
    if path.startswith("/splithead"):
        # the status line and the headers in separate writes
        conn.sendall(b"HTTP/1.1 201 Created\r\n")
        time.sleep(0.01)
        conn.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return True
    status = 404 if path.startswith("/missing") else 200
    reason = b"Not Found" if status == 404 else b"OK"
    conn.sendall(b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\n\r\n%s"
                 % (status, reason, len(body), body if method != "HEAD" else b""))
    return version != "HTTP/1.0"


def serve(conn):
    buf = b""
    try:
        while True:
            req = read_request(conn, buf)
            if req is None:
                return
            method, target, version, headers, body, buf = req
            if not respond(conn, method, target, version, body):
                return
            if headers.get("connection", "").lower() == "close":
                return
    except (ConnectionError, ValueError):
        return
    finally:
        conn.close()


def main():
    port = int(sys.argv[1])
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(64)
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
