// Creates the benchmark's keys in a running tollgate: one API, then <count> keys, each with the
// autoApply rate limit `limit` that never denies (so every verification takes a limiter decision),
// through keys.createKey over keep-alive connections, <concurrency> calls in flight. Writes into
// <out dir>:
//   keys.txt        the secrets, one per line (for the wrk scripts);
//   peer-keys.json  {rootKeyHash, limit, keys: [{hash, keyId}]} for server.mjs.
// Prints "<count> keys in <ms> ms" on success. Uses only Node's own modules (fetch keeps
// connections alive by default), so it runs before `npm ci` as well.
//
// Usage: TOLLGATE_ROOT_KEY=<root> node create-keys.mjs <tollgate url> <count> <out dir> [concurrency]

import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const [url, countText, outDir, concurrencyText = '16'] = process.argv.slice(2);
const root = process.env.TOLLGATE_ROOT_KEY;
if (!url || !countText || !outDir || !root) {
  console.error('usage: TOLLGATE_ROOT_KEY=<root> node create-keys.mjs <tollgate url> <count> <out dir> [concurrency]');
  process.exit(2);
}
const count = Number(countText);
const concurrency = Number(concurrencyText);
const limit = { name: 'bench', limit: 1000000000, duration: 1000 };

async function call(route, body) {
  const response = await fetch(`${url}/v2/${route}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${root}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${route}: HTTP ${response.status}: ${text}`);
  return JSON.parse(text).data;
}

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

const started = performance.now();
const { apiId } = await call('apis.createApi', { name: 'bench' });
const created = new Array(count);
let next = 0;
async function worker() {
  while (next < count) {
    const i = next++;
    const { key, keyId } = await call('keys.createKey', { apiId, ratelimits: [{ ...limit, autoApply: true }] });
    created[i] = { key, keyId };
  }
}
await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
const elapsed = Math.round(performance.now() - started);

writeFileSync(path.join(outDir, 'keys.txt'), created.map((k) => k.key).join('\n') + '\n', { mode: 0o600 });
writeFileSync(path.join(outDir, 'peer-keys.json'), JSON.stringify({
  rootKeyHash: sha256(root),
  limit,
  keys: created.map((k) => ({ hash: sha256(k.key), keyId: k.keyId })),
}), { mode: 0o600 });
console.log(`${count} keys in ${elapsed} ms`);
