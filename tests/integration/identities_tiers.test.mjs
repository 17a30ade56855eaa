// Issue 3, "Tiers and identities": identities.* (Unkey v2 shapes, over raw HTTP and through the
// @unkey/api SDK) and tollgate's tiers.*, against a real server: CRUD, the built-in tiers, the
// 409 for a tier still in use, tiers on keys and identities, identity changes visible to the next
// verifyKey without a restart, the YAML configuration of tiers, and all of it across a restart.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { Unkey } from '@unkey/api';
import * as errors from '@unkey/api/models/errors';

import { createApi, createKey, createRootKey, expectError, expectFieldError, expectOk, verify } from './lib/expect.mjs';
import { recordSecret, startServer } from './lib/server.mjs';
import { sdk } from './lib/sdk.mjs';

async function withServer(t, options) {
  const server = await startServer(options);
  t.after(() => server.stop());
  return server;
}

async function call(server, route, body, what = route) {
  return expectOk(await server.call(`/v2/${route}`, body), what);
}

const kIdentityLimits = [{ name: 'requests', limit: 100, duration: 60000, autoApply: true }];

function assertRatelimits(actual, expected, what) {
  assert.equal(actual?.length, expected.length, `${what}: ratelimits ${JSON.stringify(actual)}`);
  expected.forEach((want, i) => {
    const got = actual[i];
    assert.match(got.id, /^rl_/, `${what}: ratelimits[${i}].id`);
    assert.equal(got.name, want.name, `${what}: ratelimits[${i}].name`);
    assert.equal(got.limit, want.limit, `${what}: ratelimits[${i}].limit`);
    assert.equal(got.duration, want.duration, `${what}: ratelimits[${i}].duration`);
    assert.equal(got.autoApply, want.autoApply ?? false, `${what}: ratelimits[${i}].autoApply`);
    assert.equal(got.algorithm, want.algorithm ?? 'sliding_window', `${what}: ratelimits[${i}].algorithm`);
  });
}

test('identities: create, get by id or externalId, list with cursor and search, update, delete', async (t) => {
  const server = await withServer(t);

  const created = await call(server, 'identities.createIdentity',
    { externalId: 'acme', meta: { plan: 'gold', seats: 3 }, ratelimits: kIdentityLimits, tier: 'pro' });
  assert.match(created.identityId, /^id_/);
  const identityId = created.identityId;

  for (const ref of [identityId, 'acme']) {
    const got = await call(server, 'identities.getIdentity', { identity: ref }, `getIdentity ${ref}`);
    assert.equal(got.id, identityId);
    assert.equal(got.externalId, 'acme');
    assert.deepEqual(got.meta, { plan: 'gold', seats: 3 });
    assert.equal(got.tier, 'pro');
    assertRatelimits(got.ratelimits, kIdentityLimits, `getIdentity ${ref}`);
  }
  expectError(await server.call('/v2/identities.createIdentity', { externalId: 'acme' }), 409, 'duplicate externalId');
  expectError(await server.call('/v2/identities.getIdentity', { identity: 'nobody' }), 404, 'unknown identity');
  expectFieldError(await server.call('/v2/identities.createIdentity', { externalId: 'x', tier: 'platinum' }),
    'body.tier', 'unknown tier');
  expectFieldError(await server.call('/v2/identities.createIdentity', {}), 'body.externalId', 'no externalId');
  expectFieldError(await server.call('/v2/identities.createIdentity',
    { externalId: 'y', ratelimits: [{ name: 'r', limit: 1, duration: 1000, algorithm: 'leaky' }] }),
  'body.ratelimits[0].algorithm', 'unknown algorithm');

  for (const externalId of ['acme-labs', 'globex', 'initech']) {
    await call(server, 'identities.createIdentity', { externalId }, `createIdentity ${externalId}`);
  }
  const seen = [];
  let cursor;
  for (let page = 0; page < 10; ++page) {
    const res = await server.call('/v2/identities.listIdentities', cursor ? { limit: 3, cursor } : { limit: 3 });
    const data = expectOk(res, `listIdentities page ${page}`);
    seen.push(...data.map((identity) => identity.externalId));
    if (!res.json.pagination.hasMore) break;
    cursor = res.json.pagination.cursor;
    assert.equal(typeof cursor, 'string');
  }
  assert.deepEqual([...seen].sort(), ['acme', 'acme-labs', 'globex', 'initech']);
  const searched = await call(server, 'identities.listIdentities', { search: 'ACME' });
  assert.deepEqual(searched.map((identity) => identity.externalId).sort(), ['acme', 'acme-labs']);

  const updated = await call(server, 'identities.updateIdentity',
    { identity: 'acme', meta: { plan: 'platinum' }, ratelimits: [], tier: 'enterprise' });
  assert.equal(updated.id, identityId);
  assert.deepEqual(updated.meta, { plan: 'platinum' });
  assert.deepEqual(updated.ratelimits, []);
  assert.equal(updated.tier, 'enterprise');
  const cleared = await call(server, 'identities.updateIdentity', { identity: identityId, tier: null });
  assert.equal(cleared.tier, undefined);
  assert.deepEqual(cleared.meta, { plan: 'platinum' }, 'fields not sent stay as they were');
  expectFieldError(await server.call('/v2/identities.updateIdentity', { identity: 'acme', tier: 'platinum' }),
    'body.tier', 'update with an unknown tier');

  assert.deepEqual(await call(server, 'identities.deleteIdentity', { identity: 'acme' }), {});
  expectError(await server.call('/v2/identities.getIdentity', { identity: identityId }), 404, 'deleted identity');
  expectError(await server.call('/v2/identities.deleteIdentity', { identity: 'acme' }), 404, 'deleted twice');
  const reused = await call(server, 'identities.createIdentity', { externalId: 'acme' }, 'externalId reused');
  assert.notEqual(reused.identityId, identityId);
});

