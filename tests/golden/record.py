#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Record the HTTP/1 golden files in tests/golden/http1/ from real peers.

Usage (from the repository root):  /usr/bin/python3 tests/golden/record.py [NAME...]

Responses (*_resp.bin): a real server (Flask, Express, nginx, Go net/http,
Java's com.sun.net.httpserver, Python's http.server) listens on a free
loopback port; a raw socket sends one request and the bytes received are
saved exactly as they came.

Requests (*_req.bin): a raw socket listens on a free loopback port (so the
Host header is "127.0.0.1:<port>", different per run) and saves exactly what a real client
(curl, wget, urllib, requests, Node's fetch and http, Java's HttpClient, Go's
net/http) sends; it answers "100 Continue" when asked, like a real server.

Files are kept small: when a message is longer than 2 KiB, only its head
and the first 128 body bytes are kept (the agent sees at most 512 request
and 256 response bytes anyway). Dates, ETags and ports change from one run
to the next; the unit tests assert only on what the decoder reads.

Needs: /usr/bin/python3 with flask and requests, node + npm (express is
installed into a temporary directory outside the repository), nginx, go,
java (17), curl, wget. Regenerating changes the bytes: re-run the unit
tests (make build/tests/test_http1 && build/tests/test_http1) afterwards.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "http1")
KEEP_WHOLE = 2048
KEEP_BODY = 128
TIMEOUT = 10
NODE_DIR = os.path.join(tempfile.gettempdir(), "sonde-golden-node")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- framing

def parse_head(data, pos):
    """(start line, {lower name: [values]}, body offset) of the head at pos, or None."""
    end = data.find(b"\r\n\r\n", pos)
    if end < 0:
        return None
    lines = data[pos:end].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0], headers, end + 4


def chunked_end(data, pos):
    """Offset just past the chunked body starting at pos, or None."""
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(data[pos:eol].split(b";")[0].strip() or b"0", 16)
        pos = eol + 2
        if size == 0:
            while True:  # trailer section, ended by an empty line
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    return None
                if eol == pos:
                    return eol + 2
                pos = eol + 2
        if len(data) < pos + size + 2:
            return None
        pos += size + 2


def message_end(data, response, head_request=False):
    """(end of the first complete message, end of its final head), or None.

    A response's interim 1xx heads are part of it. None also means "read
    until the peer closes" (a response with neither length nor chunking)."""
    pos = 0
    while True:
        parsed = parse_head(data, pos)
        if parsed is None:
            return None
        start, headers, body = parsed
        if response:
            status = int(start.split()[1])
            if 100 <= status < 200 and status != 101:
                pos = body
                continue
            if head_request or status in (204, 304):
                return body, body
        te = ",".join(headers.get("transfer-encoding", []))
        if te.lower().replace(" ", "").endswith("chunked"):
            end = chunked_end(data, body)
            return (end, body) if end is not None else None
        if "content-length" in headers:
            n = int(headers["content-length"][0].split(",")[0])
            return (body + n, body) if len(data) >= body + n else None
        if not response:
            return body, body
        return None


def keep(data, head_end):
    """What gets saved: everything if small, else the head and a few body bytes."""
    if len(data) <= KEEP_WHOLE:
        return data
    return data[: head_end + KEEP_BODY]


def save(name, data):
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(data)
    first = data.split(b"\r\n", 1)[0].decode("latin-1")
    log(f"  {name}: {len(data)} bytes, {first!r}")


# -------------------------------------------------------------- responses

