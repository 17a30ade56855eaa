// Issue 3, Done-when 2 (and the verifyKey half of 4): keys.verifyKey deciding rate limits,
// credits and the monthly quota over HTTP against a real server: the free tier's 10 req/s (the
// 11th request in a second is RATE_LIMITED, VALID again at the reported reset), multi-limit
// denials that charge nothing, credits running out, the block / allow / throttle overage
// policies, identity limits shared by two keys, the ratelimits[] and quota{} shapes, quota counts
// across a restart, ratelimits named in the request, and the @unkey/api SDK's verifyKey with
// ratelimits.
//
// The server runs on the wall clock, so tests that need several requests inside one window
// start right after a window boundary (startOfWindow) and check afterwards that they stayed
// inside it; hour-long windows are used where only "not yet reset" matters.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';

import { Unkey } from '@unkey/api';
import * as errors from '@unkey/api/models/errors';

import { createApi, createKey, describeResponse, expectFieldError, expectOk, verify } from './lib/expect.mjs';
import { startServer } from './lib/server.mjs';
import { sdk } from './lib/sdk.mjs';

const kHour = 3_600_000;

async function withServer(t, options) {
  const server = await startServer(options);
  t.after(() => server.stop());
  return server;
}

async function call(server, route, body, what = route) {
  return expectOk(await server.call(`/v2/${route}`, body), what);
}

// Waits until the wall clock is within the first `slackMs` of a window of `windowMs` (epoch
// aligned, as the limiter's windows are).
async function startOfWindow(windowMs = 1000, slackMs = 50) {
  for (;;) {
    const offset = Date.now() % windowMs;
    if (offset < slackMs) return;
    await sleep(windowMs - offset + 1);
  }
}

// For hour-long windows: makes sure the next `neededMs` do not cross an hour boundary.
async function awayFromHourEdge(neededMs = 30_000) {
  const left = kHour - (Date.now() % kHour);
  if (left < neededMs) await sleep(left + 5);
}

const kRatelimitFields = ['autoApply', 'duration', 'exceeded', 'id', 'limit', 'name', 'remaining', 'reset'];
const kQuotaFields = ['included', 'overage', 'periodEnd', 'remaining', 'used'];

// Exactly the fields and types of one data.ratelimits[] entry (the SDK's VerifyKeyRatelimitData).
function assertRatelimitShape(entry, what) {
  assert.deepEqual(Object.keys(entry).sort(), kRatelimitFields, `${what}: fields of ${JSON.stringify(entry)}`);
  assert.equal(typeof entry.id, 'string', what);
  assert.equal(typeof entry.name, 'string', what);
  assert.equal(typeof entry.exceeded, 'boolean', what);
  assert.equal(typeof entry.autoApply, 'boolean', what);
  for (const field of ['limit', 'duration', 'reset', 'remaining']) {
    assert.ok(Number.isInteger(entry[field]), `${what}: ${field} must be an integer in ${JSON.stringify(entry)}`);
  }
  assert.ok(entry.remaining >= 0 && entry.remaining <= entry.limit, `${what}: remaining out of range ${JSON.stringify(entry)}`);
}

