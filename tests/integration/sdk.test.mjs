// Issue 2, Done-when 3: the official @unkey/api SDK works unchanged against tollgate. SDK
// methods return the whole parsed body ({ meta, data[, pagination] }) after validating it with
// zod, and throw typed errors (NotFoundErrorResponse, …) for error statuses; a body that does not
// match the Unkey schema throws ResponseValidationError, whose details we print for the server.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Unkey } from '@unkey/api';
import * as errors from '@unkey/api/models/errors';

import { recordSecret, startServer } from './lib/server.mjs';
import { sdk } from './lib/sdk.mjs';

async function withSdk(t) {
  const server = await startServer();
  t.after(() => server.stop());
  const unkey = new Unkey({ rootKey: server.rootKey, serverURL: server.url, retryConfig: { strategy: 'none' } });
  return { server, unkey };
}

function assertMeta(res, what) {
  assert.match(res?.meta?.requestId ?? '', /^req_/, `${what}: meta.requestId "req_…" expected, got ${JSON.stringify(res)}`);
}

test('the @unkey/api SDK runs a key through its whole life', async (t) => {
  const { unkey } = await withSdk(t);

  const api = await sdk('apis.createApi', () => unkey.apis.createApi({ name: 'sdk-api' }));
  assertMeta(api, 'createApi');
  const apiId = api.data.apiId;
  assert.equal(typeof apiId, 'string');

  const created = await sdk('keys.createKey', () => unkey.keys.createKey({ apiId, prefix: 'sdk', name: 'sdk key' }));
  assertMeta(created, 'createKey');
  const { keyId, key } = created.data;
  recordSecret(key);
  assert.match(key, /^sdk_/);

  const verifyKey = async (secret, what) => {
    const res = await sdk(`keys.verifyKey (${what})`, () => unkey.keys.verifyKey({ key: secret }));
    assertMeta(res, `verifyKey (${what})`);
    assert.equal(typeof res.data.valid, 'boolean');
    return res.data;
  };

  let v = await verifyKey(key, 'fresh key');
  assert.deepEqual([v.valid, v.code], [true, 'VALID']);
  assert.equal(v.keyId, keyId);

  const disabled = await sdk('keys.updateKey enabled=false', () => unkey.keys.updateKey({ keyId, enabled: false }));
  assertMeta(disabled, 'updateKey');
  v = await verifyKey(key, 'disabled');
  assert.deepEqual([v.valid, v.code], [false, 'DISABLED']);
  await sdk('keys.updateKey enabled=true', () => unkey.keys.updateKey({ keyId, enabled: true }));

  const rerolled = await sdk('keys.rerollKey', () => unkey.keys.rerollKey({ keyId, expiration: 60000 }));
  assertMeta(rerolled, 'rerollKey');
  const { keyId: newKeyId, key: newKey } = rerolled.data;
  recordSecret(newKey);
  assert.notEqual(newKeyId, keyId);
  assert.notEqual(newKey, key);
  v = await verifyKey(key, 'old key inside the reroll window');
  assert.deepEqual([v.valid, v.code], [true, 'VALID']);
  v = await verifyKey(newKey, 'rerolled key');
  assert.deepEqual([v.valid, v.code], [true, 'VALID']);
  assert.equal(v.keyId, newKeyId);

  const credits = await sdk('keys.updateCredits set 3', () =>
    unkey.keys.updateCredits({ keyId: newKeyId, operation: 'set', value: 3 }));
  assertMeta(credits, 'updateCredits');
  assert.equal(credits.data.remaining, 3);
  const codes = [];
  for (let i = 0; i < 4; ++i) codes.push((await verifyKey(newKey, `credit use ${i + 1}`)).code);
  assert.deepEqual(codes, ['VALID', 'VALID', 'VALID', 'USAGE_EXCEEDED']);

  const deleted = await sdk('keys.deleteKey', () => unkey.keys.deleteKey({ keyId: newKeyId }));
  assertMeta(deleted, 'deleteKey');
  v = await verifyKey(newKey, 'deleted key');
  assert.deepEqual([v.valid, v.code], [false, 'NOT_FOUND']);
});

