// The keys/apis/rootKeys resources over raw HTTP, end to end against a real server: what the
// contract (docs/API_CONTRACT.md) promises for each call, including verifyKey's codes.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import {
  createApi, createKey, createRootKey, describeResponse, expectError, expectFieldError, expectOk, kBase58Pattern,
  randomBase58, verify,
} from './lib/expect.mjs';
import { startServer } from './lib/server.mjs';

async function withServer(t) {
  const server = await startServer();
  t.after(() => server.stop());
  return server;
}

async function getKey(server, keyId) {
  return expectOk(await server.call('/v2/keys.getKey', { keyId }), `getKey ${keyId}`);
}

async function updateKey(server, keyId, fields) {
  const data = expectOk(await server.call('/v2/keys.updateKey', { keyId, ...fields }), `updateKey ${JSON.stringify(fields)}`);
  assert.deepEqual(data, {});
}

// Upper bound on the base58 length of n random bytes, and a floor 3 digits below it (a shorter
// encoding of random bytes has probability ~58^-3).
function base58LengthBounds(byteLength) {
  const max = Math.ceil((byteLength * 8) / Math.log2(58));
  return [max - 3, max];
}

test('createApi, getApi, createKey with every field, getKey/listKeys/whoami return them', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server, 'payments');
  const api = expectOk(await server.call('/v2/apis.getApi', { apiId }), 'getApi');
  assert.equal(api.id, apiId);
  assert.equal(api.name, 'payments');

  const expires = Date.now() + 24 * 3600 * 1000;
  const fields = {
    prefix: 'acme',
    name: 'customer one',
    byteLength: 32,
    externalId: 'cust_1',
    meta: { plan: 'pro', seats: 3, nested: { ok: true }, text: 'ü 日本 ✓ "quoted"', list: [1, null, 'x'], big: 9007199254740991 },
    expires,
    enabled: true,
    credits: { remaining: 100, refill: { interval: 'daily', amount: 100 } },
    ratelimits: [{ name: 'requests', limit: 10, duration: 60000, autoApply: true }],
    permissions: ['documents.read', 'documents.write'],
    roles: ['admin'],
  };
  const before = Date.now();
  const created = await createKey(server, apiId, fields);
  const { keyId, key } = created;

  assert.match(key, /^acme_/, `key must start with the prefix and "_": ${key}`);
  const random = key.slice('acme_'.length);
  assert.match(random, kBase58Pattern, `the part after the prefix must be base58: ${key}`);
  const [minLen, maxLen] = base58LengthBounds(32);
  assert.ok(random.length >= minLen && random.length <= maxLen,
    `32 random bytes are ${minLen}..${maxLen} base58 characters, got ${random.length}: ${key}`);

  const got = await getKey(server, keyId);
  assert.equal(got.keyId, keyId);
  assert.equal(typeof got.start, 'string');
  assert.ok(got.start.startsWith('acme_') && key.startsWith(got.start) && got.start.length < key.length,
    `start must be a proper prefix of the key that includes "acme_", got ${JSON.stringify(got.start)}`);
  assert.ok(got.start.length <= 'acme_'.length + 8, `start reveals too much of the key: ${got.start}`);
  assert.equal(got.enabled, true);
  assert.equal(got.name, 'customer one');
  assert.deepEqual(got.meta, fields.meta);
  assert.equal(typeof got.createdAt, 'number');
  assert.ok(got.createdAt >= before - 5000 && got.createdAt <= Date.now() + 5000,
    `createdAt must be unix ms around now, got ${got.createdAt}`);
  assert.equal(got.expires, expires);
  assert.deepEqual([...got.permissions].sort(), ['documents.read', 'documents.write']);
  assert.deepEqual(got.roles, ['admin']);
  assert.equal(got.credits?.remaining, 100);
  assert.equal(got.credits?.refill?.interval, 'daily');
  assert.equal(got.credits?.refill?.amount, 100);
  assert.equal(got.identity?.externalId, 'cust_1');
  assert.equal(typeof got.identity?.id, 'string');
  assert.equal(got.ratelimits?.length, 1, `ratelimits: ${JSON.stringify(got.ratelimits)}`);
  const [rl] = got.ratelimits;
  assert.equal(typeof rl.id, 'string');
  assert.deepEqual({ name: rl.name, limit: rl.limit, duration: rl.duration, autoApply: rl.autoApply },
    { name: 'requests', limit: 10, duration: 60000, autoApply: true });
  assert.ok(!JSON.stringify(got).includes(key), 'getKey must not return the plaintext key');

  const listRes = await server.call('/v2/apis.listKeys', { apiId });
  const list = expectOk(listRes, 'listKeys');
  assert.equal(list.length, 1);
  assert.equal(list[0].keyId, keyId);
  assert.equal(list[0].name, 'customer one');
  assert.equal(listRes.json.pagination?.hasMore, false, `listKeys pagination: ${listRes.text}`);
  assert.ok(!listRes.text.includes(key), 'listKeys must not return the plaintext key');

  const me = expectOk(await server.call('/v2/keys.whoami', { key }), 'whoami');
  assert.equal(me.keyId, keyId);
  assert.equal(me.name, 'customer one');
  assert.equal(me.identity?.externalId, 'cust_1');
  expectError(await server.call('/v2/keys.whoami', { key: `acme_${randomBase58(30)}` }), 404, 'whoami with an unknown key');

  const ok = await verify(server, key);
  assert.equal(ok.code, 'VALID');
  assert.equal(ok.keyId, keyId);
  assert.equal(ok.name, 'customer one');
  assert.deepEqual(ok.meta, fields.meta);
  assert.equal(ok.expires, expires);
  assert.equal(ok.enabled, true);
  assert.equal(ok.identity?.externalId, 'cust_1');

  expectError(await server.call('/v2/apis.getApi', { apiId: 'api_doesnotexist' }), 404, 'getApi unknown');
  expectError(await server.call('/v2/keys.getKey', { keyId: 'key_doesnotexist' }), 404, 'getKey unknown');
  expectError(await server.call('/v2/keys.createKey', { apiId: 'api_doesnotexist' }), 404, 'createKey on an unknown api');
});