test('identities through the @unkey/api SDK', async (t) => {
  const server = await withServer(t);
  const unkey = new Unkey({ rootKey: server.rootKey, serverURL: server.url, retryConfig: { strategy: 'none' } });

  const created = await sdk('identities.createIdentity', () =>
    unkey.identities.createIdentity({ externalId: 'sdk_user', meta: { plan: 'pro' }, ratelimits: kIdentityLimits }));
  assert.match(created.meta.requestId, /^req_/);
  const identityId = created.data.identityId;
  await sdk('identities.createIdentity 2', () => unkey.identities.createIdentity({ externalId: 'sdk_other' }));

  const got = await sdk('identities.getIdentity', () => unkey.identities.getIdentity({ identity: 'sdk_user' }));
  assert.equal(got.data.id, identityId);
  assert.equal(got.data.externalId, 'sdk_user');
  assert.deepEqual(got.data.meta, { plan: 'pro' });
  assert.equal(got.data.ratelimits?.[0]?.name, 'requests');
  assert.equal(got.data.ratelimits?.[0]?.limit, 100);

  const page = await sdk('identities.listIdentities limit 1', () => unkey.identities.listIdentities({ limit: 1 }));
  assert.equal(page.result.data.length, 1);
  assert.equal(page.result.pagination.hasMore, true);
  const rest = await sdk('identities.listIdentities next', () => page.next());
  assert.ok(rest, 'next() must return the second page');
  assert.equal(rest.result.data.length, 1);
  assert.equal(rest.result.pagination.hasMore, false);
  assert.deepEqual([page.result.data[0].externalId, rest.result.data[0].externalId].sort(), ['sdk_other', 'sdk_user']);

  const updated = await sdk('identities.updateIdentity', () => unkey.identities.updateIdentity(
    { identity: identityId, meta: { plan: 'enterprise' }, ratelimits: [{ name: 'tokens', limit: 5, duration: 1000 }] }));
  assert.deepEqual(updated.data.meta, { plan: 'enterprise' });
  assert.deepEqual(updated.data.ratelimits.map((rl) => [rl.name, rl.limit, rl.duration, rl.autoApply]),
    [['tokens', 5, 1000, false]]);

  await assert.rejects(unkey.identities.createIdentity({ externalId: 'sdk_user' }), (error) => {
    assert.ok(error instanceof errors.ConflictErrorResponse,
      `duplicate: expected ConflictErrorResponse, got ${error?.name}: ${error?.message} ${error?.body ?? ''}`);
    return true;
  });

  const deleted = await sdk('identities.deleteIdentity', () => unkey.identities.deleteIdentity({ identity: 'sdk_user' }));
  assert.match(deleted.meta.requestId, /^req_/);
  await assert.rejects(unkey.identities.getIdentity({ identity: identityId }), (error) => {
    assert.ok(error instanceof errors.NotFoundErrorResponse,
      `deleted: expected NotFoundErrorResponse, got ${error?.name}: ${error?.message} ${error?.body ?? ''}`);
    return true;
  });

  // The SDK's verifyKey accepts tollgate's identity (with ratelimits and tier).
  const apiId = (await sdk('apis.createApi', () => unkey.apis.createApi({ name: 'sdk-identities' }))).data.apiId;
  const key = (await sdk('keys.createKey', () => unkey.keys.createKey({ apiId, externalId: 'sdk_other' }))).data.key;
  recordSecret(key);
  const v = await sdk('keys.verifyKey', () => unkey.keys.verifyKey({ key }));
  assert.deepEqual([v.data.valid, v.data.identity?.externalId], [true, 'sdk_other']);
  assert.deepEqual(v.data.identity?.ratelimits, []);
});

