// Issue 3, "Identifier rate limiting without keys": ratelimit.limit, ratelimit.multiLimit and the
// override calls (Unkey v2 shapes), over raw HTTP and through the @unkey/api SDK, against a real
// server: the 11th request of a 10-per-second limit is denied with a reset inside the window and
// admitted after it, multiLimit charges nothing when one limit denies, overrides (exact beats
// wildcard) change limits at once and survive a restart, and bad input and missing scopes are
// refused with 400 and 403.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';

import { Unkey } from '@unkey/api';
import * as errors from '@unkey/api/models/errors';

import { createRootKey, expectError, expectFieldError, expectOk } from './lib/expect.mjs';
import { recordSecret, startServer } from './lib/server.mjs';
import { sdk } from './lib/sdk.mjs';

async function withServer(t, options) {
  const server = await startServer(options);
  t.after(() => server.stop());
  return server;
}

async function call(server, route, body, what = route, options = {}) {
  return expectOk(await server.call(`/v2/${route}`, body, options), what);
}

// Waits until the wall clock is early in a window of `windowMs`, so a burst of requests lands in
// one aligned window (the server reads the same clock).
async function startOfWindow(windowMs) {
  const offset = Date.now() % windowMs;
  if (offset > 50) await sleep(windowMs - offset + 5);
}

function assertLimitShape(data, what) {
  for (const field of ['limit', 'remaining', 'reset']) {
    assert.ok(Number.isSafeInteger(data[field]), `${what}: ${field} must be a safe integer, got ${JSON.stringify(data)}`);
  }
  assert.equal(typeof data.success, 'boolean', `${what}: success ${JSON.stringify(data)}`);
}

test('ratelimit.limit: 10 per second admits 10, denies the 11th until reset, then admits again', async (t) => {
  const server = await withServer(t);
  const request = { namespace: 'api.requests', identifier: 'user_1', limit: 10, duration: 1000 };

  await startOfWindow(1000);
  const firstSentAt = Date.now();
  for (let i = 1; i <= 10; ++i) {
    const data = await call(server, 'ratelimit.limit', request, `request ${i}`);
    assertLimitShape(data, `request ${i}`);
    assert.deepEqual([data.success, data.limit, data.remaining], [true, 10, 10 - i], `request ${i}: ${JSON.stringify(data)}`);
    assert.ok(!('overrideId' in data), `request ${i}: no override applies`);
    // An admitted request reports the end of its (aligned) window.
    assert.ok(data.reset > firstSentAt && data.reset <= firstSentAt + 1000, `request ${i}: reset ${data.reset}`);
  }
  const deniedAt = Date.now();
  const denied = await call(server, 'ratelimit.limit', request, 'request 11');
  assertLimitShape(denied, 'request 11');
  assert.equal(denied.success, false, `request 11 must be denied: ${JSON.stringify(denied)}`);
  assert.equal(denied.remaining, 0);
  // The sliding window admits the next request once the burst has mostly aged out: 100 ms into
  // the next window for a burst inside one window. Never "never", never past a second window.
  assert.ok(denied.reset > deniedAt, `reset ${denied.reset} must be after the denial at ${deniedAt}`);
  assert.ok(denied.reset <= firstSentAt + 1100 + 50, `reset ${denied.reset} must fall within the window (first request at ${firstSentAt})`);

  // Still denied just before reset (when the clock allows checking it), admitted after it.
  const early = denied.reset - Date.now() - 150;
  if (early > 0) {
    await sleep(early);
    const before = await call(server, 'ratelimit.limit', request, 'request before reset');
    assert.equal(before.success, false, `before reset ${denied.reset}: ${JSON.stringify(before)}`);
  }
  await sleep(Math.max(0, denied.reset - Date.now()) + 5);
  const after = await call(server, 'ratelimit.limit', request, 'request after reset');
  assert.equal(after.success, true, `after reset ${denied.reset}: ${JSON.stringify(after)}`);

  // Other identifiers and namespaces count separately.
  assert.equal((await call(server, 'ratelimit.limit', { ...request, identifier: 'user_2' })).remaining, 9);
  assert.equal((await call(server, 'ratelimit.limit', { ...request, namespace: 'other' })).remaining, 9);
});