// The first instant of the next UTC month after `t`.
function nextMonthStart(t) {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

function assertQuota(data, expected, what) {
  assert.ok(data.quota && typeof data.quota === 'object', `${what}: no quota in ${JSON.stringify(data)}`);
  assert.deepEqual(Object.keys(data.quota).sort(), kQuotaFields, `${what}: fields of quota ${JSON.stringify(data.quota)}`);
  const { periodEnd, ...counts } = data.quota;
  assert.deepEqual(counts, expected, `${what}: quota ${JSON.stringify(data.quota)}`);
  const now = Date.now();
  assert.ok(periodEnd === nextMonthStart(now) || periodEnd === nextMonthStart(now - 60_000),
    `${what}: quota.periodEnd ${periodEnd} is not the start of the next UTC month`);
}

function limitNamed(data, name, what) {
  const found = (data.ratelimits ?? []).filter((rl) => rl.name === name);
  assert.equal(found.length, 1, `${what}: expected one ratelimit named ${name} in ${JSON.stringify(data.ratelimits)}`);
  return found[0];
}


test('a free-tier key is RATE_LIMITED on the 11th request in a second and VALID again at the reported reset', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server, 'free-tier');

  // Eleven requests back to back from the start of a second. Another attempt (with a fresh key)
  // only if this machine could not fit them into one second.
  let key;
  let outcome;
  for (let attempt = 0; attempt < 3 && !outcome; ++attempt) {
    ({ key } = await createKey(server, apiId, { tier: 'free' }));
    await startOfWindow(1000, 50);
    const started = Date.now();
    const responses = [];
    for (let i = 0; i < 11; ++i) responses.push(await server.call('/v2/keys.verifyKey', { key }));
    if (Math.floor(Date.now() / 1000) !== Math.floor(started / 1000)) continue;
    outcome = responses.map((res, i) => expectOk(res, `verifyKey ${i + 1}`));
  }
  assert.ok(outcome, 'could not send 11 requests within one second in 3 attempts');

  assert.deepEqual(outcome.map((d) => d.code), [...Array(10).fill('VALID'), 'RATE_LIMITED'],
    'the first ten are VALID, the 11th RATE_LIMITED');
  outcome.slice(0, 10).forEach((data, i) => {
    assert.equal(data.tier, 'free');
    const rl = limitNamed(data, 'requests', `request ${i + 1}`);
    assertRatelimitShape(rl, `request ${i + 1}`);
    assert.deepEqual([rl.exceeded, rl.limit, rl.duration, rl.remaining, rl.autoApply], [false, 10, 1000, 9 - i, true],
      `request ${i + 1}: ${JSON.stringify(rl)}`);
  });

  const denied = outcome[10];
  assert.equal(denied.valid, false);
  assert.equal(denied.tier, 'free');
  assert.equal(denied.ratelimits.length, 1, JSON.stringify(denied.ratelimits));
  const rl = denied.ratelimits[0];
  assertRatelimitShape(rl, 'the 11th');
  assert.equal(rl.exceeded, true);
  assert.equal(rl.remaining, 0);
  const now = Date.now();
  assert.ok(rl.reset > now - 100 && rl.reset <= now + 2 * rl.duration,
    `reset ${rl.reset} must be the Unix ms instant of the next admission, about a window ahead (now ${now})`);
  assertQuota(denied, { used: 10, included: 10000, remaining: 9990, overage: 0 }, 'the 11th uses no quota');

  await sleep(Math.max(0, rl.reset - Date.now()) + 5);
  const again = await verify(server, key);
  assert.equal(again.code, 'VALID', `after the reported reset ${rl.reset}: ${JSON.stringify(again)}`);
  assertQuota(again, { used: 11, included: 10000, remaining: 9989, overage: 0 }, 'after the reset');
});

