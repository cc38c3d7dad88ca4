"""A client making the connections test_connect_failures.py expects, one per
line read from stdin, answering each with one line: "done <what>".

  refused PORT     blocking connect to a closed port on 127.0.0.1
  gave-up PORT MS  non-blocking connect to 127.0.0.1:PORT with no answer,
                   closed after MS ms
  timed-out PORT   non-blocking connect the kernel gives up on; the outcome
                   read with getsockopt(SO_ERROR), as runtimes do
  get PORT PATH    an HTTP/1.1 GET to 127.0.0.1 (http.client)
  recheck PORT PATH  non-blocking connect, wait, connect() twice more to check
                   (0, then EISCONN: connected, as HAProxy and Ruby check), then a GET
"""
import errno
import http.client
import select
import socket
import sys


def refused(port):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", int(port)))
        return "connected?"
    except ConnectionRefusedError:
        return "refused"
    finally:
        s.close()


def pending(port):
    """A non-blocking connect to 127.0.0.1:PORT: (socket, None), or (None, why)
    when it did not say EINPROGRESS."""
    s = socket.socket()
    s.setblocking(False)
    rc = s.connect_ex(("127.0.0.1", int(port)))
    if rc != errno.EINPROGRESS:
        s.close()
        return None, f"connect_ex {rc}"
    return s, None


def gave_up(port, ms):
    s, why = pending(port)
    if not s:
        return why
    try:
        _, w, _ = select.select([], [s], [], int(ms) / 1000)
        return "answered?" if w else "gave-up"
    finally:
        s.close()


def timed_out(port):
    s, why = pending(port)
    if not s:
        return why
    try:
        _, w, _ = select.select([], [s], [], 30)
        if not w:
            return "no-outcome"
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        return f"so_error {errno.errorcode.get(err, err)}"
    finally:
        s.close()


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        return f"status {r.status}"
    except OSError as e:
        return f"error {e.__class__.__name__}"
    finally:
        c.close()


def recheck(port, path):
    s, why = pending(port)
    if not s:
        return why
    try:
        select.select([], [s], [], 5)
        # Linux answers the first check with 0 (now connected), any later
        # one with EISCONN.
        for want in (0, errno.EISCONN):
            rc = s.connect_ex(("127.0.0.1", int(port)))
            if rc != want:
                return f"connect_ex {errno.errorcode.get(rc, rc)}, not {want}"
        s.setblocking(True)
        s.settimeout(5)
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return "status " + data.split(b" ", 2)[1].decode()
    finally:
        s.close()


def main():
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd, args = words[0], words[1:]
        fn = {"refused": refused, "gave-up": gave_up, "timed-out": timed_out, "get": get,
              "recheck": recheck}[cmd]
        print(f"done {fn(*args)}", flush=True)


if __name__ == "__main__":
    main()