test('ratelimit.limit: fixed window resets at the window end; cost, cost 0 and cost above the limit', async (t) => {
  const server = await withServer(t);
  const fixed = { namespace: 'fixed', identifier: 'u', limit: 3, duration: 1000, algorithm: 'fixed_window' };
  await startOfWindow(1000);
  const windowEnd = Math.floor(Date.now() / 1000) * 1000 + 1000;
  for (let i = 0; i < 3; ++i) assert.equal((await call(server, 'ratelimit.limit', fixed)).success, true);
  const denied = await call(server, 'ratelimit.limit', fixed);
  assert.deepEqual([denied.success, denied.reset], [false, windowEnd], JSON.stringify(denied));
  await sleep(Math.max(0, windowEnd - Date.now()) + 5);
  assert.equal((await call(server, 'ratelimit.limit', fixed)).success, true, 'admitted in the next window');

  const weighted = { namespace: 'cost', identifier: 'u', limit: 10, duration: 60000 };
  assert.deepEqual(pick(await call(server, 'ratelimit.limit', { ...weighted, cost: 4 })), [true, 6]);
  assert.deepEqual(pick(await call(server, 'ratelimit.limit', { ...weighted, cost: 7 })), [false, 6]);
  assert.deepEqual(pick(await call(server, 'ratelimit.limit', { ...weighted, cost: 0 })), [true, 6]);
  const before = Date.now();
  const tooBig = await call(server, 'ratelimit.limit', { ...weighted, cost: 11, async: true });
  assert.equal(tooBig.success, false);
  // Never INT64_MAX: a cost no window can admit reports now + duration.
  assert.ok(tooBig.reset >= before + 60000 && tooBig.reset <= Date.now() + 60000, JSON.stringify(tooBig));
  assert.deepEqual(pick(await call(server, 'ratelimit.limit', { ...weighted, cost: 6 })), [true, 0]);
});

function pick(data) {
  return [data.success, data.remaining];
}

test('ratelimit.multiLimit: all-or-nothing, one result per limit in order', async (t) => {
  const server = await withServer(t);
  const login = { namespace: 'login', identifier: 'ip_10.0.0.1', limit: 1, duration: 60000 };
  assert.equal((await call(server, 'ratelimit.limit', login)).success, true);  // login is now exhausted

  const api = { namespace: 'api', identifier: 'user_1', limit: 5, duration: 60000 };
  const team = { namespace: 'api', identifier: 'team_1', limit: 5, duration: 60000, cost: 2 };
  const denied = await call(server, 'ratelimit.multiLimit', [api, login, team]);
  assert.equal(denied.passed, false, JSON.stringify(denied));
  assert.equal(denied.limits.length, 3);
  assert.deepEqual(denied.limits.map((l) => [l.namespace, l.identifier, l.passed, l.remaining]), [
    ['api', 'user_1', true, 5],
    ['login', 'ip_10.0.0.1', false, 0],
    ['api', 'team_1', true, 5],
  ]);
  for (const l of denied.limits) assert.ok(Number.isSafeInteger(l.reset) && l.reset > 0, JSON.stringify(l));
  // Nothing was charged: the next single calls see full limits.
  assert.equal((await call(server, 'ratelimit.limit', api)).remaining, 4);
  assert.equal((await call(server, 'ratelimit.limit', team)).remaining, 3);

  const passed = await call(server, 'ratelimit.multiLimit', [api, team]);
  assert.equal(passed.passed, true, JSON.stringify(passed));
  assert.deepEqual(passed.limits.map((l) => l.remaining), [3, 1]);

  expectFieldError(await server.call('/v2/ratelimit.multiLimit', { limits: [api] }), 'body', 'an object body');
  expectFieldError(await server.call('/v2/ratelimit.multiLimit', []), 'body', 'no limits');
  expectFieldError(await server.call('/v2/ratelimit.multiLimit', [api, { ...login, limit: 0 }]), 'body[1].limit', 'limit 0');
  expectFieldError(await server.call('/v2/ratelimit.multiLimit', [api, api]), 'body[1]', 'one counter twice');
  assert.equal((await call(server, 'ratelimit.limit', { ...api, cost: 0 })).remaining, 3, 'refused calls charge nothing');
});

