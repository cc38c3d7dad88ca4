"""HTTPS sample server for Sonde's TLS tests: Python's http.server, its
listening socket wrapped by the ssl module (OpenSSL, libssl.so.3 through
the dlopen'd _ssl module), a thread per connection, HTTP/1.1 keep-alive.

    https_server.py PORT CERT KEY [CAFILE]

GET /anything?status=NNN answers "ok <path>" with that status; POST reads
its body and answers "got N"; GET /call?port=P&path=X calls
https://127.0.0.1:P/X with urllib (trusting CAFILE) while it handles the
request, and answers with the downstream status.
"""
import http.server
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

PORT, CERT, KEY = int(sys.argv[1]), sys.argv[2], sys.argv[3]
CAFILE = sys.argv[4] if len(sys.argv) > 4 else CERT


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        if url.path == "/call":
            ctx = ssl.create_default_context(cafile=CAFILE)
            target = f"https://127.0.0.1:{q['port'][0]}{q['path'][0]}"
            try:
                with urllib.request.urlopen(target, context=ctx, timeout=10) as r:
                    r.read()
                    status = r.status
            except urllib.error.HTTPError as e:
                status = e.code
            self._answer(200, f"down {status}".encode())
            return
        self._answer(int(q.get("status", ["200"])[0]), f"ok {url.path}".encode())

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        self._answer(201, f"got {len(body)}".encode())

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
