// Issue 2, Done-when 6: SIGTERM/SIGINT stop accepting, finish in-flight requests and exit 0 —
// under load, with a request half-sent, and with idle keep-alive connections open.

import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { createApi, createKey, expectOk } from './lib/expect.mjs';
import { startServer } from './lib/server.mjs';

const kClients = 64;
const kLoadMs = 1500;
const kSignalAtMs = 750;
const kExitWithinMs = 5000;

// One POST on a keep-alive agent, classified: 'response' (complete), 'truncated' (headers came,
// the body did not finish) or 'connection' (no response at all: refused, reset before answering).
function post(agent, url, headers, body) {
  return new Promise((resolve) => {
    let gotResponse = false;
    let settled = false;
    const settle = (result) => {
      if (!settled) {
        settled = true;
        resolve(result);
      }
    };
    const request = http.request(url, { method: 'POST', agent, headers });
    request.on('error', (error) => settle({ kind: gotResponse ? 'truncated' : 'connection', error: error.code ?? error.message }));
    request.on('response', (response) => {
      gotResponse = true;
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('aborted', () => settle({ kind: 'truncated', status: response.statusCode, error: 'aborted' }));
      response.on('error', (error) => settle({ kind: 'truncated', status: response.statusCode, error: error.code ?? error.message }));
      response.on('end', () => {
        if (!response.complete) {
          settle({ kind: 'truncated', status: response.statusCode, error: 'incomplete' });
          return;
        }
        settle({
          kind: 'response',
          status: response.statusCode,
          headers: response.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    request.end(body);
  });
}

function checkVerifyResponse(result, keyId) {
  if (result.status !== 200) return `HTTP ${result.status}: ${result.text.slice(0, 300)}`;
  let json;
  try {
    json = JSON.parse(result.text);
  } catch {
    return `body is not JSON (${result.text.length} bytes): ${result.text.slice(0, 300)}`;
  }
  if (json?.data?.valid !== true || json.data.code !== 'VALID' || json.data.keyId !== keyId) {
    return `not a VALID verification of ${keyId}: ${result.text.slice(0, 300)}`;
  }
  if (!String(json.meta?.requestId).startsWith('req_')) return `no meta.requestId: ${result.text.slice(0, 300)}`;
  return null;
}

test(`SIGTERM under ${kClients} keep-alive clients: exit 0 within ${kExitWithinMs} ms, no truncated or failed response`, async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const apiId = await createApi(server, 'load');
  const { keyId, key } = await createKey(server, apiId);

  const agent = new http.Agent({ keepAlive: true, maxSockets: kClients });
  t.after(() => agent.destroy());
  const url = `${server.url}/v2/keys.verifyKey`;
  const body = JSON.stringify({ key });
  const headers = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    authorization: `Bearer ${server.rootKey}`,
  };

  const stats = { beforeSignal: 0, afterSignal: 0, inFlightAnswered: 0, connectionErrors: [], failures: [], inFlightAtSignal: 0 };
  let inFlight = 0;
  let signalSentAt = null;
  const started = performance.now();
  const deadline = started + kLoadMs;

  const client = async () => {
    while (performance.now() < deadline) {
      const sentBeforeSignal = signalSentAt === null;
      const sentAt = performance.now();
      inFlight += 1;
      const result = await post(agent, url, headers, body);
      inFlight -= 1;
      if (result.kind === 'connection') {
        // Allowed only once the server was told to stop (then this client is done), and not for a
        // request the server has surely read: one sent over 50 ms before the signal was in flight.
        stats.connectionErrors.push({ error: result.error, sentBeforeSignal, at: Math.round(performance.now() - started) });
        if (signalSentAt === null) stats.failures.push(`connection error before SIGTERM: ${result.error}`);
        else if (signalSentAt - sentAt > 50) {
          stats.failures.push(`in-flight request (sent ${Math.round(signalSentAt - sentAt)} ms before SIGTERM) dropped: ${result.error}`);
        }
        return;
      }
      if (result.kind === 'truncated') {
        stats.failures.push(`truncated response (HTTP ${result.status}): ${result.error}`);
        return;
      }
      const problem = checkVerifyResponse(result, keyId);
      if (problem) stats.failures.push(problem);
      if (sentBeforeSignal) stats.beforeSignal += 1;
      else stats.afterSignal += 1;
      if (sentBeforeSignal && signalSentAt !== null) stats.inFlightAnswered += 1;
    }
  };

  const clients = Array.from({ length: kClients }, () => client());
  await sleep(kSignalAtMs);
  stats.inFlightAtSignal = inFlight;
  signalSentAt = performance.now();
  const stopping = server.stop('SIGTERM');
  await Promise.all(clients);
  const exit = await stopping;

  const summary = JSON.stringify({
    exit, okBeforeSignal: stats.beforeSignal, okSentAfterSignal: stats.afterSignal, inFlightAtSignal: stats.inFlightAtSignal, inFlightAnswered: stats.inFlightAnswered,
    connectionErrors: stats.connectionErrors.length, firstConnectionErrors: stats.connectionErrors.slice(0, 5),
    failures: stats.failures.length,
  });
  t.diagnostic(summary);
  assert.ok(stats.beforeSignal >= 100, `the load was too light to mean anything: ${summary}`);
  assert.ok(stats.inFlightAtSignal > 0, `no request was in flight when SIGTERM was sent: ${summary}`);
  assert.deepEqual(stats.failures.slice(0, 10), [], `responses must be complete VALID 200s: ${summary}`);
  assert.equal(exit.signal, null, `the server must exit by itself, not die of a signal: ${summary}`);
  assert.equal(exit.code, 0, `exit code must be 0: ${summary}`);
  assert.ok(exit.elapsedMs <= kExitWithinMs, `exit took ${exit.elapsedMs} ms (limit ${kExitWithinMs}): ${summary}`);
});

test('SIGINT on an idle server exits 0 promptly', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  expectOk(await server.call('/v2/liveness', undefined, { method: 'GET', rootKey: null }), 'GET /v2/liveness');
  const exit = await server.stop('SIGINT');
  assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, JSON.stringify(exit));
  assert.ok(exit.elapsedMs <= kExitWithinMs, `exit took ${exit.elapsedMs} ms`);
});

// Opens a raw connection to the server; resolves with helpers to write and to collect what comes back.
function rawConnection(server) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1');
    const state = { data: '', closed: false };
    const closed = new Promise((onClose) => socket.on('close', () => {
      state.closed = true;
      onClose();
    }));
    socket.on('data', (chunk) => {
      state.data += chunk.toString('utf8');
    });
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, state, closed }));
    socket.once('error', reject);
  });
}