test('overrides: set, get, list with a cursor, delete; exact beats wildcard; they survive a restart', async (t) => {
  const server = await withServer(t);
  const ns = 'api.requests';
  const wildcard = await call(server, 'ratelimit.setOverride', { namespace: ns, identifier: 'vip_*', limit: 3, duration: 60000 });
  assert.match(wildcard.overrideId, /^rlor_/);
  const exact = await call(server, 'ratelimit.setOverride', { namespace: ns, identifier: 'vip_boss', limit: 100, duration: 1000 });
  const again = await call(server, 'ratelimit.setOverride', { namespace: ns, identifier: 'vip_*', limit: 2, duration: 60000 });
  assert.equal(again.overrideId, wildcard.overrideId, 'setOverride upserts');

  const limit = (identifier) => call(server, 'ratelimit.limit', { namespace: ns, identifier, limit: 50, duration: 1000 });
  let data = await limit('vip_1');
  assert.deepEqual([data.success, data.limit, data.remaining, data.overrideId], [true, 2, 1, wildcard.overrideId]);
  await limit('vip_1');
  data = await limit('vip_1');
  assert.equal(data.success, false, `the override's limit of 2 applies: ${JSON.stringify(data)}`);
  assert.ok(data.reset > Date.now() + 1000, `the override's one-minute window applies: ${JSON.stringify(data)}`);
  data = await limit('vip_boss');
  assert.deepEqual([data.limit, data.overrideId], [100, exact.overrideId]);
  data = await limit('regular');
  assert.deepEqual([data.limit, data.overrideId], [50, undefined]);

  const got = await call(server, 'ratelimit.getOverride', { namespace: ns, identifier: 'vip_*' });
  assert.deepEqual(got, { overrideId: wildcard.overrideId, identifier: 'vip_*', limit: 2, duration: 60000 });
  expectError(await server.call('/v2/ratelimit.getOverride', { namespace: ns, identifier: 'vip_1' }), 404, 'a matched identifier is not the pattern');
  expectError(await server.call('/v2/ratelimit.getOverride', { namespace: 'nowhere', identifier: 'x' }), 404, 'unknown namespace');

  const first = await server.call('/v2/ratelimit.listOverrides', { namespace: ns, limit: 1 });
  const firstPage = expectOk(first, 'listOverrides page 1');
  assert.equal(firstPage.length, 1);
  assert.equal(first.json.pagination.hasMore, true);
  const second = await server.call('/v2/ratelimit.listOverrides', { namespace: ns, limit: 1, cursor: first.json.pagination.cursor });
  const secondPage = expectOk(second, 'listOverrides page 2');
  assert.equal(second.json.pagination.hasMore, false);
  assert.deepEqual([...firstPage, ...secondPage].map((o) => o.identifier).sort(), ['vip_*', 'vip_boss']);

  assert.deepEqual(await call(server, 'ratelimit.deleteOverride', { namespace: ns, identifier: 'vip_boss' }), {});
  expectError(await server.call('/v2/ratelimit.deleteOverride', { namespace: ns, identifier: 'vip_boss' }), 404, 'deleted twice');
  data = await limit('vip_boss');
  assert.deepEqual([data.limit, data.overrideId], [2, wildcard.overrideId], 'the wildcard applies once the exact one is gone');

  // A ban: limit 0 denies everything, even for a namespace that did not exist before.
  await call(server, 'ratelimit.setOverride', { namespace: 'banned', identifier: 'bot_*', limit: 0, duration: 60000 });
  data = await call(server, 'ratelimit.limit', { namespace: 'banned', identifier: 'bot_7', limit: 10, duration: 1000 });
  assert.deepEqual([data.success, data.limit, data.remaining], [false, 0, 0]);

  await server.restart();
  const kept = await call(server, 'ratelimit.getOverride', { namespace: ns, identifier: 'vip_*' }, 'getOverride after restart');
  assert.deepEqual(kept, got);
  expectError(await server.call('/v2/ratelimit.getOverride', { namespace: ns, identifier: 'vip_boss' }), 404, 'deleted stays deleted');
  data = await limit('vip_9');
  assert.deepEqual([data.success, data.limit, data.overrideId], [true, 2, wildcard.overrideId], 'applied after restart');
  data = await call(server, 'ratelimit.limit', { namespace: 'banned', identifier: 'bot_8', limit: 10, duration: 1000 });
  assert.equal(data.success, false, 'the ban survives the restart');
});