test('a multi-limit denial charges none of the other limits', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server, 'multi');

  // The key's own limit denies; the tier's limit must be left as it was.
  await call(server, 'tiers.createTier', { name: 'hourly', ratelimits: [{ name: 'requests', limit: 10, duration: kHour }] });
  const { keyId, key } = await createKey(server, apiId,
    { tier: 'hourly', ratelimits: [{ name: 'per-key', limit: 2, duration: kHour, autoApply: true }] });
  await awayFromHourEdge();
  let v = await verify(server, key);
  assert.equal(v.code, 'VALID', JSON.stringify(v));
  v = await verify(server, key);
  assert.equal(v.code, 'VALID', JSON.stringify(v));
  assert.equal(limitNamed(v, 'requests', 'second').remaining, 8);
  assert.equal(limitNamed(v, 'per-key', 'second').remaining, 0);
  for (let i = 0; i < 4; ++i) {
    v = await verify(server, key);
    assert.equal(v.code, 'RATE_LIMITED', JSON.stringify(v));
    assert.equal(limitNamed(v, 'per-key', 'denied').exceeded, true);
    const tier = limitNamed(v, 'requests', 'denied');
    assert.equal(tier.exceeded, false, JSON.stringify(v.ratelimits));
    assert.equal(tier.remaining, 8, `denial ${i + 1} charged the tier limit: ${JSON.stringify(v.ratelimits)}`);
  }
  await call(server, 'keys.updateKey', { keyId, ratelimits: [] });
  v = await verify(server, key);
  assert.equal(v.code, 'VALID', JSON.stringify(v));
  assert.deepEqual(v.ratelimits.map((rl) => [rl.name, rl.remaining]), [['requests', 7]],
    'the next verify finds the tier counter where the two admitted requests left it');

  // The tier's limit denies; the key's own limit must be left as it was.
  await call(server, 'tiers.createTier', { name: 'tight', ratelimits: [{ name: 'requests', limit: 2, duration: 1000 }] });
  const second = await createKey(server, apiId,
    { tier: 'tight', ratelimits: [{ name: 'per-key', limit: 5, duration: kHour, autoApply: true }] });
  await awayFromHourEdge();
  await startOfWindow(1000, 50);
  for (let i = 0; i < 2; ++i) assert.equal((await verify(server, second.key)).code, 'VALID');
  for (let i = 0; i < 3; ++i) {
    v = await verify(server, second.key);
    assert.equal(v.code, 'RATE_LIMITED', JSON.stringify(v));
    assert.equal(limitNamed(v, 'requests', 'tier denial').exceeded, true);
    assert.equal(limitNamed(v, 'per-key', 'tier denial').exceeded, false);
    assert.equal(limitNamed(v, 'per-key', 'tier denial').remaining, 3, JSON.stringify(v.ratelimits));
  }
  await sleep(Math.max(0, limitNamed(v, 'requests', 'tier denial').reset - Date.now()) + 5);
  v = await verify(server, second.key);
  assert.equal(v.code, 'VALID', JSON.stringify(v));
  assert.equal(limitNamed(v, 'per-key', 'after the tier reset').remaining, 2,
    `the three tier denials must not have charged the key limit: ${JSON.stringify(v.ratelimits)}`);
});

test('credits run out to USAGE_EXCEEDED; credit denials charge no rate limit and RATE_LIMITED spends no credits', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server, 'credits');
  await awayFromHourEdge();

  const { keyId, key } = await createKey(server, apiId,
    { credits: { remaining: 3 }, ratelimits: [{ name: 'per-key', limit: 10, duration: kHour, autoApply: true }] });
  for (const left of [2, 1, 0]) {
    const v = await verify(server, key);
    assert.deepEqual([v.code, v.credits], ['VALID', left], JSON.stringify(v));
  }
  for (let i = 0; i < 3; ++i) {
    const v = await verify(server, key);
    assert.deepEqual([v.code, v.credits], ['USAGE_EXCEEDED', 0], JSON.stringify(v));
    const rl = limitNamed(v, 'per-key', 'credit denial');
    assertRatelimitShape(rl, 'credit denial');
    assert.equal(rl.exceeded, false, JSON.stringify(rl));
    assert.equal(rl.remaining, 7, `a credit denial reports the limit as it stands: ${JSON.stringify(rl)}`);
  }
  await call(server, 'keys.updateCredits', { keyId, operation: 'set', value: 5 });
  let v = await verify(server, key);
  assert.deepEqual([v.code, v.credits], ['VALID', 4], JSON.stringify(v));
  assert.equal(limitNamed(v, 'per-key', 'after the top-up').remaining, 6, 'the credit denials charged the limit');
  v = await verify(server, key, { credits: { cost: 5 } });
  assert.deepEqual([v.code, v.credits], ['USAGE_EXCEEDED', 4], JSON.stringify(v));
  v = await verify(server, key, { credits: { cost: 4 } });
  assert.deepEqual([v.code, v.credits], ['VALID', 0], JSON.stringify(v));
  v = await verify(server, key);
  assert.deepEqual([v.code, v.credits], ['USAGE_EXCEEDED', 0], JSON.stringify(v));

  const limited = await createKey(server, apiId,
    { credits: { remaining: 100 }, ratelimits: [{ name: 'per-key', limit: 1, duration: kHour, autoApply: true }] });
  v = await verify(server, limited.key);
  assert.deepEqual([v.code, v.credits], ['VALID', 99], JSON.stringify(v));
  for (let i = 0; i < 2; ++i) {
    v = await verify(server, limited.key, { credits: { cost: 10 } });
    assert.deepEqual([v.code, v.credits], ['RATE_LIMITED', 99], JSON.stringify(v));
  }
  const got = await call(server, 'keys.getKey', { keyId: limited.keyId });
  assert.equal(got.credits.remaining, 99, 'RATE_LIMITED verifications spent credits');
});