test('tiers: built-ins listed, custom CRUD, validation, built-ins and tiers in use are not deleted', async (t) => {
  const server = await withServer(t);

  const listed = await server.call('/v2/tiers.listTiers', {});
  const tiers = expectOk(listed, 'listTiers');
  assert.equal(listed.json.pagination.hasMore, false);
  const byName = Object.fromEntries(tiers.map((tier) => [tier.name, tier]));
  assert.deepEqual(Object.keys(byName).sort(), ['enterprise', 'free', 'pro']);
  const expected = { free: [10, 10000, 'block'], pro: [100, 1000000, 'allow'], enterprise: [1000, 50000000, 'allow'] };
  for (const [name, [perSecond, quota, policy]] of Object.entries(expected)) {
    const tier = byName[name];
    assert.equal(tier.builtin, true, name);
    assert.deepEqual(tier.ratelimits, [{ name: 'requests', limit: perSecond, duration: 1000, algorithm: 'sliding_window' }], name);
    assert.equal(tier.includedQuota, quota, name);
    assert.equal(tier.overagePolicy, policy, name);
    assert.equal(tier.throttleTo, null, name);
    assert.equal(tier.pricing.currency, 'USD', name);
    assert.equal(typeof tier.pricing.baseFee, 'number', name);
  }

  const gold = await call(server, 'tiers.createTier', {
    name: 'gold',
    description: 'the gold plan',
    ratelimits: [{ name: 'requests', limit: 50, duration: 1000, algorithm: 'token_bucket' }],
    includedQuota: 5000,
    overagePolicy: 'throttle',
    throttleTo: 'free',
    gracePercent: 10,
    pricing: { currency: 'EUR', baseFee: 1900, overageUnitPriceMicros: 250 },
  });
  assert.deepEqual(
    { ...gold, createdAt: undefined, updatedAt: undefined },
    {
      name: 'gold', description: 'the gold plan',
      ratelimits: [{ name: 'requests', limit: 50, duration: 1000, algorithm: 'token_bucket' }],
      includedQuota: 5000, overagePolicy: 'throttle', throttleTo: 'free', gracePercent: 10,
      pricing: { currency: 'EUR', baseFee: 1900, overageUnitPriceMicros: 250, meters: [] }, builtin: false,
      createdAt: undefined, updatedAt: undefined,
    });
  assert.deepEqual(await call(server, 'tiers.getTier', { name: 'gold' }), gold);
  const minimal = await call(server, 'tiers.createTier', { name: 'bare' });
  assert.deepEqual([minimal.includedQuota, minimal.overagePolicy, minimal.ratelimits, minimal.gracePercent],
    [null, 'block', [], 0], 'defaults of a new tier: unlimited, block, no limits, no grace');

  expectError(await server.call('/v2/tiers.createTier', { name: 'gold' }), 409, 'duplicate tier');
  expectError(await server.call('/v2/tiers.getTier', { name: 'platinum' }), 404, 'unknown tier');
  expectFieldError(await server.call('/v2/tiers.createTier', { name: 'Bad Name' }), 'body.name', 'bad name');
  expectFieldError(await server.call('/v2/tiers.createTier', { name: 'x', overagePolicy: 'throttle' }),
    'body.throttleTo', 'throttle without target');
  expectFieldError(await server.call('/v2/tiers.createTier', { name: 'x', overagePolicy: 'sometimes' }),
    'body.overagePolicy', 'unknown policy');
  expectFieldError(await server.call('/v2/tiers.createTier', { name: 'x', gracePercent: 150 }),
    'body.gracePercent', 'grace over 100');
  expectFieldError(await server.call('/v2/tiers.createTier', { name: 'x', ratelimits: [{ name: 'r', limit: 0, duration: 10 }] }),
    'body.ratelimits[0].limit', 'limit 0');
  expectFieldError(await server.call('/v2/tiers.updateTier', { name: 'free', overagePolicy: 'throttle', throttleTo: 'gold' }),
    'body.throttleTo', 'throttle cycle free -> gold -> free');

  // Meter prices: graduated slices per package, validated as a whole.
  const tokens = { meter: 'tokens', included: 100000, model: 'graduated', packageSize: 1000,
    slices: [{ upTo: 1000000, priceMicros: 50000000 }, { priceMicros: 30000000 }] };
  const metered = await call(server, 'tiers.updateTier', { name: 'gold', pricing: { meters: [tokens] } });
  assert.deepEqual(metered.pricing, { currency: 'EUR', baseFee: 1900, overageUnitPriceMicros: 250, meters: [tokens] });
  expectFieldError(await server.call('/v2/tiers.updateTier', { name: 'gold', pricing: { meters: [
    { ...tokens, slices: [{ upTo: 1500, priceMicros: 1 }, { priceMicros: 1 }] }] } }),
  'body.pricing.meters[0].slices[0].upTo', 'a slice bound inside a package');
  expectFieldError(await server.call('/v2/tiers.updateTier', { name: 'gold', pricing: { meters: [
    { meter: 'tokens', model: 'tiered', slices: [] }] } }), 'body.pricing.meters[0].model', 'unknown model');

  const updated = await call(server, 'tiers.updateTier', { name: 'gold', includedQuota: null, overagePolicy: 'allow' });
  assert.equal(updated.includedQuota, null);
  assert.equal(updated.throttleTo, null, 'leaving throttle drops the target');
  assert.equal(updated.description, 'the gold plan', 'fields not sent stay as they were');
  const pro = await call(server, 'tiers.updateTier', { name: 'pro', ratelimits: [{ name: 'requests', limit: 250, duration: 1000 }] });
  assert.equal(pro.ratelimits[0].limit, 250);
  assert.equal(pro.builtin, true);

  const builtin = expectError(await server.call('/v2/tiers.deleteTier', { name: 'free' }), 409, 'delete a built-in');
  assert.match(builtin.detail, /built-in/);

  // A tier referenced by an identity and a key answers 409 naming how many.
  await call(server, 'identities.createIdentity', { externalId: 'cust', tier: 'gold' });
  const apiId = await createApi(server, 'tiered');
  await createKey(server, apiId, { tier: 'gold' });
  await createKey(server, apiId, { tier: 'gold' });
  const inUse = expectError(await server.call('/v2/tiers.deleteTier', { name: 'gold' }), 409, 'delete a tier in use');
  assert.match(inUse.detail, /1 identity, 2 keys and 0 tiers/);
  assert.equal((await call(server, 'tiers.getTier', { name: 'gold' })).name, 'gold');

  assert.deepEqual(await call(server, 'tiers.deleteTier', { name: 'bare' }), {});
  expectError(await server.call('/v2/tiers.getTier', { name: 'bare' }), 404, 'deleted tier');
  expectError(await server.call('/v2/tiers.deleteTier', { name: 'bare' }), 404, 'deleted twice');
});

