// Issue 3, Done-when 2: credits run out to USAGE_EXCEEDED and refill at the UTC day boundary,
// over HTTP against the real binary. The server runs under libfaketime (Debian's libfaketime,
// installed by `make deps`) with its wall clock started three seconds before midnight UTC; its
// monotonic clock, which drives timeouts, stays real.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';

import { startServer } from './lib/server.mjs';

const kFaketime = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

function beforeMidnight(seconds) {
  const today = new Date().toISOString().slice(0, 10);
  const at = new Date(`${today}T00:00:00Z`).getTime() + 86_400_000 - seconds * 1000;
  const iso = new Date(at).toISOString();
  return { faketime: `@${iso.slice(0, 10)} ${iso.slice(11, 19)}`, midnight: at + seconds * 1000 };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('a daily refill restores credits at UTC midnight, and authorize says when', async (t) => {
  assert.ok(fs.existsSync(kFaketime), `${kFaketime} is missing: make deps installs libfaketime`);
  const { faketime, midnight } = beforeMidnight(3);
  const server = await startServer({
    env: { LD_PRELOAD: kFaketime, FAKETIME: faketime, FAKETIME_DONT_FAKE_MONOTONIC: '1' },
  });
  t.after(() => server.stop());
  const started = Date.now();

  const api = await server.call('/v2/apis.createApi', { name: 'refill-api' });
  const created = await server.call('/v2/keys.createKey', {
    apiId: api.json.data.apiId,
    credits: { remaining: 1, refill: { interval: 'daily', amount: 3 } },
  });
  assert.equal(created.status, 200, created.text);
  const { key } = created.json.data;
  const verify = async () => (await server.call('/v2/keys.verifyKey', { key })).json.data;

  let v = await verify();
  assert.deepEqual([v.code, v.credits], ['VALID', 0]);
  v = await verify();
  assert.deepEqual([v.code, v.credits], ['USAGE_EXCEEDED', 0], 'no credits left before midnight');

  const denied = await server.call('/v2/keys.authorize', undefined, { method: 'GET', rootKey: null, headers: { 'X-API-Key': key } });
  assert.equal(denied.status, 429, denied.text);
  const retryAfter = Number(denied.headers['retry-after']);
  assert.ok(retryAfter >= 1 && retryAfter <= 3, `Retry-After points at the refill at midnight, got ${retryAfter}`);

  // The server's clock passes midnight 3 s after it started; wait that out with a margin.
  const serverNow = () => midnight - 3000 + (Date.now() - started);
  await sleep(Math.max(0, midnight + 500 - serverNow()));
  v = await verify();
  assert.deepEqual([v.code, v.credits], ['VALID', 2], 'refilled to 3 at midnight, one spent');
  const view = await server.call('/v2/keys.getKey', { keyId: created.json.data.keyId });
  assert.equal(view.json.data.credits.remaining, 2);
});
