// Issue 4, usage.export: the raw usage events of a range, streamed (chunked) as NDJSON or CSV.
// A known mix of verifications, authorizations and rate-limit decisions comes back row by row with
// every field, in both formats and through every filter; an export of thousands of events (many
// pages, many events per millisecond) holds each event exactly once, in time order; the
// connection serves another request after a stream; bad requests get a 400 naming the field.

import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';

import { createApi, createKey, createRootKey, describeResponse, expectError, expectFieldError, expectOk, verify }
  from './lib/expect.mjs';
import { parseCsv } from './lib/csv.mjs';
import { rawRequest, recordSecret, startServer } from './lib/server.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const kCsvHeader = ['time', 'timeIso', 'apiId', 'keyId', 'externalId', 'source', 'code', 'creditsSpent', 'deniedBy', 'tags'];

/** A CSV data row back into the NDJSON shape, checking the ISO column against the ms one. */
function csvRowToEvent(row) {
  assert.equal(row.length, kCsvHeader.length, `row ${JSON.stringify(row)}`);
  const cells = Object.fromEntries(kCsvHeader.map((name, i) => [name, row[i]]));
  assert.match(cells.time, /^\d+$/);
  assert.equal(cells.timeIso, new Date(Number(cells.time)).toISOString());
  assert.match(cells.creditsSpent, /^\d+$/);
  return {
    time: Number(cells.time), apiId: cells.apiId, keyId: cells.keyId, externalId: cells.externalId,
    source: cells.source, code: cells.code, creditsSpent: Number(cells.creditsSpent), deniedBy: cells.deniedBy,
    tags: JSON.parse(cells.tags),
  };
}

