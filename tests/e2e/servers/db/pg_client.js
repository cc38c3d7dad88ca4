// PostgreSQL client for tests/e2e/test_db.py (node-postgres: its own wire
// code). Simple queries, unnamed extended queries (parameters) and a named
// prepared statement run many times (Parse once, then Bind/Execute only),
// on one connection. Waits for "go" on stdin; prints what it sent as JSON.
'use strict';
const { Client } = require('pg');

const [port, db, tag, nArg] = process.argv.slice(2);
const n = Number(nArg || 5);

async function main() {
  const client = new Client({ host: '127.0.0.1', port: Number(port), database: db, user: 'postgres', ssl: false });
  await client.connect();
  const sent = [];
  const table = `js_${tag}`;
  async function run(op, tbl, q) {
    let err = null;
    try {
      await client.query(q);
    } catch (e) {
      err = e.code || 'error';
    }
    sent.push({ op, table: tbl, error: err });
  }
  await run('CREATE', table, `CREATE TABLE ${table} (id integer, name text)`);
  for (let i = 0; i < n; i++)
    await run('INSERT', table, { text: `INSERT INTO ${table} (id, name) VALUES ($1, $2)`, values: [i, `v${i}`] });
  for (let i = 0; i < n; i++)
    await run('SELECT', table, { name: `byid_${tag}`, text: `SELECT name FROM ${table} WHERE id = $1`, values: [i] });
  await run('SELECT', `missing_${tag}`, { text: `SELECT * FROM missing_${tag} WHERE id = $1`, values: [1] });
  await run('SELECT', table, `SELECT count(*) FROM ${table}`);
  await client.end();
  process.stdout.write(JSON.stringify({ sent }) + '\n');
}

process.stdout.write('ready\n');
process.stdin.once('data', () => {
  process.stdin.pause();
  main().catch((e) => { console.error(e); process.exit(1); });
});
