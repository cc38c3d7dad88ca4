'use strict';
// Middle service of the client-span chain (Express on Node's event loop).
// Each /middle/:id request calls the Java back WHILE it is being handled,
// through a keep-alive http.Agent, and answers once the back has answered.
//
// Usage: NODE_PATH=../express/node_modules node middle.js PORT
// Environment: BACK_PORT (Java back), OTEL_SERVICE_NAME (read by Sonde).
//
//   /middle/:id[?delay=..]  -> GET back /back/:id?<same query>;
//                              answers 200 "middle <id> <back status> <back body bytes> <request body bytes>\n"
//                              (502 with the error when the back cannot be reached)
//   /self/:id               -> GET its own /leaf/:id (a call to itself)
//   /leaf/:id               -> 200 "leaf <id>\n"
//   /after/:id              -> 200 at once; 50 ms later GET back /back/after-<id>
//   /chunked/:id            -> 200, chunked body, last chunk 200 ms after the first
// The request body (if any) is read in full before the downstream call.

const http = require('http');
const express = require('express');

const BACK_PORT = parseInt(process.env.BACK_PORT || '0', 10);
const PORT = parseInt(process.argv[2] || process.env.PORT || '8080', 10);
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

const app = express();
app.disable('etag');
app.disable('x-powered-by');

app.all('/middle/:id', (req, res) => {
  let received = 0;
  req.on('data', (chunk) => { received += chunk.length; });
  req.on('end', () => {
    const q = req.originalUrl.indexOf('?');
    const query = q >= 0 ? req.originalUrl.slice(q) : '';
    const down = http.request({
      host: '127.0.0.1', port: BACK_PORT, method: 'GET', agent,
      path: `/back/${encodeURIComponent(req.params.id)}${query}`,
    }, (dres) => {
      let bytes = 0;
      dres.on('data', (c) => { bytes += c.length; });
      dres.on('end', () => {
        res.status(200).type('text/plain')
          .send(`middle ${req.params.id} ${dres.statusCode} ${bytes} ${received}\n`);
      });
    });
    down.on('error', (e) => {
      res.status(502).type('text/plain').send(`middle ${req.params.id} error ${e.message}\n`);
    });
    down.end();
  });
});

// /self/:id: the middle calls itself (/leaf/:id) while handling the request.
app.get('/self/:id', (req, res) => {
  const down = http.request({
    host: '127.0.0.1', port: PORT, method: 'GET', agent,
    path: `/leaf/${encodeURIComponent(req.params.id)}`,
  }, (dres) => {
    let bytes = 0;
    dres.on('data', (c) => { bytes += c.length; });
    dres.on('end', () => res.status(200).type('text/plain')
      .send(`self ${req.params.id} ${dres.statusCode} ${bytes}\n`));
  });
  down.on('error', (e) => res.status(502).type('text/plain').send(`self error ${e.message}\n`));
  down.end();
});

app.get('/leaf/:id', (req, res) => {
  res.status(200).type('text/plain').send(`leaf ${req.params.id}\n`);
});

// /chunked/:id: a chunked response (no Content-Length) whose last chunk
// comes 200 ms after the first.
app.get('/chunked/:id', (req, res) => {
  res.status(200).type('text/plain');
  res.write(`chunked ${req.params.id} part 1\n`);
  setTimeout(() => res.end(`chunked ${req.params.id} part 2\n`), 200);
});

// /after/:id: answers at once, then (50 ms later, no request in flight) calls
// the back's /back/after-:id -- a call made by no request.
app.get('/after/:id', (req, res) => {
  res.status(200).type('text/plain').send(`after ${req.params.id}\n`);
  setTimeout(() => {
    const down = http.request({
      host: '127.0.0.1', port: BACK_PORT, method: 'GET', agent,
      path: `/back/after-${encodeURIComponent(req.params.id)}`,
    }, (dres) => { dres.resume(); });
    down.on('error', () => {});
    down.end();
  }, 50);
});

app.all('*', (req, res) => {
  req.resume();
  req.on('end', () => res.status(404).type('text/plain').send(`no route ${req.path}\n`));
});

const server = app.listen(PORT, '127.0.0.1', () => {
  console.log(`middle listening on 127.0.0.1:${PORT}, back on ${BACK_PORT}`);
});
server.keepAliveTimeout = 30000;
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