def wait_port(port, proc=None, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def request_bytes(method, target, port, extra=b"", body=b""):
    head = (f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "User-Agent: sonde-golden/1\r\nAccept: */*\r\n").encode()
    if body:
        head += f"Content-Length: {len(body)}\r\n".encode()
    return head + extra + b"\r\n" + body


def fetch(port, method, target, extra=b"", body=b"", expect_continue=False):
    """Send one request, return (response bytes, end of final head)."""
    head_request = method == "HEAD"
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        if expect_continue:
            msg = request_bytes(method, target, port, extra + b"Expect: 100-continue\r\n", body)
            s.sendall(msg[: len(msg) - len(body)])
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.sendall(body)
        else:
            s.sendall(request_bytes(method, target, port, extra, body))
            data = b""
        while True:
            done = message_end(data, True, head_request)
            if done is not None:
                return data[: done[0]], done[1]
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                chunk = b""
            if not chunk:  # close-delimited body
                parsed = parse_head(data, 0)
                return data, parsed[2] if parsed else len(data)
            data += chunk


def record_response(name, port, method, target, **kw):
    data, head_end = fetch(port, method, target, **kw)
    save(name, keep(data, head_end))


class Server:
    """A server process that is stopped on exit, whatever happens."""

    def __init__(self, argv, port, cwd=None, env=None):
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.port = port
        try:
            wait_port(port, self.proc)
        except Exception:
            self.__exit__()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


FLASK_APP = r'''
import sys
from flask import Flask, Response, jsonify, request
app = Flask(__name__)

@app.get("/users/<int:uid>")
def user(uid):
    return jsonify(id=uid, name="ada")

@app.post("/items")
def items():
    return jsonify(ok=True, size=len(request.get_data())), 201

@app.get("/stream")
def stream():
    return Response((f"part {i}\n" for i in range(3)), mimetype="text/plain")

app.run(host="127.0.0.1", port=int(sys.argv[1]))
'''

EXPRESS_APP = r'''
const express = require('express');
const app = express();
app.get('/users/:id', (req, res) => res.json({ id: Number(req.params.id), name: 'ada' }));
app.get('/stream', (req, res) => {
  res.type('text/plain');
  res.write('part 0\n');
  setTimeout(() => { res.write('part 1\n'); res.end('part 2\n'); }, 20);
});
app.post('/items', express.json(), (req, res) => res.status(201).json({ ok: true }));
app.listen(Number(process.argv[2]), '127.0.0.1');
'''

GO_SERVER = r'''
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

func main() {
	http.HandleFunc("/users/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":42,"name":"ada"}`)
	})
	http.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("0123456789abcdef", 512))
	})
	http.HandleFunc("/items", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "read %d\n", n)
	})
	http.ListenAndServe("127.0.0.1:"+os.Args[1], nil)
}
'''

JAVA_SERVER = r'''
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

public class Server {
    public static void main(String[] args) throws Exception {
        HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", Integer.parseInt(args[0])), 0);
        s.createContext("/users/", ex -> {
            byte[] b = "{\"id\":42,\"name\":\"ada\"}".getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().add("Content-Type", "application/json");
            ex.sendResponseHeaders(200, b.length);
            try (OutputStream o = ex.getResponseBody()) { o.write(b); }
        });
        s.createContext("/stream", ex -> {
            ex.getResponseHeaders().add("Content-Type", "text/plain");
            ex.sendResponseHeaders(200, 0); /* 0: length unknown, chunked */
            try (OutputStream o = ex.getResponseBody()) {
                o.write("part 0\n".getBytes()); o.flush();
                o.write("part 1\n".getBytes());
            }
        });
        s.start();
    }
}
'''

NGINX_CONF = r'''
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
    }}
}}
'''


def record_flask(tmp):
    port = free_port()
    app = os.path.join(tmp, "flask_app.py")
    with open(app, "w") as f:
        f.write(FLASK_APP)
    with Server(["/usr/bin/python3", app, str(port)], port):
        record_response("flask_get_resp.bin", port, "GET", "/users/42")
        record_response("flask_post_resp.bin", port, "POST", "/items",
                        extra=b"Content-Type: application/json\r\n", body=b'{"name":"x"}')
        record_response("flask_stream_resp.bin", port, "GET", "/stream")
        record_response("flask_404_resp.bin", port, "GET", "/missing")


def node_env():
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "express")):
        os.makedirs(NODE_DIR, exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "express"],
                       cwd=NODE_DIR, check=True)
    return NODE_DIR


def record_express(tmp):
    port = free_port()
    app = os.path.join(node_env(), "app.js")
    with open(app, "w") as f:
        f.write(EXPRESS_APP)
    with Server(["node", app, str(port)], port, cwd=NODE_DIR):
        record_response("express_get_resp.bin", port, "GET", "/users/42")
        record_response("express_chunked_resp.bin", port, "GET", "/stream")
        record_response("express_continue_resp.bin", port, "POST", "/items",
                        extra=b"Content-Type: application/json\r\n", body=b'{"name":"x"}',
                        expect_continue=True)