test('overage policy block: USAGE_EXCEEDED past the included quota, later past its grace', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server, 'block');
  await call(server, 'tiers.createTier', { name: 'q-block', includedQuota: 3, overagePolicy: 'block' });
  const { key } = await createKey(server, apiId, { tier: 'q-block', credits: { remaining: 10 } });
  for (let used = 1; used <= 3; ++used) {
    const v = await verify(server, key);
    assert.equal(v.code, 'VALID', JSON.stringify(v));
    assert.equal(v.tier, 'q-block');
    assertQuota(v, { used, included: 3, remaining: 3 - used, overage: 0 }, `request ${used}`);
  }
  for (let i = 0; i < 2; ++i) {
    const v = await verify(server, key);
    assert.equal(v.code, 'USAGE_EXCEEDED', JSON.stringify(v));
    assert.equal(v.credits, 7, 'a quota denial spends no credits');
    assertQuota(v, { used: 3, included: 3, remaining: 0, overage: 0 }, `past the quota (${i + 1})`);
  }

  await call(server, 'tiers.createTier', { name: 'q-grace', includedQuota: 4, overagePolicy: 'block', gracePercent: 50 });
  const graced = await createKey(server, apiId, { tier: 'q-grace' });
  for (let used = 1; used <= 6; ++used) {
    const v = await verify(server, graced.key);
    assert.equal(v.code, 'VALID', `request ${used} of 4 + 50% grace: ${JSON.stringify(v)}`);
    assertQuota(v, { used, included: 4, remaining: Math.max(0, 4 - used), overage: Math.max(0, used - 4) }, `grace ${used}`);
  }
  const v = await verify(server, graced.key);
  assert.equal(v.code, 'USAGE_EXCEEDED', JSON.stringify(v));
});

test('overage policy allow: VALID past the included quota with a growing overage', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server, 'allow');
  await call(server, 'tiers.createTier', { name: 'q-allow', includedQuota: 3, overagePolicy: 'allow' });
  const { key } = await createKey(server, apiId, { tier: 'q-allow' });
  for (let used = 1; used <= 6; ++used) {
    const v = await verify(server, key);
    assert.equal(v.code, 'VALID', `request ${used}: ${JSON.stringify(v)}`);
    assertQuota(v, { used, included: 3, remaining: Math.max(0, 3 - used), overage: Math.max(0, used - 3) }, `request ${used}`);
  }
});

test('overage policy throttle: past the quota the throttle tier\'s rate applies', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server, 'throttle');
  await call(server, 'tiers.createTier', { name: 'slow', ratelimits: [{ name: 'requests', limit: 1, duration: 1000 }] });
  await call(server, 'tiers.createTier', {
    name: 'q-throttle', includedQuota: 3, overagePolicy: 'throttle', throttleTo: 'slow',
    ratelimits: [{ name: 'requests', limit: 100, duration: 1000 }],
  });
  const { key } = await createKey(server, apiId, { tier: 'q-throttle' });

  await startOfWindow(1000, 50);
  const started = Date.now();
  for (let used = 1; used <= 3; ++used) {
    const v = await verify(server, key);
    assert.equal(v.code, 'VALID', `request ${used} within the quota: ${JSON.stringify(v)}`);
    assert.deepEqual(v.ratelimits.map((rl) => [rl.name, rl.limit]), [['requests', 100]]);
  }
  assert.ok(Date.now() - started < 1000, 'the three requests within the quota took under a second');

  await startOfWindow(1000, 50);
  let v = await verify(server, key);
  assert.equal(v.code, 'VALID', `first request past the quota: ${JSON.stringify(v)}`);
  assert.equal(v.tier, 'q-throttle');
  assert.deepEqual(v.ratelimits.map((rl) => [rl.name, rl.limit, rl.duration]), [['requests', 1, 1000]],
    'past the quota, the limits of the throttle tier apply');
  assertQuota(v, { used: 4, included: 3, remaining: 0, overage: 1 }, 'first past the quota');
  v = await verify(server, key);
  assert.equal(v.code, 'RATE_LIMITED', `second request within a second past the quota: ${JSON.stringify(v)}`);
  assert.equal(v.ratelimits[0].exceeded, true);
  assertQuota(v, { used: 4, included: 3, remaining: 0, overage: 1 }, 'RATE_LIMITED uses no quota');
  await sleep(Math.max(0, v.ratelimits[0].reset - Date.now()) + 5);
  v = await verify(server, key);
  assert.equal(v.code, 'VALID', `throttled, not blocked: ${JSON.stringify(v)}`);
});

