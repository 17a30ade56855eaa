// Issue 4, usage.ingest: metered usage from the provider's own systems. Sending the same batch
// twice counts it once (eventId); timestamps older than 35 days or more than 5 minutes ahead are
// refused with a message naming the window; a keyId stands for its identity. What was ingested
// shows in usage.summary (meters) and usage.timeseries (groupBy "meter").

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createApi, createKey, createRootKey, expectError, expectFieldError, expectOk } from './lib/expect.mjs';
import { startServer } from './lib/server.mjs';

const kDay = 86_400_000;

async function ingest(server, events, options) {
  return server.call('/v2/usage.ingest', { events }, options);
}

// Sums of one customer's meters over the last 40 days (and a little ahead) from usage.summary.
async function meters(server, filter) {
  const now = Date.now();
  const data = expectOk(await server.call('/v2/usage.summary', { start: now - 40 * kDay, end: now + 10 * 60_000, ...filter }));
  return data.meters;
}

test('a batch sent twice counts once, and every view reports it', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const now = Date.now();
  const batch = [
    { eventId: 'run-1/a', externalId: 'acme', meter: 'tokens', quantity: 1200, timestamp: now - 2 * kDay },
    { eventId: 'run-1/b', externalId: 'acme', meter: 'tokens', quantity: 800, timestamp: now - 60_000 },
    { eventId: 'run-1/c', externalId: 'acme', meter: 'images', quantity: 3, timestamp: now },
    { eventId: 'run-1/d', externalId: 'globex', meter: 'tokens', quantity: 50 },  // timestamp: now
  ];
  const first = expectOk(await ingest(server, batch), 'first ingest');
  assert.deepEqual(first, { ingested: 4, duplicates: 0, duplicateEventIds: [] });

  // A retry of the whole batch (the sender never saw the answer) plus one new event.
  const retry = [...batch, { eventId: 'run-1/e', externalId: 'acme', meter: 'tokens', quantity: 5, timestamp: now }];
  const second = expectOk(await ingest(server, retry), 'retried ingest');
  assert.equal(second.ingested, 1);
  assert.equal(second.duplicates, 4);
  assert.deepEqual(second.duplicateEventIds, ['run-1/a', 'run-1/b', 'run-1/c', 'run-1/d']);

  // Stored before the answer: readable at once, no flush to wait for.
  assert.deepEqual(await meters(server, { externalId: 'acme' }), {
    images: { count: 1, quantity: 3 },
    tokens: { count: 3, quantity: 1200 + 800 + 5 },
  });
  assert.deepEqual(await meters(server, { externalId: 'globex' }), { tokens: { count: 1, quantity: 50 } });
  assert.deepEqual(await meters(server, {}), {
    images: { count: 1, quantity: 3 },
    tokens: { count: 4, quantity: 2055 },
  });

  const days = expectOk(await server.call('/v2/usage.timeseries', {
    start: now - 3 * kDay, end: now + kDay, granularity: 'day', groupBy: 'meter', externalId: 'acme',
  }));
  const dayOf = (ms) => ms - (ms % kDay);
  const expected = [
    { time: dayOf(now - 2 * kDay), group: 'tokens', count: 1, quantity: 1200 },
  ];
  // The last minute's events may fall on yesterday when the test runs just after midnight UTC.
  const recent = new Map();
  for (const [at, meter, quantity] of [[now - 60_000, 'tokens', 800], [now, 'images', 3], [now, 'tokens', 5]]) {
    const key = `${dayOf(at)}/${meter}`;
    const entry = recent.get(key) ?? { time: dayOf(at), group: meter, count: 0, quantity: 0 };
    entry.count += 1;
    entry.quantity += quantity;
    recent.set(key, entry);
  }
  expected.push(...[...recent.values()].sort((a, b) => a.time - b.time || a.group.localeCompare(b.group)));
  assert.deepEqual(days.points, expected);

  // Metered usage belongs to customers, not APIs.
  expectFieldError(await server.call('/v2/usage.timeseries', {
    start: now - kDay, end: now + kDay, granularity: 'day', groupBy: 'meter', apiId: 'api_x',
  }), 'body.apiId');
});