test('a key without a prefix is plain base58 of byteLength 16 by default', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server);
  const { key } = await createKey(server, apiId);
  assert.match(key, kBase58Pattern, `a key without prefix is just base58: ${key}`);
  const [minLen, maxLen] = base58LengthBounds(16);
  assert.ok(key.length >= minLen && key.length <= maxLen, `16 bytes are ${minLen}..${maxLen} base58 characters: ${key}`);
  const other = await createKey(server, apiId);
  assert.notEqual(other.key, key);
  assert.equal((await verify(server, key)).code, 'VALID');
});

test('byteLength outside 16..255 → 400 at body.byteLength; the bounds themselves work', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server);
  for (const byteLength of [15, 256]) {
    expectFieldError(await server.call('/v2/keys.createKey', { apiId, byteLength }), 'body.byteLength', `byteLength ${byteLength}`);
  }
  for (const byteLength of [16, 255]) {
    const { key } = await createKey(server, apiId, { prefix: 'b', byteLength });
    const [minLen, maxLen] = base58LengthBounds(byteLength);
    const random = key.slice(2);
    assert.ok(random.length >= minLen && random.length <= maxLen,
      `byteLength ${byteLength}: ${minLen}..${maxLen} base58 characters, got ${random.length}`);
    assert.equal((await verify(server, key)).code, 'VALID');
  }
});