test('identity ratelimits are shared by all keys of the identity', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server, 'identity');
  await call(server, 'identities.createIdentity',
    { externalId: 'acme', ratelimits: [{ name: 'requests', limit: 3, duration: kHour, autoApply: true }] });
  const a = await createKey(server, apiId, { externalId: 'acme' });
  const b = await createKey(server, apiId, { externalId: 'acme' });
  const outsider = await createKey(server, apiId, {});
  await awayFromHourEdge();

  const expected = [[a, 2], [a, 1], [b, 0]];
  let limitId;
  for (const [k, remaining] of expected) {
    const v = await verify(server, k.key);
    assert.equal(v.code, 'VALID', JSON.stringify(v));
    assert.equal(v.identity?.externalId, 'acme');
    assert.equal(v.ratelimits.length, 1, JSON.stringify(v.ratelimits));
    assertRatelimitShape(v.ratelimits[0], 'identity limit');
    assert.match(v.ratelimits[0].id, /^rl_/);
    limitId ??= v.ratelimits[0].id;
    assert.equal(v.ratelimits[0].id, limitId, 'one limit for both keys');
    assert.equal(v.ratelimits[0].remaining, remaining, JSON.stringify(v.ratelimits));
  }
  for (const k of [a, b, a, b]) {
    const v = await verify(server, k.key);
    assert.equal(v.code, 'RATE_LIMITED', JSON.stringify(v));
    assert.equal(v.ratelimits[0].exceeded, true);
  }
  assert.equal((await verify(server, outsider.key)).code, 'VALID', 'a key outside the identity is not limited');
});

test('verifyKey response shape: ratelimits[] of key, identity and tier, tier and quota', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server, 'shape');
  await call(server, 'identities.createIdentity',
    { externalId: 'shape', ratelimits: [{ name: 'org', limit: 50, duration: kHour, autoApply: true }] });
  const { keyId, key } = await createKey(server, apiId, {
    externalId: 'shape', tier: 'pro',
    ratelimits: [{ name: 'own', limit: 20, duration: 60000, autoApply: true }],
  });
  await awayFromHourEdge();
  const res = await server.call('/v2/keys.verifyKey', { key });
  const v = expectOk(res, 'verifyKey');
  assert.equal(v.valid, true, describeResponse(res));
  assert.equal(v.keyId, keyId);
  assert.equal(v.tier, 'pro');
  assert.equal(v.identity?.externalId, 'shape');
  const byName = Object.fromEntries(v.ratelimits.map((rl) => [rl.name, rl]));
  assert.deepEqual(Object.keys(byName).sort(), ['org', 'own', 'requests'], JSON.stringify(v.ratelimits));
  const now = Date.now();
  for (const rl of v.ratelimits) {
    assertRatelimitShape(rl, rl.name);
    assert.equal(rl.exceeded, false);
    assert.ok(rl.reset > now - 1000 && rl.reset <= now + rl.duration + 1000,
      `${rl.name}: reset ${rl.reset} should lie within the window from now ${now}`);
  }
  assert.deepEqual([byName.own.limit, byName.own.duration, byName.own.remaining, byName.own.autoApply], [20, 60000, 19, true]);
  assert.match(byName.own.id, /^rl_/);
  assert.deepEqual([byName.org.limit, byName.org.duration, byName.org.remaining], [50, kHour, 49]);
  assert.match(byName.org.id, /^rl_/);
  assert.notEqual(byName.org.id, byName.own.id);
  assert.deepEqual([byName.requests.limit, byName.requests.duration, byName.requests.autoApply], [100, 1000, true]);
  assertQuota(v, { used: 1, included: 1_000_000, remaining: 999_999, overage: 0 }, 'pro');

  // A key without a tier anywhere: no tier, no quota, no limits.
  const bare = await createKey(server, apiId, {});
  const plain = await verify(server, bare.key);
  assert.equal(plain.code, 'VALID');
  for (const field of ['tier', 'quota', 'ratelimits']) {
    assert.ok(!(field in plain), `a key without tier or limits has no ${field}: ${JSON.stringify(plain)}`);
  }
});