test('ratelimit.*: bad input is a 400 naming the field; scopes are enforced per namespace', async (t) => {
  const server = await withServer(t);
  const good = { namespace: 'checkout', identifier: 'u', limit: 10, duration: 1000 };
  const cases = [
    [{ ...good, limit: 0 }, 'body.limit'],
    [{ ...good, duration: 999 }, 'body.duration'],
    [{ ...good, cost: -1 }, 'body.cost'],
    [{ ...good, identifier: '' }, 'body.identifier'],
    [{ ...good, identifier: 'x'.repeat(256) }, 'body.identifier'],
    [{ ...good, namespace: 'has space' }, 'body.namespace'],
    [{ ...good, namespace: undefined }, 'body.namespace'],
    [{ ...good, algorithm: 'leaky_bucket' }, 'body.algorithm'],
    [{ ...good, limit: 2 ** 53, duration: 2 ** 40 }, 'body.limit'],
  ];
  for (const [body, location] of cases) {
    expectFieldError(await server.call('/v2/ratelimit.limit', body), location, `limit ${JSON.stringify(body).slice(0, 80)}`);
  }
  expectFieldError(await server.call('/v2/ratelimit.setOverride', { namespace: 'x', identifier: 'y', limit: -1, duration: 1000 }), 'body.limit');
  expectFieldError(await server.call('/v2/ratelimit.listOverrides', { namespace: 'x', limit: 101 }), 'body.limit');

  const limiter = await createRootKey(server, ['ratelimit.checkout.limit'], 'checkout limiter');
  recordSecret(limiter.key);
  const asLimiter = { rootKey: limiter.key };
  assert.equal((await call(server, 'ratelimit.limit', good, 'limit with a namespace scope', asLimiter)).success, true);
  const forbidden = expectError(await server.call('/v2/ratelimit.limit', { ...good, namespace: 'other' }, asLimiter), 403, 'other namespace');
  assert.match(forbidden.detail, /ratelimit\.other\.limit/);
  expectError(await server.call('/v2/ratelimit.setOverride', { ...good, identifier: 'v' }, asLimiter), 403, 'setOverride without its scope');
  expectError(await server.call('/v2/ratelimit.multiLimit', [good, { ...good, namespace: 'other' }], asLimiter), 403, 'multiLimit with one foreign namespace');
  assert.equal((await call(server, 'ratelimit.limit', { ...good, cost: 0 })).remaining, 9, 'the refused multiLimit charged nothing');

  const reader = await createRootKey(server, ['ratelimit.*.read_override'], 'override reader');
  recordSecret(reader.key);
  await call(server, 'ratelimit.setOverride', { ...good, identifier: 'v' });
  await call(server, 'ratelimit.getOverride', { namespace: 'checkout', identifier: 'v' }, 'read with read_override', { rootKey: reader.key });
  expectError(await server.call('/v2/ratelimit.deleteOverride', { namespace: 'checkout', identifier: 'v' }, { rootKey: reader.key }), 403);
  expectError(await server.call('/v2/ratelimit.limit', good, { rootKey: reader.key }), 403);
});

