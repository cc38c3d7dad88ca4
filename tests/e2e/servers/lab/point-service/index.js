// Seed 002's point service as the lab describes it: Express on MySQL (here
// MariaDB) through a mysql2 pool, prepared statements (execute), no SDK.
// Usage: node index.js PORT MYSQL_PORT DATABASE
'use strict';

const express = require('express');
const mysql = require('mysql2/promise');

const [port, dbPort, database] = process.argv.slice(2);
const pool = mysql.createPool({
  host: '127.0.0.1', port: Number(dbPort), user: 'root', password: '', database,
  connectionLimit: 4, ssl: undefined,
});

const app = express();
app.use(express.json());

// A failed query is the service's 500, as the lab's handlers do.
const handle = (fn) => async (req, res) => {
  try {
    await fn(req, res);
  } catch (err) {
    res.status(500).json({ error: err.code || String(err) });
  }
};

app.get('/health', (req, res) => res.json({ status: 'UP' }));

app.get('/api/v1/points', handle(async (req, res) => {
  const [rows] = await pool.query('SELECT id, user_id, amount, reason FROM points');
  res.json(rows);
}));

app.get('/api/v1/points/user/:userId', handle(async (req, res) => {
  const [rows] = await pool.execute(
    'SELECT id, user_id, amount, reason FROM points WHERE user_id = ?', [req.params.userId]);
  res.json(rows);
}));

app.get('/api/v1/points/user/:userId/total', handle(async (req, res) => {
  const [rows] = await pool.execute(
    'SELECT COALESCE(SUM(amount), 0) AS total FROM points WHERE user_id = ?',
    [req.params.userId]);
  res.json({ userId: Number(req.params.userId), total: Number(rows[0].total) });
}));

app.post('/api/v1/points', handle(async (req, res) => {
  const { userId = null, amount = null, reason = null } = req.body || {};
  const [result] = await pool.execute(
    'INSERT INTO points (user_id, amount, reason) VALUES (?, ?, ?)', [userId, amount, reason]);
  res.status(201).json({ id: result.insertId });
}));

const server = app.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`ready ${port}\n`);
});
process.on('SIGTERM', () => { server.close(); pool.end(); process.exit(0); });
