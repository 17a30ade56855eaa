// Issue 11, Security: the transport limits, over raw sockets (node:net) so that a test controls
// every byte and its timing. http_errors.test.mjs already covers the default limits with whole
// requests (431 for a 64 KiB header, 413 for a 1 MiB + 100 body sent with Content-Length and
// chunked, --max-body-bytes); this file covers what a hostile client does instead:
//   * --max-header-bytes, and 10,000 small headers;
//   * a body announced over the limit (Content-Length, or one huge chunk) and never sent: 413 at
//     once, without waiting for the body;
//   * request smuggling shapes: Content-Length with Transfer-Encoding, two Content-Lengths;
//   * --max-connections: the connection over the cap is closed at once, a freed slot serves again;
//   * --idle-timeout-ms, --header-timeout-ms, --body-timeout-ms: silent, slow-header and slow-body
//     clients are cut off after their timeout, however steadily they trickle bytes;
//   * slowloris: 500 connections trickling a header byte a second do not slow keys.verifyKey for
//     a normal client, and are all cut off after the header timeout.

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { createApi, createKey, describeResponse, expectError, expectOk } from './lib/expect.mjs';
import { percentile } from './lib/load.mjs';
import { rawRequest, startServer } from './lib/server.mjs';

// A timeout to race against: unreferenced, so that it does not keep the test process alive.
const deadline = (ms) => sleep(ms, undefined, { ref: false });

function connect(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

// What a socket receives and when the server ends it. `closed` resolves on close; closedAfterMs
// counts from the watch (just after the connection was made).
function watch(socket) {
  const state = { data: '', error: null, closedAfterMs: null, openedAt: performance.now() };
  socket.on('data', (chunk) => { state.data += chunk.toString('latin1'); });
  socket.on('error', (error) => { state.error = error.code ?? error.message; });
  state.closed = new Promise((resolve) => {
    socket.on('close', () => {
      state.closedAfterMs = Math.round(performance.now() - state.openedAt);
      resolve(state);
    });
  });
  return state;
}

const statusOf = (text) => Number(/^HTTP\/1\.[01] (\d{3}) /.exec(text)?.[1] ?? 0);
const show = (state) => `received ${JSON.stringify(state.data.slice(0, 400))}, error ${state.error}, closed after ${state.closedAfterMs} ms`;

// Sends `bytes` on a new connection (ignoring a reset while sending: the server may answer and
// close before it has read everything) and resolves once the server closes it, or after
// `timeoutMs` with closedAfterMs null.
async function exchange(port, bytes, timeoutMs = 5000) {
  const socket = await connect(port);
  const state = watch(socket);
  socket.write(bytes);
  await Promise.race([state.closed, deadline(timeoutMs)]);
  socket.destroy();
  return state;
}

// The answer's JSON body and headers, from the raw text of one response.
function parseResponse(text) {
  const split = text.indexOf('\r\n\r\n');
  const head = text.slice(0, split);
  const headers = Object.fromEntries(head.split('\r\n').slice(1).map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  }));
  let json = null;
  try {
    json = JSON.parse(text.slice(split + 4));
  } catch {
    json = null;
  }
  return { status: statusOf(text), headers, json, text: text.slice(split + 4) };
}

async function assertStillServing(server, what) {
  const res = await server.call('/livez', undefined, { method: 'GET', rootKey: null });
  assert.equal(res.status, 200, `${what}: the server no longer answers /livez\n  ${describeResponse(res)}`);
  assert.equal(server.procState.exited, false, `${what}: the server exited`);
}