test('the SDK accepts tollgate read responses and error bodies', async (t) => {
  const { server, unkey } = await withSdk(t);
  const apiId = (await sdk('apis.createApi', () => unkey.apis.createApi({ name: 'sdk-read' }))).data.apiId;

  const full = await sdk('keys.createKey with every field', () => unkey.keys.createKey({
    apiId,
    prefix: 'full',
    name: 'full key',
    byteLength: 24,
    externalId: 'sdk_customer',
    meta: { plan: 'pro' },
    expires: Date.now() + 3600 * 1000,
    enabled: true,
    credits: { remaining: 50, refill: { interval: 'monthly', amount: 50, refillDay: 1 } },
    ratelimits: [{ name: 'requests', limit: 100, duration: 60000, autoApply: true }],
    permissions: ['documents.read'],
    roles: ['reader'],
  }));
  recordSecret(full.data.key);
  const plain = await sdk('keys.createKey minimal', () => unkey.keys.createKey({ apiId }));
  recordSecret(plain.data.key);

  const api = await sdk('apis.getApi', () => unkey.apis.getApi({ apiId }));
  assert.deepEqual({ id: api.data.id, name: api.data.name }, { id: apiId, name: 'sdk-read' });

  const got = await sdk('keys.getKey', () => unkey.keys.getKey({ keyId: full.data.keyId }));
  assert.equal(got.data.keyId, full.data.keyId);
  assert.equal(got.data.name, 'full key');
  assert.equal(got.data.credits?.remaining, 50);
  assert.equal(got.data.credits?.refill?.interval, 'monthly');
  assert.equal(got.data.identity?.externalId, 'sdk_customer');
  assert.equal(got.data.ratelimits?.[0]?.name, 'requests');
  await sdk('keys.getKey minimal', () => unkey.keys.getKey({ keyId: plain.data.keyId }));

  const me = await sdk('keys.whoami', () => unkey.keys.whoami({ key: full.data.key }));
  assert.equal(me.data.keyId, full.data.keyId);

  // listKeys returns a PageIterator: the body is in .result, next() fetches the following page
  // with pagination.cursor.
  const page = await sdk('apis.listKeys limit 1', () => unkey.apis.listKeys({ apiId, limit: 1 }));
  assertMeta(page.result, 'listKeys');
  assert.equal(page.result.data.length, 1);
  assert.equal(page.result.pagination.hasMore, true);
  assert.equal(typeof page.result.pagination.cursor, 'string');
  const rest = await sdk('apis.listKeys next page', () => page.next());
  assert.ok(rest, 'next() must return the second page');
  assert.equal(rest.result.data.length, 1);
  assert.equal(rest.result.pagination.hasMore, false);
  assert.notEqual(rest.result.data[0].keyId, page.result.data[0].keyId);

  const v = await sdk('keys.verifyKey with a permission query', () =>
    unkey.keys.verifyKey({ key: full.data.key, permissions: 'documents.read', credits: { cost: 2 } }));
  assert.deepEqual([v.data.valid, v.data.code, v.data.credits], [true, 'VALID', 48]);

  const unset = await sdk('keys.updateKey name null', () => unkey.keys.updateKey({ keyId: full.data.keyId, name: null }));
  assertMeta(unset, 'updateKey');
  const unlimited = await sdk('keys.updateCredits set null', () =>
    unkey.keys.updateCredits({ keyId: full.data.keyId, operation: 'set', value: null }));
  assert.equal(unlimited.data.remaining, null);
  await sdk('keys.getKey after clearing', () => unkey.keys.getKey({ keyId: full.data.keyId }));

  // Error statuses must come back as the SDK's typed errors, not as ResponseValidationError.
  await assert.rejects(unkey.keys.getKey({ keyId: 'key_doesnotexist' }), (error) => {
    assert.ok(error instanceof errors.NotFoundErrorResponse,
      `getKey unknown: expected NotFoundErrorResponse, got ${error?.name}: ${error?.message} ${error?.body ?? ''}`);
    assert.equal(error.error.status, 404);
    return true;
  });
  await assert.rejects(unkey.keys.createKey({ apiId, byteLength: 8 }), (error) => {
    assert.ok(error instanceof errors.BadRequestErrorResponse,
      `byteLength 8: expected BadRequestErrorResponse, got ${error?.name}: ${error?.message} ${error?.body ?? ''}`);
    assert.ok(error.error.errors.some((e) => e.location === 'body.byteLength'), JSON.stringify(error.error));
    return true;
  });
  const stranger = new Unkey({ rootKey: 'tg_root_unknown1234567890', serverURL: server.url, retryConfig: { strategy: 'none' } });
  await assert.rejects(stranger.apis.getApi({ apiId }), (error) => {
    assert.ok(error instanceof errors.UnauthorizedErrorResponse,
      `unknown root key: expected UnauthorizedErrorResponse, got ${error?.name}: ${error?.message} ${error?.body ?? ''}`);
    return true;
  });

  const reader = await sdk('rootKeys.createRootKey (raw HTTP, not in the SDK)', async () => {
    const res = await server.call('/v2/rootKeys.createRootKey', { name: 'sdk-reader', permissions: ['api.*.read_api'] });
    assert.equal(res.status, 200, res.text);
    return res.json.data.key;
  });
  const limited = new Unkey({ rootKey: reader, serverURL: server.url, retryConfig: { strategy: 'none' } });
  await assert.rejects(limited.apis.createApi({ name: 'not-allowed' }), (error) => {
    assert.ok(error instanceof errors.ForbiddenErrorResponse,
      `createApi with api.*.read_api: expected ForbiddenErrorResponse, got ${error?.name}: ${error?.message} ${error?.body ?? ''}`);
    assert.match(error.error.detail, /api\.\*\.create_api/);
    return true;
  });

  const gone = await sdk('apis.deleteApi', () => unkey.apis.deleteApi({ apiId }));
  assertMeta(gone, 'deleteApi');
});