def record_nginx(tmp):
    port = free_port()
    www = os.path.join(tmp, "www")
    os.makedirs(www)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("<!doctype html><title>sonde</title><p>hello</p>\n")
    with open(os.path.join(www, "big.bin"), "wb") as f:
        f.write(bytes(range(256)) * 256)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=tmp, port=port))
    with Server(["nginx", "-c", conf, "-p", tmp], port):
        record_response("nginx_static_resp.bin", port, "GET", "/index.html")
        record_response("nginx_big_resp.bin", port, "GET", "/big.bin")
        record_response("nginx_head_resp.bin", port, "HEAD", "/index.html")
        record_response("nginx_404_resp.bin", port, "GET", "/missing")


def record_go(tmp):
    port = free_port()
    src = os.path.join(tmp, "server.go")
    with open(src, "w") as f:
        f.write(GO_SERVER)
    binary = os.path.join(tmp, "goserver")
    subprocess.run(["go", "build", "-o", binary, src], check=True, env=go_env(tmp))
    with Server([binary, str(port)], port):
        record_response("go_resp.bin", port, "GET", "/users/42")
        record_response("go_chunked_resp.bin", port, "GET", "/big")
        record_response("go_continue_resp.bin", port, "POST", "/items", body=b"hello world",
                        expect_continue=True)


def record_java(tmp):
    port = free_port()
    src = os.path.join(tmp, "Server.java")
    with open(src, "w") as f:
        f.write(JAVA_SERVER)
    with Server(["java", src, str(port)], port):
        record_response("java_resp.bin", port, "GET", "/users/42")
        record_response("java_chunked_resp.bin", port, "GET", "/stream")


def record_python_http_server(tmp):
    port = free_port()
    www = os.path.join(tmp, "pywww")
    os.makedirs(www)
    with open(os.path.join(www, "hello.txt"), "w") as f:
        f.write("hello\n")
    with Server(["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1",
                 "--directory", www, str(port)], port):
        record_response("python_http_server_resp.bin", port, "GET", "/hello.txt")


# --------------------------------------------------------------- requests

