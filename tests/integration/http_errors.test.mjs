// Issue 2, Done-when 4: bad HTTP input gets the right status and a useful error envelope, and the
// server keeps serving afterwards. Also the 401/403 answers of root-key authentication.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  assertRequestId, createRootKey, describeResponse, expectError, expectFieldError, expectOk, randomBase58,
} from './lib/expect.mjs';
import { rawRequest, startServer } from './lib/server.mjs';

test('bad requests get 400/404/405/413/415/431 and the same server keeps serving', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const requestIds = [];
  const seen = (res) => {
    requestIds.push(assertRequestId(res));
    return res;
  };

  await t.test('malformed JSON → 400 with a detail about the JSON', async () => {
    const res = seen(await server.call('/v2/apis.createApi', undefined, { rawBody: '{"name": "x",' }));
    const error = expectError(res, 400, 'malformed JSON');
    assert.match(error.detail, /json/i, `detail should say the body is not valid JSON\n  ${describeResponse(res)}`);
  });

  await t.test('a JSON body that is not an object → 400', async () => {
    expectError(seen(await server.call('/v2/apis.createApi', [{ name: 'unauthorized' }])), 400, 'array body');
  });

  await t.test('wrong type (name: 5) → 400 at body.name', async () => {
    expectFieldError(seen(await server.call('/v2/apis.createApi', { name: 5 })), 'body.name', 'name: 5');
  });

  await t.test('missing required field → 400 naming it', async () => {
    expectFieldError(seen(await server.call('/v2/apis.createApi', {})), 'body.name', 'createApi {}');
    expectFieldError(seen(await server.call('/v2/keys.createKey', { name: 'no api' })), 'body.apiId', 'createKey without apiId');
  });

  await t.test('body over 1 MiB → 413', async () => {
    const body = JSON.stringify({ name: 'x'.repeat(1024 * 1024 + 100) });
    const res = seen(await server.call('/v2/apis.createApi', undefined, { rawBody: body }));
    expectError(res, 413, 'body of 1 MiB + 100 bytes');
  });

  await t.test('a body just under 1 MiB is not refused for its size', async () => {
    // 1 MiB minus some room for the JSON around it: may be refused as a bad name, never as 413.
    const body = JSON.stringify({ name: 'x'.repeat(1024 * 1024 - 64) });
    const res = seen(await server.call('/v2/apis.createApi', undefined, { rawBody: body }));
    assert.notEqual(res.status, 413, `a body under the limit must not get 413\n  ${res.status} ${res.text.slice(0, 300)}`);
  });

  await t.test('Content-Type text/plain → 415', async () => {
    const res = seen(await server.call('/v2/apis.createApi', undefined, {
      rawBody: JSON.stringify({ name: 'plain' }), contentType: 'text/plain',
    }));
    expectError(res, 415, 'text/plain');
  });

  await t.test('unknown routes → 404', async () => {
    expectError(seen(await server.call('/v2/nope.nothing', { x: 1 })), 404, 'POST /v2/nope.nothing');
    expectError(seen(await server.call('/whatever', undefined, { method: 'GET' })), 404, 'GET /whatever');
    expectError(seen(await server.call('/whatever', { x: 1 })), 404, 'POST /whatever');
  });

  await t.test('GET on a POST route → 405 with Allow: POST', async () => {
    const res = seen(await server.call('/v2/apis.createApi', undefined, { method: 'GET' }));
    expectError(res, 405, 'GET /v2/apis.createApi');
    assert.match(String(res.headers.allow ?? ''), /\bPOST\b/, `405 must carry an Allow header naming POST\n  ${describeResponse(res)}`);
  });

  await t.test('headers too large → 431', async () => {
    const res = seen(await server.call('/v2/apis.createApi', { name: 'big-header' }, {
      headers: { 'x-padding': 'p'.repeat(64 * 1024) },
    }));
    expectError(res, 431, '64 KiB header');
  });

  await t.test('Content-Type application/json; charset=utf-8 is JSON', async () => {
    const res = seen(await server.call('/v2/apis.createApi', { name: 'with-charset' }, {
      contentType: 'application/json; charset=utf-8',
    }));
    expectOk(res, 'createApi with charset');
  });

  await t.test('deeply nested JSON (100 000 levels in meta, 600 KB) → 4xx, the server survives', async () => {
    const apiId = expectOk(seen(await server.call('/v2/apis.createApi', { name: 'nesting' })), 'createApi').apiId;
    const depth = 100000;
    const body = `{"apiId":"${apiId}","meta":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
    let res;
    try {
      res = await server.call('/v2/keys.createKey', undefined, { rawBody: body });
    } catch (error) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.fail(`POST /v2/keys.createKey with meta nested ${depth} deep (${body.length} bytes): no response (${error.message}); ` +
        `server exited: ${server.procState.exited}, code ${server.procState.code}, signal ${server.procState.signal}`);
    }
    seen(res);
    assert.ok(res.status >= 400 && res.status < 500, `nested meta must be refused as bad input\n  ${describeResponse(res)}`);
  });

  await t.test('every response had a distinct request id', () => {
    assert.ok(requestIds.length >= 14, `expected the subtests above to collect request ids, got ${requestIds.length}`);
    assert.equal(new Set(requestIds).size, requestIds.length, `request ids repeat: ${requestIds.join(' ')}`);
  });

  await t.test('the same server still serves a valid createApi', async () => {
    const res = seen(await server.call('/v2/apis.createApi', { name: 'after-errors' }));
    const data = expectOk(res, 'createApi after the bad requests');
    assert.equal(typeof data.apiId, 'string');
    const got = expectOk(seen(await server.call('/v2/apis.getApi', { apiId: data.apiId })), 'getApi');
    assert.deepEqual({ id: got.id, name: got.name }, { id: data.apiId, name: 'after-errors' });
  });
});

test('operations endpoints answer without auth: /livez, /readyz, /v2/liveness', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const livez = await server.call('/livez', undefined, { method: 'GET', rootKey: null });
  assert.equal(livez.status, 200, describeResponse(livez));
  assert.deepEqual(livez.json, { status: 'ok' });
  const readyz = await server.call('/readyz', undefined, { method: 'GET', rootKey: null });
  assert.equal(readyz.status, 200, describeResponse(readyz));
  assert.deepEqual(readyz.json, { status: 'ready' });
  const liveness = expectOk(await server.call('/v2/liveness', undefined, { method: 'GET', rootKey: null }), 'GET /v2/liveness');
  assert.deepEqual(liveness, { message: 'OK' });
});

test('a chunked request body is read like any other', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const res = await rawRequest(`${server.url}/v2/apis.createApi`, {
    headers: { authorization: `Bearer ${server.rootKey}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    body: JSON.stringify({ name: 'chunked' }),
  });
  assert.equal(res.status, 200, `chunked createApi: ${res.status} ${res.text}`);
  const big = await rawRequest(`${server.url}/v2/apis.createApi`, {
    headers: { authorization: `Bearer ${server.rootKey}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    body: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }),
  });
  assert.equal(big.status, 413, `a chunked body over 1 MiB must get 413, got ${big.status} ${big.text.slice(0, 300)}`);
});

test('--max-body-bytes and TOLLGATE_MAX_BODY_BYTES set the body limit', async (t) => {
  for (const [how, options] of [['flag', { args: ['--max-body-bytes', '2048'] }], ['env', { env: { TOLLGATE_MAX_BODY_BYTES: '2048' } }]]) {
    await t.test(how, async () => {
      const server = await startServer(options);
      try {
        const small = JSON.stringify({ name: 'n'.repeat(200) });
        expectOk(await server.call('/v2/apis.createApi', undefined, { rawBody: small }), `${how}: 200-byte name under a 2048-byte limit`);
        const big = JSON.stringify({ name: 'n'.repeat(3000) });
        expectError(await server.call('/v2/apis.createApi', undefined, { rawBody: big }), 413, `${how}: 3 KB body over a 2048-byte limit`);
      } finally {
        await server.stop();
      }
    });
  }
});

test('root key authentication: 401 without or with an unknown key, 403 naming the missing scope', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());

  await t.test('no Authorization header → 401', async () => {
    expectError(await server.call('/v2/apis.createApi', { name: 'unauthorized' }, { rootKey: null }), 401, 'no Authorization');
  });

  await t.test('unknown root key → 401', async () => {
    const bogus = `tg_root_${randomBase58(40)}`;
    expectError(await server.call('/v2/apis.createApi', { name: 'unauthorized' }, { rootKey: bogus }), 401, 'bogus root key');
  });

  await t.test('Authorization that is not Bearer → 401', async () => {
    const res = await server.call('/v2/apis.createApi', { name: 'unauthorized' }, {
      rootKey: null, headers: { authorization: `Basic ${Buffer.from(`x:${server.rootKey}`).toString('base64')}` },
    });
    expectError(res, 401, 'Basic auth');
  });

  await t.test('a root key with only api.*.read_api calling createApi → 403 naming api.*.create_api', async () => {
    const apiId = expectOk(await server.call('/v2/apis.createApi', { name: 'readable' }), 'createApi').apiId;
    const reader = await createRootKey(server, ['api.*.read_api'], 'reader');
    // The key itself is valid: it may read APIs.
    expectOk(await server.call('/v2/apis.getApi', { apiId }, { rootKey: reader.key }), 'getApi with api.*.read_api');
    const res = await server.call('/v2/apis.createApi', { name: 'denied' }, { rootKey: reader.key });
    const error = expectError(res, 403, 'createApi with api.*.read_api');
    assert.ok(error.detail.includes('api.*.create_api'), `403 detail must name api.*.create_api\n  ${describeResponse(res)}`);
  });
});
