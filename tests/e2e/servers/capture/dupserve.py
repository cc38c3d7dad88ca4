"""A server that serves each connection on a dup() of the accepted
descriptor: accept, dup(), close the original, then serve (keep-alive, a
thread per connection) on the duplicate. With several connections open, a
new accept reuses the number just closed while the older duplicate is
still in use.

Usage: dupserve.py PORT
"""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import httpraw  # noqa: E402


def serve(conn):
    try:
        httpraw.serve(lambda: conn.recv(65536), conn.sendall)
    except (ConnectionError, ValueError):
        pass
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
        fd = os.dup(conn.fileno())
        accepted = conn.fileno()
        conn.close()
        print(f"accepted fd {accepted} served on fd {fd}", flush=True)
        threading.Thread(target=serve, args=(socket.socket(fileno=fd),), daemon=True).start()


if __name__ == "__main__":
    main()