test('--max-header-bytes sets the 431 line; 10,000 small headers are refused quickly, the server goes on', async (t) => {
  const server = await startServer({ args: ['--max-header-bytes', '4096'] });
  t.after(() => server.stop());

  await t.test('3 KiB of headers under a 4 KiB limit are served', async () => {
    expectOk(await server.call('/v2/apis.createApi', { name: 'three-kib' }, { headers: { 'x-padding': 'p'.repeat(3 * 1024) } }),
      'createApi with 3 KiB of headers');
  });

  await t.test('5 KiB of headers over a 4 KiB limit → 431 naming the limit', async () => {
    const res = await server.call('/v2/apis.createApi', { name: 'five-kib' }, { headers: { 'x-padding': 'p'.repeat(5 * 1024) } });
    const error = expectError(res, 431, 'createApi with 5 KiB of headers');
    assert.match(error.detail, /4096/, `the 431 should name the limit\n  ${describeResponse(res)}`);
  });

  await t.test('10,000 headers of 10 bytes → 431 (or 400) within a second, then the connection is closed', async () => {
    let headers = '';
    for (let i = 0; i < 10000; ++i) headers += `X-${i}: v\r\n`;
    const started = performance.now();
    const state = await exchange(server.port, `GET /livez HTTP/1.1\r\nHost: tollgate\r\n${headers}\r\n`);
    const answeredMs = performance.now() - started;
    assert.ok([431, 400].includes(statusOf(state.data)), `10,000 headers: ${show(state)}`);
    assert.ok(answeredMs < 1000, `10,000 headers answered after ${Math.round(answeredMs)} ms`);
    assert.notEqual(state.closedAfterMs, null, `the connection stays open after the refusal: ${show(state)}`);
    await assertStillServing(server, 'after 10,000 headers');
  });

  await t.test('10,000 headers under the default 16 KiB limit, sent in pieces → refused, not a crash', async () => {
    const fresh = await startServer();
    try {
      const socket = await connect(fresh.port);
      const state = watch(socket);
      socket.write('POST /v2/apis.createApi HTTP/1.1\r\nHost: tollgate\r\n');
      for (let i = 0; i < 10000 && state.closedAfterMs === null; i += 500) {
        let piece = '';
        for (let j = i; j < i + 500; ++j) piece += `a${j}:\r\n`;
        socket.write(piece);
        await sleep(5);
      }
      await Promise.race([state.closed, deadline(3000)]);
      socket.destroy();
      assert.ok([431, 400].includes(statusOf(state.data)), `10,000 empty headers in pieces: ${show(state)}`);
      await assertStillServing(fresh, 'after 10,000 headers in pieces');
    } finally {
      await fresh.stop();
    }
  });
});

test('a body announced over the limit is refused with 413 at once, before it is sent', async (t) => {
  const server = await startServer({ args: ['--max-body-bytes', '4096', '--body-timeout-ms', '20000'] });
  t.after(() => server.stop());
  const head = (extra) => `POST /v2/apis.createApi HTTP/1.1\r\nHost: tollgate\r\nAuthorization: Bearer ${server.rootKey}\r\n` +
    `Content-Type: application/json\r\n${extra}\r\n`;

  for (const [what, request] of [
    ['Content-Length: 10 GiB', head('Content-Length: 10737418240\r\n')],
    ['Content-Length: 4097, one byte over', head('Content-Length: 4097\r\n')],
    ['chunked, a first chunk of 1 GiB', `${head('Transfer-Encoding: chunked\r\n')}40000000\r\n`],
    ['chunked, 3 chunks of 2 KiB', `${head('Transfer-Encoding: chunked\r\n')}${`800\r\n${'x'.repeat(2048)}\r\n`.repeat(3)}`],
    // Neither counts as body bytes: without a bound of its own, the buffer grew until the timeout.
    ['chunked, a chunk-size line that never ends (64 KiB of extension)',
      `${head('Transfer-Encoding: chunked\r\n')}1;${'a'.repeat(65536)}`],
    ['chunked, a trailer that never ends (64 KiB)', `${head('Transfer-Encoding: chunked\r\n')}0\r\nX-T: ${'a'.repeat(65536)}`],
  ]) {
    await t.test(what, async () => {
      const started = performance.now();
      const state = await exchange(server.port, request, 5000);
      const ms = Math.round(performance.now() - started);
      const res = parseResponse(state.data);
      assert.equal(res.status, 413, `${what}: ${show(state)}`);
      assert.ok(ms < 2000, `${what}: the 413 came after ${ms} ms (the body timeout is 20 s: it waited for the body)`);
      assert.equal(res.json?.error?.status, 413, `${what}: the 413 carries the error envelope: ${show(state)}`);
      assert.match(res.headers.connection ?? '', /close/i, `${what}: a 413 must close the connection: ${show(state)}`);
    });
  }
  await assertStillServing(server, 'after the 413s');
});

