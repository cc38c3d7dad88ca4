'use strict';
// Express sample server for Sonde's end-to-end tests.
//
// Usage: node app.js PORT   (or PORT in the environment)
//
// Same behaviour as every sample server (see ../README.md): any method on any
// path; ?status=NNN sets the status; ?delay=200ms (Go duration syntax) sleeps
// before responding; the request body is read in full; the response body is
// "<status> <METHOD> <path> <request body bytes>\n" with a Content-Length.

const express = require('express');

const UNITS = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };

// Milliseconds from a Go duration string such as 200ms, 1s, 1m30s, 1.5s.
function parseDuration(text) {
  if (text === undefined || text === '' || text === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) throw new Error(`bad duration ${JSON.stringify(text)}`);
    total += parseFloat(m[1]) * UNITS[m[2]];
    pos = re.lastIndex;
  }
  return total;
}

// setTimeout may fire up to a millisecond early; never sleep less than asked.
function sleepAtLeast(ms, done) {
  const deadline = process.hrtime.bigint() + BigInt(Math.ceil(ms * 1e6));
  const tick = () => {
    const left = deadline - process.hrtime.bigint();
    if (left <= 0n) return done();
    setTimeout(tick, Math.max(1, Math.ceil(Number(left) / 1e6)));
  };
  tick();
}

const app = express();
app.disable('etag');
app.disable('x-powered-by');

app.all('*', (req, res) => {
  let received = 0;
  req.on('data', (chunk) => { received += chunk.length; });
  req.on('end', () => {
    let status;
    let delayMs;
    try {
      status = parseInt(req.query.status || '200', 10);
      delayMs = parseDuration(req.query.delay);
      if (!(status >= 100 && status <= 999)) throw new Error('bad status');
    } catch (e) {
      res.status(400).type('text/plain').send(`bad query: ${e.message}\n`);
      return;
    }
    const respond = () => {
      res.status(status).type('text/plain').send(`${status} ${req.method} ${req.path} ${received}\n`);
    };
    if (delayMs > 0) sleepAtLeast(delayMs, respond);
    else respond();
  });
});

const port = parseInt(process.argv[2] || process.env.PORT || '8080', 10);
const host = process.env.HOST || '127.0.0.1';
const server = app.listen(port, host, () => {
  console.log(`express listening on ${host}:${port}`);
});
server.keepAliveTimeout = 30000;
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
