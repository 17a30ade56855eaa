// Issue 6, Done-when 2: events go out through RabbitMQ with confirms, and restarting the broker
// while they are being produced loses none of them: the outbox keeps what the broker did not
// confirm and the relay publishes it once the broker is back. A consumer (this file's own queue on
// tollgate.events, manual acks) sees each event at least once; a tollgate node (B) applies each
// exactly once, also when the same event arrives again, and parks what is not a tollgate event.
//
// One cluster for the file: PostgreSQL, RabbitMQ, node A (the writer) and node B (--log-level
// debug, so that it logs `events: applied <type> <id> from <origin>` for every event it applies).

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import amqp from 'amqplib';

import { appliedCount, pendingOutbox, startCluster, startEventRecorder, timeUntil, verifyCode } from './lib/cluster.mjs';
import { createApi, createKey } from './lib/expect.mjs';

const kExchange = 'tollgate.events';
const kParkedQueue = 'tollgate.events.parked';
const kRecorderQueue = 'test.events_rabbitmq';
const kKeys = 300;
const kProduceMs = 9000;
const kRestartAfterMs = 1500;
// After the broker is back: the relay retries its failed batch every second, then publishes the
// rest (well under the 30 s lease of a failed batch's claim, which only keeps other relays off).
const kDeliveryWaitMs = 10_000;

let cluster;
let nodeA;
let nodeB;
let recorder;
let publisher;

// This file's consumer: a durable queue bound to key.# and api.#, manual acks, re-consumed
// whenever the connection comes back (lib/cluster.mjs).
const startRecorder = (url) => startEventRecorder(url, kRecorderQueue, ['key.#', 'api.#']);

// A confirm channel of its own for publishing test messages into tollgate.events.
async function startPublisher(url) {
  const connection = await amqp.connect(url);
  const channel = await connection.createConfirmChannel();
  return {
    async publish(routingKey, body, properties) {
      channel.publish(kExchange, routingKey, Buffer.from(body), properties);
      await channel.waitForConfirms();
    },
    channel,
    close: () => connection.close(),
  };
}

/** The key.created messages the recorder has for `keyId`. */
function createdMessages(keyId) {
  return recorder.messages.filter((m) => m.type === 'key.created' && m.body.includes(`"${keyId}"`));
}

// Creates up to `count` keys on `node`, paced over `durationMs` (never past twice that).
async function produceKeys(node, apiId, count, durationMs) {
  const created = [];
  const start = performance.now();
  const gapMs = durationMs / count;
  while (created.length < count && performance.now() - start < 2 * durationMs) {
    const wait = start + created.length * gapMs - performance.now();
    if (wait > 0) await sleep(wait);
    const { keyId, key } = await createKey(node, apiId);
    created.push({ keyId, key, createdAt: performance.now() });
  }
  return created;
}

// A tollgate-shaped event that only the bus carries (it is in no outbox): once B logs it as
// applied, B's consumer has also taken everything queued for it before.
async function publishMarker(keyId) {
  const id = `evt_marker_${randomUUID()}`;
  await publisher.publish('key.updated', JSON.stringify({ keyId }), {
    messageId: id, type: 'key.updated', appId: 'test', persistent: true, contentType: 'application/json',
  });
  return id;
}

before(async () => {
  cluster = await startCluster();
  nodeA = await cluster.startNode('a');
  nodeB = await cluster.startNode('b', ['--log-level', 'debug']);
  recorder = await startRecorder(cluster.rabbit.url);
});

after(async () => {
  await recorder?.close().catch(() => {});
  await publisher?.close().catch(() => {});
  await cluster?.stop();
});

