// Issue 4, recording: every keys.verifyKey, keys.authorize and ratelimit.limit leaves one usage
// event, and SIGTERM writes them all before exit. Checked on the SQLite file with the sqlite3 CLI
// after the server stopped: raw events by code and source, and the minute rollups agree.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

import { createApi, createKey, expectOk, verify } from './lib/expect.mjs';
import { rawRequest, recordSecret, startServer } from './lib/server.mjs';

function sqliteJson(dbPath, sql) {
  const out = execFileSync('sqlite3', ['-json', '-readonly', dbPath, sql], { encoding: 'utf8' });
  return out.trim() === '' ? [] : JSON.parse(out);
}

test('a known mix of verifications lands in usage_events and the minute rollups after SIGTERM', async (t) => {
  // A long interval: what is in the store after the exit was written by the shutdown flush.
  const server = await startServer({ args: ['--usage-flush-interval-ms', '60000'] });
  t.after(() => server.stop());
  const apiId = await createApi(server, 'usage');
  const limited = await createKey(server, apiId, {
    externalId: 'acme',
    credits: { remaining: 100 },
    ratelimits: [{ name: 'burst', limit: 3, duration: 60000, autoApply: true }],
  });
  const disabled = await createKey(server, apiId, { enabled: false });
  const plain = await createKey(server, apiId);

  const expected = new Map();  // "code/source" -> { count, credits }
  const expect = (code, source, credits = 0) => {
    const entry = expected.get(`${code}/${source}`) ?? { count: 0, credits: 0 };
    entry.count += 1;
    entry.credits += credits;
    expected.set(`${code}/${source}`, entry);
  };

  for (let i = 0; i < 5; ++i) {
    const data = await verify(server, limited.key, { credits: { cost: 2 }, tags: ['path=/v1/x'] });
    const code = i < 3 ? 'VALID' : 'RATE_LIMITED';
    assert.equal(data.code, code);
    expect(code, 'verify', code === 'VALID' ? 2 : 0);
  }
  for (let i = 0; i < 2; ++i) {
    assert.equal((await verify(server, disabled.key)).code, 'DISABLED');
    expect('DISABLED', 'verify');
  }
  for (let i = 0; i < 3; ++i) {
    const unknown = `usage_${i}_NotARealKeyAtAll1234`;
    recordSecret(unknown);
    assert.equal((await verify(server, unknown)).code, 'NOT_FOUND');
    expect('NOT_FOUND', 'verify');
  }
  const authorized = await rawRequest(`${server.url}/v2/keys.authorize`, {
    method: 'GET', headers: { authorization: `Bearer ${plain.key}` } });
  assert.equal(authorized.status, 200);
  expect('VALID', 'authorize');
  for (const passed of [true, false]) {
    const data = expectOk(await server.call('/v2/ratelimit.limit',
      { namespace: 'usage.test', identifier: 'user_1', limit: 1, duration: 60000 }), 'ratelimit.limit');
    assert.equal(data.success, passed);
    expect(passed ? 'RATELIMIT_PASSED' : 'RATELIMIT_DENIED', 'ratelimit', passed ? 1 : 0);
  }
  const total = [...expected.values()].reduce((sum, e) => sum + e.count, 0);

  const stopped = await server.stop('SIGTERM');
  assert.equal(stopped.code, 0, `exit code\n${server.procState.stderr}`);

  const db = path.join(server.dataDir, 'tollgate.db');
  const events = sqliteJson(db,
    'SELECT code, source, COUNT(*) AS count, SUM(credits_spent) AS credits FROM usage_events GROUP BY code, source');
  const got = new Map(events.map((row) => [`${row.code}/${row.source}`, { count: row.count, credits: row.credits }]));
  assert.deepEqual(Object.fromEntries(got), Object.fromEntries(expected));
  assert.equal(sqliteJson(db, 'SELECT COUNT(*) AS n FROM usage_events')[0].n, total);

  const [acme] = sqliteJson(db, `SELECT COUNT(*) AS n, SUM(denied_by = 'burst') AS denied,
    SUM(tags = '["path=/v1/x"]') AS tagged FROM usage_events WHERE external_id = 'acme' AND key_id = '${limited.keyId}'`);
  assert.deepEqual(acme, { n: 5, denied: 2, tagged: 5 });

  // Minute rollups: per code, the same counts and credits as the raw events.
  const rawByCode = sqliteJson(db,
    'SELECT code, COUNT(*) AS count, SUM(credits_spent) AS credits FROM usage_events GROUP BY code ORDER BY code');
  for (const granularity of ['minute', 'month']) {
    const rollups = sqliteJson(db, `SELECT code, SUM(count) AS count, SUM(credits) AS credits FROM usage_rollups
      WHERE granularity = '${granularity}' GROUP BY code ORDER BY code`);
    assert.deepEqual(rollups, rawByCode, `${granularity} rollups`);
  }
  const minuteOfEvents = sqliteJson(db, `SELECT COUNT(*) AS n FROM usage_events e WHERE NOT EXISTS (
    SELECT 1 FROM usage_rollups r WHERE r.granularity = 'minute' AND r.bucket_start = e.at - e.at % 60000
      AND r.key_id = e.key_id AND r.external_id = e.external_id AND r.code = e.code)`);
  assert.equal(minuteOfEvents[0].n, 0, 'every event has its minute rollup row');
});
