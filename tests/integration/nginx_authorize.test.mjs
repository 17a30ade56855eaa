// Issue 3, "Gateway authorize" and Done-when 3: GET /v2/keys.authorize, first directly (status
// codes, X-Tollgate-* and IETF RateLimit header fields, Retry-After, the throttle of unknown keys
// per client address), then behind a real nginx running the shipped
// deploy/nginx/tollgate-gateway.conf (auth_request) in front of a small echo upstream: 401 without
// a key, 200 with one (the upstream sees X-Tollgate-*), 429 with RateLimit-Policy, RateLimit and
// Retry-After once over the limit, 403 for a missing permission, 503 (fail closed) when tollgate
// is down, connections to tollgate kept alive. Also: HEAD, Retry-After for USAGE_EXCEEDED, and
// that stored strings (externalId, limit names) cannot inject header fields — the gateway hands
// X-Tollgate-* to the upstream as facts.
//
// Client addresses: Linux answers on all of 127.0.0.0/8, so requests bound to 127.0.0.2, .3, …
// act as distinct clients, both directly and through nginx (which passes X-Real-IP to tollgate).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';

import { createApi, createKey, describeResponse, expectOk, randomBase58 } from './lib/expect.mjs';
import { headerValues, request, startEchoUpstream, startNginx } from './lib/nginx.mjs';
import { startServer } from './lib/server.mjs';

const kThreePerTenSeconds = [{ name: 'requests', limit: 3, duration: 10000, autoApply: true }];
// The default limiter is a sliding-window counter: after `limit` requests in one window, the next
// one is admitted once the previous window's weighted count has decayed enough, which can be up
// to two windows later. Retry-After must not be earlier than that, so it is bounded by 2 windows.
const kMaxRetryAfterSeconds = 20;

async function withServer(t, options) {
  const server = await startServer(options);
  t.after(() => server.stop());
  return server;
}

// tollgate + echo upstream + nginx with the deploy config between them.
async function withGateway(t) {
  const server = await withServer(t);
  const app = await startEchoUpstream();
  t.after(() => app.close());
  const gateway = await startNginx({ tollgate: server.url, app: app.url });
  t.after(() => gateway.stop());
  return { server, app, gateway };
}

function keyHeaders(key, via = 'bearer') {
  if (key === undefined) return {};
  return via === 'bearer' ? { authorization: `Bearer ${key}` } : { 'x-api-key': key };
}

/** GET /v2/keys.authorize directly. */
function authorize(server, key, { via = 'bearer', query = '', localAddress, headers = {} } = {}) {
  return request(`${server.url}/v2/keys.authorize${query}`,
    { headers: { ...keyHeaders(key, via), ...headers }, localAddress });
}

/** A request through the gateway to the echo upstream. */
function viaGateway(gateway, key, { via = 'bearer', path = '/v1/things', method = 'GET', body, localAddress, headers = {} } = {}) {
  return request(`${gateway.url}${path}`,
    { method, body, headers: { ...keyHeaders(key, via), ...headers }, localAddress });
}

const show = describeResponse;

function expectStatus(res, status, what) {
  assert.equal(res.status, status, `${what}: expected HTTP ${status}\n  ${show(res)}`);
}

// The authorize body: {valid, code, …}.
function expectCode(res, code, what) {
  assert.ok(res.json && typeof res.json === 'object', `${what}: body is not JSON\n  ${show(res)}`);
  assert.equal(res.json.code, code, `${what}: code\n  ${show(res)}`);
  assert.equal(res.json.valid, code === 'VALID', `${what}: valid\n  ${show(res)}`);
}

function expectNoSecret(res, secret, what) {
  const everything = `${res.rawHeaders.join('\n')}\n${res.text}`;
  assert.ok(!everything.includes(secret), `${what}: the response echoes the API key\n  ${show(res)}`);
}

/**
 * Parses a RateLimit / RateLimit-Policy structured field (an sf-list of sf-strings with integer
 * parameters, e.g. `"requests";q=10;w=1, "burst";q=3;w=10`) into [{ name, params }]. Anything else
 * fails the test.
 */