test(`${kKeys} keys created while the broker restarts: every key.created arrives, B applies each once`, async (t) => {
  const apiId = await createApi(nodeA, 'events');
  const producing = produceKeys(nodeA, apiId, kKeys, kProduceMs);
  await sleep(kRestartAfterMs);
  const restartStart = performance.now();
  await cluster.rabbit.restart();
  const brokerBackAt = performance.now();
  const created = await producing;
  const createdDuringRestart = created.filter((k) => k.createdAt > restartStart && k.createdAt < brokerBackAt).length;

  // Every key's key.created reaches the recorder, within a bounded wait after the restart.
  const delivered = await timeUntil(() => created.every((k) => createdMessages(k.keyId).length > 0),
    { timeoutMs: kDeliveryWaitMs, intervalMs: 100 });
  const deliveredAfterMs = delivered === null ? null : Math.round(performance.now() - brokerBackAt);
  const missing = created.filter((k) => createdMessages(k.keyId).length === 0).map((k) => k.keyId);
  const pendingAfter = await timeUntil(async () => (await pendingOutbox(cluster.pg)) === 0, { timeoutMs: 5000, intervalMs: 200 });
  const pending = await pendingOutbox(cluster.pg);

  const messages = created.flatMap((k) => createdMessages(k.keyId));
  const eventIds = new Set(messages.map((m) => m.messageId));
  const figures = {
    created: created.length, createdDuringRestart, restartMs: Math.round(brokerBackAt - restartStart),
    produceMs: Math.round(created.at(-1).createdAt - created[0].createdAt), deliveredAfterBrokerBackMs: deliveredAfterMs,
    messages: messages.length, duplicates: messages.length - eventIds.size,
    redelivered: messages.filter((m) => m.redelivered).length, missing: missing.length, pending,
  };
  t.diagnostic(JSON.stringify(figures));
  console.log(`events_rabbitmq: ${JSON.stringify(figures)}`);

  assert.ok(created.length >= kKeys / 2 && createdDuringRestart > 0,
    `A must accept writes while the broker is down, and enough of them to mean something: ${JSON.stringify(figures)}`);
  // The restart really cut A off the broker, and it came back by itself. Whether the relay logs a
  // failed round depends on timing: its publish retries once on a fresh connection inside the
  // call, and when the broker is mid-restart that connection may wait for the broker to finish
  // booting and then succeed. The consumer's reconnect is logged either way.
  assert.match(nodeA.procState.stderr, /events: consumer down, reconnecting/);
  // The consumer retries every second, independently of the deliveries above.
  for (let waited = 0; waited < 5000 && !/events: consuming tollgate\.node\.a again/.test(nodeA.procState.stderr);
    waited += 100) {
    await sleep(100);
  }
  assert.match(nodeA.procState.stderr, /events: consuming tollgate\.node\.a again/);
  assert.deepEqual(missing.slice(0, 5), [], `key.created never arrived for ${missing.length} keys: ${JSON.stringify(figures)}`);
  assert.equal(pending, 0, `the outbox still has unsent events ${pendingAfter === null ? 'after 5 s' : ''}: ${JSON.stringify(figures)}`);

  // Each message: one event id per key, the properties amqp_event_bus.h documents, a payload naming the
  // key and its API and nothing secret.
  for (const { keyId, key } of created) {
    const copies = createdMessages(keyId);
    assert.equal(new Set(copies.map((m) => m.messageId)).size, 1, `one event id per key: ${JSON.stringify(copies)}`);
    for (const m of copies) {
      assert.ok(typeof m.messageId === 'string' && m.messageId.length > 0, `message_id: ${JSON.stringify(m)}`);
      assert.deepEqual([m.type, m.routingKey, m.appId, m.deliveryMode, m.contentType],
        ['key.created', 'key.created', 'a', 2, 'application/json'], `message properties: ${JSON.stringify(m)}`);
      const payload = JSON.parse(m.body);
      assert.deepEqual([payload.keyId, payload.apiId], [keyId, apiId], `payload: ${m.body}`);
      assert.deepEqual(Object.keys(payload).filter((f) => !['keyId', 'apiId', 'externalId'].includes(f)), [],
        `payload fields beyond keyId, apiId, externalId: ${m.body}`);
      assert.ok(!m.body.includes(key), `the payload carries the plaintext key: ${m.body}`);
    }
  }

  // B applied each event exactly once, whether the bus or its outbox follower brought it first,
  // and answers for every key.
  const appliedAll = await timeUntil(() => [...eventIds].every((id) => appliedCount(nodeB, 'key.created', id) > 0),
    { timeoutMs: 5000, intervalMs: 100 });
  const applied = [...eventIds].map((id) => appliedCount(nodeB, 'key.created', id));
  assert.ok(appliedAll !== null, `B never applied ${applied.filter((n) => n === 0).length} of the events`);
  assert.deepEqual(applied.filter((n) => n !== 1), [], 'B applied some events more than once');
  const codes = await Promise.all(created.map(({ key }) => verifyCode(nodeB, key)));
  assert.deepEqual(codes.filter((code) => code !== 'VALID'), [], 'B answers VALID for every key');
});