test('request smuggling shapes: Content-Length with Transfer-Encoding, or two different Content-Lengths → 400 and closed', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const body = JSON.stringify({ name: 'smuggled' });
  const head = `POST /v2/apis.createApi HTTP/1.1\r\nHost: tollgate\r\nAuthorization: Bearer ${server.rootKey}\r\nContent-Type: application/json\r\n`;
  // After each, a second request on the same bytes: if the server read the first body by the
  // other header, it would answer the smuggled GET /v2/liveness too.
  const smuggled = 'GET /v2/liveness HTTP/1.1\r\nHost: tollgate\r\n\r\n';
  for (const [what, request] of [
    ['Content-Length and Transfer-Encoding: chunked',
      `${head}Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n${smuggled}`],
    ['two different Content-Lengths', `${head}Content-Length: ${body.length}\r\nContent-Length: 2\r\n\r\n${body}${smuggled}`],
  ]) {
    await t.test(what, async () => {
      const state = await exchange(server.port, request, 3000);
      assert.equal(statusOf(state.data), 400, `${what}: ${show(state)}`);
      assert.equal((state.data.match(/HTTP\/1\.1 /g) ?? []).length, 1, `${what}: more than one answer: ${show(state)}`);
      assert.notEqual(state.closedAfterMs, null, `${what}: the connection stays open: ${show(state)}`);
    });
  }
  const apis = await server.call('/v2/apis.createApi', { name: 'after-smuggling' });
  expectOk(apis, 'createApi after the smuggling attempts');
});

test('--max-connections: the connection over the cap is closed at once; a freed slot serves again', async (t) => {
  const kCap = 20;
  const server = await startServer({ args: ['--max-connections', String(kCap), '--idle-timeout-ms', '30000'] });
  t.after(() => server.stop());

  // kCap keep-alive connections, each proven accepted by an answer, then left open and idle.
  const held = [];
  for (let i = 0; i < kCap; ++i) {
    const socket = await connect(server.port);
    const state = watch(socket);
    socket.write('GET /livez HTTP/1.1\r\nHost: tollgate\r\n\r\n');
    for (let waited = 0; !state.data.includes('\r\n\r\n') && waited < 2000; waited += 10) await sleep(10);
    assert.equal(statusOf(state.data), 200, `connection ${i + 1} of ${kCap}: ${show(state)}`);
    held.push({ socket, state });
  }

  const over = await exchange(server.port, 'GET /livez HTTP/1.1\r\nHost: tollgate\r\n\r\n', 2000);
  assert.equal(over.data, '', `connection ${kCap + 1} over a cap of ${kCap} got an answer: ${show(over)}`);
  assert.ok(over.closedAfterMs !== null && over.closedAfterMs < 1000, `connection ${kCap + 1} was not closed at once: ${show(over)}`);
  assert.ok(held.every(({ state }) => state.closedAfterMs === null), 'a connection under the cap was closed');

  for (const { socket } of held.splice(0, 5)) socket.destroy();
  await sleep(300);
  const res = await rawRequest(`${server.url}/livez`, { method: 'GET' });
  assert.equal(res.status, 200, `after 5 of ${kCap} closed, a new connection: ${res.status} ${res.text}`);
  for (const { socket } of held) socket.destroy();
});

test('silent, slow-header and slow-body clients are cut off after --idle/--header/--body-timeout-ms', async (t) => {
  const server = await startServer({ args: ['--idle-timeout-ms', '1500', '--header-timeout-ms', '1000', '--body-timeout-ms', '1000'] });
  t.after(() => server.stop());

  // Sends `first`, then one byte of `trickle` every 200 ms until the server closes (or 8 s).
  async function trickle(first, drip) {
    const socket = await connect(server.port);
    const state = watch(socket);
    if (first) socket.write(first);
    const timer = setInterval(() => { if (!socket.destroyed) socket.write(drip); }, 200);
    await Promise.race([state.closed, deadline(8000)]);
    clearInterval(timer);
    socket.destroy();
    return state;
  }
  const within = (state, low, high, what) => {
    assert.ok(state.closedAfterMs !== null, `${what}: still open after 8 s: ${show(state)}`);
    assert.ok(state.closedAfterMs >= low && state.closedAfterMs <= high,
      `${what}: closed after ${state.closedAfterMs} ms, expected ${low}–${high} ms: ${show(state)}`);
  };

  await t.test('a connection that sends nothing is closed after the idle timeout (1.5 s)', async () => {
    within(await trickle('', ''), 1300, 3000, 'silent connection');
  });

  await t.test('headers trickled a byte every 200 ms are cut off at the header timeout (1 s), not extended by each byte', async () => {
    const state = await trickle('POST /v2/keys.verifyKey HTTP/1.1\r\nHost: tollgate\r\nX-Slow: ', 'a');
    within(state, 900, 2500, 'slow headers');
  });

  await t.test('a body trickled a byte every 200 ms is cut off at the body timeout (1 s)', async () => {
    const state = await trickle(`POST /v2/apis.createApi HTTP/1.1\r\nHost: tollgate\r\nAuthorization: Bearer ${server.rootKey}\r\n` +
      'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name":"', 'a');
    within(state, 900, 2500, 'slow body');
    assert.ok(!state.data.includes('"apiId"'), `the cut-off body was handled: ${show(state)}`);
  });

  await assertStillServing(server, 'after the slow clients');
});