/** POST usage.export; returns the raw response after checking the streamed envelope. */
async function exportRaw(server, body) {
  const res = await server.call('/v2/usage.export', body);
  const format = body.format ?? 'ndjson';
  assert.equal(res.status, 200, `usage.export ${JSON.stringify(body)}\n  ${describeResponse(res)}`);
  assert.equal(res.headers['transfer-encoding'], 'chunked', `the export must be streamed\n  ${describeResponse(res)}`);
  assert.equal(res.headers['content-length'], undefined);
  assert.equal(res.headers['content-type'], format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson');
  assert.equal(res.headers['content-disposition'], `attachment; filename="usage-${body.start}-${body.end}.${format}"`);
  assert.match(res.headers['x-request-id'] ?? '', /^req_/);
  return res;
}

async function exportNdjson(server, body) {
  const { text } = await exportRaw(server, { ...body, format: 'ndjson' });
  if (text === '') return [];
  assert.ok(text.endsWith('\n'), 'every NDJSON line ends with a newline');
  return text.slice(0, -1).split('\n').map((line) => JSON.parse(line));
}

async function exportCsv(server, body) {
  const rows = parseCsv((await exportRaw(server, { ...body, format: 'csv' })).text);
  assert.deepEqual(rows[0], kCsvHeader);
  return rows.slice(1).map(csvRowToEvent);
}

/** Polls until the export holds `count` events (usage is flushed every 100 ms); at most 1.5 s. */
async function exportWhenFlushed(server, body, count) {
  const deadline = Date.now() + 1500;
  for (;;) {
    const events = await exportNdjson(server, body);
    if (events.length >= count || Date.now() > deadline) return events;
    await sleep(50);
  }
}

test('usage.export returns every event made, with every field, as NDJSON and as CSV, and filters them', async (t) => {
  // One worker, so usage is recorded (and numbered by the store) in the order of the requests.
  const server = await startServer({ args: ['--workers', '1'] });
  t.after(() => server.stop());
  const apiId = await createApi(server, 'export');
  const acme = await createKey(server, apiId, {
    externalId: 'acme',
    ratelimits: [{ name: 'per-minute', limit: 2, duration: 60000, autoApply: true }],
  });
  const globexId = 'globex, "the" company';  // a comma and quotes for the CSV
  const globex = await createKey(server, apiId, { externalId: globexId, credits: { remaining: 1 } });
  const plain = await createKey(server, apiId);

  const expected = [];
  const expectEvent = (fields, before) => expected.push({
    before, after: Date.now(),
    event: { apiId: '', keyId: '', externalId: '', source: 'verify', creditsSpent: 0, deniedBy: '', tags: [], ...fields },
  });
  const verifyAs = async (key, extra, fields) => {
    const before = Date.now();
    const data = await verify(server, key, extra);
    assert.equal(data.code, fields.code);
    expectEvent(fields, before);
  };
  const tags = ['path=/a,b', 'say "hi"', 'two\nlines'];
  await verifyAs(acme.key, { tags }, { apiId, keyId: acme.keyId, externalId: 'acme', code: 'VALID', tags });
  await verifyAs(acme.key, {}, { apiId, keyId: acme.keyId, externalId: 'acme', code: 'VALID' });
  await verifyAs(acme.key, {}, { apiId, keyId: acme.keyId, externalId: 'acme', code: 'RATE_LIMITED', deniedBy: 'per-minute' });
  await verifyAs(globex.key, {}, { apiId, keyId: globex.keyId, externalId: globexId, code: 'VALID', creditsSpent: 1 });
  await verifyAs(globex.key, {}, { apiId, keyId: globex.keyId, externalId: globexId, code: 'USAGE_EXCEEDED' });
  const unknown = 'export_NotARealKeyAtAll12345';
  recordSecret(unknown);
  await verifyAs(unknown, {}, { code: 'NOT_FOUND' });
  let before = Date.now();
  const authorized = await rawRequest(`${server.url}/v2/keys.authorize`, {
    method: 'GET', headers: { authorization: `Bearer ${plain.key}` } });
  assert.equal(authorized.status, 200, describeResponse(authorized));
  expectEvent({ apiId, keyId: plain.keyId, source: 'authorize', code: 'VALID' }, before);
  for (const passed of [true, false]) {
    before = Date.now();
    const data = expectOk(await server.call('/v2/ratelimit.limit',
      { namespace: 'email.send', identifier: 'user_42', limit: 1, duration: 60000 }), 'ratelimit.limit');
    assert.equal(data.success, passed);
    expectEvent({
      apiId: 'email.send', externalId: 'user_42', source: 'ratelimit',
      code: passed ? 'RATELIMIT_PASSED' : 'RATELIMIT_DENIED', creditsSpent: passed ? 1 : 0,
      deniedBy: passed ? '' : 'email.send',
    }, before);
  }

  const range = { start: expected[0].before - 60000, end: Date.now() + 60000 };
  const all = await exportWhenFlushed(server, range, expected.length);
  assert.equal(all.length, expected.length, `exported:\n${all.map((e) => JSON.stringify(e)).join('\n')}`);
  all.forEach((got, i) => {
    const { before: from, after: to, event } = expected[i];
    assert.deepEqual(Object.keys(got),
      ['time', 'apiId', 'keyId', 'externalId', 'source', 'code', 'creditsSpent', 'deniedBy', 'tags']);
    assert.ok(got.time >= from && got.time <= to, `event ${i}: time ${got.time} outside [${from}, ${to}]`);
    assert.deepEqual({ ...got, time: undefined }, { ...event, time: undefined }, `event ${i}`);
  });

  // The same rows as CSV, each field through RFC 4180 quoting and back.
  assert.deepEqual(await exportCsv(server, range), all);

  // Filters: key, identity, API (not NOT_FOUND, not the rate-limit decisions), outcome.
  const pick = (predicate) => all.filter(predicate);
  assert.deepEqual(await exportNdjson(server, { ...range, keyId: acme.keyId }), pick((e) => e.keyId === acme.keyId));
  assert.equal((await exportNdjson(server, { ...range, keyId: acme.keyId })).length, 3);
  assert.deepEqual(await exportCsv(server, { ...range, externalId: globexId }), pick((e) => e.externalId === globexId));
  assert.deepEqual(await exportNdjson(server, { ...range, apiId }), pick((e) => e.apiId === apiId));
  assert.equal((await exportNdjson(server, { ...range, apiId })).length, 6);
  assert.deepEqual(await exportNdjson(server, { ...range, outcome: 'RATE_LIMITED' }), [all[2]]);
  assert.deepEqual(await exportNdjson(server, { ...range, outcome: 'RATELIMIT_DENIED' }), [all[8]]);
  assert.deepEqual(await exportNdjson(server, { ...range, apiId, outcome: 'VALID' }),
    pick((e) => e.apiId === apiId && e.code === 'VALID'));

  // Half-open ranges: [t, t + 1) is exactly the events of millisecond t; nothing before the first.
  const t3 = all[3].time;
  assert.deepEqual(await exportNdjson(server, { start: t3, end: t3 + 1 }), pick((e) => e.time === t3));
  assert.deepEqual(await exportNdjson(server, { start: range.start, end: all[0].time }), []);
  assert.deepEqual(await exportCsv(server, { start: range.start, end: all[0].time }), []);  // the header only
});

/** One request on `agent`; also says whether it went over a connection used before. */
function requestOn(agent, url, rootKey, body) {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const request = http.request(url, {
      method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), authorization: `Bearer ${rootKey}` },
    });
    request.on('error', reject);
    request.on('response', (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => resolve({
        status: response.statusCode, headers: response.headers, complete: response.complete,
        reused: request.reusedSocket, text: Buffer.concat(chunks).toString('utf8'),
      }));
    });
    request.end(payload);
  });
}

