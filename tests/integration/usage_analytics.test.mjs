// Issue 4, analytics: a known mix of verifications across two keys and two identities (valid,
// rate limited by a key limit of 2/min, usage exceeded by credits, not found) is reported exactly
// by usage.summary, usage.timeseries, usage.topKeys and usage.topIdentities — by outcome, key,
// identity and minute — within a second (the recorder flushes every 100 ms).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createApi, createKey, createRootKey, expectError, expectFieldError, expectOk, verify } from './lib/expect.mjs';
import { recordSecret, startServer } from './lib/server.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('every analytics endpoint reports exactly the verifications made', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const apiId = await createApi(server, 'analytics');
  const acmeKey = await createKey(server, apiId, {
    externalId: 'acme',
    ratelimits: [{ name: 'per-minute', limit: 2, duration: 60000, autoApply: true }],
  });
  const globexKey = await createKey(server, apiId, { externalId: 'globex', credits: { remaining: 1 } });

  // Every verification in one UTC minute, so the minute buckets are known: skip the end of one.
  // A loop, as Node's timers count from the event loop's cached time and may end a few tens of
  // milliseconds early on a busy machine; one Date.now(), so that the two reads cannot straddle it.
  while (Date.now() % 60000 > 50000) await sleep(60000 - (Date.now() % 60000) + 50);
  const startedAt = Date.now();
  const minute = startedAt - (startedAt % 60000);

  const codes = [];
  for (let i = 0; i < 4; ++i) codes.push((await verify(server, acmeKey.key, i === 0 ? { tags: ['path=/a'] } : {})).code);
  assert.deepEqual(codes, ['VALID', 'VALID', 'RATE_LIMITED', 'RATE_LIMITED']);
  codes.length = 0;
  for (let i = 0; i < 3; ++i) codes.push((await verify(server, globexKey.key)).code);
  assert.deepEqual(codes, ['VALID', 'USAGE_EXCEEDED', 'USAGE_EXCEEDED']);
  for (let i = 0; i < 2; ++i) {
    const unknown = `analytics_${i}_NotARealKeyAtAll1234`;
    recordSecret(unknown);
    assert.equal((await verify(server, unknown)).code, 'NOT_FOUND');
  }
  const endedAt = Date.now();
  assert.equal(endedAt - (endedAt % 60000), minute, 'the verifications took more than 10 s');
  await sleep(300);

  const range = { start: minute - 3600000, end: minute + 120000 };
  const call = async (path, body) => expectOk(await server.call(path, body), path);

  // Summary: everything, per key, per identity, per API (raw events).
  assert.deepEqual(await call('/v2/usage.summary', range), {
    total: 9, valid: 3, creditsSpent: 1,
    byCode: { VALID: 3, RATE_LIMITED: 2, USAGE_EXCEEDED: 2, NOT_FOUND: 2 }, meters: {},
  });
  assert.deepEqual(await call('/v2/usage.summary', { ...range, keyId: acmeKey.keyId }), {
    total: 4, valid: 2, creditsSpent: 0, byCode: { VALID: 2, RATE_LIMITED: 2 }, meters: {},
  });
  assert.deepEqual(await call('/v2/usage.summary', { ...range, externalId: 'globex' }), {
    total: 3, valid: 1, creditsSpent: 1, byCode: { VALID: 1, USAGE_EXCEEDED: 2 }, meters: {},
  });
  assert.deepEqual(await call('/v2/usage.summary', { ...range, apiId }), {
    total: 7, valid: 3, creditsSpent: 1, byCode: { VALID: 3, RATE_LIMITED: 2, USAGE_EXCEEDED: 2 }, meters: {},
  });
  // Half-open: a range ending at the minute's start sees nothing.
  assert.deepEqual(await call('/v2/usage.summary', { start: minute - 60000, end: minute }),
    { total: 0, valid: 0, creditsSpent: 0, byCode: {}, meters: {} });

  // Timeseries per minute by outcome, key and identity; per hour in total.
  const series = async (fields) => call('/v2/usage.timeseries', { ...range, granularity: 'minute', ...fields });
  assert.deepEqual(await series({ groupBy: 'outcome' }), {
    granularity: 'minute',
    points: [
      { time: minute, group: 'NOT_FOUND', count: 2, credits: 0 },
      { time: minute, group: 'RATE_LIMITED', count: 2, credits: 0 },
      { time: minute, group: 'USAGE_EXCEEDED', count: 2, credits: 0 },
      { time: minute, group: 'VALID', count: 3, credits: 1 },
    ],
  });
  const byGroup = (points) => Object.fromEntries(points.map((p) => {
    assert.equal(p.time, minute);
    return [p.group, p.count];
  }));
  assert.deepEqual(byGroup((await series({ groupBy: 'key' })).points),
    { '': 2, [acmeKey.keyId]: 4, [globexKey.keyId]: 3 });
  assert.deepEqual(byGroup((await series({ groupBy: 'identity' })).points), { '': 2, acme: 4, globex: 3 });
  assert.deepEqual(await series({}), { granularity: 'minute', points: [{ time: minute, count: 9, credits: 1 }] });
  const hour = minute - (minute % 3600000);
  assert.deepEqual(await call('/v2/usage.timeseries', { ...range, granularity: 'hour' }),
    { granularity: 'hour', points: [{ time: hour, count: 9, credits: 1 }] });
  assert.deepEqual((await series({ apiId, groupBy: 'identity' })).points,
    [{ time: minute, group: 'acme', count: 4, credits: 0 }, { time: minute, group: 'globex', count: 3, credits: 1 }]);

  assert.deepEqual(await series({ groupBy: 'tag' }),
    { granularity: 'minute', points: [{ time: minute, group: 'path=/a', count: 1, credits: 0 }] });

  // Top keys and identities, most first; NOT_FOUND (no key, no identity) is not ranked.
  assert.deepEqual(await call('/v2/usage.topKeys', range), [
    { keyId: acmeKey.keyId, count: 4, valid: 2, credits: 0 },
    { keyId: globexKey.keyId, count: 3, valid: 1, credits: 1 },
  ]);
  assert.deepEqual(await call('/v2/usage.topIdentities', { ...range, limit: 1 }),
    [{ externalId: 'acme', count: 4, valid: 2, credits: 0 }]);
});

