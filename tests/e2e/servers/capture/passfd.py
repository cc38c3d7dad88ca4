"""A server whose parent accepts and a worker process serves: the parent
listens on 127.0.0.1:PORT; on SIGUSR1 (sent once a tracer has selected it)
it forks one worker, which closes the listening socket and waits on a Unix
socket pair. The parent sends each accepted descriptor to the worker
(SCM_RIGHTS) and closes its own copy; the worker serves the connection
(keep-alive, a thread per connection). Connections accepted before the
worker exists are closed unanswered.

Usage: passfd.py PORT. Prints "worker <pid>" on stdout once it forked it.
"""
import os
import signal
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import httpraw  # noqa: E402

state = {"ls": None, "chan": None}


def serve_fd(fd):
    conn = socket.socket(fileno=fd)
    try:
        httpraw.serve(lambda: conn.recv(65536), conn.sendall)
    except (ConnectionError, ValueError):
        pass
    finally:
        conn.close()


def worker(chan):
    while True:
        msg, fds, _, _ = socket.recv_fds(chan, 16, 4)
        if not msg:
            os._exit(0)  # the parent is gone
        for fd in fds:
            threading.Thread(target=serve_fd, args=(fd,), daemon=True).start()


def fork_worker(*_):
    if state["chan"] is not None:
        return
    parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        try:
            state["ls"].close()
            parent_end.close()
            worker(child_end)
        finally:
            os._exit(1)
    child_end.close()
    state["chan"] = parent_end
    print(f"worker {pid}", flush=True)


def main():
    port = int(sys.argv[1])
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    state["ls"] = ls
    signal.signal(signal.SIGUSR1, fork_worker)  # before anyone can see us listen
    ls.bind(("127.0.0.1", port))
    ls.listen(64)
    while True:
        conn, _ = ls.accept()
        if state["chan"] is not None:
            socket.send_fds(state["chan"], [b"c"], [conn.fileno()])
        conn.close()


if __name__ == "__main__":
    main()