test('listKeys paginates with limit/cursor/hasMore and filters by externalId', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server, 'paged');
  const otherApi = await createApi(server, 'other');
  await createKey(server, otherApi, { externalId: 'ext_a', name: 'elsewhere' });
  const created = [];
  for (let i = 0; i < 5; ++i) {
    const fields = { name: `k${i}`, ...(i < 3 ? { externalId: 'ext_a' } : { externalId: 'ext_b' }) };
    created.push((await createKey(server, apiId, fields)).keyId);
  }

  const pages = [];
  let cursor;
  for (let i = 0; i < 10; ++i) {
    const res = await server.call('/v2/apis.listKeys', { apiId, limit: 2, ...(cursor ? { cursor } : {}) });
    const data = expectOk(res, `listKeys page ${i + 1}`);
    const pagination = res.json.pagination;
    assert.equal(typeof pagination?.hasMore, 'boolean', `pagination.hasMore missing\n  ${describeResponse(res)}`);
    pages.push({ ids: data.map((k) => k.keyId), hasMore: pagination.hasMore });
    if (!pagination.hasMore) break;
    assert.equal(typeof pagination.cursor, 'string', `hasMore without a cursor\n  ${describeResponse(res)}`);
    cursor = pagination.cursor;
  }
  assert.deepEqual(pages.map((p) => p.ids.length), [2, 2, 1], `page sizes: ${JSON.stringify(pages)}`);
  assert.deepEqual(pages.map((p) => p.hasMore), [true, true, false]);
  const listed = pages.flatMap((p) => p.ids);
  assert.equal(new Set(listed).size, 5, `a key was listed twice: ${listed}`);
  assert.deepEqual([...listed].sort(), [...created].sort(), 'listKeys must return exactly the keys of this API');

  const filtered = expectOk(await server.call('/v2/apis.listKeys', { apiId, externalId: 'ext_a' }), 'listKeys externalId');
  assert.deepEqual(filtered.map((k) => k.keyId).sort(), created.slice(0, 3).sort());
  for (const k of filtered) assert.equal(k.identity?.externalId, 'ext_a');
  const none = expectOk(await server.call('/v2/apis.listKeys', { apiId, externalId: 'ext_none' }), 'listKeys unknown externalId');
  assert.deepEqual(none, []);

  for (const limit of [0, 101]) {
    expectFieldError(await server.call('/v2/apis.listKeys', { apiId, limit }), 'body.limit', `listKeys limit ${limit}`);
  }
  expectError(await server.call('/v2/apis.listKeys', { apiId: 'api_doesnotexist' }), 404, 'listKeys on an unknown api');
});

test('updateKey changes fields, null clears a nullable one, unknown key → 404', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server);
  const { keyId, key } = await createKey(server, apiId, { name: 'before', meta: { a: 1 }, permissions: ['x'] });

  await updateKey(server, keyId, { name: 'after', meta: { b: 2 }, permissions: ['y', 'z'], roles: ['r'], externalId: 'ext_u' });
  let got = await getKey(server, keyId);
  assert.equal(got.name, 'after');
  assert.deepEqual(got.meta, { b: 2 });
  assert.deepEqual([...got.permissions].sort(), ['y', 'z']);
  assert.deepEqual(got.roles, ['r']);
  assert.equal(got.identity?.externalId, 'ext_u');
  assert.equal(typeof got.updatedAt, 'number', 'updateKey must set updatedAt');

  await updateKey(server, keyId, { name: null, meta: null });
  got = await getKey(server, keyId);
  assert.ok(!('name' in got), `name: null must clear the name (field absent; the SDK rejects null), got ${JSON.stringify(got)}`);
  assert.ok(!('meta' in got), `meta: null must clear meta (field absent), got ${JSON.stringify(got)}`);
  assert.deepEqual([...got.permissions].sort(), ['y', 'z'], 'fields not in the update must stay');

  await updateKey(server, keyId, { enabled: false });
  assert.equal((await getKey(server, keyId)).enabled, false);
  const disabled = await verify(server, key);
  assert.equal(disabled.code, 'DISABLED');
  await updateKey(server, keyId, { enabled: true });
  assert.equal((await verify(server, key)).code, 'VALID');

  expectError(await server.call('/v2/keys.updateKey', { keyId: 'key_doesnotexist', name: 'renamed' }), 404, 'updateKey unknown');
  expectFieldError(await server.call('/v2/keys.updateKey', { keyId, enabled: 'yes' }), 'body.enabled', 'enabled: "yes"');
});

test('verifyKey codes: VALID, NOT_FOUND, DISABLED, EXPIRED', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server);
  const { keyId, key } = await createKey(server, apiId, { prefix: 'v' });

  const valid = await verify(server, key);
  assert.equal(valid.code, 'VALID');
  assert.equal(valid.keyId, keyId);

  const unknown = await verify(server, `v_${randomBase58(22)}`);
  assert.equal(unknown.code, 'NOT_FOUND');
  assert.equal(unknown.valid, false);

  const { key: disabledKey } = await createKey(server, apiId, { enabled: false });
  assert.equal((await verify(server, disabledKey)).code, 'DISABLED');

  await updateKey(server, keyId, { expires: Date.now() - 1000 });
  const expired = await verify(server, key);
  assert.equal(expired.code, 'EXPIRED');
  assert.equal(expired.valid, false);
  await updateKey(server, keyId, { expires: null });
  assert.equal((await verify(server, key)).code, 'VALID', 'expires: null must remove the expiry');

  const { key: shortLived } = await createKey(server, apiId, { expires: Date.now() + 1500 });
  assert.equal((await verify(server, shortLived)).code, 'VALID');
  await new Promise((resolve) => setTimeout(resolve, 2000));
  assert.equal((await verify(server, shortLived)).code, 'EXPIRED', 'a key must expire by the clock, not only by updates');

  expectFieldError(await server.call('/v2/keys.verifyKey', {}), 'body.key', 'verifyKey without key');
});

