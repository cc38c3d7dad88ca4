// MySQL/MariaDB client for tests/e2e/test_db.py (mysql2): text queries and
// prepared statements (execute(): COM_STMT_PREPARE once, COM_STMT_EXECUTE
// each time) on one connection. Waits for "go"; prints what it sent as JSON.
'use strict';
const mysql = require('mysql2/promise');

const [port, db, tag, nArg] = process.argv.slice(2);
const n = Number(nArg || 5);

async function main() {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: Number(port), user: 'root', password: '', database: db });
  const sent = [];
  const table = `js_${tag}`;
  async function run(op, tbl, how, q, args) {
    let err = null;
    try {
      if (how === 'execute') await conn.execute(q, args);
      else await conn.query(q, args);
    } catch (e) {
      err = String(e.errno || 'error');
    }
    sent.push({ op, table: tbl, error: err });
  }
  await run('CREATE', table, 'query', `CREATE TABLE ${table} (id integer, name varchar(64))`);
  for (let i = 0; i < n; i++)
    await run('INSERT', table, 'execute', `INSERT INTO ${table} (id, name) VALUES (?, ?)`, [i, `v${i}`]);
  for (let i = 0; i < n; i++)
    await run('SELECT', table, 'execute', `SELECT name FROM ${table} WHERE id = ?`, [i]);
  await run('SELECT', `missing_${tag}`, 'query', `SELECT * FROM missing_${tag}`);
  await conn.end();
  process.stdout.write(JSON.stringify({ sent }) + '\n');
}

process.stdout.write('ready\n');
process.stdin.once('data', () => {
  process.stdin.pause();
  main().catch((e) => { console.error(e); process.exit(1); });
});