function parseRawResponse(text) {
  const split = text.indexOf('\r\n\r\n');
  if (split < 0) return null;
  const head = text.slice(0, split).split('\r\n');
  const status = Number(head[0].split(' ')[1]);
  const headers = Object.fromEntries(head.slice(1).map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  }));
  const rest = text.slice(split + 4);
  const length = Number(headers['content-length']);
  const bodyText = Number.isFinite(length) ? rest.slice(0, length) : rest;
  return { status, headers, text: bodyText, complete: !Number.isFinite(length) || Buffer.byteLength(rest) >= length };
}

test('a request half-sent when SIGTERM arrives is still answered, then the server exits 0', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const apiId = await createApi(server, 'inflight');
  const { keyId, key } = await createKey(server, apiId);

  const body = JSON.stringify({ key });
  const half = Math.floor(body.length / 2);
  const { socket, state, closed } = await rawConnection(server);
  socket.write(`POST /v2/keys.verifyKey HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${server.rootKey}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, half)}`);
  await sleep(200);
  const stopping = server.stop('SIGTERM');
  await sleep(300);
  socket.write(body.slice(half));
  const answered = await Promise.race([closed.then(() => 'closed'), sleep(4000, undefined, { ref: false }).then(() => 'timeout')]);
  const exit = await stopping;
  socket.destroy();

  const res = parseRawResponse(state.data);
  assert.ok(res, `no HTTP response to the in-flight request (${answered}); got ${JSON.stringify(state.data)}`);
  assert.ok(res.complete, `truncated response: ${JSON.stringify(state.data)}`);
  assert.equal(res.status, 200, `in-flight request: ${JSON.stringify(state.data)}`);
  const json = JSON.parse(res.text);
  assert.deepEqual([json.data?.valid, json.data?.code, json.data?.keyId], [true, 'VALID', keyId], res.text);
  assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, JSON.stringify(exit));
  assert.ok(exit.elapsedMs <= kExitWithinMs, `exit took ${exit.elapsedMs} ms`);
});

test('idle keep-alive connections do not hold the server open after SIGTERM', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const connections = [];
  for (let i = 0; i < 4; ++i) {
    const connection = await rawConnection(server);
    connection.socket.write('GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    connections.push(connection);
  }
  await sleep(200);
  for (const { state } of connections) {
    const res = parseRawResponse(state.data);
    assert.equal(res?.status, 200, `GET /livez on a keep-alive connection: ${JSON.stringify(state.data)}`);
    assert.ok(!state.closed, 'HTTP/1.1 keeps the connection open by default');
  }
  const exit = await server.stop('SIGTERM');
  for (const { socket } of connections) socket.destroy();
  assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, JSON.stringify(exit));
  assert.ok(exit.elapsedMs <= kExitWithinMs, `exit took ${exit.elapsedMs} ms with idle keep-alive connections open`);
});