test('verifyKey permission queries: a AND (b OR c)', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server);
  const query = 'documents.read AND (documents.write OR documents.admin)';
  const { key: both } = await createKey(server, apiId, { permissions: ['documents.read', 'documents.admin'] });
  const { key: readOnly } = await createKey(server, apiId, { permissions: ['documents.read'] });

  const ok = await verify(server, both, { permissions: query });
  assert.equal(ok.code, 'VALID', `[read, admin] must satisfy ${query}`);
  const denied = await verify(server, readOnly, { permissions: query });
  assert.equal(denied.code, 'INSUFFICIENT_PERMISSIONS', `[read] must not satisfy ${query}`);
  assert.equal(denied.valid, false);
  assert.equal((await verify(server, readOnly, { permissions: 'documents.read' })).code, 'VALID');
  assert.equal((await verify(server, readOnly, { permissions: 'documents.read OR documents.admin' })).code, 'VALID');

  for (const malformed of ['documents.read AND (documents.write OR', 'AND documents.read', 'documents.read documents.write']) {
    const res = await server.call('/v2/keys.verifyKey', { key: both, permissions: malformed });
    expectError(res, 400, `malformed permission query ${JSON.stringify(malformed)}`);
  }
});

test('credits: each verify costs 1 (or credits.cost), USAGE_EXCEEDED at 0, failures cost nothing', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server);
  const { key } = await createKey(server, apiId, { credits: { remaining: 2 } });
  const first = await verify(server, key);
  assert.equal(first.code, 'VALID');
  assert.equal(first.credits, 1, `verify data.credits must be the remaining credits: ${JSON.stringify(first)}`);
  const second = await verify(server, key);
  assert.equal(second.code, 'VALID');
  assert.equal(second.credits, 0);
  const third = await verify(server, key);
  assert.equal(third.code, 'USAGE_EXCEEDED');
  assert.equal(third.valid, false);
  if (third.credits !== undefined) assert.equal(third.credits, 0);

  const { keyId: costlyId, key: costly } = await createKey(server, apiId, { credits: { remaining: 5 } });
  assert.equal((await verify(server, costly, { credits: { cost: 3 } })).credits, 2);
  const tooMuch = await verify(server, costly, { credits: { cost: 3 } });
  assert.equal(tooMuch.code, 'USAGE_EXCEEDED');
  assert.equal((await getKey(server, costlyId)).credits?.remaining, 2, 'a refused verify must not spend credits');
  const last = await verify(server, costly, { credits: { cost: 2 } });
  assert.equal(last.code, 'VALID');
  assert.equal(last.credits, 0);

  const { key: free } = await createKey(server, apiId);
  for (let i = 0; i < 3; ++i) assert.equal((await verify(server, free)).code, 'VALID', 'a key without credits is unlimited');
});

