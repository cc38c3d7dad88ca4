"""A blocked stdout does not stall the pipeline (issue 10, item 7).

Sonde's stdout is a pipe the test does not read while thousands of requests
(far more output than the pipe's 64 KiB and the printer's 1 MiB queue) go
to a traced server: the Prometheus scrape keeps counting every request, and
the printer's dropped counter rises. Then the pipe is read: every line that
was not dropped comes out, whole, and lines + drops account for every span.
"""
import http.client
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

from conftest import (PYTHON, SONDE_BIN, Metrics, _register, free_port, kill_process_group,
                      port_accepts, scrape, wait_until)

REQUESTS = 5000

# HTTP/1.1 keep-alive, so thousands of requests take a couple of seconds.
SERVER = textwrap.dedent("""
    import sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per request

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
""")


def dropped(m, reason="queue_full"):
    return m.sum("sonde_export_dropped_total", exporter="printer", signal="traces",
                 reason=reason)


def served(m):
    return m.sum("http_server_request_duration_seconds_count", service_name="blocked-stdout")


def test_blocked_stdout_drops_spans_and_metrics_go_on(tmp_path):
    port, prom = free_port(), free_port()
    server = subprocess.Popen([PYTHON, "-c", SERVER, str(port)], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=dict(os.environ, OTEL_SERVICE_NAME="blocked-stdout"),
                              start_new_session=True)
    _register(server)
    err_path = tmp_path / "sonde.err"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SONDE_", "BEYLA_", "OTEL_"))
           and k not in ("OPEN_PORT", "PRINT_TRACES", "EXECUTABLE_NAME")}
    env.update(SONDE_TRACE_PRINTER="json", SONDE_OPEN_PORT=str(port),
               SONDE_PROMETHEUS_PORT=str(prom))
    with open(err_path, "wb") as err:
        sonde = subprocess.Popen([str(SONDE_BIN)], env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=err, start_new_session=True)
    _register(sonde)
    lines, reader = [], None
    try:
        wait_until(lambda: port_accepts(port), 30, what="the keep-alive server")
        wait_until(lambda: b"sonde: ready" in err_path.read_bytes() or sonde.poll() is not None,
                   30, what="'sonde: ready'")
        assert sonde.poll() is None, err_path.read_text()
        assert f"instrumenting pid={server.pid}" in err_path.read_text()
        wait_until(lambda: port_accepts(prom), 10, what="the metrics port")

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for i in range(REQUESTS):
            conn.request("GET", f"/item/{i}")
            r = conn.getresponse()
            r.read()
            assert r.status == 200
        conn.close()

        # Nobody reads stdout: the scrape still counts every request, and
        # the printer drops what its queue cannot hold.
        m = wait_until(lambda: (lambda m: m if served(m) == REQUESTS and dropped(m) > 0
                                and m.sum("sonde_spans_total") == REQUESTS else None)(
                                    Metrics(scrape(prom))),
                       30, what=f"{REQUESTS} requests counted and printer drops while stdout "
                       "is blocked")
        lost = dropped(m)
        assert 0 < lost < REQUESTS
        assert dropped(m, "write_failed") == 0 and dropped(m, "shutdown") == 0
        assert sonde.poll() is None

        # Now read: what was queued comes out, in whole lines.
        def read():
            for raw in iter(sonde.stdout.readline, b""):
                lines.append(raw)
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        wait_until(lambda: len(lines) >= REQUESTS - lost, 30,
                   what=f"{REQUESTS - lost} lines from the pipe")
        time.sleep(0.5)
    finally:
        kill_process_group(sonde)
        kill_process_group(server)
        if reader:
            reader.join(timeout=5)
    assert len(lines) == REQUESTS - lost, (len(lines), REQUESTS, lost)
    paths = set()
    for raw in lines:
        assert raw.endswith(b"\n"), raw[-80:]
        span = json.loads(raw)
        assert span["server_port"] == port and span["status"] == 200
        paths.add(span["path"])
    assert len(paths) == len(lines)  # each request at most once
