"""A gRPC peer in Python (grpcio), without generated code: messages are raw
bytes (identity serializers). As a server it answers test.Echo/* on
127.0.0.1:PORT; as a client it runs a scenario and prints, as one JSON line,
the calls it made and the status each got. With PEER_WAIT set, a client
waits for a line on stdin before it connects.

  peer.py server PORT
  peer.py client PORT SCENARIO [COUNT]

Methods: Echo/Unary (echoes), Echo/Fail (status from the request's first
byte), Echo/Stream (server streaming: as many replies as the first byte
says), Echo/Slow (answers after 2 s: the client cancels it), Echo/Relay (makes the
outgoing call its request names, "http PORT PATH" or "grpc PORT SIZE", then
echoes)."""
import json
import os
import sys
import threading
import time
import urllib.request
from concurrent import futures

import grpc

SERVICE = "test.Echo"


def _unary(req, ctx):
    return req


def _fail(req, ctx):
    code = req[0] if req else 13
    for c in grpc.StatusCode:
        if c.value[0] == code:
            ctx.abort(c, "failed on purpose")
    ctx.abort(grpc.StatusCode.INTERNAL, "failed on purpose")


def _stream(req, ctx):
    for i in range(req[0] if req else 3):
        yield bytes([i]) * 10


def _slow(req, ctx):
    deadline = time.monotonic() + 3
    while ctx.is_active() and time.monotonic() < deadline:
        time.sleep(0.05)
    return req


_downstreams = {}
_downstreams_lock = threading.Lock()


def _relay(req, ctx):
    kind, port, arg = req.decode().split()
    if kind == "http":
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{arg}", timeout=10) as r:
            r.read()
        return req
    with _downstreams_lock:
        if port not in _downstreams:
            ch = grpc.insecure_channel(f"127.0.0.1:{port}")
            _downstreams[port] = ch.unary_unary(f"/{SERVICE}/Unary")
        unary = _downstreams[port]
    unary(b"r" * int(arg), timeout=10)
    return req


def server(port):
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(_unary),
        "Fail": grpc.unary_unary_rpc_method_handler(_fail),
        "Stream": grpc.unary_stream_rpc_method_handler(_stream),
        "Slow": grpc.unary_unary_rpc_method_handler(_slow),
        "Relay": grpc.unary_unary_rpc_method_handler(_relay),
    }
    s = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    s.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    s.add_insecure_port(f"127.0.0.1:{port}")
    s.start()
    print("listening", flush=True)
    s.wait_for_termination()


def client(port, scenario, count):
    if os.environ.get("PEER_WAIT"):
        sys.stdin.readline()  # traced from its first byte: the test says when
    ch = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(ch).result(timeout=10)
    unary = ch.unary_unary(f"/{SERVICE}/Unary")
    fail = ch.unary_unary(f"/{SERVICE}/Fail")
    stream = ch.unary_stream(f"/{SERVICE}/Stream")
    slow = ch.unary_unary(f"/{SERVICE}/Slow")
    calls = []
    if scenario == "unary":
        for i in range(count):
            unary(b"hello %d" % i, timeout=10)
            calls.append(["Unary", 0])
    elif scenario == "errors":
        for code in (5, 3, 13, 14):  # NOT_FOUND, INVALID_ARGUMENT, INTERNAL, UNAVAILABLE
            try:
                fail(bytes([code]), timeout=10)
                calls.append(["Fail", 0])
            except grpc.RpcError as e:
                calls.append(["Fail", e.code().value[0]])
    elif scenario == "stream":
        for i in range(count):
            got = list(stream(bytes([5]), timeout=10))
            assert len(got) == 5
            calls.append(["Stream", 0])
    elif scenario == "concurrent":
        futs = [unary.future(b"x" * 100, timeout=20) for _ in range(count)]
        for f in futs:
            f.result()
            calls.append(["Unary", 0])
    elif scenario == "cancel":
        f = slow.future(b"slow", timeout=20)
        time.sleep(0.5)
        f.cancel()
        calls.append(["Slow", 1])
        time.sleep(0.3)
    ch.close()
    print(json.dumps({"calls": calls}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]))
    else:
        client(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 1)