test('updateCredits: set, increment, decrement, set null (unlimited)', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server);
  const { keyId, key } = await createKey(server, apiId, { credits: { remaining: 1 } });
  const update = async (operation, value) => expectOk(
    await server.call('/v2/keys.updateCredits', { keyId, operation, ...(value === undefined ? {} : { value }) }),
    `updateCredits ${operation} ${value}`);

  assert.equal((await update('set', 10)).remaining, 10);
  assert.equal((await update('increment', 5)).remaining, 15);
  assert.equal((await update('decrement', 3)).remaining, 12);
  assert.equal((await getKey(server, keyId)).credits?.remaining, 12);
  assert.equal((await verify(server, key)).credits, 11);

  await update('set', 0);
  assert.equal((await verify(server, key)).code, 'USAGE_EXCEEDED');

  const unlimited = await update('set', null);
  assert.ok('remaining' in unlimited && unlimited.remaining === null,
    `set null must answer {remaining: null} (the SDK requires the field), got ${JSON.stringify(unlimited)}`);
  for (let i = 0; i < 3; ++i) assert.equal((await verify(server, key)).code, 'VALID', 'unlimited after set null');
  const got = await getKey(server, keyId);
  assert.ok(got.credits === undefined || got.credits.remaining === null,
    `an unlimited key has no credits or remaining null, got ${JSON.stringify(got.credits)}`);

  expectFieldError(await server.call('/v2/keys.updateCredits', { keyId, operation: 'multiply', value: 2 }),
    'body.operation', 'operation multiply');
  expectError(await server.call('/v2/keys.updateCredits', { keyId: 'key_doesnotexist', operation: 'set', value: 1 }),
    404, 'updateCredits unknown key');
});

test('rerollKey: the new key copies the config; the old one lasts `expiration` ms', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server);
  const fields = { prefix: 'rr', name: 'rolled', meta: { tier: 'gold' }, permissions: ['p.one'], roles: ['ops'], externalId: 'ext_r' };
  const original = await createKey(server, apiId, fields);

  const rerolled = expectOk(
    await server.call('/v2/keys.rerollKey', { keyId: original.keyId, expiration: 60000 }), 'rerollKey 60000');
  assert.notEqual(rerolled.keyId, original.keyId);
  assert.notEqual(rerolled.key, original.key);
  assert.match(rerolled.key, /^rr_[1-9A-HJ-NP-Za-km-z]+$/, 'the new key keeps the prefix');
  const oldCheck = await verify(server, original.key);
  assert.equal(oldCheck.code, 'VALID', 'the old key keeps working during the expiration window');
  const newCheck = await verify(server, rerolled.key);
  assert.equal(newCheck.code, 'VALID');
  assert.equal(newCheck.keyId, rerolled.keyId);

  const copy = await getKey(server, rerolled.keyId);
  assert.equal(copy.name, 'rolled');
  assert.deepEqual(copy.meta, { tier: 'gold' });
  assert.deepEqual(copy.permissions, ['p.one']);
  assert.deepEqual(copy.roles, ['ops']);
  assert.equal(copy.identity?.externalId, 'ext_r');
  const oldKey = await getKey(server, original.keyId);
  if (oldKey.expires !== undefined) {
    assert.ok(oldKey.expires > Date.now() + 50000 && oldKey.expires <= Date.now() + 61000,
      `old key expires ≈ now + 60 s, got ${oldKey.expires - Date.now()} ms from now`);
  }

  const second = await createKey(server, apiId, { prefix: 'rr' });
  const now = expectOk(await server.call('/v2/keys.rerollKey', { keyId: second.keyId, expiration: 0 }), 'rerollKey 0');
  const revoked = await verify(server, second.key);
  assert.equal(revoked.valid, false, `expiration 0 must revoke the old key at once, got ${revoked.code}`);
  assert.equal((await verify(server, now.key)).code, 'VALID');

  expectError(await server.call('/v2/keys.rerollKey', { keyId: 'key_doesnotexist', expiration: 0 }), 404, 'reroll unknown');
  expectFieldError(await server.call('/v2/keys.rerollKey', { keyId: second.keyId }), 'body.expiration', 'reroll without expiration');
});

test('deleteKey → NOT_FOUND; deleteApi → its keys NOT_FOUND', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server);
  const a = await createKey(server, apiId);
  const b = await createKey(server, apiId);
  const keep = await createKey(server, await createApi(server, 'kept'));

  assert.deepEqual(expectOk(await server.call('/v2/keys.deleteKey', { keyId: a.keyId }), 'deleteKey'), {});
  assert.equal((await verify(server, a.key)).code, 'NOT_FOUND');
  expectError(await server.call('/v2/keys.getKey', { keyId: a.keyId }), 404, 'getKey after deleteKey');
  expectError(await server.call('/v2/keys.deleteKey', { keyId: a.keyId }), 404, 'deleteKey twice');
  assert.equal((await verify(server, b.key)).code, 'VALID');

  assert.deepEqual(expectOk(await server.call('/v2/apis.deleteApi', { apiId }), 'deleteApi'), {});
  assert.equal((await verify(server, b.key)).code, 'NOT_FOUND', 'keys of a deleted API must not verify');
  expectError(await server.call('/v2/apis.getApi', { apiId }), 404, 'getApi after deleteApi');
  expectError(await server.call('/v2/keys.getKey', { keyId: b.keyId }), 404, 'getKey of a deleted API');
  assert.equal((await verify(server, keep.key)).code, 'VALID', 'other APIs are untouched');
});

