// Issue 11, Fault injection on the servers tollgate runs on: PostgreSQL restarted, a Redis shard
// killed and started again, RabbitMQ restarted, one after the other, all under one load, against
// one node with every backend (--store postgres, --limiter redis with 3 shards, --events amqp).
// postgres_outage, redis_failover and events_rabbitmq each take one server down with the others
// absent, and check latencies and limiter decisions in depth; this file checks that, with all
// three in place, each fault degrades the node as the README's Deployment section says and that
// nothing is lost across all three:
//
// * verifications (paced, 16 clients, keys on every shard, each key with a limit of 1,000,000 a
//   second, so that every verification goes through Redis and every answer is VALID): all 200
//   VALID throughout, none slower than a second;
// * writes (keys.createKey every 100 ms): 503 naming PostgreSQL while it is down, 200 otherwise,
//   the broker being down included (their events wait in the outbox);
// * /readyz (every 200 ms) names each fault while it lasts: store, limiter, events;
// * no usage lost: PostgreSQL holds exactly the VALID answers received (the load's and the set-up's
//   first verification of each key), in the raw events and in usage.summary;
// * no event lost: a consumer of tollgate.events (our own durable queue, as a user's service
//   would bind one) receives a key.created for every key whose creation answered 200, and usage
//   .batch events whose counts (each event id once) add up to the VALID answers; nothing is left
//   in the outbox.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { startRedis } from './lib/backends.mjs';
import { pendingOutbox, startCluster, startEventRecorder, timeUntil } from './lib/cluster.mjs';
import { createApi, createKey, expectOk } from './lib/expect.mjs';
import { latencyOf, startVerifyLoad, startWriteLoop, tally } from './lib/load.mjs';

const kShards = 3;
const kFailingShard = 1;
const kLimit = { name: 'requests', limit: 1_000_000, duration: 1000, autoApply: true };
const kKeysPerShard = 2;
const kMaxKeys = 40;
const kRatePerSecond = 800;
const kOutageMs = 3000;  // each server down (before it is started again, which takes more for RabbitMQ)
const kBetweenMs = 2000;
// /readyz reports the probes' last run, once a second, and a probe may wait on what is down.
const kReadinessLagMs = 2000;
const kSettleMs = 20_000;
const kQueue = 'test.fault_injection';

let cluster;
let redis;
let node;
let recorder;

before(async () => {
  [cluster, redis] = await Promise.all([startCluster(), startRedis({ shards: kShards })]);
  node = await cluster.startNode('faults', ['--limiter', redis.url]);
  recorder = await startEventRecorder(cluster.rabbit.url, kQueue, ['key.#', 'usage.#']);
});

after(async () => {
  await recorder?.close().catch(() => {});
  await cluster?.stop();
  await redis?.stop();
});

/**
 * Keys until every shard holds kKeysPerShard of them: each key is verified once, then its counters
 * are looked for (they live on one shard). Returns { keys, verified: the verifications made }.
 */
async function keysOnEveryShard(apiId) {
  const perShard = Array.from({ length: kShards }, () => []);
  let made = 0;
  for (; perShard.some((keys) => keys.length < kKeysPerShard); ++made) {
    assert.ok(made < kMaxKeys, `${made} keys and still a shard short of ${kKeysPerShard}: ${perShard.map((k) => k.length)}`);
    const { keyId, key } = await createKey(node, apiId, { ratelimits: [kLimit] });
    assert.equal(expectOk(await node.call('/v2/keys.verifyKey', { key }), 'a first verification').code, 'VALID');
    for (let i = 0; i < kShards; ++i) {
      if ((await redis.scan(i, `*${keyId}*`)).length > 0 && perShard[i].length < kKeysPerShard) perShard[i].push(key);
    }
  }
  return { keys: perShard.flat(), verified: made };
}