def capture(name, client):
    """Run client(base_url) against a raw listener, save the request it sent."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    srv.listen(1)
    srv.settimeout(60)
    got = {}

    def serve():
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            return
        with conn:
            conn.settimeout(TIMEOUT)
            data, continued = b"", False
            while True:
                parsed = parse_head(data, 0)
                if (parsed and not continued and
                        "100-continue" in ",".join(parsed[1].get("expect", [])).lower()):
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                    continued = True
                done = message_end(data, False)
                if done is not None:
                    got["data"] = keep(data[: done[0]], done[1])
                    break
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: 3\r\nConnection: close\r\n\r\nok\n")

    t = threading.Thread(target=serve)
    t.start()
    try:
        client(f"http://127.0.0.1:{port}")
    finally:
        t.join(60)
        srv.close()
    if "data" not in got:
        raise RuntimeError(f"{name}: the client sent no complete request")
    save(name, got["data"])


def run(argv, **kw):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=120, **kw)


def go_env(tmp):
    env = dict(os.environ, GO111MODULE="off", GOFLAGS="")
    env.setdefault("GOCACHE", os.path.join(tmp, "gocache"))
    return env


NODE_CLIENT = r'''
const http = require('http');
const [mode, base] = process.argv.slice(2);
if (mode === 'get') {
  fetch(base + '/users/42?verbose=1').then(r => r.text());
} else if (mode === 'post') {
  fetch(base + '/items', { method: 'POST', headers: { 'content-type': 'application/json' },
                           body: JSON.stringify({ name: 'x' }) }).then(r => r.text());
} else {
  const req = http.request(base + '/upload', { method: 'POST' }, res => res.resume());
  req.write('first piece,');
  setTimeout(() => req.end('second piece'), 20);
}
'''

JAVA_CLIENT = r'''
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class Client {
    public static void main(String[] args) throws Exception {
        HttpClient c = HttpClient.newHttpClient();
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(args[1]));
        if (args[0].equals("post"))
            b = b.POST(HttpRequest.BodyPublishers.ofString("{\"name\":\"x\"}"))
                 .header("Content-Type", "application/json");
        c.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }
}
'''

GO_CLIENT = r'''
package main

import (
	"io"
	"net/http"
	"os"
	"strings"
)

func main() {
	base := os.Args[2]
	var resp *http.Response
	var err error
	switch os.Args[1] {
	case "get":
		resp, err = http.Get(base + "/users/42")
	case "post":
		resp, err = http.Post(base+"/items", "application/json", strings.NewReader(`{"name":"x"}`))
	default:
		// A reader of unknown length: the client falls back to chunked.
		body := io.MultiReader(strings.NewReader("first piece,"), strings.NewReader("second piece"))
		resp, err = http.Post(base+"/upload", "text/plain", body)
	}
	if err != nil {
		panic(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}
'''

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def record_requests(tmp):
    capture("curl_get_req.bin", lambda u: run(["curl", "-s", u + "/search?q=sonde&page=2"]))
    capture("curl_post_req.bin", lambda u: run(
        ["curl", "-s", "-H", "Content-Type: application/json", "-d", '{"name":"x"}',
         u + "/items"]))
    # curl 7.88 asks for "100 Continue" only for bodies over 1 MiB.
    big = os.path.join(tmp, "big.txt")
    with open(big, "w") as f:
        f.write("x" * (1100 * 1000))
    capture("curl_expect_req.bin", lambda u: run(["curl", "-s", "--data-binary", "@" + big,
                                                  u + "/upload"]))
    capture("curl_http10_req.bin", lambda u: run(["curl", "-s", "-0", u + "/legacy"]))
    capture("curl_proxy_req.bin", lambda u: run(
        ["curl", "-s", "-x", u, "http://example.com/products/1234?ref=abc"]))
    capture("curl_traceparent_req.bin", lambda u: run(
        ["curl", "-s", "-H", "traceparent: " + TRACEPARENT, u + "/orders/7"]))
    capture("wget_req.bin", lambda u: run(["wget", "-q", "-O", "-", u + "/files/report.pdf"]))

    py = "/usr/bin/python3"
    capture("python_urllib_req.bin", lambda u: run(
        [py, "-c", "import sys, urllib.request as r; r.urlopen(sys.argv[1]).read()",
         u + "/users/42"]))
    capture("python_urllib_post_req.bin", lambda u: run(
        [py, "-c", "import sys, urllib.request as r; "
         "r.urlopen(r.Request(sys.argv[1], data=b'name=x&v=1')).read()", u + "/items"]))
    capture("python_requests_post_req.bin", lambda u: run(
        [py, "-c", "import sys, requests; requests.post(sys.argv[1], json={'name': 'x'})",
         u + "/items"]))

    node_client = os.path.join(tmp, "client.js")
    with open(node_client, "w") as f:
        f.write(NODE_CLIENT)
    capture("node_fetch_req.bin", lambda u: run(["node", node_client, "get", u]))
    capture("node_fetch_post_req.bin", lambda u: run(["node", node_client, "post", u]))
    capture("node_http_chunked_req.bin", lambda u: run(["node", node_client, "chunked", u]))

    java_client = os.path.join(tmp, "Client.java")
    with open(java_client, "w") as f:
        f.write(JAVA_CLIENT)
    capture("java_httpclient_req.bin", lambda u: run(["java", java_client, "get",
                                                      u + "/users/42"]))
    capture("java_httpclient_post_req.bin", lambda u: run(["java", java_client, "post",
                                                           u + "/items"]))

    go_src = os.path.join(tmp, "client.go")
    with open(go_src, "w") as f:
        f.write(GO_CLIENT)
    go_bin = os.path.join(tmp, "goclient")
    subprocess.run(["go", "build", "-o", go_bin, go_src], check=True, env=go_env(tmp))
    capture("go_client_req.bin", lambda u: run([go_bin, "get", u]))
    capture("go_client_post_req.bin", lambda u: run([go_bin, "post", u]))
    capture("go_client_chunked_req.bin", lambda u: run([go_bin, "chunked", u]))


RECORDERS = {
    "flask": record_flask,
    "express": record_express,
    "nginx": record_nginx,
    "go": record_go,
    "java": record_java,
    "python": record_python_http_server,
    "requests": record_requests,
}


def main():
    names = sys.argv[1:] or list(RECORDERS)
    os.makedirs(OUT, exist_ok=True)
    for name in names:
        tmp = tempfile.mkdtemp(prefix=f"sonde-golden-{name}-")
        log(f"== {name}")
        try:
            RECORDERS[name](tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
