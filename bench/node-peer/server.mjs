// The Node.js peer of bench/compare.sh: keys.verifyKey as a team would write it with fastify and
// rate-limiter-flexible, doing the work tollgate does for the benchmark's keys:
//   1. the root key in `Authorization: Bearer` is checked by its SHA-256 (tollgate keeps only
//      hashes of root keys too);
//   2. the body {"key": "..."} is validated by a JSON schema (400 otherwise);
//   3. the key's SHA-256 is looked up in a Map of the keys (loaded from the JSON file that
//      create-keys.mjs wrote: the same 10,000 keys the tollgates hold);
//   4. the key's rate limit (its "bench" limit: limit per duration) is taken with
//      rate-limiter-flexible: RateLimiterMemory, or RateLimiterRedis (ioredis) over the given
//      Redis servers, each key on one of them, chosen by its hash (client-side sharding, like
//      tollgate's Redis limiter; the two need not pick the same shard for a key);
//   5. the answer is tollgate's JSON shape: {meta: {requestId}, data: {valid, code, keyId,
//      enabled, permissions, roles, ratelimits: [...]}}, 200 also for NOT_FOUND and
//      RATE_LIMITED as keys.verifyKey does.
// One process, one event loop: Node's usual deployment of one limiter store per process (with
// the memory store, several processes would each allow the whole limit).
//
// Usage: node server.mjs --port <port> --keys <peer-keys.json> [--redis host:port,host:port,...]
// Prints "listening on 127.0.0.1:<port>" once it accepts connections.

import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import Fastify from 'fastify';
import Redis from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    keys: { type: 'string' },
    redis: { type: 'string', default: '' },
  },
});
if (!args.port || !args.keys) {
  console.error('usage: node server.mjs --port <port> --keys <peer-keys.json> [--redis host:port,...]');
  process.exit(2);
}

// { rootKeyHash, limit: {name, limit, duration}, keys: [{hash, keyId}] }: every key has the
// same limit (the benchmark's), as in the tollgates.
const loaded = JSON.parse(readFileSync(args.keys, 'utf8'));
const keysByHash = new Map(loaded.keys.map((k) => [k.hash, k.keyId]));
const { rootKeyHash, limit } = loaded;
const durationSeconds = Math.max(1, Math.round(limit.duration / 1000));

const sha256 = (text) => createHash('sha256').update(text).digest();

function memoryLimiters() {
  return [new RateLimiterMemory({ points: limit.limit, duration: durationSeconds, keyPrefix: limit.name })];
}

function redisLimiters(list) {
  return list.split(',').map((address) => {
    const [host, port] = address.split(':');
    // rate-limiter-flexible's advice for ioredis: no offline queue, so a down shard fails fast.
    const client = new Redis({ host, port: Number(port), enableOfflineQueue: false });
    client.on('error', (error) => console.error(`redis ${address}: ${error.message}`));
    return new RateLimiterRedis({
      storeClient: client, points: limit.limit, duration: durationSeconds, keyPrefix: limit.name,
    });
  });
}

const limiters = args.redis ? redisLimiters(args.redis) : memoryLimiters();

const limitSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    exceeded: { type: 'boolean' },
    limit: { type: 'integer' },
    duration: { type: 'integer' },
    reset: { type: 'integer' },
    remaining: { type: 'integer' },
    autoApply: { type: 'boolean' },
  },
};
const answerSchema = {
  type: 'object',
  properties: {
    meta: { type: 'object', properties: { requestId: { type: 'string' } } },
    data: {
      type: 'object',
      properties: {
        valid: { type: 'boolean' },
        code: { type: 'string' },
        keyId: { type: 'string' },
        enabled: { type: 'boolean' },
        permissions: { type: 'array', items: { type: 'string' } },
        roles: { type: 'array', items: { type: 'string' } },
        ratelimits: { type: 'array', items: limitSchema },
      },
    },
  },
};

const app = Fastify({ logger: false, genReqId: () => `req_${randomUUID()}` });

app.addHook('onRequest', async (request, reply) => {
  const header = request.headers.authorization ?? '';
  const token = header.startsWith('Bearer ') ? header.slice(7) : '';
  if (!token || sha256(token).toString('hex') !== rootKeyHash) {
    reply.code(401).send({ error: { status: 401, detail: 'the root key in the Authorization header is not valid' } });
  }
});

app.post('/v2/keys.verifyKey', {
  schema: {
    body: {
      type: 'object',
      required: ['key'],
      properties: { key: { type: 'string', minLength: 1, maxLength: 1024 } },
    },
    response: { 200: answerSchema },
  },
}, async (request) => {
  const meta = { requestId: request.id };
  const digest = sha256(request.body.key);
  const keyId = keysByHash.get(digest.toString('hex'));
  if (keyId === undefined) return { meta, data: { valid: false, code: 'NOT_FOUND' } };

  const limiter = limiters[digest.readUInt32BE(0) % limiters.length];
  let result;
  let exceeded = false;
  try {
    result = await limiter.consume(keyId);
  } catch (rejection) {
    if (!(rejection instanceof RateLimiterRes)) throw rejection;  // the store failed: 500
    result = rejection;
    exceeded = true;
  }
  const data = {
    valid: !exceeded,
    code: exceeded ? 'RATE_LIMITED' : 'VALID',
    keyId,
    enabled: true,
    permissions: [],
    roles: [],
    ratelimits: [{
      name: limit.name, exceeded, limit: limit.limit, duration: limit.duration,
      reset: Date.now() + result.msBeforeNext, remaining: result.remainingPoints, autoApply: true,
    }],
  };
  return { meta, data };
});

await app.listen({ host: '127.0.0.1', port: Number(args.port) });
console.log(`listening on 127.0.0.1:${args.port} (${keysByHash.size} keys, ${args.redis ? `redis ${args.redis}` : 'memory'} limiter)`);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