test('analytics requests are validated at the edge and need usage.*.read', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const now = Date.now();
  const day = 86400000;
  expectFieldError(await server.call('/v2/usage.summary', { start: now, end: now }), 'body.end');
  expectFieldError(await server.call('/v2/usage.summary', { start: now - 401 * day, end: now }), 'body.end');
  expectFieldError(await server.call('/v2/usage.summary', { end: now }), 'body.start');
  expectFieldError(await server.call('/v2/usage.timeseries', { start: now - 30 * day, end: now, granularity: 'minute' }),
    'body.granularity');
  expectFieldError(await server.call('/v2/usage.timeseries', { start: now - day, end: now, granularity: 'week' }),
    'body.granularity');
  expectFieldError(await server.call('/v2/usage.timeseries',
    { start: now - day, end: now, granularity: 'hour', groupBy: 'week' }), 'body.groupBy');
  expectFieldError(await server.call('/v2/usage.topKeys', { start: now - day, end: now, limit: 0 }), 'body.limit');
  expectFieldError(await server.call('/v2/usage.topIdentities', { start: now - day, end: now, limit: 101 }), 'body.limit');
  expectOk(await server.call('/v2/usage.timeseries', { start: now - 400 * day, end: now, granularity: 'day' }));

  const reader = await createRootKey(server, ['usage.*.read'], 'usage-reader');
  const other = await createRootKey(server, ['api.*.read_api'], 'no-usage');
  for (const path of ['/v2/usage.summary', '/v2/usage.topKeys', '/v2/usage.topIdentities']) {
    expectOk(await server.call(path, { start: now - day, end: now }, { rootKey: reader.key }), path);
    expectError(await server.call(path, { start: now - day, end: now }, { rootKey: other.key }), 403, path);
  }
});
