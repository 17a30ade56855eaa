// Raw usage events are kept --usage-retention-days; the rollups stay. The server first runs
// under libfaketime 40 days in the past and records usage, then restarts on the real clock; its
// maintenance thread prunes on its first pass. Checked on the SQLite file with the sqlite3 CLI.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

import { startServer } from './lib/server.mjs';

const kFaketime = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function count(dbPath, sql) {
  const out = execFileSync('sqlite3', ['-readonly', dbPath, sql], { encoding: 'utf8' });
  return Number(out.trim());
}

test('raw usage past its retention is pruned and the rollups stay', async (t) => {
  const past = new Date(Date.now() - 40 * 86_400_000).toISOString();
  const server = await startServer({
    env: { LD_PRELOAD: kFaketime, FAKETIME: `@${past.slice(0, 10)} ${past.slice(11, 19)}`, FAKETIME_DONT_FAKE_MONOTONIC: '1' },
  });
  t.after(() => server.stop());
  const api = await server.call('/v2/apis.createApi', { name: 'retention-api' });
  const { key } = (await server.call('/v2/keys.createKey', { apiId: api.json.data.apiId })).json.data;
  for (let i = 0; i < 3; ++i) assert.equal((await server.call('/v2/keys.verifyKey', { key })).json.data.code, 'VALID');
  await server.stop();
  const db = path.join(server.dataDir, 'tollgate.db');
  assert.equal(count(db, 'SELECT COUNT(*) FROM usage_events'), 3, 'the 40-day-old events were recorded');
  const rollups = count(db, 'SELECT COUNT(*) FROM usage_rollups');
  assert.ok(rollups >= 4, `rollups per minute, hour, day and month, got ${rollups}`);

  await server.restart({ env: {}, args: ['--usage-retention-days', '30'] });
  await sleep(2500);  // the maintenance thread runs every second and prunes on its first pass
  await server.stop();
  assert.equal(count(db, 'SELECT COUNT(*) FROM usage_events'), 0, 'events older than 30 days are pruned');
  assert.equal(count(db, 'SELECT COUNT(*) FROM usage_rollups'), rollups, 'rollups are kept');
});
