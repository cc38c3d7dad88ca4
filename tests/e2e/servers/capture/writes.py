"""A raw-socket HTTP/1.1 server (TCP_NODELAY, keep-alive, a thread per
connection) that writes each response in the pieces the request asks for,
one send(2) per piece, with a short pause between pieces. Responses are
those of httpraw.py (?status=, ?size=); the cut is chosen by:

  ?lines=1           one send per head line (with its CRLF), the blank line
                     alone, then the body alone
  ?each=head         one byte per send for the head, then the body in one send
  ?each=all          one byte per send for the whole response
  ?at=T1,T2,...      cut the whole response before each offset Ti: an integer
                     (from the start) or ANCHOR, ANCHOR+N, ANCHOR-N with ANCHOR
                     one of code (the status code's first digit), sl (the CR
                     ending the status line), cl (the "C" of Content-Length),
                     eoh (the first body byte, just after the blank line), end
  (none)             the whole response in one send
  ?gap_us=N          pause between pieces (default 300)

Usage: writes.py PORT
"""
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import httpraw  # noqa: E402


def anchors(resp, head_len):
    return {"code": resp.index(b" ") + 1, "sl": resp.index(b"\r\n"),
            "cl": resp.index(b"Content-Length"), "eoh": head_len, "end": len(resp)}


def offset(tok, marks):
    if re.fullmatch(r"\d+", tok):
        return int(tok)
    m = re.fullmatch(r"([a-z]+)([+-]\d+)?", tok)
    if not m or m.group(1) not in marks:
        raise ValueError(f"bad cut {tok!r}")
    return marks[m.group(1)] + int(m.group(2) or 0)


def pieces(method, target, body_in):
    q = httpraw.query(target)
    _, lines, body = httpraw.response_parts(method, target, body_in)
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    resp = head + body
    if q.get("lines"):
        return [(line + "\r\n").encode("latin-1") for line in lines] + [b"\r\n", body]
    if q.get("each") == "head":
        return [head[i:i + 1] for i in range(len(head))] + [body]
    if q.get("each") == "all":
        return [resp[i:i + 1] for i in range(len(resp))]
    if q.get("at"):
        marks = anchors(resp, len(head))
        cuts = sorted({offset(t, marks) for t in q["at"].split(",")})
        if not all(0 < c < len(resp) for c in cuts):
            raise ValueError(f"cuts {cuts} outside 1..{len(resp) - 1}")
        bounds = [0] + cuts + [len(resp)]
        return [resp[a:b] for a, b in zip(bounds, bounds[1:])]
    return [resp]


def serve(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    try:
        while True:
            req = httpraw.read_request(lambda: conn.recv(65536), buf)
            if req is None:
                return
            method, target, version, headers, body, buf = req
            gap = int(httpraw.query(target).get("gap_us", "300")) / 1e6
            parts = pieces(method, target, body)
            for i, part in enumerate(parts):
                if i:
                    time.sleep(gap)
                conn.sendall(part)
            if headers.get("connection", "").lower() == "close":
                return
    except (ConnectionError, ValueError) as exc:
        print(f"connection dropped: {exc!r}", flush=True)
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
