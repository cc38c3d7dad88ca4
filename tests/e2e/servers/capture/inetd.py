"""An inetd-style server (like inetd, or systemd's Accept=yes): the parent
listens on 127.0.0.1:PORT and, for each accepted connection, forks a child
that dup2()s the connection onto descriptors 0 and 1, closes the original
descriptor (and the listening socket), then exec()s handler.py, which reads
the request on fd 0 and writes the response on fd 1 (keep-alive: several
requests per connection).

Usage: inetd.py PORT
"""
import os
import signal
import socket
import sys

HANDLER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "handler.py")


def main():
    port = int(sys.argv[1])
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reaped by the kernel
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(64)
    while True:
        conn, _ = ls.accept()
        pid = os.fork()
        if pid == 0:
            try:
                ls.close()
                fd = conn.detach()
                os.dup2(fd, 0)
                os.dup2(fd, 1)
                os.close(fd)
                os.execv(sys.executable, [sys.executable, HANDLER])
            finally:
                os._exit(127)
        conn.close()


if __name__ == "__main__":
    main()