test('an export of thousands of events streams every one exactly once, in time order, then the connection is reused', async (t) => {
  const server = await startServer();  // two workers: events of one millisecond come from both
  t.after(() => server.stop());
  const apiId = await createApi(server, 'bulk');
  const { key, keyId } = await createKey(server, apiId);
  const kEvents = 3500;  // 4 pages of 1000

  const start = Date.now();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  t.after(() => agent.destroy());
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${server.rootKey}` };
  for (let batch = 0; batch < kEvents; batch += 250) {
    await Promise.all(Array.from({ length: Math.min(250, kEvents - batch) }, async (_, i) => {
      const res = await rawRequest(`${server.url}/v2/keys.verifyKey`,
        { headers, agent, body: JSON.stringify({ key, tags: [`n=${batch + i}`] }) });
      assert.equal(res.status, 200, describeResponse(res));
    }));
  }
  const range = { start: start - 1000, end: Date.now() + 60000 };

  const events = await exportWhenFlushed(server, range, kEvents);
  assert.equal(events.length, kEvents);
  const seen = new Set();
  for (let i = 0; i < events.length; ++i) {
    const e = events[i];
    assert.equal(e.keyId, keyId);
    assert.equal(e.code, 'VALID');
    if (i > 0) assert.ok(e.time >= events[i - 1].time, `row ${i} is earlier than row ${i - 1}`);
    assert.equal(e.tags.length, 1);
    assert.ok(!seen.has(e.tags[0]), `${e.tags[0]} exported twice`);
    seen.add(e.tags[0]);
  }
  assert.equal(seen.size, kEvents);
  const times = new Set(events.map((e) => e.time));
  assert.ok(times.size < kEvents, 'some events share a millisecond (what paging must not split wrongly)');
  assert.deepEqual(await exportCsv(server, range), events);

  // Keep-alive after a stream: the next request goes over the same connection.
  const single = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => single.destroy());
  const url = `${server.url}/v2/usage.export`;
  const first = await requestOn(single, url, server.rootKey, { ...range, format: 'csv' });
  assert.equal(first.status, 200);
  assert.ok(first.complete, 'the stream ended with its last chunk');
  assert.equal(first.headers['transfer-encoding'], 'chunked');
  assert.equal(first.text.split('\r\n').length, kEvents + 2);  // header, rows, and the empty rest after the last CRLF
  const second = await requestOn(single, `${server.url}/v2/usage.summary`, server.rootKey, range);
  assert.equal(second.status, 200, second.text);
  assert.ok(second.reused, 'the second request reused the connection of the stream');
  assert.equal(JSON.parse(second.text).data.total, kEvents);
  const third = await requestOn(single, url, server.rootKey, { ...range, outcome: 'NOT_FOUND' });
  assert.ok(third.reused && third.complete);
  assert.equal(third.text, '');
});

test('usage.export requests are validated at the edge and need usage.*.read', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const now = Date.now();
  const day = 86400000;
  const ok = { start: now - day, end: now };
  let error = expectFieldError(await server.call('/v2/usage.export', { ...ok, format: 'xml' }), 'body.format');
  assert.match(error.errors.find((e) => e.location === 'body.format').message, /csv or ndjson/);
  error = expectFieldError(await server.call('/v2/usage.export', { start: now, end: now }), 'body.end');
  assert.match(error.errors[0].message, /after start/);
  expectFieldError(await server.call('/v2/usage.export', { start: now, end: now - 1, format: 'csv' }), 'body.end');
  expectFieldError(await server.call('/v2/usage.export', { start: now - 401 * day, end: now }), 'body.end');
  expectFieldError(await server.call('/v2/usage.export', { end: now }), 'body.start');
  error = expectFieldError(await server.call('/v2/usage.export', { ...ok, outcome: 'VALD' }), 'body.outcome');
  assert.match(error.errors[0].fix, /RATE_LIMITED/);
  expectFieldError(await server.call('/v2/usage.export', { ...ok, format: 7 }), 'body.format');
  expectFieldError(await server.call('/v2/usage.export', { ...ok, keyId: '' }), 'body.keyId');
  // Every problem in one answer.
  error = expectError(await server.call('/v2/usage.export', { start: now, end: now, format: 'xml', outcome: 'x' }), 400);
  assert.deepEqual(error.errors.map((e) => e.location).sort(), ['body.end', 'body.format', 'body.outcome']);

  const reader = await createRootKey(server, ['usage.*.read'], 'usage-reader');
  const other = await createRootKey(server, ['api.*.read_api'], 'no-usage');
  assert.equal((await server.call('/v2/usage.export', ok, { rootKey: reader.key })).status, 200);
  error = expectError(await server.call('/v2/usage.export', ok, { rootKey: other.key }), 403);
  assert.match(error.detail, /usage\.\*\.read/);
});
