// A gRPC peer in Node.js (@grpc/grpc-js), without generated code: messages
// are raw bytes (identity serializers). The same roles, methods and
// scenarios as peer.py:
//   node peer.js server PORT
//   node peer.js client PORT SCENARIO [COUNT]
'use strict';
const grpc = require('@grpc/grpc-js');

const id = (b) => b;
const def = (name, stream) => ({
  path: `/test.Echo/${name}`, requestStream: false, responseStream: stream,
  requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id,
});
const service = {
  Unary: def('Unary', false), Fail: def('Fail', false),
  Stream: def('Stream', true), Slow: def('Slow', false),
};

function server(port) {
  const s = new grpc.Server();
  s.addService(service, {
    Unary: (call, cb) => cb(null, call.request),
    Fail: (call, cb) => cb({ code: call.request.length ? call.request[0] : 13, details: 'failed on purpose' }),
    Stream: (call) => {
      const n = call.request.length ? call.request[0] : 3;
      for (let i = 0; i < n; i++) call.write(Buffer.alloc(10, i));
      call.end();
    },
    Slow: (call, cb) => {
      const t = setTimeout(() => cb(null, call.request), 3000);
      call.on('cancelled', () => clearTimeout(t));
    },
  });
  s.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) throw err;
    console.log('listening');
  });
}

async function client(port, scenario, count) {
  if (process.env.PEER_WAIT) {
    // traced from its first byte: the test says when
    await new Promise((resolve) => process.stdin.once('data', resolve));
    process.stdin.pause();
  }
  const Client = grpc.makeGenericClientConstructor(service, 'Echo');
  const c = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const calls = [];
  const unary = (m, req) => new Promise((resolve) => {
    c[m](req, { deadline: Date.now() + 20000 }, (err) => resolve(err ? err.code : 0));
  });
  if (scenario === 'unary') {
    for (let i = 0; i < count; i++) calls.push(['Unary', await unary('Unary', Buffer.from(`hello ${i}`))]);
  } else if (scenario === 'errors') {
    for (const code of [5, 3, 13, 14]) calls.push(['Fail', await unary('Fail', Buffer.from([code]))]);
  } else if (scenario === 'stream') {
    for (let i = 0; i < count; i++) {
      const n = await new Promise((resolve, reject) => {
        let got = 0;
        const st = c.Stream(Buffer.from([5]));
        st.on('data', () => got++);
        st.on('end', () => resolve(got));
        st.on('error', reject);
      });
      if (n !== 5) throw new Error('short stream');
      calls.push(['Stream', 0]);
    }
  } else if (scenario === 'concurrent') {
    calls.push(['Unary', await unary('Unary', Buffer.from('warm'))]);
    const codes = await Promise.all(Array.from({ length: count - 1 }, () => unary('Unary', Buffer.alloc(100))));
    for (const code of codes) calls.push(['Unary', code]);
  } else if (scenario === 'cancel') {
    const code = await new Promise((resolve) => {
      const call = c.Slow(Buffer.from('slow'), (err) => resolve(err ? err.code : 0));
      setTimeout(() => call.cancel(), 500);
    });
    calls.push(['Slow', code]);
    await new Promise((r) => setTimeout(r, 300));
  }
  c.close();
  console.log(JSON.stringify({ calls }));
}

if (process.argv[2] === 'server') server(Number(process.argv[3]));
else client(Number(process.argv[3]), process.argv[4], Number(process.argv[5] || 1));
