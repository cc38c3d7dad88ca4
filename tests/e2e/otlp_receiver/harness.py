"""The OTLP receiver (receiver.js) as the end-to-end tests drive it.

`Receiver` starts ``node receiver.js`` (OpenTelemetry JS's generated
protobuf decoders behind a Node HTTP server and a @grpc/grpc-js server),
reads the one JSON line it prints per request, and flattens what arrived
into plain dicts: spans with their resource, metric data points with
theirs. Ids are turned into lower-case hex, as Sonde's printer shows them.
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import _register, kill_process_group, tail

RECEIVER_DIR = Path(__file__).resolve().parent
READY_TIMEOUT = 20.0


def any_value(v):
    """An OTLP AnyValue (protobufjs toObject form) as a Python value."""
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "arrayValue" in v:
        return [any_value(x) for x in v["arrayValue"].get("values", [])]
    return None


def attrs(kvs):
    return {kv["key"]: any_value(kv.get("value", {})) for kv in kvs or []}


def b64hex(value):
    return base64.b64decode(value).hex() if value else ""


def make_cert(directory, name="otlp", cn="localhost"):
    """A self-signed certificate for localhost and 127.0.0.1: (cert, key) paths."""
    cert, key = Path(directory) / f"{name}-cert.pem", Path(directory) / f"{name}-key.pem"
    if shutil.which("openssl") is None:
        pytest.fail("`openssl` is missing (apt-get install openssl)", pytrace=False)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN={cn}", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60)
    return cert, key


class Receiver:
    """receiver.js running in the background, and everything it decoded."""

    def __init__(self, log_dir, http_port=None, grpc_port=None, tls=None, client_ca=None):
        if not (RECEIVER_DIR / "node_modules" / "@opentelemetry" / "otlp-transformer").is_dir():
            pytest.fail("the OTLP receiver's npm packages are missing: run `npm install "
                        "--no-audit --no-fund` in tests/e2e/otlp_receiver", pytrace=False)
        self.http_port, self.grpc_port, self.tls = http_port, grpc_port, tls
        self.client_ca = client_ca
        self.log_path = Path(log_dir) / f"otlp-receiver-{http_port}-{grpc_port}.log"
        self.records = []
        self._cond = threading.Condition()
        self.proc = None
        self.start()

    # -- process ------------------------------------------------------------
    def start(self):
        cmd = ["node", str(RECEIVER_DIR / "receiver.js")]
        if self.http_port:
            cmd += ["--http", str(self.http_port)]
        if self.grpc_port:
            cmd += ["--grpc", str(self.grpc_port)]
        if self.tls:
            cmd += ["--tls", str(self.tls[0]), str(self.tls[1])]
        if self.client_ca:
            cmd += ["--client-ca", str(self.client_ca)]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=RECEIVER_DIR, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log,
                                     start_new_session=True)
        _register(self.proc)
        self._ready = set()
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        want = {k for k, p in (("http", self.http_port), ("grpc", self.grpc_port)) if p}
        self.wait(lambda: want <= self._ready, READY_TIMEOUT, f"the receiver to listen ({want})")

    def stop(self):
        if self.proc is not None:
            kill_process_group(self.proc, signal.SIGKILL)
            self.proc = None
            self._log.close()

    def command(self, line):
        """Change behaviour: 'http 503 1', 'http 200', 'grpc 14', 'grpc 0'."""
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        self.wait(lambda: any(r.get("ack") == line for r in self.records), 5, f"ack of {line!r}")

    def _read(self, proc):
        for raw in iter(proc.stdout.readline, b""):
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            with self._cond:
                if "ready" in rec:
                    self._ready.add(rec["ready"])
                rec["_mono"] = time.monotonic()
                self.records.append(rec)
                self._cond.notify_all()

    def wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}; "
                                         f"receiver log:\n{tail(self.log_path)}")
                self._cond.wait(min(left, 0.1))

    # -- what arrived -------------------------------------------------------
    def requests(self, signal_name):
        with self._cond:
            return [r for r in self.records
                    if r.get("signal") == signal_name and "request" in r]

    def refusals(self):
        with self._cond:
            return [r for r in self.records if "refused" in r]

    def errors(self):
        with self._cond:
            return [r for r in self.records if "error" in r]

    def spans(self):
        """Every span received: dicts with the span's fields, its attributes,
        its resource's attributes and the request's transport and headers."""
        out = []
        for req in self.requests("traces"):
            for rs in req["request"].get("resourceSpans", []):
                resource = attrs(rs.get("resource", {}).get("attributes"))
                for ss in rs.get("scopeSpans", []):
                    for sp in ss.get("spans", []):
                        out.append({
                            "name": sp.get("name"),
                            "kind": sp.get("kind", 0),
                            "trace_id": b64hex(sp.get("traceId")),
                            "span_id": b64hex(sp.get("spanId")),
                            "parent_span_id": b64hex(sp.get("parentSpanId")),
                            "start_ns": int(sp.get("startTimeUnixNano", 0)),
                            "end_ns": int(sp.get("endTimeUnixNano", 0)),
                            "status": sp.get("status", {}).get("code", 0),
                            "attributes": attrs(sp.get("attributes")),
                            "resource": resource,
                            "scope": ss.get("scope", {}),
                            "transport": req["transport"],
                            "headers": req["headers"],
                        })
        return out

    def points(self, name=None):
        """Every histogram data point received (latest last)."""
        out = []
        for req in self.requests("metrics"):
            for rm in req["request"].get("resourceMetrics", []):
                resource = attrs(rm.get("resource", {}).get("attributes"))
                for sm in rm.get("scopeMetrics", []):
                    for m in sm.get("metrics", []):
                        if name and m.get("name") != name:
                            continue
                        h = m.get("histogram")
                        if h is None:
                            continue
                        for p in h.get("dataPoints", []):
                            out.append({
                                "name": m["name"], "unit": m.get("unit"),
                                "temporality": h.get("aggregationTemporality", 0),
                                "attributes": attrs(p.get("attributes")),
                                "count": int(p.get("count", 0)),
                                "sum": p.get("sum"),
                                "buckets": [int(x) for x in p.get("bucketCounts", [])],
                                "bounds": [float(x) for x in p.get("explicitBounds", [])],
                                "start_ns": int(p.get("startTimeUnixNano", 0)),
                                "time_ns": int(p.get("timeUnixNano", 0)),
                                "resource": resource,
                                "transport": req["transport"],
                                "clientCn": req.get("clientCn"),
                                "headers": req["headers"],
                                "_mono": req["_mono"],
                            })
        return out

    def number_points(self, name=None):
        """Every Sum and Gauge data point received (latest last): Sonde's
        own metrics. "kind" is "sum" or "gauge"."""
        out = []
        for req in self.requests("metrics"):
            for rm in req["request"].get("resourceMetrics", []):
                resource = attrs(rm.get("resource", {}).get("attributes"))
                for sm in rm.get("scopeMetrics", []):
                    for m in sm.get("metrics", []):
                        if name and m.get("name") != name:
                            continue
                        kind = "sum" if "sum" in m else "gauge" if "gauge" in m else None
                        if kind is None:
                            continue
                        data = m[kind]
                        for p in data.get("dataPoints", []):
                            value = p.get("asInt", p.get("asDouble"))
                            out.append({
                                "name": m["name"], "unit": m.get("unit"),
                                "description": m.get("description"), "kind": kind,
                                "temporality": data.get("aggregationTemporality", 0),
                                "monotonic": bool(data.get("isMonotonic", False)),
                                "attributes": attrs(p.get("attributes")),
                                "value": None if value is None else int(value),
                                "start_ns": int(p.get("startTimeUnixNano", 0)),
                                "time_ns": int(p.get("timeUnixNano", 0)),
                                "resource": resource,
                                "transport": req["transport"],
                                "_mono": req["_mono"],
                                "_request": id(req),
                            })
        return out

    def wait_spans(self, predicate, count, timeout, what="spans"):
        def enough():
            got = [s for s in self.spans() if predicate(s)]
            return got if len(got) >= count else None
        return self.wait(enough, timeout, f"{count} {what} at the OTLP receiver")

    def latest_point(self, name, timeout, since=0.0, **match):
        """The newest data point of `name` whose attributes include `match`,
        from a request received after monotonic time `since`."""
        def find():
            got = [p for p in self.points(name) if p["_mono"] >= since and
                   all(p["attributes"].get(k) == v for k, v in match.items())]
            return got[-1] if got else None
        return self.wait(find, timeout, f"a {name} point with {match}")