function parseRateLimitField(value, what) {
  assert.equal(typeof value, 'string', `${what}: header missing`);
  const members = [];
  // sf-string characters: printable ASCII, with " and \ escaped by a backslash (RFC 9651, 3.3.3).
  const member = /[ \t]*"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"((?:;[a-z*][a-z0-9_\-.*]*=-?\d+)*)[ \t]*(,|$)/y;
  const rest = value;
  member.lastIndex = 0;
  while (member.lastIndex < rest.length) {
    const start = member.lastIndex;
    const match = member.exec(rest);
    assert.ok(match && match.index === start,
      `${what}: not an sf-list of "name";key=int items at offset ${start}: ${JSON.stringify(value)}`);
    const params = {};
    for (const [, key, number] of match[2].matchAll(/;([a-z*][a-z0-9_\-.*]*)=(-?\d+)/g)) params[key] = Number(number);
    members.push({ name: match[1].replace(/\\(["\\])/g, '$1'), params });
    if (match[3] === '') break;
    assert.ok(member.lastIndex < rest.length, `${what}: trailing comma: ${JSON.stringify(value)}`);
  }
  assert.ok(members.length > 0, `${what}: empty list: ${JSON.stringify(value)}`);
  return members;
}

function retryAfterSeconds(res, what) {
  const value = res.headers['retry-after'];
  assert.ok(typeof value === 'string' && /^\d+$/.test(value), `${what}: Retry-After must be delta-seconds\n  ${show(res)}`);
  return Number(value);
}

// Checks the RateLimit-Policy / RateLimit pair of a response that applied only the 3-per-10-s
// limit; returns the RateLimit member.
function expectThreePerTenHeaders(res, remaining, what) {
  const policy = parseRateLimitField(res.headers['ratelimit-policy'], `${what}: RateLimit-Policy`);
  assert.deepEqual(policy, [{ name: 'requests', params: { q: 3, w: 10 } }], `${what}: RateLimit-Policy\n  ${show(res)}`);
  const state = parseRateLimitField(res.headers.ratelimit, `${what}: RateLimit`);
  assert.equal(state.length, 1, `${what}: RateLimit members\n  ${show(res)}`);
  assert.equal(state[0].name, 'requests', `${what}: RateLimit name\n  ${show(res)}`);
  assert.equal(state[0].params.r, remaining, `${what}: RateLimit r\n  ${show(res)}`);
  assert.ok(state[0].params.t >= 1 && state[0].params.t <= kMaxRetryAfterSeconds, `${what}: RateLimit t\n  ${show(res)}`);
  return state[0];
}

/** Sends `text` on a fresh connection and resolves with everything read until the server closes. */
function rawExchange(port, text) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    const chunks = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.setTimeout(5000, () => socket.destroy());
  });
}

// IPv4 TCP sockets from /proc/net/tcp whose local or remote port is `port`: [{ local, remote, state }]
// with ports as numbers and state as the kernel's hex code (01 ESTABLISHED, 06 TIME_WAIT).
function tcpSockets(port) {
  const rows = readFileSync('/proc/net/tcp', 'utf8').trim().split('\n').slice(1);
  return rows.map((row) => row.trim().split(/\s+/)).map(([, local, remote, state]) => ({
    local: parseInt(local.split(':')[1], 16), remote: parseInt(remote.split(':')[1], 16), state,
  })).filter((s) => s.local === port || s.remote === port);
}

// Seconds from now to the next UTC midnight / first of next month.
function secondsUntil(date) {
  return (date.getTime() - Date.now()) / 1000;
}
function nextUtcMidnight() {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
}
function nextUtcMonth() {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
}

async function setup(server, name) {
  const apiId = await createApi(server, name);
  return { apiId, create: (fields = {}) => createKey(server, apiId, fields) };
}

// ---------------------------------------------------------------------------------------------
// Direct: GET /v2/keys.authorize
// ---------------------------------------------------------------------------------------------

test('authorize: no key or an unknown key is 401 with WWW-Authenticate: Bearer; no root key needed', async (t) => {
  const server = await withServer(t);
  const { create } = await setup(server, 'authz-401');
  const { key } = await create();

  const none = await authorize(server, undefined);
  expectStatus(none, 401, 'no key');
  assert.deepEqual(headerValues(none, 'www-authenticate'), ['Bearer'], `no key: WWW-Authenticate\n  ${show(none)}`);

  // A root key is not an API key: it does not pass.
  const root = await authorize(server, server.rootKey);
  expectStatus(root, 401, 'root key as API key');
  expectNoSecret(root, server.rootKey, 'root key as API key');

  for (const via of ['bearer', 'x-api-key']) {
    const unknown = await authorize(server, `${key}x`, { via });
    expectStatus(unknown, 401, `unknown key via ${via}`);
    expectCode(unknown, 'NOT_FOUND', `unknown key via ${via}`);
    assert.deepEqual(headerValues(unknown, 'www-authenticate'), ['Bearer'], `unknown key: WWW-Authenticate\n  ${show(unknown)}`);
    assert.equal(unknown.headers['x-tollgate-key-id'], undefined, `unknown key: no X-Tollgate-Key-Id\n  ${show(unknown)}`);
  }
  // Not a Bearer credential: no key was sent.
  expectStatus(await authorize(server, undefined, { headers: { authorization: `Basic ${key}` } }), 401, 'Basic');

  const post = await request(`${server.url}/v2/keys.authorize`, { method: 'POST', headers: keyHeaders(key), body: '{}' });
  expectStatus(post, 405, 'POST /v2/keys.authorize');
});

test('authorize: a valid key is 200 VALID via Bearer or X-API-Key, with X-Tollgate-* headers', async (t) => {
  const server = await withServer(t);
  const { create } = await setup(server, 'authz-200');
  const plain = await create();
  const owned = await create({ externalId: 'acme-corp', tier: 'pro' });

  for (const via of ['bearer', 'x-api-key']) {
    const res = await authorize(server, plain.key, { via });
    expectStatus(res, 200, `plain key via ${via}`);
    expectCode(res, 'VALID', `plain key via ${via}`);
    assert.equal(res.headers['x-tollgate-key-id'], plain.keyId, `X-Tollgate-Key-Id\n  ${show(res)}`);
    assert.equal(res.headers['x-tollgate-external-id'], undefined, `no identity: no X-Tollgate-External-Id\n  ${show(res)}`);
    assert.equal(res.headers['x-tollgate-tier'], undefined, `no tier: no X-Tollgate-Tier\n  ${show(res)}`);
    // No limits apply to this key (no own limits, no tier, no default tier).
    assert.equal(res.headers['ratelimit-policy'], undefined, `no limits: no RateLimit-Policy\n  ${show(res)}`);
    assert.equal(res.headers.ratelimit, undefined, `no limits: no RateLimit\n  ${show(res)}`);
    expectNoSecret(res, plain.key, `plain key via ${via}`);
  }

  const res = await authorize(server, owned.key, { via: 'x-api-key' });
  expectStatus(res, 200, 'key with identity and tier');
  assert.equal(res.headers['x-tollgate-key-id'], owned.keyId, `X-Tollgate-Key-Id\n  ${show(res)}`);
  assert.equal(res.headers['x-tollgate-external-id'], 'acme-corp', `X-Tollgate-External-Id\n  ${show(res)}`);
  assert.equal(res.headers['x-tollgate-tier'], 'pro', `X-Tollgate-Tier\n  ${show(res)}`);
  // The pro tier's built-in limit: 100 per second.
  const policy = parseRateLimitField(res.headers['ratelimit-policy'], 'pro key: RateLimit-Policy');
  assert.deepEqual(policy, [{ name: 'requests', params: { q: 100, w: 1 } }], `pro key: RateLimit-Policy\n  ${show(res)}`);
  const state = parseRateLimitField(res.headers.ratelimit, 'pro key: RateLimit');
  assert.equal(state[0].params.r, 99, `pro key: RateLimit r after one request\n  ${show(res)}`);
  assert.equal(state[0].params.t, 1, `pro key: RateLimit t of a 1 s window\n  ${show(res)}`);

  // Key plus tier limits: one list member per applied limit, in both fields.
  const both = await create({ tier: 'free', ratelimits: [{ name: 'burst', limit: 5, duration: 60000, autoApply: true }] });
  const two = await authorize(server, both.key);
  expectStatus(two, 200, 'key and tier limits');
  const twoPolicy = parseRateLimitField(two.headers['ratelimit-policy'], 'two limits: RateLimit-Policy');
  const byName = Object.fromEntries(twoPolicy.map((m) => [m.name, m.params]));
  assert.deepEqual(byName, { burst: { q: 5, w: 60 }, requests: { q: 10, w: 1 } }, `two limits: RateLimit-Policy\n  ${show(two)}`);
  const twoState = Object.fromEntries(parseRateLimitField(two.headers.ratelimit, 'two limits: RateLimit').map((m) => [m.name, m.params]));
  assert.equal(twoState.burst?.r, 4, `two limits: RateLimit burst r\n  ${show(two)}`);
  assert.equal(twoState.requests?.r, 9, `two limits: RateLimit requests r\n  ${show(two)}`);

  // The auth-scheme is case-insensitive (RFC 9110, section 11.1).
  for (const scheme of ['bearer', 'BEARER']) {
    const res = await authorize(server, undefined, { headers: { authorization: `${scheme} ${plain.key}` } });
    expectStatus(res, 200, `Authorization: ${scheme} <key>`);
  }
});

test('authorize: disabled and expired keys are 401, a missing permission 403, ?cost spends credits', async (t) => {
  const server = await withServer(t);
  const { create } = await setup(server, 'authz-codes');

  const disabled = await create({ enabled: false });
  const off = await authorize(server, disabled.key);
  expectStatus(off, 401, 'disabled key');
  expectCode(off, 'DISABLED', 'disabled key');
  assert.deepEqual(headerValues(off, 'www-authenticate'), ['Bearer'], `disabled: WWW-Authenticate\n  ${show(off)}`);

  const expiring = await create({ expires: Date.now() + 1500 });
  expectStatus(await authorize(server, expiring.key), 200, 'key before it expires');
  await sleep(1700);
  const expired = await authorize(server, expiring.key);
  expectStatus(expired, 401, 'expired key');
  expectCode(expired, 'EXPIRED', 'expired key');

  const reader = await create({ permissions: ['docs.read'] });
  const allowed = await authorize(server, reader.key, { query: '?permissions=docs.read' });
  expectStatus(allowed, 200, 'held permission');
  const denied = await authorize(server, reader.key, { query: `?permissions=${encodeURIComponent('docs.read AND docs.write')}` });
  expectStatus(denied, 403, 'missing permission');
  expectCode(denied, 'INSUFFICIENT_PERMISSIONS', 'missing permission');
  const either = await authorize(server, reader.key, { query: `?permissions=${encodeURIComponent('docs.write OR docs.read')}` });
  expectStatus(either, 200, 'permission query with OR');
  const bad = await authorize(server, reader.key, { query: `?permissions=${encodeURIComponent('docs.read AND (')}` });
  expectStatus(bad, 400, 'malformed permission query');

  const paying = await create({ credits: { remaining: 3 } });
  expectStatus(await authorize(server, paying.key, { query: '?cost=2' }), 200, 'cost 2 of 3 credits');
  const left = expectOk(await server.call('/v2/keys.getKey', { keyId: paying.keyId }), 'getKey').credits?.remaining;
  assert.equal(left, 1, 'credits after ?cost=2');
  const broke = await authorize(server, paying.key, { query: '?cost=2' });
  expectStatus(broke, 429, 'cost 2 with 1 credit left');
  expectCode(broke, 'USAGE_EXCEEDED', 'cost 2 with 1 credit left');
  expectStatus(await authorize(server, paying.key), 200, 'default cost 1 with 1 credit left');
  expectStatus(await authorize(server, paying.key), 429, 'no credits left');
  expectStatus(await authorize(server, paying.key, { query: '?cost=-1' }), 400, 'negative cost');
});

test('authorize: 3 per 10 s → three 200s counting down, then 429 with Retry-After; admitted again after it', async (t) => {
  const server = await withServer(t);
  const { create } = await setup(server, 'authz-429');
  const { key, keyId } = await create({ ratelimits: kThreePerTenSeconds });

  for (let i = 1; i <= 3; ++i) {
    const res = await authorize(server, key);
    expectStatus(res, 200, `request ${i}`);
    expectThreePerTenHeaders(res, 3 - i, `request ${i}`);
    assert.equal(res.headers['retry-after'], undefined, `request ${i}: no Retry-After on a 200\n  ${show(res)}`);
  }
  const limited = await authorize(server, key, { via: 'x-api-key' });
  expectStatus(limited, 429, 'request 4');
  expectCode(limited, 'RATE_LIMITED', 'request 4');
  assert.equal(limited.headers['x-tollgate-key-id'], keyId, `request 4: X-Tollgate-Key-Id\n  ${show(limited)}`);
  const state = expectThreePerTenHeaders(limited, 0, 'request 4');
  const retryAfter = retryAfterSeconds(limited, 'request 4');
  assert.ok(retryAfter >= 1 && retryAfter <= kMaxRetryAfterSeconds, `request 4: Retry-After out of range\n  ${show(limited)}`);
  assert.ok(retryAfter >= state.params.t, `request 4: Retry-After earlier than RateLimit's reset t\n  ${show(limited)}`);

  // A denied request charges nothing: still denied, still r=0.
  const again = await authorize(server, key);
  expectStatus(again, 429, 'request 5');

  // Retry-After is never too early: after waiting it, the key is admitted.
  await sleep(retryAfter * 1000 + 100);
  const after = await authorize(server, key);
  expectStatus(after, 200, `request after waiting Retry-After (${retryAfter} s)`);
});

test('authorize: repeated unknown keys from one address are throttled (429), for every key it sends, not for other addresses', async (t) => {
  const server = await withServer(t);
  const { create } = await setup(server, 'authz-guess');
  const { key } = await create();

  const attacker = '127.0.0.2';
  let throttled = null;
  let attempts = 0;
  for (; attempts < 200 && !throttled; ++attempts) {
    const res = await authorize(server, `guess_${randomBase58(22)}`, { localAddress: attacker, via: attempts % 2 ? 'bearer' : 'x-api-key' });
    if (res.status === 429) throttled = res;
    else expectStatus(res, 401, `unknown key ${attempts + 1}`);
  }
  assert.ok(throttled, `200 unknown keys from ${attacker} were never throttled`);
  assert.ok(attempts > 3, `throttled after only ${attempts} unknown keys: a client with a typo is locked out at once`);
  const retryAfter = retryAfterSeconds(throttled, 'throttled address');
  assert.ok(retryAfter >= 1, `throttled: Retry-After\n  ${show(throttled)}`);

  // The throttled address learns nothing more: its valid key is refused the same way.
  const valid = await authorize(server, key, { localAddress: attacker });
  expectStatus(valid, 429, 'valid key from the throttled address');
  // Claiming another address does not help a client that is not the local gateway.
  const spoofed = await authorize(server, key, { localAddress: attacker, headers: { 'x-real-ip': '203.0.113.9', 'x-forwarded-for': '203.0.113.9' } });
  expectStatus(spoofed, 429, 'throttled address claiming X-Real-IP');

  // Other clients are not affected.
  const other = await authorize(server, key, { localAddress: '127.0.0.3' });
  expectStatus(other, 200, 'valid key from another address');
  const otherUnknown = await authorize(server, `guess_${randomBase58(22)}`, { localAddress: '127.0.0.3' });
  expectStatus(otherUnknown, 401, 'unknown key from another address');
});

test('authorize: out of credits until a daily refill → 429 USAGE_EXCEEDED with Retry-After to the refill', async (t) => {
  const server = await withServer(t);
  const { create } = await setup(server, 'authz-credits');

  const daily = await create({ credits: { remaining: 1, refill: { interval: 'daily', amount: 5 } } });
  expectStatus(await authorize(server, daily.key), 200, 'last credit');
  const empty = await authorize(server, daily.key);
  expectStatus(empty, 429, 'no credits until the daily refill');
  expectCode(empty, 'USAGE_EXCEEDED', 'no credits until the daily refill');
  const untilRefill = secondsUntil(nextUtcMidnight());
  const refillRetry = retryAfterSeconds(empty, 'daily refill');
  assert.ok(refillRetry >= Math.floor(untilRefill) && refillRetry <= Math.ceil(untilRefill) + 1,
    `Retry-After should be the ${untilRefill.toFixed(0)} s to the refill at UTC midnight\n  ${show(empty)}`);
});

test('authorize: monthly quota used up (block) → 429 USAGE_EXCEEDED with Retry-After to the next period', async (t) => {
  const server = await withServer(t);
  const { create } = await setup(server, 'authz-quota');
  expectOk(await server.call('/v2/tiers.createTier', { name: 'tiny', includedQuota: 1, overagePolicy: 'block' }), 'createTier');
  const tiny = await create({ tier: 'tiny' });
  expectStatus(await authorize(server, tiny.key), 200, 'the one included request');
  const over = await authorize(server, tiny.key);
  expectStatus(over, 429, 'quota used up (block)');
  expectCode(over, 'USAGE_EXCEEDED', 'quota used up (block)');
  assert.equal(over.headers['x-tollgate-tier'], 'tiny', `quota: X-Tollgate-Tier\n  ${show(over)}`);
  const untilMonth = secondsUntil(nextUtcMonth());
  const quotaRetry = retryAfterSeconds(over, 'quota');
  assert.ok(quotaRetry >= Math.floor(untilMonth) && quotaRetry <= Math.ceil(untilMonth) + 1,
    `Retry-After should be the ${untilMonth.toFixed(0)} s to the next quota period\n  ${show(over)}`);
});

test('authorize: HEAD answers like GET (status and headers) without a body', async (t) => {
  const server = await withServer(t);
  const { create } = await setup(server, 'authz-head');
  const { key, keyId } = await create({ ratelimits: kThreePerTenSeconds });
  for (const [what, auth, status] of [['valid key', `Authorization: Bearer ${key}\r\n`, 200], ['no key', '', 401]]) {
    const text = await rawExchange(server.port,
      `HEAD /v2/keys.authorize HTTP/1.1\r\nHost: tollgate\r\n${auth}Connection: close\r\n\r\n`);
    const split = text.indexOf('\r\n\r\n');
    assert.ok(split > 0, `HEAD, ${what}: no complete header block: ${JSON.stringify(text)}`);
    const statusLine = text.slice(0, text.indexOf('\r\n'));
    assert.match(statusLine, new RegExp(`^HTTP/1\\.1 ${status} `), `HEAD, ${what}: ${JSON.stringify(text)}`);
    assert.equal(text.slice(split + 4), '', `HEAD, ${what}: a response to HEAD carries no content: ${JSON.stringify(text)}`);
    if (status === 200) {
      assert.match(text, new RegExp(`\r\nX-Tollgate-Key-Id: ${keyId}\r\n`, 'i'), `HEAD: X-Tollgate-Key-Id: ${JSON.stringify(text)}`);
      assert.match(text, /\r\nRateLimit: "requests";r=2;t=\d+\r\n/i, `HEAD counts like GET: ${JSON.stringify(text)}`);
    }
  }
});

// A stored string may be refused when the key is created (400) or accepted and then written
// safely into headers; it must never split a header or break a structured field.
async function createKeyOrRefusal(server, apiId, fields) {
  const res = await server.call('/v2/keys.createKey', { apiId, ...fields });
  if (res.status === 400) return null;
  return expectOk(res, `createKey ${JSON.stringify(fields)}`);
}

test('authorize: CR LF in an externalId or a limit name cannot inject header fields (nor forge X-Tollgate-Tier upstream)', async (t) => {
  const { server, gateway } = await withGateway(t);
  const apiId = await createApi(server, 'authz-inject');
  const tryCreate = (fields) => createKeyOrRefusal(server, apiId, fields);
  const noInjection = (res, what) => {
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      assert.ok(!/^x-injected$/i.test(res.rawHeaders[i]), `${what}: a stored string injected a header field\n  ${show(res)}`);
    }
  };

  const evilIdentity = await tryCreate({ externalId: 'evil\r\nX-Tollgate-Tier: enterprise\r\nX-Injected: 1' });
  if (evilIdentity) {
    const direct = await authorize(server, evilIdentity.key);
    expectStatus(direct, 200, 'externalId with CR LF');
    noInjection(direct, 'externalId with CR LF');
    assert.equal(direct.headers['x-tollgate-tier'], undefined, `externalId with CR LF forged X-Tollgate-Tier\n  ${show(direct)}`);
    // Behind the gateway, the upstream must not be told a tier the key does not have.
    const through = await viaGateway(gateway, evilIdentity.key);
    expectStatus(through, 200, 'externalId with CR LF through nginx');
    assert.equal(through.json?.headers['x-tollgate-tier'], undefined,
      `the upstream was told a forged tier\n  ${show(through)}`);
  }

  const evilLimit = await tryCreate({ ratelimits: [{ name: 'a\r\nX-Injected: 1', limit: 3, duration: 10000, autoApply: true }] });
  if (evilLimit) noInjection(await authorize(server, evilLimit.key), 'limit name with CR LF');
});

test('authorize: RateLimit names are valid sf-strings (quotes escaped, ASCII only)', async (t) => {
  const server = await withServer(t);
  const apiId = await createApi(server, 'authz-sf');
  const tryCreate = (fields) => createKeyOrRefusal(server, apiId, fields);
  // A quote and a backslash are escaped in an sf-string; non-ASCII cannot appear in one at all.
  const quoted = await tryCreate({ ratelimits: [{ name: 'say "hi" \\o/', limit: 3, duration: 10000, autoApply: true }] });
  if (quoted) {
    const res = await authorize(server, quoted.key);
    expectStatus(res, 200, 'limit name with a quote');
    const policy = parseRateLimitField(res.headers['ratelimit-policy'], 'limit name with a quote: RateLimit-Policy');
    assert.deepEqual(policy.map((m) => m.name), ['say "hi" \\o/'], `sf-string escaping\n  ${show(res)}`);
  }
  const accented = await tryCreate({ ratelimits: [{ name: 'débit', limit: 3, duration: 10000, autoApply: true }] });
  if (accented) {
    const res = await authorize(server, accented.key);
    for (const field of ['ratelimit-policy', 'ratelimit']) {
      const raw = headerValues(res, field).join(', ');
      assert.ok(/^[\x20-\x7e]*$/.test(raw), `${field} with a non-ASCII limit name is not a valid sf-list: ${JSON.stringify(raw)}`);
      if (raw !== '') parseRateLimitField(raw, `non-ASCII limit name: ${field}`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Through nginx (deploy/nginx/tollgate-gateway.conf)
// ---------------------------------------------------------------------------------------------

test('gateway: 401 without a key or with an unknown one; the upstream is not called', async (t) => {
  const { server, app, gateway } = await withGateway(t);
  const { create } = await setup(server, 'gw-401');
  const { key } = await create();

  const none = await viaGateway(gateway, undefined);
  expectStatus(none, 401, 'no key through nginx');
  assert.deepEqual(headerValues(none, 'www-authenticate'), ['Bearer'], `no key: exactly one WWW-Authenticate\n  ${show(none)}`);
  assert.equal(none.json?.error?.status, 401, `no key: JSON error body\n  ${show(none)}`);

  const unknown = await viaGateway(gateway, `${key}x`, { via: 'x-api-key' });
  expectStatus(unknown, 401, 'unknown key through nginx');

  // The internal authorize location is not reachable from outside.
  const internal = await viaGateway(gateway, key, { path: '/_tollgate' });
  expectStatus(internal, 404, 'GET /_tollgate from a client');
  assert.equal(app.requests.length, 0, `the upstream was called: ${JSON.stringify(app.requests)}`);
});

test('gateway: 200 with a valid key; the upstream sees X-Tollgate-*, not the key, and no forged X-Tollgate-*', async (t) => {
  const { server, app, gateway } = await withGateway(t);
  const { create } = await setup(server, 'gw-200');
  const owned = await create({ externalId: 'acme-corp', tier: 'pro' });
  const plain = await create();

  for (const via of ['bearer', 'x-api-key']) {
    const before = app.requests.length;
    const res = await viaGateway(gateway, owned.key, { via, path: '/v1/things?limit=5' });
    expectStatus(res, 200, `valid key via ${via} through nginx`);
    assert.equal(app.requests.length, before + 1, 'the upstream got the request');
    const seen = res.json;
    assert.equal(seen?.url, '/v1/things?limit=5', `upstream URL\n  ${show(res)}`);
    assert.equal(seen.headers['x-tollgate-key-id'], owned.keyId, `upstream X-Tollgate-Key-Id\n  ${show(res)}`);
    assert.equal(seen.headers['x-tollgate-external-id'], 'acme-corp', `upstream X-Tollgate-External-Id\n  ${show(res)}`);
    assert.equal(seen.headers['x-tollgate-tier'], 'pro', `upstream X-Tollgate-Tier\n  ${show(res)}`);
    assert.equal(seen.headers.authorization, undefined, `the upstream got the Authorization header\n  ${show(res)}`);
    assert.equal(seen.headers['x-api-key'], undefined, `the upstream got X-API-Key\n  ${show(res)}`);
    // The client sees its budget (pro: 100 per second) on the 200 too.
    const policy = parseRateLimitField(res.headers['ratelimit-policy'], 'client RateLimit-Policy');
    assert.deepEqual(policy, [{ name: 'requests', params: { q: 100, w: 1 } }], `client RateLimit-Policy\n  ${show(res)}`);
    parseRateLimitField(res.headers.ratelimit, 'client RateLimit');
  }

  // A client cannot forge what the upstream trusts, nor pick its own permissions or cost: its
  // query string never reaches tollgate.
  const forged = await viaGateway(gateway, plain.key, {
    path: '/v1/things?permissions=nobody.has.this&cost=1000000',
    headers: { 'x-tollgate-external-id': 'someone-else', 'x-tollgate-tier': 'enterprise', 'x-tollgate-key-id': 'key_forged' },
  });
  expectStatus(forged, 200, 'forged X-Tollgate-* headers');
  assert.equal(forged.json?.headers['x-tollgate-key-id'], plain.keyId, `forged Key-Id reached the upstream\n  ${show(forged)}`);
  assert.equal(forged.json.headers['x-tollgate-external-id'], undefined, `forged External-Id reached the upstream\n  ${show(forged)}`);
  assert.equal(forged.json.headers['x-tollgate-tier'], undefined, `forged Tier reached the upstream\n  ${show(forged)}`);

  // A request body goes to the upstream (not to tollgate).
  const post = await viaGateway(gateway, plain.key, { method: 'POST', body: '{"hello":"world"}', headers: { 'content-type': 'application/json' } });
  expectStatus(post, 200, 'POST through nginx');
  assert.equal(post.json?.body, '{"hello":"world"}', `POST body at the upstream\n  ${show(post)}`);
  assert.equal(post.json.headers['x-tollgate-key-id'], plain.keyId, `POST: X-Tollgate-Key-Id\n  ${show(post)}`);
});

test('gateway: 3 per 10 s → the 4th request is 429 with RateLimit-Policy, RateLimit and Retry-After', async (t) => {
  const { server, app, gateway } = await withGateway(t);
  const { create } = await setup(server, 'gw-429');
  const { key } = await create({ ratelimits: kThreePerTenSeconds });

  for (let i = 1; i <= 3; ++i) {
    const res = await viaGateway(gateway, key, { via: i === 2 ? 'x-api-key' : 'bearer' });
    expectStatus(res, 200, `request ${i} through nginx`);
    expectThreePerTenHeaders(res, 3 - i, `request ${i} through nginx`);
  }
  const limited = await viaGateway(gateway, key);
  expectStatus(limited, 429, 'request 4 through nginx');
  const state = expectThreePerTenHeaders(limited, 0, 'request 4 through nginx');
  const retryAfter = retryAfterSeconds(limited, 'request 4 through nginx');
  assert.ok(retryAfter >= 1 && retryAfter <= kMaxRetryAfterSeconds, `Retry-After out of range\n  ${show(limited)}`);
  assert.ok(retryAfter >= state.params.t, `Retry-After earlier than RateLimit's reset t\n  ${show(limited)}`);
  assert.equal(limited.json?.error?.status, 429, `429: JSON error body\n  ${show(limited)}`);
  assert.equal(app.requests.length, 3, 'the upstream got exactly the 3 admitted requests');
});

test('gateway: disabled key 401, missing permission 403, exhausted credits 429 (the /admin/ route)', async (t) => {
  const { server, app, gateway } = await withGateway(t);
  const { create } = await setup(server, 'gw-codes');

  const disabled = await create({ enabled: false });
  expectStatus(await viaGateway(gateway, disabled.key), 401, 'disabled key through nginx');

  // /admin/ in the deploy config requires permission "admin" and costs 2 credits.
  const user = await create({ permissions: ['docs.read'] });
  expectStatus(await viaGateway(gateway, user.key), 200, 'user key on /');
  const forbidden = await viaGateway(gateway, user.key, { path: '/admin/users' });
  expectStatus(forbidden, 403, 'user key on /admin/');
  assert.equal(forbidden.json?.error?.status, 403, `403: JSON error body\n  ${show(forbidden)}`);

  const admin = await create({ permissions: ['admin'], credits: { remaining: 3 } });
  const ok = await viaGateway(gateway, admin.key, { path: '/admin/users' });
  expectStatus(ok, 200, 'admin key on /admin/');
  assert.equal(ok.json?.url, '/admin/users', `admin: upstream URL\n  ${show(ok)}`);
  const left = expectOk(await server.call('/v2/keys.getKey', { keyId: admin.keyId }), 'getKey').credits?.remaining;
  assert.equal(left, 1, '/admin/ costs 2 credits');
  const broke = await viaGateway(gateway, admin.key, { path: '/admin/users' });
  expectStatus(broke, 429, 'admin key with 1 credit left on /admin/');

  const calls = app.requests.map((r) => r.url);
  assert.deepEqual(calls, ['/v1/things', '/admin/users'], 'only the admitted requests reached the upstream');
});

test('gateway: many unknown keys from one client → 429 for it; other clients behind the same nginx go on', async (t) => {
  const { server, gateway } = await withGateway(t);
  const { create } = await setup(server, 'gw-guess');
  const { key } = await create();

  const attacker = '127.0.0.2';
  let throttled = null;
  for (let i = 0; i < 200 && !throttled; ++i) {
    const res = await viaGateway(gateway, `guess_${randomBase58(22)}`, { localAddress: attacker });
    if (res.status === 429) throttled = res;
    else expectStatus(res, 401, `unknown key ${i + 1} through nginx`);
  }
  assert.ok(throttled, `200 unknown keys from ${attacker} through nginx were never throttled`);
  assert.ok(retryAfterSeconds(throttled, 'throttled through nginx') >= 1, `Retry-After\n  ${show(throttled)}`);
  expectStatus(await viaGateway(gateway, key, { localAddress: attacker }), 429, 'valid key from the throttled client');

  // tollgate sees each client's own address (X-Real-IP from nginx), not nginx's: one guesser does
  // not lock every client of the gateway out.
  expectStatus(await viaGateway(gateway, key, { localAddress: '127.0.0.3' }), 200, 'valid key from another client');
  // …and a client cannot shed its throttle by sending its own X-Real-IP / X-Forwarded-For.
  const spoofed = await viaGateway(gateway, key, { localAddress: attacker, headers: { 'x-real-ip': '203.0.113.9', 'x-forwarded-for': '203.0.113.9' } });
  expectStatus(spoofed, 429, 'throttled client sending X-Real-IP through nginx');
});

test('gateway: keeps connections to tollgate open (keepalive) instead of one per request', async (t) => {
  const { server, gateway } = await withGateway(t);
  const { create } = await setup(server, 'gw-keepalive');
  const { key } = await create();
  const before = tcpSockets(server.port).filter((s) => s.remote === server.port && s.state === '06').length;
  for (let i = 0; i < 20; ++i) expectStatus(await viaGateway(gateway, key), 200, `request ${i + 1}`);
  const sockets = tcpSockets(server.port);
  // Client side (nginx → tollgate) of each connection: remote port = tollgate's.
  const open = sockets.filter((s) => s.remote === server.port && s.state === '01').length;
  const closed = sockets.filter((s) => s.remote === server.port && s.state === '06').length - before;
  assert.ok(open >= 1 && closed <= 2,
    `20 requests through nginx left ${open} open and ${closed} closed (TIME_WAIT) connections to tollgate; ` +
    'with keepalive they reuse one. nginx keeps an auth_request connection only when the response has no ' +
    'body (or the method is HEAD): see proxy_method in deploy/nginx/tollgate-gateway.conf');
});

test('gateway: fails closed (503) when tollgate is down, and the upstream is not called', async (t) => {
  const { server, app, gateway } = await withGateway(t);
  const { create } = await setup(server, 'gw-down');
  const { key } = await create();
  expectStatus(await viaGateway(gateway, key), 200, 'before tollgate stops');
  await server.stop();
  const down = await viaGateway(gateway, key);
  expectStatus(down, 503, 'tollgate down');
  assert.equal(app.requests.length, 1, 'the upstream was called while tollgate was down');
});
