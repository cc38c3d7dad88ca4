#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// An OTLP receiver for Sonde's end-to-end tests. It decodes what Sonde
// sends with code Sonde does not share: the protobuf decoders that
// OpenTelemetry JS generates from the official .proto files
// (@opentelemetry/otlp-transformer) and gRPC's own server (@grpc/grpc-js).
//
// Usage: node receiver.js [--http PORT] [--grpc PORT] [--tls CERT KEY [--client-ca CA]]
//   --http: OTLP/HTTP (POST /v1/traces, /v1/metrics; protobuf, gzip or not)
//   --grpc: OTLP/gRPC (TraceService/Export, MetricsService/Export)
//   --tls:  serve both over TLS with this PEM certificate and key
//   --client-ca: and require a client certificate signed by this CA (mutual TLS)
//
// Prints one JSON line per request on stdout:
//   {"signal":"traces","transport":"http","path":...,"headers":{...},
//    "compressed":bool,"size":bytes,"request":<decoded, protobufjs toObject>}
// and "ready" lines once listening. Reads commands on stdin, one a line,
// to play a failing collector:
//   http STATUS [RETRY_AFTER]   answer OTLP/HTTP with this status (200: normal)
//   grpc CODE                   answer OTLP/gRPC with this status code (0: normal)
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');
const readline = require('readline');
const zlib = require('zlib');
const grpc = require('@grpc/grpc-js');
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root');

const protobuf = require('protobufjs/minimal');

// Strings are UTF-8 in OTLP, protobuf or JSON: decode them strictly, so an
// invalid byte fails the request (protobufjs and Buffer#toString would
// quietly replace it, and the test could not tell).
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
for (const R of [protobuf.Reader, protobuf.BufferReader]) {
  R.prototype.string = function strictString() {
    return strictUtf8.decode(this.bytes());
  };
}

const proto = root.opentelemetry.proto;
const TYPES = {
  traces: {
    request: proto.collector.trace.v1.ExportTraceServiceRequest,
    response: proto.collector.trace.v1.ExportTraceServiceResponse,
    grpcPath: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    httpPath: '/v1/traces',
  },
  metrics: {
    request: proto.collector.metrics.v1.ExportMetricsServiceRequest,
    response: proto.collector.metrics.v1.ExportMetricsServiceResponse,
    grpcPath: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
    httpPath: '/v1/metrics',
  },
};
const TO_OBJECT = { longs: String, enums: Number, bytes: String, defaults: false, arrays: true };

const opts = { http: null, grpc: null, cert: null, key: null, clientCa: null };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--http') opts.http = Number(process.argv[++i]);
  else if (a === '--grpc') opts.grpc = Number(process.argv[++i]);
  else if (a === '--tls') { opts.cert = process.argv[++i]; opts.key = process.argv[++i]; }
  else if (a === '--client-ca') opts.clientCa = process.argv[++i];
  else { console.error(`receiver: unknown argument ${a}`); process.exit(2); }
}

const behaviour = { httpStatus: 200, retryAfter: null, grpcCode: 0 };

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function decode(signal, buf) {
  const T = TYPES[signal].request;
  return T.toObject(T.decode(buf), TO_OBJECT);
}

// OTLP JSON: the same message, with trace and span ids as hex strings (the
// OTLP specification), which protobufjs's fromObject wants as bytes.
const HEX_IDS = new Set(['traceId', 'spanId', 'parentSpanId']);
function hexIdsToBytes(v) {
  if (Array.isArray(v)) return v.map(hexIdsToBytes);
  if (v === null || typeof v !== 'object') return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) {
    if (HEX_IDS.has(k)) {
      if (typeof x !== 'string' || !/^([0-9a-f]{2})*$/.test(x)) throw new Error(`${k} is not lower-case hex: ${x}`);
      out[k] = Buffer.from(x, 'hex');
    } else {
      out[k] = hexIdsToBytes(x);
    }
  }
  return out;
}

function decodeJson(signal, buf) {
  const T = TYPES[signal].request;
  return T.toObject(T.fromObject(hexIdsToBytes(JSON.parse(strictUtf8.decode(buf)))), TO_OBJECT);
}

