// HTTPS sample server for Sonde's TLS tests: Node's `https`, keep-alive.
// TLS runs over memory BIOs: the socket I/O is libuv's, outside
// SSL_read/SSL_write. The nodejs package installed here carries OpenSSL
// linked into the executable, symbols included (no libssl.so is mapped):
// the uprobes go on the executable itself.
//
//   node https_server.js PORT CERT KEY
//
// GET /anything?status=NNN answers "ok <path>" with that status; POST
// reads its body and answers "got N"; GET /tls/chunked answers 23,010 bytes
// in chunked coding.
'use strict';
const fs = require('fs');
const https = require('https');

const [port, cert, key] = process.argv.slice(2);
const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) },
  (req, res) => {
    const url = new URL(req.url, 'https://localhost');
    let n = 0;
    req.on('data', (chunk) => { n += chunk.length; });
    req.on('end', () => {
      if (url.pathname === '/tls/chunked') {
        // no Content-Length: chunked transfer coding, three writes
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('a'.repeat(3000));
        res.write('b'.repeat(20000));
        res.end('c'.repeat(10));
        return;
      }
      const status = req.method === 'POST' ? 201 : Number(url.searchParams.get('status') || 200);
      const body = req.method === 'POST' ? `got ${n}` : `ok ${url.pathname}`;
      res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
server.keepAliveTimeout = 30000;
server.listen(Number(port), '127.0.0.1');