test('timestamps outside [35 days ago, 5 minutes ahead] are refused with the window named', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const now = Date.now();
  const event = (id, timestamp) => ({ eventId: id, externalId: 'acme', meter: 'tokens', quantity: 1, timestamp });

  const tooOld = expectFieldError(await ingest(server, [event('old', now - 36 * kDay)]), 'body.events[0].timestamp');
  assert.match(tooOld.errors[0].message, /36 days .* old; .*last 35 days/);
  const ahead = expectFieldError(await ingest(server, [event('ok', now), event('ahead', now + 10 * 60_000)]),
    'body.events[1].timestamp');
  assert.match(ahead.errors[0].message, /seconds ahead of tollgate's clock; at most 300 seconds/);
  // All or nothing: the valid event of the refused batch was not stored.
  assert.deepEqual(await meters(server, { externalId: 'acme' }), {});

  // Just inside both edges.
  const inside = expectOk(await ingest(server, [event('edge-old', now - 35 * kDay + 60_000), event('edge-new', now + 4 * 60_000)]));
  assert.equal(inside.ingested, 2);
  assert.deepEqual(await meters(server, { externalId: 'acme' }), { tokens: { count: 2, quantity: 2 } });
});

test('a keyId stands for its identity; a mismatch or an unknown key without externalId is refused', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const apiId = await createApi(server, 'ingest');
  const acmeKey = await createKey(server, apiId, { externalId: 'acme' });
  const loneKey = await createKey(server, apiId);

  expectOk(await ingest(server, [{ eventId: 'k1', keyId: acmeKey.keyId, meter: 'tokens', quantity: 7 }]));
  assert.deepEqual(await meters(server, { externalId: 'acme' }), { tokens: { count: 1, quantity: 7 } });
  assert.deepEqual(await meters(server, { keyId: acmeKey.keyId }), { tokens: { count: 1, quantity: 7 } });

  const mismatch = expectFieldError(await ingest(server, [
    { eventId: 'k2', keyId: acmeKey.keyId, externalId: 'globex', meter: 'tokens', quantity: 1 },
  ]), 'body.events[0].externalId');
  assert.match(mismatch.errors[0].message, /belongs to 'acme'/);
  expectFieldError(await ingest(server, [{ eventId: 'k3', keyId: loneKey.keyId, meter: 'tokens', quantity: 1 }]),
    'body.events[0].externalId');
  expectFieldError(await ingest(server, [{ eventId: 'k4', keyId: 'key_gone', meter: 'tokens', quantity: 1 }]),
    'body.events[0].keyId');
  // Late usage of a key that is gone is still accepted for its customer.
  expectOk(await ingest(server, [{ eventId: 'k5', keyId: 'key_gone', externalId: 'acme', meter: 'tokens', quantity: 2 }]));
  assert.deepEqual(await meters(server, { externalId: 'acme' }), { tokens: { count: 2, quantity: 9 } });
});

test('malformed batches get a 400 naming each bad field, and the scope is usage.*.ingest', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  expectFieldError(await server.call('/v2/usage.ingest', {}), 'body.events');
  expectFieldError(await ingest(server, []), 'body.events');
  const tooMany = Array.from({ length: 1001 }, (_, i) => ({ eventId: `e${i}`, externalId: 'a', meter: 'm', quantity: 1 }));
  expectFieldError(await ingest(server, tooMany), 'body.events');

  const error = expectError(await ingest(server, [
    { externalId: 'acme', meter: 'tokens', quantity: 1 },
    { eventId: 'x', externalId: 'acme', meter: 'tokens per hour', quantity: -1 },
    { eventId: 'y', externalId: 'acme', meter: 'tokens', quantity: 1.5 },
    'not an object',
  ]), 400);
  const locations = error.errors.map((e) => e.location);
  for (const location of ['body.events[0].eventId', 'body.events[1].meter', 'body.events[1].quantity',
    'body.events[2].quantity', 'body.events[3]']) {
    assert.ok(locations.includes(location), `expected an error at ${location}, got ${JSON.stringify(locations)}`);
  }

  const ingester = await createRootKey(server, ['usage.*.ingest'], 'ingester');
  const reader = await createRootKey(server, ['usage.*.read'], 'reader');
  const event = [{ eventId: 'scoped', externalId: 'acme', meter: 'tokens', quantity: 1 }];
  expectOk(await ingest(server, event, { rootKey: ingester.key }));
  expectError(await ingest(server, event, { rootKey: reader.key }), 403);
});