// ---- OTLP/HTTP ----
function onHttp(req, res) {
  const signal = Object.keys(TYPES).find((s) => TYPES[s].httpPath === req.url);
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body = Buffer.concat(chunks);
    const size = body.length;
    if (!signal || req.method !== 'POST') {
      res.writeHead(404).end();
      return;
    }
    if (behaviour.httpStatus !== 200) {
      const h = behaviour.retryAfter !== null ? { 'Retry-After': String(behaviour.retryAfter) } : {};
      emit({ signal, transport: 'http', refused: behaviour.httpStatus, headers: req.headers });
      res.writeHead(behaviour.httpStatus, h).end('refused by the test');
      return;
    }
    const compressed = (req.headers['content-encoding'] || '') === 'gzip';
    let request;
    try {
      if (compressed) body = zlib.gunzipSync(body);
      if (req.headers['content-type'] === 'application/json')
        request = decodeJson(signal, body);
      else if (req.headers['content-type'] === 'application/x-protobuf')
        request = decode(signal, body);
      else
        throw new Error(`content-type ${req.headers['content-type']}`);
    } catch (err) {
      emit({ signal, transport: 'http', error: String(err), headers: req.headers });
      res.writeHead(400).end(String(err));
      return;
    }
    const peerCert = req.socket.getPeerCertificate ? req.socket.getPeerCertificate() : null;
    const clientCn = peerCert && peerCert.subject ? peerCert.subject.CN : null;
    emit({ signal, transport: 'http', path: req.url, headers: req.headers, compressed, size,
           httpVersion: req.httpVersion, clientCn, request });
    const resp = TYPES[signal].response;
    res.writeHead(200, { 'Content-Type': 'application/x-protobuf' });
    res.end(Buffer.from(resp.encode(resp.create({})).finish()));
  });
}

// ---- OTLP/gRPC ----
function grpcService(signal) {
  const t = TYPES[signal];
  return {
    Export: {
      path: t.grpcPath,
      requestStream: false,
      responseStream: false,
      requestSerialize: (m) => Buffer.from(t.request.encode(m).finish()),
      requestDeserialize: (b) => ({ size: b.length, message: t.request.decode(b) }),
      responseSerialize: (m) => Buffer.from(t.response.encode(m).finish()),
      responseDeserialize: (b) => t.response.decode(b),
    },
  };
}

function grpcHandler(signal) {
  return {
    Export: (call, callback) => {
      const headers = {};
      for (const [k, v] of Object.entries(call.metadata.getMap()))
        headers[k] = Buffer.isBuffer(v) ? v.toString('base64') : v;
      if (behaviour.grpcCode !== 0) {
        emit({ signal, transport: 'grpc', refused: behaviour.grpcCode, headers });
        callback({ code: behaviour.grpcCode, details: 'refused by the test' });
        return;
      }
      emit({ signal, transport: 'grpc', headers, size: call.request.size,
             compressed: headers['grpc-encoding'] === 'gzip',
             request: TYPES[signal].request.toObject(call.request.message, TO_OBJECT) });
      callback(null, TYPES[signal].response.create({}));
    },
  };
}

function main() {
  const tls = opts.cert ? { cert: fs.readFileSync(opts.cert), key: fs.readFileSync(opts.key) } : null;
  const clientCa = opts.clientCa ? fs.readFileSync(opts.clientCa) : null;
  if (tls && clientCa) Object.assign(tls, { ca: clientCa, requestCert: true, rejectUnauthorized: true });
  if (opts.http !== null) {
    const server = tls ? https.createServer(tls, onHttp) : http.createServer(onHttp);
    server.keepAliveTimeout = 60000;
    server.listen(opts.http, '127.0.0.1', () => emit({ ready: 'http', port: server.address().port }));
  }
  if (opts.grpc !== null) {
    const server = new grpc.Server();
    server.addService(grpcService('traces'), grpcHandler('traces'));
    server.addService(grpcService('metrics'), grpcHandler('metrics'));
    const creds = tls
      ? grpc.ServerCredentials.createSsl(clientCa, [{ cert_chain: tls.cert, private_key: tls.key }],
        clientCa !== null)
      : grpc.ServerCredentials.createInsecure();
    server.bindAsync(`127.0.0.1:${opts.grpc}`, creds, (err, port) => {
      if (err) {
        console.error(`receiver: gRPC bind: ${err}`);
        process.exit(1);
      }
      emit({ ready: 'grpc', port });
    });
  }
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    const [what, a, b] = line.trim().split(/\s+/);
    if (what === 'http') {
      behaviour.httpStatus = Number(a);
      behaviour.retryAfter = b === undefined ? null : Number(b);
    } else if (what === 'grpc') {
      behaviour.grpcCode = Number(a);
    }
    emit({ ack: line.trim() });
  });
}

main();