test('rootKeys: create/list/delete, scoped verify, no privilege escalation, deleted key → 401', async (t) => {
  const server = await withServer(t);
  const apiA = await createApi(server, 'api-a');
  const apiB = await createApi(server, 'api-b');
  const keyA = await createKey(server, apiA);
  const keyB = await createKey(server, apiB);

  const verifier = await createRootKey(server, [`api.${apiA}.verify_key`], 'verifier-a');
  assert.notEqual(verifier.key, server.rootKey);
  const listRes = await server.call('/v2/rootKeys.listRootKeys', {});
  const list = expectOk(listRes, 'listRootKeys');
  const entry = list.find((k) => k.keyId === verifier.keyId);
  assert.ok(entry, `listRootKeys must include the new key\n  ${describeResponse(listRes)}`);
  assert.equal(entry.name, 'verifier-a');
  assert.deepEqual(entry.permissions, [`api.${apiA}.verify_key`]);
  assert.equal(typeof entry.createdAt, 'number');
  assert.equal(typeof entry.start, 'string');
  assert.ok(verifier.key.startsWith(entry.start) && entry.start.length < verifier.key.length, `start: ${entry.start}`);
  assert.ok(!listRes.text.includes(verifier.key) && !listRes.text.includes(server.rootKey),
    'listRootKeys must not reveal plaintext root keys');

  const asVerifier = { rootKey: verifier.key };
  const okA = await verify(server, keyA.key, {}, asVerifier);
  assert.equal(okA.code, 'VALID', 'api.<A>.verify_key verifies keys of A');
  const resB = await server.call('/v2/keys.verifyKey', { key: keyB.key }, asVerifier);
  const errB = expectError(resB, 403, 'verify a key of API B with api.<A>.verify_key');
  assert.match(errB.detail, new RegExp(`api\\.(\\*|${apiB})\\.verify_key`), `403 must name the missing scope\n  ${describeResponse(resB)}`);
  const createRes = await server.call('/v2/keys.createKey', { apiId: apiA }, asVerifier);
  const createErr = expectError(createRes, 403, 'createKey with a verify-only root key');
  assert.ok(createErr.detail.includes('create_key'), `403 must name create_key\n  ${describeResponse(createRes)}`);
  expectError(await server.call('/v2/rootKeys.listRootKeys', {}, asVerifier), 403, 'listRootKeys without rootkey.*.read');

  const granter = await createRootKey(server, ['rootkey.*.create', 'api.*.read_api'], 'granter');
  const asGranter = { rootKey: granter.key };
  await createRootKey(server, ['api.*.read_api'], 'subset', asGranter);
  for (const scopes of [['api.*.create_key'], ['*'], ['api.*.read_api', 'rootkey.*.delete']]) {
    const res = await server.call('/v2/rootKeys.createRootKey', { name: 'escalate', permissions: scopes }, asGranter);
    expectError(res, 403, `granting ${JSON.stringify(scopes)} from [rootkey.*.create, api.*.read_api]`);
  }

  assert.deepEqual(expectOk(await server.call('/v2/rootKeys.deleteRootKey', { keyId: verifier.keyId }), 'deleteRootKey'), {});
  expectError(await server.call('/v2/keys.verifyKey', { key: keyA.key }, asVerifier), 401, 'a deleted root key');
  const after = expectOk(await server.call('/v2/rootKeys.listRootKeys', {}), 'listRootKeys after delete');
  assert.ok(!after.some((k) => k.keyId === verifier.keyId), 'a deleted root key must leave the list');
  expectError(await server.call('/v2/rootKeys.deleteRootKey', { keyId: verifier.keyId }), 404, 'deleteRootKey twice');
});