test('scopes: identity.*.<action>_identity and tier.*.<action>_tier', async (t) => {
  const server = await withServer(t);
  const reader = await createRootKey(server, ['identity.*.read_identity', 'tier.*.read_tier'], 'reader');
  const as = { rootKey: reader.key };
  expectOk(await server.call('/v2/identities.listIdentities', {}, as), 'listIdentities as reader');
  expectOk(await server.call('/v2/tiers.listTiers', {}, as), 'listTiers as reader');
  for (const [route, body, scope] of [
    ['identities.createIdentity', { externalId: 'x' }, 'identity.*.create_identity'],
    ['identities.updateIdentity', { identity: 'x' }, 'identity.*.update_identity'],
    ['identities.deleteIdentity', { identity: 'x' }, 'identity.*.delete_identity'],
    ['tiers.createTier', { name: 'x' }, 'tier.*.create_tier'],
    ['tiers.updateTier', { name: 'free' }, 'tier.*.update_tier'],
    ['tiers.deleteTier', { name: 'free' }, 'tier.*.delete_tier'],
  ]) {
    const error = expectError(await server.call(`/v2/${route}`, body, as), 403, `${route} as reader`);
    assert.ok(error.detail.includes(scope), `${route}: the 403 should name ${scope}: ${error.detail}`);
  }
});

