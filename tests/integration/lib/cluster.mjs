// Several tollgate nodes on one PostgreSQL and one RabbitMQ (lib/backends.mjs), for the tests of
// issue 6 that watch changes travel between nodes (events_rabbitmq, multinode). Every node runs
// with --node <name> --events <broker> on the shared store and the same root key: the first node
// bootstraps it into the store, the others find it there.
//
// Also the small probes those tests share: what is pending in the outbox, how often a node
// logged that it applied an event (--log-level debug), a poll with a deadline, and a consumer
// of tollgate.events that records what it receives (events_rabbitmq, fault_injection_cluster).

import { setTimeout as sleep } from 'node:timers/promises';

import amqp from 'amqplib';

import { startPostgres, startRabbitmq } from './backends.mjs';
import { randomBase58, verify } from './expect.mjs';
import { recordSecret, startServer } from './server.mjs';

/** The one root key of every node of this test file's cluster. */
export const kRootKey = `tg_root_${randomBase58(40)}`;
recordSecret(kRootKey);

/**
 * Starts PostgreSQL and RabbitMQ side by side (RabbitMQ alone takes 5–15 s here). Returns
 * { pg, rabbit, nodes: [], startNode(name, args), stop() }; stop() stops the nodes, then wipes both.
 */
export async function startCluster() {
  const [pg, rabbit] = await Promise.all([startPostgres(), startRabbitmq()]);
  const cluster = {
    pg,
    rabbit,
    nodes: [],
    /** Starts `tollgate serve --node <name> --events <broker> ...args` on the shared store. */
    async startNode(name, args = []) {
      const node = await startServer({
        store: pg.url,
        env: { TOLLGATE_ROOT_KEY: kRootKey },
        args: ['--node', name, '--events', rabbit.url, ...args],
      });
      cluster.nodes.push(node);
      return node;
    },
    async stop() {
      await Promise.all(cluster.nodes.map((node) => node.stop()));
      await Promise.allSettled([rabbit.wipe(), pg.wipe()]);
    },
  };
  return cluster;
}

/** How many outbox events the relays have not had confirmed by the broker yet. */
export async function pendingOutbox(pg) {
  return Number(await pg.psql('SELECT count(*) FROM outbox WHERE sent_at IS NULL'));
}

/**
 * How many times `node` (started with --log-level debug) logged `events: applied <type> <eventId>`:
 * the inbox logs it once per event it applies, so more than one is an event applied twice.
 */
export function appliedCount(node, type, eventId) {
  const line = `events: applied ${type} ${eventId} from `;
  return node.procState.stderr.split('\n').filter((text) => text.includes(line)).length;
}

/** Polls `probe` every `intervalMs` until it returns a truthy value; returns the ms waited, or null at the deadline. */
export async function timeUntil(probe, { timeoutMs, intervalMs = 20 }) {
  const start = performance.now();
  for (;;) {
    if (await probe()) return Math.round(performance.now() - start);
    if (performance.now() - start > timeoutMs) return null;
    await sleep(intervalMs);
  }
}

/**
 * A consumer of tollgate.events as a user's own service would run one: a durable queue `queue`
 * bound to each routing key pattern of `patterns`, manual acks (each message is recorded, then
 * acked), re-declared and re-consumed whenever the connection comes back (amqplib's recovery).
 * Returns { messages: [{ routingKey, redelivered, messageId, type, …properties, body }], close() }.
 */
export async function startEventRecorder(url, queue, patterns) {
  const messages = [];
  const connection = await amqp.connect(url, {
    recovery: {
      calculateDelay: () => 250,
      async setup(model) {
        const channel = await model.createChannel();
        await channel.assertExchange('tollgate.events', 'topic', { durable: true });
        await channel.assertQueue(queue, { durable: true });
        for (const pattern of patterns) await channel.bindQueue(queue, 'tollgate.events', pattern);
        await channel.prefetch(100);
        await channel.consume(queue, (message) => {
          if (message === null) return;  // the broker cancelled the consumer; recovery starts a new one
          messages.push({
            routingKey: message.fields.routingKey,
            redelivered: message.fields.redelivered,
            ...message.properties,
            body: message.content.toString('utf8'),
          });
          channel.ack(message);
        }, { noAck: false });
      },
    },
  });
  connection.on('error', () => {});  // recovery reconnects; the tests assert on what arrives
  return { messages, close: () => connection.close() };
}

/** keys.verifyKey on `node`: data.code ('VALID', 'NOT_FOUND', 'DISABLED', …). */
export async function verifyCode(node, key) {
  return (await verify(node, key)).code;
}