test('credits under 200 concurrent verifies: exactly `remaining` are VALID', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server);
  const { keyId, key } = await createKey(server, apiId, { credits: { remaining: 50 } });
  const results = await Promise.all(Array.from({ length: 200 }, () => server.call('/v2/keys.verifyKey', { key })));
  const codes = {};
  for (const res of results) {
    const code = res.status === 200 ? res.json?.data?.code : `HTTP ${res.status}`;
    codes[code] = (codes[code] ?? 0) + 1;
  }
  assert.deepEqual(codes, { VALID: 50, USAGE_EXCEEDED: 150 });
  assert.equal((await getKey(server, keyId)).credits?.remaining, 0);

  await Promise.all(Array.from({ length: 40 }, () =>
    server.call('/v2/keys.updateCredits', { keyId, operation: 'increment', value: 1 })));
  assert.equal((await getKey(server, keyId)).credits?.remaining, 40, '40 concurrent increments of 1');
});

test('rerollKey with a short expiration: the old key works, then expires', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server);
  const { keyId, key } = await createKey(server, apiId);
  const rerolled = expectOk(await server.call('/v2/keys.rerollKey', { keyId, expiration: 1000 }), 'rerollKey 1000');
  assert.equal((await verify(server, key)).code, 'VALID', 'inside the 1 s window');
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal((await verify(server, key)).code, 'EXPIRED', 'after the 1 s window');
  assert.equal((await verify(server, rerolled.key)).code, 'VALID');
});

test('state survives a restart: spent credits, updates, deletions, root keys', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server, 'durable');
  const spent = await createKey(server, apiId, { credits: { remaining: 5 }, name: 'spender' });
  for (let i = 0; i < 3; ++i) assert.equal((await verify(server, spent.key)).code, 'VALID');
  const updated = await createKey(server, apiId, { name: 'before' });
  await updateKey(server, updated.keyId, { name: 'after', meta: { v: 2 }, permissions: ['p.x'] });
  const deleted = await createKey(server, apiId);
  expectOk(await server.call('/v2/keys.deleteKey', { keyId: deleted.keyId }), 'deleteKey');
  const reader = await createRootKey(server, ['api.*.read_api'], 'reader');
  const removed = await createRootKey(server, ['api.*.read_api'], 'removed');
  expectOk(await server.call('/v2/rootKeys.deleteRootKey', { keyId: removed.keyId }), 'deleteRootKey');

  const stopped = await server.stop();
  assert.equal(stopped.code, 0, JSON.stringify(stopped));
  await server.restart();

  assert.equal((await getKey(server, spent.keyId)).credits?.remaining, 2, 'credits spent before the restart stay spent');
  const next = await verify(server, spent.key);
  assert.deepEqual([next.code, next.credits], ['VALID', 1]);
  const got = await getKey(server, updated.keyId);
  assert.deepEqual([got.name, got.meta, got.permissions], ['after', { v: 2 }, ['p.x']]);
  assert.equal((await verify(server, deleted.key)).code, 'NOT_FOUND');
  expectOk(await server.call('/v2/apis.getApi', { apiId }, { rootKey: reader.key }), 'a root key created before the restart');
  expectError(await server.call('/v2/apis.getApi', { apiId }, { rootKey: removed.key }), 401, 'a root key deleted before the restart');
});

test('credit balances stay within exact JavaScript integers: no overflow, no wrap-around', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server);
  const { keyId, key } = await createKey(server, apiId, { credits: { remaining: 1 } });
  // Raw bodies: 2^63-1 is not representable as a JS number.
  const raw = (body) => server.call('/v2/keys.updateCredits', undefined, { rawBody: JSON.stringify(body).replace('"@MAX@"', '9223372036854775807') });
  const tooLarge = expectError(await raw({ keyId, operation: 'set', value: '@MAX@' }), 400, 'set 2^63-1');
  assert.equal(tooLarge.errors?.[0]?.location, 'body.value');
  const set = expectOk(await raw({ keyId, operation: 'set', value: Number.MAX_SAFE_INTEGER }), 'set 2^53-1');
  assert.equal(set.remaining, Number.MAX_SAFE_INTEGER);
  expectError(await raw({ keyId, operation: 'increment', value: 1 }), 400, 'increment past 2^53-1');
  const after = await verify(server, key);
  assert.equal(after.code, 'VALID', `a refused increment must leave the balance usable: ${JSON.stringify(after)}`);
  assert.equal(after.credits, Number.MAX_SAFE_INTEGER - 1);
  expectError(await server.call('/v2/keys.createKey', { apiId, credits: { remaining: Number.MAX_SAFE_INTEGER + 2 } }), 400,
    'createKey with credits above 2^53-1');
});