test('tiers on keys and identities show in getKey and verifyKey; identity updates reach the next verify', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server, 'tiers');

  const own = await createKey(server, apiId, { tier: 'pro' });
  assert.equal((await call(server, 'keys.getKey', { keyId: own.keyId })).tier, 'pro');
  let v = await verify(server, own.key);
  assert.equal(v.tier, 'pro');
  expectFieldError(await server.call('/v2/keys.createKey', { apiId, tier: 'platinum' }), 'body.tier', 'createKey unknown tier');
  expectFieldError(await server.call('/v2/keys.updateKey', { keyId: own.keyId, tier: 'platinum' }), 'body.tier',
    'updateKey unknown tier');
  await call(server, 'keys.updateKey', { keyId: own.keyId, tier: 'enterprise' });
  assert.equal((await verify(server, own.key)).tier, 'enterprise');
  await call(server, 'keys.updateKey', { keyId: own.keyId, tier: null });
  assert.equal((await call(server, 'keys.getKey', { keyId: own.keyId })).tier, undefined);
  v = await verify(server, own.key);
  assert.equal(v.tier, undefined, 'no tier anywhere and no default-tier: no tier');

  await call(server, 'identities.createIdentity',
    { externalId: 'acme', meta: { plan: 'gold' }, ratelimits: kIdentityLimits, tier: 'free' });
  const first = await createKey(server, apiId, { externalId: 'acme' });
  const second = await createKey(server, apiId, { externalId: 'acme', tier: 'enterprise' });
  v = await verify(server, first.key);
  assert.equal(v.identity.externalId, 'acme');
  assert.deepEqual(v.identity.meta, { plan: 'gold' });
  assertRatelimits(v.identity.ratelimits, kIdentityLimits, 'verify identity');
  assert.equal(v.tier, 'free', 'the identity tier applies to a key without its own');
  assert.equal((await verify(server, second.key)).tier, 'enterprise', 'the key tier wins');

  await call(server, 'identities.updateIdentity', {
    identity: 'acme', meta: { plan: 'platinum' }, tier: 'pro',
    ratelimits: [{ name: 'tokens', limit: 7, duration: 2000, algorithm: 'gcra' }],
  });
  for (const key of [first.key, second.key]) {
    v = await verify(server, key);
    assert.deepEqual(v.identity.meta, { plan: 'platinum' }, 'the next verify sees the update, no restart');
    assertRatelimits(v.identity.ratelimits, [{ name: 'tokens', limit: 7, duration: 2000, algorithm: 'gcra' }], 'updated');
    assert.equal(v.identity.tier, 'pro');
  }
  assert.equal((await verify(server, first.key)).tier, 'pro');
  assert.deepEqual((await call(server, 'keys.getKey', { keyId: first.keyId })).identity.meta, { plan: 'platinum' });

  // Deleting the identity leaves its keys working, without it.
  await call(server, 'identities.deleteIdentity', { identity: 'acme' });
  v = await verify(server, first.key);
  assert.deepEqual([v.valid, v.identity, v.tier], [true, undefined, undefined]);
});