test('a repeated event (same message_id, from A) is consumed by B and not applied again', async () => {
  publisher = await startPublisher(cluster.rabbit.url);
  const apiId = await createApi(nodeA, 'repeat');
  const { keyId, key } = await createKey(nodeA, apiId);
  assert.ok(await timeUntil(() => createdMessages(keyId).length > 0, { timeoutMs: 5000 }) !== null, 'key.created arrives');
  const [original] = createdMessages(keyId);
  assert.ok(await timeUntil(() => appliedCount(nodeB, 'key.created', original.messageId) === 1, { timeoutMs: 5000 }) !== null,
    'B applies the original');

  await publisher.publish('key.created', original.body, {
    messageId: original.messageId, type: original.type, appId: 'a', persistent: true,
    contentType: 'application/json', headers: { at: { '!': 'int64', value: original.headers.at } },
  });
  const marker = await publishMarker(keyId);
  const markerAfterMs = await timeUntil(() => appliedCount(nodeB, 'key.updated', marker) === 1, { timeoutMs: 5000 });
  assert.ok(markerAfterMs !== null, 'B applies the event published after the repeat');
  assert.ok(createdMessages(keyId).length >= 2, 'the repeat went through the exchange (the recorder got it too)');
  assert.equal(appliedCount(nodeB, 'key.created', original.messageId), 1, 'B applied the repeated event once');
  assert.equal(await verifyCode(nodeB, key), 'VALID');
});

test('a message that is not a tollgate event is parked, and B goes on applying events', async () => {
  publisher ??= await startPublisher(cluster.rabbit.url);
  const apiId = await createApi(nodeA, 'poison');
  const { keyId: earlierKeyId } = await createKey(nodeA, apiId);
  await publisher.publish('key.updated', 'not json', { persistent: true });

  // B rejects it without requeue; the dead-letter exchange puts it into the parked queue, with
  // x-death naming B's queue (A's queue parks its copy too).
  const parked = [];
  const parkedAfterMs = await timeUntil(async () => {
    for (let m = await publisher.channel.get(kParkedQueue, { noAck: true }); m; m = await publisher.channel.get(kParkedQueue, { noAck: true })) {
      parked.push({ body: m.content.toString('utf8'), from: m.properties.headers?.['x-death']?.[0]?.queue });
    }
    return parked.some((m) => m.body === 'not json' && m.from === 'tollgate.node.b');
  }, { timeoutMs: 5000, intervalMs: 100 });
  assert.ok(parkedAfterMs !== null, `the message is in ${kParkedQueue} from tollgate.node.b: ${JSON.stringify(parked)}`);
  assert.match(nodeB.procState.stderr, /parked a message that is not a tollgate event \(routing key 'key\.updated'\)/);

  // B's consumer is still at work: a bus-only event and a real change both get applied.
  const marker = await publishMarker(earlierKeyId);
  assert.ok(await timeUntil(() => appliedCount(nodeB, 'key.updated', marker) === 1, { timeoutMs: 5000 }) !== null,
    'B applies an event published after the poison message');
  const { keyId, key } = await createKey(nodeA, apiId);
  assert.ok(await timeUntil(() => createdMessages(keyId).length > 0, { timeoutMs: 5000 }) !== null, 'key.created arrives');
  const [created] = createdMessages(keyId);
  assert.ok(await timeUntil(() => appliedCount(nodeB, 'key.created', created.messageId) === 1, { timeoutMs: 5000 }) !== null,
    'B applies a change made on A after the poison message');
  assert.equal(await verifyCode(nodeB, key), 'VALID');
});