/** GET /readyz every 200 ms until stop(): [{ at, status, failing }]. */
function watchReadiness() {
  const seen = [];
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const res = await node.call('/readyz', undefined, { method: 'GET' });
      seen.push({ at: performance.now(), status: res.status, failing: res.json?.failing ?? null });
      await sleep(200);
    }
  })();
  return { seen, done, stop() { stopped = true; } };
}

/** { value: how many times it occurs }. */
function countBy(values) {
  const counts = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/** The messages of `type` the recorder holds, each event id once. */
function distinctEvents(type) {
  const byId = new Map();
  for (const m of recorder.messages) if (m.type === type && !byId.has(m.messageId)) byId.set(m.messageId, m);
  return [...byId.values()];
}

async function usageInPostgres() {
  return Number(await cluster.pg.psql("SELECT COUNT(*) FROM usage_events WHERE code = 'VALID'"));
}

test('PostgreSQL restarted, a Redis shard killed and restarted, RabbitMQ restarted, under load: answers as designed, no usage or event lost', async (t) => {
  const apiId = await createApi(node, 'faults');
  const { keys, verified } = await keysOnEveryShard(apiId);
  const since = Date.now();

  const load = startVerifyLoad({ url: node.url, rootKey: node.rootKey, keys, concurrency: 16, ratePerSecond: kRatePerSecond, durationMs: 120_000 });
  const writes = startWriteLoop(node, '/v2/keys.createKey', (i) => ({ apiId, name: `fault-${i}` }), 100);
  const readiness = watchReadiness();
  t.after(() => {
    load.stop();
    writes.stop();
    readiness.stop();
  });
  const phases = {};
  // start: the fault is injected; down: it is in place; heal: the server is being brought back;
  // up: it is back.
  const phase = async (name, fault, healer, holdMs) => {
    const start = performance.now();
    await fault();
    const down = performance.now();
    await sleep(holdMs);
    const heal = performance.now();
    await healer();
    phases[name] = { start, down, heal, up: performance.now() };
    await sleep(kBetweenMs);
  };
  await sleep(kBetweenMs);
  await phase('postgres', () => cluster.pg.stop(), () => cluster.pg.start(), kOutageMs);
  await phase('redis', () => redis.kill(kFailingShard), () => redis.start(kFailingShard), kOutageMs);
  await phase('rabbitmq', () => cluster.rabbit.stop(), () => cluster.rabbit.restart(), kOutageMs);
  load.stop();
  writes.stop();
  readiness.stop();
  await Promise.all([load.done, writes.done, readiness.done]);
  const endedAt = performance.now();

  // The store is fresh: its VALID usage is the load's answers plus the keys' first verifications.
  const { valid, unanswered, otherAnswers } = tally(load.samples);
  const seen = valid.length;
  const expected = seen + verified;
  const created = writes.answers.filter((w) => w.status === 200).map((w) => w.data.keyId);
  const createdEvent = (keyId) => distinctEvents('key.created').some((m) => m.body.includes(`"${keyId}"`));
  const batchedValid = () => distinctEvents('usage.batch').reduce((sum, m) => sum + JSON.parse(m.body).valid, 0);
  const settledAfterMs = await timeUntil(async () => (await usageInPostgres()) === expected &&
    created.every(createdEvent) && batchedValid() === expected && (await pendingOutbox(cluster.pg)) === 0,
  { timeoutMs: kSettleMs, intervalMs: 250 });
  const summary = expectOk(await node.call('/v2/usage.summary', { start: since - 3_600_000, end: Date.now() + 60_000 }), 'usage.summary');

  // Writes sent while the server was down for sure.
  const writesIn = (name) => writes.answers.filter((w) => w.sentAt >= phases[name].down && w.sentAt < phases[name].heal);
  const outsidePostgres = writes.answers.filter((w) => w.sentAt < phases.postgres.start || w.sentAt > phases.postgres.up + 1000);
  const failingDuring = (name) => countBy(readiness.seen.filter((r) => r.at >= phases[name].down + kReadinessLagMs && r.at < phases[name].heal)
    .map((r) => `${r.status} ${r.failing ?? ''}`.trim()));
  const figures = {
    seen, verifiedAtSetup: verified, expected, usageInPostgres: await usageInPostgres(), summaryValid: summary.valid,
    usageBatches: distinctEvents('usage.batch').length, batchedValid: batchedValid(), settledAfterMs,
    created: created.length, keyCreatedMissing: created.filter((id) => !createdEvent(id)).length,
    outboxPending: await pendingOutbox(cluster.pg),
    unanswered: unanswered.slice(0, 3).map((s) => s.error), otherAnswers: otherAnswers.slice(0, 3),
    phasesMs: Object.fromEntries(Object.entries(phases).map(([name, p]) => [name,
      { fault: Math.round(p.down - p.start), downFor: Math.round(p.heal - p.down), heal: Math.round(p.up - p.heal) }])),
    latency: {
      before: latencyOf(load.samples, 0, phases.postgres.start),
      ...Object.fromEntries(Object.keys(phases).map((name) => [name, latencyOf(load.samples, phases[name].start, phases[name].up + 1000)])),
      whole: latencyOf(load.samples, 0, endedAt),
    },
    writes: Object.fromEntries(Object.keys(phases).map((name) => [name, countBy(writesIn(name).map((w) => w.status ?? w.error))])),
    postgresWriteDetails: [...new Set(writesIn('postgres').map((w) => w.detail))],
    otherWrites: countBy(outsidePostgres.map((w) => w.status ?? w.error)),
    readyz: Object.fromEntries(Object.keys(phases).map((name) => [name, failingDuring(name)])),
    readyzAtEnd: readiness.seen.at(-1),
  };
  const text = JSON.stringify(figures);
  t.diagnostic(text);
  console.log(`fault_injection_cluster: ${text}`);

  // Verifications answered from memory and the limiter's policy, whatever was down.
  assert.deepEqual([figures.unanswered, figures.otherAnswers], [[], []], `every verification answered 200 VALID: ${text}`);
  assert.ok(seen >= 10_000, `the load was too light to mean anything: ${text}`);
  assert.ok(figures.latency.whole.max <= 1000, `a verification took over a second: ${text}`);
  // Writes: 503 naming PostgreSQL while it is down, 200 otherwise (the broker's outage included).
  assert.ok(writesIn('postgres').length >= 10, `too few writes while PostgreSQL was down: ${text}`);
  for (const w of writesIn('postgres')) {
    assert.equal(w.status, 503, `a write while PostgreSQL is down: ${text}`);
    assert.match(w.detail, /postgres/i, `the 503 names the store that is down: ${text}`);
  }
  assert.deepEqual(Object.keys(figures.otherWrites), ['200'], `writes succeed unless PostgreSQL is down: ${text}`);
  assert.ok(writesIn('rabbitmq').length >= 10, `too few writes while RabbitMQ restarted: ${text}`);
  // /readyz names what is down.
  for (const [name, check] of [['postgres', 'store'], ['redis', 'limiter'], ['rabbitmq', 'events']]) {
    assert.ok((figures.readyz[name][`503 ${check}`] ?? 0) >= 1, `/readyz names '${check}' while ${name} is down: ${text}`);
  }
  assert.equal(figures.readyzAtEnd.status, 200, `/readyz once everything is back: ${text}`);
  // Nothing lost.
  assert.ok(settledAfterMs !== null, `usage and events did not all arrive within ${kSettleMs} ms: ${text}`);
  assert.equal(figures.usageInPostgres, expected, `raw usage_events VALID = VALID answers: ${text}`);
  assert.equal(figures.summaryValid, expected, `usage.summary valid = VALID answers: ${text}`);
  assert.equal(figures.keyCreatedMissing, 0, `a key.created for every key created: ${text}`);
  assert.equal(figures.batchedValid, expected, `usage.batch events add up to the VALID answers: ${text}`);
  assert.equal(figures.outboxPending, 0, `nothing left in the outbox: ${text}`);
});