test('quota counts survive a restart', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server, 'restart');
  await call(server, 'tiers.createTier', { name: 'q-block', includedQuota: 3, overagePolicy: 'block' });
  const { key } = await createKey(server, apiId, { tier: 'q-block' });
  for (let used = 1; used <= 2; ++used) assertQuota(await verify(server, key), { used, included: 3, remaining: 3 - used, overage: 0 }, `before ${used}`);

  await server.restart();
  let v = await verify(server, key);
  assert.equal(v.code, 'VALID', JSON.stringify(v));
  assertQuota(v, { used: 3, included: 3, remaining: 0, overage: 0 }, 'the first after the restart counts on from 2');
  v = await verify(server, key);
  assert.equal(v.code, 'USAGE_EXCEEDED', JSON.stringify(v));

  await server.restart();
  v = await verify(server, key);
  assert.equal(v.code, 'USAGE_EXCEEDED', `still used up after a second restart: ${JSON.stringify(v)}`);
  assertQuota(v, { used: 3, included: 3, remaining: 0, overage: 0 }, 'after a second restart');
});

test('ratelimits named in the request: opt-in limits, cost, ad-hoc limits, unknown names', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server, 'requested');
  const { key } = await createKey(server, apiId, {
    ratelimits: [
      { name: 'expensive', limit: 2, duration: kHour },
      { name: 'tokens', limit: 10, duration: kHour, autoApply: true },
    ],
  });
  await awayFromHourEdge();

  let v = await verify(server, key);
  assert.equal(v.code, 'VALID');
  assert.deepEqual(v.ratelimits.map((rl) => [rl.name, rl.remaining]), [['tokens', 9]], 'expensive is not autoApply');
  v = await verify(server, key, { ratelimits: [{ name: 'expensive', cost: 2 }] });
  assert.equal(v.code, 'VALID', JSON.stringify(v));
  assert.deepEqual([limitNamed(v, 'expensive', 'named').remaining, limitNamed(v, 'expensive', 'named').autoApply], [0, false]);
  assert.equal(limitNamed(v, 'tokens', 'named').remaining, 8);
  v = await verify(server, key);
  assert.equal(v.code, 'VALID', 'unnamed, the used-up opt-in limit does not apply');
  v = await verify(server, key, { ratelimits: [{ name: 'expensive' }] });
  assert.equal(v.code, 'RATE_LIMITED', JSON.stringify(v));
  assert.equal(limitNamed(v, 'expensive', 'denied').exceeded, true);
  assert.equal(limitNamed(v, 'tokens', 'denied').remaining, 7, 'the denial charged tokens');
  v = await verify(server, key, { ratelimits: [{ name: 'tokens', cost: 8 }] });
  assert.equal(v.code, 'RATE_LIMITED', 'cost 8 of 7 left');
  v = await verify(server, key, { ratelimits: [{ name: 'tokens', cost: 7 }] });
  assert.equal(v.code, 'VALID', JSON.stringify(v));
  assert.equal(limitNamed(v, 'tokens', 'cost 7').remaining, 0);

  const adhoc = await createKey(server, apiId, {});
  for (const remaining of [1, 0]) {
    v = await verify(server, adhoc.key, { ratelimits: [{ name: 'burst', limit: 2, duration: kHour }] });
    assert.equal(v.code, 'VALID', JSON.stringify(v));
    assert.deepEqual(v.ratelimits.map((rl) => [rl.name, rl.limit, rl.duration, rl.remaining]), [['burst', 2, kHour, remaining]]);
    assertRatelimitShape(v.ratelimits[0], 'ad hoc');
  }
  v = await verify(server, adhoc.key, { ratelimits: [{ name: 'burst', limit: 2, duration: kHour }] });
  assert.equal(v.code, 'RATE_LIMITED', JSON.stringify(v));
  v = await verify(server, adhoc.key);
  assert.equal(v.code, 'VALID', 'without naming it, the ad-hoc limit does not apply');
  assert.ok(!('ratelimits' in v), JSON.stringify(v));

  for (const body of [{ ratelimits: [{ name: 'nope' }] }, { ratelimits: [{ name: 'nope', limit: 5 }] }]) {
    const error = expectFieldError(await server.call('/v2/keys.verifyKey', { key: adhoc.key, ...body }),
      'body.ratelimits', `unknown ratelimit ${JSON.stringify(body)}`);
    assert.match(error.detail, /nope/);
  }
});