test('the @unkey/api SDK: ratelimit.limit, multiLimit and the override calls', async (t) => {
  const server = await withServer(t);
  const unkey = new Unkey({ rootKey: server.rootKey, serverURL: server.url, retryConfig: { strategy: 'none' } });
  const namespace = 'sdk.requests';

  for (let i = 1; i <= 3; ++i) {
    const res = await sdk(`ratelimit.limit ${i}`, () => unkey.ratelimit.limit({ namespace, identifier: 'user_1', limit: 3, duration: 60000 }));
    assert.match(res.meta.requestId, /^req_/);
    assert.deepEqual([res.data.success, res.data.remaining], [true, 3 - i]);
  }
  const denied = await sdk('ratelimit.limit 4', () => unkey.ratelimit.limit({ namespace, identifier: 'user_1', limit: 3, duration: 60000 }));
  assert.equal(denied.data.success, false);
  // When the sliding window admits a request again: within the next window (how far into it
  // depends on where in this one the burst fell).
  assert.ok(denied.data.reset > Date.now() && denied.data.reset <= Date.now() + 2 * 60000, JSON.stringify(denied.data));

  const multi = await sdk('ratelimit.multiLimit', () => unkey.ratelimit.multiLimit([
    { namespace, identifier: 'user_2', limit: 5, duration: 60000 },
    { namespace, identifier: 'user_1', limit: 3, duration: 60000 },
  ]));
  assert.equal(multi.data.passed, false);
  assert.deepEqual(multi.data.limits.map((l) => [l.identifier, l.passed]), [['user_2', true], ['user_1', false]]);

  const set = await sdk('ratelimit.setOverride', () => unkey.ratelimit.setOverride({ namespace, identifier: 'user_*', limit: 10, duration: 60000 }));
  assert.match(set.data.overrideId, /^rlor_/);
  const limited = await sdk('ratelimit.limit with override', () => unkey.ratelimit.limit({ namespace, identifier: 'user_1', limit: 3, duration: 60000 }));
  assert.deepEqual([limited.data.success, limited.data.limit, limited.data.overrideId], [true, 10, set.data.overrideId]);

  const got = await sdk('ratelimit.getOverride', () => unkey.ratelimit.getOverride({ namespace, identifier: 'user_*' }));
  assert.deepEqual(got.data, { overrideId: set.data.overrideId, identifier: 'user_*', limit: 10, duration: 60000 });
  await sdk('ratelimit.setOverride 2', () => unkey.ratelimit.setOverride({ namespace, identifier: 'admin', limit: 1000, duration: 1000 }));
  const page = await sdk('ratelimit.listOverrides', () => unkey.ratelimit.listOverrides({ namespace, limit: 1 }));
  assert.equal(page.result.data.length, 1);
  assert.equal(page.result.pagination.hasMore, true);
  const next = await sdk('ratelimit.listOverrides next', () => page.next());
  assert.ok(next, 'next() must return the second page');
  assert.equal(next.result.data.length, 1);
  assert.deepEqual([page.result.data[0].identifier, next.result.data[0].identifier].sort(), ['admin', 'user_*']);

  const deleted = await sdk('ratelimit.deleteOverride', () => unkey.ratelimit.deleteOverride({ namespace, identifier: 'user_*' }));
  assert.deepEqual(deleted.data, {});
  await assert.rejects(() => unkey.ratelimit.getOverride({ namespace, identifier: 'user_*' }),
    (error) => error instanceof errors.NotFoundErrorResponse || (error instanceof errors.UnkeyError && error.statusCode === 404),
    'getOverride after delete');
  await assert.rejects(() => unkey.ratelimit.limit({ namespace, identifier: 'u', limit: 0, duration: 60000 }),
    (error) => error instanceof errors.BadRequestErrorResponse || error?.name === 'SDKValidationError' ||
      (error instanceof errors.UnkeyError && error.statusCode === 400),
    'limit 0 is refused');
});