test('slowloris: 500 connections trickling headers do not slow keys.verifyKey, and are cut off at the header timeout', async (t) => {
  const kSlow = 500;
  const kHeaderTimeoutMs = 3000;
  const kRequests = 200;
  const server = await startServer({ args: ['--header-timeout-ms', String(kHeaderTimeoutMs), '--idle-timeout-ms', String(kHeaderTimeoutMs)] });
  t.after(() => server.stop());
  const apiId = await createApi(server, 'slowloris');
  const { key } = await createKey(server, apiId, { name: 'normal client' });

  // Each slow connection sends a request line and a header's start at once, then one more byte
  // every second: forever, unless the server cuts it off.
  const slow = [];
  for (let i = 0; i < kSlow; ++i) {
    const socket = await connect(server.port);
    const state = watch(socket);
    socket.write(`POST /v2/keys.verifyKey HTTP/1.1\r\nHost: tollgate\r\nX-Slowloris-${i}: `);
    slow.push({ socket, state });
  }
  const drip = setInterval(() => {
    for (const { socket } of slow) if (!socket.destroyed) socket.write('a');
  }, 1000);
  t.after(() => {
    clearInterval(drip);
    for (const { socket } of slow) socket.destroy();
  });
  await sleep(300);
  const openWhenMeasuring = slow.filter(({ state }) => state.closedAfterMs === null).length;
  assert.equal(openWhenMeasuring, kSlow, `slow connections closed before their header timeout`);

  // A normal client: kRequests verifications, each on a new connection, 5 ms apart, while the
  // slow connections are open (and while they are cut off).
  const latencies = [];
  const body = JSON.stringify({ key });
  for (let i = 0; i < kRequests; ++i) {
    const started = performance.now();
    const res = await rawRequest(`${server.url}/v2/keys.verifyKey`, {
      headers: { authorization: `Bearer ${server.rootKey}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      body,
    });
    latencies.push(performance.now() - started);
    assert.equal(res.status, 200, `verification ${i + 1}: ${res.status} ${res.text}`);
    assert.equal(JSON.parse(res.text).data.code, 'VALID', `verification ${i + 1}: ${res.text}`);
    await sleep(5);
  }
  const [p50, p99, max] = [50, 99, 100].map((p) => percentile(latencies, p));
  t.diagnostic(`keys.verifyKey beside ${kSlow} slow connections: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms`);
  assert.ok(p99 < 100, `p99 ${p99.toFixed(1)} ms beside ${kSlow} slowloris connections (p50 ${p50.toFixed(1)} ms)`);

  // Every slow connection is cut off by the server, about kHeaderTimeoutMs after its first bytes.
  await Promise.race([Promise.all(slow.map(({ state }) => state.closed)), deadline(kHeaderTimeoutMs + 5000)]);
  const lifetimes = slow.map(({ state }) => state.closedAfterMs);
  const stillOpen = lifetimes.filter((ms) => ms === null).length;
  assert.equal(stillOpen, 0, `${stillOpen} of ${kSlow} slow connections are still open ${kHeaderTimeoutMs + 5000} ms on`);
  const earliest = Math.min(...lifetimes);
  const latest = Math.max(...lifetimes);
  t.diagnostic(`slow connections cut off after ${earliest}–${latest} ms`);
  assert.ok(earliest >= kHeaderTimeoutMs - 200, `a slow connection was cut off after ${earliest} ms, before the header timeout`);
  assert.ok(latest <= kHeaderTimeoutMs + 2500, `a slow connection lived ${latest} ms, past the header timeout of ${kHeaderTimeoutMs} ms`);
  await assertStillServing(server, 'after the slowloris');
});