test('every key/api endpoint enforces its scope per API: a root key for API B gets 403 on API A', async (t) => {
  const server = await withServer(t);
  const apiA = await createApi(server, 'api-a');
  const apiB = await createApi(server, 'api-b');
  const keyA = await createKey(server, apiA, { name: 'untouched', credits: { remaining: 7 } });
  const actions = ['read_api', 'delete_api', 'create_key', 'read_key', 'update_key', 'delete_key', 'verify_key'];
  const onlyB = await createRootKey(server, actions.map((a) => `api.${apiB}.${a}`), 'b-only');
  // Scope each call needs, as in the Unkey v2 docs of the SDK (listKeys: read_key and read_api).
  const calls = [
    ['apis.getApi', { apiId: apiA }, ['read_api']],
    ['apis.listKeys', { apiId: apiA }, ['read_key', 'read_api']],
    ['keys.createKey', { apiId: apiA }, ['create_key']],
    ['keys.getKey', { keyId: keyA.keyId }, ['read_key']],
    ['keys.whoami', { key: keyA.key }, ['read_key']],
    ['keys.updateKey', { keyId: keyA.keyId, name: 'changed' }, ['update_key']],
    ['keys.updateCredits', { keyId: keyA.keyId, operation: 'set', value: 1000 }, ['update_key']],
    ['keys.verifyKey', { key: keyA.key }, ['verify_key']],
    ['keys.rerollKey', { keyId: keyA.keyId, expiration: 0 }, ['create_key']],
    ['keys.deleteKey', { keyId: keyA.keyId }, ['delete_key']],
    ['apis.deleteApi', { apiId: apiA }, ['delete_api']],
  ];
  for (const [route, body, scopes] of calls) {
    const res = await server.call(`/v2/${route}`, body, { rootKey: onlyB.key });
    const error = expectError(res, 403, `${route} on API A with a root key for API B`);
    const named = new RegExp(`api\\.(\\*|${apiA})\\.(${scopes.join('|')})`);
    assert.match(error.detail, named, `${route}: 403 must name the missing scope\n  ${describeResponse(res)}`);
  }
  const after = await getKey(server, keyA.keyId);
  assert.deepEqual([after.name, after.credits?.remaining], ['untouched', 7], 'refused calls must change nothing');
  assert.equal((await verify(server, keyA.key)).code, 'VALID');
  expectOk(await server.call('/v2/apis.getApi', { apiId: apiA }), 'API A still exists');
});

test('at --log-level trace no secret reaches the logs', async (t) => {
  const server = await startServer({ args: ['--log-level', 'trace'] });
  t.after(() => server.stop());
  const apiId = await createApi(server);
  const { keyId, key } = await createKey(server, apiId, { prefix: 'trace', credits: { remaining: 1 } });
  await verify(server, key);
  await verify(server, key);
  const rerolled = expectOk(await server.call('/v2/keys.rerollKey', { keyId, expiration: 0 }), 'rerollKey');
  await verify(server, key);
  expectOk(await server.call('/v2/keys.whoami', { key: rerolled.key }), 'whoami');
  const root = await createRootKey(server, ['api.*.verify_key'], 'tracer');
  await verify(server, rerolled.key, {}, { rootKey: root.key });
  expectError(await server.call('/v2/apis.createApi', { name: 'denied' }, { rootKey: root.key }), 403, 'createApi with a verify key');
  await server.stop();

  const logs = ['stderr.log', 'stdout.log'].map((name) => readFileSync(path.join(server.dataDir, name), 'utf8'))
    .join('\n').replace(/^TOLLGATE_ROOT_KEY=\S+$/m, '');
  for (const [what, secret] of [['key', key], ['rerolled key', rerolled.key], ['root key', root.key], ['bootstrap root key', server.rootKey]]) {
    assert.ok(!logs.includes(secret), `the ${what} appears in the logs of ${server.dataDir}`);
  }
});