test('tiers, identities and tiers of keys survive a restart', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server, 'durable');
  await call(server, 'tiers.createTier', { name: 'gold', includedQuota: 777, ratelimits: [{ name: 'r', limit: 5, duration: 1000 }] });
  await call(server, 'tiers.updateTier', { name: 'pro', includedQuota: 2000000 });
  const { identityId } = await call(server, 'identities.createIdentity',
    { externalId: 'acme', meta: { plan: 'gold' }, ratelimits: kIdentityLimits, tier: 'gold' });
  const key = await createKey(server, apiId, { externalId: 'acme', tier: 'pro' });
  await call(server, 'identities.updateIdentity', { identity: 'acme', meta: { plan: 'updated' } });
  await call(server, 'identities.createIdentity', { externalId: 'gone' });
  await call(server, 'identities.deleteIdentity', { identity: 'gone' });

  await server.restart();

  const gold = await call(server, 'tiers.getTier', { name: 'gold' });
  assert.deepEqual([gold.includedQuota, gold.ratelimits[0].limit, gold.builtin], [777, 5, false]);
  assert.equal((await call(server, 'tiers.getTier', { name: 'pro' })).includedQuota, 2000000, 'a changed built-in stays changed');
  assert.equal((await call(server, 'tiers.listTiers', {})).length, 4);
  const identity = await call(server, 'identities.getIdentity', { identity: 'acme' });
  assert.equal(identity.id, identityId);
  assert.deepEqual(identity.meta, { plan: 'updated' });
  assert.equal(identity.tier, 'gold');
  assertRatelimits(identity.ratelimits, kIdentityLimits, 'after restart');
  expectError(await server.call('/v2/identities.getIdentity', { identity: 'gone' }), 404, 'deleted stays deleted');
  assert.equal((await call(server, 'keys.getKey', { keyId: key.keyId })).tier, 'pro');
  const v = await verify(server, key.key);
  assert.deepEqual([v.valid, v.tier, v.identity?.id], [true, 'pro', identityId]);
  assert.deepEqual(v.identity.meta, { plan: 'updated' });
  expectError(await server.call('/v2/tiers.deleteTier', { name: 'gold' }), 409, 'still in use after restart');
});

test('the YAML config changes tiers at start and sets the default tier', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server, 'configured');
  const key = await createKey(server, apiId);

  const config = path.join(server.dataDir, 'tollgate.yaml');
  writeFileSync(config, [
    'log-level: info',
    'default-tier: starter',
    'tiers:',
    '  - name: pro',
    '    ratelimits: [{name: requests, limit: 200, duration: 1000}]',
    '  - name: basic',
    '    includedQuota: 100',
    '    overagePolicy: throttle',
    '    throttleTo: starter',
    '  - name: starter',
    '    description: "configured: yes"',
    '    includedQuota: ~',
    '    pricing: {currency: EUR, baseFee: 500}',
    '',
  ].join('\n'));
  await server.restart({ args: ['--config', config] });

  const pro = await call(server, 'tiers.getTier', { name: 'pro' });
  assert.deepEqual([pro.ratelimits[0].limit, pro.includedQuota, pro.builtin], [200, 1000000, true],
    'only the configured fields of a built-in change');
  const basic = await call(server, 'tiers.getTier', { name: 'basic' });
  assert.deepEqual([basic.includedQuota, basic.overagePolicy, basic.throttleTo], [100, 'throttle', 'starter']);
  const starter = await call(server, 'tiers.getTier', { name: 'starter' });
  assert.deepEqual([starter.description, starter.includedQuota, starter.pricing.currency, starter.pricing.baseFee],
    ['configured: yes', null, 'EUR', 500]);
  const v = await verify(server, key.key);
  assert.equal(v.valid, true);
  const refused = expectError(await server.call('/v2/tiers.deleteTier', { name: 'starter' }), 409, 'delete the default tier');
  assert.match(refused.detail, /default tier/);
});

test('an invalid tiers section stops the server from starting, naming the problem', async (t) => {
  const server = await withServer(t);
  const config = path.join(server.dataDir, 'bad.yaml');
  writeFileSync(config, 'tiers:\n  - name: gold\n    overagePolicy: throttle\n    throttleTo: nowhere\n');
  await assert.rejects(
    server.restart({ args: ['--config', config] }),
    (error) => {
      assert.match(error.message, /exited before listening/);
      assert.match(error.message, /tiers\.gold\.throttleTo/);
      return true;
    });
});
