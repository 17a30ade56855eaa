// Assertions on tollgate's response envelopes, shared by the raw-HTTP test files. Each failure
// message carries the request and the whole response so that a report can quote it.

import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';

export const kBase58Alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
export const kBase58Pattern = /^[1-9A-HJ-NP-Za-km-z]+$/;

/** A random base58 string, e.g. for an unknown key or a TOLLGATE_ROOT_KEY value. */
export function randomBase58(length) {
  let out = '';
  for (let i = 0; i < length; ++i) out += kBase58Alphabet[randomInt(kBase58Alphabet.length)];
  return out;
}

export function describeResponse(res) {
  const headers = Object.entries(res.headers).map(([k, v]) => `${k}: ${v}`).join('\n    ');
  return `HTTP ${res.status}\n    ${headers}\n  body: ${res.text}`;
}

/** Checks what every response must carry: meta.requestId "req_…" equal to X-Request-Id. */
export function assertRequestId(res) {
  const header = res.headers['x-request-id'];
  assert.ok(typeof header === 'string' && header.startsWith('req_'),
    `X-Request-Id header missing or not "req_…"\n  ${describeResponse(res)}`);
  assert.ok(res.json && typeof res.json === 'object', `body is not JSON\n  ${describeResponse(res)}`);
  assert.equal(res.json.meta?.requestId, header,
    `meta.requestId must equal the X-Request-Id header\n  ${describeResponse(res)}`);
  return header;
}

function assertJsonContentType(res) {
  const type = String(res.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  assert.equal(type, 'application/json', `Content-Type must be application/json (the SDK matches on it)\n  ${describeResponse(res)}`);
}

/** Asserts a 200 success envelope and returns its data. */
export function expectOk(res, what = 'request') {
  assert.equal(res.status, 200, `${what}: expected 200\n  ${describeResponse(res)}`);
  assertJsonContentType(res);
  assertRequestId(res);
  assert.ok('data' in res.json, `${what}: success envelope without "data"\n  ${describeResponse(res)}`);
  assert.ok(!('error' in res.json), `${what}: success envelope with "error"\n  ${describeResponse(res)}`);
  return res.json.data;
}

/**
 * Asserts an error envelope with the given HTTP status and returns its `error` object:
 * {title, detail, status, type} (strings, status equal to the HTTP status) plus errors[] on 400.
 */
export function expectError(res, status, what = 'request') {
  assert.equal(res.status, status, `${what}: expected HTTP ${status}\n  ${describeResponse(res)}`);
  assertJsonContentType(res);
  assertRequestId(res);
  const error = res.json.error;
  assert.ok(error && typeof error === 'object', `${what}: no "error" object\n  ${describeResponse(res)}`);
  assert.ok(!('data' in res.json), `${what}: error envelope with "data"\n  ${describeResponse(res)}`);
  for (const field of ['title', 'detail', 'type']) {
    assert.equal(typeof error[field], 'string', `${what}: error.${field} must be a string\n  ${describeResponse(res)}`);
    assert.ok(error[field].length > 0, `${what}: error.${field} is empty\n  ${describeResponse(res)}`);
  }
  assert.equal(error.status, status, `${what}: error.status must equal the HTTP status\n  ${describeResponse(res)}`);
  if (status === 400) {
    assert.ok(Array.isArray(error.errors) && error.errors.length > 0,
      `${what}: a 400 must list errors[] (the SDK requires it)\n  ${describeResponse(res)}`);
    for (const e of error.errors) {
      assert.equal(typeof e.location, 'string', `${what}: errors[].location must be a string\n  ${describeResponse(res)}`);
      assert.equal(typeof e.message, 'string', `${what}: errors[].message must be a string\n  ${describeResponse(res)}`);
    }
  }
  return error;
}

/** Asserts a 400 that names `location` (e.g. "body.apiId") in errors[] and `field` in detail. */
export function expectFieldError(res, location, what = 'request') {
  const error = expectError(res, 400, what);
  const locations = error.errors.map((e) => e.location);
  assert.ok(locations.includes(location),
    `${what}: errors[].location should include "${location}", got ${JSON.stringify(locations)}\n  ${describeResponse(res)}`);
  const field = location.split('.').pop();
  assert.ok(error.detail.includes(field),
    `${what}: error.detail should name "${field}"\n  ${describeResponse(res)}`);
  return error;
}

/** verifyKey always answers 200; returns data after checking valid/code agree. */
export async function verify(server, key, extra = {}, options = {}) {
  const res = await server.call('/v2/keys.verifyKey', { key, ...extra }, options);
  const data = expectOk(res, `verifyKey ${JSON.stringify(extra)}`);
  assert.equal(typeof data.valid, 'boolean', `verifyKey: data.valid must be boolean\n  ${describeResponse(res)}`);
  assert.equal(typeof data.code, 'string', `verifyKey: data.code must be a string\n  ${describeResponse(res)}`);
  assert.equal(data.valid, data.code === 'VALID', `verifyKey: valid and code disagree\n  ${describeResponse(res)}`);
  return data;
}

/** createApi + return apiId. */
export async function createApi(server, name = 'test-api') {
  const data = expectOk(await server.call('/v2/apis.createApi', { name }), 'createApi');
  assert.equal(typeof data.apiId, 'string');
  return data.apiId;
}

/** createKey + return {keyId, key}. */
export async function createKey(server, apiId, fields = {}) {
  const data = expectOk(await server.call('/v2/keys.createKey', { apiId, ...fields }), `createKey ${JSON.stringify(fields)}`);
  assert.equal(typeof data.keyId, 'string');
  assert.equal(typeof data.key, 'string');
  return data;
}

/** createRootKey with the given scopes + return {keyId, key}. */
export async function createRootKey(server, permissions, name = 'scoped', options = {}) {
  const data = expectOk(
    await server.call('/v2/rootKeys.createRootKey', { name, permissions }, options),
    `createRootKey ${JSON.stringify(permissions)}`);
  assert.equal(typeof data.keyId, 'string');
  assert.equal(typeof data.key, 'string');
  return data;
}