test('the @unkey/api SDK verifies keys with ratelimits [{name, cost}] and accepts the responses', async (t) => {
  const server = await withServer(t);
  const unkey = new Unkey({ rootKey: server.rootKey, serverURL: server.url, retryConfig: { strategy: 'none' } });
  const apiId = await createApi(server, 'sdk-verify');
  await call(server, 'identities.createIdentity',
    { externalId: 'sdk-org', ratelimits: [{ name: 'org', limit: 100, duration: kHour, autoApply: true }] });
  const { key } = await createKey(server, apiId, {
    tier: 'free', externalId: 'sdk-org', credits: { remaining: 50 },
    ratelimits: [{ name: 'tokens', limit: 10, duration: kHour }],
  });
  await awayFromHourEdge();

  let res = await sdk('verifyKey tokens cost 3', () => unkey.keys.verifyKey({ key, ratelimits: [{ name: 'tokens', cost: 3 }] }));
  assert.match(res.meta.requestId, /^req_/);
  assert.equal(res.data.valid, true, JSON.stringify(res.data));
  assert.equal(res.data.code, 'VALID');
  assert.equal(res.data.credits, 49);
  assert.equal(res.data.identity?.externalId, 'sdk-org');
  const tokens = res.data.ratelimits?.find((rl) => rl.name === 'tokens');
  assert.ok(tokens, JSON.stringify(res.data.ratelimits));
  assert.deepEqual([tokens.exceeded, tokens.limit, tokens.duration, tokens.remaining, tokens.autoApply], [false, 10, kHour, 7, false]);
  assert.deepEqual(res.data.ratelimits.map((rl) => rl.name).sort(), ['org', 'requests', 'tokens']);

  res = await sdk('verifyKey tokens cost 8', () => unkey.keys.verifyKey({ key, ratelimits: [{ name: 'tokens', cost: 8 }] }));
  assert.deepEqual([res.data.valid, res.data.code, res.data.credits], [false, 'RATE_LIMITED', 49]);
  assert.equal(res.data.ratelimits.find((rl) => rl.name === 'tokens').exceeded, true);

  res = await sdk('verifyKey ad hoc', () => unkey.keys.verifyKey({ key, ratelimits: [{ name: 'burst', cost: 1, limit: 5, duration: 60000 }] }));
  assert.equal(res.data.code, 'VALID', JSON.stringify(res.data));
  assert.equal(res.data.ratelimits.find((rl) => rl.name === 'burst')?.remaining, 4);

  res = await sdk('verifyKey credits cost 100', () => unkey.keys.verifyKey({ key, credits: { cost: 100 } }));
  assert.deepEqual([res.data.valid, res.data.code], [false, 'USAGE_EXCEEDED']);

  await assert.rejects(unkey.keys.verifyKey({ key, ratelimits: [{ name: 'nope' }] }), (error) => {
    assert.ok(error instanceof errors.BadRequestErrorResponse, `expected BadRequestErrorResponse, got ${error?.name}: ${error?.message}`);
    assert.ok(error.data$.error.errors.some((e) => e.location === 'body.ratelimits'), JSON.stringify(error.data$.error));
    return true;
  });
});
